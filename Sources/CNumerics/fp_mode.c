#include "cnumerics.h"

#if defined(__x86_64__)
#include <immintrin.h>
/* MXCSR: FTZ (bit 15) writes underflowing results as zero, DAZ (bit 6) reads subnormal inputs
 * as zero. Both only change values below FLT_MIN (1.2e-38) / DBL_MIN. */
enum { FLUSH_BITS = 0x8040 };
uint32_t rada_fp_control(void) { return _mm_getcsr(); }
void rada_fp_set_control(uint32_t control) { _mm_setcsr(control); }
uint32_t rada_fp_flushing(uint32_t control) { return control | FLUSH_BITS; }
#elif defined(__aarch64__)
/* FPCR.FZ (bit 24): subnormal inputs and results of single and double precision are zero. */
enum { FLUSH_BITS = 1u << 24 };
uint32_t rada_fp_control(void) {
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (uint32_t)fpcr;
}
void rada_fp_set_control(uint32_t control) {
    uint64_t fpcr = control;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}
uint32_t rada_fp_flushing(uint32_t control) { return control | FLUSH_BITS; }
#else
uint32_t rada_fp_control(void) { return 0; }
void rada_fp_set_control(uint32_t control) { (void)control; }
uint32_t rada_fp_flushing(uint32_t control) { return control; }
#endif

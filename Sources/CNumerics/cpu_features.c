#include "cnumerics_bf16.h"
#include "cnumerics_fp16.h"
#include "cnumerics_packed.h"
#include "bf16_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if RADA_BF16_X86
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* The one place that asks the CPU (and the OS) which vector kernels may run: every kernel's
 * `*_available` answer comes from this probe, run once per process. */
static int amx_state, avx512fp16_state, avx512bf16_state, avx512f_state, avx2fma_state;
static int limit_state = RADA_CPU_LIMIT_NONE;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* RADA_CPU_LIMIT: the highest kernel family the probe may report. One machine can then dispatch
 * as a lesser CPU would (an AVX2-only server, an AVX-512 one without BF16), so those paths can be
 * benchmarked and compared where no such machine is at hand. It never grants what the CPU lacks. */
static const char *const limit_names[] = {"portable", "avx2", "avx512f", "avx512bf16", "avx512fp16", "amx"};

const char *rada_cpu_limit_name(int level) {
    return level >= 0 && level <= RADA_CPU_LIMIT_AMX ? limit_names[level] : NULL;
}

static int read_limit(void) {
    const char *value = getenv("RADA_CPU_LIMIT");
    if (value == NULL || value[0] == 0) return RADA_CPU_LIMIT_NONE;
    for (int level = 0; level <= RADA_CPU_LIMIT_AMX; level++)
        if (strcmp(value, limit_names[level]) == 0) return level == RADA_CPU_LIMIT_AMX ? RADA_CPU_LIMIT_NONE : level;
    return RADA_CPU_LIMIT_INVALID;
}

static void detect(void);

static void probe(void) {
    detect();
    limit_state = read_limit();
    /* An unknown name caps nothing here; `rada` refuses it before any kernel runs. */
    if (limit_state < 0) return;
    if (limit_state < RADA_CPU_LIMIT_AMX) amx_state = 0;
    if (limit_state < RADA_CPU_LIMIT_AVX512FP16) avx512fp16_state = 0;
    if (limit_state < RADA_CPU_LIMIT_AVX512BF16) avx512bf16_state = 0;
    if (limit_state < RADA_CPU_LIMIT_AVX512F) avx512f_state = 0;
    if (limit_state < RADA_CPU_LIMIT_AVX2) avx2fma_state = 0;
}

int rada_cpu_limit(void) {
    pthread_once(&probe_once, probe);
    return limit_state;
}

static void detect(void) {
#if RADA_BF16_X86
    unsigned int a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return;
    __cpuid(1, a, b, c, d);
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return;
    __cpuid_count(7, 0, a, b, c, d);
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1;
    int avx2 = (b >> 5) & 1, avx512vl = (b >> 31) & 1, avx512_fp16 = (d >> 23) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    int avx512_bf16 = (a >> 5) & 1;
    /* The OS must save the ymm state (XCR0 bits 1, 2) and, for AVX-512, the opmask and all 32
     * zmm registers (bits 5, 6, 7). */
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    int os_ymm = (xcr0_lo & 0x6u) == 0x6u, os_zmm = (xcr0_lo & 0xe6u) == 0xe6u;
    avx2fma_state = os_ymm && avx && avx2 && fma;
    avx512f_state = os_zmm && avx512f;
    /* Everything fp16_avx512.c is compiled for: AVX512F/BW/VL, AVX512-FP16 and F16C. */
    avx512fp16_state = os_zmm && avx512f && avx512bw && avx512vl && avx512_fp16 && f16c;
    if (!(os_zmm && avx512f && avx512bw && avx512_bf16)) return;
    avx512bf16_state = 1;
    /* Linux hands out the 8 KiB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA). */
    if (amx_bf16 && amx_tile && syscall(SYS_arch_prctl, 0x1023, 18) == 0) amx_state = 1;
#endif
}

int rada_amx_available(void) {
    pthread_once(&probe_once, probe);
    return amx_state;
}

int rada_avx512fp16_available(void) {
    pthread_once(&probe_once, probe);
    return avx512fp16_state;
}

int rada_avx512bf16_available(void) {
    pthread_once(&probe_once, probe);
    return avx512bf16_state;
}

int rada_f32_kernel_available(int kernel) {
    pthread_once(&probe_once, probe);
    switch (kernel) {
    case RADA_F32_AVX512: return avx512f_state;
    case RADA_F32_AVX2: return avx2fma_state;
    case RADA_F32_PORTABLE: return 1;
    default: return 0;
    }
}

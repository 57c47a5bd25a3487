#define _GNU_SOURCE
#include "cnumerics.h"
#include "cnumerics_packed.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CBLAS constants as in cblas.h: row major, no-trans / trans, lower triangle, right side, non-unit diagonal. */
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kLower = 122, kRight = 142, kNonUnit = 131 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
                         const double *, int, double, double *, int);
typedef void (*dsyrk_fn)(int, int, int, int, int, double, const double *, int, double, double *, int);
typedef void (*dtrsm_fn)(int, int, int, int, int, int, int, double, const double *, int, double *, int);
typedef void (*strsm_fn)(int, int, int, int, int, int, int, float, const float *, int, float *, int);
/* The level-3 routines beside the products, one set per library. */
typedef struct {
    sgemm_fn sgemm;
    dgemm_fn dgemm;
    dsyrk_fn dsyrk;
    dtrsm_fn dtrsm;
    strsm_fn strsm;
} blas_table;
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char *(*corename_fn)(void);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[512];
static char loaded_library[512];
static char chosen_coretype[32];
/* What rada sets OPENBLAS_THREAD_TIMEOUT to when the user has not (see load_blas). */
#define RADA_OPENBLAS_THREAD_TIMEOUT "20"
/* OPENBLAS_THREAD_TIMEOUT as the library read it, and whether rada set it. */
static char thread_timeout[16];
static int thread_timeout_chosen;
static blas_table threaded;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static corename_fn p_corename;
/* A single-threaded BLAS for products that run on their caller's thread (BLIS, serial build). */
static char serial_library[512];
static blas_table serial;
/* BLIS's sub-configuration (its kernel family) in the caller-thread library. */
static char serial_config[32];
/* Depth of rada_blas_enter_caller_thread on this thread: its calls go to the caller-thread library. */
static _Thread_local int caller_thread_depth;
/* Products this thread has sent to the threaded library: work that must stay off it (a stream's
 * numerics) is checked against this in tests. */
static _Thread_local long threaded_calls;

/* Picks the newest OpenBLAS 0.3.21 kernel family this CPU can run. 0.3.21 has no
 * SapphireRapids target and does not map newer Intel models to SkylakeX, so it falls back
 * to Prescott; naming the family ourselves restores the AVX-512 / AVX2 kernels. */
static const char *preferred_coretype(void) {
    __builtin_cpu_init();
    /* RADA_CPU_LIMIT caps OpenBLAS's family too, so a capped process is the lesser CPU throughout. */
    int limit = rada_cpu_limit();
    int allows_avx512 = limit < 0 || limit >= RADA_CPU_LIMIT_AVX512F;
    int allows_avx2 = limit < 0 || limit >= RADA_CPU_LIMIT_AVX2;
    if (allows_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (allows_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (allows_avx2 && __builtin_cpu_supports("avx")) return "Sandybridge";
    /* Capped to portable: OpenBLAS's SSE3 family, the one it falls back to on unknown CPUs. */
    if (!allows_avx2) return "Prescott";
    return NULL;
}

/* The caller-thread library: RADA_BLAS_SERIAL_LIBRARY, else BLIS's serial build in the threaded
 * OpenBLAS's library directory (Debian's libblis4-serial: .../blis-serial/libblis.so.4).
 *
 * Not a second OpenBLAS: Debian's libopenblas0-serial, loaded beside the threaded copy, returned
 * wrong products (gradient errors of 1e6, not roundings) when several threads called it at once
 * (FiniteDifferenceTests run in parallel; HeadLaneTests in CI); run one at a time, it was exact.
 * BLIS keeps no state between calls that two threads could share, and shares nothing with
 * OpenBLAS. Loaded RTLD_LOCAL by its own path. */
/* The routines rada calls, from `handle`; 0 when one is missing (the table is then unusable). */
static int load_table(void *handle, blas_table *t) {
    t->sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    t->dgemm = (dgemm_fn)dlsym(handle, "cblas_dgemm");
    t->dsyrk = (dsyrk_fn)dlsym(handle, "cblas_dsyrk");
    t->dtrsm = (dtrsm_fn)dlsym(handle, "cblas_dtrsm");
    t->strsm = (strsm_fn)dlsym(handle, "cblas_strsm");
    return t->sgemm != NULL && t->dgemm != NULL && t->dsyrk != NULL && t->dtrsm != NULL && t->strsm != NULL;
}

/* BLIS picks its configuration (kernel family) from the CPU, or from BLIS_ARCH_TYPE (a
 * configuration's number in BLIS 0.9) at its initialisation. BLIS 0.9 (Debian 12's) has none for
 * AMD Zen 4 and takes its AVX2 'zen3' there; its AVX-512 'skx' (BLIS_ARCH_TYPE=0) made a
 * K = 1000 stream's step 1.17× and forward pass 1.26× faster there, but a K = 10 stream's step
 * 1.2× and forward pass 2.7× slower (Docs/benchmarks.md, "The caller-thread BLIS on Zen 4"), so
 * rada leaves the choice to BLIS and the user, and reports it. */
static void read_blis_config(void *handle) {
    typedef void (*init_fn)(void);
    typedef int (*query_fn)(void);
    typedef const char *(*name_fn)(int);
    init_fn init = (init_fn)dlsym(handle, "bli_init");
    query_fn query = (query_fn)dlsym(handle, "bli_arch_query_id");
    name_fn name = (name_fn)dlsym(handle, "bli_arch_string");
    if (init == NULL || query == NULL || name == NULL) return;
    init();
    const char *config = name(query());
    if (config != NULL) snprintf(serial_config, sizeof serial_config, "%s", config);
}

static void load_serial(void) {
    char path[512] = {0};
    const char *user = getenv("RADA_BLAS_SERIAL_LIBRARY");
    if (user != NULL && user[0] != 0) {
        snprintf(path, sizeof path, "%s", user);
    } else {
        /* The soname usually reaches the library through symlinks (Debian's alternatives). */
        Dl_info info;
        char resolved[PATH_MAX];
        if (dladdr((void *)threaded.sgemm, &info) == 0 || info.dli_fname == NULL || realpath(info.dli_fname, resolved) == NULL) return;
        const char *marker = strstr(resolved, "openblas-pthread");
        if (marker == NULL) return;
        /* .../openblas-pthread/libopenblasp-r0.3.21.so -> .../blis-serial/libblis.so.4 */
        snprintf(path, sizeof path, "%.*sblis-serial/libblis.so.4", (int)(marker - resolved), resolved);
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) return;
    blas_table table;
    if (!load_table(handle, &table) || (void *)table.sgemm == (void *)threaded.sgemm) return;
    /* A second OpenBLAS is refused even when named explicitly (see above). */
    if (dlsym(handle, "openblas_get_config") != NULL) return;
    read_blis_config(handle);
    serial = table;
    snprintf(serial_library, sizeof serial_library, "%s", path);
}

static void load_blas(void) {
    const char *user_core = getenv("OPENBLAS_CORETYPE");
    const char *policy = getenv("RADA_BLAS_CORETYPE"); /* "auto" (default), "library", or a name */
    chosen_coretype[0] = 0;
    if (user_core == NULL || user_core[0] == 0) {
        const char *pick = NULL;
        if (policy == NULL || policy[0] == 0 || strcmp(policy, "auto") == 0) pick = preferred_coretype();
        else if (strcmp(policy, "library") != 0) pick = policy;
        if (pick != NULL) {
            setenv("OPENBLAS_CORETYPE", pick, 1);
            snprintf(chosen_coretype, sizeof chosen_coretype, "%s", pick);
        }
    }
    /* OpenBLAS's pthreads workers busy-wait (sched_yield) for 2^THREAD_TIMEOUT clock cycles after
     * each threaded call before they sleep. The library's default, 28, kept one worker spinning
     * for about 100 ms of CPU after every call (measured on AMD EPYC Zen 4), beside whatever ran
     * next: the other core, or a CFS quota's budget. 2^20 cycles is a few hundred microseconds,
     * the order of rada's own kernel threads' spin; the towers' passes on OpenBLAS ran no slower
     * with it (Docs/benchmarks.md). Read once, in the library's constructor, like the core type. */
    const char *user_timeout = getenv("OPENBLAS_THREAD_TIMEOUT");
    if (user_timeout == NULL || user_timeout[0] == 0) {
        setenv("OPENBLAS_THREAD_TIMEOUT", RADA_OPENBLAS_THREAD_TIMEOUT, 1);
        thread_timeout_chosen = 1;
    }
    snprintf(thread_timeout, sizeof thread_timeout, "%s", getenv("OPENBLAS_THREAD_TIMEOUT"));
    const char *candidates[4];
    int count = 0;
    const char *user_lib = getenv("RADA_BLAS_LIBRARY");
    if (user_lib != NULL && user_lib[0] != 0) candidates[count++] = user_lib;
    candidates[count++] = "libopenblas.so.0";
    candidates[count++] = "libopenblas.so";
    void *handle = NULL;
    for (int i = 0; i < count && handle == NULL; i++) {
        handle = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (handle != NULL) snprintf(loaded_library, sizeof loaded_library, "%s", candidates[i]);
    }
    if (handle == NULL) {
        snprintf(load_error, sizeof load_error,
                 "could not load OpenBLAS (%s); install it with: apt-get install libopenblas0-pthread",
                 dlerror());
        load_status = 1;
        return;
    }
    int complete = load_table(handle, &threaded);
    p_set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    p_get_threads = (get_threads_fn)dlsym(handle, "openblas_get_num_threads");
    p_corename = (corename_fn)dlsym(handle, "openblas_get_corename");
    if (!complete) {
        snprintf(load_error, sizeof load_error, "%s lacks one of cblas_sgemm, cblas_dgemm, cblas_dsyrk, cblas_dtrsm, cblas_strsm", loaded_library);
        load_status = 2;
        return;
    }
    load_status = 0;
    load_serial();
}

int rada_blas_load(char *error, size_t error_len) {
    pthread_once(&load_once, load_blas);
    if (load_status != 0 && error != NULL && error_len > 0) snprintf(error, error_len, "%s", load_error);
    return load_status;
}

const char *rada_blas_corename(void) { return p_corename ? p_corename() : "unknown"; }
const char *rada_blas_library(void) { return loaded_library; }
const char *rada_blas_chosen_coretype(void) { return chosen_coretype; }
const char *rada_blas_thread_timeout(int *chosen_by_rada) {
    if (chosen_by_rada != NULL) *chosen_by_rada = thread_timeout_chosen;
    return thread_timeout;
}
void rada_blas_set_threads(int threads) { if (p_set_threads) p_set_threads(threads); }
int rada_blas_get_threads(void) { return p_get_threads ? p_get_threads() : 1; }

const char *rada_blas_serial_library(void) { return serial_library; }
const char *rada_blas_serial_config(void) { return serial_config; }
/* Depth of serial sections on this thread (BLAS.serially). */
static _Thread_local int serial_depth;
void rada_enter_serial_section(void) { serial_depth++; }
void rada_leave_serial_section(void) { serial_depth--; }
int rada_in_serial_section(void) { return serial_depth > 0; }

void rada_blas_enter_caller_thread(void) { caller_thread_depth++; }
void rada_blas_leave_caller_thread(void) { caller_thread_depth--; }

long rada_blas_threaded_calls(void) { return threaded_calls; }

/* The library for this thread's next call: the caller-thread one inside
 * rada_blas_enter_caller_thread (when found), else the threaded one, counted. */
static const blas_table *table_for_caller(void) {
    if (caller_thread_depth > 0 && serial.sgemm != NULL) return &serial;
    threaded_calls++;
    return &threaded;
}

void rada_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc) {
    table_for_caller()->sgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, alpha, a,
                              lda, b, ldb, beta, c, ldc);
}

void rada_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a,
                int lda, const double *b, int ldb, double beta, double *c, int ldc) {
    table_for_caller()->dgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, alpha, a,
                              lda, b, ldb, beta, c, ldc);
}

void rada_dsyrk(int trans_a, int n, int k, double alpha, const double *a, int lda, double beta, double *c, int ldc) {
    table_for_caller()->dsyrk(kRowMajor, kLower, trans_a ? kTrans : kNoTrans, n, k, alpha, a, lda, beta, c, ldc);
}

void rada_dtrsm_right_lower_t(int m, int n, double alpha, const double *l, int ldl, double *b, int ldb) {
    table_for_caller()->dtrsm(kRowMajor, kRight, kLower, kTrans, kNonUnit, m, n, alpha, l, ldl, b, ldb);
}

void rada_strsm_right_lower_t(int m, int n, float alpha, const float *l, int ldl, float *b, int ldb) {
    table_for_caller()->strsm(kRowMajor, kRight, kLower, kTrans, kNonUnit, m, n, alpha, l, ldl, b, ldb);
}

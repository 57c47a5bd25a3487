#define _GNU_SOURCE
#include "cnumerics.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* rada's own kernel threads (`BLAS.parallel`). A batch-1 tower pass splits ~100 products and
 * row-wise steps over the threads, each a few hundred microseconds of work. Handing each to a
 * sleeping thread (Dispatch's pool) cost a wake-up, 25-40 us in a KVM guest, every time. These
 * threads instead spin for a while after a job, so the next one finds them awake, and only
 * then sleep on a futex. Spinning is bounded (RADA_POOL_SPIN_US, default below), so an idle
 * server does not keep a core busy.
 *
 * The caller and the threads claim a job's parts one at a time from a shared counter, so a job
 * of more parts than there are cores runs on as many threads as cores (a pool thread per core
 * beyond the caller's, never more): with one thread per part, four parts on two cores took
 * 1.3-1.6× as long as Dispatch, which also never runs more threads than cores. A caller whose
 * helpers are slow to wake takes their parts itself. */

enum { MAX_PARTS = 0xFFFF, MAX_WORKERS = 255, DEFAULT_SPIN_US = 200 };

/* The job: generation (high 32 bits), parts (16) and the next part to claim (low 16), in one
 * word, so that a claim (a compare-and-swap) succeeds only for the job it read, and only for a
 * part that exists. `job_part` and `job_context` are written before the word is published and
 * read only after a successful claim: the job cannot be over before its unclaimed part runs. */
static _Alignas(64) _Atomic uint64_t job_word;
static rada_pool_part job_part;
static void *job_context;
static _Alignas(64) _Atomic uint32_t remaining; /* parts not yet finished */
static _Atomic int caller_sleeping;
static _Alignas(64) _Atomic uint32_t posted; /* bumped once per job: what sleeping workers wait on */
static _Atomic int sleepers;

static int started; /* pool threads running */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int64_t spin_ns = (int64_t)DEFAULT_SPIN_US * 1000;
static int affinity_cores = 1;
static _Atomic int cores = 1; /* affinity_cores, or the CPU budget below it */

static void setup(void) {
    const char *text = getenv("RADA_POOL_SPIN_US");
    if (text != NULL && *text != 0) {
        char *end;
        long us = strtol(text, &end, 10);
        if (*end == 0 && us >= 0 && us <= 1000000) spin_ns = (int64_t)us * 1000;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) affinity_cores = CPU_COUNT(&set);
    atomic_store(&cores, affinity_cores);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void relax(void) {
#if defined(__x86_64__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

#if defined(__linux__)
static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *word, int count) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
#else
#error "thread_pool.c needs Linux futexes"
#endif

/* Waits until *word differs from `value`: spins for spin_ns, then sleeps. The sleeper count is
 * raised before the futex call and the waker reads it after changing *word (both sequentially
 * consistent), so either the waker sees it and wakes, or the futex call sees the new value and
 * returns at once. */
static uint32_t wait_change(_Atomic uint32_t *word, uint32_t value, _Atomic int *sleeping) {
    int64_t deadline = 0;
    for (unsigned spins = 1;; spins++) {
        uint32_t now = atomic_load_explicit(word, memory_order_acquire);
        if (now != value) return now;
        relax();
        if ((spins & 31) != 0) continue;
        /* A thread that needs the core (more threads than cores) gets it: with nothing else to
         * run this returns at once. */
        sched_yield();
        if (deadline == 0) {
            deadline = now_ns() + spin_ns;
        } else if (now_ns() >= deadline) {
            atomic_fetch_add(sleeping, 1);
            if (atomic_load(word) == value) futex_wait(word, value);
            atomic_fetch_sub(sleeping, 1);
            deadline = 0;
        }
    }
}

/* Claims and runs parts of the job published as `generation` until none is left. */
static void run_parts(uint32_t generation) {
    uint64_t word = atomic_load_explicit(&job_word, memory_order_acquire);
    for (;;) {
        uint32_t parts = (uint32_t)(word >> 16) & 0xFFFF, next = (uint32_t)word & 0xFFFF;
        if ((uint32_t)(word >> 32) != generation || next >= parts) return;
        if (!atomic_compare_exchange_weak_explicit(&job_word, &word, word + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        job_part(job_context, (int)next);
        if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1 && atomic_load(&caller_sleeping))
            futex_wake(&remaining, 1);
        word = atomic_load_explicit(&job_word, memory_order_acquire);
    }
}

_Static_assert(sizeof(void *) >= 8, "a pool thread's argument packs two 32-bit values");

/* A pool thread; `argument` packs its number (high 32 bits) and the generation posted when it
 * was started (low 32): read at the thread's own start instead, it could already be the job
 * published right after, which the thread would then wait past. */
static void *worker_main(void *argument) {
    uint64_t packed = (uint64_t)(uintptr_t)argument;
    char name[16];
    snprintf(name, sizeof name, "rada-kernel-%u", (unsigned)(packed >> 32));
    pthread_setname_np(pthread_self(), name);
    uint32_t seen = (uint32_t)packed;
    for (;;) {
        seen = wait_change(&posted, seen, &sleepers);
        run_parts(seen);
    }
    return NULL;
}

/* Starts pool threads until there are `count`; false if the system refuses one. */
static int start_workers(int count) {
    while (started < count) {
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        uint64_t packed = (uint64_t)(started + 1) << 32 | atomic_load(&posted);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(uintptr_t)packed);
        pthread_attr_destroy(&attributes);
        if (failed) return 0;
        started++;
    }
    return 1;
}

int rada_pool_cores(void) {
    pthread_once(&setup_once, setup);
    return atomic_load_explicit(&cores, memory_order_relaxed);
}

int rada_affinity_cores(void) {
    pthread_once(&setup_once, setup);
    return affinity_cores;
}

void rada_pool_cap_cores(int cap) {
    pthread_once(&setup_once, setup);
    if (cap >= 1) atomic_store(&cores, cap < affinity_cores ? cap : affinity_cores);
}

int rada_pool_spin_us(void) {
    pthread_once(&setup_once, setup);
    return (int)(spin_ns / 1000);
}

int rada_pool_run(int parts, rada_pool_part part, void *context) {
    if (parts < 2 || parts > MAX_PARTS) return 0;
    pthread_once(&setup_once, setup);
    /* One job at a time: a second caller, or a part that splits again, runs its parts another
     * way rather than wait for threads that are busy with this job. */
    if (pthread_mutex_trylock(&pool_lock) != 0) return 0;
    int bound = atomic_load_explicit(&cores, memory_order_relaxed);
    int helpers = (parts < bound ? parts : bound) - 1;
    if (helpers > MAX_WORKERS) helpers = MAX_WORKERS;
    if (!start_workers(helpers)) {
        pthread_mutex_unlock(&pool_lock);
        return 0;
    }
    job_part = part;
    job_context = context;
    atomic_store_explicit(&remaining, (uint32_t)parts, memory_order_relaxed);
    /* The generation is the value `posted` takes: workers that see it claim from this word. */
    uint32_t generation = atomic_load_explicit(&posted, memory_order_relaxed) + 1;
    atomic_store_explicit(&job_word, (uint64_t)generation << 32 | (uint64_t)parts << 16, memory_order_release);
    atomic_store(&posted, generation);
    if (helpers > 0 && atomic_load(&sleepers) > 0) futex_wake(&posted, helpers);
    run_parts(generation);
    for (;;) {
        uint32_t left = atomic_load_explicit(&remaining, memory_order_acquire);
        if (left == 0) break;
        wait_change(&remaining, left, &caller_sleeping);
    }
    pthread_mutex_unlock(&pool_lock);
    return 1;
}

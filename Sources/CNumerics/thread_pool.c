#define _GNU_SOURCE
#include "cnumerics.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
 * sleeping thread (Dispatch's pool) costs a wake-up, 25-40 us in a KVM guest, every time. These
 * threads instead spin for a while after their part, so the next part finds them awake, and
 * only then sleep on a futex. Spinning is bounded (RADA_POOL_SPIN_US, default below), so an
 * idle server does not keep a core busy. */

enum { MAX_WORKERS = 63, DEFAULT_SPIN_US = 200 };

/* One worker's word, on its own cache line: the caller bumps `ticket` to hand it a part, and
 * wakes it only when it said it sleeps. */
typedef struct {
    _Alignas(64) _Atomic uint32_t ticket;
    _Atomic int sleeping;
} worker_slot;

static worker_slot slots[MAX_WORKERS + 1]; /* slot i runs part i; slot 0 is the caller's */
static int started;                           /* workers running, slots 1...started */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/* The job being run, written by the caller before it bumps the tickets and read by the
 * workers after (release / acquire on the ticket). */
static rada_pool_part job_part;
static void *job_context;
static _Alignas(64) _Atomic uint32_t remaining; /* parts still running on workers */
static _Atomic int caller_sleeping;

static pthread_once_t spin_once = PTHREAD_ONCE_INIT;
static int64_t spin_ns = (int64_t)DEFAULT_SPIN_US * 1000;

static void read_spin(void) {
    const char *text = getenv("RADA_POOL_SPIN_US");
    if (text == NULL || *text == 0) return;
    char *end;
    long us = strtol(text, &end, 10);
    if (*end == 0 && us >= 0 && us <= 1000000) spin_ns = (int64_t)us * 1000;
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
static void futex_wake(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
#error "thread_pool.c needs Linux futexes"
#endif

/* Waits until *word differs from `value`: spins for spin_ns, then sleeps. `sleeping` is raised
 * before the futex call and the waker reads it after changing *word (both sequentially
 * consistent), so either the waker sees it and wakes, or the futex call sees the new value and
 * returns at once. */
static uint32_t wait_change(_Atomic uint32_t *word, uint32_t value, _Atomic int *sleeping) {
    uint32_t now;
    int64_t deadline = 0;
    for (int spins = 1;; spins++) {
        now = atomic_load_explicit(word, memory_order_acquire);
        if (now != value) return now;
        relax();
        if ((spins & 31) != 0) continue;
        /* A thread that needs the core (more threads than cores) gets it: with nothing else to
         * run this returns at once. */
        sched_yield();
        if (deadline == 0) {
            deadline = now_ns() + spin_ns;
        } else if (now_ns() >= deadline) {
            atomic_store(sleeping, 1);
            if (atomic_load(word) == value) futex_wait(word, value);
            atomic_store(sleeping, 0);
            deadline = 0;
        }
    }
}

static void *worker_main(void *argument) {
    int index = (int)(intptr_t)argument;
    worker_slot *slot = &slots[index];
    char name[16];
    snprintf(name, sizeof name, "rada-kernel-%d", index);
    pthread_setname_np(pthread_self(), name);
    uint32_t seen = 0;
    for (;;) {
        seen = wait_change(&slot->ticket, seen, &slot->sleeping);
        job_part(job_context, index);
        if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1 && atomic_load(&caller_sleeping))
            futex_wake(&remaining);
    }
    return NULL;
}

/* Starts workers until slots 1..<parts have one; false if the system refuses a thread. */
static int start_workers(int parts) {
    while (started < parts - 1) {
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        int index = started + 1;
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)index);
        pthread_attr_destroy(&attributes);
        if (failed) return 0;
        started = index;
    }
    return 1;
}

int rada_pool_run(int parts, rada_pool_part part, void *context) {
    if (parts < 2 || parts > MAX_WORKERS + 1) return 0;
    pthread_once(&spin_once, read_spin);
    /* One job at a time: a second caller, or a part that splits again, runs its parts another
     * way rather than wait for threads that are busy with this job. */
    if (pthread_mutex_trylock(&pool_lock) != 0) return 0;
    if (!start_workers(parts)) {
        pthread_mutex_unlock(&pool_lock);
        return 0;
    }
    job_part = part;
    job_context = context;
    atomic_store_explicit(&remaining, (uint32_t)(parts - 1), memory_order_relaxed);
    for (int i = 1; i < parts; i++) {
        atomic_fetch_add(&slots[i].ticket, 1);
        if (atomic_load(&slots[i].sleeping)) futex_wake(&slots[i].ticket);
    }
    part(context, 0);
    for (;;) {
        uint32_t left = atomic_load_explicit(&remaining, memory_order_acquire);
        if (left == 0) break;
        wait_change(&remaining, left, &caller_sleeping);
    }
    pthread_mutex_unlock(&pool_lock);
    return 1;
}

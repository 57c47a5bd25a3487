#ifndef RADA_TARGET_CLONES_H
#define RADA_TARGET_CLONES_H

/* Each hot kernel is compiled for AVX-512, AVX2 and a baseline; the loader picks one at start
 * (GNU ifunc), so one binary runs everywhere and still uses wide vectors where they exist. */
#if defined(__x86_64__) && defined(__linux__)
#define RADA_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define RADA_CLONES
#endif

#endif

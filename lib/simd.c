/* simd.c - which SIMD instruction sets this CPU (and OS) offers, capped by
 * CAM_SIMD=avx512|avx2|portable for tests and comparisons. */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static int simd_detect(void)
{
    int lvl = SIMD_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* libgcc checks XCR0 too: the OS must save the wider registers. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        lvl = SIMD_AVX2;
    if (lvl == SIMD_AVX2 && __builtin_cpu_supports("avx512f"))
        lvl = SIMD_AVX512;
#endif
    const char *cap = getenv("CAM_SIMD");
    if (cap && *cap) {
        int c = lvl;
        if (!strcmp(cap, "portable") || !strcmp(cap, "none") || !strcmp(cap, "c"))
            c = SIMD_PORTABLE;
        else if (!strcmp(cap, "avx2"))
            c = SIMD_AVX2;
        else if (!strcmp(cap, "avx512"))
            c = SIMD_AVX512;
        if (c < lvl) lvl = c;
    }
    return lvl;
}

static int simd_detected = -1;   /* benign race: every thread computes the same */
static int simd_capped = SIMD_AVX512;

int simd_level(void)
{
    int l = __atomic_load_n(&simd_detected, __ATOMIC_RELAXED);
    if (l < 0) {
        l = simd_detect();
        __atomic_store_n(&simd_detected, l, __ATOMIC_RELAXED);
    }
    int c = __atomic_load_n(&simd_capped, __ATOMIC_RELAXED);
    return l < c ? l : c;
}

int simd_cap(int level)
{
    int old = __atomic_load_n(&simd_capped, __ATOMIC_RELAXED);
    if (level < SIMD_PORTABLE) level = SIMD_PORTABLE;
    if (level > SIMD_AVX512) level = SIMD_AVX512;
    __atomic_store_n(&simd_capped, level, __ATOMIC_RELAXED);
    return old;
}

const char *simd_name(int level)
{
    switch (level) {
    case SIMD_AVX512: return "avx512";
    case SIMD_AVX2:   return "avx2";
    default:          return "portable";
    }
}

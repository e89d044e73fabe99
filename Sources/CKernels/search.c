#define _GNU_SOURCE
#include <string.h>
#include "ckernels.h"

const void *wt_memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen) {
    return memmem(haystack, hlen, needle, nlen);
}

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

// The offset of the next "\nFrom " in [p, p+n), or n. Looks for a line feed followed by "F"
// sixteen positions at a time, then checks the rest: mbox bodies are mostly base64, where
// that pair never occurs.
size_t wt_find_from_line(const uint8_t *p, size_t n) {
    size_t i = 0;
#if defined(__x86_64__)
    const __m128i lf = _mm_set1_epi8('\n'), f = _mm_set1_epi8('F');
    while (i + 17 <= n) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(b, f)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            size_t at = i + bit;
            if (at + 6 <= n && memcmp(p + at + 1, "From ", 5) == 0) return at;
            mask &= mask - 1;
        }
        i += 16;
    }
#endif
    for (; i + 6 <= n; i++) {
        if (p[i] == '\n' && memcmp(p + i + 1, "From ", 5) == 0) return i;
    }
    return n;
}

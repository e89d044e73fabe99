#ifndef WT_CKERNELS_H
#define WT_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Runs the SHA-256 compression function over `blocks` 64-byte blocks. Uses the CPU's SHA
/// instructions when it has them (several times faster than portable code).
void wt_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// State of a tolerant base64 decoder across calls.
typedef struct {
    uint32_t acc;      // bits of the partial quantum
    int32_t count;     // characters in the partial quantum (0...3)
    int32_t truncated; // a quantum ended early (padding after one character, or input end)
    size_t junk;       // bytes outside the alphabet that were skipped (white space excluded)
} wt_b64_state;

/// Decodes `len` bytes of base64 into `dst`, which must hold len / 4 * 3 + 3 bytes; returns
/// the number of bytes written. White space and junk are skipped, "=" ends a quantum.
size_t wt_base64_decode(wt_b64_state *st, const uint8_t *src, size_t len, uint8_t *dst);

/// Flushes a partial quantum at the end of input into `dst` (room for 2 bytes).
size_t wt_base64_finish(wt_b64_state *st, uint8_t *dst);



/// memmem(3), which the C library declares only under _GNU_SOURCE.

const void *wt_memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen);
/// The offset of the next "\nFrom " (an mbox separator line) in [p, p+n), or n.
size_t wt_find_from_line(const uint8_t *p, size_t n);

#endif

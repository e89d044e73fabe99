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
    // Where the data ends (see base64.c).
    size_t width;      // characters of a full line of the current run (0 before the first line)
    int32_t closed;    // the run's last line (shorter, or padded) was seen
    int32_t url_ok;    // the data uses the URL-safe alphabet
    int32_t ended;     // a line that is not base64 ended the data
    int32_t verdict;   // output held back from earlier calls: 0 still held, 1 it is data, 2 it is not
    size_t commit;     // bytes of the last call's output that are data; the rest is held back
    size_t pos;        // input bytes read so far
    size_t trailer_at; // where the input after the data starts, once ended
    // The current line, and the decoder as it found the line (to take the line back).
    size_t ln_len;     // its bytes read in earlier calls
    size_t ln_other;   // its characters outside the alphabet (white space, padding, junk)
    size_t ln_pad;     // its "=" characters
    int32_t ln_flags;
    int32_t ln_committed; // longer than a line can be held back: data
    uint32_t sv_acc;
    int32_t sv_count;
    int32_t sv_truncated;
    size_t sv_junk;
} wt_b64_state;

/// Decodes `len` bytes of base64 into `dst`, which must hold len / 4 * 3 + 3 bytes; returns
/// the number of bytes written. White space and junk are skipped, "=" ends a quantum, and the
/// first line that is not base64 ends the data. Of the bytes written, the first `commit` are
/// data; the rest belong to a line not finished yet and must be held back until a later call
/// (or finish) sets `verdict` to 1 (data) or 2 (not: drop them).
size_t wt_base64_decode(wt_b64_state *st, const uint8_t *src, size_t len, uint8_t *dst);

/// Ends the input: judges the unfinished last line (`verdict`) and flushes a partial quantum
/// into `dst` (room for 2 bytes).
size_t wt_base64_finish(wt_b64_state *st, uint8_t *dst);



/// memmem(3), which the C library declares only under _GNU_SOURCE.

const void *wt_memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen);
/// The offset of the next "\nFrom " (an mbox separator line) in [p, p+n), or n.
size_t wt_find_from_line(const uint8_t *p, size_t n);

#endif

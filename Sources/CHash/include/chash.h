#ifndef WT_CHASH_H
#define WT_CHASH_H
#include <stddef.h>
#include <stdint.h>

/// Runs the SHA-256 compression function over `blocks` 64-byte blocks. Uses the CPU's SHA
/// instructions when it has them (several times faster than portable code).
void wt_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif

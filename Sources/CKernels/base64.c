// Tolerant base64 decoding. The fast path reads four characters at a time through tables
// that hold each character's bits already shifted into place, so a quantum is four loads,
// three ORs and a test; anything else (line breaks, junk, padding) takes the slow path.
#include "ckernels.h"

#define BAD 0x01000000u

static uint32_t D0[256], D1[256], D2[256], D3[256];
static uint8_t V[256];
static int ready;

static void init_tables(void) {
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 256; i++) { D0[i] = D1[i] = D2[i] = D3[i] = BAD; V[i] = 0xFF; }
    for (uint32_t v = 0; v < 64; v++) {
        uint8_t c = (uint8_t)alphabet[v];
        D0[c] = v << 18; D1[c] = v << 12; D2[c] = v << 6; D3[c] = v; V[c] = (uint8_t)v;
    }
    // The URL-safe alphabet, which some senders use.
    V['-'] = 62; V['_'] = 63;
    D0['-'] = 62u << 18; D1['-'] = 62u << 12; D2['-'] = 62u << 6; D3['-'] = 62u;
    D0['_'] = 63u << 18; D1['_'] = 63u << 12; D2['_'] = 63u << 6; D3['_'] = 63u;
    ready = 1;
}

static inline size_t flush_partial(wt_b64_state *st, uint8_t *dst) {
    size_t o = 0;
    if (st->count == 2) { dst[o++] = (uint8_t)(st->acc >> 4); }
    else if (st->count == 3) { dst[o++] = (uint8_t)(st->acc >> 10); dst[o++] = (uint8_t)(st->acc >> 2); }
    else if (st->count == 1) { st->truncated = 1; }
    st->acc = 0;
    st->count = 0;
    return o;
}

size_t wt_base64_decode(wt_b64_state *st, const uint8_t *s, size_t len, uint8_t *dst) {
    if (!ready) init_tables();
    size_t i = 0, o = 0;
    while (i < len) {
        if (st->count == 0) {
            while (i + 4 <= len) {
                uint32_t v = D0[s[i]] | D1[s[i + 1]] | D2[s[i + 2]] | D3[s[i + 3]];
                if (v & BAD) break;
                dst[o] = (uint8_t)(v >> 16); dst[o + 1] = (uint8_t)(v >> 8); dst[o + 2] = (uint8_t)v;
                o += 3;
                i += 4;
            }
            if (i >= len) break;
        }
        uint8_t c = s[i++];
        uint8_t v = V[c];
        if (v == 0xFF) {
            if (c == '=') {
                if (st->count == 1) st->truncated = 1;
                o += flush_partial(st, dst + o);
            } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                st->junk++;
            }
            continue;
        }
        st->acc = st->acc << 6 | v;
        if (++st->count == 4) {
            dst[o] = (uint8_t)(st->acc >> 16); dst[o + 1] = (uint8_t)(st->acc >> 8); dst[o + 2] = (uint8_t)st->acc;
            o += 3;
            st->acc = 0;
            st->count = 0;
        }
    }
    return o;
}

size_t wt_base64_finish(wt_b64_state *st, uint8_t *dst) {
    if (st->count != 0) st->truncated = 1;
    return flush_partial(st, dst);
}

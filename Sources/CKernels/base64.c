// Tolerant base64 decoding that stops where the data ends. The fast path reads four characters
// at a time through tables that hold each character's bits already shifted into place, so a
// quantum is four loads, three ORs and a test; anything else (line breaks, junk, padding, the
// URL-safe alphabet) takes the slow path, which also judges each line as it ends.
//
// Where the data ends: every line an encoder writes is made of alphabet characters, and all
// lines of one run have the same length except the last, which is shorter or padded. So after
// the first line, a line is data when it is as long as a full line (junk in it is junk) or
// when it is clean base64 (which also lets runs written one after another decode as one);
// the first other line, a mailing list's footer say, ends the data. A line's output is taken
// back when the line turns out not to be data; a line longer than MAXLINE is data.
#include "ckernels.h"

#define BAD 0x01000000u
#define URLSAFE 0x40u
#define MAXLINE 65536u

enum {
    F_JUNK = 1,   // a character outside the alphabet that is not white space
    F_URL = 2,    // a character of the URL-safe alphabet
    F_ALPHA = 4,  // an alphabet character went through the slow path
    F_WSQ = 8,    // a space after an alphabet character, inside a quantum
    F_SPLIT = 16, // ... and an alphabet character after it: words, not base64
    F_GAP = 32,   // a space or tab after an alphabet character
};

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
    // The URL-safe alphabet, which some senders use; the slow path notes it.
    V['-'] = 62 | URLSAFE; V['_'] = 63 | URLSAFE;
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

// Whether the line that just ended (`raw` bytes, line break excluded) is data; updates the run.
static int judge_line(wt_b64_state *st, size_t raw) {
    size_t chars = raw - st->ln_other;
    size_t content = chars + st->ln_pad;
    int32_t f = st->ln_flags;
    if (content == 0 && !(f & F_JUNK)) return 1; // white space only
    // Clean: alphabet characters in whole quanta (spaces only between quanta of a line that
    // ends on one), a new run starting on a quantum, the URL-safe alphabet only if the data
    // uses it.
    int clean = chars > 0 && !(f & (F_JUNK | F_SPLIT)) && (!(f & F_URL) || st->url_ok)
        && (!st->closed || st->sv_count == 0) && !((f & F_GAP) && st->count != 0);
    if (st->width == 0 || st->ln_committed || raw > MAXLINE) {
        // The first line of the data, or one too long to hold back.
        if (st->width == 0 || st->closed) st->width = content;
    } else if (!st->closed && content == st->width) {
        // A full line.
    } else if (clean) {
        // The last line of the run, or the first of a run written after it.
        if (st->closed) st->width = content;
    } else {
        return 0;
    }
    st->closed = content < st->width || st->ln_pad > 0;
    if (f & F_URL) st->url_ok = 1;
    return 1;
}

static inline void start_line(wt_b64_state *st) {
    st->ln_len = 0; st->ln_other = 0; st->ln_pad = 0; st->ln_flags = 0; st->ln_committed = 0;
    st->sv_acc = st->acc; st->sv_count = st->count; st->sv_truncated = st->truncated; st->sv_junk = st->junk;
}

static inline void take_back_line(wt_b64_state *st) {
    st->acc = st->sv_acc; st->count = st->sv_count; st->truncated = st->sv_truncated; st->junk = st->sv_junk;
    st->ended = 1;
}

size_t wt_base64_decode(wt_b64_state *st, const uint8_t *s, size_t len, uint8_t *dst) {
    if (!ready) init_tables();
    st->verdict = 0;
    st->commit = 0;
    if (st->ended) { st->pos += len; return 0; }
    size_t i = 0, o = 0;
    size_t ls = 0, lo = 0; // where the current line starts, in `s` and in `dst`
    int resolved = 0;      // a line ended in this call
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
        if (v != 0xFF) {
            int32_t f = st->ln_flags | F_ALPHA;
            if (v & URLSAFE) { f |= F_URL; v &= 63; }
            if (f & F_WSQ) f |= F_SPLIT;
            st->ln_flags = f;
            st->acc = st->acc << 6 | v;
            if (++st->count == 4) {
                dst[o] = (uint8_t)(st->acc >> 16); dst[o + 1] = (uint8_t)(st->acc >> 8); dst[o + 2] = (uint8_t)st->acc;
                o += 3;
                st->acc = 0;
                st->count = 0;
            }
            continue;
        }
        if (c == '\n') {
            size_t raw = st->ln_len + (i - 1 - ls);
            int keep = (!st->closed && raw - st->ln_other == st->width && st->ln_pad == 0 && !(st->ln_flags & F_URL))
                || judge_line(st, raw);
            if (!keep) {
                o = lo;
                take_back_line(st);
                st->trailer_at = st->pos + (i - 1) - raw;
                if (!resolved) st->verdict = 2;
                st->commit = o;
                st->pos += len;
                return o;
            }
            if (!resolved) { resolved = 1; st->verdict = 1; }
            ls = i;
            lo = o;
            start_line(st);
            continue;
        }
        if (c == '=') {
            st->ln_pad++;
            if (st->count == 1) st->truncated = 1;
            o += flush_partial(st, dst + o);
        } else if (c == ' ' || c == '\t') {
            if (st->ln_len + (i - 1 - ls) > st->ln_other) st->ln_flags |= F_GAP;
            if (st->count != 0 && (st->ln_flags & F_ALPHA)) st->ln_flags |= F_WSQ;
        } else if (c == '\r') {
        } else {
            st->junk++;
            st->ln_flags |= F_JUNK;
        }
        st->ln_other++;
    }
    st->ln_len += len - ls;
    if (!st->ln_committed && st->ln_len > MAXLINE) {
        st->ln_committed = 1;
        if (!resolved) st->verdict = 1;
    }
    st->commit = st->ln_committed ? o : lo;
    st->pos += len;
    return o;
}

size_t wt_base64_finish(wt_b64_state *st, uint8_t *dst) {
    st->verdict = 1;
    st->commit = 0;
    if (!st->ended && st->ln_len > 0 && !st->ln_committed && !judge_line(st, st->ln_len)) {
        take_back_line(st);
        st->trailer_at = st->pos - st->ln_len;
        st->verdict = 2;
    }
    if (st->count != 0) st->truncated = 1;
    return flush_partial(st, dst);
}

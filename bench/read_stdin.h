/* The floors read the whole message first, as an MTA's pipe hands it over. */
#ifndef WT_BENCH_READ_STDIN_H
#define WT_BENCH_READ_STDIN_H
#include <stdlib.h>
#include <unistd.h>

static unsigned char *read_stdin(size_t *len) {
    size_t cap = 256 * 1024, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (cap - n < 64 * 1024) {
            cap *= 2;
            unsigned char *p = realloc(buf, cap);
            if (!p) { free(buf); return NULL; }
            buf = p;
        }
        ssize_t r = read(0, buf + n, cap - n);
        if (r > 0) { n += (size_t)r; continue; }
        if (r == 0) break;
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

#endif

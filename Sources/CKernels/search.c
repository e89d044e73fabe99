#define _GNU_SOURCE
#include <string.h>
#include "ckernels.h"

const void *wt_memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen) {
    return memmem(haystack, hlen, needle, nlen);
}

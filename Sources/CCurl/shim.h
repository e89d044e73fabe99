#ifndef WT_CCURL_SHIM_H
#define WT_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
// wrapper per argument type.
static inline CURLcode wt_curl_set_long(CURL *c, CURLoption o, long v) {
    return curl_easy_setopt(c, o, v);
}
static inline CURLcode wt_curl_set_offset(CURL *c, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(c, o, v);
}
static inline CURLcode wt_curl_set_string(CURL *c, CURLoption o, const char *v) {
    return curl_easy_setopt(c, o, v);
}
static inline CURLcode wt_curl_set_pointer(CURL *c, CURLoption o, void *v) {
    return curl_easy_setopt(c, o, v);
}
static inline CURLcode wt_curl_set_list(CURL *c, CURLoption o, struct curl_slist *v) {
    return curl_easy_setopt(c, o, v);
}
static inline CURLcode wt_curl_set_read_function(CURL *c, curl_read_callback f) {
    return curl_easy_setopt(c, CURLOPT_READFUNCTION, f);
}
static inline CURLcode wt_curl_set_write_function(CURL *c, curl_write_callback f) {
    return curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f);
}
static inline CURLcode wt_curl_set_debug_function(CURL *c, curl_debug_callback f) {
    return curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, f);
}
static inline CURLcode wt_curl_get_long(CURL *c, CURLINFO i, long *v) {
    return curl_easy_getinfo(c, i, v);
}
static inline CURLcode wt_curl_get_socket(CURL *c, curl_socket_t *v) {
    return curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, v);
}
#endif

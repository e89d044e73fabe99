#ifndef WT_CSQLITE_SHIM_H
#define WT_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro that Swift cannot import: copy bound values.
static inline int wt_sqlite3_bind_text(sqlite3_stmt *s, int i, const char *text, int n) {
    return sqlite3_bind_text(s, i, text, n, SQLITE_TRANSIENT);
}
static inline int wt_sqlite3_bind_blob(sqlite3_stmt *s, int i, const void *data, int n) {
    return sqlite3_bind_blob(s, i, data, n, SQLITE_TRANSIENT);
}
// Binding without a copy, for large message bodies that outlive the statement step.
static inline int wt_sqlite3_bind_blob_static(sqlite3_stmt *s, int i, const void *data, sqlite3_int64 n) {
    return sqlite3_bind_blob64(s, i, data, (sqlite3_uint64)n, SQLITE_STATIC);
}
static inline int wt_sqlite3_bind_text_static(sqlite3_stmt *s, int i, const char *text, sqlite3_int64 n) {
    return sqlite3_bind_text64(s, i, text, (sqlite3_uint64)n, SQLITE_STATIC, SQLITE_UTF8);
}
#endif

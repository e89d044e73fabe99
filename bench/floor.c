/* floor: the least a delivery agent can do, the floor of the "delivery time" benchmark.
 *
 *   floor DB < message
 *
 * Reads standard input fully, opens DB with wt-deliver's settings (WAL, synchronous=FULL,
 * a busy timeout) and stores the message as one row of raw(received_at, size, data) in one
 * BEGIN IMMEDIATE transaction. No parsing, no hashing, no other table. Exit 0 when the
 * commit returned, 75 (EX_TEMPFAIL) on any error.
 *
 * `floor --init DB` creates the table; bench.py does that before timing anything.
 *
 *   cc -O2 -o bench/out/floor bench/floor.c -lsqlite3
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "read_stdin.h"

static int fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "floor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    return 75;
}


int main(int argc, char **argv) {
    int init = argc == 3 && strcmp(argv[1], "--init") == 0;
    if (argc != 2 && !init) {
        fprintf(stderr, "usage: floor DB < message | floor --init DB\n");
        return 64;
    }
    const char *path = argv[argc - 1];
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return fail(db, "open");
    sqlite3_busy_timeout(db, 30000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, "pragmas");
    if (init) {
        if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, "
                             "size INTEGER NOT NULL, data BLOB NOT NULL)", NULL, NULL, NULL) != SQLITE_OK)
            return fail(db, "create");
        return sqlite3_close(db) == SQLITE_OK ? 0 : 75;
    }

    size_t len = 0;
    unsigned char *msg = read_stdin(&len);
    if (!msg) { perror("floor: read"); return 75; }

    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "begin");
    if (sqlite3_prepare_v2(db, "INSERT INTO raw (received_at, size, data) VALUES (?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        return fail(db, "prepare");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(st, 2, (sqlite3_int64)len);
    sqlite3_bind_blob64(st, 3, msg, (sqlite3_uint64)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return fail(db, "insert");
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "commit");
    if (sqlite3_close(db) != SQLITE_OK) return fail(db, "close");
    free(msg);
    return 0;
}

/* pg_floor: the least a delivery agent can do against PostgreSQL, the floor of the
 * "postgres" benchmark.
 *
 *   pg_floor URI < message
 *
 * Reads standard input fully, connects with libpq (URI, password from PGPASSFILE or
 * ~/.pgpass as for wt), and stores the message as one row of raw(received_at, size, data)
 * in one transaction: BEGIN, INSERT (the bytes as a binary bytea parameter), COMMIT, with
 * the server's default synchronous_commit = on, so COMMIT returns once the WAL is flushed.
 * No parsing, no hashing, no other table. Exit 0 when the commit returned, 75 (EX_TEMPFAIL)
 * on any error.
 *
 * `pg_floor --init URI` creates the table; bench.py does that before timing anything.
 *
 *   gcc -O2 -o bench/out/pg_floor bench/pg_floor.c -lpq -I/usr/include/postgresql
 */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "read_stdin.h"

static int fail(PGconn *c, const char *what) {
    fprintf(stderr, "pg_floor: %s: %s", what, c ? PQerrorMessage(c) : "out of memory\n");
    return 75;
}

static int exec_ok(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}


int main(int argc, char **argv) {
    int init = argc == 3 && strcmp(argv[1], "--init") == 0;
    if (argc != 2 && !init) {
        fprintf(stderr, "usage: pg_floor URI < message | pg_floor --init URI\n");
        return 64;
    }
    size_t len = 0;
    unsigned char *msg = NULL;
    if (!init) {  /* as an MTA's pipe: the whole message first, then the database */
        msg = read_stdin(&len);
        if (!msg) { perror("pg_floor: read"); return 75; }
    }
    PGconn *c = PQconnectdb(argv[argc - 1]);
    if (!c || PQstatus(c) != CONNECTION_OK) return fail(c, "connect");
    if (init) {
        /* EXTERNAL: out of line, never compressed (mail is mostly base64 and compresses
         * poorly for its cost): the least the server can do with the bytes. */
        if (!exec_ok(c, "CREATE TABLE IF NOT EXISTS raw (id bigserial PRIMARY KEY, received_at bigint NOT NULL, "
                        "size bigint NOT NULL, data bytea NOT NULL)") ||
            !exec_ok(c, "ALTER TABLE raw ALTER COLUMN data SET STORAGE EXTERNAL"))
            return fail(c, "create");
        PQfinish(c);
        return 0;
    }
    if (len > INT32_MAX) { fprintf(stderr, "pg_floor: message too large\n"); return 75; }

    char when[24], size[24];
    snprintf(when, sizeof when, "%lld", (long long)time(NULL));
    snprintf(size, sizeof size, "%zu", len);
    const char *values[3] = {when, size, (const char *)msg};
    int lengths[3] = {0, 0, (int)len};
    int formats[3] = {0, 0, 1};
    if (!exec_ok(c, "BEGIN")) return fail(c, "begin");
    PGresult *r = PQexecParams(c, "INSERT INTO raw (received_at, size, data) VALUES ($1, $2, $3)", 3, NULL,
                               values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) { PQclear(r); return fail(c, "insert"); }
    PQclear(r);
    if (!exec_ok(c, "COMMIT")) return fail(c, "commit");
    PQfinish(c);
    free(msg);
    return 0;
}

#ifndef WT_CPOSTGRES_SHIM_H
#define WT_CPOSTGRES_SHIM_H
// Debian's libpq-dev puts the client headers in /usr/include/postgresql.
#include <postgresql/libpq-fe.h>
#endif

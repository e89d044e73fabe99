#ifndef WT_PQ_STATIC_H
#define WT_PQ_STATIC_H
/* Linked into the fully static wt-deliver-pg only: see stubs.c. */
int wt_pq_static_build(void);
#endif

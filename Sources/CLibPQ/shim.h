#ifndef ASSAY_CLIBPQ_SHIM_H
#define ASSAY_CLIBPQ_SHIM_H
#include <postgresql/libpq-fe.h>
#include <postgresql/postgres_ext.h>

/* Swift does not import character-literal macros; these hand the error-field codes over. */
static inline int assay_pq_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int assay_pq_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }
static inline int assay_pq_diag_message_detail(void) { return PG_DIAG_MESSAGE_DETAIL; }
#endif

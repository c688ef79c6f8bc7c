#ifndef ASSAY_CLIBPQ_SHIM_H
#define ASSAY_CLIBPQ_SHIM_H
#include <postgresql/libpq-fe.h>
#endif

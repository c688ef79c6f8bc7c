#ifndef ASSAY_CMICROHTTPD_SHIM_H
#define ASSAY_CMICROHTTPD_SHIM_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* Swift cannot call C variadic functions, so MHD_start_daemon's option list is fixed here.
 * The daemon accepts on a socket the caller already bound and listens on (so bind errors are precise);
 * a pool of `threads` internal threads serves the connections. */
static inline struct MHD_Daemon *
assay_mhd_start_daemon (unsigned int flags,
                        int listen_fd,
                        unsigned int threads,
                        unsigned int connection_limit,
                        unsigned int timeout_seconds,
                        size_t memory_limit,
                        MHD_AccessHandlerCallback handler,
                        void *handler_cls,
                        MHD_RequestCompletedCallback completed,
                        void *completed_cls)
{
  return MHD_start_daemon (flags, 0, NULL, NULL, handler, handler_cls,
                           MHD_OPTION_LISTEN_SOCKET, (MHD_socket) listen_fd,
                           MHD_OPTION_THREAD_POOL_SIZE, threads,
                           MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                           MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
                           MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                           MHD_OPTION_END);
}

#endif

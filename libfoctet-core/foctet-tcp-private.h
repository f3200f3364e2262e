/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A socket's TCP_NOTSENT_LOWAT following the path's rate
 * (foctet_tcp_socket_follow_rate()). */
typedef struct {
  gint64 checked;                       /* monotonic µs, the last look */
  guint64 acked;                        /* tcpi_bytes_acked then */
  guint lowat;                          /* set last; 0: the tuned default */
} FoctetTcpRate;

void foctet_tcp_socket_follow_rate (GSocket       *socket,
                                    FoctetTcpRate *state);

G_END_DECLS

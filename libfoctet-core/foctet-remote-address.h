/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The remote address of a connection a FoctetSocketService accepted, as
 * accept () gave it.  A connection the peer reset while it waited to be
 * accepted is still accepted (on Linux), but its socket no longer knows
 * the peer: g_socket_connection_get_remote_address () fails on it
 * (getpeername () does), where a server still wants to say whom it came
 * from (the relay's raw port does).  Not part of <foctet.h> and not
 * introspected: include <foctet-remote-address.h>. */

#include "foctet.h"

G_BEGIN_DECLS

/* The address of @connection's peer: for a connection a
 * FoctetSocketService accepted, the one accept () gave; for any other,
 * g_socket_connection_get_remote_address ()'s.  (transfer full) */
FOCTET_AVAILABLE_IN_ALL
GSocketAddress *foctet_socket_connection_get_remote_address (GSocketConnection  *connection,
                                                             GError            **error);

G_END_DECLS

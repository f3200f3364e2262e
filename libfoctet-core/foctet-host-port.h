/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one parser of "host:port" (foctet_parse_host_port(), the ticket
 * code) in the form a wire format needs: exactly @len bytes, not
 * NUL-terminated, as read out of a message.  For plugins that carry
 * addresses in messages of their own (the relay's RESERVE_OK and
 * INCOMING), so that those are checked exactly as ticket addresses are,
 * with the same messages.  Not part of <foctet.h> and not introspected:
 * include <foctet-host-port.h>. */

#include "foctet.h"

G_BEGIN_DECLS

/* Parses the @len bytes at @text as "host:port": a hostname (RFC 1123),
 * a dotted IPv4 address or a bracketed IPv6 address, a colon and a
 * decimal port, 1–65535, or 0–65535 if @allow_port_zero (only listen
 * addresses may say "any port").  A NUL byte among the @len is refused.
 * Fails with %FOCTET_ERROR_INVALID_ARGUMENT and a message naming what is
 * wrong, as foctet_parse_host_port() does; @host (without brackets) and
 * @port are set only on success and may be %NULL. */
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_parse_host_port_len (const char  *text,
                                     gsize        len,
                                     gboolean     allow_port_zero,
                                     char       **host,
                                     guint16     *port,
                                     GError     **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-identity.h"
#include "foctet-node-id.h"

G_BEGIN_DECLS

/**
 * FOCTET_TLS_ALPN:
 *
 * The ALPN value of a direct node-to-node connection (PROTOCOL §2).
 */
#define FOCTET_TLS_ALPN "foctet/1"

/**
 * FOCTET_TLS_ALPN_RELAY:
 *
 * The ALPN value of a node's connection to a relay server (PROTOCOL §2).
 */
#define FOCTET_TLS_ALPN_RELAY "foctet-relay/1"

/**
 * FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT:
 *
 * The default limit on a TLS handshake, in milliseconds.
 */
#define FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT 10000

#define FOCTET_TYPE_TLS_STREAM (foctet_tls_stream_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetTlsStream, foctet_tls_stream, FOCTET, TLS_STREAM, GIOStream)

FOCTET_AVAILABLE_IN_ALL
void foctet_tls_stream_handshake_async (GIOStream           *base_stream,
                                        FoctetIdentity      *identity,
                                        gboolean             is_server,
                                        const char          *alpn,
                                        const FoctetNodeId  *expected_peer,
                                        guint                timeout_ms,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetTlsStream *foctet_tls_stream_handshake_finish (GAsyncResult  *result,
                                                     GError       **error);

FOCTET_AVAILABLE_IN_ALL
GIOStream *foctet_tls_stream_get_base_stream (FoctetTlsStream *self);
FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_tls_stream_get_peer_id (FoctetTlsStream *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_tls_stream_get_alpn (FoctetTlsStream *self);
FOCTET_AVAILABLE_IN_ALL
char *foctet_tls_stream_get_description (FoctetTlsStream *self);

G_END_DECLS

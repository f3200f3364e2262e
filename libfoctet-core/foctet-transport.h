/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-connection.h"
#include "foctet-identity.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_TRANSPORT (foctet_transport_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (FoctetTransport, foctet_transport, FOCTET, TRANSPORT, GObject)

/**
 * FoctetTransportInterface:
 * @g_iface: the parent interface
 * @get_name: the transport's name as used in addresses ("tls", "quic", ...)
 * @get_address_kind: the ticket entry type ([enum@Foctet.AddressKind]) its
 *   addresses are published under, or 0 when they are not put in tickets
 * @listen_async: start accepting connections on "host:port"
 * @listen_finish: finishes @listen_async, returning the bound "host:port"
 * @dial_async: connect to "host:port" and authenticate the peer as
 *   @expected_peer (when not %NULL)
 * @dial_finish: finishes @dial_async
 * @get_listen_addresses: the "host:port" addresses it listens on
 * @stop: stop listening; established connections stay open
 * @check_address: whether an address is of the transport's form; %NULL
 *   for "host:port", as [func@Foctet.parse_host_port] checks it
 *
 * A way of reaching other nodes.  An implementation is constructed with
 * the construct-only [property@Foctet.Transport:identity] property, runs on the
 * #GMainContext that was thread-default when it was constructed, and
 * announces accepted, authenticated connections with
 * [method@Foctet.Transport.emit_incoming].
 */
struct _FoctetTransportInterface {
  GTypeInterface g_iface;

  const char       *(*get_name)             (FoctetTransport     *self);
  guint             (*get_address_kind)     (FoctetTransport     *self);
  void              (*listen_async)         (FoctetTransport     *self,
                                             const char          *address,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
  char             *(*listen_finish)        (FoctetTransport     *self,
                                             GAsyncResult        *result,
                                             GError             **error);
  void              (*dial_async)           (FoctetTransport     *self,
                                             const char          *address,
                                             const FoctetNodeId  *expected_peer,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
  FoctetConnection *(*dial_finish)          (FoctetTransport     *self,
                                             GAsyncResult        *result,
                                             GError             **error);
  char            **(*get_listen_addresses) (FoctetTransport     *self);
  void              (*stop)                 (FoctetTransport     *self);
  gboolean          (*check_address)        (FoctetTransport     *self,
                                             const char          *address,
                                             GError             **error);

  /*< private >*/
  gpointer padding[11];
};

FOCTET_AVAILABLE_IN_ALL
const char *foctet_transport_get_name (FoctetTransport *self);
FOCTET_AVAILABLE_IN_ALL
guint foctet_transport_get_address_kind (FoctetTransport *self);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_transport_get_identity (FoctetTransport *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transport_check_address (FoctetTransport  *self,
                                         const char       *address,
                                         GError          **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_listen_async (FoctetTransport     *self,
                                    const char          *address,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
char *foctet_transport_listen_finish (FoctetTransport  *self,
                                      GAsyncResult     *result,
                                      GError          **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_dial_async (FoctetTransport     *self,
                                  const char          *address,
                                  const FoctetNodeId  *expected_peer,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetConnection *foctet_transport_dial_finish (FoctetTransport  *self,
                                               GAsyncResult     *result,
                                               GError          **error);
FOCTET_AVAILABLE_IN_ALL
char **foctet_transport_get_listen_addresses (FoctetTransport *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_stop (FoctetTransport *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_emit_incoming (FoctetTransport  *self,
                                     FoctetConnection *connection);

FOCTET_AVAILABLE_IN_ALL
void foctet_transport_emit_incoming_failed (FoctetTransport *self,
                                            const char      *remote_address,
                                            const GError    *error);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_emit_listener_lost (FoctetTransport *self,
                                          const char      *address,
                                          const GError    *error);
FOCTET_AVAILABLE_IN_ALL
void foctet_transport_emit_listener_restored (FoctetTransport *self,
                                              const char      *address);

FOCTET_AVAILABLE_IN_ALL
char *foctet_socket_address_to_string (GSocketAddress *address);
FOCTET_AVAILABLE_IN_ALL
void foctet_tcp_socket_tune (GSocket *socket);
FOCTET_AVAILABLE_IN_ALL
GSocket *foctet_tcp_listener_socket_new (GInetSocketAddress  *address,
                                         GError             **error);
FOCTET_AVAILABLE_IN_ALL
guint foctet_send_bound_for_rate (guint64 rate);
FOCTET_AVAILABLE_IN_ALL
char **foctet_transport_expand_listen_address (GInetAddress *address,
                                               guint16       port);

G_END_DECLS

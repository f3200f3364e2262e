/* foctet-transport.c: the interface every transport plugin implements.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-transport.h"
#include "foctet-error.h"

/**
 * FoctetTransport:
 *
 * A way of reaching other nodes: TLS over TCP, QUIC, a relay, or one a
 * third party ships as a plugin.  Implementations register on the
 * %FOCTET_EXTENSION_POINT_TRANSPORT extension point (or with
 * foctet_registry_register_type()), and #FoctetNode creates them by name.
 *
 * Addresses are "host:port" strings: a hostname, an IPv4 address or a
 * bracketed IPv6 address, and a port.
 */

enum {
  SIGNAL_INCOMING,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_INTERFACE (FoctetTransport, foctet_transport, G_TYPE_OBJECT)

static void
foctet_transport_default_init (FoctetTransportInterface *iface)
{
  /**
   * FoctetTransport:identity:
   *
   * The identity the transport authenticates with.
   */
  g_object_interface_install_property (iface,
    g_param_spec_object ("identity", NULL, NULL, FOCTET_TYPE_IDENTITY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * FoctetTransport::incoming:
   * @self: the transport
   * @connection: the new, authenticated connection
   *
   * Emitted for each connection a peer established with this transport.
   */
  signals[SIGNAL_INCOMING] =
    g_signal_new ("incoming", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, FOCTET_TYPE_CONNECTION);
}

/**
 * foctet_transport_get_name:
 * @self: a #FoctetTransport
 *
 * Returns: the transport's name, as used in "name/host:port" URIs
 */
const char *
foctet_transport_get_name (FoctetTransport *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  return FOCTET_TRANSPORT_GET_IFACE (self)->get_name (self);
}

/**
 * foctet_transport_get_address_kind:
 * @self: a #FoctetTransport
 *
 * Returns: the #FoctetAddressKind under which the transport's addresses
 *   go into tickets, or 0 if they are not put in tickets
 */
guint
foctet_transport_get_address_kind (FoctetTransport *self)
{
  FoctetTransportInterface *iface;

  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), 0);

  iface = FOCTET_TRANSPORT_GET_IFACE (self);
  return iface->get_address_kind != NULL ? iface->get_address_kind (self) : 0;
}

/**
 * foctet_transport_get_identity:
 * @self: a #FoctetTransport
 *
 * Returns: (transfer none) (nullable): the identity it authenticates with
 */
FoctetIdentity *
foctet_transport_get_identity (FoctetTransport *self)
{
  g_autoptr(FoctetIdentity) identity = NULL;

  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  g_object_get (self, "identity", &identity, NULL);
  /* The transport holds its own reference for its lifetime. */
  return identity;
}

/**
 * foctet_transport_listen_async:
 * @self: a #FoctetTransport
 * @address: "host:port" to listen on; port 0 picks a free port
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when listening
 * @user_data: data for @callback
 *
 * Starts accepting connections on @address.  Each authenticated one is
 * announced with #FoctetTransport::incoming.
 */
void
foctet_transport_listen_async (FoctetTransport     *self,
                               const char          *address,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (address != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_TRANSPORT_GET_IFACE (self)->listen_async (self, address, cancellable, callback, user_data);
}

/**
 * foctet_transport_listen_finish:
 * @self: a #FoctetTransport
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the bound "host:port", with the real port
 */
char *
foctet_transport_listen_finish (FoctetTransport  *self,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  return FOCTET_TRANSPORT_GET_IFACE (self)->listen_finish (self, result, error);
}

/**
 * foctet_transport_dial_async:
 * @self: a #FoctetTransport
 * @address: "host:port" of the peer
 * @expected_peer: (nullable): the NodeId the peer must prove, or %NULL to
 *   accept any
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when connected or failed
 * @user_data: data for @callback
 *
 * Connects to a peer and authenticates it.  A peer that is not
 * @expected_peer fails the dial with %FOCTET_ERROR_NODE_ID_MISMATCH.
 */
void
foctet_transport_dial_async (FoctetTransport     *self,
                             const char          *address,
                             const FoctetNodeId  *expected_peer,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (address != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_TRANSPORT_GET_IFACE (self)->dial_async (self, address, expected_peer, cancellable,
                                                 callback, user_data);
}

/**
 * foctet_transport_dial_finish:
 * @self: a #FoctetTransport
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the authenticated connection
 */
FoctetConnection *
foctet_transport_dial_finish (FoctetTransport  *self,
                              GAsyncResult     *result,
                              GError          **error)
{
  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  return FOCTET_TRANSPORT_GET_IFACE (self)->dial_finish (self, result, error);
}

/**
 * foctet_transport_get_listen_addresses:
 * @self: a #FoctetTransport
 *
 * Returns: (transfer full) (array zero-terminated=1): the "host:port"
 *   addresses it listens on; a wildcard listener lists its usable
 *   interface addresses, loopback last
 */
char **
foctet_transport_get_listen_addresses (FoctetTransport *self)
{
  FoctetTransportInterface *iface;

  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  iface = FOCTET_TRANSPORT_GET_IFACE (self);
  if (iface->get_listen_addresses == NULL)
    return g_new0 (char *, 1);
  return iface->get_listen_addresses (self);
}

/**
 * foctet_transport_stop:
 * @self: a #FoctetTransport
 *
 * Stops listening.  Connections already established stay open.
 */
void
foctet_transport_stop (FoctetTransport *self)
{
  FoctetTransportInterface *iface;

  g_return_if_fail (FOCTET_IS_TRANSPORT (self));

  iface = FOCTET_TRANSPORT_GET_IFACE (self);
  if (iface->stop != NULL)
    iface->stop (self);
}

/**
 * foctet_transport_emit_incoming:
 * @self: a #FoctetTransport
 * @connection: the accepted, authenticated connection
 *
 * For implementations: announces an incoming connection.
 */
void
foctet_transport_emit_incoming (FoctetTransport  *self,
                                FoctetConnection *connection)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (FOCTET_IS_CONNECTION (connection));

  g_signal_emit (self, signals[SIGNAL_INCOMING], 0, connection);
}

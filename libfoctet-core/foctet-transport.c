/* foctet-transport.c: the interface every transport plugin implements.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <netinet/in.h>

#include "foctet-transport.h"
#include "foctet-error.h"
#include "foctet-ticket.h"

/**
 * FoctetTransport:
 *
 * A way of reaching other nodes: TLS over TCP, QUIC, a relay, or one a
 * third party ships as a plugin.  Implementations register on the
 * [const@Foctet.EXTENSION_POINT_TRANSPORT] extension point (or with
 * [method@Foctet.Registry.register_type]), and [class@Foctet.Node] creates them by name.
 *
 * Addresses are "host:port" strings: a hostname, an IPv4 address or a
 * bracketed IPv6 address, and a port.  A transport whose addresses go in
 * no ticket ([method@Foctet.Transport.get_address_kind] returns 0) may
 * take addresses of another form, such as a path: it implements
 * [vfunc@Foctet.Transport.check_address], and the node hands it
 * everything after the first slash of a URI.
 */

enum {
  SIGNAL_INCOMING,
  SIGNAL_INCOMING_FAILED,
  SIGNAL_LISTENER_LOST,
  SIGNAL_LISTENER_RESTORED,
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

  /**
   * FoctetTransport::incoming-failed:
   * @self: the transport
   * @remote_address: "host:port" the peer connected from
   * @error: why the connection was not established
   *
   * Emitted for each incoming connection the transport gave up on: a
   * refused certificate, no common ALPN value, a handshake timeout, too
   * many handshakes at once.  The listener goes on serving others.
   */
  signals[SIGNAL_INCOMING_FAILED] =
    g_signal_new ("incoming-failed", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_ERROR);

  /**
   * FoctetTransport::listener-lost:
   * @self: the transport
   * @address: the address listened on, as given to
   *   [method@Foctet.Transport.listen_async] (for a relay, the relay's
   *   "host:port")
   * @error: why it stopped working
   *
   * Emitted when a listener that depends on another host, such as a
   * reservation at a relay, stopped working after it had been set up:
   * peers cannot reach the node that way until
   * [signal@Foctet.Transport::listener-restored] is emitted for it.  The
   * transport keeps trying to restore it, with a growing delay between
   * tries; it is emitted once per outage, not for each failed try.
   */
  signals[SIGNAL_LISTENER_LOST] =
    g_signal_new ("listener-lost", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_ERROR);

  /**
   * FoctetTransport::listener-restored:
   * @self: the transport
   * @address: the address listened on, as in
   *   [signal@Foctet.Transport::listener-lost]
   *
   * Emitted when a listener reported lost works again.
   */
  signals[SIGNAL_LISTENER_RESTORED] =
    g_signal_new ("listener-restored", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

/**
 * foctet_transport_get_name:
 * @self: a [iface@Foctet.Transport]
 *
 * Gets the name the transport is registered and found by, such as "tls"
 * or "quic".
 *
 * Returns: the transport's name, as used in "name/host:port" URIs; a
 *   static string or one owned by @self
 */
const char *
foctet_transport_get_name (FoctetTransport *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), NULL);

  return FOCTET_TRANSPORT_GET_IFACE (self)->get_name (self);
}

/**
 * foctet_transport_get_address_kind:
 * @self: a [iface@Foctet.Transport]
 *
 * Tells under which ticket entry type the node publishes the addresses
 * this transport listens on.
 *
 * Returns: the [enum@Foctet.AddressKind] under which the transport's addresses
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
 * @self: a [iface@Foctet.Transport]
 *
 * Gets the identity the transport was created with, the
 * [property@Foctet.Transport:identity] property: the certificate it presents and
 * the NodeId peers see.
 *
 * Returns: (transfer none) (nullable): the identity it authenticates with,
 *   owned by @self, or %NULL if none was given
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
 * foctet_transport_check_address:
 * @self: a [iface@Foctet.Transport]
 * @address: an address to listen on or dial, without the "name/" of a URI
 * @error: return location for a #GError
 *
 * Checks that @address is of the form the transport takes: "host:port"
 * as [func@Foctet.parse_host_port] checks it (port 0 included, which
 * listening takes), unless the transport implements
 * [vfunc@Foctet.Transport.check_address] for addresses of another form,
 * such as the path of a Unix socket.  A transport whose addresses go in
 * tickets takes "host:port".  The node checks the address of every URI
 * with it before it listens or dials; a usage error can be told early
 * from a failure to listen or to connect.
 *
 * Returns: %TRUE if @address is of the transport's form, else %FALSE with
 *   @error set (%FOCTET_ERROR_INVALID_ARGUMENT for "host:port")
 */
gboolean
foctet_transport_check_address (FoctetTransport  *self,
                                const char       *address,
                                GError          **error)
{
  FoctetTransportInterface *iface;

  g_return_val_if_fail (FOCTET_IS_TRANSPORT (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = FOCTET_TRANSPORT_GET_IFACE (self);
  if (iface->check_address != NULL)
    return iface->check_address (self, address, error);
  return foctet_parse_host_port (address, NULL, NULL, error);
}

/**
 * foctet_transport_listen_async:
 * @self: a [iface@Foctet.Transport]
 * @address: "host:port" to listen on; port 0 picks a free port
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when listening
 * @user_data: data for @callback
 *
 * Starts accepting connections on @address.  Each authenticated one is
 * announced with [signal@Foctet.Transport::incoming].
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
 * @self: a [iface@Foctet.Transport]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Transport.listen_async].  The errors are the
 * implementation's; the built-in transports fail with
 * %FOCTET_ERROR_INVALID_ARGUMENT for an address they cannot listen on and
 * with the #G_IO_ERROR of the socket (such as %G_IO_ERROR_ADDRESS_IN_USE).
 *
 * Returns: (transfer full): the bound "host:port", with the real port, or
 *   %NULL with @error set
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
 * @self: a [iface@Foctet.Transport]
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
 * @self: a [iface@Foctet.Transport]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Transport.dial_async].  Besides
 * %FOCTET_ERROR_NODE_ID_MISMATCH, the built-in transports fail with
 * %FOCTET_ERROR_UNREACHABLE when the address cannot be reached, with
 * %FOCTET_ERROR_BAD_CERTIFICATE, %FOCTET_ERROR_HANDSHAKE_FAILED or
 * %FOCTET_ERROR_TIMED_OUT when the handshake fails, and with
 * %G_IO_ERROR_CANCELLED when cancelled.
 *
 * Returns: (transfer full): the authenticated connection, or %NULL with
 *   @error set
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
 * @self: a [iface@Foctet.Transport]
 *
 * Lists the addresses peers can dial this transport at, as a node puts
 * them in its ticket.  The list is empty when the transport does not
 * listen (or implements no such list).
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
 * @self: a [iface@Foctet.Transport]
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
 * @self: a [iface@Foctet.Transport]
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

/**
 * foctet_transport_emit_incoming_failed:
 * @self: a [iface@Foctet.Transport]
 * @remote_address: "host:port" the peer connected from
 * @error: why the connection was not established
 *
 * For implementations: reports an incoming connection given up on.
 */
void
foctet_transport_emit_incoming_failed (FoctetTransport *self,
                                       const char      *remote_address,
                                       const GError    *error)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (error != NULL);

  g_signal_emit (self, signals[SIGNAL_INCOMING_FAILED], 0, remote_address, error);
}

/**
 * foctet_transport_emit_listener_lost:
 * @self: a [iface@Foctet.Transport]
 * @address: the address listened on
 * @error: why the listener stopped working
 *
 * For implementations: reports that a listener stopped working and is
 * being restored (see [signal@Foctet.Transport::listener-lost]).
 */
void
foctet_transport_emit_listener_lost (FoctetTransport *self,
                                     const char      *address,
                                     const GError    *error)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (address != NULL);
  g_return_if_fail (error != NULL);

  g_signal_emit (self, signals[SIGNAL_LISTENER_LOST], 0, address, error);
}

/**
 * foctet_transport_emit_listener_restored:
 * @self: a [iface@Foctet.Transport]
 * @address: the address listened on
 *
 * For implementations: reports that a listener reported lost works again.
 */
void
foctet_transport_emit_listener_restored (FoctetTransport *self,
                                         const char      *address)
{
  g_return_if_fail (FOCTET_IS_TRANSPORT (self));
  g_return_if_fail (address != NULL);

  g_signal_emit (self, signals[SIGNAL_LISTENER_RESTORED], 0, address);
}

/**
 * foctet_socket_address_to_string:
 * @address: an IPv4 or IPv6 #GInetSocketAddress
 *
 * Formats a socket address the way foctet writes addresses, with the IPv6
 * host in brackets so the port stays unambiguous.
 *
 * Returns: (transfer full): "host:port", or "[host]:port" for IPv6, as
 *   addresses are written in tickets and URIs
 */
char *
foctet_socket_address_to_string (GSocketAddress *address)
{
  GInetSocketAddress *inet;
  g_autofree char *host = NULL;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (address), NULL);

  inet = G_INET_SOCKET_ADDRESS (address);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
  if (g_inet_address_get_family (g_inet_socket_address_get_address (inet)) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (inet));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (inet));
}

/* The IPv6 addresses of this host a peer should not be given, from the
 * kernel's list (/proc/net/if_inet6: address, interface index, prefix
 * length, scope, flags, name): temporary ones (privacy addresses, for
 * outgoing connections, replaced every day), deprecated ones (on their
 * way out), and those that failed or have not finished duplicate address
 * detection. */
static GPtrArray *
unusable_ipv6_addresses (void)
{
  GPtrArray *unusable = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/net/if_inet6", &text, NULL, NULL))
    return unusable;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char hex[33];
      guint index, prefix, scope, flags;
      guint8 bytes[16];

      if (sscanf (lines[i], "%32s %x %x %x %x", hex, &index, &prefix, &scope, &flags) != 5 ||
          strspn (hex, "0123456789abcdefABCDEF") != 32)
        continue;
      if ((flags & (IFA_F_TEMPORARY | IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED)) == 0)
        continue;
      for (guint k = 0; k < 16; k++)
        bytes[k] = (guint8) (g_ascii_xdigit_value (hex[2 * k]) << 4 | g_ascii_xdigit_value (hex[2 * k + 1]));
      g_ptr_array_add (unusable, g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6));
    }
  return unusable;
}

static gboolean
address_in (GPtrArray    *addresses,
            GInetAddress *address)
{
  for (guint k = 0; k < addresses->len; k++)
    if (g_inet_address_equal (addresses->pdata[k], address))
      return TRUE;
  return FALSE;
}

static int
loopback_last (gconstpointer a,
               gconstpointer b)
{
  GInetAddress *x = *(GInetAddress **) a, *y = *(GInetAddress **) b;

  return (int) g_inet_address_get_is_loopback (x) - (int) g_inet_address_get_is_loopback (y);
}

/**
 * foctet_transport_expand_listen_address:
 * @address: an IP address listened on
 * @port: the port listened on
 *
 * The addresses to tell peers for a listener: @address itself, or, for a
 * wildcard address (0.0.0.0 or ::), every address of that family the
 * machine's interfaces have (loopback last), as PROTOCOL §6 asks of
 * tickets — but no link-local IPv6 address, and none that is temporary,
 * deprecated or not through duplicate address detection.
 *
 * Returns: (transfer full) (array zero-terminated=1): "host:port" strings
 */
char **
foctet_transport_expand_listen_address (GInetAddress *address,
                                        guint16       port)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_object_unref);
  GSocketFamily family;

  g_return_val_if_fail (G_IS_INET_ADDRESS (address), NULL);

  family = g_inet_address_get_family (address);
  if (!g_inet_address_get_is_any (address))
    g_ptr_array_add (found, g_object_ref (address));
  else
    {
      struct ifaddrs *list = NULL;
      g_autoptr(GPtrArray) unusable = family == G_SOCKET_FAMILY_IPV6 ? unusable_ipv6_addresses () : NULL;

      if (getifaddrs (&list) == 0)
        {
          for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
            {
              g_autoptr(GSocketAddress) sa = NULL;
              GInetAddress *inet;

              if (i->ifa_addr == NULL || (i->ifa_flags & IFF_UP) == 0 ||
                  (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
                continue;
              sa = g_socket_address_new_from_native (i->ifa_addr, i->ifa_addr->sa_family == AF_INET
                                                                  ? sizeof (struct sockaddr_in)
                                                                  : sizeof (struct sockaddr_in6));
              if (sa == NULL)
                continue;
              inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
              if (g_inet_address_get_family (inet) != family || g_inet_address_get_is_link_local (inet) ||
                  (unusable != NULL && address_in (unusable, inet)))
                continue;
              if (!address_in (found, inet))
                g_ptr_array_add (found, g_object_ref (inet));
            }
          freeifaddrs (list);
        }
      if (found->len == 0)
        g_ptr_array_add (found, g_inet_address_new_loopback (family));
      g_ptr_array_sort (found, loopback_last);
    }

  for (guint k = 0; k < found->len; k++)
    {
      g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (found->pdata[k], port);
      g_autofree char *text = foctet_socket_address_to_string (sa);

      g_strv_builder_add (builder, text);
    }
  return g_strv_builder_end (builder);
}

/* foctet-discovery.c: the interface of discovery mechanisms.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-discovery.h"
#include "foctet-identity.h"

/**
 * FoctetDiscovery:
 *
 * Finds the addresses of a node known only by its NodeId (mDNS on the
 * LAN, a relay's directory), and makes this node findable.
 * Implementations register on [const@Foctet.EXTENSION_POINT_DISCOVERY]; a
 * [class@Foctet.Node] uses them through [method@Foctet.Node.add_discovery].
 *
 * A discovery runs on the #GMainContext that was thread-default when it
 * was constructed.  Between [method@Foctet.Discovery.start] and
 * [method@Foctet.Discovery.stop] it keeps the list of peers it found
 * ([method@Foctet.Discovery.get_peers]) and announces what was given to
 * [method@Foctet.Discovery.publish].
 */

G_DEFINE_INTERFACE (FoctetDiscovery, foctet_discovery, G_TYPE_OBJECT)

static void
foctet_discovery_default_init (FoctetDiscoveryInterface *iface)
{
  /**
   * FoctetDiscovery:identity:
   *
   * The identity of the node the discovery works for.
   */
  g_object_interface_install_property (iface,
    g_param_spec_object ("identity", NULL, NULL, FOCTET_TYPE_IDENTITY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
}

/**
 * foctet_discovery_get_name:
 * @self: a [iface@Foctet.Discovery]
 *
 * Gets the name the mechanism is registered and found by, such as
 * "mdns"; the peers it finds carry it as their [property@Foctet.Peer:source].
 *
 * Returns: the mechanism's name; a static string or one owned by @self
 */
const char *
foctet_discovery_get_name (FoctetDiscovery *self)
{
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);

  return FOCTET_DISCOVERY_GET_IFACE (self)->get_name (self);
}

/**
 * foctet_discovery_get_identity:
 * @self: a [iface@Foctet.Discovery]
 *
 * Gets the identity the discovery was created with, the
 * [property@Foctet.Discovery:identity] property: the node it makes findable and
 * answers for.
 *
 * Returns: (transfer none) (nullable): the identity of the node it works
 *   for, owned by @self, or %NULL if none was given
 */
FoctetIdentity *
foctet_discovery_get_identity (FoctetDiscovery *self)
{
  g_autoptr(FoctetIdentity) identity = NULL;

  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);

  g_object_get (self, "identity", &identity, NULL);
  /* The discovery holds its own reference for its lifetime. */
  return identity;
}

/**
 * foctet_discovery_start:
 * @self: a [iface@Foctet.Discovery]
 * @error: return location for a #GError
 *
 * Starts finding peers (opens sockets, sends the first queries).
 *
 * Returns: %TRUE once started, %FALSE with @error set (a socket that
 *   could not be opened)
 */
gboolean
foctet_discovery_start (FoctetDiscovery  *self,
                        GError          **error)
{
  FoctetDiscoveryInterface *iface;

  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = FOCTET_DISCOVERY_GET_IFACE (self);
  if (iface->start == NULL)
    return TRUE;

  return iface->start (self, error);
}

/**
 * foctet_discovery_stop:
 * @self: a [iface@Foctet.Discovery]
 *
 * Withdraws what was published (mDNS goodbye packets), stops browsing and
 * releases sockets.  It can be started again.
 */
void
foctet_discovery_stop (FoctetDiscovery *self)
{
  g_return_if_fail (FOCTET_IS_DISCOVERY (self));

  if (FOCTET_DISCOVERY_GET_IFACE (self)->stop != NULL)
    FOCTET_DISCOVERY_GET_IFACE (self)->stop (self);
}

/**
 * foctet_discovery_resolve_async:
 * @self: a [iface@Foctet.Discovery]
 * @hint: a ticket naming the node to find; it may carry entries the
 *   mechanism uses (the relay directory asks the relays it names)
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: data for @callback
 *
 * Looks up the addresses of the node @hint names.
 */
void
foctet_discovery_resolve_async (FoctetDiscovery     *self,
                                FoctetTicket        *hint,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_DISCOVERY (self));
  g_return_if_fail (FOCTET_IS_TICKET (hint));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_DISCOVERY_GET_IFACE (self)->resolve_async (self, hint, cancellable, callback, user_data);
}

/**
 * foctet_discovery_resolve_finish:
 * @self: a [iface@Foctet.Discovery]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Discovery.resolve_async].  When the mechanism found
 * nothing (in its own time limit), the error is
 * %FOCTET_ERROR_NOT_FOUND and says why.
 *
 * Returns: (transfer full): a ticket for the node with the addresses found,
 *   or %NULL with @error set
 */
FoctetTicket *
foctet_discovery_resolve_finish (FoctetDiscovery  *self,
                                 GAsyncResult     *result,
                                 GError          **error)
{
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);

  return FOCTET_DISCOVERY_GET_IFACE (self)->resolve_finish (self, result, error);
}

/**
 * foctet_discovery_publish:
 * @self: a [iface@Foctet.Discovery]
 * @own: (nullable): this node's ticket, or %NULL to withdraw
 *
 * Makes this node's addresses findable, replacing what was published.
 */
void
foctet_discovery_publish (FoctetDiscovery *self,
                          FoctetTicket    *own)
{
  g_return_if_fail (FOCTET_IS_DISCOVERY (self));
  g_return_if_fail (own == NULL || FOCTET_IS_TICKET (own));

  if (FOCTET_DISCOVERY_GET_IFACE (self)->publish != NULL)
    FOCTET_DISCOVERY_GET_IFACE (self)->publish (self, own);
}

/**
 * foctet_discovery_get_peers:
 * @self: a [iface@Foctet.Discovery]
 *
 * The peers the mechanism found and whose announcement has not expired
 * (a mechanism that only answers lookups, like the relay directory, may
 * have none).  The list changes on the discovery's #GMainContext, with
 * #GListModel::items-changed.
 *
 * Returns: (transfer none) (nullable): a #GListModel of [class@Foctet.Peer]
 */
GListModel *
foctet_discovery_get_peers (FoctetDiscovery *self)
{
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);

  if (FOCTET_DISCOVERY_GET_IFACE (self)->get_peers == NULL)
    return NULL;

  return FOCTET_DISCOVERY_GET_IFACE (self)->get_peers (self);
}

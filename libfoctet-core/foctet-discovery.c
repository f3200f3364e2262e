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
 * Implementations register on %FOCTET_EXTENSION_POINT_DISCOVERY.
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
 * @self: a #FoctetDiscovery
 *
 * Returns: the mechanism's name
 */
const char *
foctet_discovery_get_name (FoctetDiscovery *self)
{
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);

  return FOCTET_DISCOVERY_GET_IFACE (self)->get_name (self);
}

/**
 * foctet_discovery_resolve_async:
 * @self: a #FoctetDiscovery
 * @node_id: the node to find
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: data for @callback
 *
 * Looks up the addresses of @node_id.
 */
void
foctet_discovery_resolve_async (FoctetDiscovery     *self,
                                const FoctetNodeId  *node_id,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_DISCOVERY (self));
  g_return_if_fail (node_id != NULL);

  FOCTET_DISCOVERY_GET_IFACE (self)->resolve_async (self, node_id, cancellable, callback, user_data);
}

/**
 * foctet_discovery_resolve_finish:
 * @self: a #FoctetDiscovery
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a ticket with the addresses found
 */
FoctetTicket *
foctet_discovery_resolve_finish (FoctetDiscovery  *self,
                                 GAsyncResult     *result,
                                 GError          **error)
{
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (self), NULL);

  return FOCTET_DISCOVERY_GET_IFACE (self)->resolve_finish (self, result, error);
}

/**
 * foctet_discovery_publish:
 * @self: a #FoctetDiscovery
 * @own: (nullable): this node's ticket, or %NULL to withdraw
 *
 * Makes this node's addresses findable, replacing what was published.
 */
void
foctet_discovery_publish (FoctetDiscovery *self,
                          FoctetTicket    *own)
{
  g_return_if_fail (FOCTET_IS_DISCOVERY (self));

  if (FOCTET_DISCOVERY_GET_IFACE (self)->publish != NULL)
    FOCTET_DISCOVERY_GET_IFACE (self)->publish (self, own);
}

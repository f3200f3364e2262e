/* foctet-node-discovery.c: a node's discovery mechanisms: the node's
 * ticket published through them, the peers they found.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-node-private.h"
#include "foctet-error.h"
#include "foctet-registry.h"

/* Discovery */

/* Tells the discoveries that publish what the node's ticket now holds. */
void
node_publish (FoctetNode *self)
{
  g_autoptr(FoctetTicket) ticket = NULL;

  if (self->shut_down || foctet_discovery_set_is_empty (self->discoveries))
    return;
  ticket = foctet_node_get_ticket (self);
  foctet_discovery_set_publish (self->discoveries, ticket);
}

/**
 * foctet_node_add_discovery:
 * @self: a [class@Foctet.Node]
 * @discovery: a discovery mechanism, constructed with this node's
 *   identity on the node's #GMainContext
 * @flags: %FOCTET_DISCOVERY_FLAGS_PUBLISH to make the node findable
 *   through it too
 * @error: return location for a #GError
 *
 * Starts @discovery and uses it: its peers join [method@Foctet.Node.get_peers],
 * and a dial to a ticket without direct addresses asks it.  With
 * %FOCTET_DISCOVERY_FLAGS_PUBLISH the node's ticket is published now and
 * whenever the node starts listening somewhere; [method@Foctet.Node.shutdown_async]
 * withdraws it and stops the discovery.
 *
 * Returns: %TRUE when started; %FALSE with @error set when the discovery
 *   could not start, the node is shut down, or already uses a mechanism
 *   of that name
 */
gboolean
foctet_node_add_discovery (FoctetNode            *self,
                           FoctetDiscovery       *discovery,
                           FoctetDiscoveryFlags   flags,
                           GError               **error)
{
  g_autoptr(FoctetTicket) own = NULL;

  g_return_val_if_fail (FOCTET_IS_NODE (self), FALSE);
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (discovery), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->shut_down)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED, "The node is shut down");
      return FALSE;
    }
  if (self->listen_uris->len > 0)
    own = foctet_node_get_ticket (self);

  return foctet_discovery_set_add (self->discoveries, discovery, flags, own, error);
}

/**
 * foctet_node_enable_discovery:
 * @self: a [class@Foctet.Node]
 * @name: a discovery mechanism's name ("mdns", "relay")
 * @flags: as for [method@Foctet.Node.add_discovery]
 * @error: return location for a #GError
 *
 * Creates the discovery called @name from the plugin registry and adds it
 * ([method@Foctet.Node.add_discovery]).
 *
 * Returns: %TRUE when started; %FALSE with @error set
 *   (%FOCTET_ERROR_PLUGIN_NOT_FOUND when no plugin provides @name)
 */
gboolean
foctet_node_enable_discovery (FoctetNode            *self,
                              const char            *name,
                              FoctetDiscoveryFlags   flags,
                              GError               **error)
{
  g_autoptr(FoctetDiscovery) discovery = NULL;

  g_return_val_if_fail (FOCTET_IS_NODE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  g_main_context_push_thread_default (self->context);
  discovery = foctet_registry_create_discovery (foctet_registry_get_default (), name,
                                                self->identity, error);
  g_main_context_pop_thread_default (self->context);
  if (discovery == NULL)
    return FALSE;

  return foctet_node_add_discovery (self, discovery, flags, error);
}

/**
 * foctet_node_get_peers:
 * @self: a [class@Foctet.Node]
 *
 * The peers the node's discoveries found ([method@Foctet.Node.add_discovery]):
 * one [class@Foctet.Peer] per NodeId, while its announcement holds.  The list
 * changes on the node's #GMainContext with #GListModel::items-changed,
 * and a peer that announces new addresses notifies them — a view bound
 * to it (a GtkListView) stays current without polling.
 *
 * Returns: (transfer none): a #GListModel of [class@Foctet.Peer]
 */
GListModel *
foctet_node_get_peers (FoctetNode *self)
{
  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  return foctet_discovery_set_get_peers (self->discoveries);
}


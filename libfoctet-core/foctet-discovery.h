/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node-id.h"
#include "foctet-identity.h"
#include "foctet-peer.h"
#include "foctet-ticket.h"

G_BEGIN_DECLS

/**
 * FoctetDiscoveryFlags:
 * @FOCTET_DISCOVERY_FLAGS_NONE: only find others
 * @FOCTET_DISCOVERY_FLAGS_PUBLISH: also make this node findable (announce
 *   its addresses on the LAN, publish them to its relay)
 *
 * How a node uses a discovery mechanism ([method@Foctet.Node.add_discovery]).
 */
typedef enum /*< flags >*/ {
  FOCTET_DISCOVERY_FLAGS_NONE = 0,
  FOCTET_DISCOVERY_FLAGS_PUBLISH = 1 << 0,
} FoctetDiscoveryFlags;

#define FOCTET_TYPE_DISCOVERY (foctet_discovery_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (FoctetDiscovery, foctet_discovery, FOCTET, DISCOVERY, GObject)

/**
 * FoctetDiscoveryInterface:
 * @g_iface: the parent interface
 * @get_name: the discovery mechanism's name ("mdns", "relay")
 * @start: open sockets and start browsing, on the #GMainContext that was
 *   thread-default when the discovery was constructed
 * @stop: withdraw what was published (goodbye packets), stop browsing and
 *   close sockets; may be started again
 * @resolve_async: find the addresses of the node @hint names; @hint is a
 *   ticket that may already carry some entries (a relay to ask)
 * @resolve_finish: finishes @resolve_async with a ticket holding the
 *   addresses found
 * @publish: make this node's addresses (a ticket of its own) findable;
 *   %NULL withdraws them
 * @get_peers: the peers found so far, a #GListModel of [class@Foctet.Peer]
 *
 * Finds other nodes by NodeId, and makes this one findable.  An
 * implementation is constructed with the construct-only
 * [property@Foctet.Discovery:identity] property.
 */
struct _FoctetDiscoveryInterface {
  GTypeInterface g_iface;

  const char   *(*get_name)       (FoctetDiscovery     *self);
  gboolean      (*start)          (FoctetDiscovery     *self,
                                   GError             **error);
  void          (*stop)           (FoctetDiscovery     *self);
  void          (*resolve_async)  (FoctetDiscovery     *self,
                                   FoctetTicket        *hint,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
  FoctetTicket *(*resolve_finish) (FoctetDiscovery     *self,
                                   GAsyncResult        *result,
                                   GError             **error);
  void          (*publish)        (FoctetDiscovery     *self,
                                   FoctetTicket        *own);
  GListModel   *(*get_peers)      (FoctetDiscovery     *self);

  /*< private >*/
  gpointer padding[8];
};

FOCTET_AVAILABLE_IN_ALL
const char *foctet_discovery_get_name (FoctetDiscovery *self);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_discovery_get_identity (FoctetDiscovery *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_discovery_start (FoctetDiscovery  *self,
                                 GError          **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_discovery_stop (FoctetDiscovery *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_discovery_resolve_async (FoctetDiscovery     *self,
                                     FoctetTicket        *hint,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_discovery_resolve_finish (FoctetDiscovery  *self,
                                              GAsyncResult     *result,
                                              GError          **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_discovery_publish (FoctetDiscovery *self,
                               FoctetTicket    *own);
FOCTET_AVAILABLE_IN_ALL
GListModel *foctet_discovery_get_peers (FoctetDiscovery *self);

G_END_DECLS

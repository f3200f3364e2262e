/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node-id.h"
#include "foctet-ticket.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_DISCOVERY (foctet_discovery_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (FoctetDiscovery, foctet_discovery, FOCTET, DISCOVERY, GObject)

/**
 * FoctetDiscoveryInterface:
 * @g_iface: the parent interface
 * @get_name: the discovery mechanism's name ("mdns", "relay")
 * @resolve_async: find the addresses of a NodeId
 * @resolve_finish: finishes @resolve_async with a ticket holding them
 * @publish: make this node's addresses (a ticket of its own) findable;
 *   %NULL withdraws them
 *
 * Finds other nodes by NodeId, and makes this one findable.
 */
struct _FoctetDiscoveryInterface {
  GTypeInterface g_iface;

  const char   *(*get_name)       (FoctetDiscovery     *self);
  void          (*resolve_async)  (FoctetDiscovery     *self,
                                   const FoctetNodeId  *node_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
  FoctetTicket *(*resolve_finish) (FoctetDiscovery     *self,
                                   GAsyncResult        *result,
                                   GError             **error);
  void          (*publish)        (FoctetDiscovery     *self,
                                   FoctetTicket        *own);

  /*< private >*/
  gpointer padding[8];
};

FOCTET_AVAILABLE_IN_ALL
const char *foctet_discovery_get_name (FoctetDiscovery *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_discovery_resolve_async (FoctetDiscovery     *self,
                                     const FoctetNodeId  *node_id,
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

G_END_DECLS

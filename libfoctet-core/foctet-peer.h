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

#define FOCTET_TYPE_PEER (foctet_peer_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetPeer, foctet_peer, FOCTET, PEER, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetPeer *foctet_peer_new (FoctetTicket *ticket,
                             const char   *source,
                             guint         ttl);

FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_peer_get_node_id (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_peer_get_ticket (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
char **foctet_peer_get_addresses (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_peer_get_source (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
gint64 foctet_peer_get_last_seen (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
guint foctet_peer_get_ttl (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_peer_is_expired (FoctetPeer *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_peer_update (FoctetPeer   *self,
                         FoctetTicket *ticket,
                         guint         ttl);

G_END_DECLS

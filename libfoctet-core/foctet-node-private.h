/* foctet-node-private.h: what the files of FoctetNode share: its
 * instance structure and the functions each file offers the others.
 *
 *   foctet-node.c            the GObject, identity, transports and
 *                            listening, connections and the streams peers
 *                            open on them, protocols, shutdown
 *   foctet-node-discovery.c  discovery: the node's ticket published, the
 *                            peers found
 *   foctet-node-dial.c       dialing: the race over a peer's addresses, by
 *                            ticket, by URI, after a discovery lookup
 *
 * Internal to libfoctet-core: not installed, not introspected.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "foctet-node.h"
#include "foctet-discovery-set-private.h"

G_BEGIN_DECLS

struct _FoctetNode {
  GObject parent_instance;

  FoctetIdentity *identity;
  GMainContext *context;
  GHashTable *transports;     /* name → FoctetTransport */
  GPtrArray *listen_uris;     /* "name/host:port" as bound */
  GHashTable *handlers;       /* protocol → Handler */
  GHashTable *connections;    /* FoctetConnection set */
  FoctetDiscoverySet *discoveries;
  GCancellable *cancellable;  /* cancelled on shutdown and dispose */
  guint dial_race_delay;      /* ms */
  gboolean shut_down;
};

/* foctet-node.c: connections, transports. */
void node_add_connection (FoctetNode       *self,
                          FoctetConnection *connection);
FoctetTransport *node_resolve_uri (FoctetNode  *self,
                                   const char  *uri,
                                   char       **address,
                                   GError     **error);

/* foctet-node-discovery.c: the node's ticket to the discoveries that
 * publish it. */
void node_publish (FoctetNode *self);

G_END_DECLS

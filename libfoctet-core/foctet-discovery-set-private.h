/* foctet-discovery-set-private.h: the discovery mechanisms a node uses.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include "foctet-discovery.h"

G_BEGIN_DECLS

typedef struct _FoctetDiscoverySet FoctetDiscoverySet;

FoctetDiscoverySet *foctet_discovery_set_new (void);
FoctetDiscoverySet *foctet_discovery_set_ref (FoctetDiscoverySet *self);
void foctet_discovery_set_unref (FoctetDiscoverySet *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetDiscoverySet, foctet_discovery_set_unref)

gboolean foctet_discovery_set_add (FoctetDiscoverySet    *self,
                                   FoctetDiscovery       *discovery,
                                   FoctetDiscoveryFlags   flags,
                                   FoctetTicket          *own,
                                   GError               **error);
gboolean foctet_discovery_set_is_empty (FoctetDiscoverySet *self);
void foctet_discovery_set_publish (FoctetDiscoverySet *self,
                                   FoctetTicket       *own);
void foctet_discovery_set_stop (FoctetDiscoverySet *self);
GListModel *foctet_discovery_set_get_peers (FoctetDiscoverySet *self);

void foctet_discovery_set_resolve_async (FoctetDiscoverySet  *self,
                                         FoctetTicket        *hint,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
FoctetTicket *foctet_discovery_set_resolve_finish (GAsyncResult  *result,
                                                   GError       **error);
void foctet_discovery_set_forget (FoctetDiscoverySet *self,
                                  const FoctetNodeId *node_id);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-connection.h"
#include "foctet-discovery.h"
#include "foctet-identity.h"
#include "foctet-ticket.h"
#include "foctet-transport.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_NODE (foctet_node_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetNode, foctet_node, FOCTET, NODE, GObject)

/**
 * FoctetProtocolHandler:
 * @node: the node
 * @connection: the connection the stream arrived on
 * @stream: the stream, its header already read
 * @user_data: the data given to [method@Foctet.Node.set_protocol_handler]
 *
 * Takes over a stream the peer opened for a protocol.  The handler owns
 * nothing: it takes a reference on @stream to keep it beyond the call.
 */
typedef void (*FoctetProtocolHandler) (FoctetNode       *node,
                                       FoctetConnection *connection,
                                       FoctetStream     *stream,
                                       gpointer          user_data);

FOCTET_AVAILABLE_IN_ALL
FoctetNode *foctet_node_new (FoctetIdentity *identity);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_node_get_identity (FoctetNode *self);
FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_node_get_node_id (FoctetNode *self);

FOCTET_AVAILABLE_IN_ALL
guint foctet_node_get_dial_race_delay (FoctetNode *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_node_set_dial_race_delay (FoctetNode *self,
                                      guint       milliseconds);

FOCTET_AVAILABLE_IN_ALL
FoctetTransport *foctet_node_get_transport (FoctetNode  *self,
                                            const char  *name,
                                            GError     **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_node_add_transport (FoctetNode      *self,
                                FoctetTransport *transport);

FOCTET_AVAILABLE_IN_ALL
void foctet_node_listen_async (FoctetNode          *self,
                               const char          *uri,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
char *foctet_node_listen_finish (FoctetNode    *self,
                                 GAsyncResult  *result,
                                 GError       **error);
FOCTET_AVAILABLE_IN_ALL
char **foctet_node_get_listen_uris (FoctetNode *self);
FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_node_get_ticket (FoctetNode *self);
FOCTET_AVAILABLE_IN_ALL
char **foctet_node_get_observed_addresses (FoctetNode *self);

FOCTET_AVAILABLE_IN_ALL
gboolean foctet_node_add_discovery (FoctetNode            *self,
                                    FoctetDiscovery       *discovery,
                                    FoctetDiscoveryFlags   flags,
                                    GError               **error);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_node_enable_discovery (FoctetNode            *self,
                                       const char            *name,
                                       FoctetDiscoveryFlags   flags,
                                       GError               **error);
FOCTET_AVAILABLE_IN_ALL
GListModel *foctet_node_get_peers (FoctetNode *self);
FOCTET_AVAILABLE_IN_ALL
GPtrArray *foctet_node_list_connections (FoctetNode *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_node_dial_async (FoctetNode          *self,
                             FoctetTicket        *ticket,
                             const char          *transport,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetConnection *foctet_node_dial_finish (FoctetNode    *self,
                                          GAsyncResult  *result,
                                          GError       **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_node_dial_uri_async (FoctetNode          *self,
                                 const FoctetNodeId  *peer,
                                 const char          *uri,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetConnection *foctet_node_dial_uri_finish (FoctetNode    *self,
                                              GAsyncResult  *result,
                                              GError       **error);

FOCTET_AVAILABLE_IN_ALL
void foctet_node_set_protocol_handler (FoctetNode            *self,
                                       const char            *protocol,
                                       FoctetProtocolHandler  handler,
                                       gpointer               user_data,
                                       GDestroyNotify         destroy);
FOCTET_AVAILABLE_IN_ALL
char **foctet_node_list_protocols (FoctetNode *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_node_shutdown_async (FoctetNode          *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_node_shutdown_finish (FoctetNode    *self,
                                      GAsyncResult  *result,
                                      GError       **error);

G_END_DECLS

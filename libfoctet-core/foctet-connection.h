/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node-id.h"
#include "foctet-stream.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_CONNECTION (foctet_connection_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (FoctetConnection, foctet_connection, FOCTET, CONNECTION, GObject)

/**
 * FoctetConnectionClass:
 * @parent_class: the parent class
 * @open_stream_async: open a new outgoing stream (no protocol header yet)
 * @open_stream_finish: finishes @open_stream_async
 * @accept_stream_async: wait for the next stream the peer opened
 * @accept_stream_finish: finishes @accept_stream_async; fails once the
 *   connection is closed
 * @close_async: close the connection with an application code
 *   ([enum@Foctet.CloseCode]) and a reason, telling the peer where the transport can
 * @close_finish: finishes @close_async
 *
 * An authenticated connection to one peer, able to carry many streams.
 * Transports and muxers subclass it; the peer's NodeId, transport name,
 * addresses and initiator role are construct-only properties.  A subclass
 * calls [method@Foctet.Connection.set_closed] once when the connection ends, for
 * whatever reason, which emits [signal@Foctet.Connection::closed].
 */
struct _FoctetConnectionClass {
  GObjectClass parent_class;

  void          (*open_stream_async)    (FoctetConnection    *self,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
  FoctetStream *(*open_stream_finish)   (FoctetConnection    *self,
                                         GAsyncResult        *result,
                                         GError             **error);
  void          (*accept_stream_async)  (FoctetConnection    *self,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
  FoctetStream *(*accept_stream_finish) (FoctetConnection    *self,
                                         GAsyncResult        *result,
                                         GError             **error);
  void          (*close_async)          (FoctetConnection    *self,
                                         guint32              code,
                                         const char          *reason,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
  gboolean      (*close_finish)         (FoctetConnection    *self,
                                         GAsyncResult        *result,
                                         GError             **error);

  /*< private >*/
  gpointer padding[12];
};

FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_connection_get_peer_id (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_connection_get_transport_name (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_connection_get_remote_address (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_connection_get_local_address (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_connection_is_initiator (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_connection_is_closed (FoctetConnection *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_connection_open_stream_async (FoctetConnection    *self,
                                          const char          *protocol,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetStream *foctet_connection_open_stream_finish (FoctetConnection  *self,
                                                   GAsyncResult      *result,
                                                   GError           **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_connection_accept_stream_async (FoctetConnection    *self,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetStream *foctet_connection_accept_stream_finish (FoctetConnection  *self,
                                                     GAsyncResult      *result,
                                                     GError           **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_connection_close_async (FoctetConnection    *self,
                                    guint32              code,
                                    const char          *reason,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_connection_close_finish (FoctetConnection  *self,
                                         GAsyncResult      *result,
                                         GError           **error);

FOCTET_AVAILABLE_IN_ALL
GPtrArray *foctet_connection_list_streams (FoctetConnection *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_connection_set_peer_id (FoctetConnection   *self,
                                    const FoctetNodeId *peer_id);
FOCTET_AVAILABLE_IN_ALL
void foctet_connection_set_closed (FoctetConnection *self,
                                   const GError     *error);
FOCTET_AVAILABLE_IN_ALL
void foctet_connection_set_closed_cleanly (FoctetConnection *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_connection_discard (gpointer connection);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-connection.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_MUXER (foctet_muxer_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (FoctetMuxer, foctet_muxer, FOCTET, MUXER, GObject)

/**
 * FoctetMuxerInterface:
 * @g_iface: the parent interface
 * @get_name: the muxer's name ("yamux")
 * @wrap: turn one authenticated byte stream into a [class@Foctet.Connection]
 *   that opens and accepts streams
 *
 * Multiplexes streams over a single reliable byte stream, for transports
 * that have no streams of their own (TLS over TCP, relayed circuits).
 */
struct _FoctetMuxerInterface {
  GTypeInterface g_iface;

  const char       *(*get_name) (FoctetMuxer         *self);
  FoctetConnection *(*wrap)     (FoctetMuxer         *self,
                                 GIOStream           *base_stream,
                                 gboolean             is_initiator,
                                 const FoctetNodeId  *peer_id,
                                 const char          *transport_name,
                                 const char          *local_address,
                                 const char          *remote_address,
                                 GError             **error);

  /*< private >*/
  gpointer padding[8];
};

FOCTET_AVAILABLE_IN_ALL
const char *foctet_muxer_get_name (FoctetMuxer *self);
FOCTET_AVAILABLE_IN_ALL
FoctetConnection *foctet_muxer_wrap (FoctetMuxer         *self,
                                     GIOStream           *base_stream,
                                     gboolean             is_initiator,
                                     const FoctetNodeId  *peer_id,
                                     const char          *transport_name,
                                     const char          *local_address,
                                     const char          *remote_address,
                                     GError             **error);

G_END_DECLS

/* foctet-muxer.c: the interface of stream multiplexers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-muxer.h"

/**
 * FoctetMuxer:
 *
 * Carries many streams over one authenticated byte stream.  A transport
 * without native streams asks the registry for one
 * ([method@Foctet.Registry.create_muxer]) and wraps each connection it made.
 * Implementations register on [const@Foctet.EXTENSION_POINT_MUXER].
 */

G_DEFINE_INTERFACE (FoctetMuxer, foctet_muxer, G_TYPE_OBJECT)

static void
foctet_muxer_default_init (FoctetMuxerInterface *iface)
{
}

/**
 * foctet_muxer_get_name:
 * @self: a [iface@Foctet.Muxer]
 *
 * Gets the name the muxer is registered and found by, the one
 * [method@Foctet.Registry.create_muxer] takes.
 *
 * Returns: the muxer's name ("yamux"); a static string or one owned by
 *   @self
 */
const char *
foctet_muxer_get_name (FoctetMuxer *self)
{
  g_return_val_if_fail (FOCTET_IS_MUXER (self), NULL);

  return FOCTET_MUXER_GET_IFACE (self)->get_name (self);
}

/**
 * foctet_muxer_wrap:
 * @self: a [iface@Foctet.Muxer]
 * @base_stream: the authenticated byte stream; the connection takes it over
 * @is_initiator: whether this side dialed (the dialer is the yamux client)
 * @peer_id: the peer's authenticated NodeId
 * @transport_name: name of the transport underneath, for the connection's
 *   [property@Foctet.Connection:transport-name]
 * @local_address: (nullable): the local "host:port"
 * @remote_address: (nullable): the peer's "host:port"
 * @error: return location for a #GError
 *
 * Runs the muxer's session over @base_stream, the byte stream a
 * transport has authenticated (a [class@Foctet.TlsStream], say), and returns it
 * as a [class@Foctet.Connection].  The connection closes @base_stream when it
 * ends.  It fails with %FOCTET_ERROR_INVALID_ARGUMENT when @base_stream
 * does not suit the muxer (yamux needs pollable input and output).
 *
 * Returns: (transfer full): a connection carrying streams over @base_stream,
 *   or %NULL with @error set
 */
FoctetConnection *
foctet_muxer_wrap (FoctetMuxer         *self,
                   GIOStream           *base_stream,
                   gboolean             is_initiator,
                   const FoctetNodeId  *peer_id,
                   const char          *transport_name,
                   const char          *local_address,
                   const char          *remote_address,
                   GError             **error)
{
  g_return_val_if_fail (FOCTET_IS_MUXER (self), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (base_stream), NULL);
  g_return_val_if_fail (peer_id != NULL, NULL);

  return FOCTET_MUXER_GET_IFACE (self)->wrap (self, base_stream, is_initiator, peer_id,
                                              transport_name, local_address, remote_address,
                                              error);
}

/* foctet-yamux-muxer.c: the yamux FoctetMuxer — wraps a byte stream in a
 * yamux session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux.h"

struct _FoctetYamuxMuxer {
  GObject parent_instance;
};

static void foctet_yamux_muxer_iface_init (FoctetMuxerInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxMuxer, foctet_yamux_muxer, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_MUXER,
                                                               foctet_yamux_muxer_iface_init))

static const char *
foctet_yamux_muxer_get_name (FoctetMuxer *muxer)
{
  return FOCTET_YAMUX_NAME;
}

static FoctetConnection *
foctet_yamux_muxer_wrap (FoctetMuxer         *muxer,
                         GIOStream           *base_stream,
                         gboolean             is_initiator,
                         const FoctetNodeId  *peer_id,
                         const char          *transport_name,
                         const char          *local_address,
                         const char          *remote_address,
                         GError             **error)
{
  return FOCTET_CONNECTION (foctet_yamux_connection_new (base_stream, is_initiator, peer_id,
                                                         transport_name, local_address,
                                                         remote_address, error));
}

static void
foctet_yamux_muxer_iface_init (FoctetMuxerInterface *iface)
{
  iface->get_name = foctet_yamux_muxer_get_name;
  iface->wrap = foctet_yamux_muxer_wrap;
}

static void
foctet_yamux_muxer_class_init (FoctetYamuxMuxerClass *klass)
{
}

static void
foctet_yamux_muxer_class_finalize (FoctetYamuxMuxerClass *klass)
{
}

static void
foctet_yamux_muxer_init (FoctetYamuxMuxer *self)
{
}

void
foctet_yamux_muxer_register (GTypeModule *module)
{
  foctet_yamux_muxer_register_type (module);
}

void
foctet_yamux_register_types (GTypeModule *module)
{
  foctet_yamux_stream_register (module);
  foctet_yamux_connection_register (module);
  foctet_yamux_muxer_register (module);
}

/* foctet-yamux-stream.c: a yamux stream as the application sees it — a
 * FoctetChannelStream (pollable input and output, blocking I/O, half-close,
 * reset) over the stream's YamuxChannel in the session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux.h"

struct _FoctetYamuxStream {
  FoctetChannelStream parent_instance;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxStream, foctet_yamux_stream, FOCTET_TYPE_CHANNEL_STREAM,
                                G_TYPE_FLAG_FINAL, {})

enum {
  PROP_0,
  PROP_RECEIVE_WINDOW,
  PROP_SEND_WINDOW,
  PROP_RECEIVE_BUFFERED,
  PROP_READ_THROUGH,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The channel functions, on the YamuxChannel the FoctetChannel carries. */

static gboolean
channel_is_readable (gpointer backend)
{
  return yamux_channel_is_readable (backend);
}

static gboolean
channel_is_writable (gpointer backend)
{
  return yamux_channel_is_writable (backend);
}

static gssize
channel_read (gpointer   backend,
              void      *buffer,
              gsize      count,
              GError   **error)
{
  return yamux_channel_read (backend, buffer, count, error);
}

static gssize
channel_write (gpointer     backend,
               const void  *buffer,
               gsize        count,
               GError     **error)
{
  return yamux_channel_write (backend, buffer, count, error);
}

static gboolean
channel_close_write (gpointer   backend,
                     GError   **error)
{
  return yamux_channel_close_write (backend, error);
}

static void
channel_close_read (gpointer backend)
{
  yamux_channel_close_read (backend);
}

static void
channel_close (gpointer backend)
{
  yamux_channel_close (backend);
}

static void
channel_reset (gpointer backend,
               guint32  code)
{
  yamux_channel_reset (backend, code);
}

static void
channel_release (gpointer backend)
{
  yamux_channel_release (backend);
}

static const FoctetChannelFuncs channel_funcs = {
  channel_is_readable,
  channel_is_writable,
  channel_read,
  channel_write,
  channel_close_write,
  channel_close_read,
  channel_close,
  channel_reset,
  channel_release,
};

static YamuxChannel *
stream_channel (FoctetYamuxStream *self)
{
  return foctet_channel_get_backend (foctet_channel_stream_get_channel (FOCTET_CHANNEL_STREAM (self)));
}

static void
foctet_yamux_stream_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  FoctetYamuxStream *self = FOCTET_YAMUX_STREAM (object);

  switch (prop_id)
    {
    case PROP_RECEIVE_WINDOW:
      g_value_set_uint (value, yamux_channel_get_receive_window (stream_channel (self)));
      break;
    case PROP_SEND_WINDOW:
      g_value_set_uint (value, yamux_channel_get_send_window (stream_channel (self)));
      break;
    case PROP_RECEIVE_BUFFERED:
      g_value_set_uint (value, yamux_channel_get_receive_buffered (stream_channel (self)));
      break;
    case PROP_READ_THROUGH:
      g_value_set_uint64 (value, yamux_channel_get_read_through (stream_channel (self)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_yamux_stream_class_init (FoctetYamuxStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = foctet_yamux_stream_get_property;

  /**
   * FoctetYamuxStream:receive-window:
   *
   * The receive window this side currently grants the stream, in bytes:
   * 256 KiB at first, grown by auto-tuning while the stream is busy.
   */
  properties[PROP_RECEIVE_WINDOW] =
    g_param_spec_uint ("receive-window", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxStream:send-window:
   *
   * How many bytes the peer currently allows this side to send.
   */
  properties[PROP_SEND_WINDOW] =
    g_param_spec_uint ("send-window", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxStream:receive-buffered:
   *
   * Bytes received on the stream that the application has not read yet.
   */
  properties[PROP_RECEIVE_BUFFERED] =
    g_param_spec_uint ("receive-buffered", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxStream:read-through:
   *
   * Bytes the application read straight from the session's stream into
   * its own buffer, without a copy in between: with a big read while the
   * session waited for it, or in an asynchronous read the session filled.
   */
  properties[PROP_READ_THROUGH] =
    g_param_spec_uint64 ("read-through", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_yamux_stream_class_finalize (FoctetYamuxStreamClass *klass)
{
}

static void
foctet_yamux_stream_init (FoctetYamuxStream *self)
{
}

/* The FoctetChannel holds a reference on @channel until the application
 * dropped every object of the stream. */
FoctetYamuxStream *
foctet_yamux_stream_new (YamuxChannel *channel,
                         GMainContext *context)
{
  g_autoptr(FoctetChannel) app = foctet_channel_new (&channel_funcs, yamux_channel_ref (channel),
                                                     (GDestroyNotify) yamux_channel_unref, context);
  FoctetStream *stream;

  yamux_channel_set_app (channel, app);
  stream = foctet_channel_stream_new (FOCTET_YAMUX_TYPE_STREAM, app, yamux_channel_get_id (channel));
  return FOCTET_YAMUX_STREAM (stream);
}

void
foctet_yamux_stream_register (GTypeModule *module)
{
  foctet_yamux_stream_register_type (module);
}

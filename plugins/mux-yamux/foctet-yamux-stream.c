/* foctet-yamux-stream.c: a yamux stream as the application sees it — a
 * FoctetStream whose input and output streams are pollable, over the
 * stream's YamuxChannel in the session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux.h"

/* The input stream. */

struct _FoctetYamuxInputStream {
  GInputStream parent_instance;

  YamuxChannel *channel;
};

static void foctet_yamux_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxInputStream, foctet_yamux_input_stream,
                                G_TYPE_INPUT_STREAM, G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (G_TYPE_POLLABLE_INPUT_STREAM,
                                                               foctet_yamux_input_stream_pollable_iface_init))

static gssize
foctet_yamux_input_stream_read (GInputStream  *stream,
                                void          *buffer,
                                gsize          count,
                                GCancellable  *cancellable,
                                GError       **error)
{
  FoctetYamuxInputStream *self = FOCTET_YAMUX_INPUT_STREAM (stream);

  for (;;)
    {
      GError *local_error = NULL;
      gssize n = yamux_channel_read (self->channel, buffer, count, &local_error);

      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_clear_error (&local_error);
      if (!yamux_channel_wait (self->channel, FALSE, cancellable, error))
        return -1;
    }
}

static gboolean
foctet_yamux_input_stream_close (GInputStream  *stream,
                                 GCancellable  *cancellable,
                                 GError       **error)
{
  yamux_channel_close_read (FOCTET_YAMUX_INPUT_STREAM (stream)->channel);
  return TRUE;
}

/* GInputStream would close in a thread; nothing here blocks. */
static void
foctet_yamux_input_stream_close_async (GInputStream        *stream,
                                       int                  io_priority,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_yamux_input_stream_close_async);
  foctet_yamux_input_stream_close (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_yamux_input_stream_close_finish (GInputStream  *stream,
                                        GAsyncResult  *result,
                                        GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
foctet_yamux_input_stream_is_readable (GPollableInputStream *stream)
{
  return yamux_channel_is_readable (FOCTET_YAMUX_INPUT_STREAM (stream)->channel);
}

static GSource *
foctet_yamux_input_stream_create_source (GPollableInputStream *stream,
                                         GCancellable         *cancellable)
{
  GSource *source = yamux_channel_create_source (FOCTET_YAMUX_INPUT_STREAM (stream)->channel,
                                                 FALSE, G_OBJECT (stream));

  if (cancellable != NULL)
    {
      GSource *cancel_source = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancel_source);
      g_source_add_child_source (source, cancel_source);
      g_source_unref (cancel_source);
    }
  return source;
}

static gssize
foctet_yamux_input_stream_read_nonblocking (GPollableInputStream  *stream,
                                            void                  *buffer,
                                            gsize                  count,
                                            GError               **error)
{
  return yamux_channel_read (FOCTET_YAMUX_INPUT_STREAM (stream)->channel, buffer, count, error);
}

static void
foctet_yamux_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->is_readable = foctet_yamux_input_stream_is_readable;
  iface->create_source = foctet_yamux_input_stream_create_source;
  iface->read_nonblocking = foctet_yamux_input_stream_read_nonblocking;
}

static void
foctet_yamux_input_stream_finalize (GObject *object)
{
  FoctetYamuxInputStream *self = FOCTET_YAMUX_INPUT_STREAM (object);

  yamux_channel_release (self->channel);
  g_clear_pointer (&self->channel, yamux_channel_unref);

  G_OBJECT_CLASS (foctet_yamux_input_stream_parent_class)->finalize (object);
}

static void
foctet_yamux_input_stream_class_init (FoctetYamuxInputStreamClass *klass)
{
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = foctet_yamux_input_stream_finalize;
  input_class->read_fn = foctet_yamux_input_stream_read;
  input_class->close_fn = foctet_yamux_input_stream_close;
  input_class->close_async = foctet_yamux_input_stream_close_async;
  input_class->close_finish = foctet_yamux_input_stream_close_finish;
}

static void
foctet_yamux_input_stream_class_finalize (FoctetYamuxInputStreamClass *klass)
{
}

static void
foctet_yamux_input_stream_init (FoctetYamuxInputStream *self)
{
}

static GInputStream *
foctet_yamux_input_stream_new (YamuxChannel *channel)
{
  FoctetYamuxInputStream *self = g_object_new (FOCTET_YAMUX_TYPE_INPUT_STREAM, NULL);

  self->channel = yamux_channel_ref (channel);
  yamux_channel_hold (channel);
  return G_INPUT_STREAM (self);
}

/* The output stream. */

struct _FoctetYamuxOutputStream {
  GOutputStream parent_instance;

  YamuxChannel *channel;
};

static void foctet_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxOutputStream, foctet_yamux_output_stream,
                                G_TYPE_OUTPUT_STREAM, G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                               foctet_yamux_output_stream_pollable_iface_init))

static gssize
foctet_yamux_output_stream_write (GOutputStream  *stream,
                                  const void     *buffer,
                                  gsize           count,
                                  GCancellable   *cancellable,
                                  GError        **error)
{
  FoctetYamuxOutputStream *self = FOCTET_YAMUX_OUTPUT_STREAM (stream);

  for (;;)
    {
      GError *local_error = NULL;
      gssize n = yamux_channel_write (self->channel, buffer, count, &local_error);

      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_clear_error (&local_error);
      if (!yamux_channel_wait (self->channel, TRUE, cancellable, error))
        return -1;
    }
}

/* Closing the output is a half-close: FIN. */
static gboolean
foctet_yamux_output_stream_close (GOutputStream  *stream,
                                  GCancellable   *cancellable,
                                  GError        **error)
{
  g_autoptr(GError) local_error = NULL;

  /* Already half-closed, reset or ended: nothing more to send, and
   * closing is not an error then. */
  yamux_channel_close_write (FOCTET_YAMUX_OUTPUT_STREAM (stream)->channel, &local_error);
  return TRUE;
}

static void
foctet_yamux_output_stream_close_async (GOutputStream       *stream,
                                        int                  io_priority,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_yamux_output_stream_close_async);
  foctet_yamux_output_stream_close (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_yamux_output_stream_close_finish (GOutputStream  *stream,
                                         GAsyncResult   *result,
                                         GError        **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
foctet_yamux_output_stream_is_writable (GPollableOutputStream *stream)
{
  return yamux_channel_is_writable (FOCTET_YAMUX_OUTPUT_STREAM (stream)->channel);
}

static GSource *
foctet_yamux_output_stream_create_source (GPollableOutputStream *stream,
                                          GCancellable          *cancellable)
{
  GSource *source = yamux_channel_create_source (FOCTET_YAMUX_OUTPUT_STREAM (stream)->channel,
                                                 TRUE, G_OBJECT (stream));

  if (cancellable != NULL)
    {
      GSource *cancel_source = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancel_source);
      g_source_add_child_source (source, cancel_source);
      g_source_unref (cancel_source);
    }
  return source;
}

static gssize
foctet_yamux_output_stream_write_nonblocking (GPollableOutputStream  *stream,
                                              const void             *buffer,
                                              gsize                   count,
                                              GError                **error)
{
  return yamux_channel_write (FOCTET_YAMUX_OUTPUT_STREAM (stream)->channel, buffer, count, error);
}

static void
foctet_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->is_writable = foctet_yamux_output_stream_is_writable;
  iface->create_source = foctet_yamux_output_stream_create_source;
  iface->write_nonblocking = foctet_yamux_output_stream_write_nonblocking;
}

static void
foctet_yamux_output_stream_finalize (GObject *object)
{
  FoctetYamuxOutputStream *self = FOCTET_YAMUX_OUTPUT_STREAM (object);

  yamux_channel_release (self->channel);
  g_clear_pointer (&self->channel, yamux_channel_unref);

  G_OBJECT_CLASS (foctet_yamux_output_stream_parent_class)->finalize (object);
}

static void
foctet_yamux_output_stream_class_init (FoctetYamuxOutputStreamClass *klass)
{
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = foctet_yamux_output_stream_finalize;
  output_class->write_fn = foctet_yamux_output_stream_write;
  output_class->close_fn = foctet_yamux_output_stream_close;
  output_class->close_async = foctet_yamux_output_stream_close_async;
  output_class->close_finish = foctet_yamux_output_stream_close_finish;
}

static void
foctet_yamux_output_stream_class_finalize (FoctetYamuxOutputStreamClass *klass)
{
}

static void
foctet_yamux_output_stream_init (FoctetYamuxOutputStream *self)
{
}

static GOutputStream *
foctet_yamux_output_stream_new (YamuxChannel *channel)
{
  FoctetYamuxOutputStream *self = g_object_new (FOCTET_YAMUX_TYPE_OUTPUT_STREAM, NULL);

  self->channel = yamux_channel_ref (channel);
  yamux_channel_hold (channel);
  return G_OUTPUT_STREAM (self);
}

/* The stream. */

struct _FoctetYamuxStream {
  FoctetStream parent_instance;

  YamuxChannel *channel;
  GInputStream *input;
  GOutputStream *output;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxStream, foctet_yamux_stream, FOCTET_TYPE_STREAM,
                                G_TYPE_FLAG_FINAL, {})

enum {
  PROP_0,
  PROP_RECEIVE_WINDOW,
  PROP_SEND_WINDOW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GInputStream *
foctet_yamux_stream_get_input_stream (GIOStream *stream)
{
  return FOCTET_YAMUX_STREAM (stream)->input;
}

static GOutputStream *
foctet_yamux_stream_get_output_stream (GIOStream *stream)
{
  return FOCTET_YAMUX_STREAM (stream)->output;
}

/* FIN if not sent yet, and no more reading.  The input and output are
 * marked closed too, except one with an operation in flight: that one
 * fails at once because its channel is closed. */
static gboolean
foctet_yamux_stream_close_fn (GIOStream     *stream,
                              GCancellable  *cancellable,
                              GError       **error)
{
  FoctetYamuxStream *self = FOCTET_YAMUX_STREAM (stream);

  yamux_channel_close (self->channel);
  if (!g_output_stream_has_pending (self->output))
    g_output_stream_close (self->output, NULL, NULL);
  if (!g_input_stream_has_pending (self->input))
    g_input_stream_close (self->input, NULL, NULL);
  return TRUE;
}

/* GIOStream would close in a thread; nothing here blocks. */
static void
foctet_yamux_stream_close_async (GIOStream           *stream,
                                 int                  io_priority,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_yamux_stream_close_async);
  foctet_yamux_stream_close_fn (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_yamux_stream_close_finish (GIOStream     *stream,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* FIN goes into the session's queue behind the data written so far;
 * that is all "handed to the transport" means. */
static void
foctet_yamux_stream_close_write_async (FoctetStream        *stream,
                                       int                  io_priority,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  FoctetYamuxStream *self = FOCTET_YAMUX_STREAM (stream);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;

  g_task_set_source_tag (task, foctet_yamux_stream_close_write_async);
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!yamux_channel_close_write (self->channel, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_yamux_stream_close_write_finish (FoctetStream  *stream,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
foctet_yamux_stream_reset (FoctetStream *stream,
                           guint32       error_code)
{
  yamux_channel_reset (FOCTET_YAMUX_STREAM (stream)->channel, error_code);
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
      g_value_set_uint (value, yamux_channel_get_receive_window (self->channel));
      break;
    case PROP_SEND_WINDOW:
      g_value_set_uint (value, yamux_channel_get_send_window (self->channel));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_yamux_stream_finalize (GObject *object)
{
  FoctetYamuxStream *self = FOCTET_YAMUX_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  yamux_channel_release (self->channel);
  g_clear_pointer (&self->channel, yamux_channel_unref);

  G_OBJECT_CLASS (foctet_yamux_stream_parent_class)->finalize (object);
}

static void
foctet_yamux_stream_class_init (FoctetYamuxStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *io_class = G_IO_STREAM_CLASS (klass);
  FoctetStreamClass *stream_class = FOCTET_STREAM_CLASS (klass);

  object_class->finalize = foctet_yamux_stream_finalize;
  object_class->get_property = foctet_yamux_stream_get_property;
  io_class->get_input_stream = foctet_yamux_stream_get_input_stream;
  io_class->get_output_stream = foctet_yamux_stream_get_output_stream;
  io_class->close_fn = foctet_yamux_stream_close_fn;
  io_class->close_async = foctet_yamux_stream_close_async;
  io_class->close_finish = foctet_yamux_stream_close_finish;
  stream_class->close_write_async = foctet_yamux_stream_close_write_async;
  stream_class->close_write_finish = foctet_yamux_stream_close_write_finish;
  stream_class->reset = foctet_yamux_stream_reset;

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

FoctetYamuxStream *
foctet_yamux_stream_new (YamuxChannel *channel)
{
  FoctetYamuxStream *self = g_object_new (FOCTET_YAMUX_TYPE_STREAM,
                                          "id", (guint64) yamux_channel_get_id (channel),
                                          NULL);

  self->channel = yamux_channel_ref (channel);
  yamux_channel_hold (channel);
  self->input = foctet_yamux_input_stream_new (channel);
  self->output = foctet_yamux_output_stream_new (channel);
  return self;
}

void
foctet_yamux_stream_register (GTypeModule *module)
{
  foctet_yamux_input_stream_register_type (module);
  foctet_yamux_output_stream_register_type (module);
  foctet_yamux_stream_register_type (module);
}

/* foctet-channel.c: FoctetChannelStream — the application side of a
 * stream over a backend's non-blocking functions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-channel.h"

/* An asynchronous read that found nothing to read: its buffer, which
 * the backend may fill while it waits (foctet_channel_get_read_space()). */
typedef struct {
  GTask *task;                     /* not owned: it holds the read */
  guint8 *buffer;
  gsize count;
  gsize filled;
} ChannelRead;

/**
 * FoctetChannel: (skip)
 *
 * A backend's per-stream state as seen by FoctetChannelStream: the
 * functions, the backend pointer, the main context all I/O runs on, the
 * sources waiting for readiness, and how many application objects (the
 * stream, its input and its output) still hold it.
 */
struct _FoctetChannel {
  gatomicrefcount ref_count;
  const FoctetChannelFuncs *funcs;
  gpointer backend;
  GDestroyNotify backend_free;
  GMainContext *context;
  GPtrArray *read_sources;         /* ChannelSource, not owned */
  GPtrArray *write_sources;
  guint holders;
  ChannelRead *waiting_read;       /* the application's asynchronous read, while it waits */
};

/**
 * foctet_channel_new: (skip)
 * @funcs: (not nullable): the backend's functions, which must outlive the
 *   channel
 * @backend: the backend's state, passed to every function
 * @backend_free: (nullable): frees @backend with the channel
 * @context: the main context every I/O of the stream runs on
 *
 * Returns: (transfer full): a new channel
 */
FoctetChannel *
foctet_channel_new (const FoctetChannelFuncs *funcs,
                    gpointer                  backend,
                    GDestroyNotify            backend_free,
                    GMainContext             *context)
{
  FoctetChannel *channel = g_new0 (FoctetChannel, 1);

  g_atomic_ref_count_init (&channel->ref_count);
  channel->funcs = funcs;
  channel->backend = backend;
  channel->backend_free = backend_free;
  channel->context = g_main_context_ref (context);
  channel->read_sources = g_ptr_array_new ();
  channel->write_sources = g_ptr_array_new ();
  return channel;
}

/**
 * foctet_channel_ref: (skip)
 */
FoctetChannel *
foctet_channel_ref (FoctetChannel *channel)
{
  g_atomic_ref_count_inc (&channel->ref_count);
  return channel;
}

/**
 * foctet_channel_unref: (skip)
 */
void
foctet_channel_unref (FoctetChannel *channel)
{
  if (!g_atomic_ref_count_dec (&channel->ref_count))
    return;
  g_assert (channel->read_sources->len == 0 && channel->write_sources->len == 0);
  if (channel->backend_free != NULL)
    channel->backend_free (channel->backend);
  g_ptr_array_unref (channel->read_sources);
  g_ptr_array_unref (channel->write_sources);
  g_main_context_unref (channel->context);
  /* A read still waiting when its main context went away. */
  g_free (channel->waiting_read);
  g_free (channel);
}

/**
 * foctet_channel_get_backend: (skip)
 */
gpointer
foctet_channel_get_backend (FoctetChannel *channel)
{
  return channel->backend;
}

/* A source's prepare looks at the channel itself, so on the thread that
 * runs its context the next iteration sees the change unaided.  Only
 * another thread has to wake the context: g_source_set_ready_time()
 * writes to the context's wake-up descriptor on every change, even from
 * the owning thread (GLib 2.74), which is two system calls per wake on
 * the data path. */
static void
wake_source (GSource *source)
{
  GMainContext *context = g_source_get_context (source);

  if (context != NULL && g_main_context_is_owner (context))
    return;
  g_source_set_ready_time (source, 0);
}

/**
 * foctet_channel_wake: (skip)
 * @channel: a channel
 * @readers: whether readability may have changed
 * @writers: whether writability may have changed
 *
 * Makes the sources waiting on @channel look at it again; the backend
 * calls it whenever data, room, end of stream or an error arrives.
 */
void
foctet_channel_wake (FoctetChannel *channel,
                     gboolean       readers,
                     gboolean       writers)
{
  if (readers)
    for (guint i = 0; i < channel->read_sources->len; i++)
      wake_source (g_ptr_array_index (channel->read_sources, i));
  if (writers)
    for (guint i = 0; i < channel->write_sources->len; i++)
      wake_source (g_ptr_array_index (channel->write_sources, i));
}

/* For reading, what the backend put into a waiting read's buffer counts
 * too. */
static gboolean
channel_ready (FoctetChannel *channel,
               gboolean       for_write)
{
  if (for_write)
    return channel->funcs->is_writable (channel->backend);
  return (channel->waiting_read != NULL && channel->waiting_read->filled > 0) ||
         channel->funcs->is_readable (channel->backend);
}

/**
 * foctet_channel_get_read_space: (skip)
 * @channel: a channel
 * @space: (out): the room there
 *
 * Where the next bytes of the stream may go when the application waits
 * in an asynchronous read (g_input_stream_read_async()) of the channel's
 * stream: the rest of its buffer.  A backend with nothing of the stream
 * buffered may put the bytes it receives there itself instead of
 * buffering them, and then calls foctet_channel_read_space_filled(),
 * which saves the application's read a copy.  Only in the thread of the
 * channel's main context.
 *
 * Returns: (nullable): the room, or %NULL when no read waits or its
 *   buffer is full
 */
guint8 *
foctet_channel_get_read_space (FoctetChannel *channel,
                               gsize         *space)
{
  ChannelRead *read = channel->waiting_read;

  *space = 0;
  if (read == NULL || read->filled == read->count)
    return NULL;
  *space = read->count - read->filled;
  return read->buffer + read->filled;
}

/**
 * foctet_channel_read_space_filled: (skip)
 * @channel: a channel
 * @n: bytes put at the start of the room foctet_channel_get_read_space()
 *   gave, at most its size
 *
 * The backend put the next @n bytes of the stream into the waiting
 * read's buffer: the read completes with them (and with whatever else
 * it can read then) when the channel's main context next dispatches it.
 */
void
foctet_channel_read_space_filled (FoctetChannel *channel,
                                  gsize          n)
{
  ChannelRead *read = channel->waiting_read;

  g_return_if_fail (read != NULL && n <= read->count - read->filled);

  read->filled += n;
  foctet_channel_wake (channel, TRUE, FALSE);
}

/**
 * foctet_bytes_queue_take: (skip)
 * @queue: received data, a queue of #GBytes in order
 * @head_offset: (inout): how much of the head was taken already
 * @out: where the bytes go
 * @count: at most this many
 *
 * Copies the next bytes of @queue to @out, as a backend's read of what
 * it received does, and drops the pieces taken whole.
 *
 * Returns: the bytes copied: @count, or all @queue held if less
 */
gsize
foctet_bytes_queue_take (GQueue *queue,
                         gsize  *head_offset,
                         guint8 *out,
                         gsize   count)
{
  gsize done = 0;

  while (done < count && !g_queue_is_empty (queue))
    {
      GBytes *piece = g_queue_peek_head (queue);
      gsize size;
      const guint8 *data = g_bytes_get_data (piece, &size);
      gsize take = MIN (count - done, size - *head_offset);

      memcpy (out + done, data + *head_offset, take);
      done += take;
      *head_offset += take;
      if (*head_offset == size)
        {
          g_bytes_unref (g_queue_pop_head (queue));
          *head_offset = 0;
        }
    }
  return done;
}

static void
channel_release (FoctetChannel *channel)
{
  g_return_if_fail (channel->holders > 0);

  if (--channel->holders == 0)
    channel->funcs->release (channel->backend);
}

/* ------------------------------------------------------------------ */
/* Readiness sources                                                   */

typedef struct {
  GSource source;
  FoctetChannel *channel;
  gboolean for_write;
  GObject *pollable;
} ChannelSource;

static gboolean
channel_source_prepare (GSource *source,
                        gint    *timeout)
{
  ChannelSource *self = (ChannelSource *) source;

  *timeout = -1;
  return channel_ready (self->channel, self->for_write);
}

static gboolean
channel_source_dispatch (GSource     *source,
                         GSourceFunc  callback,
                         gpointer     user_data)
{
  ChannelSource *self = (ChannelSource *) source;

  g_source_set_ready_time (source, -1);
  if (callback == NULL)
    return G_SOURCE_REMOVE;
  return ((GPollableSourceFunc) (void (*) (void)) callback) (self->pollable, user_data);
}

static void
channel_source_finalize (GSource *source)
{
  ChannelSource *self = (ChannelSource *) source;

  g_ptr_array_remove_fast (self->for_write ? self->channel->write_sources
                                           : self->channel->read_sources, source);
  foctet_channel_unref (self->channel);
  g_object_unref (self->pollable);
}

static gboolean
channel_source_closure_callback (GObject  *pollable,
                                 gpointer  data)
{
  GClosure *closure = data;
  GValue param = G_VALUE_INIT;
  GValue result_value = G_VALUE_INIT;
  gboolean result;

  g_value_init (&result_value, G_TYPE_BOOLEAN);
  g_value_init (&param, G_TYPE_OBJECT);
  g_value_set_object (&param, pollable);
  g_closure_invoke (closure, &result_value, 1, &param, NULL);
  result = g_value_get_boolean (&result_value);
  g_value_unset (&result_value);
  g_value_unset (&param);
  return result;
}

static GSourceFuncs channel_source_funcs = {
  channel_source_prepare,
  NULL,
  channel_source_dispatch,
  channel_source_finalize,
  (GSourceFunc) (void (*) (void)) channel_source_closure_callback,
  NULL,
};

static GSource *
channel_create_source (FoctetChannel *channel,
                       gboolean       for_write,
                       GObject       *pollable,
                       GCancellable  *cancellable)
{
  GSource *source = g_source_new (&channel_source_funcs, sizeof (ChannelSource));
  ChannelSource *self = (ChannelSource *) source;

  g_source_set_static_name (source, for_write ? "foctet stream writable" : "foctet stream readable");
  self->channel = foctet_channel_ref (channel);
  self->for_write = for_write;
  self->pollable = g_object_ref (pollable);
  g_ptr_array_add (for_write ? channel->write_sources : channel->read_sources, source);
  if (cancellable != NULL)
    {
      GSource *cancel_source = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancel_source);
      g_source_add_child_source (source, cancel_source);
      g_source_unref (cancel_source);
    }
  return source;
}

/* Blocking I/O: only the thread running the channel's context can make
 * progress, by iterating it. */
static gboolean
channel_wait (FoctetChannel  *channel,
              gboolean        for_write,
              GCancellable   *cancellable,
              GError        **error)
{
  GSource *cancel_source = NULL;
  gboolean ok = TRUE;

  if (!g_main_context_acquire (channel->context))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "A foctet stream blocks only in the thread running its main context");
      return FALSE;
    }
  if (cancellable != NULL)
    {
      cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_dummy_callback (cancel_source);
      g_source_attach (cancel_source, channel->context);
    }
  while (!channel_ready (channel, for_write))
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }
      g_main_context_iteration (channel->context, TRUE);
    }
  if (cancel_source != NULL)
    {
      g_source_destroy (cancel_source);
      g_source_unref (cancel_source);
    }
  g_main_context_release (channel->context);
  return ok;
}

/* Runs @op (a read or a write) until it does not block. */
static gssize
channel_blocking (FoctetChannel  *channel,
                  gboolean        for_write,
                  void           *buffer,
                  gsize           count,
                  GCancellable   *cancellable,
                  GError        **error)
{
  for (;;)
    {
      GError *local_error = NULL;
      gssize n = for_write ? channel->funcs->write (channel->backend, buffer, count, &local_error)
                           : channel->funcs->read (channel->backend, buffer, count, &local_error);

      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_clear_error (&local_error);
      if (!channel_wait (channel, for_write, cancellable, error))
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* The input stream                                                    */

#define CHANNEL_TYPE_INPUT_STREAM (channel_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (ChannelInputStream, channel_input_stream, CHANNEL, INPUT_STREAM, GInputStream)

struct _ChannelInputStream {
  GInputStream parent_instance;

  FoctetChannel *channel;
};

static void channel_input_pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ChannelInputStream, channel_input_stream, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      channel_input_pollable_iface_init))

static gssize
channel_input_stream_read (GInputStream  *stream,
                           void          *buffer,
                           gsize          count,
                           GCancellable  *cancellable,
                           GError       **error)
{
  return channel_blocking (CHANNEL_INPUT_STREAM (stream)->channel, FALSE, buffer, count, cancellable, error);
}

/* An asynchronous read: what the backend has, or a wait during which
 * the backend may fill the buffer itself (foctet_channel_get_read_space()).
 * GInputStream's own for pollable streams would wait the same way but
 * keep the buffer to itself. */
static void
channel_read_complete (FoctetChannel *channel,
                       GTask         *task,
                       gssize         n,
                       GError        *error)
{
  if (channel->waiting_read != NULL && channel->waiting_read->task == task)
    g_clear_pointer (&channel->waiting_read, g_free);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, n);
}

/* Reads into the rest of @read's buffer.  Returns FALSE when there is
 * nothing there yet and the read goes on waiting. */
static gboolean
channel_read_try (FoctetChannel *channel,
                  ChannelRead   *read,
                  GCancellable  *cancellable)
{
  GTask *task = read->task;
  GError *error = NULL;
  gssize n;

  n = channel->funcs->read (channel->backend, read->buffer + read->filled, read->count - read->filled, &error);
  if (read->filled > 0)
    {
      /* What was filled is the read's; an end or an error after it is
       * the next read's. */
      g_clear_error (&error);
      channel_read_complete (channel, task, read->filled + MAX (n, 0), NULL);
      return TRUE;
    }
  if (n >= 0)
    {
      channel_read_complete (channel, task, n, NULL);
      return TRUE;
    }
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      channel_read_complete (channel, task, -1, error);
      return TRUE;
    }
  g_clear_error (&error);
  if (g_cancellable_set_error_if_cancelled (cancellable, &error))
    {
      channel_read_complete (channel, task, -1, error);
      return TRUE;
    }
  return FALSE;
}

static gboolean
channel_read_ready_cb (GObject  *pollable,
                       gpointer  user_data)
{
  GTask *task = user_data;
  FoctetChannel *channel = CHANNEL_INPUT_STREAM (pollable)->channel;

  if (!channel_read_try (channel, channel->waiting_read, g_task_get_cancellable (task)))
    return G_SOURCE_CONTINUE;
  return G_SOURCE_REMOVE;
}

static void
channel_input_stream_read_async (GInputStream        *stream,
                                 void                *buffer,
                                 gsize                count,
                                 int                  io_priority,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  FoctetChannel *channel = CHANNEL_INPUT_STREAM (stream)->channel;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSource) source = NULL;
  ChannelRead *read;

  /* GInputStream lets one operation at a time through. */
  g_return_if_fail (channel->waiting_read == NULL);

  task = g_task_new (stream, cancellable, callback, user_data);
  g_task_set_source_tag (task, channel_input_stream_read_async);
  g_task_set_priority (task, io_priority);
  /* Bytes filled in are out of the stream: a cancellation after them
   * must not lose them (channel_read_try() decides). */
  g_task_set_check_cancellable (task, FALSE);
  read = g_new0 (ChannelRead, 1);
  read->task = task;
  read->buffer = buffer;
  read->count = count;
  channel->waiting_read = read;
  if (channel_read_try (channel, read, cancellable))
    return;
  source = channel_create_source (channel, FALSE, G_OBJECT (stream), cancellable);
  g_task_attach_source (task, source, (GSourceFunc) (void (*) (void)) channel_read_ready_cb);
}

static gssize
channel_input_stream_read_finish (GInputStream  *stream,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), -1);

  return g_task_propagate_int (G_TASK (result), error);
}

static gboolean
channel_input_stream_close (GInputStream  *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  FoctetChannel *channel = CHANNEL_INPUT_STREAM (stream)->channel;

  channel->funcs->close_read (channel->backend);
  return TRUE;
}

/* GInputStream would close in a thread; nothing here blocks. */
static void
channel_input_stream_close_async (GInputStream        *stream,
                                  int                  io_priority,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, channel_input_stream_close_async);
  channel_input_stream_close (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
channel_input_stream_close_finish (GInputStream  *stream,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
channel_input_stream_is_readable (GPollableInputStream *stream)
{
  return channel_ready (CHANNEL_INPUT_STREAM (stream)->channel, FALSE);
}

static GSource *
channel_input_stream_create_source (GPollableInputStream *stream,
                                    GCancellable         *cancellable)
{
  return channel_create_source (CHANNEL_INPUT_STREAM (stream)->channel, FALSE, G_OBJECT (stream), cancellable);
}

static gssize
channel_input_stream_read_nonblocking (GPollableInputStream  *stream,
                                       void                  *buffer,
                                       gsize                  count,
                                       GError               **error)
{
  FoctetChannel *channel = CHANNEL_INPUT_STREAM (stream)->channel;

  return channel->funcs->read (channel->backend, buffer, count, error);
}

static void
channel_input_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->is_readable = channel_input_stream_is_readable;
  iface->create_source = channel_input_stream_create_source;
  iface->read_nonblocking = channel_input_stream_read_nonblocking;
}

static void
channel_input_stream_finalize (GObject *object)
{
  ChannelInputStream *self = CHANNEL_INPUT_STREAM (object);

  channel_release (self->channel);
  g_clear_pointer (&self->channel, foctet_channel_unref);

  G_OBJECT_CLASS (channel_input_stream_parent_class)->finalize (object);
}

static void
channel_input_stream_class_init (ChannelInputStreamClass *klass)
{
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = channel_input_stream_finalize;
  input_class->read_fn = channel_input_stream_read;
  input_class->read_async = channel_input_stream_read_async;
  input_class->read_finish = channel_input_stream_read_finish;
  input_class->close_fn = channel_input_stream_close;
  input_class->close_async = channel_input_stream_close_async;
  input_class->close_finish = channel_input_stream_close_finish;
}

static void
channel_input_stream_init (ChannelInputStream *self)
{
}

/* ------------------------------------------------------------------ */
/* The output stream                                                   */

#define CHANNEL_TYPE_OUTPUT_STREAM (channel_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (ChannelOutputStream, channel_output_stream, CHANNEL, OUTPUT_STREAM, GOutputStream)

struct _ChannelOutputStream {
  GOutputStream parent_instance;

  FoctetChannel *channel;
};

static void channel_output_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ChannelOutputStream, channel_output_stream, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      channel_output_pollable_iface_init))

static gssize
channel_output_stream_write (GOutputStream  *stream,
                             const void     *buffer,
                             gsize           count,
                             GCancellable   *cancellable,
                             GError        **error)
{
  return channel_blocking (CHANNEL_OUTPUT_STREAM (stream)->channel, TRUE, (void *) buffer, count,
                           cancellable, error);
}

/* Closing the output is a half-close.  Already half-closed, reset or
 * ended: nothing more to send, and closing is not an error then. */
static gboolean
channel_output_stream_close (GOutputStream  *stream,
                             GCancellable   *cancellable,
                             GError        **error)
{
  FoctetChannel *channel = CHANNEL_OUTPUT_STREAM (stream)->channel;

  channel->funcs->close_write (channel->backend, NULL);
  return TRUE;
}

static void
channel_output_stream_close_async (GOutputStream       *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, channel_output_stream_close_async);
  channel_output_stream_close (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
channel_output_stream_close_finish (GOutputStream  *stream,
                                    GAsyncResult   *result,
                                    GError        **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
channel_output_stream_is_writable (GPollableOutputStream *stream)
{
  return channel_ready (CHANNEL_OUTPUT_STREAM (stream)->channel, TRUE);
}

static GSource *
channel_output_stream_create_source (GPollableOutputStream *stream,
                                     GCancellable          *cancellable)
{
  return channel_create_source (CHANNEL_OUTPUT_STREAM (stream)->channel, TRUE, G_OBJECT (stream), cancellable);
}

static gssize
channel_output_stream_write_nonblocking (GPollableOutputStream  *stream,
                                         const void             *buffer,
                                         gsize                   count,
                                         GError                **error)
{
  FoctetChannel *channel = CHANNEL_OUTPUT_STREAM (stream)->channel;

  return channel->funcs->write (channel->backend, buffer, count, error);
}

static void
channel_output_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->is_writable = channel_output_stream_is_writable;
  iface->create_source = channel_output_stream_create_source;
  iface->write_nonblocking = channel_output_stream_write_nonblocking;
}

static void
channel_output_stream_finalize (GObject *object)
{
  ChannelOutputStream *self = CHANNEL_OUTPUT_STREAM (object);

  channel_release (self->channel);
  g_clear_pointer (&self->channel, foctet_channel_unref);

  G_OBJECT_CLASS (channel_output_stream_parent_class)->finalize (object);
}

static void
channel_output_stream_class_init (ChannelOutputStreamClass *klass)
{
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = channel_output_stream_finalize;
  output_class->write_fn = channel_output_stream_write;
  output_class->close_fn = channel_output_stream_close;
  output_class->close_async = channel_output_stream_close_async;
  output_class->close_finish = channel_output_stream_close_finish;
}

static void
channel_output_stream_init (ChannelOutputStream *self)
{
}

/* ------------------------------------------------------------------ */
/* FoctetChannelStream                                                 */

/**
 * FoctetChannelStream: (skip)
 *
 * A [class@Foctet.Stream] over a #FoctetChannel: pollable input and output
 * streams, blocking I/O by iterating the channel's context in its owner
 * thread, half-close and reset passed on to the backend.  Muxers and
 * transports subclass it to add properties of their own.
 */
typedef struct {
  FoctetChannel *channel;
  GInputStream *input;
  GOutputStream *output;
} FoctetChannelStreamPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (FoctetChannelStream, foctet_channel_stream, FOCTET_TYPE_STREAM)

static GInputStream *
foctet_channel_stream_get_input_stream (GIOStream *stream)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (stream));

  return priv->input;
}

static GOutputStream *
foctet_channel_stream_get_output_stream (GIOStream *stream)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (stream));

  return priv->output;
}

/* End-of-stream if not sent yet, and no more reading.  The input and
 * output are marked closed too, except one with an operation in flight:
 * that one fails at once because its channel is closed. */
static gboolean
foctet_channel_stream_close_fn (GIOStream     *stream,
                                GCancellable  *cancellable,
                                GError       **error)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (stream));

  priv->channel->funcs->close (priv->channel->backend);
  if (!g_output_stream_has_pending (priv->output))
    g_output_stream_close (priv->output, NULL, NULL);
  if (!g_input_stream_has_pending (priv->input))
    g_input_stream_close (priv->input, NULL, NULL);
  return TRUE;
}

/* GIOStream would close in a thread; nothing here blocks. */
static void
foctet_channel_stream_close_async (GIOStream           *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_channel_stream_close_async);
  foctet_channel_stream_close_fn (stream, cancellable, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_channel_stream_close_finish (GIOStream     *stream,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* End-of-stream goes behind the data written so far; that is all
 * "handed to the transport" means. */
static void
foctet_channel_stream_close_write_async (FoctetStream        *stream,
                                         int                  io_priority,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (stream));
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);
  GError *error = NULL;

  g_task_set_source_tag (task, foctet_channel_stream_close_write_async);
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!priv->channel->funcs->close_write (priv->channel->backend, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
foctet_channel_stream_close_write_finish (FoctetStream  *stream,
                                          GAsyncResult  *result,
                                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
foctet_channel_stream_reset (FoctetStream *stream,
                             guint32       error_code)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (stream));

  priv->channel->funcs->reset (priv->channel->backend, error_code);
}

static void
foctet_channel_stream_finalize (GObject *object)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (FOCTET_CHANNEL_STREAM (object));

  g_clear_object (&priv->input);
  g_clear_object (&priv->output);
  if (priv->channel != NULL)
    {
      channel_release (priv->channel);
      g_clear_pointer (&priv->channel, foctet_channel_unref);
    }

  G_OBJECT_CLASS (foctet_channel_stream_parent_class)->finalize (object);
}

static void
foctet_channel_stream_class_init (FoctetChannelStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *io_class = G_IO_STREAM_CLASS (klass);
  FoctetStreamClass *stream_class = FOCTET_STREAM_CLASS (klass);

  object_class->finalize = foctet_channel_stream_finalize;
  io_class->get_input_stream = foctet_channel_stream_get_input_stream;
  io_class->get_output_stream = foctet_channel_stream_get_output_stream;
  io_class->close_fn = foctet_channel_stream_close_fn;
  io_class->close_async = foctet_channel_stream_close_async;
  io_class->close_finish = foctet_channel_stream_close_finish;
  stream_class->close_write_async = foctet_channel_stream_close_write_async;
  stream_class->close_write_finish = foctet_channel_stream_close_write_finish;
  stream_class->reset = foctet_channel_stream_reset;
}

static void
foctet_channel_stream_init (FoctetChannelStream *self)
{
}

/**
 * foctet_channel_stream_new: (skip)
 * @type: %FOCTET_TYPE_CHANNEL_STREAM or a subclass of it
 * @channel: the backend's channel
 * @id: the stream's id on its connection
 *
 * Returns: (transfer full): a new stream over @channel
 */
FoctetStream *
foctet_channel_stream_new (GType          type,
                           FoctetChannel *channel,
                           guint64        id)
{
  FoctetChannelStream *self;
  FoctetChannelStreamPrivate *priv;
  ChannelInputStream *input;
  ChannelOutputStream *output;

  g_return_val_if_fail (g_type_is_a (type, FOCTET_TYPE_CHANNEL_STREAM), NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  self = g_object_new (type, "id", id, NULL);
  priv = foctet_channel_stream_get_instance_private (self);
  input = g_object_new (CHANNEL_TYPE_INPUT_STREAM, NULL);
  output = g_object_new (CHANNEL_TYPE_OUTPUT_STREAM, NULL);
  input->channel = foctet_channel_ref (channel);
  output->channel = foctet_channel_ref (channel);
  priv->channel = foctet_channel_ref (channel);
  channel->holders += 3;
  priv->input = G_INPUT_STREAM (input);
  priv->output = G_OUTPUT_STREAM (output);
  return FOCTET_STREAM (self);
}

/**
 * foctet_channel_stream_get_channel: (skip)
 *
 * Returns: (transfer none): the stream's channel
 */
FoctetChannel *
foctet_channel_stream_get_channel (FoctetChannelStream *self)
{
  FoctetChannelStreamPrivate *priv = foctet_channel_stream_get_instance_private (self);

  return priv->channel;
}

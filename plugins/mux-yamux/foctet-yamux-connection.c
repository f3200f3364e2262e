/* foctet-yamux-connection.c: a yamux session (PROTOCOL §4) over one byte
 * stream, as a FoctetConnection: reading and parsing frames, writing,
 * opening and accepting streams, keep-alive, GoAway and closing.  The
 * state of each stream is in foctet-yamux-channel.c, the buffers in
 * foctet-yamux-buffers.c.
 *
 * Reading: the base stream is read in big chunks with non-blocking reads;
 * Data payloads are handed to their stream as slices of the chunk (short
 * pieces are copied, so that a few bytes never pin a whole chunk), and the
 * application's read copies them straight into its buffer.  A payload is
 * delivered as it arrives, so no frame is ever assembled.
 *
 * Writing: frames wait in one queue, header and payload side by side, and
 * go out with vectored non-blocking writes, as many as fit, once per main
 * loop iteration; a stream's write copies the application's bytes once,
 * into the payload.
 *
 * Flow control: every stream starts with a 256 KiB receive window, which
 * is granted back (WindowUpdate) once half of it was consumed.  When that
 * happened within two round trips of the previous update, the window is
 * doubled first, up to the largest stream window and as far as the
 * session's budget for all windows allows (receive-window auto-tuning, as
 * in QUIC and rust-yamux).  The round-trip time comes from pings: one at
 * start, then one per keep-alive interval.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-yamux-session.h"

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetYamuxConnection, foctet_yamux_connection,
                                FOCTET_TYPE_CONNECTION, G_TYPE_FLAG_FINAL, {})

enum {
  PROP_0,
  PROP_RTT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_ACCEPT_BACKLOG,
  PROP_MAX_STREAMS,
  PROP_MAX_STREAM_WINDOW,
  PROP_MAX_SESSION_WINDOW,
  PROP_READ_STALL_TIMEOUT,
  PROP_POOL_TRIM_INTERVAL,
  PROP_POOLED_BYTES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void session_schedule_flush (FoctetYamuxConnection *self);
static void session_end (FoctetYamuxConnection *self,
                         GError                *error,
                         gboolean               flush,
                         GTask                 *close_task);
static void session_start_reading (FoctetYamuxConnection *self);
static void session_stop_reading (FoctetYamuxConnection *self);

static GError *
closed_error (void)
{
  return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                              "The yamux session is closed");
}

static gboolean
is_local_id (FoctetYamuxConnection *self,
             guint32                id)
{
  return (id & 1) == (self->is_client ? 1 : 0);
}

void
yamux_session_queued (FoctetYamuxConnection *self)
{
  if (self->out.bytes >= SEND_QUEUE_HARD_LIMIT)
    session_stop_reading (self);
  session_schedule_flush (self);
}

/* Whether a write may go to the stream at once: nothing queued ahead of
 * it, the stream not known to be full, and this the thread that writes
 * the stream. */
gboolean
yamux_session_can_write_through (FoctetYamuxConnection *self)
{
  return !self->shut && g_queue_is_empty (&self->out.chunks) && self->write_source == NULL &&
         g_main_context_is_owner (self->context);
}

/* Writes what was just queued, borrowed chunks included, as far as the
 * stream takes it now, and keeps a copy of the rest.  Anything left, or
 * a failed write, is the flush's to deal with, from the main loop. */
void
yamux_session_write_through (FoctetYamuxConnection *self)
{
  gboolean would_block = FALSE;
  g_autoptr(GError) error = NULL;

  if (!yamux_out_queue_write (&self->out, self->output, &would_block, &error))
    g_debug ("yamux: a write straight to the stream failed, the flush reports it: %s", error->message);
  yamux_out_queue_keep_borrowed (&self->out);
  if (!g_queue_is_empty (&self->out.chunks))
    yamux_session_queued (self);
}

/* Queues a frame without payload.  Pings, and window updates that only
 * grant credit (ACK aside), go ahead of the data already queued: behind
 * megabytes of data on a slow link they would hold up the peer's sending
 * and skew the round trip measured.  Their order against other frames
 * does not matter: credit adds up, and an ACK is the stream's first
 * frame from this side anyway.  A frame with FIN, RST or SYN keeps its
 * place. */
void
yamux_session_queue_frame (FoctetYamuxConnection *self,
                           guint8                 type,
                           guint16                flags,
                           guint32                stream_id,
                           guint32                length)
{
  FoctetYamuxHeader header = { FOCTET_YAMUX_VERSION, type, flags, stream_id, length };

  if (type == FOCTET_YAMUX_TYPE_PING ||
      (type == FOCTET_YAMUX_TYPE_WINDOW_UPDATE && (flags & ~FOCTET_YAMUX_FLAG_ACK) == 0))
    yamux_out_queue_push_ahead (&self->out, &header);
  else
    yamux_out_queue_push_control (&self->out, &header);
  yamux_session_queued (self);
}

static void
session_send_go_away (FoctetYamuxConnection *self,
                      guint32                code)
{
  if (self->go_away_sent)
    return;
  self->go_away_sent = TRUE;
  yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_GO_AWAY, 0, 0, code);
}

/* Accepting and opening streams. */

static void
task_finish_waiting (GTask *task)
{
  GSource *cancel_source = g_task_get_task_data (task);

  if (cancel_source != NULL)
    g_source_destroy (cancel_source);
}

static void
source_destroy_and_unref (gpointer source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

/* A task waiting in @queue ends as soon as it is cancelled. */
typedef struct {
  GQueue *queue;
  GTask *task;
} WaitingTask;

static gboolean
waiting_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  WaitingTask *waiting = user_data;

  if (g_queue_remove (waiting->queue, waiting->task))
    {
      GTask *task = waiting->task;

      g_task_set_task_data (task, NULL, NULL);
      g_task_return_error_if_cancelled (task);
      g_object_unref (task);
    }
  return G_SOURCE_REMOVE;
}

static void
queue_waiting_task (GQueue *queue,
                    GTask  *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (cancellable != NULL)
    {
      GSource *cancel_source = g_cancellable_source_new (cancellable);
      WaitingTask *waiting = g_new (WaitingTask, 1);

      waiting->queue = queue;
      waiting->task = task;
      g_source_set_callback (cancel_source, (GSourceFunc) (void (*) (void)) waiting_cancelled_cb,
                             waiting, g_free);
      g_source_attach (cancel_source, g_task_get_context (task));
      g_task_set_task_data (task, cancel_source, source_destroy_and_unref);
    }
  g_queue_push_tail (queue, task);
}

static void
session_deliver_incoming (FoctetYamuxConnection *self)
{
  /* Callbacks run in the loop may drop the last other reference. */
  g_autoptr(FoctetYamuxConnection) hold G_GNUC_UNUSED = g_object_ref (self);

  while (!g_queue_is_empty (&self->accepts) && !g_queue_is_empty (&self->incoming))
    {
      g_autoptr(GTask) task = g_queue_pop_head (&self->accepts);
      g_autoptr(FoctetYamuxStream) stream = g_queue_pop_head (&self->incoming);
      YamuxChannel *channel = g_hash_table_lookup (self->channels,
                                                   GUINT_TO_POINTER (foctet_stream_get_id (FOCTET_STREAM (stream))));

      /* Acknowledged when accepted, as hashicorp/yamux does, so that an
       * opener keeping to the backlog limit waits for this side. */
      if (channel != NULL && !channel->ack_sent)
        yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, yamux_channel_ack_flag (channel),
                                   channel->id, 0);
      task_finish_waiting (task);
      g_task_return_pointer (task, g_steal_pointer (&stream), foctet_stream_discard);
      if (self->shut)
        return;
    }
}

static void
foctet_yamux_connection_accept_stream_async (FoctetConnection    *connection,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_yamux_connection_accept_stream_async);
  if (self->shut)
    {
      g_task_return_error (task, closed_error ());
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  queue_waiting_task (&self->accepts, task);
  session_deliver_incoming (self);
}

static FoctetStream *
foctet_yamux_connection_accept_stream_finish (FoctetConnection  *connection,
                                              GAsyncResult      *result,
                                              GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static GError *
session_refuse_open_error (FoctetYamuxConnection *self)
{
  if (self->go_away_received)
    return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                "The peer is closing the yamux session (GoAway)");
  if (self->go_away_sent || self->shut)
    return closed_error ();
  if (self->next_id > G_MAXUINT32)
    return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                                "The yamux session has used up its stream ids");
  return NULL;
}

static void
session_open_now (FoctetYamuxConnection *self,
                  GTask                 *task)
{
  YamuxChannel *channel;
  FoctetYamuxStream *stream;
  GError *error = session_refuse_open_error (self);

  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;

  channel = yamux_channel_new (self, (guint32) self->next_id, TRUE);
  self->next_id += 2;
  self->n_unacked++;
  /* The default window: the increment is 0. */
  yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, channel->id,
                             0);
  stream = foctet_yamux_stream_new (channel, self->context);
  g_task_return_pointer (task, stream, foctet_stream_discard);
}

void
yamux_session_open_pending (FoctetYamuxConnection *self)
{
  /* Callbacks run in the loop may drop the last other reference. */
  g_autoptr(FoctetYamuxConnection) hold G_GNUC_UNUSED = g_object_ref (self);

  while (!self->shut && !g_queue_is_empty (&self->opens) && self->n_unacked < MAX_UNACKED_STREAMS)
    {
      g_autoptr(GTask) task = g_queue_pop_head (&self->opens);

      task_finish_waiting (task);
      session_open_now (self, task);
    }
}

static void
foctet_yamux_connection_open_stream_async (FoctetConnection    *connection,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (connection);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = session_refuse_open_error (self);

  g_task_set_source_tag (task, foctet_yamux_connection_open_stream_async);
  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->n_unacked >= MAX_UNACKED_STREAMS || !g_queue_is_empty (&self->opens))
    {
      queue_waiting_task (&self->opens, g_steal_pointer (&task));
      return;
    }
  session_open_now (self, task);
}

static FoctetStream *
foctet_yamux_connection_open_stream_finish (FoctetConnection  *connection,
                                            GAsyncResult      *result,
                                            GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Fails every task of @queue with @error. */
static void
fail_tasks (GQueue       *queue,
            const GError *error)
{
  GQueue tasks = *queue;
  GTask *task;

  g_queue_init (queue);
  while ((task = g_queue_pop_head (&tasks)) != NULL)
    {
      task_finish_waiting (task);
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
}

/* Closing: the last frames are written (for a while at most), then the
 * base stream is closed.  Independent of the session, which may be gone
 * by then. */

typedef struct {
  GIOStream *base;
  GPollableOutputStream *output;
  GMainContext *context;
  YamuxOutQueue out;
  GSource *write_source;
  GSource *timeout_source;
  GTask *task;
} Closer;

static void
closer_free (Closer *closer)
{
  g_clear_pointer (&closer->write_source, source_destroy_and_unref);
  g_clear_pointer (&closer->timeout_source, source_destroy_and_unref);
  yamux_out_queue_clear (&closer->out);
  g_clear_object (&closer->base);
  g_clear_object (&closer->output);
  g_clear_pointer (&closer->context, g_main_context_unref);
  g_clear_object (&closer->task);
  g_free (closer);
}

static void
closer_closed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Closer *closer = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_debug ("Closing the yamux session's stream: %s", error->message);
  if (closer->task != NULL)
    g_task_return_boolean (closer->task, TRUE);
  closer_free (closer);
}

static void
closer_close (Closer *closer)
{
  g_clear_pointer (&closer->write_source, source_destroy_and_unref);
  g_clear_pointer (&closer->timeout_source, source_destroy_and_unref);
  yamux_out_queue_clear (&closer->out);

  g_main_context_push_thread_default (closer->context);
  g_io_stream_close_async (closer->base, G_PRIORITY_DEFAULT, NULL, closer_closed_cb, closer);
  g_main_context_pop_thread_default (closer->context);
}

static gboolean closer_writable_cb (GObject  *pollable,
                                    gpointer  user_data);

static void
closer_flush (Closer *closer)
{
  g_autoptr(GError) error = NULL;
  gboolean would_block = FALSE;

  if (!yamux_out_queue_write (&closer->out, closer->output, &would_block, &error))
    g_debug ("Writing the last frames of a yamux session: %s", error->message);
  if (error != NULL || !would_block)
    {
      closer_close (closer);
      return;
    }
  closer->write_source = g_pollable_output_stream_create_source (closer->output, NULL);
  g_source_set_callback (closer->write_source, (GSourceFunc) (void (*) (void)) closer_writable_cb,
                         closer, NULL);
  g_source_attach (closer->write_source, closer->context);
}

static gboolean
closer_writable_cb (GObject  *pollable,
                    gpointer  user_data)
{
  Closer *closer = user_data;

  g_clear_pointer (&closer->write_source, g_source_unref);
  closer_flush (closer);
  return G_SOURCE_REMOVE;
}

static gboolean
closer_timeout_cb (gpointer user_data)
{
  Closer *closer = user_data;

  g_debug ("The peer did not take the last frames of the yamux session in %d s",
           CLOSE_FLUSH_TIMEOUT_SECONDS);
  g_clear_pointer (&closer->timeout_source, g_source_unref);
  closer_close (closer);
  return G_SOURCE_REMOVE;
}

static void
closer_start (FoctetYamuxConnection *self,
              gboolean               flush,
              GTask                 *task)
{
  Closer *closer = g_new0 (Closer, 1);

  closer->base = g_object_ref (self->base);
  closer->output = g_object_ref (self->output);
  closer->context = g_main_context_ref (self->context);
  closer->task = task != NULL ? g_object_ref (task) : NULL;
  closer->out = self->out;
  g_queue_init (&self->out.chunks);
  self->out.bytes = 0;

  if (!flush || g_queue_is_empty (&closer->out.chunks))
    {
      closer_close (closer);
      return;
    }
  closer->timeout_source = g_timeout_source_new_seconds (CLOSE_FLUSH_TIMEOUT_SECONDS);
  g_source_set_callback (closer->timeout_source, closer_timeout_cb, closer, NULL);
  g_source_attach (closer->timeout_source, closer->context);
  closer_flush (closer);
}

/* Ends the session, once, for whatever reason: @error (transfer full) is
 * why, %NULL for a normal end.  Streams keep what they received; all else
 * fails.  With @flush, what is queued (a GoAway) is written first. */
/* No channel refers to the session any more. */
static void
session_forget_channels (FoctetYamuxConnection *self)
{
  GHashTableIter iter;
  gpointer channel;

  g_hash_table_iter_init (&iter, self->attached);
  while (g_hash_table_iter_next (&iter, &channel, NULL))
    {
      ((YamuxChannel *) channel)->session = NULL;
      g_hash_table_iter_remove (&iter);
    }
}

static void
session_end (FoctetYamuxConnection *self,
             GError                *error,
             gboolean               flush,
             GTask                 *close_task)
{
  g_autoptr(GError) stream_error = NULL;
  g_autoptr(GPtrArray) channels = NULL;
  GHashTableIter iter;
  gpointer value;
  FoctetYamuxStream *stream;

  if (self->shut)
    {
      g_clear_error (&error);
      if (close_task != NULL)
        g_task_return_boolean (close_task, TRUE);
      return;
    }
  self->shut = TRUE;
  g_object_ref (self);
  if (error != NULL)
    g_debug ("yamux session ends: %s", error->message);
  else
    g_debug ("yamux session ends");

  session_stop_reading (self);
  g_clear_pointer (&self->stall_channel, yamux_channel_unref);
  g_clear_pointer (&self->stall_source, source_destroy_and_unref);
  g_clear_pointer (&self->keepalive_source, source_destroy_and_unref);
  g_clear_pointer (&self->flush_source, source_destroy_and_unref);
  g_clear_pointer (&self->write_source, source_destroy_and_unref);
  g_clear_pointer (&self->chunk, yamux_read_chunk_unref);
  g_clear_pointer (&self->payload_channel, yamux_channel_unref);

  /* Streams cut by the peer's GoAway and close say so: the session's own
   * end is no error then. */
  stream_error = error != NULL ? g_error_copy (error)
                 : self->go_away_received ? g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                                                 "The peer closed the yamux session")
                 : closed_error ();
  channels = g_ptr_array_new_with_free_func ((GDestroyNotify) yamux_channel_unref);
  g_hash_table_iter_init (&iter, self->channels);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (channels, yamux_channel_ref (value));
  g_hash_table_remove_all (self->channels);
  self->n_unacked = 0;
  self->recv_window_total = 0;
  for (guint i = 0; i < channels->len; i++)
    yamux_channel_detach (g_ptr_array_index (channels, i), stream_error);
  /* Those out of the table already, which applications still hold. */
  session_forget_channels (self);
  while ((stream = g_queue_pop_head (&self->incoming)) != NULL)
    g_object_unref (stream);

  closer_start (self, flush, close_task);

  fail_tasks (&self->accepts, stream_error);
  fail_tasks (&self->opens, stream_error);
  foctet_connection_set_closed (FOCTET_CONNECTION (self), error);
  g_clear_error (&error);
  g_object_unref (self);
}

static void
session_protocol_error (FoctetYamuxConnection *self,
                        GError                *error)
{
  g_debug ("The yamux peer broke the protocol: %s", error->message);
  session_send_go_away (self, FOCTET_YAMUX_GO_AWAY_PROTOCOL_ERROR);
  session_end (self, error, TRUE, NULL);
}

static GError *
go_away_error (guint32 code)
{
  switch (code)
    {
    case FOCTET_YAMUX_GO_AWAY_NORMAL:
      return NULL;
    case FOCTET_YAMUX_GO_AWAY_PROTOCOL_ERROR:
      return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                  "The peer ended the yamux session for a protocol error (GoAway 1)");
    case FOCTET_YAMUX_GO_AWAY_INTERNAL_ERROR:
      return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                  "The peer ended the yamux session for an internal error (GoAway 2)");
    default:
      return g_error_new (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                          "The peer ended the yamux session with GoAway code %u", code);
    }
}

/* After the peer's GoAway the session lasts as long as its streams. */
void
yamux_session_check_drained (FoctetYamuxConnection *self)
{
  if (!self->shut && self->go_away_received && g_hash_table_size (self->channels) == 0)
    {
      /* PROTOCOL §4: a side closing normally says so first, also after
       * the peer did (its session may still be waiting for our word). */
      session_send_go_away (self, 0);
      session_end (self, go_away_error (self->go_away_code), TRUE, NULL);
    }
}

/* Writing. */

static void
session_wake_writers (FoctetYamuxConnection *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->channels);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    yamux_channel_wake (value, FALSE, TRUE);
}

static gboolean session_writable_cb (GObject  *pollable,
                                     gpointer  user_data);
static void session_read (FoctetYamuxConnection *self);

/* A peer that closed the connection may have said why (GoAway) in what
 * is still to be read: that decides how the session ends, not the
 * failed write. */
static void
session_write_failed (FoctetYamuxConnection *self,
                      GError                *error)
{
  g_prefix_error (&error, "Writing to the yamux session's stream: ");
  g_debug ("%s", error->message);
  yamux_out_queue_clear (&self->out);
  g_clear_pointer (&self->write_source, source_destroy_and_unref);
  session_start_reading (self);
  session_read (self);
  if (self->shut)
    g_error_free (error);
  else
    session_end (self, error, FALSE, NULL);
}

static void
session_flush (FoctetYamuxConnection *self)
{
  GError *error = NULL;
  gboolean would_block = FALSE;

  if (self->shut)
    return;
  if (!yamux_out_queue_write (&self->out, self->output, &would_block, &error))
    {
      session_write_failed (self, error);
      return;
    }
  if (would_block && self->write_source == NULL)
    {
      self->write_source = g_pollable_output_stream_create_source (self->output, NULL);
      g_source_set_can_recurse (self->write_source, TRUE);   /* as the read source */
      g_source_set_callback (self->write_source, (GSourceFunc) (void (*) (void)) session_writable_cb,
                             self, NULL);
      g_source_attach (self->write_source, self->context);
    }

  if (self->writers_blocked && self->out.bytes < SEND_QUEUE_LIMIT)
    {
      self->writers_blocked = FALSE;
      session_wake_writers (self);
    }
  if (self->out.bytes < SEND_QUEUE_HARD_LIMIT)
    session_start_reading (self);
}

static gboolean
session_writable_cb (GObject  *pollable,
                     gpointer  user_data)
{
  FoctetYamuxConnection *self = user_data;

  g_object_ref (self);
  g_clear_pointer (&self->write_source, g_source_unref);
  session_flush (self);
  g_object_unref (self);
  return G_SOURCE_REMOVE;
}

static gboolean
session_flush_cb (gpointer user_data)
{
  FoctetYamuxConnection *self = user_data;

  g_object_ref (self);
  session_flush (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

/* The flush source: dispatched in the iteration after frames were
 * queued, so that frames queued together go out together.  A flag its
 * prepare looks at, rather than a ready time: setting one writes to the
 * context's wake-up descriptor every time (GLib 2.74), even from the
 * thread running the context, which is where frames are queued. */
typedef struct {
  GSource source;
  gboolean pending;
} FlushSource;

static gboolean
flush_source_prepare (GSource *source,
                      gint    *timeout)
{
  *timeout = -1;
  return ((FlushSource *) source)->pending;
}

static gboolean
flush_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  ((FlushSource *) source)->pending = FALSE;
  return callback (user_data);
}

static GSourceFuncs flush_source_funcs = {
  flush_source_prepare, NULL, flush_source_dispatch, NULL, NULL, NULL,
};

static void
session_schedule_flush (FoctetYamuxConnection *self)
{
  FlushSource *source = (FlushSource *) self->flush_source;

  if (source == NULL || self->write_source != NULL || source->pending)
    return;
  source->pending = TRUE;
  if (!g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
}

/* Keep-alive and round-trip time. */

static void
session_send_ping (FoctetYamuxConnection *self)
{
  self->ping_outstanding = ++self->ping_counter;
  self->ping_sent_at = g_get_monotonic_time ();
  yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0,
                             self->ping_outstanding);
}

static gboolean
session_keepalive_cb (gpointer user_data)
{
  FoctetYamuxConnection *self = user_data;

  if (self->ping_sent_at != 0)
    {
      g_clear_pointer (&self->keepalive_source, g_source_unref);
      g_object_ref (self);
      session_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                      "The yamux peer did not answer a keep-alive ping in %u s",
                                      self->keepalive_interval),
                   TRUE, NULL);
      g_object_unref (self);
      return G_SOURCE_REMOVE;
    }
  session_send_ping (self);
  return G_SOURCE_CONTINUE;
}

static void
session_arm_keepalive (FoctetYamuxConnection *self)
{
  g_clear_pointer (&self->keepalive_source, source_destroy_and_unref);
  if (self->shut || self->keepalive_interval == 0)
    return;
  self->keepalive_source = g_timeout_source_new_seconds (self->keepalive_interval);
  g_source_set_static_name (self->keepalive_source, "yamux keep-alive");
  g_source_set_callback (self->keepalive_source, session_keepalive_cb, self, NULL);
  g_source_attach (self->keepalive_source, self->context);
}

static void
session_handle_ping (FoctetYamuxConnection   *self,
                     const FoctetYamuxHeader *header)
{
  if (header->flags & FOCTET_YAMUX_FLAG_SYN)
    {
      yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_ACK, 0, header->length);
      return;
    }
  if (self->ping_sent_at != 0 && header->length == self->ping_outstanding)
    {
      gint64 sample = MAX (g_get_monotonic_time () - self->ping_sent_at, 1);

      self->ping_sent_at = 0;
      self->rtt = self->rtt == 0 ? sample : (7 * self->rtt + sample) / 8;
      g_debug ("yamux round trip: %" G_GINT64_FORMAT " us (smoothed %" G_GINT64_FORMAT " us)",
               sample, self->rtt);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RTT]);
    }
}

/* Reading. */

static void
session_handle_go_away (FoctetYamuxConnection   *self,
                        const FoctetYamuxHeader *header)
{
  g_autoptr(GError) error = NULL;

  if (self->go_away_received)
    return;
  g_debug ("The yamux peer sent GoAway %u", header->length);
  self->go_away_received = TRUE;
  self->go_away_code = header->length;
  error = session_refuse_open_error (self);
  fail_tasks (&self->opens, error);
  yamux_session_check_drained (self);
}

/* A Data or WindowUpdate frame's header.  Sets the session up to take the
 * Data payload that follows. */
/* Counts the Data frames in a row for one stream: after a few, the next
 * is likely the same stream's too (yamux_session_read_through()). */
static void
session_count_data_frame (FoctetYamuxConnection *self,
                          YamuxChannel          *channel)
{
  if (self->data_run_id == channel->id)
    self->data_run = MIN (self->data_run + 1, G_MAXUINT);
  else
    {
      self->data_run_id = channel->id;
      self->data_run = 1;
    }
}

static void
session_handle_stream_frame (FoctetYamuxConnection   *self,
                             const FoctetYamuxHeader *header)
{
  guint32 id = header->stream_id;
  YamuxChannel *channel = g_hash_table_lookup (self->channels, GUINT_TO_POINTER (id));
  gboolean is_data = header->type == FOCTET_YAMUX_TYPE_DATA;
  g_autoptr(YamuxChannel) hold = NULL;
  char flags_text[32];

  if (is_data && header->length > 0)
    {
      self->in_payload = TRUE;
      self->payload_left = header->length;
      self->payload_fin = FALSE;
    }

  if (header->flags & FOCTET_YAMUX_FLAG_SYN)
    {
      if (channel != NULL)
        {
          session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                     "yamux SYN for stream %u, which is already open", id));
          return;
        }
      if (is_local_id (self, id))
        {
          session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                     "yamux peer opened stream %u, an id of this side's "
                                                     "parity (the %s opens %s ids)", id,
                                                     self->is_client ? "client" : "server",
                                                     self->is_client ? "odd" : "even"));
          return;
        }
      if (is_data && header->length > FOCTET_YAMUX_INITIAL_WINDOW)
        {
          session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                     "yamux Data frame of %u bytes opening stream %u "
                                                     "is beyond the receive window of %u bytes",
                                                     header->length, id, FOCTET_YAMUX_INITIAL_WINDOW));
          return;
        }
      if (!yamux_remote_ids_open (&self->remote_ids, id))
        {
          session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                     "yamux SYN for stream %u, which the peer opened before "
                                                     "(an id is used once)", id));
          return;
        }
      if (header->flags & FOCTET_YAMUX_FLAG_RST)
        return;
      if (self->go_away_sent || g_queue_get_length (&self->incoming) >= self->accept_backlog ||
          self->n_remote >= self->max_streams)
        {
          g_debug ("Refusing stream %u: %s", id,
                   self->go_away_sent ? "the session is closing"
                   : self->n_remote >= self->max_streams ? "the peer has max-streams open"
                   : "the accept backlog is full");
          yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_RST, id, 0);
          return;
        }
      channel = yamux_channel_new (self, id, FALSE);
      g_queue_push_tail (&self->incoming, foctet_yamux_stream_new (channel, self->context));
      g_debug ("Stream %u opened by the peer", id);
    }
  else if (channel == NULL)
    {
      /* Closed in both directions or reset: late frames are ignored. */
      if (is_local_id (self, id) ? id < self->next_id : yamux_remote_ids_was_opened (&self->remote_ids, id))
        return;
      session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                 "yamux %s frame (flags %s) without SYN for stream %u, "
                                                 "which was never opened",
                                                 foctet_yamux_type_to_string (header->type),
                                                 foctet_yamux_flags_to_string (header->flags, flags_text,
                                                                               sizeof flags_text),
                                                 id));
      return;
    }

  /* Callbacks of opens and accepts completing below may run right away,
   * and do anything to the channel. */
  hold = yamux_channel_ref (channel);
  if (header->flags & FOCTET_YAMUX_FLAG_SYN)
    {
      session_deliver_incoming (self);
      if (self->shut || !channel->in_table)
        return;
    }

  /* The peer's first frame on a stream this side opened acknowledges it,
   * with or without ACK; a repeated ACK changes nothing. */
  if (channel->outbound && !channel->acked)
    {
      channel->acked = TRUE;
      self->n_unacked--;
      yamux_session_open_pending (self);
      if (self->shut || !channel->in_table)
        return;
    }

  if (header->flags & FOCTET_YAMUX_FLAG_RST)
    {
      g_debug ("The peer reset stream %u", id);
      yamux_channel_do_reset (channel, TRUE);
      return;
    }

  if (!is_data)
    {
      if (header->length > 0)
        {
          if (header->length > G_MAXUINT32 - channel->send_window)
            {
              session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                         "yamux WindowUpdate of %u bytes on stream %u "
                                                         "overflows its send window of %u bytes",
                                                         header->length, id, channel->send_window));
              return;
            }
          if (channel->send_window == 0)
            yamux_channel_wake (channel, FALSE, TRUE);
          channel->send_window += header->length;
        }
      if (header->flags & FOCTET_YAMUX_FLAG_FIN)
        yamux_channel_receive_fin (channel);
      return;
    }

  if (header->length > 0 && channel->recv_fin)
    {
      session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                 "yamux Data on stream %u after its FIN", id));
      return;
    }
  if (header->length > channel->recv_window)
    {
      session_protocol_error (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                 "yamux Data frame of %u bytes on stream %u is beyond "
                                                 "its receive window of %u bytes",
                                                 header->length, id, channel->recv_window));
      return;
    }
  channel->recv_window -= header->length;

  if (header->length > 0 && channel->closed)
    {
      /* Closed here, as TCP would: the data cannot be read any more. */
      g_debug ("Data on closed stream %u: resetting it", id);
      yamux_channel_do_reset (channel, FALSE);
      return;
    }
  if (header->length == 0)
    {
      if (header->flags & FOCTET_YAMUX_FLAG_FIN)
        yamux_channel_receive_fin (channel);
      return;
    }
  self->payload_channel = yamux_channel_ref (channel);
  self->payload_fin = (header->flags & FOCTET_YAMUX_FLAG_FIN) != 0;
  session_count_data_frame (self, channel);
}

static void
session_payload_done (FoctetYamuxConnection *self)
{
  g_autoptr(YamuxChannel) channel = g_steal_pointer (&self->payload_channel);

  self->in_payload = FALSE;
  if (channel != NULL && self->payload_fin && channel->in_table)
    yamux_channel_receive_fin (channel);
}

static void
session_handle_header (FoctetYamuxConnection *self,
                       const guint8          *data)
{
  FoctetYamuxHeader header;
  GError *error = NULL;

  if (!foctet_yamux_header_decode (data, &header, self->max_stream_window, &error))
    {
      session_protocol_error (self, error);
      return;
    }

  switch (header.type)
    {
    case FOCTET_YAMUX_TYPE_PING:
      session_handle_ping (self, &header);
      break;
    case FOCTET_YAMUX_TYPE_GO_AWAY:
      session_handle_go_away (self, &header);
      break;
    default:
      session_handle_stream_frame (self, &header);
      break;
    }
}

static void
session_parse (FoctetYamuxConnection *self,
               YamuxReadChunk        *chunk,
               gsize                  pos,
               gsize                  end)
{
  while (pos < end && !self->shut)
    {
      const guint8 *data;

      if (self->in_payload)
        {
          gsize take = MIN (self->payload_left, end - pos);

          if (self->payload_channel != NULL)
            yamux_channel_deliver (self->payload_channel, chunk, pos, take);
          self->payload_left -= take;
          pos += take;
          if (self->payload_left == 0)
            session_payload_done (self);
          continue;
        }

      if (self->header_have > 0 || end - pos < FOCTET_YAMUX_HEADER_SIZE)
        {
          gsize take = MIN (FOCTET_YAMUX_HEADER_SIZE - self->header_have, end - pos);

          memcpy (self->header_buf + self->header_have, chunk->data + pos, take);
          self->header_have += take;
          pos += take;
          if (self->header_have < FOCTET_YAMUX_HEADER_SIZE)
            break;
          self->header_have = 0;
          data = self->header_buf;
        }
      else
        {
          data = chunk->data + pos;
          pos += FOCTET_YAMUX_HEADER_SIZE;
        }

      session_handle_header (self, data);
    }
}

/* A whole header a read-through took from the stream and left to the
 * session (yamux_session_read_through()). */
static void
session_handle_pending_header (FoctetYamuxConnection *self)
{
  if (self->shut || self->header_have < FOCTET_YAMUX_HEADER_SIZE)
    return;
  self->header_have = 0;
  self->parsing = TRUE;
  session_handle_header (self, self->header_buf);
  self->parsing = FALSE;
}

/* Stalling reads (READ_AHEAD_MIN).  Only for a stream an application
 * holds, and not again after a stall timed out until it was read down:
 * an application that reads another stream first, or reads slowly,
 * costs the other streams one stall, not their speed. */
static gboolean
session_should_stall (FoctetYamuxConnection *self)
{
  YamuxChannel *channel = self->payload_channel;

  return self->read_stall_timeout > 0 &&
         self->in_payload && channel != NULL && channel->app != NULL && !channel->read_closed &&
         !channel->reset && !channel->stall_spent && channel->recv_buffered >= channel->read_ahead;
}

/* The session's timer: a stall's deadline, or 1 for "at once" (a pending
 * header).  A field its prepare reads, not a ready time, for the reason
 * given at the flush source. */
typedef struct {
  GSource source;
  gint64 deadline;                 /* monotonic µs; 0: none */
} StallSource;

static gboolean
stall_source_prepare (GSource *source,
                      gint    *timeout)
{
  gint64 deadline = ((StallSource *) source)->deadline;
  gint64 now;

  *timeout = -1;
  if (deadline == 0)
    return FALSE;
  now = g_source_get_time (source);
  if (now >= deadline)
    return TRUE;
  *timeout = (deadline - now + 999) / 1000;
  return FALSE;
}

static gboolean
stall_source_check (GSource *source)
{
  gint64 deadline = ((StallSource *) source)->deadline;

  return deadline != 0 && g_source_get_time (source) >= deadline;
}

static gboolean
stall_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  ((StallSource *) source)->deadline = 0;
  return callback (user_data);
}

static GSourceFuncs stall_source_funcs = {
  stall_source_prepare, stall_source_check, stall_source_dispatch, NULL, NULL, NULL,
};

static void
session_set_timer (FoctetYamuxConnection *self,
                   gint64                 deadline)
{
  if (self->stall_source != NULL)
    ((StallSource *) self->stall_source)->deadline = deadline;
}

/* Waits for @channel's application: from now, at most read-stall-timeout
 * without a read of it. */
static void
session_stall (FoctetYamuxConnection *self,
               YamuxChannel          *channel)
{
  if (self->stall_channel != channel)
    {
      g_clear_pointer (&self->stall_channel, yamux_channel_unref);
      self->stall_channel = yamux_channel_ref (channel);
    }
  self->stall_start = g_get_monotonic_time ();
  session_set_timer (self, self->stall_start + self->read_stall_timeout * G_GINT64_CONSTANT (1000));
  session_stop_reading (self);
}

/* The stalled-on application read: the wait goes on, up to
 * READ_STALL_MAX_TIMEOUTS in all. */
static void
session_stall_extend (FoctetYamuxConnection *self)
{
  gint64 timeout = self->read_stall_timeout * G_GINT64_CONSTANT (1000);

  session_set_timer (self, MIN (self->stall_start + READ_STALL_MAX_TIMEOUTS * timeout,
                                g_get_monotonic_time () + timeout));
}

static void
session_unstall (FoctetYamuxConnection *self)
{
  if (self->stall_channel == NULL)
    return;
  g_clear_pointer (&self->stall_channel, yamux_channel_unref);
  session_set_timer (self, 0);
  if (self->out.bytes < SEND_QUEUE_HARD_LIMIT)
    session_start_reading (self);
}

static gboolean
session_timer_cb (gpointer user_data)
{
  FoctetYamuxConnection *self = user_data;

  g_object_ref (self);
  if (self->stall_channel != NULL)
    {
      self->stall_channel->stall_spent = TRUE;
      session_unstall (self);
    }
  session_handle_pending_header (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

/* @channel's application read @count bytes from it (0: it closed it or
 * reset it).  A reader that reads big enough to read through keeps the
 * session waiting while it empties what it has, then reads on in the
 * session's stream itself; any other stops the wait at half. */
void
yamux_session_channel_read (FoctetYamuxConnection *self,
                            YamuxChannel          *channel,
                            gsize                  count)
{
  gboolean stalled_on = channel == self->stall_channel;

  if (channel->recv_buffered > channel->read_ahead / 2 ||
      (stalled_on && count >= READ_THROUGH_MIN && !channel->recv_fin))
    {
      if (stalled_on)
        session_stall_extend (self);
      return;
    }
  channel->stall_spent = FALSE;
  if (stalled_on)
    session_unstall (self);
}

/* The most the streams of a session may hold unread in all: twice
 * max-session-window (within which windows grow), and at least 32
 * initial windows. */
static guint64
session_unread_limit (FoctetYamuxConnection *self)
{
  return 2 * MAX (self->max_session_window, 16 * (guint64) FOCTET_YAMUX_INITIAL_WINDOW);
}

/* Whether a stream may hold @len more bytes unread.  Every stream may
 * receive its initial window whatever the others hold, so a peer that
 * opens many streams whose applications do not read (a ping whose echo
 * it never takes) could make this side buffer 256 KiB times as many
 * streams.  Beyond session_unread_limit () in all, the stream a Data
 * frame is for is reset instead (yamux_channel_deliver ()); the session
 * reads on, so window updates, resets and pings still come through. */
gboolean
yamux_session_may_buffer (FoctetYamuxConnection *self,
                          gsize                  len)
{
  return self->recv_buffered + len <= session_unread_limit (self);
}

/* How much of its own a stream may have in the queue (see
 * STREAM_QUEUE_LIMIT). */
gsize
yamux_session_stream_share (FoctetYamuxConnection *self)
{
  guint64 rate = self->out.drain_rate;

  if (rate == 0)
    return STREAM_QUEUE_LIMIT;
  return MIN (foctet_send_bound_for_rate (rate), STREAM_QUEUE_LIMIT);
}

/* Whether the 12 bytes at @data are a Data frame that a read-through
 * may take for @channel on its own: one the session would deliver to it
 * unchanged, with no other effect than its FIN.  Anything else is left
 * to the session. */
static gboolean
read_through_takes_header (FoctetYamuxConnection *self,
                           YamuxChannel          *channel,
                           const guint8          *data,
                           FoctetYamuxHeader     *header)
{
  if (!foctet_yamux_header_decode (data, header, self->max_stream_window, NULL))
    return FALSE;
  return header->type == FOCTET_YAMUX_TYPE_DATA && header->stream_id == channel->id &&
         (header->flags & ~FOCTET_YAMUX_FLAG_FIN) == 0 && header->length > 0 &&
         header->length <= channel->recv_window && channel->in_table && !channel->recv_fin &&
         !channel->closed && !channel->reset && !channel->read_closed &&
         (!channel->outbound || channel->acked);
}

/* Reads @channel's payload from the session's stream straight into the
 * application's @buffer, for a channel with nothing received: as long
 * as the stream carries @channel's Data frames, up to @count bytes.
 * While the application reads this way, the session does not read
 * (a stall on @channel, ended as any other); whatever is not a Data
 * frame for @channel goes back to it.  Returns the bytes read, 0 when
 * the session must read first. */
gsize
yamux_session_read_through (FoctetYamuxConnection *self,
                            YamuxChannel          *channel,
                            guint8                *buffer,
                            gsize                  count)
{
  gsize done = 0;
  gboolean give_back = FALSE;

  if (self->shut || self->parsing || self->read_stall_timeout == 0 ||
      self->out.bytes >= SEND_QUEUE_HARD_LIMIT || !g_main_context_is_owner (self->context) ||
      (self->read_source == NULL && self->stall_channel != channel) ||
      (self->in_payload && self->payload_channel != channel))
    return 0;

  while (done < count)
    {
      GError *error = NULL;
      gssize n;

      if (self->in_payload)
        {
          if (self->payload_channel != channel)
            {
              give_back = TRUE;
              break;
            }
          n = g_pollable_input_stream_read_nonblocking (self->input, buffer + done,
                                                        MIN (count - done, self->payload_left),
                                                        NULL, &error);
          if (n <= 0)
            {
              /* Would block, the end or an error: the session's read,
               * which a TLS stream tells the same, deals with them. */
              g_clear_error (&error);
              give_back = TRUE;
              break;
            }
          done += n;
          self->payload_left -= n;
          if (self->payload_left == 0)
            session_payload_done (self);
          continue;
        }

      n = g_pollable_input_stream_read_nonblocking (self->input, self->header_buf + self->header_have,
                                                    FOCTET_YAMUX_HEADER_SIZE - self->header_have,
                                                    NULL, &error);
      if (n <= 0)
        {
          g_clear_error (&error);
          give_back = TRUE;
          break;
        }
      self->header_have += n;
      if (self->header_have < FOCTET_YAMUX_HEADER_SIZE)
        continue;
      {
        FoctetYamuxHeader header;

        if (!read_through_takes_header (self, channel, self->header_buf, &header))
          {
            /* The session acts on it, at once (below). */
            give_back = TRUE;
            break;
          }
        self->header_have = 0;
        channel->recv_window -= header.length;
        self->in_payload = TRUE;
        self->payload_left = header.length;
        self->payload_channel = yamux_channel_ref (channel);
        self->payload_fin = (header.flags & FOCTET_YAMUX_FLAG_FIN) != 0;
        session_count_data_frame (self, channel);
      }
    }

  if (give_back || channel->recv_fin)
    {
      session_unstall (self);
      if (self->header_have == FOCTET_YAMUX_HEADER_SIZE)
        session_set_timer (self, 1);
    }
  else if (done > 0 && (self->in_payload || self->data_run >= READ_THROUGH_RUN))
    {
      /* The application comes back for the rest of the payload, or for
       * the next frame, which is most likely its too: until then,
       * nobody reads. */
      channel->stall_spent = FALSE;
      session_stall (self, channel);
    }
  else
    session_unstall (self);
  return done;
}

typedef enum {
  FILL_NONE,                       /* nothing for a waiting read: read a chunk */
  FILL_DONE,                       /* filled some; look again */
  FILL_WOULD_BLOCK,                /* the session's stream has nothing now */
} FillResult;

/* Reads what comes next from the session's stream straight into the
 * buffer of the application's waiting asynchronous read when it is the
 * payload of that read's stream (yamux_channel_read_space()): the copy
 * out of a read chunk is saved, as a read-through saves it for a read
 * made while the session waits.  After such a payload the next header
 * is read on its own, so that its payload can go the same way.  Ends,
 * errors and frames of other kinds are left to the chunk read, which
 * the session's stream tells the same. */
static FillResult
session_fill_reader (FoctetYamuxConnection *self,
                     gsize                 *budget)
{
  GError *error = NULL;
  gssize n;

  if (self->in_payload)
    {
      guint8 *room;
      gsize space;

      if (self->payload_channel == NULL ||
          (room = yamux_channel_read_space (self->payload_channel, &space)) == NULL)
        {
          self->header_alone = FALSE;
          return FILL_NONE;
        }
      n = g_pollable_input_stream_read_nonblocking (self->input, room, MIN (space, self->payload_left),
                                                    NULL, &error);
      if (n > 0)
        {
          g_autoptr(YamuxChannel) channel = yamux_channel_ref (self->payload_channel);

          self->payload_left -= n;
          *budget -= MIN (*budget, (gsize) n);
          self->header_alone = TRUE;
          yamux_channel_read_space_filled (channel, n);
          if (self->payload_left == 0)
            session_payload_done (self);
          return FILL_DONE;
        }
    }
  else if (self->header_alone)
    {
      n = g_pollable_input_stream_read_nonblocking (self->input, self->header_buf + self->header_have,
                                                    FOCTET_YAMUX_HEADER_SIZE - self->header_have,
                                                    NULL, &error);
      if (n > 0)
        {
          self->header_have += n;
          *budget -= MIN (*budget, (gsize) n);
          session_handle_pending_header (self);
          return FILL_DONE;
        }
    }
  else
    return FILL_NONE;

  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_clear_error (&error);
      return FILL_WOULD_BLOCK;
    }
  g_clear_error (&error);
  self->header_alone = FALSE;
  return FILL_NONE;
}

static void
session_read (FoctetYamuxConnection *self)
{
  gsize budget = READ_BUDGET;

  session_handle_pending_header (self);

  while (!self->shut && self->read_source != NULL && budget > 0)
    {
      g_autoptr(YamuxReadChunk) chunk = NULL;
      GError *error = NULL;
      gboolean eof = FALSE, would_block = FALSE;
      gsize start;

      if (session_should_stall (self))
        {
          session_stall (self, self->payload_channel);
          return;
        }

      switch (session_fill_reader (self, &budget))
        {
        case FILL_DONE:
          continue;
        case FILL_WOULD_BLOCK:
          return;
        case FILL_NONE:
          break;
        }

      if (self->chunk != NULL && YAMUX_READ_CHUNK_SIZE - self->chunk->used < READ_MIN_SPACE)
        {
          /* No slice of it alive: start it over instead of a new one. */
          if (g_atomic_ref_count_compare (&self->chunk->ref_count, 1))
            self->chunk->used = 0;
          else
            g_clear_pointer (&self->chunk, yamux_read_chunk_unref);
        }
      if (self->chunk == NULL)
        self->chunk = yamux_read_chunk_new (self->context);
      chunk = yamux_read_chunk_ref (self->chunk);
      start = chunk->used;

      while (chunk->used < YAMUX_READ_CHUNK_SIZE)
        {
          gssize n = g_pollable_input_stream_read_nonblocking (self->input, chunk->data + chunk->used,
                                                              YAMUX_READ_CHUNK_SIZE - chunk->used,
                                                              NULL, &error);
          if (n > 0)
            {
              chunk->used += n;
              continue;
            }
          if (n == 0)
            eof = TRUE;
          else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              would_block = TRUE;
              g_clear_error (&error);
            }
          break;
        }

      self->parsing = TRUE;
      session_parse (self, chunk, start, chunk->used);
      self->parsing = FALSE;
      budget -= MIN (budget, chunk->used - start);
      if (self->shut)
        {
          g_clear_error (&error);
          return;
        }
      if (error != NULL)
        {
          g_prefix_error (&error, "Reading the yamux session's stream: ");
          session_end (self, error, FALSE, NULL);
          return;
        }
      if (eof)
        {
          session_end (self,
                       self->go_away_received
                       ? go_away_error (self->go_away_code)
                       : g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                              "The yamux peer closed the connection without GoAway"),
                       TRUE, NULL);
          return;
        }
      if (would_block)
        return;
    }
}

static gboolean
session_readable_cb (GObject  *pollable,
                     gpointer  user_data)
{
  FoctetYamuxConnection *self = user_data;

  g_object_ref (self);
  session_read (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static void
session_start_reading (FoctetYamuxConnection *self)
{
  if (self->read_source != NULL || self->shut || self->stall_channel != NULL)
    return;
  self->read_source = g_pollable_input_stream_create_source (self->input, NULL);
  g_source_set_static_name (self->read_source, "yamux session readable");
  /* Not blocked while it dispatches: blocking takes a source's
   * descriptors out of the context's poll set and puts them back, and
   * GLib (2.74) writes to the context's wake-up descriptor both times.
   * Nothing iterates this context from inside the callback. */
  g_source_set_can_recurse (self->read_source, TRUE);
  g_source_set_callback (self->read_source, (GSourceFunc) (void (*) (void)) session_readable_cb,
                         self, NULL);
  g_source_attach (self->read_source, self->context);
}

static void
session_stop_reading (FoctetYamuxConnection *self)
{
  g_clear_pointer (&self->read_source, source_destroy_and_unref);
}

/* Closing. */

static guint32
go_away_code_for (guint32 code)
{
  switch (code)
    {
    case FOCTET_CLOSE_CODE_PROTOCOL_ERROR:
      return FOCTET_YAMUX_GO_AWAY_PROTOCOL_ERROR;
    case FOCTET_CLOSE_CODE_INTERNAL_ERROR:
      return FOCTET_YAMUX_GO_AWAY_INTERNAL_ERROR;
    default:
      return FOCTET_YAMUX_GO_AWAY_NORMAL;
    }
}

/* GoAway, then the base stream is closed once the frames queued so far
 * are written; streams end at once.  yamux has no room for @reason. */
static void
foctet_yamux_connection_close_async (FoctetConnection    *connection,
                                     guint32              code,
                                     const char          *reason,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (connection);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_yamux_connection_close_async);
  g_debug ("Closing the yamux session with code %u (%s)", code,
           reason != NULL ? reason : "no reason");
  if (!self->shut)
    session_send_go_away (self, go_away_code_for (code));
  session_end (self, NULL, TRUE, task);
}

static gboolean
foctet_yamux_connection_close_finish (FoctetConnection  *connection,
                                      GAsyncResult      *result,
                                      GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
foctet_yamux_connection_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (object);

  switch (prop_id)
    {
    case PROP_RTT:
      g_value_set_uint64 (value, self->rtt);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_uint (value, self->keepalive_interval);
      break;
    case PROP_ACCEPT_BACKLOG:
      g_value_set_uint (value, self->accept_backlog);
      break;
    case PROP_MAX_STREAMS:
      g_value_set_uint (value, self->max_streams);
      break;
    case PROP_MAX_STREAM_WINDOW:
      g_value_set_uint (value, self->max_stream_window);
      break;
    case PROP_MAX_SESSION_WINDOW:
      g_value_set_uint64 (value, self->max_session_window);
      break;
    case PROP_READ_STALL_TIMEOUT:
      g_value_set_uint (value, self->read_stall_timeout);
      break;
    case PROP_POOL_TRIM_INTERVAL:
      g_value_set_uint (value, yamux_pools_get_trim_interval ());
      break;
    case PROP_POOLED_BYTES:
      g_value_set_uint64 (value, yamux_pools_get_pooled_bytes ());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_yamux_connection_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (object);

  switch (prop_id)
    {
    case PROP_KEEPALIVE_INTERVAL:
      if (self->keepalive_interval != g_value_get_uint (value))
        {
          self->keepalive_interval = g_value_get_uint (value);
          if (self->context != NULL)
            session_arm_keepalive (self);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    case PROP_ACCEPT_BACKLOG:
      self->accept_backlog = g_value_get_uint (value);
      break;
    case PROP_MAX_STREAMS:
      self->max_streams = g_value_get_uint (value);
      break;
    case PROP_MAX_STREAM_WINDOW:
      self->max_stream_window = g_value_get_uint (value);
      break;
    case PROP_MAX_SESSION_WINDOW:
      self->max_session_window = g_value_get_uint64 (value);
      break;
    case PROP_READ_STALL_TIMEOUT:
      self->read_stall_timeout = g_value_get_uint (value);
      break;
    case PROP_POOL_TRIM_INTERVAL:
      yamux_pools_set_trim_interval (g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* Dropping the last reference closes the session normally. */
static void
foctet_yamux_connection_dispose (GObject *object)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (object);

  if (self->base != NULL && !self->shut)
    {
      session_send_go_away (self, FOCTET_YAMUX_GO_AWAY_NORMAL);
      session_end (self, NULL, TRUE, NULL);
    }

  G_OBJECT_CLASS (foctet_yamux_connection_parent_class)->dispose (object);
}

static void
foctet_yamux_connection_finalize (GObject *object)
{
  FoctetYamuxConnection *self = FOCTET_YAMUX_CONNECTION (object);

  g_assert (g_queue_is_empty (&self->accepts) && g_queue_is_empty (&self->opens));
  g_assert (g_queue_is_empty (&self->incoming));
  yamux_out_queue_clear (&self->out);
  g_clear_pointer (&self->channels, g_hash_table_unref);
  session_forget_channels (self);
  g_clear_pointer (&self->attached, g_hash_table_unref);
  yamux_remote_ids_clear (&self->remote_ids);
  g_clear_pointer (&self->chunk, yamux_read_chunk_unref);
  g_clear_object (&self->base);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (foctet_yamux_connection_parent_class)->finalize (object);
}

static void
foctet_yamux_connection_class_init (FoctetYamuxConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  FoctetConnectionClass *connection_class = FOCTET_CONNECTION_CLASS (klass);

  object_class->dispose = foctet_yamux_connection_dispose;
  object_class->finalize = foctet_yamux_connection_finalize;
  object_class->get_property = foctet_yamux_connection_get_property;
  object_class->set_property = foctet_yamux_connection_set_property;
  connection_class->open_stream_async = foctet_yamux_connection_open_stream_async;
  connection_class->open_stream_finish = foctet_yamux_connection_open_stream_finish;
  connection_class->accept_stream_async = foctet_yamux_connection_accept_stream_async;
  connection_class->accept_stream_finish = foctet_yamux_connection_accept_stream_finish;
  connection_class->close_async = foctet_yamux_connection_close_async;
  connection_class->close_finish = foctet_yamux_connection_close_finish;

  /**
   * FoctetYamuxConnection:rtt:
   *
   * The smoothed round-trip time measured with yamux pings, in
   * microseconds; 0 until the first answer.
   */
  properties[PROP_RTT] =
    g_param_spec_uint64 ("rtt", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:keepalive-interval:
   *
   * Seconds between keep-alive pings, 0 for none.  A ping still
   * unanswered when the next is due ends the session.
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_uint ("keepalive-interval", NULL, NULL, 0, G_MAXUINT / 1000,
                       FOCTET_YAMUX_DEFAULT_KEEPALIVE_INTERVAL,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:accept-backlog:
   *
   * Streams the peer opened that may wait to be accepted; the peer's
   * further streams are refused with RST.
   */
  properties[PROP_ACCEPT_BACKLOG] =
    g_param_spec_uint ("accept-backlog", NULL, NULL, 0, G_MAXUINT,
                       FOCTET_YAMUX_DEFAULT_ACCEPT_BACKLOG,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:max-streams:
   *
   * Streams the peer may have open at once (until both directions have
   * ended, or a reset): every one may hold a receive window and a
   * handler.  The peer's further streams are refused with RST, as QUIC's
   * stream limit holds them back (PROTOCOL §3 asks at least 256 there).
   */
  properties[PROP_MAX_STREAMS] =
    g_param_spec_uint ("max-streams", NULL, NULL, 0, G_MAXUINT,
                       FOCTET_YAMUX_DEFAULT_MAX_STREAMS,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:max-stream-window:
   *
   * The largest receive window auto-tuning grows one stream's to.
   */
  properties[PROP_MAX_STREAM_WINDOW] =
    g_param_spec_uint ("max-stream-window", NULL, NULL,
                       FOCTET_YAMUX_INITIAL_WINDOW, G_MAXINT32,
                       FOCTET_YAMUX_DEFAULT_MAX_STREAM_WINDOW,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:max-session-window:
   *
   * What the receive windows of all streams together may add up to, so
   * that the peer can make this side buffer that much at most; windows
   * grow only within it (every stream has its initial 256 KiB anyway).
   * Once the streams hold twice this much unread in all (32 initial
   * windows at least), a stream more data comes for is reset.
   */
  properties[PROP_MAX_SESSION_WINDOW] =
    g_param_spec_uint64 ("max-session-window", NULL, NULL, 0, G_MAXUINT64,
                         FOCTET_YAMUX_DEFAULT_MAX_SESSION_WINDOW,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:read-stall-timeout:
   *
   * Milliseconds the session waits, at most, for an application that is
   * reading a stream to read what it holds before reading on: while a
   * stream's application has more than twice its last read's size (at
   * least 512 KiB) unread, the session reads no further until it has
   * read half of that, or for this long without a read, or five times as
   * long in all.  A reading application gets its bytes fresh in the
   * cache; one that stops reading a stream holds the others up for one
   * wait.  0: the session reads as far ahead as the windows allow.
   */
  properties[PROP_READ_STALL_TIMEOUT] =
    g_param_spec_uint ("read-stall-timeout", NULL, NULL, 0, 60 * 1000,
                       FOCTET_YAMUX_DEFAULT_READ_STALL_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:pool-trim-interval:
   *
   * Milliseconds after which the big buffers that the sessions recycle
   * go back to malloc when no session took them: the pools give back at
   * each tick what lay unused since the tick before, so an idle process
   * holds none of them two intervals after its last transfer.  The
   * pools, and so this setting, are shared by all sessions of the
   * process; it is not applied at construction.
   */
  properties[PROP_POOL_TRIM_INTERVAL] =
    g_param_spec_uint ("pool-trim-interval", NULL, NULL, 1, G_MAXINT,
                       YAMUX_POOL_DEFAULT_TRIM_INTERVAL,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetYamuxConnection:pooled-bytes:
   *
   * Bytes the buffer pools of all sessions of the process hold for
   * reuse (see #FoctetYamuxConnection:pool-trim-interval).
   */
  properties[PROP_POOLED_BYTES] =
    g_param_spec_uint64 ("pooled-bytes", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_yamux_connection_class_finalize (FoctetYamuxConnectionClass *klass)
{
}

static void
foctet_yamux_connection_init (FoctetYamuxConnection *self)
{
  self->channels = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                          (GDestroyNotify) yamux_channel_unref);
  self->attached = g_hash_table_new (NULL, NULL);
  g_queue_init (&self->incoming);
  g_queue_init (&self->accepts);
  g_queue_init (&self->opens);
  g_queue_init (&self->out.chunks);
  self->max_stream_window = FOCTET_YAMUX_DEFAULT_MAX_STREAM_WINDOW;
  self->max_session_window = FOCTET_YAMUX_DEFAULT_MAX_SESSION_WINDOW;
  self->accept_backlog = FOCTET_YAMUX_DEFAULT_ACCEPT_BACKLOG;
  self->max_streams = FOCTET_YAMUX_DEFAULT_MAX_STREAMS;
  self->keepalive_interval = FOCTET_YAMUX_DEFAULT_KEEPALIVE_INTERVAL;
  self->read_stall_timeout = FOCTET_YAMUX_DEFAULT_READ_STALL_TIMEOUT;
}

FoctetYamuxConnection *
foctet_yamux_connection_new (GIOStream           *base_stream,
                             gboolean             is_initiator,
                             const FoctetNodeId  *peer_id,
                             const char          *transport_name,
                             const char          *local_address,
                             const char          *remote_address,
                             GError             **error)
{
  GInputStream *input = g_io_stream_get_input_stream (base_stream);
  GOutputStream *output = g_io_stream_get_output_stream (base_stream);
  FoctetYamuxConnection *self;

  if (!G_IS_POLLABLE_INPUT_STREAM (input) ||
      !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)) ||
      !G_IS_POLLABLE_OUTPUT_STREAM (output) ||
      !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "yamux needs a stream with pollable input and output; %s has not",
                   G_OBJECT_TYPE_NAME (base_stream));
      return NULL;
    }

  self = g_object_new (FOCTET_YAMUX_TYPE_CONNECTION,
                       "peer-id", peer_id,
                       "transport-name", transport_name,
                       "local-address", local_address,
                       "remote-address", remote_address,
                       "is-initiator", is_initiator,
                       NULL);
  self->base = g_object_ref (base_stream);
  self->input = G_POLLABLE_INPUT_STREAM (g_object_ref (input));
  self->output = G_POLLABLE_OUTPUT_STREAM (g_object_ref (output));
  self->context = g_main_context_ref_thread_default ();
  self->is_client = is_initiator;
  self->next_id = is_initiator ? 1 : 2;
  /* The peer opens the other parity. */
  yamux_remote_ids_init (&self->remote_ids, is_initiator ? 2 : 1);

  self->out.release = yamux_channel_release_queued;
  self->flush_source = g_source_new (&flush_source_funcs, sizeof (FlushSource));
  g_source_set_static_name (self->flush_source, "yamux session flush");
  g_source_set_callback (self->flush_source, session_flush_cb, self, NULL);
  g_source_attach (self->flush_source, self->context);
  self->stall_source = g_source_new (&stall_source_funcs, sizeof (StallSource));
  g_source_set_static_name (self->stall_source, "yamux session read stall");
  g_source_set_callback (self->stall_source, session_timer_cb, self, NULL);
  g_source_attach (self->stall_source, self->context);

  /* A first ping measures the round-trip time auto-tuning needs. */
  session_send_ping (self);
  session_arm_keepalive (self);
  session_start_reading (self);
  g_debug ("yamux session up as %s", is_initiator ? "client" : "server");
  return self;
}

void
foctet_yamux_connection_register (GTypeModule *module)
{
  foctet_yamux_connection_register_type (module);
}

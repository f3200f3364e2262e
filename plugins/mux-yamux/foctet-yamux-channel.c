/* foctet-yamux-channel.c: the state of one yamux stream in its session —
 * receive queue and window (auto-tuned), send window, half-close, reset —
 * and the application's non-blocking I/O on it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-yamux-session.h"

static void channel_remove_if_done (YamuxChannel *channel);

/* Makes the application's sources look at the channel again; this also
 * wakes their context when it is another one. */
void
yamux_channel_wake (YamuxChannel *channel,
                    gboolean      readers,
                    gboolean      writers)
{
  if (channel->app != NULL)
    foctet_channel_wake (channel->app, readers, writers);
}

void
yamux_channel_set_app (YamuxChannel  *channel,
                       FoctetChannel *app)
{
  channel->app = app;
}

YamuxChannel *
yamux_channel_new (FoctetYamuxConnection *self,
                   guint32                id,
                   gboolean               outbound)
{
  YamuxChannel *channel = g_new0 (YamuxChannel, 1);

  g_ref_count_init (&channel->ref_count);
  channel->session = self;
  channel->id = id;
  channel->outbound = outbound;
  g_queue_init (&channel->recv_queue);
  channel->recv_window = FOCTET_YAMUX_INITIAL_WINDOW;
  channel->recv_window_max = FOCTET_YAMUX_INITIAL_WINDOW;
  channel->read_ahead = READ_AHEAD_MIN;
  channel->last_window_update = g_get_monotonic_time ();
  channel->send_window = FOCTET_YAMUX_INITIAL_WINDOW;

  channel->in_table = TRUE;
  if (!outbound)
    self->n_remote++;
  g_hash_table_insert (self->channels, GUINT_TO_POINTER (id), channel);
  g_hash_table_add (self->attached, channel);
  self->recv_window_total += channel->recv_window_max;
  return channel;
}

YamuxChannel *
yamux_channel_ref (YamuxChannel *channel)
{
  g_ref_count_inc (&channel->ref_count);
  return channel;
}

void
yamux_channel_unref (YamuxChannel *channel)
{
  if (!g_ref_count_dec (&channel->ref_count))
    return;

  g_assert (channel->app == NULL);
  yamux_channel_forget_session (channel);
  g_queue_clear_full (&channel->recv_queue, (GDestroyNotify) g_bytes_unref);
  g_clear_error (&channel->error);
  g_free (channel);
}

guint32
yamux_channel_get_id (YamuxChannel *channel)
{
  return channel->id;
}

guint32
yamux_channel_get_receive_window (YamuxChannel *channel)
{
  return channel->recv_window_max;
}

guint32
yamux_channel_get_send_window (YamuxChannel *channel)
{
  return channel->send_window;
}

guint32
yamux_channel_get_receive_buffered (YamuxChannel *channel)
{
  return channel->recv_buffered;
}

guint64
yamux_channel_get_read_through (YamuxChannel *channel)
{
  return channel->recv_through;
}

/* An inbound stream carries ACK on its first frame from this side. */
guint16
yamux_channel_ack_flag (YamuxChannel *channel)
{
  if (channel->outbound || channel->ack_sent)
    return 0;
  channel->ack_sent = TRUE;
  return FOCTET_YAMUX_FLAG_ACK;
}

/* What @channel holds unread changes by @delta: its session counts it
 * in all (yamux_session_may_buffer ()). */
static void
channel_buffered_add (YamuxChannel *channel,
                      gssize        delta)
{
  channel->recv_buffered += delta;
  if (channel->session != NULL)
    channel->session->recv_buffered += delta;
}

static void
channel_drop_received (YamuxChannel *channel)
{
  g_queue_clear_full (&channel->recv_queue, (GDestroyNotify) g_bytes_unref);
  channel->recv_head_offset = 0;
  channel_buffered_add (channel, -(gssize) channel->recv_buffered);
  if (channel->session != NULL)
    yamux_session_channel_read (channel->session, channel, 0);
}

/* Grants consumed bytes back to the sender, growing the window when the
 * sender used half of it within two round trips of the last update. */
static void
channel_send_window_update (YamuxChannel *channel)
{
  FoctetYamuxConnection *self = channel->session;
  gint64 now = g_get_monotonic_time ();
  gint64 rtt = MAX (self->rtt, RTT_FLOOR_US);
  guint32 delta = channel->recv_consumed;

  if (now - channel->last_window_update < 2 * rtt &&
      channel->recv_window_max < self->max_stream_window)
    {
      guint64 grow = MIN (channel->recv_window_max,
                          self->max_stream_window - channel->recv_window_max);
      guint64 room = self->max_session_window > self->recv_window_total
                     ? self->max_session_window - self->recv_window_total : 0;

      grow = MIN (grow, room);
      if (grow > 0)
        {
          g_debug ("Stream %u: receive window grows to %" G_GUINT64_FORMAT " bytes",
                   channel->id, channel->recv_window_max + grow);
          channel->recv_window_max += grow;
          self->recv_window_total += grow;
          delta += grow;
        }
    }
  channel->last_window_update = now;
  channel->recv_window += delta;
  channel->recv_consumed = 0;
  yamux_session_queue_frame (self, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, yamux_channel_ack_flag (channel),
                             channel->id, delta);
}

static void
channel_consumed (YamuxChannel *channel,
                  gsize         n)
{
  channel->recv_consumed += n;
  if (channel->session != NULL && channel->in_table && !channel->recv_fin && !channel->reset &&
      channel->recv_consumed >= channel->recv_window_max / 2)
    channel_send_window_update (channel);
}

/* Copies up to @count received bytes to @out. */
static gsize
channel_take_received (YamuxChannel *channel,
                       guint8       *out,
                       gsize         count)
{
  gsize done = foctet_bytes_queue_take (&channel->recv_queue, &channel->recv_head_offset, out, count);

  channel_buffered_add (channel, -(gssize) done);
  return done;
}

/* Where the session may put @channel's next received bytes itself: the
 * rest of the buffer of the application's waiting asynchronous read
 * (foctet_channel_get_read_space()), once what the channel holds went
 * there first.  NULL when no read waits with room left. */
guint8 *
yamux_channel_read_space (YamuxChannel *channel,
                          gsize        *space)
{
  guint8 *room;

  *space = 0;
  if (channel->app == NULL || channel->read_closed || channel->reset || channel->recv_fin)
    return NULL;
  room = foctet_channel_get_read_space (channel->app, space);
  if (room != NULL && channel->recv_buffered > 0)
    {
      gsize moved = channel_take_received (channel, room, *space);

      foctet_channel_read_space_filled (channel->app, moved);
      channel_consumed (channel, moved);
      if (channel->recv_buffered > 0)
        {
          *space = 0;
          return NULL;
        }
      room = foctet_channel_get_read_space (channel->app, space);
    }
  return room;
}

/* The session put @n bytes where yamux_channel_read_space() said. */
void
yamux_channel_read_space_filled (YamuxChannel *channel,
                                 gsize         n)
{
  channel->recv_through += n;
  foctet_channel_read_space_filled (channel->app, n);
  channel_consumed (channel, n);
}

/* Why @channel's reads and writes fail: it was reset. */
static void
channel_set_reset_error (YamuxChannel  *channel,
                         GError       **error)
{
  if (channel->reset_by_peer)
    g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET, "The peer reset yamux stream %u", channel->id);
  else if (channel->reset_for_unread)
    g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET,
                 "Yamux stream %u was reset: the streams of its session held more unread bytes than it allows",
                 channel->id);
  else
    g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET, "Yamux stream %u was reset", channel->id);
}

gboolean
yamux_channel_is_readable (YamuxChannel *channel)
{
  /* The session waiting for this application to read on through it. */
  return channel->reset || channel->read_closed || channel->recv_buffered > 0 ||
         channel->recv_fin || channel->error != NULL ||
         (channel->session != NULL && channel->session->stall_channel == channel);
}

gssize
yamux_channel_read (YamuxChannel  *channel,
                    void          *buffer,
                    gsize          count,
                    GError       **error)
{
  guint8 *out = buffer;
  gsize done = 0;

  if (channel->reset)
    {
      channel_set_reset_error (channel, error);
      return -1;
    }
  if (channel->read_closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is closed");
      return -1;
    }
  if (count == 0 || (channel->recv_buffered == 0 && channel->recv_fin))
    return 0;
  if (channel->recv_buffered == 0 && channel->error != NULL)
    {
      g_propagate_error (error, g_error_copy (channel->error));
      return -1;
    }

  done = channel_take_received (channel, out, count);
  /* With nothing left here, a big read goes on in the session's stream. */
  if (channel->recv_buffered == 0 && done < count && count >= READ_THROUGH_MIN &&
      channel->session != NULL && !channel->recv_fin)
    {
      gsize n = yamux_session_read_through (channel->session, channel, out + done, count - done);

      channel->recv_through += n;
      done += n;
    }
  if (done == 0)
    {
      /* Nothing to read through (a small read, or the session's stream
       * has nothing): the session reads for this channel again. */
      if (channel->session != NULL)
        yamux_session_channel_read (channel->session, channel, 0);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "No data on the yamux stream yet");
      return -1;
    }
  channel->read_ahead = CLAMP (count, READ_AHEAD_MIN / 2, READ_AHEAD_MAX / 2) * 2;
  channel_consumed (channel, done);
  if (channel->session != NULL)
    yamux_session_channel_read (channel->session, channel, count);
  return done;
}

static gboolean
channel_check_can_write (YamuxChannel  *channel,
                         GError       **error)
{
  if (channel->reset)
    {
      channel_set_reset_error (channel, error);
      return FALSE;
    }
  if (channel->error != NULL)
    {
      g_propagate_error (error, g_error_copy (channel->error));
      return FALSE;
    }
  if (channel->fin_sent)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                           "Stream was closed for writing");
      return FALSE;
    }
  return TRUE;
}

/* Why a write of @channel, an open one, would wait: the peer's window,
 * the session's send queue or the stream's share of it; NULL when it
 * need not.  A writer that waits for its share is woken when its queued
 * bytes drop below it (yamux_channel_release_queued()). */
static const char *
channel_write_blocked_by (YamuxChannel *channel)
{
  if (channel->send_window == 0)
    return "The peer's receive window is full";
  if (channel->session->out.bytes >= SEND_QUEUE_LIMIT)
    return "The session's send queue is full";
  if (channel->send_queued >= yamux_session_stream_share (channel->session))
    {
      channel->share_full = TRUE;
      return "The stream's share of the send queue is full";
    }
  return NULL;
}

gboolean
yamux_channel_is_writable (YamuxChannel *channel)
{
  if (channel->reset || channel->error != NULL || channel->fin_sent || channel->session == NULL)
    return TRUE;
  return channel_write_blocked_by (channel) == NULL;
}

/* Queues @frames, Data frames of @channel (owned), counted as the
 * channel's until they leave the queue (yamux_channel_release_queued()). */
static void
channel_push_data (YamuxChannel *channel,
                   GBytes       *frames)
{
  channel->send_queued += g_bytes_get_size (frames);
  yamux_out_queue_push_data (&channel->session->out, frames, yamux_channel_ref (channel));
}

/* Queues the rest of the channel's last Data frame, @len bytes at @data,
 * borrowed (see yamux_out_queue_push_borrowed()), counted likewise. */
static void
channel_push_borrowed (YamuxChannel *channel,
                       const guint8 *data,
                       gsize         len)
{
  channel->send_queued += len;
  yamux_out_queue_push_borrowed (&channel->session->out, data, len, yamux_channel_ref (channel));
}

/* The session's queue let go of @len bytes of the channel's Data frames
 * (a YamuxOutReleaseFunc, with the reference channel_push_data() took). */
void
yamux_channel_release_queued (gpointer owner,
                              gsize    len)
{
  YamuxChannel *channel = owner;

  g_assert (channel->send_queued >= len);
  channel->send_queued -= len;
  if (channel->share_full && channel->session != NULL &&
      channel->send_queued < yamux_session_stream_share (channel->session))
    {
      channel->share_full = FALSE;
      yamux_channel_wake (channel, FALSE, TRUE);
    }
  yamux_channel_unref (channel);
}

/* The largest buffer of frames one write makes. */
static YamuxBufferPool frames_pool = YAMUX_BUFFER_POOL_INIT (
  MAX_WRITE + (MAX_WRITE + MAX_DATA_FRAME - 1) / MAX_DATA_FRAME * FOCTET_YAMUX_HEADER_SIZE);

static void
frames_free (gpointer frames)
{
  yamux_pool_put (&frames_pool, frames);
}

/* Writes @n bytes of @buffer as Data frames straight to the session's
 * stream, without copying them first: each frame's header goes with the
 * start of its payload in one small piece (a stream that seals each piece
 * into records of its own, as TLS does, then makes no record of just a
 * header), and the rest of the payload is handed over where it is.
 * Whatever the stream does not take now is copied into the queue before
 * this returns, so @buffer is free again either way. */
static void
write_through (YamuxChannel *channel,
               const guint8 *buffer,
               gsize         n)
{
  FoctetYamuxConnection *self = channel->session;

  for (gsize offset = 0; offset < n;)
    {
      gsize len = MIN (n - offset, MAX_DATA_FRAME);
      gsize head = MIN (len, WRITE_THROUGH_HEAD);
      FoctetYamuxHeader header = { FOCTET_YAMUX_VERSION, FOCTET_YAMUX_TYPE_DATA,
                                   yamux_channel_ack_flag (channel), channel->id, len };
      guint8 *start = g_malloc (FOCTET_YAMUX_HEADER_SIZE + head);

      foctet_yamux_header_encode (&header, start);
      memcpy (start + FOCTET_YAMUX_HEADER_SIZE, buffer + offset, head);
      channel_push_data (channel, g_bytes_new_take (start, FOCTET_YAMUX_HEADER_SIZE + head));
      if (len > head)
        channel_push_borrowed (channel, buffer + offset + head, len - head);
      offset += len;
    }
  yamux_session_write_through (self);
}

gssize
yamux_channel_write (YamuxChannel  *channel,
                     const void    *buffer,
                     gsize          count,
                     GError       **error)
{
  FoctetYamuxConnection *self = channel->session;
  const char *blocked_by;
  guint8 *frames, *p;
  gsize n, n_frames;

  if (!channel_check_can_write (channel, error))
    return -1;
  g_assert (self != NULL);
  if (count == 0)
    return 0;
  if (self->out.bytes >= SEND_QUEUE_LIMIT)
    self->writers_blocked = TRUE;
  if ((blocked_by = channel_write_blocked_by (channel)) != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, blocked_by);
      return -1;
    }

  n = MIN (MIN (count, channel->send_window), MAX_WRITE);
  n = MIN (n, yamux_session_stream_share (self) - channel->send_queued);
  if (n >= WRITE_THROUGH_MIN && yamux_session_can_write_through (self))
    {
      write_through (channel, buffer, n);
      channel->send_window -= n;
      return n;
    }

  /* The one copy of the payload, into a buffer where each frame's
   * header goes right before its part. */
  n_frames = (n + MAX_DATA_FRAME - 1) / MAX_DATA_FRAME;
  /* Small writes get a buffer of their own; big ones a recycled one. */
  if (n < 64 * 1024)
    frames = g_malloc (n + n_frames * FOCTET_YAMUX_HEADER_SIZE);
  else
    frames = yamux_pool_get (&frames_pool, self->context);
  p = frames;
  for (gsize offset = 0; offset < n;)
    {
      gsize len = MIN (n - offset, MAX_DATA_FRAME);
      FoctetYamuxHeader header = { FOCTET_YAMUX_VERSION, FOCTET_YAMUX_TYPE_DATA,
                                   yamux_channel_ack_flag (channel), channel->id, len };

      foctet_yamux_header_encode (&header, p);
      memcpy (p + FOCTET_YAMUX_HEADER_SIZE, (const guint8 *) buffer + offset, len);
      p += FOCTET_YAMUX_HEADER_SIZE + len;
      offset += len;
    }
  channel_push_data (channel, n < 64 * 1024 ? g_bytes_new_take (frames, p - frames)
                                          : g_bytes_new_with_free_func (frames, p - frames,
                                                                        frames_free, frames));
  yamux_session_queued (self);
  channel->send_window -= n;
  return n;
}

gboolean
yamux_channel_close_write (YamuxChannel  *channel,
                           GError       **error)
{
  if (channel->fin_sent && !channel->reset)
    return TRUE;
  if (!channel_check_can_write (channel, error))
    return FALSE;

  channel->fin_sent = TRUE;
  yamux_session_queue_frame (channel->session, FOCTET_YAMUX_TYPE_WINDOW_UPDATE,
                             FOCTET_YAMUX_FLAG_FIN | yamux_channel_ack_flag (channel), channel->id, 0);
  yamux_channel_wake (channel, FALSE, TRUE);
  channel_remove_if_done (channel);
  return TRUE;
}

void
yamux_channel_close_read (YamuxChannel *channel)
{
  gsize dropped = channel->recv_buffered;

  if (channel->read_closed)
    return;
  channel->read_closed = TRUE;
  channel_drop_received (channel);
  channel_consumed (channel, dropped);
  yamux_channel_wake (channel, TRUE, FALSE);
}

void
yamux_channel_close (YamuxChannel *channel)
{
  if (channel->closed)
    return;
  channel->closed = TRUE;
  channel->read_closed = TRUE;
  channel_drop_received (channel);
  if (channel->session != NULL && channel->in_table && !channel->reset && !channel->fin_sent)
    yamux_channel_close_write (channel, NULL);
  yamux_channel_wake (channel, TRUE, TRUE);
  channel_remove_if_done (channel);
}

void
yamux_channel_do_reset (YamuxChannel *channel,
                        gboolean      by_peer)
{
  channel->reset = TRUE;
  channel->reset_by_peer = by_peer;
  channel_drop_received (channel);
  if (!by_peer)
    yamux_session_queue_frame (channel->session, FOCTET_YAMUX_TYPE_WINDOW_UPDATE,
                               FOCTET_YAMUX_FLAG_RST | yamux_channel_ack_flag (channel), channel->id, 0);
  yamux_channel_wake (channel, TRUE, TRUE);
  channel_remove_if_done (channel);
}

/* yamux has no room for @code: the peer only learns that the stream was
 * reset. */
void
yamux_channel_reset (YamuxChannel *channel,
                     guint32       code)
{
  if (channel->reset || channel->session == NULL || !channel->in_table)
    return;
  g_debug ("Resetting stream %u (code %u)", channel->id, code);
  yamux_channel_do_reset (channel, FALSE);
}

/* The application dropped every object of the stream: a stream it had
 * half-closed is treated as closed, any other is reset. */
void
yamux_channel_release (YamuxChannel *channel)
{
  channel->app = NULL;
  if (channel->session == NULL || !channel->in_table)
    return;
  if (channel->fin_sent)
    yamux_channel_close (channel);
  else
    yamux_channel_reset (channel, FOCTET_CLOSE_CODE_NO_ERROR);
}

static void
channel_remove_if_done (YamuxChannel *channel)
{
  FoctetYamuxConnection *self = channel->session;
  gboolean was_unacked;

  if (self == NULL || !channel->in_table)
    return;
  if (!channel->reset && !(channel->fin_sent && channel->recv_fin))
    return;

  channel->in_table = FALSE;
  if (!channel->outbound)
    self->n_remote--;
  self->recv_window_total -= channel->recv_window_max;
  was_unacked = channel->outbound && !channel->acked;
  if (was_unacked)
    {
      channel->acked = TRUE;
      self->n_unacked--;
    }
  /* Its last reference may go here: @channel is not touched after. */
  g_object_ref (self);
  g_hash_table_remove (self->channels, GUINT_TO_POINTER (channel->id));
  if (was_unacked)
    yamux_session_open_pending (self);
  yamux_session_check_drained (self);
  g_object_unref (self);
}

void
yamux_channel_deliver (YamuxChannel   *channel,
                       YamuxReadChunk *chunk,
                       gsize           offset,
                       gsize           len)
{
  GBytes *piece;

  if (channel->read_closed || channel->reset)
    {
      channel_consumed (channel, len);
      return;
    }
  if (channel->session != NULL && !yamux_session_may_buffer (channel->session, len))
    {
      g_debug ("Resetting stream %u: its session's streams hold %" G_GUINT64_FORMAT " bytes unread",
               channel->id, channel->session->recv_buffered);
      channel->reset_for_unread = TRUE;
      yamux_channel_do_reset (channel, FALSE);
      channel_consumed (channel, len);
      return;
    }
  /* A piece kept as a slice keeps its whole read chunk alive.  Past
   * max-session-window unread (a peer making this side buffer, not a
   * stream being read), pieces are copied, so what is held is what was
   * received. */
  if (len < COPY_BELOW ||
      (channel->session != NULL && channel->session->recv_buffered > channel->session->max_session_window))
    piece = g_bytes_new (chunk->data + offset, len);
  else
    piece = g_bytes_new_with_free_func (chunk->data + offset, len,
                                        (GDestroyNotify) yamux_read_chunk_unref, yamux_read_chunk_ref (chunk));
  g_queue_push_tail (&channel->recv_queue, piece);
  channel_buffered_add (channel, len);
  yamux_channel_wake (channel, TRUE, FALSE);
}

void
yamux_channel_receive_fin (YamuxChannel *channel)
{
  if (channel->recv_fin)
    return;
  channel->recv_fin = TRUE;
  yamux_channel_wake (channel, TRUE, FALSE);
  channel_remove_if_done (channel);
}

/* The channel no longer refers to its session (it is freed, or the
 * session ended).  A channel out of the session's table (done in both
 * directions, or reset) is still its application's, which may close it
 * after the session is gone. */
void
yamux_channel_forget_session (YamuxChannel *channel)
{
  if (channel->session == NULL)
    return;
  g_hash_table_remove (channel->session->attached, channel);
  channel->session = NULL;
}

/* The session ended: the channel keeps what it received, and everything
 * else fails with @error. */
void
yamux_channel_detach (YamuxChannel *channel,
                      const GError *error)
{
  yamux_channel_forget_session (channel);
  channel->in_table = FALSE;
  if (channel->error == NULL)
    channel->error = g_error_copy (error);
  yamux_channel_wake (channel, TRUE, TRUE);
}


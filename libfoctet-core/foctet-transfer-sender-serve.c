/* foctet-transfer-sender-serve.c: a sender's sessions and streams.
 * Each stream of the protocol is read, never more than the requests it
 * may have ahead of the answers, its first message deciding its role
 * (HELLO: the control stream of a new session; GET: a data stream of
 * the session on its connection); requests are answered in order, and
 * DONE with DONE_ACK ends the session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "foctet-transfer-sender-private.h"

/* Sessions and serving */

StreamServe *
stream_serve_ref (StreamServe *ss)
{
  ss->ref_count++;
  return ss;
}

void
stream_serve_unref (StreamServe *ss)
{
  if (--ss->ref_count > 0)
    return;
  g_assert (ss->ended);
  g_queue_clear_full (&ss->requests, (GDestroyNotify) foctet_transfer_message_free);
  /* Every chunk came back (each held a reference), every write of one
   * called back: the thread is done with this stream's file. */
  g_queue_clear_full (&ss->chunks, sender_chunk_free);
  if (ss->io_fd >= 0)
    close (ss->io_fd);
  g_clear_object (&ss->cancellable);
  g_clear_object (&ss->stream);
  g_clear_object (&ss->connection);
  g_clear_object (&ss->sender);
  g_free (ss->refuse_text);
  g_free (ss);
}

/* Ends the stream: no more reads or writes; @reset_code resets it,
 * G_MAXUINT32 closes it normally. */
void
stream_serve_end (StreamServe *ss,
                  guint32      reset_code)
{
  FoctetTransferSender *self = ss->sender;

  if (ss->ended)
    return;
  ss->ended = TRUE;
  foctet_source_clear (&ss->timeout);
  g_cancellable_cancel (ss->cancellable);
  if (reset_code != G_MAXUINT32)
    foctet_stream_reset (ss->stream, reset_code);
  g_io_stream_close_async (G_IO_STREAM (ss->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_ptr_array_remove_fast (self->streams, ss);
  if (self->session != NULL && ss->role == ROLE_DATA && ss->connection == self->session->connection)
    self->session->n_data_streams--;
  if (self->session != NULL && self->session->control == ss)
    {
      g_autoptr(GError) error = NULL;

      if (!self->session->acked)
        error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                     "The receiver ended the transfer before it was complete");
      sender_session_end (self, error);
    }
  stream_serve_unref (ss);
}

static void
serve_return (FoctetTransferSender *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->serve_task);

  foctet_source_clear (&self->serve_cancelled);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

void
sender_unset_handler (FoctetTransferSender *self)
{
  if (self->handler_set)
    {
      self->handler_set = FALSE;
      foctet_node_set_protocol_handler (self->node, FOCTET_PROTOCOL_TRANSFER, NULL, NULL, NULL);
    }
}

/* The session is over: its streams are reset, the sender waits for the
 * next receiver (or, after DONE_ACK, is done). */
void
sender_session_end (FoctetTransferSender *self,
                    const GError         *error)
{
  Session *session = self->session;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new ();
  gboolean acked;

  if (session == NULL)
    return;
  self->session = NULL;
  acked = session->acked;

  for (guint i = 0; i < self->streams->len; i++)
    {
      StreamServe *ss = g_ptr_array_index (self->streams, i);

      if (ss->connection == session->connection)
        g_ptr_array_add (doomed, ss);
    }
  for (guint i = 0; i < doomed->len; i++)
    {
      StreamServe *ss = g_ptr_array_index (doomed, i);

      stream_serve_end (ss, ss == session->control ? G_MAXUINT32 : FOCTET_CLOSE_CODE_INTERNAL_ERROR);
    }

  g_signal_handler_disconnect (session->connection, session->closed_id);
  if (acked)
    foctet_connection_close_async (session->connection, FOCTET_CLOSE_CODE_NO_ERROR, "transfer complete",
                                   NULL, NULL, NULL);
  g_object_unref (session->connection);
  g_free (session);

  if (acked)
    g_debug ("Transfer: the receiver confirmed every entry");
  else
    g_debug ("Transfer: session ended: %s", error != NULL ? error->message : "no reason");
  sender_emit_session_ended (self, acked ? NULL : error);

  if (acked)
    {
      self->served = TRUE;
      sender_unset_handler (self);
      serve_return (self);
    }
}

static void
session_closed_cb (FoctetConnection *connection,
                   const GError     *error,
                   gpointer          user_data)
{
  FoctetTransferSender *self = user_data;
  g_autoptr(GError) closed = NULL;

  if (error == NULL)
    closed = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                  "The receiver's connection closed");
  sender_session_end (self, error != NULL ? error : closed);
}

static void
stream_close_write_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    g_debug ("Transfer stream %" G_GUINT64_FORMAT ": half-close: %s",
             foctet_stream_get_id (ss->stream), error->message);
  ss->write_closed = TRUE;
  /* A data stream is done once both sides half-closed; the control
   * stream after DONE_ACK waits for the receiver's half-close (or the
   * linger timer). */
  if (!ss->ended && ss->read_done && !ss->reading)
    stream_serve_end (ss, G_MAXUINT32);
  stream_serve_unref (ss);
}

static void
stream_close_write (StreamServe *ss)
{
  foctet_stream_close_write_async (ss->stream, G_PRIORITY_DEFAULT, ss->cancellable,
                                   stream_close_write_cb, stream_serve_ref (ss));
}

static void
stream_write_message_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  ss->writing = FALSE;
  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      if (!ss->ended)
        {
          g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream),
                   error->message);
          stream_serve_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
        }
      stream_serve_unref (ss);
      return;
    }
  if (ss->ended)
    {
      stream_serve_unref (ss);
      return;
    }
  if (ss->ending)
    stream_close_write (ss);
  else
    {
      stream_serve_pop_request (ss);
      stream_serve_read_next (ss);
      stream_serve_write_next (ss);
    }
  stream_serve_unref (ss);
}

void
stream_serve_write_message (StreamServe           *ss,
                            FoctetTransferMessage *message)
{
  g_autoptr(FoctetTransferMessage) owned = message;

  ss->writing = TRUE;
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), owned,
                                       G_PRIORITY_DEFAULT, ss->cancellable, stream_write_message_cb,
                                       stream_serve_ref (ss));
}

/* Answers with ERROR @code and ends the stream (half-close, read no
 * more); the session with it if this is its control stream. */
void
stream_serve_refuse (StreamServe *ss,
                     guint16      code,
                     const char  *text)
{
  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": refusing: %s (%s)", foctet_stream_get_id (ss->stream),
           foctet_transfer_error_code_describe (code), text);
  ss->ending = TRUE;
  ss->read_done = TRUE;
  g_queue_clear_full (&ss->requests, (GDestroyNotify) foctet_transfer_message_free);
  ss->prefetch_pos = 0;
  ss->prefetch_offset = 0;
  foctet_source_clear (&ss->timeout);
  if (ss->writing)
    {
      /* Mid-answer: the ERROR cannot be framed in; reset. */
      stream_serve_end (ss, code == FOCTET_TRANSFER_ERROR_CODE_MALFORMED ? FOCTET_CLOSE_CODE_PROTOCOL_ERROR
                                                                         : FOCTET_CLOSE_CODE_INTERNAL_ERROR);
      return;
    }
  stream_serve_drop_chunks (ss, TRUE);
  stream_serve_write_message (ss, foctet_transfer_message_new_error (code, text));
}

/* As stream_serve_refuse (), for a message read after requests not yet
 * answered (GETs pipelined before a bad message): the stream is read no
 * more, they are answered in order, and the ERROR comes in the bad
 * message's turn. */
static void
stream_serve_refuse_in_turn (StreamServe *ss,
                             guint16      code,
                             const char  *text)
{
  ss->read_done = TRUE;
  if (g_queue_is_empty (&ss->requests) && !ss->writing)
    {
      stream_serve_refuse (ss, code, text);
      return;
    }
  ss->refuse_code = code;
  g_free (ss->refuse_text);
  ss->refuse_text = g_strdup (text);
}

/* Requests: read from the stream, answered in order */

static void
done_ack_linger_expired (StreamServe *ss)
{
  g_debug ("Transfer: the receiver did not half-close within %d s of DONE_ACK",
           FOCTET_TRANSFER_DONE_ACK_LINGER);
  ss->read_done = TRUE;
  stream_serve_end (ss, G_MAXUINT32);
}

static gboolean
linger_cb (gpointer user_data)
{
  StreamServe *ss = user_data;

  g_clear_pointer (&ss->timeout, g_source_unref);
  done_ack_linger_expired (ss);
  return G_SOURCE_REMOVE;
}

/* The head of the queue: a MANIFEST to send, a GET or a DONE to answer. */
void
stream_serve_write_next (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  FoctetTransferMessage *head;

  if (ss->ended || ss->writing || ss->ending)
    return;
  head = g_queue_peek_head (&ss->requests);
  if (head == NULL && ss->refuse_text != NULL)
    {
      g_autofree char *text = g_steal_pointer (&ss->refuse_text);

      stream_serve_refuse (ss, ss->refuse_code, text);
      return;
    }
  if (head == NULL)
    {
      /* A data stream the receiver half-closed, all answered. */
      if (ss->read_done && ss->role == ROLE_DATA)
        {
          ss->ending = TRUE;
          stream_close_write (ss);
        }
      return;
    }

  switch (head->type)
    {
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      ss->writing = TRUE;
      stream_serve_write_message (ss, foctet_transfer_message_new_manifest (head->manifest));
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      stream_serve_get_start (ss, head);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      {
        guint32 n = foctet_transfer_manifest_get_n_entries (self->manifest);
        g_autofree char *text = NULL;

        if (head->count != n)
          {
            text = g_strdup_printf ("DONE with %" G_GUINT32_FORMAT " entries; the manifest has %"
                                    G_GUINT32_FORMAT, head->count, n);
            stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, text);
            return;
          }
        if (self->session != NULL && self->session->control == ss)
          self->session->acked = TRUE;
        ss->ending = TRUE;
        /* Wait for the receiver's half-close, within limits. */
        ss->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (FOCTET_TRANSFER_DONE_ACK_LINGER),
                                                     linger_cb, ss, self->context);
        stream_serve_write_message (ss, foctet_transfer_message_new_done_ack ());
      }
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
session_start (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  g_autofree char *peer = foctet_node_id_to_string (foctet_connection_get_peer_id (ss->connection));
  Session *session = g_new0 (Session, 1);

  session->connection = g_object_ref (ss->connection);
  session->control = ss;
  session->closed_id = g_signal_connect (ss->connection, "closed", G_CALLBACK (session_closed_cb), self);
  self->session = session;
  ss->role = ROLE_CONTROL;
  g_queue_push_tail (&ss->requests, foctet_transfer_message_new_manifest (self->manifest));
  g_debug ("Transfer: serving %s over %s", peer, foctet_connection_get_transport_name (ss->connection));
  sender_emit_session_started (self, peer);
}

/* A stream's first message decides its role. */
static void
stream_first_message (StreamServe           *ss,
                      FoctetTransferMessage *message)
{
  FoctetTransferSender *self = ss->sender;

  foctet_source_clear (&ss->timeout);
  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      if (!foctet_transfer_secret_equal (message->secret, self->secret))
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET, "wrong secret");
      else if (self->served)
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BUSY, "already served a receiver");
      else if (self->session != NULL && self->session->connection != ss->connection &&
               foctet_node_id_equal (foctet_connection_get_peer_id (self->session->connection),
                                     foctet_connection_get_peer_id (ss->connection)))
        {
          /* The receiver's node again, on a new connection: it was
           * killed and started anew, or its path broke, before this side
           * noticed the old connection is dead (that takes up to the
           * transport's idle timeout).  The new connection takes over. */
          FoctetConnection *old = g_object_ref (self->session->connection);
          g_autoptr(GError) replaced = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                                            "The receiver came back on a new connection");

          g_debug ("Transfer: the receiver is back on a new connection; dropping the old one");
          sender_session_end (self, replaced);
          foctet_connection_close_async (old, FOCTET_CLOSE_CODE_GOING_AWAY,
                                         "the same receiver came back on a new connection", NULL, NULL, NULL);
          g_object_unref (old);
          session_start (ss);
        }
      else if (self->session != NULL && self->session->connection == ss->connection)
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE,
                             "a second HELLO: this connection's session is open");
      else if (self->session != NULL)
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BUSY, "already serving another receiver");
      else
        session_start (ss);
      foctet_transfer_message_free (message);
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      if (self->session == NULL || self->session->connection != ss->connection)
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET, "no session on this connection");
      else if (self->session->n_data_streams >= FOCTET_TRANSFER_MAX_DATA_STREAMS)
        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_LIMITS, "too many data streams");
      else
        {
          ss->role = ROLE_DATA;
          self->session->n_data_streams++;
          g_queue_push_tail (&ss->requests, g_steal_pointer (&message));
        }
      foctet_transfer_message_free (message);
      break;
    default:
      {
        g_autofree char *text = g_strdup_printf ("%s as the first message of a stream",
                                                 foctet_transfer_message_type_to_string (message->type));

        stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
        foctet_transfer_message_free (message);
      }
    }
}

static void
stream_message (StreamServe           *ss,
                FoctetTransferMessage *message)
{
  FoctetTransferSender *self = ss->sender;
  g_autofree char *text = NULL;

  if (ss->role == ROLE_NONE)
    {
      stream_first_message (ss, message);
      return;
    }
  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_GET:
      g_queue_push_tail (&ss->requests, message);
      return;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      if (ss->role == ROLE_CONTROL)
        {
          /* Answered in order, after the GETs before it. */
          g_queue_push_tail (&ss->requests, message);
          return;
        }
      break;
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      if (ss->role == ROLE_CONTROL)
        {
          g_autoptr(GError) error = foctet_transfer_message_to_error (message);

          foctet_transfer_message_free (message);
          ss->read_done = TRUE;
          if (self->session != NULL && self->session->control == ss)
            sender_session_end (self, error);
          stream_serve_end (ss, G_MAXUINT32);
          return;
        }
      break;
    default:
      break;
    }
  text = g_strdup_printf ("%s on a %s stream", foctet_transfer_message_type_to_string (message->type),
                          ss->role == ROLE_CONTROL ? "control" : "data");
  foctet_transfer_message_free (message);
  stream_serve_refuse_in_turn (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
}

/* The size of the message begun in the input buffer, header included,
 * as far as it is known: the header's alone until the header is all
 * there. */
static gsize
buffered_message_size (StreamServe *ss)
{
  const guint8 *header = ss->in + ss->in_start;

  if (ss->in_end - ss->in_start < FOCTET_TRANSFER_MESSAGE_HEADER_SIZE)
    return FOCTET_TRANSFER_MESSAGE_HEADER_SIZE;
  return FOCTET_TRANSFER_MESSAGE_HEADER_SIZE + (gsize) (((guint32) header[1] << 24) | ((guint32) header[2] << 16) |
                                                        ((guint32) header[3] << 8) | header[4]);
}

/* A read came back: the messages in it are taken in order, as far as
 * they are whole. */
static void
stream_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  ss->reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (ss->ended)
    {
      stream_serve_unref (ss);
      return;
    }
  if (ss->ending)
    {
      /* After a final answer (DONE_ACK, or an ERROR): the receiver's
       * half-close, or anything else, is the last thing read. */
      ss->read_done = TRUE;
      if (ss->write_closed)
        stream_serve_end (ss, G_MAXUINT32);
      stream_serve_unref (ss);
      return;
    }
  if (n < 0)
    {
      ss->read_done = TRUE;
      g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream), error->message);
      stream_serve_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
      stream_serve_unref (ss);
      return;
    }
  if (n == 0)
    {
      ss->read_done = TRUE;
      if (ss->in_start < ss->in_end)
        {
          g_autofree char *text = g_strdup_printf ("truncated transfer %s message: the stream ended after %"
                                                   G_GSIZE_FORMAT " of its bytes",
                                                   foctet_transfer_message_type_to_string (ss->in[ss->in_start]),
                                                   ss->in_end - ss->in_start);

          stream_serve_refuse_in_turn (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, text);
        }
      /* The receiver half-closed. */
      else if (ss->role == ROLE_DATA)
        stream_serve_write_next (ss);
      else
        stream_serve_end (ss, G_MAXUINT32);
      stream_serve_unref (ss);
      return;
    }
  ss->in_end += n;
  while (!ss->ended && !ss->ending && !ss->read_done)
    {
      FoctetTransferMessage *message;
      gsize consumed;

      if (!foctet_transfer_message_parse (ss->in + ss->in_start, ss->in_end - ss->in_start, &consumed, &message,
                                          &error))
        {
          if (error != NULL)
            stream_serve_refuse_in_turn (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, error->message);
          else if (buffered_message_size (ss) > IN_SIZE)
            {
              /* Longer than anything a receiver sends (a MANIFEST): not read. */
              g_autofree char *text = g_strdup_printf ("%s from the receiver",
                                                       foctet_transfer_message_type_to_string (ss->in[ss->in_start]));

              stream_serve_refuse_in_turn (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
            }
          break;
        }
      ss->in_start += consumed;
      stream_message (ss, message);
    }
  stream_serve_read_next (ss);
  stream_serve_write_next (ss);
  stream_serve_unref (ss);
}

/* Reads what the receiver sent, never more than the requests it may have
 * ahead of the answers: with 64 GETs taken and not yet answered (or the
 * bytes of so many in the buffer), the stream is not read until one is
 * answered. */
void
stream_serve_read_next (StreamServe *ss)
{
  guint n_requests = g_queue_get_length (&ss->requests);
  gssize buffered = ss->in_end - ss->in_start;
  gssize room;

  if (ss->ended || ss->reading || ss->read_done || n_requests >= FOCTET_TRANSFER_MAX_OUTSTANDING_GETS)
    return;
  room = (gssize) (FOCTET_TRANSFER_MAX_OUTSTANDING_GETS - n_requests) * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE - buffered;
  /* Whatever the count, a message begun is read to its end (an ABORT is
   * longer than a GET); stream_read_cb() refused any too long for IN_SIZE. */
  if (buffered > 0)
    room = MAX (room, (gssize) buffered_message_size (ss) - buffered);
  if (room <= 0)
    return;
  foctet_transfer_buffer_compact (ss->in, &ss->in_start, &ss->in_end);
  room = MIN ((gsize) room, IN_SIZE - ss->in_end);
  ss->reading = TRUE;
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (ss->stream)), ss->in + ss->in_end, room,
                             G_PRIORITY_DEFAULT, ss->cancellable, stream_read_cb, stream_serve_ref (ss));
}

static gboolean
first_message_timeout_cb (gpointer user_data)
{
  StreamServe *ss = user_data;

  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": no message within %d s",
           foctet_stream_get_id (ss->stream), FOCTET_TRANSFER_FIRST_MESSAGE_TIMEOUT);
  g_clear_pointer (&ss->timeout, g_source_unref);
  stream_serve_end (ss, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
  return G_SOURCE_REMOVE;
}

void
sender_transfer_handler (FoctetNode       *node,
                         FoctetConnection *connection,
                         FoctetStream     *stream,
                         gpointer          user_data)
{
  g_autoptr(FoctetTransferSender) self = g_weak_ref_get (user_data);
  StreamServe *ss;

  if (self == NULL || self->served)
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      return;
    }

  ss = g_new0 (StreamServe, 1);
  ss->ref_count = 1;
  ss->sender = g_object_ref (self);
  ss->connection = g_object_ref (connection);
  ss->stream = g_object_ref (stream);
  ss->cancellable = g_cancellable_new ();
  g_queue_init (&ss->requests);
  g_queue_init (&ss->chunks);
  ss->io_fd = -1;
  if (self->io == NULL)
    self->io = foctet_transfer_worker_new ("foctet-send-io", self->context, sender_io_work, sender_io_deliver);
  g_ptr_array_add (self->streams, ss);
  ss->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (FOCTET_TRANSFER_FIRST_MESSAGE_TIMEOUT),
                                               first_message_timeout_cb, ss, self->context);
  stream_serve_read_next (ss);
}

/* foctet-ping.c: the foctet/ping/1 protocol, both halves.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-ping.h"
#include "foctet-builtins-private.h"
#include "foctet-error.h"
#include "foctet-stream-private.h"

/**
 * FoctetPinger:
 *
 * Measures round-trip times to a peer with the built-in ping protocol
 * (PROTOCOL §5): every ping writes 32 random bytes on one stream and waits
 * for their echo.  The stream is opened with the first ping and ended with
 * [method@Foctet.Pinger.close_async].
 */

struct _FoctetPinger {
  GObject parent_instance;

  FoctetConnection *connection;
  FoctetStream *stream;
  gboolean answered;            /* the peer echoed on @stream */
  gboolean busy;
  guint8 sent[FOCTET_PING_SIZE];
  guint8 received[FOCTET_PING_SIZE];
  gint64 started;
};

G_DEFINE_FINAL_TYPE (FoctetPinger, foctet_pinger, G_TYPE_OBJECT)

static void
foctet_pinger_dispose (GObject *object)
{
  FoctetPinger *self = FOCTET_PINGER (object);

  g_clear_object (&self->stream);
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (foctet_pinger_parent_class)->dispose (object);
}

static void
foctet_pinger_class_init (FoctetPingerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = foctet_pinger_dispose;
}

static void
foctet_pinger_init (FoctetPinger *self)
{
}

/**
 * foctet_pinger_new:
 * @connection: the connection to ping over
 *
 * Creates a pinger for @connection, which it keeps a reference to.
 * Nothing is sent yet: the ping stream is opened by the first
 * [method@Foctet.Pinger.ping_async].
 *
 * Returns: (transfer full): a new pinger
 */
FoctetPinger *
foctet_pinger_new (FoctetConnection *connection)
{
  FoctetPinger *self;

  g_return_val_if_fail (FOCTET_IS_CONNECTION (connection), NULL);

  self = g_object_new (FOCTET_TYPE_PINGER, NULL);
  self->connection = g_object_ref (connection);
  return self;
}

/* A ping that failed or was cancelled leaves its stream in no known
 * state (its echo, or part of it, may still come): the stream goes, and
 * the next ping opens another. */
static void
ping_fail (GTask  *task,
           GError *error)
{
  FoctetPinger *self = g_task_get_source_object (task);

  /* A refusal, if the connection lives on; else the connection failed. */
  if (!self->answered && !foctet_connection_is_closed (self->connection))
    foctet_stream_explain_unanswered_reset (self->stream, &error);
  self->answered = FALSE;
  if (self->stream != NULL)
    {
      foctet_stream_reset (self->stream, FOCTET_CLOSE_CODE_NO_ERROR);
      g_clear_object (&self->stream);
    }
  self->busy = FALSE;
  g_task_return_error (task, error);
}

static void
ping_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetPinger *self = g_task_get_source_object (task);
  GError *error = NULL;
  gsize n_read = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n_read, &error))
    return ping_fail (task, error);
  if (n_read < FOCTET_PING_SIZE)
    return ping_fail (task, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                         "Peer ended the ping stream after %" G_GSIZE_FORMAT
                                         " of %d echoed bytes", n_read, FOCTET_PING_SIZE));
  if (memcmp (self->sent, self->received, FOCTET_PING_SIZE) != 0)
    return ping_fail (task, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                 "Peer echoed different bytes than were sent"));

  self->answered = TRUE;
  self->busy = FALSE;
  g_task_return_int (task, g_get_monotonic_time () - self->started);
}

static void
ping_write_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetPinger *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    return ping_fail (task, error);

  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (self->stream)),
                                 self->received, FOCTET_PING_SIZE, G_PRIORITY_DEFAULT,
                                 g_task_get_cancellable (task), ping_read_cb,
                                 g_object_ref (task));
}

static void
ping_send (GTask *task)
{
  FoctetPinger *self = g_task_get_source_object (task);

  for (guint i = 0; i < FOCTET_PING_SIZE; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (self->sent + i, &r, 4);
    }
  self->started = g_get_monotonic_time ();
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->stream)),
                                   self->sent, FOCTET_PING_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), ping_write_cb, task);
}

static void
ping_open_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  FoctetPinger *self = g_task_get_source_object (task);
  GError *error = NULL;

  self->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (self->stream == NULL)
    {
      ping_fail (task, error);
      g_object_unref (task);
      return;
    }
  ping_send (task);
}

/**
 * foctet_pinger_ping_async:
 * @self: a [class@Foctet.Pinger]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the round-trip time
 * @user_data: data for @callback
 *
 * Sends one ping and waits for its echo.  One ping at a time.  After a
 * ping that failed or was cancelled, the next one opens a new stream.
 */
void
foctet_pinger_ping_async (FoctetPinger        *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (FOCTET_IS_PINGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_pinger_ping_async);

  if (self->busy)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "A ping is already in flight");
      g_object_unref (task);
      return;
    }
  self->busy = TRUE;

  if (self->stream == NULL)
    foctet_connection_open_stream_async (self->connection, FOCTET_PROTOCOL_PING, cancellable,
                                         ping_open_cb, task);
  else
    ping_send (task);
}

/**
 * foctet_pinger_ping_finish:
 * @self: a [class@Foctet.Pinger]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Pinger.ping_async].  It fails with
 * %G_IO_ERROR_PENDING when another ping was still in flight, with
 * %FOCTET_ERROR_PROTOCOL_ERROR when the peer ended the stream early or
 * echoed other bytes, and with the stream's error when the ping stream
 * could not be opened, written or read (%FOCTET_ERROR_STREAM_RESET when
 * the peer does not serve ping: the message then names the protocol).
 *
 * Returns: the round-trip time in microseconds, or -1 on error
 */
gint64
foctet_pinger_ping_finish (FoctetPinger  *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), -1);

  return g_task_propagate_int (G_TASK (result), error);
}

typedef struct {
  guint8 buf[256];
} DrainData;

static void
close_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
close_drain_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetPinger *self = g_task_get_source_object (task);
  GError *error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      g_task_return_error (task, error);
      return;
    }
  if (n > 0)
    {
      /* The acceptor echoes until it sees our end of stream; anything still
       * in flight is a late echo, not an error. */
      g_input_stream_read_async (G_INPUT_STREAM (source),
                                 ((DrainData *) g_task_get_task_data (task))->buf, 256,
                                 G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                                 close_drain_cb, g_object_ref (task));
      return;
    }

  g_io_stream_close_async (G_IO_STREAM (self->stream), G_PRIORITY_DEFAULT,
                           g_task_get_cancellable (task), close_done_cb, g_object_ref (task));
}

static void
close_write_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (source)),
                             ((DrainData *) g_task_get_task_data (task))->buf, 256,
                             G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                             close_drain_cb, g_object_ref (task));
}

/**
 * foctet_pinger_close_async:
 * @self: a [class@Foctet.Pinger]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the ping stream is closed
 * @user_data: data for @callback
 *
 * Ends the ping stream the way the protocol says: half-close, wait for the
 * peer's end of stream, close.
 */
void
foctet_pinger_close_async (FoctetPinger        *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (FOCTET_IS_PINGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_pinger_close_async);

  if (self->stream == NULL || g_io_stream_is_closed (G_IO_STREAM (self->stream)))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  if (self->busy)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "A ping is still in flight");
      g_object_unref (task);
      return;
    }

  g_task_set_task_data (task, g_new0 (DrainData, 1), g_free);
  foctet_stream_close_write_async (self->stream, G_PRIORITY_DEFAULT, cancellable,
                                   close_write_cb, task);
}

/**
 * foctet_pinger_close_finish:
 * @self: a [class@Foctet.Pinger]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Pinger.close_async].  Closing a pinger that never
 * pinged, or whose stream is already closed, succeeds; it fails with
 * %G_IO_ERROR_PENDING while a ping is in flight, or with the stream's
 * error.
 *
 * Returns: %TRUE when the stream ended cleanly, %FALSE with @error set
 *   otherwise
 */
gboolean
foctet_pinger_close_finish (FoctetPinger  *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Acceptor: echo every byte until end of stream, then half-close too. */

#define ECHO_BUFFER_SIZE 4096

typedef struct {
  FoctetStream *stream;
  guint8 buf[ECHO_BUFFER_SIZE];
} EchoData;

static void echo_read_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
echo_finish (EchoData *data)
{
  g_io_stream_close_async (G_IO_STREAM (data->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (data->stream);
  g_free (data);
}

static void
echo_read_next (EchoData *data)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (data->stream)),
                             data->buf, sizeof data->buf, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, data);
}

static void
echo_write_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  EchoData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_debug ("Ping stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (data->stream),
               error->message);
      echo_finish (data);
      return;
    }
  echo_read_next (data);
}

static void
echo_close_write_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    g_debug ("Ping stream: half-close failed: %s", error->message);
  echo_finish (user_data);
}

static void
echo_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  EchoData *data = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      g_debug ("Ping stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (data->stream),
               error->message);
      echo_finish (data);
      return;
    }
  if (n == 0)
    {
      foctet_stream_close_write_async (data->stream, G_PRIORITY_DEFAULT, NULL,
                                       echo_close_write_cb, data);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->stream)),
                                   data->buf, n, G_PRIORITY_DEFAULT, NULL, echo_write_cb, data);
}

void
foctet_ping_serve (FoctetStream *stream)
{
  EchoData *data = g_new0 (EchoData, 1);

  data->stream = g_object_ref (stream);
  echo_read_next (data);
}

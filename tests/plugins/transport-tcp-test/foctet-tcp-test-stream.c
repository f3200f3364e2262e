/* foctet-tcp-test-stream.c: TEST-ONLY "tcp-test" transport — a stream is
 * one TCP connection.  Never installed; see foctet-tcp-test.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <sys/socket.h>

#include "foctet-tcp-test.h"

struct _TcpTestStream {
  FoctetStream parent_instance;

  GSocketConnection *socket;
  TcpTestConnection *connection;   /* not owned; NULL once the connection ended */
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestStream, tcp_test_stream, FOCTET_TYPE_STREAM,
                                G_TYPE_FLAG_FINAL, {})

/* The socket's own streams are pollable, which is all FoctetStream asks. */
static GInputStream *
tcp_test_stream_get_input_stream (GIOStream *stream)
{
  return g_io_stream_get_input_stream (G_IO_STREAM (TCP_TEST_STREAM (stream)->socket));
}

static GOutputStream *
tcp_test_stream_get_output_stream (GIOStream *stream)
{
  return g_io_stream_get_output_stream (G_IO_STREAM (TCP_TEST_STREAM (stream)->socket));
}

static gboolean
tcp_test_stream_close_fn (GIOStream     *stream,
                          GCancellable  *cancellable,
                          GError       **error)
{
  return g_io_stream_close (G_IO_STREAM (TCP_TEST_STREAM (stream)->socket), cancellable, error);
}

static void
socket_closed_cb (GObject      *source,
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

/* GIOStream's default would close in a thread; a socket closes at once. */
static void
tcp_test_stream_close_async (GIOStream           *stream,
                             int                  io_priority,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, tcp_test_stream_close_async);
  g_io_stream_close_async (G_IO_STREAM (TCP_TEST_STREAM (stream)->socket), io_priority,
                           cancellable, socket_closed_cb, task);
}

static gboolean
tcp_test_stream_close_finish (GIOStream     *stream,
                              GAsyncResult  *result,
                              GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
close_write_flushed_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestStream *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!g_output_stream_flush_finish (G_OUTPUT_STREAM (source), result, &error) ||
      !g_socket_shutdown (g_socket_connection_get_socket (self->socket), FALSE, TRUE, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* Half-close is TCP's own: a FIN after the bytes written so far. */
static void
tcp_test_stream_close_write_async (FoctetStream        *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  TcpTestStream *self = TCP_TEST_STREAM (stream);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tcp_test_stream_close_write_async);
  g_output_stream_flush_async (g_io_stream_get_output_stream (G_IO_STREAM (self->socket)),
                               io_priority, cancellable, close_write_flushed_cb, task);
}

static gboolean
tcp_test_stream_close_write_finish (FoctetStream  *stream,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* A close with a zero linger time sends RST instead of FIN, so the peer's
 * reads and writes fail rather than see a clean end of stream.  TCP has
 * no room for the error code; it is only logged. */
static void
tcp_test_stream_reset (FoctetStream *stream,
                       guint32       error_code)
{
  TcpTestStream *self = TCP_TEST_STREAM (stream);
  GSocket *socket = g_socket_connection_get_socket (self->socket);
  struct linger linger = { 1, 0 };

  g_debug ("tcp-test: resetting stream %" G_GUINT64_FORMAT " (code %u)",
           foctet_stream_get_id (stream), error_code);
  if (g_socket_is_closed (socket))
    return;
  if (setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger, sizeof linger) != 0)
    g_debug ("tcp-test: SO_LINGER: %s", g_strerror (errno));
  g_socket_close (socket, NULL);
}

static void
tcp_test_stream_finalize (GObject *object)
{
  TcpTestStream *self = TCP_TEST_STREAM (object);

  if (self->connection != NULL)
    tcp_test_connection_forget_stream (self->connection, self);
  g_clear_object (&self->socket);

  G_OBJECT_CLASS (tcp_test_stream_parent_class)->finalize (object);
}

static void
tcp_test_stream_class_init (TcpTestStreamClass *klass)
{
  GIOStreamClass *io_class = G_IO_STREAM_CLASS (klass);
  FoctetStreamClass *stream_class = FOCTET_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = tcp_test_stream_finalize;
  io_class->get_input_stream = tcp_test_stream_get_input_stream;
  io_class->get_output_stream = tcp_test_stream_get_output_stream;
  io_class->close_fn = tcp_test_stream_close_fn;
  io_class->close_async = tcp_test_stream_close_async;
  io_class->close_finish = tcp_test_stream_close_finish;
  stream_class->close_write_async = tcp_test_stream_close_write_async;
  stream_class->close_write_finish = tcp_test_stream_close_write_finish;
  stream_class->reset = tcp_test_stream_reset;
}

static void
tcp_test_stream_class_finalize (TcpTestStreamClass *klass)
{
}

static void
tcp_test_stream_init (TcpTestStream *self)
{
}

TcpTestStream *
tcp_test_stream_new (TcpTestConnection *connection,
                     GSocketConnection *socket,
                     guint64            id)
{
  TcpTestStream *self = g_object_new (TCP_TEST_TYPE_STREAM, "id", id, NULL);

  self->socket = g_object_ref (socket);
  self->connection = connection;
  return self;
}

/* The connection ended: both directions end too.  A shutdown, not a close,
 * so that reads and writes in flight finish (with end-of-stream or an
 * error) instead of waiting on a file descriptor that may be reused; the
 * socket itself is closed with the stream. */
void
tcp_test_stream_detach (TcpTestStream *self)
{
  GSocket *socket = g_socket_connection_get_socket (self->socket);

  self->connection = NULL;
  if (!g_socket_is_closed (socket))
    g_socket_shutdown (socket, TRUE, TRUE, NULL);
}

void
tcp_test_stream_register (GTypeModule *module)
{
  tcp_test_stream_register_type (module);
}

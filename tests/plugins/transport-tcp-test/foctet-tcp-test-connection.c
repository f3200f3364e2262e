/* foctet-tcp-test-connection.c: TEST-ONLY "tcp-test" transport — a
 * connection is a control TCP connection, whose end is the end of the
 * connection, plus one TCP connection per stream.  Never installed; see
 * foctet-tcp-test.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-tcp-test.h"

struct _TcpTestConnection {
  FoctetConnection parent_instance;

  TcpTestTransport *transport;
  GSocketConnection *control;
  GCancellable *watch;               /* cancels the read that waits for its end */
  guint8 watch_byte;
  guint8 token[TCP_TEST_TOKEN_SIZE];
  char *key;
  GSocketConnectable *peer_streams;  /* where to open streams to */
  guint64 next_stream_id;
  GQueue incoming;                   /* TcpTestStream the peer opened, not yet accepted */
  GQueue accepts;                    /* GTask waiting for one of them */
  GPtrArray *streams;                /* every live TcpTestStream of it, not owned */
  gboolean shut;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestConnection, tcp_test_connection, FOCTET_TYPE_CONNECTION,
                                G_TYPE_FLAG_FINAL, {})

static GError *
closed_error (void)
{
  return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                              "The tcp-test connection is closed");
}

/* An accept that is waiting may carry a source watching its cancellable,
 * kept as its task data; it must go when the accept completes. */
static void
accept_finish_waiting (GTask *task)
{
  GSource *cancel_source = g_task_get_task_data (task);

  if (cancel_source != NULL)
    g_source_destroy (cancel_source);
}

static void
deliver (TcpTestConnection *self)
{
  while (!g_queue_is_empty (&self->accepts) && !g_queue_is_empty (&self->incoming))
    {
      g_autoptr(GTask) task = g_queue_pop_head (&self->accepts);

      accept_finish_waiting (task);
      g_task_return_pointer (task, g_queue_pop_head (&self->incoming), foctet_stream_discard);
    }
}

/* Ends the connection, once: stops watching the control connection and
 * closes it, ends every stream, fails the waiting accepts and tells the
 * core.  The peer sees the control connection end and does the same. */
void
tcp_test_connection_shut (TcpTestConnection *self,
                          const GError      *error)
{
  TcpTestStream *stream;
  GTask *task;

  if (self->shut)
    return;
  self->shut = TRUE;
  g_object_ref (self);
  g_debug ("tcp-test: connection %s ends%s%s", self->key,
           error != NULL ? ": " : "", error != NULL ? error->message : "");

  g_cancellable_cancel (self->watch);
  tcp_test_transport_remove_connection (self->transport, self);
  /* Closing a socket does not block. */
  g_io_stream_close (G_IO_STREAM (self->control), NULL, NULL);

  /* Every stream, the unaccepted ones included, is in self->streams. */
  for (guint i = 0; i < self->streams->len; i++)
    tcp_test_stream_detach (g_ptr_array_index (self->streams, i));
  g_ptr_array_set_size (self->streams, 0);
  while ((stream = g_queue_pop_head (&self->incoming)) != NULL)
    g_object_unref (stream);

  while ((task = g_queue_pop_head (&self->accepts)) != NULL)
    {
      accept_finish_waiting (task);
      g_task_return_error (task, closed_error ());
      g_object_unref (task);
    }

  foctet_connection_set_closed (FOCTET_CONNECTION (self), error);
  g_object_unref (self);
}

static gboolean
accept_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  GTask *task = user_data;
  TcpTestConnection *self = g_task_get_source_object (task);

  if (g_queue_remove (&self->accepts, task))
    {
      g_task_set_task_data (task, NULL, NULL);
      g_task_return_error_if_cancelled (task);
      g_object_unref (task);
    }
  return G_SOURCE_REMOVE;
}

static void
source_destroy_and_unref (gpointer source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

static void
tcp_test_connection_accept_stream_async (FoctetConnection    *connection,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tcp_test_connection_accept_stream_async);
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
  if (cancellable != NULL)
    {
      /* A waiting accept ends as soon as it is cancelled, not when the
       * next stream comes. */
      GSource *cancel_source = g_cancellable_source_new (cancellable);

      g_task_attach_source (task, cancel_source, (GSourceFunc) accept_cancelled_cb);
      g_task_set_task_data (task, cancel_source, source_destroy_and_unref);
    }
  g_queue_push_tail (&self->accepts, task);
  deliver (self);
}

static FoctetStream *
tcp_test_connection_accept_stream_finish (FoctetConnection  *connection,
                                          GAsyncResult      *result,
                                          GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
tcp_test_connection_deliver_stream (TcpTestConnection *self,
                                    GSocketConnection *socket,
                                    guint64            id)
{
  TcpTestStream *stream;

  g_return_if_fail (!self->shut);

  stream = tcp_test_stream_new (self, socket, id);
  g_ptr_array_add (self->streams, stream);
  g_queue_push_tail (&self->incoming, stream);
  g_debug ("tcp-test: connection %s: stream %" G_GUINT64_FORMAT " from the peer", self->key, id);
  deliver (self);
}

void
tcp_test_connection_forget_stream (TcpTestConnection *self,
                                   TcpTestStream     *stream)
{
  g_ptr_array_remove_fast (self->streams, stream);
}

typedef struct {
  GSocketConnection *socket;
  guint8 preamble[TCP_TEST_STREAM_PREAMBLE_SIZE];
  guint64 id;
} OpenData;

static void
open_data_free (OpenData *data)
{
  g_clear_object (&data->socket);
  g_free (data);
}

static void
open_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestConnection *self = g_task_get_source_object (task);
  OpenData *data = g_task_get_task_data (task);
  TcpTestStream *stream;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_io_stream_close (G_IO_STREAM (data->socket), NULL, NULL);
      g_task_return_error (task, error);
      return;
    }
  if (self->shut)
    {
      g_io_stream_close (G_IO_STREAM (data->socket), NULL, NULL);
      g_task_return_error (task, closed_error ());
      return;
    }
  g_socket_set_timeout (g_socket_connection_get_socket (data->socket), 0);
  stream = tcp_test_stream_new (self, data->socket, data->id);
  g_ptr_array_add (self->streams, stream);
  g_task_return_pointer (task, stream, foctet_stream_discard);
}

static void
open_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestConnection *self = g_task_get_source_object (task);
  OpenData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  guint64 id_be = GUINT64_TO_BE (data->id);
  GError *error = NULL;
  guint8 *p = data->preamble;

  data->socket = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->socket == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  memcpy (p, TCP_TEST_MAGIC_STREAM, TCP_TEST_MAGIC_SIZE);
  p += TCP_TEST_MAGIC_SIZE;
  memcpy (p, self->token, TCP_TEST_TOKEN_SIZE);
  p += TCP_TEST_TOKEN_SIZE;
  memcpy (p, &id_be, sizeof id_be);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->socket)),
                                   data->preamble, sizeof data->preamble, G_PRIORITY_DEFAULT,
                                   cancellable, open_written_cb,
                                   g_steal_pointer (&task));
}

static void
tcp_test_connection_open_stream_async (FoctetConnection    *connection,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = NULL;
  OpenData *data;

  g_task_set_source_tag (task, tcp_test_connection_open_stream_async);
  if (self->shut)
    {
      g_task_return_error (task, closed_error ());
      return;
    }

  data = g_new0 (OpenData, 1);
  data->id = self->next_stream_id;
  self->next_stream_id += 2;
  g_task_set_task_data (task, data, (GDestroyNotify) open_data_free);

  /* Bounds the connect and the preamble; lifted once the stream is open. */
  client = g_socket_client_new ();
  g_socket_client_set_timeout (client, tcp_test_transport_get_handshake_timeout (self->transport));
  g_socket_client_connect_async (client, self->peer_streams, cancellable, open_connected_cb,
                                 g_steal_pointer (&task));
}

static FoctetStream *
tcp_test_connection_open_stream_finish (FoctetConnection  *connection,
                                        GAsyncResult      *result,
                                        GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* TCP has no room for @code and @reason: the peer only sees the end. */
static void
tcp_test_connection_close_async (FoctetConnection    *connection,
                                 guint32              code,
                                 const char          *reason,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tcp_test_connection_close_async);
  g_debug ("tcp-test: closing connection %s with code %u (%s)", self->key, code,
           reason != NULL ? reason : "no reason");
  tcp_test_connection_shut (self, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
tcp_test_connection_close_finish (FoctetConnection  *connection,
                                  GAsyncResult      *result,
                                  GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, connection), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Dropping the last reference closes the connection, like a
 * GSocketConnection: nothing else would. */
static void
tcp_test_connection_dispose (GObject *object)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (object);

  if (self->control != NULL)
    tcp_test_connection_shut (self, NULL);

  G_OBJECT_CLASS (tcp_test_connection_parent_class)->dispose (object);
}

static void
tcp_test_connection_finalize (GObject *object)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (object);

  g_assert (g_queue_is_empty (&self->incoming) && g_queue_is_empty (&self->accepts));
  g_clear_pointer (&self->streams, g_ptr_array_unref);
  g_clear_object (&self->control);
  g_clear_object (&self->watch);
  g_clear_object (&self->peer_streams);
  g_clear_object (&self->transport);
  g_free (self->key);

  G_OBJECT_CLASS (tcp_test_connection_parent_class)->finalize (object);
}

static void
tcp_test_connection_class_init (TcpTestConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  FoctetConnectionClass *connection_class = FOCTET_CONNECTION_CLASS (klass);

  object_class->dispose = tcp_test_connection_dispose;
  object_class->finalize = tcp_test_connection_finalize;
  connection_class->open_stream_async = tcp_test_connection_open_stream_async;
  connection_class->open_stream_finish = tcp_test_connection_open_stream_finish;
  connection_class->accept_stream_async = tcp_test_connection_accept_stream_async;
  connection_class->accept_stream_finish = tcp_test_connection_accept_stream_finish;
  connection_class->close_async = tcp_test_connection_close_async;
  connection_class->close_finish = tcp_test_connection_close_finish;
}

static void
tcp_test_connection_class_finalize (TcpTestConnectionClass *klass)
{
}

static void
tcp_test_connection_init (TcpTestConnection *self)
{
  g_queue_init (&self->incoming);
  g_queue_init (&self->accepts);
  self->streams = g_ptr_array_new ();
  self->watch = g_cancellable_new ();
}

/* The control connection carries nothing after the hello: a read that
 * completes means it ended (or the peer broke the protocol).  The read
 * holds only a weak reference, so that dropping the connection closes it. */
static void
watch_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  GWeakRef *weak = user_data;
  g_autoptr(TcpTestConnection) self = g_weak_ref_get (weak);
  g_autoptr(GError) error = NULL;
  gssize n;

  g_weak_ref_clear (weak);
  g_free (weak);

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (self == NULL || self->shut)
    return;
  if (n > 0)
    error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                 "The peer sent data on the tcp-test control connection");
  else if (n == 0)
    g_debug ("tcp-test: connection %s: the peer closed it", self->key);
  tcp_test_connection_shut (self, error);
}

char *
tcp_test_connection_make_key (const guint8 *token,
                              gboolean      is_initiator)
{
  g_autofree char *text = g_base64_encode (token, TCP_TEST_TOKEN_SIZE);

  return g_strconcat (text, is_initiator ? "/dialer" : "/listener", NULL);
}

TcpTestConnection *
tcp_test_connection_new (TcpTestTransport   *transport,
                         GSocketConnection  *control,
                         const FoctetNodeId *peer,
                         const guint8       *token,
                         guint16             peer_stream_port,
                         gboolean            is_initiator)
{
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (control, NULL);
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (control, NULL);
  g_autofree char *remote_text = NULL;
  g_autofree char *local_text = NULL;
  TcpTestConnection *self;
  GWeakRef *weak;

  if (remote != NULL)
    remote_text = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (remote));
  if (local != NULL)
    local_text = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (local));

  self = g_object_new (TCP_TEST_TYPE_CONNECTION,
                       "peer-id", peer,
                       "transport-name", TCP_TEST_NAME,
                       "remote-address", remote_text,
                       "local-address", local_text,
                       "is-initiator", is_initiator,
                       NULL);
  self->transport = g_object_ref (transport);
  self->control = g_object_ref (control);
  memcpy (self->token, token, TCP_TEST_TOKEN_SIZE);
  self->key = tcp_test_connection_make_key (token, is_initiator);
  self->next_stream_id = is_initiator ? 1 : 2;
  /* The peer's streams listen where its control connection comes from. */
  if (remote != NULL && G_IS_INET_SOCKET_ADDRESS (remote))
    self->peer_streams = G_SOCKET_CONNECTABLE (
      g_inet_socket_address_new (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)),
                                 peer_stream_port));
  else
    self->peer_streams = G_SOCKET_CONNECTABLE (g_network_address_new_loopback (peer_stream_port));

  /* The handshake's time limit no longer applies: the connection may idle. */
  g_socket_set_timeout (g_socket_connection_get_socket (control), 0);
  tcp_test_transport_add_connection (transport, self);

  weak = g_new (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (control)),
                             &self->watch_byte, 1, G_PRIORITY_DEFAULT, self->watch,
                             watch_cb, weak);
  g_debug ("tcp-test: connection %s to %s is up", self->key, remote_text);
  return self;
}

const char *
tcp_test_connection_get_key (TcpTestConnection *self)
{
  return self->key;
}

void
tcp_test_connection_register (GTypeModule *module)
{
  tcp_test_connection_register_type (module);
}

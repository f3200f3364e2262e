/* TEST-ONLY transport "tcp-test": plain TCP on loopback, no encryption and
 * no authentication (a peer's NodeId is taken on its word).  Never
 * installed; used by the test suite and the demo to prove that plugins are
 * found, loaded and driven through the core's interfaces.
 *
 * Wire format, all on TCP:
 *   control connection, dialer → listener: "FTT1" | NodeId(32) | token(16) | port(2, BE)
 *                       listener → dialer: "FTT1" | NodeId(32) | zero(16)  | port(2, BE)
 *   then nothing more; its end is the end of the connection.
 *   each stream is one more TCP connection to the peer's listening port:
 *                                          "FTS1" | token(16) | stream id(8, BE)
 * Both sides listen, so either can open streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/socket.h>

#include "foctet-tcp-test.h"

#define MAGIC_CONNECTION "FTT1"
#define MAGIC_STREAM "FTS1"
#define TOKEN_SIZE 16
#define HELLO_SIZE (4 + FOCTET_NODE_ID_SIZE + TOKEN_SIZE + 2)
#define STREAM_PREAMBLE_SIZE (4 + TOKEN_SIZE + 8)
#define HANDSHAKE_TIMEOUT_SECONDS 10

/* The stream: one TCP connection. */

#define TCP_TEST_TYPE_STREAM (tcp_test_stream_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestStream, tcp_test_stream, TCP_TEST, STREAM, FoctetStream)

struct _TcpTestStream {
  FoctetStream parent_instance;
  GSocketConnection *socket;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestStream, tcp_test_stream, FOCTET_TYPE_STREAM,
                                G_TYPE_FLAG_FINAL, {})

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
stream_closed_cb (GObject      *source,
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
tcp_test_stream_close_async (GIOStream           *stream,
                             int                  io_priority,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_io_stream_close_async (G_IO_STREAM (TCP_TEST_STREAM (stream)->socket), io_priority,
                           cancellable, stream_closed_cb, task);
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

static void
tcp_test_stream_close_write_async (FoctetStream        *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  TcpTestStream *self = TCP_TEST_STREAM (stream);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

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

static void
tcp_test_stream_reset (FoctetStream *stream,
                       guint32       error_code)
{
  GSocket *socket = g_socket_connection_get_socket (TCP_TEST_STREAM (stream)->socket);
  struct linger linger = { 1, 0 };

  /* A close with a zero linger time sends RST: the peer's reads and writes
   * fail instead of seeing a clean end of stream.  The code is not carried. */
  setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  g_socket_close (socket, NULL);
}

static void
tcp_test_stream_finalize (GObject *object)
{
  g_clear_object (&TCP_TEST_STREAM (object)->socket);
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

static FoctetStream *
stream_new (GSocketConnection *socket,
            guint64            id)
{
  TcpTestStream *self = g_object_new (TCP_TEST_TYPE_STREAM, "id", id, NULL);

  self->socket = g_object_ref (socket);
  return FOCTET_STREAM (self);
}

/* The connection: a control TCP connection whose end is the end of the
 * connection, plus a queue of streams the peer opened. */

#define TCP_TEST_TYPE_CONNECTION (tcp_test_connection_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestConnection, tcp_test_connection, TCP_TEST, CONNECTION, FoctetConnection)

struct _TcpTestConnection {
  FoctetConnection parent_instance;

  TcpTestTransport *transport;
  GSocketConnection *control;
  GCancellable *watch;
  guint8 token[TOKEN_SIZE];
  char *token_key;
  GSocketConnectable *peer_streams;  /* where to open streams to */
  guint64 next_stream_id;
  GQueue incoming;                   /* FoctetStream waiting for accept */
  GQueue accepts;                    /* GTask waiting for a stream */
  guint8 watch_byte;
  gboolean closed;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestConnection, tcp_test_connection, FOCTET_TYPE_CONNECTION,
                                G_TYPE_FLAG_FINAL, {})

struct _TcpTestTransport {
  GObject parent_instance;

  FoctetIdentity *identity;
  GSocketService *service;
  char *bound;                       /* "host:port" listened on, or NULL */
  guint16 port;
  GHashTable *connections;           /* token key → TcpTestConnection (not owned) */
};

static void connection_shut (TcpTestConnection *self, const GError *error);

static void
tcp_test_connection_finalize (GObject *object)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (object);

  g_queue_clear_full (&self->incoming, g_object_unref);
  g_clear_object (&self->control);
  g_clear_object (&self->watch);
  g_clear_object (&self->peer_streams);
  g_clear_object (&self->transport);
  g_free (self->token_key);

  G_OBJECT_CLASS (tcp_test_connection_parent_class)->finalize (object);
}

static void
connection_deliver (TcpTestConnection *self)
{
  while (!g_queue_is_empty (&self->accepts) && !g_queue_is_empty (&self->incoming))
    {
      g_autoptr(GTask) task = g_queue_pop_head (&self->accepts);

      /* A cancelled accept gives its stream to the next one. */
      if (g_task_return_error_if_cancelled (task))
        continue;
      g_task_return_pointer (task, g_queue_pop_head (&self->incoming), g_object_unref);
    }
}

static void
tcp_test_connection_accept_stream_async (FoctetConnection    *connection,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  if (self->closed)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The connection is closed");
      g_object_unref (task);
      return;
    }
  g_queue_push_tail (&self->accepts, task);
  connection_deliver (self);
}

static FoctetStream *
tcp_test_connection_accept_stream_finish (FoctetConnection  *connection,
                                          GAsyncResult      *result,
                                          GError           **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  GSocketConnection *socket;
  guint8 preamble[STREAM_PREAMBLE_SIZE];
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
  OpenData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, stream_new (data->socket, data->id), g_object_unref);
}

static void
open_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  TcpTestConnection *self = g_task_get_source_object (task);
  OpenData *data = g_task_get_task_data (task);
  guint64 id_be;
  GError *error = NULL;

  data->socket = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->socket == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_socket_set_timeout (g_socket_connection_get_socket (data->socket), 0);

  memcpy (data->preamble, MAGIC_STREAM, 4);
  memcpy (data->preamble + 4, self->token, TOKEN_SIZE);
  id_be = GUINT64_TO_BE (data->id);
  memcpy (data->preamble + 4 + TOKEN_SIZE, &id_be, 8);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->socket)),
                                   data->preamble, sizeof data->preamble, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), open_written_cb, task);
}

static void
tcp_test_connection_open_stream_async (FoctetConnection    *connection,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  OpenData *data;

  if (self->closed)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The connection is closed");
      g_object_unref (task);
      return;
    }

  data = g_new0 (OpenData, 1);
  data->id = self->next_stream_id;
  self->next_stream_id += 2;
  g_task_set_task_data (task, data, (GDestroyNotify) open_data_free);

  g_socket_client_set_timeout (client, HANDSHAKE_TIMEOUT_SECONDS);
  g_socket_client_connect_async (client, self->peer_streams, cancellable, open_connected_cb, task);
}

static FoctetStream *
tcp_test_connection_open_stream_finish (FoctetConnection  *connection,
                                        GAsyncResult      *result,
                                        GError           **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
tcp_test_connection_close_async (FoctetConnection    *connection,
                                 guint32              code,
                                 const char          *reason,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  TcpTestConnection *self = TCP_TEST_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  connection_shut (self, NULL);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static gboolean
tcp_test_connection_close_finish (FoctetConnection  *connection,
                                  GAsyncResult      *result,
                                  GError           **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
tcp_test_connection_class_init (TcpTestConnectionClass *klass)
{
  FoctetConnectionClass *connection_class = FOCTET_CONNECTION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = tcp_test_connection_finalize;
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
  self->watch = g_cancellable_new ();
}

/* Ends the connection once: stops watching the control connection, closes
 * it, fails waiting accepts, and tells the core. */
static void
connection_shut (TcpTestConnection *self,
                 const GError      *error)
{
  GTask *task;

  if (self->closed)
    return;
  self->closed = TRUE;
  g_object_ref (self);

  g_cancellable_cancel (self->watch);
  if (self->transport != NULL)
    g_hash_table_remove (self->transport->connections, self->token_key);
  g_io_stream_close_async (G_IO_STREAM (self->control), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_queue_clear_full (&self->incoming, g_object_unref);
  while ((task = g_queue_pop_head (&self->accepts)) != NULL)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The connection is closed");
      g_object_unref (task);
    }

  foctet_connection_set_closed (FOCTET_CONNECTION (self), error);
  g_object_unref (self);
}

static void
watch_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  TcpTestConnection *self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (n > 0)
    {
      g_clear_error (&error);
      error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                   "Unexpected data on the control connection");
    }
  connection_shut (self, error);
  g_object_unref (self);
}

static TcpTestConnection *
connection_new (TcpTestTransport   *transport,
                GSocketConnection  *control,
                const FoctetNodeId *peer,
                const guint8       *token,
                guint16             peer_port,
                gboolean            is_initiator)
{
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (control, NULL);
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (control, NULL);
  g_autofree char *remote_text = remote ? g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (remote)) : NULL;
  g_autofree char *local_text = local ? g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (local)) : NULL;
  TcpTestConnection *self;

  self = g_object_new (TCP_TEST_TYPE_CONNECTION,
                       "peer-id", peer,
                       "transport-name", "tcp-test",
                       "remote-address", remote_text,
                       "local-address", local_text,
                       "is-initiator", is_initiator,
                       NULL);
  self->transport = g_object_ref (transport);
  self->control = g_object_ref (control);
  memcpy (self->token, token, TOKEN_SIZE);
  self->token_key = g_base64_encode (token, TOKEN_SIZE);
  self->next_stream_id = is_initiator ? 1 : 2;
  if (remote != NULL)
    self->peer_streams = G_SOCKET_CONNECTABLE (
      g_inet_socket_address_new (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)),
                                 peer_port));
  g_socket_set_timeout (g_socket_connection_get_socket (control), 0);
  g_hash_table_insert (transport->connections, g_strdup (self->token_key), self);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (control)),
                             &self->watch_byte, 1, G_PRIORITY_DEFAULT, self->watch,
                             watch_cb, g_object_ref (self));
  return self;
}

/* The transport */

static void tcp_test_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestTransport, tcp_test_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               tcp_test_transport_iface_init))

enum {
  PROP_0,
  PROP_IDENTITY,
};

static void
hello_fill (TcpTestTransport *self,
            guint8           *hello,
            const guint8     *token)
{
  gsize len = 0;
  const guint8 *id = foctet_node_id_get_data (foctet_identity_get_node_id (self->identity), &len);
  guint16 port_be = GUINT16_TO_BE (self->port);

  memcpy (hello, MAGIC_CONNECTION, 4);
  memcpy (hello + 4, id, FOCTET_NODE_ID_SIZE);
  if (token != NULL)
    memcpy (hello + 4 + FOCTET_NODE_ID_SIZE, token, TOKEN_SIZE);
  else
    memset (hello + 4 + FOCTET_NODE_ID_SIZE, 0, TOKEN_SIZE);
  memcpy (hello + 4 + FOCTET_NODE_ID_SIZE + TOKEN_SIZE, &port_be, 2);
}

static gboolean
listen_on (TcpTestTransport  *self,
           const char        *address,
           GError           **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  guint16 port = 0;

  if (self->bound != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   "The tcp-test transport already listens on %s", self->bound);
      return FALSE;
    }
  if (!foctet_parse_host_port (address, &host, &port, error))
    return FALSE;
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "The tcp-test transport listens on IP addresses only, not “%s”", host);
      return FALSE;
    }
  socket_address = g_inet_socket_address_new (inet, port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), socket_address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      &effective, error))
    return FALSE;

  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  self->bound = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
                ? g_strdup_printf ("[%s]:%u", host, self->port)
                : g_strdup_printf ("%s:%u", host, self->port);
  g_socket_service_start (self->service);
  g_debug ("tcp-test listening on %s", self->bound);
  return TRUE;
}

/* An accepted TCP connection: a new control connection or a stream. */
typedef struct {
  TcpTestTransport *self;
  GSocketConnection *socket;
  guint8 buf[HELLO_SIZE];
  guint8 reply[HELLO_SIZE];
} Incoming;

static void
incoming_free (Incoming *in)
{
  g_clear_object (&in->self);
  g_clear_object (&in->socket);
  g_free (in);
}

static void
incoming_fail (Incoming   *in,
               const char *why)
{
  g_debug ("tcp-test: dropping an incoming connection: %s", why);
  g_io_stream_close_async (G_IO_STREAM (in->socket), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  incoming_free (in);
}

static void
incoming_reply_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autoptr(TcpTestConnection) connection = NULL;
  guint16 port_be;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    return incoming_fail (in, error->message);

  peer = foctet_node_id_new_from_data (in->buf + 4, FOCTET_NODE_ID_SIZE, NULL);
  memcpy (&port_be, in->buf + 4 + FOCTET_NODE_ID_SIZE + TOKEN_SIZE, 2);
  connection = connection_new (in->self, in->socket, peer, in->buf + 4 + FOCTET_NODE_ID_SIZE,
                               GUINT16_FROM_BE (port_be), FALSE);
  foctet_transport_emit_incoming (FOCTET_TRANSPORT (in->self), FOCTET_CONNECTION (connection));
  incoming_free (in);
}

static void
incoming_rest_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(GError) error = NULL;
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error))
    return incoming_fail (in, error->message);

  if (memcmp (in->buf, MAGIC_CONNECTION, 4) == 0)
    {
      if (n < HELLO_SIZE - 4)
        return incoming_fail (in, "hello truncated");
      hello_fill (in->self, in->reply, NULL);
      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (in->socket)),
                                       in->reply, HELLO_SIZE, G_PRIORITY_DEFAULT, NULL,
                                       incoming_reply_cb, in);
      return;
    }

  /* A stream for one of our connections. */
  {
    g_autofree char *key = NULL;
    TcpTestConnection *connection;
    guint64 id_be;

    if (n < STREAM_PREAMBLE_SIZE - 4)
      return incoming_fail (in, "stream preamble truncated");
    key = g_base64_encode (in->buf + 4, TOKEN_SIZE);
    connection = g_hash_table_lookup (in->self->connections, key);
    if (connection == NULL || connection->closed)
      return incoming_fail (in, "stream for an unknown connection");
    memcpy (&id_be, in->buf + 4 + TOKEN_SIZE, 8);
    g_socket_set_timeout (g_socket_connection_get_socket (in->socket), 0);
    g_queue_push_tail (&connection->incoming, stream_new (in->socket, GUINT64_FROM_BE (id_be)));
    connection_deliver (connection);
    incoming_free (in);
  }
}

static void
incoming_magic_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(GError) error = NULL;
  gsize n = 0, rest;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error))
    return incoming_fail (in, error->message);
  if (n < 4)
    return incoming_fail (in, "closed before its preamble");
  if (memcmp (in->buf, MAGIC_CONNECTION, 4) == 0)
    rest = HELLO_SIZE - 4;
  else if (memcmp (in->buf, MAGIC_STREAM, 4) == 0)
    rest = STREAM_PREAMBLE_SIZE - 4;
  else
    return incoming_fail (in, "bad magic");

  g_input_stream_read_all_async (G_INPUT_STREAM (source), in->buf + 4, rest, G_PRIORITY_DEFAULT,
                                 NULL, incoming_rest_cb, in);
}

static gboolean
service_incoming_cb (GSocketService    *service,
                     GSocketConnection *socket,
                     GObject           *source_object,
                     gpointer           user_data)
{
  Incoming *in = g_new0 (Incoming, 1);

  in->self = g_object_ref (user_data);
  in->socket = g_object_ref (socket);
  /* A silent peer cannot hold the socket forever. */
  g_socket_set_timeout (g_socket_connection_get_socket (socket), HANDSHAKE_TIMEOUT_SECONDS);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (socket)), in->buf, 4,
                                 G_PRIORITY_DEFAULT, NULL, incoming_magic_cb, in);
  return TRUE;
}

static const char *
tcp_test_transport_get_name (FoctetTransport *transport)
{
  return "tcp-test";
}

static void
tcp_test_transport_listen_async (FoctetTransport     *transport,
                                 const char          *address,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;

  if (!listen_on (self, address, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_strdup (self->bound), g_free);
}

static char *
tcp_test_transport_listen_finish (FoctetTransport  *transport,
                                  GAsyncResult     *result,
                                  GError          **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  FoctetNodeId *expected;
  GSocketConnection *socket;
  guint8 token[TOKEN_SIZE];
  guint8 hello[HELLO_SIZE];
  guint8 reply[HELLO_SIZE];
} DialData;

static void
dial_data_free (DialData *data)
{
  g_clear_pointer (&data->expected, foctet_node_id_free);
  if (data->socket != NULL)
    g_io_stream_close_async (G_IO_STREAM (data->socket), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&data->socket);
  g_free (data);
}

static void
dial_reply_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  g_autoptr(FoctetNodeId) peer = NULL;
  TcpTestConnection *connection;
  GError *error = NULL;
  guint16 port_be;
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (n < HELLO_SIZE || memcmp (data->reply, MAGIC_CONNECTION, 4) != 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "The peer does not speak the tcp-test transport");
      return;
    }
  peer = foctet_node_id_new_from_data (data->reply + 4, FOCTET_NODE_ID_SIZE, NULL);
  if (data->expected != NULL && !foctet_node_id_equal (peer, data->expected))
    {
      g_autofree char *want = foctet_node_id_to_string (data->expected);
      g_autofree char *got = foctet_node_id_to_string (peer);

      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH,
                               "Peer is %s, not the expected %s", got, want);
      return;
    }

  memcpy (&port_be, data->reply + 4 + FOCTET_NODE_ID_SIZE + TOKEN_SIZE, 2);
  connection = connection_new (self, data->socket, peer, data->token, GUINT16_FROM_BE (port_be), TRUE);
  g_clear_object (&data->socket);
  g_task_return_pointer (task, connection, g_object_unref);
}

static void
dial_hello_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (data->socket)),
                                 data->reply, HELLO_SIZE, G_PRIORITY_DEFAULT,
                                 g_task_get_cancellable (task), dial_reply_cb, task);
}

static void
dial_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  TcpTestTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  GError *error = NULL;

  data->socket = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->socket == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  for (guint i = 0; i < TOKEN_SIZE; i++)
    data->token[i] = g_random_int_range (0, 256);
  hello_fill (self, data->hello, data->token);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->socket)),
                                   data->hello, HELLO_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), dial_hello_cb, task);
}

static void
tcp_test_transport_dial_async (FoctetTransport     *transport,
                               const char          *address,
                               const FoctetNodeId  *expected_peer,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnectable) connectable = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;
  DialData *data;

  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  /* The peer opens its streams to our listening port: listen if we don't. */
  if (self->bound == NULL && !listen_on (self, strchr (host, ':') ? "[::1]:0" : "127.0.0.1:0", &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  data = g_new0 (DialData, 1);
  data->expected = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) dial_data_free);

  client = g_socket_client_new ();
  g_socket_client_set_timeout (client, HANDSHAKE_TIMEOUT_SECONDS);
  connectable = g_network_address_new (host, port);
  g_socket_client_connect_async (client, connectable, cancellable, dial_connected_cb, task);
}

static FoctetConnection *
tcp_test_transport_dial_finish (FoctetTransport  *transport,
                                GAsyncResult     *result,
                                GError          **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
tcp_test_transport_get_listen_addresses (FoctetTransport *transport)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);
  char *addresses[] = { self->bound, NULL };

  return g_strdupv (self->bound != NULL ? addresses : addresses + 1);
}

static void
tcp_test_transport_stop (FoctetTransport *transport)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);

  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_clear_pointer (&self->bound, g_free);
}

static void
tcp_test_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = tcp_test_transport_get_name;
  iface->listen_async = tcp_test_transport_listen_async;
  iface->listen_finish = tcp_test_transport_listen_finish;
  iface->dial_async = tcp_test_transport_dial_async;
  iface->dial_finish = tcp_test_transport_dial_finish;
  iface->get_listen_addresses = tcp_test_transport_get_listen_addresses;
  iface->stop = tcp_test_transport_stop;
}

static void
tcp_test_transport_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, TCP_TEST_TRANSPORT (object)->identity);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tcp_test_transport_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_IDENTITY:
      TCP_TEST_TRANSPORT (object)->identity = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tcp_test_transport_dispose (GObject *object)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->service, service_incoming_cb, self);
      tcp_test_transport_stop (FOCTET_TRANSPORT (self));
      g_clear_object (&self->service);
    }
  G_OBJECT_CLASS (tcp_test_transport_parent_class)->dispose (object);
}

static void
tcp_test_transport_finalize (GObject *object)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_free (self->bound);
  G_OBJECT_CLASS (tcp_test_transport_parent_class)->finalize (object);
}

static void
tcp_test_transport_class_init (TcpTestTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = tcp_test_transport_get_property;
  object_class->set_property = tcp_test_transport_set_property;
  object_class->dispose = tcp_test_transport_dispose;
  object_class->finalize = tcp_test_transport_finalize;
  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");
}

static void
tcp_test_transport_class_finalize (TcpTestTransportClass *klass)
{
}

static void
tcp_test_transport_init (TcpTestTransport *self)
{
  self->service = g_socket_service_new ();
  g_socket_service_stop (self->service);
  g_signal_connect (self->service, "incoming", G_CALLBACK (service_incoming_cb), self);
  self->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
tcp_test_register_types (GTypeModule *module)
{
  tcp_test_stream_register_type (module);
  tcp_test_connection_register_type (module);
  tcp_test_transport_register_type (module);
}

/* foctet-tcp-test-transport.c: TEST-ONLY "tcp-test" transport — listening,
 * dialing and the hello exchange.  Never installed; see foctet-tcp-test.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-tcp-test.h"

struct _TcpTestTransport {
  GObject parent_instance;

  FoctetIdentity *identity;
  guint handshake_timeout;           /* seconds */
  GMainContext *context;             /* thread-default at construction */
  GSocketService *service;           /* control connections and streams both come here;
                                      * NULL while nothing listens */
  char *bound;                       /* "host:port" listened on, while listening */
  guint16 stream_port;               /* the port told to peers; 0 while nothing listens */
  gboolean accepting;                /* hellos are answered (listen_async, not stopped) */
  guint dials;                       /* dials that told a peer our stream port */
  GHashTable *connections;           /* key → TcpTestConnection, not owned */

  /* Misbehaving on purpose, for tests of dialing: see foctet-tcp-test.h. */
  char *dial_mode;
  guint dial_delay;                  /* ms */
  gboolean dial_ignore_cancel;
  guint dial_attempts;
  guint pending_dials;
};

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_DIAL_MODE,
  PROP_DIAL_DELAY,
  PROP_DIAL_IGNORE_CANCEL,
  PROP_DIAL_ATTEMPTS,
  PROP_PENDING_DIALS,
  N_PROPS
};

static void tcp_test_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TcpTestTransport, tcp_test_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               tcp_test_transport_iface_init))

guint
tcp_test_transport_get_handshake_timeout (TcpTestTransport *self)
{
  return self->handshake_timeout;
}

/* Listening sockets: one for listen_async(), or an ephemeral one a
 * dialing transport opens so that its peer can open streams to it. */

static gboolean service_incoming_cb (GSocketService    *service,
                                     GSocketConnection *socket,
                                     GObject           *source_object,
                                     gpointer           user_data);

static gboolean
add_listener (TcpTestTransport  *self,
              GInetAddress      *address,
              guint16            port,
              guint16           *bound_port,
              GError           **error)
{
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  g_autoptr(GSocketAddress) effective = NULL;
  gboolean ok;

  /* A closed GSocketListener cannot listen again: each time a new one. */
  if (self->service == NULL)
    {
      self->service = g_socket_service_new ();
      g_socket_service_stop (self->service);
      /* Every stream is a TCP connection: many may come at once. */
      g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service), 128);
      g_signal_connect (self->service, "incoming", G_CALLBACK (service_incoming_cb), self);
    }

  /* GSocketService accepts on the context that is thread-default when it
   * starts listening. */
  g_main_context_push_thread_default (self->context);
  ok = g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), socket_address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      &effective, error);
  if (ok)
    {
      *bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
      g_socket_service_start (self->service);
    }
  g_main_context_pop_thread_default (self->context);
  return ok;
}

static void
close_listeners (TcpTestTransport *self)
{
  if (self->service == NULL)
    return;
  g_debug ("tcp-test: closing the listener on port %u", self->stream_port);
  g_signal_handlers_disconnect_by_func (self->service, service_incoming_cb, self);
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_clear_object (&self->service);
  self->stream_port = 0;
}

void
tcp_test_transport_add_connection (TcpTestTransport  *self,
                                   TcpTestConnection *connection)
{
  g_hash_table_insert (self->connections, g_strdup (tcp_test_connection_get_key (connection)),
                       connection);
}

/* Peers open their streams to the listener, so it closes only once
 * nothing needs it: not listening, no connection and no dial left. */
static void
maybe_close_listeners (TcpTestTransport *self)
{
  if (!self->accepting && self->dials == 0 && g_hash_table_size (self->connections) == 0)
    close_listeners (self);
}

void
tcp_test_transport_remove_connection (TcpTestTransport  *self,
                                      TcpTestConnection *connection)
{
  const char *key = tcp_test_connection_get_key (connection);

  if (g_hash_table_lookup (self->connections, key) == connection)
    g_hash_table_remove (self->connections, key);
  maybe_close_listeners (self);
}

static void
hello_fill (TcpTestTransport *self,
            guint8           *hello,
            const guint8     *token)
{
  const FoctetNodeId *own = foctet_identity_get_node_id (self->identity);
  guint16 port_be = GUINT16_TO_BE (self->stream_port);
  gsize len = 0;

  memcpy (hello, TCP_TEST_MAGIC_CONNECTION, TCP_TEST_MAGIC_SIZE);
  hello += TCP_TEST_MAGIC_SIZE;
  memcpy (hello, foctet_node_id_get_data (own, &len), FOCTET_NODE_ID_SIZE);
  hello += FOCTET_NODE_ID_SIZE;
  if (token != NULL)
    memcpy (hello, token, TCP_TEST_TOKEN_SIZE);
  else
    memset (hello, 0, TCP_TEST_TOKEN_SIZE);
  hello += TCP_TEST_TOKEN_SIZE;
  memcpy (hello, &port_be, sizeof port_be);
}

static guint16
hello_get_port (const guint8 *hello)
{
  guint16 port_be;

  memcpy (&port_be, hello + TCP_TEST_HELLO_SIZE - 2, sizeof port_be);
  return GUINT16_FROM_BE (port_be);
}

static const guint8 *
hello_get_token (const guint8 *hello)
{
  return hello + TCP_TEST_MAGIC_SIZE + FOCTET_NODE_ID_SIZE;
}

/* The listening side: every accepted TCP connection is either a new
 * control connection (a hello) or a stream of an existing connection. */

typedef struct {
  TcpTestTransport *self;
  GSocketConnection *socket;
  guint8 buf[MAX (TCP_TEST_HELLO_SIZE, TCP_TEST_STREAM_PREAMBLE_SIZE)];
  guint8 reply[TCP_TEST_HELLO_SIZE];
  TcpTestConnection *connection;     /* made before the reply, announced after */
} Incoming;

static void
incoming_free (Incoming *in)
{
  g_clear_object (&in->connection);
  g_clear_object (&in->self);
  g_clear_object (&in->socket);
  g_free (in);
}

static void
incoming_drop (Incoming   *in,
               const char *why)
{
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (in->socket, NULL);
  g_autofree char *from = remote != NULL ? g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (remote))
                                         : g_strdup ("an unknown address");

  g_debug ("tcp-test: dropping an incoming TCP connection from %s: %s", from, why);
  g_io_stream_close (G_IO_STREAM (in->socket), NULL, NULL);
  incoming_free (in);
}

static void
incoming_replied_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      tcp_test_connection_shut (in->connection, error);
      incoming_drop (in, error->message);
      return;
    }
  if (!foctet_connection_is_closed (FOCTET_CONNECTION (in->connection)))
    foctet_transport_emit_incoming (FOCTET_TRANSPORT (in->self), FOCTET_CONNECTION (in->connection));
  incoming_free (in);
}

static void
incoming_hello (Incoming *in)
{
  TcpTestTransport *self = in->self;
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autofree char *key = NULL;
  guint16 peer_port = hello_get_port (in->buf);

  if (!self->accepting)
    {
      incoming_drop (in, "a hello, but the transport is not listening");
      return;
    }
  if (peer_port == 0)
    {
      incoming_drop (in, "a hello without a stream port");
      return;
    }
  key = tcp_test_connection_make_key (hello_get_token (in->buf), FALSE);
  if (g_hash_table_contains (self->connections, key))
    {
      incoming_drop (in, "a hello reusing the token of an existing connection");
      return;
    }

  peer = foctet_node_id_new_from_data (in->buf + TCP_TEST_MAGIC_SIZE, FOCTET_NODE_ID_SIZE, NULL);
  /* Made, and so routable, before the reply: the dialer may open a
   * stream the moment it reads it. */
  in->connection = tcp_test_connection_new (self, in->socket, peer, hello_get_token (in->buf),
                                            peer_port, FALSE);
  hello_fill (self, in->reply, NULL);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (in->socket)),
                                   in->reply, sizeof in->reply, G_PRIORITY_DEFAULT, NULL,
                                   incoming_replied_cb, in);
}

static void
incoming_stream (Incoming *in)
{
  TcpTestTransport *self = in->self;
  TcpTestConnection *connection;
  g_autofree char *key = NULL;
  guint64 id_be, id;

  memcpy (&id_be, in->buf + TCP_TEST_MAGIC_SIZE + TCP_TEST_TOKEN_SIZE, sizeof id_be);
  id = GUINT64_FROM_BE (id_be);
  if (id == 0)
    {
      incoming_drop (in, "a stream with id 0");
      return;
    }
  /* An odd id comes from the dialer, so it is for our listening side. */
  key = tcp_test_connection_make_key (in->buf + TCP_TEST_MAGIC_SIZE, id % 2 == 0);
  connection = g_hash_table_lookup (self->connections, key);
  if (connection == NULL)
    {
      incoming_drop (in, "a stream for an unknown connection");
      return;
    }

  g_socket_set_timeout (g_socket_connection_get_socket (in->socket), 0);
  tcp_test_connection_deliver_stream (connection, in->socket, id);
  incoming_free (in);
}

static void
incoming_rest_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(GError) error = NULL;
  gboolean is_hello = memcmp (in->buf, TCP_TEST_MAGIC_CONNECTION, TCP_TEST_MAGIC_SIZE) == 0;
  gsize want = (is_hello ? TCP_TEST_HELLO_SIZE : TCP_TEST_STREAM_PREAMBLE_SIZE) - TCP_TEST_MAGIC_SIZE;
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error))
    {
      incoming_drop (in, error->message);
      return;
    }
  if (n < want)
    {
      incoming_drop (in, is_hello ? "hello cut short" : "stream preamble cut short");
      return;
    }

  if (is_hello)
    incoming_hello (in);
  else
    incoming_stream (in);
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
    {
      incoming_drop (in, error->message);
      return;
    }
  if (n < TCP_TEST_MAGIC_SIZE)
    {
      incoming_drop (in, "closed before its preamble");
      return;
    }
  if (memcmp (in->buf, TCP_TEST_MAGIC_CONNECTION, TCP_TEST_MAGIC_SIZE) == 0)
    rest = TCP_TEST_HELLO_SIZE - TCP_TEST_MAGIC_SIZE;
  else if (memcmp (in->buf, TCP_TEST_MAGIC_STREAM, TCP_TEST_MAGIC_SIZE) == 0)
    rest = TCP_TEST_STREAM_PREAMBLE_SIZE - TCP_TEST_MAGIC_SIZE;
  else
    {
      incoming_drop (in, "bad magic: not the tcp-test transport");
      return;
    }

  g_input_stream_read_all_async (G_INPUT_STREAM (source), in->buf + TCP_TEST_MAGIC_SIZE, rest,
                                 G_PRIORITY_DEFAULT, NULL, incoming_rest_cb, in);
}

static gboolean
service_incoming_cb (GSocketService    *service,
                     GSocketConnection *socket,
                     GObject           *source_object,
                     gpointer           user_data)
{
  TcpTestTransport *self = user_data;
  Incoming *in = g_new0 (Incoming, 1);

  in->self = g_object_ref (self);
  in->socket = g_object_ref (socket);
  /* A silent peer cannot hold the socket forever. */
  g_socket_set_timeout (g_socket_connection_get_socket (socket), self->handshake_timeout);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (socket)), in->buf,
                                 TCP_TEST_MAGIC_SIZE, G_PRIORITY_DEFAULT, NULL, incoming_magic_cb, in);
  return TRUE;
}

static const char *
tcp_test_transport_get_name (FoctetTransport *transport)
{
  return TCP_TEST_NAME;
}

#ifdef TCP_TEST_QUIC_TWIN
static guint
tcp_test_transport_get_address_kind (FoctetTransport *transport)
{
  return FOCTET_ADDRESS_KIND_QUIC;
}
#endif

static void
tcp_test_transport_listen_async (FoctetTransport     *transport,
                                 const char          *address,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0, bound_port = 0;

  g_task_set_source_tag (task, tcp_test_transport_listen_async);
  if (self->bound != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_EXISTS,
                               "The tcp-test transport already listens on %s", self->bound);
      return;
    }
  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                               "The tcp-test transport listens on IP addresses only, not on “%s”",
                               host);
      return;
    }
  if (!add_listener (self, inet, port, &bound_port, &error))
    {
      g_prefix_error (&error, "tcp-test cannot listen on %s: ", address);
      g_task_return_error (task, error);
      return;
    }

  self->stream_port = bound_port;
  self->accepting = TRUE;
  self->bound = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
                ? g_strdup_printf ("[%s]:%u", host, bound_port)
                : g_strdup_printf ("%s:%u", host, bound_port);
  g_debug ("tcp-test: listening on %s", self->bound);
  g_task_return_pointer (task, g_strdup (self->bound), g_free);
}

static char *
tcp_test_transport_listen_finish (FoctetTransport  *transport,
                                  GAsyncResult     *result,
                                  GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The dialing side. */

typedef struct {
  TcpTestTransport *self;            /* set while counted in self->dials */
  char *address;
  FoctetNodeId *expected;
  GSocketConnection *socket;
  guint8 token[TCP_TEST_TOKEN_SIZE];
  guint8 hello[TCP_TEST_HELLO_SIZE];
  guint8 reply[TCP_TEST_HELLO_SIZE];
} DialData;

static void
dial_data_free (DialData *data)
{
  /* Still here means the dial failed: the peer sees the end. */
  if (data->socket != NULL)
    g_io_stream_close (G_IO_STREAM (data->socket), NULL, NULL);
  g_clear_object (&data->socket);
  g_clear_pointer (&data->expected, foctet_node_id_free);
  g_free (data->address);
  if (data->self != NULL)
    {
      data->self->dials--;
      maybe_close_listeners (data->self);
      g_object_unref (data->self);
    }
  g_free (data);
}

static void
dial_return_io_error (GTask  *task,
                      GError *error)
{
  TcpTestTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                               "The tcp-test handshake with %s took longer than %u s",
                               data->address, self->handshake_timeout);
      g_error_free (error);
      return;
    }
  g_prefix_error (&error, "tcp-test handshake with %s: ", data->address);
  g_task_return_error (task, error);
}

static void
dial_reply_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  static const guint8 zero_token[TCP_TEST_TOKEN_SIZE] = { 0 };
  g_autoptr(FoctetNodeId) peer = NULL;
  TcpTestConnection *connection;
  GError *error = NULL;
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error))
    {
      dial_return_io_error (task, error);
      return;
    }
  if (n == 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                               "%s closed the connection without answering the tcp-test hello "
                               "(is it listening?)", data->address);
      return;
    }
  if (n < TCP_TEST_MAGIC_SIZE ||
      memcmp (data->reply, TCP_TEST_MAGIC_CONNECTION, TCP_TEST_MAGIC_SIZE) != 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "%s does not speak the tcp-test transport: bad magic in its answer",
                               data->address);
      return;
    }
  if (n < TCP_TEST_HELLO_SIZE)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "%s cut its tcp-test answer short: %" G_GSIZE_FORMAT " of %d bytes",
                               data->address, n, TCP_TEST_HELLO_SIZE);
      return;
    }
  if (memcmp (hello_get_token (data->reply), zero_token, TCP_TEST_TOKEN_SIZE) != 0 ||
      hello_get_port (data->reply) == 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "%s answered the tcp-test hello with a token or without a stream port",
                               data->address);
      return;
    }

  peer = foctet_node_id_new_from_data (data->reply + TCP_TEST_MAGIC_SIZE, FOCTET_NODE_ID_SIZE, NULL);
  if (data->expected != NULL && !foctet_node_id_equal (peer, data->expected))
    {
      g_autofree char *want = foctet_node_id_to_string (data->expected);
      g_autofree char *got = foctet_node_id_to_string (peer);

      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH,
                               "%s is node %s, not the expected %s", data->address, got, want);
      return;
    }

  connection = tcp_test_connection_new (self, data->socket, peer, data->token,
                                        hello_get_port (data->reply), TRUE);
  g_clear_object (&data->socket);
  g_task_return_pointer (task, connection, foctet_connection_discard);
}

static void
dial_hello_sent_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DialData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      dial_return_io_error (task, error);
      return;
    }
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (data->socket)),
                                 data->reply, sizeof data->reply, G_PRIORITY_DEFAULT,
                                 cancellable, dial_reply_cb, g_steal_pointer (&task));
}

static void
dial_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TcpTestTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  data->socket = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->socket == NULL)
    {
      dial_return_io_error (task, error);
      return;
    }

  /* The peer opens its streams to us: without a listener yet, open one
   * where it can reach us, on this connection's local address. */
  if (self->stream_port == 0)
    {
      g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (data->socket, &error);
      guint16 port = 0;

      if (local == NULL ||
          !add_listener (self, g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)), 0,
                         &port, &error))
        {
          g_prefix_error (&error, "tcp-test cannot listen for the peer's streams: ");
          g_task_return_error (task, error);
          return;
        }
      self->stream_port = port;
      g_debug ("tcp-test: listening for streams on port %u", port);
    }
  data->self = g_object_ref (self);
  self->dials++;

  for (guint i = 0; i < TCP_TEST_TOKEN_SIZE; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (data->token + i, &r, 4);
    }
  hello_fill (self, data->hello, data->token);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->socket)),
                                   data->hello, sizeof data->hello, G_PRIORITY_DEFAULT,
                                   cancellable, dial_hello_sent_cb,
                                   g_steal_pointer (&task));
}

static void
dial_now (TcpTestTransport    *self,
          const char          *address,
          const FoctetNodeId  *expected_peer,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnectable) connectable = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;
  DialData *data;

  g_task_set_source_tag (task, dial_now);
  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (port == 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                               "Cannot dial port 0 of %s", host);
      return;
    }

  data = g_new0 (DialData, 1);
  data->address = g_strdup (address);
  data->expected = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) dial_data_free);

  /* The client's timeout bounds each step of the handshake: the connect,
   * the hello and the answer.  The connection lifts it. */
  client = g_socket_client_new ();
  g_socket_client_set_timeout (client, self->handshake_timeout);
  connectable = g_network_address_new (host, port);
  g_socket_client_connect_async (client, connectable, cancellable, dial_connected_cb,
                                 g_steal_pointer (&task));
}

/* A dial as the dial-* properties say: it may wait, hang or fail before
 * (or instead of) dial_now (). */
typedef struct {
  char *address;
  FoctetNodeId *expected;
  GSource *timer;
  GSource *cancelled;
  gboolean returned;
} PendingDial;

static void
pending_dial_free (PendingDial *pending)
{
  g_free (pending->address);
  g_clear_pointer (&pending->expected, foctet_node_id_free);
  if (pending->timer != NULL)
    {
      g_source_destroy (pending->timer);
      g_source_unref (pending->timer);
    }
  if (pending->cancelled != NULL)
    {
      g_source_destroy (pending->cancelled);
      g_source_unref (pending->cancelled);
    }
  g_free (pending);
}

static void
pending_dial_return (GTask  *task,
                     gpointer connection,
                     GError *error)
{
  TcpTestTransport *self = g_task_get_source_object (task);
  PendingDial *pending = g_task_get_task_data (task);

  pending->returned = TRUE;
  if (pending->timer != NULL)
    g_source_destroy (pending->timer);
  if (pending->cancelled != NULL)
    g_source_destroy (pending->cancelled);
  self->pending_dials--;
  if (connection != NULL)
    g_task_return_pointer (task, connection, foctet_connection_discard);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static void
pending_dial_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  PendingDial *pending = g_task_get_task_data (task);
  GError *error = NULL;
  FoctetConnection *connection = g_task_propagate_pointer (G_TASK (result), &error);

  if (!pending->returned)
    pending_dial_return (task, connection, error);
  else
    {
      /* Cancelled meanwhile, and the caller was told so. */
      if (connection != NULL)
        {
          foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_NO_ERROR, "dial cancelled",
                                         NULL, NULL, NULL);
          g_object_unref (connection);
        }
      g_clear_error (&error);
    }
  g_object_unref (task);
}

static gboolean
pending_dial_cancelled_cb (GCancellable *cancellable,
                           gpointer      user_data)
{
  GTask *task = user_data;
  PendingDial *pending = g_task_get_task_data (task);

  g_clear_pointer (&pending->cancelled, g_source_unref);
  pending_dial_return (task, NULL, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                        "The tcp-test dial was cancelled"));
  return G_SOURCE_REMOVE;
}

static gboolean
pending_dial_timer_cb (gpointer user_data)
{
  GTask *task = user_data;
  TcpTestTransport *self = g_task_get_source_object (task);
  PendingDial *pending = g_task_get_task_data (task);

  g_clear_pointer (&pending->timer, g_source_unref);
  dial_now (self, pending->address, pending->expected,
            self->dial_ignore_cancel ? NULL : g_task_get_cancellable (task),
            pending_dial_cb, g_object_ref (task));
  return G_SOURCE_REMOVE;
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
  PendingDial *pending = g_new0 (PendingDial, 1);

  g_task_set_source_tag (task, tcp_test_transport_dial_async);
  pending->address = g_strdup (address);
  pending->expected = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  g_task_set_task_data (task, pending, (GDestroyNotify) pending_dial_free);
  self->dial_attempts++;
  self->pending_dials++;

  if (g_strcmp0 (self->dial_mode, "fail") == 0)
    {
      pending_dial_return (task, NULL,
                           g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                                        "tcp-test was told to fail dialing %s", address));
      return;
    }

  /* The caller gets what the dial says even when it cancelled: a dial
   * that ignores cancelling may connect anyway. */
  g_task_set_check_cancellable (task, FALSE);
  if (cancellable != NULL && !(self->dial_ignore_cancel && g_strcmp0 (self->dial_mode, "hang") != 0))
    {
      pending->cancelled = g_cancellable_source_new (cancellable);
      g_source_set_callback (pending->cancelled, (GSourceFunc) (void (*) (void)) pending_dial_cancelled_cb,
                             task, NULL);
      g_source_attach (pending->cancelled, self->context);
    }
  if (g_strcmp0 (self->dial_mode, "hang") == 0)
    return;

  if (self->dial_delay > 0)
    {
      pending->timer = g_timeout_source_new (self->dial_delay);
      g_source_set_callback (pending->timer, pending_dial_timer_cb, task, NULL);
      g_source_attach (pending->timer, self->context);
      return;
    }
  pending_dial_timer_cb (task);
}

static FoctetConnection *
tcp_test_transport_dial_finish (FoctetTransport  *transport,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
tcp_test_transport_get_listen_addresses (FoctetTransport *transport)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);
  GStrvBuilder *builder = g_strv_builder_new ();
  char **addresses;

#ifdef TCP_TEST_QUIC_TWIN
  /* Posing as a real transport, the twin lists a wildcard address's
   * interface addresses, as real ones do for tickets. */
  if (self->bound != NULL)
    {
      g_autofree char *host = NULL;
      g_autoptr(GInetAddress) inet = NULL;
      guint16 port = 0;

      if (foctet_parse_host_port (self->bound, &host, &port, NULL) &&
          (inet = g_inet_address_new_from_string (host)) != NULL)
        {
          g_auto(GStrv) expanded = foctet_transport_expand_listen_address (inet, port);

          g_strv_builder_addv (builder, (const char **) expanded);
        }
    }
#else
  if (self->bound != NULL)
    g_strv_builder_add (builder, self->bound);
#endif
  addresses = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return addresses;
}

/* No more new connections.  The established ones keep working, and the
 * listener with them, since their peers open streams to it. */
static void
tcp_test_transport_stop (FoctetTransport *transport)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (transport);

  if (self->bound != NULL)
    g_debug ("tcp-test: no longer listening on %s", self->bound);
  self->accepting = FALSE;
  g_clear_pointer (&self->bound, g_free);
  maybe_close_listeners (self);
}

static void
tcp_test_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = tcp_test_transport_get_name;
#ifdef TCP_TEST_QUIC_TWIN
  iface->get_address_kind = tcp_test_transport_get_address_kind;
#endif
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
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->handshake_timeout);
      break;
    case PROP_DIAL_MODE:
      g_value_set_string (value, self->dial_mode);
      break;
    case PROP_DIAL_DELAY:
      g_value_set_uint (value, self->dial_delay);
      break;
    case PROP_DIAL_IGNORE_CANCEL:
      g_value_set_boolean (value, self->dial_ignore_cancel);
      break;
    case PROP_DIAL_ATTEMPTS:
      g_value_set_uint (value, self->dial_attempts);
      break;
    case PROP_PENDING_DIALS:
      g_value_set_uint (value, self->pending_dials);
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
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      self->handshake_timeout = g_value_get_uint (value);
      break;
    case PROP_DIAL_MODE:
      g_free (self->dial_mode);
      self->dial_mode = g_value_dup_string (value);
      break;
    case PROP_DIAL_DELAY:
      self->dial_delay = g_value_get_uint (value);
      break;
    case PROP_DIAL_IGNORE_CANCEL:
      self->dial_ignore_cancel = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tcp_test_transport_constructed (GObject *object)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  G_OBJECT_CLASS (tcp_test_transport_parent_class)->constructed (object);

  /* Without an identity there is no NodeId to say hello with. */
  g_assert (FOCTET_IS_IDENTITY (self->identity));
}

static void
tcp_test_transport_dispose (GObject *object)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  /* Connections hold the transport, so none is left by now. */
  self->accepting = FALSE;
  g_clear_pointer (&self->bound, g_free);
  close_listeners (self);

  G_OBJECT_CLASS (tcp_test_transport_parent_class)->dispose (object);
}

static void
tcp_test_transport_finalize (GObject *object)
{
  TcpTestTransport *self = TCP_TEST_TRANSPORT (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->dial_mode);

  G_OBJECT_CLASS (tcp_test_transport_parent_class)->finalize (object);
}

static void
tcp_test_transport_class_init (TcpTestTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = tcp_test_transport_get_property;
  object_class->set_property = tcp_test_transport_set_property;
  object_class->constructed = tcp_test_transport_constructed;
  object_class->dispose = tcp_test_transport_dispose;
  object_class->finalize = tcp_test_transport_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");

  /**
   * TcpTestTransport:handshake-timeout:
   *
   * Seconds each step of a handshake (connect, hello, answer, stream
   * preamble) may take.  Tests lower it to see a silent peer fail fast.
   */
  g_object_class_install_property (object_class, PROP_HANDSHAKE_TIMEOUT,
    g_param_spec_uint ("handshake-timeout", NULL, NULL, 1, 3600, TCP_TEST_DEFAULT_HANDSHAKE_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS));

  /* For tests of dialing; see foctet-tcp-test.h. */
  g_object_class_install_property (object_class, PROP_DIAL_MODE,
    g_param_spec_string ("dial-mode", NULL, NULL, "normal",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_DIAL_DELAY,
    g_param_spec_uint ("dial-delay", NULL, NULL, 0, 600 * 1000, 0,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_DIAL_IGNORE_CANCEL,
    g_param_spec_boolean ("dial-ignore-cancel", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_DIAL_ATTEMPTS,
    g_param_spec_uint ("dial-attempts", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_PENDING_DIALS,
    g_param_spec_uint ("pending-dials", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
tcp_test_transport_class_finalize (TcpTestTransportClass *klass)
{
}

static void
tcp_test_transport_init (TcpTestTransport *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->dial_mode = g_strdup (g_getenv ("TCP_TEST_DIAL_MODE") != NULL ? g_getenv ("TCP_TEST_DIAL_MODE")
                                                                     : "normal");
  if (g_getenv ("TCP_TEST_DIAL_DELAY") != NULL)
    self->dial_delay = (guint) g_ascii_strtoull (g_getenv ("TCP_TEST_DIAL_DELAY"), NULL, 10);
}

void
tcp_test_transport_register (GTypeModule *module)
{
  tcp_test_transport_register_type (module);
}

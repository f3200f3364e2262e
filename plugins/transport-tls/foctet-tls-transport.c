/* foctet-tls-transport.c: the "tls" transport — TCP, then the TLS 1.3
 * handshake of PROTOCOL §2, then a muxer (yamux, PROTOCOL §4) inside.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <netinet/in.h>

#include "foctet-tls-transport.h"

#include <foctet-address-counts.h>
#include <foctet-remote-address.h>

#define DEFAULT_MAX_HANDSHAKES 64
#define DEFAULT_MAX_HANDSHAKES_PER_ADDRESS 16
#define DEFAULT_MAX_PER_ADDRESS 64

struct _TlsTransport {
  GObject parent_instance;

  FoctetIdentity *identity;
  guint handshake_timeout;           /* milliseconds */
  guint max_handshakes;
  guint max_handshakes_per_address;
  guint max_per_address;
  char *muxer_name;                  /* NULL: the preferred one */
  char *alpn;                        /* PROTOCOL §2: foctet/1, or foctet-relay/1 */
  GMainContext *context;             /* thread-default at construction */

  FoctetSocketService *service;      /* NULL while nothing listens */
  GPtrArray *bound;                  /* GInetSocketAddress listened on */
  GQueue handshakes;                 /* Incoming: handshakes in progress, oldest first */
  FoctetAddressCounts *per_address;  /* remote IP text → its handshakes in progress */
  FoctetAddressCounts *connections;  /* remote IP text → its incoming connections */
};

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_MAX_HANDSHAKES,
  PROP_MAX_HANDSHAKES_PER_ADDRESS,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_MUXER,
  PROP_ALPN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void tls_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (TlsTransport, tls_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               tls_transport_iface_init))

static char *
socket_address_string (GSocketConnection *connection,
                       gboolean           remote)
{
  /* The peer's address as accept () gave it: a connection reset while it
   * waited to be accepted no longer knows it otherwise. */
  g_autoptr(GSocketAddress) address = remote ? foctet_socket_connection_get_remote_address (connection, NULL)
                                             : g_socket_connection_get_local_address (connection, NULL);

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  return foctet_socket_address_to_string (address);
}

/* The muxer session over a finished handshake. */
static FoctetConnection *
wrap (TlsTransport       *self,
      FoctetTlsStream    *tls,
      GSocketConnection  *tcp,
      gboolean            is_initiator,
      GError            **error)
{
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_autofree char *local = socket_address_string (tcp, FALSE);
  g_autofree char *remote = socket_address_string (tcp, TRUE);

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), self->muxer_name, error);
  if (muxer == NULL)
    return NULL;
  return foctet_muxer_wrap (muxer, G_IO_STREAM (tls), is_initiator, foctet_tls_stream_get_peer_id (tls),
                            TLS_TRANSPORT_NAME, local, remote, error);
}

/* ------------------------------------------------------------------ */
/* Listening                                                           */

/* An incoming connection while its handshake runs. */
typedef struct {
  TlsTransport *self;
  GSocketConnection *tcp;
  char *remote;                       /* host:port */
  char *host;                         /* the key of per_address */
  GCancellable *cancellable;
  gint64 started;                     /* monotonic µs */
  GList link;                         /* in self->handshakes, until it ends or gives way */
  gboolean gave_way;                  /* cancelled for a newer connection */
} Incoming;

static void
incoming_free (Incoming *in)
{
  g_object_unref (in->self);
  g_object_unref (in->tcp);
  g_object_unref (in->cancellable);
  g_free (in->remote);
  g_free (in->host);
  g_free (in);
}

/* @in's handshake no longer counts in the limits of handshakes. */
static void
incoming_forget (Incoming *in)
{
  g_queue_unlink (&in->self->handshakes, &in->link);
  foctet_address_counts_add (in->self->per_address, in->host, -1);
}

/* A refused handshake ends with a lingering close: our FIN follows the
 * alert at once, and what the peer still sends (the rest of its
 * handshake, its first records) is read and dropped until it closes too,
 * for LINGER_MS and LINGER_BYTES at the most.  Closed at once with those
 * bytes unread, the socket would answer them with a reset, which can
 * reach the peer before it read the alert: it would see "connection
 * reset" or "broken pipe" rather than why it was refused.  Beyond
 * LINGER_MAX connections lingering at once (a flood of bad handshakes),
 * the rest close at once. */
#define LINGER_MS 1000
#define LINGER_BYTES (256 * 1024)
#define LINGER_MAX 256

static gint lingering;

/* The socket source owns the Linger; the Linger owns the timer, which
 * holds a reference to the socket source and destroys it when time is
 * up.  (A socket source's own ready time does not do: GLib resets it
 * after every dispatch.) */
typedef struct {
  GSocketConnection *tcp;
  GSource *timer;
  gsize dropped;
} Linger;

static void
linger_free (gpointer data)
{
  Linger *linger = data;

  g_source_destroy (linger->timer);
  g_source_unref (linger->timer);
  g_io_stream_close_async (G_IO_STREAM (linger->tcp), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (linger->tcp);
  g_free (linger);
  g_atomic_int_dec_and_test (&lingering);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  g_source_destroy (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
linger_cb (GSocket      *socket,
           GIOCondition  condition,
           gpointer      user_data)
{
  Linger *linger = user_data;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      char buffer[16 * 1024];
      gssize n = g_socket_receive_with_blocking (socket, buffer, sizeof buffer, FALSE, NULL, &error);

      if (n > 0 && (linger->dropped += n) < LINGER_BYTES)
        continue;
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
      return G_SOURCE_REMOVE;
    }
}

static void
linger_close (TlsTransport      *self,
              GSocketConnection *tcp)
{
  GSocket *socket = g_socket_connection_get_socket (tcp);
  g_autoptr(GSource) source = NULL;
  Linger *linger;

  if (g_atomic_int_add (&lingering, 1) >= LINGER_MAX || !g_socket_shutdown (socket, FALSE, TRUE, NULL))
    {
      g_atomic_int_dec_and_test (&lingering);
      g_io_stream_close_async (G_IO_STREAM (tcp), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      return;
    }
  linger = g_new0 (Linger, 1);
  linger->tcp = g_object_ref (tcp);
  source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  linger->timer = g_timeout_source_new (LINGER_MS);
  g_source_set_callback (linger->timer, linger_timeout_cb, g_source_ref (source), (GDestroyNotify) g_source_unref);
  g_source_attach (linger->timer, self->context);
  g_source_set_callback (source, G_SOURCE_FUNC (linger_cb), linger, linger_free);
  g_source_attach (source, self->context);
}

static void
incoming_failed (Incoming *in,
                 GError   *error,
                 gboolean  linger)
{
  g_debug ("Refused the TLS connection from %s: %s", in->remote, error->message);
  foctet_transport_emit_incoming_failed (FOCTET_TRANSPORT (in->self), in->remote, error);
  if (linger)
    linger_close (in->self, in->tcp);
  else
    g_io_stream_close_async (G_IO_STREAM (in->tcp), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_error_free (error);
}

static void
incoming_handshake_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Incoming *in = user_data;
  TlsTransport *self = in->self;
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GError *error = NULL;

  if (!in->gave_way)
    incoming_forget (in);
  tls = foctet_tls_stream_handshake_finish (result, &error);
  if (tls != NULL)
    connection = wrap (self, tls, in->tcp, FALSE, &error);
  if (connection == NULL)
    {
      foctet_address_counts_add (self->connections, in->host, -1);
      if (in->gave_way)
        {
          g_clear_error (&error);
          error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                               "Dropped after %.1f s without a TLS handshake: %u handshakes were in progress, "
                               "and a newer connection needed the room",
                               (g_get_monotonic_time () - in->started) / (double) G_USEC_PER_SEC,
                               self->max_handshakes);
          incoming_failed (in, error, FALSE);
        }
      /* Lingering only when the handshake failed: a stream that
       * succeeded still owns the socket, and closes it itself. */
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        incoming_failed (in, error, tls == NULL);
      else
        g_error_free (error);
      incoming_free (in);
      return;
    }
  /* Established, it counts until it closes or is freed. */
  foctet_address_counts_release_with (self->connections, connection, in->host);
  foctet_transport_emit_incoming (FOCTET_TRANSPORT (self), connection);
  incoming_free (in);
}

/* Whether a new connection may start its handshake: while half of
 * max-handshakes or more are in progress, not if its address has
 * max-handshakes-per-address of them; when all are taken, the oldest
 * gives way if it has run for a tenth of the handshake timeout (a peer
 * that connected and sends nothing, or next to nothing), else the new one
 * is refused.  So under pressure one address cannot take every slot, and
 * idle connections cannot keep the slots from peers that handshake in
 * milliseconds; a quiet listener takes a burst from one address (many
 * nodes behind one NAT reconnecting at once) as it comes.  FALSE with
 * why in @error. */
static gboolean
incoming_admit (TlsTransport  *self,
                const char    *host,
                GError       **error)
{
  guint count = foctet_address_counts_get (self->per_address, host);
  guint connections = foctet_address_counts_get (self->connections, host);
  Incoming *oldest;

  if (connections >= self->max_per_address)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "%s already has %u TLS connections", host, connections);
      return FALSE;
    }
  if (count >= self->max_handshakes_per_address && self->handshakes.length >= self->max_handshakes / 2)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "%s already has %u TLS handshakes in progress", host, count);
      return FALSE;
    }
  if (self->handshakes.length < self->max_handshakes)
    return TRUE;
  oldest = g_queue_peek_head (&self->handshakes);
  if (g_get_monotonic_time () - oldest->started < (gint64) self->handshake_timeout * 1000 / 10)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "%u TLS handshakes are already in progress", self->handshakes.length);
      return FALSE;
    }
  incoming_forget (oldest);
  oldest->gave_way = TRUE;
  g_cancellable_cancel (oldest->cancellable);
  return TRUE;
}

static void
service_incoming_cb (FoctetSocketService *service,
                     GSocketConnection   *tcp,
                     GObject             *source_object,
                     gpointer             user_data)
{
  TlsTransport *self = user_data;
  g_autoptr(GSocketAddress) address = foctet_socket_connection_get_remote_address (tcp, NULL);
  Incoming *in = g_new0 (Incoming, 1);
  GError *error = NULL;

  in->self = g_object_ref (self);
  in->tcp = g_object_ref (tcp);
  in->remote = socket_address_string (tcp, TRUE);
  in->host = G_IS_INET_SOCKET_ADDRESS (address)
             ? g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)))
             : g_strdup ("unknown");
  in->cancellable = g_cancellable_new ();
  in->link.data = in;

  /* Handshakes cost CPU and memory before the peer proved anything: cap
   * how many run at once, and how long each may take. */
  if (!incoming_admit (self, in->host, &error))
    {
      incoming_failed (in, error, FALSE);
      incoming_free (in);
      return;
    }
  foctet_tcp_socket_tune (g_socket_connection_get_socket (tcp));
  in->started = g_get_monotonic_time ();
  g_queue_push_tail_link (&self->handshakes, &in->link);
  foctet_address_counts_add (self->per_address, in->host, 1);
  foctet_address_counts_add (self->connections, in->host, 1);
  foctet_tls_stream_handshake_async (G_IO_STREAM (tcp), self->identity, TRUE, self->alpn, NULL,
                                     self->handshake_timeout, in->cancellable,
                                     incoming_handshake_cb, in);
}

static const char *
tls_transport_get_name (FoctetTransport *transport)
{
  return TLS_TRANSPORT_NAME;
}

static guint
tls_transport_get_address_kind (FoctetTransport *transport)
{
  return FOCTET_ADDRESS_KIND_TLS;
}

static void
tls_transport_listen_async (FoctetTransport     *transport,
                            const char          *address,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  TlsTransport *self = TLS_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;

  g_task_set_source_tag (task, tls_transport_listen_async);
  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                               "The tls transport listens on IP addresses, not on “%s”", host);
      return;
    }

  /* Made on the first listen after a stop, which drops it. */
  if (self->service == NULL)
    {
      self->service = foctet_socket_service_new ();
      g_signal_connect (self->service, "incoming", G_CALLBACK (service_incoming_cb), self);
    }

  /* The socket is made here rather than by GSocketListener, so that an
   * IPv6 one takes IPv6 only (as the quic transport's): a wildcard
   * address is listed as this host's addresses of its family (see
   * foctet_transport_expand_listen_address ()), so a dual-stack socket
   * would take IPv4 connections that no ticket of it offers.  The service
   * accepts on the context that is thread-default when it starts. */
  socket_address = g_inet_socket_address_new (inet, port);
  socket = foctet_tcp_listener_socket_new (G_INET_SOCKET_ADDRESS (socket_address), &error);
  if (socket != NULL)
    effective = g_socket_get_local_address (socket, &error);
  if (effective == NULL)
    {
      g_prefix_error (&error, "Cannot listen on %s: ", address);
      g_task_return_error (task, error);
      return;
    }
  foctet_socket_service_add_socket (self->service, socket, NULL);
  g_main_context_push_thread_default (self->context);
  foctet_socket_service_start (self->service);
  g_main_context_pop_thread_default (self->context);

  g_ptr_array_add (self->bound, g_object_ref (effective));
  g_debug ("Listening on tls/%s (port %u)", address,
           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
  g_task_return_pointer (task, foctet_socket_address_to_string (effective), g_free);
}

static char *
tls_transport_listen_finish (FoctetTransport  *transport,
                             GAsyncResult     *result,
                             GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
tls_transport_get_listen_addresses (FoctetTransport *transport)
{
  TlsTransport *self = TLS_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < self->bound->len; i++)
    {
      GInetSocketAddress *bound = self->bound->pdata[i];
      g_auto(GStrv) addresses = foctet_transport_expand_listen_address (g_inet_socket_address_get_address (bound),
                                                                        g_inet_socket_address_get_port (bound));

      g_strv_builder_addv (builder, (const char **) addresses);
    }
  return g_strv_builder_end (builder);
}

/* No new connections; established ones go on. */
static void
tls_transport_stop (FoctetTransport *transport)
{
  TlsTransport *self = TLS_TRANSPORT (transport);

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->service, service_incoming_cb, self);
      foctet_socket_service_close (self->service);
      g_clear_object (&self->service);
    }
  /* Their callbacks take them out of the limits. */
  for (GList *l = self->handshakes.head; l != NULL; l = l->next)
    g_cancellable_cancel (((Incoming *) l->data)->cancellable);
  g_ptr_array_set_size (self->bound, 0);
}

/* ------------------------------------------------------------------ */
/* Dialing                                                             */

typedef struct {
  char *address;
  FoctetNodeId *expected;
  GSocketConnection *tcp;
} DialData;

static void
dial_data_free (DialData *data)
{
  g_free (data->address);
  g_clear_pointer (&data->expected, foctet_node_id_free);
  g_clear_object (&data->tcp);
  g_free (data);
}

static void
dial_handshake_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TlsTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  g_autoptr(FoctetTlsStream) tls = NULL;
  FoctetConnection *connection = NULL;
  GError *error = NULL;

  tls = foctet_tls_stream_handshake_finish (result, &error);
  if (tls != NULL)
    connection = wrap (self, tls, data->tcp, TRUE, &error);
  if (connection == NULL)
    {
      g_io_stream_close_async (G_IO_STREAM (data->tcp), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      g_task_return_error (task, error);
      return;
    }
  /* Closed if the dial was cancelled meanwhile, instead of left open. */
  g_task_return_pointer (task, connection, foctet_connection_discard);
}

static void
dial_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TlsTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  data->tcp = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->tcp == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, error);
      else
        {
          g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE,
                                   "Cannot reach tls/%s: %s", data->address, error->message);
          g_error_free (error);
        }
      return;
    }
  foctet_tcp_socket_tune (g_socket_connection_get_socket (data->tcp));
  foctet_tls_stream_handshake_async (G_IO_STREAM (data->tcp), self->identity, FALSE, self->alpn,
                                     data->expected, self->handshake_timeout,
                                     cancellable, dial_handshake_cb, g_steal_pointer (&task));
}

static void
tls_transport_dial_async (FoctetTransport     *transport,
                          const char          *address,
                          const FoctetNodeId  *expected_peer,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  TlsTransport *self = TLS_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnectable) connectable = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;
  DialData *data;

  g_task_set_source_tag (task, tls_transport_dial_async);
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

  client = g_socket_client_new ();
  g_socket_client_set_timeout (client, MAX (1, (self->handshake_timeout + 999) / 1000));
  connectable = g_network_address_new (host, port);
  g_socket_client_connect_async (client, connectable, cancellable, dial_connected_cb,
                                 g_steal_pointer (&task));
}

static FoctetConnection *
tls_transport_dial_finish (FoctetTransport  *transport,
                           GAsyncResult     *result,
                           GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
tls_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = tls_transport_get_name;
  iface->get_address_kind = tls_transport_get_address_kind;
  iface->listen_async = tls_transport_listen_async;
  iface->listen_finish = tls_transport_listen_finish;
  iface->dial_async = tls_transport_dial_async;
  iface->dial_finish = tls_transport_dial_finish;
  iface->get_listen_addresses = tls_transport_get_listen_addresses;
  iface->stop = tls_transport_stop;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
tls_transport_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  TlsTransport *self = TLS_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->handshake_timeout);
      break;
    case PROP_MAX_HANDSHAKES:
      g_value_set_uint (value, self->max_handshakes);
      break;
    case PROP_MAX_HANDSHAKES_PER_ADDRESS:
      g_value_set_uint (value, self->max_handshakes_per_address);
      break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS:
      g_value_set_uint (value, self->max_per_address);
      break;
    case PROP_MUXER:
      g_value_set_string (value, self->muxer_name);
      break;
    case PROP_ALPN:
      g_value_set_string (value, self->alpn);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tls_transport_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  TlsTransport *self = TLS_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      self->handshake_timeout = g_value_get_uint (value);
      break;
    case PROP_MAX_HANDSHAKES:
      self->max_handshakes = g_value_get_uint (value);
      break;
    case PROP_MAX_HANDSHAKES_PER_ADDRESS:
      self->max_handshakes_per_address = g_value_get_uint (value);
      break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS:
      self->max_per_address = g_value_get_uint (value);
      break;
    case PROP_MUXER:
      g_free (self->muxer_name);
      self->muxer_name = g_value_dup_string (value);
      break;
    case PROP_ALPN:
      g_free (self->alpn);
      self->alpn = g_value_get_string (value) != NULL ? g_value_dup_string (value) : g_strdup (FOCTET_TLS_ALPN);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tls_transport_constructed (GObject *object)
{
  TlsTransport *self = TLS_TRANSPORT (object);

  G_OBJECT_CLASS (tls_transport_parent_class)->constructed (object);
  g_assert (FOCTET_IS_IDENTITY (self->identity));
}

static void
tls_transport_dispose (GObject *object)
{
  tls_transport_stop (FOCTET_TRANSPORT (object));

  G_OBJECT_CLASS (tls_transport_parent_class)->dispose (object);
}

static void
tls_transport_finalize (GObject *object)
{
  TlsTransport *self = TLS_TRANSPORT (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->bound, g_ptr_array_unref);
  /* Every handshake held a reference: none is left. */
  g_assert (self->handshakes.length == 0);
  g_clear_pointer (&self->per_address, foctet_address_counts_unref);
  g_clear_pointer (&self->connections, foctet_address_counts_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->muxer_name);
  g_free (self->alpn);

  G_OBJECT_CLASS (tls_transport_parent_class)->finalize (object);
}

static void
tls_transport_class_init (TlsTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = tls_transport_get_property;
  object_class->set_property = tls_transport_set_property;
  object_class->constructed = tls_transport_constructed;
  object_class->dispose = tls_transport_dispose;
  object_class->finalize = tls_transport_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");

  /**
   * TlsTransport:handshake-timeout:
   *
   * Milliseconds a TCP connect plus TLS handshake may take, in both
   * directions: a silent or slow peer is cut off after it.
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL, 1, 3600 * 1000, FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * TlsTransport:max-handshakes:
   *
   * Incoming handshakes allowed in progress at once.  When all are
   * taken, the oldest gives way to a new connection if it has run for a
   * tenth of #TlsTransport:handshake-timeout (a peer that connects and
   * sends nothing); otherwise the new connection is closed at once.
   */
  properties[PROP_MAX_HANDSHAKES] =
    g_param_spec_uint ("max-handshakes", NULL, NULL, 1, 65536, DEFAULT_MAX_HANDSHAKES,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * TlsTransport:max-handshakes-per-address:
   *
   * Incoming handshakes allowed in progress at once from one IP address
   * while half of #TlsTransport:max-handshakes or more are in progress;
   * a further connection from it is then closed at once.
   */
  properties[PROP_MAX_HANDSHAKES_PER_ADDRESS] =
    g_param_spec_uint ("max-handshakes-per-address", NULL, NULL, 1, 65536, DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * TlsTransport:max-connections-per-address:
   *
   * Incoming connections (in handshake or established) allowed at once
   * from one IP address; a further connection from it is closed at once.
   */
  properties[PROP_MAX_CONNECTIONS_PER_ADDRESS] =
    g_param_spec_uint ("max-connections-per-address", NULL, NULL, 1, 65536, DEFAULT_MAX_PER_ADDRESS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * TlsTransport:muxer:
   *
   * The muxer plugin to run inside TLS, or %NULL for the preferred one.
   */
  properties[PROP_MUXER] =
    g_param_spec_string ("muxer", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_HANDSHAKE_TIMEOUT, properties[PROP_HANDSHAKE_TIMEOUT]);
  g_object_class_install_property (object_class, PROP_MAX_HANDSHAKES, properties[PROP_MAX_HANDSHAKES]);
  g_object_class_install_property (object_class, PROP_MAX_HANDSHAKES_PER_ADDRESS,
                                   properties[PROP_MAX_HANDSHAKES_PER_ADDRESS]);
  g_object_class_install_property (object_class, PROP_MAX_CONNECTIONS_PER_ADDRESS,
                                   properties[PROP_MAX_CONNECTIONS_PER_ADDRESS]);
  /**
   * TlsTransport:alpn:
   *
   * The one ALPN protocol this transport offers and accepts:
   * %FOCTET_TLS_ALPN between nodes, %FOCTET_TLS_ALPN_RELAY between a relay
   * and its clients (PROTOCOL §7).  Applies to handshakes started after
   * it is set.
   */
  properties[PROP_ALPN] =
    g_param_spec_string ("alpn", NULL, NULL, FOCTET_TLS_ALPN,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_MUXER, properties[PROP_MUXER]);
  g_object_class_install_property (object_class, PROP_ALPN, properties[PROP_ALPN]);
}

static void
tls_transport_class_finalize (TlsTransportClass *klass)
{
}

static void
tls_transport_init (TlsTransport *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->bound = g_ptr_array_new_with_free_func (g_object_unref);
  self->per_address = foctet_address_counts_new ();
  self->connections = foctet_address_counts_new ();
}

void
tls_transport_register (GTypeModule *module)
{
  tls_transport_register_type (module);
}

/* foctet-relay-transport.c: the "relay" transport — reaching nodes, and
 * being reached, through a relay (PROTOCOL §7, docs/protocol.md "Relay
 * control").
 *
 * To a relay at HOST:PORT this transport keeps one connection (a link),
 * made by a private instance of the "tls" transport that speaks ALPN
 * foctet-relay/1.  "Listening" on HOST:PORT holds a reservation on the
 * link, renewed before its TTL runs out, and the link is made again with
 * exponential backoff when the relay goes away.  A dial opens a circuit
 * on the link: a raw circuit when the relay offers them — the circuit's
 * bytes go over a TCP connection of their own to the relay, claimed with
 * a one-time token, which the relay splices to the other node's — else a
 * v1 circuit, relayed over the link itself.  Inside a circuit both nodes run the handshake of
 * PROTOCOL §2 (ALPN foctet/1) through the core's FoctetTlsStream and the
 * muxer found on the muxer extension point — the same code the tls
 * transport runs over TCP — so the relay only ever forwards ciphertext.
 *
 * The relay's directory rides on the same links: once reserved, a link
 * publishes what the identity's relay discovery asks for
 * (foctet-relay-shared.h) on a publish stream, so the relay drops it with
 * the reservation, and publishes again whenever the reservation is made
 * again; lookups open a lookup stream on the link to the relay asked.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-transport.h"
#include "foctet-relay-common.h"
#include "foctet-relay-message.h"
#include "foctet-relay-shared.h"


/* How long the relay and the target may take to set up a circuit. */
#define CIRCUIT_SETUP_TIMEOUT_MS 15000

struct _RelayTransport {
  GObject parent_instance;

  FoctetIdentity *identity;
  guint handshake_timeout;            /* milliseconds, for links and circuits */
  GMainContext *context;              /* thread-default at construction */
  FoctetTransport *carrier;           /* "tls" with ALPN foctet-relay/1 */
  GHashTable *links;                  /* relay "host:port" → Link */
  GCancellable *cancellable;          /* cancelled by stop () */
  RelayShared *shared;                /* the identity's, with the relay discovery */
};

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_OBSERVED_ADDRESSES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void relay_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (RelayTransport, relay_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               relay_transport_iface_init))

/* ------------------------------------------------------------------ */
/* Links                                                               */

/* The connection to one relay.  The transport's table holds a
 * reference, every operation under way on the link another; once the
 * link is dropped (transport stopped, link no longer needed) @transport
 * is NULL and callbacks only let go. */
typedef struct {
  grefcount refs;
  RelayTransport *transport;
  char *address;                      /* the relay's "host:port" */
  FoctetConnection *connection;       /* NULL while (re)connecting */
  gulong closed_id;
  gboolean connecting;
  GPtrArray *waiters;                 /* dial GTasks waiting for the connection */
  gboolean no_raw;                    /* the relay refused connect-raw/1: v1 circuits only */
  GCancellable *cancellable;          /* of everything on the link */

  /* Listening: holding a reservation */
  gboolean listening;
  GTask *listen_task;                 /* until the first reservation */
  gboolean reserve_opening;
  FoctetStream *reserve_stream;
  gboolean reserved;
  gboolean lost;                      /* reserved once, not now: listener-lost was emitted */
  char *observed;                     /* our address as the relay sees it */
  GSource *renew;
  GSource *retry;
  guint backoff_ms;

  /* Publishing in the relay's directory, under the reservation */
  FoctetStream *publish_stream;
  gboolean publish_busy;              /* opening the stream, or a PUBLISH unanswered */
  gboolean publish_again;             /* what to publish changed meanwhile */
  guint publish_generation;           /* callbacks of an older one only let go */
} Link;

static Link *
link_ref (Link *link)
{
  g_ref_count_inc (&link->refs);
  return link;
}

static void
link_unref (Link *link)
{
  if (!g_ref_count_dec (&link->refs))
    return;
  g_assert (link->transport == NULL);
  g_clear_object (&link->cancellable);
  g_ptr_array_unref (link->waiters);
  g_free (link->observed);
  g_free (link->address);
  g_free (link);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Link, link_unref)

static void link_connect (Link *link);
static void link_reserve (Link *link);
static void link_forget_observed (Link *link);
static void link_ask_observed (Link *link);
static void dial_on_link (GTask *task);
static void lookup_on_link (GTask *task);

static void
notify_observed (RelayTransport *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OBSERVED_ADDRESSES]);
}

/* The relay drops what was published with the reservation: so do we. */
static void
link_forget_publication (Link *link)
{
  link->publish_generation++;
  link->publish_busy = FALSE;
  link->publish_again = FALSE;
  if (link->publish_stream != NULL)
    foctet_stream_reset (link->publish_stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  g_clear_object (&link->publish_stream);
}

/* Where the relay sees us, from RESERVE_OK or observed/1. */
static void
link_set_observed (Link       *link,
                   const char *address)
{
  if (g_strcmp0 (link->observed, address) == 0)
    return;
  g_free (link->observed);
  link->observed = g_strdup (address);
  g_debug ("Relay %s: it sees us at %s", link->address, address);
  notify_observed (link->transport);
}

/* What observed/1 told a link without a reservation goes with its
 * connection; a reservation's goes with the reservation. */
static void
link_forget_observed (Link *link)
{
  if (link->reserved || link->observed == NULL)
    return;
  g_clear_pointer (&link->observed, g_free);
  if (link->transport != NULL)
    notify_observed (link->transport);
}

static void
link_forget_reservation (Link *link)
{
  link_forget_publication (link);
  relay_clear_source (&link->renew);
  if (link->reserve_stream != NULL)
    foctet_stream_reset (link->reserve_stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  g_clear_object (&link->reserve_stream);
  if (link->reserved)
    {
      link->reserved = FALSE;
      g_clear_pointer (&link->observed, g_free);
      notify_observed (link->transport);
    }
}

/* The table's destroy function: ends everything on the link. */
static void
link_drop (Link *link)
{
  RelayTransport *self = link->transport;

  g_cancellable_cancel (link->cancellable);
  relay_clear_source (&link->retry);
  link_forget_reservation (link);
  link_forget_observed (link);
  if (link->connection != NULL)
    {
      g_clear_signal_handler (&link->closed_id, link->connection);
      foctet_connection_close_async (link->connection, FOCTET_CLOSE_CODE_GOING_AWAY, "not needed any more",
                                     NULL, NULL, NULL);
      g_clear_object (&link->connection);
    }
  for (guint i = 0; i < link->waiters->len; i++)
    g_task_return_new_error (g_ptr_array_index (link->waiters, i), G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             "The relay transport was stopped");
  g_ptr_array_set_size (link->waiters, 0);
  if (link->listen_task != NULL)
    {
      g_task_return_new_error (link->listen_task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The relay transport was stopped");
      g_clear_object (&link->listen_task);
    }
  (void) self;
  link->transport = NULL;
  link_unref (link);
}

/* The link, made if there is none yet. */
static Link *
link_get (RelayTransport *self,
          const char     *address)
{
  Link *link = g_hash_table_lookup (self->links, address);

  if (link != NULL)
    return link;
  link = g_new0 (Link, 1);
  g_ref_count_init (&link->refs);
  link->transport = self;
  link->address = g_strdup (address);
  link->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  link->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->links, link->address, link);
  return link;
}

/* Drops the link unless something still needs it. */
static void
link_release_if_unused (Link *link)
{
  if (link->transport != NULL && !link->listening && !link->connecting && link->waiters->len == 0 &&
      link->connection == NULL)
    g_hash_table_remove (link->transport->links, link->address);
}

static gboolean
link_retry_cb (gpointer user_data)
{
  Link *link = user_data;

  g_clear_pointer (&link->retry, g_source_unref);
  if (link->connection == NULL)
    link_connect (link);
  else
    link_reserve (link);
  return G_SOURCE_REMOVE;
}

/* Tries again later, each time twice as late: the relay went away, or
 * refused us for now. */
static void
link_schedule_retry (Link *link)
{
  if (link->retry != NULL || !link->listening)
    return;
  link->backoff_ms = link->backoff_ms == 0 ? RELAY_BACKOFF_MIN_MS : MIN (link->backoff_ms * 2, RELAY_BACKOFF_MAX_MS);
  g_debug ("Relay %s: trying again in %u ms", link->address, link->backoff_ms);
  link->retry = relay_attach_timeout (link->transport->context, link->backoff_ms, link_retry_cb, link);
}

/* The reservation failed or ended: a listen still waiting gets @error,
 * else the link tries again. */
static void
link_reservation_lost (Link   *link,
                       GError *error)
{
  gboolean was_reserved = link->reserved;

  g_debug ("Relay %s: no reservation: %s", link->address, error->message);
  link_forget_reservation (link);
  if (link->listen_task != NULL)
    {
      GTask *task = g_steal_pointer (&link->listen_task);

      link->listening = FALSE;
      g_task_return_error (task, error);
      g_object_unref (task);
      /* The connection may stay (the relay refused the reservation):
       * ask it where it sees us, as on any connection without one. */
      if (link->transport != NULL && link->connection != NULL && !link->listening)
        link_ask_observed (link);
      link_release_if_unused (link);
      return;
    }
  link_schedule_retry (link);
  /* Once per outage: the tries that follow fail quietly. */
  if (was_reserved && !link->lost && link->transport != NULL)
    {
      g_autoptr(FoctetTransport) transport = g_object_ref (FOCTET_TRANSPORT (link->transport));

      link->lost = TRUE;
      foctet_transport_emit_listener_lost (transport, link->address, error);
    }
  g_error_free (error);
}

static void
link_closed_cb (FoctetConnection *connection,
                const GError     *error,
                gpointer          user_data)
{
  g_autoptr(Link) link = link_ref (user_data);

  g_debug ("Relay %s: connection closed: %s", link->address, error != NULL ? error->message : "normally");
  g_clear_signal_handler (&link->closed_id, connection);
  g_clear_object (&link->connection);
  link_forget_observed (link);
  if (link->listening)
    link_reservation_lost (link, g_error_new (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                              "The connection to relay %s closed%s%s", link->address,
                                              error != NULL ? ": " : "", error != NULL ? error->message : ""));
  link_release_if_unused (link);
}

/* ---- Raw circuits: the TCP connection ------------------------------ */

/* Opens a TCP connection to the raw-circuit port of @relay (its host,
 * @port) and writes the preamble that claims the end @token stands for;
 * the result is the connection, ready for the circuit's bytes. */
typedef struct {
  GSocketConnection *tcp;
  GBytes *preamble;
} RawConnect;

static void
raw_connect_free (RawConnect *rc)
{
  g_clear_object (&rc->tcp);
  g_clear_pointer (&rc->preamble, g_bytes_unref);
  g_free (rc);
}

static void
raw_preamble_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RawConnect *rc = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_steal_pointer (&rc->tcp), g_object_unref);
}

static void
raw_connected_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RawConnect *rc = g_task_get_task_data (task);
  GError *error = NULL;

  rc->tcp = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (rc->tcp == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  foctet_tcp_socket_tune (g_socket_connection_get_socket (rc->tcp));
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (rc->tcp)),
                                   g_bytes_get_data (rc->preamble, NULL), g_bytes_get_size (rc->preamble),
                                   G_PRIORITY_DEFAULT, g_task_get_cancellable (task), raw_preamble_written_cb,
                                   g_object_ref (task));
}

static void
raw_connect_async (RelayTransport      *self,
                   const char          *relay,
                   guint16              port,
                   const guint8        *token,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnectable) connectable = NULL;
  g_autofree char *host = NULL;
  RawConnect *rc = g_new0 (RawConnect, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, raw_connect_async);
  g_task_set_task_data (task, rc, (GDestroyNotify) raw_connect_free);
  rc->preamble = foctet_relay_raw_preamble_new (token);
  /* The raw port is on the host we reach the relay at. */
  if (!foctet_parse_host_port (relay, &host, NULL, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_socket_client_set_timeout (client, MAX (1, (self->handshake_timeout + 999) / 1000));
  connectable = g_network_address_new (host, port);
  g_socket_client_connect_async (client, connectable, cancellable, raw_connected_cb, g_steal_pointer (&task));
}

static GSocketConnection *
raw_connect_finish (RelayTransport  *self,
                    GAsyncResult    *result,
                    GError         **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Incoming circuits ---------------------------------------------- */

typedef struct {
  RelayTransport *transport;
  char *relay;
  char *local;                        /* our address as the relay sees it */
  FoctetStream *stream;
  FoctetNodeId *caller;
  char *caller_address;
  GCancellable *cancellable;
  GSource *timeout;
  gboolean raw;                       /* incoming-raw/1 */
  GSocketConnection *tcp;             /* raw: the circuit's connection */
} Incoming;

static void
incoming_free (Incoming *in)
{
  relay_clear_source (&in->timeout);
  g_clear_object (&in->transport);
  g_clear_object (&in->stream);
  g_clear_object (&in->tcp);
  g_clear_object (&in->cancellable);
  g_clear_pointer (&in->caller, foctet_node_id_free);
  g_free (in->caller_address);
  g_free (in->local);
  g_free (in->relay);
  g_free (in);
}

static void
incoming_failed (Incoming *in,
                 GError   *error)
{
  g_autofree char *remote = g_strdup_printf ("%s via relay %s", in->caller_address ? in->caller_address : "?",
                                             in->relay);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && in->timeout == NULL)
    {
      g_clear_error (&error);
      error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT, "The circuit was not set up within %u ms",
                           in->transport->handshake_timeout);
    }
  g_debug ("Refused the circuit from %s: %s", remote, error->message);
  foctet_transport_emit_incoming_failed (FOCTET_TRANSPORT (in->transport), remote, error);
  foctet_stream_reset (in->stream, FOCTET_CLOSE_CODE_REFUSED);
  g_error_free (error);
  incoming_free (in);
}

static gboolean
incoming_timeout_cb (gpointer user_data)
{
  Incoming *in = user_data;

  g_clear_pointer (&in->timeout, g_source_unref);
  g_cancellable_cancel (in->cancellable);
  return G_SOURCE_REMOVE;
}

static void
incoming_handshake_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GError *error = NULL;

  tls = foctet_tls_stream_handshake_finish (result, &error);
  /* The handshake insisted on the caller the relay announced: another
   * NodeId was refused with alert bad_certificate. */
  if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH))
    g_prefix_error (&error, "Relay %s announced a circuit from another node: ", in->relay);
  if (error == NULL)
    muxer = foctet_registry_create_muxer (foctet_registry_get_default (), NULL, &error);
  if (muxer != NULL)
    connection = foctet_muxer_wrap (muxer, G_IO_STREAM (tls), FALSE, foctet_tls_stream_get_peer_id (tls),
                                    RELAY_TRANSPORT_NAME, in->local, in->caller_address, &error);
  if (connection == NULL)
    {
      incoming_failed (in, error);
      return;
    }
  foctet_transport_emit_incoming (FOCTET_TRANSPORT (in->transport), connection);
  incoming_free (in);
}

/* The circuit is up on @stream, spliced or raw: the target is the TLS
 * server (PROTOCOL §7), and the handshake has a timeout of its own. */
static void
incoming_handshake (Incoming  *in,
                    GIOStream *stream)
{
  relay_clear_source (&in->timeout);
  foctet_tls_stream_handshake_async (stream, in->transport->identity, TRUE, FOCTET_TLS_ALPN,
                                     in->caller, in->transport->handshake_timeout, in->cancellable,
                                     incoming_handshake_cb, in);
}

static void
incoming_raw_connected_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  Incoming *in = user_data;
  GError *error = NULL;

  in->tcp = raw_connect_finish (in->transport, result, &error);
  if (in->tcp == NULL)
    {
      g_prefix_error (&error, "Relay %s: cannot reach its raw-circuit port: ", in->relay);
      incoming_failed (in, error);
      return;
    }
  incoming_handshake (in, G_IO_STREAM (in->tcp));
}

static void
incoming_ok_written_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  Incoming *in = user_data;
  GError *error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      incoming_failed (in, error);
      return;
    }
  /* The circuit is spliced. */
  incoming_handshake (in, G_IO_STREAM (in->stream));
}

static void
incoming_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(FoctetRelayMessage) ok = NULL;
  GError *error = NULL;

  message = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (message == NULL)
    {
      incoming_failed (in, error);
      return;
    }
  if (in->raw && message->type == FOCTET_RELAY_MESSAGE_INCOMING_RAW)
    {
      in->caller = foctet_node_id_copy (message->node_id);
      in->caller_address = g_strdup (message->address);
      /* OK, and nothing more on the stream; the TCP connection goes out at
       * once: the relay gives the dialer its token when it reads the OK,
       * and holds whichever end comes first until the other claims its
       * (the relay will not pair it if the OK did not arrive). */
      ok = foctet_relay_message_new_ok ();
      relay_write_last_message (in->stream, ok, in->cancellable, "accept a raw circuit");
      raw_connect_async (in->transport, in->relay, message->port, message->token, in->cancellable,
                         incoming_raw_connected_cb, in);
      return;
    }
  if (message->type != (in->raw ? FOCTET_RELAY_MESSAGE_INCOMING_RAW : FOCTET_RELAY_MESSAGE_INCOMING))
    {
      g_autofree char *what = foctet_relay_message_to_string (message);

      incoming_failed (in, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                        "Relay %s sent %s on an incoming stream", in->relay, what));
      return;
    }
  in->caller = foctet_node_id_copy (message->node_id);
  in->caller_address = g_strdup (message->address);
  ok = foctet_relay_message_new_ok ();
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (in->stream)), ok,
                                    G_PRIORITY_DEFAULT, in->cancellable, incoming_ok_written_cb, in);
}

static void
link_incoming (Link         *link,
               FoctetStream *stream,
               gboolean      raw)
{
  Incoming *in = g_new0 (Incoming, 1);

  in->transport = g_object_ref (link->transport);
  in->relay = g_strdup (link->address);
  in->local = g_strdup (link->observed != NULL ? link->observed : "unknown");
  in->stream = g_object_ref (stream);
  in->cancellable = g_cancellable_new ();
  in->raw = raw;
  in->timeout = relay_attach_timeout (link->transport->context, link->transport->handshake_timeout,
                                     incoming_timeout_cb, in);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                      raw ? FOCTET_RELAY_MESSAGES_RAW : FOCTET_RELAY_MESSAGES_CIRCUIT,
                                      G_PRIORITY_DEFAULT, in->cancellable, incoming_read_cb, in);
}

/* ---- Streams the relay opens ---------------------------------------- */

typedef struct {
  Link *link;
  FoctetConnection *connection;
  FoctetStream *stream;
} Accepted;

static void link_accept_next (Link *link);

static void
not_reserved_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(FoctetStream) stream = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      return;
    }
  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

/* A circuit offered on a connection to a relay where this node holds no
 * reservation: refused with ERROR 5, as docs/protocol.md has it, not by
 * refusing the stream, which a relay takes for a node of before raw
 * circuits (incoming-raw/1) or a broken one. */
static void
refuse_not_reserved (Link         *link,
                     FoctetStream *stream)
{
  g_autoptr(FoctetRelayMessage) refusal =
    foctet_relay_message_new_error (FOCTET_RELAY_ERROR_CODE_REFUSED, "this node holds no reservation here");

  g_debug ("Relay %s: refusing a circuit: no reservation", link->address);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), refusal,
                                    G_PRIORITY_DEFAULT, NULL, not_reserved_written_cb, g_object_ref (stream));
}

static void
accepted_header_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Accepted *a = user_data;
  g_autoptr(GError) error = NULL;
  const char *protocol;
  gboolean circuit;

  protocol = foctet_stream_read_header_finish (a->stream, result, &error);
  circuit = protocol != NULL && (g_str_equal (protocol, FOCTET_RELAY_PROTOCOL_INCOMING) ||
                                 g_str_equal (protocol, FOCTET_RELAY_PROTOCOL_INCOMING_RAW));
  if (circuit && a->link->transport != NULL && a->link->connection == a->connection && a->link->listening)
    link_incoming (a->link, a->stream, g_str_equal (protocol, FOCTET_RELAY_PROTOCOL_INCOMING_RAW));
  else if (circuit && a->link->transport != NULL && a->link->connection == a->connection)
    refuse_not_reserved (a->link, a->stream);
  else
    {
      g_debug ("Relay %s: refusing a stream (%s)", a->link->address,
               protocol != NULL ? protocol : error->message);
      foctet_stream_reset (a->stream, FOCTET_CLOSE_CODE_REFUSED);
    }
  link_unref (a->link);
  g_object_unref (a->connection);
  g_object_unref (a->stream);
  g_free (a);
}

static void
link_accepted_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Link) link = user_data;
  FoctetConnection *connection = FOCTET_CONNECTION (source);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  Accepted *a;

  stream = foctet_connection_accept_stream_finish (connection, result, &error);
  if (stream == NULL)
    return;  /* The connection ended: link_closed_cb () sees to it. */
  if (link->transport == NULL || link->connection != connection)
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      return;
    }
  a = g_new0 (Accepted, 1);
  a->link = link_ref (link);
  a->connection = g_object_ref (connection);
  a->stream = g_object_ref (stream);
  foctet_stream_read_header_async (stream, link->cancellable, accepted_header_cb, a);
  link_accept_next (link);
}

static void
link_accept_next (Link *link)
{
  foctet_connection_accept_stream_async (link->connection, link->cancellable, link_accepted_cb, link_ref (link));
}

/* ---- Publishing in the directory ------------------------------------ */

static void link_publish (Link *link);

typedef struct {
  Link *link;
  guint generation;
} PublishOp;

static PublishOp *
publish_op_new (Link *link)
{
  PublishOp *op = g_new0 (PublishOp, 1);

  op->link = link_ref (link);
  op->generation = link->publish_generation;
  return op;
}

static void
publish_op_free (PublishOp *op)
{
  link_unref (op->link);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PublishOp, publish_op_free)

static gboolean
publish_op_is_current (PublishOp *op)
{
  return op->link->transport != NULL && op->generation == op->link->publish_generation;
}

/* Publishing failed: logged, and not tried again before what to publish
 * changes or the reservation is made again. */
static void
publish_failed (Link       *link,
                const char *what)
{
  g_debug ("Relay %s: could not publish our addresses: %s", link->address, what);
  link_forget_publication (link);
}

static void
publish_reply_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(PublishOp) op = user_data;
  Link *link = op->link;
  g_autoptr(FoctetRelayMessage) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (!publish_op_is_current (op))
    return;
  if (reply == NULL)
    {
      /* The end of the stream: the relay ended the reservation. */
      publish_failed (link, error->message);
      return;
    }
  if (reply->type != FOCTET_RELAY_MESSAGE_OK)
    {
      g_autofree char *what = foctet_relay_message_to_string (reply);

      publish_failed (link, what);
      return;
    }
  g_debug ("Relay %s: our addresses are published", link->address);
  link->publish_busy = FALSE;
  if (link->publish_again)
    {
      link->publish_again = FALSE;
      link_publish (link);
    }
}

static void
publish_written_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(PublishOp) op = user_data;
  g_autoptr(GError) error = NULL;

  /* A failure fails the read of the answer too, which reports it. */
  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    g_debug ("Relay %s: could not send PUBLISH: %s", op->link->address, error->message);
}

/* Sends what is to be published now; the link is busy. */
static void
publish_send (Link *link)
{
  GPtrArray *entries = relay_shared_get_published (link->transport->shared, link->address);
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  GIOStream *stream = G_IO_STREAM (link->publish_stream);

  if (entries == NULL)
    {
      /* Withdrawn meanwhile. */
      link_forget_publication (link);
      return;
    }
  message = foctet_relay_message_new_publish (entries, &error);
  if (message == NULL)
    {
      publish_failed (link, error->message);
      return;
    }
  foctet_relay_message_write_async (g_io_stream_get_output_stream (stream), message, G_PRIORITY_DEFAULT,
                                    link->cancellable, publish_written_cb, publish_op_new (link));
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (stream), FOCTET_RELAY_MESSAGES_DIRECTORY,
                                      G_PRIORITY_DEFAULT, link->cancellable, publish_reply_cb,
                                      publish_op_new (link));
}

static void
publish_opened_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(PublishOp) op = user_data;
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (!publish_op_is_current (op) || op->link->connection != FOCTET_CONNECTION (source))
    {
      if (stream != NULL)
        foctet_stream_reset (stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      return;
    }
  if (stream == NULL)
    {
      publish_failed (op->link, error->message);
      return;
    }
  op->link->publish_stream = g_steal_pointer (&stream);
  publish_send (op->link);
}

/* Publishes in the relay's directory what the identity's discovery asks
 * for at this relay, once the link holds a reservation; withdraws it if
 * there is nothing to publish any more. */
static void
link_publish (Link *link)
{
  if (link->transport == NULL || !link->reserved || link->connection == NULL)
    return;
  if (relay_shared_get_published (link->transport->shared, link->address) == NULL)
    {
      if (link->publish_stream != NULL)
        {
          g_debug ("Relay %s: withdrawing our addresses", link->address);
          foctet_stream_close_write_async (link->publish_stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        }
      link->publish_generation++;
      link->publish_busy = FALSE;
      link->publish_again = FALSE;
      g_clear_object (&link->publish_stream);
      return;
    }
  if (link->publish_busy)
    {
      link->publish_again = TRUE;
      return;
    }
  link->publish_busy = TRUE;
  if (link->publish_stream != NULL)
    publish_send (link);
  else
    foctet_connection_open_stream_async (link->connection, FOCTET_RELAY_PROTOCOL_PUBLISH, link->cancellable,
                                         publish_opened_cb, publish_op_new (link));
}

/* ---- Reservation ----------------------------------------------------- */

static void reserve_send (Link *link);

static gboolean
renew_cb (gpointer user_data)
{
  Link *link = user_data;

  g_clear_pointer (&link->renew, g_source_unref);
  reserve_send (link);
  return G_SOURCE_REMOVE;
}

static void
reserve_reply_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Link) link = user_data;
  g_autoptr(FoctetRelayMessage) reply = NULL;
  GError *error = NULL;

  reply = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (link->transport == NULL || link->reserve_stream == NULL ||
      g_io_stream_get_input_stream (G_IO_STREAM (link->reserve_stream)) != G_INPUT_STREAM (source))
    {
      g_clear_error (&error);
      return;
    }
  if (reply == NULL)
    {
      g_prefix_error (&error, "Relay %s: ", link->address);
      link_reservation_lost (link, error);
      return;
    }
  if (reply->type == FOCTET_RELAY_MESSAGE_ERROR)
    {
      error = foctet_relay_message_to_error (reply);
      g_prefix_error (&error, "Relay %s refused the reservation: ", link->address);
      link_reservation_lost (link, error);
      return;
    }
  if (reply->type != FOCTET_RELAY_MESSAGE_RESERVE_OK)
    {
      g_autofree char *what = foctet_relay_message_to_string (reply);

      link_reservation_lost (link, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                "Relay %s answered RESERVE with %s", link->address, what));
      return;
    }

  link->backoff_ms = 0;
  if (!link->reserved)
    {
      link->reserved = TRUE;
      link_publish (link);
    }
  link_set_observed (link, reply->address);
  /* Renew at half the TTL: one slow round trip does not lose it. */
  relay_clear_source (&link->renew);
  link->renew = relay_attach_timeout (link->transport->context, MAX (reply->ttl * 500, 1), renew_cb, link);
  if (link->listen_task != NULL)
    {
      GTask *task = g_steal_pointer (&link->listen_task);

      g_task_return_pointer (task, g_strdup (link->address), g_free);
      g_object_unref (task);
    }
  else if (link->lost && link->transport != NULL)
    {
      g_autoptr(FoctetTransport) transport = g_object_ref (FOCTET_TRANSPORT (link->transport));

      link->lost = FALSE;
      foctet_transport_emit_listener_restored (transport, link->address);
    }
}

static void
reserve_written_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(Link) link = user_data;
  g_autoptr(GError) error = NULL;

  /* A failure fails the read of the answer too, which reports it. */
  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    g_debug ("Relay %s: could not send RESERVE: %s", link->address, error->message);
}

static void
reserve_send (Link *link)
{
  g_autoptr(FoctetRelayMessage) reserve = foctet_relay_message_new_reserve ();
  GIOStream *stream = G_IO_STREAM (link->reserve_stream);

  foctet_relay_message_write_async (g_io_stream_get_output_stream (stream), reserve, G_PRIORITY_DEFAULT,
                                    link->cancellable, reserve_written_cb, link_ref (link));
  foctet_relay_message_read_async (g_io_stream_get_input_stream (stream), G_PRIORITY_DEFAULT,
                                   link->cancellable, reserve_reply_cb, link_ref (link));
}

static void
reserve_opened_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Link) link = user_data;
  g_autoptr(FoctetStream) stream = NULL;
  GError *error = NULL;

  stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  link->reserve_opening = FALSE;
  if (link->transport == NULL || !link->listening || link->connection != FOCTET_CONNECTION (source))
    {
      if (stream != NULL)
        foctet_stream_reset (stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      g_clear_error (&error);
      return;
    }
  if (stream == NULL)
    {
      link_reservation_lost (link, error);
      return;
    }
  g_clear_object (&link->reserve_stream);
  link->reserve_stream = g_steal_pointer (&stream);
  reserve_send (link);
}

static void
link_reserve (Link *link)
{
  if (link->connection == NULL || link->reserve_stream != NULL || link->reserve_opening)
    return;
  link->reserve_opening = TRUE;
  foctet_connection_open_stream_async (link->connection, FOCTET_RELAY_PROTOCOL_RESERVE, link->cancellable,
                                       reserve_opened_cb, link_ref (link));
}

/* ---- Connecting ------------------------------------------------------ */

static FoctetTransport *
get_carrier (RelayTransport  *self,
             GError         **error)
{
  if (self->carrier != NULL)
    return self->carrier;
  g_main_context_push_thread_default (self->context);
  self->carrier = foctet_registry_create_transport (foctet_registry_get_default (), "tls", self->identity, error);
  g_main_context_pop_thread_default (self->context);
  if (self->carrier == NULL)
    {
      g_prefix_error (error, "The relay transport reaches relays over the tls transport: ");
      return NULL;
    }
  g_object_set (self->carrier, "alpn", FOCTET_RELAY_ALPN, "handshake-timeout", self->handshake_timeout, NULL);
  return self->carrier;
}

static void
link_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(Link) link = user_data;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GPtrArray) waiters = NULL;
  g_autoptr(GError) error = NULL;

  connection = foctet_transport_dial_finish (FOCTET_TRANSPORT (source), result, &error);
  link->connecting = FALSE;
  if (link->transport == NULL)
    {
      if (connection != NULL)
        foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_GOING_AWAY, "not needed any more",
                                       NULL, NULL, NULL);
      return;
    }

  waiters = g_steal_pointer (&link->waiters);
  link->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  if (connection == NULL)
    {
      g_prefix_error (&error, "Cannot reach relay %s: ", link->address);
      g_debug ("%s", error->message);
      for (guint i = 0; i < waiters->len; i++)
        g_task_return_error (g_ptr_array_index (waiters, i), g_error_copy (error));
      if (link->listen_task != NULL)
        link_reservation_lost (link, g_steal_pointer (&error));
      else if (link->listening)
        link_schedule_retry (link);
      link_release_if_unused (link);
      return;
    }

  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN) == FALSE)
    {
      g_autofree char *relay_id = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));

      g_debug ("Relay %s: connected to %s", link->address, relay_id);
    }
  link->connection = g_steal_pointer (&connection);
  link->closed_id = g_signal_connect (link->connection, "closed", G_CALLBACK (link_closed_cb), link);
  link_accept_next (link);
  if (link->listening)
    link_reserve (link);
  else
    link_ask_observed (link);
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *waiter = g_ptr_array_index (waiters, i);

      if (g_task_get_source_tag (waiter) == relay_transport_lookup_async)
        lookup_on_link (g_object_ref (waiter));
      else
        dial_on_link (g_object_ref (waiter));
    }
}

/* ---- Where the relay sees us, without a reservation ---------------- */

typedef struct {
  Link *link;
  FoctetStream *stream;
} AskObserved;

static void
ask_observed_free (AskObserved *ask)
{
  link_unref (ask->link);
  g_clear_object (&ask->stream);
  g_free (ask);
}

static void
observed_reply_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  AskObserved *ask = user_data;
  Link *link = ask->link;
  g_autoptr(FoctetRelayMessage) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (reply == NULL || reply->type != FOCTET_RELAY_MESSAGE_OBSERVED)
    {
      g_autofree char *what = reply != NULL ? foctet_relay_message_to_string (reply) : NULL;

      g_debug ("Relay %s: no observed address: %s", link->address, what != NULL ? what : error->message);
      foctet_stream_reset (ask->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
    }
  else if (link->transport != NULL && !link->reserved && link->connection != NULL)
    link_set_observed (link, reply->address);
  ask_observed_free (ask);
}

static void
observed_opened_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  AskObserved *ask = user_data;
  g_autoptr(GError) error = NULL;

  ask->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (ask->stream == NULL)
    {
      g_debug ("Relay %s: no observed stream: %s", ask->link->address, error->message);
      ask_observed_free (ask);
      return;
    }
  /* The header says it all: nothing more is written.  A relay without
   * observed/1 refuses the stream, and the read below says so. */
  foctet_stream_close_write_async (ask->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (ask->stream)),
                                      FOCTET_RELAY_MESSAGES_OBSERVED, G_PRIORITY_DEFAULT, ask->link->cancellable,
                                      observed_reply_cb, ask);
}

/* A link without a reservation asks the relay where it sees us (PROTOCOL
 * §7), for the observed-addresses property and the local address of its
 * circuits; a reservation's RESERVE_OK says it otherwise. */
static void
link_ask_observed (Link *link)
{
  AskObserved *ask = g_new0 (AskObserved, 1);

  ask->link = link_ref (link);
  foctet_connection_open_stream_async (link->connection, FOCTET_RELAY_PROTOCOL_OBSERVED, link->cancellable,
                                       observed_opened_cb, ask);
}

static void
link_connect (Link *link)
{
  FoctetTransport *carrier;
  GError *error = NULL;

  if (link->connecting || link->connection != NULL)
    return;
  carrier = get_carrier (link->transport, &error);
  if (carrier == NULL)
    {
      for (guint i = 0; i < link->waiters->len; i++)
        g_task_return_error (g_ptr_array_index (link->waiters, i), g_error_copy (error));
      g_ptr_array_set_size (link->waiters, 0);
      if (link->listen_task != NULL)
        link_reservation_lost (link, error);
      else
        g_error_free (error);
      return;
    }
  link->connecting = TRUE;
  foctet_transport_dial_async (carrier, link->address, NULL, link->cancellable, link_connected_cb,
                               link_ref (link));
}

/* ------------------------------------------------------------------ */
/* Dialing: a circuit to a node                                        */

typedef struct {
  Link *link;
  FoctetNodeId *expected;
  FoctetStream *stream;               /* the connect stream */
  GCancellable *cancellable;          /* the caller's and the setup timeout */
  GCancellable *caller_cancellable;
  gulong cancelled_id;
  GSource *timeout;
  gboolean timed_out;
  gboolean raw;                       /* asked for a raw circuit */
  gboolean no_raw;                    /* the target knows no raw circuits: v1 for this dial */
  GSocketConnection *tcp;             /* raw: the circuit's connection */
} DialData;

static void
dial_data_free (DialData *data)
{
  relay_clear_source (&data->timeout);
  if (data->cancelled_id != 0)
    g_cancellable_disconnect (data->caller_cancellable, data->cancelled_id);
  g_clear_object (&data->caller_cancellable);
  g_clear_pointer (&data->link, link_unref);
  g_clear_pointer (&data->expected, foctet_node_id_free);
  g_clear_object (&data->stream);
  g_clear_object (&data->tcp);
  g_clear_object (&data->cancellable);
  g_free (data);
}

/* Fails the dial; resets the connect stream if there is one. */
static void
dial_fail (GTask  *task,
           GError *error)
{
  DialData *data = g_task_get_task_data (task);

  if (data->stream != NULL)
    foctet_stream_reset (data->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  if (data->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&error);
      error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                           "Relay %s did not set up the circuit within %u ms", data->link->address,
                           CIRCUIT_SETUP_TIMEOUT_MS);
    }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
dial_handshake_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  FoctetConnection *connection = NULL;
  GError *error = NULL;

  tls = foctet_tls_stream_handshake_finish (result, &error);
  if (tls != NULL)
    muxer = foctet_registry_create_muxer (foctet_registry_get_default (), NULL, &error);
  if (muxer != NULL)
    connection = foctet_muxer_wrap (muxer, G_IO_STREAM (tls), TRUE, foctet_tls_stream_get_peer_id (tls),
                                    RELAY_TRANSPORT_NAME,
                                    data->link->observed != NULL ? data->link->observed : "unknown",
                                    data->link->address, &error);
  if (connection == NULL)
    {
      dial_fail (task, error);
      return;
    }
  g_task_return_pointer (task, connection, foctet_connection_discard);
  g_object_unref (task);
}

/* The circuit is up on @stream, spliced or raw: the dialer is the TLS
 * client (PROTOCOL §7), and the handshake has a timeout of its own. */
static void
dial_handshake (GTask     *task,
                GIOStream *stream)
{
  DialData *data = g_task_get_task_data (task);
  RelayTransport *self = g_task_get_source_object (task);

  relay_clear_source (&data->timeout);
  foctet_tls_stream_handshake_async (stream, self->identity, FALSE, FOCTET_TLS_ALPN,
                                     data->expected, self->handshake_timeout, data->cancellable,
                                     dial_handshake_cb, task);
}

static void
dial_raw_connected_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  RelayTransport *self = g_task_get_source_object (task);
  GError *error = NULL;

  data->tcp = raw_connect_finish (self, result, &error);
  if (data->tcp == NULL)
    {
      g_prefix_error (&error, "Relay %s: cannot reach its raw-circuit port: ", data->link->address);
      dial_fail (task, error);
      return;
    }
  dial_handshake (task, G_IO_STREAM (data->tcp));
}

/* Whether @error, met on a raw circuit's CONNECT stream before any
 * answer came, is the relay refusing the stream: a relay without raw
 * circuits resets it on reading its header, which the dialer may meet
 * writing CONNECT as well as reading the answer.  If so, the dial goes on
 * over the link (v1), as does every later dial on it, and @error is
 * freed. */
static gboolean
dial_raw_refused (GTask   *task,
                  GError  *error)
{
  DialData *data = g_task_get_task_data (task);

  if (!data->raw || !foctet_error_is_stream_refused (error) ||
      data->link->transport == NULL || data->link->connection == NULL)
    return FALSE;
  g_debug ("Relay %s offers no raw circuits (%s): relaying over the link", data->link->address,
           error->message);
  g_error_free (error);
  data->link->no_raw = TRUE;
  g_clear_object (&data->stream);
  dial_on_link (task);
  return TRUE;
}

static void
dial_reply_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  RelayTransport *self = g_task_get_source_object (task);
  g_autoptr(FoctetRelayMessage) reply = NULL;
  GError *error = NULL;

  reply = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (reply == NULL && dial_raw_refused (task, error))
    return;
  if (reply == NULL)
    {
      g_prefix_error (&error, "Relay %s: ", data->link->address);
      dial_fail (task, error);
      return;
    }
  if (reply->type == FOCTET_RELAY_MESSAGE_ERROR && data->raw &&
      reply->error_code == FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED &&
      data->link->transport != NULL && data->link->connection != NULL)
    {
      /* This target knows no raw circuits (others may): v1 to it. */
      g_debug ("Relay %s: the target offers no raw circuits: relaying over the link", data->link->address);
      data->no_raw = TRUE;
      g_clear_object (&data->stream);
      dial_on_link (task);
      return;
    }
  if (reply->type == FOCTET_RELAY_MESSAGE_ERROR)
    {
      g_autofree char *peer = foctet_node_id_to_string (data->expected);

      error = foctet_relay_message_to_error (reply);
      g_prefix_error (&error, "%s is not reachable via relay %s: ", peer, data->link->address);
      dial_fail (task, error);
      return;
    }
  if (reply->type != (data->raw ? FOCTET_RELAY_MESSAGE_RAW_CIRCUIT : FOCTET_RELAY_MESSAGE_OK))
    {
      g_autofree char *what = foctet_relay_message_to_string (reply);

      dial_fail (task, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                    "Relay %s answered CONNECT with %s", data->link->address, what));
      return;
    }
  if (data->raw)
    {
      /* The control stream is done; the circuit is a TCP connection of
       * its own, claimed with the token. */
      foctet_stream_close_write_async (data->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      raw_connect_async (self, data->link->address, reply->port, reply->token, data->cancellable,
                         dial_raw_connected_cb, task);
      return;
    }
  /* Spliced. */
  dial_handshake (task, G_IO_STREAM (data->stream));
}

static void
dial_request_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      if (dial_raw_refused (task, error))
        return;
      g_prefix_error (&error, "Relay %s: ", data->link->address);
      dial_fail (task, error);
      return;
    }
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (data->stream)),
                                      data->raw ? FOCTET_RELAY_MESSAGES_RAW : FOCTET_RELAY_MESSAGES_CIRCUIT,
                                      G_PRIORITY_DEFAULT, data->cancellable, dial_reply_cb, task);
}

static void
dial_opened_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  g_autoptr(FoctetRelayMessage) request = NULL;
  GError *error = NULL;

  data->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (data->stream == NULL)
    {
      g_prefix_error (&error, "Relay %s: ", data->link->address);
      dial_fail (task, error);
      return;
    }
  request = foctet_relay_message_new_connect (data->expected);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (data->stream)), request,
                                    G_PRIORITY_DEFAULT, data->cancellable, dial_request_written_cb, task);
}

/* Takes a reference on @task: the link is connected, open the circuit. */
static void
dial_on_link (GTask *task)
{
  DialData *data = g_task_get_task_data (task);

  if (g_cancellable_is_cancelled (data->cancellable))
    {
      dial_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The dial was cancelled"));
      return;
    }
  data->raw = !data->link->no_raw && !data->no_raw;
  foctet_connection_open_stream_async (data->link->connection,
                                       data->raw ? FOCTET_RELAY_PROTOCOL_CONNECT_RAW : FOCTET_RELAY_PROTOCOL_CONNECT,
                                       data->cancellable, dial_opened_cb, task);
}

static gboolean
dial_timeout_cb (gpointer user_data)
{
  DialData *data = user_data;

  g_clear_pointer (&data->timeout, g_source_unref);
  data->timed_out = TRUE;
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
dial_cancelled_cb (GCancellable *cancellable,
                   GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

static gboolean
parse_relay_address (const char  *address,
                     GError     **error)
{
  g_autofree char *host = NULL;
  guint16 port = 0;

  if (!foctet_parse_host_port (address, &host, &port, error))
    return FALSE;
  if (port == 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "A relay address needs a port, not 0: %s", address);
      return FALSE;
    }
  return TRUE;
}

static void
relay_transport_dial_async (FoctetTransport     *transport,
                            const char          *address,
                            const FoctetNodeId  *expected_peer,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  RelayTransport *self = RELAY_TRANSPORT (transport);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  DialData *data;
  Link *link;

  g_task_set_source_tag (task, relay_transport_dial_async);
  if (!parse_relay_address (address, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  if (expected_peer == NULL)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                               "A dial through a relay needs the NodeId of the node to reach");
      g_object_unref (task);
      return;
    }

  link = link_get (self, address);
  data = g_new0 (DialData, 1);
  data->link = link_ref (link);
  data->expected = foctet_node_id_copy (expected_peer);
  data->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    data->caller_cancellable = g_object_ref (cancellable);
  if (cancellable != NULL)
    data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (dial_cancelled_cb),
                                                g_object_ref (data->cancellable), g_object_unref);
  data->timeout = relay_attach_timeout (self->context, CIRCUIT_SETUP_TIMEOUT_MS + self->handshake_timeout,
                                        dial_timeout_cb, data);
  g_task_set_task_data (task, data, (GDestroyNotify) dial_data_free);

  if (link->connection != NULL)
    dial_on_link (task);
  else
    {
      g_ptr_array_add (link->waiters, task);
      link_connect (link);
    }
}

static FoctetConnection *
relay_transport_dial_finish (FoctetTransport  *transport,
                             GAsyncResult     *result,
                             GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ */
/* Looking a NodeId up in a relay's directory                          */

typedef struct {
  Link *link;
  FoctetNodeId *target;
  FoctetStream *stream;
} LookupData;

static void
lookup_data_free (LookupData *data)
{
  g_clear_pointer (&data->link, link_unref);
  g_clear_pointer (&data->target, foctet_node_id_free);
  g_clear_object (&data->stream);
  g_free (data);
}

static void
lookup_fail (GTask  *task,
             GError *error)
{
  LookupData *data = g_task_get_task_data (task);

  if (data->stream != NULL)
    foctet_stream_reset (data->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  g_prefix_error (&error, "Relay %s: ", data->link->address);
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
lookup_reply_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  LookupData *data = g_task_get_task_data (task);
  FoctetRelayMessage *reply;
  GError *error = NULL;

  reply = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (reply == NULL)
    {
      lookup_fail (task, error);
      return;
    }
  if (reply->type != FOCTET_RELAY_MESSAGE_FOUND && reply->type != FOCTET_RELAY_MESSAGE_ERROR)
    {
      g_autofree char *what = foctet_relay_message_to_string (reply);

      foctet_relay_message_free (reply);
      lookup_fail (task, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR, "it answered LOOKUP with %s",
                                      what));
      return;
    }
  /* One answer per stream; the relay half-closes after it. */
  foctet_stream_close_write_async (data->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_task_return_pointer (task, reply, (GDestroyNotify) foctet_relay_message_free);
  g_object_unref (task);
}

static void
lookup_written_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* A failure fails the read of the answer too, which reports it. */
  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    g_debug ("Could not send LOOKUP: %s", error->message);
}

static void
lookup_opened_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  LookupData *data = g_task_get_task_data (task);
  g_autoptr(FoctetRelayMessage) request = NULL;
  GError *error = NULL;
  GIOStream *stream;

  data->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (data->stream == NULL)
    {
      lookup_fail (task, error);
      return;
    }
  stream = G_IO_STREAM (data->stream);
  request = foctet_relay_message_new_lookup (data->target);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (stream), request, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable (task), lookup_written_cb, NULL);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (stream), FOCTET_RELAY_MESSAGES_DIRECTORY,
                                      G_PRIORITY_DEFAULT, g_task_get_cancellable (task), lookup_reply_cb, task);
}

/* Takes a reference on @task: the link is connected, ask. */
static void
lookup_on_link (GTask *task)
{
  LookupData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      lookup_fail (task, error);
      return;
    }
  foctet_connection_open_stream_async (data->link->connection, FOCTET_RELAY_PROTOCOL_LOOKUP,
                                       g_task_get_cancellable (task), lookup_opened_cb, task);
}

/* Asks the directory of @relay (on this transport's connection there,
 * made if need be) where @target is.  No time limit of its own: the
 * caller cancels. */
void
relay_transport_lookup_async (RelayTransport      *self,
                              const char          *relay,
                              const FoctetNodeId  *target,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;
  GError *error = NULL;
  LookupData *data;
  Link *link;

  g_return_if_fail (RELAY_IS_TRANSPORT (self));
  g_return_if_fail (relay != NULL && target != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, relay_transport_lookup_async);
  if (!parse_relay_address (relay, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  link = link_get (self, relay);
  data = g_new0 (LookupData, 1);
  data->link = link_ref (link);
  data->target = foctet_node_id_copy (target);
  g_task_set_task_data (task, data, (GDestroyNotify) lookup_data_free);
  if (link->connection != NULL)
    lookup_on_link (task);
  else
    {
      g_ptr_array_add (link->waiters, task);
      link_connect (link);
    }
}

/* Returns: (transfer full): the relay's answer, FOUND or ERROR; %NULL
 * with @error when there was none (the relay could not be reached, the
 * stream failed, the answer was malformed, cancelled). */
FoctetRelayMessage *
relay_transport_lookup_finish (RelayTransport  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Whether the transport has a connection to @relay now. */
gboolean
relay_transport_is_connected_to (RelayTransport *self,
                                 const char     *relay)
{
  Link *link = g_hash_table_lookup (self->links, relay);

  return link != NULL && link->connection != NULL;
}

/* What the identity's discovery publishes changed: every reserved link
 * publishes it (or withdraws what it published). */
void
relay_transport_publish_changed (RelayTransport *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    link_publish (value);
}

/* ------------------------------------------------------------------ */
/* Listening: a reservation                                            */

static void
relay_transport_listen_async (FoctetTransport     *transport,
                              const char          *address,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  RelayTransport *self = RELAY_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  Link *link;

  g_task_set_source_tag (task, relay_transport_listen_async);
  if (!parse_relay_address (address, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  link = link_get (self, address);
  if (link->listening)
    {
      if (link->listen_task != NULL)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                                 "A reservation at relay %s is already being made", address);
      else
        g_task_return_pointer (task, g_strdup (address), g_free);
      return;
    }
  link->listening = TRUE;
  link->listen_task = g_steal_pointer (&task);
  if (link->connection != NULL)
    link_reserve (link);
  else
    link_connect (link);
}

static char *
relay_transport_listen_finish (FoctetTransport  *transport,
                               GAsyncResult     *result,
                               GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
relay_transport_get_listen_addresses (FoctetTransport *transport)
{
  RelayTransport *self = RELAY_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Link *link = value;

      if (link->listening && link->listen_task == NULL)
        g_strv_builder_add (builder, link->address);
    }
  return g_strv_builder_end (builder);
}

static const char *
relay_transport_get_name (FoctetTransport *transport)
{
  return RELAY_TRANSPORT_NAME;
}

static guint
relay_transport_get_address_kind (FoctetTransport *transport)
{
  return FOCTET_ADDRESS_KIND_RELAY;
}

static void
relay_transport_stop (FoctetTransport *transport)
{
  RelayTransport *self = RELAY_TRANSPORT (transport);

  g_cancellable_cancel (self->cancellable);
  g_hash_table_remove_all (self->links);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  if (self->carrier != NULL)
    foctet_transport_stop (self->carrier);
}

static void
relay_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = relay_transport_get_name;
  iface->get_address_kind = relay_transport_get_address_kind;
  iface->listen_async = relay_transport_listen_async;
  iface->listen_finish = relay_transport_listen_finish;
  iface->dial_async = relay_transport_dial_async;
  iface->dial_finish = relay_transport_dial_finish;
  iface->get_listen_addresses = relay_transport_get_listen_addresses;
  iface->stop = relay_transport_stop;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static char **
observed_addresses (RelayTransport *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Link *) value)->observed != NULL)
      g_strv_builder_add (builder, ((Link *) value)->observed);
  return g_strv_builder_end (builder);
}

static void
relay_transport_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  RelayTransport *self = RELAY_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->handshake_timeout);
      break;
    case PROP_OBSERVED_ADDRESSES:
      g_value_take_boxed (value, observed_addresses (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_transport_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  RelayTransport *self = RELAY_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      self->handshake_timeout = g_value_get_uint (value);
      if (self->carrier != NULL)
        g_object_set (self->carrier, "handshake-timeout", self->handshake_timeout, NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_transport_constructed (GObject *object)
{
  RelayTransport *self = RELAY_TRANSPORT (object);

  G_OBJECT_CLASS (relay_transport_parent_class)->constructed (object);
  g_assert (FOCTET_IS_IDENTITY (self->identity));
  self->shared = relay_shared_get (self->identity);
  relay_shared_add_transport (self->shared, self);
}

static void
relay_transport_dispose (GObject *object)
{
  RelayTransport *self = RELAY_TRANSPORT (object);

  if (self->shared != NULL)
    {
      relay_shared_remove_transport (self->shared, self);
      self->shared = NULL;
    }
  if (self->links != NULL)
    relay_transport_stop (FOCTET_TRANSPORT (object));
  g_clear_object (&self->carrier);

  G_OBJECT_CLASS (relay_transport_parent_class)->dispose (object);
}

static void
relay_transport_finalize (GObject *object)
{
  RelayTransport *self = RELAY_TRANSPORT (object);

  g_clear_pointer (&self->links, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (relay_transport_parent_class)->finalize (object);
}

static void
relay_transport_class_init (RelayTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = relay_transport_get_property;
  object_class->set_property = relay_transport_set_property;
  object_class->constructed = relay_transport_constructed;
  object_class->dispose = relay_transport_dispose;
  object_class->finalize = relay_transport_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");

  /**
   * RelayTransport:handshake-timeout:
   *
   * Milliseconds the connection to a relay, and the handshake inside a
   * circuit, may take.
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL, 1, 3600 * 1000, FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * RelayTransport:observed-addresses:
   *
   * This node's addresses as the relays it is connected to see them
   * (its reflexive addresses), "host:port" each: from RESERVE_OK where
   * it holds a reservation, else from the relay's observed stream.
   */
  properties[PROP_OBSERVED_ADDRESSES] =
    g_param_spec_boxed ("observed-addresses", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_HANDSHAKE_TIMEOUT, properties[PROP_HANDSHAKE_TIMEOUT]);
  g_object_class_install_property (object_class, PROP_OBSERVED_ADDRESSES, properties[PROP_OBSERVED_ADDRESSES]);
}

static void
relay_transport_class_finalize (RelayTransportClass *klass)
{
}

static void
relay_transport_init (RelayTransport *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  self->links = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) link_drop);
}

void
relay_transport_register (GTypeModule *module)
{
  relay_transport_register_type (module);
}

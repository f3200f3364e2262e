/* foctet-relay-server.c: the relay server (the relay side of
 * docs/protocol.md, "Relay control"): its limits and counters, the
 * refusals every part sends, starting and stopping.  The parts:
 * foctet-relay-server-directory.c (reservations, publications, lookups)
 * and foctet-relay-server-circuits.c (circuits, v1 and raw, and the raw
 * port).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-server-private.h"
#include "foctet-relay-message.h"

enum {
  PROP_0,
  PROP_NODE,
  PROP_MAX_RESERVATIONS,
  PROP_MAX_CIRCUITS,
  PROP_MAX_CIRCUITS_PER_CLIENT,
  PROP_MAX_CONNECTIONS_PER_CLIENT,
  PROP_RESERVATION_TTL,
  PROP_CIRCUIT_IDLE_TIMEOUT,
  PROP_INCOMING_TIMEOUT,
  PROP_RATE,
  PROP_RATE_PER_CLIENT,
  PROP_MAX_MEMORY,
  PROP_LOOKUP_RATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (RelayServer, relay_server, G_TYPE_OBJECT)

void
relay_server_count_refusal (RelayServer *self,
                            guint16      code)
{
  self->stats.refusals[code < G_N_ELEMENTS (self->stats.refusals) ? code : 0]++;
}

/* Refuses what @stream asked for: ERROR @code with the text of @format,
 * counted. */
void
relay_server_refuse (RelayServer  *self,
                     FoctetStream *stream,
                     guint16       code,
                     const char   *format,
                     ...)
{
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  relay_server_count_refusal (self, code);
  g_debug ("Relay refusal (%s): %s", foctet_relay_error_code_describe (code), text);
  message = foctet_relay_message_new_error (code, text);
  relay_write_last_message (stream, message, NULL, "send a relay refusal");
}

/* Connections per client: PROTOCOL §7 has a relay bound what one client
 * may use, connections among it.  A connection beyond the limit is
 * served only with refusals (ERROR 9 on every stream it opens, so that
 * the client reads why), and closed after the circuit-setup time. */

static gboolean
connection_over_close_cb (gpointer user_data)
{
  FoctetConnection *connection = user_data;

  foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_REFUSED, "too many connections from this node",
                                 NULL, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
destroy_source (gpointer source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

/* A connection to the relay that failed before it became one: counted,
 * and said at debug level (scanners and floods make many; the counter
 * says how many). */
static void
incoming_failed_cb (FoctetNode      *node,
                    FoctetTransport *transport,
                    const char      *remote_address,
                    const GError    *error,
                    gpointer         user_data)
{
  RelayServer *self = user_data;

  self->stats.incoming_failed++;
  g_debug ("incoming %s connection from %s failed: %s", foctet_transport_get_name (transport), remote_address,
           error->message);
}

static void
incoming_connection_cb (FoctetNode       *node,
                        FoctetConnection *connection,
                        gpointer          user_data)
{
  RelayServer *self = user_data;
  char *key = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->client_connections, key)) + 1;

  g_hash_table_insert (self->client_connections, g_strdup (key), GUINT_TO_POINTER (count));
  g_hash_table_insert (self->connections, connection, key);
  if (count > self->max_connections_per_client)
    {
      GSource *close = g_timeout_source_new_seconds (self->incoming_timeout);

      g_debug ("%s has %u connections to this relay, above its limit of %u: refusing the newest", key, count,
               self->max_connections_per_client);
      /* The node holds the connection until it closed, and this entry goes
       * when it has (connection_closed_cb ()). */
      g_source_set_callback (close, connection_over_close_cb, connection, NULL);
      g_source_attach (close, self->context);
      g_hash_table_insert (self->connections_over, connection, close);
    }
}

static void
connection_closed_cb (FoctetNode       *node,
                      FoctetConnection *connection,
                      const GError     *error,
                      gpointer          user_data)
{
  RelayServer *self = user_data;
  const char *key = g_hash_table_lookup (self->connections, connection);
  guint count;

  if (key == NULL)
    return;
  g_hash_table_remove (self->connections_over, connection);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->client_connections, key));
  if (count > 1)
    g_hash_table_insert (self->client_connections, g_strdup (key), GUINT_TO_POINTER (count - 1));
  else
    g_hash_table_remove (self->client_connections, key);
  g_hash_table_remove (self->connections, connection);
}

/* Whether to serve what @stream asks for, at the start of every relay
 * protocol's handler: not once the relay stopped (the stream is reset),
 * nor on a connection over its client's limit (ERROR 9). */
gboolean
relay_server_admit (RelayServer      *self,
                    FoctetConnection *connection,
                    FoctetStream     *stream)
{
  if (self->stopped)
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      return FALSE;
    }
  if (g_hash_table_contains (self->connections_over, connection))
    {
      relay_server_refuse (self, stream, FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT,
                           "This node has more than %u connections to the relay, its limit: use one",
                           self->max_connections_per_client);
      return FALSE;
    }
  return TRUE;
}

/* An observed stream: the client's address as this relay sees it, in
 * one OBSERVED message (PROTOCOL §7: the relay tells each client its
 * reflexive address; a reserving client also finds it in RESERVE_OK). */
static void
handle_observed (FoctetNode       *node,
                 FoctetConnection *connection,
                 FoctetStream     *stream,
                 gpointer          user_data)
{
  RelayServer *self = user_data;
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  if (!relay_server_admit (self, connection, stream))
    return;
  message = foctet_relay_message_new_observed (foctet_connection_get_remote_address (connection), &error);
  if (message == NULL)
    {
      relay_server_refuse (self, stream, FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR, "%s", error->message);
      return;
    }
  relay_write_last_message (stream, message, NULL, "send OBSERVED");
}

/* ------------------------------------------------------------------ */
/* Public                                                              */

RelayServer *
relay_server_new (FoctetNode *node)
{
  g_return_val_if_fail (FOCTET_IS_NODE (node), NULL);

  return g_object_new (RELAY_TYPE_SERVER, "node", node, NULL);
}

FoctetNode *
relay_server_get_node (RelayServer *self)
{
  g_return_val_if_fail (RELAY_IS_SERVER (self), NULL);

  return self->node;
}

void
relay_server_get_stats (RelayServer      *self,
                        RelayServerStats *stats)
{
  g_return_if_fail (RELAY_IS_SERVER (self));

  *stats = self->stats;
}

char *
relay_server_format_stats (RelayServer *self)
{
  GString *text = g_string_new (NULL);
  RelayServerStats *s = &self->stats;

  g_string_append_printf (text, "reservations=%u circuits_active=%u circuits_total=%" G_GUINT64_FORMAT
                          " bytes_relayed=%" G_GUINT64_FORMAT " published=%u lookups=%" G_GUINT64_FORMAT
                          " lookups_found=%" G_GUINT64_FORMAT,
                          s->reservations, s->circuits_active, s->circuits_total, s->bytes_relayed,
                          s->published, s->lookups, s->lookups_found);
  /* By FoctetRelayErrorCode: short names for logs and scripts. */
  static const char *names[] = {
    NULL, "malformed", "no_reservation", "reservation_limit", "circuit_limit", "refused_by_target",
    "target_unreachable", "unexpected_message", "internal_error", "resource_limit", "raw_unsupported",
  };

  G_STATIC_ASSERT (G_N_ELEMENTS (names) == G_N_ELEMENTS (s->refusals));
  for (guint code = 1; code < G_N_ELEMENTS (s->refusals); code++)
    g_string_append_printf (text, " refused_%s=%" G_GUINT64_FORMAT, names[code], s->refusals[code]);
  g_string_append_printf (text, " refused_other=%" G_GUINT64_FORMAT, s->refusals[0]);
  g_string_append_printf (text, " raw_circuits_total=%" G_GUINT64_FORMAT " refused_raw=%" G_GUINT64_FORMAT
                          " incoming_failed=%" G_GUINT64_FORMAT,
                          s->raw_circuits_total, s->raw_refused, s->incoming_failed);
  return g_string_free (text, FALSE);
}

void
relay_server_stop (RelayServer *self)
{
  g_return_if_fail (RELAY_IS_SERVER (self));

  if (self->stopped)
    return;
  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_RESERVE, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_CONNECT, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_PUBLISH, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_LOOKUP, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_CONNECT_RAW, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_OBSERVED, NULL, NULL, NULL);
  g_signal_handlers_disconnect_by_func (self->node, incoming_connection_cb, self);
  g_signal_handlers_disconnect_by_func (self->node, connection_closed_cb, self);
  g_signal_handlers_disconnect_by_func (self->node, incoming_failed_cb, self);
  g_hash_table_remove_all (self->connections_over);
  relay_server_directory_stop (self);
  relay_server_circuits_stop (self);
  relay_server_reservations_stop (self);
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
relay_server_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  RelayServer *self = RELAY_SERVER (object);

  switch (prop_id)
    {
    case PROP_NODE: g_value_set_object (value, self->node); break;
    case PROP_MAX_RESERVATIONS: g_value_set_uint (value, self->max_reservations); break;
    case PROP_MAX_CIRCUITS: g_value_set_uint (value, self->max_circuits); break;
    case PROP_MAX_CIRCUITS_PER_CLIENT: g_value_set_uint (value, self->max_circuits_per_client); break;
    case PROP_MAX_CONNECTIONS_PER_CLIENT: g_value_set_uint (value, self->max_connections_per_client); break;
    case PROP_RESERVATION_TTL: g_value_set_uint (value, self->reservation_ttl); break;
    case PROP_CIRCUIT_IDLE_TIMEOUT: g_value_set_uint (value, self->circuit_idle_timeout); break;
    case PROP_INCOMING_TIMEOUT: g_value_set_uint (value, self->incoming_timeout); break;
    case PROP_RATE: g_value_set_uint64 (value, self->rate); break;
    case PROP_RATE_PER_CLIENT: g_value_set_uint64 (value, self->rate_per_client); break;
    case PROP_MAX_MEMORY: g_value_set_uint64 (value, self->max_memory); break;
    case PROP_LOOKUP_RATE: g_value_set_uint (value, self->lookup_rate); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_server_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  RelayServer *self = RELAY_SERVER (object);

  switch (prop_id)
    {
    case PROP_NODE: self->node = g_value_dup_object (value); break;
    case PROP_MAX_RESERVATIONS: self->max_reservations = g_value_get_uint (value); break;
    case PROP_MAX_CIRCUITS: self->max_circuits = g_value_get_uint (value); break;
    case PROP_MAX_CIRCUITS_PER_CLIENT: self->max_circuits_per_client = g_value_get_uint (value); break;
    case PROP_MAX_CONNECTIONS_PER_CLIENT: self->max_connections_per_client = g_value_get_uint (value); break;
    case PROP_RESERVATION_TTL: self->reservation_ttl = g_value_get_uint (value); break;
    case PROP_CIRCUIT_IDLE_TIMEOUT: self->circuit_idle_timeout = g_value_get_uint (value); break;
    case PROP_INCOMING_TIMEOUT: self->incoming_timeout = g_value_get_uint (value); break;
    case PROP_RATE: self->rate = g_value_get_uint64 (value); break;
    case PROP_RATE_PER_CLIENT: self->rate_per_client = g_value_get_uint64 (value); break;
    case PROP_MAX_MEMORY: self->max_memory = g_value_get_uint64 (value); break;
    case PROP_LOOKUP_RATE: self->lookup_rate = g_value_get_uint (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_server_constructed (GObject *object)
{
  RelayServer *self = RELAY_SERVER (object);

  G_OBJECT_CLASS (relay_server_parent_class)->constructed (object);
  g_assert (FOCTET_IS_NODE (self->node));

  /* A relay forwards; it is nobody's bandwidth test. */
  foctet_node_set_protocol_handler (self->node, FOCTET_PROTOCOL_PERF, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_RESERVE, relay_server_handle_reserve, self, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_CONNECT, relay_server_handle_connect, self, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_PUBLISH, relay_server_handle_publish, self, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_LOOKUP, relay_server_handle_lookup, self, NULL);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_OBSERVED, handle_observed, self, NULL);
  g_signal_connect (self->node, "incoming-connection", G_CALLBACK (incoming_connection_cb), self);
  g_signal_connect (self->node, "connection-closed", G_CALLBACK (connection_closed_cb), self);
  g_signal_connect (self->node, "incoming-failed", G_CALLBACK (incoming_failed_cb), self);
}

static void
relay_server_dispose (GObject *object)
{
  RelayServer *self = RELAY_SERVER (object);

  if (self->node != NULL)
    relay_server_stop (self);
  g_clear_object (&self->node);

  G_OBJECT_CLASS (relay_server_parent_class)->dispose (object);
}

static void
relay_server_finalize (GObject *object)
{
  RelayServer *self = RELAY_SERVER (object);

  relay_server_circuits_finalize (self);
  relay_server_directory_finalize (self);
  g_hash_table_unref (self->connections_over);
  g_hash_table_unref (self->connections);
  g_hash_table_unref (self->client_connections);
  g_clear_object (&self->cancellable);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (relay_server_parent_class)->finalize (object);
}

static void
relay_server_class_init (RelayServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS;

  object_class->get_property = relay_server_get_property;
  object_class->set_property = relay_server_set_property;
  object_class->constructed = relay_server_constructed;
  object_class->dispose = relay_server_dispose;
  object_class->finalize = relay_server_finalize;

  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, FOCTET_TYPE_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_RESERVATIONS] =
    g_param_spec_uint ("max-reservations", NULL, NULL, 0, G_MAXUINT, RELAY_DEFAULT_MAX_RESERVATIONS, flags);
  properties[PROP_MAX_CIRCUITS] =
    g_param_spec_uint ("max-circuits", NULL, NULL, 0, G_MAXUINT, RELAY_DEFAULT_MAX_CIRCUITS, flags);
  properties[PROP_MAX_CIRCUITS_PER_CLIENT] =
    g_param_spec_uint ("max-circuits-per-client", NULL, NULL, 0, G_MAXUINT,
                       RELAY_DEFAULT_MAX_CIRCUITS_PER_CLIENT, flags);
  properties[PROP_MAX_CONNECTIONS_PER_CLIENT] =
    g_param_spec_uint ("max-connections-per-client", NULL, NULL, 1, G_MAXUINT,
                       RELAY_DEFAULT_MAX_CONNECTIONS_PER_CLIENT, flags);
  properties[PROP_RESERVATION_TTL] =
    g_param_spec_uint ("reservation-ttl", NULL, NULL, 1, 24 * 3600, RELAY_DEFAULT_RESERVATION_TTL, flags);
  properties[PROP_CIRCUIT_IDLE_TIMEOUT] =
    g_param_spec_uint ("circuit-idle-timeout", NULL, NULL, 1, 24 * 3600, RELAY_DEFAULT_CIRCUIT_IDLE_TIMEOUT, flags);
  properties[PROP_INCOMING_TIMEOUT] =
    g_param_spec_uint ("incoming-timeout", NULL, NULL, 1, 3600, RELAY_DEFAULT_INCOMING_TIMEOUT, flags);
  properties[PROP_RATE] =
    g_param_spec_uint64 ("rate", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  /* Bytes per second one node may send through the relay over all its
   * circuits together, and as many it may receive (0: no limit). */
  properties[PROP_RATE_PER_CLIENT] =
    g_param_spec_uint64 ("rate-per-client", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_MAX_MEMORY] =
    g_param_spec_uint64 ("max-memory", NULL, NULL, 0, G_MAXUINT64, RELAY_DEFAULT_MAX_MEMORY, flags);
  /* LOOKUPs per second per client NodeId (0: no limit), in bursts of up
   * to RELAY_LOOKUP_BURST_FACTOR times as many. */
  properties[PROP_LOOKUP_RATE] =
    g_param_spec_uint ("lookup-rate", NULL, NULL, 0, 1000000, RELAY_DEFAULT_LOOKUP_RATE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
relay_server_init (RelayServer *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  self->client_connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->connections_over = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, destroy_source);
  relay_server_directory_init (self);
  relay_server_circuits_init (self);
}


/* foctet-node.c: a node — identity, transports, connections, protocols.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-node.h"
#include "foctet-builtins-private.h"
#include "foctet-cancellable-private.h"
#include "foctet-discovery-set-private.h"
#include "foctet-error.h"
#include "foctet-ping.h"
#include "foctet-perf.h"
#include "foctet-registry.h"
#include "foctet-stream-private.h"
#include "foctet-ticket-private.h"

/**
 * FoctetNode:
 *
 * A foctet node: it owns an identity, the transports it listens and dials
 * on, the connections it has, and the protocol handlers that incoming
 * streams are routed to.  The built-in `foctet/ping/1` and `foctet/perf/1`
 * protocols are served by every node.
 *
 * A node runs on the #GMainContext that was thread-default when it was
 * created; use it from that context's thread only.  Nothing it does blocks.
 *
 * Addresses are URIs of the form "transport/host:port", e.g.
 * "tls/0.0.0.0:0" or "quic/[::1]:4433"; the transport is found by name in
 * the plugin registry.
 */

/* A peer that opens a stream has this long to send its header. */
#define HEADER_TIMEOUT_SECONDS 10

/* How long a dial gives one address before it tries the next one too. */
#define DEFAULT_DIAL_RACE_DELAY_MS 250

typedef struct {
  FoctetProtocolHandler handler;
  gpointer user_data;
  GDestroyNotify destroy;
} Handler;

struct _FoctetNode {
  GObject parent_instance;

  FoctetIdentity *identity;
  GMainContext *context;
  GHashTable *transports;     /* name → FoctetTransport */
  GPtrArray *listen_uris;     /* "name/host:port" as bound */
  GHashTable *handlers;       /* protocol → Handler */
  GHashTable *connections;    /* FoctetConnection set */
  FoctetDiscoverySet *discoveries;
  GCancellable *cancellable;  /* cancelled on shutdown and dispose */
  guint dial_race_delay;      /* ms */
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (FoctetNode, foctet_node, G_TYPE_OBJECT)

/* The transport property a node gathers its reflexive addresses from. */
#define OBSERVED_ADDRESSES "observed-addresses"

static void transport_observed_cb (GObject    *transport,
                                   GParamSpec *pspec,
                                   FoctetNode *self);

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_NODE_ID,
  PROP_DIAL_RACE_DELAY,
  PROP_OBSERVED_ADDRESSES,
  N_PROPS
};

enum {
  SIGNAL_INCOMING_CONNECTION,
  SIGNAL_CONNECTION_CLOSED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
handler_free (Handler *handler)
{
  if (handler->destroy != NULL)
    handler->destroy (handler->user_data);
  g_free (handler);
}

static void
serve_ping (FoctetNode       *node,
            FoctetConnection *connection,
            FoctetStream     *stream,
            gpointer          user_data)
{
  foctet_ping_serve (stream);
}

static void
serve_perf (FoctetNode       *node,
            FoctetConnection *connection,
            FoctetStream     *stream,
            gpointer          user_data)
{
  foctet_perf_serve (stream);
}

static void connection_closed_cb (FoctetConnection *connection,
                                  const GError     *error,
                                  gpointer          user_data);
static void transport_incoming_cb (FoctetTransport  *transport,
                                   FoctetConnection *connection,
                                   gpointer          user_data);

static void
foctet_node_dispose (GObject *object)
{
  FoctetNode *self = FOCTET_NODE (object);
  GHashTableIter iter;
  gpointer value;

  g_cancellable_cancel (self->cancellable);

  if (self->transports != NULL)
    {
      g_hash_table_iter_init (&iter, self->transports);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          g_signal_handlers_disconnect_by_func (value, transport_incoming_cb, self);
          g_signal_handlers_disconnect_by_func (value, transport_observed_cb, self);
          foctet_transport_stop (value);
        }
      g_clear_pointer (&self->transports, g_hash_table_unref);
    }

  if (self->connections != NULL)
    {
      g_hash_table_iter_init (&iter, self->connections);
      while (g_hash_table_iter_next (&iter, &value, NULL))
        {
          g_signal_handlers_disconnect_by_func (value, connection_closed_cb, self);
          if (!foctet_connection_is_closed (value))
            foctet_connection_close_async (value, FOCTET_CLOSE_CODE_GOING_AWAY, "node disposed",
                                           NULL, NULL, NULL);
        }
      g_clear_pointer (&self->connections, g_hash_table_unref);
    }

  if (self->discoveries != NULL)
    {
      foctet_discovery_set_stop (self->discoveries);
      g_clear_pointer (&self->discoveries, foctet_discovery_set_unref);
    }
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (foctet_node_parent_class)->dispose (object);
}

static void
foctet_node_finalize (GObject *object)
{
  FoctetNode *self = FOCTET_NODE (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->listen_uris, g_ptr_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (foctet_node_parent_class)->finalize (object);
}

static void
foctet_node_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  FoctetNode *self = FOCTET_NODE (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_NODE_ID:
      g_value_set_boxed (value, foctet_node_get_node_id (self));
      break;
    case PROP_DIAL_RACE_DELAY:
      g_value_set_uint (value, self->dial_race_delay);
      break;
    case PROP_OBSERVED_ADDRESSES:
      g_value_take_boxed (value, foctet_node_get_observed_addresses (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_node_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  FoctetNode *self = FOCTET_NODE (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_DIAL_RACE_DELAY:
      foctet_node_set_dial_race_delay (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_node_constructed (GObject *object)
{
  FoctetNode *self = FOCTET_NODE (object);

  G_OBJECT_CLASS (foctet_node_parent_class)->constructed (object);

  g_assert (self->identity != NULL);
}

static void
foctet_node_class_init (FoctetNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = foctet_node_dispose;
  object_class->finalize = foctet_node_finalize;
  object_class->get_property = foctet_node_get_property;
  object_class->set_property = foctet_node_set_property;
  object_class->constructed = foctet_node_constructed;

  /**
   * FoctetNode:identity:
   *
   * The node's identity.
   */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL, FOCTET_TYPE_IDENTITY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetNode:node-id:
   *
   * The node's NodeId.
   */
  properties[PROP_NODE_ID] =
    g_param_spec_boxed ("node-id", NULL, NULL, FOCTET_TYPE_NODE_ID,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetNode:dial-race-delay:
   *
   * Milliseconds [method@Foctet.Node.dial_async] gives one of the peer's
   * addresses before it starts dialing the next one as well (the "happy
   * eyeballs" racing delay of PROTOCOL §3).  A dial moves on at once when
   * every address tried so far has failed.  0 dials all addresses at once.
   */
  properties[PROP_DIAL_RACE_DELAY] =
    g_param_spec_uint ("dial-race-delay", NULL, NULL, 0, 60 * 1000, DEFAULT_DIAL_RACE_DELAY_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetNode:observed-addresses:
   *
   * The node's addresses as others see them (its reflexive addresses):
   * what relays it holds reservations at report, "host:port" each.  See
   * [method@Foctet.Node.get_observed_addresses].
   */
  properties[PROP_OBSERVED_ADDRESSES] =
    g_param_spec_boxed ("observed-addresses", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * FoctetNode::incoming-connection:
   * @self: the node
   * @connection: the new connection a peer established
   *
   * Emitted when a peer connected to one of the node's transports.
   */
  signals[SIGNAL_INCOMING_CONNECTION] =
    g_signal_new ("incoming-connection", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, FOCTET_TYPE_CONNECTION);
  /**
   * FoctetNode::connection-closed:
   * @self: the node
   * @connection: the connection that ended
   * @error: (nullable): why, or %NULL for a normal close
   *
   * Emitted when one of the node's connections (dialed or accepted) ended.
   */
  signals[SIGNAL_CONNECTION_CLOSED] =
    g_signal_new ("connection-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, FOCTET_TYPE_CONNECTION, G_TYPE_ERROR);
}

static void
foctet_node_init (FoctetNode *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->transports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->listen_uris = g_ptr_array_new_with_free_func (g_free);
  self->handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) handler_free);
  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->cancellable = g_cancellable_new ();
  self->discoveries = foctet_discovery_set_new ();
  self->dial_race_delay = DEFAULT_DIAL_RACE_DELAY_MS;

  foctet_node_set_protocol_handler (self, FOCTET_PROTOCOL_PING, serve_ping, NULL, NULL);
  foctet_node_set_protocol_handler (self, FOCTET_PROTOCOL_PERF, serve_perf, NULL, NULL);
}

/**
 * foctet_node_new:
 * @identity: the node's identity
 *
 * Creates a node on the thread-default main context.  It neither listens
 * nor connects until told to.
 *
 * Returns: (transfer full): a new node
 */
FoctetNode *
foctet_node_new (FoctetIdentity *identity)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (identity), NULL);

  return g_object_new (FOCTET_TYPE_NODE, "identity", identity, NULL);
}

/**
 * foctet_node_get_identity:
 * @self: a [class@Foctet.Node]
 *
 * Gets the identity the node was created with: the key it proves in
 * every handshake.  It does not change.
 *
 * Returns: (transfer none): the node's identity, owned by @self
 */
FoctetIdentity *
foctet_node_get_identity (FoctetNode *self)
{
  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  return self->identity;
}

/**
 * foctet_node_get_node_id:
 * @self: a [class@Foctet.Node]
 *
 * Gets the node's NodeId, the public key of its identity: what a peer
 * must expect when it dials this node.
 *
 * Returns: (transfer none): the node's NodeId, owned by @self
 */
const FoctetNodeId *
foctet_node_get_node_id (FoctetNode *self)
{
  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  return foctet_identity_get_node_id (self->identity);
}

/**
 * foctet_node_get_dial_race_delay:
 * @self: a [class@Foctet.Node]
 *
 * Gets how long a dial gives one address before it starts the next one
 * as well.
 *
 * Returns: the [property@Foctet.Node:dial-race-delay], in milliseconds
 */
guint
foctet_node_get_dial_race_delay (FoctetNode *self)
{
  g_return_val_if_fail (FOCTET_IS_NODE (self), 0);

  return self->dial_race_delay;
}

/**
 * foctet_node_set_dial_race_delay:
 * @self: a [class@Foctet.Node]
 * @milliseconds: the delay, at most 60000
 *
 * Sets the [property@Foctet.Node:dial-race-delay] for dials that start from now on.
 */
void
foctet_node_set_dial_race_delay (FoctetNode *self,
                                 guint       milliseconds)
{
  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (milliseconds <= 60 * 1000);

  if (self->dial_race_delay == milliseconds)
    return;
  self->dial_race_delay = milliseconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DIAL_RACE_DELAY]);
}

/* Connections and the streams peers open on them. */

typedef struct {
  GWeakRef node;
  FoctetConnection *connection;
} AcceptData;

typedef struct {
  GWeakRef node;
  FoctetConnection *connection;
  FoctetStream *stream;
  GCancellable *cancellable;
  FoctetCancellableChain node_chain;   /* the node's cancels @cancellable */
  GSource *timeout;
} HeaderData;

static void accept_next (AcceptData *data);

static void
header_data_free (HeaderData *data)
{
  g_weak_ref_clear (&data->node);
  g_clear_object (&data->connection);
  g_clear_object (&data->stream);
  foctet_cancellable_chain_clear (&data->node_chain);
  g_clear_object (&data->cancellable);
  if (data->timeout != NULL)
    {
      g_source_destroy (data->timeout);
      g_source_unref (data->timeout);
    }
  g_free (data);
}

static gboolean
header_timeout_cb (gpointer user_data)
{
  HeaderData *data = user_data;

  g_debug ("Stream %" G_GUINT64_FORMAT ": no header within %d s",
           foctet_stream_get_id (data->stream), HEADER_TIMEOUT_SECONDS);
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
header_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  HeaderData *data = user_data;
  g_autoptr(FoctetNode) self = g_weak_ref_get (&data->node);
  g_autoptr(GError) error = NULL;
  const char *protocol;
  Handler *handler;

  protocol = foctet_stream_read_header_finish (data->stream, result, &error);
  if (protocol == NULL)
    {
      g_debug ("Stream %" G_GUINT64_FORMAT " from %s refused: %s",
               foctet_stream_get_id (data->stream),
               foctet_connection_get_remote_address (data->connection), error->message);
      foctet_stream_reset (data->stream, g_error_matches (error, FOCTET_ERROR,
                                                          FOCTET_ERROR_PROTOCOL_ERROR)
                                         ? FOCTET_CLOSE_CODE_PROTOCOL_ERROR
                                         : FOCTET_CLOSE_CODE_REFUSED);
      header_data_free (data);
      return;
    }

  handler = self != NULL ? g_hash_table_lookup (self->handlers, protocol) : NULL;
  if (handler == NULL)
    {
      g_debug ("Stream %" G_GUINT64_FORMAT ": no handler for protocol “%s”; refusing it",
               foctet_stream_get_id (data->stream), protocol);
      foctet_stream_reset (data->stream, FOCTET_CLOSE_CODE_REFUSED);
      header_data_free (data);
      return;
    }

  g_debug ("Stream %" G_GUINT64_FORMAT ": protocol “%s”", foctet_stream_get_id (data->stream),
           protocol);
  handler->handler (self, data->connection, data->stream, handler->user_data);
  header_data_free (data);
}

static void
accept_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  AcceptData *data = user_data;
  g_autoptr(FoctetNode) self = g_weak_ref_get (&data->node);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  HeaderData *header;

  stream = foctet_connection_accept_stream_finish (data->connection, result, &error);
  if (stream == NULL || self == NULL || self->shut_down)
    {
      if (error != NULL)
        g_debug ("Stopped accepting streams on a %s connection: %s",
                 foctet_connection_get_transport_name (data->connection), error->message);
      if (stream != NULL)
        foctet_stream_reset (stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      g_weak_ref_clear (&data->node);
      g_object_unref (data->connection);
      g_free (data);
      return;
    }

  header = g_new0 (HeaderData, 1);
  g_weak_ref_init (&header->node, self);
  header->connection = g_object_ref (data->connection);
  header->stream = g_steal_pointer (&stream);
  header->cancellable = g_cancellable_new ();
  foctet_cancellable_chain_init (&header->node_chain, self->cancellable, header->cancellable);
  header->timeout = g_timeout_source_new_seconds (HEADER_TIMEOUT_SECONDS);
  g_source_set_callback (header->timeout, header_timeout_cb, header, NULL);
  g_source_attach (header->timeout, self->context);
  foctet_stream_read_header_async (header->stream, header->cancellable, header_read_cb, header);

  accept_next (data);
}

static void
accept_next (AcceptData *data)
{
  g_autoptr(FoctetNode) self = g_weak_ref_get (&data->node);

  foctet_connection_accept_stream_async (data->connection, self->cancellable, accept_cb, data);
}

static void
connection_closed_cb (FoctetConnection *connection,
                      const GError     *error,
                      gpointer          user_data)
{
  FoctetNode *self = user_data;

  g_debug ("Connection to %s over %s closed%s%s",
           foctet_connection_get_remote_address (connection),
           foctet_connection_get_transport_name (connection),
           error != NULL ? ": " : "", error != NULL ? error->message : "");

  g_object_ref (connection);
  g_signal_handlers_disconnect_by_func (connection, connection_closed_cb, self);
  if (g_hash_table_remove (self->connections, connection))
    g_signal_emit (self, signals[SIGNAL_CONNECTION_CLOSED], 0, connection, error);
  g_object_unref (connection);
}

static void
node_add_connection (FoctetNode       *self,
                     FoctetConnection *connection)
{
  AcceptData *data;

  if (foctet_connection_is_closed (connection))
    return;

  g_hash_table_add (self->connections, g_object_ref (connection));
  g_signal_connect (connection, "closed", G_CALLBACK (connection_closed_cb), self);

  data = g_new0 (AcceptData, 1);
  g_weak_ref_init (&data->node, self);
  data->connection = g_object_ref (connection);
  accept_next (data);
}

static void
transport_incoming_cb (FoctetTransport  *transport,
                       FoctetConnection *connection,
                       gpointer          user_data)
{
  FoctetNode *self = user_data;
  g_autofree char *peer = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));

  if (self->shut_down)
    {
      foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_GOING_AWAY, "shutting down",
                                     NULL, NULL, NULL);
      return;
    }

  g_debug ("Incoming %s connection from %s at %s", foctet_transport_get_name (transport), peer,
           foctet_connection_get_remote_address (connection));
  node_add_connection (self, connection);
  g_signal_emit (self, signals[SIGNAL_INCOMING_CONNECTION], 0, connection);
}

/* Transports */

/**
 * foctet_node_add_transport:
 * @self: a [class@Foctet.Node]
 * @transport: a transport, constructed with this node's identity
 *
 * Adds a transport instance the application made itself (for example one
 * written in Python), replacing any transport of the same name.
 */
static void
transport_observed_cb (GObject    *transport,
                       GParamSpec *pspec,
                       FoctetNode *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OBSERVED_ADDRESSES]);
}

void
foctet_node_add_transport (FoctetNode      *self,
                           FoctetTransport *transport)
{
  FoctetTransport *old;
  const char *name;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (FOCTET_IS_TRANSPORT (transport));

  name = foctet_transport_get_name (transport);
  old = g_hash_table_lookup (self->transports, name);
  if (old == transport)
    return;
  if (old != NULL)
    {
      g_signal_handlers_disconnect_by_func (old, transport_incoming_cb, self);
      g_signal_handlers_disconnect_by_func (old, transport_observed_cb, self);
      foctet_transport_stop (old);
    }
  g_signal_connect (transport, "incoming", G_CALLBACK (transport_incoming_cb), self);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (transport), OBSERVED_ADDRESSES) != NULL)
    g_signal_connect (transport, "notify::" OBSERVED_ADDRESSES, G_CALLBACK (transport_observed_cb), self);
  g_hash_table_replace (self->transports, g_strdup (name), g_object_ref (transport));
}

/**
 * foctet_node_get_observed_addresses:
 * @self: a [class@Foctet.Node]
 *
 * The node's reflexive addresses: where the other side of its
 * connections sees it coming from, as relays it holds a reservation at
 * report it (a relay transport exposes them as its "observed-addresses"
 * property; so may any transport).  Behind a NAT these are the NAT's
 * public addresses, the ones hole punching will use.
 * [property@Foctet.Node:observed-addresses] is notified when they change.
 *
 * Returns: (transfer full): "host:port" each, without duplicates; empty
 *   when nobody reported one
 */
char **
foctet_node_get_observed_addresses (FoctetNode *self)
{
  g_autoptr(GStrvBuilder) builder = NULL;
  g_autoptr(GHashTable) seen = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  builder = g_strv_builder_new ();
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_iter_init (&iter, self->transports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_auto(GStrv) addresses = NULL;

      if (g_object_class_find_property (G_OBJECT_GET_CLASS (value), OBSERVED_ADDRESSES) == NULL)
        continue;
      g_object_get (value, OBSERVED_ADDRESSES, &addresses, NULL);
      for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++)
        if (g_hash_table_add (seen, g_strdup (addresses[i])))
          g_strv_builder_add (builder, addresses[i]);
    }
  return g_strv_builder_end (builder);
}

/**
 * foctet_node_get_transport:
 * @self: a [class@Foctet.Node]
 * @name: a transport name ("quic", "tls", ...)
 * @error: return location for a #GError
 *
 * Returns the node's transport called @name, creating it from the plugin
 * registry on first use.
 *
 * Returns: (transfer none): the transport, or %NULL with
 *   %FOCTET_ERROR_PLUGIN_NOT_FOUND
 */
FoctetTransport *
foctet_node_get_transport (FoctetNode  *self,
                           const char  *name,
                           GError     **error)
{
  FoctetTransport *transport;
  g_autoptr(FoctetTransport) created = NULL;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  transport = g_hash_table_lookup (self->transports, name);
  if (transport != NULL)
    return transport;

  g_main_context_push_thread_default (self->context);
  created = foctet_registry_create_transport (foctet_registry_get_default (), name,
                                              self->identity, error);
  g_main_context_pop_thread_default (self->context);
  if (created == NULL)
    return NULL;

  foctet_node_add_transport (self, created);
  return created;
}

/* Splits "transport/host:port". */
static gboolean
parse_uri (const char  *uri,
           char       **transport,
           char       **address,
           GError     **error)
{
  const char *slash = uri != NULL ? strchr (uri, '/') : NULL;

  if (slash == NULL || slash == uri || slash[1] == '\0')
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” is not an address of the form transport/host:port", uri ? uri : "");
      return FALSE;
    }
  if (!foctet_parse_host_port (slash + 1, NULL, NULL, error))
    {
      g_prefix_error (error, "“%s”: ", uri);
      return FALSE;
    }
  *transport = g_strndup (uri, slash - uri);
  *address = g_strdup (slash + 1);
  return TRUE;
}

/* Tells the discoveries that publish what the node's ticket now holds. */
static void
node_publish (FoctetNode *self)
{
  g_autoptr(FoctetTicket) ticket = NULL;

  if (self->shut_down || foctet_discovery_set_is_empty (self->discoveries))
    return;
  ticket = foctet_node_get_ticket (self);
  foctet_discovery_set_publish (self->discoveries, ticket);
}

static void
listen_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetNode *self = g_task_get_source_object (task);
  FoctetTransport *transport = FOCTET_TRANSPORT (source);
  g_autofree char *bound = NULL;
  GError *error = NULL;
  char *uri;

  bound = foctet_transport_listen_finish (transport, result, &error);
  if (bound == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  uri = g_strconcat (foctet_transport_get_name (transport), "/", bound, NULL);
  g_ptr_array_add (self->listen_uris, g_strdup (uri));
  g_debug ("Listening on %s", uri);
  node_publish (self);
  g_task_return_pointer (task, uri, g_free);
}

/**
 * foctet_node_listen_async:
 * @self: a [class@Foctet.Node]
 * @uri: where to listen, "transport/host:port"; port 0 picks a free port
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when listening
 * @user_data: data for @callback
 *
 * Starts accepting connections on @uri.
 */
void
foctet_node_listen_async (FoctetNode          *self,
                          const char          *uri,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *name = NULL;
  g_autofree char *address = NULL;
  FoctetTransport *transport;
  GError *error = NULL;

  g_return_if_fail (FOCTET_IS_NODE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_listen_async);

  if (self->shut_down)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The node is shut down");
      return;
    }
  if (!parse_uri (uri, &name, &address, &error) ||
      (transport = foctet_node_get_transport (self, name, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  foctet_transport_listen_async (transport, address, cancellable, listen_cb,
                                 g_steal_pointer (&task));
}

/**
 * foctet_node_listen_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.listen_async].  It fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT for a URI not of the form
 * "transport/host:port", with %FOCTET_ERROR_PLUGIN_NOT_FOUND when no
 * plugin provides the transport, with %FOCTET_ERROR_CONNECTION_CLOSED once
 * the node is shut down, and with the transport's own error (such as
 * %G_IO_ERROR_ADDRESS_IN_USE) when it cannot listen.
 *
 * Returns: (transfer full): the URI listened on, with the real port, or
 *   %NULL with @error set
 */
char *
foctet_node_listen_finish (FoctetNode    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * foctet_node_get_listen_uris:
 * @self: a [class@Foctet.Node]
 *
 * Lists the URIs the node listens on, as [method@Foctet.Node.listen_finish]
 * returned them, in the order they were bound.  The list is empty before
 * the first listen and after [method@Foctet.Node.shutdown_async].
 *
 * Returns: (transfer full) (array zero-terminated=1): the URIs the node
 *   listens on, as bound; free with g_strfreev()
 */
char **
foctet_node_get_listen_uris (FoctetNode *self)
{
  GStrvBuilder *builder;
  char **uris;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  builder = g_strv_builder_new ();
  for (guint i = 0; i < self->listen_uris->len; i++)
    g_strv_builder_add (builder, g_ptr_array_index (self->listen_uris, i));
  uris = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return uris;
}

/**
 * foctet_node_get_ticket:
 * @self: a [class@Foctet.Node]
 *
 * Makes a ticket with the node's NodeId and every address it listens on
 * whose transport has a ticket entry type (QUIC, then TLS, then relay).
 *
 * Returns: (transfer full): a new ticket
 */
FoctetTicket *
foctet_node_get_ticket (FoctetNode *self)
{
  FoctetTicket *ticket;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  ticket = foctet_ticket_new (foctet_node_get_node_id (self));
  for (guint k = 0; k < FOCTET_N_ADDRESS_KINDS; k++)
    {
      FoctetAddressKind kind = foctet_address_kinds[k];
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->transports);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          g_auto(GStrv) addresses = NULL;

          if (foctet_transport_get_address_kind (value) != (guint) kind)
            continue;
          addresses = foctet_transport_get_listen_addresses (value);
          for (guint i = 0; addresses[i] != NULL; i++)
            {
              g_autoptr(GError) error = NULL;

              if (!foctet_ticket_add_address (ticket, kind, addresses[i], &error))
                g_debug ("Address %s left out of the ticket: %s", addresses[i], error->message);
            }
        }
    }
  return ticket;
}

/* Discovery */

/**
 * foctet_node_add_discovery:
 * @self: a [class@Foctet.Node]
 * @discovery: a discovery mechanism, constructed with this node's
 *   identity on the node's #GMainContext
 * @flags: %FOCTET_DISCOVERY_FLAGS_PUBLISH to make the node findable
 *   through it too
 * @error: return location for a #GError
 *
 * Starts @discovery and uses it: its peers join [method@Foctet.Node.get_peers],
 * and a dial to a ticket without direct addresses asks it.  With
 * %FOCTET_DISCOVERY_FLAGS_PUBLISH the node's ticket is published now and
 * whenever the node starts listening somewhere; [method@Foctet.Node.shutdown_async]
 * withdraws it and stops the discovery.
 *
 * Returns: %TRUE when started; %FALSE with @error set when the discovery
 *   could not start, the node is shut down, or already uses a mechanism
 *   of that name
 */
gboolean
foctet_node_add_discovery (FoctetNode            *self,
                           FoctetDiscovery       *discovery,
                           FoctetDiscoveryFlags   flags,
                           GError               **error)
{
  g_autoptr(FoctetTicket) own = NULL;

  g_return_val_if_fail (FOCTET_IS_NODE (self), FALSE);
  g_return_val_if_fail (FOCTET_IS_DISCOVERY (discovery), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->shut_down)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED, "The node is shut down");
      return FALSE;
    }
  if (self->listen_uris->len > 0)
    own = foctet_node_get_ticket (self);

  return foctet_discovery_set_add (self->discoveries, discovery, flags, own, error);
}

/**
 * foctet_node_enable_discovery:
 * @self: a [class@Foctet.Node]
 * @name: a discovery mechanism's name ("mdns", "relay")
 * @flags: as for [method@Foctet.Node.add_discovery]
 * @error: return location for a #GError
 *
 * Creates the discovery called @name from the plugin registry and adds it
 * ([method@Foctet.Node.add_discovery]).
 *
 * Returns: %TRUE when started; %FALSE with @error set
 *   (%FOCTET_ERROR_PLUGIN_NOT_FOUND when no plugin provides @name)
 */
gboolean
foctet_node_enable_discovery (FoctetNode            *self,
                              const char            *name,
                              FoctetDiscoveryFlags   flags,
                              GError               **error)
{
  g_autoptr(FoctetDiscovery) discovery = NULL;

  g_return_val_if_fail (FOCTET_IS_NODE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  g_main_context_push_thread_default (self->context);
  discovery = foctet_registry_create_discovery (foctet_registry_get_default (), name,
                                                self->identity, error);
  g_main_context_pop_thread_default (self->context);
  if (discovery == NULL)
    return FALSE;

  return foctet_node_add_discovery (self, discovery, flags, error);
}

/**
 * foctet_node_get_peers:
 * @self: a [class@Foctet.Node]
 *
 * The peers the node's discoveries found ([method@Foctet.Node.add_discovery]):
 * one [class@Foctet.Peer] per NodeId, while its announcement holds.  The list
 * changes on the node's #GMainContext with #GListModel::items-changed,
 * and a peer that announces new addresses notifies them — a view bound
 * to it (a GtkListView) stays current without polling.
 *
 * Returns: (transfer none): a #GListModel of [class@Foctet.Peer]
 */
GListModel *
foctet_node_get_peers (FoctetNode *self)
{
  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  return foctet_discovery_set_get_peers (self->discoveries);
}

/* Dialing
 *
 * A dial is a race over the peer's addresses (PROTOCOL §3, "happy
 * eyeballs"): the attempts are started one by one, the first at once and
 * each next one a racing delay after the previous, or as soon as every
 * attempt started so far has failed.  The first connection to complete
 * its handshake wins; the other attempts are cancelled, and a loser that
 * completes all the same is closed with code 0, never kept nor announced.
 *
 * Every attempt in flight holds a reference on the dial's task, so the
 * race's state lives until the last transport answered, even after the
 * task returned.  The timer and the cancellation sources do not: they are
 * destroyed when the task returns. */

typedef struct {
  GTask *task;                 /* while the attempt's dial is in flight */
  char *uri;                   /* "transport/host:port" */
  GCancellable *cancellable;
  GError *error;               /* why it failed */
} DialAttempt;

typedef struct {
  FoctetNodeId *peer;
  GPtrArray *attempts;         /* DialAttempt, in the order they start */
  guint next;                  /* the next attempt to start */
  guint pending;               /* attempts in flight */
  guint delay_ms;              /* G_MAXUINT: one after the other, no race */
  gboolean starting;           /* inside race_start_next () */
  gboolean finished;           /* the task returned */
  gboolean discovered;         /* the addresses came from discovery */
  GSource *timer;              /* starts the next attempt */
  GSource *cancelled;          /* the caller's cancellable */
  GSource *shut_down;          /* the node's cancellable */
} DialRace;

static void
dial_attempt_free (DialAttempt *attempt)
{
  g_assert (attempt->task == NULL);
  g_free (attempt->uri);
  g_clear_object (&attempt->cancellable);
  g_clear_error (&attempt->error);
  g_free (attempt);
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
dial_race_free (DialRace *race)
{
  clear_source (&race->timer);
  clear_source (&race->cancelled);
  clear_source (&race->shut_down);
  g_clear_pointer (&race->peer, foctet_node_id_free);
  g_clear_pointer (&race->attempts, g_ptr_array_unref);
  g_free (race);
}

/* How much an attempt's failure tells the caller: that the peer is not
 * who the ticket says beats a broken handshake, which beats "refused",
 * which beats a timeout, which beats an address no transport can use. */
static int
error_weight (const GError *error)
{
  if (error->domain == FOCTET_ERROR)
    switch ((FoctetError) error->code)
      {
      case FOCTET_ERROR_NODE_ID_MISMATCH:
        return 100;
      case FOCTET_ERROR_BAD_CERTIFICATE:
        return 90;
      case FOCTET_ERROR_HANDSHAKE_FAILED:
      case FOCTET_ERROR_PROTOCOL_ERROR:
        return 80;
      case FOCTET_ERROR_TIMED_OUT:
        return 30;
      case FOCTET_ERROR_UNREACHABLE:
        return 25;
      case FOCTET_ERROR_INVALID_ARGUMENT:
      case FOCTET_ERROR_PLUGIN_NOT_FOUND:
        return 20;
      default:
        return 60;
      }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return 30;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return 0;
  return 40;
}

static void
dial_race_finish (GTask *task)
{
  DialRace *race = g_task_get_task_data (task);

  race->finished = TRUE;
  clear_source (&race->timer);
  clear_source (&race->cancelled);
  clear_source (&race->shut_down);
  for (guint i = 0; i < race->attempts->len; i++)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, i);

      if (attempt->task != NULL)
        g_cancellable_cancel (attempt->cancellable);
    }
}

static void
dial_race_return_error (GTask *task)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  const GError *best = NULL;
  g_autofree char *peer = NULL;
  GString *message;

  dial_race_finish (task);
  if (race->discovered)
    foctet_discovery_set_forget (self->discoveries, race->peer);

  /* One address: its own error says it best. */
  if (race->attempts->len == 1)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, 0);

      g_task_return_error (task, g_steal_pointer (&attempt->error));
      g_object_unref (task);
      return;
    }

  /* Several: what happened to each, under the most telling code. */
  peer = foctet_node_id_to_string (race->peer);
  message = g_string_new (NULL);
  g_string_printf (message, "Cannot reach %s: ", peer);
  for (guint i = 0; i < race->attempts->len; i++)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, i);

      if (attempt->error == NULL)
        continue;
      if (best == NULL || error_weight (attempt->error) > error_weight (best))
        best = attempt->error;
      if (i > 0)
        g_string_append (message, "; ");
      g_string_append_printf (message, "%s — %s", attempt->uri, attempt->error->message);
    }
  g_assert (best != NULL);
  g_task_return_new_error (task, best->domain, best->code, "%s", message->str);
  g_string_free (message, TRUE);
  g_object_unref (task);
}

static void
dial_attempt_failed (DialAttempt *attempt,
                     GError      *error)
{
  g_debug ("Dialing %s failed: %s", attempt->uri, error->message);
  g_clear_error (&attempt->error);
  attempt->error = error;
}

static void race_start_next (GTask *task);

static void
dial_attempt_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  DialAttempt *attempt = user_data;
  GTask *task = g_steal_pointer (&attempt->task);
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  FoctetConnection *connection;
  GError *error = NULL;

  race->pending--;
  connection = foctet_transport_dial_finish (FOCTET_TRANSPORT (source), result, &error);

  if (race->finished)
    {
      /* Lost the race (or the dial was given up), but connected all the
       * same: end it politely; the peer forgets it too. */
      if (connection != NULL)
        {
          g_debug ("Closing %s: another address won the race", attempt->uri);
          foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_NO_ERROR, "lost the race",
                                         NULL, NULL, NULL);
          g_object_unref (connection);
        }
      g_clear_error (&error);
    }
  else if (connection != NULL)
    {
      g_debug ("Connected to %s", attempt->uri);
      dial_race_finish (task);
      node_add_connection (self, connection);
      g_task_return_pointer (task, connection, g_object_unref);
      g_object_unref (task);    /* the race's own reference */
    }
  else
    {
      dial_attempt_failed (attempt, error);
      /* Nothing else in flight: no reason to wait for the timer. */
      if (race->pending == 0 && !race->starting)
        race_start_next (task);
    }

  g_object_unref (task);        /* the attempt's */
}

/* Starts one attempt, or records why it cannot start. */
static void
dial_attempt_start (GTask       *task,
                    DialAttempt *attempt)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  g_autofree char *name = NULL;
  g_autofree char *address = NULL;
  FoctetTransport *transport;
  GError *error = NULL;

  if (!parse_uri (attempt->uri, &name, &address, &error) ||
      (transport = foctet_node_get_transport (self, name, &error)) == NULL)
    {
      dial_attempt_failed (attempt, error);
      return;
    }

  g_debug ("Dialing %s", attempt->uri);
  attempt->cancellable = g_cancellable_new ();
  attempt->task = g_object_ref (task);
  race->pending++;
  foctet_transport_dial_async (transport, address, race->peer, attempt->cancellable,
                               dial_attempt_cb, attempt);
}

static gboolean
race_timer_cb (gpointer user_data)
{
  GTask *task = user_data;
  DialRace *race = g_task_get_task_data (task);

  g_clear_pointer (&race->timer, g_source_unref);
  race_start_next (task);
  return G_SOURCE_REMOVE;
}

/* Starts the next attempt (and, while those fail at once with nothing
 * else in flight, the ones after it), then sets the timer for the one
 * after; returns the task's error when no attempt is left. */
static void
race_start_next (GTask *task)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);

  clear_source (&race->timer);
  race->starting = TRUE;
  while (race->next < race->attempts->len && !race->finished)
    {
      /* An attempt that failed at once leaves nothing in flight: on to
       * the next one. */
      dial_attempt_start (task, g_ptr_array_index (race->attempts, race->next++));
      if (race->pending > 0)
        break;
    }
  race->starting = FALSE;

  if (race->finished)
    return;
  if (race->pending == 0)
    {
      /* Every attempt was started and has failed. */
      dial_race_return_error (task);
      return;
    }
  if (race->next < race->attempts->len && race->delay_ms != G_MAXUINT)
    {
      race->timer = g_timeout_source_new (race->delay_ms);
      g_source_set_static_name (race->timer, "[foctet] dial race");
      g_source_set_callback (race->timer, race_timer_cb, task, NULL);
      g_source_attach (race->timer, self->context);
    }
}

static gboolean
race_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;

  dial_race_finish (task);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static gboolean
race_shut_down_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;

  dial_race_finish (task);
  g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                           "The node was shut down while dialing");
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static GSource *
watch_cancellable (FoctetNode             *self,
                   GCancellable           *cancellable,
                   GCancellableSourceFunc  func,
                   GTask                  *task)
{
  GSource *source = g_cancellable_source_new (cancellable);

  g_source_set_static_name (source, "[foctet] dial cancelled");
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) func, task, NULL);
  g_source_attach (source, self->context);
  return source;
}

/* Takes @uris (and the caller's reference on @task). */
static void
dial_start (FoctetNode         *self,
            const FoctetNodeId *peer,
            GPtrArray          *uris,
            guint               delay_ms,
            gboolean            discovered,
            GTask              *task)
{
  DialRace *race = g_new0 (DialRace, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);

  race->peer = foctet_node_id_copy (peer);
  race->delay_ms = delay_ms;
  race->discovered = discovered;
  race->attempts = g_ptr_array_new_with_free_func ((GDestroyNotify) dial_attempt_free);
  for (guint i = 0; i < uris->len; i++)
    {
      DialAttempt *attempt = g_new0 (DialAttempt, 1);

      attempt->uri = g_strdup (g_ptr_array_index (uris, i));
      g_ptr_array_add (race->attempts, attempt);
    }
  g_ptr_array_unref (uris);
  g_task_set_task_data (task, race, (GDestroyNotify) dial_race_free);

  if (self->shut_down)
    {
      race->finished = TRUE;
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The node is shut down");
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      race->finished = TRUE;
      g_object_unref (task);
      return;
    }

  if (cancellable != NULL)
    race->cancelled = watch_cancellable (self, cancellable, race_cancelled_cb, task);
  race->shut_down = watch_cancellable (self, self->cancellable, race_shut_down_cb, task);
  race_start_next (task);
}

/* The ticket's addresses a dial can use, as "transport/host:port" in the
 * order of foctet_ticket_get_uris() (QUIC, then TLS, then relay): those of
 * @transport if it is given, and of the transports loaded. */
static GPtrArray *
ticket_dial_uris (FoctetNode   *self,
                  FoctetTicket *ticket,
                  const char   *transport)
{
  g_auto(GStrv) loaded = NULL;
  g_auto(GStrv) all = NULL;
  GPtrArray *uris;

  loaded = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_TRANSPORT);
  all = foctet_ticket_get_uris (ticket);
  uris = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; all[i] != NULL; i++)
    {
      g_autofree char *name = g_strndup (all[i], strcspn (all[i], "/"));

      if (transport != NULL && g_strcmp0 (transport, name) != 0)
        continue;
      if (!g_strv_contains ((const char * const *) loaded, name) &&
          !g_hash_table_contains (self->transports, name))
        continue;
      g_ptr_array_add (uris, g_strdup (all[i]));
    }
  return uris;
}

/* Whether the ticket says where to reach the node itself, not only
 * through whom. */
static gboolean
ticket_has_direct_address (FoctetTicket *ticket)
{
  return foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_QUIC) ||
         foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_TLS);
}

/* Races the ticket's addresses; takes the caller's reference on @task.
 * @discovered: the addresses came from discovery, which forgets them if
 * none answers. */
static void
dial_ticket (FoctetNode   *self,
             FoctetTicket *ticket,
             const char   *transport,
             gboolean      discovered,
             GTask        *task)
{
  GPtrArray *uris = ticket_dial_uris (self, ticket, transport);

  if (uris->len == 0)
    {
      g_autofree char *peer = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
      gboolean empty = transport == NULL && !ticket_has_direct_address (ticket) &&
                       !foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_RELAY);

      g_ptr_array_unref (uris);
      if (empty)
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                                 "The ticket of %s has no address, and no discovery mechanism "
                                 "is enabled to find one", peer);
      else
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE,
                                 transport != NULL
                                 ? "The ticket has no %s address, or no plugin provides that transport"
                                 : "The ticket has no address for any loaded transport%s",
                                 transport != NULL ? transport : "");
      g_object_unref (task);
      return;
    }

  dial_start (self, foctet_ticket_get_node_id (ticket), uris,
              transport != NULL ? G_MAXUINT : self->dial_race_delay, discovered, task);
}

/* A dial that first looks its NodeId up. */
typedef struct {
  FoctetTicket *ticket;
  char *transport;
  GCancellable *cancellable;     /* the lookup's: the caller's or the node's cancels it */
  FoctetCancellableChain node_chain;
  FoctetCancellableChain caller_chain;
} DialLookup;

static void
dial_lookup_free (DialLookup *lookup)
{
  foctet_cancellable_chain_clear (&lookup->node_chain);
  foctet_cancellable_chain_clear (&lookup->caller_chain);
  g_clear_object (&lookup->cancellable);
  g_clear_object (&lookup->ticket);
  g_free (lookup->transport);
  g_free (lookup);
}

static void
dial_resolved_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  FoctetNode *self = g_task_get_source_object (task);
  DialLookup *lookup = g_task_get_task_data (task);
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(FoctetTicket) ticket = g_object_ref (lookup->ticket);
  g_autofree char *transport = g_strdup (lookup->transport);
  GError *error = NULL;

  found = foctet_discovery_set_resolve_finish (result, &error);
  if (self->shut_down)
    {
      g_clear_error (&error);
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The node was shut down while dialing");
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      g_clear_error (&error);
      g_object_unref (task);
      return;
    }
  if (found == NULL)
    {
      /* A relay the ticket named still leads to the node. */
      if (foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_RELAY) &&
          (transport == NULL || g_strcmp0 (transport, "relay") == 0))
        {
          g_debug ("%s; dialing through the ticket's relay", error->message);
          g_clear_error (&error);
          dial_ticket (self, ticket, transport, FALSE, task);
          return;
        }
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  dial_ticket (self, found, transport, TRUE, task);
}

/**
 * foctet_node_dial_async:
 * @self: a [class@Foctet.Node]
 * @ticket: the peer's ticket
 * @transport: (nullable): force this transport ("quic", "tls", "relay"),
 *   or %NULL to use any the ticket and the loaded plugins allow
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when connected or failed
 * @user_data: data for @callback
 *
 * Connects to the node a ticket names and authenticates it as the
 * ticket's NodeId.  The connection is kept by the node, which serves the
 * peer's streams on it too.
 *
 * The addresses are raced (PROTOCOL §3): they are dialed in the order QUIC,
 * TLS, relay (each kind in the ticket's order), the first at once and each
 * next one [property@Foctet.Node:dial-race-delay] later, or at once when every address
 * dialed so far has failed.  The first connection that completes its
 * handshake wins; the other dials are cancelled, and one that connects all
 * the same is closed with %FOCTET_CLOSE_CODE_NO_ERROR.  Addresses of
 * transports no loaded plugin provides are skipped.
 *
 * With @transport, only that transport's addresses are dialed, one after
 * the other, each once the one before failed.
 *
 * A ticket without a direct (QUIC or TLS) address — a bare NodeId, or a
 * NodeId and a relay — is first looked up through every discovery the
 * node uses ([method@Foctet.Node.add_discovery]), all at once; the first answer
 * wins, and its addresses are raced before the ticket's relay.  When no
 * discovery finds the node, the ticket's relay is dialed all the same;
 * with no relay either, the dial fails with %FOCTET_ERROR_NOT_FOUND,
 * naming each discovery and why it found nothing.
 *
 * When every address fails, the error names each with its reason
 * ("Cannot reach NODEID: quic/HOST:PORT — why; tls/HOST:PORT — why"), and
 * carries the most telling of their codes: %FOCTET_ERROR_NODE_ID_MISMATCH
 * from any address before a handshake failure, before an I/O error, before
 * a timeout.  With a single address, its error is returned as it is.
 */
void
foctet_node_dial_async (FoctetNode          *self,
                        FoctetTicket        *ticket,
                        const char          *transport,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_dial_async);

  if (!ticket_has_direct_address (ticket) && g_strcmp0 (transport, "relay") != 0 &&
      !foctet_discovery_set_is_empty (self->discoveries) && !self->shut_down)
    {
      DialLookup *lookup = g_new0 (DialLookup, 1);

      lookup->ticket = g_object_ref (ticket);
      lookup->transport = g_strdup (transport);
      lookup->cancellable = g_cancellable_new ();
      foctet_cancellable_chain_init (&lookup->node_chain, self->cancellable, lookup->cancellable);
      foctet_cancellable_chain_init (&lookup->caller_chain, cancellable, lookup->cancellable);
      g_task_set_task_data (task, lookup, (GDestroyNotify) dial_lookup_free);
      foctet_discovery_set_resolve_async (self->discoveries, ticket, lookup->cancellable,
                                          dial_resolved_cb, task);
      return;
    }

  dial_ticket (self, ticket, transport, FALSE, task);
}

/**
 * foctet_node_dial_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.dial_async].  When every address failed, the error
 * is the one [method@Foctet.Node.dial_async] describes; it is
 * %FOCTET_ERROR_CONNECTION_CLOSED when the node is shut down and
 * %G_IO_ERROR_CANCELLED when the dial was cancelled.
 *
 * Returns: (transfer full): the authenticated connection, which the node
 *   keeps too, or %NULL with @error set
 */
FoctetConnection *
foctet_node_dial_finish (FoctetNode    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * foctet_node_dial_uri_async:
 * @self: a [class@Foctet.Node]
 * @peer: the NodeId the peer must prove
 * @uri: "transport/host:port" to dial
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when connected or failed
 * @user_data: data for @callback
 *
 * Connects to @peer at one explicit address.
 */
void
foctet_node_dial_uri_async (FoctetNode          *self,
                            const FoctetNodeId  *peer,
                            const char          *uri,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GPtrArray *uris;
  GTask *task;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (peer != NULL);
  g_return_if_fail (uri != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_dial_uri_async);

  uris = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (uris, g_strdup (uri));
  dial_start (self, peer, uris, G_MAXUINT, FALSE, task);
}

/**
 * foctet_node_dial_uri_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.dial_uri_async].  It fails with the address's own
 * error: %FOCTET_ERROR_INVALID_ARGUMENT for a malformed URI,
 * %FOCTET_ERROR_PLUGIN_NOT_FOUND for an unknown transport,
 * %FOCTET_ERROR_NODE_ID_MISMATCH when the peer is not the NodeId asked
 * for, or the transport's I/O or handshake error; with
 * %FOCTET_ERROR_CONNECTION_CLOSED when the node is shut down and
 * %G_IO_ERROR_CANCELLED when the dial was cancelled.
 *
 * Returns: (transfer full): the authenticated connection, which the node
 *   keeps too, or %NULL with @error set
 */
FoctetConnection *
foctet_node_dial_uri_finish (FoctetNode    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Protocols */

/**
 * foctet_node_set_protocol_handler:
 * @self: a [class@Foctet.Node]
 * @protocol: the protocol name, 1 to 255 bytes of UTF-8
 * @handler: (scope notified) (closure user_data) (destroy destroy) (nullable):
 *   the handler, or %NULL to stop serving @protocol
 * @user_data: data for @handler
 * @destroy: (nullable): frees @user_data
 *
 * Routes streams that peers open for @protocol to @handler, replacing any
 * earlier handler.  Streams for protocols without a handler are refused
 * (reset with code 3).
 */
void
foctet_node_set_protocol_handler (FoctetNode            *self,
                                  const char            *protocol,
                                  FoctetProtocolHandler  handler,
                                  gpointer               user_data,
                                  GDestroyNotify         destroy)
{
  Handler *entry;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (foctet_protocol_name_validate (protocol, NULL));

  if (handler == NULL)
    {
      g_hash_table_remove (self->handlers, protocol);
      if (destroy != NULL)
        destroy (user_data);
      return;
    }

  entry = g_new0 (Handler, 1);
  entry->handler = handler;
  entry->user_data = user_data;
  entry->destroy = destroy;
  g_hash_table_replace (self->handlers, g_strdup (protocol), entry);
}

static int
compare_strings (const void *a,
                 const void *b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/**
 * foctet_node_list_protocols:
 * @self: a [class@Foctet.Node]
 *
 * Lists the protocols the node routes incoming streams for: the built-in
 * ones and those given to [method@Foctet.Node.set_protocol_handler].
 *
 * Returns: (transfer full) (array zero-terminated=1): the protocols served,
 *   sorted; free with g_strfreev()
 */
char **
foctet_node_list_protocols (FoctetNode *self)
{
  g_autofree const char **keys = NULL;
  GStrvBuilder *builder;
  char **protocols;
  guint n;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  keys = (const char **) g_hash_table_get_keys_as_array (self->handlers, &n);
  qsort (keys, n, sizeof *keys, compare_strings);
  builder = g_strv_builder_new ();
  g_strv_builder_addv (builder, keys);
  protocols = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return protocols;
}

/* Shutdown */

static void
shutdown_close_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  guint *pending = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!foctet_connection_close_finish (FOCTET_CONNECTION (source), result, &error))
    g_debug ("Closing a connection at shutdown: %s", error->message);
  if (--*pending == 0)
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/**
 * foctet_node_shutdown_async:
 * @self: a [class@Foctet.Node]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when every connection is closed
 * @user_data: data for @callback
 *
 * Stops listening and closes every connection with code
 * %FOCTET_CLOSE_CODE_GOING_AWAY, telling peers the node is going away.
 */
void
foctet_node_shutdown_async (FoctetNode          *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GPtrArray) connections = NULL;
  GHashTableIter iter;
  gpointer value;
  GTask *task;
  guint *pending;

  g_return_if_fail (FOCTET_IS_NODE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_shutdown_async);
  pending = g_new0 (guint, 1);
  g_task_set_task_data (task, pending, g_free);

  self->shut_down = TRUE;
  foctet_discovery_set_stop (self->discoveries);
  g_hash_table_iter_init (&iter, self->transports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    foctet_transport_stop (value);
  g_ptr_array_set_size (self->listen_uris, 0);
  g_cancellable_cancel (self->cancellable);

  connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &value, NULL))
    g_ptr_array_add (connections, g_object_ref (value));

  *pending = 1;
  for (guint i = 0; i < connections->len; i++)
    {
      (*pending)++;
      foctet_connection_close_async (g_ptr_array_index (connections, i),
                                     FOCTET_CLOSE_CODE_GOING_AWAY, "shutting down",
                                     cancellable, shutdown_close_cb, g_object_ref (task));
    }
  if (--*pending == 0)
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/**
 * foctet_node_shutdown_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.shutdown_async].  A connection that fails to
 * close cleanly does not make the shutdown fail; it is only logged.
 *
 * Returns: %TRUE when the node is shut down
 */
gboolean
foctet_node_shutdown_finish (FoctetNode    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

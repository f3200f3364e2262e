/* foctet-node.c: a node — identity, transports, connections, protocols;
 * its discovery and its dials are in foctet-node-discovery.c and
 * foctet-node-dial.c (foctet-node-private.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-node-private.h"
#include "foctet-builtins-private.h"
#include "foctet-cancellable-private.h"
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
 * the plugin registry, and what follows the first slash is its address.
 * A transport whose addresses go in no ticket may take them in a form of
 * its own ([method@Foctet.Transport.check_address]): a Unix socket's path,
 * say, in "unix//run/foctet.sock".
 */

/* A peer that opens a stream has this long to send its header. */
#define HEADER_TIMEOUT_SECONDS 10

/* How long a dial gives one address before it tries the next one too. */
#define DEFAULT_DIAL_RACE_DELAY_MS 250

/* Referenced by the node's table and by each call in progress: a
 * handler may replace or remove itself while it runs. */
typedef struct {
  grefcount refs;
  FoctetProtocolHandler handler;
  gpointer user_data;
  GDestroyNotify destroy;
} Handler;

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
  SIGNAL_INCOMING_FAILED,
  SIGNAL_CONNECTION_CLOSED,
  SIGNAL_LISTENER_LOST,
  SIGNAL_LISTENER_RESTORED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
handler_unref (Handler *handler)
{
  if (!g_ref_count_dec (&handler->refs))
    return;
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
          g_signal_handlers_disconnect_by_data (value, self);
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
   * what the relays it is connected to report, "host:port" each.  See
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
   * FoctetNode::incoming-failed:
   * @self: the node
   * @transport: the transport the peer connected to
   * @remote_address: where the peer connected from, as the transport
   *   names it ("host:port"; through a relay, "host:port via relay
   *   host:port")
   * @error: why no connection came of it
   *
   * Emitted when one of the node's transports gave up on an incoming
   * connection (see [signal@Foctet.Transport::incoming-failed]): a
   * certificate or ALPN value refused, a handshake that timed out, too
   * many handshakes at once.  The node goes on serving others.
   */
  signals[SIGNAL_INCOMING_FAILED] =
    g_signal_new ("incoming-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, FOCTET_TYPE_TRANSPORT, G_TYPE_STRING, G_TYPE_ERROR);
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
  /**
   * FoctetNode::listener-lost:
   * @self: the node
   * @transport: the transport that listens there
   * @address: what is listened on (for a relay, the relay's "host:port")
   * @error: why it stopped working
   *
   * Emitted when one of the node's listeners that depends on another
   * host stopped working, such as a reservation at a relay that went
   * away (see [signal@Foctet.Transport::listener-lost]).  The transport
   * keeps trying to restore it;
   * [signal@Foctet.Node::listener-restored] says when it did.
   */
  signals[SIGNAL_LISTENER_LOST] =
    g_signal_new ("listener-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, FOCTET_TYPE_TRANSPORT, G_TYPE_STRING, G_TYPE_ERROR);
  /**
   * FoctetNode::listener-restored:
   * @self: the node
   * @transport: the transport that listens there
   * @address: what is listened on, as in [signal@Foctet.Node::listener-lost]
   *
   * Emitted when a listener reported lost works again.
   */
  signals[SIGNAL_LISTENER_RESTORED] =
    g_signal_new ("listener-restored", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, FOCTET_TYPE_TRANSPORT, G_TYPE_STRING);
}

static void
foctet_node_init (FoctetNode *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->transports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->listen_uris = g_ptr_array_new_with_free_func (g_free);
  self->handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) handler_unref);
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
      /* PROTOCOL §5: a stream that no handler takes (an empty name, one
       * that no handler could have, no header at all) is refused. */
      foctet_stream_reset (data->stream, FOCTET_CLOSE_CODE_REFUSED);
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
  g_ref_count_inc (&handler->refs);
  handler->handler (self, data->connection, data->stream, handler->user_data);
  handler_unref (handler);
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

void
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

static void
transport_incoming_failed_cb (FoctetTransport *transport,
                              const char      *remote_address,
                              const GError    *error,
                              gpointer         user_data)
{
  FoctetNode *self = user_data;

  g_debug ("Incoming %s connection from %s failed: %s", foctet_transport_get_name (transport),
           remote_address, error->message);
  g_signal_emit (self, signals[SIGNAL_INCOMING_FAILED], 0, transport, remote_address, error);
}

static void
transport_listener_lost_cb (FoctetTransport *transport,
                            const char      *address,
                            const GError    *error,
                            gpointer         user_data)
{
  FoctetNode *self = user_data;

  g_debug ("Listening on %s/%s stopped working: %s", foctet_transport_get_name (transport), address,
           error->message);
  g_signal_emit (self, signals[SIGNAL_LISTENER_LOST], 0, transport, address, error);
}

static void
transport_listener_restored_cb (FoctetTransport *transport,
                                const char      *address,
                                gpointer         user_data)
{
  FoctetNode *self = user_data;

  g_debug ("Listening on %s/%s works again", foctet_transport_get_name (transport), address);
  g_signal_emit (self, signals[SIGNAL_LISTENER_RESTORED], 0, transport, address);
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
      g_signal_handlers_disconnect_by_data (old, self);
      foctet_transport_stop (old);
    }
  g_signal_connect (transport, "incoming", G_CALLBACK (transport_incoming_cb), self);
  g_signal_connect (transport, "incoming-failed", G_CALLBACK (transport_incoming_failed_cb), self);
  g_signal_connect (transport, "listener-lost", G_CALLBACK (transport_listener_lost_cb), self);
  g_signal_connect (transport, "listener-restored", G_CALLBACK (transport_listener_restored_cb), self);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (transport), OBSERVED_ADDRESSES) != NULL)
    g_signal_connect (transport, "notify::" OBSERVED_ADDRESSES, G_CALLBACK (transport_observed_cb), self);
  g_hash_table_replace (self->transports, g_strdup (name), g_object_ref (transport));
}

/**
 * foctet_node_get_observed_addresses:
 * @self: a [class@Foctet.Node]
 *
 * The node's reflexive addresses: where the other side of its
 * connections sees it coming from, as the relays it is connected to
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

/* The transport of "transport/address", made if need be, and the
 * address: everything after the first slash, which the transport checks
 * (foctet_transport_check_address ()): "host:port" for the built-in ones,
 * a form of its own for another, such as a Unix socket's path in
 * "unix//run/foctet.sock". */
FoctetTransport *
node_resolve_uri (FoctetNode  *self,
                  const char  *uri,
                  char       **address,
                  GError     **error)
{
  const char *slash = uri != NULL ? strchr (uri, '/') : NULL;
  g_autofree char *name = NULL;
  FoctetTransport *transport;

  if (slash == NULL || slash == uri || slash[1] == '\0')
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” is not an address of the form transport/address", uri ? uri : "");
      return NULL;
    }
  name = g_strndup (uri, slash - uri);
  transport = foctet_node_get_transport (self, name, error);
  if (transport == NULL)
    return NULL;
  if (!foctet_transport_check_address (transport, slash + 1, error))
    {
      g_prefix_error (error, "“%s”: ", uri);
      return NULL;
    }
  *address = g_strdup (slash + 1);
  return transport;
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
 * @uri: where to listen, "transport/host:port" (port 0 picks a free port),
 *   or "transport/address" for a transport of addresses of its own form
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
  transport = node_resolve_uri (self, uri, &address, &error);
  if (transport == NULL)
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
 * "transport/host:port" (or "transport/address", see [class@Foctet.Node]), with %FOCTET_ERROR_PLUGIN_NOT_FOUND when no
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

/* TRUE for "host:port" whose host is a loopback address. */
static gboolean
address_is_loopback (const char *host_port)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  guint16 port;

  if (!foctet_parse_host_port (host_port, &host, &port, NULL))
    return FALSE;
  inet = g_inet_address_new_from_string (host);
  return inet != NULL && g_inet_address_get_is_loopback (inet);
}

/**
 * foctet_node_get_ticket:
 * @self: a [class@Foctet.Node]
 *
 * Makes a ticket with the node's NodeId and every address it listens on
 * whose transport has a ticket entry type (QUIC, then TLS, then relay).
 * Within each type the addresses keep their transports' order, except
 * that loopback addresses come last (PROTOCOL §6), whichever listener
 * they came from: a node on 0.0.0.0 and on [::] lists 127.0.0.1 and ::1
 * after its other addresses of both families.
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
      g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GPtrArray) loopback = g_ptr_array_new_with_free_func (g_free);
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
            g_ptr_array_add (address_is_loopback (addresses[i]) ? loopback : others,
                             g_strdup (addresses[i]));
        }
      g_ptr_array_extend_and_steal (others, g_steal_pointer (&loopback));
      for (guint i = 0; i < others->len; i++)
        {
          g_autoptr(GError) error = NULL;
          const char *address = others->pdata[i];

          if (!foctet_ticket_add_address (ticket, kind, address, &error))
            g_debug ("Address %s left out of the ticket: %s", address, error->message);
        }
    }
  return ticket;
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
 * (reset with code 3).  A handler may replace or remove itself (or
 * another) while it runs: @destroy is then called once it has returned.
 * [method@Foctet.Node.shutdown_async] drops every handler.
 */
void
foctet_node_set_protocol_handler (FoctetNode            *self,
                                  const char            *protocol,
                                  FoctetProtocolHandler  handler,
                                  gpointer               user_data,
                                  GDestroyNotify         destroy)
{
  Handler *entry;

  if (!FOCTET_IS_NODE (self) || !foctet_protocol_name_validate (protocol, NULL))
    {
      /* A programmer's error, but what was handed over is still freed. */
      if (destroy != NULL)
        destroy (user_data);
      g_return_if_fail (FOCTET_IS_NODE (self));
      g_return_if_fail (foctet_protocol_name_validate (protocol, NULL));
    }

  if (handler == NULL)
    {
      g_hash_table_remove (self->handlers, protocol);
      if (destroy != NULL)
        destroy (user_data);
      return;
    }

  entry = g_new0 (Handler, 1);
  g_ref_count_init (&entry->refs);
  entry->handler = handler;
  entry->user_data = user_data;
  entry->destroy = destroy;
  g_hash_table_replace (self->handlers, g_strdup (protocol), entry);
}

/**
 * foctet_node_list_connections:
 * @self: a [class@Foctet.Node]
 *
 * Lists the node's open connections, those it dialed and those it
 * accepted.  A connection leaves the list when it closes (see
 * [signal@Foctet.Node::connection-closed]).
 *
 * Returns: (transfer container) (element-type Foctet.Connection): the
 *   connections; the array holds a reference on each, which
 *   g_ptr_array_unref() drops
 */
GPtrArray *
foctet_node_list_connections (FoctetNode *self)
{
  GPtrArray *connections;
  GHashTableIter iter;
  gpointer key;

  g_return_val_if_fail (FOCTET_IS_NODE (self), NULL);

  connections = g_ptr_array_new_with_free_func (g_object_unref);
  if (self->connections == NULL)
    return connections;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (connections, g_object_ref (key));
  return connections;
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
 * Every protocol handler is dropped (its destroy notify called), so that a
 * handler holding a reference to the node does not keep it alive.
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
  /* Nothing is served any more; and an application's handler that
   * refers back to the node no longer keeps it alive. */
  g_hash_table_remove_all (self->handlers);
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

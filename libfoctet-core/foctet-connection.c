/* foctet-connection.c: an authenticated connection carrying streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-connection.h"
#include "foctet-error.h"
#include "foctet-stream-private.h"

/**
 * FoctetConnection:
 *
 * An authenticated, encrypted connection to one peer, whose NodeId is
 * known.  Streams are opened with [method@Foctet.Connection.open_stream_async],
 * which also writes the header naming the stream's protocol, and accepted
 * with [method@Foctet.Connection.accept_stream_async].  A [class@Foctet.Node] accepts for
 * you and routes incoming streams to protocol handlers.
 *
 * Transports (QUIC) and muxers (yamux) subclass it.
 */

typedef struct {
  FoctetNodeId *peer_id;
  char *transport_name;
  char *local_address;
  char *remote_address;
  gboolean is_initiator;
  gboolean closed;
  /* The streams opened and accepted through the public calls, as
   * GWeakRefs (foctet_connection_list_streams ()); a stream may be
   * finalized on another thread. */
  GMutex streams_lock;
  GPtrArray *streams;
} FoctetConnectionPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (FoctetConnection, foctet_connection, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PEER_ID,
  PROP_TRANSPORT_NAME,
  PROP_LOCAL_ADDRESS,
  PROP_REMOTE_ADDRESS,
  PROP_IS_INITIATOR,
  PROP_CLOSED,
  N_PROPS
};

enum {
  SIGNAL_CLOSED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
foctet_connection_finalize (GObject *object)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (FOCTET_CONNECTION (object));

  g_clear_pointer (&priv->peer_id, foctet_node_id_free);
  g_free (priv->transport_name);
  g_free (priv->local_address);
  g_free (priv->remote_address);
  g_ptr_array_unref (priv->streams);
  g_mutex_clear (&priv->streams_lock);

  G_OBJECT_CLASS (foctet_connection_parent_class)->finalize (object);
}

static void
foctet_connection_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (FOCTET_CONNECTION (object));

  switch (prop_id)
    {
    case PROP_PEER_ID:
      g_value_set_boxed (value, priv->peer_id);
      break;
    case PROP_TRANSPORT_NAME:
      g_value_set_string (value, priv->transport_name);
      break;
    case PROP_LOCAL_ADDRESS:
      g_value_set_string (value, priv->local_address);
      break;
    case PROP_REMOTE_ADDRESS:
      g_value_set_string (value, priv->remote_address);
      break;
    case PROP_IS_INITIATOR:
      g_value_set_boolean (value, priv->is_initiator);
      break;
    case PROP_CLOSED:
      g_value_set_boolean (value, priv->closed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_connection_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (FOCTET_CONNECTION (object));

  switch (prop_id)
    {
    case PROP_PEER_ID:
      priv->peer_id = g_value_dup_boxed (value);
      break;
    case PROP_TRANSPORT_NAME:
      priv->transport_name = g_value_dup_string (value);
      break;
    case PROP_LOCAL_ADDRESS:
      priv->local_address = g_value_dup_string (value);
      break;
    case PROP_REMOTE_ADDRESS:
      priv->remote_address = g_value_dup_string (value);
      break;
    case PROP_IS_INITIATOR:
      priv->is_initiator = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_connection_class_init (FoctetConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = foctet_connection_finalize;
  object_class->get_property = foctet_connection_get_property;
  object_class->set_property = foctet_connection_set_property;

  /**
   * FoctetConnection:peer-id:
   *
   * The authenticated NodeId of the peer.
   */
  properties[PROP_PEER_ID] =
    g_param_spec_boxed ("peer-id", NULL, NULL, FOCTET_TYPE_NODE_ID,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetConnection:transport-name:
   *
   * The name of the transport carrying the connection ("quic", "tls", "relay").
   */
  properties[PROP_TRANSPORT_NAME] =
    g_param_spec_string ("transport-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetConnection:local-address:
   *
   * The local "host:port", when the transport has one.
   */
  properties[PROP_LOCAL_ADDRESS] =
    g_param_spec_string ("local-address", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetConnection:remote-address:
   *
   * The peer's "host:port", when the transport has one.
   */
  properties[PROP_REMOTE_ADDRESS] =
    g_param_spec_string ("remote-address", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetConnection:is-initiator:
   *
   * Whether this side dialed the connection.
   */
  properties[PROP_IS_INITIATOR] =
    g_param_spec_boolean ("is-initiator", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetConnection:closed:
   *
   * Whether the connection has ended.
   */
  properties[PROP_CLOSED] =
    g_param_spec_boolean ("closed", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * FoctetConnection::closed:
   * @self: the connection
   * @error: (nullable): why it ended, or %NULL for a normal close
   *
   * Emitted once, when the connection ends for whatever reason.
   */
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
foctet_connection_init (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_mutex_init (&priv->streams_lock);
  priv->streams = g_ptr_array_new_with_free_func (weak_ref_free);
}

/* Keeps @stream in the list foctet_connection_list_streams () reads; the
 * streams that are gone leave it as it grows. */
static void
track_stream (FoctetConnection *self,
              FoctetStream     *stream)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, stream);
  g_mutex_lock (&priv->streams_lock);
  if (priv->streams->len >= 16 && (priv->streams->len & (priv->streams->len - 1)) == 0)
    for (guint i = priv->streams->len; i-- > 0;)
      {
        GObject *alive = g_weak_ref_get (g_ptr_array_index (priv->streams, i));

        if (alive == NULL)
          g_ptr_array_remove_index (priv->streams, i);
        else
          g_object_unref (alive);
      }
  g_ptr_array_add (priv->streams, ref);
  g_mutex_unlock (&priv->streams_lock);
}

/**
 * foctet_connection_list_streams:
 * @self: a [class@Foctet.Connection]
 *
 * Lists the streams of @self that are still in use: those opened with
 * [method@Foctet.Connection.open_stream_async] or accepted with
 * [method@Foctet.Connection.accept_stream_async] (a [class@Foctet.Node]
 * accepts on its connections so) that something still holds, in the order
 * they came.  A stream that was closed or reset is listed as long as it is
 * held.  For tools that show what a connection carries, such as
 * `foctet-shell`'s `streams`.
 *
 * Returns: (transfer container) (element-type Foctet.Stream): the streams;
 *   the array holds a reference on each, which g_ptr_array_unref() drops
 */
GPtrArray *
foctet_connection_list_streams (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);
  GPtrArray *streams;

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);

  streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_lock (&priv->streams_lock);
  for (guint i = priv->streams->len; i-- > 0;)
    {
      GObject *alive = g_weak_ref_get (g_ptr_array_index (priv->streams, i));

      if (alive == NULL)
        g_ptr_array_remove_index (priv->streams, i);
      else
        g_ptr_array_insert (streams, 0, alive);
    }
  g_mutex_unlock (&priv->streams_lock);
  return streams;
}

/**
 * foctet_connection_get_peer_id:
 * @self: a [class@Foctet.Connection]
 *
 * Gets the NodeId the peer proved in the handshake, the
 * [property@Foctet.Connection:peer-id] property.  It is set on every connection a
 * [class@Foctet.Node] or transport hands out, and does not change afterwards.
 *
 * Returns: (transfer none): the peer's authenticated NodeId, owned by
 *   @self
 */
const FoctetNodeId *
foctet_connection_get_peer_id (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);
  return priv->peer_id;
}

/**
 * foctet_connection_get_transport_name:
 * @self: a [class@Foctet.Connection]
 *
 * Gets the name of the transport that carries the connection, such as
 * "quic", "tls" or "relay": the [property@Foctet.Connection:transport-name] property.
 *
 * Returns: (nullable): the transport's name, owned by @self, or %NULL if
 *   the subclass set none
 */
const char *
foctet_connection_get_transport_name (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);
  return priv->transport_name;
}

/**
 * foctet_connection_get_remote_address:
 * @self: a [class@Foctet.Connection]
 *
 * Gets the peer's address as "host:port", the
 * [property@Foctet.Connection:remote-address] property.
 *
 * Returns: (nullable): the peer's "host:port", owned by @self, or %NULL
 *   when the transport has no such address
 */
const char *
foctet_connection_get_remote_address (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);
  return priv->remote_address;
}

/**
 * foctet_connection_get_local_address:
 * @self: a [class@Foctet.Connection]
 *
 * Gets the local end's address as "host:port", the
 * [property@Foctet.Connection:local-address] property.
 *
 * Returns: (nullable): the local "host:port", owned by @self, or %NULL
 *   when the transport has no such address
 */
const char *
foctet_connection_get_local_address (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);
  return priv->local_address;
}

/**
 * foctet_connection_is_initiator:
 * @self: a [class@Foctet.Connection]
 *
 * Tells whether this side dialed the connection (and so was the client
 * in its handshake) rather than accepted it.
 *
 * Returns: %TRUE if this side dialed
 */
gboolean
foctet_connection_is_initiator (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), FALSE);
  return priv->is_initiator;
}

/**
 * foctet_connection_is_closed:
 * @self: a [class@Foctet.Connection]
 *
 * Tells whether the connection has ended, by a local close, by the peer
 * or by an error.  [signal@Foctet.Connection::closed] was emitted by then.
 *
 * Returns: %TRUE once the connection has ended
 */
gboolean
foctet_connection_is_closed (FoctetConnection *self)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), TRUE);
  return priv->closed;
}

/**
 * foctet_connection_set_peer_id:
 * @self: a [class@Foctet.Connection]
 * @peer_id: the peer's authenticated NodeId
 *
 * For subclasses that exist before their handshake authenticated the peer
 * (QUIC): sets [property@Foctet.Connection:peer-id] once, when it was not given at
 * construction.  A connection is announced or returned only after that.
 */
void
foctet_connection_set_peer_id (FoctetConnection   *self,
                               const FoctetNodeId *peer_id)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_if_fail (FOCTET_IS_CONNECTION (self));
  g_return_if_fail (peer_id != NULL);
  g_return_if_fail (priv->peer_id == NULL);

  priv->peer_id = foctet_node_id_copy (peer_id);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_ID]);
}

/**
 * foctet_connection_discard:
 * @connection: (type Foctet.Connection) (transfer full): a connection
 *   nobody took
 *
 * Closes @connection (code %FOCTET_CLOSE_CODE_NO_ERROR) unless it is
 * closed already, and drops the reference.  Meant as the #GDestroyNotify
 * of a task that returns a connection, in a transport or a dial:
 * `g_task_return_pointer (task, connection, foctet_connection_discard)`.
 * When the caller cancelled in the meantime, #GTask drops the result
 * instead of handing it over, and the connection, which its own I/O
 * keeps alive, must not stay open with nobody to close it.
 */
void
foctet_connection_discard (gpointer connection)
{
  FoctetConnection *self = connection;

  g_return_if_fail (FOCTET_IS_CONNECTION (self));

  if (!foctet_connection_is_closed (self))
    foctet_connection_close_async (self, FOCTET_CLOSE_CODE_NO_ERROR, "the dial was cancelled", NULL, NULL, NULL);
  g_object_unref (self);
}

/**
 * foctet_connection_set_closed_cleanly:
 * @self: a [class@Foctet.Connection]
 *
 * For subclasses: [method@Foctet.Connection.set_closed] for a normal close,
 * with no error.  For language bindings that cannot pass %NULL for an
 * error (PyGObject 3.42 refuses `None` there).
 */
void
foctet_connection_set_closed_cleanly (FoctetConnection *self)
{
  foctet_connection_set_closed (self, NULL);
}

/**
 * foctet_connection_set_closed:
 * @self: a [class@Foctet.Connection]
 * @error: (nullable): why it ended, %NULL for a normal close
 *
 * For subclasses: marks the connection closed and emits
 * [signal@Foctet.Connection::closed].  Later calls do nothing.
 */
void
foctet_connection_set_closed (FoctetConnection *self,
                              const GError     *error)
{
  FoctetConnectionPrivate *priv = foctet_connection_get_instance_private (self);

  g_return_if_fail (FOCTET_IS_CONNECTION (self));

  if (priv->closed)
    return;
  priv->closed = TRUE;

  g_object_ref (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLOSED]);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);
  g_object_unref (self);
}

static void
open_stream_header_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetStream *stream = FOCTET_STREAM (source);
  GError *error = NULL;

  if (!foctet_stream_write_header_finish (stream, result, &error))
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
      g_task_return_error (task, error);
      return;
    }
  track_stream (FOCTET_CONNECTION (g_task_get_source_object (task)), stream);
  g_task_return_pointer (task, g_object_ref (stream), foctet_stream_discard);
}

static void
open_stream_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetConnection *self = FOCTET_CONNECTION (source);
  g_autoptr(FoctetStream) stream = NULL;
  GError *error = NULL;

  stream = FOCTET_CONNECTION_GET_CLASS (self)->open_stream_finish (self, result, &error);
  if (stream == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  foctet_stream_write_header_async (stream, g_task_get_task_data (task),
                                    g_task_get_cancellable (task),
                                    open_stream_header_cb, g_object_ref (task));
}

/**
 * foctet_connection_open_stream_async:
 * @self: a [class@Foctet.Connection]
 * @protocol: the protocol the stream is for, e.g. "foctet/ping/1"
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the stream is open
 * @user_data: data for @callback
 *
 * Opens a stream and writes its header naming @protocol.  Data may be
 * written right away; if the peer serves no such protocol, it resets the
 * stream and reads or writes fail with %FOCTET_ERROR_STREAM_RESET.
 */
void
foctet_connection_open_stream_async (FoctetConnection    *self,
                                     const char          *protocol,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  g_return_if_fail (FOCTET_IS_CONNECTION (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_connection_open_stream_async);

  if (!foctet_protocol_name_validate (protocol, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_set_task_data (task, g_strdup (protocol), g_free);

  FOCTET_CONNECTION_GET_CLASS (self)->open_stream_async (self, cancellable, open_stream_cb,
                                                         g_steal_pointer (&task));
}

/**
 * foctet_connection_open_stream_finish:
 * @self: a [class@Foctet.Connection]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Connection.open_stream_async].  It fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT for a bad protocol name, with
 * %FOCTET_ERROR_CONNECTION_CLOSED (or the error that ended the connection)
 * once the connection is over; a muxer that has used up its stream ids
 * fails with %FOCTET_ERROR_LIMIT_REACHED.  Success does not mean the peer
 * serves the protocol: that shows later, as %FOCTET_ERROR_STREAM_RESET.
 *
 * Returns: (transfer full): the new stream, its header written, or %NULL
 *   with @error set
 */
FoctetStream *
foctet_connection_open_stream_finish (FoctetConnection  *self,
                                      GAsyncResult      *result,
                                      GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * foctet_connection_accept_stream_async:
 * @self: a [class@Foctet.Connection]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the peer opened a stream
 * @user_data: data for @callback
 *
 * Waits for the next stream the peer opens.  The stream's header is not
 * read yet: call [method@Foctet.Stream.read_header_async].  A [class@Foctet.Node] accepts
 * on its connections itself; use this only on connections without one.
 */
void
foctet_connection_accept_stream_async (FoctetConnection    *self,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_CONNECTION (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_CONNECTION_GET_CLASS (self)->accept_stream_async (self, cancellable, callback, user_data);
}

/**
 * foctet_connection_accept_stream_finish:
 * @self: a [class@Foctet.Connection]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Connection.accept_stream_async].  It fails with
 * %FOCTET_ERROR_CONNECTION_CLOSED (or the error that ended the connection)
 * once the connection is over.
 *
 * Returns: (transfer full): the stream the peer opened, its header not yet
 *   read, or %NULL with @error set
 */
FoctetStream *
foctet_connection_accept_stream_finish (FoctetConnection  *self,
                                        GAsyncResult      *result,
                                        GError           **error)
{
  FoctetStream *stream;

  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), NULL);

  stream = FOCTET_CONNECTION_GET_CLASS (self)->accept_stream_finish (self, result, error);
  if (stream != NULL)
    track_stream (self, stream);
  return stream;
}

/**
 * foctet_connection_close_async:
 * @self: a [class@Foctet.Connection]
 * @code: a [enum@Foctet.CloseCode] (or an application code)
 * @reason: (nullable): a short human-readable reason sent where the transport can
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when closed
 * @user_data: data for @callback
 *
 * Closes the connection and every stream on it, telling the peer @code.
 */
void
foctet_connection_close_async (FoctetConnection    *self,
                               guint32              code,
                               const char          *reason,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_CONNECTION (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_CONNECTION_GET_CLASS (self)->close_async (self, code, reason, cancellable,
                                                   callback, user_data);
}

/**
 * foctet_connection_close_finish:
 * @self: a [class@Foctet.Connection]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Connection.close_async].  Closing a connection that
 * has already ended succeeds too.
 *
 * Returns: %TRUE when closed, %FALSE with @error set otherwise
 */
gboolean
foctet_connection_close_finish (FoctetConnection  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (FOCTET_IS_CONNECTION (self), FALSE);

  return FOCTET_CONNECTION_GET_CLASS (self)->close_finish (self, result, error);
}

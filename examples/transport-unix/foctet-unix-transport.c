/* foctet-unix-transport.c: the "unix" transport — a Unix domain stream
 * socket at a filesystem path, then the TLS 1.3 handshake of PROTOCOL §2
 * with the node's identity, then the registry's muxer (yamux, PROTOCOL
 * §4) inside.  The in-tree tls transport with a path where it has
 * host:port, and without its limits on incoming handshakes: who may
 * connect is who may open the socket file.
 *
 * It is an example of a transport built out of foctet's tree: it uses
 * only the installed <foctet.h>.  Its addresses go in no ticket (its
 * address kind is 0): peers dial it by URI, "unix//run/foctet.sock".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "foctet-unix-transport.h"

struct _UnixTransport {
  GObject parent_instance;

  FoctetIdentity *identity;          /* the node's: its certificate is presented */
  GMainContext *context;             /* thread-default at construction: the node's */

  FoctetSocketService *service;      /* NULL while nothing listens */
  GCancellable *cancellable;         /* incoming handshakes; cancelled by stop */
  GPtrArray *paths;                  /* the socket files listened on */
};

enum {
  PROP_0,
  PROP_IDENTITY,
};

static void unix_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (UnixTransport, unix_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               unix_transport_iface_init))

/* An address is the absolute path of the socket (relative, it would
 * mean another file to each process), short enough for a sockaddr_un,
 * which GLib would otherwise cut silently.  The node checks every
 * address of a URI with this before it listens or dials (and foctet-shell
 * before it starts), instead of insisting on host:port. */
static gboolean
unix_transport_check_address (FoctetTransport  *transport,
                              const char       *path,
                              GError          **error)
{
  if (!g_path_is_absolute (path))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "The unix transport takes the absolute path of a socket, not “%s”", path);
      return FALSE;
    }
  if (strlen (path) >= G_SIZEOF_MEMBER (struct sockaddr_un, sun_path))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” is too long for a Unix socket (at most %zu bytes)", path,
                   G_SIZEOF_MEMBER (struct sockaddr_un, sun_path) - 1);
      return FALSE;
    }
  return TRUE;
}

/* How one end of @connection is named in the connection's local and
 * remote addresses: the socket's path, or for the unnamed end (the
 * dialer's) its process, which the kernel tells the listener. */
static char *
endpoint_name (GSocketConnection *connection,
               gboolean           remote)
{
  g_autoptr(GSocketAddress) address = remote ? g_socket_connection_get_remote_address (connection, NULL)
                                             : g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GCredentials) credentials = NULL;
  pid_t pid;

  if (G_IS_UNIX_SOCKET_ADDRESS (address) && g_unix_socket_address_get_path_len (G_UNIX_SOCKET_ADDRESS (address)) > 0)
    return g_strdup (g_unix_socket_address_get_path (G_UNIX_SOCKET_ADDRESS (address)));
  credentials = remote ? g_socket_get_credentials (g_socket_connection_get_socket (connection), NULL)
                       : g_credentials_new ();
  pid = credentials != NULL ? g_credentials_get_unix_pid (credentials, NULL) : -1;
  return pid > 0 ? g_strdup_printf ("pid %d", (int) pid) : g_strdup ("unnamed");
}

/* The muxer session over a finished handshake: the preferred muxer
 * plugin's, as the tls transport's. */
static FoctetConnection *
wrap (FoctetTlsStream    *tls,
      GSocketConnection  *socket,
      gboolean            is_initiator,
      GError            **error)
{
  g_autoptr(FoctetMuxer) muxer = foctet_registry_create_muxer (foctet_registry_get_default (), NULL, error);
  g_autofree char *local = NULL;
  g_autofree char *remote = NULL;

  if (muxer == NULL)
    return NULL;
  local = endpoint_name (socket, FALSE);
  remote = endpoint_name (socket, TRUE);
  return foctet_muxer_wrap (muxer, G_IO_STREAM (tls), is_initiator, foctet_tls_stream_get_peer_id (tls),
                            UNIX_TRANSPORT_NAME, local, remote, error);
}

/* ------------------------------------------------------------------ */
/* Listening                                                           */

typedef struct {
  UnixTransport *self;
  GSocketConnection *socket;
  char *remote;
} Incoming;

static void
incoming_free (Incoming *in)
{
  g_object_unref (in->self);
  g_object_unref (in->socket);
  g_free (in->remote);
  g_free (in);
}

static void
incoming_handshake_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Incoming *in = user_data;
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  tls = foctet_tls_stream_handshake_finish (result, &error);
  if (tls != NULL)
    connection = wrap (tls, in->socket, FALSE, &error);
  if (connection != NULL)
    foctet_transport_emit_incoming (FOCTET_TRANSPORT (in->self), connection);
  else
    {
      /* Cancelled: the transport stopped, nobody is listening for this. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        foctet_transport_emit_incoming_failed (FOCTET_TRANSPORT (in->self), in->remote, error);
      g_io_stream_close_async (G_IO_STREAM (in->socket), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
    }
  incoming_free (in);
}

static void
service_incoming_cb (FoctetSocketService *service,
                     GSocketConnection   *socket,
                     GObject             *source_object,
                     gpointer             user_data)
{
  UnixTransport *self = user_data;
  Incoming *in = g_new0 (Incoming, 1);

  in->self = g_object_ref (self);
  in->socket = g_object_ref (socket);
  in->remote = endpoint_name (socket, TRUE);
  foctet_tls_stream_handshake_async (G_IO_STREAM (socket), self->identity, TRUE, FOCTET_TLS_ALPN, NULL,
                                     FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT, self->cancellable,
                                     incoming_handshake_cb, in);
}

static GSocket *
listener_socket_new (const char  *path,
                     GError     **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return NULL;
  /* A file left by a process that did not stop cleanly makes this fail
   * with "Address already in use": it is not removed here, as it may be
   * another process's live socket. */
  address = g_unix_socket_address_new (path);
  if (!g_socket_bind (socket, address, FALSE, error))
    return NULL;
  g_socket_set_listen_backlog (socket, 256);
  if (!g_socket_listen (socket, error))
    {
      g_unlink (path);
      return NULL;
    }
  return g_steal_pointer (&socket);
}

static const char *
unix_transport_get_name (FoctetTransport *transport)
{
  return UNIX_TRANSPORT_NAME;
}

/* PROTOCOL §6 has no ticket entry for a path: none of its addresses goes
 * in tickets or mDNS announcements. */
static guint
unix_transport_get_address_kind (FoctetTransport *transport)
{
  return 0;
}

static void
unix_transport_listen_async (FoctetTransport     *transport,
                             const char          *address,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  UnixTransport *self = UNIX_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocket) socket = NULL;
  GError *error = NULL;

  g_task_set_source_tag (task, unix_transport_listen_async);
  if (unix_transport_check_address (transport, address, &error))
    socket = listener_socket_new (address, &error);
  if (socket == NULL)
    {
      g_prefix_error (&error, "Cannot listen on %s: ", address);
      g_task_return_error (task, error);
      return;
    }

  /* Made on the first listen after a stop, which drops them. */
  if (self->service == NULL)
    {
      self->service = foctet_socket_service_new ();
      self->cancellable = g_cancellable_new ();
      g_signal_connect (self->service, "incoming", G_CALLBACK (service_incoming_cb), self);
    }
  foctet_socket_service_add_socket (self->service, socket, NULL);
  /* The service accepts on the context that is thread-default when it
   * starts: the node's. */
  g_main_context_push_thread_default (self->context);
  foctet_socket_service_start (self->service);
  g_main_context_pop_thread_default (self->context);

  g_ptr_array_add (self->paths, g_strdup (address));
  g_debug ("Listening on unix/%s", address);
  g_task_return_pointer (task, g_strdup (address), g_free);
}

static char *
unix_transport_listen_finish (FoctetTransport  *transport,
                              GAsyncResult     *result,
                              GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
unix_transport_get_listen_addresses (FoctetTransport *transport)
{
  UnixTransport *self = UNIX_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < self->paths->len; i++)
    g_strv_builder_add (builder, self->paths->pdata[i]);
  return g_strv_builder_end (builder);
}

/* No new connections; established ones go on.  The socket files go, or
 * the next listen on their paths would find them in use. */
static void
unix_transport_stop (FoctetTransport *transport)
{
  UnixTransport *self = UNIX_TRANSPORT (transport);

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->service, service_incoming_cb, self);
      foctet_socket_service_close (self->service);
      g_clear_object (&self->service);
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  for (guint i = 0; i < self->paths->len; i++)
    g_unlink (self->paths->pdata[i]);
  g_ptr_array_set_size (self->paths, 0);
}

/* ------------------------------------------------------------------ */
/* Dialing                                                             */

typedef struct {
  char *path;
  FoctetNodeId *expected;
  GSocketConnection *socket;
} DialData;

static void
dial_data_free (DialData *data)
{
  g_free (data->path);
  g_clear_pointer (&data->expected, foctet_node_id_free);
  g_clear_object (&data->socket);
  g_free (data);
}

static void
dial_handshake_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DialData *data = g_task_get_task_data (task);
  g_autoptr(FoctetTlsStream) tls = NULL;
  FoctetConnection *connection = NULL;
  GError *error = NULL;

  tls = foctet_tls_stream_handshake_finish (result, &error);
  if (tls != NULL)
    connection = wrap (tls, data->socket, TRUE, &error);
  if (connection == NULL)
    {
      g_io_stream_close_async (G_IO_STREAM (data->socket), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, connection, g_object_unref);
}

static void
dial_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  UnixTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  data->socket = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (data->socket == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, error);
      else
        {
          g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE,
                                   "Cannot reach unix/%s: %s", data->path, error->message);
          g_error_free (error);
        }
      return;
    }
  foctet_tls_stream_handshake_async (G_IO_STREAM (data->socket), self->identity, FALSE, FOCTET_TLS_ALPN,
                                     data->expected, FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT,
                                     cancellable, dial_handshake_cb, g_steal_pointer (&task));
}

static void
unix_transport_dial_async (FoctetTransport     *transport,
                           const char          *address,
                           const FoctetNodeId  *expected_peer,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  UnixTransport *self = UNIX_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  GError *error = NULL;
  DialData *data;

  g_task_set_source_tag (task, unix_transport_dial_async);
  if (!unix_transport_check_address (transport, address, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  data = g_new0 (DialData, 1);
  data->path = g_strdup (address);
  data->expected = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) dial_data_free);

  client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT / 1000);
  socket_address = g_unix_socket_address_new (address);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (socket_address), cancellable,
                                 dial_connected_cb, g_steal_pointer (&task));
}

static FoctetConnection *
unix_transport_dial_finish (FoctetTransport  *transport,
                            GAsyncResult     *result,
                            GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
unix_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = unix_transport_get_name;
  iface->get_address_kind = unix_transport_get_address_kind;
  iface->listen_async = unix_transport_listen_async;
  iface->listen_finish = unix_transport_listen_finish;
  iface->dial_async = unix_transport_dial_async;
  iface->dial_finish = unix_transport_dial_finish;
  iface->get_listen_addresses = unix_transport_get_listen_addresses;
  iface->stop = unix_transport_stop;
  iface->check_address = unix_transport_check_address;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
unix_transport_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  UnixTransport *self = UNIX_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
unix_transport_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  UnixTransport *self = UNIX_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
unix_transport_dispose (GObject *object)
{
  unix_transport_stop (FOCTET_TRANSPORT (object));

  G_OBJECT_CLASS (unix_transport_parent_class)->dispose (object);
}

static void
unix_transport_finalize (GObject *object)
{
  UnixTransport *self = UNIX_TRANSPORT (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->paths, g_ptr_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (unix_transport_parent_class)->finalize (object);
}

static void
unix_transport_class_init (UnixTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = unix_transport_get_property;
  object_class->set_property = unix_transport_set_property;
  object_class->dispose = unix_transport_dispose;
  object_class->finalize = unix_transport_finalize;

  /* The interface's construct-only "identity": the node sets it, and the
   * registry refuses a transport that does not keep it. */
  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");
}

static void
unix_transport_class_finalize (UnixTransportClass *klass)
{
}

static void
unix_transport_init (UnixTransport *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->paths = g_ptr_array_new_with_free_func (g_free);
}

void
unix_transport_register (GTypeModule *module)
{
  unix_transport_register_type (module);
}

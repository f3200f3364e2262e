/* foctet-socket-service.c: accepting connections on listening sockets,
 * with a pause after a failed accept.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include "foctet-socket-service.h"
#include "foctet-remote-address.h"
#include "foctet-source-private.h"

/* After a failed accept, the next waits this long, twice as long after
 * each failure in a row, up to the maximum. */
#define FIRST_PAUSE_MS 10
#define MAX_PAUSE_MS 1000
/* While accepting keeps failing, a warning at most this often. */
#define WARNING_INTERVAL_US (10 * G_USEC_PER_SEC)
/* An accept that fails for its own connection (aborted by the peer
 * before it was taken, a network going down) is tried again at once, up
 * to this many times in a row. */
#define MAX_QUICK_RETRIES 16

/**
 * FoctetSocketService:
 *
 * Accepts connections on listening sockets, one after the other, and
 * announces each with [signal@Foctet.SocketService::incoming], as
 * #GSocketService does, with two differences.
 *
 * It pauses after a failed accept.  A listening socket whose accept
 * fails (the process is out of file descriptors, the system out of
 * memory) stays readable: the connection waits in the backlog.
 * #GSocketService tries again at once, and so spins, writing a warning
 * each time, until a descriptor is free.  This service waits 10 ms
 * before the next try, twice as long after each failure in a row, up to
 * a second; it warns at most every ten seconds, and after a warning says
 * once when accepting works again.  The connections waiting in the backlog
 * meanwhile are accepted then.
 *
 * Stopping it loses nothing: no connection is accepted once
 * [method@Foctet.SocketService.stop] returned, so what comes in
 * afterwards waits in the backlog for the next start.  (#GSocketService,
 * stopped, cancels an accept in flight, which may still take a waiting
 * connection and then drop it.)
 *
 * An accept that fails for its own connection (the peer gave up before
 * it was taken) is tried again at once, as the next connection may well
 * be fine.
 *
 * The service accepts on the thread-default main context of the thread
 * that calls [method@Foctet.SocketService.start], and emits its signal
 * there.  It is not thread-safe: call its methods on the thread that
 * runs that context (or before it starts).
 */

typedef struct {
  FoctetSocketService *service;
  GSocket *socket;
  GObject *source_object;              /* (nullable) */
  GSource *source;                     /* while accepting */
} Listening;

struct _FoctetSocketService {
  GObject parent_instance;

  GPtrArray *sockets;                  /* of Listening */
  gboolean active;
  GMainContext *context;               /* while active */
  GSource *pause;                      /* before the next accept */
  guint failures;                      /* in a row */
  guint quick_retries;                 /* in a row */
  gint64 warned;                       /* monotonic µs of the last warning; 0: none yet */
  gboolean unreported;                 /* a warning, and no success said since */
};

enum {
  SIGNAL_INCOMING,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (FoctetSocketService, foctet_socket_service, G_TYPE_OBJECT)

static void
listening_free (Listening *l)
{
  foctet_source_clear (&l->source);
  g_object_unref (l->socket);
  g_clear_object (&l->source_object);
  g_free (l);
}

/* No accept until service_listen () again. */
static void
service_unlisten (FoctetSocketService *self)
{
  for (guint i = 0; i < self->sockets->len; i++)
    foctet_source_clear (&((Listening *) self->sockets->pdata[i])->source);
}

static gboolean accept_ready_cb (GSocket      *socket,
                                 GIOCondition  condition,
                                 gpointer      user_data);

static void
listening_watch (FoctetSocketService *self,
                 Listening           *l)
{
  if (l->source != NULL)
    return;
  l->source = g_socket_create_source (l->socket, G_IO_IN, NULL);
  g_source_set_static_name (l->source, "foctet socket service");
  g_source_set_callback (l->source, (GSourceFunc) (void (*) (void)) accept_ready_cb, l, NULL);
  g_source_attach (l->source, self->context);
}

/* Waits for connections on every socket. */
static void
service_listen (FoctetSocketService *self)
{
  for (guint i = 0; i < self->sockets->len; i++)
    listening_watch (self, self->sockets->pdata[i]);
}

static gboolean
pause_over_cb (gpointer user_data)
{
  FoctetSocketService *self = user_data;

  g_clear_pointer (&self->pause, g_source_unref);
  service_listen (self);
  return G_SOURCE_REMOVE;
}

/* Whether an accept failed for want of a resource (descriptors, memory,
 * buffers): the connection stays in the backlog, and trying again at
 * once would fail again. */
static gboolean
is_resource_error (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
}

/* Accepting failed.  For want of a resource (or again and again): no
 * socket is watched until a pause is over, and a warning says why, at
 * most every WARNING_INTERVAL_US.  For its own connection: the next
 * dispatch tries again. */
static void
service_failed (FoctetSocketService *self,
                const GError        *error)
{
  gint64 now = g_get_monotonic_time ();
  guint pause_ms;

  if (!is_resource_error (error) && self->quick_retries < MAX_QUICK_RETRIES)
    {
      self->quick_retries++;
      g_debug ("%s (trying again at once)", error->message);
      return;
    }
  self->quick_retries = 0;
  self->failures++;
  /* 10, 20, 40 ... ms: the shift stops before it could overflow. */
  pause_ms = MIN ((guint) FIRST_PAUSE_MS << MIN (self->failures - 1, 8), MAX_PAUSE_MS);
  if (self->warned == 0 || now - self->warned >= WARNING_INTERVAL_US)
    {
      if (self->failures == 1)
        g_warning ("%s (trying again in %u ms)", error->message, pause_ms);
      else
        g_warning ("%s (%u failures in a row; trying again every %u ms)", error->message, self->failures,
                   pause_ms);
      self->warned = now;
      self->unreported = TRUE;
    }
  else
    g_debug ("%s (trying again in %u ms)", error->message, pause_ms);

  service_unlisten (self);
  self->pause = g_timeout_source_new (pause_ms);
  g_source_set_static_name (self->pause, "foctet socket service pause");
  g_source_set_callback (self->pause, pause_over_cb, self, NULL);
  g_source_attach (self->pause, self->context);
}

static GQuark remote_address_quark (void);
G_DEFINE_QUARK (foctet-remote-address, remote_address)

/* Accepts one connection on @socket, as g_socket_accept () does, and
 * keeps the peer's address accept () gave in @remote: a connection the
 * peer reset while it waited in the backlog is still accepted (on Linux),
 * but its socket no longer knows the peer (getpeername () fails), and a
 * server should still say whom it came from. */
static GSocket *
accept_with_address (GSocket         *socket,
                     GSocketAddress **remote,
                     GError         **error)
{
  struct sockaddr_storage native;
  socklen_t len = sizeof native;
  int fd;

  do
    fd = accept4 (g_socket_get_fd (socket), (struct sockaddr *) &native, &len, SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "Error accepting connection: %s",
                   g_strerror (errsv));
      return NULL;
    }
  *remote = len > 0 ? g_socket_address_new_from_native (&native, len) : NULL;
  return g_socket_new_from_fd (fd, error);
}

GSocketAddress *
foctet_socket_connection_get_remote_address (GSocketConnection  *connection,
                                             GError            **error)
{
  GSocketAddress *remote;

  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);

  remote = g_object_get_qdata (G_OBJECT (connection), remote_address_quark ());
  if (remote != NULL)
    return g_object_ref (remote);
  return g_socket_connection_get_remote_address (connection, error);
}

static gboolean
accept_ready_cb (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      user_data)
{
  Listening *l = user_data;
  FoctetSocketService *self = l->service;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GObject) source_object = NULL;
  g_autoptr(GError) error = NULL;

  accepted = accept_with_address (socket, &remote, &error);
  if (accepted == NULL)
    {
      /* Another process (or thread) took it first. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        service_failed (self, error);
      return G_SOURCE_CONTINUE;
    }
  /* Once per warning: a server at its descriptor limit, where each
   * closed connection frees one, writes two lines per interval, not two
   * per connection. */
  if (self->unreported)
    g_message ("Accepting connections again");
  self->unreported = FALSE;
  self->failures = 0;
  self->quick_retries = 0;
  connection = g_socket_connection_factory_create_connection (accepted);
  if (remote != NULL)
    g_object_set_qdata_full (G_OBJECT (connection), remote_address_quark (), g_steal_pointer (&remote),
                             g_object_unref);
  if (l->source_object != NULL)
    source_object = g_object_ref (l->source_object);
  /* The signal's handlers may stop the service, close it (freeing @l) or
   * drop it. */
  g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_INCOMING], 0, connection, source_object);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static void
foctet_socket_service_dispose (GObject *object)
{
  FoctetSocketService *self = FOCTET_SOCKET_SERVICE (object);

  foctet_socket_service_stop (self);

  G_OBJECT_CLASS (foctet_socket_service_parent_class)->dispose (object);
}

static void
foctet_socket_service_finalize (GObject *object)
{
  FoctetSocketService *self = FOCTET_SOCKET_SERVICE (object);

  g_ptr_array_unref (self->sockets);

  G_OBJECT_CLASS (foctet_socket_service_parent_class)->finalize (object);
}

static void
foctet_socket_service_class_init (FoctetSocketServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = foctet_socket_service_dispose;
  object_class->finalize = foctet_socket_service_finalize;

  /**
   * FoctetSocketService::incoming:
   * @self: the service
   * @connection: the connection accepted
   * @source_object: (nullable): the object given with the socket it came
   *   in on, if any
   *
   * A connection was accepted.  Keep a reference to @connection to use it.
   */
  signals[SIGNAL_INCOMING] =
    g_signal_new ("incoming", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_SOCKET_CONNECTION, G_TYPE_OBJECT);
}

static void
foctet_socket_service_init (FoctetSocketService *self)
{
  self->sockets = g_ptr_array_new_with_free_func ((GDestroyNotify) listening_free);
}

/**
 * foctet_socket_service_new:
 *
 * Creates a service with no socket, not yet accepting: add sockets with
 * [method@Foctet.SocketService.add_socket], then call
 * [method@Foctet.SocketService.start].
 *
 * Returns: (transfer full): the service
 */
FoctetSocketService *
foctet_socket_service_new (void)
{
  return g_object_new (FOCTET_TYPE_SOCKET_SERVICE, NULL);
}

/**
 * foctet_socket_service_add_socket:
 * @self: a #FoctetSocketService
 * @socket: a listening socket, e.g. from foctet_tcp_listener_socket_new()
 * @source_object: (nullable): an object given with each connection
 *   accepted on @socket
 *
 * Accepts connections on @socket too, from now on if @self is active.
 * @socket is made non-blocking, and closed by
 * [method@Foctet.SocketService.close].
 */
void
foctet_socket_service_add_socket (FoctetSocketService *self,
                                  GSocket             *socket,
                                  GObject             *source_object)
{
  Listening *l;

  g_return_if_fail (FOCTET_IS_SOCKET_SERVICE (self));
  g_return_if_fail (G_IS_SOCKET (socket));
  g_return_if_fail (source_object == NULL || G_IS_OBJECT (source_object));

  g_socket_set_blocking (socket, FALSE);
  l = g_new0 (Listening, 1);
  l->service = self;
  l->socket = g_object_ref (socket);
  l->source_object = source_object != NULL ? g_object_ref (source_object) : NULL;
  g_ptr_array_add (self->sockets, l);
  if (self->active && self->pause == NULL)
    listening_watch (self, l);
}

/**
 * foctet_socket_service_start:
 * @self: a #FoctetSocketService
 *
 * Starts accepting connections on the sockets of @self, on the
 * thread-default main context of the caller.  Does nothing if @self is
 * already active.
 */
void
foctet_socket_service_start (FoctetSocketService *self)
{
  g_return_if_fail (FOCTET_IS_SOCKET_SERVICE (self));

  if (self->active)
    return;
  self->active = TRUE;
  self->context = g_main_context_ref_thread_default ();
  self->failures = 0;
  self->quick_retries = 0;
  service_listen (self);
}

/**
 * foctet_socket_service_stop:
 * @self: a #FoctetSocketService
 *
 * Stops accepting: no connection is accepted, and no
 * [signal@Foctet.SocketService::incoming] emitted, after this returns.
 * The sockets stay open, and what comes in waits in their backlogs,
 * until [method@Foctet.SocketService.close], or until @self is
 * finalized.
 */
void
foctet_socket_service_stop (FoctetSocketService *self)
{
  g_return_if_fail (FOCTET_IS_SOCKET_SERVICE (self));

  if (!self->active)
    return;
  self->active = FALSE;
  service_unlisten (self);
  foctet_source_clear (&self->pause);
  g_clear_pointer (&self->context, g_main_context_unref);
}

/**
 * foctet_socket_service_is_active:
 * @self: a #FoctetSocketService
 *
 * Tells whether @self was started and not stopped since.  It is active
 * too while it pauses after a failed accept.
 *
 * Returns: whether @self accepts connections
 */
gboolean
foctet_socket_service_is_active (FoctetSocketService *self)
{
  g_return_val_if_fail (FOCTET_IS_SOCKET_SERVICE (self), FALSE);

  return self->active;
}

/**
 * foctet_socket_service_close:
 * @self: a #FoctetSocketService
 *
 * Stops @self and closes its sockets, refusing what waited in their
 * backlogs; @self has no socket afterwards.
 */
void
foctet_socket_service_close (FoctetSocketService *self)
{
  g_return_if_fail (FOCTET_IS_SOCKET_SERVICE (self));

  foctet_socket_service_stop (self);
  for (guint i = 0; i < self->sockets->len; i++)
    g_socket_close (((Listening *) self->sockets->pdata[i])->socket, NULL);
  g_ptr_array_set_size (self->sockets, 0);
}

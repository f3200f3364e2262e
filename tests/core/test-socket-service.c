/* test-socket-service.c: FoctetSocketService accepts what comes in, on
 * every socket, keeps what waits in the backlog while stopped, and waits
 * (rather than spins) while the process is out of file descriptors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <foctet.h>
#include <foctet-remote-address.h>

#include "test-utils.h"

#define TIMEOUT 10

typedef struct {
  FoctetSocketService *service;
  GPtrArray *accepted;                 /* of GSocketConnection */
  GObject *source_object;              /* the last one's */
  guint stop_after;                    /* 0: never */
} Fixture;

static void
incoming_cb (FoctetSocketService *service,
             GSocketConnection   *connection,
             GObject             *source_object,
             Fixture             *fixture)
{
  g_ptr_array_add (fixture->accepted, g_object_ref (connection));
  fixture->source_object = source_object;
  if (fixture->stop_after != 0 && fixture->accepted->len == fixture->stop_after)
    foctet_socket_service_stop (service);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->service = foctet_socket_service_new ();
  fixture->accepted = g_ptr_array_new_with_free_func (g_object_unref);
  g_signal_connect (fixture->service, "incoming", G_CALLBACK (incoming_cb), fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  foctet_socket_service_close (fixture->service);
  g_clear_object (&fixture->service);
  g_ptr_array_unref (fixture->accepted);
}

/* A listening socket on a loopback port of its own, added to the
 * service with @source_object; returns the port. */
static guint16
add_socket (Fixture *fixture,
            GObject *source_object)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;

  socket = foctet_tcp_listener_socket_new (G_INET_SOCKET_ADDRESS (any_port), &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  foctet_socket_service_add_socket (fixture->service, socket, source_object);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* A connection to @port: the kernel completes it, accepted or not. */
static GSocket *
connect_to (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&socket);
}

static gboolean
timed_out_cb (gpointer user_data)
{
  g_error ("Timed out waiting for connections to be accepted");
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @n connections were accepted. */
static void
wait_accepted (Fixture *fixture,
               guint    n)
{
  guint timeout = g_timeout_add_seconds (TIMEOUT, timed_out_cb, NULL);

  while (fixture->accepted->len < n)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
  g_assert_cmpuint (fixture->accepted->len, ==, n);
}

/* Runs the main context for @ms without waiting longer in one go. */
static void
run_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
}

static void
test_accepts (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GObject) tag = g_object_new (G_TYPE_OBJECT, NULL);
  guint16 port = add_socket (fixture, tag);
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GSocketAddress) remote = NULL;

  g_assert_false (foctet_socket_service_is_active (fixture->service));
  /* Not active: nothing accepted, and nothing lost either. */
  g_ptr_array_add (clients, connect_to (port));
  run_for (100);
  g_assert_cmpuint (fixture->accepted->len, ==, 0);

  foctet_socket_service_start (fixture->service);
  g_assert_true (foctet_socket_service_is_active (fixture->service));
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (clients, connect_to (port));
  wait_accepted (fixture, 4);
  g_assert_true (fixture->source_object == tag);
  /* Each accepted connection is one of the clients'. */
  remote = g_socket_connection_get_remote_address (fixture->accepted->pdata[3], NULL);
  g_assert_nonnull (remote);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote)), !=, 0);

  /* Stopped, then started again: what came in meanwhile waited. */
  foctet_socket_service_stop (fixture->service);
  g_assert_false (foctet_socket_service_is_active (fixture->service));
  g_ptr_array_add (clients, connect_to (port));
  run_for (100);
  g_assert_cmpuint (fixture->accepted->len, ==, 4);
  foctet_socket_service_start (fixture->service);
  wait_accepted (fixture, 5);
}

/* A socket added while the service is active is accepted on too. */
static void
test_socket_added (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GSocket) first = NULL;
  g_autoptr(GSocket) second = NULL;
  guint16 port = add_socket (fixture, NULL);
  guint16 later;

  foctet_socket_service_start (fixture->service);
  first = connect_to (port);
  wait_accepted (fixture, 1);
  later = add_socket (fixture, NULL);
  second = connect_to (later);
  wait_accepted (fixture, 2);
}

/* A handler that stops the service gets no further connection. */
static void
test_stop_in_handler (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  guint16 port = add_socket (fixture, NULL);

  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (clients, connect_to (port));
  fixture->stop_after = 1;
  foctet_socket_service_start (fixture->service);
  wait_accepted (fixture, 1);
  run_for (200);
  g_assert_cmpuint (fixture->accepted->len, ==, 1);
  g_assert_false (foctet_socket_service_is_active (fixture->service));
}

static double
cpu_seconds (void)
{
  struct rusage usage;

  g_assert_cmpint (getrusage (RUSAGE_SELF, &usage), ==, 0);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

/* Out of file descriptors, an accept fails and the connection stays in
 * the backlog.  The service must neither spin (GSocketService tries
 * again at once, forever, with a warning each time) nor lose the
 * connections: they are accepted once descriptors are free again. */
/* Leaves no descriptor free below the limit: every accept fails
 * (EMFILE).  Returns the limit to restore. */
static struct rlimit
limit_descriptors (void)
{
  struct rlimit saved, limited;
  int lowest_free = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (lowest_free, >=, 0);
  close (lowest_free);
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  limited = saved;
  limited.rlim_cur = lowest_free;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limited), ==, 0);
  g_assert_cmpint (open ("/dev/null", O_RDONLY | O_CLOEXEC), ==, -1);
  g_assert_cmpint (errno, ==, EMFILE);
  return saved;
}

/* Out of file descriptors, an accept fails and the connection stays in
 * the backlog.  The service must neither spin (GSocketService tries
 * again at once, forever, with a warning each time) nor lose the
 * connections: they are accepted once descriptors are free again.  And
 * a server that keeps hitting its limit warns once per interval, not
 * once per connection. */
static void
test_out_of_descriptors (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  guint16 port = add_socket (fixture, NULL);
  struct rlimit saved;
  double cpu_before, cpu;

  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (clients, connect_to (port));
  /* The default context (and its wake-up descriptors) exists before
   * descriptors run out. */
  g_main_context_iteration (NULL, FALSE);

  saved = limit_descriptors ();
  /* One warning says why, however often accepting fails. */
  g_test_expect_message ("Foctet", G_LOG_LEVEL_WARNING, "*Too many open files*trying again in 10 ms*");
  cpu_before = cpu_seconds ();
  foctet_socket_service_start (fixture->service);
  run_for (1500);
  cpu = cpu_seconds () - cpu_before;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  g_test_assert_expected_messages ();
  g_test_message ("1.5 s out of descriptors: %.3f s of CPU", cpu);
  g_assert_cmpuint (fixture->accepted->len, ==, 0);
  /* Spinning takes all of the 1.5 s; waiting, next to nothing — up to a
   * third of a second on a loaded machine (0.32 s once in CI, with other
   * suites running beside it), so half of it is the line. */
  g_assert_cmpfloat (cpu, <, 0.75);

  /* Descriptors again: every connection that waited is accepted, within
   * the longest pause (1 s). */
  wait_accepted (fixture, 5);

  /* Out of them again, within the warning interval: no second warning
   * (an unexpected one fails the test), and nothing lost. */
  for (guint i = 0; i < 2; i++)
    g_ptr_array_add (clients, connect_to (port));
  saved = limit_descriptors ();
  run_for (300);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  g_assert_cmpuint (fixture->accepted->len, ==, 5);
  wait_accepted (fixture, 7);
}

/* A connection its peer reset while it waited in the backlog is still
 * accepted, and still says whom it came from (the relay names it in its
 * log), though its socket no longer knows the peer. */
static void
test_reset_before_accept (Fixture       *fixture,
                          gconstpointer  data)
{
  guint16 port = add_socket (fixture, NULL);
  g_autoptr(GSocket) client = connect_to (port);
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;
  struct linger linger = { 1, 0 };

  local = g_socket_get_local_address (client, &error);
  g_assert_no_error (error);
  /* Closed with a linger of 0: a reset, not a FIN. */
  g_assert_cmpint (setsockopt (g_socket_get_fd (client), SOL_SOCKET, SO_LINGER, &linger, sizeof linger), ==, 0);
  g_socket_close (client, &error);
  g_assert_no_error (error);

  foctet_socket_service_start (fixture->service);
  wait_accepted (fixture, 1);
  remote = foctet_socket_connection_get_remote_address (fixture->accepted->pdata[0], &error);
  g_assert_no_error (error);
  g_assert_nonnull (remote);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote)), ==,
                    g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  g_assert_true (g_inet_address_get_is_loopback (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote))));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/socket-service/accepts", Fixture, NULL, fixture_setup, test_accepts, fixture_teardown);
  g_test_add ("/socket-service/reset-before-accept", Fixture, NULL, fixture_setup, test_reset_before_accept,
              fixture_teardown);
  g_test_add ("/socket-service/socket-added", Fixture, NULL, fixture_setup, test_socket_added, fixture_teardown);
  g_test_add ("/socket-service/stop-in-handler", Fixture, NULL, fixture_setup, test_stop_in_handler,
              fixture_teardown);
  g_test_add ("/socket-service/out-of-descriptors", Fixture, NULL, fixture_setup, test_out_of_descriptors,
              fixture_teardown);
  return g_test_run ();
}

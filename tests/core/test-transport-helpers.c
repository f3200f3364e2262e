/* test-transport-helpers.c: the helpers libfoctet-core offers transport
 * implementations (foctet-transport.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "foctet.h"
#include "foctet-tcp-private.h"
#include "foctet-address-counts.h"
#include "foctet-log-limit.h"
#include "test-utils.h"

/* A connected TCP socket on loopback, the dialer's end, with the connect
 * timeout a dial sets; the listener's end in @accepted. */
static GSocketConnection *
connect_loopback (GSocketConnection **accepted)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GAsyncResult) accept_result = NULL, connect_result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *accept_slot = NULL, *connect_slot = NULL;
  GSocketConnection *dialed;

  g_assert_true (g_socket_listener_add_address (listener, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, &bound, &error));
  g_assert_no_error (error);
  g_socket_client_set_timeout (client, 5);
  g_socket_listener_accept_async (listener, NULL, foctet_test_store_result, &accept_slot);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (bound), NULL, foctet_test_store_result,
                                 &connect_slot);
  connect_result = foctet_test_wait_result (&connect_slot, 10);
  accept_result = foctet_test_wait_result (&accept_slot, 10);
  dialed = g_socket_client_connect_finish (client, connect_result, &error);
  g_assert_no_error (error);
  *accepted = g_socket_listener_accept_finish (listener, accept_result, NULL, &error);
  g_assert_no_error (error);
  return dialed;
}

static int
get_tcp_option (GSocket *socket,
                int      option)
{
  g_autoptr(GError) error = NULL;
  int value = -1;

  g_assert_true (g_socket_get_option (socket, IPPROTO_TCP, option, &value, &error));
  g_assert_no_error (error);
  return value;
}

/* Both ends of a connection, tuned: no Nagle delay, at most 1 MiB
 * unsent in the kernel, and the dial's connect timeout gone. */
static void
test_tcp_socket_tune (void)
{
  g_autoptr(GSocketConnection) accepted = NULL;
  g_autoptr(GSocketConnection) dialed = connect_loopback (&accepted);
  GSocket *sockets[] = { g_socket_connection_get_socket (dialed), g_socket_connection_get_socket (accepted) };

  g_assert_cmpuint (g_socket_get_timeout (sockets[0]), ==, 5);
  g_assert_cmpint (get_tcp_option (sockets[0], TCP_NODELAY), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (sockets); i++)
    {
      foctet_tcp_socket_tune (sockets[i]);
      g_assert_cmpint (get_tcp_option (sockets[i], TCP_NODELAY), !=, 0);
      g_assert_cmpint (get_tcp_option (sockets[i], TCP_NOTSENT_LOWAT), ==, 1024 * 1024);
      g_assert_cmpuint (g_socket_get_timeout (sockets[i]), ==, 0);
    }
}

static void
test_send_bound_for_rate (void)
{
  /* 20 ms of the rate, from 128 KiB to 1 MiB. */
  g_assert_cmpuint (foctet_send_bound_for_rate (0), ==, 128 * 1024);
  g_assert_cmpuint (foctet_send_bound_for_rate (5 * 1000 * 1000), ==, 128 * 1024);
  g_assert_cmpuint (foctet_send_bound_for_rate (25 * 1000 * 1000), ==, 500 * 1000);
  g_assert_cmpuint (foctet_send_bound_for_rate (G_GUINT64_CONSTANT (1) << 40), ==, 1024 * 1024);
}

/* Reads and drops what comes, until the end. */
static gpointer
sink_thread (gpointer data)
{
  GSocket *socket = data;
  guint8 buffer[65536];

  while (g_socket_receive (socket, (char *) buffer, sizeof buffer, NULL, NULL) > 0)
    ;
  return NULL;
}

/* Writes to @socket for @us µs, @size bytes at a time with @pause_us
 * between writes, letting @state follow the rate after each. */
static void
write_following (GSocket       *socket,
                 FoctetTcpRate *state,
                 gsize          size,
                 gint64         pause_us,
                 gint64         us)
{
  static guint8 buffer[256 * 1024];
  gint64 end = g_get_monotonic_time () + us;

  while (g_get_monotonic_time () < end)
    {
      g_autoptr(GError) error = NULL;

      if (g_socket_send (socket, (const char *) buffer, size, NULL, &error) < 0)
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      foctet_tcp_socket_follow_rate (socket, state);
      if (pause_us > 0)
        g_usleep (pause_us);
    }
}

/* A socket's unsent bound follows what it sent: 128 KiB while it sends a
 * little now and then, up to 1 MiB while it sends as fast as loopback
 * takes it (at least 256 KiB: 13 MB/s, whatever else the machine does). */
static void
test_tcp_socket_follow_rate (void)
{
  g_autoptr(GSocketConnection) accepted = NULL;
  g_autoptr(GSocketConnection) dialed = connect_loopback (&accepted);
  GSocket *socket = g_socket_connection_get_socket (dialed);
  FoctetTcpRate state = { 0 };
  GThread *sink;

  foctet_tcp_socket_tune (socket);
  g_socket_set_blocking (socket, FALSE);
  sink = g_thread_new ("sink", sink_thread, g_socket_connection_get_socket (accepted));

  /* At least 0.3 s; longer on a busy machine, where a look more than two
   * intervals after the one before only starts a new period (at most
   * 5 s). */
  write_following (socket, &state, 1000, 10000, 300000);
  for (guint i = 0; i < 47 && state.lowat == 0; i++)
    write_following (socket, &state, 1000, 10000, 100000);
  g_test_message ("Sending 100 kB/s: %u", get_tcp_option (socket, TCP_NOTSENT_LOWAT));
  g_assert_cmpint (get_tcp_option (socket, TCP_NOTSENT_LOWAT), ==, 128 * 1024);

  write_following (socket, &state, 256 * 1024, 0, 500000);
  g_test_message ("Sending all it can: %u", get_tcp_option (socket, TCP_NOTSENT_LOWAT));
  g_assert_cmpint (get_tcp_option (socket, TCP_NOTSENT_LOWAT), >=, 256 * 1024);
  g_assert_cmpint (get_tcp_option (socket, TCP_NOTSENT_LOWAT), <=, 1024 * 1024);

  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  g_thread_join (sink);
}

static void
test_socket_address_to_string (void)
{
  const struct {
    const char *host;
    guint16 port;
    const char *text;
  } cases[] = {
    { "127.0.0.1", 4433, "127.0.0.1:4433" },
    { "::1", 1, "[::1]:1" },
    { "fe80::1", 65535, "[fe80::1]:65535" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (cases[i].host, cases[i].port);
      g_autofree char *text = foctet_socket_address_to_string (address);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

/* Counts per address: up and down, an address forgotten at 0, and a
 * table that lives on while someone holds it. */
static void
test_address_counts (void)
{
  FoctetAddressCounts *counts = foctet_address_counts_new ();
  g_autoptr(FoctetAddressCounts) held = foctet_address_counts_ref (counts);

  g_assert_cmpuint (foctet_address_counts_get (counts, "192.0.2.1"), ==, 0);
  foctet_address_counts_add (counts, "192.0.2.1", 1);
  foctet_address_counts_add (counts, "192.0.2.1", 2);
  foctet_address_counts_add (counts, "2001:db8::1", 1);
  g_assert_cmpuint (foctet_address_counts_get (counts, "192.0.2.1"), ==, 3);
  g_assert_cmpuint (foctet_address_counts_get (counts, "2001:db8::1"), ==, 1);
  g_assert_cmpuint (foctet_address_counts_size (counts), ==, 2);
  foctet_address_counts_add (counts, "192.0.2.1", -3);
  g_assert_cmpuint (foctet_address_counts_get (counts, "192.0.2.1"), ==, 0);
  g_assert_cmpuint (foctet_address_counts_size (counts), ==, 1);
  foctet_address_counts_unref (counts);
  /* Still there for whoever holds a reference. */
  foctet_address_counts_add (held, "2001:db8::1", -1);
  g_assert_cmpuint (foctet_address_counts_size (held), ==, 0);
}

static void
collect_line (const char *line,
              gpointer    user_data)
{
  g_ptr_array_add (user_data, g_strdup (line));
}

/* The log limit: every line up to the burst, then none until the
 * window's end, where one line says how many more there were and the
 * last; a new window starts with the next line; what is held back when
 * the limit goes is said then. */
static void
test_log_limit (void)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  FoctetLogLimit *limit = foctet_log_limit_new (3, 300, "things happened", collect_line, lines);
  gint64 deadline;

  for (guint i = 1; i <= 8; i++)
    foctet_log_limit_log (limit, "thing %u", i);
  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (lines->pdata[0], ==, "thing 1");
  g_assert_cmpstr (lines->pdata[2], ==, "thing 3");

  /* The summary comes from a timer at the window's end, not before. */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (lines->len < 4)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpstr (lines->pdata[3], ==, "5 more things happened in 1 s, the last: thing 8");

  /* A new window: at once again, up to the burst. */
  for (guint i = 9; i <= 12; i++)
    foctet_log_limit_log (limit, "thing %u", i);
  g_assert_cmpuint (lines->len, ==, 7);
  g_assert_cmpstr (lines->pdata[6], ==, "thing 11");
  foctet_log_limit_free (limit);
  g_assert_cmpuint (lines->len, ==, 8);
  g_assert_cmpstr (lines->pdata[7], ==, "1 more things happened in 1 s, the last: thing 12");
  /* Nothing more from a timer of the freed limit. */
  g_usleep (350 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (lines->len, ==, 8);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transport-helpers/address-counts", test_address_counts);
  g_test_add_func ("/transport-helpers/log-limit", test_log_limit);
  g_test_add_func ("/transport-helpers/tcp-socket-tune", test_tcp_socket_tune);
  g_test_add_func ("/transport-helpers/send-bound-for-rate", test_send_bound_for_rate);
  g_test_add_func ("/transport-helpers/tcp-socket-follow-rate", test_tcp_socket_follow_rate);
  g_test_add_func ("/transport-helpers/socket-address-to-string", test_socket_address_to_string);
  return g_test_run ();
}

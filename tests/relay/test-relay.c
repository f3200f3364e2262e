/* test-relay.c: the relay end to end on loopback — the real foctet-relay
 * program, and two in-process nodes with the real plugins (relay, tls,
 * yamux) loaded by the registry: reservations, circuits (raw ones by
 * default, v1 ones from a relay without raw circuits or to a target of
 * before them), fallback from a dead direct address, limits, restarts,
 * clients the relay must refuse, and raw connections with wrong, used,
 * expired or missing tokens.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <string.h>

#include <foctet.h>
#include <glib/gstdio.h>

#include "foctet-relay-message.h"
#include "test-echo.h"
#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 30

/* The relay's stderr, read line by line as it comes, kept and passed on;
 * it outlives the fixture until the relay's end of the pipe closes. */
typedef struct {
  grefcount refs;
  GDataInputStream *in;
  GString *text;
  gboolean eof;
} RelayLog;

static RelayLog *
relay_log_ref (RelayLog *log)
{
  g_ref_count_inc (&log->refs);
  return log;
}

static void
relay_log_unref (RelayLog *log)
{
  if (!g_ref_count_dec (&log->refs))
    return;
  g_object_unref (log->in);
  g_string_free (log->text, TRUE);
  g_free (log);
}

static void relay_log_read (RelayLog *log);

static void
relay_log_line_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  RelayLog *log = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (log->in, result, NULL, NULL);

  if (line == NULL)
    log->eof = TRUE;
  else
    {
      g_string_append (log->text, line);
      g_string_append_c (log->text, '\n');
      g_printerr ("%s\n", line);
      relay_log_read (log);
    }
  relay_log_unref (log);
}

static void
relay_log_read (RelayLog *log)
{
  g_data_input_stream_read_line_async (log->in, G_PRIORITY_DEFAULT, NULL, relay_log_line_cb, relay_log_ref (log));
}

/* How many lines of the log contain @needle. */
static guint
relay_log_count (RelayLog   *log,
                 const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (log->text->str, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

typedef struct {
  GSubprocess *relay;
  RelayLog *log;
  char *relay_address;                /* host:port */
  GStrv more_addresses;               /* of further --listen options in @extra */
  FoctetNodeId *relay_id;
  FoctetNode *server;                 /* holds a reservation */
  FoctetNode *client;
  FoctetTicket *ticket;               /* the server's: the relay only */
} Fixture;

static char *
read_line (GDataInputStream *in)
{
  return foctet_test_read_line (in, TIMEOUT);
}

/* A failed assertion must not leave the relay running (it holds the
 * test's stderr, which the test runner reads to its end). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Starts foctet-relay on @listen with @extra options; sets
 * relay_address from its first line, and more_addresses from one more
 * line per --listen in @extra. */
static void
start_relay (Fixture            *fixture,
             const char         *listen,
             const char * const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;

  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_RELAY"));
  g_ptr_array_add (argv, (char *) "--listen");
  g_ptr_array_add (argv, (char *) listen);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  fixture->relay = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_clear_pointer (&fixture->log, relay_log_unref);
  fixture->log = g_new0 (RelayLog, 1);
  g_ref_count_init (&fixture->log->refs);
  fixture->log->in = g_data_input_stream_new (g_subprocess_get_stderr_pipe (fixture->relay));
  fixture->log->text = g_string_new (NULL);
  relay_log_read (fixture->log);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->relay));
  line = read_line (out);
  g_assert_nonnull (line);
  words = g_strsplit (line, " ", -1);
  g_assert_cmpuint (g_strv_length (words), ==, 3);
  g_assert_cmpstr (words[0], ==, "relay");
  g_assert_cmpuint (strlen (words[1]), ==, 52);
  g_free (fixture->relay_address);
  fixture->relay_address = g_strdup (words[2]);
  g_clear_pointer (&fixture->relay_id, foctet_node_id_free);
  fixture->relay_id = foctet_node_id_parse (words[1], &error);
  g_assert_no_error (error);
  {
    g_autoptr(GStrvBuilder) more = g_strv_builder_new ();

    for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
      if (g_str_equal (extra[i], "--listen"))
        {
          g_autofree char *next = read_line (out);
          g_auto(GStrv) next_words = g_strsplit (next, " ", -1);

          g_assert_cmpuint (g_strv_length (next_words), ==, 3);
          g_assert_cmpstr (next_words[1], ==, words[1]);
          g_strv_builder_add (more, next_words[2]);
        }
    g_strfreev (fixture->more_addresses);
    fixture->more_addresses = g_strv_builder_end (more);
  }
}

static void
stop_relay (Fixture *fixture,
            int      signum)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  g_subprocess_send_signal (fixture->relay, signum);
  g_subprocess_wait_async (fixture->relay, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (fixture->relay, result, NULL));
  if (signum == SIGTERM)
    g_assert_true (g_subprocess_get_successful (fixture->relay));
  g_clear_object (&fixture->relay);
  /* Every line it wrote, read. */
  foctet_test_wait_for (&fixture->log->eof, TIMEOUT);
}

/* One counter of the relay's (SIGUSR1 prints them all on one line). */
static guint64
relay_stat (Fixture    *fixture,
            const char *name)
{
  const char *prefix = "foctet-relay: reservations=";
  guint before = relay_log_count (fixture->log, prefix);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  g_autofree char *key = g_strdup_printf (" %s=", name);
  const char *line, *value;

  g_subprocess_send_signal (fixture->relay, SIGUSR1);
  while (relay_log_count (fixture->log, prefix) == before)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  line = g_strrstr (fixture->log->text->str, prefix);
  value = strstr (line, key);
  g_assert_nonnull (value);
  return g_ascii_strtoull (value + strlen (key), NULL, 10);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const char * const *extra = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *bound = NULL;

  start_relay (fixture, "127.0.0.1:0", extra);
  fixture->server = foctet_test_node_new ();
  fixture->client = foctet_test_node_new ();
  foctet_node_set_protocol_handler (fixture->server, FOCTET_TEST_ECHO_PROTOCOL, foctet_test_echo_handler,
                                    NULL, NULL);
  uri = g_strconcat ("relay/", fixture->relay_address, NULL);
  bound = foctet_test_node_listen_full (fixture->server, uri, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (bound, ==, uri);
  fixture->ticket = foctet_node_get_ticket (fixture->server);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  foctet_test_node_shutdown (fixture->client, TIMEOUT);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->ticket);
  if (fixture->relay != NULL)
    stop_relay (fixture, SIGTERM);
  g_free (fixture->relay_address);
  g_clear_pointer (&fixture->more_addresses, g_strfreev);
  g_clear_pointer (&fixture->relay_id, foctet_node_id_free);
  g_clear_pointer (&fixture->log, relay_log_unref);
}

/* ------------------------------------------------------------------ */

static void
set_true (gboolean *flag)
{
  *flag = TRUE;
}

static void
test_ping_perf (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetPinger) pinger = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_auto(GStrv) observed = NULL;
  GAsyncResult *slot = NULL;
  FoctetTransport *relay;
  gint64 rtt;

  /* The relay told the server where it sees it; the node has it. */
  relay = foctet_node_get_transport (fixture->server, "relay", &error);
  g_assert_no_error (error);
  g_object_get (relay, "observed-addresses", &observed, NULL);
  g_assert_cmpuint (g_strv_length (observed), ==, 1);
  g_assert_true (g_str_has_prefix (observed[0], "127.0.0.1:"));
  g_strfreev (observed);
  observed = foctet_node_get_observed_addresses (fixture->server);
  g_assert_cmpuint (g_strv_length (observed), ==, 1);
  g_assert_true (g_str_has_prefix (observed[0], "127.0.0.1:"));
  g_strfreev (observed);
  g_object_get (fixture->server, "observed-addresses", &observed, NULL);
  g_assert_cmpuint (g_strv_length (observed), ==, 1);

  connection = foctet_test_node_dial (fixture->client, fixture->ticket, NULL, NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "relay");
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (connection),
                                       foctet_node_get_node_id (fixture->server)));

  /* The client holds no reservation; the relay tells it where it sees it
   * all the same (PROTOCOL §7: each client), on an observed stream. */
  g_strfreev (observed);
  observed = foctet_node_get_observed_addresses (fixture->client);
  if (g_strv_length (observed) == 0)
    {
      gboolean notified = FALSE;
      gulong id = g_signal_connect_swapped (fixture->client, "notify::observed-addresses",
                                            G_CALLBACK (set_true), &notified);

      foctet_test_wait_for (&notified, TIMEOUT);
      g_signal_handler_disconnect (fixture->client, id);
      g_strfreev (observed);
      observed = foctet_node_get_observed_addresses (fixture->client);
    }
  g_assert_cmpuint (g_strv_length (observed), ==, 1);
  g_assert_true (g_str_has_prefix (observed[0], "127.0.0.1:"));
  {
    g_auto(GStrv) server_observed = foctet_node_get_observed_addresses (fixture->server);

    /* Another connection: another port. */
    g_assert_cmpstr (observed[0], !=, server_observed[0]);
  }

  pinger = foctet_pinger_new (connection);
  foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  rtt = foctet_pinger_ping_finish (pinger, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rtt, >, 0);
  g_clear_object (&result);

  foctet_perf_run_async (connection, 8 * 1024 * 1024, 8 * 1024 * 1024, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (perf->upload_bytes, ==, 8 * 1024 * 1024);
  g_assert_cmpuint (perf->download_bytes, ==, 8 * 1024 * 1024);
}

/* A ticket with a dead direct address and the relay: the dial moves on
 * to the relay and gets there. */
static void
test_fallback (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autofree char *dead = NULL;

  /* A port nobody listens on: bound, not listening. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  dead = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, dead, &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  g_assert_no_error (error);

  connection = foctet_test_node_dial (fixture->client, ticket, NULL, NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "relay");
}

#define N_CIRCUITS 100
#define CIRCUIT_BYTES (64 * 1024 + 7)

typedef struct {
  guint n_done;
  FoctetConnection *connections[N_CIRCUITS];
  GError *errors[N_CIRCUITS];
} Circuits;

typedef struct {
  Circuits *all;
  guint index;
} CircuitDial;

static void
circuit_dialed_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  CircuitDial *dial = user_data;

  dial->all->connections[dial->index] =
    foctet_transport_dial_finish (FOCTET_TRANSPORT (source), result, &dial->all->errors[dial->index]);
  dial->all->n_done++;
  g_free (dial);
}

static void
wait_count (guint *count,
            guint  n)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (*count < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* Dials @n circuits at once through @transport; returns how many failed,
 * with the first error in @error. */
static guint
dial_circuits (Fixture          *fixture,
               FoctetTransport  *transport,
               guint             n,
               Circuits         *all)
{
  guint failed = 0;

  memset (all, 0, sizeof *all);
  for (guint i = 0; i < n; i++)
    {
      CircuitDial *dial = g_new0 (CircuitDial, 1);

      dial->all = all;
      dial->index = i;
      foctet_transport_dial_async (transport, fixture->relay_address, foctet_node_get_node_id (fixture->server),
                                   NULL, circuit_dialed_cb, dial);
    }
  wait_count (&all->n_done, n);
  for (guint i = 0; i < n; i++)
    failed += all->connections[i] == NULL;
  return failed;
}

static void
circuits_clear (Circuits *all)
{
  for (guint i = 0; i < N_CIRCUITS; i++)
    {
      if (all->connections[i] != NULL)
        foctet_connection_close_async (all->connections[i], FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
      g_clear_object (&all->connections[i]);
      g_clear_error (&all->errors[i]);
    }
}

static const char * const many_circuits_options[] = { "--max-circuits-per-client", "200", NULL };

/* 100 circuits at once between the same two nodes, each carrying its own
 * checked echo. */
static void
test_many_circuits (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  FoctetTransport *transport = foctet_node_get_transport (fixture->client, "relay", &error);
  Circuits *all = g_new0 (Circuits, 1);
  FoctetTestEcho *echoes[N_CIRCUITS];
  guint n_done = 0;

  g_assert_no_error (error);
  g_assert_cmpuint (dial_circuits (fixture, transport, N_CIRCUITS, all), ==, 0);
  for (guint i = 0; i < N_CIRCUITS; i++)
    echoes[i] = foctet_test_echo_start (all->connections[i], CIRCUIT_BYTES, i, &n_done);
  wait_count (&n_done, N_CIRCUITS);
  for (guint i = 0; i < N_CIRCUITS; i++)
    foctet_test_echo_check (echoes[i]);
  /* Each its own raw circuit. */
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, N_CIRCUITS);
  g_assert_cmpuint (relay_stat (fixture, "circuits_active"), ==, N_CIRCUITS);
  circuits_clear (all);
  g_free (all);
}

static const char * const circuit_limit_options[] = { "--max-circuits-per-client", "3", NULL };

/* Runs the main context for @ms milliseconds. */
static void
spin (guint ms)
{
  gint64 until = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < until)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* Three circuits per node at most: the fourth is refused with a limit
 * error while they stand, and allowed once one of them is gone. */
static void
test_circuit_limit (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  FoctetTransport *transport = foctet_node_get_transport (fixture->client, "relay", &error);
  Circuits *three = g_new0 (Circuits, 1);
  Circuits *one = g_new0 (Circuits, 1);
  gint64 deadline;

  g_assert_no_error (error);
  g_assert_cmpuint (dial_circuits (fixture, transport, 3, three), ==, 0);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 3);
  g_assert_cmpuint (dial_circuits (fixture, transport, 1, one), ==, 1);
  g_assert_error (one->errors[0], FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_test_message ("%s", one->errors[0]->message);
  g_assert_nonnull (strstr (one->errors[0]->message, "limit"));
  circuits_clear (one);

  foctet_connection_close_async (three->connections[0], FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
  g_clear_object (&three->connections[0]);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (dial_circuits (fixture, transport, 1, one) != 0)
    {
      g_assert_error (one->errors[0], FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
      circuits_clear (one);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin (50);
    }
  circuits_clear (one);
  circuits_clear (three);
  g_free (one);
  g_free (three);
}

static const char * const reservation_limit_options[] = { "--max-reservations", "1", NULL };

/* The relay holds one reservation (the server's): a second node's
 * listen fails with the limit, and says so. */
static void
test_reservation_limit (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(FoctetNode) other = foctet_test_node_new ();
  g_autofree char *uri = g_strconcat ("relay/", fixture->relay_address, NULL);
  g_autofree char *bound = NULL;
  g_autoptr(GError) error = NULL;

  bound = foctet_test_node_listen_full (other, uri, &error, TIMEOUT);
  g_assert_null (bound);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "reservation"));
  foctet_test_node_shutdown (other, TIMEOUT);
}

/* No reservation for the NodeId: a clear error, at once. */
static void
test_no_reservation (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNode) stranger = foctet_test_node_new ();
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (foctet_node_get_node_id (stranger));
  g_autoptr(FoctetConnection) connection = NULL;
  gint64 start;

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  start = g_get_monotonic_time ();
  connection = foctet_test_node_dial (fixture->client, ticket, "relay", NULL, &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "not reachable via relay"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
}

static void
count_cb (guint *count)
{
  (*count)++;
}

typedef struct {
  guint lost;
  guint restored;
  char *address;                        /* of the last signal */
  GError *error;                        /* of the first listener-lost */
} ListenerEvents;

static void
listener_lost_cb (FoctetNode      *node,
                  FoctetTransport *transport,
                  const char      *address,
                  const GError    *error,
                  ListenerEvents  *events)
{
  g_assert_cmpstr (foctet_transport_get_name (transport), ==, "relay");
  g_assert_nonnull (error);
  events->lost++;
  g_free (events->address);
  events->address = g_strdup (address);
  if (events->error == NULL)
    events->error = g_error_copy (error);
}

static void
listener_restored_cb (FoctetNode      *node,
                      FoctetTransport *transport,
                      const char      *address,
                      ListenerEvents  *events)
{
  g_assert_cmpstr (foctet_transport_get_name (transport), ==, "relay");
  g_assert_cmpuint (events->restored, <, events->lost);
  events->restored++;
  g_free (events->address);
  events->address = g_strdup (address);
}

/* The relay dies and comes back on the same port: the server reserves
 * again by itself, and dials work again.  The node says once that its
 * listener at the relay was lost, however many tries fail meanwhile,
 * and once that it was restored. */
static void
test_restart (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *address = g_strdup (fixture->relay_address);
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  ListenerEvents events = { 0 };
  gint64 start, deadline;
  guint notified = 0;

  /* The node tells when its reflexive address goes and comes back. */
  g_signal_connect_swapped (fixture->server, "notify::observed-addresses", G_CALLBACK (count_cb), &notified);
  g_signal_connect (fixture->server, "listener-lost", G_CALLBACK (listener_lost_cb), &events);
  g_signal_connect (fixture->server, "listener-restored", G_CALLBACK (listener_restored_cb), &events);
  stop_relay (fixture, SIGKILL);

  /* Down for a while: several tries fail (the backoff starts small), one
   * listener-lost says so. */
  deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  while (events.lost == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin (10);
    }
  g_assert_cmpstr (events.address, ==, address);
  g_assert_error (events.error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_test_message ("listener lost: %s", events.error->message);
  g_assert_true (strstr (events.error->message, address) != NULL);
  spin (1500);
  g_assert_cmpuint (events.lost, ==, 1);
  g_assert_cmpuint (events.restored, ==, 0);
  start_relay (fixture, address, NULL);
  g_assert_cmpstr (fixture->relay_address, ==, address);

  start = g_get_monotonic_time ();
  deadline = start + 15 * G_USEC_PER_SEC;
  for (;;)
    {
      g_clear_error (&error);
      connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay", NULL, &error, TIMEOUT);
      if (connection != NULL)
        break;
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      /* The backoff's first retries come within a few seconds. */
      spin (200);
    }
  g_test_message ("reachable again after %.1f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpuint (notified, >=, 2);
  g_signal_handlers_disconnect_by_func (fixture->server, count_cb, &notified);
  while (events.restored == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin (10);
    }
  g_assert_cmpuint (events.lost, ==, 1);
  g_assert_cmpuint (events.restored, ==, 1);
  g_assert_cmpstr (events.address, ==, address);
  g_signal_handlers_disconnect_by_data (fixture->server, &events);
  g_free (events.address);
  g_clear_error (&events.error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "relay");
}

/* Reads @in's lines until one starts with @prefix; returns it. */
static char *
read_line_starting (GDataInputStream *in,
                    const char       *prefix)
{
  for (guint i = 0; i < 100; i++)
    {
      char *line = read_line (in);

      g_assert_nonnull (line);
      g_test_message ("shell: %s", line);
      if (g_str_has_prefix (line, prefix))
        return line;
      g_free (line);
    }
  g_assert_not_reached ();
}

/* foctet-shell serve says when its listener at the relay stops working
 * and when it works again. */
static void
test_shell_relay_lost (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *address = g_strdup (fixture->relay_address);
  g_autofree char *uri = g_strconcat ("relay/", address, NULL);
  g_autofree char *dir = g_dir_make_tmp ("foctet-test-relay-XXXXXX", NULL);
  g_autofree char *identity = g_build_filename (dir, "node.key", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) shell = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *line = NULL;
  GAsyncResult *slot = NULL;

  g_assert_nonnull (dir);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  shell = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", identity,
                                       "serve", "--listen", uri, "--no-mdns", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (shell));
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (shell));
  ticket = read_line (out);
  g_assert_nonnull (ticket);
  expected = g_strdup_printf ("listening on %s", uri);
  line = read_line_starting (err, expected);
  g_assert_cmpstr (line, ==, expected);
  g_clear_pointer (&line, g_free);

  stop_relay (fixture, SIGKILL);
  g_free (expected);
  expected = g_strdup_printf ("not listening on %s any more: ", uri);
  line = read_line_starting (err, expected);
  g_assert_true (g_str_has_suffix (line, " (trying again)"));
  g_assert_nonnull (strstr (line + strlen (expected), address));
  g_clear_pointer (&line, g_free);

  start_relay (fixture, address, NULL);
  g_assert_cmpstr (fixture->relay_address, ==, address);
  g_free (expected);
  expected = g_strdup_printf ("listening on %s again", uri);
  line = read_line_starting (err, expected);
  g_assert_cmpstr (line, ==, expected);

  g_subprocess_send_signal (shell, SIGTERM);
  g_subprocess_wait_async (shell, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (shell, result, NULL));
  g_assert_true (g_subprocess_get_if_exited (shell));
  g_assert_cmpint (g_subprocess_get_exit_status (shell), ==, 0);
  g_unlink (identity);
  g_rmdir (dir);
}


/* The interactive shell keeps a connection made with connect through a
 * relay over a v1 circuit (the circuit's TLS runs over a yamux stream of
 * the node's connection to the relay), then waits at its prompt.  The
 * end of its handshake must go out while it waits: the target gives up
 * on a circuit whose handshake does not complete (1 s here), and a
 * shell that ran nothing between commands only sent it with its next
 * command, on a circuit already reset. */
static void
test_shell_kept_circuit (Fixture       *fixture,
                         gconstpointer  data)
{
  FoctetTransport *relay;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket = foctet_ticket_to_string (fixture->ticket);
  g_autofree char *dir = g_dir_make_tmp ("foctet-test-relay-XXXXXX", NULL);
  g_autofree char *identity = g_build_filename (dir, "shell.key", NULL);
  g_autofree char *connect = g_strdup_printf ("connect %s --transport relay\n", ticket);
  g_autofree char *ping = g_strdup_printf ("ping %s --count 1\nquit\n", ticket);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) shell = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  GOutputStream *in;
  gint64 until;

  relay = foctet_node_get_transport (fixture->server, "relay", &error);
  g_assert_no_error (error);
  g_object_set (relay, "handshake-timeout", 1000, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  shell = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", identity, NULL);
  g_assert_no_error (error);
  in = g_subprocess_get_stdin_pipe (shell);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (shell));
  g_assert_true (g_output_stream_write_all (in, connect, strlen (connect), NULL, NULL, &error));
  g_assert_no_error (error);
  line = read_line (out);
  g_test_message ("shell: %s", line);
  g_assert_true (g_str_has_prefix (line, "connected to "));
  g_assert_nonnull (strstr (line, "via=relay"));

  /* At the prompt for twice the target's handshake timeout. */
  until = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < until)
    spin (50);
  g_assert_true (g_output_stream_write_all (in, ping, strlen (ping), NULL, NULL, &error));
  g_assert_no_error (error);
  g_free (line);
  line = read_line (out);
  g_test_message ("shell: %s", line);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "seq=1 rtt="));
  g_assert_true (g_str_has_suffix (line, " via=relay"));
  g_assert_true (g_output_stream_close (in, NULL, NULL));
  g_assert_true (g_subprocess_wait (shell, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (shell), ==, 0);
  g_unlink (identity);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------ */
/* What the relay must refuse, and go on serving                       */

/* A connection to the relay that speaks foctet-relay/1, as a relay
 * client does: the tls transport with the relay's ALPN. */
static FoctetConnection *
connect_as_relay_client_with (Fixture        *fixture,
                              const char     *transport,
                              FoctetIdentity *identity)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTransport) tls = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  FoctetConnection *connection;

  g_assert_no_error (error);
  tls = foctet_registry_create_transport (foctet_registry_get_default (), transport, identity, &error);
  g_assert_no_error (error);
  g_object_set (tls, "alpn", FOCTET_RELAY_ALPN, NULL);
  foctet_transport_dial_async (tls, fixture->relay_address, fixture->relay_id, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = foctet_transport_dial_finish (tls, result, &error);
  g_assert_no_error (error);
  return connection;
}

static FoctetConnection *
connect_as_relay_client (Fixture       *fixture,
                         const char    *transport,
                         FoctetNodeId **node_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);

  g_assert_no_error (error);
  *node_id = foctet_node_id_copy (foctet_identity_get_node_id (identity));
  return connect_as_relay_client_with (fixture, transport, identity);
}

static void wait_log (Fixture    *fixture,
                      const char *needle,
                      guint       n);

/* Opens a stream for @protocol and writes @data to it raw. */
static FoctetStream *
open_raw (FoctetConnection *connection,
          const char       *protocol,
          const guint8     *data,
          gsize             len)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  FoctetStream *stream;

  foctet_connection_open_stream_async (connection, protocol, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  stream = foctet_connection_open_stream_finish (connection, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), data, len,
                                   G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_output_stream_write_all_finish (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                                   result, NULL, &error));
  g_assert_no_error (error);
  return stream;
}

/* Reads the relay's answer on @stream: must be ERROR with @code. */
static void
expect_relay_error (FoctetStream *stream,
                    guint16       code)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) answer = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (stream));

  foctet_relay_message_read_async (in, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  answer = foctet_relay_message_read_finish (in, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
  g_test_message ("relay: %s", answer->error_text);
  g_assert_cmpuint (answer->error_code, ==, code);
}

static FoctetRelayMessage *read_message_in (FoctetStream          *stream,
                                            FoctetRelayMessageSet  set);

static const char * const connection_limit_options[] = { "--max-connections-per-client", "2",
                                                         "--circuit-setup-timeout", "1", NULL };

static void expect_observed (FoctetConnection *connection);

static const char * const first_request_options[] = { "--circuit-setup-timeout", "1", NULL };

/* A client that opens a control stream and sends less than its first
 * request: the relay resets the stream after the setup time (1 s here),
 * whichever the stream; it keeps no stream waiting for ever. */
static void
test_first_request_timeout (Fixture       *fixture,
                            gconstpointer  data)
{
  /* Each stream with the type of its first request and the first byte
   * of its length. */
  static const struct {
    const char *protocol;
    guint8 partial[2];
  } cases[] = {
    { FOCTET_RELAY_PROTOCOL_RESERVE, { FOCTET_RELAY_MESSAGE_RESERVE, 0x00 } },
    { FOCTET_RELAY_PROTOCOL_CONNECT, { FOCTET_RELAY_MESSAGE_CONNECT, 0x00 } },
    { FOCTET_RELAY_PROTOCOL_CONNECT_RAW, { FOCTET_RELAY_MESSAGE_CONNECT, 0x00 } },
    { FOCTET_RELAY_PROTOCOL_PUBLISH, { FOCTET_RELAY_MESSAGE_PUBLISH, 0x00 } },
    { FOCTET_RELAY_PROTOCOL_LOOKUP, { FOCTET_RELAY_MESSAGE_LOOKUP, 0x00 } },
  };
  g_autoptr(FoctetNodeId) me = NULL;
  g_autoptr(FoctetConnection) control = connect_as_relay_client (fixture, "tls", &me);
  FoctetStream *streams[G_N_ELEMENTS (cases)];
  GAsyncResult *slots[G_N_ELEMENTS (cases)] = { NULL };
  guint8 buffer[64];
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      streams[i] = open_raw (control, cases[i].protocol, cases[i].partial, sizeof cases[i].partial);
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (streams[i])), buffer, sizeof buffer,
                                 G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slots[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GAsyncResult) result = foctet_test_wait_result (&slots[i], TIMEOUT);
      g_autoptr(GError) error = NULL;
      gssize n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (streams[i])), result,
                                             &error);
      double seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;

      g_test_message ("%s: %s after %.2f s", cases[i].protocol, error != NULL ? error->message : "no error", seconds);
      g_assert_cmpint (n, ==, -1);
      g_assert_nonnull (error);
      g_assert_cmpfloat (seconds, >=, 0.9);
      g_assert_cmpfloat (seconds, <, 5.0);
      g_object_unref (streams[i]);
    }
  wait_log (fixture, "no RESERVE within 1 s", 1);
  /* The connection itself stays: a fresh request is answered. */
  expect_observed (control);
}

/* Where the relay sees @connection: asked on an observed stream. */
static void
expect_observed (FoctetConnection *connection)
{
  g_autoptr(FoctetStream) stream = open_raw (connection, FOCTET_RELAY_PROTOCOL_OBSERVED, NULL, 0);
  g_autoptr(FoctetRelayMessage) message = read_message_in (stream, FOCTET_RELAY_MESSAGES_OBSERVED);

  g_assert_cmpint (message->type, ==, FOCTET_RELAY_MESSAGE_OBSERVED);
}

/* PROTOCOL §7: a relay bounds the connections of one client, and says
 * so.  Two connections of one node are served; on a third, whatever it
 * asks is refused (ERROR 9), and the relay closes it soon after; once
 * the node has fewer, a new one is served again. */
static void
test_connection_limit (Fixture       *fixture,
                       gconstpointer  data)
{
  static const guint8 reserve_bytes[] = { FOCTET_RELAY_MESSAGE_RESERVE, 0x00, 0x00 };
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetConnection) first = NULL, second = NULL, third = NULL, fourth = NULL;
  g_autoptr(FoctetStream) reserve = NULL;
  gint64 deadline;

  g_assert_no_error (error);
  first = connect_as_relay_client_with (fixture, "tls", identity);
  second = connect_as_relay_client_with (fixture, "tls", identity);
  expect_observed (first);
  expect_observed (second);

  third = connect_as_relay_client_with (fixture, "tls", identity);
  reserve = open_raw (third, FOCTET_RELAY_PROTOCOL_RESERVE, reserve_bytes, sizeof reserve_bytes);
  expect_relay_error (reserve, FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT);
  g_assert_cmpuint (relay_stat (fixture, "refused_resource_limit"), ==, 1);
  /* Closed by the relay after the circuit-setup time (1 s here). */
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  while (!foctet_connection_is_closed (third))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  /* The others are untouched. */
  expect_observed (first);

  /* One fewer: a new connection is served. */
  foctet_test_close_connection (first, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(FoctetConnection) attempt = connect_as_relay_client_with (fixture, "tls", identity);
      g_autoptr(FoctetStream) stream = open_raw (attempt, FOCTET_RELAY_PROTOCOL_OBSERVED, NULL, 0);
      g_autoptr(FoctetRelayMessage) message = read_message_in (stream, FOCTET_RELAY_MESSAGES_OBSERVED);

      /* The relay may not have seen the first one's end yet. */
      if (message->type == FOCTET_RELAY_MESSAGE_OBSERVED)
        {
          fourth = g_steal_pointer (&attempt);
          break;
        }
      g_assert_cmpint (message->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      foctet_test_close_connection (attempt, FOCTET_CLOSE_CODE_NO_ERROR, "again", TIMEOUT);
    }
  expect_observed (second);
  foctet_test_close_connection (second, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  foctet_test_close_connection (fourth, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
}

static void
dial_through_relay_works (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay",
                                                                  NULL, &error, TIMEOUT);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
}

/* gnutls-cli with an RSA certificate, the relay's ALPN and every other
 * setting right: the relay must refuse the certificate (alert 42,
 * bad_certificate) and hang up. */
static void
client_with_rsa_certificate (Fixture *fixture)
{
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autofree char *key = g_build_filename (dir, "rsa.key", NULL);
  g_autofree char *cert = g_build_filename (dir, "rsa.pem", NULL);
  g_autofree char *template = g_build_filename (dir, "rsa.tmpl", NULL);
  g_autofree char *port = g_strdup (strrchr (fixture->relay_address, ':') + 1);
  g_autofree char *output = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) cli = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  const char *genkey[] = { "certtool", "--generate-privkey", "--key-type", "rsa", "--bits", "2048",
                           "--outfile", key, NULL };
  const char *gencert[] = { "certtool", "--generate-self-signed", "--load-privkey", key,
                            "--template", template, "--outfile", cert, NULL };

  g_assert_true (g_file_set_contents (template, "cn = not-a-node\nexpiration_days = 30\n", -1, &error));
  foctet_test_run_command (NULL, genkey);
  foctet_test_run_command (NULL, gencert);

  /* stdin stays open: the client waits for the relay, not for us. */
  cli = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                          G_SUBPROCESS_FLAGS_STDERR_MERGE, &error,
                          "gnutls-cli", "--alpn=" FOCTET_RELAY_ALPN, "--x509certfile", cert, "--x509keyfile", key,
                          "--insecure", "--port", port, "127.0.0.1", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (cli, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (cli, result, &error));
  g_assert_no_error (error);
  g_assert_false (g_subprocess_get_successful (cli));
  {
    GInputStream *out = g_subprocess_get_stdout_pipe (cli);
    g_autoptr(GBytes) bytes = g_input_stream_read_bytes (out, 64 * 1024, NULL, &error);

    g_assert_no_error (error);
    output = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  }
  g_test_message ("gnutls-cli with an RSA certificate: %s", output);
  g_assert_nonnull (strstr (output, "Certificate is bad"));
  foctet_test_remove_tree (dir);
}

/* A node speaking foctet/1 to the relay, garbage on the relay's port,
 * a CONNECT with a malformed NodeId, a message out of place, an RSA
 * certificate: each is refused, and the relay goes on serving. */
static void
test_bad_clients (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(FoctetConnection) wrong_alpn = NULL;
  g_autoptr(FoctetConnection) control = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(FoctetStream) cut_short = NULL;
  g_autofree char *uri = g_strconcat ("tls/", fixture->relay_address, NULL);
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketConnection) raw = NULL;
  guint8 garbage[4096];
  guint8 short_connect[3 + 31] = { FOCTET_RELAY_MESSAGE_CONNECT, 0, 31 };
  guint8 half_connect[3 + 16] = { FOCTET_RELAY_MESSAGE_CONNECT, 0, 32 };
  guint8 reserve[3] = { FOCTET_RELAY_MESSAGE_RESERVE, 0, 0 };
  guint8 buffer[64];
  g_autoptr(FoctetNodeId) me = NULL;
  gssize n;

  /* A node's ALPN: the relay's handshake refuses it. */
  foctet_node_dial_uri_async (fixture->client, fixture->relay_id, uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  wrong_alpn = foctet_node_dial_uri_finish (fixture->client, result, &error);
  g_assert_null (wrong_alpn);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_test_message ("foctet/1 to the relay: %s", error->message);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Garbage instead of a ClientHello: the relay hangs up. */
  raw = g_socket_client_connect_to_host (socket_client, fixture->relay_address, 0, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < sizeof garbage; i++)
    garbage[i] = (guint8) g_random_int ();
  garbage[0] = 0x16;                  /* looks like a TLS record, for a moment */
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (raw)), garbage, sizeof garbage,
                             NULL, NULL, NULL);
  /* At most a TLS alert comes back, then the end. */
  for (guint reads = 0;; reads++)
    {
      g_assert_cmpuint (reads, <, 8);
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (raw)), buffer, sizeof buffer,
                                 G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (raw)), result, NULL);
      g_clear_object (&result);
      if (n <= 0)
        break;
      g_assert_cmpint (n, <=, 7);     /* one alert record */
    }
  /* The relay counts both: the wrong ALPN and the garbage. */
  g_assert_cmpuint (relay_stat (fixture, "incoming_failed"), ==, 2);

  /* A CONNECT whose NodeId has 31 bytes: ERROR 1. */
  control = connect_as_relay_client (fixture, "tls", &me);
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_CONNECT, short_connect, sizeof short_connect);
  expect_relay_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);

  /* RESERVE on a connect stream: ERROR 7.  Before it, a CONNECT cut
   * short, which the relay has taken up by the time it answers the
   * RESERVE; then reset: no answer to give, but the relay's log says
   * what became of it. */
  cut_short = open_raw (control, FOCTET_RELAY_PROTOCOL_CONNECT, half_connect, sizeof half_connect);
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_CONNECT, reserve, sizeof reserve);
  expect_relay_error (stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE);
  g_clear_object (&stream);
  foctet_stream_reset (cut_short, FOCTET_CLOSE_CODE_GOING_AWAY);
  wait_log (fixture, "ended before it was spliced: ", 1);
  g_assert_nonnull (strstr (fixture->log->text->str, "(no CONNECT yet)"));

  /* A CONNECT to itself: ERROR 1. */
  {
    g_autoptr(FoctetRelayMessage) to_myself = foctet_relay_message_new_connect (me);
    g_autoptr(GBytes) bytes = foctet_relay_message_encode (to_myself);

    stream = open_raw (control, FOCTET_RELAY_PROTOCOL_CONNECT, g_bytes_get_data (bytes, NULL),
                       g_bytes_get_size (bytes));
    expect_relay_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
    g_clear_object (&stream);
  }

  /* The relay speaks foctet-relay/1 over QUIC on the same port number
   * too: a CONNECT there to oneself gets ERROR 1. */
  {
    g_autoptr(FoctetNodeId) quic_me = NULL;
    g_autoptr(FoctetConnection) quic = connect_as_relay_client (fixture, "quic", &quic_me);
    g_autoptr(FoctetRelayMessage) connect = foctet_relay_message_new_connect (quic_me);
    g_autoptr(GBytes) bytes = foctet_relay_message_encode (connect);

    g_assert_cmpstr (foctet_connection_get_transport_name (quic), ==, "quic");
    stream = open_raw (quic, FOCTET_RELAY_PROTOCOL_CONNECT, g_bytes_get_data (bytes, NULL),
                       g_bytes_get_size (bytes));
    expect_relay_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
    g_clear_object (&stream);
  }

  /* A client certificate that breaks PROTOCOL §2 (RSA): alert 42. */
  client_with_rsa_certificate (fixture);

  dial_through_relay_works (fixture);
}

/* CLI.md spells it BYTES/s. */
static const char * const rate_options[] = { "--rate", "1M/s", NULL };

/* A circuit is held to the rate: 3 MiB at 1 MiB/s takes about 3 s. */
static void
test_rate (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay",
                                                                  NULL, &error, TIMEOUT);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;

  g_assert_no_error (error);
  foctet_perf_run_async (connection, 3 * 1024 * 1024, 0, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  g_test_message ("3 MiB up at --rate 1M: %.2f s", perf->upload_seconds);
  g_assert_cmpfloat (perf->upload_seconds, >=, 2.0);
  g_assert_cmpfloat (perf->upload_seconds, <, 10.0);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 1);
}

static const char * const client_rate_options[] = { "--rate-per-client", "1M/s", NULL };
static const char * const client_rate_v1_options[] = { "--rate-per-client", "1M", "--no-raw-circuits", NULL };

/* --rate-per-client holds a node to the rate over all its circuits
 * together: two clients upload 2 MiB each to the server at once, and
 * the server may receive 1 MiB/s in all, so the later of them finishes
 * after about 4 s, not 2 (as a limit per circuit would let both).  The
 * relay cuts no circuit for it: each moves all its bytes. */
static void
test_rate_per_client (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(FoctetNode) other = foctet_test_node_new ();
  FoctetNode *clients[] = { fixture->client, other };
  FoctetConnection *connections[2];
  GAsyncResult *slots[2] = { NULL, NULL };
  double slowest = 0;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;

      connections[i] = foctet_test_node_dial (clients[i], fixture->ticket, "relay", NULL, &error, TIMEOUT);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 2; i++)
    foctet_perf_run_async (connections[i], 2 * 1024 * 1024, 0, NULL, foctet_test_store_result, &slots[i]);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GAsyncResult) result = foctet_test_wait_result (&slots[i], TIMEOUT);
      g_autoptr(FoctetPerfResult) perf = NULL;
      g_autoptr(GError) error = NULL;

      perf = foctet_perf_run_finish (result, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (perf->upload_bytes, ==, 2 * 1024 * 1024);
      g_test_message ("client %u: 2 MiB up in %.2f s", i, perf->upload_seconds);
      slowest = MAX (slowest, perf->upload_seconds);
      g_object_unref (connections[i]);
    }
  g_assert_cmpfloat (slowest, >=, 3.0);
  g_assert_cmpfloat (slowest, <, 15.0);
  foctet_test_node_shutdown (other, TIMEOUT);
}

static const char * const idle_options[] = { "--idle-timeout", "1", NULL };

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* A circuit that carries nothing is cut. */
static void
test_idle_timeout (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay",
                                                                  NULL, &error, TIMEOUT);
  gboolean closed = FALSE;
  gint64 start = g_get_monotonic_time ();

  g_assert_no_error (error);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), &closed);
  foctet_test_wait_for (&closed, 10);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC * 9 / 10);
  g_signal_handlers_disconnect_by_func (connection, closed_cb, &closed);
}

/* ------------------------------------------------------------------ */
/* The directory, spoken by raw clients                                */

/* Reads one directory message from @stream. */
static FoctetRelayMessage *
read_directory_message (FoctetStream  *stream,
                        GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (stream));

  foctet_relay_message_read_in_async (in, FOCTET_RELAY_MESSAGES_DIRECTORY, G_PRIORITY_DEFAULT, NULL,
                                      foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_relay_message_read_finish (in, result, error);
}

/* Opens a stream for @protocol and writes @message on it. */
static FoctetStream *
open_with_message (FoctetConnection         *connection,
                   const char               *protocol,
                   const FoctetRelayMessage *message)
{
  g_autoptr(GBytes) bytes = foctet_relay_message_encode (message);

  return open_raw (connection, protocol, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static void
write_message_on (FoctetStream             *stream,
                  const FoctetRelayMessage *message)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (stream));

  foctet_relay_message_write_async (out, message, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (foctet_relay_message_write_finish (out, result, &error));
  g_assert_no_error (error);
}

static void
close_write (FoctetStream *stream)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;

  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (foctet_stream_close_write_finish (stream, result, &error));
  g_assert_no_error (error);
}

/* The relay half-closed @stream: the next read finds the end. */
static void
expect_end (FoctetStream *stream)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) message = read_directory_message (stream, &error);

  g_assert_null (message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
}

/* A LOOKUP of @target on a new stream of @connection: the answer. */
static FoctetRelayMessage *
lookup_raw (FoctetConnection   *connection,
            const FoctetNodeId *target)
{
  g_autoptr(FoctetRelayMessage) lookup = foctet_relay_message_new_lookup (target);
  g_autoptr(FoctetStream) stream = open_with_message (connection, FOCTET_RELAY_PROTOCOL_LOOKUP, lookup);
  g_autoptr(GError) error = NULL;
  FoctetRelayMessage *answer = read_directory_message (stream, &error);

  g_assert_no_error (error);
  g_assert_true (answer->type == FOCTET_RELAY_MESSAGE_FOUND || answer->type == FOCTET_RELAY_MESSAGE_ERROR);
  /* One answer, then the relay half-closes. */
  expect_end (stream);
  return answer;
}

static void
assert_lookup_error (FoctetConnection   *connection,
                     const FoctetNodeId *target,
                     guint16             code)
{
  g_autoptr(FoctetRelayMessage) answer = lookup_raw (connection, target);

  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
  g_test_message ("LOOKUP: %s", answer->error_text);
  g_assert_cmpuint (answer->error_code, ==, code);
}

/* Reserves on @connection: the reserve stream, holding the reservation. */
static FoctetStream *
reserve_raw (FoctetConnection *connection)
{
  g_autoptr(FoctetRelayMessage) reserve = foctet_relay_message_new_reserve ();
  g_autoptr(GBytes) bytes = foctet_relay_message_encode (reserve);
  FoctetStream *stream = open_raw (connection, FOCTET_RELAY_PROTOCOL_RESERVE, g_bytes_get_data (bytes, NULL),
                                   g_bytes_get_size (bytes));
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) answer = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (stream));

  foctet_relay_message_read_async (in, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  answer = foctet_relay_message_read_finish (in, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_RESERVE_OK);
  return stream;
}

static void
expect_directory_ok (FoctetStream *stream)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) answer = read_directory_message (stream, &error);

  g_assert_no_error (error);
  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_OK);
}

static void
expect_directory_error (FoctetStream *stream,
                        guint16       code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) answer = read_directory_message (stream, &error);

  g_assert_no_error (error);
  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
  g_test_message ("relay: %s", answer->error_text);
  g_assert_cmpuint (answer->error_code, ==, code);
  expect_end (stream);
}

static GPtrArray *
two_entries (const char *quic,
             const char *tls)
{
  GPtrArray *entries = foctet_relay_entries_new ();

  g_ptr_array_add (entries, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_QUIC, quic));
  g_ptr_array_add (entries, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_TLS, tls));
  return entries;
}

/* Publish, look up, replace, withdraw; entries end with the reservation;
 * the fixture's server, reserved but not publishing, is not listed. */
static void
test_directory_raw (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(FoctetNodeId) a_id = NULL;
  g_autoptr(FoctetNodeId) b_id = NULL;
  g_autoptr(FoctetConnection) a = connect_as_relay_client (fixture, "tls", &a_id);
  g_autoptr(FoctetConnection) b = connect_as_relay_client (fixture, "tls", &b_id);
  g_autoptr(FoctetStream) reserve = NULL;
  g_autoptr(FoctetStream) publish = NULL;
  g_autoptr(GPtrArray) first = two_entries ("192.0.2.10:4433", "192.0.2.10:4434");
  g_autoptr(GPtrArray) second = two_entries ("[2001:db8::1]:9", "host.example:10");
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(FoctetRelayMessage) found = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *a_local = NULL;

  /* Not reserved anywhere, or reserved without publishing: not listed. */
  assert_lookup_error (b, a_id, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);
  assert_lookup_error (b, foctet_node_get_node_id (fixture->server), FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);

  /* A reserves and publishes: B finds its entries and where the relay
   * sees A's connection come from. */
  reserve = reserve_raw (a);
  message = foctet_relay_message_new_publish (first, &error);
  g_assert_no_error (error);
  publish = open_with_message (a, FOCTET_RELAY_PROTOCOL_PUBLISH, message);
  expect_directory_ok (publish);
  g_clear_pointer (&message, foctet_relay_message_free);

  found = lookup_raw (b, a_id);
  g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
  g_assert_cmpuint (found->entries->len, ==, 2);
  g_assert_cmpstr (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 0))->address, ==, "192.0.2.10:4433");
  g_assert_cmpint (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 0))->kind, ==,
                   FOCTET_ADDRESS_KIND_QUIC);
  g_assert_cmpstr (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 1))->address, ==, "192.0.2.10:4434");
  g_assert_cmpint (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 1))->kind, ==,
                   FOCTET_ADDRESS_KIND_TLS);
  a_local = g_strdup (foctet_connection_get_local_address (a));
  g_test_message ("FOUND: observed %s (A's end of the connection: %s), ttl %u", found->address, a_local,
                  found->ttl);
  g_assert_cmpstr (found->address, ==, a_local);
  g_assert_cmpuint (found->ttl, >=, 1);
  g_assert_cmpuint (found->ttl, <=, 120);
  g_clear_pointer (&found, foctet_relay_message_free);

  /* A node may look itself up. */
  found = lookup_raw (a, a_id);
  g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
  g_clear_pointer (&found, foctet_relay_message_free);

  /* A later PUBLISH on the same stream replaces the entries. */
  message = foctet_relay_message_new_publish (second, &error);
  g_assert_no_error (error);
  write_message_on (publish, message);
  expect_directory_ok (publish);
  g_clear_pointer (&message, foctet_relay_message_free);
  found = lookup_raw (b, a_id);
  g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
  g_assert_cmpuint (found->entries->len, ==, 2);
  g_assert_cmpstr (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 0))->address, ==, "[2001:db8::1]:9");
  g_assert_cmpstr (((FoctetRelayEntry *) g_ptr_array_index (found->entries, 1))->address, ==, "host.example:10");
  g_clear_pointer (&found, foctet_relay_message_free);

  /* Half-closing the publish stream withdraws them. */
  close_write (publish);
  expect_end (publish);
  g_clear_object (&publish);
  assert_lookup_error (b, a_id, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);

  /* Published again; a newer publish stream replaces it (the older one is
   * half-closed by the relay). */
  message = foctet_relay_message_new_publish (first, &error);
  publish = open_with_message (a, FOCTET_RELAY_PROTOCOL_PUBLISH, message);
  expect_directory_ok (publish);
  {
    g_autoptr(FoctetStream) newer = open_with_message (a, FOCTET_RELAY_PROTOCOL_PUBLISH, message);

    expect_directory_ok (newer);
    expect_end (publish);
    g_clear_object (&publish);
    publish = g_steal_pointer (&newer);
  }
  found = lookup_raw (b, a_id);
  g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
  g_clear_pointer (&found, foctet_relay_message_free);

  /* The reservation ends: the entries go with it, and the relay
   * half-closes the publish stream. */
  close_write (reserve);
  expect_end (publish);
  assert_lookup_error (b, a_id, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);

  /* Reserved and published again, then A's connection ends. */
  g_clear_object (&reserve);
  g_clear_object (&publish);
  reserve = reserve_raw (a);
  publish = open_with_message (a, FOCTET_RELAY_PROTOCOL_PUBLISH, message);
  expect_directory_ok (publish);
  found = lookup_raw (b, a_id);
  g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
  g_clear_pointer (&found, foctet_relay_message_free);
  {
    g_autoptr(GAsyncResult) result = NULL;
    GAsyncResult *slot = NULL;

    foctet_connection_close_async (a, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, foctet_test_store_result, &slot);
    result = foctet_test_wait_result (&slot, TIMEOUT);
    foctet_connection_close_finish (a, result, NULL);
  }
  /* The relay notices the end of the connection on its own time. */
  for (guint i = 0;; i++)
    {
      g_autoptr(FoctetRelayMessage) answer = lookup_raw (b, a_id);

      if (answer->type == FOCTET_RELAY_MESSAGE_ERROR)
        {
          g_assert_cmpuint (answer->error_code, ==, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);
          break;
        }
      g_assert_cmpuint (i, <, 50);
      spin (100);
    }
  dial_through_relay_works (fixture);
}

/* Malformed and misplaced directory messages get ERROR, and the relay
 * goes on serving. */
static void
test_directory_bad (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(FoctetNodeId) me = NULL;
  g_autoptr(FoctetConnection) control = connect_as_relay_client (fixture, "tls", &me);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GPtrArray) entries = two_entries ("192.0.2.1:1", "192.0.2.1:2");
  g_autoptr(FoctetRelayMessage) publish = foctet_relay_message_new_publish (entries, NULL);
  g_autoptr(FoctetRelayMessage) lookup = foctet_relay_message_new_lookup (me);
  g_autoptr(FoctetStream) reserve = NULL;
  static const guint8 relay_entry[] = { 0x07, 0x00, 0x05, 0x03, 0x03, 'a', ':', '1' };
  static const guint8 short_lookup[3 + 31] = { 0x08, 0x00, 31 };
  static const guint8 reserve_bytes[] = { 0x01, 0x00, 0x00 };
  static const guint8 garbage[] = { 0xff, 0xfe, 0xfd };
  static const guint8 past_end[] = { 0x07, 0x00, 0x05, 0x01, 0x07, 'a', ':', '1' };

  /* PUBLISH without a reservation: ERROR 7. */
  stream = open_with_message (control, FOCTET_RELAY_PROTOCOL_PUBLISH, publish);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE);
  g_clear_object (&stream);

  reserve = reserve_raw (control);
  /* A relay entry published, an entry past the end, a RESERVE and garbage
   * on a publish stream: ERROR 1 (they do not parse there). */
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_PUBLISH, relay_entry, sizeof relay_entry);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_PUBLISH, past_end, sizeof past_end);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_PUBLISH, reserve_bytes, sizeof reserve_bytes);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_LOOKUP, garbage, sizeof garbage);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);
  /* A LOOKUP with a 31-byte NodeId: ERROR 1. */
  stream = open_raw (control, FOCTET_RELAY_PROTOCOL_LOOKUP, short_lookup, sizeof short_lookup);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
  g_clear_object (&stream);
  /* Each where the other belongs: ERROR 7. */
  stream = open_with_message (control, FOCTET_RELAY_PROTOCOL_PUBLISH, lookup);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE);
  g_clear_object (&stream);
  stream = open_with_message (control, FOCTET_RELAY_PROTOCOL_LOOKUP, publish);
  expect_directory_error (stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE);
  g_clear_object (&stream);
  /* A PUBLISH on a reserve stream is an unknown type there: ERROR 1, and
   * the reservation ends (its stream too). */
  write_message_on (reserve, publish);
  expect_relay_error (reserve, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);

  /* After all that, a good publish and lookup still work. */
  g_clear_object (&reserve);
  reserve = reserve_raw (control);
  stream = open_with_message (control, FOCTET_RELAY_PROTOCOL_PUBLISH, publish);
  expect_directory_ok (stream);
  {
    g_autoptr(FoctetRelayMessage) found = lookup_raw (control, me);

    g_assert_cmpint (found->type, ==, FOCTET_RELAY_MESSAGE_FOUND);
    g_assert_cmpuint (found->entries->len, ==, 2);
  }
  dial_through_relay_works (fixture);
}

static const char * const lookup_rate_options[] = { "--lookup-rate", "1", NULL };

/* At --lookup-rate 1 a client has a bucket of 4 lookups: the fifth in a
 * row is refused with ERROR 9; another client is not affected; a second
 * later there is one more. */
static void
test_lookup_rate (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(FoctetNodeId) me = NULL;
  g_autoptr(FoctetNodeId) other_id = NULL;
  g_autoptr(FoctetConnection) client = connect_as_relay_client (fixture, "tls", &me);
  g_autoptr(FoctetConnection) other = connect_as_relay_client (fixture, "tls", &other_id);
  const FoctetNodeId *target = foctet_node_get_node_id (fixture->server);

  for (guint i = 0; i < 4; i++)
    assert_lookup_error (client, target, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);
  assert_lookup_error (client, target, FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT);
  assert_lookup_error (other, target, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);
  spin (1100);
  assert_lookup_error (client, target, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION);
}

/* ------------------------------------------------------------------ */
/* The "relay" discovery: publishing and resolving through the plugin  */

static FoctetDiscovery *
make_directory (FoctetNode *node)
{
  g_autoptr(GError) error = NULL;
  FoctetDiscovery *discovery = foctet_registry_create_discovery (foctet_registry_get_default (), "relay",
                                                                 foctet_node_get_identity (node), &error);

  g_assert_no_error (error);
  g_assert_cmpstr (foctet_discovery_get_name (discovery), ==, "relay");
  g_assert_true (foctet_discovery_start (discovery, &error));
  g_assert_no_error (error);
  /* A directory answers questions; it does not list. */
  g_assert_null (foctet_discovery_get_peers (discovery));
  return discovery;
}

static FoctetTicket *
resolve (FoctetDiscovery  *discovery,
         FoctetTicket     *hint,
         GCancellable     *cancellable,
         GError          **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_discovery_resolve_async (discovery, hint, cancellable, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_discovery_resolve_finish (discovery, result, error);
}

/* A ticket with @node_id and only @relay. */
static FoctetTicket *
relay_hint (const FoctetNodeId *node_id,
            const char         *relay)
{
  g_autoptr(GError) error = NULL;
  FoctetTicket *hint = foctet_ticket_new (node_id);

  g_assert_true (foctet_ticket_add_address (hint, FOCTET_ADDRESS_KIND_RELAY, relay, &error));
  g_assert_no_error (error);
  return hint;
}

/* Resolves until the answer is (@found) or is not a ticket; at most
 * @seconds.  Returns the last ticket found, if any. */
static FoctetTicket *
resolve_until (FoctetDiscovery *discovery,
               FoctetTicket    *hint,
               gboolean         found,
               guint            seconds,
               GError         **last_error)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetTicket) ticket = resolve (discovery, hint, NULL, &error);

      if ((ticket != NULL) == found)
        {
          if (error != NULL)
            g_propagate_error (last_error, g_steal_pointer (&error));
          return g_steal_pointer (&ticket);
        }
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin (100);
    }
}

/* A node serving a relay reservation and direct addresses on loopback,
 * publishing through the "relay" discovery. */
static FoctetNode *
make_publishing_node (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  FoctetNode *node = foctet_test_node_new ();
  g_autofree char *relay_uri = g_strconcat ("relay/", fixture->relay_address, NULL);
  const char *uris[] = { "quic/127.0.0.1:0", "tls/127.0.0.1:0", relay_uri };

  foctet_node_set_protocol_handler (node, FOCTET_TEST_ECHO_PROTOCOL, foctet_test_echo_handler, NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (uris); i++)
    {
      g_autofree char *bound = foctet_test_node_listen_full (node, uris[i], &error, TIMEOUT);

      g_assert_no_error (error);
      g_assert_nonnull (bound);
    }
  g_assert_true (foctet_node_enable_discovery (node, "relay", FOCTET_DISCOVERY_FLAGS_PUBLISH, &error));
  g_assert_no_error (error);
  return node;
}

static void
assert_same_addresses (FoctetTicket      *a,
                       FoctetTicket      *b,
                       FoctetAddressKind  kind)
{
  g_auto(GStrv) x = foctet_ticket_get_addresses (a, kind);
  g_auto(GStrv) y = foctet_ticket_get_addresses (b, kind);

  g_assert_cmpstrv (x, y);
}

static void
ping_connection (FoctetConnection *connection)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (connection);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (foctet_pinger_ping_finish (pinger, result, &error), >, 0);
  g_assert_no_error (error);
}

/* A publishes through the discovery; B, knowing only A's NodeId and the
 * relay, resolves A's addresses, dials them directly and pings; the node
 * does the same by itself when dialing the hint; once A is gone, the
 * relay no longer knows it. */
static void
test_directory_discovery (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(FoctetNode) a = make_publishing_node (fixture);
  g_autoptr(FoctetTicket) a_ticket = foctet_node_get_ticket (a);
  g_autoptr(FoctetDiscovery) directory = make_directory (fixture->client);
  g_autoptr(FoctetTicket) hint = relay_hint (foctet_node_get_node_id (a), fixture->relay_address);
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) relays = NULL;
  g_auto(GStrv) tls = NULL;
  g_autofree char *relay_text = NULL;

  /* A's ticket has its direct addresses, all on loopback, which is all it
   * has, so they are what it publishes. */
  tls = foctet_ticket_get_addresses (a_ticket, FOCTET_ADDRESS_KIND_TLS);
  g_assert_cmpuint (g_strv_length (tls), ==, 1);

  /* Publishing follows the reservation a moment later. */
  found = resolve_until (directory, hint, TRUE, 10, NULL);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (found), foctet_node_get_node_id (a)));
  assert_same_addresses (found, a_ticket, FOCTET_ADDRESS_KIND_QUIC);
  assert_same_addresses (found, a_ticket, FOCTET_ADDRESS_KIND_TLS);
  /* The relay stays in the answer, so a dial can still fall back to it. */
  relays = foctet_ticket_get_addresses (found, FOCTET_ADDRESS_KIND_RELAY);
  g_assert_cmpuint (g_strv_length (relays), ==, 1);
  g_assert_cmpstr (relays[0], ==, fixture->relay_address);

  /* B dials what was found, directly, and pings. */
  connection = foctet_test_node_dial (fixture->client, found, "tls", NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "tls");
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (connection), foctet_node_get_node_id (a)));
  ping_connection (connection);
  g_clear_object (&connection);

  /* A node using the discovery resolves the hint by itself and prefers
   * the direct addresses. */
  {
    g_autoptr(FoctetNode) c = foctet_test_node_new ();

    g_assert_true (foctet_node_enable_discovery (c, "relay", FOCTET_DISCOVERY_FLAGS_NONE, &error));
    g_assert_no_error (error);
    connection = foctet_test_node_dial (c, hint, NULL, NULL, &error, TIMEOUT);
    g_assert_no_error (error);
    g_test_message ("a dial of NodeId + relay went via %s", foctet_connection_get_transport_name (connection));
    g_assert_cmpstr (foctet_connection_get_transport_name (connection), !=, "relay");
    ping_connection (connection);
    g_clear_object (&connection);
    foctet_test_node_shutdown (c, TIMEOUT);
  }

  /* A goes away: its reservation ends, and its entries with it. */
  foctet_test_node_shutdown (a, TIMEOUT);
  g_clear_object (&found);
  found = resolve_until (directory, hint, FALSE, 10, &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_test_message ("after A left: %s", error->message);
  relay_text = g_strdup_printf ("relay %s: not reachable via relay", fixture->relay_address);
  g_assert_nonnull (strstr (error->message, relay_text));
  foctet_discovery_stop (directory);
}

/* NOT_FOUND for a NodeId that never reserved and for a hint without a
 * relay; a relay that is not there is a connection error naming it; a
 * cancelled lookup is cancelled. */
static void
test_directory_not_found (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(FoctetDiscovery) directory = make_directory (fixture->client);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) stranger = foctet_identity_generate (&error);
  g_autoptr(FoctetTicket) hint = NULL;
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(FoctetTicket) bare = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autofree char *dead = NULL;
  g_autofree char *relay_text = NULL;
  gint64 start;

  g_assert_no_error (error);
  hint = relay_hint (foctet_identity_get_node_id (stranger), fixture->relay_address);
  found = resolve (directory, hint, NULL, &error);
  g_assert_null (found);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_test_message ("never reserved: %s", error->message);
  relay_text = g_strdup_printf ("relay %s: not reachable via relay", fixture->relay_address);
  g_assert_nonnull (strstr (error->message, relay_text));
  g_assert_nonnull (strstr (error->message, "holds no reservation"));
  g_clear_error (&error);

  /* The fixture's server holds a reservation but does not publish. */
  g_clear_object (&hint);
  hint = relay_hint (foctet_node_get_node_id (fixture->server), fixture->relay_address);
  found = resolve (directory, hint, NULL, &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "published no addresses"));
  g_clear_error (&error);

  bare = foctet_ticket_new (foctet_identity_get_node_id (stranger));
  found = resolve (directory, bare, NULL, &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "names no relay"));
  g_clear_error (&error);

  /* A port nobody listens on: bound, not listening. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  dead = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_clear_object (&hint);
  hint = relay_hint (foctet_identity_get_node_id (stranger), dead);
  found = resolve (directory, hint, NULL, &error);
  g_assert_null (found);
  g_assert_nonnull (error);
  g_test_message ("no relay there: %s", error->message);
  g_assert_false (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND));
  g_assert_nonnull (strstr (error->message, dead));
  g_clear_error (&error);

  /* Two relays, one dead: the live one's answer decides, NOT_FOUND
   * naming both. */
  g_assert_true (foctet_ticket_add_address (hint, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  found = resolve (directory, hint, NULL, &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, dead));
  g_assert_nonnull (strstr (error->message, relay_text));
  g_clear_error (&error);

  /* Cancelled: at once. */
  g_cancellable_cancel (cancellable);
  start = g_get_monotonic_time ();
  found = resolve (directory, hint, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  foctet_discovery_stop (directory);
}

/* The relay restarts: the node reserves again by itself and publishes
 * again, and is found again. */
static void
test_directory_republish (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *address = g_strdup (fixture->relay_address);
  g_autoptr(FoctetNode) a = make_publishing_node (fixture);
  g_autoptr(FoctetDiscovery) directory = make_directory (fixture->client);
  g_autoptr(FoctetTicket) hint = relay_hint (foctet_node_get_node_id (a), fixture->relay_address);
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  found = resolve_until (directory, hint, TRUE, 10, NULL);
  g_clear_object (&found);

  stop_relay (fixture, SIGKILL);
  start_relay (fixture, address, NULL);
  g_assert_cmpstr (fixture->relay_address, ==, address);
  /* The new relay knows nobody until A is back. */
  start = g_get_monotonic_time ();
  found = resolve_until (directory, hint, TRUE, 20, NULL);
  g_test_message ("found again after %.1f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (found), foctet_node_get_node_id (a)));
  foctet_discovery_stop (directory);
  foctet_test_node_shutdown (a, TIMEOUT);
}

/* A "relay" that accepts TCP connections and says nothing: the resolve
 * ends at its time limit, with NOT_FOUND saying so, and no later. */
static void
test_directory_timeout (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(FoctetDiscovery) directory = make_directory (fixture->client);
  g_autoptr(GSocketListener) silent = g_socket_listener_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) stranger = foctet_identity_generate (&error);
  g_autoptr(FoctetTicket) hint = NULL;
  g_autoptr(FoctetTicket) found = NULL;
  g_autofree char *address = NULL;
  guint timeout = 0;
  gint64 start, elapsed;

  g_assert_no_error (error);
  /* The kernel completes the TCP handshakes; nobody ever reads. */
  g_assert_true (g_socket_listener_add_address (silent, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &bound, &error));
  g_assert_no_error (error);
  address = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  hint = relay_hint (foctet_identity_get_node_id (stranger), address);

  g_object_get (directory, "lookup-timeout", &timeout, NULL);
  g_assert_cmpuint (timeout, ==, 10000);
  g_object_set (directory, "lookup-timeout", 500, NULL);
  start = g_get_monotonic_time ();
  found = resolve (directory, hint, NULL, &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_null (found);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000, error->message);
  g_assert_nonnull (strstr (error->message, "no relay answered within 500 ms"));
  g_assert_cmpint (elapsed, >=, 450 * 1000);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
  foctet_discovery_stop (directory);
}


/* ------------------------------------------------------------------ */
/* Raw circuits                                                        */

/* A checked echo of @size bytes over @connection. */
static void
echo_checked (FoctetConnection *connection,
              gsize             size,
              guint             seed)
{
  guint n_done = 0;
  FoctetTestEcho *echo = foctet_test_echo_start (connection, size, seed, &n_done);

  wait_count (&n_done, 1);
  foctet_test_echo_check (echo);
}

static void
ping_once (FoctetConnection *connection)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (connection);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (foctet_pinger_ping_finish (pinger, result, &error), >, 0);
  g_assert_no_error (error);
}

/* Waits for the relay's log to hold @n lines containing @needle. */
static void
wait_log (Fixture    *fixture,
          const char *needle,
          guint       n)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (relay_log_count (fixture->log, needle) < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* Every circuit line of the log with @needle says the circuit closed:
 * both ends closed their side, or a node closed its connection (which is
 * what a node does when it closes one with a circuit in it), not an error. */
static void
assert_circuits_closed (Fixture    *fixture,
                        const char *needle)
{
  g_auto(GStrv) lines = g_strsplit (fixture->log->text->str, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], needle) != NULL && strstr (lines[i], " bytes up, ") != NULL)
      {
        if (!g_regex_match_simple (", [0-9.]+ s, closed( by the (dialer|target) \\(.+\\))?$", lines[i], 0, 0))
          g_error ("a circuit that did not close: %s", lines[i]);
        n++;
      }
  g_assert_cmpuint (n, >, 0);
}

/* By default a dial through the relay makes a raw circuit: ping, perf
 * and a checked echo of 16 MiB each way go over it, and the relay logs
 * it as one, with the bytes it spliced. */
static void
test_raw_ping_perf (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay",
                                                                  NULL, &error, TIMEOUT);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;
  const char *line;

  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "relay");
  ping_once (connection);
  foctet_perf_run_async (connection, 8 * 1024 * 1024, 8 * 1024 * 1024, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (perf->download_bytes, ==, 8 * 1024 * 1024);
  echo_checked (connection, 16 * 1024 * 1024 + 13, 7);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 1);
  g_assert_cmpuint (relay_stat (fixture, "circuits_total"), ==, 1);
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, 0);
  /* Every byte went through the splice: at least the payloads. */
  g_assert_cmpuint (relay_stat (fixture, "bytes_relayed"), >, 2 * (16 * 1024 * 1024) + 16 * 1024 * 1024);

  foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
  wait_log (fixture, "raw circuit ", 1);
  line = strstr (fixture->log->text->str, "raw circuit ");
  g_assert_nonnull (strstr (line, " bytes up, "));
  assert_circuits_closed (fixture, "raw circuit ");
  g_assert_cmpuint (relay_log_count (fixture->log, ": circuit "), ==, 0);
}

static const char * const no_raw_options[] = { "--no-raw-circuits", NULL };
static const char * const normal_scheduling_options[] = { "--scheduling", "normal", NULL };
static const char * const dual_stack_options[] = { "--listen", "[::1]:0", NULL };

/* A relay on 127.0.0.1 and on [::1] (two --listen; an IPv6 listener takes
 * IPv6 only): a node reserves over IPv6, the relay sees it there, and the
 * client reaches it through a raw circuit over IPv6 — on the same raw
 * port number as over IPv4, since RAW_CIRCUIT names a port only — as it
 * reaches the fixture's server over IPv4. */
static void
test_dual_stack (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(FoctetNode) server6 = foctet_test_node_new ();
  g_autoptr(FoctetTicket) ticket6 = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *bound = NULL;
  g_auto(GStrv) observed = NULL;

  g_assert_cmpuint (g_strv_length (fixture->more_addresses), ==, 1);
  g_assert_true (g_str_has_prefix (fixture->more_addresses[0], "[::1]:"));
  uri = g_strconcat ("relay/", fixture->more_addresses[0], NULL);
  bound = foctet_test_node_listen_full (server6, uri, &error, TIMEOUT);
  g_assert_no_error (error);
  observed = foctet_node_get_observed_addresses (server6);
  g_assert_cmpuint (g_strv_length (observed), ==, 1);
  g_assert_true (g_str_has_prefix (observed[0], "[::1]:"));
  ticket6 = foctet_node_get_ticket (server6);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(FoctetConnection) connection = NULL;
      g_autoptr(FoctetPinger) pinger = NULL;
      g_autoptr(GAsyncResult) result = NULL;
      GAsyncResult *slot = NULL;

      connection = foctet_test_node_dial (fixture->client, i == 0 ? ticket6 : fixture->ticket, NULL, NULL, &error,
                                          TIMEOUT);
      g_assert_no_error (error);
      g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "relay");
      pinger = foctet_pinger_new (connection);
      foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      g_assert_cmpint (foctet_pinger_ping_finish (pinger, result, &error), >, 0);
      g_assert_no_error (error);
    }
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 2);
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, 0);
  foctet_test_node_shutdown (server6, TIMEOUT);
}

/* A relay that offers no raw circuits refuses connect-raw/1: the dialer
 * falls back to a v1 circuit at once, and keeps to v1 on that relay. */
static void
test_raw_fallback (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) first = NULL;
  g_autoptr(FoctetConnection) second = NULL;
  gint64 start = g_get_monotonic_time ();

  first = foctet_test_node_dial (fixture->client, fixture->ticket, "relay", NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  ping_once (first);
  echo_checked (first, 4 * 1024 * 1024 + 1, 3);
  second = foctet_test_node_dial (fixture->client, fixture->ticket, "relay", NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  echo_checked (second, 1024 * 1024, 4);
  g_assert_cmpuint (relay_stat (fixture, "circuits_total"), ==, 2);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 0);
  foctet_connection_close_async (first, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
  foctet_connection_close_async (second, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
  wait_log (fixture, ": circuit ", 2);
  assert_circuits_closed (fixture, ": circuit ");
  g_assert_cmpuint (relay_log_count (fixture->log, ": raw circuit "), ==, 0);
}

/* Reads one message of @set from @stream. */
static FoctetRelayMessage *
read_message_in (FoctetStream          *stream,
                 FoctetRelayMessageSet  set)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  FoctetRelayMessage *message;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (stream));

  foctet_relay_message_read_in_async (in, set, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  message = foctet_relay_message_read_finish (in, result, &error);
  g_assert_no_error (error);
  return message;
}

/* Asks the relay, as a raw client, for a raw circuit to the server: its
 * RAW_CIRCUIT. */
static FoctetRelayMessage *
request_raw_circuit (Fixture          *fixture,
                     FoctetConnection *connection)
{
  g_autoptr(FoctetRelayMessage) connect = foctet_relay_message_new_connect (foctet_node_get_node_id (fixture->server));
  g_autoptr(GBytes) bytes = foctet_relay_message_encode (connect);
  g_autoptr(FoctetStream) stream = open_raw (connection, FOCTET_RELAY_PROTOCOL_CONNECT_RAW,
                                             g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  FoctetRelayMessage *answer = read_message_in (stream, FOCTET_RELAY_MESSAGES_RAW);

  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_RAW_CIRCUIT);
  g_assert_cmpuint (answer->port, >, 0);
  return answer;
}

/* A TCP connection to the relay's raw port; @data is written first. */
static GSocketConnection *
raw_port_connect (Fixture      *fixture,
                  guint16       port,
                  const guint8 *data,
                  gsize         len)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  if (len > 0)
    {
      g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), data, len,
                                                NULL, NULL, &error));
      g_assert_no_error (error);
    }
  return connection;
}

/* The relay closes @connection within @seconds: end of stream or reset. */
static void
expect_closed (GSocketConnection *connection,
               guint              seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  guint8 byte;

  g_input_stream_read_async (in, &byte, 1, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, seconds);
  g_assert_cmpint (g_input_stream_read_finish (in, result, &error), <=, 0);
  if (error != NULL)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static const char * const raw_token_options[] = { "--circuit-setup-timeout", "1", NULL };

/* Nobody but the node the relay gave a token to gets an end of a raw
 * circuit: a wrong token, garbage, silence, an expired token and a used
 * one each get the connection closed and are counted; the right token
 * gets a circuit to the target, which a real handshake goes through. */
static void
test_raw_tokens (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetConnection) control = connect_as_relay_client_with (fixture, "tls", identity);
  g_autoptr(FoctetRelayMessage) expiring = NULL;
  g_autoptr(FoctetRelayMessage) good = NULL;
  g_autoptr(GSocketConnection) wrong = NULL;
  g_autoptr(GSocketConnection) garbage = NULL;
  g_autoptr(GSocketConnection) silent = NULL;
  g_autoptr(GSocketConnection) late = NULL;
  g_autoptr(GSocketConnection) claimed = NULL;
  g_autoptr(GSocketConnection) again = NULL;
  g_autoptr(GBytes) preamble = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetTlsStream) tls = NULL;
  GAsyncResult *slot = NULL;
  guint8 bad[FOCTET_RELAY_RAW_PREAMBLE_SIZE];
  gint64 start;

  /* A token the relay never gave. */
  expiring = request_raw_circuit (fixture, control);
  memset (bad, 0x55, sizeof bad);
  memcpy (bad, FOCTET_RELAY_RAW_MAGIC, FOCTET_RELAY_RAW_MAGIC_SIZE);
  wrong = raw_port_connect (fixture, expiring->port, bad, sizeof bad);
  expect_closed (wrong, 5);

  /* Not the magic: here, the start of a TLS ClientHello. */
  memset (bad, 0, sizeof bad);
  bad[0] = 0x16;
  bad[1] = 0x03;
  bad[2] = 0x01;
  garbage = raw_port_connect (fixture, expiring->port, bad, sizeof bad);
  expect_closed (garbage, 5);

  /* Nothing at all: closed after the setup timeout (1 s here). */
  start = g_get_monotonic_time ();
  silent = raw_port_connect (fixture, expiring->port, NULL, 0);
  expect_closed (silent, 5);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC * 9 / 10);

  /* By now the first token has expired (the target claimed its end,
   * this dialer never did), and the circuit is gone. */
  wait_log (fixture, "did not claim its end", 1);
  preamble = foctet_relay_raw_preamble_new (expiring->token);
  late = raw_port_connect (fixture, expiring->port, g_bytes_get_data (preamble, NULL), g_bytes_get_size (preamble));
  expect_closed (late, 5);
  g_clear_pointer (&preamble, g_bytes_unref);

  /* The right token: spliced to the server, which answers a handshake
   * as itself. */
  good = request_raw_circuit (fixture, control);
  preamble = foctet_relay_raw_preamble_new (good->token);
  claimed = raw_port_connect (fixture, good->port, g_bytes_get_data (preamble, NULL), g_bytes_get_size (preamble));
  foctet_tls_stream_handshake_async (G_IO_STREAM (claimed), identity, FALSE, FOCTET_TLS_ALPN,
                                     foctet_node_get_node_id (fixture->server), 5000, NULL,
                                     foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  tls = foctet_tls_stream_handshake_finish (result, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_tls_stream_get_peer_id (tls), foctet_node_get_node_id (fixture->server)));
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 1);

  /* Used once: the same token again is refused. */
  again = raw_port_connect (fixture, good->port, g_bytes_get_data (preamble, NULL), g_bytes_get_size (preamble));
  expect_closed (again, 5);

  /* wrong, garbage, silent, the expired token unclaimed, late, again. */
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, 6);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 1);
  dial_through_relay_works (fixture);
  foctet_connection_close_async (control, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
}

/* The relay's raw port, as its log says. */
static guint16
raw_port_from_log (Fixture *fixture)
{
  const char *needle = "foctet-relay: raw circuits on port ";
  const char *line;

  wait_log (fixture, needle, 1);
  line = strstr (fixture->log->text->str, needle);
  return (guint16) g_ascii_strtoull (line + strlen (needle), NULL, 10);
}

/* Resets @connection: closed with a linger of 0, an RST and no FIN. */
static void
reset_connection (GSocketConnection *connection)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  struct linger linger = { 1, 0 };
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger, sizeof linger), ==, 0);
  g_socket_close (socket, &error);
  g_assert_no_error (error);
}

/* @n connections to the raw port that the relay reads nothing from:
 * reset while the relay is stopped (SIGSTOP), so that each is reset
 * before it is even accepted. */
static void
raw_port_resets (Fixture *fixture,
                 guint16  port,
                 guint    n)
{
  g_subprocess_send_signal (fixture->relay, SIGSTOP);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GSocketConnection) connection = raw_port_connect (fixture, port, NULL, 0);

      reset_connection (connection);
    }
  g_subprocess_send_signal (fixture->relay, SIGCONT);
}

#define FLOOD_RESETS 5                /* at the start, and as many at the end */
#define FLOOD_GARBAGE 30
#define FLOOD_TOTAL (2 * FLOOD_RESETS + FLOOD_GARBAGE)
#define FLOOD_BURST 10                /* the relay's: FOCTET_LOG_LIMIT_DEFAULT_BURST */

/* A stranger flooding the raw port (connections reset at once, garbage)
 * makes the relay write a bounded number of lines: ten (in ten seconds),
 * then one that says how many more were refused (here when the relay
 * stops, before the window's end); each names the remote address, those
 * of the connections reset before the relay read anything too.  The
 * counter counts them all. */
static void
test_raw_flood (Fixture       *fixture,
                gconstpointer  data)
{
  guint16 port = raw_port_from_log (fixture);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  g_autofree char *summary_prefix = NULL;
  const char *summary;
  guint8 garbage[FOCTET_RELAY_RAW_PREAMBLE_SIZE];

  raw_port_resets (fixture, port, FLOOD_RESETS);
  /* Not the magic: the start of a TLS ClientHello. */
  memset (garbage, 0, sizeof garbage);
  garbage[0] = 0x16;
  garbage[1] = 0x03;
  garbage[2] = 0x01;
  for (guint i = 0; i < FLOOD_GARBAGE; i++)
    {
      g_autoptr(GSocketConnection) connection = raw_port_connect (fixture, port, garbage, sizeof garbage);

      expect_closed (connection, 5);
    }
  raw_port_resets (fixture, port, FLOOD_RESETS);

  while (relay_stat (fixture, "refused_raw") < FLOOD_TOTAL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (50 * 1000);
    }
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, FLOOD_TOTAL);
  g_assert_cmpuint (relay_log_count (fixture->log, "raw connection from "), ==, FLOOD_BURST);
  g_assert_cmpuint (relay_log_count (fixture->log, "more raw connections refused"), ==, 0);

  /* The rest are said when the relay stops. */
  stop_relay (fixture, SIGTERM);
  summary_prefix = g_strdup_printf ("%u more raw connections refused in ", FLOOD_TOTAL - FLOOD_BURST);
  g_assert_cmpuint (relay_log_count (fixture->log, "more raw connections refused"), ==, 1);
  summary = strstr (fixture->log->text->str, summary_prefix);
  g_assert_nonnull (summary);
  g_assert_nonnull (strstr (summary, " s, the last: raw connection from 127.0.0.1:"));
  /* The burst, and the last one in the summary: each with its address. */
  g_assert_cmpuint (relay_log_count (fixture->log, "raw connection from "), ==, FLOOD_BURST + 1);
  g_assert_cmpuint (relay_log_count (fixture->log, "raw connection from 127.0.0.1:"), ==, FLOOD_BURST + 1);
  g_assert_cmpuint (relay_log_count (fixture->log, "from unknown"), ==, 0);
  g_assert_cmpuint (relay_log_count (fixture->log, "Connection reset by peer"), >, 0);
}

#define RAW_PENDING_PER_HOST 32        /* the relay's RAW_PENDING_MAX_PER_HOST */

/* Connections to the raw port that say nothing hold a descriptor of the
 * relay's each until they time out: one host may have 32 such at once,
 * the next is refused at once, and those that end give their place back
 * (a raw circuit, whose two ends come from the same host, works again). */
static void
test_raw_pending_per_host (Fixture       *fixture,
                           gconstpointer  data)
{
  guint16 port = raw_port_from_log (fixture);
  g_autoptr(GPtrArray) silent = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GSocketConnection) extra = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *says = g_strdup_printf ("%u connections from 127.0.0.1 wait for their token already",
                                           RAW_PENDING_PER_HOST);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  for (guint i = 0; i < RAW_PENDING_PER_HOST; i++)
    g_ptr_array_add (silent, raw_port_connect (fixture, port, NULL, 0));
  /* Accepted after them: refused, without waiting for a token. */
  extra = raw_port_connect (fixture, port, NULL, 0);
  expect_closed (extra, 5);
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, 1);
  wait_log (fixture, says, 1);

  for (guint i = 0; i < silent->len; i++)
    g_assert_true (g_io_stream_close (silent->pdata[i], NULL, NULL));
  while (relay_stat (fixture, "refused_raw") < RAW_PENDING_PER_HOST + 1)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
  connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay", NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  ping_once (connection);
  g_assert_cmpuint (relay_stat (fixture, "raw_circuits_total"), ==, 1);
  g_assert_cmpuint (relay_stat (fixture, "refused_raw"), ==, RAW_PENDING_PER_HOST + 1);
}

/* Waits for the stream the relay opens on @connection that @slot (of
 * foctet_connection_accept_stream_async(), called before the relay could
 * open it: a connection no node serves refuses streams nobody is
 * accepting) gets; returns it and its protocol in @protocol. */
static FoctetStream *
accept_relay_stream (FoctetConnection  *connection,
                     GAsyncResult     **accept_slot,
                     char             **protocol)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  FoctetStream *stream;

  result = foctet_test_wait_result (accept_slot, TIMEOUT);
  stream = foctet_connection_accept_stream_finish (connection, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  foctet_stream_read_header_async (stream, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  *protocol = g_strdup (foctet_stream_read_header_finish (stream, result, &error));
  g_assert_no_error (error);
  return stream;
}

/* A target of before raw circuits (a raw client here) refuses the
 * incoming-raw stream: the relay tells the dialer so (ERROR 10) and the
 * dialer asks again with connect/1 at once, which reaches the target as
 * incoming/1. */
static void
old_target_refuses (Fixture            *fixture,
                    FoctetRelayMessage *refusal,
                    const char         *expected)
{
  g_autoptr(FoctetNodeId) old_id = NULL;
  g_autoptr(FoctetConnection) old = connect_as_relay_client (fixture, "tls", &old_id);
  g_autoptr(FoctetStream) reserve = reserve_raw (old);
  g_autoptr(FoctetStream) raw_offer = NULL;
  g_autoptr(FoctetStream) v1_offer = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (old_id);
  g_autoptr(FoctetRelayMessage) incoming = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) read_result = NULL;
  GAsyncResult *read_slot = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autofree char *protocol = NULL;
  GAsyncResult *slot = NULL;
  GAsyncResult *accept_slot = NULL;

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  foctet_connection_accept_stream_async (old, NULL, foctet_test_store_result, &accept_slot);
  foctet_node_dial_async (fixture->client, ticket, "relay", NULL, foctet_test_store_result, &slot);

  raw_offer = accept_relay_stream (old, &accept_slot, &protocol);
  g_assert_cmpstr (protocol, ==, FOCTET_RELAY_PROTOCOL_INCOMING_RAW);
  foctet_connection_accept_stream_async (old, NULL, foctet_test_store_result, &accept_slot);
  foctet_stream_reset (raw_offer, FOCTET_CLOSE_CODE_REFUSED);
  g_clear_pointer (&protocol, g_free);

  v1_offer = accept_relay_stream (old, &accept_slot, &protocol);
  g_assert_cmpstr (protocol, ==, FOCTET_RELAY_PROTOCOL_INCOMING);
  foctet_relay_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (v1_offer)), G_PRIORITY_DEFAULT, NULL,
                                   foctet_test_store_result, &read_slot);
  read_result = foctet_test_wait_result (&read_slot, TIMEOUT);
  incoming = foctet_relay_message_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (v1_offer)), read_result,
                                               &error);
  g_assert_no_error (error);
  g_assert_cmpint (incoming->type, ==, FOCTET_RELAY_MESSAGE_INCOMING);
  g_assert_true (foctet_node_id_equal (incoming->node_id, foctet_node_get_node_id (fixture->client)));
  write_message_on (v1_offer, refusal);

  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, expected));
  g_assert_cmpuint (relay_stat (fixture, "refused_raw_unsupported"), ==, 1);
  g_assert_cmpuint (relay_stat (fixture, "refused_refused_by_target"), ==, 1);
  foctet_connection_close_async (old, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
}

static void
store_connection_cb (FoctetTransport   *transport,
                     FoctetConnection  *connection,
                     FoctetConnection **slot)
{
  if (*slot == NULL)
    *slot = g_object_ref (connection);
}

/* A relay offers a circuit to a node that holds no reservation with it
 * (here a relay of the test's own, to which the node connected to dial
 * through it): the node answers ERROR 5, as docs/protocol.md says,
 * rather than refusing the stream, which a relay would take for a node
 * of before raw circuits. */
static void
test_not_reserved_refuses (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) relay_identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) target_identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) relay = NULL;
  g_autoptr(FoctetConnection) link = NULL;
  g_autoptr(FoctetStream) offer = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetRelayMessage) incoming = NULL;
  g_autoptr(FoctetRelayMessage) answer = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) accepted = NULL;
  g_autofree char *address = NULL;
  GAsyncResult *slot = NULL;
  GAsyncResult *dial_slot = NULL;
  GAsyncResult *accept_slot = NULL;
  GInputStream *in;
  gint64 deadline;

  g_assert_no_error (error);
  relay = foctet_registry_create_transport (foctet_registry_get_default (), "tls", relay_identity, &error);
  g_assert_no_error (error);
  g_object_set (relay, "alpn", FOCTET_RELAY_ALPN, NULL);
  g_signal_connect (relay, "incoming", G_CALLBACK (store_connection_cb), &link);
  foctet_transport_listen_async (relay, "127.0.0.1:0", NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  address = foctet_transport_listen_finish (relay, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  /* The client dials a node through this relay: it connects and asks for
   * a circuit, which the relay never answers. */
  ticket = foctet_ticket_new (foctet_identity_get_node_id (target_identity));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, address, &error));
  foctet_node_dial_async (fixture->client, ticket, "relay", cancellable, foctet_test_store_result, &dial_slot);
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  while (link == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  foctet_connection_accept_stream_async (link, NULL, foctet_test_store_result, &accept_slot);

  /* Meanwhile the relay offers it a circuit. */
  offer = foctet_test_open_stream (link, FOCTET_RELAY_PROTOCOL_INCOMING, &error, TIMEOUT);
  g_assert_no_error (error);
  incoming = foctet_relay_message_new_incoming (foctet_identity_get_node_id (target_identity), "192.0.2.1:4433",
                                                &error);
  g_assert_no_error (error);
  write_message_on (offer, incoming);
  in = g_io_stream_get_input_stream (G_IO_STREAM (offer));
  foctet_relay_message_read_async (in, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  answer = foctet_relay_message_read_finish (in, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (answer->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
  g_test_message ("ERROR %u: %s", answer->error_code, answer->error_text);
  g_assert_cmpuint (answer->error_code, ==, FOCTET_RELAY_ERROR_CODE_REFUSED);

  g_cancellable_cancel (cancellable);
  g_clear_object (&result);
  result = foctet_test_wait_result (&dial_slot, TIMEOUT);
  g_assert_null (foctet_node_dial_finish (fixture->client, result, NULL));
  accepted = foctet_test_wait_result (&accept_slot, TIMEOUT);
  g_clear_object (&accepted);
  foctet_test_close_connection (link, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  g_signal_handlers_disconnect_by_data (relay, &link);
  foctet_transport_stop (relay);
}

static void
test_raw_old_target (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(FoctetRelayMessage) refusal = foctet_relay_message_new_error (FOCTET_RELAY_ERROR_CODE_REFUSED, "old and busy");

  old_target_refuses (fixture, refusal, "old and busy");
}

/* A target's refusal with a code of a later version and no text: the
 * dialer is told the code. */
static void
test_target_refuses_unknown_code (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autoptr(FoctetRelayMessage) refusal = foctet_relay_message_new_error (1000, "");

  old_target_refuses (fixture, refusal, "refused the circuit: error code 1000");
}

/* A target that takes the incoming stream and never answers: after the
 * circuit-setup timeout the relay resets that stream and the dialer gets
 * ERROR 6 (docs/protocol.md, "Limits and time-outs"), for a raw circuit
 * (@raw) and a v1 one alike. */
static void
silent_target (Fixture  *fixture,
               gboolean  raw)
{
  g_autoptr(FoctetNodeId) silent_id = NULL;
  g_autoptr(FoctetConnection) silent = connect_as_relay_client (fixture, "tls", &silent_id);
  g_autoptr(FoctetStream) reserve = reserve_raw (silent);
  g_autoptr(FoctetStream) offer = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (silent_id);
  g_autoptr(FoctetRelayMessage) incoming = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autofree char *protocol = NULL;
  GAsyncResult *slot = NULL;
  GAsyncResult *accept_slot = NULL;
  GInputStream *in;
  guint8 byte;
  gint64 dialed;

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  foctet_connection_accept_stream_async (silent, NULL, foctet_test_store_result, &accept_slot);
  dialed = g_get_monotonic_time ();
  foctet_node_dial_async (fixture->client, ticket, "relay", NULL, foctet_test_store_result, &slot);

  offer = accept_relay_stream (silent, &accept_slot, &protocol);
  if (!raw)
    {
      /* Refuse the raw offer as a node of before raw circuits does: the
       * dialer asks again with connect/1. */
      g_assert_cmpstr (protocol, ==, FOCTET_RELAY_PROTOCOL_INCOMING_RAW);
      foctet_connection_accept_stream_async (silent, NULL, foctet_test_store_result, &accept_slot);
      foctet_stream_reset (offer, FOCTET_CLOSE_CODE_REFUSED);
      g_clear_object (&offer);
      g_clear_pointer (&protocol, g_free);
      offer = accept_relay_stream (silent, &accept_slot, &protocol);
    }
  g_assert_cmpstr (protocol, ==, raw ? FOCTET_RELAY_PROTOCOL_INCOMING_RAW : FOCTET_RELAY_PROTOCOL_INCOMING);
  incoming = read_message_in (offer, raw ? FOCTET_RELAY_MESSAGES_RAW : FOCTET_RELAY_MESSAGES_CIRCUIT);
  g_assert_cmpint (incoming->type, ==, raw ? FOCTET_RELAY_MESSAGE_INCOMING_RAW : FOCTET_RELAY_MESSAGE_INCOMING);

  /* Silence: the dialer is refused once the relay stops waiting ... */
  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_assert_nonnull (strstr (error->message, "did not answer within 1 s"));
  g_assert_cmpint (g_get_monotonic_time () - dialed, >=, G_USEC_PER_SEC);
  g_clear_error (&error);
  g_clear_object (&result);

  /* ... and the incoming stream is reset, not left open. */
  in = g_io_stream_get_input_stream (G_IO_STREAM (offer));
  g_input_stream_read_async (in, &byte, 1, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (g_input_stream_read_finish (in, result, &error), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_assert_cmpuint (relay_stat (fixture, "refused_target_unreachable"), ==, 1);
  foctet_connection_close_async (silent, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
}

static void
test_raw_silent_target (Fixture       *fixture,
                        gconstpointer  data)
{
  silent_target (fixture, TRUE);
}

static void
test_silent_target (Fixture       *fixture,
                    gconstpointer  data)
{
  silent_target (fixture, FALSE);
}

/* foctet-relay's usage errors: one line naming what is wrong, exit 2
 * (CLI.md); --help exits 0. */
static void
test_usage (void)
{
  const struct {
    const char *args[4];
    const char *says;
  } cases[] = {
    { { NULL }, "--listen HOST:PORT is required" },
    { { "--listen", "nonsense" }, "--listen: " },
    { { "--listen", "127.0.0.1:0", "--bogus" }, "--bogus" },
    { { "--listen", "127.0.0.1:0", "extra" }, "unexpected argument 'extra'" },
    { { "--listen", "127.0.0.1:0", "--max-connections-per-address=0" }, "--max-connections-per-address must be 1 to 65536" },
    { { "--listen", "127.0.0.1:0", "--max-connections-per-client=0" }, "--max-connections-per-client must be at least 1" },
    { { "--listen", "127.0.0.1:0", "--circuit-setup-timeout=0" }, "--circuit-setup-timeout must be 1 to 3600" },
    { { "--listen", "127.0.0.1:0", "--rate=fast" }, "--rate" },
    { { "--listen", "127.0.0.1:0", "--max-circuits=x" }, "--max-circuits" },
    { { "--listen", "127.0.0.1:0", "--scheduling=idle" }, "--scheduling: “idle” is neither “batch” nor “normal”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GPtrArray) argv = g_ptr_array_new ();
      g_autoptr(GSubprocess) proc = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *out = NULL, *err = NULL;

      g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_RELAY"));
      for (guint j = 0; j < G_N_ELEMENTS (cases[i].args) && cases[i].args[j] != NULL; j++)
        g_ptr_array_add (argv, (char *) cases[i].args[j]);
      g_ptr_array_add (argv, NULL);
      proc = g_subprocess_newv ((const char * const *) argv->pdata,
                                G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
      g_assert_no_error (error);
      g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error));
      g_assert_no_error (error);
      g_test_message ("%s", err);
      g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 2);
      g_assert_cmpstr (out, ==, "");
      g_assert_true (g_str_has_prefix (err, "foctet-relay: "));
      g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
      if (strstr (err, cases[i].says) == NULL)
        g_error ("“%s” does not say “%s”", err, cases[i].says);
    }
  {
    const char *argv[] = { g_getenv ("FOCTET_RELAY"), "--help", NULL };
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;

    proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error));
    g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
    g_assert_nonnull (strstr (out, "--max-connections-per-address"));
  }
}

/* The scheduling policy of every thread of the relay, which must all be
 * @policy. */
static void
assert_relay_scheduling (Fixture *fixture,
                         int      policy)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/task", g_subprocess_get_identifier (fixture->relay));
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) error = NULL;
  const char *name;
  guint threads = 0;

  dir = g_dir_open (path, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      int got = sched_getscheduler ((pid_t) g_ascii_strtoll (name, NULL, 10));

      /* A thread may end between the listing and the question. */
      if (got < 0 && errno == ESRCH)
        continue;
      g_assert_cmpint (got, ==, policy);
      threads++;
    }
  g_assert_cmpuint (threads, >=, 1);
}

/* The relay runs under SCHED_BATCH unless told otherwise, and relays
 * all the same. */
static void
test_scheduling (Fixture       *fixture,
                 gconstpointer  data)
{
  const char * const *extra = data;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;


  connection = foctet_test_node_dial (fixture->client, fixture->ticket, "relay", NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  echo_checked (connection, 4 * 1024 * 1024, 7);
  assert_relay_scheduling (fixture, extra == NULL ? SCHED_BATCH : SCHED_OTHER);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FOCTET_RELAY"));

  g_test_add_func ("/relay/usage", test_usage);
  g_test_add ("/relay/scheduling/batch", Fixture, NULL, fixture_setup, test_scheduling, fixture_teardown);
  g_test_add ("/relay/scheduling/normal", Fixture, normal_scheduling_options, fixture_setup, test_scheduling,
              fixture_teardown);
  g_test_add ("/relay/ping-perf", Fixture, NULL, fixture_setup, test_ping_perf, fixture_teardown);
  g_test_add ("/relay/raw/ping-perf", Fixture, NULL, fixture_setup, test_raw_ping_perf, fixture_teardown);
  g_test_add ("/relay/raw/fallback-v1", Fixture, no_raw_options, fixture_setup, test_raw_fallback,
              fixture_teardown);
  g_test_add ("/relay/raw/old-target", Fixture, NULL, fixture_setup, test_raw_old_target, fixture_teardown);
  g_test_add ("/relay/not-reserved-refuses", Fixture, NULL, fixture_setup, test_not_reserved_refuses,
              fixture_teardown);
  g_test_add ("/relay/raw/target-refuses-unknown-code", Fixture, NULL, fixture_setup, test_target_refuses_unknown_code,
              fixture_teardown);
  g_test_add ("/relay/dual-stack", Fixture, dual_stack_options, fixture_setup, test_dual_stack, fixture_teardown);
  g_test_add ("/relay/raw/silent-target", Fixture, raw_token_options, fixture_setup, test_raw_silent_target,
              fixture_teardown);
  g_test_add ("/relay/silent-target", Fixture, raw_token_options, fixture_setup, test_silent_target,
              fixture_teardown);
  g_test_add ("/relay/raw/pending-per-host", Fixture, NULL, fixture_setup, test_raw_pending_per_host,
              fixture_teardown);
  g_test_add ("/relay/raw/tokens", Fixture, raw_token_options, fixture_setup, test_raw_tokens, fixture_teardown);
  g_test_add ("/relay/raw/flood", Fixture, NULL, fixture_setup, test_raw_flood, fixture_teardown);
  g_test_add ("/relay/fallback", Fixture, NULL, fixture_setup, test_fallback, fixture_teardown);
  g_test_add ("/relay/many-circuits", Fixture, many_circuits_options, fixture_setup, test_many_circuits,
              fixture_teardown);
  g_test_add ("/relay/circuit-limit", Fixture, circuit_limit_options, fixture_setup, test_circuit_limit,
              fixture_teardown);
  g_test_add ("/relay/reservation-limit", Fixture, reservation_limit_options, fixture_setup,
              test_reservation_limit, fixture_teardown);
  g_test_add ("/relay/no-reservation", Fixture, NULL, fixture_setup, test_no_reservation, fixture_teardown);
  g_test_add ("/relay/connection-limit", Fixture, connection_limit_options, fixture_setup, test_connection_limit,
              fixture_teardown);
  g_test_add ("/relay/first-request-timeout", Fixture, first_request_options, fixture_setup,
              test_first_request_timeout, fixture_teardown);
  g_test_add ("/relay/restart", Fixture, NULL, fixture_setup, test_restart, fixture_teardown);
  g_test_add ("/relay/shell-relay-lost", Fixture, NULL, fixture_setup, test_shell_relay_lost, fixture_teardown);
  g_test_add ("/relay/shell-kept-circuit", Fixture, no_raw_options, fixture_setup, test_shell_kept_circuit,
              fixture_teardown);
  g_test_add ("/relay/bad-clients", Fixture, NULL, fixture_setup, test_bad_clients, fixture_teardown);
  g_test_add ("/relay/rate", Fixture, rate_options, fixture_setup, test_rate, fixture_teardown);
  g_test_add ("/relay/rate-per-client", Fixture, client_rate_options, fixture_setup, test_rate_per_client,
              fixture_teardown);
  g_test_add ("/relay/rate-per-client-v1", Fixture, client_rate_v1_options, fixture_setup, test_rate_per_client,
              fixture_teardown);
  g_test_add ("/relay/idle-timeout", Fixture, idle_options, fixture_setup, test_idle_timeout, fixture_teardown);
  g_test_add ("/relay/directory/raw", Fixture, NULL, fixture_setup, test_directory_raw, fixture_teardown);
  g_test_add ("/relay/directory/bad", Fixture, NULL, fixture_setup, test_directory_bad, fixture_teardown);
  g_test_add ("/relay/directory/lookup-rate", Fixture, lookup_rate_options, fixture_setup, test_lookup_rate,
              fixture_teardown);
  g_test_add ("/relay/directory/discovery", Fixture, NULL, fixture_setup, test_directory_discovery,
              fixture_teardown);
  g_test_add ("/relay/directory/not-found", Fixture, NULL, fixture_setup, test_directory_not_found,
              fixture_teardown);
  g_test_add ("/relay/directory/republish", Fixture, NULL, fixture_setup, test_directory_republish,
              fixture_teardown);
  g_test_add ("/relay/directory/timeout", Fixture, NULL, fixture_setup, test_directory_timeout,
              fixture_teardown);
  return g_test_run ();
}

/* test-netns.c: foctet-shell and two nodes in separate network namespaces
 * over a link with delay and loss — serve in one, ping, perf and an
 * integrity check (seeded data, SHA-256 at both ends) from the other — once
 * per transport plugin that is there and each link condition; and the
 * lab's sweep of what dead runs left.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <foctet.h>

#include "netns-data.h"
#include "netns-lab.h"
#include "test-utils.h"

/* Per command; the link conditions below make even the lossiest case end
 * in a few seconds, so these only stop a hang. */
#define START_TIMEOUT 15
#define RUN_TIMEOUT 60

#define PERF_BYTES (8 * 1024 * 1024)
#define INTEGRITY_BYTES (4 * 1024 * 1024)
#define PING_COUNT 3

/* Transports to run over when their plugin is in FOCTET_PLUGIN_PATH. */
static const char * const transports[] = { "tls", "quic" };

typedef struct {
  const char *name;
  guint delay_ms;                /* one way: the RTT is twice this */
  double loss_percent;           /* each way */
} Condition;

static const Condition conditions[] = {
  { "direct", 0, 0 },
  { "rtt-50ms", 25, 0 },
  { "loss-1pct", 0, 1 },
  { "loss-5pct-rtt-50ms", 25, 5 },
};

typedef struct {
  const char *transport;
  const Condition *condition;
  char *path;
} Case;

typedef struct {
  NetnsLab *lab;
  char *tmpdir;
  GSubprocessLauncher *launcher;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const Case *c = data;
  NetnsLink link = {
    .delay_ms = c->condition->delay_ms,
    .loss_percent = c->condition->loss_percent,
    .seed = g_str_hash (c->path),
  };

  fixture->lab = netns_lab_new (&link);
  fixture->tmpdir = foctet_test_make_tmpdir ();
  /* stderr goes to the test log. */
  fixture->launcher = foctet_test_launcher_new (fixture->tmpdir, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_clear_pointer (&fixture->lab, netns_lab_free);
  g_clear_object (&fixture->launcher);
  foctet_test_remove_tree (fixture->tmpdir);
  g_clear_pointer (&fixture->tmpdir, g_free);
}

/* A server started in namespace a: its stdout, its ticket. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  char *ticket;
} Server;

static void
server_start (Server             *server,
              Fixture            *fixture,
              const char * const *argv)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_launcher_set_flags (fixture->launcher, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  server->process = netns_lab_spawn (fixture->lab, NETNS_SIDE_A, fixture->launcher, argv, &error);
  g_assert_no_error (error);
  server->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  server->ticket = netns_read_line (server->out, START_TIMEOUT);
  if (server->ticket == NULL)
    g_error ("%s printed no ticket within %d s", argv[0], START_TIMEOUT);
}

/* SIGTERM is how a server is meant to stop: at once, exit 0. */
static void
server_stop (Server *server)
{
  g_subprocess_send_signal (server->process, SIGTERM);
  g_assert_true (netns_wait_process (server->process, START_TIMEOUT));
  g_assert_true (g_subprocess_get_if_exited (server->process));
  g_assert_cmpint (g_subprocess_get_exit_status (server->process), ==, 0);
  g_clear_object (&server->process);
  g_clear_object (&server->out);
  g_clear_pointer (&server->ticket, g_free);
}

static int
run_in_b (Fixture            *fixture,
          const char * const *argv,
          char              **out)
{
  g_autofree char *err = NULL;
  int status;

  status = netns_lab_run (fixture->lab, NETNS_SIDE_B, fixture->launcher, argv, RUN_TIMEOUT, out, &err);
  if (status != 0)
    g_test_message ("%s %s exited %d: %s", argv[0], argv[1], status, err);
  return status;
}

static void
check_ping (Fixture    *fixture,
            const Case *c,
            const char *ticket)
{
  const char *shell = g_getenv ("FOCTET_SHELL");
  g_autofree char *identity = g_build_filename (fixture->tmpdir, "client", NULL);
  g_autofree char *count = g_strdup_printf ("%d", PING_COUNT);
  const char *argv[] = { shell, "--identity", identity, "ping", ticket, "--count", count,
                         "--transport", c->transport, NULL };
  g_autofree char *out = NULL;
  g_autofree char *pattern = g_strdup_printf ("^seq=([0-9]+) rtt=([0-9]+\\.[0-9]{3})ms via=%s$", c->transport);
  g_autoptr(GRegex) regex = g_regex_new (pattern, 0, 0, NULL);
  g_auto(GStrv) lines = NULL;

  g_assert_cmpint (run_in_b (fixture, argv, &out), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, PING_COUNT + 1);
  g_assert_cmpstr (lines[PING_COUNT], ==, "");
  for (guint i = 0; i < PING_COUNT; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *seq = NULL, *rtt = NULL;

      if (!g_regex_match (regex, lines[i], 0, &match))
        g_error ("ping printed “%s”", lines[i]);
      seq = g_match_info_fetch (match, 1);
      rtt = g_match_info_fetch (match, 2);
      g_assert_cmpuint (g_ascii_strtoull (seq, NULL, 10), ==, i + 1);
      /* A ping crosses the link twice. */
      g_assert_cmpfloat (g_ascii_strtod (rtt, NULL), >=, 2.0 * c->condition->delay_ms);
    }
  g_test_message ("ping: %s", g_strdelimit (out, "\n", ' '));
}

static void
check_perf (Fixture    *fixture,
            const Case *c,
            const char *ticket)
{
  const char *shell = g_getenv ("FOCTET_SHELL");
  g_autofree char *identity = g_build_filename (fixture->tmpdir, "client", NULL);
  const char *argv[] = { shell, "--identity", identity, "perf", ticket, "--upload", "8M",
                         "--download", "8M", "--transport", c->transport, "--json", NULL };
  g_autoptr(GRegex) regex = g_regex_new ("^\\{\"transport\": \"([a-z]+)\", \"upload_bytes\": ([0-9]+), "
                                         "\"download_bytes\": ([0-9]+), \"upload_seconds\": [0-9.]+, "
                                         "\"download_seconds\": [0-9.]+, \"handshake_seconds\": [0-9.]+\\}\n$",
                                         0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *out = NULL, *transport = NULL, *upload = NULL, *download = NULL;

  g_assert_cmpint (run_in_b (fixture, argv, &out), ==, 0);
  if (!g_regex_match (regex, out, 0, &match))
    g_error ("perf --json printed “%s”", out);
  transport = g_match_info_fetch (match, 1);
  upload = g_match_info_fetch (match, 2);
  download = g_match_info_fetch (match, 3);
  g_assert_cmpstr (transport, ==, c->transport);
  g_assert_cmpuint (g_ascii_strtoull (upload, NULL, 10), ==, PERF_BYTES);
  g_assert_cmpuint (g_ascii_strtoull (download, NULL, 10), ==, PERF_BYTES);
  g_test_message ("perf: %s", g_strchomp (out));
}

/* "received BYTES sha256=HEX" says BYTES of the stream of @seed arrived. */
static void
check_received (const char *who,
                const char *line,
                guint64     seed)
{
  g_autofree char *expected_digest = netns_data_sha256 (seed, INTEGRITY_BYTES);
  g_autofree char *expected = g_strdup_printf ("received %d sha256=%s", INTEGRITY_BYTES, expected_digest);

  if (g_strcmp0 (line, expected) != 0)
    g_error ("%s: “%s”, expected “%s”", who, line != NULL ? line : "(nothing)", expected);
}

static void
check_integrity (Fixture    *fixture,
                 const Case *c)
{
  const char *peer = g_getenv ("FOCTET_NETNS_PEER");
  g_autofree char *listen = g_strdup_printf ("%s/%s:0", c->transport,
                                             netns_lab_get_address (fixture->lab, NETNS_SIDE_A));
  const char *serve_argv[] = { peer, "serve", listen, NULL };
  guint64 seed = g_str_hash (c->path);
  g_autofree char *seed_text = g_strdup_printf ("%" G_GUINT64_FORMAT, seed);
  g_autofree char *bytes = g_strdup_printf ("%d", INTEGRITY_BYTES);
  g_autofree char *out = NULL, *line = NULL;
  Server server = { 0 };

  server_start (&server, fixture, serve_argv);
  {
    const char *send_argv[] = { peer, "send", server.ticket, c->transport, bytes, bytes, seed_text, NULL };

    g_assert_cmpint (run_in_b (fixture, send_argv, &out), ==, 0);
  }
  /* What the acceptor got, by its own account... */
  line = netns_read_line (server.out, START_TIMEOUT);
  check_received ("the receiving node", line, seed);
  /* ...and what came back. */
  check_received ("the sending node", g_strchomp (out), seed + 1);
  g_test_message ("integrity: %d bytes each way, SHA-256 as sent", INTEGRITY_BYTES);
  server_stop (&server);
}

static void
test_link (Fixture       *fixture,
           gconstpointer  data)
{
  const Case *c = data;
  const char *shell = g_getenv ("FOCTET_SHELL");
  g_autofree char *identity = g_build_filename (fixture->tmpdir, "server", NULL);
  g_autofree char *listen = g_strdup_printf ("%s/%s:0", c->transport,
                                             netns_lab_get_address (fixture->lab, NETNS_SIDE_A));
  const char *argv[] = { shell, "--identity", identity, "serve", "--listen", listen, NULL };
  Server server = { 0 };
  gint64 start = g_get_monotonic_time ();

  server_start (&server, fixture, argv);
  check_ping (fixture, c, server.ticket);
  check_perf (fixture, c, server.ticket);
  server_stop (&server);
  check_integrity (fixture, c);
  g_test_message ("%s over %s: %.1f s", c->path, netns_lab_get_impairment (fixture->lab),
                  (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
}

/* One QUIC stream may hold, written and not yet acknowledged, as much as
 * its whole connection: twice the congestion window, or 8 MiB where that
 * is less (the plugin's conn_send_budget ()).  A fixed bound of the
 * stream's own would cap it at that bound per round trip on a long, fast
 * path (8 MiB per 100 ms: 670 Mbit/s).  Over a 100 ms link the window
 * grows past 4 MiB during a 64 MiB upload; then one stream, written to
 * without the main loop turning, takes more than 8 MiB. */
#define BUDGET_FLOOR (8 * 1024 * 1024)
#define BUDGET_UPLOAD "67108864"

static void
test_stream_budget (Fixture       *fixture,
                    gconstpointer  data)
{
  const Case *c = data;
  const char *peer = g_getenv ("FOCTET_NETNS_PEER");
  g_autofree char *listen = g_strdup_printf ("%s/%s:0", c->transport,
                                             netns_lab_get_address (fixture->lab, NETNS_SIDE_A));
  const char *serve_argv[] = { peer, "serve", listen, NULL };
  g_autofree char *out = NULL;
  guint64 accepted;
  Server server = { 0 };

  server_start (&server, fixture, serve_argv);
  {
    const char *budget_argv[] = { peer, "budget", server.ticket, c->transport, BUDGET_UPLOAD, NULL };

    g_assert_cmpint (run_in_b (fixture, budget_argv, &out), ==, 0);
  }
  g_assert_true (g_str_has_prefix (out, "accepted "));
  accepted = g_ascii_strtoull (out + strlen ("accepted "), NULL, 10);
  g_test_message ("one stream took %" G_GUINT64_FORMAT " KiB unacknowledged after a 64 MiB upload over %s",
                  accepted / 1024, netns_lab_get_impairment (fixture->lab));
  g_assert_cmpuint (accepted, >, BUDGET_FLOOR);
  server_stop (&server);
}

/* Whether a plugin of @transport is in one of the FOCTET_PLUGIN_PATH
 * directories the tests load from. */
static gboolean
have_transport (const char *transport)
{
  g_auto(GStrv) dirs = g_strsplit (g_getenv ("FOCTET_PLUGIN_PATH"), G_SEARCHPATH_SEPARATOR_S, -1);
  g_autofree char *file = g_strdup_printf ("libfoctet-transport-%s.so", transport);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs[i], file, NULL);

      if (dirs[i][0] != '\0' && g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    }
  return FALSE;
}

/* Runs `ip ARGS...` to its end; fails the test unless it succeeds. */
static void
run_ip (const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_assert_true (netns_wait_process (process, START_TIMEOUT));
  g_assert_true (g_subprocess_get_successful (process));
}

/* The IPv6 addresses of /netns/shell/default-listen. */
#define LAB_IPV6_A "fd77:0:0:1::1"
#define LAB_IPV6_B "fd77:0:0:1::2"
#define LAB_IPV6_DEPRECATED "fd77:0:0:1::9"

/* Checks the addresses of @kind in @ticket: one on @ipv4 and, with
 * @ipv6, one on it (bracketed); never a wildcard; loopback ones (both
 * families where there is IPv6) after all others.  Returns the IPv6 one. */
static char *
check_default_addresses (FoctetTicket      *ticket,
                         FoctetAddressKind  kind,
                         const char        *ipv4,
                         const char        *ipv6)
{
  g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kind);
  g_autofree char *ipv4_prefix = g_strconcat (ipv4, ":", NULL);
  g_autofree char *ipv6_prefix = ipv6 != NULL ? g_strconcat ("[", ipv6, "]:", NULL) : NULL;
  char *found_ipv6 = NULL;
  gboolean found_ipv4 = FALSE, seen_loopback = FALSE;
  guint n_loopback = 0;

  for (guint i = 0; addresses[i] != NULL; i++)
    {
      gboolean loopback = g_str_has_prefix (addresses[i], "127.") || g_str_has_prefix (addresses[i], "[::1]:");

      g_test_message ("%s address %s", foctet_address_kind_to_transport (kind), addresses[i]);
      g_assert_null (strstr (addresses[i], LAB_IPV6_DEPRECATED));
      g_assert_false (g_str_has_prefix (addresses[i], "0.0.0.0:"));
      g_assert_false (g_str_has_prefix (addresses[i], "[::]:"));
      if (seen_loopback && !loopback)
        g_error ("%s comes after a loopback address", addresses[i]);
      seen_loopback |= loopback;
      n_loopback += loopback;
      found_ipv4 |= g_str_has_prefix (addresses[i], ipv4_prefix);
      if (ipv6_prefix != NULL && g_str_has_prefix (addresses[i], ipv6_prefix))
        found_ipv6 = g_strdup (addresses[i]);
      if (ipv6 == NULL)
        g_assert_null (strchr (addresses[i], '['));
    }
  g_assert_true (found_ipv4);
  /* In the order of the listeners: 0.0.0.0's first, then [::]'s. */
  g_assert_true (g_str_has_prefix (addresses[0], ipv4_prefix));
  g_assert_cmpuint (n_loopback, ==, ipv6 != NULL ? 2 : 1);
  if (ipv6 != NULL && found_ipv6 == NULL)
    g_error ("no %s address on %s in the ticket", foctet_address_kind_to_transport (kind), ipv6);
  return found_ipv6;
}

/* serve without --listen (CLI.md: "both, on all addresses, any port"):
 * quic and tls on every IPv4 address and, once an interface has an IPv6
 * address a peer could dial, on every IPv6 one too; from the other
 * namespace, each transport answers over IPv6 alone.  A deprecated IPv6
 * address is never in the ticket, and alone it does not count as IPv6. */
static void
test_default_listen (Fixture       *fixture,
                     gconstpointer  data)
{
  const char *shell = g_getenv ("FOCTET_SHELL");
  g_autofree char *identity = g_build_filename (fixture->tmpdir, "server", NULL);
  g_autofree char *client = g_build_filename (fixture->tmpdir, "client", NULL);
  const char *argv[] = { shell, "--identity", identity, "serve", NULL };
  const char *ipv4 = netns_lab_get_address (fixture->lab, NETNS_SIDE_A);

  (void) data;
  {
    const char *ip_argv[] = { "ip", "-n", netns_lab_get_namespace (fixture->lab, NETNS_SIDE_A), "-6", "addr", "add",
                              LAB_IPV6_DEPRECATED "/64", "dev", netns_lab_get_interface (fixture->lab, NETNS_SIDE_A),
                              "nodad", "preferred_lft", "0", NULL };

    run_ip (ip_argv);
  }
  for (guint with_ipv6 = 0; with_ipv6 < 2; with_ipv6++)
    {
      g_autoptr(FoctetTicket) ticket = NULL;
      g_autoptr(GError) error = NULL;
      Server server = { 0 };

      if (with_ipv6)
        for (guint side = NETNS_SIDE_A; side <= NETNS_SIDE_B; side++)
          {
            const char *ip_argv[] = { "ip", "-n", netns_lab_get_namespace (fixture->lab, side),
                                      "-6", "addr", "add",
                                      side == NETNS_SIDE_A ? LAB_IPV6_A "/64" : LAB_IPV6_B "/64",
                                      "dev", netns_lab_get_interface (fixture->lab, side), "nodad", NULL };

            run_ip (ip_argv);
          }
      server_start (&server, fixture, argv);
      ticket = foctet_ticket_parse (server.ticket, &error);
      g_assert_no_error (error);
      for (guint t = 0; t < G_N_ELEMENTS (transports); t++)
        {
          FoctetAddressKind kind = g_str_equal (transports[t], "quic") ? FOCTET_ADDRESS_KIND_QUIC
                                                                       : FOCTET_ADDRESS_KIND_TLS;
          g_autofree char *ipv6_address = NULL;
          g_autoptr(FoctetTicket) ipv6_only = NULL;
          g_autofree char *ipv6_ticket = NULL;
          g_autofree char *out = NULL;
          g_autofree char *expected = g_strconcat (" via=", transports[t], NULL);

          if (!have_transport (transports[t]))
            continue;
          ipv6_address = check_default_addresses (ticket, kind, ipv4, with_ipv6 ? LAB_IPV6_A : NULL);
          if (!with_ipv6)
            continue;
          ipv6_only = foctet_ticket_new (foctet_ticket_get_node_id (ticket));
          g_assert_true (foctet_ticket_add_address (ipv6_only, kind, ipv6_address, &error));
          g_assert_no_error (error);
          ipv6_ticket = foctet_ticket_to_string (ipv6_only);
          {
            const char *ping_argv[] = { shell, "--identity", client, "ping", ipv6_ticket, "--count", "1",
                                        "--transport", transports[t], NULL };

            g_assert_cmpint (run_in_b (fixture, ping_argv, &out), ==, 0);
          }
          g_test_message ("ping over %s to %s: %s", transports[t], ipv6_address, g_strchomp (out));
          g_assert_true (g_str_has_prefix (out, "seq=1 rtt="));
          g_assert_true (g_str_has_suffix (out, expected));
        }
      server_stop (&server);
    }
}

/* The sweep leaves the namespaces of a live process alone, though it runs
 * another program (here the test runner, our parent), and removes those of
 * a process that is gone (the same pid, another start time). */
static void
test_sweep (void)
{
  g_autofree char *live_prefix = netns_owner_prefix (getppid ());
  g_autofree char *live = NULL, *gone = NULL, *live_path = NULL, *gone_path = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  char *start;

  g_assert_nonnull (live_prefix);
  live = g_strconcat (live_prefix, "-0-sweep", NULL);
  /* "foctet-lab-PID-START": the same pid, a start time not its own. */
  start = strrchr (live_prefix, '-');
  gone = g_strdup_printf ("%.*s-%" G_GUINT64_FORMAT "-0-sweep", (int) (start - live_prefix), live_prefix,
                          g_ascii_strtoull (start + 1, NULL, 10) + 1);
  for (guint i = 0; i < 2; i++)
    {
      const char *argv[] = { "ip", "netns", "add", i == 0 ? live : gone, NULL };

      process = g_subprocess_launcher_spawnv (launcher, argv, &error);
      g_assert_no_error (error);
      g_assert_true (netns_wait_process (process, START_TIMEOUT));
      g_assert_true (g_subprocess_get_successful (process));
      g_clear_object (&process);
    }

  netns_sweep ();

  live_path = g_build_filename ("/run/netns", live, NULL);
  gone_path = g_build_filename ("/run/netns", gone, NULL);
  g_assert_false (g_file_test (gone_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live_path, G_FILE_TEST_EXISTS));
  {
    const char *argv[] = { "ip", "netns", "del", live, NULL };

    process = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
    g_assert_true (netns_wait_process (process, START_TIMEOUT));
    g_assert_true (g_subprocess_get_successful (process));
  }
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GPtrArray) cases = g_ptr_array_new ();
  int ret;

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < 3; i++)
    {
      const char *vars[] = { "FOCTET_SHELL", "FOCTET_PLUGIN_PATH", "FOCTET_NETNS_PEER" };

      if (g_getenv (vars[i]) == NULL)
        g_error ("%s is not set (meson test sets it)", vars[i]);
    }
  netns_init ();
  g_test_add_func ("/netns/lab/sweep", test_sweep);

  for (guint t = 0; t < G_N_ELEMENTS (transports); t++)
    {
      if (!have_transport (transports[t]))
        continue;
      for (guint i = 0; i < G_N_ELEMENTS (conditions); i++)
        {
          Case *c = g_new0 (Case, 1);

          c->transport = transports[t];
          c->condition = &conditions[i];
          c->path = g_strdup_printf ("/netns/%s/%s", c->transport, c->condition->name);
          g_test_add (c->path, Fixture, c, fixture_setup, test_link, fixture_teardown);
          g_ptr_array_add (cases, c);
        }
    }
  if (cases->len == 0)
    g_error ("no transport plugin in FOCTET_PLUGIN_PATH");
  if (have_transport ("quic"))
    {
      static const Condition long_path = { "rtt-100ms", 50, 0 };
      Case *c = g_new0 (Case, 1);

      c->transport = "quic";
      c->condition = &long_path;
      c->path = g_strdup ("/netns/quic/stream-budget");
      g_test_add (c->path, Fixture, c, fixture_setup, test_stream_budget, fixture_teardown);
      g_ptr_array_add (cases, c);
    }

  {
    static const Condition plain = { "default-listen", 0, 0 };
    Case *c = g_new0 (Case, 1);

    c->transport = NULL;
    c->condition = &plain;
    c->path = g_strdup ("/netns/shell/default-listen");
    g_test_add (c->path, Fixture, c, fixture_setup, test_default_listen, fixture_teardown);
    g_ptr_array_add (cases, c);
  }

  ret = g_test_run ();

  for (guint i = 0; i < cases->len; i++)
    {
      Case *c = g_ptr_array_index (cases, i);

      g_free (c->path);
      g_free (c);
    }
  return ret;
}

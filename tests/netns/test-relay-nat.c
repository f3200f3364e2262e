/* test-relay-nat.c: two nodes behind NATs reach each other through the
 * relay, over real network stacks (netns-lab.h, netns_lab_new_nat ()):
 *
 *   A 10.0.1.2 -- 10.0.1.1 NAT_A 198.18.0.1 --+
 *                                              +-- br0 (INTERNET) --- 198.18.0.100 PUBLIC
 *   B 10.0.2.2 -- 10.0.2.1 NAT_B 198.18.0.2 --+                      (foctet-relay)
 *
 * Both NATs masquerade and let in only what the inside began; nothing on
 * the "internet" routes private addresses.  A serves on tls and quic on
 * all its addresses and holds a reservation at the relay, so its ticket
 * has its private addresses and the relay; B dials that ticket.
 *
 * /netns/relay-nat/reach: B's ping races the ticket's addresses and only
 *   the relay gets through — via=relay on every line, in bounded time; the
 *   relay logs the (raw) circuit from NAT_B's address to A, and A learns NAT_A's
 *   address (not its own) from the relay; then a 64 MiB perf each way and
 *   the integrity check (netns-peer, SHA-256 both ways) through the relay.
 * /netns/relay-nat/no-plaintext: a capture on PUBLIC's interface (every
 *   port: the control connections and the raw circuits' own TCP
 *   connections) while B sends a marker to A through the relay holds all
 *   the relayed bytes but
 *   not the marker; a capture of the same marker sent in the clear over
 *   TCP to PUBLIC does hold it — the control that shows the capture would
 *   see plaintext if there were any.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>

#include <foctet.h>

#include "netns-data.h"
#include "netns-lab.h"
#include "test-utils.h"

/* Each wait is bounded by one of these, or by NETNS_START_TIMEOUT (a
 * program's first line, a log line); the whole test takes about 6 s
 * (twice that under the sanitizers). */
#define RUN_TIMEOUT 90               /* a client to its end (ASan, on a busy machine) */
#define PING_COUNT 3
/* Pings go a second apart; the race reaches the relay (the fifth of the
 * ticket's addresses) after four racing delays, 1 s. */
#define PING_BOUND_SECONDS 8.0
#define PERF_BYTES (64 * 1024 * 1024)
#define INTEGRITY_BYTES (4 * 1024 * 1024)
#define MARKER_BYTES (4 * 1024 * 1024)
#define CONTROL_BYTES (256 * 1024)

typedef NetnsRelayFixture Fixture;

/* The end of a test that passed: the relay stops cleanly (under the
 * sanitizers, without a leak or an error), with every circuit closed. */
static void
relay_stop (Fixture *fixture,
            guint    circuits)
{
  /* Every circuit a raw one (the default), no raw connection refused,
   * and no connection to the relay failed. */
  g_autofree char *pattern = g_strdup_printf ("^foctet-relay: reservations=[0-9]+ circuits_active=0 "
                                              "circuits_total=%u bytes_relayed=[0-9]+ .* "
                                              "raw_circuits_total=%u refused_raw=0 incoming_failed=0$",
                                              circuits, circuits);

  netns_daemon_stop (&fixture->relay, SIGTERM);
  /* It prints its counters as it stops. */
  netns_line_log_wait (fixture->relay.err, 0, pattern, NULL);
}

/* Runs @argv in @side to its end; its status.  @out gets its stdout. */
static int
run_in (Fixture            *fixture,
        NetnsSide           side,
        const char * const *argv,
        char              **out)
{
  g_autofree char *err = NULL;
  int status;

  status = netns_lab_run (fixture->lab, side, fixture->launcher, argv, RUN_TIMEOUT, out, &err);
  if (err[0] != '\0')
    g_test_message ("%s %s (exit %d) said: %s", argv[0], argv[1], status, g_strchomp (err));
  return status;
}

static char *
shell_id (Fixture    *fixture,
          NetnsSide   side,
          const char *identity)
{
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", identity, "id", NULL };
  char *out = NULL;

  g_assert_cmpint (run_in (fixture, side, argv, &out), ==, 0);
  return g_strchomp (out);
}

/* Whether @ticket has an address of @kind whose host is @host. */
static gboolean
ticket_has (FoctetTicket      *ticket,
            FoctetAddressKind  kind,
            const char        *host)
{
  g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kind);
  g_autofree char *prefix = g_strconcat (host, ":", NULL);

  for (guint i = 0; addresses[i] != NULL; i++)
    if (g_str_has_prefix (addresses[i], prefix))
      return TRUE;
  return FALSE;
}

static char *
node_id_of_ticket (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (text, &error);

  g_assert_no_error (error);
  return foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
}

/* "received BYTES sha256=HEX" for the next @len bytes of @data. */
static void
check_received (const char *who,
                const char *line,
                NetnsData  *data,
                guint64     len)
{
  g_autofree char *digest = netns_data_sha256_of (data, len);
  g_autofree char *expected = g_strdup_printf ("received %" G_GUINT64_FORMAT " sha256=%s", len, digest);

  if (g_strcmp0 (line, expected) != 0)
    g_error ("%s: “%s”, expected “%s”", who, line != NULL ? line : "(nothing)", expected);
}

/* netns-peer serve in A, reserved at the relay: its ticket. */
static const char *
start_peer_server (Fixture *fixture)
{
  g_autofree char *listen = g_strconcat ("relay/", fixture->relay_address, NULL);
  const char *argv[] = { g_getenv ("FOCTET_NETNS_PEER"), "serve", listen, NULL };

  netns_daemon_start (&fixture->server, fixture->lab, NETNS_SIDE_A, fixture->launcher, "peer-a", argv);
  return fixture->server.first_line;
}

/* ------------------------------------------------------------------ */

static void
check_ping (Fixture    *fixture,
            const char *identity,
            const char *ticket)
{
  g_autofree char *count = g_strdup_printf ("%d", PING_COUNT);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", identity, "ping", ticket, "--count", count,
                         NULL };
  g_autoptr(GRegex) regex = g_regex_new ("^seq=([0-9]+) rtt=[0-9]+\\.[0-9]{3}ms via=relay$", 0, 0, NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  gint64 start = g_get_monotonic_time ();
  double seconds;

  g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out), ==, 0);
  seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, PING_COUNT + 1);
  g_assert_cmpstr (lines[PING_COUNT], ==, "");
  for (guint i = 0; i < PING_COUNT; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *seq = NULL;

      if (!g_regex_match (regex, lines[i], 0, &match))
        g_error ("ping printed “%s”, not a reply via the relay", lines[i]);
      seq = g_match_info_fetch (match, 1);
      g_assert_cmpuint (g_ascii_strtoull (seq, NULL, 10), ==, i + 1);
    }
  g_test_message ("ping: %s(%.1f s)", g_strdelimit (out, "\n", ' '), seconds);
  g_assert_cmpfloat (seconds, <, PING_BOUND_SECONDS);
}

static void
check_perf (Fixture    *fixture,
            const char *identity,
            const char *ticket)
{
  g_autofree char *bytes = g_strdup_printf ("%dM", PERF_BYTES / (1024 * 1024));
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", identity, "perf", ticket, "--upload", bytes,
                         "--download", bytes, "--json", NULL };
  g_autoptr(GRegex) regex = g_regex_new ("^\\{\"transport\": \"([a-z]+)\", \"upload_bytes\": ([0-9]+), "
                                         "\"download_bytes\": ([0-9]+), \"upload_seconds\": [0-9.]+, "
                                         "\"download_seconds\": [0-9.]+, \"handshake_seconds\": [0-9.]+\\}\n$",
                                         0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *out = NULL, *transport = NULL, *upload = NULL, *download = NULL;

  g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out), ==, 0);
  if (!g_regex_match (regex, out, 0, &match))
    g_error ("perf --json printed “%s”", out);
  transport = g_match_info_fetch (match, 1);
  upload = g_match_info_fetch (match, 2);
  download = g_match_info_fetch (match, 3);
  g_assert_cmpstr (transport, ==, "relay");
  g_assert_cmpuint (g_ascii_strtoull (upload, NULL, 10), ==, PERF_BYTES);
  g_assert_cmpuint (g_ascii_strtoull (download, NULL, 10), ==, PERF_BYTES);
  g_test_message ("perf: %s", g_strchomp (out));
}

/* The relay's line for the circuit from B (at NAT_B's address) to
 * @target that ends after line @from; checks both directions carried at
 * least @at_least bytes. */
static void
check_circuit_logged (Fixture    *fixture,
                      guint       from,
                      const char *caller,
                      const char *target,
                      guint64     at_least)
{
  g_autofree char *nat_b = g_regex_escape_string (netns_lab_get_address (fixture->lab, NETNS_SIDE_NAT_B), -1);
  g_autofree char *pattern = g_strdup_printf ("raw circuit %s \\(%s:[0-9]+\\) -> %s: ([0-9]+) bytes up, "
                                              "([0-9]+) bytes down", caller, nat_b, target);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *up = NULL, *down = NULL;

  netns_line_log_wait (fixture->relay.err, from, pattern, &match);
  up = g_match_info_fetch (match, 1);
  down = g_match_info_fetch (match, 2);
  g_assert_cmpuint (g_ascii_strtoull (up, NULL, 10), >=, at_least);
  g_assert_cmpuint (g_ascii_strtoull (down, NULL, 10), >=, at_least);
}

static void
check_integrity (Fixture *fixture)
{
  g_autofree char *bytes = g_strdup_printf ("%d", INTEGRITY_BYTES);
  guint64 seed = g_str_hash ("/netns/relay-nat/reach");
  g_autofree char *seed_text = g_strdup_printf ("%" G_GUINT64_FORMAT, seed);
  g_autofree char *out = NULL, *line = NULL, *peer_id = NULL;
  const char *ticket = start_peer_server (fixture);
  guint mark = fixture->relay.err->lines->len;
  NetnsData data;

  peer_id = node_id_of_ticket (ticket);
  {
    const char *argv[] = { g_getenv ("FOCTET_NETNS_PEER"), "send", ticket, "relay", bytes, bytes, seed_text,
                           NULL };

    g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out), ==, 0);
  }
  /* What A got, by its own account, and what came back to B. */
  line = netns_read_line (fixture->server.out, NETNS_START_TIMEOUT);
  netns_data_init (&data, seed);
  check_received ("A", line, &data, INTEGRITY_BYTES);
  netns_data_init (&data, seed + 1);
  check_received ("B", g_strchomp (out), &data, INTEGRITY_BYTES);
  check_circuit_logged (fixture, mark, "[a-z2-7]+", peer_id, INTEGRITY_BYTES);
  g_test_message ("integrity: %d bytes each way through the relay, SHA-256 as sent", INTEGRITY_BYTES);
  netns_daemon_stop (&fixture->server, SIGTERM);
  netns_daemon_clear (&fixture->server);
}

static void
test_reach (Fixture       *fixture,
            gconstpointer  data)
{
  g_autofree char *a_identity = g_build_filename (fixture->tmpdir, "a", NULL);
  g_autofree char *b_identity = g_build_filename (fixture->tmpdir, "b", NULL);
  const char *nat_a = netns_lab_get_address (fixture->lab, NETNS_SIDE_NAT_A);
  g_autofree char *nat_a_re = g_regex_escape_string (nat_a, -1);
  g_autofree char *a_id = NULL, *b_id = NULL, *pattern = NULL, *reserved_port = NULL;
  g_autofree char *observed_port = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  guint mark;

  b_id = shell_id (fixture, NETNS_SIDE_B, b_identity);
  {
    const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", a_identity, "serve",
                           "--listen", "tls/0.0.0.0:0", "--listen", "quic/0.0.0.0:0",
                           "--relay", fixture->relay_address, NULL };

    netns_daemon_start (&fixture->server, fixture->lab, NETNS_SIDE_A, fixture->launcher, "serve-a", argv);
  }
  ticket = foctet_ticket_parse (fixture->server.first_line, &error);
  g_assert_no_error (error);
  a_id = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
  /* A's direct addresses, which B cannot reach, and the relay. */
  g_assert_true (ticket_has (ticket, FOCTET_ADDRESS_KIND_QUIC, netns_lab_get_address (fixture->lab, NETNS_SIDE_A)));
  g_assert_true (ticket_has (ticket, FOCTET_ADDRESS_KIND_TLS, netns_lab_get_address (fixture->lab, NETNS_SIDE_A)));
  g_assert_true (ticket_has (ticket, FOCTET_ADDRESS_KIND_RELAY,
                             netns_lab_get_address (fixture->lab, NETNS_SIDE_PUBLIC)));

  /* The relay saw A come from NAT_A, and told A so. */
  pattern = g_strdup_printf ("reservation of %s \\(%s:([0-9]+)\\)$", a_id, nat_a_re);
  netns_line_log_wait (fixture->relay.err, 0, pattern, &match);
  reserved_port = g_match_info_fetch (match, 1);
  g_clear_pointer (&match, g_match_info_free);
  g_free (pattern);
  pattern = g_strdup_printf ("^observed address %s:([0-9]+) \\(as the relay sees this node\\)$", nat_a_re);
  netns_line_log_wait (fixture->server.err, 0, pattern, &match);
  observed_port = g_match_info_fetch (match, 1);
  g_assert_cmpstr (observed_port, ==, reserved_port);

  mark = fixture->relay.err->lines->len;
  check_ping (fixture, b_identity, fixture->server.first_line);
  check_circuit_logged (fixture, mark, b_id, a_id, 1);

  mark = fixture->relay.err->lines->len;
  check_perf (fixture, b_identity, fixture->server.first_line);
  check_circuit_logged (fixture, mark, b_id, a_id, PERF_BYTES);

  netns_daemon_stop (&fixture->server, SIGTERM);
  netns_daemon_clear (&fixture->server);
  check_integrity (fixture);
  relay_stop (fixture, 3);
  g_test_message ("reach: %.1f s", (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
}

/* ------------------------------------------------------------------ */
/* Captures                                                            */

typedef struct {
  NetnsDaemon tcpdump;
  char *path;
} Capture;

/* tcpdump on PUBLIC's interface, every packet whole, into a file; returns
 * once the capture is live. */
static void
capture_start (Capture    *capture,
               Fixture    *fixture,
               const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *filename = g_strconcat (name, ".pcap", NULL);
  char *path = g_build_filename (fixture->tmpdir, filename, NULL);
  /* Each packet handed over and written as it comes (--immediate-mode,
   * -U); a kernel buffer (-B, KiB) large enough that nothing is dropped;
   * -Z root: Debian's tcpdump would write as user tcpdump, who cannot
   * enter the test's directory. */
  const char *argv[] = { "tcpdump", "-n", "-i", netns_lab_get_interface (fixture->lab, NETNS_SIDE_PUBLIC),
                         "-s", "0", "-B", "32768", "--immediate-mode", "-U", "-Z", "root", "-w", path, NULL };

  capture->path = path;
  g_subprocess_launcher_set_flags (fixture->launcher, G_SUBPROCESS_FLAGS_STDERR_PIPE);
  capture->tcpdump.process = netns_lab_spawn (fixture->lab, NETNS_SIDE_PUBLIC, fixture->launcher, argv, &error);
  g_assert_no_error (error);
  capture->tcpdump.err = netns_line_log_new (name, g_subprocess_get_stderr_pipe (capture->tcpdump.process));
  netns_line_log_wait (capture->tcpdump.err, 0, "^tcpdump: listening on ", NULL);
}

static guint
count_occurrences (const guint8 *data,
                   gsize         len,
                   const char   *needle)
{
  gsize n = strlen (needle);
  guint count = 0;

  for (gsize i = 0; i + n <= len; i++)
    if (data[i] == (guint8) needle[0] && memcmp (data + i, needle, n) == 0)
      count++;
  return count;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits until tcpdump has written every packet the kernel gave it so far:
 * on SIGINT it drops those it has not read yet.  SIGUSR1 makes it print
 * "N packets captured, M packets received by filter, K packets dropped by
 * kernel". */
static void
capture_sync (Capture *capture)
{
  for (guint i = 0; i < NETNS_START_TIMEOUT * 10; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *captured = NULL, *received = NULL;
      guint mark = capture->tcpdump.err->lines->len;
      gboolean later = FALSE;

      g_subprocess_send_signal (capture->tcpdump.process, SIGUSR1);
      netns_line_log_wait (capture->tcpdump.err, mark, "^tcpdump: ([0-9]+) packets? captured, ([0-9]+) packets? "
                           "received by filter, [0-9]+ packets? dropped by kernel$", &match);
      captured = g_match_info_fetch (match, 1);
      received = g_match_info_fetch (match, 2);
      if (g_str_equal (captured, received))
        return;
      g_timeout_add (100, set_flag_cb, &later);
      while (!later)
        g_main_context_iteration (NULL, TRUE);
    }
  g_error ("tcpdump did not catch up with the packets within %d s", NETNS_START_TIMEOUT);
}

/* Ends the capture once it holds every packet so far, the way that
 * flushes it (SIGINT); checks tcpdump lost nothing; the file's size, and
 * how many times the marker is in it. */
static gsize
capture_stop (Capture *capture,
              guint   *markers)
{
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *captured = NULL, *dropped = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;

  capture_sync (capture);
  netns_daemon_stop (&capture->tcpdump, SIGINT);
  netns_line_log_wait (capture->tcpdump.err, 0, "^([0-9]+) packets? captured$", &match);
  captured = g_match_info_fetch (match, 1);
  g_clear_pointer (&match, g_match_info_free);
  netns_line_log_wait (capture->tcpdump.err, 0, "^([0-9]+) packets? dropped by kernel$", &match);
  dropped = g_match_info_fetch (match, 1);
  g_assert_cmpstr (dropped, ==, "0");
  netns_daemon_clear (&capture->tcpdump);

  g_file_get_contents (capture->path, &contents, &len, &error);
  g_assert_no_error (error);
  *markers = count_occurrences ((const guint8 *) contents, len, NETNS_MARKER);
  g_test_message ("capture %s: %s packets, %" G_GSIZE_FORMAT " bytes, the marker %u times", capture->path,
                  captured, len, *markers);
  g_clear_pointer (&capture->path, g_free);
  return len;
}

static void
test_no_plaintext (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *bytes = g_strdup_printf ("%d", MARKER_BYTES);
  g_autofree char *control_bytes = g_strdup_printf ("%d", CONTROL_BYTES);
  g_autofree char *out = NULL, *line = NULL;
  const char *ticket = start_peer_server (fixture);
  Capture capture = { 0 };
  NetnsDaemon sink = { 0 };
  guint markers = 0;
  gsize size;
  NetnsData stream;

  /* The marker, from B to A through the relay, as the relay's host sees
   * it on the wire. */
  capture_start (&capture, fixture, "relayed");
  {
    const char *argv[] = { g_getenv ("FOCTET_NETNS_PEER"), "send", ticket, "relay", bytes, "0", "marker", NULL };

    g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out), ==, 0);
  }
  line = netns_read_line (fixture->server.out, NETNS_START_TIMEOUT);
  netns_data_init_marker (&stream);
  check_received ("A", line, &stream, MARKER_BYTES);
  size = capture_stop (&capture, &markers);
  /* It came in from NAT_B and went out to NAT_A: twice, and more. */
  g_assert_cmpuint (size, >, 2 * MARKER_BYTES);
  g_assert_cmpuint (markers, ==, 0);

  /* The control: the marker in the clear over TCP from B to PUBLIC. */
  {
    g_autofree char *listen = g_strdup_printf ("%s:0", netns_lab_get_address (fixture->lab, NETNS_SIDE_PUBLIC));
    const char *argv[] = { g_getenv ("FOCTET_NETNS_PEER"), "sink", listen, NULL };

    netns_daemon_start (&sink, fixture->lab, NETNS_SIDE_PUBLIC, fixture->launcher, "sink", argv);
  }
  capture_start (&capture, fixture, "plain");
  {
    const char *argv[] = { g_getenv ("FOCTET_NETNS_PEER"), "plain", sink.first_line, control_bytes, NULL };

    g_clear_pointer (&out, g_free);
    g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out), ==, 0);
  }
  g_clear_pointer (&line, g_free);
  line = netns_read_line (sink.out, NETNS_START_TIMEOUT);
  netns_data_init_marker (&stream);
  check_received ("the sink", line, &stream, CONTROL_BYTES);
  g_assert_true (netns_wait_process (sink.process, NETNS_START_TIMEOUT));
  g_assert_true (g_subprocess_get_successful (sink.process));
  netns_daemon_clear (&sink);
  size = capture_stop (&capture, &markers);
  g_assert_cmpuint (size, >, CONTROL_BYTES);
  /* Nearly every copy, whole in one packet. */
  g_assert_cmpuint (markers, >=, CONTROL_BYTES / (sizeof NETNS_MARKER - 1) / 2);

  netns_daemon_stop (&fixture->server, SIGTERM);
  relay_stop (fixture, 1);
}

int
main (int   argc,
      char *argv[])
{
  const char *vars[] = { "FOCTET_SHELL", "FOCTET_RELAY", "FOCTET_PLUGIN_PATH", "FOCTET_NETNS_PEER" };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    if (g_getenv (vars[i]) == NULL)
      g_error ("%s is not set (meson test sets it)", vars[i]);
  netns_init ();
  netns_require_programs ("the relay's capture test needs tcpdump", "tcpdump", NULL);

  g_test_add ("/netns/relay-nat/reach", Fixture, NULL, netns_relay_fixture_setup, test_reach,
              netns_relay_fixture_teardown);
  g_test_add ("/netns/relay-nat/no-plaintext", Fixture, NULL, netns_relay_fixture_setup, test_no_plaintext,
              netns_relay_fixture_teardown);
  return g_test_run ();
}

/* test-relay-directory.c: the relay's directory across NATs, over real
 * network stacks (netns-lab.h, netns_lab_new_nat ()):
 *
 *   A 10.0.1.2 -- 10.0.1.1 NAT_A 198.18.0.1 --+
 *                                              +-- br0 (INTERNET) --- 198.18.0.100 PUBLIC
 *   B 10.0.2.2 -- 10.0.2.1 NAT_B 198.18.0.2 --+                      (foctet-relay)
 *
 * A serves with --relay: it holds a reservation at the relay and
 * publishes its direct addresses in the relay's directory.  B knows A
 * only by its NodeId and the relay:
 *
 * /netns/relay-directory/ping-by-node-id: `foctet-shell ping NODEID
 *   --relay H:P`, then the same with a ticket that holds the relay alone:
 *   B's node asks the relay's directory, which answers with A's own
 *   (private) addresses and NAT_A as where it sees A; B races them (they
 *   cannot be reached across the NATs) and gets through via the relay, in
 *   bounded time.  A NodeId nobody published fails with "not reachable".
 *   The relay counts the lookups.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>

#include <foctet.h>

#include "netns-lab.h"
#include "test-utils.h"

/* Each wait is bounded by one of these, or by NETNS_START_TIMEOUT (a
 * program's first line, a log line). */
#define RUN_TIMEOUT 30               /* a client to its end */
#define PING_COUNT 2
/* The lookup, then the race through A's two unreachable addresses to the
 * relay, then pings a second apart. */
#define PING_BOUND_SECONDS 10.0

typedef NetnsRelayFixture Fixture;

/* Runs @argv in @side to its end; its status.  @out gets its stdout,
 * @err (may be NULL) its stderr. */
static int
run_in (Fixture            *fixture,
        NetnsSide           side,
        const char * const *argv,
        char              **out,
        char              **err_out)
{
  g_autofree char *err = NULL;
  int status;

  status = netns_lab_run (fixture->lab, side, fixture->launcher, argv, RUN_TIMEOUT, out, &err);
  if (err[0] != '\0')
    g_test_message ("%s %s (exit %d) said: %s", argv[0], argv[3], status, g_strchomp (err));
  if (err_out != NULL)
    *err_out = g_steal_pointer (&err);
  return status;
}

/* B pings @target (a NodeId, or a ticket) with @extra options: the
 * replies must come via the relay, in bounded time; and the directory
 * must have answered with A's own addresses and NAT_A as where the relay
 * sees A. */
static void
ping_through_directory (Fixture            *fixture,
                        const char         *b_identity,
                        const char         *a_id,
                        const char         *target,
                        const char * const *extra)
{
  g_autofree char *count = g_strdup_printf ("%d", PING_COUNT);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GRegex) reply = g_regex_new ("^seq=([0-9]+) rtt=[0-9]+\\.[0-9]{3}ms via=relay$", 0, 0, NULL);
  g_autofree char *a_host = g_regex_escape_string (netns_lab_get_address (fixture->lab, NETNS_SIDE_A), -1);
  g_autofree char *nat_a = g_regex_escape_string (netns_lab_get_address (fixture->lab, NETNS_SIDE_NAT_A), -1);
  g_autofree char *relay = g_regex_escape_string (fixture->relay_address, -1);
  g_autofree char *found_pattern = NULL;
  g_autoptr(GRegex) found = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_auto(GStrv) lines = NULL;
  gint64 start = g_get_monotonic_time ();
  double seconds;

  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_SHELL"));
  g_ptr_array_add (argv, (char *) "--identity");
  g_ptr_array_add (argv, (char *) b_identity);
  g_ptr_array_add (argv, (char *) "ping");
  g_ptr_array_add (argv, (char *) target);
  g_ptr_array_add (argv, (char *) "--count");
  g_ptr_array_add (argv, count);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);

  g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, (const char * const *) argv->pdata, &out, &err), ==, 0);
  seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;

  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, PING_COUNT + 1);
  for (guint i = 0; i < PING_COUNT; i++)
    if (!g_regex_match (reply, lines[i], 0, NULL))
      g_error ("ping printed “%s”, not a reply via the relay", lines[i]);
  g_test_message ("ping %s: %s(%.1f s)", target, g_strdelimit (out, "\n", ' '), seconds);
  g_assert_cmpfloat (seconds, <, PING_BOUND_SECONDS);

  /* What the directory answered (the relay plugin's debug line): A's
   * own QUIC and TLS addresses, behind NAT_A, which the relay saw. */
  found_pattern = g_strdup_printf ("Relay %s: %s is at: FOUND ttl [0-9]+ s, observed address %s:[0-9]+, "
                                   "2 entries: quic/%s:[0-9]+, tls/%s:[0-9]+",
                                   relay, a_id, nat_a, a_host, a_host);
  found = g_regex_new (found_pattern, G_REGEX_MULTILINE, 0, NULL);
  if (!g_regex_match (found, err, 0, NULL))
    g_error ("no answer of the directory matching “%s” in B's log", found_pattern);
}

static void
test_ping_by_node_id (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *a_identity = g_build_filename (fixture->tmpdir, "a", NULL);
  g_autofree char *b_identity = g_build_filename (fixture->tmpdir, "b", NULL);
  g_autofree char *a_id = NULL, *relay_ticket = NULL, *published = NULL, *out = NULL, *err = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) only_relay = NULL;
  g_autoptr(FoctetIdentity) stranger = NULL;
  g_autofree char *stranger_id = NULL;
  g_autoptr(GError) error = NULL;
  const char * const with_relay[] = { "--relay", fixture->relay_address, NULL };
  gint64 start = g_get_monotonic_time ();

  {
    const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", a_identity, "serve",
                           "--listen", "tls/0.0.0.0:0", "--listen", "quic/0.0.0.0:0",
                           "--relay", fixture->relay_address, "--no-mdns", NULL };

    netns_daemon_start (&fixture->server, fixture->lab, NETNS_SIDE_A, fixture->launcher, "serve-a", argv);
  }
  ticket = foctet_ticket_parse (fixture->server.first_line, &error);
  g_assert_no_error (error);
  a_id = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));

  /* A published at the relay (the plugin says so once the relay said OK). */
  published = g_strdup_printf ("Relay %s: our addresses are published", fixture->relay_address);
  netns_line_log_wait (fixture->server.err, 0, published, NULL);

  /* The bare NodeId and --relay. */
  ping_through_directory (fixture, b_identity, a_id, a_id, with_relay);

  /* A ticket that holds the relay alone. */
  only_relay = foctet_ticket_new (foctet_ticket_get_node_id (ticket));
  g_assert_true (foctet_ticket_add_address (only_relay, FOCTET_ADDRESS_KIND_RELAY, fixture->relay_address, &error));
  g_assert_no_error (error);
  relay_ticket = foctet_ticket_to_string (only_relay);
  ping_through_directory (fixture, b_identity, a_id, relay_ticket, NULL);

  /* A NodeId nobody published: the directory does not know it, and the
   * relay cannot reach it either. */
  stranger = foctet_identity_generate (&error);
  g_assert_no_error (error);
  stranger_id = foctet_node_id_to_string (foctet_identity_get_node_id (stranger));
  {
    const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", b_identity, "ping", stranger_id,
                           "--count", "1", "--relay", fixture->relay_address, NULL };

    g_assert_cmpint (run_in (fixture, NETNS_SIDE_B, argv, &out, &err), ==, 1);
    g_assert_cmpstr (out, ==, "");
    g_assert_nonnull (strstr (err, "not reachable"));
  }

  netns_daemon_stop (&fixture->server, SIGTERM);
  /* The relay counts the lookups: A twice, the stranger once. */
  netns_daemon_stop (&fixture->relay, SIGTERM);
  netns_line_log_wait (fixture->relay.err, 0, "^foctet-relay: .* lookups=3 lookups_found=2 ", NULL);
  g_test_message ("ping-by-node-id: %.1f s", (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
}

int
main (int   argc,
      char *argv[])
{
  const char *vars[] = { "FOCTET_SHELL", "FOCTET_RELAY", "FOCTET_PLUGIN_PATH" };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    if (g_getenv (vars[i]) == NULL)
      g_error ("%s is not set (meson test sets it)", vars[i]);
  netns_init ();

  /* The relay plugin says what it publishes and what the directory
   * answered. */
  g_test_add ("/netns/relay-directory/ping-by-node-id", Fixture, "Foctet-Relay", netns_relay_fixture_setup,
              test_ping_by_node_id, netns_relay_fixture_teardown);
  return g_test_run ();
}

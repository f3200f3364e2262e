/* test-mdns.c: the "mdns" discovery on a LAN — three namespaces on one
 * bridge (netns_lab_new_bridge()), each running mdns-peer, a node that
 * publishes its ticket by mDNS and reports its discovery's peer list.
 *
 *  - the nodes find each other within 2 s, with the addresses their
 *    tickets hold;
 *  - a node pings another by NodeId alone (mdns resolve, then
 *    foctet_node_dial_async() on the ticket found); a NodeId nobody has is
 *    NOT_FOUND after 3 s;
 *  - a node that stops says goodbye and leaves the others' lists at once;
 *    started again, it is back within 2 s;
 *  - malformed and hostile packets on the LAN are dropped and counted,
 *    one by one, and disturb nothing; a node announced from off the link
 *    (IP TTL 64) is nobody's peer; a spoofed goodbye is believed, and the
 *    node is found again by resolving it;
 *  - TTLs hold: a node announced with 3 s records is updated in place when
 *    it announces again, and expires 3 s later without a goodbye;
 *  - a node whose ticket changes is updated in place, never dropped;
 *  - a node started while its link is down is found, and finds the
 *    others, within 2 s of the link coming up;
 *  - next to avahi-daemon (with a private D-Bus) in one namespace: a node
 *    started there shares port 5353 with it and finds the others, and
 *    `avahi-browse -rpt _foctet._udp` sees our announcements (IPv4 and
 *    IPv6);
 *  - foctet-shell: two `serve` announce themselves, `peers` lists them,
 *    `ping NODEID` reaches one by NodeId alone, and fails with "no answer
 *    on the local network" once it stopped.
 *
 * Every wait is bounded; the lab removes its namespaces however the test
 * ends.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>
#include <glib/gstdio.h>

#include "netns-lab.h"

#define N_NODES 3
/* The bound: nodes find each other within 2 s. */
#define DISCOVERY_SECONDS 2.0
#define LINE_TIMEOUT 10

typedef struct {
  const char *name;
  GSubprocess *process;
  GOutputStream *input;
  GDataInputStream *output;
  char *id;
  char *ticket;
  GHashTable *peers;             /* NodeId → "ADDRESS ..." as last reported */
  GPtrArray *removed;            /* NodeIds reported gone since last cleared */
} Peer;

typedef struct {
  NetnsLab *lab;
  Peer *nodes[N_NODES];
  const char *plugin_path;
} Lab;

static Lab lab;

static double
now_seconds (void)
{
  return g_get_monotonic_time () / (double) G_USEC_PER_SEC;
}

static Peer *
peer_spawn (NetnsSide   side,
            const char *name)
{
  const char *program = g_getenv ("FOCTET_MDNS_PEER");
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                                                       | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  const char *argv[] = { program, "node", NULL };
  g_autoptr(GError) error = NULL;
  Peer *peer = g_new0 (Peer, 1);
  g_autofree char *id_line = NULL, *ticket_line = NULL;

  g_assert_nonnull (program);
  peer->name = name;
  peer->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  peer->removed = g_ptr_array_new_with_free_func (g_free);
  peer->process = netns_lab_spawn (lab.lab, side, launcher, argv, &error);
  g_assert_no_error (error);
  peer->input = g_object_ref (g_subprocess_get_stdin_pipe (peer->process));
  peer->output = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer->process));

  id_line = netns_read_line (peer->output, LINE_TIMEOUT);
  g_assert_nonnull (id_line);
  g_assert_true (g_str_has_prefix (id_line, "id "));
  peer->id = g_strdup (id_line + 3);
  ticket_line = netns_read_line (peer->output, LINE_TIMEOUT);
  g_assert_nonnull (ticket_line);
  g_assert_true (g_str_has_prefix (ticket_line, "ticket "));
  peer->ticket = g_strdup (ticket_line + 7);
  g_test_message ("%s: %s", name, peer->id);
  return peer;
}

static void
peer_send (Peer       *peer,
           const char *command)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_strconcat (command, "\n", NULL);

  g_output_stream_write_all (peer->input, line, strlen (line), NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_flush (peer->input, NULL, &error);
  g_assert_no_error (error);
}

/* Reads one line of @peer within @timeout_seconds, keeping its view of
 * the peer list; returns the line or NULL on timeout. */
static char *
peer_read (Peer  *peer,
           guint  timeout_seconds)
{
  char *line = netns_read_line (peer->output, timeout_seconds);

  if (line == NULL)
    return NULL;
  if (g_str_has_prefix (line, "+ ") || g_str_has_prefix (line, "~ "))
    {
      const char *space = strchr (line + 2, ' ');
      char *id = space != NULL ? g_strndup (line + 2, space - line - 2) : g_strdup (line + 2);

      g_hash_table_insert (peer->peers, id, g_strdup (space != NULL ? space + 1 : ""));
    }
  else if (g_str_has_prefix (line, "- "))
    {
      g_hash_table_remove (peer->peers, line + 2);
      g_ptr_array_add (peer->removed, g_strdup (line + 2));
    }
  return line;
}

/* Reads until a line starts with @prefix; fails the test after
 * @timeout_seconds. */
static char *
peer_expect (Peer       *peer,
             const char *prefix,
             double      timeout_seconds)
{
  double deadline = now_seconds () + timeout_seconds;

  for (;;)
    {
      double left = deadline - now_seconds ();
      char *line;

      if (left <= 0)
        g_error ("%s: no line “%s…” within %.1f s", peer->name, prefix, timeout_seconds);
      line = peer_read (peer, (guint) left + 1);
      if (line == NULL)
        g_error ("%s: no line “%s…” within %.1f s (output ended or timed out)", peer->name, prefix,
                 timeout_seconds);
      if (g_str_has_prefix (line, prefix))
        return line;
      g_free (line);
    }
}

static gboolean
peer_knows (Peer       *peer,
            const char *id)
{
  return g_hash_table_contains (peer->peers, id);
}

/* Waits until @peer lists (or, with @present FALSE, no longer lists)
 * the node @id (@name in messages); returns the seconds it took. */
static double
peer_wait_for_id (Peer       *peer,
                  const char *id,
                  const char *name,
                  gboolean    present,
                  double      timeout_seconds)
{
  double start = now_seconds ();

  while (peer_knows (peer, id) != present)
    {
      double left = start + timeout_seconds - now_seconds ();
      g_autofree char *line = NULL;

      if (left <= 0)
        break;
      line = peer_read (peer, (guint) left + 1);
      if (line == NULL)
        break;
    }
  if (peer_knows (peer, id) != present)
    g_error ("%s: %s did not %s within %.1f s", peer->name, name, present ? "appear" : "go", timeout_seconds);
  return now_seconds () - start;
}

static double
peer_wait_for (Peer     *peer,
               Peer     *other,
               gboolean  present,
               double    timeout_seconds)
{
  return peer_wait_for_id (peer, other->id, other->name, present, timeout_seconds);
}

/* The addresses @ticket_text holds, as "transport/host:port" joined by
 * @separator, leaving out loopback (which mDNS does not announce next to
 * others). */
static char *
ticket_addresses (const char *ticket_text,
                  const char *separator)
{
  static const FoctetAddressKind kinds[] = { FOCTET_ADDRESS_KIND_QUIC, FOCTET_ADDRESS_KIND_TLS };
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (ticket_text, &error);
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func (g_free);

  g_assert_no_error (error);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kinds[k]);

      for (guint i = 0; addresses[i] != NULL; i++)
        if (!g_str_has_prefix (addresses[i], "127."))
          g_ptr_array_add (list, g_strdup_printf ("%s/%s", foctet_address_kind_to_transport (kinds[k]),
                                                  addresses[i]));
    }
  g_ptr_array_add (list, NULL);
  return g_strjoinv (separator, (char **) list->pdata);
}

static char *
expected_addresses (Peer *peer)
{
  return ticket_addresses (peer->ticket, " ");
}

static guint64
peer_dropped (Peer *peer)
{
  g_autofree char *line = NULL;

  peer_send (peer, "dropped");
  line = peer_expect (peer, "dropped ", 5);
  return g_ascii_strtoull (line + 8, NULL, 10);
}

static void
peer_quit (Peer *peer)
{
  if (peer == NULL)
    return;
  peer_send (peer, "quit");
  g_assert_true (netns_wait_process (peer->process, LINE_TIMEOUT));
  /* 0: no sanitizer finding, no leak, a clean shutdown. */
  g_assert_true (g_subprocess_get_if_exited (peer->process));
  g_assert_cmpint (g_subprocess_get_exit_status (peer->process), ==, 0);
}

static void
peer_free (Peer *peer)
{
  if (peer == NULL)
    return;
  g_clear_object (&peer->process);
  g_clear_object (&peer->input);
  g_clear_object (&peer->output);
  g_free (peer->id);
  g_free (peer->ticket);
  g_hash_table_unref (peer->peers);
  g_ptr_array_unref (peer->removed);
  g_free (peer);
}

/* The nodes, started in turn, find each other within 2 s of the last
 * start, each with the addresses of the other's ticket. */
static void
test_discover (void)
{
  static const NetnsSide sides[N_NODES] = { NETNS_SIDE_A, NETNS_SIDE_B, NETNS_SIDE_C };
  static const char *names[N_NODES] = { "A", "B", "C" };
  double start, worst = 0;

  for (int i = 0; i < N_NODES; i++)
    lab.nodes[i] = peer_spawn (sides[i], names[i]);
  start = now_seconds ();
  for (int i = 0; i < N_NODES; i++)
    for (int j = 0; j < N_NODES; j++)
      if (i != j)
        {
          peer_wait_for (lab.nodes[i], lab.nodes[j], TRUE, 5);
          worst = MAX (worst, now_seconds () - start);
          g_test_message ("%s found %s after %.3f s", names[i], names[j], now_seconds () - start);
        }
  g_assert_cmpfloat (worst, <=, DISCOVERY_SECONDS);

  for (int i = 0; i < N_NODES; i++)
    for (int j = 0; j < N_NODES; j++)
      if (i != j)
        {
          g_autofree char *expected = expected_addresses (lab.nodes[j]);
          const char *seen = g_hash_table_lookup (lab.nodes[i]->peers, lab.nodes[j]->id);

          g_assert_cmpstr (seen, ==, expected);
        }
}

/* Dialing by NodeId alone: resolved by mdns, then dialed and pinged. */
static void
test_ping (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1];
  g_autofree char *command = g_strconcat ("ping ", b->id, NULL);
  g_autofree char *line = NULL, *expected = NULL, *resolve = NULL, *failed = NULL, *message = NULL;
  g_autoptr(FoctetIdentity) stranger = foctet_identity_generate (NULL);
  g_autofree char *stranger_id = foctet_node_id_to_string (foctet_identity_get_node_id (stranger));
  double start;

  peer_send (a, command);
  line = peer_expect (a, "p", 10);
  expected = g_strdup_printf ("pong %s via=quic", b->id);
  g_assert_cmpstr (line, ==, expected);

  /* Nobody on the LAN has this NodeId: NOT_FOUND after 3 s, not sooner,
   * not much later. */
  resolve = g_strconcat ("resolve ", stranger_id, NULL);
  start = now_seconds ();
  peer_send (a, resolve);
  failed = peer_expect (a, "resolve", 10);
  message = g_strdup_printf ("resolve-failed %s NOT_FOUND no answer on the local network for %s within 3 s",
                             stranger_id, stranger_id);
  g_assert_cmpstr (failed, ==, message);
  g_assert_cmpfloat (now_seconds () - start, >=, 2.9);
  g_assert_cmpfloat (now_seconds () - start, <, 4.5);
}

/* A node that stops says goodbye: gone from the others' lists at once
 * (not after its records' 120 s); started again, it is back within 2 s. */
static void
test_goodbye_restart (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1], *c = lab.nodes[2];
  g_autofree char *stopped = NULL, *started = NULL;
  double gone_a, gone_b, back_a, back_b, back_c;

  peer_send (c, "stop");
  stopped = peer_expect (c, "stopped", 5);
  /* Its own list is empty once stopped. */
  g_assert_cmpuint (g_hash_table_size (c->peers), ==, 0);
  gone_a = peer_wait_for (a, c, FALSE, 5);
  gone_b = peer_wait_for (b, c, FALSE, 5);
  g_test_message ("C gone from A after %.3f s, from B after %.3f s", gone_a, gone_b);
  g_assert_cmpfloat (gone_a, <, 1.0);
  g_assert_cmpfloat (gone_b, <, 1.0);
  g_assert_true (peer_knows (a, b->id));
  g_assert_true (peer_knows (b, a->id));

  peer_send (c, "start");
  started = peer_expect (c, "started", 5);
  back_a = peer_wait_for (a, c, TRUE, 5);
  back_b = peer_wait_for (b, c, TRUE, 5);
  back_c = MAX (peer_wait_for (c, a, TRUE, 5), peer_wait_for (c, b, TRUE, 5));
  g_test_message ("C back for A after %.3f s, for B after %.3f s; C found both after %.3f s", back_a, back_b, back_c);
  g_assert_cmpfloat (MAX (MAX (back_a, back_b), back_c), <=, DISCOVERY_SECONDS);
}

/* Garbage and hostile packets from C's namespace: every malformed one is
 * dropped and counted by A and B, none removes or changes a peer; only
 * the spoofed goodbye for C is believed, and C is found again by
 * resolving it. */
static void
test_hostile (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1], *c = lab.nodes[2];
  const char *program = g_getenv ("FOCTET_MDNS_PEER");
  const char *argv[] = { program, "hostile", netns_lab_get_interface (lab.lab, NETNS_SIDE_C), c->id, b->id, NULL };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *out = NULL, *err = NULL, *ping = NULL, *pong = NULL, *expected = NULL;
  g_autofree char *b_before = g_strdup (g_hash_table_lookup (a->peers, b->id));
  guint64 dropped_a, dropped_b, malformed = 0, about_b = 0, total = 0;
  char fake[53] = "";
  double start;
  int status;

  dropped_a = peer_dropped (a);
  dropped_b = peer_dropped (b);
  g_ptr_array_set_size (a->removed, 0);
  g_ptr_array_set_size (b->removed, 0);

  status = netns_lab_run (lab.lab, NETNS_SIDE_C, launcher, argv, 30, &out, &err);
  if (status != 0)
    g_error ("mdns-peer hostile failed (%d): %s%s", status, out, err);
  g_assert_cmpint (sscanf (out, "sent %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %52s",
                           &malformed, &about_b, &total, fake), ==, 4);
  g_test_message ("hostile: %" G_GUINT64_FORMAT " malformed packets of %" G_GUINT64_FORMAT, malformed, total);
  g_assert_cmpuint (malformed, >=, 60);

  /* The spoofed goodbye, sent last, is believed... */
  peer_wait_for (a, c, FALSE, 5);
  peer_wait_for (b, c, FALSE, 5);
  /* ...after every malformed packet was counted, one by one — by B less
   * those about its own instance, which it ignores as its own. */
  g_assert_cmpuint (peer_dropped (a) - dropped_a, ==, malformed);
  g_assert_cmpuint (about_b, >, 0);
  g_assert_cmpuint (peer_dropped (b) - dropped_b, ==, malformed - about_b);
  /* Nothing else moved: A and B still list each other, B unchanged (the
   * TXT with the wrong id did not replace B's). */
  g_assert_cmpuint (a->removed->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (a->removed, 0), ==, c->id);
  g_assert_cmpuint (b->removed->len, ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (a->peers, b->id), ==, b_before);
  g_assert_true (peer_knows (b, a->id));
  /* The node announced from off the link is nobody's peer. */
  g_assert_cmpuint (strlen (fake), ==, 52);
  g_assert_false (peer_knows (a, fake));
  g_assert_false (peer_knows (b, fake));

  /* A dials C by NodeId: a query for C's instance brings it back. */
  ping = g_strconcat ("ping ", c->id, NULL);
  start = now_seconds ();
  peer_send (a, ping);
  pong = peer_expect (a, "p", 10);
  expected = g_strdup_printf ("pong %s via=quic", c->id);
  g_assert_cmpstr (pong, ==, expected);
  g_assert_cmpfloat (now_seconds () - start, <, 3.0);
  g_assert_true (peer_knows (a, c->id));
}

static char *
announce (const char *ttl,
          const char *port)
{
  const char *argv[] = { g_getenv ("FOCTET_MDNS_PEER"), "announce",
                         netns_lab_get_interface (lab.lab, NETNS_SIDE_C), ttl, port, "5", NULL };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *out = NULL, *err = NULL;
  int status = netns_lab_run (lab.lab, NETNS_SIDE_C, launcher, argv, 10, &out, &err);

  if (status != 0 || !g_str_has_prefix (out, "announced "))
    g_error ("mdns-peer announce failed (%d): %s%s", status, out, err);
  return g_strndup (out + 10, 52);
}

/* TTLs are honoured: a node announced once with records of 3 s (and
 * never answering) is listed, updated in place when it announces a new
 * port, and dropped 3 s after its last announcement, without a goodbye. */
static void
test_expiry (void)
{
  Peer *a = lab.nodes[0];
  g_autofree char *fake = announce ("3", "4433");
  g_autofree char *again = NULL, *expected = NULL, *changed = NULL;
  double start, gone;

  peer_wait_for_id (a, fake, "the short-lived node", TRUE, 2);
  expected = g_strdup ("quic/10.78.0.200:4433");
  g_assert_cmpstr (g_hash_table_lookup (a->peers, fake), ==, expected);

  /* Announced again with another port: the same FoctetPeer, updated. */
  g_ptr_array_set_size (a->removed, 0);
  again = announce ("3", "4434");
  g_assert_cmpstr (again, ==, fake);
  start = now_seconds ();
  changed = g_strdup_printf ("~ %s quic/10.78.0.200:4434", fake);
  g_free (peer_expect (a, changed, 2));
  g_assert_cmpuint (a->removed->len, ==, 0);

  peer_wait_for_id (a, fake, "the short-lived node", FALSE, 8);
  gone = now_seconds () - start;
  g_test_message ("the short-lived node expired %.3f s after its last announcement", gone);
  g_assert_cmpfloat (gone, >=, 2.5);
  g_assert_cmpfloat (gone, <=, 4.0);
}

/* A node whose ticket changes (TLS addresses dropped, then back) is
 * updated in place in the others' lists: no goodbye, no gap. */
static void
test_republish (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1], *c = lab.nodes[2];
  g_autofree char *all = expected_addresses (c);
  g_autofree char *published = NULL, *again = NULL, *quic_only = NULL, *changed = NULL, *back = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (c->ticket, &error);
  g_auto(GStrv) quic = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_QUIC);

  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (a->peers, c->id), ==, all);
  g_ptr_array_set_size (a->removed, 0);
  g_ptr_array_set_size (b->removed, 0);

  peer_send (c, "publish quic");
  published = peer_expect (c, "published", 5);
  quic_only = g_strdup_printf ("quic/%s", quic[0]);
  changed = g_strdup_printf ("~ %s %s", c->id, quic_only);
  g_free (peer_expect (a, changed, 3));
  g_free (peer_expect (b, changed, 3));

  peer_send (c, "publish all");
  again = peer_expect (c, "published", 5);
  back = g_strdup_printf ("~ %s %s", c->id, all);
  g_free (peer_expect (a, back, 3));
  g_free (peer_expect (b, back, 3));

  /* (B may report now what it saw earlier: the short-lived node going.) */
  for (guint i = 0; i < a->removed->len; i++)
    g_assert_cmpstr (g_ptr_array_index (a->removed, i), !=, c->id);
  for (guint i = 0; i < b->removed->len; i++)
    g_assert_cmpstr (g_ptr_array_index (b->removed, i), !=, c->id);
}

static void
set_link (NetnsSide   side,
          const char *state)
{
  const char *argv[] = { "ip", "link", "set", netns_lab_get_interface (lab.lab, side), state, NULL };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (netns_lab_run (lab.lab, side, launcher, argv, 10, &out, &err), ==, 0);
}

/* A node started while its LAN is down joins it when it comes up: it is
 * found, and finds the others, within 2 s of the link coming up. */
static void
test_late_link (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1];
  Peer *e;
  double start;

  set_link (NETNS_SIDE_C, "down");
  e = peer_spawn (NETNS_SIDE_C, "E");
  /* Nothing goes out, nothing comes in. */
  g_usleep (G_USEC_PER_SEC);
  peer_send (a, "peers");
  g_free (peer_expect (a, "peers ", 5));
  g_assert_false (peer_knows (a, e->id));
  peer_send (e, "peers");
  g_free (peer_expect (e, "peers ", 5));
  g_assert_cmpuint (g_hash_table_size (e->peers), ==, 0);

  set_link (NETNS_SIDE_C, "up");
  start = now_seconds ();
  peer_wait_for (a, e, TRUE, 5);
  peer_wait_for (b, e, TRUE, 5);
  peer_wait_for (e, a, TRUE, 5);
  peer_wait_for (e, b, TRUE, 5);
  g_test_message ("E, started with its link down, found and found by all %.3f s after the link came up",
                  now_seconds () - start);
  g_assert_cmpfloat (now_seconds () - start, <=, DISCOVERY_SECONDS);

  peer_quit (e);
  peer_wait_for (a, e, FALSE, 5);
  peer_free (e);
}

/* avahi-daemon, on a private D-Bus, in A's namespace. */
typedef struct {
  char *dir;
  char *bus_address;
  GSubprocess *dbus;
  GSubprocess *avahi;
} Avahi;

static void
avahi_start (Avahi *avahi)
{
  static const char bus_conf[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>system</type><listen>unix:path=%s/bus</listen><auth>EXTERNAL</auth>\n"
    "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/><allow send_destination=\"*\"/>\n"
    "<allow send_type=\"method_call\"/><allow receive_sender=\"*\"/></policy></busconfig>\n";
  static const char avahi_conf[] =
    "[server]\nhost-name=foctet-avahi-test\nuse-ipv4=yes\nuse-ipv6=yes\nenable-dbus=yes\n"
    "[publish]\npublish-hinfo=no\npublish-workstation=no\n";
  /* The daemon's pid file and service directory are fixed paths: private
   * copies are bind-mounted in the mount namespace `ip netns exec` gives
   * the daemon alone. */
  static const char script[] =
    "set -e; mkdir -p /run/avahi-daemon; mount --bind \"$1/run\" /run/avahi-daemon; "
    "mount --bind \"$1/services\" /etc/avahi/services; "
    "exec avahi-daemon -f \"$1/avahi.conf\" --no-drop-root --no-chroot --no-rlimits";
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autofree char *conf = NULL, *conf_path = NULL, *avahi_path = NULL, *run = NULL, *services = NULL;
  g_autofree char *bus = NULL;

  avahi->dir = g_dir_make_tmp ("foctet-avahi-XXXXXX", &error);
  g_assert_no_error (error);
  conf = g_strdup_printf (bus_conf, avahi->dir);
  conf_path = g_build_filename (avahi->dir, "bus.conf", NULL);
  g_file_set_contents (conf_path, conf, -1, &error);
  g_assert_no_error (error);
  avahi_path = g_build_filename (avahi->dir, "avahi.conf", NULL);
  g_file_set_contents (avahi_path, avahi_conf, -1, &error);
  g_assert_no_error (error);
  run = g_build_filename (avahi->dir, "run", NULL);
  services = g_build_filename (avahi->dir, "services", NULL);
  g_assert_cmpint (g_mkdir (run, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (services, 0755), ==, 0);
  bus = g_build_filename (avahi->dir, "bus", NULL);
  avahi->bus_address = g_strconcat ("unix:path=", bus, NULL);

  {
    const char *argv[] = { "dbus-daemon", "--config-file", conf_path, "--nofork", "--nopidfile", NULL };

    avahi->dbus = netns_lab_spawn (lab.lab, NETNS_SIDE_A, launcher, argv, &error);
    g_assert_no_error (error);
  }
  for (int i = 0; i < 100 && !g_file_test (bus, G_FILE_TEST_EXISTS); i++)
    g_usleep (50000);
  g_assert_true (g_file_test (bus, G_FILE_TEST_EXISTS));

  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", avahi->bus_address, TRUE);
  {
    const char *argv[] = { "sh", "-c", script, "sh", avahi->dir, NULL };

    avahi->avahi = netns_lab_spawn (lab.lab, NETNS_SIDE_A, launcher, argv, &error);
    g_assert_no_error (error);
  }
  /* Running once its pid file is there. */
  {
    g_autofree char *pid = g_build_filename (run, "pid", NULL);

    for (int i = 0; i < 100 && !g_file_test (pid, G_FILE_TEST_EXISTS); i++)
      g_usleep (50000);
    g_assert_true (g_file_test (pid, G_FILE_TEST_EXISTS));
  }
}

static void
avahi_stop (Avahi *avahi)
{
  g_subprocess_send_signal (avahi->avahi, SIGTERM);
  g_assert_true (netns_wait_process (avahi->avahi, LINE_TIMEOUT));
  g_subprocess_send_signal (avahi->dbus, SIGTERM);
  g_assert_true (netns_wait_process (avahi->dbus, LINE_TIMEOUT));
  g_clear_object (&avahi->avahi);
  g_clear_object (&avahi->dbus);
  {
    const char *argv[] = { "rm", "-rf", avahi->dir, NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  g_free (avahi->dir);
  g_free (avahi->bus_address);
}

/* Whether `avahi-browse -rpt` resolved @peer over IPv4 on lan0 with its
 * address, port and TXT, and over IPv6 (our IPv6 socket answered
 * avahi's IPv6 queries). */
static gboolean
avahi_sees (const char *browse,
            Peer       *peer)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (peer->ticket, &error);
  g_auto(GStrv) quic = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_QUIC);
  g_auto(GStrv) tls = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_TLS);
  g_autofree char *quic_port = g_strdup (strrchr (quic[0], ':') + 1);
  g_autofree char *tls_port = g_strdup (strrchr (tls[0], ':') + 1);
  g_autofree char *host = g_strndup (quic[0], strrchr (quic[0], ':') - quic[0]);
  g_autofree char *prefix = g_strdup_printf ("=;lan0;IPv4;%s;_foctet._udp;local;%s.local;%s;%s;", peer->id,
                                             peer->id, host, quic_port);
  g_autofree char *v6 = g_strdup_printf ("=;lan0;IPv6;%s;_foctet._udp;local;%s.local;", peer->id, peer->id);
  g_autofree char *id = g_strdup_printf ("\"id=%s\"", peer->id);
  g_autofree char *q = g_strdup_printf ("\"quic=%s\"", quic_port);
  g_autofree char *t = g_strdup_printf ("\"tls=%s\"", tls_port);
  g_auto(GStrv) lines = g_strsplit (browse, "\n", -1);
  gboolean v4_found = FALSE, v6_found = FALSE;

  g_assert_no_error (error);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], prefix))
        {
          /* What is there must be right, whenever it is there. */
          g_assert_nonnull (strstr (lines[i], id));
          g_assert_nonnull (strstr (lines[i], q));
          g_assert_nonnull (strstr (lines[i], t));
          g_assert_nonnull (strstr (lines[i], "\"v=1\""));
          v4_found = TRUE;
        }
      if (g_str_has_prefix (lines[i], v6))
        {
          g_assert_nonnull (strstr (lines[i], id));
          v6_found = TRUE;
        }
    }
  if (!v4_found || !v6_found)
    g_test_message ("avahi-browse has not resolved %s yet over%s%s", peer->name, v4_found ? "" : " IPv4",
                    v6_found ? "" : " IPv6");
  return v4_found && v6_found;
}

static void
test_avahi (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1], *c = lab.nodes[2];
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *out = NULL, *err = NULL;
  Avahi avahi = { 0 };
  Peer *d;
  double start;
  int status;

  netns_require_programs ("the avahi interoperability test needs avahi-daemon, avahi-utils and dbus-daemon",
                          "avahi-daemon", "avahi-browse", "dbus-daemon", NULL);
  avahi_start (&avahi);

  /* A node started next to avahi shares port 5353 with it, finds the
   * others and is found within 2 s. */
  d = peer_spawn (NETNS_SIDE_A, "D");
  start = now_seconds ();
  peer_wait_for (d, a, TRUE, 5);
  peer_wait_for (d, b, TRUE, 5);
  peer_wait_for (d, c, TRUE, 5);
  peer_wait_for (b, d, TRUE, 5);
  peer_wait_for (c, d, TRUE, 5);
  g_test_message ("D, next to avahi, found and found by all after %.3f s", now_seconds () - start);
  g_assert_cmpfloat (now_seconds () - start, <=, DISCOVERY_SECONDS);

  /* avahi sees our announcements: instance, host, address, port, TXT,
   * over IPv4 and IPv6.  `avahi-browse -t` lists what avahi's cache
   * holds once its first queries were answered; avahi, started a moment
   * ago, may still be filling it (our answers to its queries are held
   * back while we multicast the same a second before): up to five
   * looks, a second apart. */
  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", avahi.bus_address, TRUE);
  for (int attempt = 0; attempt < 5; attempt++)
    {
      const char *argv[] = { "avahi-browse", "-rpt", "_foctet._udp", NULL };
      gboolean seen_b, seen_c;

      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      status = netns_lab_run (lab.lab, NETNS_SIDE_A, launcher, argv, 20, &out, &err);
      g_test_message ("avahi-browse (%d):\n%s%s", status, out, err);
      g_assert_cmpint (status, ==, 0);
      seen_b = avahi_sees (out, b);
      seen_c = avahi_sees (out, c);
      if (seen_b && seen_c)
        break;
      if (attempt == 4)
        g_error ("avahi-browse did not resolve B and C over IPv4 and IPv6 in 5 tries:\n%s", out);
      g_usleep (G_USEC_PER_SEC);
    }

  peer_quit (d);
  peer_wait_for (b, d, FALSE, 5);
  peer_free (d);
  avahi_stop (&avahi);
}

/* foctet-shell as a user runs it: `serve` in A and B announces by mDNS;
 * from C, `peers` lists them and `ping NODEID` reaches one by its NodeId
 * alone; once a server stopped (SIGTERM: goodbye), pinging it fails with
 * mDNS's "no answer" after 3 s. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  char *ticket;
  char *id;
} Server;

static GSubprocessLauncher *
shell_launcher (const char        *tmpdir,
                GSubprocessFlags   flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  g_autofree char *data_home = g_build_filename (tmpdir, "data", NULL);

  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_SYSTEM_PATH", "", TRUE);
  return launcher;
}

static void
server_start (Server     *server,
              NetnsSide   side,
              const char *tmpdir,
              const char *name)
{
  g_autoptr(GSubprocessLauncher) launcher = shell_launcher (tmpdir, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *identity = g_strdup_printf ("%s/%s.key", tmpdir, name);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", identity, "serve", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;

  server->process = netns_lab_spawn (lab.lab, side, launcher, argv, &error);
  g_assert_no_error (error);
  server->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  server->ticket = netns_read_line (server->out, LINE_TIMEOUT);
  if (server->ticket == NULL)
    g_error ("foctet-shell serve printed no ticket within %d s", LINE_TIMEOUT);
  ticket = foctet_ticket_parse (server->ticket, &error);
  g_assert_no_error (error);
  server->id = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
}

static void
server_stop (Server *server)
{
  g_subprocess_send_signal (server->process, SIGTERM);
  g_assert_true (netns_wait_process (server->process, LINE_TIMEOUT));
  g_assert_true (g_subprocess_get_if_exited (server->process));
  g_assert_cmpint (g_subprocess_get_exit_status (server->process), ==, 0);
  g_clear_object (&server->process);
  g_clear_object (&server->out);
  g_clear_pointer (&server->ticket, g_free);
  g_clear_pointer (&server->id, g_free);
}

static int
shell_run (const char  *tmpdir,
           const char  *first,
           char       **out,
           char       **err,
           ...)
{
  g_autoptr(GSubprocessLauncher) launcher = shell_launcher (tmpdir, G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *identity = g_strdup_printf ("%s/c.key", tmpdir);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_SHELL"));
  g_ptr_array_add (argv, (char *) "--identity");
  g_ptr_array_add (argv, identity);
  g_ptr_array_add (argv, (char *) first);
  va_start (args, err);
  for (const char *arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return netns_lab_run (lab.lab, NETNS_SIDE_C, launcher, (const char * const *) argv->pdata, 30, out, err);
}

static void
test_shell (void)
{
  Peer *c = lab.nodes[2];
  g_autofree char *tmpdir = g_dir_make_tmp ("foctet-mdns-shell-XXXXXX", NULL);
  g_autofree char *out = NULL, *err = NULL, *ping_out = NULL, *ping_err = NULL;
  g_autofree char *gone_out = NULL, *gone_err = NULL, *peers_a = NULL, *line_a = NULL, *line_b = NULL;
  g_autofree char *b_id = NULL;
  Server a = { 0 }, b = { 0 };
  double start;
  int status;

  g_assert_nonnull (tmpdir);
  server_start (&a, NETNS_SIDE_A, tmpdir, "a");
  server_start (&b, NETNS_SIDE_B, tmpdir, "b");
  /* Both announce themselves: C's node sees them. */
  peer_wait_for_id (c, a.id, "serve A", TRUE, DISCOVERY_SECONDS);
  peer_wait_for_id (c, b.id, "serve B", TRUE, DISCOVERY_SECONDS);

  /* peers lists both, with the addresses of their tickets. */
  status = shell_run (tmpdir, "peers", &out, &err, NULL);
  g_test_message ("foctet-shell peers (%d):\n%s%s", status, out, err);
  g_assert_cmpint (status, ==, 0);
  peers_a = ticket_addresses (a.ticket, ",");
  line_a = g_strdup_printf ("%s %s ", a.id, peers_a);
  g_assert_nonnull (strstr (out, line_a));
  line_b = g_strdup_printf ("%s ", b.id);
  g_assert_nonnull (strstr (out, line_b));

  /* ping by NodeId alone. */
  status = shell_run (tmpdir, "ping", &ping_out, &ping_err, "--count", "1", b.id, NULL);
  g_test_message ("foctet-shell ping %s (%d): %s%s", b.id, status, ping_out, ping_err);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_str_has_prefix (ping_out, "seq=1 rtt="));
  g_assert_nonnull (strstr (ping_out, " via=quic"));

  /* B stops: its goodbye takes it off C's list at once, and pinging it
   * fails after mDNS's 3 s. */
  b_id = g_strdup (b.id);
  server_stop (&b);
  g_assert_cmpfloat (peer_wait_for_id (c, b_id, "serve B", FALSE, 5), <, 1.0);
  start = now_seconds ();
  status = shell_run (tmpdir, "ping", &gone_out, &gone_err, "--count", "1", b_id, NULL);
  g_test_message ("foctet-shell ping (gone) (%d): %s%s", status, gone_out, gone_err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (gone_err, "no answer on the local network"));
  g_assert_cmpfloat (now_seconds () - start, >=, 2.9);

  server_stop (&a);
  {
    const char *argv[] = { "rm", "-rf", tmpdir, NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
}

/* Python through introspection, as a GNOME app would: the node's
 * GListModel of peers, watched on a GLib.MainLoop, fills with the nodes
 * of the LAN (and their announced addresses); the first is dialed. */
static void
test_python (void)
{
  Peer *a = lab.nodes[0], *b = lab.nodes[1];
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  const char *argv[] = { "/usr/bin/python3", g_getenv ("FOCTET_MDNS_BROWSE"), a->id, b->id, NULL };
  g_autofree char *out = NULL, *err = NULL, *expected_a = NULL, *expected_b = NULL, *dialed = NULL;
  g_autofree char *addresses_a = expected_addresses (a);
  g_autofree char *addresses_b = expected_addresses (b);
  int status;

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_SYSTEM_PATH", "", TRUE);
  status = netns_lab_run (lab.lab, NETNS_SIDE_C, launcher, argv, 30, &out, &err);
  g_test_message ("mdns-browse: %s%s", out, err);
  g_assert_cmpint (status, ==, 0);
  expected_a = g_strdup_printf ("found %s %s\n", a->id, addresses_a);
  expected_b = g_strdup_printf ("found %s %s\n", b->id, addresses_b);
  dialed = g_strdup_printf ("dialed %s via=quic\n", a->id);
  g_assert_nonnull (strstr (out, expected_a));
  g_assert_nonnull (strstr (out, expected_b));
  g_assert_true (g_str_has_suffix (out, dialed));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  netns_init ();

  lab.lab = netns_lab_new_bridge (N_NODES);
  /* In this order: each test starts from the state the one before left. */
  g_test_add_func ("/mdns/discover", test_discover);
  g_test_add_func ("/mdns/ping", test_ping);
  g_test_add_func ("/mdns/goodbye-restart", test_goodbye_restart);
  g_test_add_func ("/mdns/hostile", test_hostile);
  g_test_add_func ("/mdns/expiry", test_expiry);
  g_test_add_func ("/mdns/republish", test_republish);
  g_test_add_func ("/mdns/late-link", test_late_link);
  g_test_add_func ("/mdns/avahi", test_avahi);
  g_test_add_func ("/mdns/shell", test_shell);
  /* Where the build has the typelib (not the sanitizer build). */
  if (g_getenv ("FOCTET_MDNS_BROWSE") != NULL)
    g_test_add_func ("/mdns/python", test_python);
  status = g_test_run ();

  for (int i = 0; i < N_NODES; i++)
    peer_quit (lab.nodes[i]);
  for (int i = 0; i < N_NODES; i++)
    peer_free (lab.nodes[i]);
  netns_lab_free (lab.lab);
  return status;
}

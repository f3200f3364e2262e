/* test-race.c: foctet_node_dial_async() racing a ticket's addresses
 * (PROTOCOL §3, "happy eyeballs") over real sockets on loopback, with the
 * real tls transport (and yamux) loaded from the build tree.
 *
 * With FOCTET_TEST_QUIC_TWIN set, the "quic" transport is the test-only
 * twin of tcp-test (tests/plugins/quic-twin), whose dials can be told to
 * hang, fail at once, or connect late even when cancelled: every case of
 * the race runs.  Without it, "quic" is whatever the plugin path holds
 * (the real plugin or nothing), and only the cases that need no twin run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 20
/* What a dial on loopback may take beyond the racing delay, even in a
 * sanitizer build on a busy machine. */
#define MARGIN_MS 1500

static gboolean have_twin;

typedef struct {
  FoctetNode *server;
  FoctetNode *client;
  FoctetTicket *ticket;       /* the server's: quic, then tls */
  guint incoming;             /* connections the server accepted */
  guint closed;               /* ... and saw end */
  guint closed_with_error;
  GPtrArray *live;            /* the server's connections still open */
} Fixture;

static void
incoming_cb (FoctetNode       *node,
             FoctetConnection *connection,
             gpointer          user_data)
{
  Fixture *fixture = user_data;

  fixture->incoming++;
  g_ptr_array_add (fixture->live, g_object_ref (connection));
}

static void
closed_cb (FoctetNode       *node,
           FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  Fixture *fixture = user_data;

  fixture->closed++;
  if (error != NULL)
    fixture->closed_with_error++;
  g_ptr_array_remove (fixture->live, connection);
}

static void
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Runs the loop for @ms. */
static void
spin (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add_once (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* Runs the loop until @check (@data) holds, failing after TIMEOUT s. */
static void
spin_until (gboolean (*check) (gpointer),
            gpointer data)
{
  gint64 end = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (!check (data))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      spin (10);
    }
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *tls = NULL;

  fixture->live = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->server = foctet_test_node_new ();
  fixture->client = foctet_test_node_new ();
  g_signal_connect (fixture->server, "incoming-connection", G_CALLBACK (incoming_cb), fixture);
  g_signal_connect (fixture->server, "connection-closed", G_CALLBACK (closed_cb), fixture);

  if (have_twin)
    {
      g_autofree char *quic = foctet_test_node_listen (fixture->server, "quic/127.0.0.1:0", TIMEOUT);
    }
  tls = foctet_test_node_listen (fixture->server, "tls/127.0.0.1:0", TIMEOUT);
  fixture->ticket = foctet_node_get_ticket (fixture->server);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  GWeakRef client_ref, server_ref;

  foctet_test_node_shutdown (fixture->client, TIMEOUT);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  g_weak_ref_init (&client_ref, fixture->client);
  g_weak_ref_init (&server_ref, fixture->server);
  g_clear_pointer (&fixture->live, g_ptr_array_unref);
  g_clear_object (&fixture->ticket);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  /* Let closes in flight finish so nothing is left for the leak checker. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  spin (50);
  {
    g_autoptr(GObject) client = g_weak_ref_get (&client_ref);
    g_autoptr(GObject) server = g_weak_ref_get (&server_ref);

    /* Nothing of a dial holds on to a node once the dial is over. */
    g_assert_null (client);
    g_assert_null (server);
  }
  g_weak_ref_clear (&client_ref);
  g_weak_ref_clear (&server_ref);
}

static GObject *
client_quic (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  FoctetTransport *quic = foctet_node_get_transport (fixture->client, "quic", &error);

  g_assert_no_error (error);
  g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (quic), "dial-mode"));
  return G_OBJECT (quic);
}

static guint
get_uint (GObject    *object,
          const char *property)
{
  guint value = 0;

  g_object_get (object, property, &value, NULL);
  return value;
}

/* Dials @ticket from the client; returns the connection or NULL with
 * @error, and in *elapsed_ms how long that took. */
static FoctetConnection *
dial (Fixture      *fixture,
      FoctetTicket *ticket,
      const char   *transport,
      GCancellable *cancellable,
      gint64       *elapsed_ms,
      GError      **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  gint64 start = g_get_monotonic_time ();

  foctet_node_dial_async (fixture->client, ticket, transport, cancellable, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  *elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_test_message ("dial took %" G_GINT64_FORMAT " ms", *elapsed_ms);
  return foctet_node_dial_finish (fixture->client, result, error);
}

static gboolean
no_pending_dials (gpointer data)
{
  return get_uint (data, "pending-dials") == 0;
}

/* A port nothing listens on (TCP). */
static guint16
closed_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* A socket on 127.0.0.1 that takes packets or connections and never
 * answers. */
static GSocket *
make_sink (GSocketType   type,
           char        **address)
{
  g_autoptr(GError) error = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, type, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_assert_no_error (error);
  if (type == G_SOCKET_TYPE_STREAM)
    {
      g_assert_true (g_socket_listen (socket, &error));
      g_assert_no_error (error);
    }
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  *address = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  return socket;
}

static const char *
first_address (FoctetTicket      *ticket,
               FoctetAddressKind  kind)
{
  g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kind);
  static char buf[128];

  g_assert_nonnull (addresses[0]);
  g_strlcpy (buf, addresses[0], sizeof buf);
  return buf;
}

static gboolean
need_twin (void)
{
  if (!have_twin)
    g_test_skip ("needs the quic twin of tcp-test");
  return have_twin;
}

/* Both answer: QUIC, first, wins before TLS is even tried. */
static void
test_quic_first (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  gint64 elapsed;

  if (!need_twin ())
    return;
  foctet_node_set_dial_race_delay (fixture->client, 400);
  connection = dial (fixture, fixture->ticket, NULL, NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "quic");
  g_assert_cmpint (elapsed, <, 400);

  /* The racing timer is gone with the dial: TLS is never dialed. */
  spin (600);
  g_assert_cmpuint (fixture->incoming, ==, 1);
  g_assert_cmpuint (fixture->live->len, ==, 1);
  g_assert_cmpuint (get_uint (client_quic (fixture), "dial-attempts"), ==, 1);
}

/* QUIC hangs: TLS starts after the racing delay, not before, and wins;
 * the QUIC dial is cancelled. */
static void
test_first_hangs (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  GObject *quic;
  gint64 elapsed;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-mode", "hang", NULL);
  g_object_set (fixture->client, "dial-race-delay", 300, NULL);
  connection = dial (fixture, fixture->ticket, NULL, NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "tls");
  g_assert_cmpint (elapsed, >=, 300);
  g_assert_cmpint (elapsed, <, 300 + MARGIN_MS);
  spin_until (no_pending_dials, quic);
  g_assert_cmpuint (fixture->incoming, ==, 1);
}

/* QUIC fails at once: TLS starts at once, well before the delay. */
static void
test_first_fails (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  GObject *quic;
  gint64 elapsed;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-mode", "fail", NULL);
  foctet_node_set_dial_race_delay (fixture->client, 5000);
  connection = dial (fixture, fixture->ticket, NULL, NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "tls");
  g_assert_cmpint (elapsed, <, MARGIN_MS);
  g_assert_cmpuint (get_uint (quic, "dial-attempts"), ==, 1);
}

static gboolean
loser_closed (gpointer data)
{
  Fixture *fixture = data;

  return fixture->incoming == 2 && fixture->closed == 1;
}

/* Both connect: TLS wins the race while QUIC is slow, QUIC connects all
 * the same (it ignores the cancel) and is closed politely; one
 * connection is left, on both sides. */
static void
test_both_succeed (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  GObject *quic;
  gint64 elapsed;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-delay", 500, "dial-ignore-cancel", TRUE, NULL);
  foctet_node_set_dial_race_delay (fixture->client, 100);
  connection = dial (fixture, fixture->ticket, NULL, NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "tls");
  g_assert_cmpint (elapsed, <, 500);

  spin_until (loser_closed, fixture);
  spin (200);
  g_assert_cmpuint (fixture->incoming, ==, 2);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_assert_cmpuint (fixture->closed_with_error, ==, 0);
  g_assert_cmpuint (fixture->live->len, ==, 1);
  g_assert_cmpstr (foctet_connection_get_transport_name (g_ptr_array_index (fixture->live, 0)), ==, "tls");
  g_assert_false (foctet_connection_is_closed (connection));
  g_assert_cmpuint (get_uint (quic, "pending-dials"), ==, 0);
}

/* Every address fails: one error naming each, with its reason. */
static void
test_all_fail (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = NULL, *quic_address = NULL, *tls_address = NULL, *expected = NULL;
  gint64 elapsed;

  if (!need_twin ())
    return;
  g_object_set (client_quic (fixture), "dial-mode", "fail", NULL);
  quic_address = g_strdup (first_address (fixture->ticket, FOCTET_ADDRESS_KIND_QUIC));
  tls_address = g_strdup_printf ("127.0.0.1:%u", closed_port ());
  ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, tls_address, &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, quic_address, &error));
  g_assert_no_error (error);

  connection = dial (fixture, ticket, NULL, NULL, &elapsed, &error);
  g_assert_null (connection);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  peer = foctet_node_id_to_string (foctet_node_get_node_id (fixture->server));
  expected = g_strdup_printf ("Cannot reach %s: quic/%s — ", peer, quic_address);
  g_assert_true (g_str_has_prefix (error->message, expected));
  g_assert_nonnull (strstr (error->message, "told to fail"));
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("; tls/%s — ", tls_address);
  g_assert_nonnull (strstr (error->message, expected));
  /* Both failed at once: no waiting for the racing delay. */
  g_assert_cmpint (elapsed, <, MARGIN_MS);
}

/* The QUIC address is someone else's node and TLS is refused: that the
 * peer is not who the ticket says is what the error says. */
static void
test_mismatch_surfaces (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(FoctetNode) stranger = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stranger_uri = NULL, *tls_address = NULL;
  gint64 elapsed;

  if (!need_twin ())
    return;
  stranger = foctet_test_node_new ();
  stranger_uri = foctet_test_node_listen (stranger, "quic/127.0.0.1:0", TIMEOUT);
  tls_address = g_strdup_printf ("127.0.0.1:%u", closed_port ());
  ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC,
                                            stranger_uri + strlen ("quic/"), &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, tls_address, &error));
  g_assert_no_error (error);

  connection = dial (fixture, ticket, NULL, NULL, &elapsed, &error);
  g_assert_null (connection);
  g_test_message ("%s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  g_assert_nonnull (strstr (error->message, stranger_uri));
  g_assert_nonnull (strstr (error->message, tls_address));
  foctet_test_node_shutdown (stranger, TIMEOUT);
}

/* A forced transport: no race, the other transport is never dialed. */
static void
test_forced (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(FoctetConnection) tls = NULL;
  g_autoptr(FoctetConnection) quic_connection = NULL;
  g_autoptr(GError) error = NULL;
  GObject *quic;
  gint64 elapsed;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-mode", "hang", NULL);
  tls = dial (fixture, fixture->ticket, "tls", NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (tls), ==, "tls");
  g_assert_cmpint (elapsed, <, 250);
  g_assert_cmpuint (get_uint (quic, "dial-attempts"), ==, 0);

  g_object_set (quic, "dial-mode", "normal", NULL);
  quic_connection = dial (fixture, fixture->ticket, "quic", NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (quic_connection), ==, "quic");
  spin (400);
  g_assert_cmpuint (fixture->incoming, ==, 2);

  /* A forced transport the ticket has no address for. */
  {
    g_autoptr(FoctetTicket) ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
    g_autoptr(FoctetConnection) none = NULL;

    none = dial (fixture, ticket, "tls", NULL, &elapsed, &error);
    g_assert_null (none);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  }
}

static void
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

static gboolean
only_reference (gpointer data)
{
  return G_OBJECT (data)->ref_count == 1;
}

/* Cancelled while both attempts are in flight: cancelled at once, and
 * every attempt ends. */
static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GSocket) sink = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sink_address = NULL;
  GObject *quic;
  gint64 elapsed;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-mode", "hang", NULL);
  sink = make_sink (G_SOCKET_TYPE_STREAM, &sink_address);
  ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC,
                                            first_address (fixture->ticket, FOCTET_ADDRESS_KIND_QUIC), &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, sink_address, &error));
  g_assert_no_error (error);
  foctet_node_set_dial_race_delay (fixture->client, 100);

  g_timeout_add_once (400, cancel_cb, cancellable);
  connection = dial (fixture, ticket, NULL, cancellable, &elapsed, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (elapsed, >=, 400);
  g_assert_cmpint (elapsed, <, 400 + 500);
  g_assert_cmpuint (get_uint (quic, "dial-attempts"), ==, 1);

  /* Nothing of the dial keeps running: every attempt let go of it. */
  spin_until (no_pending_dials, quic);
  spin_until (only_reference, fixture->client);

  /* Cancelled before it starts: nothing is dialed. */
  {
    g_autoptr(FoctetConnection) none = NULL;

    g_clear_error (&error);
    none = dial (fixture, fixture->ticket, NULL, cancellable, &elapsed, &error);
    g_assert_null (none);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpuint (get_uint (quic, "dial-attempts"), ==, 1);
  }
}

/* The node shuts down mid-race: the dial ends at once, and so do its
 * attempts. */
static void
test_shutdown (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GAsyncResult *slot = NULL;
  GObject *quic;
  gint64 start;

  if (!need_twin ())
    return;
  quic = client_quic (fixture);
  g_object_set (quic, "dial-mode", "hang", NULL);
  foctet_node_set_dial_race_delay (fixture->client, 60 * 1000);
  foctet_node_dial_async (fixture->client, fixture->ticket, NULL, NULL, foctet_test_store_result, &slot);
  spin (100);
  g_assert_null (slot);
  start = g_get_monotonic_time ();
  foctet_test_node_shutdown (fixture->client, TIMEOUT);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, MARGIN_MS * 1000);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_object (&result);     /* it holds the node */
  spin_until (no_pending_dials, quic);
  spin_until (only_reference, fixture->client);
}

/* The ticket's QUIC address is a UDP socket that never answers; TLS is
 * real.  Without a quic plugin the QUIC address is skipped; with the real
 * one, TLS wins after the racing delay. */
static void
test_udp_sink (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GSocket) sink = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sink_address = NULL;
  g_auto(GStrv) loaded = foctet_registry_list_names (foctet_registry_get_default (),
                                                     FOCTET_PLUGIN_KIND_TRANSPORT);
  gboolean real_quic = !have_twin && g_strv_contains ((const char * const *) loaded, "quic");
  gint64 elapsed;

  sink = make_sink (G_SOCKET_TYPE_DATAGRAM, &sink_address);
  ticket = foctet_ticket_new (foctet_node_get_node_id (fixture->server));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS,
                                            first_address (fixture->ticket, FOCTET_ADDRESS_KIND_TLS), &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, sink_address, &error));
  g_assert_no_error (error);
  foctet_node_set_dial_race_delay (fixture->client, 300);

  connection = dial (fixture, ticket, NULL, NULL, &elapsed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "tls");
  g_assert_cmpint (elapsed, <, 300 + MARGIN_MS);
  if (real_quic)
    g_assert_cmpint (elapsed, >=, 300);
  else if (!have_twin)
    g_assert_cmpint (elapsed, <, 300);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  have_twin = g_getenv ("FOCTET_TEST_QUIC_TWIN") != NULL;

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/race/quic-first", test_quic_first);
  ADD ("/race/first-hangs", test_first_hangs);
  ADD ("/race/first-fails", test_first_fails);
  ADD ("/race/both-succeed", test_both_succeed);
  ADD ("/race/all-fail", test_all_fail);
  ADD ("/race/mismatch-surfaces", test_mismatch_surfaces);
  ADD ("/race/forced", test_forced);
  ADD ("/race/cancel", test_cancel);
  ADD ("/race/shutdown", test_shutdown);
  ADD ("/race/udp-sink", test_udp_sink);
#undef ADD

  return g_test_run ();
}

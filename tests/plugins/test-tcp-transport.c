/* test-tcp-transport.c: the TEST-ONLY "tcp-test" transport plugin, loaded
 * through the registry from FOCTET_PLUGIN_PATH and driven only through the
 * core's interfaces: two transports in one process on one GMainContext,
 * handshake and NodeId check, streams both ways, half-close, reset,
 * closing, and a crowd of concurrent streams with checksummed data.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 20

/* Helpers that wait, boundedly, for one async call. */

static FoctetIdentity *
make_identity (void)
{
  g_autoptr(GError) error = NULL;
  FoctetIdentity *identity = foctet_identity_generate (&error);

  g_assert_no_error (error);
  return identity;
}

static FoctetTransport *
make_transport (FoctetIdentity *identity)
{
  g_autoptr(GError) error = NULL;
  FoctetTransport *transport =
    foctet_registry_create_transport (foctet_registry_get_default (), "tcp-test", identity, &error);

  g_assert_no_error (error);
  return transport;
}

static char *
listen_on (FoctetTransport  *transport,
           const char       *address,
           GError          **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_transport_listen_async (transport, address, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_transport_listen_finish (transport, result, error);
}

static FoctetConnection *
dial (FoctetTransport     *transport,
      const char          *address,
      const FoctetNodeId  *expected,
      GError             **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_transport_dial_async (transport, address, expected, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_transport_dial_finish (transport, result, error);
}

static char *
read_header (FoctetStream *stream)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  const char *protocol;

  foctet_stream_read_header_async (stream, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  protocol = foctet_stream_read_header_finish (stream, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (protocol, ==, foctet_stream_get_protocol (stream));
  return g_strdup (protocol);
}

static void
assert_bytes_equal (GBytes     *bytes,
                    const char *expected)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  g_assert_cmpmem (data, len, expected, strlen (expected));
}

/* Lets callbacks already due run, for at most @ms milliseconds. */
static gboolean
settle_timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
settle (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, settle_timeout_cb, &done);
  foctet_test_wait_for (&done, TIMEOUT);
}

/* Runs the main context until @condition holds, failing after TIMEOUT. */
typedef gboolean (*Condition) (gconstpointer data);

static void
wait_until (Condition     condition,
            gconstpointer data)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (!condition (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Condition not met after %d s", TIMEOUT);
      settle (5);
    }
}

static gboolean
is_nonzero (gconstpointer data)
{
  return *(const guint *) data != 0;
}

static gboolean
has_two (gconstpointer data)
{
  return *(const guint *) data >= 2;
}

static gboolean
connection_closed (gconstpointer data)
{
  return foctet_connection_is_closed ((FoctetConnection *) data);
}

/* Records a connection's "closed" signal. */
typedef struct {
  guint count;
  GError *error;
} Closed;

static void
closed_clear (Closed *closed)
{
  g_clear_error (&closed->error);
}

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  Closed *closed = user_data;

  closed->count++;
  g_clear_error (&closed->error);
  closed->error = error != NULL ? g_error_copy (error) : NULL;
}

/* The fixture: transport A listens on 127.0.0.1, B dials it (and never
 * listens itself, so its streams come through an ephemeral listener). */

typedef struct {
  FoctetIdentity *id_a;
  FoctetIdentity *id_b;
  FoctetTransport *a;
  FoctetTransport *b;
  char *a_address;
  GPtrArray *a_incoming;         /* every connection A accepted */
  guint n_incoming;
  FoctetConnection *a_conn;      /* the first of them */
  FoctetConnection *b_conn;      /* B's side of it */
} Fixture;

static void
incoming_cb (FoctetTransport  *transport,
             FoctetConnection *connection,
             gpointer          user_data)
{
  Fixture *fixture = user_data;

  g_assert_true (FOCTET_IS_CONNECTION (connection));
  g_ptr_array_add (fixture->a_incoming, g_object_ref (connection));
  fixture->n_incoming++;
}

static void
fixture_listen (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  fixture->id_a = make_identity ();
  fixture->id_b = make_identity ();
  fixture->a = make_transport (fixture->id_a);
  fixture->b = make_transport (fixture->id_b);
  fixture->a_incoming = g_ptr_array_new_with_free_func (g_object_unref);
  g_signal_connect (fixture->a, "incoming", G_CALLBACK (incoming_cb), fixture);

  fixture->a_address = listen_on (fixture->a, "127.0.0.1:0", &error);
  g_assert_no_error (error);
}

static void
fixture_connect (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  fixture->b_conn = dial (fixture->b, fixture->a_address, foctet_identity_get_node_id (fixture->id_a),
                          &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->b_conn);
  wait_until (is_nonzero, &fixture->n_incoming);
  fixture->a_conn = g_object_ref (g_ptr_array_index (fixture->a_incoming, 0));
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture_listen (fixture);
  fixture_connect (fixture);
}

static void
fixture_setup_listen_only (Fixture       *fixture,
                           gconstpointer  data)
{
  fixture_listen (fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  if (fixture->b_conn != NULL && !foctet_connection_is_closed (fixture->b_conn))
    foctet_test_close_connection (fixture->b_conn, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  for (guint i = 0; i < fixture->a_incoming->len; i++)
    if (!foctet_connection_is_closed (g_ptr_array_index (fixture->a_incoming, i)))
      foctet_test_close_connection (g_ptr_array_index (fixture->a_incoming, i), FOCTET_CLOSE_CODE_NO_ERROR,
                                    "done", TIMEOUT);
  g_signal_handlers_disconnect_by_func (fixture->a, incoming_cb, fixture);
  foctet_transport_stop (fixture->a);
  foctet_transport_stop (fixture->b);

  g_clear_object (&fixture->a_conn);
  g_clear_object (&fixture->b_conn);
  g_clear_pointer (&fixture->a_incoming, g_ptr_array_unref);
  g_clear_object (&fixture->a);
  g_clear_object (&fixture->b);
  g_clear_object (&fixture->id_a);
  g_clear_object (&fixture->id_b);
  g_clear_pointer (&fixture->a_address, g_free);
  /* Let closes in flight finish, so nothing is left for the leak checker. */
  settle (50);
}

/* Tests */

static void
test_listen (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) addresses = NULL;
  g_auto(GStrv) none = NULL;
  g_autofree char *again = NULL;
  g_autofree char *named = NULL;
  g_autoptr(FoctetConnection) refused = NULL;
  guint16 port = 0;

  g_assert_true (g_str_has_prefix (fixture->a_address, "127.0.0.1:"));
  g_assert_true (foctet_parse_host_port (fixture->a_address, NULL, &port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (port, !=, 0);
  addresses = foctet_transport_get_listen_addresses (fixture->a);
  g_assert_cmpuint (g_strv_length (addresses), ==, 1);
  g_assert_cmpstr (addresses[0], ==, fixture->a_address);

  /* Once only. */
  again = listen_on (fixture->a, "127.0.0.1:0", &error);
  g_assert_null (again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  /* IP addresses only; the host:port parser's errors come through. */
  named = listen_on (fixture->b, "localhost:0", &error);
  g_assert_null (named);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_pointer (&named, g_free);
  named = listen_on (fixture->b, "127.0.0.1", &error);
  g_assert_null (named);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Stopped, with no connection to keep it: the port is closed. */
  foctet_transport_stop (fixture->a);
  none = foctet_transport_get_listen_addresses (fixture->a);
  g_assert_cmpuint (g_strv_length (none), ==, 0);
  refused = dial (fixture->b, fixture->a_address, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (fixture->a_incoming->len, ==, 0);
}

static void
test_connect (Fixture       *fixture,
              gconstpointer  data)
{
  g_auto(GStrv) b_addresses = NULL;

  /* Each side knows the other by its NodeId. */
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (fixture->b_conn),
                                       foctet_identity_get_node_id (fixture->id_a)));
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (fixture->a_conn),
                                       foctet_identity_get_node_id (fixture->id_b)));
  g_assert_true (foctet_connection_is_initiator (fixture->b_conn));
  g_assert_false (foctet_connection_is_initiator (fixture->a_conn));
  g_assert_cmpstr (foctet_connection_get_transport_name (fixture->b_conn), ==, "tcp-test");
  g_assert_cmpstr (foctet_connection_get_transport_name (fixture->a_conn), ==, "tcp-test");
  g_assert_false (foctet_connection_is_closed (fixture->b_conn));
  g_assert_false (foctet_connection_is_closed (fixture->a_conn));

  /* The two ends of one TCP connection. */
  g_assert_cmpstr (foctet_connection_get_remote_address (fixture->b_conn), ==, fixture->a_address);
  g_assert_cmpstr (foctet_connection_get_local_address (fixture->a_conn), ==, fixture->a_address);
  g_assert_cmpstr (foctet_connection_get_remote_address (fixture->a_conn), ==,
                   foctet_connection_get_local_address (fixture->b_conn));

  /* B listens only for its streams, and does not say so. */
  b_addresses = foctet_transport_get_listen_addresses (fixture->b);
  g_assert_cmpuint (g_strv_length (b_addresses), ==, 0);
  g_assert_cmpuint (fixture->a_incoming->len, ==, 1);
}

/* One stream each way: the opener writes and half-closes; the acceptor
 * reads the header and everything up to end-of-stream before it answers,
 * then half-closes in turn; the opener reads the answer and then its end. */
static void
echo_once (FoctetConnection *opener,
           FoctetConnection *acceptor,
           gboolean          opener_is_initiator)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) out = NULL;
  g_autoptr(FoctetStream) in = NULL;
  g_autoptr(GBytes) request = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autofree char *protocol = NULL;
  const char *text = "the quick brown fox jumps over the lazy dog";
  gssize n;

  out = foctet_test_open_stream (opener, "test/echo", &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_stream_get_protocol (out), ==, "test/echo");
  /* Odd ids are the dialer's, even ones the listener's. */
  g_assert_cmpuint (foctet_stream_get_id (out) % 2, ==, opener_is_initiator ? 1 : 0);
  g_assert_true (G_IS_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (out))));
  g_assert_true (G_IS_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (out))));
  foctet_test_stream_write_all (out, text, strlen (text), TIMEOUT);
  foctet_test_stream_close_write (out, TIMEOUT);

  /* Nothing more can be written after the half-close. */
  n = g_pollable_output_stream_write_nonblocking (
        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (out))),
        "x", 1, NULL, &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_nonnull (error);
  g_clear_error (&error);

  in = foctet_test_accept_stream (acceptor, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (in), ==, foctet_stream_get_id (out));
  protocol = read_header (in);
  g_assert_cmpstr (protocol, ==, "test/echo");
  request = foctet_test_stream_read_to_end (in, &error, TIMEOUT);
  g_assert_no_error (error);
  assert_bytes_equal (request, text);

  /* The acceptor saw the end, and can still answer. */
  foctet_test_stream_write_all (in, "reply:", 6, TIMEOUT);
  foctet_test_stream_write_all (in, text, strlen (text), TIMEOUT);
  foctet_test_stream_close_write (in, TIMEOUT);
  answer = foctet_test_stream_read_to_end (out, &error, TIMEOUT);
  g_assert_no_error (error);
  {
    g_autofree char *expected = g_strconcat ("reply:", text, NULL);
    assert_bytes_equal (answer, expected);
  }

  foctet_test_stream_close (out, TIMEOUT);
  foctet_test_stream_close (in, TIMEOUT);
}

static void
test_echo (Fixture       *fixture,
           gconstpointer  data)
{
  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
  /* The other way: A reaches B's ephemeral listener. */
  echo_once (fixture->a_conn, fixture->b_conn, FALSE);
  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
}

static void
test_wrong_peer (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) other = make_identity ();
  g_autoptr(FoctetConnection) connection = NULL;
  g_autofree char *other_text = foctet_node_id_to_string (foctet_identity_get_node_id (other));

  connection = dial (fixture->b, fixture->a_address, foctet_identity_get_node_id (other), &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  /* It says whom it expected. */
  g_assert_nonnull (strstr (error->message, other_text));
  g_clear_error (&error);

  /* The dialer hung up, so whatever A made of it ends too. */
  settle (200);
  for (guint i = 0; i < fixture->a_incoming->len; i++)
    g_assert_true (foctet_connection_is_closed (g_ptr_array_index (fixture->a_incoming, i)));

  /* Without an expected NodeId, any peer will do. */
  connection = dial (fixture->b, fixture->a_address, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (connection),
                                       foctet_identity_get_node_id (fixture->id_a)));
  foctet_test_close_connection (connection, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
}

static void
test_close (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) b_stream = NULL;
  g_autoptr(FoctetStream) a_stream = NULL;
  g_autoptr(FoctetStream) late = NULL;
  g_autoptr(GAsyncResult) a_result = NULL;
  g_autoptr(GAsyncResult) b_result = NULL;
  g_autoptr(GBytes) rest = NULL;
  GAsyncResult *a_slot = NULL, *b_slot = NULL;
  Closed a_closed = { 0, NULL }, b_closed = { 0, NULL };
  FoctetStream *none;

  g_signal_connect (fixture->a_conn, "closed", G_CALLBACK (closed_cb), &a_closed);
  g_signal_connect (fixture->b_conn, "closed", G_CALLBACK (closed_cb), &b_closed);

  /* A stream open across it, and an accept waiting on each side. */
  b_stream = foctet_test_open_stream (fixture->b_conn, "test/close", &error, TIMEOUT);
  g_assert_no_error (error);
  a_stream = foctet_test_accept_stream (fixture->a_conn, &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_connection_accept_stream_async (fixture->a_conn, NULL, foctet_test_store_result, &a_slot);
  foctet_connection_accept_stream_async (fixture->b_conn, NULL, foctet_test_store_result, &b_slot);

  foctet_test_close_connection (fixture->a_conn, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  g_assert_true (foctet_connection_is_closed (fixture->a_conn));
  g_assert_cmpuint (a_closed.count, ==, 1);
  g_assert_no_error (a_closed.error);

  /* The waiting accepts fail, here and at the peer, which closes too. */
  a_result = foctet_test_wait_result (&a_slot, TIMEOUT);
  none = foctet_connection_accept_stream_finish (fixture->a_conn, a_result, &error);
  g_assert_null (none);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  b_result = foctet_test_wait_result (&b_slot, TIMEOUT);
  none = foctet_connection_accept_stream_finish (fixture->b_conn, b_result, &error);
  g_assert_null (none);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  g_assert_true (foctet_connection_is_closed (fixture->b_conn));
  g_assert_cmpuint (b_closed.count, ==, 1);
  g_assert_no_error (b_closed.error);

  /* Its streams ended with it: the peer's read finishes instead of waiting. */
  rest = foctet_test_stream_read_to_end (b_stream, &error, TIMEOUT);
  if (rest != NULL)
    g_assert_cmpuint (g_bytes_get_size (rest), ==, 0);
  g_clear_error (&error);

  /* Later calls fail at once. */
  late = foctet_test_accept_stream (fixture->b_conn, &error, TIMEOUT);
  g_assert_null (late);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  late = foctet_test_open_stream (fixture->b_conn, "test/late", &error, TIMEOUT);
  g_assert_null (late);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  late = foctet_test_open_stream (fixture->a_conn, "test/late", &error, TIMEOUT);
  g_assert_null (late);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);

  /* Closing again is harmless, and "closed" comes once. */
  foctet_test_close_connection (fixture->a_conn, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  g_assert_cmpuint (a_closed.count, ==, 1);
  g_assert_cmpuint (b_closed.count, ==, 1);

  g_signal_handlers_disconnect_by_func (fixture->a_conn, closed_cb, &a_closed);
  g_signal_handlers_disconnect_by_func (fixture->b_conn, closed_cb, &b_closed);
  closed_clear (&a_closed);
  closed_clear (&b_closed);
}

/* Dropping the last reference to a connection closes it. */
static void
test_drop (Fixture       *fixture,
           gconstpointer  data)
{
  Closed a_closed = { 0, NULL };

  g_signal_connect (fixture->a_conn, "closed", G_CALLBACK (closed_cb), &a_closed);
  g_clear_object (&fixture->b_conn);
  wait_until (is_nonzero, &a_closed.count);
  g_assert_true (foctet_connection_is_closed (fixture->a_conn));
  g_assert_no_error (a_closed.error);
  g_signal_handlers_disconnect_by_func (fixture->a_conn, closed_cb, &a_closed);
  closed_clear (&a_closed);
}

static void
test_reset (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) out = NULL;
  g_autoptr(FoctetStream) in = NULL;
  g_autoptr(GBytes) rest = NULL;
  g_autofree char *protocol = NULL;

  out = foctet_test_open_stream (fixture->b_conn, "test/reset", &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_test_stream_write_all (out, "abc", 3, TIMEOUT);
  in = foctet_test_accept_stream (fixture->a_conn, &error, TIMEOUT);
  g_assert_no_error (error);
  protocol = read_header (in);
  g_assert_cmpstr (protocol, ==, "test/reset");

  /* Not a clean end: the acceptor's read fails. */
  foctet_stream_reset (out, FOCTET_CLOSE_CODE_REFUSED);
  rest = foctet_test_stream_read_to_end (in, &error, TIMEOUT);
  g_assert_null (rest);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* The connection is unharmed. */
  g_assert_false (foctet_connection_is_closed (fixture->a_conn));
  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
}

static void
test_cancel_accept (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  FoctetStream *stream;

  foctet_connection_accept_stream_async (fixture->a_conn, cancellable, foctet_test_store_result, &slot);
  settle (20);
  g_assert_null (slot);
  g_cancellable_cancel (cancellable);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  stream = foctet_connection_accept_stream_finish (fixture->a_conn, result, &error);
  g_assert_null (stream);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The next stream goes to the next accept, not to the cancelled one. */
  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
}

/* A transport that dials itself has both ends of one connection; each
 * stream must reach the other end, not come back to its opener. */
static void
test_self (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) dialed = NULL;
  FoctetConnection *accepted;

  dialed = dial (fixture->a, fixture->a_address, foctet_identity_get_node_id (fixture->id_a), &error);
  g_assert_no_error (error);
  wait_until (is_nonzero, &fixture->n_incoming);
  accepted = g_ptr_array_index (fixture->a_incoming, 0);
  g_assert_true (foctet_connection_is_initiator (dialed));
  g_assert_false (foctet_connection_is_initiator (accepted));

  echo_once (dialed, accepted, TRUE);
  echo_once (accepted, dialed, FALSE);
  foctet_test_close_connection (dialed, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
}

/* After stop(), no new connection, but the established ones keep working:
 * their peers still open streams to the listener. */
static void
test_stop (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) late = NULL;
  g_autoptr(FoctetConnection) refused = NULL;
  g_autoptr(FoctetConnection) again = NULL;
  g_auto(GStrv) addresses = NULL;

  foctet_transport_stop (fixture->a);
  addresses = foctet_transport_get_listen_addresses (fixture->a);
  g_assert_cmpuint (g_strv_length (addresses), ==, 0);

  late = dial (fixture->b, fixture->a_address, NULL, &error);
  g_assert_null (late);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_clear_error (&error);

  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
  echo_once (fixture->a_conn, fixture->b_conn, FALSE);

  /* The last connection gone, so is the port. */
  foctet_test_close_connection (fixture->b_conn, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  wait_until (connection_closed, fixture->a_conn);
  refused = dial (fixture->b, fixture->a_address, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);

  /* Both can start over: A listens anew, B opens a new stream listener. */
  g_clear_pointer (&fixture->a_address, g_free);
  fixture->a_address = listen_on (fixture->a, "127.0.0.1:0", &error);
  g_assert_no_error (error);
  again = dial (fixture->b, fixture->a_address, foctet_identity_get_node_id (fixture->id_a), &error);
  g_assert_no_error (error);
  wait_until (has_two, &fixture->n_incoming);
  echo_once (again, g_ptr_array_index (fixture->a_incoming, 1), TRUE);
  echo_once (g_ptr_array_index (fixture->a_incoming, 1), again, FALSE);
  foctet_test_close_connection (again, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
}

/* Raw TCP to the tcp-test listener, as a confused or hostile peer. */

static GSocketConnection *
raw_connect (const char *address)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  GSocketConnection *connection;

  g_socket_client_connect_to_host_async (client, address, 0, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = g_socket_client_connect_to_host_finish (client, result, &error);
  g_assert_no_error (error);
  return connection;
}

/* Sends @data and expects the listener to hang up without a word. */
static void
assert_dropped (const char   *address,
                const guint8 *data,
                gsize         len)
{
  g_autoptr(GSocketConnection) raw = raw_connect (address);
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (raw));
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (raw));
  g_autoptr(GAsyncResult) written = NULL;
  g_autoptr(GAsyncResult) read = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  g_output_stream_write_all_async (output, data, len, G_PRIORITY_DEFAULT, NULL,
                                   foctet_test_store_result, &slot);
  written = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_output_stream_write_all_finish (output, written, NULL, &error));
  g_assert_no_error (error);
  /* Nothing more is coming, so a listener waiting for more gives up now.
   * (One that already hung up may have made the socket unusable.) */
  g_socket_shutdown (g_socket_connection_get_socket (raw), FALSE, TRUE, NULL);

  g_input_stream_read_bytes_async (input, 64, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  read = foctet_test_wait_result (&slot, TIMEOUT);
  answer = g_input_stream_read_bytes_finish (input, read, &error);
  /* End-of-stream, or a reset when our bytes were still unread. */
  if (answer != NULL)
    g_assert_cmpuint (g_bytes_get_size (answer), ==, 0);
  g_io_stream_close (G_IO_STREAM (raw), NULL, NULL);
}

static void
test_bad_input (Fixture       *fixture,
                gconstpointer  data)
{
  guint8 hello[4 + 32 + 16 + 2] = "FTT1";
  guint8 stream[4 + 16 + 8] = "FTS1";

  assert_dropped (fixture->a_address, (const guint8 *) "GET / HTTP/1.0\r\n\r\n", 18);
  /* A stream for a connection that does not exist. */
  memset (stream + 4, 0x5a, 16);
  stream[sizeof stream - 1] = 1;
  assert_dropped (fixture->a_address, stream, sizeof stream);
  /* A hello cut short, and one without a port to open streams to. */
  assert_dropped (fixture->a_address, hello, 10);
  memset (hello + 4, 0x11, 48);
  assert_dropped (fixture->a_address, hello, sizeof hello);
  g_assert_cmpuint (fixture->a_incoming->len, ==, 1);

  /* None of it disturbed the real connection. */
  echo_once (fixture->b_conn, fixture->a_conn, TRUE);
}

/* A fake listener that answers hellos its own way. */

typedef enum {
  FAKE_BAD_MAGIC,
  FAKE_SILENT,
  FAKE_HANG_UP,
} FakeMode;

typedef struct {
  FakeMode mode;
  GSocketService *service;
  GCancellable *cancellable;
  guint pending;                     /* FakeConnection not yet done */
} FakePeer;

typedef struct {
  FakePeer *fake;
  GSocketConnection *connection;
  guint8 buf[4 + 32 + 16 + 2];
} FakeConnection;

static void
fake_connection_done (FakeConnection *fc)
{
  g_io_stream_close (G_IO_STREAM (fc->connection), NULL, NULL);
  g_object_unref (fc->connection);
  fc->fake->pending--;
  g_free (fc);
}

static void
fake_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  FakeConnection *fc = user_data;
  static const guint8 answer[4 + 32 + 16 + 2] = "NOPE";
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, NULL) ||
      n < sizeof fc->buf)
    {
      fake_connection_done (fc);
      return;
    }
  switch (fc->fake->mode)
    {
    case FAKE_BAD_MAGIC:
      g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (fc->connection)),
                                 answer, sizeof answer, NULL, NULL, NULL);
      fake_connection_done (fc);
      break;
    case FAKE_HANG_UP:
      fake_connection_done (fc);
      break;
    case FAKE_SILENT:
      /* Wait for the dialer to give up. */
      g_input_stream_read_all_async (G_INPUT_STREAM (source), fc->buf, sizeof fc->buf,
                                     G_PRIORITY_DEFAULT, fc->fake->cancellable, fake_read_cb, fc);
      break;
    }
}

static gboolean
fake_incoming_cb (GSocketService    *service,
                  GSocketConnection *connection,
                  GObject           *source_object,
                  gpointer           user_data)
{
  FakePeer *fake = user_data;
  FakeConnection *fc = g_new0 (FakeConnection, 1);

  fc->fake = fake;
  fc->connection = g_object_ref (connection);
  fake->pending++;
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                 fc->buf, sizeof fc->buf, G_PRIORITY_DEFAULT, fake->cancellable,
                                 fake_read_cb, fc);
  return TRUE;
}

static char *
fake_start (FakePeer *fake,
            FakeMode  mode)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  fake->mode = mode;
  fake->pending = 0;
  fake->cancellable = g_cancellable_new ();
  fake->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (fake->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (fake->service, "incoming", G_CALLBACK (fake_incoming_cb), fake);
  g_socket_service_start (fake->service);
  return g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
}

static gboolean
fake_idle (gconstpointer data)
{
  return ((const FakePeer *) data)->pending == 0;
}

static void
fake_stop (FakePeer *fake)
{
  g_signal_handlers_disconnect_by_func (fake->service, fake_incoming_cb, fake);
  g_socket_service_stop (fake->service);
  g_socket_listener_close (G_SOCKET_LISTENER (fake->service));
  g_cancellable_cancel (fake->cancellable);
  wait_until (fake_idle, fake);
  g_clear_object (&fake->service);
  g_clear_object (&fake->cancellable);
}

static void
test_fake_listener (Fixture       *fixture,
                    gconstpointer  data)
{
  FakePeer fake = { 0 };
  g_autofree char *bad_magic = NULL;
  g_autofree char *hang_up = NULL;
  g_autofree char *silent = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  bad_magic = fake_start (&fake, FAKE_BAD_MAGIC);
  connection = dial (fixture->b, bad_magic, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_clear_error (&error);
  fake_stop (&fake);

  hang_up = fake_start (&fake, FAKE_HANG_UP);
  connection = dial (fixture->b, hang_up, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_clear_error (&error);
  fake_stop (&fake);

  /* A peer that never answers: the handshake gives up in time. */
  g_object_set (fixture->b, "handshake-timeout", 1, NULL);
  silent = fake_start (&fake, FAKE_SILENT);
  start = g_get_monotonic_time ();
  connection = dial (fixture->b, silent, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&error);
  fake_stop (&fake);
}

/* Many streams at once, both directions of each carrying its own random
 * data; the echo comes back through the acceptor and is checked. */

#define N_STREAMS 50

typedef struct {
  guint8 buf[16384];
  GByteArray *data;
  FoctetStream *stream;
  guint *done;
} EchoSide;

typedef struct {
  FoctetConnection *connection;
  guint accepted;
  guint echoed;
  GError *error;
} EchoServer;

static void echo_server_accept (EchoServer *server);

static void
echo_side_free (EchoSide *side)
{
  g_clear_pointer (&side->data, g_byte_array_unref);
  g_clear_object (&side->stream);
  g_free (side);
}

static void
server_closed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  EchoSide *side = user_data;
  g_autoptr(GError) error = NULL;

  g_io_stream_close_finish (G_IO_STREAM (source), result, &error);
  g_assert_no_error (error);
  (*side->done)++;
  echo_side_free (side);
}

static void
server_close_write_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  EchoSide *side = user_data;
  g_autoptr(GError) error = NULL;

  foctet_stream_close_write_finish (side->stream, result, &error);
  g_assert_no_error (error);
  g_io_stream_close_async (G_IO_STREAM (side->stream), G_PRIORITY_DEFAULT, NULL, server_closed_cb, side);
}

static void
server_written_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  EchoSide *side = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_assert_no_error (error);
  foctet_stream_close_write_async (side->stream, G_PRIORITY_DEFAULT, NULL, server_close_write_cb, side);
}

static void
server_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  EchoSide *side = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  g_assert_no_error (error);
  if (n > 0)
    {
      g_byte_array_append (side->data, side->buf, n);
      g_input_stream_read_async (G_INPUT_STREAM (source), side->buf, sizeof side->buf,
                                 G_PRIORITY_DEFAULT, NULL, server_read_cb, side);
      return;
    }
  /* End of the request: only now answer, over the still open other half. */
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (side->stream)),
                                   side->data->data, side->data->len, G_PRIORITY_DEFAULT, NULL,
                                   server_written_cb, side);
}

static void
server_header_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  EchoSide *side = user_data;
  g_autoptr(GError) error = NULL;
  const char *protocol;

  protocol = foctet_stream_read_header_finish (side->stream, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (protocol, ==, "test/echo");
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (side->stream)), side->buf,
                             sizeof side->buf, G_PRIORITY_DEFAULT, NULL, server_read_cb, side);
}

static void
server_accept_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  EchoServer *server = user_data;
  FoctetStream *stream;
  EchoSide *side;

  stream = foctet_connection_accept_stream_finish (FOCTET_CONNECTION (source), result, &server->error);
  if (stream == NULL)
    return;
  server->accepted++;
  side = g_new0 (EchoSide, 1);
  side->stream = stream;
  side->data = g_byte_array_new ();
  side->done = &server->echoed;
  foctet_stream_read_header_async (stream, NULL, server_header_cb, side);
  echo_server_accept (server);
}

static void
echo_server_accept (EchoServer *server)
{
  foctet_connection_accept_stream_async (server->connection, NULL, server_accept_cb, server);
}

typedef struct {
  GBytes *payload;
  char *payload_sum;
  GByteArray *received;
  guint8 buf[16384];
  FoctetStream *stream;
  guint64 id;
  guint *done;
} EchoClient;

static void
client_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  EchoClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  g_assert_no_error (error);
  if (n == 0)
    {
      (*client->done)++;
      return;
    }
  g_byte_array_append (client->received, client->buf, n);
  g_input_stream_read_async (G_INPUT_STREAM (source), client->buf, sizeof client->buf,
                             G_PRIORITY_DEFAULT, NULL, client_read_cb, client);
}

static void
client_close_write_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  EchoClient *client = user_data;
  g_autoptr(GError) error = NULL;

  foctet_stream_close_write_finish (client->stream, result, &error);
  g_assert_no_error (error);
}

static void
client_written_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  EchoClient *client = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_assert_no_error (error);
  foctet_stream_close_write_async (client->stream, G_PRIORITY_DEFAULT, NULL, client_close_write_cb, client);
}

static void
client_opened_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  EchoClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const guint8 *data;

  client->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  g_assert_no_error (error);
  client->id = foctet_stream_get_id (client->stream);
  data = g_bytes_get_data (client->payload, &len);
  /* Reading and writing at once: the echo starts only after our end, but
   * reading early costs nothing and proves the two directions independent. */
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (client->stream)), client->buf,
                             sizeof client->buf, G_PRIORITY_DEFAULT, NULL, client_read_cb, client);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (client->stream)),
                                   data, len, G_PRIORITY_DEFAULT, NULL, client_written_cb, client);
}

typedef struct {
  guint *clients_done;
  EchoServer *server;
} EchoProgress;

static gboolean
all_echoed (gconstpointer data)
{
  const EchoProgress *progress = data;

  /* A failed accept is not worth waiting the full time for. */
  return (*progress->clients_done == N_STREAMS && progress->server->echoed == N_STREAMS) ||
         progress->server->error != NULL;
}

static gboolean
has_error (gconstpointer data)
{
  return ((const EchoServer *) data)->error != NULL;
}

static void
test_concurrent (Fixture       *fixture,
                 gconstpointer  data)
{
  EchoServer server = { fixture->a_conn, 0, 0, NULL };
  EchoClient clients[N_STREAMS];
  g_autoptr(GHashTable) ids = g_hash_table_new (g_int64_hash, g_int64_equal);
  guint done = 0;
  gsize total = 0;

  echo_server_accept (&server);
  for (guint i = 0; i < N_STREAMS; i++)
    {
      /* Sizes from a few bytes to past the socket buffers. */
      gsize len = 1 + g_test_rand_int_range (0, i % 5 == 0 ? 1 << 20 : 1 << 16);
      guint8 *payload = g_malloc (len + 4);

      for (gsize j = 0; j < len; j += 4)
        {
          guint32 r = g_test_rand_int ();
          memcpy (payload + j, &r, 4);
        }
      memset (&clients[i], 0, sizeof clients[i]);
      clients[i].payload = g_bytes_new_take (payload, len);
      clients[i].payload_sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, clients[i].payload);
      clients[i].received = g_byte_array_new ();
      clients[i].done = &done;
      total += len;
      foctet_connection_open_stream_async (fixture->b_conn, "test/echo", NULL, client_opened_cb, &clients[i]);
    }

  wait_until (all_echoed, &(EchoProgress) { &done, &server });
  g_assert_no_error (server.error);
  g_test_message ("%u streams, %" G_GSIZE_FORMAT " bytes each way", N_STREAMS, total);

  g_assert_cmpuint (server.accepted, ==, N_STREAMS);
  for (guint i = 0; i < N_STREAMS; i++)
    {
      g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, clients[i].received->data,
                                                          clients[i].received->len);

      g_assert_cmpuint (clients[i].received->len, ==, g_bytes_get_size (clients[i].payload));
      g_assert_cmpstr (sum, ==, clients[i].payload_sum);
      /* Every id distinct and the dialer's (odd). */
      g_assert_cmpuint (clients[i].id % 2, ==, 1);
      g_assert_false (g_hash_table_contains (ids, &clients[i].id));
      g_hash_table_add (ids, &clients[i].id);
    }

  /* The accept loop ends with the connection. */
  foctet_test_close_connection (fixture->b_conn, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  wait_until (has_error, &server);
  g_assert_error (server.error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&server.error);

  for (guint i = 0; i < N_STREAMS; i++)
    {
      g_io_stream_close (G_IO_STREAM (clients[i].stream), NULL, NULL);
      g_clear_object (&clients[i].stream);
      g_bytes_unref (clients[i].payload);
      g_free (clients[i].payload_sum);
      g_byte_array_unref (clients[i].received);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, setup, func) \
  g_test_add (path, Fixture, NULL, setup, func, fixture_teardown)

  ADD ("/tcp-test/listen", fixture_setup_listen_only, test_listen);
  ADD ("/tcp-test/connect", fixture_setup, test_connect);
  ADD ("/tcp-test/echo", fixture_setup, test_echo);
  ADD ("/tcp-test/wrong-peer", fixture_setup_listen_only, test_wrong_peer);
  ADD ("/tcp-test/close", fixture_setup, test_close);
  ADD ("/tcp-test/drop", fixture_setup, test_drop);
  ADD ("/tcp-test/reset", fixture_setup, test_reset);
  ADD ("/tcp-test/cancel-accept", fixture_setup, test_cancel_accept);
  ADD ("/tcp-test/self", fixture_setup_listen_only, test_self);
  ADD ("/tcp-test/stop", fixture_setup, test_stop);
  ADD ("/tcp-test/bad-input", fixture_setup, test_bad_input);
  ADD ("/tcp-test/fake-listener", fixture_setup_listen_only, test_fake_listener);
  ADD ("/tcp-test/concurrent", fixture_setup, test_concurrent);

#undef ADD

  return g_test_run ();
}

/* test-yamux.c: the yamux muxer plugin, loaded through the registry from
 * FOCTET_PLUGIN_PATH and driven through the core's interfaces, over
 * socketpairs: two sessions against each other (streams both ways,
 * a crowd of concurrent streams, half-close, reset, flow control and
 * window auto-tuning, backlog, ping, GoAway), and a session against a raw
 * peer writing frames by hand (protocol violations, the implicit ACK,
 * late frames, backlog overflow, keep-alive).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "foctet-yamux.h"
#include "foctet-yamux-frame.h"
#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 30
#define INITIAL_WINDOW (256 * 1024)
#define DELAY_MS 20   /* one way, for flow/window-growth-delayed */
#define LIMITED_DELAY_MS 10
#define LIMITED_RATE (20 * 1000 * 1000)
#define FIRST_RTT_MS 10   /* for pair_setup_slow_start() */

/* Sessions. */

static FoctetNodeId *
random_node_id (void)
{
  guint8 data[FOCTET_NODE_ID_SIZE];
  FoctetNodeId *id;

  for (guint i = 0; i < sizeof data; i++)
    data[i] = g_random_int_range (0, 256);
  id = foctet_node_id_new_from_data (data, sizeof data, NULL);
  g_assert_nonnull (id);
  return id;
}

static FoctetConnection *
wrap (GIOStream *base,
      gboolean   is_initiator)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_autoptr(FoctetNodeId) peer = random_node_id ();
  FoctetConnection *connection;

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), "yamux", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_muxer_get_name (muxer), ==, "yamux");
  connection = foctet_muxer_wrap (muxer, base, is_initiator, peer, "test", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (FOCTET_IS_CONNECTION (connection));
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, "test");
  g_assert_true (foctet_connection_is_initiator (connection) == is_initiator);
  return connection;
}

/* Records how a connection ended. */
typedef struct {
  gboolean closed;
  GError *error;
} Ending;

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  Ending *ending = user_data;

  g_assert_false (ending->closed);
  ending->closed = TRUE;
  ending->error = error != NULL ? g_error_copy (error) : NULL;
}

static void
watch_ending (FoctetConnection *connection,
              Ending           *ending)
{
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), ending);
}

static void
ending_clear (Ending *ending)
{
  g_clear_error (&ending->error);
  ending->closed = FALSE;
}

typedef struct {
  FoctetConnection *client;   /* the initiator: odd stream ids */
  FoctetConnection *server;
  Ending client_ending;
  Ending server_ending;
  FoctetTestDelayLine *line;   /* for a pair over a delayed link */
} Pair;

/* A link between the two sessions. */
typedef struct {
  guint delay_ms;    /* one way */
  guint64 rate;      /* bytes per second each way, 0 for no limit */
} Link;

/* @data: NULL for a plain socketpair, or the #Link between the sessions. */
static void
pair_setup (Pair          *pair,
            gconstpointer  data)
{
  g_autoptr(GSocketConnection) a = NULL;
  g_autoptr(GSocketConnection) b = NULL;
  const Link *link = data;

  if (link != NULL)
    pair->line = foctet_test_delayed_socket_pair (&a, &b, link->delay_ms, link->rate);
  else
    foctet_test_socket_pair (&a, &b);
  pair->client = wrap (G_IO_STREAM (a), TRUE);
  pair->server = wrap (G_IO_STREAM (b), FALSE);
  watch_ending (pair->client, &pair->client_ending);
  watch_ending (pair->server, &pair->server_ending);
}

/* As pair_setup() on a plain socketpair, but the sessions' first pings,
 * queued as they start, are answered FIRST_RTT_MS later: auto-tuning
 * keeps that round trip until the next ping (30 s on), so a window grows
 * if half of it is read within twice that, however slowly a loaded
 * machine reads, while the bytes go straight from socket to socket. */
static void
pair_setup_slow_start (Pair          *pair,
                       gconstpointer  data)
{
  pair_setup (pair, NULL);
  g_usleep (FIRST_RTT_MS * 1000);
}

static void
drain_context (void)
{
  /* Lets closing sessions finish closing their sockets. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static void
pair_teardown (Pair          *pair,
               gconstpointer  data)
{
  /* A test may have dropped the sessions itself. */
  if (pair->client != NULL)
    g_signal_handlers_disconnect_by_data (pair->client, &pair->client_ending);
  if (pair->server != NULL)
    g_signal_handlers_disconnect_by_data (pair->server, &pair->server_ending);
  g_clear_object (&pair->client);
  g_clear_object (&pair->server);
  ending_clear (&pair->client_ending);
  ending_clear (&pair->server_ending);
  drain_context ();
  g_clear_pointer (&pair->line, foctet_test_delay_line_free);
}

/* Helpers that wait, boundedly, for one async call. */

static FoctetStream *
accept_with_header (FoctetConnection *connection,
                    const char       *expected_protocol)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_accept_stream (connection, &error, TIMEOUT);
  GAsyncResult *slot = NULL;

  g_assert_no_error (error);
  foctet_stream_read_header_async (stream, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpstr (foctet_stream_read_header_finish (stream, result, &error), ==, expected_protocol);
  g_assert_no_error (error);
  return g_steal_pointer (&stream);
}

/* Writes all of @data, then half-closes, in the background; sets *@done
 * when finished. */
typedef struct {
  FoctetStream *stream;
  GBytes *data;
  gboolean *done;
} WriteAll;

static void
write_all_closed_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  WriteAll *w = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error));
  g_assert_no_error (error);
  *w->done = TRUE;
  g_object_unref (w->stream);
  g_bytes_unref (w->data);
  g_free (w);
}

static void
write_all_written_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  WriteAll *w = user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  g_assert_true (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, g_bytes_get_size (w->data));
  foctet_stream_close_write_async (w->stream, G_PRIORITY_DEFAULT, NULL, write_all_closed_cb, w);
}

static void
write_all_start (FoctetStream *stream,
                 GBytes       *data,
                 gboolean     *done)
{
  WriteAll *w = g_new0 (WriteAll, 1);

  *done = FALSE;
  w->stream = g_object_ref (stream);
  w->data = g_bytes_ref (data);
  w->done = done;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                   g_bytes_get_data (data, NULL), g_bytes_get_size (data),
                                   G_PRIORITY_DEFAULT, NULL, write_all_written_cb, w);
}

static GBytes *
random_bytes (gsize len)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = g_random_int_range (0, 256);
  return g_bytes_new_take (data, len);
}

static char *
checksum (const void *data,
          gsize       len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

static void
assert_same_bytes (GBytes *actual,
                   GBytes *expected)
{
  g_autofree char *a = checksum (g_bytes_get_data (actual, NULL), g_bytes_get_size (actual));
  g_autofree char *e = checksum (g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

  g_assert_cmpuint (g_bytes_get_size (actual), ==, g_bytes_get_size (expected));
  g_assert_cmpstr (a, ==, e);
}

static void
wait_closed (Ending *ending)
{
  foctet_test_wait_for (&ending->closed, TIMEOUT);
}

/* Runs the sessions a little while a test waits for something that is
 * not an async result. */
static void
spin (void)
{
  if (!g_main_context_iteration (NULL, FALSE))
    g_usleep (200);
}

static void
wait_count (guint *count,
            guint  n,
            guint  seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (*count < n)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Waited %u s for a count of %u, got %u", seconds, n, *count);
      spin ();
    }
}

/* Waits, boundedly, until @object's unsigned integer @property is at
 * least @least, and returns what it was then (less on timeout). */
static guint64
wait_property_at_least (gpointer    object,
                        const char *property,
                        guint64     least)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  g_auto(GValue) value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_UINT64);
  for (;;)
    {
      g_auto(GValue) got = G_VALUE_INIT;

      g_object_get_property (object, property, &got);
      g_assert_true (g_value_transform (&got, &value));
      if (g_value_get_uint64 (&value) >= least || g_get_monotonic_time () > deadline)
        return g_value_get_uint64 (&value);
      spin ();
    }
}

/* Both sessions measured the round trip at start (their first ping) as
 * at least FIRST_RTT_MS (pair_setup_slow_start()). */
static void
assert_slow_start (Pair *pair)
{
  g_assert_cmpuint (wait_property_at_least (pair->client, "rtt", 1), >=, FIRST_RTT_MS * 1000);
  g_assert_cmpuint (wait_property_at_least (pair->server, "rtt", 1), >=, FIRST_RTT_MS * 1000);
}

/* The plugin and its types. */

static void
test_registry (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_auto(GStrv) names = NULL;

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), "yamux", &error);
  g_assert_no_error (error);
  g_assert_true (FOCTET_IS_MUXER (muxer));
  g_assert_cmpstr (foctet_muxer_get_name (muxer), ==, "yamux");
  names = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_MUXER);
  g_assert_true (g_strv_contains ((const char * const *) names, "yamux"));
}

static void
test_not_pollable (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_autoptr(FoctetNodeId) peer = random_node_id ();
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileIOStream) file_stream = NULL;

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), "yamux", &error);
  g_assert_no_error (error);
  /* A file stream is not pollable. */
  file = g_file_new_tmp ("foctet-yamux-XXXXXX", &file_stream, &error);
  g_assert_no_error (error);
  connection = foctet_muxer_wrap (muxer, G_IO_STREAM (file_stream), TRUE, peer, "test", NULL, NULL,
                                  &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_file_delete (file, NULL, NULL);
}

/* Streams between two sessions. */

static void
exchange (FoctetConnection *opener,
          FoctetConnection *acceptor,
          gsize             up,
          gsize             down,
          guint64          *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (opener, "test/exchange", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GBytes) up_data = random_bytes (up);
  g_autoptr(GBytes) down_data = random_bytes (down);
  g_autoptr(GBytes) got = NULL;
  gboolean written = FALSE;

  g_assert_no_error (error);
  g_assert_cmpstr (foctet_stream_get_protocol (stream), ==, "test/exchange");
  *id = foctet_stream_get_id (stream);

  accepted = accept_with_header (acceptor, "test/exchange");
  g_assert_cmpuint (foctet_stream_get_id (accepted), ==, *id);

  /* More than a window each way: the reader reads while the writer
   * writes. */
  write_all_start (stream, up_data, &written);
  got = foctet_test_stream_read_to_end (accepted, &error, TIMEOUT);
  g_assert_no_error (error);
  assert_same_bytes (got, up_data);
  g_clear_pointer (&got, g_bytes_unref);

  foctet_test_wait_for (&written, TIMEOUT);
  write_all_start (accepted, down_data, &written);
  got = foctet_test_stream_read_to_end (stream, &error, TIMEOUT);
  g_assert_no_error (error);
  assert_same_bytes (got, down_data);
  foctet_test_wait_for (&written, TIMEOUT);

  foctet_test_stream_close (stream, TIMEOUT);
  foctet_test_stream_close (accepted, TIMEOUT);
}

static void
test_both_directions (Pair          *pair,
                      gconstpointer  data)
{
  guint64 id;

  /* The dialer is the client: odd ids, the listener even ones, never
   * reused. */
  exchange (pair->client, pair->server, 100000, 300000, &id);
  g_assert_cmpuint (id, ==, 1);
  exchange (pair->server, pair->client, 1, 700000, &id);
  g_assert_cmpuint (id, ==, 2);
  exchange (pair->client, pair->server, 0, 0, &id);
  g_assert_cmpuint (id, ==, 3);
  exchange (pair->server, pair->client, 1 << 20, 12345, &id);
  g_assert_cmpuint (id, ==, 4);

  g_assert_false (foctet_connection_is_closed (pair->client));
  g_assert_false (foctet_connection_is_closed (pair->server));
  foctet_test_close_connection (pair->client, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  wait_closed (&pair->server_ending);
  g_assert_no_error (pair->server_ending.error);
  g_assert_true (pair->client_ending.closed);
  g_assert_no_error (pair->client_ending.error);
}

/* Many streams at once: each opened by the client, echoed by the server,
 * checked by its checksum. */

#define CROWD_SIZE 1000

typedef struct _Crowd Crowd;

typedef struct {
  Crowd *crowd;
  FoctetStream *stream;
  GBytes *data;
  GByteArray *received;
  guint8 buffer[16384];
} CrowdStream;

struct _Crowd {
  FoctetConnection *client;
  FoctetConnection *server;
  guint n_accepted;
  guint n_echoed;
  guint n_verified;
  gboolean done;
};

static void
crowd_stream_free (CrowdStream *cs)
{
  g_clear_object (&cs->stream);
  g_clear_pointer (&cs->data, g_bytes_unref);
  if (cs->received != NULL)
    g_byte_array_unref (cs->received);
  g_free (cs);
}

static void
crowd_check_done (Crowd *crowd)
{
  crowd->done = crowd->n_verified == CROWD_SIZE && crowd->n_echoed == CROWD_SIZE;
}

/* The server side: echo until end-of-stream, then half-close. */

static void echo_read_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data);

static void
echo_closed_write_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error));
  g_assert_no_error (error);
  g_io_stream_close (G_IO_STREAM (cs->stream), NULL, NULL);
  cs->crowd->n_echoed++;
  crowd_check_done (cs->crowd);
  crowd_stream_free (cs);
}

static void
echo_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error));
  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (cs->stream)),
                             cs->buffer, sizeof cs->buffer, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, cs);
}

static void
echo_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      foctet_stream_close_write_async (cs->stream, G_PRIORITY_DEFAULT, NULL,
                                       echo_closed_write_cb, cs);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (cs->stream)),
                                   cs->buffer, n, G_PRIORITY_DEFAULT, NULL, echo_written_cb, cs);
}

static void
echo_header_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (foctet_stream_read_header_finish (FOCTET_STREAM (source), result, &error), ==,
                   "test/echo");
  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (cs->stream)),
                             cs->buffer, sizeof cs->buffer, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, cs);
}

static void
crowd_accept_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Crowd *crowd = user_data;
  g_autoptr(GError) error = NULL;
  CrowdStream *cs = g_new0 (CrowdStream, 1);

  cs->crowd = crowd;
  cs->stream = foctet_connection_accept_stream_finish (FOCTET_CONNECTION (source), result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (cs->stream) % 2, ==, 1);
  foctet_stream_read_header_async (cs->stream, NULL, echo_header_cb, cs);
  if (++crowd->n_accepted < CROWD_SIZE)
    foctet_connection_accept_stream_async (crowd->server, NULL, crowd_accept_cb, crowd);
}

/* The client side: write all, half-close, read the echo to the end. */

static void
crowd_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  if (n > 0)
    {
      g_byte_array_append (cs->received, cs->buffer, n);
      g_input_stream_read_async (G_INPUT_STREAM (source), cs->buffer, sizeof cs->buffer,
                                 G_PRIORITY_DEFAULT, NULL, crowd_read_cb, cs);
      return;
    }
  {
    g_autofree char *got = checksum (cs->received->data, cs->received->len);
    g_autofree char *expected = checksum (g_bytes_get_data (cs->data, NULL),
                                          g_bytes_get_size (cs->data));

    g_assert_cmpuint (cs->received->len, ==, g_bytes_get_size (cs->data));
    g_assert_cmpstr (got, ==, expected);
  }
  g_io_stream_close (G_IO_STREAM (cs->stream), NULL, NULL);
  cs->crowd->n_verified++;
  crowd_check_done (cs->crowd);
  crowd_stream_free (cs);
}

static void
crowd_closed_write_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error));
  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (cs->stream)),
                             cs->buffer, sizeof cs->buffer, G_PRIORITY_DEFAULT, NULL,
                             crowd_read_cb, cs);
}

static void
crowd_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error));
  g_assert_no_error (error);
  foctet_stream_close_write_async (cs->stream, G_PRIORITY_DEFAULT, NULL, crowd_closed_write_cb, cs);
}

static void
crowd_opened_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  CrowdStream *cs = user_data;
  g_autoptr(GError) error = NULL;

  cs->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  g_assert_no_error (error);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (cs->stream)),
                                   g_bytes_get_data (cs->data, NULL), g_bytes_get_size (cs->data),
                                   G_PRIORITY_DEFAULT, NULL, crowd_written_cb, cs);
}

static void
test_concurrent_streams (Pair          *pair,
                         gconstpointer  data)
{
  Crowd crowd = { pair->client, pair->server, 0, 0, 0, FALSE };
  gint64 start = g_get_monotonic_time ();

  foctet_connection_accept_stream_async (pair->server, NULL, crowd_accept_cb, &crowd);
  for (guint i = 0; i < CROWD_SIZE; i++)
    {
      CrowdStream *cs = g_new0 (CrowdStream, 1);

      cs->crowd = &crowd;
      /* From empty to 64 KiB, and a few a bit beyond half a window. */
      cs->data = random_bytes (i % 50 == 0 ? 150000 : (i * 7919) % 65536);
      cs->received = g_byte_array_new ();
      foctet_connection_open_stream_async (pair->client, "test/echo", NULL, crowd_opened_cb, cs);
    }
  foctet_test_wait_for (&crowd.done, 120);
  g_test_message ("%d concurrent echoed streams in %.2f s", CROWD_SIZE,
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_false (foctet_connection_is_closed (pair->client));
  g_assert_false (foctet_connection_is_closed (pair->server));
}

static void
test_half_close (Pair          *pair,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/half", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GBytes) got = NULL;
  GOutputStream *output;
  char buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/half");

  foctet_test_stream_write_all (stream, "hello", 5, TIMEOUT);
  foctet_test_stream_close_write (stream, TIMEOUT);
  /* Closing again is harmless; writing is over. */
  foctet_test_stream_close_write (stream, TIMEOUT);
  output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  g_assert_cmpint (g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output),
                                                               "x", 1, NULL, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);

  got = foctet_test_stream_read_to_end (accepted, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "hello", 5);
  /* End of stream stays the end. */
  g_assert_cmpint (foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT), ==, 0);
  g_assert_no_error (error);

  /* The other direction still works, both ways of it. */
  foctet_test_stream_write_all (accepted, "world", 5, TIMEOUT);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 5);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, 5, "world", 5);
  foctet_test_stream_write_all (accepted, "again", 5, TIMEOUT);
  foctet_test_stream_close_write (accepted, TIMEOUT);
  g_clear_pointer (&got, g_bytes_unref);
  got = foctet_test_stream_read_to_end (stream, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "again", 5);

  /* Closed both ways: the stream is done, the session is not. */
  foctet_test_stream_close (stream, TIMEOUT);
  foctet_test_stream_close (accepted, TIMEOUT);
  g_clear_object (&stream);
  g_clear_object (&accepted);
  stream = foctet_test_open_stream (pair->client, "test/half", &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (stream), ==, 3);
}

static void
store_result_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static void
test_reset (Pair          *pair,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/reset", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GInputStream *input;
  GAsyncResult *slot = NULL;
  char buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/reset");

  /* A read waiting on the other side fails once the reset arrives. */
  input = g_io_stream_get_input_stream (G_IO_STREAM (accepted));
  g_input_stream_read_async (input, buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL,
                             store_result_cb, &slot);
  foctet_test_stream_write_all (stream, "doomed", 6, TIMEOUT);
  foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  /* The bytes written before the reset may or may not be read first. */
  if (g_input_stream_read_finish (input, result, &error) > 0)
    {
      g_assert_no_error (error);
      g_assert_cmpint (foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT), ==, -1);
    }
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);

  /* Every later operation on either side fails too. */
  g_assert_cmpint (foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);
  g_assert_false (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (accepted)),
                                             "x", 1, NULL, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);

  /* A reset from the acceptor reaches the opener's writes. */
  g_clear_object (&stream);
  g_clear_object (&accepted);
  stream = foctet_test_open_stream (pair->client, "test/reset", &error, TIMEOUT);
  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/reset");
  foctet_stream_reset (accepted, FOCTET_CLOSE_CODE_REFUSED);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);
  g_assert_false (foctet_connection_is_closed (pair->client));
}

/* Blocking reads and writes run the session's context until they can
 * go on. */
static void
test_blocking (Pair          *pair,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/blocking", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autofree char *line = NULL;
  gsize written = 0, read = 0;
  char buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/blocking");
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                            "first line\nsecond", 18, &written, NULL, &error));
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (accepted)));
  line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (line, ==, "first line");
  g_assert_true (g_input_stream_read_all (G_INPUT_STREAM (lines), buffer, 6, &read, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, read, "second", 6);
}

/* Dropping a stream closes it (GIOStream does): the peer reads the end,
 * and what it still sends makes the stream reset, as a closed TCP socket
 * would. */
static void
test_dropped (Pair          *pair,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/dropped", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GBytes) got = NULL;
  char buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/dropped");
  foctet_test_stream_write_all (stream, "last words", 10, TIMEOUT);
  g_clear_object (&stream);
  got = foctet_test_stream_read_to_end (accepted, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "last words", 10);

  foctet_test_stream_write_all (accepted, "anyone?", 7, TIMEOUT);
  /* The end stays the end until the reset arrives. */
  for (gint64 end = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
       foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT) == 0;)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      spin ();
    }
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
}

/* Closing the connection ends the streams: operations waiting fail. */
static void
test_connection_closed (Pair          *pair,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/closed", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) local_result = NULL;
  GInputStream *input, *local_input;
  GAsyncResult *slot = NULL, *local_slot = NULL;
  char buffer[16], local_buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/closed");
  input = g_io_stream_get_input_stream (G_IO_STREAM (accepted));
  g_input_stream_read_async (input, buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL,
                             foctet_test_store_result, &slot);
  local_input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  g_input_stream_read_async (local_input, local_buffer, sizeof local_buffer, G_PRIORITY_DEFAULT,
                             NULL, foctet_test_store_result, &local_slot);

  foctet_test_close_connection (pair->client, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  local_result = foctet_test_wait_result (&local_slot, TIMEOUT);
  g_assert_cmpint (g_input_stream_read_finish (local_input, local_result, &error), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (g_input_stream_read_finish (input, result, &error), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  wait_closed (&pair->server_ending);
  g_assert_no_error (pair->server_ending.error);

  /* Writes fail too. */
  g_assert_false (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (accepted)),
                                             "x", 1, NULL, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
}

/* Flow control. */

/* Bytes of a long transfer follow a pattern whose period is no power of
 * two, so that a lost, repeated or misplaced piece shows. */
#define PATTERN_PERIOD (1024 * 1024 + 7)
#define TRANSFER_CHUNK (256 * 1024)
/* A scratch write spans three frames and ends in the middle of one. */
#define SCRATCH_WRITE (600 * 1000 + 11)

static guint8 *
make_pattern (guint32 seed)
{
  guint8 *pattern = g_malloc (PATTERN_PERIOD + TRANSFER_CHUNK);
  GRand *rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < PATTERN_PERIOD; i++)
    pattern[i] = g_rand_int_range (rand, 0, 256);
  memcpy (pattern + PATTERN_PERIOD, pattern, TRANSFER_CHUNK);
  g_rand_free (rand);
  return pattern;
}

typedef struct {
  FoctetStream *writer;
  FoctetStream *reader;
  guint8 *pattern;
  guint64 total;
  guint64 written;
  guint64 read;
  guint8 *buffer;
  gboolean write_done;
  gboolean read_done;
  gint64 end_time;
  guint8 *scratch;             /* or NULL: the one buffer all writes are made from */
  gsize read_size;             /* or 0: TRANSFER_CHUNK */
  guint max_buffered;          /* the most the reader's stream held unread after a read */
} Transfer;

static void transfer_write_next (Transfer *t);

static void
transfer_closed_write_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error));
  g_assert_no_error (error);
  t->write_done = TRUE;
}

static void
transfer_written_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n, >, 0);
  t->written += n;
  /* What the session would send if it still pointed into the buffer. */
  if (t->scratch != NULL)
    memset (t->scratch, 0xa5, SCRATCH_WRITE);
  transfer_write_next (t);
}

static void
transfer_write_next (Transfer *t)
{
  const guint8 *data = t->pattern + t->written % PATTERN_PERIOD;
  gsize len;

  if (t->written == t->total)
    {
      foctet_stream_close_write_async (t->writer, G_PRIORITY_DEFAULT, NULL,
                                       transfer_closed_write_cb, t);
      return;
    }
  len = MIN (t->scratch != NULL ? SCRATCH_WRITE : TRANSFER_CHUNK, t->total - t->written);
  if (t->scratch != NULL)
    {
      /* One buffer, filled anew for each write (test_write_through()). */
      gsize from = t->written % PATTERN_PERIOD;
      gsize first = MIN (len, PATTERN_PERIOD - from);

      memcpy (t->scratch, t->pattern + from, first);
      memcpy (t->scratch + first, t->pattern, len - first);
      data = t->scratch;
    }
  g_output_stream_write_async (g_io_stream_get_output_stream (G_IO_STREAM (t->writer)), data, len,
                               G_PRIORITY_DEFAULT, NULL, transfer_written_cb, t);
}

static void
transfer_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      g_assert_cmpuint (t->read, ==, t->total);
      t->end_time = g_get_monotonic_time ();
      t->read_done = TRUE;
      return;
    }
  if (memcmp (t->buffer, t->pattern + t->read % PATTERN_PERIOD, n) != 0)
    g_error ("Wrong bytes at offset %" G_GUINT64_FORMAT, t->read);
  t->read += n;
  {
    guint buffered = 0;

    g_object_get (t->reader, "receive-buffered", &buffered, NULL);
    t->max_buffered = MAX (t->max_buffered, buffered);
  }
  g_input_stream_read_async (G_INPUT_STREAM (source), t->buffer, t->read_size,
                             G_PRIORITY_DEFAULT, NULL, transfer_read_cb, t);
}

/* Starts moving @total bytes of the pattern made from @seed from
 * @writer to @reader. */
static void
transfer_start (Transfer     *t,
                FoctetStream *writer,
                FoctetStream *reader,
                guint64       total,
                guint32       seed)
{
  t->writer = writer;
  t->reader = reader;
  t->pattern = make_pattern (seed);
  t->total = total;
  t->buffer = g_malloc (TRANSFER_CHUNK);
  if (t->read_size == 0)
    t->read_size = TRANSFER_CHUNK;
  g_assert_cmpuint (t->read_size, <=, TRANSFER_CHUNK);
  transfer_write_next (t);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (reader)), t->buffer,
                             t->read_size, G_PRIORITY_DEFAULT, NULL, transfer_read_cb, t);
}

/* Waits until the reader has checked every byte and seen the end, and
 * the writer's half-close is done. */
static void
transfer_finish (Transfer *t)
{
  foctet_test_wait_for (&t->read_done, 120);
  foctet_test_wait_for (&t->write_done, TIMEOUT);
  g_assert_cmpuint (t->read, ==, t->total);
  g_clear_pointer (&t->pattern, g_free);
  g_clear_pointer (&t->buffer, g_free);
}

static void
transfer_run (Transfer     *t,
              FoctetStream *writer,
              FoctetStream *reader,
              guint64       total)
{
  transfer_start (t, writer, reader, total, 42);
  transfer_finish (t);
}

static void
test_window_growth (Pair          *pair,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/bulk", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  Transfer t = { 0, };
  guint receive_window = 0, send_window = 0;
  gint64 start;
  double seconds;

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/bulk");
  g_object_get (accepted, "receive-window", &receive_window, NULL);
  g_assert_cmpuint (receive_window, ==, INITIAL_WINDOW);

  start = g_get_monotonic_time ();
  transfer_run (&t, stream, accepted, 64 * 1024 * 1024);

  seconds = (t.end_time - start) / 1e6;
  g_object_get (accepted, "receive-window", &receive_window, NULL);
  g_object_get (stream, "send-window", &send_window, NULL);
  g_test_message ("64 MiB on one stream over a socketpair in %.3f s: %.2f Gbit/s; receive window "
                  "grew to %u KiB", seconds, t.total * 8 / seconds / 1e9, receive_window / 1024);
  /* Auto-tuning grew the window: at 256 KiB a transfer takes one round
   * trip per 128 KiB, 512 of them. */
  g_assert_cmpuint (receive_window, >, INITIAL_WINDOW);
  g_assert_cmpuint (receive_window, <=, 16 * 1024 * 1024);
  g_assert_cmpfloat (seconds, <, 60);
}

/* Over a link with a 40 ms round trip the window grows round trip by
 * round trip toward its maximum, from the round-trip time the session
 * measured at start: at 256 KiB per round trip, 64 MiB would take 10 s. */
static void
test_window_growth_delayed (Pair          *pair,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/bulk", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  Transfer t = { 0, };
  guint receive_window = 0;
  guint64 rtt = 0;
  gint64 start;
  double seconds;

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/bulk");
  /* The first ping's answer may still be on its way. */
  rtt = wait_property_at_least (pair->server, "rtt", 1);
  g_assert_cmpuint (rtt, >=, 2 * DELAY_MS * 1000);

  start = g_get_monotonic_time ();
  transfer_run (&t, stream, accepted, 64 * 1024 * 1024);
  seconds = (t.end_time - start) / 1e6;
  g_object_get (accepted, "receive-window", &receive_window, NULL);
  g_test_message ("64 MiB on one stream over a %u ms round trip in %.3f s: %.2f Gbit/s; receive "
                  "window grew to %u KiB", 2 * DELAY_MS, seconds, t.total * 8 / seconds / 1e9,
                  receive_window / 1024);
  g_assert_cmpuint (receive_window, >=, 8 * 1024 * 1024);
  g_assert_cmpuint (receive_window, <=, 16 * 1024 * 1024);
}

/* Both ways at once over a link of limited bandwidth (20 MB/s, 20 ms
 * round trip): each side's window updates for what it receives share
 * its sending queue with its own data, and go ahead of what is not yet
 * written of it.  Every byte arrives, in order, and the link stays busy
 * enough. */
static void
test_both_ways_limited (Pair          *pair,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/both", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  Transfer up = { 0, }, down = { 0, };
  const guint64 total = 16 * 1024 * 1024;
  gint64 start;
  double seconds;
  guint64 rtt = 0;

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/both");
  start = g_get_monotonic_time ();
  transfer_start (&up, stream, accepted, total, 5);
  transfer_start (&down, accepted, stream, total, 6);
  transfer_finish (&up);
  transfer_finish (&down);
  seconds = (MAX (up.end_time, down.end_time) - start) / 1e6;
  g_object_get (pair->client, "rtt", &rtt, NULL);
  g_test_message ("%" G_GUINT64_FORMAT " MiB each way at %u MB/s each way, %u ms one way: %.3f s "
                  "(%.0f %% of the link), rtt %" G_GUINT64_FORMAT " us",
                  total >> 20, (guint) (LIMITED_RATE / 1000000), LIMITED_DELAY_MS, seconds,
                  100.0 * total / LIMITED_RATE / seconds, rtt);
  /* 85-95 % of the link on a quiet machine; the bound is loose, for
   * loaded ones. */
  g_assert_cmpfloat (seconds, <, 4.0 * total / LIMITED_RATE);
}

/* Big writes go to the session's stream without a copy when nothing is
 * queued ahead of them, and what the stream does not take is copied
 * before the write returns.  The writer here fills one buffer anew for
 * each write and scribbles over it as soon as the write is done, from
 * the main loop as applications write, while the reader checks 64 MiB
 * against the pattern: a byte sent from the buffer after its write
 * returned shows. */
static void
test_write_through (Pair          *pair,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/scratch", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autofree guint8 *scratch = g_malloc (SCRATCH_WRITE);
  Transfer t = { 0, };

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/scratch");
  t.scratch = scratch;
  transfer_run (&t, stream, accepted, 64 * 1024 * 1024);
}

/* As in foctet-yamux-buffers.h. */
#define POOL_DEFAULT_TRIM_INTERVAL 10000
#define POOL_TRIM_INTERVAL 100   /* ms, for the test */
#define BURST_STREAMS 4

static guint64
pooled_bytes (Pair *pair)
{
  guint64 bytes = 0;

  g_object_get (pair->client, "pooled-bytes", &bytes, NULL);
  return bytes;
}

/* A burst: several streams each way at once, so that writes queue
 * behind each other and read chunks outlive their reads.  Leaves big
 * buffers in the pools all sessions share. */
static void
burst (Pair *pair)
{
  FoctetStream *streams[BURST_STREAMS], *accepted[BURST_STREAMS];
  Transfer up[BURST_STREAMS] = { { 0, }, }, down[BURST_STREAMS] = { { 0, }, };

  for (guint i = 0; i < BURST_STREAMS; i++)
    {
      g_autoptr(GError) error = NULL;

      streams[i] = foctet_test_open_stream (pair->client, "test/burst", &error, TIMEOUT);
      g_assert_no_error (error);
      accepted[i] = accept_with_header (pair->server, "test/burst");
    }
  for (guint i = 0; i < BURST_STREAMS; i++)
    {
      /* Small reads, so that the read chunks wait for them. */
      up[i].read_size = down[i].read_size = 16 * 1024;
      transfer_start (&up[i], streams[i], accepted[i], 16 * 1024 * 1024, 10 + i);
      transfer_start (&down[i], accepted[i], streams[i], 16 * 1024 * 1024, 20 + i);
    }
  for (guint i = 0; i < BURST_STREAMS; i++)
    {
      transfer_finish (&up[i]);
      transfer_finish (&down[i]);
      g_object_unref (streams[i]);
      g_object_unref (accepted[i]);
    }
}

/* One more stream, a few MiB on it. */
static void
transfer_after (Pair *pair)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/after", &error, TIMEOUT);
  g_autoptr(FoctetStream) other = NULL;
  Transfer after = { 0, };

  g_assert_no_error (error);
  other = accept_with_header (pair->server, "test/after");
  transfer_run (&after, stream, other, 8 * 1024 * 1024);
}

/* Waits, boundedly, until the pools are empty; returns how long it took. */
static double
wait_pools_empty (Pair *pair)
{
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + 50 * POOL_TRIM_INTERVAL * 1000;
  guint64 pooled;

  while ((pooled = pooled_bytes (pair)) > 0 && g_get_monotonic_time () < deadline)
    spin ();
  g_assert_cmpuint (pooled, ==, 0);
  return (g_get_monotonic_time () - start) / 1e6;
}

/* After a burst, the buffers in the pools go back to malloc once no
 * session took them for two trim intervals, and the sessions still move
 * bytes after. */
static void
test_pool_trim (Pair          *pair,
                gconstpointer  data)
{
  guint interval = 0;
  guint64 pooled;
  double seconds;

  g_object_get (pair->server, "pool-trim-interval", &interval, NULL);
  g_assert_cmpuint (interval, ==, POOL_DEFAULT_TRIM_INTERVAL);

  burst (pair);
  pooled = pooled_bytes (pair);
  g_test_message ("pooled after the burst: %" G_GUINT64_FORMAT " KiB", pooled / 1024);
  g_assert_cmpuint (pooled, >=, 1024 * 1024);

  /* Applies at once to the armed timer. */
  g_object_set (pair->client, "pool-trim-interval", POOL_TRIM_INTERVAL, NULL);
  seconds = wait_pools_empty (pair);
  g_test_message ("pools empty %.3f s after the burst", seconds);
  /* Not before the interval ran out once. */
  g_assert_cmpfloat (seconds, >=, POOL_TRIM_INTERVAL / 1000.0);

  transfer_after (pair);
  g_object_set (pair->client, "pool-trim-interval", POOL_DEFAULT_TRIM_INTERVAL, NULL);
}

/* The trim timer runs on the context of the last session that took a
 * buffer.  When nothing runs that context any more, the next session
 * that takes a buffer, on another context, takes the timer with it. */
static void
test_pool_trim_context (void)
{
  g_autoptr(GMainContext) gone = g_main_context_new ();
  Pair first = { 0, }, second = { 0, };

  g_main_context_push_thread_default (gone);
  pair_setup (&first, NULL);
  burst (&first);
  /* The timer starts over on the context of the burst's sessions. */
  g_object_set (first.client, "pool-trim-interval", POOL_TRIM_INTERVAL, NULL);
  g_main_context_pop_thread_default (gone);

  /* Past due by more than an interval, and not run. */
  g_usleep (3 * POOL_TRIM_INTERVAL * 1000);
  g_assert_cmpuint (pooled_bytes (&first), >=, 1024 * 1024);

  pair_setup (&second, NULL);
  transfer_after (&second);
  g_test_message ("pools empty %.3f s after a transfer on another context", wait_pools_empty (&second));

  g_object_set (second.client, "pool-trim-interval", POOL_DEFAULT_TRIM_INTERVAL, NULL);
  pair_teardown (&second, NULL);
  g_main_context_push_thread_default (gone);
  pair_teardown (&first, NULL);
  g_main_context_pop_thread_default (gone);
}

/* As in foctet-yamux-session.h. */
#define READ_AHEAD_MIN (512 * 1024)   /* what a reader of up to 256 KiB gets */
#define READ_CHUNK (256 * 1024)

/* While its application reads as fast as it can, a stream holds little
 * it has not read: the session stops reading at READ_AHEAD_MIN ahead of
 * the application until the application has read half of it, instead
 * of filling the whole window (up to 16 MiB) ahead of it.  The reader
 * here takes 16 KiB per read, the writer gives 256 KiB per write.  The
 * bytes still arrive whole and in order, and the window still grows. */
static void
test_read_ahead (Pair          *pair,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/ahead", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  Transfer t = { 0, };
  guint receive_window = 0;

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/ahead");
  /* However slow the machine, no stall ends without the reader. */
  g_object_set (pair->server, "read-stall-timeout", 60 * 1000, NULL);
  t.read_size = 16 * 1024;
  transfer_run (&t, stream, accepted, 16 * 1024 * 1024);
  g_object_get (accepted, "receive-window", &receive_window, NULL);
  g_test_message ("At most %u KiB unread after a read; the window grew to %u KiB",
                  t.max_buffered / 1024, receive_window / 1024);
  /* The session looks before each read of up to a chunk. */
  g_assert_cmpuint (t.max_buffered, <, READ_AHEAD_MIN + READ_CHUNK);
  g_assert_cmpuint (receive_window, >, INITIAL_WINDOW);
}

/* Reads @len bytes of @stream into @buffer; the end of the stream is
 * a failure. */
static void
read_exactly (FoctetStream *stream,
              guint8       *buffer,
              gsize         len)
{
  for (gsize done = 0; done < len;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = foctet_test_stream_read_some (stream, buffer + done, MIN (len - done, 256 * 1024),
                                               &error, TIMEOUT);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      done += n;
    }
}

/* Reads @stream's first bytes into @got until its receive window has
 * grown to twice what the session reads ahead (or half of @data is
 * read); returns how many were read.  The reads are too small to read
 * through (READ_THROUGH_MIN), so they leave the session reading ahead,
 * not waiting for this reader to read on through it. */
static gsize
read_until_window_grown (FoctetStream *stream,
                         guint8       *got,
                         GBytes       *data)
{
  const gsize piece = 8 * 1024;
  guint receive_window = 0;
  gsize read = 0;

  while (receive_window < 2 * READ_AHEAD_MIN && read < g_bytes_get_size (data) / 2)
    {
      read_exactly (stream, got + read, piece);
      read += piece;
      g_object_get (stream, "receive-window", &receive_window, NULL);
    }
  g_assert_cmpuint (receive_window, >=, 2 * READ_AHEAD_MIN);
  return read;
}

/* Reads the rest of @stream from @from on into @got, then its end, and
 * checks it all against @data. */
static void
read_to_end_checked (FoctetStream *stream,
                     guint8       *got,
                     gsize         from,
                     GBytes       *data)
{
  g_autoptr(GError) error = NULL;
  char end;

  read_exactly (stream, got + from, g_bytes_get_size (data) - from);
  g_assert_cmpint (foctet_test_stream_read_some (stream, &end, 1, &error, TIMEOUT), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpmem (got, g_bytes_get_size (data), g_bytes_get_data (data, NULL), g_bytes_get_size (data));
}

/* An application that stops reading one stream and waits for another
 * holds the other up for one stall (read-stall-timeout, 10 ms) at most:
 * stream A's bytes, sent ahead of B's, fill A's grown window unread while
 * the reader waits for all of B. */
static void
test_read_ahead_other_stream (Pair          *pair,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) a = foctet_test_open_stream (pair->client, "test/a", &error, TIMEOUT);
  g_autoptr(FoctetStream) b = foctet_test_open_stream (pair->client, "test/b", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted_a = NULL;
  g_autoptr(FoctetStream) accepted_b = NULL;
  g_autoptr(GBytes) data_a = random_bytes (16 * 1024 * 1024);
  g_autoptr(GBytes) data_b = random_bytes (1024 * 1024);
  g_autofree guint8 *got_a = g_malloc (g_bytes_get_size (data_a));
  g_autofree guint8 *got_b = g_malloc (g_bytes_get_size (data_b));
  gsize read_a;
  gboolean done_a = FALSE, done_b = FALSE;
  guint buffered = 0;

  g_assert_no_error (error);
  accepted_a = accept_with_header (pair->server, "test/a");
  accepted_b = accept_with_header (pair->server, "test/b");
  assert_slow_start (pair);

  /* Reading A grows its window past what the session reads ahead. */
  write_all_start (a, data_a, &done_a);
  read_a = read_until_window_grown (accepted_a, got_a, data_a);

  /* Now only B is read, whose frames come after A's. */
  write_all_start (b, data_b, &done_b);
  read_to_end_checked (accepted_b, got_b, 0, data_b);
  foctet_test_wait_for (&done_b, TIMEOUT);
  /* A was past the stall threshold, unread, while B came through. */
  g_object_get (accepted_a, "receive-buffered", &buffered, NULL);
  g_test_message ("Stream A: %u KiB unread", buffered / 1024);
  g_assert_cmpuint (buffered, >=, READ_AHEAD_MIN);

  read_to_end_checked (accepted_a, got_a, read_a, data_a);
  foctet_test_wait_for (&done_a, TIMEOUT);
}

/* An application that reads big, with nothing left received, reads its
 * stream's payload straight from the session's stream; another stream's
 * frames and the peer's window updates between them go back to the
 * session.  Here stream A's window first grows, then the reader leaves A
 * unread until the session waits for it (read-stall-timeout is long
 * here, so the wait lasts), with the rest of A's window still in the
 * socket; then B starts, data flows the other way on A, and the reader
 * reads all of A in 256 KiB reads, and all of B. */
static void
test_read_through (Pair          *pair,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) a = foctet_test_open_stream (pair->client, "test/a", &error, TIMEOUT);
  g_autoptr(FoctetStream) b = foctet_test_open_stream (pair->client, "test/b", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted_a = NULL;
  g_autoptr(FoctetStream) accepted_b = NULL;
  g_autoptr(GBytes) data_a = random_bytes (16 * 1024 * 1024);
  g_autoptr(GBytes) data_b = random_bytes (4 * 1024 * 1024);
  g_autofree guint8 *got_a = g_malloc (g_bytes_get_size (data_a));
  g_autofree guint8 *got_b = g_malloc (g_bytes_get_size (data_b));
  gsize read_a;
  gboolean done_a = FALSE, done_b = FALSE;
  guint buffered = 0;
  guint64 through = 0;
  Transfer back = { 0, };

  g_assert_no_error (error);
  accepted_a = accept_with_header (pair->server, "test/a");
  accepted_b = accept_with_header (pair->server, "test/b");
  assert_slow_start (pair);
  g_object_set (pair->server, "read-stall-timeout", 60 * 1000, NULL);

  write_all_start (a, data_a, &done_a);
  read_a = read_until_window_grown (accepted_a, got_a, data_a);
  buffered = wait_property_at_least (accepted_a, "receive-buffered", READ_AHEAD_MIN);
  g_assert_cmpuint (buffered, >=, READ_AHEAD_MIN);

  write_all_start (b, data_b, &done_b);
  transfer_start (&back, accepted_a, a, 4 * 1024 * 1024, 3);
  read_to_end_checked (accepted_a, got_a, read_a, data_a);
  read_to_end_checked (accepted_b, got_b, 0, data_b);
  transfer_finish (&back);
  foctet_test_wait_for (&done_a, TIMEOUT);
  foctet_test_wait_for (&done_b, TIMEOUT);

  g_object_get (accepted_a, "read-through", &through, NULL);
  g_test_message ("%" G_GUINT64_FORMAT " KiB of A read through, of %" G_GSIZE_FORMAT,
                  through / 1024, (g_bytes_get_size (data_a) - read_a) / 1024);
  g_assert_cmpuint (through, >, 0);
}

/* Reads a stream to its end with asynchronous reads of @size bytes,
 * one after the other, into a buffer of its own. */
typedef struct {
  GInputStream *input;
  guint8 *buffer;
  gsize size;
  GByteArray *got;
  guint reads;
  gboolean done;
} AsyncReader;

static void async_reader_next (AsyncReader *r);

static void
async_reader_read_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  AsyncReader *r = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n, >=, 0);
  if (n == 0)
    {
      r->done = TRUE;
      return;
    }
  r->reads++;
  g_byte_array_append (r->got, r->buffer, n);
  async_reader_next (r);
}

static void
async_reader_next (AsyncReader *r)
{
  g_input_stream_read_async (r->input, r->buffer, r->size, G_PRIORITY_DEFAULT, NULL,
                             async_reader_read_cb, r);
}

static void
async_reader_start (AsyncReader  *r,
                    FoctetStream *stream,
                    gsize         size)
{
  r->input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  r->buffer = g_malloc (size);
  r->size = size;
  r->got = g_byte_array_new ();
  async_reader_next (r);
}

static void
async_reader_clear (AsyncReader *r)
{
  g_free (r->buffer);
  g_byte_array_unref (r->got);
}

/* Two streams whose applications wait in asynchronous reads while the
 * peer writes both at once, so that their frames alternate: the session
 * reads each payload straight into the waiting read's buffer
 * (foctet_channel_get_read_space()) rather than into its read chunks and
 * then out of them.  The "read-through" property counts those bytes. */
static void
test_fill_waiting_reads (Pair          *pair,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  FoctetStream *streams[2] = { NULL, NULL };
  FoctetStream *accepted[2] = { NULL, NULL };
  GBytes *payloads[2];
  gboolean done[2] = { FALSE, FALSE };
  AsyncReader readers[2] = { { 0, }, { 0, } };
  const char *protocols[2] = { "test/a", "test/b" };

  for (guint i = 0; i < 2; i++)
    {
      streams[i] = foctet_test_open_stream (pair->client, protocols[i], &error, TIMEOUT);
      g_assert_no_error (error);
      accepted[i] = accept_with_header (pair->server, protocols[i]);
      payloads[i] = random_bytes (8 * 1024 * 1024);
      async_reader_start (&readers[i], accepted[i], 1024 * 1024);
    }
  for (guint i = 0; i < 2; i++)
    write_all_start (streams[i], payloads[i], &done[i]);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GBytes) got = NULL;
      guint64 through = 0;

      foctet_test_wait_for (&readers[i].done, TIMEOUT);
      foctet_test_wait_for (&done[i], TIMEOUT);
      got = g_bytes_new (readers[i].got->data, readers[i].got->len);
      assert_same_bytes (got, payloads[i]);
      g_object_get (accepted[i], "read-through", &through, NULL);
      g_test_message ("Stream %u: %" G_GUINT64_FORMAT " KiB of 8192 straight into its reads, %u reads",
                      i, through / 1024, readers[i].reads);
      g_assert_cmpuint (through, >=, g_bytes_get_size (payloads[i]) / 2);
    }
  for (guint i = 0; i < 2; i++)
    {
      async_reader_clear (&readers[i]);
      g_bytes_unref (payloads[i]);
      g_object_unref (accepted[i]);
      g_object_unref (streams[i]);
    }
}

static void
test_slow_reader (Pair          *pair,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/slow", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  g_autoptr(GBytes) payload = random_bytes (1024 * 1024);
  g_autoptr(GByteArray) got = g_byte_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  GAsyncResult *slot = NULL;
  guint send_window = 1;
  gsize written = 0;

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/slow");

  /* Nobody reads: the writer stops when the peer's window is used up. */
  g_output_stream_write_all_async (output, g_bytes_get_data (payload, NULL),
                                   g_bytes_get_size (payload), G_PRIORITY_DEFAULT, NULL,
                                   foctet_test_store_result, &slot);
  for (gint64 end = g_get_monotonic_time () + 300000; g_get_monotonic_time () < end;)
    spin ();
  g_assert_null (slot);
  g_object_get (stream, "send-window", &send_window, NULL);
  g_assert_cmpuint (send_window, ==, 0);

  /* Reading lets the rest through. */
  while (got->len < g_bytes_get_size (payload))
    {
      guint8 buffer[65536];
      gssize n = foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_byte_array_append (got, buffer, n);
    }
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_output_stream_write_all_finish (output, result, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got->data, got->len, g_bytes_get_data (payload, NULL), g_bytes_get_size (payload));
}

/* Opened beyond the acceptor's backlog: refused with RST. */
static void
test_backlog (Pair          *pair,
              gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  char buffer[8];

  g_object_set (pair->server, "accept-backlog", 4, NULL);
  for (guint i = 0; i < 10; i++)
    {
      FoctetStream *stream = foctet_test_open_stream (pair->client, "test/backlog", &error, TIMEOUT);

      g_assert_no_error (error);
      g_ptr_array_add (streams, stream);
    }
  /* The refused ones learn it from the RST. */
  for (guint i = 4; i < 10; i++)
    {
      g_assert_cmpint (foctet_test_stream_read_some (g_ptr_array_index (streams, i), buffer, sizeof buffer,
                                                     &error, TIMEOUT),
                       ==, -1);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
      g_clear_error (&error);
    }
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(FoctetStream) accepted = accept_with_header (pair->server, "test/backlog");

      g_assert_cmpuint (foctet_stream_get_id (accepted), ==,
                        foctet_stream_get_id (g_ptr_array_index (streams, i)));
      foctet_test_stream_write_all (accepted, "ok", 2, TIMEOUT);
      g_assert_cmpint (foctet_test_stream_read_some (g_ptr_array_index (streams, i), buffer, sizeof buffer,
                                                     &error, TIMEOUT),
                       ==, 2);
      g_assert_no_error (error);
    }
}

static void
rtt_notify_cb (GObject    *object,
               GParamSpec *pspec,
               gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_ping_rtt (Pair          *pair,
               gconstpointer  data)
{
  guint64 rtt = 0;
  guint count = 0;
  guint keepalive = 0;

  /* The first ping goes out at start. */
  g_signal_connect (pair->client, "notify::rtt", G_CALLBACK (rtt_notify_cb), &count);
  g_object_get (pair->client, "rtt", &rtt, "keepalive-interval", &keepalive, NULL);
  g_assert_cmpuint (keepalive, ==, 30);
  if (rtt == 0)
    wait_count (&count, 1, TIMEOUT);
  g_object_get (pair->client, "rtt", &rtt, NULL);
  g_assert_cmpuint (rtt, >, 0);
  g_assert_cmpuint (rtt, <, 5 * G_USEC_PER_SEC);
  g_object_get (pair->server, "rtt", &rtt, NULL);
  g_assert_cmpuint (rtt, >, 0);

  /* Then one every keep-alive interval, each measured. */
  count = 0;
  g_object_set (pair->client, "keepalive-interval", 1, NULL);
  wait_count (&count, 2, 5);
  g_assert_false (foctet_connection_is_closed (pair->client));
  g_signal_handlers_disconnect_by_func (pair->client, rtt_notify_cb, &count);
}

/* Closing sends GoAway: the peer's session ends normally, and its
 * pending accept fails. */
static void
test_go_away_between_sessions (Pair          *pair,
                               gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  GAsyncResult *slot = NULL;

  foctet_connection_accept_stream_async (pair->server, NULL, foctet_test_store_result, &slot);
  foctet_test_close_connection (pair->client, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  g_assert_true (foctet_connection_is_closed (pair->client));
  wait_closed (&pair->server_ending);
  g_assert_no_error (pair->server_ending.error);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_null (foctet_connection_accept_stream_finish (pair->server, result, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);

  /* Nothing opens on a closed session. */
  stream = foctet_test_open_stream (pair->client, "test/late", &error, TIMEOUT);
  g_assert_null (stream);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
}

/* A raw peer: frames written and read by hand. */

typedef struct {
  GSocketConnection *connection;
  GSocket *socket;
  FoctetConnection *session;
  Ending ending;
  GByteArray *in;
  gboolean answer_pings;
} Raw;

static void
raw_setup (Raw      *raw,
           gboolean  session_is_initiator)
{
  g_autoptr(GSocketConnection) session_side = NULL;

  foctet_test_socket_pair (&session_side, &raw->connection);
  raw->socket = g_socket_connection_get_socket (raw->connection);
  raw->session = wrap (G_IO_STREAM (session_side), session_is_initiator);
  watch_ending (raw->session, &raw->ending);
  raw->in = g_byte_array_new ();
  raw->answer_pings = TRUE;
}

static void
raw_setup_server (Raw           *raw,
                  gconstpointer  data)
{
  raw_setup (raw, FALSE);
}

static void
raw_setup_client (Raw           *raw,
                  gconstpointer  data)
{
  raw_setup (raw, TRUE);
}

static void
raw_teardown (Raw           *raw,
              gconstpointer  data)
{
  g_signal_handlers_disconnect_by_data (raw->session, &raw->ending);
  g_clear_object (&raw->session);
  ending_clear (&raw->ending);
  g_clear_object (&raw->connection);
  g_byte_array_unref (raw->in);
  drain_context ();
}

static void
raw_send (Raw        *raw,
          const void *data,
          gsize       len)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  const guint8 *p = data;

  while (len > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send_with_blocking (raw->socket, (const char *) p, len, FALSE, NULL, &error);

      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          spin ();
          continue;
        }
      p += n;
      len -= n;
    }
}

static void
raw_send_frame (Raw        *raw,
                guint8      type,
                guint16     flags,
                guint32     id,
                guint32     length,
                const void *payload,
                gsize       payload_len)
{
  FoctetYamuxHeader header = { 0, type, flags, id, length };
  guint8 bytes[FOCTET_YAMUX_HEADER_SIZE];

  foctet_yamux_header_encode (&header, bytes);
  raw_send (raw, bytes, sizeof bytes);
  if (payload_len > 0)
    raw_send (raw, payload, payload_len);
}

/* Reads until @len bytes are buffered; FALSE at end of stream. */
static gboolean
raw_fill (Raw   *raw,
          gsize  len)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (raw->in->len < len)
    {
      g_autoptr(GError) error = NULL;
      char buffer[65536];
      gssize n = g_socket_receive_with_blocking (raw->socket, buffer, sizeof buffer, FALSE, NULL,
                                                 &error);

      if (n == 0)
        return FALSE;
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
            return FALSE;
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          if (g_get_monotonic_time () > deadline)
            g_error ("The raw peer waited %d s for a frame", TIMEOUT);
          spin ();
          continue;
        }
      g_byte_array_append (raw->in, (const guint8 *) buffer, n);
    }
  return TRUE;
}

/* The next frame the session sent, answering its pings when asked to;
 * FALSE at end of stream. */
static gboolean
raw_read_frame (Raw                *raw,
                FoctetYamuxHeader  *header,
                GBytes            **payload)
{
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gsize payload_len;

      if (!raw_fill (raw, FOCTET_YAMUX_HEADER_SIZE))
        {
          g_assert_cmpuint (raw->in->len, ==, 0);
          return FALSE;
        }
      g_assert_true (foctet_yamux_header_decode (raw->in->data, header, G_MAXUINT32, &error));
      g_assert_no_error (error);
      payload_len = header->type == FOCTET_YAMUX_TYPE_DATA ? header->length : 0;
      g_assert_true (raw_fill (raw, FOCTET_YAMUX_HEADER_SIZE + payload_len));
      if (payload != NULL)
        *payload = g_bytes_new (raw->in->data + FOCTET_YAMUX_HEADER_SIZE, payload_len);
      g_byte_array_remove_range (raw->in, 0, FOCTET_YAMUX_HEADER_SIZE + payload_len);

      if (header->type == FOCTET_YAMUX_TYPE_PING && (header->flags & FOCTET_YAMUX_FLAG_SYN) &&
          raw->answer_pings)
        {
          FoctetYamuxHeader answer = { 0, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_ACK, 0,
                                       header->length };
          guint8 bytes[FOCTET_YAMUX_HEADER_SIZE];

          /* Best effort: the session may have closed already. */
          foctet_yamux_header_encode (&answer, bytes);
          g_socket_send_with_blocking (raw->socket, (const char *) bytes, sizeof bytes, FALSE,
                                       NULL, NULL);
          if (payload != NULL)
            g_clear_pointer (payload, g_bytes_unref);
          continue;
        }
      return TRUE;
    }
}

/* Reads frames until one of @type; fails at end of stream. */
static void
raw_expect (Raw               *raw,
            guint8             type,
            FoctetYamuxHeader *header)
{
  for (;;)
    {
      g_assert_true (raw_read_frame (raw, header, NULL));
      if (header->type == type)
        return;
    }
}

static void
raw_expect_eof (Raw *raw)
{
  FoctetYamuxHeader header;

  while (raw_read_frame (raw, &header, NULL))
    ;
}

/* Violations: each ends the session with a protocol error, GoAway(1)
 * first.  The raw peer is the client (odd ids). */

static void
assert_protocol_error (Raw        *raw,
                       const char *what)
{
  FoctetYamuxHeader header;

  wait_closed (&raw->ending);
  g_assert_error (raw->ending.error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_test_message ("%s", raw->ending.error->message);
  if (strstr (raw->ending.error->message, what) == NULL)
    g_error ("“%s” does not name the violation “%s”", raw->ending.error->message, what);
  raw_expect (raw, FOCTET_YAMUX_TYPE_GO_AWAY, &header);
  g_assert_cmpuint (header.length, ==, 1);
  raw_expect_eof (raw);
  g_assert_true (foctet_connection_is_closed (raw->session));
}

static void
test_violation_version (Raw           *raw,
                        gconstpointer  data)
{
  static const guint8 frame[] = { 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0 };

  raw_send (raw, frame, sizeof frame);
  assert_protocol_error (raw, "version 1");
}

static void
test_violation_type (Raw           *raw,
                     gconstpointer  data)
{
  static const guint8 frame[] = { 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

  raw_send (raw, frame, sizeof frame);
  assert_protocol_error (raw, "unknown type 9");
}

static void
test_violation_beyond_window (Raw           *raw,
                              gconstpointer  data)
{
  g_autofree guint8 *payload = g_malloc0 (200 * 1024);

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, 200 * 1024, payload, 200 * 1024);
  /* 56 KiB of the window are left. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, 60 * 1024, NULL, 0);
  assert_protocol_error (raw, "beyond its receive window");
}

static void
test_violation_oversized (Raw           *raw,
                          gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_SYN, 1, 0x7fffffff, NULL, 0);
  assert_protocol_error (raw, "oversized");
}

/* A stream operation waiting when the violation comes fails with it. */
static void
test_violation_no_syn (Raw           *raw,
                       gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GInputStream *input;
  GAsyncResult *slot = NULL;
  char buffer[8];

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  g_input_stream_read_async (input, buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL,
                             foctet_test_store_result, &slot);

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 7, 3, "abc", 3);
  assert_protocol_error (raw, "without SYN for stream 7, which was never opened");
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (g_input_stream_read_finish (input, result, &error), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
}

static void
test_violation_no_syn_own_id (Raw           *raw,
                              gconstpointer  data)
{
  /* The session (server) never opened stream 2. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, 0, 2, 100, NULL, 0);
  assert_protocol_error (raw, "never opened");
}

/* A frame without SYN for an id the peer skipped (below the highest it
 * opened) is as much a violation as one above it (PROTOCOL §4). */
static void
test_violation_no_syn_skipped_id (Raw           *raw,
                                  gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 5, 0, NULL, 0);
  stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 3, 3, "abc", 3);
  assert_protocol_error (raw, "without SYN for stream 3, which was never opened");
}

/* An id is opened once: a SYN for one that was opened and reset before
 * is a violation. */
static void
test_violation_reused_id (Raw           *raw,
                          gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN | FOCTET_YAMUX_FLAG_RST, 1, 0,
                  NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  assert_protocol_error (raw, "which the peer opened before");
}

/* SYNs may come out of order (a peer opening streams at once): an id
 * skipped first and opened later is a stream like any other. */
static void
test_syn_out_of_order (Raw           *raw,
                       gconstpointer  data)
{
  g_autoptr(FoctetStream) first = NULL;
  g_autoptr(FoctetStream) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 3, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_SYN | FOCTET_YAMUX_FLAG_FIN, 1, 2, "hi", 2);
  first = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (first), ==, 3);
  second = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (second), ==, 1);
  got = foctet_test_stream_read_to_end (second, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "hi", 2);
  g_assert_false (raw->ending.closed);
}

static void
test_violation_wrong_parity (Raw           *raw,
                             gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 4, 0, NULL, 0);
  assert_protocol_error (raw, "parity");
}

static void
test_violation_duplicate_syn (Raw           *raw,
                              gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  assert_protocol_error (raw, "already open");
}

static void
test_violation_window_overflow (Raw           *raw,
                                gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, 0, 1, G_MAXUINT32, NULL, 0);
  assert_protocol_error (raw, "overflows");
}

static void
test_violation_data_after_fin (Raw           *raw,
                               gconstpointer  data)
{
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_SYN | FOCTET_YAMUX_FLAG_FIN, 1, 2,
                  "hi", 2);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, 2, "hi", 2);
  assert_protocol_error (raw, "after its FIN");
}

/* A violation split over many writes, byte by byte, is found the same. */
static void
test_violation_byte_by_byte (Raw           *raw,
                             gconstpointer  data)
{
  static const guint8 frames[] = {
    0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5,      /* Ping SYN 5 */
    0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,      /* WindowUpdate SYN stream 1 */
    0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 'a', 'b', 'c',
    0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,      /* type 4 */
  };

  for (gsize i = 0; i < sizeof frames; i++)
    {
      raw_send (raw, frames + i, 1);
      for (guint j = 0; j < 3; j++)
        g_main_context_iteration (NULL, FALSE);
    }
  assert_protocol_error (raw, "unknown type 4");
}

/* The raw peer as the server: answers to streams the session opened. */

static void
test_implicit_ack (Raw           *raw,
                   gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = NULL;
  FoctetYamuxHeader header;
  char buffer[16];

  stream = foctet_test_open_stream (raw->session, "test/ack", &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (stream), ==, 1);
  raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_SYN);
  g_assert_cmpuint (header.length, ==, 0);
  g_assert_true (raw_read_frame (raw, &header, &payload));
  g_assert_cmpuint (header.type, ==, FOCTET_YAMUX_TYPE_DATA);
  g_assert_cmpuint (header.flags, ==, 0);
  g_assert_cmpmem (g_bytes_get_data (payload, NULL), g_bytes_get_size (payload),
                   "\x08test/ack", 9);

  /* The peer answers without ACK: its first frame acknowledges. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, 4, "pong", 4);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, 4, "pong", 4);
  /* A late ACK, and another, change nothing. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_ACK, 1, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_ACK, 1, 4, "more", 4);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, 4, "more", 4);
  g_assert_false (foctet_connection_is_closed (raw->session));
}

/* As in foctet-yamux-session.h. */
#define STREAM_QUEUE_LIMIT (1024 * 1024)

/* Opens a stream for the raw peer, which gives it @window of credit. */
static FoctetStream *
raw_open_stream (Raw    *raw,
                 gsize   window)
{
  g_autoptr(GError) error = NULL;
  FoctetStream *stream = foctet_test_open_stream (raw->session, "test/queue", &error, TIMEOUT);
  FoctetYamuxHeader header;

  g_assert_no_error (error);
  raw_expect (raw, FOCTET_YAMUX_TYPE_DATA, &header);   /* the stream header */
  g_assert_cmpuint (header.stream_id, ==, foctet_stream_get_id (stream));
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_ACK, header.stream_id,
                  window, NULL, 0);
  return stream;
}

/* Runs the main loop until writes to @stream wait for the session, the
 * raw peer reading nothing meanwhile; fails if all of the write started
 * with write_all_start() (@written) was taken instead. */
static void
wait_write_blocked (FoctetStream   *stream,
                    const gboolean *written)
{
  GPollableOutputStream *output =
    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (stream)));
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (g_pollable_output_stream_is_writable (output))
    {
      if (*written)
        g_error ("The session took all of the stream's data without waiting");
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      spin ();
    }
}

/* A Data frame's payload length (0 for other frames), added to its
 * stream's in @per_stream (stream id → bytes) unless that is NULL. */
static gsize
count_data (const FoctetYamuxHeader *header,
            GHashTable              *per_stream)
{
  gpointer key = GUINT_TO_POINTER (header->stream_id);

  if (header->type != FOCTET_YAMUX_TYPE_DATA)
    return 0;
  if (per_stream != NULL)
    g_hash_table_insert (per_stream, key,
                         GSIZE_TO_POINTER (GPOINTER_TO_SIZE (g_hash_table_lookup (per_stream, key)) +
                                           header->length));
  return header->length;
}

/* Reads frames until one of @type on @stream_id, into *@header; returns
 * the bytes of Data payload read before it (count_data()). */
static gsize
raw_data_until (Raw               *raw,
                guint8             type,
                guint32            stream_id,
                FoctetYamuxHeader *header,
                GHashTable        *per_stream)
{
  gsize data = 0;

  for (;;)
    {
      g_assert_true (raw_read_frame (raw, header, NULL));
      if (header->type == type && header->stream_id == stream_id)
        return data;
      data += count_data (header, per_stream);
    }
}

/* Reads frames until every stream in @ids (@n of them) sent its FIN;
 * returns the Data bytes read meanwhile, adding to @per_stream. */
static gsize
raw_data_until_fins (Raw           *raw,
                     const guint32 *ids,
                     guint          n,
                     GHashTable    *per_stream)
{
  gsize data = 0;
  guint fins = 0;

  while (fins < n)
    {
      FoctetYamuxHeader header;

      g_assert_true (raw_read_frame (raw, &header, NULL));
      data += count_data (&header, per_stream);
      if (header.flags & FOCTET_YAMUX_FLAG_FIN)
        {
          for (guint i = 0; i < n; i++)
            if (ids[i] == header.stream_id)
              fins++;
        }
    }
  return data;
}

#define AHEAD_STREAMS 4

/* A window update this side owes goes ahead of the data it queued: four
 * streams fill the session's queue, 4 MiB, each its share, which the raw
 * peer does not read for now; then the application reads 192 KiB of one
 * stream's 256 KiB window, and the session grants it back at once. */
static void
test_control_ahead (Raw           *raw,
                    gconstpointer  data)
{
  g_autoptr(GBytes) up = random_bytes (2 * STREAM_QUEUE_LIMIT);
  g_autoptr(GBytes) down = random_bytes (192 * 1024);
  g_autofree guint8 *got = g_malloc (g_bytes_get_size (down));
  g_autoptr(GHashTable) per_stream = g_hash_table_new (NULL, NULL);
  FoctetStream *streams[AHEAD_STREAMS];
  gboolean written[AHEAD_STREAMS];
  guint32 ids[AHEAD_STREAMS];
  FoctetYamuxHeader header;
  gsize data_before, total;

  for (guint i = 0; i < AHEAD_STREAMS; i++)
    {
      streams[i] = raw_open_stream (raw, g_bytes_get_size (up));
      ids[i] = foctet_stream_get_id (streams[i]);
    }
  for (guint i = 0; i < AHEAD_STREAMS; i++)
    write_all_start (streams[i], up, &written[i]);
  for (guint i = 0; i < AHEAD_STREAMS; i++)
    wait_write_blocked (streams[i], &written[i]);

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, ids[0], g_bytes_get_size (down),
                  g_bytes_get_data (down, NULL), g_bytes_get_size (down));
  read_exactly (streams[0], got, g_bytes_get_size (down));
  g_assert_cmpmem (got, g_bytes_get_size (down), g_bytes_get_data (down, NULL), g_bytes_get_size (down));

  data_before = raw_data_until (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, ids[0], &header, per_stream);
  g_test_message ("Window update after %" G_GSIZE_FORMAT " KiB of the data queued",
                  data_before / 1024);
  /* Not the FIN, which comes after all the data. */
  g_assert_cmpuint (header.flags, ==, 0);
  g_assert_cmpuint (header.length, >=, INITIAL_WINDOW / 2);
  /* At most what the socket held when it was queued (about 256 KiB),
   * not the 4 MiB queued. */
  g_assert_cmpuint (data_before, <, 2 * STREAM_QUEUE_LIMIT);

  /* The rest of the data, then the FINs. */
  total = data_before + raw_data_until_fins (raw, ids, AHEAD_STREAMS, per_stream);
  g_assert_cmpuint (total, ==, AHEAD_STREAMS * g_bytes_get_size (up));
  for (guint i = 0; i < AHEAD_STREAMS; i++)
    {
      g_assert_true (written[i]);
      g_assert_cmpuint (GPOINTER_TO_SIZE (g_hash_table_lookup (per_stream, GUINT_TO_POINTER (ids[i]))), ==,
                        g_bytes_get_size (up));
      g_object_unref (streams[i]);
    }
  g_assert_false (foctet_connection_is_closed (raw->session));
}

/* One stream cannot fill the session's whole queue: a busy stream has at
 * most STREAM_QUEUE_LIMIT queued, so what another stream writes next
 * waits behind that much of it (and what the socket holds), not behind
 * 4 MiB. */
static void
test_stream_share (Raw           *raw,
                   gconstpointer  data)
{
  g_autoptr(GBytes) bulk_data = random_bytes (4 * STREAM_QUEUE_LIMIT);
  g_autoptr(GBytes) small_data = random_bytes (1000);
  g_autoptr(GHashTable) per_stream = g_hash_table_new (NULL, NULL);
  g_autoptr(FoctetStream) bulk = raw_open_stream (raw, g_bytes_get_size (bulk_data));
  g_autoptr(FoctetStream) small = raw_open_stream (raw, INITIAL_WINDOW);
  g_autoptr(GBytes) payload = NULL;
  guint32 ids[2] = { foctet_stream_get_id (bulk), foctet_stream_get_id (small) };
  gboolean bulk_written = FALSE, small_written = FALSE;
  FoctetYamuxHeader header;
  gsize before, total;

  write_all_start (bulk, bulk_data, &bulk_written);
  wait_write_blocked (bulk, &bulk_written);
  write_all_start (small, small_data, &small_written);
  foctet_test_wait_for (&small_written, TIMEOUT);

  before = raw_data_until (raw, FOCTET_YAMUX_TYPE_DATA, ids[1], &header, per_stream);
  g_test_message ("The small stream's data after %" G_GSIZE_FORMAT " KiB of the busy one's",
                  before / 1024);
  g_assert_cmpuint (header.length, ==, g_bytes_get_size (small_data));
  /* Its share, and about 256 KiB that the socket held; all of the busy
   * stream's 4 MiB before. */
  g_assert_cmpuint (before, <, 2 * STREAM_QUEUE_LIMIT);

  total = before + header.length + raw_data_until_fins (raw, ids, 2, per_stream);
  g_assert_cmpuint (total, ==, g_bytes_get_size (bulk_data) + g_bytes_get_size (small_data));
  g_assert_cmpuint (GPOINTER_TO_SIZE (g_hash_table_lookup (per_stream, GUINT_TO_POINTER (ids[0]))), ==,
                    g_bytes_get_size (bulk_data));
  g_assert_true (bulk_written);
  g_assert_false (foctet_connection_is_closed (raw->session));
}

/* At most 256 streams wait for the peer's acknowledgement; the next open
 * waits until one comes, implicit or not. */
static void
test_unacked_limit (Raw           *raw,
                    gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) late = NULL;
  GAsyncResult *slot = NULL;

  for (guint i = 0; i < 256; i++)
    {
      FoctetStream *stream = foctet_test_open_stream (raw->session, "test/limit", &error, TIMEOUT);

      g_assert_no_error (error);
      g_ptr_array_add (streams, stream);
    }
  foctet_connection_open_stream_async (raw->session, "test/limit", NULL, foctet_test_store_result,
                                       &slot);
  for (guint i = 0; i < 200; i++)
    spin ();
  g_assert_null (slot);

  /* Data without ACK on stream 5 acknowledges it. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 5, 1, "x", 1);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  late = foctet_connection_open_stream_finish (raw->session, result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (late), ==, 513);
}

/* GoAway from the peer: opens waiting for an acknowledgement and later
 * ones fail; the session ends when its streams are done. */
static void
test_go_away_received (Raw           *raw,
                       gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GBytes) got = NULL;
  GAsyncResult *slot = NULL;
  FoctetYamuxHeader header;

  for (guint i = 0; i < 256; i++)
    {
      FoctetStream *s = foctet_test_open_stream (raw->session, "test/away", &error, TIMEOUT);

      g_assert_no_error (error);
      g_ptr_array_add (streams, s);
    }
  foctet_connection_open_stream_async (raw->session, "test/away", NULL, foctet_test_store_result,
                                       &slot);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_GO_AWAY, 0, 0, 0, NULL, 0);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_null (foctet_connection_open_stream_finish (raw->session, result, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  stream = foctet_test_open_stream (raw->session, "test/away", &error, TIMEOUT);
  g_assert_null (stream);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  g_assert_false (raw->ending.closed);

  /* Streams still open keep it up: the peer finishes stream 1 ... */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_ACK | FOCTET_YAMUX_FLAG_FIN, 1, 3,
                  "bye", 3);
  got = foctet_test_stream_read_to_end (g_ptr_array_index (streams, 0), &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "bye", 3);
  foctet_test_stream_close_write (g_ptr_array_index (streams, 0), TIMEOUT);
  /* ... and resets the others. */
  for (guint i = 1; i < 256; i++)
    raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_RST, 2 * i + 1, 0, NULL, 0);
  wait_closed (&raw->ending);
  g_assert_no_error (raw->ending.error);
  /* It closes normally: GoAway(0) first, as a closing side does, though
   * the peer said it first. */
  raw_expect (raw, FOCTET_YAMUX_TYPE_GO_AWAY, &header);
  g_assert_cmpuint (header.length, ==, 0);
  raw_expect_eof (raw);
}

/* Closing sends GoAway with the matching code, then ends the stream. */
static void
test_go_away_sent (Raw           *raw,
                   gconstpointer  data)
{
  FoctetYamuxHeader header;

  foctet_test_close_connection (raw->session, FOCTET_CLOSE_CODE_INTERNAL_ERROR, "test done", TIMEOUT);
  g_assert_true (raw->ending.closed);
  g_assert_no_error (raw->ending.error);
  raw_expect (raw, FOCTET_YAMUX_TYPE_GO_AWAY, &header);
  g_assert_cmpuint (header.length, ==, 2);
  g_assert_cmpuint (header.stream_id, ==, 0);
  raw_expect_eof (raw);
}

static void
test_go_away_normal (Raw           *raw,
                     gconstpointer  data)
{
  FoctetYamuxHeader header;

  foctet_test_close_connection (raw->session, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  raw_expect (raw, FOCTET_YAMUX_TYPE_GO_AWAY, &header);
  g_assert_cmpuint (header.length, ==, 0);
  raw_expect_eof (raw);
}

/* The peer's ping is answered with its opaque value; the session's own
 * pings come every keep-alive interval, and an unanswered one ends it. */
static void
test_ping_raw (Raw           *raw,
               gconstpointer  data)
{
  FoctetYamuxHeader header;
  gint64 start;

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 0xdeadbeef, NULL, 0);
  for (;;)
    {
      raw_expect (raw, FOCTET_YAMUX_TYPE_PING, &header);
      if (header.flags & FOCTET_YAMUX_FLAG_ACK)
        break;
    }
  g_assert_cmpuint (header.length, ==, 0xdeadbeef);
  g_assert_cmpuint (header.stream_id, ==, 0);

  raw->answer_pings = FALSE;
  g_object_set (raw->session, "keepalive-interval", 1, NULL);
  start = g_get_monotonic_time ();
  raw_expect (raw, FOCTET_YAMUX_TYPE_PING, &header);
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_SYN);
  /* Possibly the first ping, sent at start and never answered. */
  wait_closed (&raw->ending);
  g_assert_error (raw->ending.error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

/* Frames for streams closed both ways or reset are ignored. */
static void
test_late_frames (Raw           *raw,
                  gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(FoctetStream) reset = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;
  FoctetYamuxHeader header;

  /* Stream 1: both ways closed. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_SYN | FOCTET_YAMUX_FLAG_FIN, 1, 2,
                  "hi", 2);
  stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  got = foctet_test_stream_read_to_end (stream, &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_test_stream_close (stream, TIMEOUT);
  raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_true (header.flags & FOCTET_YAMUX_FLAG_ACK);
  if (!(header.flags & FOCTET_YAMUX_FLAG_FIN))
    raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  g_assert_true (header.flags & FOCTET_YAMUX_FLAG_FIN);

  /* Stream 3: reset here. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 3, 0, NULL, 0);
  reset = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_stream_reset (reset, FOCTET_CLOSE_CODE_REFUSED);
  for (;;)
    {
      raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
      if (header.flags & FOCTET_YAMUX_FLAG_RST)
        break;
    }
  g_assert_cmpuint (header.stream_id, ==, 3);

  /* Late frames for both, then a ping that must still be answered. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, 0, 1, 4096, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, 3, "abc", 3);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_FIN, 3, 4096, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 3, 5, "stale", 5);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_RST, 3, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 77, NULL, 0);
  for (;;)
    {
      raw_expect (raw, FOCTET_YAMUX_TYPE_PING, &header);
      if (header.flags & FOCTET_YAMUX_FLAG_ACK)
        break;
    }
  g_assert_cmpuint (header.length, ==, 77);
  g_assert_false (raw->ending.closed);
}

/* A sender that keeps to the window, counting the window updates it gets:
 * without auto-tuning 64 MiB take 512 of them (one per 128 KiB). */
typedef struct {
  guint64 read;
  gboolean done;
  guint8 buffer[TRANSFER_CHUNK];
} Sink;

static void
sink_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Sink *sink = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      sink->done = TRUE;
      return;
    }
  sink->read += n;
  g_input_stream_read_async (G_INPUT_STREAM (source), sink->buffer, sizeof sink->buffer,
                             G_PRIORITY_DEFAULT, NULL, sink_read_cb, sink);
}

static void
test_window_growth_raw (Raw           *raw,
                        gconstpointer  data)
{
  const guint64 total = 64 * 1024 * 1024;
  g_autofree guint8 *payload = g_malloc0 (TRANSFER_CHUNK);
  g_autofree Sink *sink = g_new0 (Sink, 1);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  guint64 sent = 0, window = INITIAL_WINDOW;
  guint updates = 0;
  guint receive_window = 0;

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), sink->buffer,
                             sizeof sink->buffer, G_PRIORITY_DEFAULT, NULL, sink_read_cb, sink);

  while (sent < total)
    {
      FoctetYamuxHeader header;

      if (window > 0)
        {
          gsize n = MIN (MIN (window, TRANSFER_CHUNK), total - sent);

          raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, 0, 1, n, payload, n);
          sent += n;
          window -= n;
          continue;
        }
      g_assert_true (raw_read_frame (raw, &header, NULL));
      if (header.type == FOCTET_YAMUX_TYPE_WINDOW_UPDATE && header.stream_id == 1 &&
          header.length > 0)
        {
          window += header.length;
          updates++;
        }
    }
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_FIN, 1, 0, NULL, 0);
  foctet_test_wait_for (&sink->done, TIMEOUT);
  g_assert_cmpuint (sink->read, ==, total);

  g_object_get (stream, "receive-window", &receive_window, NULL);
  g_test_message ("64 MiB took %u window updates; the window grew to %u KiB", updates,
                  receive_window / 1024);
  g_assert_cmpuint (receive_window, >, INITIAL_WINDOW);
  g_assert_cmpuint (updates, <, 128);
}

/* More streams than the backlog, none accepted: the one beyond is
 * refused with RST, the others are not. */
static void
test_backlog_raw (Raw           *raw,
                  gconstpointer  data)
{
  FoctetYamuxHeader header;

  for (guint32 i = 0; i < 257; i++)
    raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 2 * i + 1, 0,
                    NULL, 0);
  raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_RST);
  g_assert_cmpuint (header.stream_id, ==, 513);

  /* Accepting makes room, and acknowledges. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetStream) stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);

    g_assert_no_error (error);
    g_assert_cmpuint (foctet_stream_get_id (stream), ==, 1);
    raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
    g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_ACK);
    g_assert_cmpuint (header.stream_id, ==, 1);
  }
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 515, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 1, NULL, 0);
  for (;;)
    {
      raw_expect (raw, FOCTET_YAMUX_TYPE_PING, &header);
      if (header.flags & FOCTET_YAMUX_FLAG_ACK)
        break;
    }
  /* No RST came before the ping's answer. */
  g_assert_false (raw->ending.closed);
}

/* Waits for the answer to a ping, and checks that no RST came before
 * it (frames come in order). */
static void
raw_expect_no_rst (Raw     *raw,
                   guint32  opaque)
{
  FoctetYamuxHeader header;

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, opaque, NULL, 0);
  for (;;)
    {
      raw_expect (raw, FOCTET_YAMUX_TYPE_PING, &header);
      if ((header.flags & FOCTET_YAMUX_FLAG_ACK) && header.length == opaque)
        break;
    }
  g_assert_false (raw->ending.closed);
}

/* The peer may have max-streams (3 here) open at once, accepted or not:
 * the fourth is refused with RST; once one of the three has ended (the
 * peer reset it), there is room again. */
static void
test_max_streams_raw (Raw           *raw,
                      gconstpointer  data)
{
  g_autoptr(FoctetStream) first = NULL;
  g_autoptr(GError) error = NULL;
  FoctetYamuxHeader header;

  g_object_set (raw->session, "max-streams", 3, NULL);
  for (guint32 id = 1; id <= 5; id += 2)
    raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, id, 0, NULL, 0);
  raw_expect_no_rst (raw, 1);
  first = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_stream_get_id (first), ==, 1);

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 7, 0, NULL, 0);
  do
    raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  while (header.stream_id == 1);      /* the ACK of the accepted one */
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_RST);
  g_assert_cmpuint (header.stream_id, ==, 7);

  /* Stream 1 ends (the peer resets it): room for one more, not two. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_RST, 1, 0, NULL, 0);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 9, 0, NULL, 0);
  raw_expect_no_rst (raw, 2);
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 11, 0, NULL, 0);
  raw_expect (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, &header);
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_RST);
  g_assert_cmpuint (header.stream_id, ==, 11);
}

/* Sends what is left of @out without blocking; TRUE once all went. */
static gboolean
raw_send_some (Raw        *raw,
               GByteArray *out,
               gsize      *sent)
{
  while (*sent < out->len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send_with_blocking (raw->socket, (const char *) out->data + *sent, out->len - *sent,
                                              FALSE, NULL, &error);

      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          return FALSE;
        }
      *sent += n;
    }
  return TRUE;
}

#define UNREAD_STREAMS 100

/* A peer opens 100 streams and sends each its initial window (25 MiB in
 * all) while the application reads none of them.  The streams of a
 * session may hold twice max-session-window unread: at 4 MiB (@data),
 * 8 MiB, so the streams beyond about 32 are reset (RST to the peer, and
 * the application's reads say why) and their bytes dropped; the session
 * reads on, so everything the peer sends is taken and a ping still gets
 * its answer.  At 64 MiB all 25 MiB are kept.  Either way, the streams
 * kept read back whole. */
static void
test_unread_bound (Raw           *raw,
                   gconstpointer  data)
{
  guint64 bound = GPOINTER_TO_UINT (data) * G_GUINT64_CONSTANT (1024) * 1024;
  FoctetStream *streams[UNREAD_STREAMS];
  g_autofree guint8 *payload = g_malloc (FOCTET_YAMUX_INITIAL_WINDOW);
  g_autofree guint8 *buffer = g_malloc (FOCTET_YAMUX_INITIAL_WINDOW);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  FoctetYamuxHeader header;
  gsize sent = 0;
  guint n_kept = 0, n_reset = 0, n_rst_frames = 0;
  gint64 start;

  g_object_set (raw->session, "max-session-window", bound, NULL);
  for (gsize i = 0; i < FOCTET_YAMUX_INITIAL_WINDOW; i++)
    payload[i] = (guint8) (i * 7 + i / 251);
  for (guint i = 0; i < UNREAD_STREAMS; i++)
    {
      g_autoptr(GError) error = NULL;

      raw_send_frame (raw, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_SYN, 2 * i + 1, 0, NULL, 0);
      streams[i] = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < UNREAD_STREAMS; i++)
    {
      FoctetYamuxHeader data_header = { 0, FOCTET_YAMUX_TYPE_DATA, 0, 2 * i + 1, FOCTET_YAMUX_INITIAL_WINDOW };
      guint8 bytes[FOCTET_YAMUX_HEADER_SIZE];

      foctet_yamux_header_encode (&data_header, bytes);
      g_byte_array_append (out, bytes, sizeof bytes);
      g_byte_array_append (out, payload, FOCTET_YAMUX_INITIAL_WINDOW);
    }

  /* Nothing is read, and yet the session takes it all. */
  start = g_get_monotonic_time ();
  while (!raw_send_some (raw, out, &sent))
    {
      g_assert_cmpint (g_get_monotonic_time () - start, <, TIMEOUT * G_USEC_PER_SEC);
      spin ();
    }
  /* A ping after it: its answer comes after the session's RSTs. */
  raw_send_frame (raw, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 7, NULL, 0);
  for (;;)
    {
      g_assert_true (raw_read_frame (raw, &header, NULL));
      if (header.type == FOCTET_YAMUX_TYPE_PING && (header.flags & FOCTET_YAMUX_FLAG_ACK))
        break;
      if (header.type == FOCTET_YAMUX_TYPE_WINDOW_UPDATE && (header.flags & FOCTET_YAMUX_FLAG_RST))
        n_rst_frames++;
    }
  g_assert_cmpuint (header.flags, ==, FOCTET_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.length, ==, 7);

  for (guint i = 0; i < UNREAD_STREAMS; i++)
    {
      GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (streams[i]));
      g_autoptr(GError) error = NULL;
      gsize got = 0;

      while (got < FOCTET_YAMUX_INITIAL_WINDOW)
        {
          gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in), buffer,
                                                               FOCTET_YAMUX_INITIAL_WINDOW - got, NULL, &error);

          if (n <= 0)
            break;
          g_assert_cmpmem (buffer, n, payload + got, n);
          got += n;
        }
      if (got == FOCTET_YAMUX_INITIAL_WINDOW)
        n_kept++;
      else
        {
          g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
          g_assert_nonnull (strstr (error->message, "held more unread bytes than it allows"));
          n_reset++;
        }
      g_object_unref (streams[i]);
    }
  g_test_message ("max-session-window %" G_GUINT64_FORMAT " MiB: %u streams kept, %u reset (%u RST sent)",
                  bound >> 20, n_kept, n_reset, n_rst_frames);
  g_assert_cmpuint (n_kept + n_reset, ==, UNREAD_STREAMS);
  g_assert_cmpuint (n_rst_frames, ==, n_reset);
  if (bound < out->len)
    {
      g_assert_cmpuint (n_kept, >=, 31);
      g_assert_cmpuint (n_kept, <=, 32);
    }
  else
    g_assert_cmpuint (n_kept, ==, UNREAD_STREAMS);
  g_assert_false (raw->ending.closed);
}

/* The peer ends the connection without GoAway: an error, not a hang. */
static void
test_abrupt_end (Raw           *raw,
                 gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[8];

  raw_send_frame (raw, FOCTET_YAMUX_TYPE_DATA, FOCTET_YAMUX_FLAG_SYN, 1, 2, "hi", 2);
  stream = foctet_test_accept_stream (raw->session, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_true (g_socket_shutdown (raw->socket, FALSE, TRUE, NULL));
  wait_closed (&raw->ending);
  g_assert_error (raw->ending.error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  /* What arrived is still read, then the error. */
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 2);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
}

/* Streams done in both directions leave their session's table, but
 * their applications may hold them longer than the session lives: a
 * relay dropped a circuit's connection, then its streams, and each close
 * read the freed session.  Held here past both sessions, with unread
 * bytes, then closed and dropped. */
static void
test_stream_outlives_session (Pair          *pair,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_test_open_stream (pair->client, "test/outlive", &error, TIMEOUT);
  g_autoptr(FoctetStream) accepted = NULL;
  char buffer[16];

  g_assert_no_error (error);
  accepted = accept_with_header (pair->server, "test/outlive");
  foctet_test_stream_write_all (stream, "hello", 5, TIMEOUT);
  foctet_test_stream_close_write (stream, TIMEOUT);
  foctet_test_stream_write_all (accepted, "world", 5, TIMEOUT);
  foctet_test_stream_close_write (accepted, TIMEOUT);
  /* Each side has the other's FIN: both channels are out of the tables,
   * "hello" still unread on the server's. */
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 5);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT), ==, 0);
  g_assert_no_error (error);

  /* The sessions go first, and are finalized. */
  {
    gpointer client = pair->client, server = pair->server;
    gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

    g_object_add_weak_pointer (client, &client);
    g_object_add_weak_pointer (server, &server);
    pair_teardown (pair, data);
    while (client != NULL || server != NULL)
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_main_context_iteration (NULL, TRUE);
      }
  }

  /* What arrived is still there; closing and dropping touch no session. */
  g_assert_cmpint (foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT), ==, 5);
  g_assert_cmpmem (buffer, 5, "hello", 5);
  g_assert_cmpint (foctet_test_stream_read_some (accepted, buffer, sizeof buffer, &error, TIMEOUT), ==, 0);
  g_assert_no_error (error);
  g_assert_true (g_io_stream_close (G_IO_STREAM (stream), NULL, NULL));
  g_clear_object (&stream);
  g_clear_object (&accepted);
}

static const Link link_40ms = { DELAY_MS, 0 };
static const Link link_limited = { LIMITED_DELAY_MS, LIMITED_RATE };

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/yamux/registry", test_registry);
  g_test_add_func ("/yamux/not-pollable", test_not_pollable);

#define PAIR_TEST(path, func) \
  g_test_add ("/yamux/" path, Pair, NULL, pair_setup, func, pair_teardown)
#define LINK_PAIR_TEST(path, link, func) \
  g_test_add ("/yamux/" path, Pair, link, pair_setup, func, pair_teardown)
  PAIR_TEST ("streams/both-directions", test_both_directions);
  PAIR_TEST ("streams/concurrent", test_concurrent_streams);
  PAIR_TEST ("streams/half-close", test_half_close);
  PAIR_TEST ("streams/outlive-session", test_stream_outlives_session);
  PAIR_TEST ("streams/reset", test_reset);
  PAIR_TEST ("streams/backlog", test_backlog);
  PAIR_TEST ("streams/blocking", test_blocking);
  PAIR_TEST ("streams/dropped", test_dropped);
  PAIR_TEST ("streams/connection-closed", test_connection_closed);
  PAIR_TEST ("flow/window-growth", test_window_growth);
  LINK_PAIR_TEST ("flow/window-growth-delayed", &link_40ms, test_window_growth_delayed);
  LINK_PAIR_TEST ("flow/both-ways-limited", &link_limited, test_both_ways_limited);
  PAIR_TEST ("flow/slow-reader", test_slow_reader);
  PAIR_TEST ("flow/write-through", test_write_through);
  PAIR_TEST ("flow/pool-trim", test_pool_trim);
  g_test_add_func ("/yamux/flow/pool-trim-context", test_pool_trim_context);
  PAIR_TEST ("flow/read-ahead", test_read_ahead);
  /* These need a window grown past what the session reads ahead. */
  g_test_add ("/yamux/flow/read-ahead-other-stream", Pair, NULL, pair_setup_slow_start,
              test_read_ahead_other_stream, pair_teardown);
  g_test_add ("/yamux/flow/fill-waiting-reads", Pair, NULL, pair_setup, test_fill_waiting_reads,
              pair_teardown);
  g_test_add ("/yamux/flow/read-through", Pair, NULL, pair_setup_slow_start, test_read_through,
              pair_teardown);
  PAIR_TEST ("ping/rtt", test_ping_rtt);
  PAIR_TEST ("go-away/between-sessions", test_go_away_between_sessions);
#undef LINK_PAIR_TEST
#undef PAIR_TEST

#define RAW_TEST(path, setup, func) \
  g_test_add ("/yamux/raw/" path, Raw, NULL, setup, func, raw_teardown)
  RAW_TEST ("violation/version", raw_setup_server, test_violation_version);
  RAW_TEST ("violation/type", raw_setup_server, test_violation_type);
  RAW_TEST ("violation/beyond-window", raw_setup_server, test_violation_beyond_window);
  RAW_TEST ("violation/oversized", raw_setup_server, test_violation_oversized);
  RAW_TEST ("violation/no-syn", raw_setup_server, test_violation_no_syn);
  RAW_TEST ("violation/no-syn-own-id", raw_setup_server, test_violation_no_syn_own_id);
  RAW_TEST ("violation/no-syn-skipped-id", raw_setup_server, test_violation_no_syn_skipped_id);
  RAW_TEST ("violation/reused-id", raw_setup_server, test_violation_reused_id);
  RAW_TEST ("syn-out-of-order", raw_setup_server, test_syn_out_of_order);
  RAW_TEST ("violation/wrong-parity", raw_setup_server, test_violation_wrong_parity);
  RAW_TEST ("violation/duplicate-syn", raw_setup_server, test_violation_duplicate_syn);
  RAW_TEST ("violation/window-overflow", raw_setup_server, test_violation_window_overflow);
  RAW_TEST ("violation/data-after-fin", raw_setup_server, test_violation_data_after_fin);
  RAW_TEST ("violation/byte-by-byte", raw_setup_server, test_violation_byte_by_byte);
  RAW_TEST ("implicit-ack", raw_setup_client, test_implicit_ack);
  RAW_TEST ("unacked-limit", raw_setup_client, test_unacked_limit);
  RAW_TEST ("control-ahead", raw_setup_client, test_control_ahead);
  RAW_TEST ("stream-share", raw_setup_client, test_stream_share);
  RAW_TEST ("go-away/received", raw_setup_client, test_go_away_received);
  RAW_TEST ("go-away/sent", raw_setup_server, test_go_away_sent);
  RAW_TEST ("go-away/normal", raw_setup_client, test_go_away_normal);
  RAW_TEST ("ping", raw_setup_server, test_ping_raw);
  RAW_TEST ("late-frames", raw_setup_server, test_late_frames);
  RAW_TEST ("backlog", raw_setup_server, test_backlog_raw);
  RAW_TEST ("max-streams", raw_setup_server, test_max_streams_raw);
  RAW_TEST ("window-growth", raw_setup_server, test_window_growth_raw);
  RAW_TEST ("abrupt-end", raw_setup_server, test_abrupt_end);
#undef RAW_TEST
  g_test_add ("/yamux/raw/unread-bound", Raw, GUINT_TO_POINTER (4), raw_setup_server, test_unread_bound,
              raw_teardown);
  g_test_add ("/yamux/raw/unread-unbounded", Raw, GUINT_TO_POINTER (64), raw_setup_server, test_unread_bound,
              raw_teardown);

  return g_test_run ();
}

/* test-node.c: two FoctetNodes in one process, talking through a transport
 * plugin loaded at run time from FOCTET_PLUGIN_PATH: dial, ping, perf,
 * protocol routing, refusals, shutdown.  The transport is
 * $FOCTET_TEST_TRANSPORT: the test-only "tcp-test", or "tls" (with the
 * yamux muxer plugin).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"
#include "test-echo.h"
#include "test-node.h"

#define TIMEOUT 20

/* The transport under test. */
static const char *transport;

static char *
test_uri (const char *address)
{
  return g_strdup_printf ("%s/%s", transport, address);
}

typedef struct {
  FoctetNode *server;
  FoctetNode *client;
  char *server_uri;
  FoctetConnection *connection;          /* client → server */
  FoctetConnection *incoming;            /* as the server sees it */
} Fixture;

static void
incoming_cb (FoctetNode       *node,
             FoctetConnection *connection,
             gpointer          user_data)
{
  Fixture *fixture = user_data;

  /* The first is the fixture's; tests may make more. */
  if (fixture->incoming == NULL)
    fixture->incoming = g_object_ref (connection);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->server = foctet_test_node_new ();
  fixture->client = foctet_test_node_new ();
  g_signal_connect (fixture->server, "incoming-connection", G_CALLBACK (incoming_cb), fixture);

  g_autofree char *uri = test_uri ("127.0.0.1:0");
  g_autofree char *prefix = test_uri ("127.0.0.1:");

  fixture->server_uri = foctet_test_node_listen (fixture->server, uri, TIMEOUT);
  g_assert_true (g_str_has_prefix (fixture->server_uri, prefix));
  g_assert_false (g_str_has_suffix (fixture->server_uri, ":0"));

  fixture->connection = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->server),
                                                   fixture->server_uri, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (fixture->connection),
                                       foctet_node_get_node_id (fixture->server)));
  g_assert_true (foctet_connection_is_initiator (fixture->connection));
  g_assert_cmpstr (foctet_connection_get_transport_name (fixture->connection), ==, transport);

  while (fixture->incoming == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (fixture->incoming),
                                       foctet_node_get_node_id (fixture->client)));
  g_assert_false (foctet_connection_is_initiator (fixture->incoming));
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  foctet_test_node_shutdown (fixture->client, TIMEOUT);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  g_clear_object (&fixture->connection);
  g_clear_object (&fixture->incoming);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  g_clear_pointer (&fixture->server_uri, g_free);
  /* Let closes in flight finish so nothing is left for the leak checker. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static void
ping_over (FoctetConnection *connection,
           guint             count)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (connection);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < count; i++)
    {
      g_autoptr(GAsyncResult) result = NULL;
      GAsyncResult *slot = NULL;
      gint64 rtt;

      foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      rtt = foctet_pinger_ping_finish (pinger, result, &error);
      g_assert_no_error (error);
      g_assert_cmpint (rtt, >=, 0);
      g_assert_cmpint (rtt, <, 5 * G_USEC_PER_SEC);
    }

  {
    g_autoptr(GAsyncResult) result = NULL;
    GAsyncResult *slot = NULL;

    foctet_pinger_close_async (pinger, NULL, foctet_test_store_result, &slot);
    result = foctet_test_wait_result (&slot, TIMEOUT);
    g_assert_true (foctet_pinger_close_finish (pinger, result, &error));
    g_assert_no_error (error);
  }
}

static void
test_ping (Fixture       *fixture,
           gconstpointer  data)
{
  ping_over (fixture->connection, 5);
  /* The listener side can open streams too. */
  ping_over (fixture->incoming, 2);
}

static FoctetPerfResult *
perf_over (FoctetConnection *connection,
           guint64           upload,
           guint64           download,
           GError          **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_perf_run_async (connection, upload, download, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_perf_run_finish (result, error);
}

static void
test_perf (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetPerfResult) one = NULL;
  g_autoptr(FoctetPerfResult) two = NULL;
  g_autoptr(FoctetPerfResult) three = NULL;

  one = perf_over (fixture->connection, 1024 * 1024, 1024 * 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (one->upload_bytes, ==, 1024 * 1024);
  g_assert_cmpuint (one->download_bytes, ==, 1024 * 1024);
  g_assert_cmpfloat (one->upload_seconds, >, 0);
  g_assert_cmpfloat (one->download_seconds, >=, 0);

  two = perf_over (fixture->incoming, 3 * 1000 * 1000 + 7, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (two->upload_bytes, ==, 3 * 1000 * 1000 + 7);
  g_assert_cmpuint (two->download_bytes, ==, 0);

  three = perf_over (fixture->connection, 0, 5 * 1000 * 1000 + 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (three->download_bytes, ==, 5 * 1000 * 1000 + 1);

  /* A direction that moved nothing took no time: opening the stream and
   * the request's round trip are no upload. */
  g_assert_cmpfloat (two->download_seconds, ==, 0);
  g_assert_cmpfloat (three->upload_seconds, ==, 0);
  g_assert_cmpint (three->started_at, <, three->first_byte_at);

  /* The times are those of the stream's own moments. */
  g_assert_cmpint (one->started_at, >, 0);
  g_assert_cmpint (one->started_at, <=, one->first_byte_at);
  g_assert_cmpint (one->first_byte_at, <=, one->ended_at);
  g_assert_cmpint (one->ended_at, <=, g_get_monotonic_time ());
  g_assert_cmpfloat_with_epsilon (one->upload_seconds, (one->first_byte_at - one->started_at) / 1e6, 1e-9);
  g_assert_cmpfloat_with_epsilon (one->download_seconds, (one->ended_at - one->first_byte_at) / 1e6, 1e-9);
  /* Nothing downloaded: both are the end of the stream. */
  g_assert_cmpint (two->first_byte_at, ==, two->ended_at);
}

static void
perf_merge_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  GPtrArray *results = user_data;
  g_autoptr(GError) error = NULL;
  FoctetPerfResult *one = foctet_perf_run_finish (result, &error);

  g_assert_no_error (error);
  g_ptr_array_add (results, one);
}

/* Several runs at once, merged: the bytes add up, the times span them
 * all (not the slowest stream's own). */
static void
test_perf_merge (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_perf_result_free);
  FoctetPerfResult total = { 0 };
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  gint64 upload_end = 0;
  /* Staggered by hand: one stream's download ends as the next one's
   * begins.  Each took a second to download; together they took two. */
  FoctetPerfResult a = { 100, 1000, 1.0, 1.0, 1000000, 2000000, 3000000 };
  FoctetPerfResult b = { 200, 2000, 2.0, 1.0, 1000000, 3000000, 4000000 };

  foctet_perf_result_merge (&total, &a);
  foctet_perf_result_merge (&total, &b);
  g_assert_cmpuint (total.upload_bytes, ==, 300);
  g_assert_cmpuint (total.download_bytes, ==, 3000);
  g_assert_cmpint (total.started_at, ==, 1000000);
  g_assert_cmpint (total.first_byte_at, ==, 2000000);
  g_assert_cmpint (total.ended_at, ==, 4000000);
  g_assert_cmpfloat_with_epsilon (total.upload_seconds, 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (total.download_seconds, 2.0, 1e-9);

  /* Nothing to add: nothing changes.  An upload alone (downloading
   * nothing, at 5 s) does not stretch the download phase. */
  {
    FoctetPerfResult none = { 0 };
    FoctetPerfResult upload_only = { 400, 0, 4.0, 0.0, 1000000, 5000000, 5000000 };

    foctet_perf_result_merge (&total, &none);
    g_assert_cmpuint (total.download_bytes, ==, 3000);
    g_assert_cmpint (total.started_at, ==, 1000000);
    foctet_perf_result_merge (&total, &upload_only);
    g_assert_cmpuint (total.upload_bytes, ==, 700);
    g_assert_cmpuint (total.download_bytes, ==, 3000);
    g_assert_cmpfloat_with_epsilon (total.upload_seconds, 4.0, 1e-9);
    g_assert_cmpfloat_with_epsilon (total.download_seconds, 2.0, 1e-9);
  }

  /* Downloads alone: no upload phase, however late the last one's first
   * byte; and one that starts before an upload does not stretch it. */
  {
    FoctetPerfResult downloads = { 0 };
    FoctetPerfResult c = { 0, 1000, 0.0, 1.0, 1000000, 2000000, 3000000 };
    FoctetPerfResult d = { 0, 1000, 0.0, 1.0, 1500000, 4000000, 5000000 };
    FoctetPerfResult e = { 100, 0, 1.0, 0.0, 500000, 1500000, 1500000 };

    foctet_perf_result_merge (&downloads, &c);
    foctet_perf_result_merge (&downloads, &d);
    g_assert_cmpuint (downloads.upload_bytes, ==, 0);
    g_assert_cmpfloat (downloads.upload_seconds, ==, 0);
    g_assert_cmpfloat_with_epsilon (downloads.download_seconds, 3.0, 1e-9);
    foctet_perf_result_merge (&downloads, &e);
    g_assert_cmpint (downloads.started_at, ==, 500000);
    g_assert_cmpfloat_with_epsilon (downloads.upload_seconds, 1.0, 1e-9);
    memset (&downloads, 0, sizeof downloads);
    foctet_perf_result_merge (&downloads, &e);
    foctet_perf_result_merge (&downloads, &d);
    g_assert_cmpfloat_with_epsilon (downloads.upload_seconds, 1.0, 1e-9);
  }

  /* Four real ones at once. */
  memset (&total, 0, sizeof total);
  for (guint i = 0; i < 4; i++)
    foctet_perf_run_async (fixture->connection, 256 * 1024, (i + 1) * 512 * 1024, NULL, perf_merge_cb, results);
  while (results->len < 4)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      /* Not blocking: a stalled stream fails the deadline, not the
       * test runner's timeout. */
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  for (guint i = 0; i < results->len; i++)
    {
      FoctetPerfResult *one = results->pdata[i];

      foctet_perf_result_merge (&total, one);
      upload_end = MAX (upload_end, one->first_byte_at);
      g_assert_cmpfloat (total.download_seconds, >=, one->download_seconds);
    }
  g_assert_cmpuint (total.upload_bytes, ==, 4 * 256 * 1024);
  g_assert_cmpuint (total.download_bytes, ==, 10 * 512 * 1024);
  for (guint i = 0; i < results->len; i++)
    {
      FoctetPerfResult *one = results->pdata[i];

      g_assert_cmpint (total.started_at, <=, one->started_at);
      g_assert_cmpint (total.first_byte_at, <=, one->first_byte_at);
      g_assert_cmpint (total.ended_at, >=, one->ended_at);
    }
  g_assert_cmpfloat_with_epsilon (total.upload_seconds, (upload_end - total.started_at) / 1e6, 1e-6);
  g_assert_cmpfloat_with_epsilon (total.download_seconds, (total.ended_at - total.first_byte_at) / 1e6, 1e-6);
}

static void
test_perf_refused (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetPerfResult) result = NULL;

  /* More than the acceptor's limit: refused, never started. */
  result = perf_over (fixture->connection, 0, FOCTET_PERF_MAX_DOWNLOAD + 1, &error);
  g_assert_null (result);
  g_assert_nonnull (error);
}

/* A peer that does not serve ping or perf resets their streams: the
 * error says which protocol it refused, each time (a second ping opens a
 * new stream). */
static void
test_unserved (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (fixture->connection);
  g_autoptr(FoctetPerfResult) result = NULL;
  g_autoptr(GError) error = NULL;

  foctet_node_set_protocol_handler (fixture->server, FOCTET_PROTOCOL_PING, NULL, NULL, NULL);
  foctet_node_set_protocol_handler (fixture->server, FOCTET_PROTOCOL_PERF, NULL, NULL, NULL);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GAsyncResult) ping = NULL;
      GAsyncResult *slot = NULL;

      foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
      ping = foctet_test_wait_result (&slot, TIMEOUT);
      g_assert_cmpint (foctet_pinger_ping_finish (pinger, ping, &error), ==, -1);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
      g_assert_true (g_str_has_prefix (error->message, "The peer does not serve foctet/ping/1, or reset the "
                                                       "stream before answering: "));
      g_clear_error (&error);
    }

  result = perf_over (fixture->connection, 0, 4096, &error);
  g_assert_null (result);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_assert_true (g_str_has_prefix (error->message, "The peer does not serve foctet/perf/1, or reset the "
                                                   "stream before answering: "));
}

typedef struct {
  FoctetStream *stream;
  char buf[64];
  gsize len;
} UpperData;

static void
upper_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  UpperData *data = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error));
  g_assert_no_error (error);
  g_io_stream_close_async (G_IO_STREAM (data->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (data->stream);
  g_free (data);
}

static void
upper_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  UpperData *data = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  g_assert_no_error (error);
  if (n > 0)
    {
      data->len += n;
      g_assert_cmpuint (data->len, <, sizeof data->buf);
      g_input_stream_read_async (G_INPUT_STREAM (source), data->buf + data->len,
                                 sizeof data->buf - data->len, G_PRIORITY_DEFAULT, NULL,
                                 upper_read_cb, data);
      return;
    }
  /* End of stream: answer. */
  for (gsize i = 0; i < data->len; i++)
    data->buf[i] = g_ascii_toupper (data->buf[i]);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (data->stream)),
                                   data->buf, data->len, G_PRIORITY_DEFAULT, NULL,
                                   upper_written_cb, data);
}

static void
upper_handler (FoctetNode       *node,
               FoctetConnection *connection,
               FoctetStream     *stream,
               gpointer          user_data)
{
  guint *calls = user_data;
  UpperData *data = g_new0 (UpperData, 1);

  (*calls)++;
  g_assert_cmpstr (foctet_stream_get_protocol (stream), ==, "test/upper/1");
  g_assert_false (foctet_node_id_equal (foctet_connection_get_peer_id (connection),
                                        foctet_node_get_node_id (node)));
  data->stream = g_object_ref (stream);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), data->buf,
                             sizeof data->buf, G_PRIORITY_DEFAULT, NULL, upper_read_cb, data);
}

static void
test_custom_protocol (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) protocols = NULL;
  GString *reply = g_string_new (NULL);
  guint calls = 0;
  char buf[64];
  gssize n;

  foctet_node_set_protocol_handler (fixture->server, "test/upper/1", upper_handler, &calls, NULL);
  protocols = foctet_node_list_protocols (fixture->server);
  g_assert_true (g_strv_contains ((const char * const *) protocols, "test/upper/1"));
  g_assert_true (g_strv_contains ((const char * const *) protocols, FOCTET_PROTOCOL_PING));
  g_assert_true (g_strv_contains ((const char * const *) protocols, FOCTET_PROTOCOL_PERF));

  stream = foctet_test_open_stream (fixture->connection, "test/upper/1", &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpstr (foctet_stream_get_protocol (stream), ==, "test/upper/1");
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                            "hello, node", 11, NULL, NULL, &error));
  g_assert_no_error (error);
  foctet_test_stream_close_write (stream, TIMEOUT);

  while ((n = foctet_test_stream_read_some (stream, buf, sizeof buf, &error, TIMEOUT)) > 0)
    g_string_append_len (reply, buf, n);
  g_assert_no_error (error);
  g_assert_cmpstr (reply->str, ==, "HELLO, NODE");
  g_assert_cmpuint (calls, ==, 1);
  g_string_free (reply, TRUE);

  /* Removing the handler makes the protocol unknown again. */
  foctet_node_set_protocol_handler (fixture->server, "test/upper/1", NULL, NULL, NULL);
  g_clear_pointer (&protocols, g_strfreev);
  protocols = foctet_node_list_protocols (fixture->server);
  g_assert_false (g_strv_contains ((const char * const *) protocols, "test/upper/1"));
}

/* Runs the main context until @list_streams of @connection has @n, or
 * fails after TIMEOUT. */
static GPtrArray *
wait_streams (FoctetConnection *connection,
              guint             n)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  for (;;)
    {
      GPtrArray *streams = foctet_connection_list_streams (connection);

      if (streams->len == n)
        return streams;
      g_ptr_array_unref (streams);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

/* The node lists its connections, and a connection the streams on it
 * that are in use: on both sides, a stream while the echo handler and the
 * opener hold it, and neither once both let go; no connection once it
 * closed. */
static void
test_list_connections_and_streams (Fixture       *fixture,
                                   gconstpointer  data)
{
  g_autoptr(GPtrArray) client_connections = foctet_node_list_connections (fixture->client);
  g_autoptr(GPtrArray) server_connections = foctet_node_list_connections (fixture->server);
  g_autoptr(GPtrArray) streams = NULL;
  g_autoptr(GError) error = NULL;
  FoctetStream *stream;
  guint calls = 0;

  foctet_node_set_protocol_handler (fixture->server, "test/upper/1", upper_handler, &calls, NULL);
  g_assert_cmpuint (client_connections->len, ==, 1);
  g_assert_true (g_ptr_array_index (client_connections, 0) == fixture->connection);
  g_assert_cmpuint (server_connections->len, ==, 1);
  g_assert_true (g_ptr_array_index (server_connections, 0) == fixture->incoming);

  streams = wait_streams (fixture->connection, 0);
  g_clear_pointer (&streams, g_ptr_array_unref);
  stream = foctet_test_open_stream (fixture->connection, "test/upper/1", &error, TIMEOUT);
  g_assert_no_error (error);
  streams = wait_streams (fixture->connection, 1);
  g_assert_true (g_ptr_array_index (streams, 0) == stream);
  g_clear_pointer (&streams, g_ptr_array_unref);
  /* The server's side, once its handler has it (it is listed from the
   * moment it was accepted, before its header was read). */
  while (calls == 0)
    g_main_context_iteration (NULL, TRUE);
  streams = wait_streams (fixture->incoming, 1);
  g_assert_cmpstr (foctet_stream_get_protocol (g_ptr_array_index (streams, 0)), ==, "test/upper/1");
  g_clear_pointer (&streams, g_ptr_array_unref);

  /* The opener ends it and lets go; so does the handler. */
  foctet_test_stream_close (stream, TIMEOUT);
  g_object_unref (stream);
  streams = wait_streams (fixture->connection, 0);
  g_clear_pointer (&streams, g_ptr_array_unref);
  streams = wait_streams (fixture->incoming, 0);
  g_clear_pointer (&streams, g_ptr_array_unref);

  foctet_test_close_connection (fixture->connection, FOCTET_CLOSE_CODE_NO_ERROR, "test done", TIMEOUT);
  g_clear_pointer (&client_connections, g_ptr_array_unref);
  client_connections = foctet_node_list_connections (fixture->client);
  g_assert_cmpuint (client_connections->len, ==, 0);
}

static void
test_unknown_protocol (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  char buf[16];
  gssize n;

  stream = foctet_test_open_stream (fixture->connection, "test/nobody-serves-this/1", &error, TIMEOUT);
  g_assert_no_error (error);
  /* The acceptor refuses the stream: the opener sees it end or fail,
   * never data. */
  n = foctet_test_stream_read_some (stream, buf, sizeof buf, &error, TIMEOUT);
  g_assert_cmpint (n, <=, 0);

  /* The connection itself is unharmed. */
  ping_over (fixture->connection, 1);
}

static void
test_bad_arguments (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  g_autofree char *bad_port = NULL;

  connection = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->server),
                                          "no-slash-here", &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  bad_port = test_uri ("127.0.0.1:99999");
  connection = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->server),
                                          bad_port, &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  connection = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->server),
                                          "carrier-pigeon/127.0.0.1:1", &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
  g_clear_error (&error);

  stream = foctet_test_open_stream (fixture->connection, "", &error, TIMEOUT);
  g_assert_null (stream);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
}

static void
test_wrong_node_id (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;

  /* The client's own NodeId is certainly not the server's. */
  connection = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->client),
                                          fixture->server_uri, &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
}

static void
test_ticket_dial (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(FoctetTicket) ticket = foctet_node_get_ticket (fixture->server);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GAsyncResult *slot = NULL;

  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (ticket),
                                       foctet_node_get_node_id (fixture->server)));
  if (g_str_equal (transport, "tls") || g_str_equal (transport, "quic"))
    {
      /* A real transport's addresses are in the ticket, which is all a
       * peer needs. */
      g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, g_str_equal (transport, "tls")
                                                                     ? FOCTET_ADDRESS_KIND_TLS
                                                                     : FOCTET_ADDRESS_KIND_QUIC);
      g_autofree char *text = foctet_ticket_to_string (ticket);
      g_autoptr(FoctetTicket) parsed = foctet_ticket_parse (text, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (g_strv_length (addresses), ==, 1);
      g_assert_true (g_str_has_suffix (fixture->server_uri, addresses[0]));
      foctet_node_dial_async (fixture->client, parsed, NULL, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      connection = foctet_node_dial_finish (fixture->client, result, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, transport);
      return;
    }

  /* The test transport's addresses have no ticket entry type, and no
   * real transport is loaded, so dialing the ticket finds nothing to
   * dial. */
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, "127.0.0.1:9", &error));
  g_assert_no_error (error);
  foctet_node_dial_async (fixture->client, ticket, NULL, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
}

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  *(gboolean *) user_data = TRUE;
}

static void
test_shutdown (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) again = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  gboolean closed = FALSE;
  char buf[16];

  /* A stream in use when the peer shuts down. */
  foctet_node_set_protocol_handler (fixture->server, FOCTET_TEST_ECHO_PROTOCOL, foctet_test_echo_handler, NULL, NULL);
  stream = foctet_test_open_stream (fixture->connection, FOCTET_TEST_ECHO_PROTOCOL, &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_test_stream_write_all (stream, "hi", 2, TIMEOUT);
  g_assert_cmpint (foctet_test_stream_read_some (stream, buf, sizeof buf, &error, TIMEOUT), ==, 2);

  g_signal_connect (fixture->connection, "closed", G_CALLBACK (closed_cb), &closed);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  foctet_test_wait_for (&closed, TIMEOUT);
  g_assert_true (foctet_connection_is_closed (fixture->connection));

  /* The stream says the peer ended it, not just that it is closed. */
  g_assert_cmpint (foctet_test_stream_read_some (stream, buf, sizeof buf, &error, TIMEOUT), <=, 0);
  if (error != NULL)
    g_test_message ("the stream: %s", error->message);
  if (g_str_equal (transport, "quic"))
    g_assert_true (g_str_has_prefix (error->message, "The peer closed the QUIC connection (going away)"));
  else if (g_str_equal (transport, "tls"))
    g_assert_true (g_str_has_prefix (error->message, "The peer closed the yamux session"));
  g_clear_error (&error);

  /* Nothing listens any more. */
  again = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (fixture->server),
                                     fixture->server_uri, &error, TIMEOUT);
  g_assert_null (again);
  g_assert_nonnull (error);
}

/* Runs the context for about @us microseconds. */
static void
run_for (gint64 us)
{
  gint64 end = g_get_monotonic_time () + us;

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
}

/* Waits until @node has @n connections. */
static void
wait_connections (FoctetNode *node,
                  guint       n)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(GPtrArray) connections = foctet_node_list_connections (node);

      if (connections->len == n)
        return;
      if (g_get_monotonic_time () > deadline)
        g_error ("%u connections after %d s, not %u", connections->len, TIMEOUT, n);
      run_for (1000);
    }
}

/* Runs the context until @slot holds a result or @us microseconds have
 * passed. */
static void
run_until_result (GAsyncResult **slot,
                  gint64         us)
{
  gint64 end = g_get_monotonic_time () + us;

  while (*slot == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
}

/* Dials and stream opens cancelled at any moment leave nothing open, also
 * when the cancel comes after the result arrived and before the caller
 * took it (GTask then drops the result): a connection or a stream that
 * came about for a caller who had cancelled is closed, on both sides. */
static void
test_cancelled_leave_nothing (Fixture       *fixture,
                              gconstpointer  data)
{
  const guint n = 40;
  guint connected = 0, opened = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(FoctetConnection) connection = NULL;
      g_autoptr(GError) error = NULL;
      GAsyncResult *slot = NULL;

      foctet_node_dial_uri_async (fixture->client, foctet_node_get_node_id (fixture->server), fixture->server_uri,
                                  cancellable, foctet_test_store_result, &slot);
      run_until_result (&slot, i * 100);      /* 0 to 4 ms into the dial */
      g_cancellable_cancel (cancellable);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      connection = foctet_node_dial_uri_finish (fixture->client, result, &error);
      if (connection != NULL)
        connected++;
      else
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  g_test_message ("%u of %u cancelled dials returned a connection all the same", connected, n);
  wait_connections (fixture->client, 1);
  wait_connections (fixture->server, 1);

  foctet_node_set_protocol_handler (fixture->server, FOCTET_TEST_ECHO_PROTOCOL, foctet_test_echo_handler, NULL, NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(FoctetStream) stream = NULL;
      g_autoptr(GError) error = NULL;
      GAsyncResult *slot = NULL;

      foctet_connection_open_stream_async (fixture->connection, FOCTET_TEST_ECHO_PROTOCOL, cancellable,
                                           foctet_test_store_result, &slot);
      run_until_result (&slot, i * 25);       /* 0 to 1 ms into the open */
      g_cancellable_cancel (cancellable);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      stream = foctet_connection_open_stream_finish (fixture->connection, result, &error);
      if (stream != NULL)
        {
          opened++;
          foctet_stream_reset (stream, FOCTET_CLOSE_CODE_NO_ERROR);
        }
      else
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  g_test_message ("%u of %u cancelled opens returned a stream all the same", opened, n);
  g_ptr_array_unref (wait_streams (fixture->connection, 0));
  g_ptr_array_unref (wait_streams (fixture->incoming, 0));
}

/* A ping cancelled at any point leaves the pinger usable: the next ping
 * gets its own echo, not the late one of the cancelled ping. */
static void
test_ping_cancelled (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (fixture->connection);
  guint cancelled = 0;

  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GAsyncResult) again = NULL;
      g_autoptr(GError) error = NULL;
      GAsyncResult *slot = NULL;

      foctet_pinger_ping_async (pinger, cancellable, foctet_test_store_result, &slot);
      run_until_result (&slot, i * 20);
      g_cancellable_cancel (cancellable);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      if (foctet_pinger_ping_finish (pinger, result, &error) < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          cancelled++;
        }
      g_clear_error (&error);

      foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
      again = foctet_test_wait_result (&slot, TIMEOUT);
      g_assert_cmpint (foctet_pinger_ping_finish (pinger, again, &error), >=, 0);
      g_assert_no_error (error);
    }
  g_test_message ("%u of 20 pings cancelled", cancelled);
  g_assert_cmpuint (cancelled, >, 0);
}

/* A finished perf run lets go of its stream at once, not when the caller
 * drops the result (the shell's streams listed it until the next perf). */
static void
test_perf_stream_released (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_perf_run_async (fixture->connection, 1000, 2000, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  /* The result is still held here. */
  g_ptr_array_unref (wait_streams (fixture->connection, 0));
}

/* What a handler that removes itself sees. */
typedef struct {
  FoctetStream *stream;
  gboolean running;
  guint calls;
  guint destroyed;
  gboolean gone;                        /* destroyed at least once */
  gboolean destroyed_while_running;
} OnceData;

static void
once_destroy (gpointer user_data)
{
  OnceData *once = user_data;

  once->destroyed++;
  once->gone = TRUE;
  once->destroyed_while_running |= once->running;
}

static void
once_handler (FoctetNode       *node,
              FoctetConnection *connection,
              FoctetStream     *stream,
              gpointer          user_data)
{
  OnceData *once = user_data;

  once->running = TRUE;
  once->calls++;
  foctet_node_set_protocol_handler (node, "test/once/1", NULL, NULL, NULL);
  /* Its data is still there: destroy comes after the handler returns. */
  g_assert_cmpuint (once->destroyed, ==, 0);
  g_set_object (&once->stream, stream);
  once->running = FALSE;
}

/* A handler may remove itself while it runs (a one-shot handler): its
 * destroy notify comes once it has returned, and the next stream for the
 * protocol is refused.  Invalid names are a programmer's error, but the
 * destroy notify still frees what was handed over.  Shutting down drops
 * every handler. */
static void
test_handler_lifetime (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(FoctetStream) first = NULL;
  g_autoptr(FoctetStream) second = NULL;
  g_autoptr(GError) error = NULL;
  OnceData once = { 0 };
  OnceData invalid = { 0 };
  OnceData kept = { 0 };
  char byte;

  foctet_node_set_protocol_handler (fixture->server, "test/once/1", once_handler, &once, once_destroy);
  first = foctet_test_open_stream (fixture->connection, "test/once/1", &error, TIMEOUT);
  g_assert_no_error (error);
  foctet_test_wait_for (&once.gone, TIMEOUT);
  g_assert_cmpuint (once.calls, ==, 1);
  g_assert_false (once.destroyed_while_running);
  g_assert_nonnull (once.stream);

  second = foctet_test_open_stream (fixture->connection, "test/once/1", &error, TIMEOUT);
  g_assert_no_error (error);
  /* Refused: reset (tcp-test closes its connection instead). */
  g_assert_cmpint (foctet_test_stream_read_some (second, &byte, 1, &error, TIMEOUT), <, 0);
  g_assert_nonnull (error);
  g_assert_cmpuint (once.calls, ==, 1);
  g_assert_cmpuint (once.destroyed, ==, 1);
  g_clear_object (&once.stream);

  g_test_expect_message ("Foctet", G_LOG_LEVEL_CRITICAL, "*foctet_protocol_name_validate*");
  foctet_node_set_protocol_handler (fixture->server, "", once_handler, &invalid, once_destroy);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (invalid.destroyed, ==, 1);

  foctet_node_set_protocol_handler (fixture->server, "test/kept/1", once_handler, &kept, once_destroy);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  g_assert_cmpuint (kept.destroyed, ==, 1);
  g_assert_cmpuint (kept.calls, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  transport = g_getenv ("FOCTET_TEST_TRANSPORT");
  if (transport == NULL)
    transport = "tcp-test";

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/node/ping", test_ping);
  ADD ("/node/perf", test_perf);
  ADD ("/node/perf-merge", test_perf_merge);
  ADD ("/node/perf-refused", test_perf_refused);
  ADD ("/node/custom-protocol", test_custom_protocol);
  ADD ("/node/unknown-protocol", test_unknown_protocol);
  /* The test transport's streams are TCP connections: a refused one
   * ends in "Connection reset by peer", not FOCTET_ERROR_STREAM_RESET. */
  if (g_strcmp0 (transport, "tcp-test") != 0)
    ADD ("/node/unserved", test_unserved);
  ADD ("/node/list-connections-and-streams", test_list_connections_and_streams);
  ADD ("/node/bad-arguments", test_bad_arguments);
  ADD ("/node/wrong-node-id", test_wrong_node_id);
  ADD ("/node/ticket-dial", test_ticket_dial);
  ADD ("/node/shutdown", test_shutdown);
  ADD ("/node/handler-lifetime", test_handler_lifetime);
  ADD ("/node/cancelled-leave-nothing", test_cancelled_leave_nothing);
  ADD ("/node/ping-cancelled", test_ping_cancelled);
  ADD ("/node/perf-stream-released", test_perf_stream_released);
#undef ADD

  return g_test_run ();
}

/* test-tls-transport.c: a real transport plugin — "tls" (with yamux
 * inside) or "quic", named by FOCTET_TEST_TRANSPORT — loaded through the
 * real registry from the build tree: many streams, half-close, reset, a
 * large transfer, IPv6 and wildcard addresses, closed ports, and what a
 * listener must survive (wrong NodeIds, garbage, silent and stalled
 * clients, too many handshakes, yamux violations after a good handshake,
 * floods of QUIC Initials, QUIC versions other than 1, idle and vanished
 * peers, ICMP errors).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include <foctet.h>

#include "test-echo.h"
#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 30
#define RESET_PROTOCOL "test/reset/1"

/* "tls" or "quic". */
static const char *transport_name;

typedef struct {
  FoctetNode *server;
  FoctetNode *client;
  FoctetTransport *server_tls;
  char *server_uri;
  char *server_address;           /* host:port */
  GPtrArray *failures;            /* GError of incoming-failed */
  GPtrArray *failed_from;         /* the remote address of each */
} Fixture;

static void
incoming_failed_cb (FoctetTransport *transport,
                    const char      *remote,
                    const GError    *error,
                    gpointer         user_data)
{
  Fixture *fixture = user_data;

  g_test_message ("incoming from %s failed: %s", remote, error->message);
  g_ptr_array_add (fixture->failures, g_error_copy (error));
  g_ptr_array_add (fixture->failed_from, g_strdup (remote));
}

/* Waits for the listener to report @n failed incoming connections. */
static const GError *
wait_failure (Fixture *fixture,
              guint    n)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (fixture->failures->len < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  return fixture->failures->pdata[n - 1];
}

static void
reset_handler (FoctetNode       *node,
               FoctetConnection *connection,
               FoctetStream     *stream,
               gpointer          user_data)
{
  foctet_stream_reset (stream, 3);
}

static FoctetConnection *
dial (Fixture            *fixture,
      const FoctetNodeId *peer,
      const char         *uri,
      GError            **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_dial_uri_async (fixture->client, peer, uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_node_dial_uri_finish (fixture->client, result, error);
}

static FoctetConnection *
dial_server (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  FoctetConnection *connection = dial (fixture, foctet_node_get_node_id (fixture->server),
                                       fixture->server_uri, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_transport_name (connection), ==, transport_name);
  return connection;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *default_listen = g_strdup_printf ("%s/127.0.0.1:0", transport_name);
  g_autofree char *ipv6_listen = g_strdup_printf ("%s/[::1]:0", transport_name);
  g_autofree char *any_listen = g_strdup_printf ("%s/0.0.0.0:0", transport_name);
  const char *listen = g_strcmp0 (data, "ipv6") == 0 ? ipv6_listen
                     : g_strcmp0 (data, "any") == 0 ? any_listen : default_listen;

  fixture->failures = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  fixture->failed_from = g_ptr_array_new_with_free_func (g_free);
  fixture->server = foctet_test_node_new ();
  fixture->client = foctet_test_node_new ();
  fixture->server_tls = foctet_node_get_transport (fixture->server, transport_name, &error);
  g_assert_no_error (error);
  g_object_ref (fixture->server_tls);
  g_object_set (fixture->server_tls, "handshake-timeout", 500, "max-handshakes", 4, NULL);
  g_signal_connect (fixture->server_tls, "incoming-failed", G_CALLBACK (incoming_failed_cb), fixture);
  foctet_node_set_protocol_handler (fixture->server, FOCTET_TEST_ECHO_PROTOCOL, foctet_test_echo_handler, NULL, NULL);
  foctet_node_set_protocol_handler (fixture->server, RESET_PROTOCOL, reset_handler, NULL, NULL);

  fixture->server_uri = foctet_test_node_listen (fixture->server, listen, TIMEOUT);
  g_assert_true (g_str_has_prefix (fixture->server_uri, transport_name));
  fixture->server_address = g_strdup (fixture->server_uri + strlen (transport_name) + 1);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_signal_handlers_disconnect_by_func (fixture->server_tls, incoming_failed_cb, fixture);
  foctet_test_node_shutdown (fixture->client, TIMEOUT);
  foctet_test_node_shutdown (fixture->server, TIMEOUT);
  g_clear_object (&fixture->server_tls);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  g_clear_pointer (&fixture->server_uri, g_free);
  g_clear_pointer (&fixture->server_address, g_free);
  g_clear_pointer (&fixture->failures, g_ptr_array_unref);
  g_clear_pointer (&fixture->failed_from, g_ptr_array_unref);
  for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

#define N_STREAMS 1000
#define STREAM_BYTES 4099

static void
test_many_streams (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  FoctetTestEcho *echoes[N_STREAMS];
  guint n_done = 0;
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  for (guint i = 0; i < N_STREAMS; i++)
    echoes[i] = foctet_test_echo_start (connection, STREAM_BYTES, i, &n_done);
  while (n_done < N_STREAMS)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  for (guint i = 0; i < N_STREAMS; i++)
    foctet_test_echo_check (echoes[i]);
}

static void
test_reset (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  guint8 buffer[16];
  gssize n;

  foctet_connection_open_stream_async (connection, RESET_PROTOCOL, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  stream = foctet_connection_open_stream_finish (connection, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), buffer, sizeof buffer,
                             G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (stream)), result, &error);
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);

  /* The connection lives on. */
  g_assert_false (foctet_connection_is_closed (connection));
}

/* After the peer reset a stream (both directions, as foctet_stream_reset
 * does), writes fail with STREAM_RESET within a bounded amount, rather
 * than fill buffers and then block for ever; and a read pending when this
 * side resets a stream fails with STREAM_RESET too. */
static void
test_reset_writes (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(FoctetStream) echo = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *chunk = g_malloc0 (64 * 1024);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  guint64 written = 0;
  guint8 buffer[16];

  stream = foctet_test_open_stream (connection, RESET_PROTOCOL, &error, TIMEOUT);
  g_assert_no_error (error);
  for (;;)
    {
      g_autoptr(GAsyncResult) result = NULL;
      GAsyncResult *slot = NULL;
      gsize n = 0;

      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), chunk, 64 * 1024,
                                       G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      if (!g_output_stream_write_all_finish (g_io_stream_get_output_stream (G_IO_STREAM (stream)), result, &n,
                                             &error))
        break;
      written += n;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_cmpuint (written, <, 64 << 20);
    }
  g_test_message ("%" G_GUINT64_FORMAT " bytes written before: %s", written, error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  g_clear_error (&error);

  echo = foctet_test_open_stream (connection, FOCTET_TEST_ECHO_PROTOCOL, &error, TIMEOUT);
  g_assert_no_error (error);
  {
    g_autoptr(GAsyncResult) result = NULL;
    GAsyncResult *slot = NULL;

    g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (echo)), buffer, sizeof buffer,
                               G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
    foctet_stream_reset (echo, FOCTET_CLOSE_CODE_NO_ERROR);
    result = foctet_test_wait_result (&slot, TIMEOUT);
    g_assert_cmpint (g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (echo)), result,
                                                 &error), ==, -1);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
  }
  g_assert_false (foctet_connection_is_closed (connection));
  g_clear_error (&error);

  /* The streams outlive their connection: using them then fails, and
   * touches nothing of it (AddressSanitizer would see it). */
  foctet_test_close_connection (connection, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  g_clear_object (&connection);
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_assert_false (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)), chunk, 16,
                                             NULL, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  (void) g_pollable_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (
           g_io_stream_get_output_stream (G_IO_STREAM (stream))));
  g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
  g_io_stream_close (G_IO_STREAM (echo), NULL, NULL);
}

/* A hostname with several addresses: each is tried until one answers.
 * "localhost" resolves to ::1 first here, where nothing listens (the
 * listener is on 127.0.0.1 only). */
static void
test_hostname_addresses (Fixture       *fixture,
                         gconstpointer  data)
{
  const char *port = strrchr (fixture->server_address, ':') + 1;
  g_autofree char *uri = g_strdup_printf ("%s/localhost:%s", transport_name, port);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = dial (fixture, foctet_node_get_node_id (fixture->server), uri, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (foctet_connection_get_remote_address (connection), ==, fixture->server_address);
}

/* 64 MiB each way on one stream: only finishes in time if the receive
 * window grows past its first 256 KiB. */
static void
test_large_transfer (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;

  foctet_perf_run_async (connection, 64 << 20, 64 << 20, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (perf->upload_bytes, ==, 64 << 20);
  g_assert_cmpuint (perf->download_bytes, ==, 64 << 20);
  g_test_message ("64 MiB: upload %.2f Gbit/s, download %.2f Gbit/s (one process, both ends)",
                  perf->upload_bytes * 8 / perf->upload_seconds / 1e9,
                  perf->download_bytes * 8 / perf->download_seconds / 1e9);
}

/* ------------------------------------------------------------------ */
/* What the listener must survive                                      */

static void
test_wrong_node_id (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) wrong = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  const GError *failure;

  wrong = dial (fixture, foctet_node_get_node_id (fixture->client), fixture->server_uri, &error);
  g_assert_null (wrong);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);

  failure = wait_failure (fixture, 1);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (failure->message, "bad_certificate"));

  right = dial_server (fixture);
}

/* The "alpn" property: a listener speaking the relay protocol refuses a
 * node's dial, and serves a dialer that speaks it too. */
static void
test_alpn (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) wrong = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  FoctetTransport *client_transport;
  g_autofree char *alpn = NULL;
  const GError *failure;

  g_object_get (fixture->server_tls, "alpn", &alpn, NULL);
  g_assert_cmpstr (alpn, ==, FOCTET_TLS_ALPN);
  g_object_set (fixture->server_tls, "alpn", FOCTET_TLS_ALPN_RELAY, NULL);

  wrong = dial (fixture, foctet_node_get_node_id (fixture->server), fixture->server_uri, &error);
  g_assert_null (wrong);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_test_message ("dialer: %s", error->message);
  failure = wait_failure (fixture, 1);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (failure->message, "ALPN"));
  g_clear_error (&error);

  client_transport = foctet_node_get_transport (fixture->client, transport_name, &error);
  g_assert_no_error (error);
  g_object_set (client_transport, "alpn", FOCTET_TLS_ALPN_RELAY, NULL);
  right = dial_server (fixture);
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (right),
                                       foctet_node_get_node_id (fixture->server)));
}

static GSocketConnection *
raw_connect (Fixture *fixture)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_client_connect_to_host (client, fixture->server_address, 0, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

/* Reads until the peer closes; FALSE if it did not within @seconds. */
static gboolean
wait_closed_by_peer (GSocketConnection *connection,
                     guint              seconds)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  char buffer[4096];

  g_socket_set_blocking (socket, FALSE);
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);

      if (n == 0 || (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
        return TRUE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (2000);
    }
  return FALSE;
}

/* Random bytes that look like a TLS handshake record at first. */
static void
fill_garbage (guint8 *buf,
              gsize   len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = g_random_int ();
  buf[0] = 0x16;
}

static void
test_garbage (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = raw_connect (fixture);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  guint8 noise[2048];

  fill_garbage (noise, sizeof noise);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (raw)), noise, sizeof noise,
                             NULL, NULL, &error);
  g_assert_no_error (error);
  wait_failure (fixture, 1);
  g_assert_true (wait_closed_by_peer (raw, TIMEOUT));

  right = dial_server (fixture);
}

/* A connection reset while it waited to be accepted: the failure names
 * where it came from, as accept () gave it (the accepted socket itself
 * no longer knows its peer). */
static void
test_reset_before_accept (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = raw_connect (fixture);
  GSocket *socket = g_socket_connection_get_socket (raw);
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autofree char *expected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  const char *from;

  g_assert_nonnull (local);
  expected = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  /* This thread runs the listener, so nothing accepted it yet: a reset
   * now comes while it waits in the backlog. */
  {
    struct linger abortive = { 1, 0 };

    g_assert_cmpint (setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive),
                     ==, 0);
  }
  g_assert_true (g_io_stream_close (G_IO_STREAM (raw), NULL, &error));
  g_assert_no_error (error);
  wait_failure (fixture, 1);
  from = fixture->failed_from->pdata[0];
  g_assert_cmpstr (from, ==, expected);

  right = dial_server (fixture);
}

/* A refused client's bytes that the listener never read are drained, not
 * answered with a reset (a lingering close): the client reads what the
 * listener sent (its alert, if any), then the end of the stream — never
 * ECONNRESET, which could destroy the alert before the client read it. */
static void
test_refused_without_reset (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = raw_connect (fixture);
  GSocket *socket = g_socket_connection_get_socket (raw);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *noise = g_malloc (128 * 1024);
  gint64 deadline;
  gsize got = 0;
  gboolean ended = FALSE;

  fill_garbage (noise, 128 * 1024);
  /* Written without blocking: the listener runs on this thread's context. */
  g_socket_set_blocking (socket, FALSE);
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  for (gsize sent = 0; sent < 128 * 1024;)
    {
      gssize n = g_socket_send (socket, (const char *) noise + sent, 128 * 1024 - sent, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_clear_error (&error);
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_main_context_iteration (NULL, FALSE);
          g_usleep (1000);
          continue;
        }
      if (n < 0 && fixture->failures->len > 0)
        g_error ("the listener reset the connection while the client was still writing: %s", error->message);
      g_assert_no_error (error);
      sent += n;
    }
  g_assert_true (g_socket_shutdown (socket, FALSE, TRUE, &error));
  g_assert_no_error (error);
  wait_failure (fixture, 1);

  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  while (!ended && g_get_monotonic_time () < deadline)
    {
      char buffer[4096];
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_clear_error (&error);
          g_main_context_iteration (NULL, FALSE);
          g_usleep (2000);
          continue;
        }
      g_assert_no_error (error);
      got += n;
      ended = n == 0;
    }
  g_assert_true (ended);
  g_test_message ("the refused client read %" G_GSIZE_FORMAT " bytes, then the end of the stream", got);
}

/* A refused client that goes on writing does not hold the listener's
 * socket for long: the linger drains what it writes for a second, then
 * closes for good, and a write after that fails (the closed socket
 * answers with a reset).  The client's writes wake the linger each time;
 * its end must not depend on a quiet client. */
static void
test_refused_linger_ends (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = raw_connect (fixture);
  GSocket *socket = g_socket_connection_get_socket (raw);
  g_autoptr(GError) error = NULL;
  guint8 noise[4096];
  gint64 start, deadline;
  gboolean ended = FALSE;

  fill_garbage (noise, sizeof noise);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (raw)), noise, sizeof noise,
                             NULL, NULL, &error);
  g_assert_no_error (error);
  wait_failure (fixture, 1);

  /* 1 s of linger, and room for a slow machine. */
  g_socket_set_blocking (socket, FALSE);
  start = g_get_monotonic_time ();
  deadline = start + 5 * G_USEC_PER_SEC;
  while (!ended && g_get_monotonic_time () < deadline)
    {
      gssize n = g_socket_send (socket, (const char *) noise, 512, NULL, &error);

      if (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_test_message ("a write %.2f s after the refusal: %s",
                          (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC, error->message);
          ended = TRUE;
        }
      g_clear_error (&error);
      for (guint k = 0; k < 25; k++)
        {
          g_main_context_iteration (NULL, FALSE);
          g_usleep (2000);
        }
    }
  g_assert_true (ended);
  /* It did linger: the first writes were drained. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);
}

/* A client that sends nothing, and one that stops halfway through its
 * ClientHello, are cut off by the handshake timeout. */
static void
test_slow_clients (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GSocketConnection) silent = raw_connect (fixture);
  g_autoptr(GSocketConnection) stalled = raw_connect (fixture);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  const guint8 partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
  gint64 start = g_get_monotonic_time ();

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stalled)), partial, sizeof partial,
                             NULL, NULL, &error);
  g_assert_no_error (error);
  wait_failure (fixture, 2);
  for (guint i = 0; i < 2; i++)
    g_assert_error ((GError *) fixture->failures->pdata[i], FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 400 * 1000);
  g_assert_true (wait_closed_by_peer (silent, TIMEOUT));
  g_assert_true (wait_closed_by_peer (stalled, TIMEOUT));

  right = dial_server (fixture);
}

/* Beyond max-handshakes (4 here) a connection is closed at once, while
 * those in progress are young (under a tenth of the handshake timeout,
 * 1 s here). */
static void
test_handshake_cap (Fixture       *fixture,
                    gconstpointer  data)
{
  GSocketConnection *raw[5];
  g_autoptr(FoctetConnection) right = NULL;
  const GError *failure;

  g_object_set (fixture->server_tls, "handshake-timeout", 10000, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    raw[i] = raw_connect (fixture);
  failure = wait_failure (fixture, 1);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_true (wait_closed_by_peer (raw[4], 5));
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    g_object_unref (raw[i]);

  /* Once those are gone the listener takes handshakes again. */
  wait_failure (fixture, 5);
  right = dial_server (fixture);
}

/* A raw TCP connection to the server from @source (an address of the
 * loopback network). */
static GSocketConnection *
raw_connect_from (Fixture    *fixture,
                  const char *source)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (source);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (inet, 0);
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  g_socket_client_set_local_address (client, local);
  connection = g_socket_client_connect_to_host (client, fixture->server_address, 0, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

/* Peers that connect and send nothing hold every handshake slot (4
 * here): once the oldest has waited a tenth of the handshake timeout
 * (200 ms here), it gives way to a new connection, which is told why,
 * and a real dialer gets through instead of being refused. */
static void
test_handshake_idle_give_way (Fixture       *fixture,
                              gconstpointer  data)
{
  GSocketConnection *raw[4];
  g_autoptr(FoctetConnection) right = NULL;
  const GError *failure;
  gint64 start;

  g_object_set (fixture->server_tls, "handshake-timeout", 2000, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    raw[i] = raw_connect (fixture);
  /* The server accepts them and waits. */
  start = g_get_monotonic_time ();
  while (g_get_monotonic_time () - start < 300 * 1000)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  start = g_get_monotonic_time ();
  right = dial_server (fixture);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 1000 * 1000);
  failure = wait_failure (fixture, 1);
  g_test_message ("%s", failure->message);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_nonnull (strstr (failure->message, "a newer connection needed the room"));
  /* The oldest went, the others wait on. */
  g_assert_true (wait_closed_by_peer (raw[0], 1));
  g_assert_cmpuint (fixture->failures->len, ==, 1);
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    g_object_unref (raw[i]);
}

/* One address may have max-handshakes-per-address (2 here) in
 * progress; a third connection from it is closed at once, while another
 * address still gets through. */
static void
test_handshake_cap_per_address (Fixture       *fixture,
                                gconstpointer  data)
{
  GSocketConnection *raw[3];
  g_autoptr(FoctetConnection) right = NULL;
  const GError *failure;

  g_object_set (fixture->server_tls, "handshake-timeout", 10000, "max-handshakes-per-address", 2, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    raw[i] = raw_connect_from (fixture, "127.0.0.2");
  failure = wait_failure (fixture, 1);
  g_test_message ("%s", failure->message);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_nonnull (strstr (failure->message, "127.0.0.2 already has 2 TLS handshakes in progress"));
  g_assert_true (wait_closed_by_peer (raw[2], 5));
  /* From 127.0.0.1, with two of four slots free. */
  right = dial_server (fixture);
  g_assert_cmpuint (fixture->failures->len, ==, 1);
  for (guint i = 0; i < G_N_ELEMENTS (raw); i++)
    g_object_unref (raw[i]);
}

/* One address may hold max-connections-per-address connections (2 here)
 * at once, established or in handshake: a third is refused, and told so
 * (the server says why); once one of the two has closed, a new one gets
 * through. */
static void
test_connections_per_address (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(FoctetNode) second = foctet_test_node_new ();
  g_autoptr(FoctetNode) third = foctet_test_node_new ();
  g_autoptr(FoctetConnection) a = dial_server (fixture);
  g_autoptr(FoctetConnection) b = NULL;
  g_autoptr(FoctetConnection) c = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = g_strdup_printf ("127.0.0.1 already has 2 %s connections",
                                               g_str_equal (transport_name, "tls") ? "TLS" : "QUIC");
  const FoctetNodeId *server_id = foctet_node_get_node_id (fixture->server);
  GAsyncResult *slot = NULL;
  const GError *failure;
  gint64 deadline;

  g_object_set (fixture->server_tls, "max-connections-per-address", 2, NULL);
  foctet_node_dial_uri_async (second, server_id, fixture->server_uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  b = foctet_node_dial_uri_finish (second, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  foctet_node_dial_uri_async (third, server_id, fixture->server_uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_null (foctet_node_dial_uri_finish (third, result, &error));
  g_assert_nonnull (error);
  g_test_message ("the third dial: %s", error->message);
  g_clear_error (&error);
  g_clear_object (&result);
  failure = wait_failure (fixture, 1);
  g_test_message ("the server: %s", failure->message);
  g_assert_error ((GError *) failure, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_nonnull (strstr (failure->message, expected));

  /* The first closes; once the server has seen it go, there is room. */
  foctet_connection_close_async (a, FOCTET_CLOSE_CODE_NO_ERROR, "done", NULL, NULL, NULL);
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(GPtrArray) open = foctet_node_list_connections (fixture->server);

      if (open->len == 1)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  foctet_node_dial_uri_async (third, server_id, fixture->server_uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  c = foctet_node_dial_uri_finish (third, result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->failures->len, ==, 1);
  g_clear_object (&c);
  g_clear_object (&b);
  foctet_test_node_shutdown (second, TIMEOUT);
  foctet_test_node_shutdown (third, TIMEOUT);
}

static void
keep_incoming_cb (FoctetTransport  *transport,
                  FoctetConnection *connection,
                  GPtrArray        *accepted)
{
  g_ptr_array_add (accepted, g_object_ref (connection));
}

/* An application that uses the transport without a node, and drops the
 * connections it accepts without closing them, does not use up its
 * peers' max-connections-per-address (1 here): a dropped connection
 * counts no more. */
static void
test_connections_per_address_dropped (Fixture       *fixture,
                                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) transport = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *address = NULL;
  g_autofree char *uri = NULL;
  g_autoptr(GPtrArray) accepted = g_ptr_array_new ();
  GAsyncResult *slot = NULL;

  g_assert_no_error (error);
  transport = foctet_registry_create_transport (foctet_registry_get_default (), transport_name, identity, &error);
  g_assert_no_error (error);
  g_object_set (transport, "max-connections-per-address", 1, NULL);
  g_signal_connect (transport, "incoming", G_CALLBACK (keep_incoming_cb), accepted);
  g_signal_connect (transport, "incoming-failed", G_CALLBACK (incoming_failed_cb), fixture);
  foctet_transport_listen_async (transport, "127.0.0.1:0", NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  address = foctet_transport_listen_finish (transport, result, &error);
  g_assert_no_error (error);
  uri = g_strdup_printf ("%s/%s", transport_name, address);

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(FoctetNode) node = foctet_test_node_new ();
      g_autoptr(FoctetConnection) connection = NULL;

      connection = foctet_test_node_dial_uri (node, foctet_identity_get_node_id (identity), uri, &error, TIMEOUT);
      g_assert_no_error (error);
      for (gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC; accepted->len == 0;)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_main_context_iteration (NULL, TRUE);
        }
      /* Dropped, never closed: the last reference goes. */
      g_assert_cmpuint (accepted->len, ==, 1);
      g_object_unref (g_ptr_array_steal_index (accepted, 0));
      g_clear_object (&connection);
      foctet_test_node_shutdown (node, TIMEOUT);
    }
  g_assert_cmpuint (fixture->failures->len, ==, 0);
  g_signal_handlers_disconnect_by_data (transport, fixture);
  g_signal_handlers_disconnect_by_data (transport, accepted);
  foctet_transport_stop (transport);
}

/* A peer that completes the handshake and then breaks yamux gets
 * GoAway(protocol error) and a closed connection. */
static void
test_yamux_violation (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = raw_connect (fixture);
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) right = NULL;
  GAsyncResult *slot = NULL;
  /* version 1 — only 0 exists */
  const guint8 bad_frame[12] = { 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0 };
  guint8 reply[4096];
  gsize got = 0;
  gboolean saw_goaway = FALSE;

  foctet_tls_stream_handshake_async (G_IO_STREAM (raw), foctet_node_get_identity (fixture->client), FALSE,
                                     FOCTET_TLS_ALPN, foctet_node_get_node_id (fixture->server), 5000, NULL,
                                     foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  tls = foctet_tls_stream_handshake_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (tls)), bad_frame,
                                   sizeof bad_frame, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_output_stream_write_all_finish (g_io_stream_get_output_stream (G_IO_STREAM (tls)), result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  /* Frames until the end: among them GoAway with code 1. */
  for (;;)
    {
      gssize n;

      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (tls)), reply + got,
                                 sizeof reply - got, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (tls)), result, &error);
      g_clear_object (&result);
      if (n <= 0)
        break;
      got += n;
      g_assert_cmpuint (got, <, sizeof reply);
    }
  g_clear_error (&error);
  for (gsize off = 0; off + 12 <= got; off += 12 + (reply[off + 1] == 0 ? GUINT32_FROM_BE (*(guint32 *) (reply + off + 8)) : 0))
    if (reply[off + 1] == 3)
      {
        g_assert_cmpuint (GUINT32_FROM_BE (*(guint32 *) (reply + off + 8)), ==, 1);
        saw_goaway = TRUE;
      }
  g_assert_true (saw_goaway);

  right = dial_server (fixture);
}

static void
test_ipv6 (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = NULL;

  g_assert_true (g_str_has_prefix (fixture->server_address, "[::1]:"));
  connection = dial_server (fixture);
  g_assert_true (g_str_has_prefix (foctet_connection_get_remote_address (connection), "[::1]:"));
}

static void
test_wildcard (Fixture       *fixture,
               gconstpointer  data)
{
  g_auto(GStrv) addresses = foctet_transport_get_listen_addresses (fixture->server_tls);
  g_autofree char *port = g_strdup (strrchr (fixture->server_address, ':') + 1);
  g_autofree char *loopback = g_strdup_printf ("127.0.0.1:%s", port);
  g_autoptr(FoctetTicket) ticket = foctet_node_get_ticket (fixture->server);
  g_auto(GStrv) in_ticket = foctet_ticket_get_addresses (ticket, foctet_transport_get_address_kind (fixture->server_tls));
  guint n = g_strv_length (addresses);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;

  /* Every interface address, loopback last; none of them 0.0.0.0. */
  g_assert_cmpuint (n, >=, 1);
  g_assert_cmpstr (addresses[n - 1], ==, loopback);
  for (guint i = 0; i < n; i++)
    g_assert_false (g_str_has_prefix (addresses[i], "0.0.0.0"));
  g_assert_cmpstrv (in_ticket, addresses);

  g_clear_pointer (&loopback, g_free);
  loopback = g_strdup_printf ("%s/127.0.0.1:0", transport_name);
  connection = dial (fixture, foctet_node_get_node_id (fixture->server), loopback, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_pointer (&loopback, g_free);
  loopback = g_strdup_printf ("%s/127.0.0.1:%s", transport_name, port);
  connection = dial (fixture, foctet_node_get_node_id (fixture->server), loopback, &error);
  g_assert_no_error (error);
}

/* Nothing listens at the dialed port: TCP's connect is refused, and the
 * ICMP port unreachable that answers UDP fails a QUIC dial as promptly —
 * the same error either way, long before the handshake timeout. */
static void
test_unreachable (Fixture       *fixture,
                  gconstpointer  data)
{
  gboolean ipv6 = g_strcmp0 (data, "ipv6") == 0;
  const char *host = ipv6 ? "::1" : "127.0.0.1";
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string (host, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autofree char *address = NULL;
  g_autofree char *uri = NULL;
  gboolean quic = g_str_equal (transport_name, "quic");
  FoctetTransport *client_transport;
  gint64 start, elapsed;

  /* A port that was just free: nothing listens there. */
  socket = g_socket_new (ipv6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4,
                         quic ? G_SOCKET_TYPE_DATAGRAM : G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, any, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  address = g_strdup_printf (ipv6 ? "[%s]:%u" : "%s:%u", host,
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  uri = g_strdup_printf ("%s/%s", transport_name, address);
  g_socket_close (socket, NULL);

  client_transport = foctet_node_get_transport (fixture->client, transport_name, &error);
  g_assert_no_error (error);
  g_object_set (client_transport, "handshake-timeout", 5000, NULL);
  start = g_get_monotonic_time ();
  connection = dial (fixture, foctet_node_get_node_id (fixture->server), uri, &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_null (connection);
  g_test_message ("%s after %" G_GINT64_FORMAT " ms", error->message, elapsed / 1000);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_assert_nonnull (strstr (error->message, address));
  if (quic)
    g_assert_nonnull (strstr (error->message, "port unreachable"));
  g_assert_cmpint (elapsed, <, 500 * 1000);
}

/* ------------------------------------------------------------------ */
/* QUIC                                                                */

static GSocket *
udp_socket (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);

  g_assert_no_error (error);
  g_socket_bind (socket, any, TRUE, &error);
  g_assert_no_error (error);
  return socket;
}

static GSocketAddress *
server_socket_address (Fixture *fixture)
{
  const char *colon = strrchr (fixture->server_address, ':');
  g_autofree char *host = g_strndup (fixture->server_address, colon - fixture->server_address);

  return g_inet_socket_address_new_from_string (host, atoi (colon + 1));
}

/* A long-header Initial of QUIC v1 with random connection IDs and a
 * random (undecryptable) payload, padded to 1200 bytes as clients must. */
static gsize
fake_initial (guint8 *buf)
{
  gsize n = 0;

  buf[n++] = 0xc3;                        /* long header, Initial, 4-byte packet number */
  buf[n++] = 0; buf[n++] = 0; buf[n++] = 0; buf[n++] = 1;
  buf[n++] = 8;                           /* DCID */
  for (guint i = 0; i < 8; i++)
    buf[n++] = g_random_int ();
  buf[n++] = 8;                           /* SCID */
  for (guint i = 0; i < 8; i++)
    buf[n++] = g_random_int ();
  buf[n++] = 0;                           /* no token */
  buf[n++] = 0x40 | (1100 >> 8);          /* length, 2-byte varint */
  buf[n++] = 1100 & 0xff;
  while (n < 1200)
    buf[n++] = g_random_int ();
  return n;
}

/* Random datagrams, garbled Initials and short-header noise: the listener
 * drops them and keeps serving. */
static void
test_quic_garbage (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GSocket) socket = udp_socket ();
  g_autoptr(GSocketAddress) server = server_socket_address (fixture);
  g_autoptr(FoctetConnection) right = NULL;
  guint8 buf[1500];

  for (guint i = 0; i < 200; i++)
    {
      gsize n;

      if (i % 3 == 0)
        n = fake_initial (buf);
      else
        {
          n = 1 + g_random_int_range (0, sizeof buf);
          for (gsize k = 0; k < n; k++)
            buf[k] = g_random_int ();
          if (i % 3 == 1)
            buf[0] &= 0x7f;               /* short header */
        }
      if (i % 7 == 0)
        n = MIN (n, 1 + (gsize) g_random_int_range (0, 30));   /* truncated */
      g_socket_send_to (socket, server, (const char *) buf, n, NULL, NULL);
    }
  right = dial_server (fixture);
}

/* A long header of @version with Connection IDs of the given lengths,
 * random IDs and payload, @size bytes in all. */
static gsize
long_header_datagram (guint8  *buf,
                      guint32  version,
                      guint    dcidlen,
                      guint    scidlen,
                      gsize    size)
{
  gsize n = 0;

  buf[n++] = 0xc0 | (g_random_int () & 0x3f);
  buf[n++] = version >> 24;
  buf[n++] = version >> 16;
  buf[n++] = version >> 8;
  buf[n++] = version;
  buf[n++] = dcidlen;
  for (guint i = 0; i < dcidlen; i++)
    buf[n++] = g_random_int ();
  buf[n++] = scidlen;
  for (guint i = 0; i < scidlen; i++)
    buf[n++] = g_random_int ();
  g_assert_cmpuint (n, <=, size);
  while (n < size)
    buf[n++] = g_random_int ();
  return n;
}

static gboolean
readable_cb (GSocket      *socket,
             GIOCondition  condition,
             gpointer      user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context (the listener lives there) until @socket has a
 * datagram, and takes it. */
static gsize
receive_datagram (GSocket *socket,
                  guint8  *buf,
                  gsize    size)
{
  g_autoptr(GSource) source = g_socket_create_source (socket, G_IO_IN, NULL);
  g_autoptr(GError) error = NULL;
  gboolean readable = FALSE;
  gssize n;

  g_source_set_callback (source, G_SOURCE_FUNC (readable_cb), &readable, NULL);
  g_source_attach (source, NULL);
  foctet_test_wait_for (&readable, TIMEOUT);
  g_source_destroy (source);
  n = g_socket_receive (socket, (char *) buf, size, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, >, 0);
  return n;
}

static guint32
read_be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

/* Datagrams of versions other than 1 — ones ngtcp2 would accept
 * (draft-29, v2), unknown ones, Connection IDs up to the 255 bytes the
 * version-independent header allows — get a Version Negotiation packet
 * listing version 1 and not the one offered, with the Connection IDs
 * echoed swapped; a version-0 datagram (itself a Version Negotiation)
 * and one smaller than an Initial get nothing.  None costs the listener
 * anything: it serves the next dial. */
static void
test_quic_version_negotiation (Fixture       *fixture,
                               gconstpointer  data)
{
  static const struct {
    guint32 version;
    guint dcidlen;
    guint scidlen;
  } cases[] = {
    { 0xff00001d, 8, 8 },                 /* draft-29 */
    { 0x6b3343cf, 8, 8 },                 /* QUIC v2 (RFC 9369) */
    { 0xff00001d, 21, 21 },               /* draft-29 with IDs longer than it allows */
    { 0x51303530, 255, 255 },             /* unknown ("Q050"), the longest IDs */
    { 0x1a2a3a4a, 0, 255 },               /* a reserved version, an empty DCID */
  };
  g_autoptr(GSocket) socket = udp_socket ();
  g_autoptr(GSocketAddress) server = server_socket_address (fixture);
  g_autoptr(FoctetConnection) right = NULL;
  g_autoptr(GError) error = NULL;
  guint8 sent[1500], reply[1500];

  /* Unanswered: they go first, so the first reply must be to cases[0]. */
  g_socket_send_to (socket, server, (const char *) sent, long_header_datagram (sent, 0x51303530, 8, 8, 1199),
                    NULL, &error);
  g_assert_no_error (error);
  g_socket_send_to (socket, server, (const char *) sent, long_header_datagram (sent, 0, 8, 8, 1200), NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize len = long_header_datagram (sent, cases[i].version, cases[i].dcidlen, cases[i].scidlen, 1200);
      const guint8 *dcid = sent + 6;
      const guint8 *scid = sent + 7 + cases[i].dcidlen;
      gboolean has_v1 = FALSE;
      gsize n, pos;

      g_test_message ("version 0x%08x, DCID %u bytes, SCID %u bytes",
                      cases[i].version, cases[i].dcidlen, cases[i].scidlen);
      g_socket_send_to (socket, server, (const char *) sent, len, NULL, &error);
      g_assert_no_error (error);
      n = receive_datagram (socket, reply, sizeof reply);

      /* Long header, version 0, our SCID as its DCID and the other way
       * round, then whole versions. */
      g_assert_cmpuint (n, >=, 7);
      g_assert_cmphex (reply[0] & 0x80, ==, 0x80);
      g_assert_cmphex (read_be32 (reply + 1), ==, 0);
      pos = 5;
      g_assert_cmpuint (reply[pos], ==, cases[i].scidlen);
      g_assert_cmpuint (n, >=, pos + 1 + cases[i].scidlen + 1);
      g_assert_cmpmem (reply + pos + 1, cases[i].scidlen, scid, cases[i].scidlen);
      pos += 1 + cases[i].scidlen;
      g_assert_cmpuint (reply[pos], ==, cases[i].dcidlen);
      g_assert_cmpuint (n, >=, pos + 1 + cases[i].dcidlen);
      g_assert_cmpmem (reply + pos + 1, cases[i].dcidlen, dcid, cases[i].dcidlen);
      pos += 1 + cases[i].dcidlen;
      g_assert_cmpuint (n, >, pos);
      g_assert_cmpuint ((n - pos) % 4, ==, 0);
      for (; pos < n; pos += 4)
        {
          guint32 version = read_be32 (reply + pos);

          g_assert_cmphex (version, !=, cases[i].version);
          if (version == 1)
            has_v1 = TRUE;
          else
            g_assert_cmphex (version & 0x0f0f0f0f, ==, 0x0a0a0a0a);    /* greasing only */
        }
      g_assert_true (has_v1);
    }

  right = dial_server (fixture);
  g_assert_cmpuint (fixture->failures->len, ==, 0);
}

/* Many dialers at once: beyond half the handshake budget (4 here) the
 * listener answers with Retry and keeps no state until the dialer proved
 * its address, beyond the budget it refuses; every dial ends one way or
 * the other, and the listener serves the next dialer. */
#define N_FLOOD 24

static void
test_quic_flood (Fixture       *fixture,
                 gconstpointer  data)
{
  FoctetNode *clients[N_FLOOD];
  GAsyncResult *slots[N_FLOOD] = { NULL };
  g_autoptr(FoctetConnection) right = NULL;
  guint retries = 0, succeeded = 0;

  for (guint i = 0; i < N_FLOOD; i++)
    {
      clients[i] = foctet_test_node_new ();
      foctet_node_dial_uri_async (clients[i], foctet_node_get_node_id (fixture->server), fixture->server_uri,
                                  NULL, foctet_test_store_result, &slots[i]);
    }
  for (guint i = 0; i < N_FLOOD; i++)
    {
      g_autoptr(GAsyncResult) result = foctet_test_wait_result (&slots[i], TIMEOUT);
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetConnection) connection = foctet_node_dial_uri_finish (clients[i], result, &error);

      if (connection != NULL)
        succeeded++;
      else
        g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
    }
  g_object_get (fixture->server_tls, "retries-sent", &retries, NULL);
  g_test_message ("%u of %u dials got through, %u Retry packets", succeeded, N_FLOOD, retries);
  g_assert_cmpuint (retries, >, 0);
  g_assert_cmpuint (succeeded, >, 0);
  for (guint i = 0; i < N_FLOOD; i++)
    {
      foctet_test_node_shutdown (clients[i], TIMEOUT);
      g_object_unref (clients[i]);
    }
  right = dial_server (fixture);
}

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  GError **slot = user_data;

  *slot = error != NULL ? g_error_copy (error) : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "none");
}

/* Without keep-alive, a quiet connection ends after the idle timeout, on
 * both sides, with an error saying so. */
static void
test_quic_idle_timeout (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) closed = NULL;
  FoctetTransport *client_transport = foctet_node_get_transport (fixture->client, "quic", &error);
  g_autoptr(FoctetConnection) connection = NULL;
  gint64 start, deadline;

  g_assert_no_error (error);
  g_object_set (client_transport, "idle-timeout", 300, "keepalive-interval", 0, NULL);
  g_object_set (fixture->server_tls, "idle-timeout", 300, "keepalive-interval", 0, NULL);
  connection = dial_server (fixture);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), &closed);
  start = g_get_monotonic_time ();
  deadline = start + 5 * G_USEC_PER_SEC;
  while (closed == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_error (closed, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 250 * 1000);
  g_assert_true (foctet_connection_is_closed (connection));
}

/* With keep-alive PINGs the same quiet connection lives on. */
static void
test_quic_keepalive (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) closed = NULL;
  FoctetTransport *client_transport = foctet_node_get_transport (fixture->client, "quic", &error);
  g_autoptr(FoctetConnection) connection = NULL;
  gint64 deadline;

  g_assert_no_error (error);
  /* Pings every 100 ms against an idle timeout ten times that: a busy
   * machine may stall the process for a few hundred milliseconds. */
  g_object_set (client_transport, "idle-timeout", 1000, "keepalive-interval", 100, NULL);
  g_object_set (fixture->server_tls, "idle-timeout", 1000, "keepalive-interval", 0, NULL);
  connection = dial_server (fixture);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), &closed);
  deadline = g_get_monotonic_time () + 3000 * 1000;
  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  g_assert_no_error (closed);
  g_signal_handlers_disconnect_by_func (connection, closed_cb, &closed);
}

/* Starts "foctet-shell serve" on a QUIC loopback port; returns its ticket. */
static FoctetTicket *
spawn_server (const char   *dir,
              GSubprocess **serve)
{
  const char *shell = g_getenv ("FOCTET_SHELL");
  g_autofree char *identity = g_build_filename (dir, "identity", NULL);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL;
  FoctetTicket *ticket;

  g_assert_nonnull (shell);
  *serve = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, shell, "--identity", identity, "-q",
                             "serve", "--listen", "quic/127.0.0.1:0", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (*serve));
  ticket_text = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ticket_text);
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  return ticket;
}

/* ICMP is not authenticated: an established connection is judged by
 * QUIC's own timers, not by ICMP errors.  Its peer's process dies, the
 * port closes, and every keep-alive PING now draws an ICMP port
 * unreachable; the connection lives on until its idle timeout ends it. */
static void
test_quic_icmp_established (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autoptr(GSubprocess) serve = NULL;
  g_autoptr(FoctetTicket) ticket = spawn_server (dir, &serve);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) closed = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  FoctetTransport *client_transport = foctet_node_get_transport (fixture->client, "quic", &error);
  gint64 start, deadline;

  g_assert_no_error (error);
  g_object_set (client_transport, "idle-timeout", 2000, "keepalive-interval", 100, NULL);
  foctet_node_dial_async (fixture->client, ticket, "quic", NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_no_error (error);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), &closed);

  g_subprocess_force_exit (serve);
  g_assert_true (g_subprocess_wait (serve, NULL, &error));
  g_assert_no_error (error);
  start = g_get_monotonic_time ();

  /* A second of PINGs into the closed port. */
  deadline = start + G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  g_assert_no_error (closed);
  g_assert_false (foctet_connection_is_closed (connection));

  deadline = start + 10 * G_USEC_PER_SEC;
  while (closed == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE), g_usleep (1000);
    }
  g_test_message ("%s after %.1f s", closed->message, (g_get_monotonic_time () - start) / 1e6);
  g_assert_error (closed, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 1500 * 1000);
  foctet_test_remove_tree (dir);
}

/* Dials the "foctet-shell serve" of @ticket over quic with the client's
 * idle timeout at @idle_timeout ms, and starts a perf run of @upload and
 * @download bytes on the connection, whose result goes to @slot; gives
 * the run 200 ms to get going. */
static FoctetConnection *
dial_and_start_perf (Fixture       *fixture,
                     FoctetTicket  *ticket,
                     guint          idle_timeout,
                     guint64        upload,
                     guint64        download,
                     GAsyncResult **slot)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  FoctetTransport *client_transport = foctet_node_get_transport (fixture->client, "quic", &error);
  FoctetConnection *connection;

  g_assert_no_error (error);
  g_object_set (client_transport, "idle-timeout", idle_timeout, NULL);
  foctet_node_dial_async (fixture->client, ticket, "quic", NULL, foctet_test_store_result, slot);
  result = foctet_test_wait_result (slot, TIMEOUT);
  connection = foctet_node_dial_finish (fixture->client, result, &error);
  g_assert_no_error (error);
  foctet_perf_run_async (connection, upload, download, NULL, foctet_test_store_result, slot);
  for (guint i = 0; i < 200; i++)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  return connection;
}

/* The serving process is killed mid-transfer: the dialer's transfer fails
 * within the idle timeout, and nothing is left behind. */
static void
test_quic_peer_killed (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autoptr(GSubprocess) serve = NULL;
  g_autoptr(FoctetTicket) ticket = spawn_server (dir, &serve);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;
  gint64 start;

  /* 64 GiB would take minutes: the kill comes first. */
  connection = dial_and_start_perf (fixture, ticket, 1500, 0, G_GUINT64_CONSTANT (64) << 30, &slot);
  start = g_get_monotonic_time ();
  g_subprocess_force_exit (serve);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_null (perf);
  g_assert_nonnull (error);
  g_test_message ("after the kill: %s (%.1f s)", error->message, (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_subprocess_wait (serve, NULL, NULL);
  foctet_test_remove_tree (dir);
}

/* The serving process stops (SIGSTOP: no ICMP, no close, as a peer
 * whose machine hangs) while the dialer uploads: the dialer keeps
 * sending, and probing once its windows are full, yet gives up within
 * its idle timeout after the last packet it got, not once its probes
 * have spread out beyond the timeout. */
static void
test_quic_peer_stopped_upload (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autoptr(GSubprocess) serve = NULL;
  g_autoptr(FoctetTicket) ticket = spawn_server (dir, &serve);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;
  gint64 start, elapsed;

  connection = dial_and_start_perf (fixture, ticket, 3000, G_GUINT64_CONSTANT (64) << 30, 0, &slot);
  start = g_get_monotonic_time ();
  g_subprocess_send_signal (serve, SIGSTOP);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  elapsed = g_get_monotonic_time () - start;
  perf = foctet_perf_run_finish (result, &error);
  g_assert_null (perf);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_test_message ("after the stop: %s (%.1f s)", error->message, elapsed / 1e6);
  g_assert_cmpint (elapsed, >=, 2500 * 1000);
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_subprocess_send_signal (serve, SIGCONT);
  g_subprocess_force_exit (serve);
  g_subprocess_wait (serve, NULL, NULL);
  foctet_test_remove_tree (dir);
}

/* This process does not run for longer than its idle timeout (a laptop
 * suspended, a debugger's pause) while it uploads, and its peer is gone
 * meanwhile: once it runs again it reads what the peer had sent before
 * (its last acknowledgements), and gives up one idle timeout after that,
 * however many probes it sends meanwhile (each of which restarted
 * ngtcp2's own idle timer: 13.6 s here, minutes with a 30 s timeout). */
static void
test_quic_frozen_upload (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autoptr(GSubprocess) serve = NULL;
  g_autoptr(FoctetTicket) ticket = spawn_server (dir, &serve);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;
  gint64 resumed, elapsed;

  connection = dial_and_start_perf (fixture, ticket, 2000, G_GUINT64_CONSTANT (64) << 30, 0, &slot);
  /* Frozen for twice the idle timeout; the peer dies meanwhile. */
  g_subprocess_force_exit (serve);
  g_subprocess_wait (serve, NULL, NULL);
  g_usleep (4 * G_USEC_PER_SEC);
  resumed = g_get_monotonic_time ();
  result = foctet_test_wait_result (&slot, TIMEOUT);
  elapsed = g_get_monotonic_time () - resumed;
  perf = foctet_perf_run_finish (result, &error);
  g_assert_null (perf);
  g_test_message ("after the resume: %s (%.1f s)", error->message, elapsed / 1e6);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (elapsed, <, 4 * G_USEC_PER_SEC);
  foctet_test_remove_tree (dir);
}

/* Datagram sizes, watched by a forwarder between the two nodes: a
 * loopback path carries packets far larger than the 1452 bytes of a path
 * through a network (the loopback interface's MTU is 64 KiB), yet
 * nothing sent before the handshake is over is larger than what any QUIC
 * peer accepts, since the dialer does not yet know its peer's limit. */
typedef struct {
  GSocket *client_side;              /* the dialer writes here */
  GSocket *server_side;              /* connected to the listener */
  gint stop;
  gsize first_from_client;
  gsize max_from_client;
  gsize max_from_server;
  guint datagrams;
} Forwarder;

static gpointer
forwarder_thread (gpointer data)
{
  Forwarder *fw = data;
  g_autoptr(GSocketAddress) client = NULL;
  g_autofree guint8 *buffer = g_malloc (65536);

  while (!g_atomic_int_get (&fw->stop))
    {
      struct pollfd fds[2] = {
        { g_socket_get_fd (fw->client_side), POLLIN, 0 },
        { g_socket_get_fd (fw->server_side), POLLIN, 0 },
      };

      if (poll (fds, 2, 50) <= 0)
        continue;
      if (fds[0].revents & POLLIN)
        {
          GSocketAddress *from = NULL;
          gssize n = g_socket_receive_from (fw->client_side, &from, (char *) buffer, 65536, NULL, NULL);

          if (n > 0)
            {
              g_set_object (&client, from);
              if (fw->datagrams++ == 0)
                fw->first_from_client = n;
              fw->max_from_client = MAX (fw->max_from_client, (gsize) n);
              g_socket_send (fw->server_side, (const char *) buffer, n, NULL, NULL);
            }
          g_clear_object (&from);
        }
      if ((fds[1].revents & POLLIN) && client != NULL)
        {
          gssize n = g_socket_receive (fw->server_side, (char *) buffer, 65536, NULL, NULL);

          if (n > 0)
            {
              fw->max_from_server = MAX (fw->max_from_server, (gsize) n);
              g_socket_send_to (fw->client_side, client, (const char *) buffer, n, NULL, NULL);
            }
        }
    }
  return NULL;
}

/* A loopback UDP socket with room for bursts: a forwarder that drops
 * datagrams only slows QUIC down, but there is no need to. */
static GSocket *
forwarder_socket (void)
{
  GSocket *socket = udp_socket ();
  g_autoptr(GError) error = NULL;

  g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, 4 << 20, &error);
  g_assert_no_error (error);
  g_socket_set_option (socket, SOL_SOCKET, SO_SNDBUF, 4 << 20, &error);
  g_assert_no_error (error);
  return socket;
}

static void
test_quic_datagram_sizes (Fixture       *fixture,
                          gconstpointer  data)
{
  Forwarder fw = { 0 };
  g_autoptr(GSocketAddress) server = server_socket_address (fixture);
  g_autoptr(GSocketAddress) local = NULL;
  g_autofree char *uri = NULL;
  g_autoptr(GThread) thread = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  GAsyncResult *slot = NULL;

  fw.server_side = forwarder_socket ();
  g_socket_connect (fw.server_side, server, NULL, &error);
  g_assert_no_error (error);
  fw.client_side = forwarder_socket ();
  local = g_socket_get_local_address (fw.client_side, &error);
  g_assert_no_error (error);
  uri = g_strdup_printf ("quic/127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  thread = g_thread_new ("forwarder", forwarder_thread, &fw);

  connection = dial (fixture, foctet_node_get_node_id (fixture->server), uri, &error);
  g_assert_no_error (error);
  foctet_perf_run_async (connection, 4 << 20, 4 << 20, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  perf = foctet_perf_run_finish (result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (perf->upload_bytes, ==, 4 << 20);
  g_assert_cmpuint (perf->download_bytes, ==, 4 << 20);

  g_atomic_int_set (&fw.stop, 1);
  g_thread_join (g_steal_pointer (&thread));
  g_object_unref (fw.client_side);
  g_object_unref (fw.server_side);
  g_test_message ("%u datagrams from the dialer, the first %" G_GSIZE_FORMAT " bytes; largest: %" G_GSIZE_FORMAT
                  " from the dialer, %" G_GSIZE_FORMAT " from the listener",
                  fw.datagrams, fw.first_from_client, fw.max_from_client, fw.max_from_server);
  /* RFC 9000 §14.1: a dialer's first datagram is at least 1200 bytes. */
  g_assert_cmpuint (fw.first_from_client, >=, 1200);
  g_assert_cmpuint (fw.first_from_client, <=, 1452);
  g_assert_cmpuint (fw.max_from_client, >, 1452);
  g_assert_cmpuint (fw.max_from_server, >, 1452);
  g_assert_cmpuint (fw.max_from_client, <=, 16384);
  g_assert_cmpuint (fw.max_from_server, <=, 16384);
}

/* A node listening on tls/[::] takes IPv6 only, as one on quic/[::] does:
 * its ticket lists this host's IPv6 addresses (PROTOCOL §6), so IPv4
 * connections are refused rather than taken by a dual-stack socket that
 * no ticket of it offers. */
static void
test_wildcard_ipv6_only (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(FoctetNode) node = foctet_test_node_new ();
  g_autofree char *listen = g_strdup_printf ("%s/[::]:0", transport_name);
  g_autofree char *bound = NULL;
  g_autofree char *v4 = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  const char *colon;

  bound = foctet_test_node_listen (node, listen, TIMEOUT);
  g_test_message ("listening on %s", bound);
  colon = strrchr (bound, ':');
  g_assert_nonnull (colon);
  v4 = g_strconcat ("127.0.0.1", colon, NULL);
  if (g_str_equal (transport_name, "tls"))
    {
      connection = g_socket_client_connect_to_host (client, v4, 0, NULL, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    }
  else
    {
      /* A dial to the IPv4 address of the port finds no listener. */
      g_autofree char *uri = g_strconcat (transport_name, "/", v4, NULL);
      g_autoptr(FoctetConnection) dialed = foctet_test_node_dial_uri (fixture->client, foctet_node_get_node_id (node),
                                                                      uri, &error, TIMEOUT);

      g_assert_null (dialed);
      g_assert_nonnull (error);
      g_test_message ("dial %s: %s", uri, error->message);
    }
  foctet_test_node_shutdown (node, TIMEOUT);
}

/* PROTOCOL §5: a stream whose header names no protocol a handler could
 * take (an empty name, a NUL byte, not UTF-8) is refused as an unknown
 * one: reset (over QUIC with code 3). */
static void
test_bad_header_refused (Fixture       *fixture,
                         gconstpointer  data)
{
  static const struct {
    const char *what;
    const char *header;
    gsize len;
  } headers[] = {
    { "an empty name", "\0", 1 },
    { "a NUL byte", "\3a\0b", 4 },
    { "not UTF-8", "\2\377\376", 3 },
    { "a name nobody serves", "\4nope", 5 },
  };
  g_autoptr(FoctetConnection) connection = dial_server (fixture);

  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      FoctetConnectionClass *klass = FOCTET_CONNECTION_GET_CLASS (connection);
      g_autoptr(FoctetStream) stream = NULL;
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;
      GAsyncResult *slot = NULL;
      char buffer[16];
      gssize n;

      /* The class's own open: a stream without a header. */
      klass->open_stream_async (connection, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      stream = klass->open_stream_finish (connection, result, &error);
      g_assert_no_error (error);
      foctet_test_stream_write_all (stream, headers[i].header, headers[i].len, TIMEOUT);

      n = foctet_test_stream_read_some (stream, buffer, sizeof buffer, &error, TIMEOUT);
      g_test_message ("%s: %s", headers[i].what, error != NULL ? error->message : "no error");
      g_assert_cmpint (n, ==, -1);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET);
      if (g_str_equal (transport_name, "quic"))
        g_assert_nonnull (strstr (error->message, "(code 3)"));
    }
  /* The connection lives on. */
  g_assert_false (foctet_connection_is_closed (connection));
}

/* The send buffers of all a connection's streams together hold at most
 * CONN_SEND_BUFFER of written, unacknowledged bytes (8 MiB, as one
 * stream's own bound), beyond which each other stream may still hold
 * STREAM_SEND_MIN: written without the main loop turning (so nothing is
 * acknowledged meanwhile), the first stream takes the 8 MiB and the
 * others their minimum.  Once the peer acknowledges, the last one may
 * write again. */
#define CONN_SEND_BUFFER (8 * 1024 * 1024)
#define STREAM_SEND_MIN (256 * 1024)
#define BUDGET_STREAMS 8

/* Opens @n echo streams and writes to each, in turn, until it would
 * block, without iterating the main loop (so nothing is acknowledged);
 * what each took in @accepted.  Returns the total. */
static gsize
fill_streams_unacked (FoctetConnection  *connection,
                      FoctetStream     **streams,
                      guint              n,
                      gsize             *accepted)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *piece = g_malloc0 (64 * 1024);
  gsize total = 0;

  for (guint i = 0; i < n; i++)
    {
      streams[i] = foctet_test_open_stream (connection, FOCTET_TEST_ECHO_PROTOCOL, &error, TIMEOUT);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < n; i++)
    {
      GPollableOutputStream *output =
        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (streams[i])));

      accepted[i] = 0;
      for (guint k = 0; k < 1024; k++)
        {
          gssize written = g_pollable_output_stream_write_nonblocking (output, piece, 64 * 1024, NULL, &error);

          if (written < 0)
            {
              g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
              g_clear_error (&error);
              break;
            }
          accepted[i] += written;
        }
      total += accepted[i];
    }
  return total;
}

static void
reset_streams (FoctetStream **streams,
               guint          n)
{
  for (guint i = 0; i < n; i++)
    {
      foctet_stream_reset (streams[i], 0);
      g_object_unref (streams[i]);
    }
}

static void
test_quic_send_budget (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  FoctetStream *streams[BUDGET_STREAMS];
  gsize accepted[BUDGET_STREAMS];
  GPollableOutputStream *last;
  gsize total;
  gint64 deadline;

  total = fill_streams_unacked (connection, streams, BUDGET_STREAMS, accepted);
  g_test_message ("Accepted without acknowledgements: %" G_GSIZE_FORMAT " KiB in all, %" G_GSIZE_FORMAT
                  " KiB by the first stream, %" G_GSIZE_FORMAT " KiB by the last",
                  total / 1024, accepted[0] / 1024, accepted[BUDGET_STREAMS - 1] / 1024);
  g_assert_cmpuint (total, <=, CONN_SEND_BUFFER + (BUDGET_STREAMS - 1) * STREAM_SEND_MIN);
  /* Less the streams' headers, which may wait for acknowledgement too. */
  g_assert_cmpuint (accepted[0], >=, CONN_SEND_BUFFER - 4096);
  for (guint i = 1; i < BUDGET_STREAMS; i++)
    {
      g_assert_cmpuint (accepted[i], <=, STREAM_SEND_MIN);
      g_assert_cmpuint (accepted[i], >=, STREAM_SEND_MIN - 4096);
    }

  last = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (streams[BUDGET_STREAMS - 1])));
  deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  while (!g_pollable_output_stream_is_writable (last))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  reset_streams (streams, BUDGET_STREAMS);
}

#define BOUND_STREAMS 100

/* What each stream may hold whatever the others do counts only up to
 * twice the connection's budget in all: a peer that opens many streams
 * and never takes what they send cannot make this side buffer a quarter
 * of a MiB per stream.  100 streams take 16 MiB, not 8 MiB + 99 x
 * 256 KiB. */
static void
test_quic_send_bound (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(FoctetConnection) connection = dial_server (fixture);
  FoctetStream *streams[BOUND_STREAMS];
  gsize accepted[BOUND_STREAMS];
  gsize total = fill_streams_unacked (connection, streams, BOUND_STREAMS, accepted);

  g_test_message ("100 streams accepted %" G_GSIZE_FORMAT " KiB without acknowledgements", total / 1024);
  g_assert_cmpuint (total, <=, 2 * CONN_SEND_BUFFER + STREAM_SEND_MIN);
  g_assert_cmpuint (total, >=, 2 * CONN_SEND_BUFFER - BOUND_STREAMS * 4096);
  g_assert_cmpuint (accepted[BOUND_STREAMS - 1], ==, 0);
  reset_streams (streams, BOUND_STREAMS);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  transport_name = g_getenv ("FOCTET_TEST_TRANSPORT");
  if (transport_name == NULL)
    transport_name = "tls";

#define ADD(name, data, func) \
  G_STMT_START { \
    g_autofree char *path = g_strdup_printf ("/%s/%s", transport_name, name); \
    g_test_add (path, Fixture, data, fixture_setup, func, fixture_teardown); \
  } G_STMT_END
  ADD ("many-streams", NULL, test_many_streams);
  ADD ("reset", NULL, test_reset);
  ADD ("reset-writes", NULL, test_reset_writes);
  ADD ("hostname-addresses", NULL, test_hostname_addresses);
  ADD ("bad-header-refused", NULL, test_bad_header_refused);
  ADD ("wildcard-ipv6-only", NULL, test_wildcard_ipv6_only);
  ADD ("large-transfer", NULL, test_large_transfer);
  ADD ("wrong-node-id", NULL, test_wrong_node_id);
  ADD ("alpn", NULL, test_alpn);
  ADD ("ipv6", "ipv6", test_ipv6);
  ADD ("wildcard", "any", test_wildcard);
  ADD ("unreachable", NULL, test_unreachable);
  ADD ("unreachable-ipv6", "ipv6", test_unreachable);
  ADD ("connections-per-address", NULL, test_connections_per_address);
  ADD ("connections-per-address-dropped", NULL, test_connections_per_address_dropped);
  if (g_str_equal (transport_name, "tls"))
    {
      ADD ("garbage", NULL, test_garbage);
      ADD ("reset-before-accept", NULL, test_reset_before_accept);
      ADD ("refused-without-reset", NULL, test_refused_without_reset);
      ADD ("refused-linger-ends", NULL, test_refused_linger_ends);
      ADD ("slow-clients", NULL, test_slow_clients);
      ADD ("handshake-cap", NULL, test_handshake_cap);
      ADD ("handshake-idle-give-way", NULL, test_handshake_idle_give_way);
      ADD ("handshake-cap-per-address", NULL, test_handshake_cap_per_address);
      ADD ("yamux-violation", NULL, test_yamux_violation);
    }
  else if (g_str_equal (transport_name, "quic"))
    {
      ADD ("garbage", NULL, test_quic_garbage);
      ADD ("version-negotiation", NULL, test_quic_version_negotiation);
      ADD ("flood", NULL, test_quic_flood);
      ADD ("idle-timeout", NULL, test_quic_idle_timeout);
      ADD ("keepalive", NULL, test_quic_keepalive);
      ADD ("peer-killed", NULL, test_quic_peer_killed);
      ADD ("peer-stopped-upload", NULL, test_quic_peer_stopped_upload);
      ADD ("frozen-upload", NULL, test_quic_frozen_upload);
      ADD ("icmp-established", NULL, test_quic_icmp_established);
      ADD ("datagram-sizes", NULL, test_quic_datagram_sizes);
      ADD ("send-budget", NULL, test_quic_send_budget);
      ADD ("send-bound", NULL, test_quic_send_bound);
    }
#undef ADD

  return g_test_run ();
}

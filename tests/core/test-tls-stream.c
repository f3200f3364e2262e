/* test-tls-stream.c: the core's TLS 1.3 session (PROTOCOL §2) over real
 * sockets, between two of ours and against openssl s_client.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "foctet.h"
#include "test-utils.h"

static FoctetIdentity *
new_identity (void)
{
  g_autoptr(GError) error = NULL;
  FoctetIdentity *identity = foctet_identity_generate (&error);

  g_assert_no_error (error);
  return identity;
}

static void
socket_pair (GIOStream **a,
             GIOStream **b)
{
  GSocketConnection *ca = NULL, *cb = NULL;

  foctet_test_socket_pair (&ca, &cb);
  *a = G_IO_STREAM (ca);
  *b = G_IO_STREAM (cb);
}

typedef struct {
  FoctetTlsStream *client;
  FoctetTlsStream *server;
  GError *client_error;
  GError *server_error;
} Pair;

static void
pair_clear (Pair *pair)
{
  g_clear_object (&pair->client);
  g_clear_object (&pair->server);
  g_clear_error (&pair->client_error);
  g_clear_error (&pair->server_error);
}

/* Runs both handshakes over a fresh socket pair; the server insists on
 * @caller unless it is NULL. */
static void
handshake_pair_full (Pair               *pair,
                     FoctetIdentity     *client_id,
                     FoctetIdentity     *server_id,
                     const char         *client_alpn,
                     const char         *server_alpn,
                     const FoctetNodeId *expected,
                     const FoctetNodeId *caller)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  GAsyncResult *rc = NULL, *rs = NULL;

  socket_pair (&a, &b);
  foctet_tls_stream_handshake_async (a, client_id, FALSE, client_alpn, expected, 5000, NULL,
                                     foctet_test_store_result, &rc);
  foctet_tls_stream_handshake_async (b, server_id, TRUE, server_alpn, caller, 5000, NULL,
                                     foctet_test_store_result, &rs);
  GAsyncResult *client_result = foctet_test_wait_result (&rc, 10);
  GAsyncResult *server_result = foctet_test_wait_result (&rs, 10);
  pair->client = foctet_tls_stream_handshake_finish (client_result, &pair->client_error);
  pair->server = foctet_tls_stream_handshake_finish (server_result, &pair->server_error);
  g_object_unref (client_result);
  g_object_unref (server_result);
}

static void
handshake_pair (Pair               *pair,
                FoctetIdentity     *client_id,
                FoctetIdentity     *server_id,
                const char         *client_alpn,
                const char         *server_alpn,
                const FoctetNodeId *expected)
{
  handshake_pair_full (pair, client_id, server_id, client_alpn, server_alpn, expected, NULL);
}

typedef struct {
  GChecksum *sum;
  gsize received;
  gboolean done;
  GError *error;
  guint8 buffer[65536];
} Reader;

static void
reader_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Reader *reader = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &reader->error);

  if (n <= 0)
    {
      reader->done = TRUE;
      return;
    }
  g_checksum_update (reader->sum, reader->buffer, n);
  reader->received += n;
  g_input_stream_read_async (G_INPUT_STREAM (source), reader->buffer, sizeof reader->buffer,
                             G_PRIORITY_DEFAULT, NULL, reader_cb, reader);
}

static void
close_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_io_stream_close_finish (G_IO_STREAM (source), result, &error);
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

/* Sends @size bytes from @from to @to, closes @from and checks @to sees
 * the same bytes and then the end. */
static void
transfer (FoctetTlsStream *from,
          FoctetTlsStream *to,
          gsize            size)
{
  g_autofree guint8 *data = g_malloc (size);
  g_autoptr(GChecksum) sent = g_checksum_new (G_CHECKSUM_SHA256);
  Reader reader = { g_checksum_new (G_CHECKSUM_SHA256), 0, FALSE, NULL, { 0 } };
  GAsyncResult *result = NULL;
  gboolean closed = FALSE;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 31 + (i >> 12));
  g_checksum_update (sent, data, size);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (to)), reader.buffer,
                             sizeof reader.buffer, G_PRIORITY_DEFAULT, NULL, reader_cb, &reader);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (from)), data, size,
                                   G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 30);
  g_output_stream_write_all_finish (g_io_stream_get_output_stream (G_IO_STREAM (from)), result,
                                    &written, &error);
  g_object_unref (result);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, size);

  g_io_stream_close_async (G_IO_STREAM (from), G_PRIORITY_DEFAULT, NULL, close_cb, &closed);
  foctet_test_wait_for (&closed, 10);
  foctet_test_wait_for (&reader.done, 30);
  g_assert_no_error (reader.error);
  g_assert_cmpuint (reader.received, ==, size);
  g_assert_cmpstr (g_checksum_get_string (reader.sum), ==, g_checksum_get_string (sent));
  g_checksum_free (reader.sum);
}

static void
test_handshake_and_data (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autofree char *description = NULL;
  Pair pair = { 0 };

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN,
                  foctet_identity_get_node_id (server_id));
  g_assert_no_error (pair.client_error);
  g_assert_no_error (pair.server_error);
  g_assert_true (foctet_node_id_equal (foctet_tls_stream_get_peer_id (pair.client),
                                       foctet_identity_get_node_id (server_id)));
  g_assert_true (foctet_node_id_equal (foctet_tls_stream_get_peer_id (pair.server),
                                       foctet_identity_get_node_id (client_id)));
  g_assert_cmpstr (foctet_tls_stream_get_alpn (pair.client), ==, "foctet/1");
  description = foctet_tls_stream_get_description (pair.client);
  g_assert_nonnull (strstr (description, "TLS1.3"));
  g_assert_nonnull (strstr (description, "AES-128-GCM"));

  /* Both directions; 8 MiB fills the socket so writes must wait. */
  transfer (pair.server, pair.client, 8 * 1024 * 1024 + 17);
  pair_clear (&pair);

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN, NULL);
  g_assert_no_error (pair.client_error);
  g_assert_no_error (pair.server_error);
  transfer (pair.client, pair.server, 3 * 1024 * 1024 + 1);
  pair_clear (&pair);
}

static void
test_node_id_mismatch (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autoptr(FoctetIdentity) other_id = new_identity ();
  Pair pair = { 0 };

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN,
                  foctet_identity_get_node_id (other_id));
  g_assert_error (pair.client_error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  /* The listener hears why: alert bad_certificate. */
  g_assert_error (pair.server_error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (pair.server_error->message, "bad_certificate"));
  pair_clear (&pair);
}

/* A listener that expects one caller (the target of a relay circuit,
 * told who calls) refuses another with alert bad_certificate, and lets
 * that one in. */
static void
test_caller_mismatch (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autoptr(FoctetIdentity) other_id = new_identity ();
  Pair pair = { 0 };

  handshake_pair_full (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN,
                       foctet_identity_get_node_id (server_id), foctet_identity_get_node_id (other_id));
  g_assert_error (pair.server_error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  /* TLS 1.3: the client's handshake was over when it sent its
   * certificate; it hears the alert on its first read. */
  g_assert_no_error (pair.client_error);
  {
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GError) error = NULL;
    GAsyncResult *slot = NULL;
    guint8 byte;
    GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (pair.client));

    g_input_stream_read_async (in, &byte, 1, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
    result = foctet_test_wait_result (&slot, 10);
    g_assert_cmpint (g_input_stream_read_finish (in, result, &error), ==, -1);
    g_assert_nonnull (error);
    g_test_message ("the dialer: %s", error->message);
    g_assert_nonnull (strstr (error->message, "bad_certificate"));
  }
  pair_clear (&pair);

  handshake_pair_full (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN,
                       foctet_identity_get_node_id (server_id), foctet_identity_get_node_id (client_id));
  g_assert_no_error (pair.client_error);
  g_assert_no_error (pair.server_error);
  pair_clear (&pair);
}

/* After the handshake, the peer's connection ends in the middle of a
 * record (its process died while writing): the reader says the session
 * broke off, not that the peer "does not speak TLS 1.3", which is what a
 * malformed record means during a handshake. */
static void
test_cut_record (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  /* An application-data record header announcing 100 bytes, and 10. */
  static const guint8 cut[15] = { 23, 3, 3, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  GIOStream *base;
  GInputStream *in;
  Pair pair = { 0 };
  guint8 byte;

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN,
                  foctet_identity_get_node_id (server_id));
  g_assert_no_error (pair.client_error);
  g_assert_no_error (pair.server_error);
  base = foctet_tls_stream_get_base_stream (pair.server);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (base), cut, sizeof cut, NULL, NULL,
                                            &error));
  g_assert_no_error (error);
  g_assert_true (g_io_stream_close (base, NULL, &error));
  g_assert_no_error (error);

  in = g_io_stream_get_input_stream (G_IO_STREAM (pair.client));
  g_input_stream_read_async (in, &byte, 1, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 10);
  g_assert_cmpint (g_input_stream_read_finish (in, result, &error), ==, -1);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_null (strstr (error->message, "does not speak TLS 1.3"));
  g_assert_nonnull (strstr (error->message, "TLS session"));
  pair_clear (&pair);
}

static void
test_alpn_mismatch (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  Pair pair = { 0 };

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN_RELAY, FOCTET_TLS_ALPN, NULL);
  g_assert_error (pair.server_error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (pair.server_error->message, "ALPN"));
  g_assert_error (pair.client_error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (pair.client_error->message, "no_application_protocol"));
  pair_clear (&pair);
}

/* A peer that says nothing (slowloris) is cut off by the timeout. */
static void
test_timeout (void)
{
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  gint64 start = g_get_monotonic_time ();
  FoctetTlsStream *tls;

  socket_pair (&a, &b);
  foctet_tls_stream_handshake_async (b, server_id, TRUE, FOCTET_TLS_ALPN, NULL, 300, NULL,
                                     foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 10);
  tls = foctet_tls_stream_handshake_finish (result, &error);
  g_object_unref (result);
  g_assert_null (tls);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 250 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static void
test_cancel (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  GAsyncResult *result = NULL;
  FoctetTlsStream *tls;

  socket_pair (&a, &b);
  foctet_tls_stream_handshake_async (a, client_id, FALSE, FOCTET_TLS_ALPN, NULL, 0, cancellable,
                                     foctet_test_store_result, &result);
  g_cancellable_cancel (cancellable);
  result = foctet_test_wait_result (&result, 10);
  tls = foctet_tls_stream_handshake_finish (result, &error);
  g_object_unref (result);
  g_assert_null (tls);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* Garbage, or a peer that hangs up halfway: a clear error, at once. */
static void
test_garbage_and_hangup (void)
{
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  const char *inputs[] = { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\x00", "" };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr(GIOStream) a = NULL;
      g_autoptr(GIOStream) b = NULL;
      g_autoptr(GError) error = NULL;
      GAsyncResult *result = NULL;
      FoctetTlsStream *tls;

      socket_pair (&a, &b);
      foctet_tls_stream_handshake_async (b, server_id, TRUE, FOCTET_TLS_ALPN, NULL, 5000, NULL,
                                         foctet_test_store_result, &result);
      g_output_stream_write_all (g_io_stream_get_output_stream (a), inputs[i], strlen (inputs[i]),
                                 NULL, NULL, &error);
      g_assert_no_error (error);
      g_io_stream_close (a, NULL, &error);
      g_assert_no_error (error);
      result = foctet_test_wait_result (&result, 10);
      tls = foctet_tls_stream_handshake_finish (result, &error);
      g_object_unref (result);
      g_assert_null (tls);
      g_assert_nonnull (error);
      g_test_message ("input %u: %s", i, error->message);
      g_assert_false (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT));
    }
}

/* openssl s_client, with our identity's certificate and key, against our
 * listener: accepted as it should be, and refused without ALPN or without
 * a client certificate.  With @alert, the client must say it got that
 * alert (a TLS 1.3 client learns of a refused certificate after its own
 * handshake, when it reads). */
static void
run_s_client (FoctetIdentity *server_id,
              const char     *dir,
              gboolean        with_alpn,
              gboolean        with_cert,
              const char     *alert,
              GError        **server_error)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autofree char *cert_pem = foctet_identity_get_certificate_pem (client_id);
  g_autofree char *key_pem = foctet_identity_export_private_key_pem (client_id);
  g_autofree char *cert_path = g_build_filename (dir, "c.pem", NULL);
  g_autofree char *key_path = g_build_filename (dir, "k.pem", NULL);
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autofree char *connect = NULL;
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  FoctetTlsStream *tls;

  g_file_set_contents_full (cert_path, cert_pem, -1, 0, 0600, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (key_path, key_pem, -1, 0, 0600, &error);
  g_assert_no_error (error);

  g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  connect = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));

  g_strv_builder_add_many (builder, "openssl", "s_client", "-connect", connect, "-tls1_3", "-quiet", NULL);
  if (with_alpn)
    g_strv_builder_add_many (builder, "-alpn", "foctet/1", NULL);
  if (with_cert)
    g_strv_builder_add_many (builder, "-cert", cert_path, "-key", key_path, NULL);
  argv = g_strv_builder_end (builder);
  client = g_subprocess_newv ((const char * const *) argv,
                              G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);

  g_socket_listener_accept_async (listener, NULL, foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 10);
  connection = g_socket_listener_accept_finish (listener, result, NULL, &error);
  g_object_unref (result);
  g_assert_no_error (error);

  result = NULL;
  foctet_tls_stream_handshake_async (G_IO_STREAM (connection), server_id, TRUE, FOCTET_TLS_ALPN, NULL,
                                     5000, NULL, foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 10);
  tls = foctet_tls_stream_handshake_finish (result, server_error);
  g_object_unref (result);
  if (tls != NULL)
    {
      g_assert_true (foctet_node_id_equal (foctet_tls_stream_get_peer_id (tls),
                                           foctet_identity_get_node_id (client_id)));
      g_object_unref (tls);
    }
  g_clear_object (&connection);
  if (alert != NULL)
    {
      g_autoptr(GDataInputStream) err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (client));
      g_autofree char *text = NULL;
      gsize len;

      /* It reads the alert and exits (its stdin stays open). */
      result = NULL;
      g_subprocess_wait_async (client, NULL, foctet_test_store_result, &result);
      result = foctet_test_wait_result (&result, 10);
      g_object_unref (result);
      text = g_data_input_stream_read_upto (err, "", 0, &len, NULL, &error);
      g_assert_no_error (error);
      g_test_message ("openssl s_client: %s", text);
      g_assert_nonnull (strstr (text, alert));
    }
  g_subprocess_force_exit (client);
  g_subprocess_wait (client, NULL, NULL);
}

static void
test_openssl_client (void)
{
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autofree char *dir = NULL;
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  GError *error = NULL;

  g_assert_nonnull (openssl);
  dir = foctet_test_make_tmpdir ();

  run_s_client (server_id, dir, TRUE, TRUE, NULL, &error);
  g_assert_no_error (error);

  run_s_client (server_id, dir, FALSE, TRUE, "no application protocol", &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (error->message, "ALPN"));
  g_clear_error (&error);

  /* PROTOCOL §2: not exactly one certificate, alert bad_certificate (not
   * TLS 1.3's certificate_required, which GnuTLS would send if told to
   * require one). */
  run_s_client (server_id, dir, TRUE, FALSE, "alert bad certificate", &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
  g_assert_nonnull (strstr (error->message, "0 certificates"));
  g_clear_error (&error);

  foctet_test_remove_tree (dir);
}

/* Reads @in until a line starting with @prefix (at most 1000 lines). */
static void
expect_line (GDataInputStream *in,
             const char       *prefix)
{
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *line = foctet_test_read_line (in, 10);

      if (line == NULL)
        g_error ("openssl s_server ended before printing “%s”", prefix);
      if (g_str_has_prefix (line, prefix))
        return;
    }
  g_error ("openssl s_server printed no “%s” in 1000 lines", prefix);
}

/* Starts openssl s_server (TLS 1.3, one connection) in @dir with
 * @server_id's certificate and the @extra options; returns it, its
 * stdout (stderr merged) in @out, and a TCP connection to it. */
static GSubprocess *
start_s_server (FoctetIdentity      *server_id,
                const char          *dir,
                const char * const  *extra,
                GDataInputStream   **out,
                GSocketConnection  **connection)
{
  g_autofree char *cert_pem = foctet_identity_get_certificate_pem (server_id);
  g_autofree char *key_pem = foctet_identity_export_private_key_pem (server_id);
  g_autofree char *cert_path = g_build_filename (dir, "c.pem", NULL);
  g_autofree char *key_path = g_build_filename (dir, "k.pem", NULL);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSubprocess *server;
  char *line = NULL;

  g_file_set_contents_full (cert_path, cert_pem, -1, 0, 0600, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (key_path, key_pem, -1, 0, 0600, &error);
  g_assert_no_error (error);
  g_strv_builder_add_many (builder, "openssl", "s_server", "-tls1_3", "-accept", "127.0.0.1:0", "-naccept", "1",
                           "-cert", cert_path, "-key", key_path, NULL);
  g_strv_builder_addv (builder, (const char **) extra);
  argv = g_strv_builder_end (builder);
  server = g_subprocess_newv ((const char * const *) argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                              G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  *out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  /* "ACCEPT 127.0.0.1:PORT", after a line or two of its own. */
  for (guint i = 0; i < 5 && (line == NULL || !g_str_has_prefix (line, "ACCEPT ")); i++)
    {
      g_free (line);
      line = foctet_test_read_line (*out, 10);
      g_assert_nonnull (line);
    }
  g_assert_true (g_str_has_prefix (line, "ACCEPT "));
  *connection = g_socket_client_connect_to_host (client, line + strlen ("ACCEPT "), 0, NULL, &error);
  g_free (line);
  g_assert_no_error (error);
  return server;
}

/* Our dialer's handshake with @server_id over @connection. */
static FoctetTlsStream *
dial_s_server (GSocketConnection  *connection,
               FoctetIdentity     *client_id,
               FoctetIdentity     *server_id,
               GError            **error)
{
  GAsyncResult *result = NULL;
  FoctetTlsStream *tls;

  foctet_tls_stream_handshake_async (G_IO_STREAM (connection), client_id, FALSE, FOCTET_TLS_ALPN,
                                     foctet_identity_get_node_id (server_id), 5000, NULL,
                                     foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 10);
  tls = foctet_tls_stream_handshake_finish (result, error);
  g_object_unref (result);
  return tls;
}

/* Our dialer against openssl s_server, which does no ALPN: the listener
 * chose no value, so the dialer aborts the handshake with
 * no_application_protocol as soon as it sees the listener's certificate
 * (foctet_gnutls_handshake_check ()), and s_server says it got that
 * alert. */
static void
test_openssl_server_without_alpn (void)
{
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autofree char *dir = foctet_test_make_tmpdir ();
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  GAsyncResult *result = NULL;
  FoctetTlsStream *tls;
  gsize len;

  server = start_s_server (server_id, dir, (const char * const []) { NULL }, &out, &connection);
  tls = dial_s_server (connection, client_id, server_id, &error);
  g_assert_null (tls);
  g_test_message ("dialer: %s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED);
  g_assert_nonnull (strstr (error->message, "did not accept the ALPN value"));
  g_clear_error (&error);
  g_clear_object (&connection);

  /* It serves one connection (-naccept 1), then exits. */
  result = NULL;
  g_subprocess_wait_async (server, NULL, foctet_test_store_result, &result);
  result = foctet_test_wait_result (&result, 10);
  g_object_unref (result);
  text = g_data_input_stream_read_upto (out, "", 0, &len, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("openssl s_server: %s", text);
  g_assert_nonnull (strstr (text, "no application protocol"));
  foctet_test_remove_tree (dir);
}

/* A TLS 1.3 KeyUpdate from the peer (openssl s_server's "K" command, which
 * also asks for one back): the stream reads what the peer sends under its
 * new keys, and answers with a KeyUpdate of its own before its next
 * record, which the peer then reads (s_server -msg shows both). */
static void
test_openssl_key_update (void)
{
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autofree char *dir = foctet_test_make_tmpdir ();
  const char * const extra[] = { "-alpn", "foctet/1", "-msg", "-ign_eof", NULL };
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(FoctetTlsStream) tls = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *server_in;
  GAsyncResult *result = NULL;
  char got[64] = { 0 };
  gsize have = 0;

  server = start_s_server (server_id, dir, extra, &out, &connection);
  server_in = g_subprocess_get_stdin_pipe (server);
  tls = dial_s_server (connection, client_id, server_id, &error);
  g_assert_no_error (error);

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (tls)), "before\n", 7,
                                            NULL, NULL, &error));
  g_assert_no_error (error);
  expect_line (out, "before");

  /* s_server updates its keys and asks us to update ours. */
  g_assert_true (g_output_stream_write_all (server_in, "K\n", 2, NULL, NULL, &error));
  g_assert_no_error (error);
  expect_line (out, ">>> TLS 1.3, Handshake [length 0005], KeyUpdate");
  g_assert_true (g_output_stream_write_all (server_in, "after\n", 6, NULL, NULL, &error));
  g_assert_no_error (error);
  while (have < 6)
    {
      gssize n;

      result = NULL;
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (tls)), got + have,
                                 sizeof got - 1 - have, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result,
                                 &result);
      result = foctet_test_wait_result (&result, 10);
      n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (tls)), result, &error);
      g_object_unref (result);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      have += n;
    }
  g_assert_cmpstr (got, ==, "after\n");

  /* Our KeyUpdate, then our data under the new keys. */
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (tls)), "reply\n", 6,
                                            NULL, NULL, &error));
  g_assert_no_error (error);
  expect_line (out, "<<< TLS 1.3, Handshake [length 0005], KeyUpdate");
  expect_line (out, "reply");

  g_subprocess_force_exit (server);
  g_subprocess_wait (server, NULL, NULL);
  foctet_test_remove_tree (dir);
}

typedef struct {
  gsize received;
  gsize wanted;
  gboolean reached;
  GError *error;
  guint8 buffer[65536];
} Counter;

static void
counter_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Counter *counter = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &counter->error);

  if (n > 0)
    counter->received += n;
  if (n <= 0 || counter->received >= counter->wanted)
    {
      counter->reached = TRUE;
      return;
    }
  g_input_stream_read_async (G_INPUT_STREAM (source), counter->buffer, sizeof counter->buffer,
                             G_PRIORITY_DEFAULT, NULL, counter_cb, counter);
}

/* Records the socket did not take go out once it can, with no further
 * write and no close to push them: the writer fills the socket (its
 * nonblocking writes are accepted until the stream's own buffer is full
 * too), stops, and the reader must still get every byte accepted.  Twice
 * over, so that the stream's flush is armed again after it went idle. */
static void
test_flush_without_writes (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  static guint8 chunk[64 * 1024];
  Counter counter = { 0 };
  Pair pair = { 0 };
  GPollableOutputStream *out;

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN, NULL);
  g_assert_no_error (pair.server_error);
  out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (pair.server)));

  for (guint round = 0; round < 2; round++)
    {
      gsize accepted = 0;
      gboolean blocked = FALSE;

      for (guint i = 0; i < 1024 && !blocked; i++)    /* 64 MiB at the most */
        {
          g_autoptr(GError) error = NULL;
          gssize n = g_pollable_output_stream_write_nonblocking (out, chunk, sizeof chunk, NULL, &error);

          if (n < 0)
            g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          blocked = n < 0;
          accepted += MAX (n, 0);
        }
      g_assert_true (blocked);
      g_assert_cmpuint (accepted, >, 0);

      counter.wanted += accepted;
      counter.reached = FALSE;
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (pair.client)), counter.buffer,
                                 sizeof counter.buffer, G_PRIORITY_DEFAULT, NULL, counter_cb, &counter);
      foctet_test_wait_for (&counter.reached, 10);
      g_assert_no_error (counter.error);
      g_assert_cmpuint (counter.received, ==, counter.wanted);
    }
  pair_clear (&pair);
}

/* After the flush source sent everything and went quiet, the peer hangs
 * up: the socket then reports the hang-up at every poll, and the stream,
 * which nobody reads or writes, must not dispatch on it again and again. */
static void
test_flush_then_hang_up (void)
{
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  static guint8 chunk[64 * 1024];
  Counter counter = { 0 };
  Pair pair = { 0 };
  GPollableOutputStream *out;
  gboolean blocked = FALSE;
  guint busy = 0;
  gint64 end;

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN, NULL);
  g_assert_no_error (pair.server_error);
  out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (pair.server)));
  for (guint i = 0; i < 1024 && !blocked; i++)    /* 64 MiB at the most */
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (out, chunk, sizeof chunk, NULL, &error);

      if (n < 0)
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      blocked = n < 0;
      counter.wanted += MAX (n, 0);
    }
  g_assert_true (blocked);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (pair.client)), counter.buffer,
                             sizeof counter.buffer, G_PRIORITY_DEFAULT, NULL, counter_cb, &counter);
  foctet_test_wait_for (&counter.reached, 10);
  g_assert_no_error (counter.error);
  g_assert_cmpuint (counter.received, ==, counter.wanted);

  g_clear_object (&pair.client);
  for (end = g_get_monotonic_time () + 300 * 1000; g_get_monotonic_time () < end;)
    {
      if (g_main_context_iteration (NULL, FALSE))
        busy++;
      else
        g_usleep (1000);
    }
  g_test_message ("%u dispatches in 300 ms after the hang-up", busy);
  g_assert_cmpuint (busy, <, 50);
  pair_clear (&pair);
}

static gboolean
writable_cb (GObject  *stream,
             gpointer  user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Vectored writes, as yamux makes them: 12-byte headers between
 * payloads of odd sizes, empty vectors, several records' worth in one
 * call.  Everything arrives in order; a write the socket cannot take all
 * of reports what it took (part of a vector, or would-block with nothing
 * taken) and the next one resumes there. */
static void
test_writev (void)
{
  static const gsize pieces[] = { 12, 70001, 0, 12, 16384, 1, 12, 300000, 5, 16383, 12, 262144 };
  const gsize size = 48 * 1024 * 1024;
  g_autoptr(FoctetIdentity) client_id = new_identity ();
  g_autoptr(FoctetIdentity) server_id = new_identity ();
  g_autofree guint8 *data = g_malloc (size);
  g_autoptr(GChecksum) sent = g_checksum_new (G_CHECKSUM_SHA256);
  Reader reader = { g_checksum_new (G_CHECKSUM_SHA256), 0, FALSE, NULL, { 0 } };
  GPollableOutputStream *out;
  gsize pos = 0, piece = 0, piece_start = 0;
  guint calls = 0, blocked = 0, partial = 0;
  gboolean closed = FALSE;
  Pair pair = { 0 };

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 131 + (i >> 10));
  g_checksum_update (sent, data, size);

  handshake_pair (&pair, client_id, server_id, FOCTET_TLS_ALPN, FOCTET_TLS_ALPN, NULL);
  g_assert_no_error (pair.server_error);
  g_assert_no_error (pair.client_error);
  out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (pair.server)));
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (pair.client)), reader.buffer,
                             sizeof reader.buffer, G_PRIORITY_DEFAULT, NULL, reader_cb, &reader);

  while (pos < size && calls < 100000)
    {
      GOutputVector vectors[16];
      g_autoptr(GError) error = NULL;
      gsize n_vectors = 0, offered = 0, written = 0, start = pos, p = piece, p_start = piece_start;
      GPollableReturn ret;

      /* The pieces from @pos on, the first one cut where the last write
       * stopped. */
      while (n_vectors < G_N_ELEMENTS (vectors) && start < size)
        {
          gsize end = MIN (p_start + pieces[p % G_N_ELEMENTS (pieces)], size);

          vectors[n_vectors].buffer = data + start;
          vectors[n_vectors].size = end - start;
          offered += end - start;
          n_vectors++;
          start = p_start = end;
          p++;
        }

      ret = g_pollable_output_stream_writev_nonblocking (out, vectors, n_vectors, &written, NULL, &error);
      calls++;
      g_assert_no_error (error);
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        {
          g_autoptr(GSource) source = g_pollable_output_stream_create_source (out, NULL);
          gboolean ready = FALSE;

          g_assert_cmpuint (written, ==, 0);
          blocked++;
          g_source_set_callback (source, G_SOURCE_FUNC (writable_cb), &ready, NULL);
          g_source_attach (source, NULL);
          foctet_test_wait_for (&ready, 10);
          g_source_destroy (source);
          continue;
        }
      g_assert_cmpint (ret, ==, G_POLLABLE_RETURN_OK);
      g_assert_cmpuint (written, >, 0);
      g_assert_cmpuint (written, <=, offered);
      if (written < offered)
        partial++;
      pos += written;
      while (piece_start + pieces[piece % G_N_ELEMENTS (pieces)] <= pos && piece_start < size)
        piece_start += pieces[piece++ % G_N_ELEMENTS (pieces)];
    }
  g_test_message ("%u vectored writes, %u partial, %u would block", calls, partial, blocked);
  g_assert_cmpuint (pos, ==, size);
  /* The socket filled up at least once: the partial paths ran. */
  g_assert_cmpuint (blocked + partial, >, 0);

  g_io_stream_close_async (G_IO_STREAM (pair.server), G_PRIORITY_DEFAULT, NULL, close_cb, &closed);
  foctet_test_wait_for (&closed, 10);
  foctet_test_wait_for (&reader.done, 30);
  g_assert_no_error (reader.error);
  g_assert_cmpuint (reader.received, ==, size);
  g_assert_cmpstr (g_checksum_get_string (reader.sum), ==, g_checksum_get_string (sent));
  g_checksum_free (reader.sum);
  pair_clear (&pair);
}


int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tls-stream/handshake-and-data", test_handshake_and_data);
  g_test_add_func ("/tls-stream/flush-without-writes", test_flush_without_writes);
  g_test_add_func ("/tls-stream/writev", test_writev);
  g_test_add_func ("/tls-stream/flush-then-hang-up", test_flush_then_hang_up);
  g_test_add_func ("/tls-stream/node-id-mismatch", test_node_id_mismatch);
  g_test_add_func ("/tls-stream/caller-mismatch", test_caller_mismatch);
  g_test_add_func ("/tls-stream/cut-record", test_cut_record);
  g_test_add_func ("/tls-stream/alpn-mismatch", test_alpn_mismatch);
  g_test_add_func ("/tls-stream/timeout", test_timeout);
  g_test_add_func ("/tls-stream/cancel", test_cancel);
  g_test_add_func ("/tls-stream/garbage-and-hangup", test_garbage_and_hangup);
  g_test_add_func ("/tls-stream/openssl-client", test_openssl_client);
  g_test_add_func ("/tls-stream/openssl-server-without-alpn", test_openssl_server_without_alpn);
  g_test_add_func ("/tls-stream/openssl-key-update", test_openssl_key_update);

  return g_test_run ();
}

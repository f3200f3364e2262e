/* netns-peer.c: the two ends of the integrity check — a node that receives
 * seeded pseudo-random bytes on a protocol of its own and reports their
 * SHA-256, and one that sends them.  Both load the transports from the
 * plugin directories through the registry, like any application.  And,
 * to show what a capture sees of bytes sent in the clear, the same over
 * plain TCP.
 *
 *   netns-peer serve URI
 *       listen on URI; first stdout line: the ticket; then one line per
 *       finished transfer: "received BYTES sha256=HEX"; until SIGTERM or
 *       SIGINT, then exit 0, or 1 if a transfer failed.
 *   netns-peer send TICKET TRANSPORT UPLOAD DOWNLOAD SEED
 *       send UPLOAD bytes of the stream of SEED, or of NETNS_MARKER
 *       repeated if SEED is "marker", ask for DOWNLOAD bytes back (of the
 *       stream of SEED + 1, 1 for "marker"); stdout: "received BYTES
 *       sha256=HEX"; exit 0 once the transfer ended, 1 on an error or
 *       after TIMEOUT seconds.
 *   netns-peer budget TICKET TRANSPORT UPLOAD
 *       upload UPLOAD bytes with the perf protocol, so that the connection's
 *       congestion window grows to what the path holds, then open a
 *       foctet/ping/1 stream and write to it without letting the main
 *       loop turn (nothing is acknowledged meanwhile) until a write would
 *       block, 64 MiB at most; stdout: "accepted BYTES"; exit 0.
 *   netns-peer sink HOST:PORT
 *       listen on HOST:PORT (TCP, no encryption, port 0: any); first
 *       stdout line: the HOST:PORT bound; take one connection, read it to
 *       its end, print "received BYTES sha256=HEX", exit 0.
 *   netns-peer plain HOST:PORT BYTES
 *       connect over TCP, no encryption, write BYTES of NETNS_MARKER
 *       repeated, close; exit 0 once the sink closed too.
 *
 * Checking the digests is the test's business (netns-data.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <foctet.h>

#include "netns-data.h"

#define TIMEOUT 60
#define CHUNK 65536

static GMainLoop *loop;
static int exit_status;

typedef struct {
  FoctetNode *node;
  FoctetStream *stream;
  GChecksum *checksum;
  NetnsData data;
  guint8 header[NETNS_INTEGRITY_HEADER_SIZE];
  guint64 upload, download, seed;
  guint64 sent, received;
  gboolean initiator;
  gboolean marker;               /* the opener uploads NETNS_MARKER */
  guint8 buf[CHUNK];
} Transfer;

static void
fail (const char   *what,
      const GError *error)
{
  g_printerr ("netns-peer: %s: %s\n", what, error != NULL ? error->message : "failed");
  exit_status = 1;
}

static void
transfer_free (Transfer *t)
{
  g_clear_object (&t->stream);
  g_clear_object (&t->node);
  g_clear_pointer (&t->checksum, g_checksum_free);
  g_free (t);
}

static GInputStream *
input_of (Transfer *t)
{
  return g_io_stream_get_input_stream (G_IO_STREAM (t->stream));
}

static GOutputStream *
output_of (Transfer *t)
{
  return g_io_stream_get_output_stream (G_IO_STREAM (t->stream));
}

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!foctet_node_shutdown_finish (FOCTET_NODE (source), result, &error))
    fail ("shutdown", error);
  g_main_loop_quit (loop);
}

/* The end of a transfer: the acceptor closes its stream and waits for the
 * next; the opener shuts its node down and exits. */
static void
transfer_done (Transfer     *t,
               const char   *what,
               const GError *error)
{
  if (what != NULL)
    fail (what, error);
  g_io_stream_close_async (G_IO_STREAM (t->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  if (t->initiator)
    foctet_node_shutdown_async (t->node, NULL, shutdown_cb, NULL);
  transfer_free (t);
}

static void
report (Transfer *t)
{
  g_print ("received %" G_GUINT64_FORMAT " sha256=%s\n", t->received, g_checksum_get_string (t->checksum));
  fflush (stdout);
}

static void write_some (Transfer *t, guint64 total, void (*then) (Transfer *));

typedef struct {
  Transfer *t;
  guint64 total;
  void (*then) (Transfer *);
} WriteStep;

static void
write_step_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WriteStep step = *(WriteStep *) user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  g_free (user_data);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error))
    {
      transfer_done (step.t, "write", error);
      return;
    }
  step.t->sent += written;
  write_some (step.t, step.total, step.then);
}

/* Writes the data stream until @total bytes were sent, then calls @then. */
static void
write_some (Transfer *t,
            guint64   total,
            void    (*then) (Transfer *))
{
  WriteStep *step;
  gsize n;

  if (t->sent == total)
    {
      then (t);
      return;
    }
  n = MIN (total - t->sent, (guint64) CHUNK);
  netns_data_fill (&t->data, t->buf, n);
  step = g_new (WriteStep, 1);
  step->t = t;
  step->total = total;
  step->then = then;
  g_output_stream_write_all_async (output_of (t), t->buf, n, G_PRIORITY_DEFAULT, NULL, write_step_cb, step);
}

static void read_some (Transfer *t, void (*at_end) (Transfer *));

typedef struct {
  Transfer *t;
  void (*at_end) (Transfer *);
} ReadStep;

static void
read_step_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadStep step = *(ReadStep *) user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  g_free (user_data);
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      transfer_done (step.t, "read", error);
      return;
    }
  if (n == 0)
    {
      step.at_end (step.t);
      return;
    }
  g_checksum_update (step.t->checksum, step.t->buf, n);
  step.t->received += n;
  read_some (step.t, step.at_end);
}

/* Reads and hashes until end of stream, then calls @at_end. */
static void
read_some (Transfer *t,
           void    (*at_end) (Transfer *))
{
  ReadStep *step = g_new (ReadStep, 1);

  step->t = t;
  step->at_end = at_end;
  g_input_stream_read_async (input_of (t), t->buf, sizeof t->buf, G_PRIORITY_DEFAULT, NULL,
                             read_step_cb, step);
}

/* The acceptor. */

static void
serve_answered (Transfer *t)
{
  transfer_done (t, NULL, NULL);
}

static void
serve_received (Transfer *t)
{
  report (t);
  netns_data_init (&t->data, t->seed + 1);
  t->sent = 0;
  write_some (t, t->download, serve_answered);
}

static void
header_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;
  gsize got = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &got, &error) ||
      got != sizeof t->header)
    {
      transfer_done (t, "header", error);
      return;
    }
  t->upload = GUINT64_FROM_BE (*(guint64 *) (gpointer) t->header);
  t->download = GUINT64_FROM_BE (*(guint64 *) (gpointer) (t->header + 8));
  t->seed = GUINT64_FROM_BE (*(guint64 *) (gpointer) (t->header + 16));
  read_some (t, serve_received);
}

static void
integrity_handler (FoctetNode       *node,
                   FoctetConnection *connection,
                   FoctetStream     *stream,
                   gpointer          user_data)
{
  Transfer *t = g_new0 (Transfer, 1);

  t->stream = g_object_ref (stream);
  t->checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_input_stream_read_all_async (input_of (t), t->header, sizeof t->header, G_PRIORITY_DEFAULT, NULL,
                                 header_read_cb, t);
}

static gboolean
stop_cb (gpointer user_data)
{
  FoctetNode *node = user_data;
  static gboolean stopping;

  if (!stopping)
    foctet_node_shutdown_async (node, NULL, shutdown_cb, NULL);
  stopping = TRUE;
  return G_SOURCE_CONTINUE;
}

static void
listen_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  FoctetNode *node = FOCTET_NODE (source);
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = foctet_node_listen_finish (node, result, &error);
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autofree char *text = NULL;

  if (uri == NULL)
    {
      fail ("listen", error);
      g_main_loop_quit (loop);
      return;
    }
  ticket = foctet_node_get_ticket (node);
  text = foctet_ticket_to_string (ticket);
  g_print ("%s\n", text);
  fflush (stdout);
  g_printerr ("listening on %s\n", uri);
}

static int
serve (FoctetNode *node,
       const char *uri)
{
  guint sigterm, sigint;

  foctet_node_set_protocol_handler (node, NETNS_INTEGRITY_PROTOCOL, integrity_handler, NULL, NULL);
  foctet_node_listen_async (node, uri, NULL, listen_cb, NULL);
  sigterm = g_unix_signal_add (SIGTERM, stop_cb, node);
  sigint = g_unix_signal_add (SIGINT, stop_cb, node);
  g_main_loop_run (loop);
  g_source_remove (sigterm);
  g_source_remove (sigint);
  return exit_status;
}

/* The opener. */

static void
send_received (Transfer *t)
{
  report (t);
  transfer_done (t, NULL, NULL);
}

static void
send_close_write_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    {
      transfer_done (t, "close", error);
      return;
    }
  read_some (t, send_received);
}

static void
send_sent (Transfer *t)
{
  foctet_stream_close_write_async (t->stream, G_PRIORITY_DEFAULT, NULL, send_close_write_cb, t);
}

static void
header_written_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      transfer_done (t, "write", error);
      return;
    }
  if (t->marker)
    netns_data_init_marker (&t->data);
  else
    netns_data_init (&t->data, t->seed);
  write_some (t, t->upload, send_sent);
}

static void
stream_opened_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;
  guint64 header[3];

  t->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  g_object_unref (source);
  if (t->stream == NULL)
    {
      fail ("open stream", error);
      foctet_node_shutdown_async (t->node, NULL, shutdown_cb, NULL);
      transfer_free (t);
      return;
    }
  header[0] = GUINT64_TO_BE (t->upload);
  header[1] = GUINT64_TO_BE (t->download);
  header[2] = GUINT64_TO_BE (t->seed);
  memcpy (t->header, header, sizeof header);
  g_output_stream_write_all_async (output_of (t), t->header, sizeof t->header, G_PRIORITY_DEFAULT, NULL,
                                   header_written_cb, t);
}

static void
dialed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Transfer *t = user_data;
  g_autoptr(GError) error = NULL;
  FoctetConnection *connection = foctet_node_dial_finish (t->node, result, &error);

  if (connection == NULL)
    {
      fail ("connect", error);
      foctet_node_shutdown_async (t->node, NULL, shutdown_cb, NULL);
      transfer_free (t);
      return;
    }
  /* The reference is dropped in stream_opened_cb. */
  foctet_connection_open_stream_async (connection, NETNS_INTEGRITY_PROTOCOL, NULL, stream_opened_cb, t);
}

static gboolean
timeout_cb (gpointer user_data)
{
  g_printerr ("netns-peer: no end after %d s\n", TIMEOUT);
  exit (1);
  return G_SOURCE_REMOVE;
}

static int
run_send (FoctetNode *node,
      char      **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (argv[0], &error);
  Transfer *t;

  if (ticket == NULL)
    {
      fail ("ticket", error);
      return 2;
    }
  t = g_new0 (Transfer, 1);
  t->node = g_object_ref (node);
  t->initiator = TRUE;
  t->checksum = g_checksum_new (G_CHECKSUM_SHA256);
  t->upload = g_ascii_strtoull (argv[2], NULL, 10);
  t->download = g_ascii_strtoull (argv[3], NULL, 10);
  t->marker = g_str_equal (argv[4], "marker");
  t->seed = t->marker ? 0 : g_ascii_strtoull (argv[4], NULL, 10);
  foctet_node_dial_async (node, ticket, argv[1], NULL, dialed_cb, t);
  g_timeout_add_seconds (TIMEOUT, timeout_cb, NULL);
  g_main_loop_run (loop);
  return exit_status;
}

/* Budget: how much one stream may hold unacknowledged on a warm
 * connection. */

#define BUDGET_MAX (64 * 1024 * 1024)

static void
store_result_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Runs the main context until @slot is filled (timeout_cb bounds it). */
static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_steal_pointer (slot);
}

static int
run_budget (FoctetNode *node,
            char      **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (argv[0], &error);
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetPerfResult) perf = NULL;
  g_autoptr(FoctetStream) stream = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree guint8 *piece = g_malloc0 (CHUNK);
  GAsyncResult *slot = NULL;
  GPollableOutputStream *output;
  guint64 upload = g_ascii_strtoull (argv[2], NULL, 10);
  gsize accepted = 0;

  if (ticket == NULL)
    {
      fail ("ticket", error);
      return 2;
    }
  g_timeout_add_seconds (TIMEOUT, timeout_cb, NULL);
  foctet_node_dial_async (node, ticket, argv[1], NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  connection = foctet_node_dial_finish (node, result, &error);
  g_clear_object (&result);
  if (connection == NULL)
    {
      fail ("connect", error);
      return 1;
    }
  foctet_perf_run_async (connection, upload, 0, NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  perf = foctet_perf_run_finish (result, &error);
  g_clear_object (&result);
  if (perf == NULL)
    {
      fail ("perf", error);
      return 1;
    }
  foctet_connection_open_stream_async (connection, "foctet/ping/1", NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  stream = foctet_connection_open_stream_finish (connection, result, &error);
  if (stream == NULL)
    {
      fail ("open stream", error);
      return 1;
    }
  output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (stream)));
  while (accepted < BUDGET_MAX)
    {
      gssize n = g_pollable_output_stream_write_nonblocking (output, piece, CHUNK, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n < 0)
        {
          fail ("write", error);
          return 1;
        }
      accepted += n;
    }
  g_print ("accepted %" G_GSIZE_FORMAT "\n", accepted);
  foctet_stream_reset (stream, 0);
  foctet_node_shutdown_async (node, NULL, shutdown_cb, NULL);
  g_main_loop_run (loop);
  return exit_status;
}

/* Plain TCP: the control that shows what a capture sees in the clear. */

static GInetSocketAddress *
parse_address (const char  *text,
               GError     **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) address = NULL;
  guint16 port = 0;

  if (!foctet_parse_host_port (text, &host, &port, error))
    return NULL;
  address = g_inet_address_new_from_string (host);
  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not an IP address: %s", host);
      return NULL;
    }
  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (address, port));
}

static int
run_sink (const char *listen)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetSocketAddress) address = parse_address (listen, &error);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocket) connection = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *host = NULL;
  guint64 received = 0;
  char buf[CHUNK];
  gssize n;

  if (address == NULL ||
      (socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error)) == NULL ||
      !g_socket_bind (socket, G_SOCKET_ADDRESS (address), TRUE, &error) ||
      !g_socket_listen (socket, &error) ||
      (bound = g_socket_get_local_address (socket, &error)) == NULL)
    {
      fail ("sink", error);
      return 1;
    }
  host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (bound)));
  g_print ("%s:%u\n", host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);

  g_socket_set_timeout (socket, TIMEOUT);
  connection = g_socket_accept (socket, NULL, &error);
  if (connection == NULL)
    {
      fail ("accept", error);
      return 1;
    }
  g_socket_set_timeout (connection, TIMEOUT);
  while ((n = g_socket_receive (connection, buf, sizeof buf, NULL, &error)) > 0)
    {
      g_checksum_update (checksum, (const guchar *) buf, n);
      received += n;
    }
  if (n < 0)
    {
      fail ("receive", error);
      return 1;
    }
  g_print ("received %" G_GUINT64_FORMAT " sha256=%s\n", received, g_checksum_get_string (checksum));
  if (!g_socket_close (connection, &error))
    {
      fail ("close", error);
      return 1;
    }
  return 0;
}

static int
run_plain (const char *target,
           guint64     bytes)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetSocketAddress) address = parse_address (target, &error);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  GOutputStream *out;
  NetnsData data;
  guint8 buf[CHUNK];
  gssize n;

  g_socket_client_set_timeout (client, TIMEOUT);
  if (address == NULL ||
      (connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, &error)) == NULL)
    {
      fail ("connect", error);
      return 1;
    }
  out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  netns_data_init_marker (&data);
  while (bytes > 0)
    {
      gsize len = MIN (bytes, sizeof buf);

      netns_data_fill (&data, buf, len);
      if (!g_output_stream_write_all (out, buf, len, NULL, NULL, &error))
        {
          fail ("write", error);
          return 1;
        }
      bytes -= len;
    }
  /* Half-close, then wait for the sink's end: it has read everything. */
  if (!g_socket_shutdown (g_socket_connection_get_socket (connection), FALSE, TRUE, &error) ||
      (n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)), buf, sizeof buf,
                                NULL, &error)) < 0)
    {
      fail ("close", error);
      return 1;
    }
  return n == 0 ? 0 : 1;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = NULL;
  g_autoptr(FoctetNode) node = NULL;
  int status;

  if (argc == 3 && g_str_equal (argv[1], "sink"))
    return run_sink (argv[2]);
  if (argc == 4 && g_str_equal (argv[1], "plain"))
    return run_plain (argv[2], g_ascii_strtoull (argv[3], NULL, 10));
  if (!((argc == 3 && g_str_equal (argv[1], "serve")) || (argc == 7 && g_str_equal (argv[1], "send")) ||
        (argc == 5 && g_str_equal (argv[1], "budget"))))
    {
      g_printerr ("usage: netns-peer serve URI\n"
                  "       netns-peer send TICKET TRANSPORT UPLOAD DOWNLOAD SEED|marker\n"
                  "       netns-peer budget TICKET TRANSPORT UPLOAD\n"
                  "       netns-peer sink HOST:PORT\n"
                  "       netns-peer plain HOST:PORT BYTES\n");
      return 2;
    }
  identity = foctet_identity_generate (&error);
  if (identity == NULL)
    {
      fail ("identity", error);
      return 1;
    }
  node = foctet_node_new (identity);
  loop = g_main_loop_new (NULL, FALSE);
  if (g_str_equal (argv[1], "serve"))
    status = serve (node, argv[2]);
  else if (g_str_equal (argv[1], "budget"))
    status = run_budget (node, argv + 2);
  else
    status = run_send (node, argv + 2);
  g_main_loop_unref (loop);
  return status;
}

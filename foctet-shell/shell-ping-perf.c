/* shell-ping-perf.c: ping and perf — dial a node, then measure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "foctet-shell.h"

typedef struct {
  char *transport;
  char *address;
  char **relays;
} DialOptions;

/* The options of ping, perf and connect that say how to reach the node. */
#define DIAL_OPTION_ENTRIES(options) \
  { "transport", 0, 0, G_OPTION_ARG_STRING, &(options).transport, \
    "Use only this transport: quic, tls or relay (default: race the ticket's addresses, quic first)", \
    "NAME" }, \
  { "address", 0, 0, G_OPTION_ARG_STRING, &(options).address, \
    "Dial the ticket's node at this URI instead of the ticket's addresses", "URI" }, \
  { "relay", 0, 0, G_OPTION_ARG_STRING_ARRAY, &(options).relays, \
    "Also look the node up at, and reach it through, the relay at HOST:PORT (repeatable)", "HOST:PORT" }

static void
dial_options_clear (DialOptions *options)
{
  g_clear_pointer (&options->transport, g_free);
  g_clear_pointer (&options->address, g_free);
  g_clear_pointer (&options->relays, g_strfreev);
}

static gboolean
check_dial_options (const char  *command,
                    DialOptions *options,
                    int         *status)
{
  /* The URI of --address names its transport already. */
  if (options->transport != NULL && options->address != NULL)
    {
      *status = shell_usage_error ("%s: --transport and --address exclude each other", command);
      return FALSE;
    }
  if (options->transport != NULL && !shell_check_transport (command, "--transport", options->transport, status))
    return FALSE;
  if (options->address != NULL && !shell_check_uri (command, "--address", options->address, status))
    return FALSE;
  for (guint i = 0; options->relays != NULL && options->relays[i] != NULL; i++)
    if (!shell_check_relay (command, "--relay", options->relays[i], status))
      return FALSE;
  return TRUE;
}

/* The node ping and perf dial from: in the shell after `connect`, the
 * session's (whose connections they reuse), else one of their own. */
static FoctetNode *
dial_node (ShellContext *ctx,
           int          *status)
{
  if (ctx->session != NULL)
    return g_object_ref (ctx->session);
  return shell_make_node (ctx, status);
}

static void
release_dial_node (ShellContext *ctx,
                   FoctetNode   *node)
{
  if (node != ctx->session)
    shell_shutdown_node (node);
}

/* An open connection of the session to @peer that @options allow (over
 * --transport if given; none with --address, which names where to dial). */
static FoctetConnection *
session_connection (ShellContext       *ctx,
                    FoctetNode         *node,
                    const FoctetNodeId *peer,
                    DialOptions        *options)
{
  g_autoptr(GPtrArray) connections = NULL;

  if (node != ctx->session || options->address != NULL)
    return NULL;
  connections = foctet_node_list_connections (node);
  for (guint i = 0; i < connections->len; i++)
    {
      FoctetConnection *connection = g_ptr_array_index (connections, i);

      if (!foctet_connection_is_closed (connection) &&
          foctet_node_id_equal (foctet_connection_get_peer_id (connection), peer) &&
          (options->transport == NULL ||
           g_strcmp0 (foctet_connection_get_transport_name (connection), options->transport) == 0))
        return g_object_ref (connection);
    }
  return NULL;
}

static FoctetConnection *
dial (ShellContext  *ctx,
      const char    *command,
      FoctetNode    *node,
      const char    *ticket_text,
      DialOptions   *options,
      double        *seconds,
      int           *status)
{
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  FoctetConnection *connection;
  ShellWait wait = { 0 };
  gint64 start;

  ticket = shell_parse_target (ticket_text, options->relays, &error);
  if (ticket == NULL)
    {
      *status = shell_usage_error ("%s: bad ticket: %s", command, error->message);
      return NULL;
    }
  connection = session_connection (ctx, node, foctet_ticket_get_node_id (ticket), options);
  if (connection != NULL)
    {
      *seconds = 0;
      return connection;
    }
  /* A NodeId, or a ticket naming only relays: find the node first. */
  if (options->address == NULL && !shell_ticket_has_direct_address (ticket))
    shell_enable_discovery (ctx, node, FOCTET_DISCOVERY_FLAGS_NONE, ticket);

  start = g_get_monotonic_time ();
  if (options->address != NULL)
    foctet_node_dial_uri_async (node, foctet_ticket_get_node_id (ticket), options->address, cancellable,
                                shell_wait_cb, &wait);
  else
    foctet_node_dial_async (node, ticket, options->transport, cancellable, shell_wait_cb, &wait);
  shell_wait (&wait.done, TRUE, cancellable);

  connection = options->address != NULL
               ? foctet_node_dial_uri_finish (node, wait.result, &error)
               : foctet_node_dial_finish (node, wait.result, &error);
  g_object_unref (wait.result);
  if (connection == NULL)
    {
      *status = shell_failure ("connect", error);
      return NULL;
    }
  *seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  return connection;
}

typedef struct {
  gboolean fired;
  GCancellable *cancellable;
} PingTimeout;

static gboolean
ping_timed_out (gpointer user_data)
{
  PingTimeout *timeout = user_data;

  timeout->fired = TRUE;
  g_cancellable_cancel (timeout->cancellable);
  return G_SOURCE_REMOVE;
}

int
shell_cmd_ping (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  DialOptions dial_options = { 0 };
  int count = 4;
  int timeout = 10;
  const GOptionEntry entries[] = {
    { "count", 'c', 0, G_OPTION_ARG_INT, &count, "Number of pings (default 4)", "N" },
    { "timeout", 'W', 0, G_OPTION_ARG_INT, &timeout,
      "Seconds to wait for each reply before giving up (default 10)", "SECONDS" },
    DIAL_OPTION_ENTRIES (dial_options),
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetPinger) pinger = NULL;
  int ret = SHELL_EXIT_OK;
  double handshake = 0;

  ret = shell_parse_options ("ping", "TICKET|NODEID", "Ping a node.", entries, &argc, &argv);
  if (ret >= 0)
    goto out;
  if ((ret = shell_check_operands ("ping", argc, argv, "TICKET")) >= 0)
    goto out;
  ret = SHELL_EXIT_OK;
  if (count < 1)
    {
      ret = shell_usage_error ("ping: --count must be at least 1");
      goto out;
    }
  if (timeout < 1)
    {
      ret = shell_usage_error ("ping: --timeout must be at least 1");
      goto out;
    }
  if (!check_dial_options ("ping", &dial_options, &ret))
    goto out;

  node = dial_node (ctx, &ret);
  if (node == NULL)
    goto out;
  connection = dial (ctx, "ping", node, argv[1], &dial_options, &handshake, &ret);
  if (connection == NULL)
    goto out_node;

  /* SIGINT/SIGTERM end the pings early, like ping(8): no error. */
  pinger = foctet_pinger_new (connection);
  for (int seq = 1; seq <= count; seq++)
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GError) error = NULL;
      ShellWait wait = { 0 };
      gint64 rtt;

      if (seq > 1 && !shell_sleep (1000))
        break;

      /* A peer that vanished without a word (killed, unplugged) is only
       * noticed by the transport's idle timeout, 30 s over quic: each
       * reply has --timeout seconds. */
      PingTimeout timed_out = { FALSE, cancellable };
      guint timer;

      foctet_pinger_ping_async (pinger, cancellable, shell_wait_cb, &wait);
      timer = g_timeout_add_seconds (timeout, ping_timed_out, &timed_out);
      shell_wait (&wait.done, TRUE, cancellable);
      rtt = foctet_pinger_ping_finish (pinger, wait.result, &error);
      g_object_unref (wait.result);
      if (!timed_out.fired)
        g_source_remove (timer);
      if (rtt < 0 && timed_out.fired)
        {
          ret = shell_failure ("ping", g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                                    "no reply to seq=%d within %d s", seq, timeout));
          break;
        }
      if (rtt < 0)
        {
          if (!g_cancellable_is_cancelled (cancellable))
            ret = shell_failure ("ping", error);
          break;
        }
      g_print ("seq=%d rtt=%.3fms via=%s\n", seq, rtt / 1000.0,
               foctet_connection_get_transport_name (connection));
      fflush (stdout);
    }

  if (ret == SHELL_EXIT_OK)
    {
      g_autoptr(GError) error = NULL;
      ShellWait wait = { 0 };

      foctet_pinger_close_async (pinger, NULL, shell_wait_cb, &wait);
      shell_wait (&wait.done, FALSE, NULL);
      if (!foctet_pinger_close_finish (pinger, wait.result, &error))
        g_debug ("Closing the ping stream: %s", error->message);
      g_object_unref (wait.result);
    }

out_node:
  release_dial_node (ctx, node);
out:
  dial_options_clear (&dial_options);
  return ret;
}

typedef struct {
  guint pending;
  gboolean done;
  GError *error;
  FoctetPerfResult total;
} PerfRuns;

static void
perf_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  PerfRuns *runs = user_data;
  g_autoptr(FoctetPerfResult) one = NULL;
  g_autoptr(GError) error = NULL;

  one = foctet_perf_run_finish (result, &error);
  if (one == NULL)
    {
      if (runs->error == NULL)
        runs->error = g_steal_pointer (&error);
    }
  else
    foctet_perf_result_merge (&runs->total, one);
  runs->done = --runs->pending == 0;
}

/* "X.XX Gbit/s"; "n/a Gbit/s" for bytes that came too fast to time (a
 * download that arrived in one read: the phase is timed from its first
 * byte to its last). */
#define PERF_DEFAULT_BYTES (64 * 1024 * 1024)

static char *
gbits (guint64 bytes,
       double  seconds)
{
  if (seconds > 0)
    return g_strdup_printf ("%.2f Gbit/s", bytes * 8.0 / seconds / 1e9);
  return g_strdup (bytes == 0 ? "0.00 Gbit/s" : "n/a Gbit/s");
}

int
shell_cmd_perf (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  DialOptions dial_options = { 0 };
  g_autofree char *upload_text = NULL;
  g_autofree char *download_text = NULL;
  gboolean json = FALSE;
  int streams = 1;
  const GOptionEntry entries[] = {
    { "upload", 0, 0, G_OPTION_ARG_STRING, &upload_text,
      "Bytes to send per stream (K, M, G suffixes; default 64M if neither this nor --download is given, else 0)",
      "BYTES" },
    { "download", 0, 0, G_OPTION_ARG_STRING, &download_text,
      "Bytes to receive per stream (default 64M if neither this nor --upload is given, else 0)", "BYTES" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &streams, "Streams run at once on one connection (default 1)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    DIAL_OPTION_ENTRIES (dial_options),
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  guint64 upload = 0, download = 0;
  PerfRuns runs = { 0 };
  double handshake = 0;
  int ret;

  ret = shell_parse_options ("perf", "TICKET|NODEID", "Measure throughput with the perf protocol.", entries, &argc, &argv);
  if (ret >= 0)
    goto out;
  if ((ret = shell_check_operands ("perf", argc, argv, "TICKET")) >= 0)
    goto out;
  ret = SHELL_EXIT_OK;
  /* Without sizes, something worth measuring each way: 64 MiB is a
   * tenth of a second on loopback, five seconds at 100 Mbit/s. */
  if (upload_text == NULL && download_text == NULL)
    upload = download = PERF_DEFAULT_BYTES;
  {
    g_autoptr(GError) error = NULL;

    if (upload_text != NULL && !foctet_parse_byte_count (upload_text, &upload, &error))
      {
        ret = shell_usage_error ("perf: --upload: %s", error->message);
        goto out;
      }
    if (download_text != NULL && !foctet_parse_byte_count (download_text, &download, &error))
      {
        ret = shell_usage_error ("perf: --download: %s", error->message);
        goto out;
      }
  }
  if (download > FOCTET_PERF_MAX_DOWNLOAD)
    {
      ret = shell_usage_error ("perf: --download: at most %" G_GUINT64_FORMAT " bytes per stream",
                               (guint64) FOCTET_PERF_MAX_DOWNLOAD);
      goto out;
    }
  if (streams < 1 || streams > 1024)
    {
      ret = shell_usage_error ("perf: --streams must be 1 to 1024");
      goto out;
    }
  if (!check_dial_options ("perf", &dial_options, &ret))
    goto out;

  node = dial_node (ctx, &ret);
  if (node == NULL)
    goto out;
  connection = dial (ctx, "perf", node, argv[1], &dial_options, &handshake, &ret);
  if (connection == NULL)
    goto out_node;

  /* SIGINT/SIGTERM cancel every stream; perf_done_cb then reports the
   * first one's "cancelled". */
  cancellable = g_cancellable_new ();
  runs.pending = streams;
  for (int i = 0; i < streams; i++)
    foctet_perf_run_async (connection, upload, download, cancellable, perf_done_cb, &runs);
  shell_wait (&runs.done, TRUE, cancellable);

  if (runs.error != NULL)
    {
      ret = shell_failure ("perf", runs.error);
      g_clear_error (&runs.error);
      goto out_node;
    }

  if (json)
    g_print ("{\"transport\": \"%s\", \"upload_bytes\": %" G_GUINT64_FORMAT ", \"download_bytes\": %"
             G_GUINT64_FORMAT ", \"upload_seconds\": %.6f, \"download_seconds\": %.6f, "
             "\"handshake_seconds\": %.6f}\n",
             foctet_connection_get_transport_name (connection), runs.total.upload_bytes,
             runs.total.download_bytes, runs.total.upload_seconds, runs.total.download_seconds,
             handshake);
  else
    {
      g_autofree char *up = gbits (runs.total.upload_bytes, runs.total.upload_seconds);
      g_autofree char *down = gbits (runs.total.download_bytes, runs.total.download_seconds);

      g_print ("upload %s download %s\n", up, down);
      if (runs.total.download_bytes > 0 && runs.total.download_seconds <= 0 && !ctx->quiet)
        {
          g_autofree char *size = g_format_size_full (runs.total.download_bytes, G_FORMAT_SIZE_IEC_UNITS);

          g_printerr ("foctet-shell: perf: the download (%s) arrived in one read, too fast to time: ask for "
                      "more with --download\n", size);
        }
    }

out_node:
  release_dial_node (ctx, node);
out:
  dial_options_clear (&dial_options);
  return ret;
}

/* The interactive shell's connect: dial and keep the connection, on the
 * shell's node (made here the first time), for the commands after it. */
int
shell_cmd_connect (ShellContext *ctx,
                   int           argc,
                   char        **argv)
{
  DialOptions dial_options = { 0 };
  const GOptionEntry entries[] = {
    DIAL_OPTION_ENTRIES (dial_options),
    { NULL }
  };
  g_autoptr(FoctetConnection) connection = NULL;
  g_autofree char *peer = NULL;
  int ret;
  double handshake = 0;

  ret = shell_parse_options ("connect", "TICKET|NODEID",
                             "Connect to a node and keep the connection: ping and perf to that node use it, "
                             "streams lists it.", entries, &argc, &argv);
  if (ret >= 0)
    goto out;
  if ((ret = shell_check_operands ("connect", argc, argv, "TICKET")) >= 0)
    goto out;
  ret = SHELL_EXIT_OK;
  if (!check_dial_options ("connect", &dial_options, &ret))
    goto out;

  if (ctx->session == NULL)
    {
      ctx->session = shell_make_node (ctx, &ret);
      if (ctx->session == NULL)
        goto out;
    }
  connection = dial (ctx, "connect", ctx->session, argv[1], &dial_options, &handshake, &ret);
  if (connection == NULL)
    goto out;
  peer = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  if (handshake == 0)
    g_print ("already connected to %s via=%s %s\n", peer, foctet_connection_get_transport_name (connection),
             foctet_connection_get_remote_address (connection));
  else
    g_print ("connected to %s via=%s %s in %.1f ms\n", peer, foctet_connection_get_transport_name (connection),
             foctet_connection_get_remote_address (connection), handshake * 1000);

out:
  dial_options_clear (&dial_options);
  return ret;
}

/* The interactive shell's streams: the session's connections, dialed or
 * accepted, and the streams in use on each. */
int
shell_cmd_streams (ShellContext *ctx,
                   int           argc,
                   char        **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr(GPtrArray) connections = NULL;
  int ret;

  if ((ret = shell_parse_options ("streams", "", "List the connections connect made or the peers opened, and "
                                  "the streams in use on each.", entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("streams", argc, argv, NULL)) >= 0)
    return ret;
  if (ctx->session != NULL)
    connections = foctet_node_list_connections (ctx->session);
  if (connections == NULL || connections->len == 0)
    {
      if (!ctx->quiet)
        g_printerr ("no connections (connect TICKET opens one)\n");
      return SHELL_EXIT_OK;
    }
  for (guint i = 0; i < connections->len; i++)
    {
      FoctetConnection *connection = g_ptr_array_index (connections, i);
      g_autofree char *peer = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
      g_autoptr(GPtrArray) streams = foctet_connection_list_streams (connection);

      g_print ("%s via=%s %s %s, %u stream%s\n", peer, foctet_connection_get_transport_name (connection),
               foctet_connection_get_remote_address (connection),
               foctet_connection_is_initiator (connection) ? "dialed" : "accepted", streams->len,
               streams->len == 1 ? "" : "s");
      for (guint k = 0; k < streams->len; k++)
        {
          FoctetStream *stream = g_ptr_array_index (streams, k);
          const char *protocol = foctet_stream_get_protocol (stream);

          g_print ("  stream %" G_GUINT64_FORMAT " %s\n", foctet_stream_get_id (stream),
                   protocol != NULL ? protocol : "(header not read yet)");
        }
    }
  return SHELL_EXIT_OK;
}

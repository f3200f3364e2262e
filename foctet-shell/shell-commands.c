/* shell-commands.c: id, plugins, serve, ping, perf.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "foctet-shell.h"

/* Parses a command's options; on a bad one prints the CLI.md one-liner.
 * Returns -1 to go on, or the exit code to return (0 after --help). */
static int
parse_options (const char         *command,
               const char         *parameter,
               const char         *summary,
               const GOptionEntry *entries,
               int                *argc,
               char             ***argv)
{
  g_autofree char *prog = g_strdup_printf ("foctet-shell %s", command);
  g_autoptr(GOptionContext) options = g_option_context_new (parameter);
  g_autoptr(GError) error = NULL;

  g_option_context_set_summary (options, summary);
  g_option_context_add_main_entries (options, entries, NULL);
  g_set_prgname (prog);
  if (!g_option_context_parse (options, argc, argv, &error))
    return shell_usage_error ("%s: %s", command, error->message);
  return -1;
}

static gboolean
parse_bytes (const char *text,
             guint64    *bytes)
{
  char *end = NULL;
  guint64 value, unit = 1;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return FALSE;
  value = g_ascii_strtoull (text, &end, 10);
  switch (g_ascii_toupper (*end))
    {
    case '\0':
      break;
    case 'K':
      unit = G_GUINT64_CONSTANT (1) << 10;
      end++;
      break;
    case 'M':
      unit = G_GUINT64_CONSTANT (1) << 20;
      end++;
      break;
    case 'G':
      unit = G_GUINT64_CONSTANT (1) << 30;
      end++;
      break;
    case 'T':
      unit = G_GUINT64_CONSTANT (1) << 40;
      end++;
      break;
    default:
      return FALSE;
    }
  if (*end != '\0' || value > G_MAXUINT64 / unit)
    return FALSE;
  *bytes = value * unit;
  return TRUE;
}

static int
cmd_id (ShellContext *ctx,
        int           argc,
        char        **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  FoctetIdentity *identity;
  int ret;

  if ((ret = parse_options ("id", "", "Show this node's NodeId.", entries, &argc, &argv)) >= 0)
    return ret;
  if (argc > 1)
    return shell_usage_error ("id: unexpected argument '%s'", argv[1]);

  identity = shell_get_identity (ctx, &error);
  if (identity == NULL)
    return shell_failure ("identity", error);
  text = foctet_node_id_to_string (foctet_identity_get_node_id (identity));
  g_print ("%s\n", text);
  return SHELL_EXIT_OK;
}

static int
cmd_plugins (ShellContext *ctx,
             int           argc,
             char        **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  GListModel *plugins;
  int ret;

  if ((ret = parse_options ("plugins", "", "List the plugins found, and those refused and why.",
                            entries, &argc, &argv)) >= 0)
    return ret;
  if (argc > 1)
    return shell_usage_error ("plugins: unexpected argument '%s'", argv[1]);

  plugins = foctet_registry_get_plugins (foctet_registry_get_default ());
  for (guint i = 0; i < g_list_model_get_n_items (plugins); i++)
    {
      g_autoptr(FoctetPluginInfo) info = g_list_model_get_item (plugins, i);
      const char *file = foctet_plugin_info_get_filename (info);

      if (foctet_plugin_info_get_refusal (info) != NULL)
        g_print ("refused %s %s %s\n", foctet_plugin_info_get_name (info), file,
                 foctet_plugin_info_get_refusal (info));
      else
        g_print ("%s %s %s\n", foctet_plugin_kind_to_string (foctet_plugin_info_get_kind (info)),
                 foctet_plugin_info_get_name (info), file != NULL ? file : "-");
    }
  return SHELL_EXIT_OK;
}

/* An async call's result, for code that waits on it. */
typedef struct {
  GAsyncResult *result;
  gboolean done;
} Wait;

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

static FoctetNode *
make_node (ShellContext *ctx,
           int          *status)
{
  g_autoptr(GError) error = NULL;
  FoctetIdentity *identity = shell_get_identity (ctx, &error);

  if (identity == NULL)
    {
      *status = shell_failure ("identity", error);
      return NULL;
    }
  return foctet_node_new (identity);
}

static void
shutdown_node (FoctetNode *node)
{
  Wait wait = { 0 };

  foctet_node_shutdown_async (node, NULL, wait_cb, &wait);
  shell_wait (&wait.done, FALSE);
  foctet_node_shutdown_finish (node, wait.result, NULL);
  g_object_unref (wait.result);
}

static int
cmd_serve (ShellContext *ctx,
           int           argc,
           char        **argv)
{
  g_auto(GStrv) listen = NULL;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      "Listen on URI, e.g. tls/0.0.0.0:0 (repeatable; default: quic and tls on all addresses)", "URI" },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autofree char *ticket_text = NULL;
  g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func (g_free);
  int ret = SHELL_EXIT_OK;
  gboolean never = FALSE;

  if ((ret = parse_options ("serve", "", "Serve ping, perf and incoming streams until SIGINT/SIGTERM.",
                            entries, &argc, &argv)) >= 0)
    return ret;
  if (argc > 1)
    return shell_usage_error ("serve: unexpected argument '%s'", argv[1]);

  if (listen != NULL)
    for (guint i = 0; listen[i] != NULL; i++)
      g_ptr_array_add (uris, g_strdup (listen[i]));
  else
    {
      g_auto(GStrv) loaded = foctet_registry_list_names (foctet_registry_get_default (),
                                                         FOCTET_PLUGIN_KIND_TRANSPORT);
      const char *defaults[] = { "quic", "tls" };

      for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
        if (g_strv_contains ((const char * const *) loaded, defaults[i]))
          g_ptr_array_add (uris, g_strconcat (defaults[i], "/0.0.0.0:0", NULL));
      if (uris->len == 0)
        {
          g_autoptr(GError) error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND,
                                                         "no quic or tls transport plugin is loaded; "
                                                         "give --listen TRANSPORT/HOST:PORT");
          return shell_failure ("serve", error);
        }
    }

  node = make_node (ctx, &ret);
  if (node == NULL)
    return ret;

  for (guint i = 0; i < uris->len; i++)
    {
      const char *uri = g_ptr_array_index (uris, i);
      g_autoptr(GError) error = NULL;
      g_autofree char *bound = NULL;
      Wait wait = { 0 };

      foctet_node_listen_async (node, uri, NULL, wait_cb, &wait);
      shell_wait (&wait.done, FALSE);
      bound = foctet_node_listen_finish (node, wait.result, &error);
      g_object_unref (wait.result);
      if (bound == NULL)
        {
          g_autofree char *what = g_strdup_printf ("listen %s", uri);
          ret = shell_failure (what, error);
          shutdown_node (node);
          return ret;
        }
      if (!ctx->quiet)
        g_printerr ("listening on %s\n", bound);
    }

  ticket = foctet_node_get_ticket (node);
  ticket_text = foctet_ticket_to_string (ticket);
  g_print ("%s\n", ticket_text);
  fflush (stdout);

  shell_wait (&never, TRUE);
  if (!ctx->quiet)
    g_printerr ("shutting down\n");
  shutdown_node (node);
  return SHELL_EXIT_OK;
}

/* ping and perf: dial the ticket (or --address), then work. */

typedef struct {
  char *transport;
  char *address;
} DialOptions;

static FoctetConnection *
dial (ShellContext  *ctx,
      FoctetNode    *node,
      const char    *ticket_text,
      DialOptions   *options,
      double        *seconds,
      int           *status)
{
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  FoctetConnection *connection;
  Wait wait = { 0 };
  gint64 start;

  ticket = foctet_ticket_parse (ticket_text, &error);
  if (ticket == NULL)
    {
      *status = shell_usage_error ("bad ticket: %s", error->message);
      return NULL;
    }

  start = g_get_monotonic_time ();
  if (options->address != NULL)
    foctet_node_dial_uri_async (node, foctet_ticket_get_node_id (ticket), options->address, NULL,
                                wait_cb, &wait);
  else
    foctet_node_dial_async (node, ticket, options->transport, NULL, wait_cb, &wait);
  if (!shell_wait (&wait.done, TRUE))
    {
      *status = SHELL_EXIT_FAILURE;
      /* Let the dial finish, cancelled or not, before the node goes. */
      shell_wait (&wait.done, FALSE);
      g_clear_object (&wait.result);
      return NULL;
    }

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

static int
cmd_ping (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  DialOptions dial_options = { 0 };
  int count = 4;
  const GOptionEntry entries[] = {
    { "count", 'c', 0, G_OPTION_ARG_INT, &count, "Number of pings (default 4)", "N" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &dial_options.transport,
      "Use only this transport: quic, tls or relay", "NAME" },
    { "address", 0, 0, G_OPTION_ARG_STRING, &dial_options.address,
      "Dial the ticket's node at this URI instead of the ticket's addresses", "URI" },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(FoctetPinger) pinger = NULL;
  int ret = SHELL_EXIT_OK;
  double handshake = 0;

  ret = parse_options ("ping", "TICKET", "Ping a node.", entries, &argc, &argv);
  if (ret >= 0)
    goto out;
  ret = SHELL_EXIT_OK;
  if (argc != 2)
    {
      ret = shell_usage_error (argc < 2 ? "ping: missing TICKET" : "ping: unexpected argument '%s'",
                               argv[argc < 2 ? 0 : 2]);
      goto out;
    }
  if (count < 1)
    {
      ret = shell_usage_error ("ping: --count must be at least 1");
      goto out;
    }

  node = make_node (ctx, &ret);
  if (node == NULL)
    goto out;
  connection = dial (ctx, node, argv[1], &dial_options, &handshake, &ret);
  if (connection == NULL)
    goto out_node;

  pinger = foctet_pinger_new (connection);
  for (int seq = 1; seq <= count; seq++)
    {
      g_autoptr(GError) error = NULL;
      Wait wait = { 0 };
      gint64 rtt;

      if (seq > 1 && !shell_sleep (1000))
        break;

      foctet_pinger_ping_async (pinger, NULL, wait_cb, &wait);
      shell_wait (&wait.done, FALSE);
      rtt = foctet_pinger_ping_finish (pinger, wait.result, &error);
      g_object_unref (wait.result);
      if (rtt < 0)
        {
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
      Wait wait = { 0 };

      foctet_pinger_close_async (pinger, NULL, wait_cb, &wait);
      shell_wait (&wait.done, FALSE);
      if (!foctet_pinger_close_finish (pinger, wait.result, &error))
        g_debug ("Closing the ping stream: %s", error->message);
      g_object_unref (wait.result);
    }

out_node:
  shutdown_node (node);
out:
  g_free (dial_options.transport);
  g_free (dial_options.address);
  return ret;
}

typedef struct {
  guint pending;
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
    {
      /* Streams run at once: totals of bytes, the slowest stream's times. */
      runs->total.upload_bytes += one->upload_bytes;
      runs->total.download_bytes += one->download_bytes;
      runs->total.upload_seconds = MAX (runs->total.upload_seconds, one->upload_seconds);
      runs->total.download_seconds = MAX (runs->total.download_seconds, one->download_seconds);
    }
  runs->pending--;
}

static double
gbits (guint64 bytes,
       double  seconds)
{
  return seconds > 0 ? bytes * 8.0 / seconds / 1e9 : 0.0;
}

static int
cmd_perf (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  DialOptions dial_options = { 0 };
  g_autofree char *upload_text = NULL;
  g_autofree char *download_text = NULL;
  gboolean json = FALSE;
  int streams = 1;
  const GOptionEntry entries[] = {
    { "upload", 0, 0, G_OPTION_ARG_STRING, &upload_text, "Bytes to send per stream (K, M, G suffixes; default 0)", "BYTES" },
    { "download", 0, 0, G_OPTION_ARG_STRING, &download_text, "Bytes to receive per stream (default 0)", "BYTES" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &streams, "Streams run at once on one connection (default 1)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &dial_options.transport,
      "Use only this transport: quic, tls or relay", "NAME" },
    { "address", 0, 0, G_OPTION_ARG_STRING, &dial_options.address,
      "Dial the ticket's node at this URI instead of the ticket's addresses", "URI" },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  guint64 upload = 0, download = 0;
  PerfRuns runs = { 0 };
  double handshake = 0;
  int ret;

  ret = parse_options ("perf", "TICKET", "Measure throughput with the perf protocol.", entries, &argc, &argv);
  if (ret >= 0)
    goto out;
  ret = SHELL_EXIT_OK;
  if (argc != 2)
    {
      ret = shell_usage_error (argc < 2 ? "perf: missing TICKET" : "perf: unexpected argument '%s'",
                               argv[argc < 2 ? 0 : 2]);
      goto out;
    }
  if (upload_text != NULL && !parse_bytes (upload_text, &upload))
    {
      ret = shell_usage_error ("perf: --upload: '%s' is not a byte count", upload_text);
      goto out;
    }
  if (download_text != NULL && !parse_bytes (download_text, &download))
    {
      ret = shell_usage_error ("perf: --download: '%s' is not a byte count", download_text);
      goto out;
    }
  if (streams < 1 || streams > 1024)
    {
      ret = shell_usage_error ("perf: --streams must be 1 to 1024");
      goto out;
    }

  node = make_node (ctx, &ret);
  if (node == NULL)
    goto out;
  connection = dial (ctx, node, argv[1], &dial_options, &handshake, &ret);
  if (connection == NULL)
    goto out_node;

  runs.pending = streams;
  for (int i = 0; i < streams; i++)
    foctet_perf_run_async (connection, upload, download, NULL, perf_done_cb, &runs);
  while (runs.pending > 0)
    g_main_context_iteration (NULL, TRUE);

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
    g_print ("upload %.2f Gbit/s download %.2f Gbit/s\n",
             gbits (runs.total.upload_bytes, runs.total.upload_seconds),
             gbits (runs.total.download_bytes, runs.total.download_seconds));

out_node:
  shutdown_node (node);
out:
  g_free (dial_options.transport);
  g_free (dial_options.address);
  return ret;
}

static int cmd_help (ShellContext *ctx, int argc, char **argv);

static const ShellCommand commands[] = {
  { "id", "", "show this node's NodeId", cmd_id },
  { "plugins", "", "list loaded plugins, and refused ones with the reason", cmd_plugins },
  { "serve", "[--listen URI]...", "serve ping/perf until SIGINT/SIGTERM; prints the ticket first", cmd_serve },
  { "ping", "TICKET [--count N] [--transport T] [--address URI]", "ping a node", cmd_ping },
  { "perf", "TICKET [--upload B] [--download B] [--streams N] [--json]", "measure throughput", cmd_perf },
  { "help", "", "list the commands", cmd_help },
};

static int
cmd_help (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *usage = g_strdup_printf ("%s %s", commands[i].name, commands[i].args);
      g_print ("  %-58s %s\n", usage, commands[i].summary);
    }
  if (ctx->interactive)
    g_print ("  %-58s %s\n", "quit", "leave the shell");
  return SHELL_EXIT_OK;
}

const ShellCommand *
shell_commands (guint *n_commands)
{
  *n_commands = G_N_ELEMENTS (commands);
  return commands;
}

const ShellCommand *
shell_find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

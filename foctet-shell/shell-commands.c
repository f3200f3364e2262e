/* shell-commands.c: the command table; id, plugins, serve, help; what
 * the commands share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib-unix.h>

#include <foctet-log-limit.h>

#include "foctet-shell.h"

/* Parses a command's options; on a bad one prints the CLI.md one-liner.
 * Returns -1 to go on, or the exit code to return (0 after --help).
 * GOption's own --help would exit(), which must not end the interactive
 * shell: we print the help ourselves. */
int
shell_parse_options (const char         *command,
               const char         *parameter,
               const char         *summary,
               const GOptionEntry *entries,
               int                *argc,
               char             ***argv)
{
  g_autofree char *prog = g_strdup_printf ("foctet-shell %s", command);
  g_autoptr(GOptionContext) options = g_option_context_new (parameter);
  g_autoptr(GError) error = NULL;
  gboolean help = FALSE;
  const GOptionEntry help_entries[] = {
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    { NULL }
  };

  g_option_context_set_summary (options, summary);
  g_option_context_set_help_enabled (options, FALSE);
  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_add_main_entries (options, help_entries, NULL);
  g_set_prgname (prog);
  if (!g_option_context_parse (options, argc, argv, &error))
    return shell_option_error (command, error);
  if (help)
    {
      g_autofree char *text = g_option_context_get_help (options, TRUE, NULL);

      g_print ("%s", text);
      return SHELL_EXIT_OK;
    }
  return -1;
}

/* Checks a command's operands, once its options are parsed: exactly one
 * (@operand names it, as in "missing TICKET") or, with @operand NULL,
 * none.  Returns -1 to go on, else the exit code of the usage error. */
int
shell_check_operands (const char  *command,
                      int          argc,
                      char       **argv,
                      const char  *operand)
{
  int expected = operand != NULL ? 2 : 1;

  if (argc < expected)
    return shell_usage_error ("%s: missing %s", command, operand);
  if (argc > expected)
    return shell_usage_error ("%s: unexpected argument '%s'", command, argv[expected]);
  return -1;
}

void
shell_wait_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  ShellWait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

FoctetNode *
shell_make_node (ShellContext *ctx,
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

void
shell_shutdown_node (FoctetNode *node)
{
  ShellWait wait = { 0 };

  /* Not interruptible: a second SIGINT, with the handlers gone, ends the
   * process the hard way if the shutdown hangs. */
  foctet_node_shutdown_async (node, NULL, shell_wait_cb, &wait);
  shell_wait (&wait.done, FALSE, NULL);
  foctet_node_shutdown_finish (node, wait.result, NULL);
  g_object_unref (wait.result);
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

  if ((ret = shell_parse_options ("id", "", "Show this node's NodeId.", entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("id", argc, argv, NULL)) >= 0)
    return ret;

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

  if ((ret = shell_parse_options ("plugins", "", "List the plugins found, and those refused and why.",
                            entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("plugins", argc, argv, NULL)) >= 0)
    return ret;

  plugins = foctet_registry_get_plugins (foctet_registry_get_default ());
  for (guint i = 0; i < g_list_model_get_n_items (plugins); i++)
    {
      g_autoptr(FoctetPluginInfo) info = g_list_model_get_item (plugins, i);
      const char *file = foctet_plugin_info_get_filename (info);

      /* stdout is CLI.md's "<kind> <name> <file>" lines of the loaded
       * ones; the refused ones, and why, go to stderr. */
      if (foctet_plugin_info_get_refusal (info) != NULL)
        g_printerr ("refused %s %s: %s\n", foctet_plugin_info_get_name (info), file,
                    foctet_plugin_info_get_refusal (info));
      else
        g_print ("%s %s %s\n", foctet_plugin_kind_to_string (foctet_plugin_info_get_kind (info)),
                 foctet_plugin_info_get_name (info), file != NULL ? file : "-");
    }
  return SHELL_EXIT_OK;
}

static gboolean
stop_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_CONTINUE;
}

/* TRUE if this host has an IPv6 address a ticket would carry: what a
 * listener on [::] would list (foctet_transport_expand_listen_address ())
 * is more than loopback. */
static gboolean
host_has_ipv6 (void)
{
  g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
  g_auto(GStrv) addresses = foctet_transport_expand_listen_address (any, 0);

  /* Loopback comes last: the first is another if there is one. */
  return addresses[0] != NULL && !g_str_has_prefix (addresses[0], "[::1]:");
}

/* The default listen URIs (CLI.md: "both, on all addresses, any port"):
 * quic and tls, for those of the two whose plugin is loaded (or @only),
 * on 0.0.0.0 and — where an interface has an IPv6 address a ticket
 * would carry — on [::], any port.  Two listeners per transport rather than one
 * dual-stack socket on [::]: a transport lists a wildcard's interface
 * addresses of its own family only (an IPv6 listener takes IPv6 alone),
 * and each family's listener fails or works on its own. */
static gboolean
shell_default_listen_uris (const char *command,
                           GPtrArray  *uris,
                           const char *only,
                           int        *status)
{
  g_auto(GStrv) loaded = foctet_registry_list_names (foctet_registry_get_default (),
                                                     FOCTET_PLUGIN_KIND_TRANSPORT);
  const char *defaults[] = { "quic", "tls" };
  const char *hosts[] = { "0.0.0.0", "[::]" };
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  guint n_hosts = host_has_ipv6 () ? 2 : 1;
  g_autoptr(GError) error = NULL;

  if (only != NULL)
    g_ptr_array_add (names, (char *) only);
  for (guint i = 0; only == NULL && i < G_N_ELEMENTS (defaults); i++)
    if (loaded != NULL && g_strv_contains ((const char * const *) loaded, defaults[i]))
      g_ptr_array_add (names, (char *) defaults[i]);
  for (guint h = 0; h < n_hosts; h++)
    for (guint i = 0; i < names->len; i++)
      g_ptr_array_add (uris, g_strdup_printf ("%s/%s:0", (char *) names->pdata[i], hosts[h]));
  if (uris->len > 0)
    return TRUE;

  error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND,
                               "neither the quic nor the tls transport plugin is loaded; "
                               "give --listen TRANSPORT/HOST:PORT");
  *status = shell_failure (command, error);
  return FALSE;
}

gboolean
shell_listen_uris (const char  *command,
                   char       **listen,
                   const char  *transport,
                   char       **relays,
                   GPtrArray   *uris,
                   guint       *n_defaults,
                   int         *status)
{
  *n_defaults = 0;
  if (transport != NULL && !shell_check_transport (command, "--transport", transport, status))
    return FALSE;
  for (guint i = 0; relays != NULL && relays[i] != NULL; i++)
    if (!shell_check_relay (command, "--relay", relays[i], status))
      return FALSE;
  if (listen != NULL)
    for (guint i = 0; listen[i] != NULL; i++)
      {
        char *uri;

        /* With --transport, a bare HOST:PORT is that transport's. */
        if (transport != NULL && strchr (listen[i], '/') == NULL)
          uri = g_strconcat (transport, "/", listen[i], NULL);
        else if (transport != NULL && (!g_str_has_prefix (listen[i], transport) ||
                                       listen[i][strlen (transport)] != '/'))
          {
            *status = shell_usage_error ("%s: --listen %s is not a %s URI", command, listen[i], transport);
            return FALSE;
          }
        else
          uri = g_strdup (listen[i]);
        g_ptr_array_add (uris, uri);
        if (!shell_check_uri (command, "--listen", uri, status))
          return FALSE;
        /* A relay is listened on through its own port, never port 0. */
        if (g_str_has_prefix (uri, "relay/") && !shell_check_relay (command, "--listen", uri + strlen ("relay/"),
                                                                    status))
          return FALSE;
      }
  else if (g_strcmp0 (transport, "relay") == 0)
    {
      /* A relay is listened on through --relay: there is no default one. */
      if (relays == NULL)
        {
          *status = shell_usage_error ("%s: --transport relay needs --relay HOST:PORT", command);
          return FALSE;
        }
    }
  else if (!shell_default_listen_uris (command, uris, transport, status))
    return FALSE;
  else
    *n_defaults = uris->len;
  for (guint i = 0; relays != NULL && relays[i] != NULL; i++)
    g_ptr_array_add (uris, g_strconcat ("relay/", relays[i], NULL));
  return TRUE;
}

gboolean
shell_check_transport (const char *command,
                       const char *option,
                       const char *name,
                       int        *status)
{
  g_auto(GStrv) loaded = foctet_registry_list_names (foctet_registry_get_default (),
                                                     FOCTET_PLUGIN_KIND_TRANSPORT);
  g_autofree char *list = NULL;

  if (loaded != NULL && g_strv_contains ((const char * const *) loaded, name))
    return TRUE;
  list = loaded != NULL && loaded[0] != NULL ? g_strjoinv (", ", loaded) : g_strdup ("none");
  *status = shell_usage_error ("%s: %s: '%s' is not a transport of a loaded plugin (loaded: %s)", command, option,
                               name, list);
  return FALSE;
}

gboolean
shell_check_relay (const char *command,
                   const char *option,
                   const char *text,
                   int        *status)
{
  g_autoptr(GError) error = NULL;
  guint16 port = 0;

  if (!foctet_parse_host_port (text, NULL, &port, &error))
    {
      *status = shell_usage_error ("%s: %s: %s", command, option, error->message);
      return FALSE;
    }
  if (port != 0)
    return TRUE;
  *status = shell_usage_error ("%s: %s %s: a relay's port must be given (1 to 65535), not 0", command, option,
                               text);
  return FALSE;
}

/* Whether @address is of the form the transport @name takes
 * (foctet_transport_check_address ()): "host:port" for the built-in
 * ones, a form of its own for another.  Asked of an instance, as the node
 * asks it, made with a throwaway identity: the node may not exist yet. */
static gboolean
shell_check_address (const char *command,
                     const char *option,
                     const char *name,
                     const char *address,
                     int        *status)
{
  g_autoptr(FoctetIdentity) identity = NULL;
  g_autoptr(FoctetTransport) transport = NULL;
  g_autoptr(GError) error = NULL;

  identity = foctet_identity_generate (&error);
  if (identity != NULL)
    transport = foctet_registry_create_transport (foctet_registry_get_default (), name, identity, &error);
  if (transport == NULL)
    {
      *status = shell_failure (command, error);
      return FALSE;
    }
  if (foctet_transport_check_address (transport, address, &error))
    return TRUE;
  *status = shell_usage_error ("%s: %s: %s", command, option, error->message);
  return FALSE;
}

gboolean
shell_check_uri (const char *command,
                 const char *option,
                 const char *uri,
                 int        *status)
{
  const char *slash = strchr (uri, '/');
  g_autofree char *transport = NULL;

  if (slash == NULL || slash == uri)
    {
      *status = shell_usage_error ("%s: %s: '%s' is not of the form TRANSPORT/HOST:PORT", command, option, uri);
      return FALSE;
    }
  transport = g_strndup (uri, slash - uri);
  return shell_check_transport (command, option, transport, status) &&
         shell_check_address (command, option, transport, slash + 1, status);
}

static void
listener_lost_cb (FoctetNode      *node,
                  FoctetTransport *transport,
                  const char      *address,
                  const GError    *error,
                  gpointer         user_data)
{
  g_printerr ("not listening on %s/%s any more: %s (trying again)\n", foctet_transport_get_name (transport),
              address, error->message);
}

static void
listener_restored_cb (FoctetNode      *node,
                      FoctetTransport *transport,
                      const char      *address,
                      gpointer         user_data)
{
  g_printerr ("listening on %s/%s again\n", foctet_transport_get_name (transport), address);
}

/* "listening on URI" on stderr for each of @bound, the URIs @node
 * listens on, and from then on a line when one of them stops working
 * (a relay went away) and when it works again.  A transport without a
 * ticket address kind (one of a third party: PROTOCOL §6 has entries for
 * quic, tls and relay only) is not in the ticket, which the line says,
 * with how to reach it. */
void
shell_print_listening (FoctetNode *node,
                       GPtrArray  *bound)
{
  g_signal_connect (node, "listener-lost", G_CALLBACK (listener_lost_cb), NULL);
  g_signal_connect (node, "listener-restored", G_CALLBACK (listener_restored_cb), NULL);
  for (guint i = 0; i < bound->len; i++)
    {
      const char *uri = g_ptr_array_index (bound, i);
      g_autofree char *name = g_strndup (uri, strcspn (uri, "/"));
      FoctetTransport *transport = foctet_node_get_transport (node, name, NULL);

      if (transport != NULL && foctet_transport_get_address_kind (transport) == 0)
        g_printerr ("listening on %s (not in the ticket, which has no %s addresses: peers dial it with "
                    "--address %s)\n", uri, name, uri);
      else
        g_printerr ("listening on %s\n", uri);
    }
}

GPtrArray *
shell_listen (ShellContext *ctx,
              FoctetNode   *node,
              GPtrArray    *uris,
              guint         n_defaults,
              GCancellable *stop,
              int          *status)
{
  g_autoptr(GPtrArray) bound = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) default_error = NULL;
  g_autofree char *default_failed = NULL;

  for (guint i = 0; i < uris->len && !g_cancellable_is_cancelled (stop); i++)
    {
      const char *uri = g_ptr_array_index (uris, i);
      g_autoptr(GError) error = NULL;
      char *listening;
      ShellWait wait = { 0 };

      foctet_node_listen_async (node, uri, stop, shell_wait_cb, &wait);
      shell_wait (&wait.done, FALSE, NULL);
      listening = foctet_node_listen_finish (node, wait.result, &error);
      g_object_unref (wait.result);
      if (listening == NULL && i < n_defaults && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* A default listener that cannot listen (UDP blocked, say)
           * leaves the others: a warning, unless none is left. */
          if (default_error == NULL)
            {
              default_error = g_steal_pointer (&error);
              default_failed = g_strdup_printf ("listen %s", uri);
            }
          continue;
        }
      if (listening == NULL)
        {
          g_autofree char *what = g_strdup_printf ("listen %s", uri);

          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            *status = shell_failure (what, error);
          return NULL;
        }
      g_ptr_array_add (bound, listening);
    }
  if (g_cancellable_is_cancelled (stop))
    return NULL;
  if (bound->len == 0)
    {
      *status = shell_failure (default_failed, default_error);
      return NULL;
    }
  if (default_error != NULL && !ctx->quiet)
    g_printerr ("foctet-shell: %s: %s (serving without it)\n", default_failed,
                default_error->message);
  return g_steal_pointer (&bound);
}

static void
observed_cb (FoctetNode *node,
             GParamSpec *pspec,
             gpointer    user_data)
{
  g_auto(GStrv) addresses = foctet_node_get_observed_addresses (node);

  for (guint i = 0; addresses[i] != NULL; i++)
    g_printerr ("observed address %s (as the relay sees this node)\n", addresses[i]);
}

static void
print_line (const char *line,
            gpointer    user_data)
{
  g_printerr ("%s\n", line);
}

/* An incoming connection a transport gave up on, and why: a refused
 * certificate, a handshake that timed out, a stranger's bytes.  Under a
 * flood (a port scan, idle connections filling the handshake slots),
 * bounded by @user_data, a FoctetLogLimit. */
static void
incoming_failed_cb (FoctetNode      *node,
                    FoctetTransport *transport,
                    const char      *remote_address,
                    const GError    *error,
                    gpointer         user_data)
{
  foctet_log_limit_log (user_data, "incoming %s connection from %s failed: %s", foctet_transport_get_name (transport),
                        remote_address, error->message);
}

/* serve --inbox DIR: files pushed to this node (send --to) go to DIR,
 * one push at a time; with --inbox-from, only from those nodes. */
typedef struct {
  ShellContext *ctx;
  GFile *dir;
  FoctetTransferReceiver *receiver;
  GCancellable *stop;
  guint in_flight;
  GHashTable *from;                     /* FoctetNodeId set, or NULL: anyone */
} Inbox;

static void
inbox_received_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Inbox *inbox = user_data;
  FoctetTransferReceiver *receiver = FOCTET_TRANSFER_RECEIVER (source);
  g_autoptr(GError) error = NULL;

  inbox->in_flight--;
  if (!foctet_transfer_receiver_receive_finish (receiver, result, &error))
    {
      /* The node goes on serving: a warning in the one-line form. */
      g_autofree char *why = g_strdup (error->message);

      g_strdelimit (why, "\r\n", ' ');
      g_printerr ("foctet-shell: serve: push: %s\n", why);
    }
  else if (!inbox->ctx->quiet)
    {
      g_autofree char *size = g_format_size_full (foctet_transfer_receiver_get_bytes_total (receiver),
                                                  G_FORMAT_SIZE_IEC_UNITS);

      g_printerr ("push: received %u file%s, %s, verified, into %s\n",
                  foctet_transfer_receiver_get_files_total (receiver),
                  foctet_transfer_receiver_get_files_total (receiver) == 1 ? "" : "s", size,
                  g_file_peek_path (inbox->dir));
    }
}

static void
inbox_handler (FoctetNode       *node,
               FoctetConnection *connection,
               FoctetStream     *stream,
               gpointer          user_data)
{
  Inbox *inbox = user_data;
  const FoctetNodeId *peer_id = foctet_connection_get_peer_id (connection);
  g_autofree char *peer = foctet_node_id_to_string (peer_id);

  if (inbox->from != NULL && !g_hash_table_contains (inbox->from, peer_id))
    {
      /* Refused as by a node without an inbox: a stranger learns no more. */
      if (!inbox->ctx->quiet)
        g_printerr ("push from %s refused: not an --inbox-from node\n", peer);
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      return;
    }
  if (!inbox->ctx->quiet)
    g_printerr ("push from %s\n", peer);
  inbox->in_flight++;
  foctet_transfer_receiver_receive_pushed_async (inbox->receiver, connection, stream, inbox->dir,
                                                 FOCTET_TRANSFER_RECEIVE_NONE, inbox->stop, inbox_received_cb,
                                                 inbox);
}

static int
cmd_serve (ShellContext *ctx,
           int           argc,
           char        **argv)
{
  g_auto(GStrv) listen = NULL;
  g_auto(GStrv) relays = NULL;
  g_autofree char *transport = NULL;
  gboolean no_mdns = FALSE;
  g_autofree char *inbox_path = NULL;
  g_auto(GStrv) inbox_from = NULL;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      "Listen on URI, e.g. tls/0.0.0.0:0 (repeatable; default: quic and tls, those loaded, "
      "on all addresses, any port)", "URI" },
    { "inbox", 0, 0, G_OPTION_ARG_FILENAME, &inbox_path,
      "Accept files pushed to this node (send --to TICKET) into DIR; without it, pushes are refused", "DIR" },
    { "inbox-from", 0, 0, G_OPTION_ARG_STRING_ARRAY, &inbox_from,
      "With --inbox, accept pushes only from the node NODEID (repeatable); without it, from anyone "
      "who can reach this node", "NODEID" },
    { "relay", 0, 0, G_OPTION_ARG_STRING_ARRAY, &relays,
      "Also be reachable through the relay at HOST:PORT (repeatable): hold a reservation there, "
      "and put it in the ticket", "HOST:PORT" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      "Listen with this transport only: on all addresses, or on each --listen HOST:PORT", "NAME" },
    { "no-mdns", 0, 0, G_OPTION_ARG_NONE, &no_mdns,
      "Do not announce this node on the local network (mDNS)", NULL },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) stop = NULL;
  g_autofree char *ticket_text = NULL;
  g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) bound = NULL;
  guint n_defaults = 0;
  guint sigint, sigterm;
  Inbox inbox = { ctx, NULL, NULL, NULL, 0, NULL };
  g_autoptr(FoctetLogLimit) incoming_log = NULL;
  g_autoptr(GHashTable) inbox_senders = NULL;
  g_autoptr(GFile) inbox_dir = NULL;
  int ret;

  if ((ret = shell_parse_options ("serve", "",
                                  "Serve ping, perf and incoming streams until SIGINT/SIGTERM; with --inbox, "
                                  "also files pushed to it.",
                            entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("serve", argc, argv, NULL)) >= 0)
    return ret;
  ret = SHELL_EXIT_OK;

  if (!shell_listen_uris ("serve", listen, transport, relays, uris, &n_defaults, &ret))
    return ret;
  if (inbox_from != NULL && inbox_path == NULL)
    return shell_usage_error ("serve: --inbox-from needs --inbox");
  for (guint i = 0; inbox_from != NULL && inbox_from[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      FoctetNodeId *id = foctet_node_id_parse (inbox_from[i], &error);

      if (id == NULL)
        return shell_usage_error ("serve: --inbox-from: %s", error->message);
      if (inbox_senders == NULL)
        inbox_senders = g_hash_table_new_full (foctet_node_id_hash, foctet_node_id_equal,
                                               (GDestroyNotify) foctet_node_id_free, NULL);
      g_hash_table_add (inbox_senders, id);
    }
  inbox.from = inbox_senders;
  if (inbox_path != NULL)
    {
      g_autoptr(GError) error = NULL;

      inbox_dir = g_file_new_for_commandline_arg (inbox_path);
      /* Made now, and checked, before anything else starts: a push to an
       * inbox that cannot be one would only be refused, and say less. */
      if (!g_file_make_directory_with_parents (inbox_dir, NULL, &error) &&
          !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        return shell_failure ("serve: --inbox", error);
      if (g_file_query_file_type (inbox_dir, G_FILE_QUERY_INFO_NONE, NULL) != G_FILE_TYPE_DIRECTORY)
        {
          g_clear_error (&error);
          error = g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "“%s” is not a directory", inbox_path);
          return shell_failure ("serve: --inbox", error);
        }
    }

  node = shell_make_node (ctx, &ret);
  if (node == NULL)
    return ret;

  /* From here on SIGINT/SIGTERM stop the node cleanly, exit 0 — also
   * while it is still binding, and in the moment right after the ticket
   * went out, when a script may already send them. */
  stop = g_cancellable_new ();
  sigint = g_unix_signal_add (SIGINT, stop_cb, stop);
  sigterm = g_unix_signal_add (SIGTERM, stop_cb, stop);

  if (inbox_dir != NULL)
    {
      inbox.dir = g_steal_pointer (&inbox_dir);
      inbox.receiver = foctet_transfer_receiver_new (node);
      inbox.stop = g_object_ref (stop);
      foctet_node_set_protocol_handler (node, FOCTET_PROTOCOL_TRANSFER_PUSH, inbox_handler, &inbox, NULL);
    }

  bound = shell_listen (ctx, node, uris, n_defaults, stop, &ret);
  if (bound == NULL)
    goto out;

  /* Findable by NodeId: on the LAN, and through the relays' directory. */
  if (!no_mdns)
    shell_enable_named_discovery (ctx, node, "mdns", FOCTET_DISCOVERY_FLAGS_PUBLISH);
  if (relays != NULL)
    shell_enable_named_discovery (ctx, node, "relay", FOCTET_DISCOVERY_FLAGS_PUBLISH);

  /* The ticket first, at once: scripts wait for this line. */
  ticket = foctet_node_get_ticket (node);
  ticket_text = foctet_ticket_to_string (ticket);
  g_print ("%s\n", ticket_text);
  fflush (stdout);
  if (!ctx->quiet)
    shell_print_listening (node, bound);
  if (!ctx->quiet)
    {
      /* The node's reflexive addresses, as relays report them. */
      g_signal_connect (node, "notify::observed-addresses", G_CALLBACK (observed_cb), NULL);
      observed_cb (node, NULL, NULL);
      incoming_log = foctet_log_limit_new (FOCTET_LOG_LIMIT_DEFAULT_BURST, FOCTET_LOG_LIMIT_DEFAULT_WINDOW_MS,
                                           "incoming connections failed", print_line, NULL);
      g_signal_connect (node, "incoming-failed", G_CALLBACK (incoming_failed_cb), incoming_log);
    }

  while (!g_cancellable_is_cancelled (stop))
    g_main_context_iteration (NULL, TRUE);
  if (!ctx->quiet)
    g_printerr ("shutting down\n");

out:
  if (inbox.receiver != NULL)
    {
      /* A push being received stops (its part files stay, for the next
       * push of the same files to resume) and reports back first. */
      foctet_node_set_protocol_handler (node, FOCTET_PROTOCOL_TRANSFER_PUSH, NULL, NULL, NULL);
      g_cancellable_cancel (stop);
      while (inbox.in_flight > 0)
        g_main_context_iteration (NULL, TRUE);
      g_clear_object (&inbox.receiver);
      g_clear_object (&inbox.stop);
    }
  g_clear_object (&inbox.dir);
  if (incoming_log != NULL)
    g_signal_handlers_disconnect_by_func (node, incoming_failed_cb, incoming_log);
  g_clear_pointer (&incoming_log, foctet_log_limit_free);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  shell_shutdown_node (node);
  return ret;
}

static int cmd_help (ShellContext *ctx, int argc, char **argv);

static const ShellCommand commands[] = {
  { "id", "", "show this node's NodeId", cmd_id },
  { "plugins", "", "list the loaded plugins, and the refused ones with the reason", cmd_plugins },
  { "serve", "[--listen URI]... [--relay HOST:PORT]... [--transport NAME] [--inbox DIR [--inbox-from NODEID]...] [--no-mdns]",
    "serve ping, perf and (with --inbox) files pushed to it until SIGINT/SIGTERM; prints the ticket first",
    cmd_serve },
  { "ping", "TICKET|NODEID [--count N] [--timeout SECONDS] [--transport T] [--address URI] [--relay HOST:PORT]", "ping a node",
    shell_cmd_ping },
  { "perf", "TICKET|NODEID [--upload BYTES] [--download BYTES] [--streams N] [--transport T] [--address URI] [--relay HOST:PORT] [--json]",
    "measure throughput", shell_cmd_perf },
  { "send", "PATH... [--relay HOST:PORT]... [--listen URI]... [--transport T] [--to TICKET]",
    "offer files and directories; prints the ticket first, serves one receiver, then exits; "
    "--to pushes them to a node serving with --inbox", shell_cmd_send },
  { "receive", "TICKET [--output DIR] [--force]",
    "fetch what a send ticket offers into DIR, verify it, resume an earlier try", shell_cmd_receive },
  { "peers", "[--wait SECONDS]", "list the peers found on the local network (mDNS): NodeId, addresses, age",
    shell_cmd_peers },
  { "connect", "TICKET|NODEID [--transport T] [--address URI] [--relay HOST:PORT]",
    "connect to a node and keep the connection for ping and perf (in the shell)", shell_cmd_connect, TRUE },
  { "streams", "", "list the connections and the streams in use on each (in the shell)", shell_cmd_streams, TRUE },
  { "help", "[COMMAND]", "list the commands, or show the options of one", cmd_help },
};

char *
shell_commands_help (gboolean in_shell)
{
  GString *text = g_string_new (NULL);

  /* Synopsis, then what it does: the synopses are too long for columns. */
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (in_shell || !commands[i].shell_only)
      g_string_append_printf (text, "  %s%s%s\n      %s\n", commands[i].name, commands[i].args[0] ? " " : "",
                              commands[i].args, commands[i].summary);
  if (in_shell)
    g_string_append (text, "  quit\n      leave the shell\n");
  return g_string_free (text, FALSE);
}

static int
cmd_help (ShellContext *ctx,
          int           argc,
          char        **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autofree char *text = NULL;
  int ret;

  if ((ret = shell_parse_options ("help", "[COMMAND]", "List the commands, or show the options of COMMAND.",
                                  entries, &argc, &argv)) >= 0)
    return ret;
  if (argc > 2)
    return shell_usage_error ("help: unexpected argument '%s'", argv[2]);
  if (argc == 2)
    {
      char *help_argv[] = { argv[1], (char *) "--help", NULL };

      /* The command's own --help (an unknown command is a usage error). */
      return shell_run_command (ctx, 2, help_argv);
    }
  text = shell_commands_help (ctx->in_shell);
  g_print ("%s", text);
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

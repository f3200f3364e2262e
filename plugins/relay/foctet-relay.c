/* foctet-relay.c: the relay server program (../shared/CLI.md).
 *
 *   foctet-relay --listen HOST:PORT... [--identity PATH] [--max-circuits N] [--rate BYTES/s]
 *                [--rate-per-client BYTES/s]
 *                [--raw-listen HOST:PORT | --no-raw-circuits] [--scheduling batch|normal]
 *
 * A FoctetNode whose tls transport (and quic, on the same port number
 * over UDP, where that plugin is found) speaks ALPN foctet-relay/1, with
 * the relay protocols of foctet-relay-server*.c on it (circuits and the
 * directory), and a second TCP listener for the connections of raw
 * circuits (--raw-listen; by default each --listen host, one port number
 * on all).  --listen may be given again (0.0.0.0:4433 and [::]:4433: an
 * IPv6 listener takes IPv6 only).  First stdout line:
 * "relay <NodeId> <host:port>", the first --listen; one such line more
 * for each further one.  One log line per reservation and per
 * circuit on stderr, and per raw connection refused, those bounded
 * (strangers make them: foctet-log-limit.h); SIGUSR1 prints the counters
 * there.  Runs until SIGINT/SIGTERM.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <foctet-host-port.h>

#include "foctet-relay-message.h"
#include "foctet-relay-server.h"

typedef struct {
  gboolean done;
  GAsyncResult *result;
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

static void
wait_for (Wait *wait)
{
  while (!wait->done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
stop_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_CONTINUE;
}

static gboolean
stats_cb (gpointer user_data)
{
  g_autofree char *stats = relay_server_format_stats (user_data);

  g_printerr ("foctet-relay: %s\n", stats);
  return G_SOURCE_CONTINUE;
}

/* Raises @transport's limit of connections from one address to @n,
 * where it has one (tls and quic do). */
static void
set_per_address (FoctetTransport *transport,
                 int              n)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (transport), "max-connections-per-address") != NULL)
    g_object_set (transport, "max-connections-per-address", (guint) n, NULL);
}

/* Listens on "@transport/@address" and waits for it: the address
 * listened on, without the transport's name, or NULL with @error set. */
static char *
listen_on (FoctetNode    *node,
           const char    *transport,
           const char    *address,
           GCancellable  *stop,
           GError       **error)
{
  g_autofree char *uri = g_strconcat (transport, "/", address, NULL);
  g_autofree char *listening = NULL;
  Wait wait = { 0 };

  foctet_node_listen_async (node, uri, stop, wait_cb, &wait);
  wait_for (&wait);
  listening = foctet_node_listen_finish (node, wait.result, error);
  g_clear_object (&wait.result);
  return listening != NULL ? g_strdup (listening + strlen (transport) + 1) : NULL;
}

/* Puts this thread, and the threads it starts from now on, under
 * @policy: "batch" (SCHED_BATCH, the default) or "normal" (SCHED_OTHER).
 * A relay copies bulk data in short bursts, each woken by a socket; under
 * the normal policy every such wake-up preempts whatever else runs on
 * that CPU, on a loaded machine hundreds of times per second, and the
 * preempted process finds its caches cold.  A batch thread is not
 * favoured at wake-up: it runs on an idle CPU at once, as before, and on
 * a busy one at the next scheduling decision, a few milliseconds at
 * most.  FALSE after saying what is wrong with @policy; a kernel that
 * refuses the policy is only reported with G_MESSAGES_DEBUG. */
static gboolean
set_scheduling (const char *policy)
{
  struct sched_param param = { 0 };
  int value;

  if (policy == NULL || g_str_equal (policy, "batch"))
    {
#ifdef SCHED_BATCH
      value = SCHED_BATCH;
#else
      return TRUE;
#endif
    }
  else if (g_str_equal (policy, "normal"))
    value = SCHED_OTHER;
  else
    {
      g_printerr ("foctet-relay: --scheduling: “%s” is neither “batch” nor “normal”\n", policy);
      return FALSE;
    }
  if (sched_setscheduler (0, value, &param) < 0)
    g_debug ("Scheduling policy %s refused: %s", policy != NULL ? policy : "batch", g_strerror (errno));
  return TRUE;
}

static int
fail (const char   *what,
      const GError *error)
{
  g_printerr ("foctet-relay: %s: %s\n", what, error->message);
  return 1;
}

/* A rate option's BYTES/s (CLI.md writes it so: "1M/s" is "1M"), if
 * given; FALSE after saying what is wrong. */
static gboolean
parse_rate (const char *option,
            const char *text,
            guint64    *rate)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *bytes = NULL;

  if (text == NULL)
    return TRUE;
  bytes = g_str_has_suffix (text, "/s") ? g_strndup (text, strlen (text) - 2) : g_strdup (text);
  if (!foctet_parse_byte_count (bytes, rate, &error))
    {
      g_printerr ("foctet-relay: %s: %s\n", option, error->message);
      return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_auto(GStrv) listen = NULL;
  g_autofree char *identity_path = NULL;
  g_autofree char *rate_text = NULL;
  g_autofree char *client_rate_text = NULL;
  g_autofree char *raw_listen = NULL;
  g_autofree char *scheduling = NULL;
  gboolean no_raw = FALSE;
  g_auto(GStrv) plugin_paths = NULL;
  int max_circuits = RELAY_DEFAULT_MAX_CIRCUITS;
  int max_per_client = RELAY_DEFAULT_MAX_CIRCUITS_PER_CLIENT;
  int max_connections = RELAY_DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
  int max_reservations = RELAY_DEFAULT_MAX_RESERVATIONS;
  int idle_timeout = RELAY_DEFAULT_CIRCUIT_IDLE_TIMEOUT;
  int reservation_ttl = RELAY_DEFAULT_RESERVATION_TTL;
  int lookup_rate = RELAY_DEFAULT_LOOKUP_RATE;
  int setup_timeout = RELAY_DEFAULT_INCOMING_TIMEOUT;
  int max_per_address = RELAY_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      "Serve relay clients on HOST:PORT (TCP; repeatable: 0.0.0.0:4433 and [::]:4433 for IPv4 and IPv6)",
      "HOST:PORT" },
    { "identity", 0, 0, G_OPTION_ARG_FILENAME, &identity_path,
      "The relay's identity key file, made if missing (default: a new identity each run)", "PATH" },
    { "max-circuits", 0, 0, G_OPTION_ARG_INT, &max_circuits,
      "Circuits at once (default 1024; 0: none, the relay then only tells clients their address and keeps "
      "its directory)", "N" },
    { "max-circuits-per-client", 0, 0, G_OPTION_ARG_INT, &max_per_client,
      "Circuits at once per node, as dialer or target (default 64; 0: none)", "N" },
    { "max-connections-per-client", 0, 0, G_OPTION_ARG_INT, &max_connections,
      "Connections at once per node; on more, its requests are refused (default 8)", "N" },
    { "max-connections-per-address", 0, 0, G_OPTION_ARG_INT, &max_per_address,
      "Connections at once from one IP address, in handshake or established: clients behind one NAT share "
      "it (default 1024)", "N" },
    { "max-reservations", 0, 0, G_OPTION_ARG_INT, &max_reservations,
      "Reservations held (default 1024; 0: none)", "N" },
    { "rate", 0, 0, G_OPTION_ARG_STRING, &rate_text,
      "Bytes per second per circuit and direction, suffixes K M G, /s optional (default and 0: no limit)",
      "BYTES/s" },
    { "rate-per-client", 0, 0, G_OPTION_ARG_STRING, &client_rate_text,
      "Bytes per second one node may send through the relay over all its circuits together, and as many "
      "it may receive; suffixes and 0 as for --rate", "BYTES/s" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout,
      "Seconds a circuit may carry nothing before it is cut (default 120)", "SECONDS" },
    { "circuit-setup-timeout", 0, 0, G_OPTION_ARG_INT, &setup_timeout,
      "Seconds a client has to send its first request on a stream, a target to answer a circuit, and each "
      "end of a raw circuit to claim it (default 10)",
      "SECONDS" },
    { "reservation-ttl", 0, 0, G_OPTION_ARG_INT, &reservation_ttl,
      "Seconds a reservation lasts unless renewed (default 120)", "SECONDS" },
    { "lookup-rate", 0, 0, G_OPTION_ARG_INT, &lookup_rate,
      "Directory lookups per second per client, in bursts of 4 times as many; 0: no limit (default 5)", "N" },
    { "raw-listen", 0, 0, G_OPTION_ARG_STRING, &raw_listen,
      "Accept the TCP connections of raw circuits on HOST:PORT (default: the --listen host, any port); "
      "clients reach it at the host they reach --listen at", "HOST:PORT" },
    { "no-raw-circuits", 0, 0, G_OPTION_ARG_NONE, &no_raw,
      "Offer only circuits relayed over the control connections (foctet-relay/connect/1)", NULL },
    { "scheduling", 0, 0, G_OPTION_ARG_STRING, &scheduling,
      "CPU scheduling policy: batch (the default; not favoured when woken up, "
      "so relaying does not preempt other work on a busy machine) or normal", "POLICY" },
    { "plugin-path", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_paths,
      "Also load plugins from DIR (repeatable)", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = NULL;
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(RelayServer) server = NULL;
  g_autoptr(GCancellable) stop = NULL;
  g_autoptr(GPtrArray) bound = NULL;
  g_autofree char *node_id = NULL;
  FoctetTransport *tls;
  FoctetTransport *quic;
  guint64 rate = 0;
  guint64 client_rate = 0;
  guint sigint, sigterm, sigusr1;
  Wait wait = { 0 };

  /* Logs go to stderr, debug messages (G_MESSAGES_DEBUG) too: stdout is
   * for the first line, which scripts read. */
  g_log_writer_default_set_use_stderr (TRUE);
  /* GLib's messages in the user's charset (its quotes are UTF-8). */
  setlocale (LC_ALL, "");

  options = g_option_context_new (NULL);
  g_option_context_set_summary (options, "Relays streams between foctet nodes that cannot reach each other.");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("foctet-relay: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("foctet-relay: unexpected argument '%s'\n", argv[1]);
      return 2;
    }
  if (listen == NULL)
    {
      g_printerr ("foctet-relay: --listen HOST:PORT is required\n");
      return 2;
    }
  for (guint i = 0; listen[i] != NULL; i++)
    if (!foctet_parse_host_port (listen[i], NULL, NULL, &error))
      {
        g_printerr ("foctet-relay: --listen: %s\n", error->message);
        return 2;
      }
  {
    /* Each limit, with the option it came from. */
    const struct {
      const char *option;
      int value;
      int min;
      int max;
    } limits[] = {
      { "--max-circuits", max_circuits, 0, G_MAXINT },
      { "--max-circuits-per-client", max_per_client, 0, G_MAXINT },
      { "--max-connections-per-client", max_connections, 1, G_MAXINT },
      { "--max-connections-per-address", max_per_address, 1, 65536 },
      { "--max-reservations", max_reservations, 0, G_MAXINT },
      { "--idle-timeout", idle_timeout, 1, G_MAXINT },
      { "--circuit-setup-timeout", setup_timeout, 1, 3600 },
      { "--reservation-ttl", reservation_ttl, 1, G_MAXINT },
      { "--lookup-rate", lookup_rate, 0, 1000000 },
    };

    for (guint i = 0; i < G_N_ELEMENTS (limits); i++)
      if (limits[i].value < limits[i].min || limits[i].value > limits[i].max)
        {
          if (limits[i].max == G_MAXINT)
            g_printerr ("foctet-relay: %s must be at least %d\n", limits[i].option, limits[i].min);
          else
            g_printerr ("foctet-relay: %s must be %d to %d\n", limits[i].option, limits[i].min, limits[i].max);
          return 2;
        }
  }
  if (no_raw && raw_listen != NULL)
    {
      g_printerr ("foctet-relay: --raw-listen and --no-raw-circuits exclude each other\n");
      return 2;
    }
  if (raw_listen != NULL && !foctet_parse_host_port (raw_listen, NULL, NULL, &error))
    {
      g_printerr ("foctet-relay: --raw-listen: %s\n", error->message);
      return 2;
    }
  if (!parse_rate ("--rate", rate_text, &rate) || !parse_rate ("--rate-per-client", client_rate_text, &client_rate))
    return 2;
  /* Before any thread is started: they inherit it. */
  if (!set_scheduling (scheduling))
    return 2;

  for (guint i = 0; plugin_paths != NULL && plugin_paths[i] != NULL; i++)
    foctet_registry_add_search_path (foctet_registry_get_default (), plugin_paths[i]);

  identity = identity_path != NULL ? foctet_identity_load_or_create (identity_path, &error)
                                   : foctet_identity_generate (&error);
  if (identity == NULL)
    return fail ("identity", error);

  node = foctet_node_new (identity);
  tls = foctet_node_get_transport (node, "tls", &error);
  if (tls == NULL)
    return fail ("tls transport", error);
  g_object_set (tls, "alpn", FOCTET_RELAY_ALPN, NULL);
  set_per_address (tls, max_per_address);
  server = g_object_new (RELAY_TYPE_SERVER,
                         "node", node,
                         "max-circuits", (guint) max_circuits,
                         "max-connections-per-client", (guint) max_connections,
                         "max-circuits-per-client", (guint) max_per_client,
                         "max-reservations", (guint) max_reservations,
                         "circuit-idle-timeout", (guint) idle_timeout,
                         "reservation-ttl", (guint) reservation_ttl,
                         "rate", rate,
                         "rate-per-client", client_rate,
                         "lookup-rate", (guint) lookup_rate,
                         "incoming-timeout", (guint) setup_timeout,
                         NULL);

  stop = g_cancellable_new ();
  sigint = g_unix_signal_add (SIGINT, stop_cb, stop);
  sigterm = g_unix_signal_add (SIGTERM, stop_cb, stop);
  sigusr1 = g_unix_signal_add (SIGUSR1, stats_cb, server);

  bound = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; listen[i] != NULL; i++)
    {
      char *listening = listen_on (node, "tls", listen[i], stop, &error);

      if (listening == NULL)
        {
          int ret = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? 0 : fail (listen[i], error);

          relay_server_stop (server);
          g_source_remove (sigint);
          g_source_remove (sigterm);
          g_source_remove (sigusr1);
          return ret;
        }
      g_ptr_array_add (bound, listening);
    }
  g_ptr_array_add (bound, NULL);

  /* QUIC on the same port numbers over UDP, where the build has it. */
  quic = foctet_node_get_transport (node, "quic", NULL);
  if (quic != NULL)
    {
      g_object_set (quic, "alpn", FOCTET_RELAY_ALPN, NULL);
      set_per_address (quic, max_per_address);
    }
  for (guint i = 0; quic != NULL && bound->pdata[i] != NULL; i++)
    {
      g_autoptr(GError) quic_error = NULL;
      g_autofree char *listening = listen_on (node, "quic", bound->pdata[i], stop, &quic_error);

      if (listening == NULL)
        g_printerr ("foctet-relay: not on QUIC: %s\n", quic_error->message);
    }

  /* Raw circuits on their own TCP port: the tls transport owns the
   * control listeners, and nothing in the public API hands their
   * connections out before the TLS handshake.  By default on each
   * --listen host, one port number on all (RAW_CIRCUIT names a port
   * only). */
  if (!no_raw)
    {
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) addresses = NULL;
      guint16 port;

      if (raw_listen != NULL)
        g_strv_builder_add (builder, raw_listen);
      for (guint i = 0; raw_listen == NULL && bound->pdata[i] != NULL; i++)
        {
          g_autofree char *host = NULL;
          g_autofree char *address = NULL;

          if (!foctet_parse_host_port (bound->pdata[i], &host, NULL, &error))
            return fail (bound->pdata[i], error);
          address = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:0", host) : g_strdup_printf ("%s:0", host);
          g_strv_builder_add (builder, address);
        }
      addresses = g_strv_builder_end (builder);
      port = relay_server_listen_raw (server, (const char * const *) addresses, &error);
      if (port == 0)
        return fail ("--raw-listen", error);
      g_printerr ("foctet-relay: raw circuits on port %u\n", port);
    }

  /* The first line, at once: scripts wait for it.  Then one more per
   * further --listen. */
  node_id = foctet_node_id_to_string (foctet_node_get_node_id (node));
  for (guint i = 0; bound->pdata[i] != NULL; i++)
    g_print ("relay %s %s\n", node_id, (char *) bound->pdata[i]);
  fflush (stdout);

  while (!g_cancellable_is_cancelled (stop))
    g_main_context_iteration (NULL, TRUE);

  stats_cb (server);
  relay_server_stop (server);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_source_remove (sigusr1);
  wait = (Wait) { 0 };
  foctet_node_shutdown_async (node, NULL, wait_cb, &wait);
  wait_for (&wait);
  foctet_node_shutdown_finish (node, wait.result, NULL);
  g_clear_object (&wait.result);
  return 0;
}

/* shell-discovery.c: bare NodeIds, the discovery mechanisms a command
 * turns on, and `peers`.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-shell.h"

/* A NodeId is 52 base32 characters; a ticket is longer ("foctet" and at
 * least 33 bytes of payload), so the two never mix up. */
#define NODE_ID_TEXT_LENGTH 52

FoctetTicket *
shell_parse_ticket (const char  *text,
                    GError     **error)
{
  /* Pasted from a message or a terminal, a ticket often comes with a
   * space or a line end around it. */
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  return foctet_ticket_parse (stripped, error);
}

FoctetTicket *
shell_parse_target (const char  *text,
                    char       **relays,
                    GError     **error)
{
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  if (strlen (stripped) == NODE_ID_TEXT_LENGTH)
    {
      g_autoptr(FoctetNodeId) node_id = foctet_node_id_parse (stripped, error);

      if (node_id == NULL)
        return NULL;
      ticket = foctet_ticket_new (node_id);
    }
  else if (g_ascii_strncasecmp (stripped, "foctet", 6) != 0)
    {
      /* No ticket's prefix: what is wrong with it as a NodeId says more
       * (its length, a character) than that it is no ticket. */
      g_autoptr(FoctetNodeId) node_id = foctet_node_id_parse (stripped, error);

      g_assert (node_id == NULL);
      g_prefix_error (error, "neither a ticket (which starts with “foctet”) nor a NodeId: ");
      return NULL;
    }
  else if ((ticket = foctet_ticket_parse (stripped, error)) == NULL)
    return NULL;

  for (guint i = 0; relays != NULL && relays[i] != NULL; i++)
    if (!foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, relays[i], error))
      {
        g_prefix_error (error, "--relay %s: ", relays[i]);
        return NULL;
      }
  return g_steal_pointer (&ticket);
}

gboolean
shell_ticket_has_direct_address (FoctetTicket *ticket)
{
  return foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_QUIC) ||
         foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_TLS);
}

void
shell_enable_named_discovery (ShellContext         *ctx,
                              FoctetNode           *node,
                              const char           *name,
                              FoctetDiscoveryFlags  flags)
{
  g_auto(GStrv) loaded = foctet_registry_list_names (foctet_registry_get_default (),
                                                     FOCTET_PLUGIN_KIND_DISCOVERY);
  g_autoptr(GError) error = NULL;

  if (!g_strv_contains ((const char * const *) loaded, name))
    {
      g_debug ("No plugin provides discovery “%s”", name);
      return;
    }
  if (!foctet_node_enable_discovery (node, name, flags, &error) && !ctx->quiet)
    g_printerr ("foctet-shell: warning: discovery %s: %s\n", name, error->message);
}

void
shell_enable_discovery (ShellContext         *ctx,
                        FoctetNode           *node,
                        FoctetDiscoveryFlags  flags,
                        FoctetTicket         *ticket)
{
  shell_enable_named_discovery (ctx, node, "mdns", flags);
  if (ticket != NULL && foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_RELAY))
    shell_enable_named_discovery (ctx, node, "relay", flags);
}

static gboolean
waited_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

int
shell_cmd_peers (ShellContext *ctx,
                 int           argc,
                 char        **argv)
{
  int wait_seconds = 2;
  const GOptionEntry entries[] = {
    { "wait", 'w', 0, G_OPTION_ARG_INT, &wait_seconds,
      "Listen for announcements this many seconds before listing (default 2)", "SECONDS" },
    { NULL }
  };
  g_auto(GStrv) loaded = NULL;
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(GError) error = NULL;
  GListModel *peers;
  gboolean waited = FALSE;
  guint timer;
  gint64 now;
  int ret;

  if ((ret = shell_parse_options ("peers", "", "List the peers found on the local network (mDNS).",
                                  entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("peers", argc, argv, NULL)) >= 0)
    return ret;
  if (wait_seconds < 0 || wait_seconds > 3600)
    return shell_usage_error ("peers: --wait %d is not between 0 and 3600", wait_seconds);

  loaded = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_DISCOVERY);
  if (!g_strv_contains ((const char * const *) loaded, "mdns"))
    {
      error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND,
                           "no plugin provides mDNS discovery (see foctet-shell plugins)");
      return shell_failure ("peers", error);
    }

  ret = SHELL_EXIT_OK;
  node = shell_make_node (ctx, &ret);
  if (node == NULL)
    return ret;
  if (!foctet_node_enable_discovery (node, "mdns", FOCTET_DISCOVERY_FLAGS_NONE, &error))
    {
      ret = shell_failure ("peers", error);
      goto out;
    }

  timer = g_timeout_add_seconds (wait_seconds, waited_cb, &waited);
  if (!shell_wait (&waited, TRUE, NULL))
    {
      g_source_remove (timer);
      goto out;
    }

  peers = foctet_node_get_peers (node);
  now = g_get_real_time ();
  for (guint i = 0; i < g_list_model_get_n_items (peers); i++)
    {
      g_autoptr(FoctetPeer) peer = g_list_model_get_item (peers, i);
      g_autofree char *node_id = foctet_node_id_to_string (foctet_peer_get_node_id (peer));
      g_auto(GStrv) addresses = foctet_peer_get_addresses (peer);
      g_autofree char *joined = g_strjoinv (",", addresses);
      gint64 age = MAX (0, now - foctet_peer_get_last_seen (peer)) / G_USEC_PER_SEC;

      g_print ("%s %s %" G_GINT64_FORMAT "s\n", node_id, joined[0] != '\0' ? joined : "-", age);
    }

out:
  shell_shutdown_node (node);
  return ret;
}

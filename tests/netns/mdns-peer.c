/* mdns-peer.c: a node with the "mdns" discovery, driven line by line for
 * test-mdns.c in a namespace of the bridge lab; or a sender of hostile
 * mDNS packets.
 *
 *   mdns-peer node
 *       a node listening on quic/0.0.0.0:0 and tls/0.0.0.0:0, its ticket
 *       published by mdns (loaded from the plugin path through the
 *       registry).  stdout: "id NODEID", "ticket TICKET", then one line per
 *       change of the discovery's peer list: "+ NODEID ADDRESS..." when a
 *       peer appears, "- NODEID" when it goes ("~ NODEID ADDRESS..." when
 *       its addresses change), and the answers to the commands read from
 *       stdin:
 *         stop | start     → "stopped" | "started" (start publishes again)
 *         publish quic|all → "published": the ticket without its TLS
 *                            addresses, or all of it
 *         resolve NODEID   → "resolved NODEID TICKET" | "resolve-failed NODEID CODE MESSAGE"
 *         ping NODEID      → resolve by mdns, foctet_node_dial_async() on the
 *                            ticket found, one foctet/ping/1 round trip:
 *                            "pong NODEID via=TRANSPORT" | "ping-failed NODEID MESSAGE"
 *         dropped          → "dropped N" (the dropped-packets counter)
 *         peers            → "peers N NODEID..." (the list, sorted)
 *         quit (or end of input, SIGTERM) → stops the discovery (goodbyes), exits 0
 *   mdns-peer announce INTERFACE TTL PORT SEED
 *       announces, once, a node that does not exist (NodeId made from
 *       SEED, address 10.78.0.200, quic=PORT) with records of the given
 *       TTL; prints "announced NODEID".
 *   mdns-peer hostile INTERFACE VICTIM OTHER
 *       sends malformed and hostile packets to 224.0.0.251:5353 on INTERFACE (see
 *       send_hostile()), then a goodbye for VICTIM's instance as if from
 *       VICTIM; prints "sent MALFORMED ABOUT-OTHER TOTAL FAKE" and exits:
 *       how many packets a receiver must drop and count (ABOUT-OTHER of
 *       them are about OTHER's instance, which OTHER itself ignores as its
 *       own), how many were sent, and the NodeId of a node announced from
 *       "off the link" (IP TTL 64) that nobody must list.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <foctet.h>

#include "foctet-dns-message.h"

typedef struct {
  GMainLoop *loop;
  FoctetNode *node;
  FoctetDiscovery *discovery;
  GPtrArray *shown;              /* char *NodeId per item of the list, in order */
  GDataInputStream *input;
  GCancellable *cancellable;
} Peer;

static void
say (const char *format,
     ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static char *
peer_line (FoctetPeer *peer)
{
  g_autofree char *id = foctet_node_id_to_string (foctet_peer_get_node_id (peer));
  g_auto(GStrv) addresses = foctet_peer_get_addresses (peer);
  g_autofree char *joined = g_strjoinv (" ", addresses);

  return g_strdup_printf ("%s %s", id, joined);
}

static void
peer_notify_cb (FoctetPeer *peer,
                GParamSpec *pspec,
                gpointer    user_data)
{
  g_autofree char *line = peer_line (peer);

  say ("~ %s", line);
}

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  Peer *p = user_data;

  for (guint i = 0; i < removed; i++)
    {
      char *id = g_ptr_array_steal_index (p->shown, position);

      say ("- %s", id);
      g_free (id);
    }
  for (guint i = 0; i < added; i++)
    {
      g_autoptr(FoctetPeer) peer = g_list_model_get_item (model, position + i);
      g_autofree char *line = peer_line (peer);

      g_ptr_array_insert (p->shown, position + i, foctet_node_id_to_string (foctet_peer_get_node_id (peer)));
      g_signal_connect_object (peer, "notify::addresses", G_CALLBACK (peer_notify_cb), NULL, 0);
      say ("+ %s", line);
    }
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/* ping: resolve, dial, one round trip. */

typedef struct {
  Peer *p;
  char *id;
  gboolean ping;
  FoctetConnection *connection;
  FoctetPinger *pinger;
} Request;

static void
request_free (Request *r)
{
  g_free (r->id);
  g_clear_object (&r->pinger);
  g_clear_object (&r->connection);
  g_free (r);
}

static void
ping_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Request *r = user_data;
  g_autoptr(GError) error = NULL;
  gint64 rtt = foctet_pinger_ping_finish (FOCTET_PINGER (source), result, &error);

  if (rtt < 0)
    say ("ping-failed %s %s", r->id, error->message);
  else
    say ("pong %s via=%s", r->id, foctet_connection_get_transport_name (r->connection));
  request_free (r);
}

static void
dial_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Request *r = user_data;
  g_autoptr(GError) error = NULL;

  r->connection = foctet_node_dial_finish (FOCTET_NODE (source), result, &error);
  if (r->connection == NULL)
    {
      say ("ping-failed %s %s", r->id, error->message);
      request_free (r);
      return;
    }
  r->pinger = foctet_pinger_new (r->connection);
  foctet_pinger_ping_async (r->pinger, NULL, ping_cb, r);
}

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Request *r = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_discovery_resolve_finish (FOCTET_DISCOVERY (source), result, &error);
  g_autofree char *text = NULL;

  if (ticket == NULL)
    {
      say ("%s-failed %s %s %s", r->ping ? "ping" : "resolve", r->id,
           g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND) ? "NOT_FOUND" : "OTHER", error->message);
      request_free (r);
      return;
    }
  text = foctet_ticket_to_string (ticket);
  if (!r->ping)
    {
      say ("resolved %s %s", r->id, text);
      request_free (r);
      return;
    }
  foctet_node_dial_async (r->p->node, ticket, NULL, NULL, dial_cb, r);
}

static void
request (Peer       *p,
         const char *id_text,
         gboolean    ping)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) id = foctet_node_id_parse (id_text, &error);
  g_autoptr(FoctetTicket) hint = NULL;
  Request *r;

  if (id == NULL)
    {
      say ("%s-failed %s BAD %s", ping ? "ping" : "resolve", id_text, error->message);
      return;
    }
  hint = foctet_ticket_new (id);
  r = g_new0 (Request, 1);
  r->p = p;
  r->id = foctet_node_id_to_string (id);
  r->ping = ping;
  foctet_discovery_resolve_async (p->discovery, hint, NULL, resolve_cb, r);
}

static void read_command (Peer *p);

static void
command_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Peer *p = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (p->input, result, NULL, &error);
  g_auto(GStrv) words = NULL;

  if (line == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_main_loop_quit (p->loop);
      return;
    }
  words = g_strsplit (g_strstrip (line), " ", -1);
  if (g_str_equal (words[0], "quit"))
    {
      g_main_loop_quit (p->loop);
      return;
    }
  if (g_str_equal (words[0], "stop"))
    {
      foctet_discovery_stop (p->discovery);
      say ("stopped");
    }
  else if (g_str_equal (words[0], "start"))
    {
      g_autoptr(FoctetTicket) ticket = foctet_node_get_ticket (p->node);

      if (!foctet_discovery_start (p->discovery, &error))
        say ("start-failed %s", error->message);
      else
        {
          foctet_discovery_publish (p->discovery, ticket);
          say ("started");
        }
    }
  else if (g_str_equal (words[0], "publish") && words[1] != NULL)
    {
      g_autoptr(FoctetTicket) full = foctet_node_get_ticket (p->node);
      g_autoptr(FoctetTicket) ticket = foctet_ticket_new (foctet_node_get_node_id (p->node));
      g_auto(GStrv) quic = foctet_ticket_get_addresses (full, FOCTET_ADDRESS_KIND_QUIC);

      /* "publish quic": the ticket without its TLS addresses; "publish
       * all": the whole ticket again. */
      if (g_str_equal (words[1], "all"))
        g_set_object (&ticket, full);
      else
        for (guint i = 0; quic[i] != NULL; i++)
          foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, quic[i], NULL);
      foctet_discovery_publish (p->discovery, ticket);
      say ("published");
    }
  else if ((g_str_equal (words[0], "resolve") || g_str_equal (words[0], "ping")) && words[1] != NULL)
    request (p, words[1], g_str_equal (words[0], "ping"));
  else if (g_str_equal (words[0], "dropped"))
    {
      guint64 dropped = 0;

      g_object_get (p->discovery, "dropped-packets", &dropped, NULL);
      say ("dropped %" G_GUINT64_FORMAT, dropped);
    }
  else if (g_str_equal (words[0], "peers"))
    {
      g_autoptr(GPtrArray) ids = g_ptr_array_new ();
      g_autofree char *joined = NULL;

      for (guint i = 0; i < p->shown->len; i++)
        g_ptr_array_add (ids, g_ptr_array_index (p->shown, i));
      g_ptr_array_sort (ids, compare_strings);
      g_ptr_array_add (ids, NULL);
      joined = g_strjoinv (" ", (char **) ids->pdata);
      say ("peers %u %s", p->shown->len, joined);
    }
  else
    say ("unknown-command %s", line);
  read_command (p);
}

static void
read_command (Peer *p)
{
  g_data_input_stream_read_line_async (p->input, G_PRIORITY_DEFAULT, p->cancellable, command_cb, p);
}

static gboolean
quit_cb (gpointer user_data)
{
  Peer *p = user_data;

  g_main_loop_quit (p->loop);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  char *uri;
  GError *error;
  gboolean done;
} Listen;

static void
listen_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Listen *l = user_data;

  l->uri = foctet_node_listen_finish (FOCTET_NODE (source), result, &l->error);
  l->done = TRUE;
}

static gboolean
listen_on (FoctetNode *node,
           const char *uri)
{
  Listen l = { 0 };

  foctet_node_listen_async (node, uri, NULL, listen_cb, &l);
  while (!l.done)
    g_main_context_iteration (NULL, TRUE);
  if (l.uri == NULL)
    {
      g_printerr ("mdns-peer: listen on %s: %s\n", uri, l.error->message);
      g_error_free (l.error);
      return FALSE;
    }
  g_free (l.uri);
  return TRUE;
}

static int
run_node (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GInputStream) stdin_stream = NULL;
  g_autofree char *id = NULL, *text = NULL;
  Peer p = { 0 };
  guint sigterm, sigint;

  if (identity == NULL)
    {
      g_printerr ("mdns-peer: identity: %s\n", error->message);
      return 1;
    }
  p.loop = g_main_loop_new (NULL, FALSE);
  p.node = foctet_node_new (identity);
  p.shown = g_ptr_array_new_with_free_func (g_free);
  p.cancellable = g_cancellable_new ();
  if (!listen_on (p.node, "quic/0.0.0.0:0") || !listen_on (p.node, "tls/0.0.0.0:0"))
    return 1;
  p.discovery = foctet_registry_create_discovery (foctet_registry_get_default (), "mdns", identity, &error);
  if (p.discovery == NULL)
    {
      g_printerr ("mdns-peer: %s\n", error->message);
      return 1;
    }
  g_signal_connect (foctet_discovery_get_peers (p.discovery), "items-changed", G_CALLBACK (items_changed_cb), &p);

  id = foctet_node_id_to_string (foctet_node_get_node_id (p.node));
  ticket = foctet_node_get_ticket (p.node);
  text = foctet_ticket_to_string (ticket);
  say ("id %s", id);
  say ("ticket %s", text);
  if (!foctet_discovery_start (p.discovery, &error))
    {
      g_printerr ("mdns-peer: start: %s\n", error->message);
      return 1;
    }
  foctet_discovery_publish (p.discovery, ticket);

  stdin_stream = g_unix_input_stream_new (0, FALSE);
  p.input = g_data_input_stream_new (stdin_stream);
  read_command (&p);
  sigterm = g_unix_signal_add (SIGTERM, quit_cb, &p);
  sigint = g_unix_signal_add (SIGINT, quit_cb, &p);
  g_main_loop_run (p.loop);
  g_source_remove (sigterm);
  g_source_remove (sigint);

  g_cancellable_cancel (p.cancellable);
  foctet_discovery_stop (p.discovery);
  /* Let the cancelled read come back before the stream goes. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_signal_handlers_disconnect_by_data (foctet_discovery_get_peers (p.discovery), &p);
  g_clear_object (&p.discovery);
  g_clear_object (&p.input);
  g_clear_object (&p.cancellable);
  g_ptr_array_unref (p.shown);
  g_clear_object (&p.node);
  g_main_loop_unref (p.loop);
  return 0;
}

/* Hostile packets. */

static GBytes *
hex (const char *text)
{
  gsize n = strlen (text) / 2;
  guint8 *data = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    data[i] = (guint8) (g_ascii_xdigit_value (text[2 * i]) * 16 + g_ascii_xdigit_value (text[2 * i + 1]));
  return g_bytes_new_take (data, n);
}

static GBytes *
built (FoctetDnsMessage *message)
{
  GBytes *bytes = foctet_dns_message_build (message, NULL);

  g_assert (bytes != NULL);
  return bytes;
}

/* Malformed packets, then well-formed hostile ones; returns the count of
 * malformed ones (each of which a receiver must drop and count), and sets
 * @about_other to how many of them are about OTHER's instance. */
static guint
hostile_packets (GPtrArray  *out,
                 const char *victim,
                 const char *other,
                 guint      *about_other)
{
  static const char * const malformed[] = {
    /* compression loop: a pointer to itself */
    "000084000000000100000000c00c000c000100001194000201c0",
    /* a loop between two names */
    "000000000002000000000000" "0161c012" "000c0001" "0162c00c" "000c0001",
    /* a forward pointer */
    "000000000001000000000000c02000010001" "00000000000000000000000000000000",
    /* a label past the end */
    "0000840000000001000000003f616161",
    /* record data past the end */
    "0000840000000001000000000000010001000000780010" "0a000001",
    /* absurd counts */
    "0000840000ff00ff00ff00ff00000100010000000000000000",
    "00008400ffffffffffffffff",
    /* a TXT string past its record */
    "000084000000000100000000000010000100000078000305763d31",
    /* too short for a header */
    "0000",
  };
  guint count = 0;

  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    g_ptr_array_add (out, hex (malformed[i]));
  count += G_N_ELEMENTS (malformed);

  /* Random garbage, reproducible. */
  {
    g_autoptr(GRand) rand = g_rand_new_with_seed (5353);

    for (guint i = 0; i < 50; i++)
      {
        gsize n = 12 + g_rand_int_range (rand, 0, 300);
        guint8 *data = g_malloc (n);

        for (gsize j = 0; j < n; j++)
          data[j] = (guint8) g_rand_int_range (rand, 0, 256);
        /* Counts that cannot fit, so that none of them parses by chance. */
        data[4] = 0xff;
        g_ptr_array_add (out, g_bytes_new_take (data, n));
      }
    count += 50;
  }

  /* A TXT for OTHER's instance whose id is VICTIM's (cache-flush: it
   * would replace the right one if it were believed), and one without a
   * version: both dropped and counted. */
  {
    g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
    g_autofree char *instance = g_strconcat (other, "._foctet._udp.local", NULL);
    g_autofree char *id = g_strconcat ("id=", victim, NULL);
    const char *txt[] = { "v=1", id, "quic=1", "tls=1", NULL };
    const char *txt2[] = { "id=x", NULL };

    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_txt (instance, txt, 4500));
    g_ptr_array_add (out, built (m));
    g_ptr_array_set_size (m->sections[FOCTET_DNS_SECTION_ANSWER], 0);
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_txt (instance, txt2, 4500));
    g_ptr_array_add (out, built (m));
    count += 2;
    *about_other = 2;
  }
  /* Well-formed but not ours to use: an instance that is not a NodeId, a
   * query storm for our type. */
  {
    g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
    g_autoptr(FoctetDnsMessage) q = foctet_dns_message_new (0, 0);

    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_ptr ("_foctet._udp.local", "Not A Node._foctet._udp.local", 4500));
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_srv ("Not A Node._foctet._udp.local", 0, 0, 1, "x.local", 120));
    g_ptr_array_add (out, built (m));
    foctet_dns_message_add_question (q, "_foctet._udp.local", FOCTET_DNS_TYPE_PTR, FALSE);
    for (guint i = 0; i < 20; i++)
      g_ptr_array_add (out, built (q));
  }
  return count;
}

static int
run_hostile (const char *interface,
             const char *victim,
             const char *other)
{
  struct ip_mreqn mreq = { .imr_ifindex = (int) if_nametoindex (interface) };
  g_autoptr(GPtrArray) packets = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, &error);
  g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (any, 5353);
  g_autoptr(GSocketAddress) group = g_inet_socket_address_new_from_string ("224.0.0.251", 5353);
  guint malformed, about_other = 0;
  g_autofree char *fake_id = NULL;

  if (socket == NULL || !g_socket_bind (socket, local, TRUE, &error))
    {
      g_printerr ("mdns-peer: hostile: %s\n", error->message);
      return 1;
    }
  g_socket_set_multicast_ttl (socket, 255);
  if (mreq.imr_ifindex == 0
      || setsockopt (g_socket_get_fd (socket), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0)
    {
      g_printerr ("mdns-peer: hostile: cannot send on %s\n", interface);
      return 1;
    }
  malformed = hostile_packets (packets, victim, other, &about_other);

  /* A well-formed announcement of a node that does not exist, with an
   * IP TTL of 64 as if routed from elsewhere: dropped as not from the
   * link (RFC 6762 §11). */
  {
    guint8 key[32];
    g_autoptr(FoctetNodeId) fake = NULL;
    g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string ("10.78.0.200");
    g_autoptr(GBytes) bytes = NULL;
    g_autofree char *instance = NULL, *host = NULL, *id = NULL;
    const char *txt[] = { "v=1", NULL, "quic=4433", NULL };

    for (guint i = 0; i < sizeof key; i++)
      key[i] = (guint8) (i * 7 + 1);
    fake = foctet_node_id_new_from_data (key, sizeof key, NULL);
    fake_id = foctet_node_id_to_string (fake);
    instance = g_strconcat (fake_id, "._foctet._udp.local", NULL);
    host = g_strconcat (fake_id, ".local", NULL);
    id = g_strconcat ("id=", fake_id, NULL);
    txt[1] = id;
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_ptr ("_foctet._udp.local", instance, 4500));
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_srv (instance, 0, 0, 4433, host, 120));
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER, foctet_dns_record_new_txt (instance, txt, 4500));
    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_address (host, address, 120, TRUE));
    bytes = built (m);
    g_socket_set_multicast_ttl (socket, 64);
    if (g_socket_send_to (socket, group, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL,
                          &error) < 0)
      {
        g_printerr ("mdns-peer: hostile: send: %s\n", error->message);
        return 1;
      }
    g_socket_set_multicast_ttl (socket, 255);
    malformed++;
  }

  /* Last, a goodbye for VICTIM's instance: anyone may say it (mDNS has
   * no authentication), and receivers believe it. */
  {
    g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
    g_autofree char *instance = g_strconcat (victim, "._foctet._udp.local", NULL);

    foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_new_ptr ("_foctet._udp.local", instance, 0));
    g_ptr_array_add (packets, built (m));
  }

  for (guint i = 0; i < packets->len; i++)
    {
      GBytes *bytes = g_ptr_array_index (packets, i);

      if (g_socket_send_to (socket, group, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL,
                            &error) < 0)
        {
          g_printerr ("mdns-peer: hostile: send: %s\n", error->message);
          return 1;
        }
      /* Not faster than a receive buffer takes them. */
      g_usleep (2000);
    }
  say ("sent %u %u %u %s", malformed, about_other, packets->len + 1, fake_id);
  return 0;
}

/* One announcement, as a node that does not otherwise exist would send
 * it: PTR, SRV, TXT (quic=PORT) and A 10.78.0.200, the given ttl on all;
 * its NodeId is made from SEED. */
static int
run_announce (const char *interface,
              const char *ttl_text,
              const char *port_text,
              const char *seed_text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, &error);
  g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (any, 5353);
  g_autoptr(GSocketAddress) group = g_inet_socket_address_new_from_string ("224.0.0.251", 5353);
  g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  g_autoptr(FoctetNodeId) node_id = NULL;
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *id = NULL, *instance = NULL, *host = NULL, *id_txt = NULL, *port_txt = NULL;
  struct ip_mreqn mreq = { .imr_ifindex = (int) if_nametoindex (interface) };
  guint32 ttl = (guint32) g_ascii_strtoull (ttl_text, NULL, 10);
  guint16 port = (guint16) g_ascii_strtoull (port_text, NULL, 10);
  guint8 key[32];
  const char *txt[] = { "v=1", NULL, NULL, NULL };

  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) (i * 3 + g_ascii_strtoull (seed_text, NULL, 10));
  node_id = foctet_node_id_new_from_data (key, sizeof key, NULL);
  id = foctet_node_id_to_string (node_id);
  instance = g_strconcat (id, "._foctet._udp.local", NULL);
  host = g_strconcat (id, ".local", NULL);
  id_txt = g_strconcat ("id=", id, NULL);
  port_txt = g_strdup_printf ("quic=%u", port);
  txt[1] = id_txt;
  txt[2] = port_txt;
  address = g_inet_address_new_from_string ("10.78.0.200");

  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_ptr ("_foctet._udp.local", instance, ttl));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_srv (instance, 0, 0, port, host, ttl));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER, foctet_dns_record_new_txt (instance, txt, ttl));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_address (host, address, ttl, TRUE));
  bytes = built (m);

  if (socket == NULL || !g_socket_bind (socket, local, TRUE, &error))
    {
      g_printerr ("mdns-peer: announce: %s\n", error->message);
      return 1;
    }
  g_socket_set_multicast_ttl (socket, 255);
  if (mreq.imr_ifindex == 0
      || setsockopt (g_socket_get_fd (socket), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0
      || g_socket_send_to (socket, group, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL,
                           &error) < 0)
    {
      g_printerr ("mdns-peer: announce on %s: %s\n", interface, error != NULL ? error->message : "no such interface");
      return 1;
    }
  say ("announced %s", id);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  /* stdout is for the test; G_MESSAGES_DEBUG output goes to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);
  if (argc == 2 && g_str_equal (argv[1], "node"))
    return run_node ();
  if (argc == 5 && g_str_equal (argv[1], "hostile"))
    return run_hostile (argv[2], argv[3], argv[4]);
  if (argc == 6 && g_str_equal (argv[1], "announce"))
    return run_announce (argv[2], argv[3], argv[4], argv[5]);
  g_printerr ("usage: mdns-peer node\n"
              "       mdns-peer hostile INTERFACE VICTIM OTHER\n"
              "       mdns-peer announce INTERFACE TTL PORT SEED\n");
  return 2;
}

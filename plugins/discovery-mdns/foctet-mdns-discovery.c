/* foctet-mdns-discovery.c: the "mdns" discovery — multicast DNS and
 * DNS-SD (RFC 6762, RFC 6763) on the LAN, as docs/protocol.md "LAN
 * discovery (mDNS)" specifies.
 *
 * One UDP socket per address family, bound to port 5353 with
 * SO_REUSEADDR and SO_REUSEPORT (next to avahi-daemon or any other
 * responder), joined to 224.0.0.251 and ff02::fb on every interface that
 * is up and multicast-capable — looked at again when the routes change
 * (#GNetworkMonitor).  Everything runs
 * on the #GMainContext that was thread-default at construction.
 *
 * This file holds the sockets, receiving, the #FoctetDiscovery interface
 * and the object.  Browsing, resolving, expiry and refresh are in
 * foctet-mdns-querier.c, the cache and the peer list in
 * foctet-mdns-cache.c, publishing and answering in
 * foctet-mdns-responder.c; what they share is in
 * foctet-mdns-discovery-private.h.
 *
 * Browsing: PTR queries for _foctet._udp.local, 1 s apart, then 2 s, 4 s …
 * up to an hour (RFC 6762 §5.2), carrying the answers already known
 * (§7.1); a query someone else sent with no answer we lack counts as ours
 * (§7.3).  What comes back (PTR, SRV, TXT, A, AAAA from any section) fills
 * a cache; an instance whose name is a NodeId, with a TXT whose id is that
 * NodeId, an SRV and at least one address becomes a #FoctetPeer in the
 * list.  Records live for their ttl; peers are asked again at 80 % and
 * 90 % of it and dropped at its end, or at once on a goodbye (ttl 0).
 *
 * Publishing: the node's ticket becomes PTR, SRV, TXT, A/AAAA records
 * (and the DNS-SD service enumeration PTR), announced three times, 1 s
 * apart (§8.3), answered to queries — each record multicast at most once
 * a second on an interface (§6) and what that holds back as soon as it
 * may, a querier asking for unicast (§5.4) getting that part at once, none
 * the querier listed as known with at least half its ttl left (§7.1);
 * shared records after 20–120 ms, during which the same answer from
 * another responder suppresses ours (§7.4) — and withdrawn with goodbyes.
 * Legacy unicast queries (from a port other than 5353, §6.7) get a unicast
 * answer with a ttl of at most 10 s.  Everything leaves with IP TTL 255.
 *
 * Packets that do not parse, responses not from the link (IP TTL other
 * than 255, §11) or from another port than 5353, and announcements that
 * do not hold together (an id that is not the instance's NodeId, no
 * version 1) are dropped with a debug message and counted
 * (#FoctetMdnsDiscovery:dropped-packets).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "foctet-mdns-discovery-private.h"

/* The largest packet read, and how many are read in one go. */
#define MAX_PACKET FOCTET_DNS_MAX_MESSAGE
#define RECEIVE_BURST 16

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_DROPPED_PACKETS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void foctet_mdns_discovery_iface_init (FoctetDiscoveryInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (FoctetMdnsDiscovery, foctet_mdns_discovery, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_DISCOVERY,
                                                               foctet_mdns_discovery_iface_init))

GSource *
mdns_timeout_source (FoctetMdnsDiscovery *self,
                     guint                ms,
                     GSourceFunc          callback,
                     gpointer             data)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, callback, data, NULL);
  g_source_attach (source, self->context);
  return source;
}

void
mdns_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
drop_packet (FoctetMdnsDiscovery *self,
             const char          *from,
             const char          *why)
{
  self->dropped++;
  g_debug ("Dropped an mDNS packet from %s: %s", from, why);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DROPPED_PACKETS]);
}

/* Sockets. */

static void
endpoint_free (Endpoint *endpoint)
{
  if (endpoint == NULL)
    return;
  mdns_clear_source (&endpoint->source);
  if (endpoint->socket != NULL)
    g_socket_close (endpoint->socket, NULL);
  g_clear_object (&endpoint->socket);
  g_clear_object (&endpoint->group);
  g_clear_pointer (&endpoint->interfaces, g_array_unref);
  g_free (endpoint);
}

static const char *
family_name (GSocketFamily family)
{
  return family == G_SOCKET_FAMILY_IPV4 ? "IPv4" : "IPv6";
}

/* Sends @bytes to the group on @ifindex, or to @to. */
void
mdns_endpoint_send (Endpoint       *endpoint,
                    int             ifindex,
                    GBytes         *bytes,
                    GSocketAddress *to)
{
  g_autoptr(GError) error = NULL;
  int fd = g_socket_get_fd (endpoint->socket);

  if (to == NULL)
    {
      int rc;

      if (endpoint->family == G_SOCKET_FAMILY_IPV4)
        {
          struct ip_mreqn mreq = { .imr_ifindex = ifindex };

          rc = setsockopt (fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq);
        }
      else
        rc = setsockopt (fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
      if (rc < 0)
        {
          g_debug ("Cannot send mDNS on interface %d (%s): %s", ifindex, family_name (endpoint->family),
                   g_strerror (errno));
          return;
        }
    }
  if (g_socket_send_to (endpoint->socket, to != NULL ? to : endpoint->group, g_bytes_get_data (bytes, NULL),
                        g_bytes_get_size (bytes), NULL, &error) < 0)
    g_debug ("Cannot send an mDNS packet on interface %d (%s): %s", ifindex,
             family_name (endpoint->family), error->message);
}

GBytes *
mdns_build (FoctetDnsMessage *message)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes = foctet_dns_message_build (message, &error);

  /* Our own names are valid: a failure here is a bug. */
  if (bytes == NULL)
    g_critical ("Cannot build an mDNS message: %s", error->message);
  return bytes;
}

/* Sends @message on every interface of every socket. */
void
mdns_send_everywhere (FoctetMdnsDiscovery *self,
                      FoctetDnsMessage    *message)
{
  g_autoptr(GBytes) bytes = mdns_build (message);

  if (bytes == NULL)
    return;
  for (int e = 0; e < 2; e++)
    {
      Endpoint *endpoint = self->endpoints[e];

      for (guint i = 0; endpoint != NULL && i < endpoint->interfaces->len; i++)
        mdns_endpoint_send (endpoint, g_array_index (endpoint->interfaces, int, i), bytes, NULL);
    }
}

/* Receiving. */

static void
handle_response (FoctetMdnsDiscovery    *self,
                 Endpoint               *endpoint,
                 int                     ifindex,
                 const FoctetDnsMessage *message,
                 const char             *from)
{
  g_autoptr(GPtrArray) touched = g_ptr_array_new ();
  g_autoptr(GPtrArray) hosts = g_ptr_array_new ();
  gboolean bad = FALSE;

  mdns_suppress_duplicates (self, endpoint, ifindex, message);

  /* Services first, then the addresses of the hosts they name. */
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      {
        Instance *instance = mdns_cache_service_record (self, g_ptr_array_index (message->sections[s], i), from, &bad);

        if (instance != NULL && !g_ptr_array_find (touched, instance, NULL))
          g_ptr_array_add (touched, instance);
      }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      {
        FoctetDnsRecord *record = g_ptr_array_index (message->sections[s], i);

        if (mdns_cache_address_record (self, record))
          g_ptr_array_add (hosts, record->name);
      }

  if (hosts->len > 0)
    {
      GHashTableIter iter;
      Instance *instance;

      /* Addresses may be all an instance was waiting for. */
      g_hash_table_iter_init (&iter, self->instances);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &instance))
        for (guint i = 0; i < hosts->len; i++)
          if (foctet_dns_name_equal (instance->srv_target, g_ptr_array_index (hosts, i))
              && !g_ptr_array_find (touched, instance, NULL))
            g_ptr_array_add (touched, instance);
    }
  for (guint i = 0; i < touched->len; i++)
    mdns_instance_evaluate (self, g_ptr_array_index (touched, i), TRUE);
  if (bad)
    drop_packet (self, from, "an announcement that does not hold together (see above)");
  if (touched->len > 0 || hosts->len > 0)
    mdns_schedule_maintenance (self);
}

/* @hop_limit: the IP TTL or hop limit the packet arrived with, -1 if
 * unknown. */
static void
handle_packet (Endpoint       *endpoint,
               int             ifindex,
               int             hop_limit,
               const guint8   *data,
               gsize           size,
               GSocketAddress *from)
{
  FoctetMdnsDiscovery *self = endpoint->self;
  g_autoptr(FoctetDnsMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *from_text = foctet_socket_address_to_string (from);

  message = foctet_dns_message_parse (data, size, &error);
  if (message == NULL)
    {
      drop_packet (self, from_text, error->message);
      return;
    }
  /* RFC 6762 §18.3, §18.11: only standard queries and responses. */
  if ((message->flags & 0x7800) != 0 || (message->flags & 0x000f) != 0)
    {
      drop_packet (self, from_text, "not a standard query or response (opcode or rcode not 0)");
      return;
    }
  if (message->flags & FOCTET_DNS_FLAG_RESPONSE)
    {
      /* Responses count from port 5353 only (RFC 6762 §6)... */
      if (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from)) != FOCTET_MDNS_PORT)
        {
          drop_packet (self, from_text, "a response from a port other than 5353");
          return;
        }
      /* ...and from the local link (§11): every responder sends with a
       * TTL of 255, which no router passes on undiminished, so that the
       * port is no way in for a host elsewhere. */
      if (hop_limit >= 0 && hop_limit != 255)
        {
          g_autofree char *why = g_strdup_printf ("a response with IP TTL %d, not 255: not from this link",
                                                  hop_limit);

          drop_packet (self, from_text, why);
          return;
        }
      handle_response (self, endpoint, ifindex, message, from_text);
    }
  else
    {
      mdns_suppress_duplicate_question (self, message);
      mdns_answer_query (self, endpoint, ifindex, message, from);
    }
}

static gboolean
receive_cb (GSocket      *socket,
            GIOCondition  condition,
            gpointer      user_data)
{
  Endpoint *endpoint = user_data;
  /* What a packet sets off (a peer in the list) may stop us. */
  g_autoptr(FoctetMdnsDiscovery) self = g_object_ref (endpoint->self);
  int fd = g_socket_get_fd (socket);

  for (guint n = 0; n < RECEIVE_BURST; n++)
    {
      guint8 buffer[MAX_PACKET];
      struct sockaddr_storage from;
      union {
        struct cmsghdr align;
        char buf[CMSG_SPACE (sizeof (struct in6_pktinfo)) + CMSG_SPACE (sizeof (struct in_pktinfo))
                 + 2 * CMSG_SPACE (sizeof (int))];
      } control;
      struct iovec iov = { buffer, sizeof buffer };
      struct msghdr msg = {
        .msg_name = &from, .msg_namelen = sizeof from,
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buf, .msg_controllen = sizeof control.buf,
      };
      g_autoptr(GSocketAddress) address = NULL;
      ssize_t got;
      int ifindex = 0;
      int hop_limit = -1;

      got = recvmsg (fd, &msg, MSG_DONTWAIT);
      if (got < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            g_debug ("mDNS receive (%s): %s", family_name (endpoint->family), g_strerror (errno));
          break;
        }
      for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
        {
          if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
            {
              struct in_pktinfo info;

              memcpy (&info, CMSG_DATA (c), sizeof info);
              ifindex = info.ipi_ifindex;
            }
          else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
            {
              struct in6_pktinfo info;

              memcpy (&info, CMSG_DATA (c), sizeof info);
              ifindex = (int) info.ipi6_ifindex;
            }
          else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
                   || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT))
            memcpy (&hop_limit, CMSG_DATA (c), sizeof hop_limit);
        }
      address = g_socket_address_new_from_native (&from, msg.msg_namelen);
      if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
        continue;
      if (msg.msg_flags & MSG_TRUNC)
        {
          g_autofree char *from_text = foctet_socket_address_to_string (address);

          drop_packet (self, from_text, "larger than 9000 bytes");
          continue;
        }
      handle_packet (endpoint, ifindex, hop_limit, buffer, (gsize) got, address);
      if (self->endpoints[0] != endpoint && self->endpoints[1] != endpoint)
        break;
    }
  return G_SOURCE_CONTINUE;
}

/* The interfaces to join: up, multicast-capable, not loopback, with an
 * address of @family. */
static GArray *
multicast_interfaces (GSocketFamily family)
{
  GArray *interfaces = g_array_new (FALSE, FALSE, sizeof (int));
  struct ifaddrs *list = NULL;
  int af = family == G_SOCKET_FAMILY_IPV4 ? AF_INET : AF_INET6;

  if (getifaddrs (&list) < 0)
    {
      g_debug ("Cannot list network interfaces: %s", g_strerror (errno));
      return interfaces;
    }
  for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
    {
      int index;
      gboolean known = FALSE;

      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != af || !(i->ifa_flags & IFF_UP)
          || !(i->ifa_flags & IFF_MULTICAST) || (i->ifa_flags & IFF_LOOPBACK))
        continue;
      index = (int) if_nametoindex (i->ifa_name);
      for (guint j = 0; j < interfaces->len && !known; j++)
        known = g_array_index (interfaces, int, j) == index;
      if (index > 0 && !known)
        g_array_append_val (interfaces, index);
    }
  freeifaddrs (list);
  return interfaces;
}

static gboolean
interface_in (GArray *interfaces,
              int     index)
{
  for (guint i = 0; i < interfaces->len; i++)
    if (g_array_index (interfaces, int, i) == index)
      return TRUE;
  return FALSE;
}

/* Joins the group on the interfaces that are up now and were not joined,
 * and forgets those that went.  Returns how many it joined. */
static guint
endpoint_update_interfaces (Endpoint *endpoint)
{
  g_autoptr(GArray) candidates = multicast_interfaces (endpoint->family);
  GInetAddress *group = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (endpoint->group));
  guint joined = 0;

  for (guint i = endpoint->interfaces->len; i-- > 0;)
    {
      int index = g_array_index (endpoint->interfaces, int, i);
      char name[IF_NAMESIZE];

      if (interface_in (candidates, index))
        continue;
      /* Gone or down: the kernel may have left the group already. */
      if (if_indextoname ((unsigned) index, name) != NULL)
        g_socket_leave_multicast_group (endpoint->socket, group, FALSE, name, NULL);
      g_debug ("mDNS no longer on interface %d (%s)", index, family_name (endpoint->family));
      g_array_remove_index (endpoint->interfaces, i);
    }
  for (guint i = 0; i < candidates->len; i++)
    {
      int index = g_array_index (candidates, int, i);
      char name[IF_NAMESIZE];
      g_autoptr(GError) error = NULL;

      if (interface_in (endpoint->interfaces, index) || if_indextoname ((unsigned) index, name) == NULL)
        continue;
      if (!g_socket_join_multicast_group (endpoint->socket, group, FALSE, name, &error))
        {
          g_debug ("Cannot join the mDNS group on %s (%s): %s", name, family_name (endpoint->family),
                   error->message);
          continue;
        }
      g_debug ("mDNS on %s (%s)", name, family_name (endpoint->family));
      g_array_append_val (endpoint->interfaces, index);
      joined++;
    }
  return joined;
}

static Endpoint *
endpoint_open (FoctetMdnsDiscovery  *self,
               GSocketFamily         family,
               GError              **error)
{
  Endpoint *endpoint = g_new0 (Endpoint, 1);
  g_autoptr(GInetAddress) any = g_inet_address_new_any (family);
  g_autoptr(GInetAddress) group = g_inet_address_new_from_string (family == G_SOCKET_FAMILY_IPV4
                                                                  ? FOCTET_MDNS_GROUP_IPV4
                                                                  : FOCTET_MDNS_GROUP_IPV6);
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new (any, FOCTET_MDNS_PORT);
  gboolean ok;

  endpoint->self = self;
  endpoint->family = family;
  endpoint->group = g_inet_socket_address_new (group, FOCTET_MDNS_PORT);
  endpoint->interfaces = g_array_new (FALSE, FALSE, sizeof (int));
  endpoint->socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (endpoint->socket == NULL)
    goto fail;
  g_socket_set_blocking (endpoint->socket, FALSE);

  /* The interface a packet came in on, and its TTL. */
  if (family == G_SOCKET_FAMILY_IPV4)
    ok = g_socket_set_option (endpoint->socket, IPPROTO_IP, IP_PKTINFO, 1, error)
         && g_socket_set_option (endpoint->socket, IPPROTO_IP, IP_RECVTTL, 1, error);
  else
    ok = g_socket_set_option (endpoint->socket, IPPROTO_IPV6, IPV6_V6ONLY, 1, error)
         && g_socket_set_option (endpoint->socket, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, error)
         && g_socket_set_option (endpoint->socket, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, error);
  if (!ok)
    goto fail;
  /* Port 5353 is shared with every other responder on the machine: with
   * allow_reuse, GLib sets SO_REUSEADDR and, on datagram sockets,
   * SO_REUSEPORT. */
  if (!g_socket_bind (endpoint->socket, bind_address, TRUE, error))
    goto fail;
  /* RFC 6762 §11: everything we send, unicast answers included, leaves
   * with a TTL of 255, which receivers check. */
  g_socket_set_multicast_ttl (endpoint->socket, 255);
  g_socket_set_ttl (endpoint->socket, 255);
  /* Other nodes on this machine hear us; we ignore our own records by
   * their NodeId. */
  g_socket_set_multicast_loopback (endpoint->socket, TRUE);

  endpoint_update_interfaces (endpoint);
  if (endpoint->interfaces->len == 0)
    g_debug ("No multicast-capable interface for mDNS over %s yet", family_name (family));

  endpoint->source = g_socket_create_source (endpoint->socket, G_IO_IN, NULL);
  g_source_set_callback (endpoint->source, G_SOURCE_FUNC (receive_cb), endpoint, NULL);
  g_source_attach (endpoint->source, self->context);
  return endpoint;

fail:
  g_prefix_error (error, "Cannot open the mDNS socket (%s, port %d): ", family_name (family), FOCTET_MDNS_PORT);
  endpoint_free (endpoint);
  return NULL;
}

/* Interfaces that change: when the routes change (an interface came up,
 * got an address, went), the interfaces are looked at again a moment
 * later; on one joined anew we announce and browse from the start, as on
 * a start (RFC 6762 §8.3, §5.2). */

static gboolean
rescan_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;
  guint joined = 0;

  g_clear_pointer (&self->rescan_timer, g_source_unref);
  for (int e = 0; e < 2; e++)
    if (self->endpoints[e] != NULL)
      joined += endpoint_update_interfaces (self->endpoints[e]);
  if (joined > 0)
    {
      mdns_start_announcing (self);
      self->query_interval_ms = QUERY_INTERVAL_FIRST_MS;
      mdns_schedule_query (self, g_random_int_range (20, 121));
    }
  return G_SOURCE_REMOVE;
}

static gboolean
schedule_rescan_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  if (self->started && self->rescan_timer == NULL)
    self->rescan_timer = mdns_timeout_source (self, 200, rescan_cb, self);
  return G_SOURCE_REMOVE;
}

static void
network_changed_cb (GNetworkMonitor *monitor,
                    gboolean         available,
                    gpointer         user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  /* The default monitor signals on the context it was made on, which
   * need not be ours. */
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, schedule_rescan_cb, g_object_ref (self),
                              g_object_unref);
}

/* The interface. */

static const char *
foctet_mdns_discovery_get_name (FoctetDiscovery *discovery)
{
  return FOCTET_MDNS_DISCOVERY_NAME;
}

static gboolean
foctet_mdns_discovery_start (FoctetDiscovery  *discovery,
                             GError          **error)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (discovery);
  g_autoptr(GError) v6_error = NULL;

  if (self->started)
    return TRUE;

  self->endpoints[0] = endpoint_open (self, G_SOCKET_FAMILY_IPV4, error);
  if (self->endpoints[0] == NULL)
    return FALSE;
  self->endpoints[1] = endpoint_open (self, G_SOCKET_FAMILY_IPV6, &v6_error);
  if (self->endpoints[1] == NULL)
    g_debug ("mDNS over IPv4 only: %s", v6_error->message);
  self->started = TRUE;

  /* RFC 6762 §5.2: the first query after 20–120 ms. */
  self->query_interval_ms = QUERY_INTERVAL_FIRST_MS;
  mdns_schedule_query (self, g_random_int_range (20, 121));
  mdns_start_announcing (self);

  self->monitor = g_object_ref (g_network_monitor_get_default ());
  self->monitor_handler = g_signal_connect (self->monitor, "network-changed", G_CALLBACK (network_changed_cb), self);
  return TRUE;
}

static void
foctet_mdns_discovery_stop (FoctetDiscovery *discovery)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (discovery);

  if (!self->started)
    return;
  mdns_send_goodbyes (self, self->records, NULL);
  self->started = FALSE;

  g_clear_signal_handler (&self->monitor_handler, self->monitor);
  g_clear_object (&self->monitor);
  mdns_clear_source (&self->rescan_timer);
  mdns_clear_source (&self->query_timer);
  mdns_clear_source (&self->announce_timer);
  mdns_clear_source (&self->maintenance_timer);
  g_ptr_array_set_size (self->delayed, 0);
  mdns_fail_resolves (self, "mDNS discovery stopped");
  for (int e = 0; e < 2; e++)
    g_clear_pointer (&self->endpoints[e], endpoint_free);

  g_hash_table_remove_all (self->instances);
  g_hash_table_remove_all (self->hosts);
  g_hash_table_remove_all (self->last_multicast);
  g_list_store_remove_all (self->peers);
}

static void
foctet_mdns_discovery_publish (FoctetDiscovery *discovery,
                               FoctetTicket    *own)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (discovery);
  GPtrArray *records = NULL;

  if (own != NULL && !foctet_node_id_equal (foctet_ticket_get_node_id (own),
                                            foctet_identity_get_node_id (self->identity)))
    {
      g_critical ("mdns: the ticket to publish is not this node's");
      return;
    }
  if (own != NULL)
    records = mdns_records_for_ticket (self, own);
  /* What changed is withdrawn; what stays is announced again. */
  mdns_send_goodbyes (self, self->records, records);
  g_clear_pointer (&self->records, g_ptr_array_unref);
  self->records = records;
  g_hash_table_remove_all (self->last_multicast);
  if (records == NULL)
    mdns_clear_source (&self->announce_timer);
  else
    mdns_start_announcing (self);
}

static GListModel *
foctet_mdns_discovery_get_peers (FoctetDiscovery *discovery)
{
  return G_LIST_MODEL (FOCTET_MDNS_DISCOVERY (discovery)->peers);
}

static void
foctet_mdns_discovery_iface_init (FoctetDiscoveryInterface *iface)
{
  iface->get_name = foctet_mdns_discovery_get_name;
  iface->start = foctet_mdns_discovery_start;
  iface->stop = foctet_mdns_discovery_stop;
  iface->resolve_async = mdns_resolve_async;
  iface->resolve_finish = mdns_resolve_finish;
  iface->publish = foctet_mdns_discovery_publish;
  iface->get_peers = foctet_mdns_discovery_get_peers;
}

/* The object. */

static void
foctet_mdns_discovery_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_DROPPED_PACKETS:
      g_value_set_uint64 (value, self->dropped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_mdns_discovery_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_mdns_discovery_constructed (GObject *object)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (object);

  G_OBJECT_CLASS (foctet_mdns_discovery_parent_class)->constructed (object);

  g_assert (FOCTET_IS_IDENTITY (self->identity));
  /* 52 characters: one DNS label (at most 63). */
  self->own_label = foctet_node_id_to_string (foctet_identity_get_node_id (self->identity));
  self->own_instance = g_strconcat (self->own_label, ".", FOCTET_MDNS_SERVICE, NULL);
  self->own_host = g_strconcat (self->own_label, ".local", NULL);
}

static void
foctet_mdns_discovery_dispose (GObject *object)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (object);

  foctet_mdns_discovery_stop (FOCTET_DISCOVERY (self));

  G_OBJECT_CLASS (foctet_mdns_discovery_parent_class)->dispose (object);
}

static void
foctet_mdns_discovery_finalize (GObject *object)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->records, g_ptr_array_unref);
  g_clear_pointer (&self->own_label, g_free);
  g_clear_pointer (&self->own_instance, g_free);
  g_clear_pointer (&self->own_host, g_free);
  g_clear_object (&self->peers);
  g_clear_pointer (&self->instances, g_hash_table_unref);
  g_clear_pointer (&self->hosts, g_hash_table_unref);
  g_clear_pointer (&self->last_multicast, g_hash_table_unref);
  g_clear_pointer (&self->delayed, g_ptr_array_unref);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (foctet_mdns_discovery_parent_class)->finalize (object);
}

static void
foctet_mdns_discovery_class_init (FoctetMdnsDiscoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = foctet_mdns_discovery_get_property;
  object_class->set_property = foctet_mdns_discovery_set_property;
  object_class->constructed = foctet_mdns_discovery_constructed;
  object_class->dispose = foctet_mdns_discovery_dispose;
  object_class->finalize = foctet_mdns_discovery_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");
  properties[PROP_IDENTITY] = g_object_class_find_property (object_class, "identity");

  /**
   * FoctetMdnsDiscovery:dropped-packets:
   *
   * How many packets were dropped: malformed, not a standard query or
   * response, or announcing a service of ours that does not hold together
   * (an id that is not the instance's NodeId).
   */
  properties[PROP_DROPPED_PACKETS] =
    g_param_spec_uint64 ("dropped-packets", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_DROPPED_PACKETS, properties[PROP_DROPPED_PACKETS]);
}

static void
foctet_mdns_discovery_class_finalize (FoctetMdnsDiscoveryClass *klass)
{
}

static void
foctet_mdns_discovery_init (FoctetMdnsDiscovery *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->peers = g_list_store_new (FOCTET_TYPE_PEER);
  self->instances = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) mdns_instance_free);
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  self->last_multicast = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->delayed = g_ptr_array_new_with_free_func ((GDestroyNotify) mdns_delayed_free);
}

void
foctet_mdns_discovery_register (GTypeModule *module)
{
  foctet_mdns_discovery_register_type (module);
}

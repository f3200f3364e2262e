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

#include "foctet-dns-message.h"
#include "foctet-mdns-discovery.h"

#define USEC_PER_MSEC 1000
/* RFC 6762 §5.2: the interval between queries doubles up to an hour. */
#define QUERY_INTERVAL_FIRST_MS 1000
#define QUERY_INTERVAL_MAX_MS (3600 * 1000)
#define RESOLVE_TIMEOUT_MS 3000
#define ANNOUNCEMENTS 3
#define ANNOUNCE_INTERVAL_MS 1000
/* RFC 6762 §6: a record is multicast at most once a second on a link. */
#define RATE_LIMIT_USEC G_USEC_PER_SEC
/* Legacy unicast answers carry no more than this ttl (RFC 6762 §6.7). */
#define LEGACY_TTL 10
/* Bounds on what strangers on the LAN can make us keep. */
#define MAX_INSTANCES 256
#define MAX_HOST_ADDRESSES 16
#define MAX_KNOWN_ANSWERS 32
#define MAX_PACKET FOCTET_DNS_MAX_MESSAGE
#define RECEIVE_BURST 16

/* One socket: IPv4 or IPv6. */
typedef struct {
  FoctetMdnsDiscovery *self;     /* unowned */
  GSocketFamily family;
  GSocket *socket;
  GSource *source;
  GArray *interfaces;            /* of int: the interfaces joined */
  GSocketAddress *group;
} Endpoint;

/* An address of a host name, as A or AAAA records gave it. */
typedef struct {
  GInetAddress *address;
  gint64 received;               /* monotonic µs */
  gint64 expires;                /* monotonic µs */
} HostAddress;

/* What the cache knows of one instance <NodeId>._foctet._udp.local. */
typedef struct {
  char *label;                   /* the NodeId text, lower case */
  FoctetNodeId *node_id;

  char *srv_target;              /* NULL: no SRV */
  guint16 srv_port;
  gint64 srv_expires;

  gboolean have_txt;
  guint16 quic_port, tls_port;   /* 0: not announced */
  gint64 txt_expires;

  gint64 ptr_expires;            /* 0: no PTR */
  guint ptr_ttl;

  FoctetPeer *peer;              /* in the list while it holds together */
  gint64 expires;                /* of the peer: its first record to expire */
  gint64 refresh_at;             /* the next refresh query; 0: none */
  guint refreshes;
} Instance;

struct _FoctetMdnsDiscovery {
  GObject parent_instance;

  FoctetIdentity *identity;
  GMainContext *context;
  char *own_label;               /* our NodeId text */
  char *own_instance;            /* <NodeId>._foctet._udp.local */
  char *own_host;                /* <NodeId>.local */

  gboolean started;
  Endpoint *endpoints[2];        /* IPv4, IPv6 (NULL if unavailable) */

  GListStore *peers;
  GHashTable *instances;         /* label → Instance */
  GHashTable *hosts;             /* lower-case host name → GPtrArray of HostAddress */

  /* Browsing. */
  GSource *query_timer;
  guint query_interval_ms;

  /* Publishing. */
  GPtrArray *records;            /* our FoctetDnsRecord, none when unpublished */
  GSource *announce_timer;
  guint announcements_left;
  GHashTable *last_multicast;    /* "family/ifindex/type/name" → gint64 µs */

  /* Answers waiting: shared records 20–120 ms, records multicast a
   * moment ago until a second has passed (RFC 6762 §6). */
  GPtrArray *delayed;            /* of Delayed */

  GSource *maintenance_timer;
  GList *resolves;               /* of GTask */

  /* Interfaces that come up (or go) after the start. */
  GNetworkMonitor *monitor;
  gulong monitor_handler;
  GSource *rescan_timer;

  guint64 dropped;
};

typedef struct {
  Endpoint *endpoint;
  int ifindex;
  GPtrArray *answers;            /* FoctetDnsRecord copies */
  GPtrArray *additionals;
  GSource *timer;
} Delayed;

typedef struct {
  FoctetNodeId *node_id;
  char *label;
  GSource *timeout;
  GSource *requery;
  GSource *cancelled;
  guint requery_ms;
} Resolve;

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

static void send_browse_query (FoctetMdnsDiscovery *self);
static void schedule_maintenance (FoctetMdnsDiscovery *self);
static void resolve_complete (FoctetMdnsDiscovery *self,
                              Instance            *instance);

static GSource *
timeout_source (FoctetMdnsDiscovery *self,
                guint                ms,
                GSourceFunc          callback,
                gpointer             data)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, callback, data, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
clear_source (GSource **source)
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

/* Names. */

/* The NodeId of @name when it is "<NodeId>._foctet._udp.local" (any case);
 * sets @label to the NodeId text in lower case. */
static FoctetNodeId *
instance_node_id (const char  *name,
                  char       **label)
{
  const char *dot = strchr (name, '.');
  g_autofree char *first = NULL;
  FoctetNodeId *id;

  if (dot == NULL || !foctet_dns_name_equal (dot + 1, FOCTET_MDNS_SERVICE))
    return NULL;
  first = g_strndup (name, dot - name);
  id = foctet_node_id_parse (first, NULL);
  if (id != NULL && label != NULL)
    *label = foctet_node_id_to_string (id);
  return id;
}

/* Host addresses. */

static void
host_address_free (HostAddress *a)
{
  g_object_unref (a->address);
  g_free (a);
}

static GPtrArray *
host_lookup (FoctetMdnsDiscovery *self,
             const char          *host)
{
  g_autofree char *key = g_ascii_strdown (host, -1);

  return g_hash_table_lookup (self->hosts, key);
}

/* Usable addresses in a ticket: not link-local IPv6 (useless without its
 * interface), not multicast or unspecified. */
static gboolean
address_usable (GInetAddress *address)
{
  if (g_inet_address_get_is_any (address) || g_inet_address_get_is_multicast (address))
    return FALSE;
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_is_link_local (address))
    return FALSE;
  return TRUE;
}

/* Instances. */

static void
instance_free (Instance *instance)
{
  g_free (instance->label);
  foctet_node_id_free (instance->node_id);
  g_free (instance->srv_target);
  g_clear_object (&instance->peer);
  g_free (instance);
}

static void
remove_peer (FoctetMdnsDiscovery *self,
             Instance            *instance,
             const char          *why)
{
  guint position;

  if (instance->peer == NULL)
    return;
  g_debug ("Peer %s gone: %s", instance->label, why);
  if (g_list_store_find (self->peers, instance->peer, &position))
    g_list_store_remove (self->peers, position);
  g_clear_object (&instance->peer);
  instance->refresh_at = 0;
}

static char *
host_port (GInetAddress *address,
           guint16       port)
{
  g_autofree char *text = g_inet_address_to_string (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", text, port);
  return g_strdup_printf ("%s:%u", text, port);
}

/* Makes the peer agree with the cache: adds, updates or removes it. */
static void
instance_evaluate (FoctetMdnsDiscovery *self,
                   Instance            *instance,
                   gboolean             heard)
{
  gint64 now = g_get_monotonic_time ();
  g_autoptr(FoctetTicket) ticket = NULL;
  GPtrArray *addresses;
  gint64 expires;
  guint16 quic_port, tls_port;
  guint count = 0;
  guint ttl;

  if (instance->srv_target == NULL || instance->srv_expires <= now)
    {
      remove_peer (self, instance, "its SRV record expired or was withdrawn");
      return;
    }
  if (!instance->have_txt || instance->txt_expires <= now)
    {
      remove_peer (self, instance, "its TXT record expired or was withdrawn");
      return;
    }
  if (instance->ptr_expires != 0 && instance->ptr_expires <= now)
    {
      remove_peer (self, instance, "its PTR record expired or was withdrawn");
      return;
    }

  quic_port = instance->quic_port;
  tls_port = instance->tls_port;
  if (quic_port == 0 && tls_port == 0)
    quic_port = instance->srv_port;
  expires = MIN (instance->srv_expires, instance->txt_expires);

  ticket = foctet_ticket_new (instance->node_id);
  addresses = host_lookup (self, instance->srv_target);
  for (int kind = FOCTET_ADDRESS_KIND_QUIC; kind <= FOCTET_ADDRESS_KIND_TLS; kind++)
    {
      guint16 port = kind == FOCTET_ADDRESS_KIND_QUIC ? quic_port : tls_port;

      for (guint i = 0; port != 0 && addresses != NULL && i < addresses->len; i++)
        {
          HostAddress *a = g_ptr_array_index (addresses, i);
          g_autofree char *hp = NULL;
          g_autoptr(GError) error = NULL;

          if (a->expires <= now)
            continue;
          hp = host_port (a->address, port);
          if (!foctet_ticket_add_address (ticket, kind, hp, &error))
            {
              g_debug ("Peer %s: address %s left out: %s", instance->label, hp, error->message);
              continue;
            }
          count++;
        }
    }
  if (count == 0)
    {
      remove_peer (self, instance, "none of its addresses is left");
      return;
    }
  /* The peer holds as long as its SRV, TXT and its longest-lived address. */
  {
    gint64 latest = 0;

    for (guint i = 0; i < addresses->len; i++)
      latest = MAX (latest, ((HostAddress *) g_ptr_array_index (addresses, i))->expires);
    expires = MIN (expires, latest);
  }
  ttl = (guint) MAX (1, (expires - now + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
  if (expires != instance->expires)
    {
      /* RFC 6762 §5.2: ask again at 80 % and 90 % of the ttl (and 2 %
       * of jitter), so that a live peer never expires. */
      instance->refreshes = 0;
      instance->refresh_at = now + (gint64) (expires - now) * (80 + g_random_int_range (0, 3)) / 100;
    }
  instance->expires = expires;

  if (instance->peer == NULL)
    {
      instance->peer = foctet_peer_new (ticket, FOCTET_MDNS_DISCOVERY_NAME, ttl);
      g_debug ("Peer %s found", instance->label);
      g_list_store_append (self->peers, instance->peer);
    }
  else if (heard)
    foctet_peer_update (instance->peer, ticket, ttl);

  resolve_complete (self, instance);
}

static Instance *
instance_ensure (FoctetMdnsDiscovery *self,
                 const char          *name,
                 const char          *from)
{
  g_autofree char *label = NULL;
  FoctetNodeId *node_id = instance_node_id (name, &label);
  Instance *instance;

  if (node_id == NULL)
    {
      /* A service of our type named otherwise is not ours to use. */
      g_debug ("Ignored the instance “%s” from %s: its name is not a NodeId", name, from);
      return NULL;
    }
  if (g_str_equal (label, self->own_label))
    {
      foctet_node_id_free (node_id);
      return NULL;
    }
  instance = g_hash_table_lookup (self->instances, label);
  if (instance != NULL)
    {
      foctet_node_id_free (node_id);
      return instance;
    }
  if (g_hash_table_size (self->instances) >= MAX_INSTANCES)
    {
      g_debug ("Ignored the instance “%s” from %s: %d instances known already", name, from, MAX_INSTANCES);
      foctet_node_id_free (node_id);
      return NULL;
    }
  instance = g_new0 (Instance, 1);
  instance->label = g_steal_pointer (&label);
  instance->node_id = node_id;
  g_hash_table_insert (self->instances, instance->label, instance);
  return instance;
}

static gint64
expiry (guint32 ttl,
        gint64  now)
{
  return now + (gint64) ttl * G_USEC_PER_SEC;
}

/* A record of an answer: goes into the cache.  Returns the instance it
 * touched, if any. */
static Instance *
cache_service_record (FoctetMdnsDiscovery   *self,
                      const FoctetDnsRecord *record,
                      const char            *from,
                      gboolean              *bad)
{
  gint64 now = g_get_monotonic_time ();
  Instance *instance;

  if (record->klass != FOCTET_DNS_CLASS_IN)
    return NULL;

  if (record->type == FOCTET_DNS_TYPE_PTR && foctet_dns_name_equal (record->name, FOCTET_MDNS_SERVICE))
    {
      instance = instance_ensure (self, record->target, from);
      if (instance == NULL)
        return NULL;
      instance->ptr_ttl = record->ttl;
      /* RFC 6762 §10.1 keeps a goodbye for one more second; a peer that
       * said goodbye is gone for us at once. */
      instance->ptr_expires = record->ttl == 0 ? now : expiry (record->ttl, now);
      return instance;
    }

  if (record->type != FOCTET_DNS_TYPE_SRV && record->type != FOCTET_DNS_TYPE_TXT)
    return NULL;
  {
    const char *dot = strchr (record->name, '.');

    if (dot == NULL || !foctet_dns_name_equal (dot + 1, FOCTET_MDNS_SERVICE))
      return NULL;
  }
  instance = instance_ensure (self, record->name, from);
  if (instance == NULL)
    return NULL;

  if (record->type == FOCTET_DNS_TYPE_SRV)
    {
      if (record->ttl == 0)
        {
          instance->srv_expires = now;
          return instance;
        }
      /* Alive after all: a goodbye for its PTR (spoofed, or from a
       * restart) no longer hides an instance that answers. */
      if (instance->ptr_expires != 0 && instance->ptr_expires <= now)
        instance->ptr_expires = 0;
      g_free (instance->srv_target);
      instance->srv_target = g_strdup (record->target);
      instance->srv_port = record->port;
      instance->srv_expires = expiry (record->ttl, now);
      return instance;
    }

  /* TXT */
  if (record->ttl == 0)
    {
      instance->txt_expires = now;
      return instance;
    }
  {
    g_autofree char *version = foctet_dns_record_get_txt_value (record, "v");
    g_autofree char *id = foctet_dns_record_get_txt_value (record, "id");
    g_autofree char *quic = foctet_dns_record_get_txt_value (record, "quic");
    g_autofree char *tls = foctet_dns_record_get_txt_value (record, "tls");
    g_autoptr(FoctetNodeId) txt_id = id != NULL ? foctet_node_id_parse (id, NULL) : NULL;
    guint64 quic_port = 0, tls_port = 0;

    if (g_strcmp0 (version, "1") != 0)
      {
        g_debug ("Ignored the TXT of %s from %s: version %s, not 1", instance->label, from,
                 version != NULL ? version : "missing");
        *bad = TRUE;
        return NULL;
      }
    if (txt_id == NULL || !foctet_node_id_equal (txt_id, instance->node_id))
      {
        g_debug ("Ignored the TXT of %s from %s: its id is %s", instance->label, from,
                 id != NULL ? id : "missing");
        *bad = TRUE;
        return NULL;
      }
    if ((quic != NULL && (!g_ascii_string_to_unsigned (quic, 10, 1, G_MAXUINT16, &quic_port, NULL)))
        || (tls != NULL && (!g_ascii_string_to_unsigned (tls, 10, 1, G_MAXUINT16, &tls_port, NULL))))
      {
        g_debug ("Ignored the TXT of %s from %s: a port is not one (quic=%s tls=%s)", instance->label, from,
                 quic, tls);
        *bad = TRUE;
        return NULL;
      }
    instance->have_txt = TRUE;
    instance->quic_port = (guint16) quic_port;
    instance->tls_port = (guint16) tls_port;
    instance->txt_expires = expiry (record->ttl, now);
  }
  return instance;
}

/* Whether some instance has @host as its SRV target. */
static gboolean
host_wanted (FoctetMdnsDiscovery *self,
             const char          *host)
{
  GHashTableIter iter;
  Instance *instance;

  g_hash_table_iter_init (&iter, self->instances);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &instance))
    if (foctet_dns_name_equal (instance->srv_target, host))
      return TRUE;
  return FALSE;
}

/* Returns whether the record was taken into the cache. */
static gboolean
cache_address_record (FoctetMdnsDiscovery   *self,
                      const FoctetDnsRecord *record)
{
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *key = NULL;
  GPtrArray *addresses;
  GSocketFamily family;
  HostAddress *a = NULL;

  if ((record->type != FOCTET_DNS_TYPE_A && record->type != FOCTET_DNS_TYPE_AAAA)
      || record->klass != FOCTET_DNS_CLASS_IN || !host_wanted (self, record->name))
    return FALSE;
  address = foctet_dns_record_get_address (record);
  if (!address_usable (address))
    return FALSE;
  family = g_inet_address_get_family (address);

  key = g_ascii_strdown (record->name, -1);
  addresses = g_hash_table_lookup (self->hosts, key);
  if (addresses == NULL)
    {
      addresses = g_ptr_array_new_with_free_func ((GDestroyNotify) host_address_free);
      g_hash_table_insert (self->hosts, g_steal_pointer (&key), addresses);
    }

  for (guint i = 0; i < addresses->len; i++)
    {
      HostAddress *other = g_ptr_array_index (addresses, i);

      if (g_inet_address_equal (other->address, address))
        a = other;
      /* RFC 6762 §10.2: a cache-flush record replaces the others of its
       * name and type received more than a second ago. */
      else if (record->cache_flush && record->ttl > 0 && g_inet_address_get_family (other->address) == family
               && other->received < now - G_USEC_PER_SEC)
        other->expires = MIN (other->expires, now);
    }
  if (a == NULL)
    {
      if (record->ttl == 0 || addresses->len >= MAX_HOST_ADDRESSES)
        return TRUE;
      a = g_new0 (HostAddress, 1);
      a->address = g_object_ref (address);
      g_ptr_array_add (addresses, a);
    }
  a->received = now;
  a->expires = record->ttl == 0 ? now : expiry (record->ttl, now);
  return TRUE;
}

/* Sockets. */

static void
endpoint_free (Endpoint *endpoint)
{
  if (endpoint == NULL)
    return;
  clear_source (&endpoint->source);
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
static void
endpoint_send (Endpoint       *endpoint,
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

static GBytes *
build (FoctetDnsMessage *message)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes = foctet_dns_message_build (message, &error);

  /* Our own names are valid: a failure here is a bug. */
  if (bytes == NULL)
    g_critical ("Cannot build an mDNS message: %s", error->message);
  return bytes;
}

/* Sends @message on every interface of every socket. */
static void
send_everywhere (FoctetMdnsDiscovery *self,
                 FoctetDnsMessage    *message)
{
  g_autoptr(GBytes) bytes = build (message);

  if (bytes == NULL)
    return;
  for (int e = 0; e < 2; e++)
    {
      Endpoint *endpoint = self->endpoints[e];

      for (guint i = 0; endpoint != NULL && i < endpoint->interfaces->len; i++)
        endpoint_send (endpoint, g_array_index (endpoint->interfaces, int, i), bytes, NULL);
    }
}

/* Publishing. */

static char *
rate_key (Endpoint              *endpoint,
          int                    ifindex,
          const FoctetDnsRecord *record)
{
  g_autofree char *name = g_ascii_strdown (record->name, -1);

  return g_strdup_printf ("%d/%d/%u/%s", endpoint->family, ifindex, record->type, name);
}

static void
mark_multicast (FoctetMdnsDiscovery   *self,
                Endpoint              *endpoint,
                int                    ifindex,
                const FoctetDnsRecord *record)
{
  g_hash_table_insert (self->last_multicast, rate_key (endpoint, ifindex, record),
                       g_memdup2 (&(gint64) { g_get_monotonic_time () }, sizeof (gint64)));
}

/* How long ago @record was multicast on @ifindex, in µs (G_MAXINT64:
 * never). */
static gint64
multicast_age (FoctetMdnsDiscovery   *self,
               Endpoint              *endpoint,
               int                    ifindex,
               const FoctetDnsRecord *record)
{
  g_autofree char *key = rate_key (endpoint, ifindex, record);
  gint64 *last = g_hash_table_lookup (self->last_multicast, key);

  return last != NULL ? g_get_monotonic_time () - *last : G_MAXINT64;
}

/* Our records from our ticket (docs/protocol.md). */
static GPtrArray *
records_for_ticket (FoctetMdnsDiscovery *self,
                    FoctetTicket        *ticket)
{
  static const FoctetAddressKind kinds[] = { FOCTET_ADDRESS_KIND_QUIC, FOCTET_ADDRESS_KIND_TLS };
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GStrvBuilder) txt = g_strv_builder_new ();
  g_auto(GStrv) strings = NULL;
  guint16 ports[2] = { 0, 0 };
  gboolean all_loopback = TRUE;

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_auto(GStrv) entries = foctet_ticket_get_addresses (ticket, kinds[k]);

      for (guint i = 0; entries[i] != NULL; i++)
        {
          g_autofree char *host = NULL;
          g_autoptr(GInetAddress) address = NULL;
          guint16 port;
          gboolean known = FALSE;

          if (!foctet_parse_host_port (entries[i], &host, &port, NULL))
            continue;
          address = g_inet_address_new_from_string (host);
          /* Host names are not announced: we publish our own name. */
          if (address == NULL || !address_usable (address))
            continue;
          if (ports[k] == 0)
            ports[k] = port;
          for (guint j = 0; j < addresses->len && !known; j++)
            known = g_inet_address_equal (g_ptr_array_index (addresses, j), address);
          if (!known)
            {
              all_loopback = all_loopback && g_inet_address_get_is_loopback (address);
              g_ptr_array_add (addresses, g_steal_pointer (&address));
            }
        }
    }

  {
    g_autofree char *id = g_strconcat ("id=", self->own_label, NULL);
    g_autofree char *quic = ports[0] != 0 ? g_strdup_printf ("quic=%u", ports[0]) : NULL;
    g_autofree char *tls = ports[1] != 0 ? g_strdup_printf ("tls=%u", ports[1]) : NULL;

    g_strv_builder_add (txt, "v=1");
    g_strv_builder_add (txt, id);
    if (quic != NULL)
      g_strv_builder_add (txt, quic);
    if (tls != NULL)
      g_strv_builder_add (txt, tls);
  }
  strings = g_strv_builder_end (txt);

  if (addresses->len == 0 || (ports[0] == 0 && ports[1] == 0))
    {
      g_debug ("Nothing to announce: the ticket has no IP address");
      return records;
    }

  g_ptr_array_add (records, foctet_dns_record_new_ptr (FOCTET_MDNS_SERVICE, self->own_instance,
                                                       FOCTET_MDNS_TTL_OTHER));
  g_ptr_array_add (records, foctet_dns_record_new_srv (self->own_instance, 0, 0,
                                                       ports[0] != 0 ? ports[0] : ports[1],
                                                       self->own_host, FOCTET_MDNS_TTL_HOST));
  g_ptr_array_add (records, foctet_dns_record_new_txt (self->own_instance, (const char * const *) strings,
                                                       FOCTET_MDNS_TTL_OTHER));
  for (guint i = 0; i < addresses->len; i++)
    {
      GInetAddress *address = g_ptr_array_index (addresses, i);

      /* Loopback only where it is all there is (a node on one machine). */
      if (g_inet_address_get_is_loopback (address) && !all_loopback)
        continue;
      g_ptr_array_add (records, foctet_dns_record_new_address (self->own_host, address, FOCTET_MDNS_TTL_HOST, TRUE));
    }
  g_ptr_array_add (records, foctet_dns_record_new_ptr (FOCTET_MDNS_SERVICES_ENUMERATION, FOCTET_MDNS_SERVICE,
                                                       FOCTET_MDNS_TTL_OTHER));
  return records;
}

static void
announce (FoctetMdnsDiscovery *self)
{
  g_autoptr(FoctetDnsMessage) message = NULL;

  if (self->records == NULL || self->records->len == 0)
    return;
  message = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  for (guint i = 0; i < self->records->len; i++)
    foctet_dns_message_add_record (message, FOCTET_DNS_SECTION_ANSWER,
                                   foctet_dns_record_copy (g_ptr_array_index (self->records, i)));
  send_everywhere (self, message);
  for (int e = 0; e < 2; e++)
    {
      Endpoint *endpoint = self->endpoints[e];

      for (guint i = 0; endpoint != NULL && i < endpoint->interfaces->len; i++)
        for (guint r = 0; r < self->records->len; r++)
          mark_multicast (self, endpoint, g_array_index (endpoint->interfaces, int, i),
                          g_ptr_array_index (self->records, r));
    }
}

static gboolean
announce_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  announce (self);
  if (--self->announcements_left > 0)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->announce_timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
start_announcing (FoctetMdnsDiscovery *self)
{
  clear_source (&self->announce_timer);
  if (!self->started || self->records == NULL || self->records->len == 0)
    return;
  /* RFC 6762 §8.3: at least two announcements, a second apart.  (We do
   * not probe: the names are our NodeId, which only our key holder has.) */
  announce (self);
  self->announcements_left = ANNOUNCEMENTS - 1;
  self->announce_timer = timeout_source (self, ANNOUNCE_INTERVAL_MS, announce_cb, self);
}

/* Sends goodbyes (ttl 0) for @records, or for those of them @keep does
 * not replace. */
static void
send_goodbyes (FoctetMdnsDiscovery *self,
               GPtrArray           *records,
               GPtrArray           *keep)
{
  g_autoptr(FoctetDnsMessage) message = NULL;

  if (!self->started || records == NULL)
    return;
  message = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  for (guint i = 0; i < records->len; i++)
    {
      const FoctetDnsRecord *record = g_ptr_array_index (records, i);
      FoctetDnsRecord *goodbye;
      gboolean kept = FALSE;

      /* A unique record that only changed needs no goodbye: the new one
       * carries the cache-flush bit and replaces it (RFC 6762 §10.2), and
       * a goodbye would make the others drop us for a moment. */
      for (guint j = 0; keep != NULL && j < keep->len && !kept; j++)
        {
          const FoctetDnsRecord *other = g_ptr_array_index (keep, j);

          kept = foctet_dns_record_same_data (record, other)
                 || (record->cache_flush && other->cache_flush && record->type == other->type
                     && foctet_dns_name_equal (record->name, other->name));
        }
      if (kept)
        continue;
      goodbye = foctet_dns_record_copy (record);
      goodbye->ttl = 0;
      foctet_dns_message_add_record (message, FOCTET_DNS_SECTION_ANSWER, goodbye);
    }
  if (foctet_dns_message_count_records (message) == 0)
    return;
  g_debug ("Sending goodbyes for %u records", foctet_dns_message_count_records (message));
  send_everywhere (self, message);
}

/* Answering. */

static void
delayed_free (Delayed *delayed)
{
  clear_source (&delayed->timer);
  g_ptr_array_unref (delayed->answers);
  g_ptr_array_unref (delayed->additionals);
  g_free (delayed);
}

/* Multicasts @answers on @ifindex, or sends them to @to alone. */
static void
send_answers (FoctetMdnsDiscovery *self,
              Endpoint            *endpoint,
              int                  ifindex,
              GPtrArray           *answers,
              GPtrArray           *additionals,
              GSocketAddress      *to)
{
  g_autoptr(FoctetDnsMessage) message = NULL;
  g_autoptr(GBytes) bytes = NULL;

  if (answers->len == 0)
    return;
  message = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  for (guint i = 0; i < answers->len; i++)
    {
      FoctetDnsRecord *record = g_ptr_array_index (answers, i);

      foctet_dns_message_add_record (message, FOCTET_DNS_SECTION_ANSWER, foctet_dns_record_copy (record));
      if (to == NULL)
        mark_multicast (self, endpoint, ifindex, record);
    }
  for (guint i = 0; i < additionals->len; i++)
    foctet_dns_message_add_record (message, FOCTET_DNS_SECTION_ADDITIONAL,
                                   foctet_dns_record_copy (g_ptr_array_index (additionals, i)));
  bytes = build (message);
  if (bytes != NULL)
    endpoint_send (endpoint, ifindex, bytes, to);
}

static gboolean
record_in (GPtrArray             *records,
           const FoctetDnsRecord *record)
{
  for (guint i = 0; i < records->len; i++)
    if (foctet_dns_record_same_data (g_ptr_array_index (records, i), record))
      return TRUE;
  return FALSE;
}

static gboolean
delayed_cb (gpointer user_data)
{
  Delayed *delayed = user_data;
  FoctetMdnsDiscovery *self = delayed->endpoint->self;

  /* Another answer may have multicast some of these meanwhile. */
  for (guint i = delayed->answers->len; i-- > 0;)
    if (multicast_age (self, delayed->endpoint, delayed->ifindex,
                       g_ptr_array_index (delayed->answers, i)) < RATE_LIMIT_USEC)
      g_ptr_array_remove_index (delayed->answers, i);
  send_answers (self, delayed->endpoint, delayed->ifindex, delayed->answers, delayed->additionals, NULL);
  g_ptr_array_remove (self->delayed, delayed);
  return G_SOURCE_REMOVE;
}

/* Multicasts @answers (and @additionals) on @ifindex in @ms, leaving out
 * those an answer already waiting there will give. */
static void
delay_answers (FoctetMdnsDiscovery *self,
               Endpoint            *endpoint,
               int                  ifindex,
               GPtrArray           *answers,
               GPtrArray           *additionals,
               guint                ms)
{
  Delayed *delayed = g_new0 (Delayed, 1);

  delayed->endpoint = endpoint;
  delayed->ifindex = ifindex;
  delayed->answers = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  delayed->additionals = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  for (guint i = 0; i < answers->len; i++)
    {
      const FoctetDnsRecord *record = g_ptr_array_index (answers, i);
      gboolean pending = FALSE;

      for (guint d = 0; d < self->delayed->len && !pending; d++)
        {
          Delayed *other = g_ptr_array_index (self->delayed, d);

          pending = other->endpoint == endpoint && other->ifindex == ifindex && record_in (other->answers, record);
        }
      if (!pending)
        g_ptr_array_add (delayed->answers, foctet_dns_record_copy (record));
    }
  if (delayed->answers->len == 0)
    {
      delayed_free (delayed);
      return;
    }
  for (guint i = 0; i < additionals->len; i++)
    g_ptr_array_add (delayed->additionals, foctet_dns_record_copy (g_ptr_array_index (additionals, i)));
  delayed->timer = timeout_source (self, ms, delayed_cb, delayed);
  g_ptr_array_add (self->delayed, delayed);
}

static void
add_unique (GPtrArray             *records,
            const FoctetDnsRecord *record)
{
  if (!record_in (records, record))
    g_ptr_array_add (records, foctet_dns_record_copy (record));
}

/* Whether the querier listed @record as known with at least half its ttl
 * left (RFC 6762 §7.1). */
static gboolean
known_answer (const FoctetDnsMessage *query,
              const FoctetDnsRecord  *record)
{
  GPtrArray *known = query->sections[FOCTET_DNS_SECTION_ANSWER];

  for (guint i = 0; i < known->len; i++)
    {
      const FoctetDnsRecord *k = g_ptr_array_index (known, i);

      if (foctet_dns_record_same_data (k, record) && k->ttl >= record->ttl / 2)
        return TRUE;
    }
  return FALSE;
}

/* Our records that answer @question. */
static void
collect_answers (FoctetMdnsDiscovery     *self,
                 const FoctetDnsQuestion *question,
                 GPtrArray               *answers,
                 GPtrArray               *additionals)
{
  gboolean any = question->type == FOCTET_DNS_TYPE_ANY;

  if (question->klass != FOCTET_DNS_CLASS_IN && question->klass != FOCTET_DNS_CLASS_ANY)
    return;
  for (guint i = 0; i < self->records->len; i++)
    {
      const FoctetDnsRecord *record = g_ptr_array_index (self->records, i);

      if (!foctet_dns_name_equal (record->name, question->name) || (!any && record->type != question->type))
        continue;
      add_unique (answers, record);
      /* RFC 6763 §12: with a PTR go SRV, TXT and addresses; with an SRV
       * the addresses. */
      for (guint j = 0; j < self->records->len; j++)
        {
          const FoctetDnsRecord *extra = g_ptr_array_index (self->records, j);

          if ((record->type == FOCTET_DNS_TYPE_PTR && foctet_dns_name_equal (record->target, self->own_instance)
               && extra->type != FOCTET_DNS_TYPE_PTR)
              || (record->type == FOCTET_DNS_TYPE_SRV && (extra->type == FOCTET_DNS_TYPE_A
                                                          || extra->type == FOCTET_DNS_TYPE_AAAA)))
            add_unique (additionals, extra);
        }
    }
}

static void
answer_query (FoctetMdnsDiscovery    *self,
              Endpoint               *endpoint,
              int                     ifindex,
              const FoctetDnsMessage *query,
              GSocketAddress         *from)
{
  g_autoptr(GPtrArray) answers = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  g_autoptr(GPtrArray) additionals = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  g_autoptr(GPtrArray) direct = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  g_autoptr(GPtrArray) later = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  gint64 wait_us = 0;
  gboolean legacy = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from)) != FOCTET_MDNS_PORT;
  gboolean unicast_asked = FALSE;
  gboolean shared = FALSE;

  if (self->records == NULL || self->records->len == 0)
    return;

  for (guint i = 0; i < query->questions->len; i++)
    {
      const FoctetDnsQuestion *question = g_ptr_array_index (query->questions, i);

      collect_answers (self, question, answers, additionals);
      unicast_asked |= question->unicast_response;
    }
  for (guint i = answers->len; i-- > 0;)
    if (known_answer (query, g_ptr_array_index (answers, i)))
      g_ptr_array_remove_index (answers, i);
  for (guint i = additionals->len; i-- > 0;)
    {
      const FoctetDnsRecord *record = g_ptr_array_index (additionals, i);

      if (record_in (answers, record) || known_answer (query, record))
        g_ptr_array_remove_index (additionals, i);
    }
  if (answers->len == 0)
    return;

  if (legacy)
    {
      /* RFC 6762 §6.7: the query's id and questions back, short ttls, no
       * cache-flush bits, to the querier's address and port. */
      g_autoptr(FoctetDnsMessage) reply = foctet_dns_message_new (query->id, FOCTET_DNS_FLAG_RESPONSE
                                                                             | FOCTET_DNS_FLAG_AUTHORITATIVE);
      g_autoptr(GBytes) bytes = NULL;

      for (guint i = 0; i < query->questions->len; i++)
        {
          const FoctetDnsQuestion *q = g_ptr_array_index (query->questions, i);

          foctet_dns_message_add_question (reply, q->name, q->type, FALSE);
        }
      for (guint s = 0; s < 2; s++)
        {
          GPtrArray *list = s == 0 ? answers : additionals;

          for (guint i = 0; i < list->len; i++)
            {
              FoctetDnsRecord *record = foctet_dns_record_copy (g_ptr_array_index (list, i));

              record->ttl = MIN (record->ttl, LEGACY_TTL);
              record->cache_flush = FALSE;
              foctet_dns_message_add_record (reply, s == 0 ? FOCTET_DNS_SECTION_ANSWER
                                                           : FOCTET_DNS_SECTION_ADDITIONAL, record);
            }
        }
      bytes = build (reply);
      if (bytes != NULL)
        endpoint_send (endpoint, ifindex, bytes, from);
      return;
    }

  for (guint i = answers->len; i-- > 0;)
    {
      const FoctetDnsRecord *record = g_ptr_array_index (answers, i);
      gint64 age = multicast_age (self, endpoint, ifindex, record);

      /* RFC 6762 §6: a record is multicast at most once a second; what
       * that holds back is multicast as soon as it may be.  A querier
       * that just started asks for unicast answers (§5.4): it gets those
       * at once too (as when nodes start together).  Everything else is
       * multicast — more than §5.4 asks, because a unicast datagram to
       * port 5353 reaches only one of the sockets that share it on the
       * querier's machine (avahi, other nodes), a multicast one all. */
      if (age < RATE_LIMIT_USEC)
        {
          if (unicast_asked)
            g_ptr_array_add (direct, foctet_dns_record_copy (record));
          g_ptr_array_add (later, g_ptr_array_steal_index (answers, i));
          wait_us = MAX (wait_us, RATE_LIMIT_USEC - age);
        }
      else if (record->type == FOCTET_DNS_TYPE_PTR)
        shared = TRUE;
    }
  if (direct->len > 0)
    send_answers (self, endpoint, ifindex, direct, additionals, from);
  if (later->len > 0)
    delay_answers (self, endpoint, ifindex, later, additionals, (guint) (wait_us / USEC_PER_MSEC) + 1);
  if (answers->len == 0)
    return;
  if (!shared)
    {
      /* Unique records only (SRV, TXT, addresses): answered at once. */
      send_answers (self, endpoint, ifindex, answers, additionals, NULL);
      return;
    }
  /* Shared records wait 20–120 ms, so that answers from several
   * responders spread out (§6) and a duplicate can be left out (§7.4). */
  delay_answers (self, endpoint, ifindex, answers, additionals, g_random_int_range (20, 121));
}

/* RFC 6762 §7.4: an answer another responder just gave need not be ours. */
static void
suppress_duplicates (FoctetMdnsDiscovery    *self,
                     Endpoint               *endpoint,
                     int                     ifindex,
                     const FoctetDnsMessage *response)
{
  for (guint d = self->delayed->len; d-- > 0;)
    {
      Delayed *delayed = g_ptr_array_index (self->delayed, d);

      if (delayed->endpoint != endpoint || delayed->ifindex != ifindex)
        continue;
      for (guint i = delayed->answers->len; i-- > 0;)
        {
          const FoctetDnsRecord *ours = g_ptr_array_index (delayed->answers, i);

          for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
            {
              GPtrArray *theirs = response->sections[s];
              gboolean found = FALSE;

              for (guint j = 0; j < theirs->len && !found; j++)
                {
                  const FoctetDnsRecord *t = g_ptr_array_index (theirs, j);

                  found = foctet_dns_record_same_data (t, ours) && t->ttl >= ours->ttl / 2;
                }
              if (found)
                {
                  g_ptr_array_remove_index (delayed->answers, i);
                  break;
                }
            }
        }
      if (delayed->answers->len == 0)
        g_ptr_array_remove_index (self->delayed, d);
    }
}

/* Browsing. */

static gboolean
query_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  send_browse_query (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_query (FoctetMdnsDiscovery *self,
                guint                ms)
{
  clear_source (&self->query_timer);
  self->query_timer = timeout_source (self, ms, query_cb, self);
}

/* The PTRs we know with at least half their ttl left (RFC 6762 §7.1). */
static void
add_known_answers (FoctetMdnsDiscovery *self,
                   FoctetDnsMessage    *message)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  Instance *instance;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->instances);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &instance) && n < MAX_KNOWN_ANSWERS)
    {
      g_autofree char *target = NULL;
      gint64 left;

      if (instance->peer == NULL || instance->ptr_expires == 0)
        continue;
      left = (instance->ptr_expires - now) / G_USEC_PER_SEC;
      if (left < (gint64) instance->ptr_ttl / 2)
        continue;
      target = g_strconcat (instance->label, ".", FOCTET_MDNS_SERVICE, NULL);
      foctet_dns_message_add_record (message, FOCTET_DNS_SECTION_ANSWER,
                                     foctet_dns_record_new_ptr (FOCTET_MDNS_SERVICE, target, (guint32) left));
      n++;
    }
}

static void
send_browse_query (FoctetMdnsDiscovery *self)
{
  g_autoptr(FoctetDnsMessage) message = foctet_dns_message_new (0, 0);
  /* RFC 6762 §5.4: the first query after a start asks for unicast
   * answers, which responders give even when they multicast their
   * records a moment ago (as they do when nodes start together). */
  gboolean first = self->query_interval_ms == QUERY_INTERVAL_FIRST_MS;

  foctet_dns_message_add_question (message, FOCTET_MDNS_SERVICE, FOCTET_DNS_TYPE_PTR, first);
  add_known_answers (self, message);
  send_everywhere (self, message);

  schedule_query (self, self->query_interval_ms);
  self->query_interval_ms = MIN (self->query_interval_ms * 2, QUERY_INTERVAL_MAX_MS);
}

/* RFC 6762 §7.3: someone else's query for our service type, listing no
 * answer we do not know, is as good as our own. */
static void
suppress_duplicate_question (FoctetMdnsDiscovery    *self,
                             const FoctetDnsMessage *query)
{
  gboolean asks = FALSE;
  GPtrArray *known = query->sections[FOCTET_DNS_SECTION_ANSWER];

  for (guint i = 0; i < query->questions->len && !asks; i++)
    {
      const FoctetDnsQuestion *q = g_ptr_array_index (query->questions, i);

      asks = q->type == FOCTET_DNS_TYPE_PTR && !q->unicast_response && foctet_dns_name_equal (q->name, FOCTET_MDNS_SERVICE);
    }
  if (!asks || self->query_timer == NULL || self->query_interval_ms <= QUERY_INTERVAL_FIRST_MS * 2)
    return;
  for (guint i = 0; i < known->len; i++)
    {
      const FoctetDnsRecord *k = g_ptr_array_index (known, i);
      g_autofree char *label = NULL;
      g_autoptr(FoctetNodeId) id = NULL;
      Instance *instance;

      if (k->type != FOCTET_DNS_TYPE_PTR)
        continue;
      id = instance_node_id (k->target, &label);
      if (id == NULL)
        return;
      instance = g_hash_table_lookup (self->instances, label);
      if (instance == NULL || instance->peer == NULL)
        return;
    }
  /* Our next query is due within the current interval: push it back by
   * one interval, as if sent now. */
  g_debug ("Another host asked for %s: our query waits", FOCTET_MDNS_SERVICE);
  schedule_query (self, self->query_interval_ms / 2);
}

/* Resolving. */

static void
resolve_free (Resolve *resolve)
{
  foctet_node_id_free (resolve->node_id);
  g_free (resolve->label);
  clear_source (&resolve->timeout);
  clear_source (&resolve->requery);
  clear_source (&resolve->cancelled);
  g_free (resolve);
}

static void
resolve_forget (FoctetMdnsDiscovery *self,
                GTask               *task)
{
  Resolve *resolve = g_task_get_task_data (task);
  GList *link = g_list_find (self->resolves, task);

  clear_source (&resolve->timeout);
  clear_source (&resolve->requery);
  clear_source (&resolve->cancelled);
  if (link != NULL)
    {
      self->resolves = g_list_delete_link (self->resolves, link);
      g_object_unref (task);
    }
}

static void
resolve_complete (FoctetMdnsDiscovery *self,
                  Instance            *instance)
{
  for (GList *l = self->resolves; l != NULL;)
    {
      GTask *task = l->data;
      Resolve *resolve = g_task_get_task_data (task);

      l = l->next;
      if (instance->peer != NULL && foctet_node_id_equal (resolve->node_id, instance->node_id))
        {
          g_object_ref (task);
          resolve_forget (self, task);
          g_task_return_pointer (task, g_object_ref (foctet_peer_get_ticket (instance->peer)), g_object_unref);
          g_object_unref (task);
        }
    }
}

static void
send_instance_query (FoctetMdnsDiscovery *self,
                     const char          *label)
{
  g_autoptr(FoctetDnsMessage) message = foctet_dns_message_new (0, 0);
  g_autofree char *instance = g_strconcat (label, ".", FOCTET_MDNS_SERVICE, NULL);
  g_autofree char *host = g_strconcat (label, ".local", NULL);

  foctet_dns_message_add_question (message, instance, FOCTET_DNS_TYPE_SRV, FALSE);
  foctet_dns_message_add_question (message, instance, FOCTET_DNS_TYPE_TXT, FALSE);
  foctet_dns_message_add_question (message, host, FOCTET_DNS_TYPE_A, FALSE);
  foctet_dns_message_add_question (message, host, FOCTET_DNS_TYPE_AAAA, FALSE);
  send_everywhere (self, message);
}

static gboolean
resolve_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  FoctetMdnsDiscovery *self = g_task_get_source_object (task);
  Resolve *resolve = g_task_get_task_data (task);

  g_object_ref (task);
  resolve_forget (self, task);
  g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                           "no answer on the local network for %s within %d s", resolve->label,
                           RESOLVE_TIMEOUT_MS / 1000);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static gboolean
resolve_requery_cb (gpointer user_data)
{
  GTask *task = user_data;
  FoctetMdnsDiscovery *self = g_task_get_source_object (task);
  Resolve *resolve = g_task_get_task_data (task);

  send_instance_query (self, resolve->label);
  clear_source (&resolve->requery);
  resolve->requery_ms *= 2;
  resolve->requery = timeout_source (self, resolve->requery_ms, resolve_requery_cb, task);
  return G_SOURCE_REMOVE;
}

static gboolean
resolve_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  GTask *task = user_data;
  FoctetMdnsDiscovery *self = g_task_get_source_object (task);

  g_object_ref (task);
  resolve_forget (self, task);
  g_task_return_error_if_cancelled (task);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
foctet_mdns_discovery_resolve_async (FoctetDiscovery     *discovery,
                                     FoctetTicket        *hint,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  FoctetMdnsDiscovery *self = FOCTET_MDNS_DISCOVERY (discovery);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const FoctetNodeId *node_id = foctet_ticket_get_node_id (hint);
  g_autofree char *label = foctet_node_id_to_string (node_id);
  Instance *instance;
  Resolve *resolve;

  g_task_set_source_tag (task, foctet_mdns_discovery_resolve_async);
  g_task_set_name (task, "[foctet] mdns resolve");

  if (g_task_return_error_if_cancelled (task))
    return;
  if (!self->started)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                               "cannot look %s up on the local network: mDNS discovery is not running", label);
      return;
    }
  instance = g_hash_table_lookup (self->instances, label);
  if (instance != NULL && instance->peer != NULL && !foctet_peer_is_expired (instance->peer))
    {
      g_task_return_pointer (task, g_object_ref (foctet_peer_get_ticket (instance->peer)), g_object_unref);
      return;
    }

  resolve = g_new0 (Resolve, 1);
  resolve->node_id = foctet_node_id_copy (node_id);
  resolve->label = g_steal_pointer (&label);
  resolve->requery_ms = 500;
  g_task_set_task_data (task, resolve, (GDestroyNotify) resolve_free);
  resolve->timeout = timeout_source (self, RESOLVE_TIMEOUT_MS, resolve_timeout_cb, task);
  resolve->requery = timeout_source (self, resolve->requery_ms, resolve_requery_cb, task);
  if (cancellable != NULL)
    {
      resolve->cancelled = g_cancellable_source_new (cancellable);
      g_source_set_callback (resolve->cancelled, G_SOURCE_FUNC (resolve_cancelled_cb), task, NULL);
      g_source_attach (resolve->cancelled, self->context);
    }
  self->resolves = g_list_prepend (self->resolves, g_object_ref (task));
  send_instance_query (self, resolve->label);
}

static FoctetTicket *
foctet_mdns_discovery_resolve_finish (FoctetDiscovery  *discovery,
                                      GAsyncResult     *result,
                                      GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, discovery), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
fail_resolves (FoctetMdnsDiscovery *self,
               const char          *why)
{
  while (self->resolves != NULL)
    {
      GTask *task = g_object_ref (self->resolves->data);
      Resolve *resolve = g_task_get_task_data (task);

      resolve_forget (self, task);
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                               "cannot look %s up on the local network: %s", resolve->label, why);
      g_object_unref (task);
    }
}

/* Expiry and refresh. */

static gboolean
maintenance_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) expired = g_ptr_array_new ();
  GHashTableIter iter;
  Instance *instance;
  GPtrArray *addresses;

  g_clear_pointer (&self->maintenance_timer, g_source_unref);

  g_hash_table_iter_init (&iter, self->instances);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &instance))
    {
      if (instance->peer != NULL && instance->expires <= now)
        instance_evaluate (self, instance, FALSE);
      if (instance->peer != NULL && instance->refresh_at != 0 && instance->refresh_at <= now)
        {
          g_debug ("Asking %s again before its records expire", instance->label);
          send_instance_query (self, instance->label);
          instance->refreshes++;
          instance->refresh_at = instance->refreshes < 2
                                 ? now + (instance->expires - now) / 2
                                 : 0;
        }
      /* What has nothing left to say goes. */
      if (instance->peer == NULL && instance->srv_expires <= now && instance->txt_expires <= now
          && instance->ptr_expires <= now)
        g_ptr_array_add (expired, instance->label);
    }
  for (guint i = 0; i < expired->len; i++)
    g_hash_table_remove (self->instances, g_ptr_array_index (expired, i));

  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &addresses))
    {
      for (guint i = addresses->len; i-- > 0;)
        if (((HostAddress *) g_ptr_array_index (addresses, i))->expires <= now)
          g_ptr_array_remove_index (addresses, i);
      if (addresses->len == 0)
        g_hash_table_iter_remove (&iter);
    }

  schedule_maintenance (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_maintenance (FoctetMdnsDiscovery *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  GHashTableIter iter;
  Instance *instance;
  GPtrArray *addresses;

  clear_source (&self->maintenance_timer);
  if (!self->started)
    return;
  g_hash_table_iter_init (&iter, self->instances);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &instance))
    {
      if (instance->peer != NULL)
        next = MIN (next, instance->expires);
      if (instance->peer != NULL && instance->refresh_at != 0)
        next = MIN (next, instance->refresh_at);
      if (instance->peer == NULL)
        next = MIN (next, MAX (MAX (instance->srv_expires, instance->txt_expires), instance->ptr_expires));
    }
  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &addresses))
    for (guint i = 0; i < addresses->len; i++)
      next = MIN (next, ((HostAddress *) g_ptr_array_index (addresses, i))->expires);
  if (next == G_MAXINT64)
    return;
  self->maintenance_timer = timeout_source (self, (guint) CLAMP ((next - now) / USEC_PER_MSEC + 1, 1, G_MAXINT),
                                            maintenance_cb, self);
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

  suppress_duplicates (self, endpoint, ifindex, message);

  /* Services first, then the addresses of the hosts they name. */
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      {
        Instance *instance = cache_service_record (self, g_ptr_array_index (message->sections[s], i), from, &bad);

        if (instance != NULL && !g_ptr_array_find (touched, instance, NULL))
          g_ptr_array_add (touched, instance);
      }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      {
        FoctetDnsRecord *record = g_ptr_array_index (message->sections[s], i);

        if (cache_address_record (self, record))
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
    instance_evaluate (self, g_ptr_array_index (touched, i), TRUE);
  if (bad)
    drop_packet (self, from, "an announcement that does not hold together (see above)");
  if (touched->len > 0 || hosts->len > 0)
    schedule_maintenance (self);
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
      suppress_duplicate_question (self, message);
      answer_query (self, endpoint, ifindex, message, from);
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
      start_announcing (self);
      self->query_interval_ms = QUERY_INTERVAL_FIRST_MS;
      schedule_query (self, g_random_int_range (20, 121));
    }
  return G_SOURCE_REMOVE;
}

static gboolean
schedule_rescan_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  if (self->started && self->rescan_timer == NULL)
    self->rescan_timer = timeout_source (self, 200, rescan_cb, self);
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
  schedule_query (self, g_random_int_range (20, 121));
  start_announcing (self);

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
  send_goodbyes (self, self->records, NULL);
  self->started = FALSE;

  g_clear_signal_handler (&self->monitor_handler, self->monitor);
  g_clear_object (&self->monitor);
  clear_source (&self->rescan_timer);
  clear_source (&self->query_timer);
  clear_source (&self->announce_timer);
  clear_source (&self->maintenance_timer);
  g_ptr_array_set_size (self->delayed, 0);
  fail_resolves (self, "mDNS discovery stopped");
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
    records = records_for_ticket (self, own);
  /* What changed is withdrawn; what stays is announced again. */
  send_goodbyes (self, self->records, records);
  g_clear_pointer (&self->records, g_ptr_array_unref);
  self->records = records;
  g_hash_table_remove_all (self->last_multicast);
  if (records == NULL)
    clear_source (&self->announce_timer);
  else
    start_announcing (self);
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
  iface->resolve_async = foctet_mdns_discovery_resolve_async;
  iface->resolve_finish = foctet_mdns_discovery_resolve_finish;
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
  self->instances = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) instance_free);
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  self->last_multicast = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->delayed = g_ptr_array_new_with_free_func ((GDestroyNotify) delayed_free);
}

void
foctet_mdns_discovery_register (GTypeModule *module)
{
  foctet_mdns_discovery_register_type (module);
}

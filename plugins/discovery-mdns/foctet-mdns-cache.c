/* foctet-mdns-cache.c: what the "mdns" discovery knows of the LAN —
 * instances <NodeId>._foctet._udp.local (PTR, SRV, TXT) and the addresses
 * of their hosts (A, AAAA), as responses gave them — and the #FoctetPeer
 * list that follows from it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-mdns-discovery-private.h"

/* Bounds on what strangers on the LAN can make us keep. */
#define MAX_INSTANCES 256
#define MAX_HOST_ADDRESSES 16

/* Names. */

/* The NodeId of @name when it is "<NodeId>._foctet._udp.local" (any case);
 * sets @label to the NodeId text in lower case. */
FoctetNodeId *
mdns_instance_node_id (const char  *name,
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
gboolean
mdns_address_usable (GInetAddress *address)
{
  if (g_inet_address_get_is_any (address) || g_inet_address_get_is_multicast (address))
    return FALSE;
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_is_link_local (address))
    return FALSE;
  return TRUE;
}

/* Instances. */

void
mdns_instance_free (Instance *instance)
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
void
mdns_instance_evaluate (FoctetMdnsDiscovery *self,
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

  mdns_resolve_complete (self, instance);
}

static Instance *
instance_ensure (FoctetMdnsDiscovery *self,
                 const char          *name,
                 const char          *from)
{
  g_autofree char *label = NULL;
  FoctetNodeId *node_id = mdns_instance_node_id (name, &label);
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
Instance *
mdns_cache_service_record (FoctetMdnsDiscovery   *self,
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
gboolean
mdns_cache_address_record (FoctetMdnsDiscovery   *self,
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
  if (!mdns_address_usable (address))
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

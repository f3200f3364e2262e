/* foctet-mdns-responder.c: our records — made from the node's ticket,
 * announced (RFC 6762 §8.3), withdrawn with goodbyes (§10.1), and given
 * in answer to queries: once a second at most (§6), none the querier
 * knows (§7.1), legacy unicast (§6.7), and held back when another
 * responder gives the same (§7.4).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-mdns-discovery-private.h"

#define ANNOUNCEMENTS 3
#define ANNOUNCE_INTERVAL_MS 1000
/* RFC 6762 §6: a record is multicast at most once a second on a link. */
#define RATE_LIMIT_USEC G_USEC_PER_SEC
/* Legacy unicast answers carry no more than this ttl (RFC 6762 §6.7). */
#define LEGACY_TTL 10

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
GPtrArray *
mdns_records_for_ticket (FoctetMdnsDiscovery *self,
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
          if (address == NULL || !mdns_address_usable (address))
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
  mdns_send_everywhere (self, message);
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

void
mdns_start_announcing (FoctetMdnsDiscovery *self)
{
  mdns_clear_source (&self->announce_timer);
  if (!self->started || self->records == NULL || self->records->len == 0)
    return;
  /* RFC 6762 §8.3: at least two announcements, a second apart.  (We do
   * not probe: the names are our NodeId, which only our key holder has.) */
  announce (self);
  self->announcements_left = ANNOUNCEMENTS - 1;
  self->announce_timer = mdns_timeout_source (self, ANNOUNCE_INTERVAL_MS, announce_cb, self);
}

/* Sends goodbyes (ttl 0) for @records, or for those of them @keep does
 * not replace. */
void
mdns_send_goodbyes (FoctetMdnsDiscovery *self,
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
  mdns_send_everywhere (self, message);
}

/* Answering. */

void
mdns_delayed_free (Delayed *delayed)
{
  mdns_clear_source (&delayed->timer);
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
  bytes = mdns_build (message);
  if (bytes != NULL)
    mdns_endpoint_send (endpoint, ifindex, bytes, to);
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
      mdns_delayed_free (delayed);
      return;
    }
  for (guint i = 0; i < additionals->len; i++)
    g_ptr_array_add (delayed->additionals, foctet_dns_record_copy (g_ptr_array_index (additionals, i)));
  delayed->timer = mdns_timeout_source (self, ms, delayed_cb, delayed);
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

void
mdns_answer_query (FoctetMdnsDiscovery    *self,
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
      bytes = mdns_build (reply);
      if (bytes != NULL)
        mdns_endpoint_send (endpoint, ifindex, bytes, from);
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
void
mdns_suppress_duplicates (FoctetMdnsDiscovery    *self,
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

/* foctet-mdns-querier.c: our queries — browsing for _foctet._udp.local
 * (RFC 6762 §5.2, §7.1, §7.3), resolving a NodeId for
 * foctet_discovery_resolve_async(), and the one timer that expires the
 * cache and asks peers again before their records run out.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-mdns-discovery-private.h"

#define RESOLVE_TIMEOUT_MS 3000
/* At most this many known answers in a query (RFC 6762 §7.1). */
#define MAX_KNOWN_ANSWERS 32

typedef struct {
  FoctetNodeId *node_id;
  char *label;
  GSource *timeout;
  GSource *requery;
  GSource *cancelled;
  guint requery_ms;
} Resolve;

static void send_browse_query (FoctetMdnsDiscovery *self);

/* Browsing. */

static gboolean
query_cb (gpointer user_data)
{
  FoctetMdnsDiscovery *self = user_data;

  send_browse_query (self);
  return G_SOURCE_REMOVE;
}

void
mdns_schedule_query (FoctetMdnsDiscovery *self,
                     guint                ms)
{
  mdns_clear_source (&self->query_timer);
  self->query_timer = mdns_timeout_source (self, ms, query_cb, self);
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
  mdns_send_everywhere (self, message);

  mdns_schedule_query (self, self->query_interval_ms);
  self->query_interval_ms = MIN (self->query_interval_ms * 2, QUERY_INTERVAL_MAX_MS);
}

/* RFC 6762 §7.3: someone else's query for our service type, listing no
 * answer we do not know, is as good as our own. */
void
mdns_suppress_duplicate_question (FoctetMdnsDiscovery    *self,
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
      id = mdns_instance_node_id (k->target, &label);
      if (id == NULL)
        return;
      instance = g_hash_table_lookup (self->instances, label);
      if (instance == NULL || instance->peer == NULL)
        return;
    }
  /* Our next query is due within the current interval: push it back by
   * one interval, as if sent now. */
  g_debug ("Another host asked for %s: our query waits", FOCTET_MDNS_SERVICE);
  mdns_schedule_query (self, self->query_interval_ms / 2);
}

/* Resolving. */

static void
resolve_free (Resolve *resolve)
{
  foctet_node_id_free (resolve->node_id);
  g_free (resolve->label);
  mdns_clear_source (&resolve->timeout);
  mdns_clear_source (&resolve->requery);
  mdns_clear_source (&resolve->cancelled);
  g_free (resolve);
}

static void
resolve_forget (FoctetMdnsDiscovery *self,
                GTask               *task)
{
  Resolve *resolve = g_task_get_task_data (task);
  GList *link = g_list_find (self->resolves, task);

  mdns_clear_source (&resolve->timeout);
  mdns_clear_source (&resolve->requery);
  mdns_clear_source (&resolve->cancelled);
  if (link != NULL)
    {
      self->resolves = g_list_delete_link (self->resolves, link);
      g_object_unref (task);
    }
}

void
mdns_resolve_complete (FoctetMdnsDiscovery *self,
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
  mdns_send_everywhere (self, message);
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
  mdns_clear_source (&resolve->requery);
  resolve->requery_ms *= 2;
  resolve->requery = mdns_timeout_source (self, resolve->requery_ms, resolve_requery_cb, task);
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

void
mdns_resolve_async (FoctetDiscovery     *discovery,
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

  g_task_set_source_tag (task, mdns_resolve_async);
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
  resolve->timeout = mdns_timeout_source (self, RESOLVE_TIMEOUT_MS, resolve_timeout_cb, task);
  resolve->requery = mdns_timeout_source (self, resolve->requery_ms, resolve_requery_cb, task);
  if (cancellable != NULL)
    {
      resolve->cancelled = g_cancellable_source_new (cancellable);
      g_source_set_callback (resolve->cancelled, G_SOURCE_FUNC (resolve_cancelled_cb), task, NULL);
      g_source_attach (resolve->cancelled, self->context);
    }
  self->resolves = g_list_prepend (self->resolves, g_object_ref (task));
  send_instance_query (self, resolve->label);
}

FoctetTicket *
mdns_resolve_finish (FoctetDiscovery  *discovery,
                     GAsyncResult     *result,
                     GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, discovery), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
mdns_fail_resolves (FoctetMdnsDiscovery *self,
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
        mdns_instance_evaluate (self, instance, FALSE);
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

  mdns_schedule_maintenance (self);
  return G_SOURCE_REMOVE;
}

void
mdns_schedule_maintenance (FoctetMdnsDiscovery *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  GHashTableIter iter;
  Instance *instance;
  GPtrArray *addresses;

  mdns_clear_source (&self->maintenance_timer);
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
  self->maintenance_timer = mdns_timeout_source (self, (guint) CLAMP ((next - now) / USEC_PER_MSEC + 1, 1, G_MAXINT),
                                                 maintenance_cb, self);
}

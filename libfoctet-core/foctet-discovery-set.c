/* foctet-discovery-set.c: the discovery mechanisms a node uses — their
 * peers gathered in one list, lookups sent to all of them at once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-discovery-set-private.h"
#include "foctet-cancellable-private.h"
#include "foctet-error.h"
#include "foctet-ticket-private.h"

/* How long a lookup's answer is reused when the mechanism that gave it
 * keeps no peer list with a time to live of its own (the relay
 * directory).  A dial that fails on it forgets it at once. */
#define CACHE_SECONDS 30

typedef struct {
  FoctetDiscovery *discovery;
  FoctetDiscoveryFlags flags;
  GListModel *peers;             /* nullable */
  gulong changed_id;
} Member;

typedef struct {
  FoctetTicket *ticket;
  gint64 expires;                /* monotonic, µs */
} CacheEntry;

struct _FoctetDiscoverySet {
  GPtrArray *members;            /* Member */
  GListStore *peers;             /* FoctetPeer, one per NodeId */
  GHashTable *cache;             /* FoctetNodeId → CacheEntry */
};

static void
member_free (Member *member)
{
  if (member->changed_id != 0)
    g_signal_handler_disconnect (member->peers, member->changed_id);
  g_clear_object (&member->peers);
  g_clear_object (&member->discovery);
  g_free (member);
}

static void
cache_entry_free (CacheEntry *entry)
{
  g_clear_object (&entry->ticket);
  g_free (entry);
}

static void
discovery_set_clear (FoctetDiscoverySet *self)
{
  g_clear_pointer (&self->members, g_ptr_array_unref);
  g_clear_object (&self->peers);
  g_clear_pointer (&self->cache, g_hash_table_unref);
}

FoctetDiscoverySet *
foctet_discovery_set_new (void)
{
  FoctetDiscoverySet *self = g_rc_box_new0 (FoctetDiscoverySet);

  self->members = g_ptr_array_new_with_free_func ((GDestroyNotify) member_free);
  self->peers = g_list_store_new (FOCTET_TYPE_PEER);
  self->cache = g_hash_table_new_full (foctet_node_id_hash, foctet_node_id_equal,
                                       (GDestroyNotify) foctet_node_id_free,
                                       (GDestroyNotify) cache_entry_free);
  return self;
}

FoctetDiscoverySet *
foctet_discovery_set_ref (FoctetDiscoverySet *self)
{
  return g_rc_box_acquire (self);
}

void
foctet_discovery_set_unref (FoctetDiscoverySet *self)
{
  g_rc_box_release_full (self, (GDestroyNotify) discovery_set_clear);
}

/* The peers of every mechanism, the first mechanism's first when two
 * found the same NodeId, brought into the list with as few changes as
 * there are: a peer updated in place stays where it is. */
static void
sync_peers (FoctetDiscoverySet *self)
{
  g_autoptr(GPtrArray) wanted = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GHashTable) seen = g_hash_table_new (foctet_node_id_hash, foctet_node_id_equal);
  guint n;

  for (guint m = 0; m < self->members->len; m++)
    {
      Member *member = g_ptr_array_index (self->members, m);

      if (member->peers == NULL)
        continue;
      n = g_list_model_get_n_items (member->peers);
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(FoctetPeer) peer = g_list_model_get_item (member->peers, i);

          if (peer == NULL || !g_hash_table_add (seen, (gpointer) foctet_peer_get_node_id (peer)))
            continue;
          g_ptr_array_add (wanted, g_steal_pointer (&peer));
        }
    }

  n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = n; i-- > 0;)
    {
      g_autoptr(FoctetPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

      if (!g_ptr_array_find (wanted, peer, NULL))
        g_list_store_remove (self->peers, i);
    }
  for (guint i = 0; i < wanted->len; i++)
    if (!g_list_store_find (self->peers, g_ptr_array_index (wanted, i), NULL))
      g_list_store_append (self->peers, g_ptr_array_index (wanted, i));
}

static void
member_peers_changed_cb (GListModel         *model,
                         guint               position,
                         guint               removed,
                         guint               added,
                         FoctetDiscoverySet *self)
{
  sync_peers (self);
}

gboolean
foctet_discovery_set_add (FoctetDiscoverySet    *self,
                          FoctetDiscovery       *discovery,
                          FoctetDiscoveryFlags   flags,
                          FoctetTicket          *own,
                          GError               **error)
{
  const char *name = foctet_discovery_get_name (discovery);
  Member *member;

  for (guint m = 0; m < self->members->len; m++)
    {
      Member *other = g_ptr_array_index (self->members, m);

      if (other->discovery == discovery || g_strcmp0 (foctet_discovery_get_name (other->discovery), name) == 0)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "The node already uses the discovery mechanism “%s”", name);
          return FALSE;
        }
    }

  if (!foctet_discovery_start (discovery, error))
    {
      g_prefix_error (error, "Cannot start discovery “%s”: ", name);
      return FALSE;
    }

  member = g_new0 (Member, 1);
  member->discovery = g_object_ref (discovery);
  member->flags = flags;
  member->peers = foctet_discovery_get_peers (discovery);
  if (member->peers != NULL)
    {
      g_object_ref (member->peers);
      member->changed_id = g_signal_connect (member->peers, "items-changed",
                                             G_CALLBACK (member_peers_changed_cb), self);
    }
  g_ptr_array_add (self->members, member);

  if ((flags & FOCTET_DISCOVERY_FLAGS_PUBLISH) != 0 && own != NULL)
    foctet_discovery_publish (discovery, own);
  sync_peers (self);
  return TRUE;
}

gboolean
foctet_discovery_set_is_empty (FoctetDiscoverySet *self)
{
  return self->members->len == 0;
}

void
foctet_discovery_set_publish (FoctetDiscoverySet *self,
                              FoctetTicket       *own)
{
  for (guint m = 0; m < self->members->len; m++)
    {
      Member *member = g_ptr_array_index (self->members, m);

      if ((member->flags & FOCTET_DISCOVERY_FLAGS_PUBLISH) != 0)
        foctet_discovery_publish (member->discovery, own);
    }
}

/* Stops every mechanism (withdrawing what they published) and lets them
 * go; the peer list empties. */
void
foctet_discovery_set_stop (FoctetDiscoverySet *self)
{
  g_autoptr(GPtrArray) members = g_steal_pointer (&self->members);

  self->members = g_ptr_array_new_with_free_func ((GDestroyNotify) member_free);
  for (guint m = 0; m < members->len; m++)
    {
      Member *member = g_ptr_array_index (members, m);

      foctet_discovery_stop (member->discovery);
    }
  g_hash_table_remove_all (self->cache);
  g_list_store_remove_all (self->peers);
}

GListModel *
foctet_discovery_set_get_peers (FoctetDiscoverySet *self)
{
  return G_LIST_MODEL (self->peers);
}

void
foctet_discovery_set_forget (FoctetDiscoverySet *self,
                             const FoctetNodeId *node_id)
{
  g_hash_table_remove (self->cache, node_id);
}

/* Lookups */

/* The addresses @found gives, then the entries of @hint it lacks (the
 * relay a ticket named stays a way to the node). */
static FoctetTicket *
merge_tickets (FoctetTicket *found,
               FoctetTicket *hint)
{
  FoctetTicket *merged = foctet_ticket_new (foctet_ticket_get_node_id (hint));
  FoctetTicket *sources[] = { found, hint };

  for (guint k = 0; k < FOCTET_N_ADDRESS_KINDS; k++)
    {
      FoctetAddressKind kind = foctet_address_kinds[k];
      g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

      for (guint s = 0; s < G_N_ELEMENTS (sources); s++)
        {
          g_auto(GStrv) addresses = foctet_ticket_get_addresses (sources[s], kind);

          for (guint i = 0; addresses[i] != NULL; i++)
            {
              g_autoptr(GError) error = NULL;

              if (!g_hash_table_add (seen, g_strdup (addresses[i])))
                continue;
              if (!foctet_ticket_add_address (merged, kind, addresses[i], &error))
                g_debug ("Discovered address %s left out: %s", addresses[i], error->message);
            }
        }
    }
  return merged;
}

/* What is known of @node_id without asking: a live peer of a mechanism's
 * list, else an unexpired cached answer. */
static FoctetTicket *
lookup_known (FoctetDiscoverySet *self,
              const FoctetNodeId *node_id)
{
  CacheEntry *entry;

  for (guint m = 0; m < self->members->len; m++)
    {
      Member *member = g_ptr_array_index (self->members, m);
      guint n;

      if (member->peers == NULL)
        continue;
      n = g_list_model_get_n_items (member->peers);
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(FoctetPeer) peer = g_list_model_get_item (member->peers, i);

          if (peer != NULL && foctet_node_id_equal (foctet_peer_get_node_id (peer), node_id))
            {
              if (foctet_peer_is_expired (peer))
                break;
              return g_object_ref (foctet_peer_get_ticket (peer));
            }
        }
    }

  entry = g_hash_table_lookup (self->cache, node_id);
  if (entry != NULL)
    {
      if (g_get_monotonic_time () < entry->expires)
        return g_object_ref (entry->ticket);
      g_hash_table_remove (self->cache, node_id);
    }
  return NULL;
}

typedef struct {
  FoctetDiscoverySet *set;
  FoctetTicket *hint;
  GCancellable *cancellable;     /* cancels the mechanisms still looking */
  FoctetCancellableChain caller; /* the caller's cancellable cancels it too */
  guint pending;
  gboolean done;
  GString *reasons;
} Resolve;

static void
resolve_free (Resolve *resolve)
{
  foctet_cancellable_chain_clear (&resolve->caller);
  g_clear_object (&resolve->cancellable);
  g_clear_object (&resolve->hint);
  g_clear_pointer (&resolve->set, foctet_discovery_set_unref);
  g_string_free (resolve->reasons, TRUE);
  g_free (resolve);
}

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Resolve *resolve = g_task_get_task_data (task);
  FoctetDiscovery *discovery = FOCTET_DISCOVERY (source);
  const FoctetNodeId *node_id = foctet_ticket_get_node_id (resolve->hint);
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(GError) error = NULL;

  resolve->pending--;
  found = foctet_discovery_resolve_finish (discovery, result, &error);
  if (resolve->done)
    return;

  if (found != NULL && !foctet_node_id_equal (foctet_ticket_get_node_id (found), node_id))
    {
      g_clear_object (&found);
      error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                           "answered for another NodeId");
    }

  if (found != NULL)
    {
      CacheEntry *entry = g_new0 (CacheEntry, 1);

      g_debug ("Discovery “%s” found the node", foctet_discovery_get_name (discovery));
      resolve->done = TRUE;
      g_cancellable_cancel (resolve->cancellable);
      entry->ticket = g_object_ref (found);
      entry->expires = g_get_monotonic_time () + (gint64) CACHE_SECONDS * G_USEC_PER_SEC;
      g_hash_table_replace (resolve->set->cache, foctet_node_id_copy (node_id), entry);
      g_task_return_pointer (task, merge_tickets (found, resolve->hint), g_object_unref);
      return;
    }

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_string_append_printf (resolve->reasons, "%s%s — %s", resolve->reasons->len > 0 ? "; " : "",
                            foctet_discovery_get_name (discovery), error->message);
  if (resolve->pending > 0)
    return;

  resolve->done = TRUE;
  if (!g_task_return_error_if_cancelled (task))
    {
      g_autofree char *text = foctet_node_id_to_string (node_id);

      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                               "Cannot find %s: %s", text,
                               resolve->reasons->len > 0 ? resolve->reasons->str : "no answer");
    }
}

/* Looks @hint's NodeId up with every mechanism at once; the first answer
 * wins and the others are cancelled.  The result is a ticket with the
 * addresses found, followed by those @hint had.  Fails with
 * FOCTET_ERROR_NOT_FOUND naming each mechanism and why it found nothing. */
void
foctet_discovery_set_resolve_async (FoctetDiscoverySet  *self,
                                    FoctetTicket        *hint,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  const FoctetNodeId *node_id = foctet_ticket_get_node_id (hint);
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(FoctetTicket) known = NULL;
  Resolve *resolve;

  g_task_set_source_tag (task, foctet_discovery_set_resolve_async);

  known = lookup_known (self, node_id);
  if (known != NULL)
    {
      g_task_return_pointer (task, merge_tickets (known, hint), g_object_unref);
      return;
    }
  if (self->members->len == 0)
    {
      g_autofree char *text = foctet_node_id_to_string (node_id);

      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                               "Cannot find %s: no discovery mechanism is enabled", text);
      return;
    }

  resolve = g_new0 (Resolve, 1);
  resolve->set = foctet_discovery_set_ref (self);
  resolve->hint = g_object_ref (hint);
  resolve->cancellable = g_cancellable_new ();
  resolve->reasons = g_string_new (NULL);
  g_task_set_task_data (task, resolve, (GDestroyNotify) resolve_free);
  foctet_cancellable_chain_init (&resolve->caller, cancellable, resolve->cancellable);

  for (guint m = 0; m < self->members->len; m++)
    {
      Member *member = g_ptr_array_index (self->members, m);

      resolve->pending++;
      foctet_discovery_resolve_async (member->discovery, hint, resolve->cancellable,
                                      resolve_cb, g_object_ref (task));
    }
}

FoctetTicket *
foctet_discovery_set_resolve_finish (GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

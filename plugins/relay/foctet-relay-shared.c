/* foctet-relay-shared.c: the state the relay transport and the relay
 * directory of one identity share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-shared.h"
#include "foctet-relay-message.h"

struct _RelayShared {
  GPtrArray *transports;              /* RelayTransport, not owned: each removes itself */
  GPtrArray *entries;                 /* FoctetRelayEntry to publish; NULL: nothing */
  GStrv relays;                       /* where to publish them */
};

static void
relay_shared_free (RelayShared *self)
{
  /* The identity goes after every transport that holds it. */
  g_assert (self->transports->len == 0);
  g_ptr_array_unref (self->transports);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_strfreev (self->relays);
  g_free (self);
}

/* The state of @identity, made on first use; it lives as long as the
 * identity does. */
RelayShared *
relay_shared_get (FoctetIdentity *identity)
{
  static GQuark quark;
  RelayShared *self;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (identity), NULL);

  if (quark == 0)
    quark = g_quark_from_static_string ("foctet-relay-shared");
  self = g_object_get_qdata (G_OBJECT (identity), quark);
  if (self == NULL)
    {
      self = g_new0 (RelayShared, 1);
      self->transports = g_ptr_array_new ();
      g_object_set_qdata_full (G_OBJECT (identity), quark, self, (GDestroyNotify) relay_shared_free);
    }
  return self;
}

void
relay_shared_add_transport (RelayShared    *self,
                            RelayTransport *transport)
{
  g_ptr_array_add (self->transports, transport);
}

void
relay_shared_remove_transport (RelayShared    *self,
                               RelayTransport *transport)
{
  g_ptr_array_remove (self->transports, transport);
}

/* A transport of the identity, one that is connected to @relay if there
 * is such (a lookup then reuses its connection); %NULL if the identity
 * has none. */
RelayTransport *
relay_shared_find_transport (RelayShared *self,
                             const char  *relay)
{
  for (guint i = 0; i < self->transports->len; i++)
    if (relay_transport_is_connected_to (g_ptr_array_index (self->transports, i), relay))
      return g_ptr_array_index (self->transports, i);
  return self->transports->len > 0 ? g_ptr_array_index (self->transports, 0) : NULL;
}

/* Sets what to publish: @entries (copied; %NULL: nothing) at each of
 * @relays; every transport of the identity publishes it, or withdraws
 * what it published, now. */
void
relay_shared_set_published (RelayShared        *self,
                            GPtrArray          *entries,
                            const char * const *relays)
{
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_clear_pointer (&self->relays, g_strfreev);
  if (entries != NULL)
    {
      self->entries = foctet_relay_entries_new ();
      for (guint i = 0; i < entries->len; i++)
        {
          FoctetRelayEntry *entry = g_ptr_array_index (entries, i);

          g_ptr_array_add (self->entries, foctet_relay_entry_new (entry->kind, entry->address));
        }
      self->relays = g_strdupv ((char **) relays);
    }
  for (guint i = 0; i < self->transports->len; i++)
    relay_transport_publish_changed (g_ptr_array_index (self->transports, i));
}

/* What to publish at @relay, or %NULL for nothing (withdraw). */
GPtrArray *
relay_shared_get_published (RelayShared *self,
                            const char  *relay)
{
  if (self->entries == NULL || self->relays == NULL || !g_strv_contains ((const char * const *) self->relays, relay))
    return NULL;
  return self->entries;
}

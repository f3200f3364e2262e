/* foctet-address-counts.c: counts per remote address, for transports'
 * limits (foctet-address-counts.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-address-counts.h"

struct _FoctetAddressCounts {
  grefcount refs;
  GHashTable *counts;                   /* host text → count, never 0 */
};

FoctetAddressCounts *
foctet_address_counts_new (void)
{
  FoctetAddressCounts *self = g_new0 (FoctetAddressCounts, 1);

  g_ref_count_init (&self->refs);
  self->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

FoctetAddressCounts *
foctet_address_counts_ref (FoctetAddressCounts *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_ref_count_inc (&self->refs);
  return self;
}

void
foctet_address_counts_unref (FoctetAddressCounts *self)
{
  g_return_if_fail (self != NULL);

  if (!g_ref_count_dec (&self->refs))
    return;
  g_hash_table_unref (self->counts);
  g_free (self);
}

guint
foctet_address_counts_get (FoctetAddressCounts *self,
                           const char          *host)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (host != NULL, 0);

  return GPOINTER_TO_UINT (g_hash_table_lookup (self->counts, host));
}

void
foctet_address_counts_add (FoctetAddressCounts *self,
                           const char          *host,
                           int                  delta)
{
  guint count;

  g_return_if_fail (self != NULL);
  g_return_if_fail (host != NULL);

  count = foctet_address_counts_get (self, host);
  g_return_if_fail (delta >= 0 || count >= (guint) -delta);
  count += delta;
  if (count == 0)
    g_hash_table_remove (self->counts, host);
  else
    g_hash_table_insert (self->counts, g_strdup (host), GUINT_TO_POINTER (count));
}

guint
foctet_address_counts_size (FoctetAddressCounts *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return g_hash_table_size (self->counts);
}

typedef struct {
  FoctetAddressCounts *counts;
  char *host;
} Held;

static void
held_release (gpointer  data,
              GClosure *closure)
{
  Held *held = data;

  foctet_address_counts_add (held->counts, held->host, -1);
  foctet_address_counts_unref (held->counts);
  g_free (held->host);
  g_free (held);
}

static void
held_closed_cb (FoctetConnection *connection,
                const GError     *error,
                gpointer          user_data)
{
  /* Gives the count back, through held_release (). */
  g_signal_handlers_disconnect_by_func (connection, held_closed_cb, user_data);
}

void
foctet_address_counts_release_with (FoctetAddressCounts *self,
                                    FoctetConnection    *connection,
                                    const char          *host)
{
  Held *held;

  g_return_if_fail (self != NULL);
  g_return_if_fail (FOCTET_IS_CONNECTION (connection));
  g_return_if_fail (host != NULL);

  held = g_new0 (Held, 1);
  held->counts = foctet_address_counts_ref (self);
  held->host = g_strdup (host);
  /* The closure's destroy notify runs when the handler is disconnected
   * (on closed) or when the connection is finalized. */
  g_signal_connect_data (connection, "closed", G_CALLBACK (held_closed_cb), held, held_release, 0);
}

/* foctet-cancellable.c: a cancellable chained to another (see
 * foctet-cancellable-private.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-cancellable-private.h"

static void
parent_cancelled_cb (GCancellable *parent,
                     GCancellable *child)
{
  g_cancellable_cancel (child);
}

void
foctet_cancellable_chain_init (FoctetCancellableChain *chain,
                               GCancellable           *parent,
                               GCancellable           *child)
{
  g_return_if_fail (G_IS_CANCELLABLE (child));

  chain->parent = NULL;
  chain->handler_id = 0;
  if (parent == NULL)
    return;
  chain->parent = g_object_ref (parent);
  chain->handler_id = g_cancellable_connect (parent, G_CALLBACK (parent_cancelled_cb), child, NULL);
}

void
foctet_cancellable_chain_clear (FoctetCancellableChain *chain)
{
  if (chain->parent != NULL)
    g_cancellable_disconnect (chain->parent, chain->handler_id);
  chain->handler_id = 0;
  g_clear_object (&chain->parent);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A child cancellable chained to a parent one: cancelling the parent
 * cancels the child, not the other way round.  An operation that must stop
 * when its caller's cancellable or the node's fires, but that can also be
 * cancelled alone (a lookup done, the rest given up), works on a child of
 * both. */
typedef struct {
  GCancellable *parent;          /* a reference; NULL when nothing is chained */
  gulong handler_id;
} FoctetCancellableChain;

/* Chains @child to @parent (nullable: then nothing is).  A @parent
 * already cancelled cancels @child at once.  @child must outlive the
 * chain: clear it first. */
void foctet_cancellable_chain_init (FoctetCancellableChain *chain,
                                    GCancellable           *parent,
                                    GCancellable           *child);
/* Undoes the chain; does nothing on one cleared already or never chained. */
void foctet_cancellable_chain_clear (FoctetCancellableChain *chain);

G_END_DECLS

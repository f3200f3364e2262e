/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Counts per remote address, for a transport's limits on what one
 * address may hold at once (handshakes in progress, connections): a
 * count goes up when something of the address starts and down when it
 * ends, and an address whose count is back to 0 is forgotten, so the
 * table holds only the addresses with something under way.  An
 * established connection gives its count back when it closes or is
 * freed, whichever comes first (an application may drop one it never
 * closed).  Refcounted: a connection holding a count keeps the table.
 * Not part of <foctet.h> and not introspected: include
 * <foctet-address-counts.h>.  Use it from one thread. */

#include "foctet.h"

G_BEGIN_DECLS

typedef struct _FoctetAddressCounts FoctetAddressCounts;

FOCTET_AVAILABLE_IN_ALL
FoctetAddressCounts *foctet_address_counts_new (void);
FOCTET_AVAILABLE_IN_ALL
FoctetAddressCounts *foctet_address_counts_ref (FoctetAddressCounts *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_address_counts_unref (FoctetAddressCounts *self);
/* The count of @host (an address as text: the key is the caller's). */
FOCTET_AVAILABLE_IN_ALL
guint foctet_address_counts_get (FoctetAddressCounts *self,
                                 const char          *host);
/* Changes the count of @host by @delta; at 0 the address is forgotten. */
FOCTET_AVAILABLE_IN_ALL
void foctet_address_counts_add (FoctetAddressCounts *self,
                                const char          *host,
                                int                  delta);
/* Takes over one count of @host, which @connection gives back when it
 * closes or is freed, whichever comes first. */
FOCTET_AVAILABLE_IN_ALL
void foctet_address_counts_release_with (FoctetAddressCounts *self,
                                         FoctetConnection    *connection,
                                         const char          *host);
/* How many addresses have a count. */
FOCTET_AVAILABLE_IN_ALL
guint foctet_address_counts_size (FoctetAddressCounts *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetAddressCounts, foctet_address_counts_unref)

G_END_DECLS

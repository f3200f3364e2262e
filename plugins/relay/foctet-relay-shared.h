/* foctet-relay-shared.h: what the relay transport and the relay directory
 * (the "relay" discovery) of one node share — plugin-internal.
 *
 * The node makes both from the registry with its one FoctetIdentity, so
 * the state hangs off that identity (object data): the transports of the
 * identity, and the addresses its discovery wants published and at which
 * relays.  The transport holds the connections and reservations, and
 * publishes on the connection that holds each reservation, so that what
 * it published ends with the reservation; the discovery only says what
 * to publish, and asks the transport's connections for lookups.
 *
 * Everything here runs on the node's GMainContext.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

#include "foctet-relay-transport.h"

G_BEGIN_DECLS

typedef struct _RelayShared RelayShared;

RelayShared *relay_shared_get (FoctetIdentity *identity);

void relay_shared_add_transport (RelayShared    *self,
                                 RelayTransport *transport);
void relay_shared_remove_transport (RelayShared    *self,
                                    RelayTransport *transport);
RelayTransport *relay_shared_find_transport (RelayShared *self,
                                             const char  *relay);

void relay_shared_set_published (RelayShared        *self,
                                 GPtrArray          *entries,
                                 const char * const *relays);
GPtrArray *relay_shared_get_published (RelayShared *self,
                                       const char  *relay);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

#include "foctet-relay-message.h"

G_BEGIN_DECLS

#define RELAY_TRANSPORT_NAME "relay"

/* Reconnecting to a relay that went away: the first retry after this
 * long, each next one twice as late, at most RELAY_BACKOFF_MAX_MS. */
#define RELAY_BACKOFF_MIN_MS 500
#define RELAY_BACKOFF_MAX_MS 30000

#define RELAY_TYPE_TRANSPORT (relay_transport_get_type ())
G_DECLARE_FINAL_TYPE (RelayTransport, relay_transport, RELAY, TRANSPORT, GObject)

void relay_transport_register (GTypeModule *module);

/* For the relay directory (foctet-relay-directory.c): */
gboolean relay_transport_is_connected_to (RelayTransport *self,
                                          const char     *relay);
void relay_transport_publish_changed (RelayTransport *self);
void relay_transport_lookup_async (RelayTransport      *self,
                                   const char          *relay,
                                   const FoctetNodeId  *target,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
FoctetRelayMessage *relay_transport_lookup_finish (RelayTransport  *self,
                                                   GAsyncResult    *result,
                                                   GError         **error);

G_END_DECLS

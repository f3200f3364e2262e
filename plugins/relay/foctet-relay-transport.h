/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define RELAY_TRANSPORT_NAME "relay"

/* Reconnecting to a relay that went away: the first retry after this
 * long, each next one twice as late, at most RELAY_BACKOFF_MAX_MS. */
#define RELAY_BACKOFF_MIN_MS 500
#define RELAY_BACKOFF_MAX_MS 30000

#define RELAY_TYPE_TRANSPORT (relay_transport_get_type ())
G_DECLARE_FINAL_TYPE (RelayTransport, relay_transport, RELAY, TRANSPORT, GObject)

void relay_transport_register (GTypeModule *module);

G_END_DECLS

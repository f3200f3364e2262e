/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define RELAY_DIRECTORY_NAME "relay"

/* How long a lookup may take, connecting included (the default of the
 * "lookup-timeout" property, in milliseconds). */
#define RELAY_DIRECTORY_LOOKUP_TIMEOUT_MS 10000

#define RELAY_TYPE_DIRECTORY (relay_directory_get_type ())
G_DECLARE_FINAL_TYPE (RelayDirectory, relay_directory, RELAY, DIRECTORY, GObject)

void relay_directory_register (GTypeModule *module);

G_END_DECLS

/* foctet-relay-module.c: entry points of the "relay" transport plugin
 * (PROTOCOL §7): nodes reach each other through a relay, end to end
 * encrypted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-transport.h"

FOCTET_PLUGIN_DEFINE ("relay", "Reaching nodes through a relay, end to end encrypted")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  relay_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  RELAY_TYPE_TRANSPORT, RELAY_TRANSPORT_NAME, 1);
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

G_MODULE_EXPORT char **
g_io_module_query (void)
{
  char *points[] = { FOCTET_EXTENSION_POINT_TRANSPORT, NULL };

  return g_strdupv (points);
}

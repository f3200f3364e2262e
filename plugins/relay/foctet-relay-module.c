/* foctet-relay-module.c: entry points of the "relay" plugin (PROTOCOL
 * §7): the transport — nodes reach each other through a relay, end to
 * end encrypted — and the discovery — a relay's directory of the
 * addresses its reserved nodes published.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-directory.h"
#include "foctet-relay-transport.h"

FOCTET_PLUGIN_DEFINE ("relay", "Reaching nodes through a relay, end to end encrypted, and finding them in its directory")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  relay_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  RELAY_TYPE_TRANSPORT, RELAY_TRANSPORT_NAME, 1);
  relay_directory_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_DISCOVERY,
                                  RELAY_TYPE_DIRECTORY, RELAY_DIRECTORY_NAME, 1);
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

G_MODULE_EXPORT char **
g_io_module_query (void)
{
  char *points[] = { FOCTET_EXTENSION_POINT_TRANSPORT, FOCTET_EXTENSION_POINT_DISCOVERY, NULL };

  return g_strdupv (points);
}

/* foctet-mdns-module.c: entry points of the "mdns" discovery plugin
 * (multicast DNS / DNS-SD on the LAN; docs/protocol.md "LAN discovery").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-mdns-discovery.h"

FOCTET_PLUGIN_DEFINE ("discovery-mdns", "LAN discovery by multicast DNS / DNS-SD (_foctet._udp.local)")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  foctet_mdns_discovery_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_DISCOVERY,
                                  FOCTET_TYPE_MDNS_DISCOVERY, FOCTET_MDNS_DISCOVERY_NAME, 10);
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

G_MODULE_EXPORT char **
g_io_module_query (void)
{
  char *points[] = { FOCTET_EXTENSION_POINT_DISCOVERY, NULL };

  return g_strdupv (points);
}

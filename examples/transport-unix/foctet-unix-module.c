/* foctet-unix-module.c: entry points of the "unix" transport plugin, an
 * example of a transport built out of foctet's tree (a Unix domain
 * socket, then TLS 1.3 and a muxer inside it; PROTOCOL §2–§4).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-unix-transport.h"

/* What the registry reads before it runs any code of this module: its
 * name, and the plugin ABI of the headers it was built against. */
FOCTET_PLUGIN_DEFINE ("transport-unix", "Unix domain sockets with TLS 1.3 and a stream muxer inside (example)")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  /* The registry keeps the module in use for good: types cannot be
   * unregistered. */
  unix_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  UNIX_TYPE_TRANSPORT, UNIX_TRANSPORT_NAME, 0);
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

/* foctet-yamux-module.c: entry points of the yamux muxer plugin.  Only
 * these and foctet_plugin_desc are exported.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux.h"

FOCTET_PLUGIN_DEFINE ("mux-yamux", "yamux stream multiplexer (hashicorp/yamux framing)")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  foctet_yamux_register_types (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_MUXER,
                                  FOCTET_YAMUX_TYPE_MUXER, FOCTET_YAMUX_NAME, 0);
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

G_MODULE_EXPORT char **
g_io_module_query (void)
{
  char *points[] = { FOCTET_EXTENSION_POINT_MUXER, NULL };

  return g_strdupv (points);
}

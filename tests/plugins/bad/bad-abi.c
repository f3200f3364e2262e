/* bad-abi.c: a TEST-ONLY module built for another plugin ABI.  The
 * registry must refuse it from its descriptor alone, without calling its
 * g_io_module_load(), which would register "must-not-load".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "must-not-load.h"

G_MODULE_EXPORT const FoctetPluginDesc foctet_plugin_desc = {
  FOCTET_PLUGIN_ABI_VERSION + 1, "bad-abi", "TEST ONLY: built for a future plugin ABI"
};

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  bad_plugin_register_must_not_load (module);
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

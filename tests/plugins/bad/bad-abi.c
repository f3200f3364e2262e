/* A module built for another plugin ABI: the registry must refuse it
 * without running g_io_module_load (which would register "must-not-load").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <foctet.h>

G_MODULE_EXPORT const FoctetPluginDesc foctet_plugin_desc = {
  FOCTET_PLUGIN_ABI_VERSION + 1, "bad-abi", "built for a future plugin ABI"
};

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  g_error ("g_io_module_load of a module with the wrong ABI was called");
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

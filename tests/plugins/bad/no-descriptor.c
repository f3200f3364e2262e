/* A plain GIO module without a foctet descriptor: refused unloaded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <foctet.h>

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  g_error ("g_io_module_load of a module without a descriptor was called");
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

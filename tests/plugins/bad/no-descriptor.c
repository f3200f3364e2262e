/* no-descriptor.c: a TEST-ONLY, well-formed GIO module that lacks the
 * foctet_plugin_desc descriptor.  The registry must refuse it without
 * calling its g_io_module_load(), which would register "must-not-load".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "must-not-load.h"

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

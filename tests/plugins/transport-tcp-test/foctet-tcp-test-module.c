/* TEST-ONLY transport plugin "tcp-test": the module entry points.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-tcp-test.h"

FOCTET_PLUGIN_DEFINE ("transport-tcp-test",
                      "TEST ONLY: unencrypted, unauthenticated TCP on loopback")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  tcp_test_register_types (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  TCP_TEST_TYPE_TRANSPORT, "tcp-test", 0);
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

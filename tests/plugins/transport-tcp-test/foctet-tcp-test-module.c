/* foctet-tcp-test-module.c: entry points of the TEST-ONLY transport plugin
 * "tcp-test" (unencrypted, unauthenticated TCP; never installed — see
 * foctet-tcp-test.h).  Only these and foctet_plugin_desc are exported.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-tcp-test.h"

FOCTET_PLUGIN_DEFINE (TCP_TEST_PLUGIN_NAME, TCP_TEST_PLUGIN_DESCRIPTION)

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  tcp_test_stream_register (G_TYPE_MODULE (module));
  tcp_test_connection_register (G_TYPE_MODULE (module));
  tcp_test_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  TCP_TEST_TYPE_TRANSPORT, TCP_TEST_NAME, 0);
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

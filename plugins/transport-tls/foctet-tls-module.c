/* foctet-tls-module.c: entry points of the "tls" transport plugin (TCP,
 * then TLS 1.3 and a muxer inside it; PROTOCOL §2–§4).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-tls-transport.h"

FOCTET_PLUGIN_DEFINE ("transport-tls", "TCP with TLS 1.3 (GnuTLS) and a stream muxer inside")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  tls_transport_register (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  TLS_TYPE_TRANSPORT, TLS_TRANSPORT_NAME, 10);
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

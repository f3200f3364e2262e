/* foctet-quic-module.c: entry points of the "quic" transport plugin (QUIC
 * v1 through ngtcp2, TLS 1.3 through GnuTLS; PROTOCOL §2, §3).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-quic.h"

FOCTET_PLUGIN_DEFINE ("transport-quic", "QUIC v1 (ngtcp2 and GnuTLS), streams natively")

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT char **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
  quic_transport_register (G_TYPE_MODULE (module));
  quic_connection_register (G_TYPE_MODULE (module));
  /* Preferred over tls (10) where both reach a peer (PROTOCOL §3). */
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT,
                                  QUIC_TYPE_TRANSPORT, QUIC_TRANSPORT_NAME, 20);
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

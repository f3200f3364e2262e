/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define TLS_TRANSPORT_NAME "tls"

#define TLS_TYPE_TRANSPORT (tls_transport_get_type ())
G_DECLARE_FINAL_TYPE (TlsTransport, tls_transport, TLS, TRANSPORT, GObject)

void tls_transport_register (GTypeModule *module);

G_END_DECLS

/* TEST-ONLY transport "tcp-test": plain TCP on loopback, no encryption, no
 * authentication.  It exists to prove the plugin system end to end before
 * the real transports; it is never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define TCP_TEST_TYPE_TRANSPORT (tcp_test_transport_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestTransport, tcp_test_transport, TCP_TEST, TRANSPORT, GObject)

void tcp_test_register_types (GTypeModule *module);

G_END_DECLS

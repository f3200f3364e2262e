/* foctet-tcp-test.h: internals of the TEST-ONLY transport plugin "tcp-test".
 *
 * TEST ONLY, NEVER INSTALLED.  Plain TCP, meant for loopback: nothing is
 * encrypted and nobody is authenticated — a peer's NodeId is taken on its
 * word.  It exists to prove the plugin system end to end (found on
 * FOCTET_PLUGIN_PATH, checked, loaded, driven only through the core's
 * interfaces) independently of the real transports.
 *
 * Wire format, every integer big-endian:
 *
 *   control connection, dialer → listener:
 *     "FTT1" | dialer NodeId (32) | connection token (16, random) | dialer's stream port (2)
 *   listener → dialer:
 *     "FTT1" | listener NodeId (32) | 16 zero bytes             | listener's stream port (2)
 *   Nothing else is ever sent on it; its end (EOF or error) is the end of
 *   the connection.
 *
 *   each stream is one more TCP connection, to the other side's stream port:
 *     "FTS1" | connection token (16) | stream id (8)
 *   Stream ids are odd when the dialer opened the stream, even otherwise,
 *   which also tells the receiver which of its connections the stream is
 *   for (it matters when a transport dials itself).
 *
 * Both sides therefore listen: a transport that dials without having been
 * asked to listen opens a listener of its own on the local address of the
 * control connection, port 0.
 *
 * Everything runs on the GMainContext that was thread-default when the
 * transport was constructed; nothing blocks.
 *
 * For the tests of dialing (the race of foctet_node_dial_async()), a dial
 * can be told to misbehave with the transport's properties (defaults from
 * the environment, for tests that run the shell):
 *   "dial-mode" (TCP_TEST_DIAL_MODE): "normal"; "hang" until cancelled;
 *     "fail" at once with G_IO_ERROR_CONNECTION_REFUSED;
 *   "dial-delay" (TCP_TEST_DIAL_DELAY): milliseconds before a normal dial
 *     starts;
 *   "dial-ignore-cancel": a delayed normal dial goes on, and may connect,
 *     after it was cancelled;
 * and "dial-attempts" / "pending-dials" count dials started and unfinished.
 *
 * Built with -DTCP_TEST_QUIC_TWIN, the same code is the TEST-ONLY plugin
 * "transport-quic-test-twin": a transport named "quic" whose addresses go
 * in tickets as QUIC addresses, for tests that race it against the real
 * tls transport when no real quic plugin is loaded.  It must never be
 * loaded together with tcp-test (their GTypes have the same names) nor
 * with a real quic plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#ifdef TCP_TEST_QUIC_TWIN
#define TCP_TEST_NAME "quic"
#define TCP_TEST_PLUGIN_NAME "transport-quic-test-twin"
#define TCP_TEST_PLUGIN_DESCRIPTION "TEST ONLY: tcp-test posing as quic, to test dial races"
#else
#define TCP_TEST_NAME "tcp-test"
#define TCP_TEST_PLUGIN_NAME "transport-tcp-test"
#define TCP_TEST_PLUGIN_DESCRIPTION "TEST ONLY: unencrypted, unauthenticated TCP on loopback"
#endif
#define TCP_TEST_MAGIC_CONNECTION "FTT1"
#define TCP_TEST_MAGIC_STREAM "FTS1"
#define TCP_TEST_MAGIC_SIZE 4
#define TCP_TEST_TOKEN_SIZE 16
#define TCP_TEST_HELLO_SIZE (TCP_TEST_MAGIC_SIZE + FOCTET_NODE_ID_SIZE + TCP_TEST_TOKEN_SIZE + 2)
#define TCP_TEST_STREAM_PREAMBLE_SIZE (TCP_TEST_MAGIC_SIZE + TCP_TEST_TOKEN_SIZE + 8)
#define TCP_TEST_DEFAULT_HANDSHAKE_TIMEOUT 10

#define TCP_TEST_TYPE_TRANSPORT (tcp_test_transport_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestTransport, tcp_test_transport, TCP_TEST, TRANSPORT, GObject)

#define TCP_TEST_TYPE_CONNECTION (tcp_test_connection_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestConnection, tcp_test_connection, TCP_TEST, CONNECTION, FoctetConnection)

#define TCP_TEST_TYPE_STREAM (tcp_test_stream_get_type ())
G_DECLARE_FINAL_TYPE (TcpTestStream, tcp_test_stream, TCP_TEST, STREAM, FoctetStream)

void tcp_test_transport_register (GTypeModule *module);
void tcp_test_connection_register (GTypeModule *module);
void tcp_test_stream_register (GTypeModule *module);

/* The transport, for its connections. */
guint tcp_test_transport_get_handshake_timeout (TcpTestTransport *self);
void tcp_test_transport_add_connection (TcpTestTransport  *self,
                                        TcpTestConnection *connection);
void tcp_test_transport_remove_connection (TcpTestTransport  *self,
                                           TcpTestConnection *connection);

/* The connection, for its transport and streams.  The key names the
 * connection in its transport's table: the token and which side it is. */
char *tcp_test_connection_make_key (const guint8 *token,
                                    gboolean      is_initiator);
TcpTestConnection *tcp_test_connection_new (TcpTestTransport   *transport,
                                            GSocketConnection  *control,
                                            const FoctetNodeId *peer,
                                            const guint8       *token,
                                            guint16             peer_stream_port,
                                            gboolean            is_initiator);
const char *tcp_test_connection_get_key (TcpTestConnection *self);
void tcp_test_connection_shut (TcpTestConnection *self,
                               const GError      *error);
void tcp_test_connection_deliver_stream (TcpTestConnection *self,
                                         GSocketConnection *socket,
                                         guint64            id);
void tcp_test_connection_forget_stream (TcpTestConnection *self,
                                        TcpTestStream     *stream);

/* The stream, for its connection. */
TcpTestStream *tcp_test_stream_new (TcpTestConnection *connection,
                                    GSocketConnection *socket,
                                    guint64            id);
void tcp_test_stream_detach (TcpTestStream *self);

G_END_DECLS

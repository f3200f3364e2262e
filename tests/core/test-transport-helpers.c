/* test-transport-helpers.c: the helpers libfoctet-core offers transport
 * implementations (foctet-transport.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "foctet.h"
#include "test-utils.h"

/* A connected TCP socket on loopback, the dialer's end, with the connect
 * timeout a dial sets; the listener's end in @accepted. */
static GSocketConnection *
connect_loopback (GSocketConnection **accepted)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GAsyncResult) accept_result = NULL, connect_result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *accept_slot = NULL, *connect_slot = NULL;
  GSocketConnection *dialed;

  g_assert_true (g_socket_listener_add_address (listener, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, &bound, &error));
  g_assert_no_error (error);
  g_socket_client_set_timeout (client, 5);
  g_socket_listener_accept_async (listener, NULL, foctet_test_store_result, &accept_slot);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (bound), NULL, foctet_test_store_result,
                                 &connect_slot);
  connect_result = foctet_test_wait_result (&connect_slot, 10);
  accept_result = foctet_test_wait_result (&accept_slot, 10);
  dialed = g_socket_client_connect_finish (client, connect_result, &error);
  g_assert_no_error (error);
  *accepted = g_socket_listener_accept_finish (listener, accept_result, NULL, &error);
  g_assert_no_error (error);
  return dialed;
}

static int
get_tcp_option (GSocket *socket,
                int      option)
{
  g_autoptr(GError) error = NULL;
  int value = -1;

  g_assert_true (g_socket_get_option (socket, IPPROTO_TCP, option, &value, &error));
  g_assert_no_error (error);
  return value;
}

/* Both ends of a connection, tuned: no Nagle delay, at most 1 MiB
 * unsent in the kernel, and the dial's connect timeout gone. */
static void
test_tcp_socket_tune (void)
{
  g_autoptr(GSocketConnection) accepted = NULL;
  g_autoptr(GSocketConnection) dialed = connect_loopback (&accepted);
  GSocket *sockets[] = { g_socket_connection_get_socket (dialed), g_socket_connection_get_socket (accepted) };

  g_assert_cmpuint (g_socket_get_timeout (sockets[0]), ==, 5);
  g_assert_cmpint (get_tcp_option (sockets[0], TCP_NODELAY), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (sockets); i++)
    {
      foctet_tcp_socket_tune (sockets[i]);
      g_assert_cmpint (get_tcp_option (sockets[i], TCP_NODELAY), !=, 0);
      g_assert_cmpint (get_tcp_option (sockets[i], TCP_NOTSENT_LOWAT), ==, 1024 * 1024);
      g_assert_cmpuint (g_socket_get_timeout (sockets[i]), ==, 0);
    }
}

static void
test_socket_address_to_string (void)
{
  const struct {
    const char *host;
    guint16 port;
    const char *text;
  } cases[] = {
    { "127.0.0.1", 4433, "127.0.0.1:4433" },
    { "::1", 1, "[::1]:1" },
    { "fe80::1", 65535, "[fe80::1]:65535" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (cases[i].host, cases[i].port);
      g_autofree char *text = foctet_socket_address_to_string (address);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transport-helpers/tcp-socket-tune", test_tcp_socket_tune);
  g_test_add_func ("/transport-helpers/socket-address-to-string", test_socket_address_to_string);
  return g_test_run ();
}

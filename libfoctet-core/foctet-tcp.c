/* foctet-tcp.c: how the TCP sockets that carry a muxed session or a
 * relayed circuit are tuned.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stddef.h>
#include <netinet/in.h>
/* Not <netinet/tcp.h>: glibc's struct tcp_info lacks tcpi_bytes_acked. */
#include <linux/tcp.h>

#include "foctet-tcp-private.h"
#include "foctet-transport.h"

/* Bytes the kernel keeps written but not yet sent (TCP_NOTSENT_LOWAT):
 * what a new frame waits behind there.  Without a bound the kernel takes
 * up to its whole send buffer, 4 MiB by default.  The bound follows the
 * path's rate (foctet_tcp_socket_follow_rate()) as every send queue's
 * does (foctet_send_bound_for_rate()): SEND_BOUND_TIME_US of it, from
 * SEND_BOUND_MIN to SEND_BOUND_MAX.  1 MiB costs nothing on
 * loopback (16 pairs alternating against no bound, 13 faster), where a
 * fixed 256 KiB was no faster; on a path of 5 MB/s, 1 MiB is 200 ms. */
#define SEND_BOUND_MAX (1024 * 1024)
#define SEND_BOUND_MIN (128 * 1024)
#define SEND_BOUND_TIME_US 20000
/* How often a writing socket looks at its rate. */
#define FOLLOW_INTERVAL_US 100000

/**
 * foctet_tcp_socket_tune:
 * @socket: a connected TCP #GSocket that carries a muxed session or a
 *   relayed circuit
 *
 * Tunes @socket the way foctet's own TCP transports (tls, and the relay's
 * circuits) tune theirs: small frames (pings, window updates, stream
 * headers) go out at once (`TCP_NODELAY`); at most 1 MiB written waits
 * unsent in the kernel (`TCP_NOTSENT_LOWAT`), so that a new stream's first
 * frame does not queue behind megabytes of another's; and the timeout of
 * a connect does not linger as an idle timeout (g_socket_set_timeout()
 * 0).  A [class@Foctet.TlsStream] over the socket then sizes the unsent
 * bound to the path's rate as it writes: 20 ms of it, from 128 KiB to
 * 1 MiB.  An option the system refuses is logged at debug level and left
 * out.
 */
void
foctet_tcp_socket_tune (GSocket *socket)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (G_IS_SOCKET (socket));

  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, &error))
    {
      g_debug ("Cannot set TCP_NODELAY: %s", error->message);
      g_clear_error (&error);
    }
  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NOTSENT_LOWAT, SEND_BOUND_MAX, &error))
    g_debug ("Cannot set TCP_NOTSENT_LOWAT: %s", error->message);
  g_socket_set_timeout (socket, 0);
}

/**
 * foctet_tcp_listener_socket_new:
 * @address: the address to listen on; port 0: any
 *
 * A listening TCP socket as foctet's listeners make them, ready for
 * [method@Foctet.SocketService.add_socket] (or g_socket_listener_add_socket()):
 * bound to @address (address reuse on),
 * with a backlog of 256 (GLib's default of 10 drops the SYNs of a burst of
 * dials), and, for an IPv6 address, taking IPv6 only — a wildcard stands
 * for this host's addresses of its own family, as
 * [func@Foctet.Transport.expand_listen_address] lists them, and another
 * socket may then hold the same port for IPv4.
 *
 * Returns: (transfer full): the socket, or %NULL with @error set
 */
GSocket *
foctet_tcp_listener_socket_new (GInetSocketAddress  *address,
                                GError             **error)
{
  GInetAddress *inet;
  g_autoptr(GSocket) socket = NULL;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (address), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  inet = g_inet_socket_address_get_address (address);
  socket = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6 &&
      !g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 1, error))
    return NULL;
  g_socket_set_listen_backlog (socket, 256);
  if (!g_socket_bind (socket, G_SOCKET_ADDRESS (address), TRUE, error) || !g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

/**
 * foctet_send_bound_for_rate:
 * @rate: bytes per second a path takes
 *
 * How much foctet lets wait ahead of a new frame on a path of @rate, in
 * each of its send queues: the kernel's unsent bytes on a TCP socket
 * (foctet_tcp_socket_tune()) and a stream's share of yamux's queue.  That
 * is 20 ms of @rate, from 128 KiB to 1 MiB: a frame waits about 20 ms on
 * a slow path, and a fast one is not held back by small queues.
 *
 * Returns: the bound, in bytes
 */
guint
foctet_send_bound_for_rate (guint64 rate)
{
  return (guint) CLAMP (rate / (G_USEC_PER_SEC / SEND_BOUND_TIME_US), SEND_BOUND_MIN, SEND_BOUND_MAX);
}

/* While writing to @socket: now and then (every FOLLOW_INTERVAL_US at
 * most) sizes its TCP_NOTSENT_LOWAT to the rate the path delivered at
 * since the last look (bytes acknowledged over the time), so that on a
 * slow path a frame waits behind SEND_BOUND_TIME_US of unsent bytes, not a
 * megabyte.  (tcpi_delivery_rate would not do: the kernel keeps its last
 * sample that was not limited by the application, and with a bound on
 * the unsent bytes most are.)  After a pause in the writing the first
 * look only starts a new period. */
void
foctet_tcp_socket_follow_rate (GSocket       *socket,
                               FoctetTcpRate *state)
{
  gint64 now = g_get_monotonic_time ();
  struct tcp_info info = { 0 };
  socklen_t len = sizeof info;
  gint64 elapsed = now - state->checked;
  guint64 acked;
  guint lowat;

  if (elapsed < FOLLOW_INTERVAL_US)
    return;
  if (getsockopt (g_socket_get_fd (socket), IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof (struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
    return;
  state->checked = now;
  acked = info.tcpi_bytes_acked - state->acked;
  state->acked = info.tcpi_bytes_acked;
  if (elapsed > 2 * FOLLOW_INTERVAL_US)
    return;
  lowat = foctet_send_bound_for_rate (acked * G_USEC_PER_SEC / elapsed);
  /* Small changes are not worth a system call. */
  if (state->lowat != 0 && lowat > state->lowat - state->lowat / 8 && lowat < state->lowat + state->lowat / 8)
    return;
  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NOTSENT_LOWAT, lowat, NULL))
    return;
  state->lowat = lowat;
}

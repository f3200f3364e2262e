/* Fuzz target: quic (PROTOCOL §3) — datagrams from the network, fed to a
 * listening QUIC endpoint of the "quic" transport.
 *
 * One listener (a QuicTransport on 127.0.0.1, max-handshakes 4 so that
 * Retry starts at 2 handshakes in progress) lives for the whole run on a
 * private main context.  The input is a sequence of datagrams, each
 *
 *   ctl (1) | length (2, big-endian) | payload (length bytes, cut at the end)
 *
 * ctl bits 0-2 pick the source among 8 sink sockets of this program, bound
 * to 127.0.0.2..5 (two ports each), so that whatever the listener answers
 * goes to loopback and nowhere else; bits 3-4 are the ECN bits; bit 5 runs
 * the context (bounded, never blocking) before the next datagram, so that
 * the listener answers in between; bits 6-7 repeat the datagram up to 3
 * more times.  At most 32 datagrams; empty ones are skipped, as the
 * socket reader skips them.  Invariants:
 *  - no crash, no GLib critical, no leak (the replay runs under ASan's
 *    leak checker);
 *  - everything the listener sends is a datagram of at most
 *    QUIC_MAX_UDP_PAYLOAD bytes, of version 1 or a Version Negotiation
 *    (version 0), and no more than 3 times what the
 *    sources sent (RFC 9000 §8.1: no amplification before an address is
 *    validated);
 *  - datagrams never establish a connection: the listener announces
 *    none except the dial below;
 *  - at the end of each input every connection the garbage started is
 *    still pending and ends when aborted (what disposing the transport
 *    does): afterwards no QuicConnection is left alive, so nothing piles
 *    up from one input to the next;
 *  - the listener keeps working: a real dial from a second QuicTransport
 *    over loopback UDP, made while the garbage's handshakes are still
 *    pending, succeeds (through a Retry once half the handshake budget is
 *    in use, which retries-sent must show), or fails with
 *    FOCTET_ERROR_LIMIT_REACHED once the budget is used up.  It costs a
 *    handshake, so the replay build (FOCTET_FUZZ_REPLAY) dials after
 *    every input, the libFuzzer build after the first input and then
 *    after every DIAL_EVERY-th.
 *
 * The quic sources are compiled into this program; the types are
 * registered statically.  Live connections are tracked by wrapping the
 * connection class's constructed() with a weak reference per instance.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <foctet.h>

#include "foctet-quic.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define N_SINKS 8
#define MAX_DATAGRAMS 32
#define MAX_HANDSHAKES 4
/* Main context iterations after a datagram, and at the end of an input. */
#define SETTLE_ITERATIONS 64
#define END_ITERATIONS 1000
#define DIAL_EVERY 256
#define DIAL_TIMEOUT_MS 20000

typedef struct {
  GMainContext *context;
  FoctetIdentity *listener_identity;
  FoctetIdentity *dialer_identity;
  QuicTransport *listener;
  QuicTransport *dialer;
  char *listen_address;              /* "127.0.0.1:port" */
  struct sockaddr_in local;
  int sinks[N_SINKS];
  struct sockaddr_in sink_addrs[N_SINKS];
  GHashTable *live;                  /* every QuicConnection alive, not owned */
  GPtrArray *incoming;               /* what the listener announced (owned) */
  gboolean dialing;
  guint64 inputs;
} Fuzz;

static Fuzz *fuzz;

/* A broken invariant aborts, saying which. */
G_GNUC_NORETURN static void
check_failed (int         line,
              const char *what)
{
  g_printerr ("fuzz-quic.c:%d: check failed: %s\n", line, what);
  abort ();
}

#define check(condition) \
  G_STMT_START { if (G_UNLIKELY (!(condition))) check_failed (__LINE__, #condition); } G_STMT_END

static void (*connection_parent_constructed) (GObject *object);

static void
connection_gone (gpointer  data,
                 GObject  *where_the_object_was)
{
  g_hash_table_remove (fuzz->live, where_the_object_was);
}

static void
connection_constructed (GObject *object)
{
  connection_parent_constructed (object);
  g_hash_table_add (fuzz->live, object);
  g_object_weak_ref (object, connection_gone, NULL);
}

static void
incoming_cb (FoctetTransport  *transport,
             FoctetConnection *connection,
             gpointer          user_data)
{
  /* Garbage must never get a connection through the handshake. */
  check (fuzz->dialing);
  g_ptr_array_add (fuzz->incoming, g_object_ref (connection));
}

static void
incoming_failed_cb (FoctetTransport *transport,
                    const char      *remote_address,
                    const GError    *error,
                    gpointer         user_data)
{
  check (remote_address != NULL);
  check (error != NULL && error->domain == FOCTET_ERROR && g_utf8_validate (error->message, -1, NULL));
}

static void
store_result (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static gboolean
timed_out_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the context until @slot is filled; fails after DIAL_TIMEOUT_MS. */
static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  GSource *timeout = g_timeout_source_new (DIAL_TIMEOUT_MS);
  gboolean timed_out = FALSE;

  g_source_set_callback (timeout, timed_out_cb, &timed_out, NULL);
  g_source_attach (timeout, fuzz->context);
  while (*slot == NULL && !timed_out)
    g_main_context_iteration (fuzz->context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  check (*slot != NULL);
  return g_steal_pointer (slot);
}

/* Dispatches what is ready, without ever blocking. */
static void
settle (guint max)
{
  for (guint i = 0; i < max && g_main_context_iteration (fuzz->context, FALSE); i++)
    ;
}

static QuicTransport *
make_transport (FoctetIdentity *identity,
                char          **address)
{
  QuicTransport *transport = g_object_new (QUIC_TYPE_TRANSPORT, "identity", identity,
                                           "max-handshakes", MAX_HANDSHAKES, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;

  foctet_transport_listen_async (FOCTET_TRANSPORT (transport), "127.0.0.1:0", NULL, store_result, &slot);
  result = wait_result (&slot);
  *address = foctet_transport_listen_finish (FOCTET_TRANSPORT (transport), result, &error);
  if (*address == NULL)
    g_printerr ("fuzz-quic: %s\n", error->message);
  check (*address != NULL);
  return transport;
}

static int
make_sink (guint                index,
           struct sockaddr_in  *address)
{
  socklen_t len = sizeof *address;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  memset (address, 0, sizeof *address);
  address->sin_family = AF_INET;
  address->sin_addr.s_addr = htonl (0x7f000002 + index / 2);     /* 127.0.0.2..5 */
  if (fd < 0 || bind (fd, (struct sockaddr *) address, sizeof *address) != 0 ||
      getsockname (fd, (struct sockaddr *) address, &len) != 0)
    check_failed (__LINE__, g_strdup_printf ("a sink on 127.0.0.%u: %s", 2 + index / 2, g_strerror (errno)));
  return fd;
}

static void
setup (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dialer_address = NULL;
  QuicEndpoint *endpoint;
  socklen_t local_len;
  GObjectClass *klass;

  fuzz = g_new0 (Fuzz, 1);
  quic_transport_register (NULL);
  quic_connection_register (NULL);
  fuzz->live = g_hash_table_new (NULL, NULL);
  fuzz->incoming = g_ptr_array_new_with_free_func (g_object_unref);
  klass = g_type_class_ref (QUIC_TYPE_CONNECTION);
  connection_parent_constructed = klass->constructed;
  klass->constructed = connection_constructed;

  fuzz->context = g_main_context_new ();
  g_main_context_push_thread_default (fuzz->context);

  fuzz->listener_identity = foctet_identity_generate (&error);
  check (fuzz->listener_identity != NULL);
  fuzz->dialer_identity = foctet_identity_generate (&error);
  check (fuzz->dialer_identity != NULL);
  fuzz->listener = make_transport (fuzz->listener_identity, &fuzz->listen_address);
  /* The dialer listens on loopback too, so that its dials leave from a
   * loopback socket rather than from one bound to every address. */
  fuzz->dialer = make_transport (fuzz->dialer_identity, &dialer_address);
  g_signal_connect (fuzz->listener, "incoming", G_CALLBACK (incoming_cb), NULL);
  g_signal_connect (fuzz->listener, "incoming-failed", G_CALLBACK (incoming_failed_cb), NULL);

  endpoint = quic_transport_get_listening_endpoint (fuzz->listener);
  check (endpoint != NULL);
  memcpy (&fuzz->local, quic_endpoint_get_local (endpoint, &local_len), sizeof fuzz->local);
  check (local_len == sizeof fuzz->local && fuzz->local.sin_family == AF_INET);

  for (guint i = 0; i < N_SINKS; i++)
    fuzz->sinks[i] = make_sink (i, &fuzz->sink_addrs[i]);
}

/* Takes what the listener sent to the sinks; returns its size. */
static gsize
drain_sinks (void)
{
  gsize total = 0;

  for (guint i = 0; i < N_SINKS; i++)
    for (;;)
      {
        guint8 buffer[65536];
        ssize_t n = recv (fuzz->sinks[i], buffer, sizeof buffer, 0);

        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0)
          break;
        check (n > 0 && n <= QUIC_MAX_UDP_PAYLOAD);
        if (buffer[0] & 0x80)
          {
            guint32 version;

            /* Long header: QUIC v1 (PROTOCOL §3: the only version this
             * side speaks, even where ngtcp2 would accept another), or a
             * Version Negotiation (0). */
            check (n >= 5);
            version = ((guint32) buffer[1] << 24) | ((guint32) buffer[2] << 16) |
                      ((guint32) buffer[3] << 8) | buffer[4];
            check (version == 0 || version == NGTCP2_PROTO_VER_V1);
          }
        total += n;
      }
  return total;
}

/* Connections the listener has in handshake. */
static guint
count_pending (void)
{
  GHashTableIter iter;
  gpointer key;
  guint n = 0;

  g_hash_table_iter_init (&iter, fuzz->live);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (quic_connection_is_server (key) && !quic_connection_is_established (key))
      n++;
  return n;
}

static void
close_connection (FoctetConnection *connection)
{
  foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_NO_ERROR, NULL, NULL, NULL, NULL);
}

/* A real handshake with the listener, from the second transport, while
 * the input's handshakes are still pending. */
static void
check_dial (void)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  guint pending = count_pending ();
  guint retries_before = 0, retries_after = 0;

  g_object_get (fuzz->listener, "retries-sent", &retries_before, NULL);
  fuzz->dialing = TRUE;
  foctet_transport_dial_async (FOCTET_TRANSPORT (fuzz->dialer), fuzz->listen_address,
                               foctet_identity_get_node_id (fuzz->listener_identity), NULL,
                               store_result, &slot);
  result = wait_result (&slot);
  connection = foctet_transport_dial_finish (FOCTET_TRANSPORT (fuzz->dialer), result, &error);
  g_object_get (fuzz->listener, "retries-sent", &retries_after, NULL);
  if (error != NULL)
    g_printerr ("fuzz-quic: the dial (%u handshakes pending): %s\n", pending, error->message);

  if (pending >= MAX_HANDSHAKES)
    {
      /* The budget is used up: refused. */
      check (connection == NULL);
      check (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED));
    }
  else
    {
      check (connection != NULL);
      check (foctet_node_id_equal (foctet_connection_get_peer_id (connection),
                                   foctet_identity_get_node_id (fuzz->listener_identity)));
      /* From half the budget on, only through a Retry. */
      check (pending < MAX_HANDSHAKES / 2 || retries_after > retries_before);
      /* The listener announced it before it confirmed the handshake. */
      settle (SETTLE_ITERATIONS);
      check (fuzz->incoming->len == 1);
      check (foctet_node_id_equal (foctet_connection_get_peer_id (fuzz->incoming->pdata[0]),
                                   foctet_identity_get_node_id (fuzz->dialer_identity)));
      close_connection (connection);
    }
  for (guint i = 0; i < fuzz->incoming->len; i++)
    close_connection (fuzz->incoming->pdata[i]);
  g_ptr_array_set_size (fuzz->incoming, 0);
  fuzz->dialing = FALSE;
}

/* Ends every handshake the input left pending, as disposing the transport
 * would, and checks that no connection is left. */
static void
cleanup (void)
{
  g_autoptr(GPtrArray) connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                                 "The input is over");
  GHashTableIter iter;
  gpointer key;

  settle (END_ITERATIONS);
  g_hash_table_iter_init (&iter, fuzz->live);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (connections, g_object_ref (key));
  for (guint i = 0; i < connections->len; i++)
    {
      QuicConnection *connection = connections->pdata[i];

      /* Only the dial made connections, and it closed and dropped them:
       * what is left are the listener's handshakes. */
      check (quic_connection_is_server (connection));
      check (!quic_connection_is_established (connection));
      quic_connection_abort (connection, error);
    }
  g_ptr_array_set_size (connections, 0);
  settle (END_ITERATIONS);
  if (g_hash_table_size (fuzz->live) != 0)
    g_printerr ("fuzz-quic: %u QUIC connections left\n", g_hash_table_size (fuzz->live));
  check (g_hash_table_size (fuzz->live) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  QuicEndpoint *endpoint;
  gsize pos = 0, sent = 0, answered;
  guint n = 0;

  if (fuzz == NULL)
    setup ();
  fuzz->inputs++;
  endpoint = quic_transport_get_listening_endpoint (fuzz->listener);
  check (endpoint != NULL);
  drain_sinks ();

  while (pos + 3 <= size && n < MAX_DATAGRAMS)
    {
      guint8 ctl = data[pos];
      gsize len = MIN (((gsize) data[pos + 1] << 8) | data[pos + 2], size - pos - 3);
      guint sink = ctl & 7;
      guint ecn = (ctl >> 3) & 3;
      guint repeat = 1 + (ctl >> 6);
      /* Exactly the datagram's size, so that sanitizers catch any read
       * past its end (malloc (0) is a valid zero-sized block). */
      guint8 *datagram = malloc (len);

      check (datagram != NULL || len == 0);
      if (len > 0)
        memcpy (datagram, data + pos + 3, len);
      pos += 3 + len;
      n++;
      /* The socket reader never hands over an empty datagram (ngtcp2
       * asserts that there is a first byte). */
      for (guint r = 0; r < repeat && len > 0; r++)
        {
          quic_endpoint_receive (endpoint, (const struct sockaddr *) &fuzz->local, sizeof fuzz->local,
                                 (const struct sockaddr *) &fuzz->sink_addrs[sink], sizeof fuzz->sink_addrs[sink],
                                 ecn, datagram, len);
          sent += len;
        }
      free (datagram);
      if (ctl & 0x20)
        settle (SETTLE_ITERATIONS);
    }
  settle (SETTLE_ITERATIONS);

  /* RFC 9000 §8.1: at most three times what an unvalidated address sent. */
  answered = drain_sinks ();
  if (answered > 3 * sent)
    g_printerr ("fuzz-quic: %" G_GSIZE_FORMAT " bytes sent in answer to %" G_GSIZE_FORMAT "\n", answered, sent);
  check (answered <= 3 * sent);

#ifdef FOCTET_FUZZ_REPLAY
  check_dial ();
#else
  if (fuzz->inputs % DIAL_EVERY == 1)
    check_dial ();
#endif
  cleanup ();
  drain_sinks ();
  return 0;
}

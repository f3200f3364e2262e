/* test-relay-splice.c: the relay server's splice of a raw circuit
 * (plugins/relay/foctet-relay-splice.c, compiled in) between two socket
 * pairs: the bytes both ways, back-pressure, the end of stream passed on,
 * and a socket that hangs up while its direction waits on the other one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "foctet-relay-splice.h"
#include "test-utils.h"

#define TIMEOUT 10

typedef struct {
  GSocketConnection *a;        /* the dialer; its peer is the splice's a */
  GSocketConnection *relay_a;
  GSocketConnection *b;        /* the target; its peer is the splice's b */
  GSocketConnection *relay_b;
  RelaySplice *splice;
  guint64 total;
  gboolean done;
  int gone;
  char *why;
} Fixture;

static void
done_cb (gpointer    user_data,
         int         gone,
         const char *why)
{
  Fixture *f = user_data;

  g_assert_false (f->done);
  f->done = TRUE;
  f->gone = gone;
  f->why = g_strdup (why);
}

static int
fd_of (GSocketConnection *connection)
{
  return g_socket_get_fd (g_socket_connection_get_socket (connection));
}

/* The two socket pairs, the test's ends non-blocking. */
static void
fixture_connect (Fixture *f)
{
  foctet_test_socket_pair (&f->a, &f->relay_a);
  foctet_test_socket_pair (&f->b, &f->relay_b);
  g_assert_true (g_unix_set_fd_nonblocking (fd_of (f->a), TRUE, NULL));
  g_assert_true (g_unix_set_fd_nonblocking (fd_of (f->b), TRUE, NULL));
}

static void
fixture_splice_new (Fixture *f)
{
  f->splice = relay_splice_new (g_socket_connection_get_socket (f->relay_a),
                                g_socket_connection_get_socket (f->relay_b), 0, &f->total, done_cb, f);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  fixture_connect (f);
  fixture_splice_new (f);
}

/* As fixture_setup(), for a relay out of descriptors: with none left
 * for its pipes, the splice copies through buffers of its own. */
static void
fixture_setup_no_pipes (Fixture       *f,
                        gconstpointer  data)
{
  struct rlimit limit, none_left;
  int lowest_free;

  /* The main context's wake-up descriptor, before there is none. */
  g_main_context_iteration (NULL, FALSE);
  fixture_connect (f);

  lowest_free = dup (0);
  g_assert_cmpint (lowest_free, >=, 0);
  close (lowest_free);
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  none_left = limit;
  none_left.rlim_cur = lowest_free;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &none_left), ==, 0);
  fixture_splice_new (f);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  g_assert_false (relay_splice_is_zero_copy (f->splice));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_pointer (&f->splice, relay_splice_free);
  g_clear_object (&f->a);
  g_clear_object (&f->relay_a);
  g_clear_object (&f->b);
  g_clear_object (&f->relay_b);
  g_free (f->why);
}

/* Main-loop iterations that dispatched something, over @ms. */
static guint
dispatches_during (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  guint count = 0;

  while (g_get_monotonic_time () < end)
    {
      if (g_main_context_iteration (NULL, FALSE))
        count++;
      else
        g_usleep (1000);
    }
  return count;
}

/* Writes @chunk over and over into @fd, letting the splice run between
 * writes, until the socket takes nothing more for a while: the direction
 * behind it is full all the way. */
static gsize
fill (int           fd,
      const guint8 *chunk,
      gsize         len)
{
  gsize total = 0;
  gint64 quiet_since = g_get_monotonic_time ();
  gint64 end = quiet_since + TIMEOUT * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < end && g_get_monotonic_time () - quiet_since < 200 * 1000)
    {
      gssize n = write (fd, chunk + total % len, len - total % len);

      if (n > 0)
        {
          total += n;
          quiet_since = g_get_monotonic_time ();
          continue;
        }
      g_assert_true (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (1000);
    }
  g_assert_cmpint (g_get_monotonic_time (), <, end);
  return total;
}

/* Reads @fd until the end of stream, checking the bytes against
 * @pattern (written from its start over and over in @len pieces). */
static gsize
drain (int           fd,
       const guint8 *pattern,
       gsize         len)
{
  gint64 end = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  guint8 buffer[65536];
  gsize total = 0;

  for (;;)
    {
      gssize n = read (fd, buffer, sizeof buffer);

      g_assert_cmpint (g_get_monotonic_time (), <, end);
      if (n == 0)
        return total;
      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      for (gssize i = 0; i < n; i++)
        if (buffer[i] != pattern[(total + i) % len])
          g_error ("Wrong byte at offset %" G_GSIZE_FORMAT, total + i);
      total += n;
    }
}

/* The dialer writes until everything between it and the target is full,
 * then hangs up.  Its socket at the relay then reports the hang-up for
 * as long as the splice waits for the target to read — that direction
 * waits for output, not for that socket — and the splice must not spin
 * on it.  Then the target reads every byte and the end of stream, and
 * the splice ends once the target hangs up too. */
static void
test_hang_up_while_full (Fixture       *f,
                         gconstpointer  data)
{
  guint8 chunk[65536];
  gsize written, got;
  guint busy;

  for (gsize i = 0; i < sizeof chunk; i++)
    chunk[i] = (guint8) (i * 7 + (i >> 8));
  g_assert_true (relay_splice_is_zero_copy (f->splice));

  written = fill (fd_of (f->a), chunk, sizeof chunk);
  g_test_message ("%" G_GSIZE_FORMAT " bytes in before the dialer's side was full", written);
  g_assert_cmpuint (written, >, RELAY_SPLICE_PIPE_SIZE);
  g_assert_cmpuint (relay_splice_get_bytes (f->splice, TRUE), <, written);

  g_assert_true (g_io_stream_close (G_IO_STREAM (f->a), NULL, NULL));
  busy = dispatches_during (300);
  g_test_message ("%u dispatches in 300 ms after the hang-up", busy);
  g_assert_cmpuint (busy, <, 50);
  g_assert_false (f->done);

  got = drain (fd_of (f->b), chunk, sizeof chunk);
  g_assert_cmpuint (got, ==, written);
  g_assert_cmpuint (relay_splice_get_bytes (f->splice, TRUE), ==, written);
  g_assert_true (relay_splice_get_done (f->splice, TRUE));

  g_assert_true (g_io_stream_close (G_IO_STREAM (f->b), NULL, NULL));
  foctet_test_wait_for (&f->done, TIMEOUT);
  g_test_message ("splice over: %s", f->why != NULL ? f->why : "both ends closed");
  g_assert_cmpuint (f->total, ==, written);
}

/* An end whose node resets its connection: the splice ends, saying
 * which end went away (the log line of a raw circuit names it). */
static void
test_reset (Fixture       *f,
            gconstpointer  data)
{
  gboolean target = GPOINTER_TO_INT (data);
  GSocketConnection *end = target ? f->b : f->a;
  struct linger linger = { 1, 0 };
  char byte = 'x';

  /* A byte unread at the relay's side, so that the close resets. */
  g_assert_cmpint (write (fd_of (target ? f->a : f->b), &byte, 1), ==, 1);
  g_assert_cmpint (setsockopt (fd_of (end), SOL_SOCKET, SO_LINGER, &linger, sizeof linger), ==, 0);
  g_assert_true (g_io_stream_close (G_IO_STREAM (end), NULL, NULL));
  foctet_test_wait_for (&f->done, TIMEOUT);
  g_test_message ("splice over: %s", f->why);
  g_assert_nonnull (f->why);
  g_assert_cmpint (f->gone, ==, target ? 1 : 0);
}

/* Bytes both ways at once, more than a pipe (or buffer) holds in each,
 * and the ends of stream passed on. */
static void
test_both_ways (Fixture       *f,
                gconstpointer  data)
{
  const gsize size = 8 * 1024 * 1024 + 3;
  g_autofree guint8 *up = g_malloc (size);
  g_autofree guint8 *down = g_malloc (size);
  gsize up_sent = 0, down_sent = 0, up_got = 0, down_got = 0;
  gboolean up_eof = FALSE, down_eof = FALSE;
  gint64 end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  for (gsize i = 0; i < size; i++)
    {
      up[i] = (guint8) (i * 13 + (i >> 11));
      down[i] = (guint8) (i * 29 + (i >> 9));
    }

  while (!up_eof || !down_eof)
    {
      guint8 buffer[65536];
      gssize n;

      g_assert_cmpint (g_get_monotonic_time (), <, end);
      if (up_sent < size && (n = write (fd_of (f->a), up + up_sent, size - up_sent)) > 0)
        if ((up_sent += n) == size)
          g_assert_cmpint (shutdown (fd_of (f->a), SHUT_WR), ==, 0);
      if (down_sent < size && (n = write (fd_of (f->b), down + down_sent, size - down_sent)) > 0)
        if ((down_sent += n) == size)
          g_assert_cmpint (shutdown (fd_of (f->b), SHUT_WR), ==, 0);
      if (!up_eof && (n = read (fd_of (f->b), buffer, sizeof buffer)) >= 0)
        {
          g_assert_cmpmem (buffer, n, up + up_got, n);
          up_got += n;
          up_eof = n == 0;
        }
      if (!down_eof && (n = read (fd_of (f->a), buffer, sizeof buffer)) >= 0)
        {
          g_assert_cmpmem (buffer, n, down + down_got, n);
          down_got += n;
          down_eof = n == 0;
        }
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_cmpuint (up_got, ==, size);
  g_assert_cmpuint (down_got, ==, size);
  foctet_test_wait_for (&f->done, TIMEOUT);
  g_assert_null (f->why);
  g_assert_cmpuint (f->total, ==, 2 * size);
  g_assert_true (relay_splice_get_done (f->splice, TRUE));
  g_assert_true (relay_splice_get_done (f->splice, FALSE));
}

/* Token buckets (foctet-relay-bucket.c), with time given: a flow may
 * take what every bucket of it holds; an empty one makes it wait until
 * that bucket holds enough to be worth a wake-up, at most a tenth of a
 * second of its rate; buckets without a rate limit nothing. */
static void
test_buckets (void)
{
  RelayBucket circuit, client, unlimited;
  RelayBucket *limits[] = { &circuit, NULL, &client, &unlimited };
  gint64 t = 1000 * G_USEC_PER_SEC;
  gint64 ready_at;

  relay_bucket_init (&circuit, 1024 * 1024, 100 * 1024, t);
  relay_bucket_init (&client, 64 * 1024, 64 * 1024, t);
  relay_bucket_init (&unlimited, 0, 0, t);
  g_assert_true (relay_bucket_is_full (&client, t));

  /* Full: the smaller bucket bounds it. */
  g_assert_cmpuint (relay_buckets_allow (limits, G_N_ELEMENTS (limits), 1 << 20, t, &ready_at), ==, 64 * 1024);
  g_assert_cmpint (ready_at, ==, -1);
  relay_buckets_take (limits, G_N_ELEMENTS (limits), 64 * 1024);
  g_assert_false (relay_bucket_is_full (&client, t));
  g_assert_cmpfloat (circuit.tokens, ==, 36 * 1024);

  /* Empty: wait until the client's bucket holds 6.4 KiB (a tenth of a
   * second at 64 KiB/s), 100 ms on. */
  g_assert_cmpuint (relay_buckets_allow (limits, G_N_ELEMENTS (limits), 1 << 20, t, &ready_at), ==, 0);
  g_assert_cmpint (ready_at, >=, t + G_USEC_PER_SEC / 10);
  g_assert_cmpint (ready_at, <=, t + G_USEC_PER_SEC / 10 + 1000);

  /* Half a second on: 32 KiB more in the client's, the circuit's full. */
  t += G_USEC_PER_SEC / 2;
  g_assert_cmpuint (relay_buckets_allow (limits, G_N_ELEMENTS (limits), 1 << 20, t, &ready_at), ==, 32 * 1024);
  g_assert_cmpfloat (circuit.tokens, ==, 100 * 1024);
  /* A small want waits only for itself: 640 bytes at 64 KiB/s, 9.77 ms. */
  relay_buckets_take (limits, G_N_ELEMENTS (limits), 32 * 1024);
  g_assert_cmpuint (relay_buckets_allow (limits, G_N_ELEMENTS (limits), 640, t, &ready_at), ==, 0);
  g_assert_cmpint (ready_at, >=, t + 9765);
  g_assert_cmpint (ready_at, <=, t + 9767);

  /* Time going backwards takes nothing away. */
  g_assert_cmpuint (relay_buckets_allow (limits, G_N_ELEMENTS (limits), 1, t - G_USEC_PER_SEC, &ready_at), ==, 0);
  g_assert_cmpfloat (client.tokens, ==, 0);

  /* A grant not used goes back, up to the burst. */
  relay_buckets_refund (limits, G_N_ELEMENTS (limits), 1000);
  g_assert_cmpfloat (client.tokens, ==, 1000);
  g_assert_cmpfloat (circuit.tokens, ==, 68 * 1024 + 1000);
  relay_buckets_refund (limits, G_N_ELEMENTS (limits), 1 << 20);
  g_assert_cmpfloat (client.tokens, ==, 64 * 1024);

  /* Only buckets without a rate: no limit. */
  g_assert_cmpuint (relay_buckets_allow (&limits[3], 1, 12345, t, &ready_at), ==, 12345);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/relay-bucket/allow", test_buckets);
  g_test_add ("/relay-splice/both-ways", Fixture, NULL, fixture_setup, test_both_ways, fixture_teardown);
  g_test_add ("/relay-splice/reset/dialer", Fixture, GINT_TO_POINTER (FALSE), fixture_setup, test_reset,
              fixture_teardown);
  g_test_add ("/relay-splice/reset/target", Fixture, GINT_TO_POINTER (TRUE), fixture_setup, test_reset,
              fixture_teardown);
  g_test_add ("/relay-splice/hang-up-while-full", Fixture, NULL, fixture_setup, test_hang_up_while_full,
              fixture_teardown);
  g_test_add ("/relay-splice/both-ways-copying", Fixture, NULL, fixture_setup_no_pipes, test_both_ways,
              fixture_teardown);
  return g_test_run ();
}

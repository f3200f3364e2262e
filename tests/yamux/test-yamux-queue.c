/* test-yamux-queue.c: the yamux session's queue of frames to write — the
 * order frames come out in, pings and window updates going ahead of the
 * data, and never into the middle of a frame; and what it tells the
 * owners of data chunks as those leave it.  The queue writes into a
 * pipe one page big, so that each write stops at a byte the test knows.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>

#include "foctet-yamux-buffers.h"

#define PIPE_SIZE 4096

/* What an owner of data chunks was told: the bytes released so far. */
typedef struct {
  gsize released;
  guint n_released;
} Owner;

typedef struct {
  YamuxOutQueue queue;
  GPollableOutputStream *output;
  GInputStream *input;
  GByteArray *written;   /* what came out of the pipe so far */
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC | O_NONBLOCK), ==, 0);
  g_assert_cmpint (fcntl (fds[1], F_SETPIPE_SZ, PIPE_SIZE), ==, PIPE_SIZE);
  fixture->input = g_unix_input_stream_new (fds[0], TRUE);
  fixture->output = G_POLLABLE_OUTPUT_STREAM (g_unix_output_stream_new (fds[1], TRUE));
  fixture->written = g_byte_array_new ();
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  yamux_out_queue_clear (&fixture->queue);
  g_object_unref (fixture->output);
  g_object_unref (fixture->input);
  g_byte_array_unref (fixture->written);
}

/* One write into the empty pipe: exactly PIPE_SIZE bytes of the queue
 * when it holds that many. */
static void
write_once (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  gboolean would_block;

  g_assert_true (yamux_out_queue_write (&fixture->queue, fixture->output, &would_block, &error));
  g_assert_no_error (error);
}

/* Empties the pipe into @fixture->written. */
static void
drain (Fixture *fixture)
{
  guint8 buffer[PIPE_SIZE];
  gssize n;

  while ((n = read (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (fixture->input)), buffer,
                    sizeof buffer)) > 0)
    g_byte_array_append (fixture->written, buffer, n);
  g_assert_true (n < 0 && errno == EAGAIN);
}

/* Writes and drains until the queue is empty. */
static void
flush (Fixture *fixture)
{
  for (guint i = 0; i < 100000 && !g_queue_is_empty (&fixture->queue.chunks); i++)
    {
      write_once (fixture);
      drain (fixture);
    }
  g_assert_true (g_queue_is_empty (&fixture->queue.chunks));
  g_assert_cmpuint (fixture->queue.bytes, ==, 0);
}

static void
header (FoctetYamuxHeader *header,
        guint8             type,
        guint16            flags,
        guint32            stream_id,
        guint32            length)
{
  *header = (FoctetYamuxHeader) { FOCTET_YAMUX_VERSION, type, flags, stream_id, length };
}

static void
push_frame (Fixture *fixture,
            gboolean ahead,
            guint8   type,
            guint16  flags,
            guint32  stream_id,
            guint32  length)
{
  FoctetYamuxHeader h;

  header (&h, type, flags, stream_id, length);
  if (ahead)
    yamux_out_queue_push_ahead (&fixture->queue, &h);
  else
    yamux_out_queue_push_control (&fixture->queue, &h);
}

/* A Data frame of @len bytes on @stream_id, each byte @fill. */
static GBytes *
data_frame (guint32 stream_id,
            gsize   len,
            guint8  fill)
{
  guint8 *frame = g_malloc (FOCTET_YAMUX_HEADER_SIZE + len);
  FoctetYamuxHeader h;

  header (&h, FOCTET_YAMUX_TYPE_DATA, 0, stream_id, len);
  foctet_yamux_header_encode (&h, frame);
  memset (frame + FOCTET_YAMUX_HEADER_SIZE, fill, len);
  return g_bytes_new_take (frame, FOCTET_YAMUX_HEADER_SIZE + len);
}

/* What came out, one line per frame: "Data 1 4084 x" (a payload of
 * 4084 bytes 'x'), "Ping 7", "WindowUpdate 3 FIN 0"…  Fails on a header
 * that does not decode, a payload not all one byte, or a frame cut off. */
static char *
frames_written (Fixture *fixture)
{
  g_autoptr(GString) text = g_string_new (NULL);
  const guint8 *p = fixture->written->data;
  const guint8 *end = p + fixture->written->len;

  while (p < end)
    {
      g_autoptr(GError) error = NULL;
      FoctetYamuxHeader h;
      char flags[32];

      g_assert_cmpint (end - p, >=, FOCTET_YAMUX_HEADER_SIZE);
      if (!foctet_yamux_header_decode (p, &h, G_MAXUINT32, &error))
        g_error ("frame %u bytes in: %s", (guint) (p - fixture->written->data), error->message);
      p += FOCTET_YAMUX_HEADER_SIZE;
      g_string_append_printf (text, "%s%s", text->len > 0 ? ", " : "", foctet_yamux_type_to_string (h.type));
      if (h.type == FOCTET_YAMUX_TYPE_PING)
        {
          g_string_append_printf (text, " %u", h.length);
          continue;
        }
      g_string_append_printf (text, " %u", h.stream_id);
      if (h.flags != 0)
        g_string_append_printf (text, " %s", foctet_yamux_flags_to_string (h.flags, flags, sizeof flags));
      g_string_append_printf (text, " %u", h.length);
      if (h.type == FOCTET_YAMUX_TYPE_DATA && h.length > 0)
        {
          g_assert_cmpint (end - p, >=, h.length);
          for (guint32 i = 1; i < h.length; i++)
            g_assert_cmpuint (p[i], ==, p[0]);
          g_string_append_printf (text, " %c", p[0]);
          p += h.length;
        }
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Frames without a flag to keep their place go ahead of every chunk not
 * yet begun, in the order they came; the others keep theirs. */
static void
test_ahead_order (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autofree char *got = NULL;

  /* Four Data frames, one chunk each; the write stops inside the first. */
  for (guint i = 0; i < 4; i++)
    yamux_out_queue_push_data (&fixture->queue, data_frame (1, 3000, 'a' + i), NULL);
  push_frame (fixture, FALSE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_FIN, 1, 0);
  write_once (fixture);
  /* More than a control chunk holds (128 frames). */
  for (guint i = 0; i < 300; i++)
    push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, i);
  push_frame (fixture, FALSE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_RST, 3, 0);
  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_ACK, 5, 1000);
  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, 0, 5, 2000);
  g_assert_cmpuint (fixture->queue.bytes, ==, 4 * 3012 + 12 + 303 * 12 - PIPE_SIZE);
  flush (fixture);

  got = frames_written (fixture);
  /* The second Data frame began within the first write. */
  g_string_append (expected, "Data 1 3000 a, Data 1 3000 b");
  for (guint i = 0; i < 300; i++)
    g_string_append_printf (expected, ", Ping %u", i);
  g_string_append (expected, ", WindowUpdate 5 ACK 1000, WindowUpdate 5 2000, Data 1 3000 c, Data 1 3000 d, "
                   "WindowUpdate 1 FIN 0, WindowUpdate 3 RST 0");
  g_assert_cmpstr (got, ==, expected->str);
}

/* A frame whose payload is borrowed from the caller is two chunks, its
 * header and its payload; one that goes ahead while the header is half
 * written waits for the payload too. */
static void
test_ahead_not_inside_frame (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GBytes) first = data_frame (1, PIPE_SIZE - FOCTET_YAMUX_HEADER_SIZE - 5, 'a');
  g_autoptr(GBytes) second = data_frame (2, 6000, 'b');
  gsize second_len;
  const guint8 *second_data = g_bytes_get_data (second, &second_len);
  g_autofree char *got = NULL;

  /* The header and 10 bytes of payload, the rest borrowed. */
  yamux_out_queue_push_data (&fixture->queue, g_bytes_ref (first), NULL);
  yamux_out_queue_push_data (&fixture->queue, g_bytes_new (second_data, FOCTET_YAMUX_HEADER_SIZE + 10),
                             NULL);
  yamux_out_queue_push_borrowed (&fixture->queue, second_data + FOCTET_YAMUX_HEADER_SIZE + 10,
                                 second_len - FOCTET_YAMUX_HEADER_SIZE - 10, NULL);
  /* The pipe takes the first frame and 5 bytes of the second's header. */
  write_once (fixture);
  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_ACK, 0, 42);
  yamux_out_queue_keep_borrowed (&fixture->queue);
  flush (fixture);

  got = frames_written (fixture);
  g_assert_cmpstr (got, ==, "Data 1 4079 a, Data 2 6000 b, Ping 42");
}

/* A frame that keeps its place never goes into a chunk of frames that
 * went ahead: the next frame to go ahead would pass it. */
static void
test_control_after_ahead (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *got = NULL;

  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 1);
  push_frame (fixture, FALSE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_FIN, 1, 0);
  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 2);
  yamux_out_queue_push_data (&fixture->queue, data_frame (1, 100, 'z'), NULL);
  push_frame (fixture, TRUE, FOCTET_YAMUX_TYPE_PING, FOCTET_YAMUX_FLAG_SYN, 0, 3);
  flush (fixture);

  got = frames_written (fixture);
  g_assert_cmpstr (got, ==, "Ping 1, Ping 2, Ping 3, WindowUpdate 1 FIN 0, Data 1 100 z");
}

static void
owner_release (gpointer owner,
               gsize    len)
{
  Owner *o = owner;

  o->released += len;
  o->n_released++;
}

/* Each data chunk is released once, with the length it was queued with,
 * when its last byte is written: not while it is only partly written,
 * nor for what a borrowed chunk left to copy. */
static void
test_owner_released_when_written (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autoptr(GBytes) frame = data_frame (3, 3 * PIPE_SIZE, 'q');
  gsize frame_len;
  const guint8 *frame_data = g_bytes_get_data (frame, &frame_len);
  Owner a = { 0, 0 }, b = { 0, 0 };
  g_autofree char *got = NULL;

  fixture->queue.release = owner_release;
  /* A's frame: the header and 100 bytes in one chunk, the rest borrowed. */
  yamux_out_queue_push_data (&fixture->queue, g_bytes_new (frame_data, FOCTET_YAMUX_HEADER_SIZE + 100),
                             &a);
  yamux_out_queue_push_borrowed (&fixture->queue, frame_data + FOCTET_YAMUX_HEADER_SIZE + 100,
                                 frame_len - FOCTET_YAMUX_HEADER_SIZE - 100, &a);
  yamux_out_queue_push_data (&fixture->queue, data_frame (5, 50, 'r'), &b);

  /* One page: the first chunk whole, the borrowed one begun. */
  write_once (fixture);
  g_assert_cmpuint (a.n_released, ==, 1);
  g_assert_cmpuint (a.released, ==, FOCTET_YAMUX_HEADER_SIZE + 100);
  yamux_out_queue_keep_borrowed (&fixture->queue);
  drain (fixture);
  write_once (fixture);
  g_assert_cmpuint (a.n_released, ==, 1);
  g_assert_cmpuint (b.n_released, ==, 0);

  flush (fixture);
  g_assert_cmpuint (a.n_released, ==, 2);
  g_assert_cmpuint (a.released, ==, frame_len);
  g_assert_cmpuint (b.n_released, ==, 1);
  g_assert_cmpuint (b.released, ==, FOCTET_YAMUX_HEADER_SIZE + 50);
  got = frames_written (fixture);
  g_assert_cmpstr (got, ==, "Data 3 12288 q, Data 5 50 r");
}

/* Chunks dropped unwritten are released too, and control frames have no
 * owner. */
static void
test_owner_released_when_cleared (Fixture       *fixture,
                                  gconstpointer  data)
{
  Owner a = { 0, 0 };

  fixture->queue.release = owner_release;
  yamux_out_queue_push_data (&fixture->queue, data_frame (1, 2 * PIPE_SIZE, 's'), &a);
  push_frame (fixture, FALSE, FOCTET_YAMUX_TYPE_WINDOW_UPDATE, FOCTET_YAMUX_FLAG_FIN, 1, 0);
  yamux_out_queue_push_data (&fixture->queue, data_frame (1, 10, 't'), &a);
  write_once (fixture);
  g_assert_cmpuint (a.n_released, ==, 0);
  yamux_out_queue_clear (&fixture->queue);
  g_assert_cmpuint (a.n_released, ==, 2);
  g_assert_cmpuint (a.released, ==, 2 * PIPE_SIZE + 10 + 2 * FOCTET_YAMUX_HEADER_SIZE);
  g_assert_cmpuint (fixture->queue.bytes, ==, 0);
}

/* The rate the queue drains at while the pipe holds it back: measured
 * from one write held back to another at least DRAIN_WINDOW_US later,
 * and forgotten once writes went through for twice as long. */
static void
test_drain_rate (Fixture       *fixture,
                 gconstpointer  data)
{
  const gint64 pause_us = 10000;
  gint64 start = g_get_monotonic_time ();
  guint rounds = 0;

  /* Held back: a page per round, then a pause, until a window ended. */
  yamux_out_queue_push_data (&fixture->queue, data_frame (1, 64 * PIPE_SIZE, 'u'), NULL);
  write_once (fixture);
  g_assert_cmpuint (fixture->queue.drain_rate, ==, 0);
  while (fixture->queue.drain_rate == 0)
    {
      g_assert_cmpuint (++rounds, <, 60);
      g_usleep (pause_us);
      drain (fixture);
      write_once (fixture);
    }
  g_assert_cmpint (g_get_monotonic_time () - start, >=, DRAIN_WINDOW_US);
  /* At most a page per pause went out. */
  g_test_message ("Drain rate %" G_GUINT64_FORMAT " bytes/s after %u rounds",
                  fixture->queue.drain_rate, rounds);
  g_assert_cmpuint (fixture->queue.drain_rate, <=, (guint64) PIPE_SIZE * G_USEC_PER_SEC / pause_us);

  /* Keeping up: small frames, each written whole. */
  flush (fixture);
  start = g_get_monotonic_time ();
  for (rounds = 0; fixture->queue.drain_rate != 0; rounds++)
    {
      g_assert_cmpuint (rounds, <, 100);
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * DRAIN_WINDOW_US);
      g_usleep (pause_us);
      yamux_out_queue_push_data (&fixture->queue, data_frame (1, 100, 'v'), NULL);
      write_once (fixture);
      drain (fixture);
      g_assert_true (g_queue_is_empty (&fixture->queue.chunks));
    }
  g_assert_cmpint (g_get_monotonic_time () - start, >=, DRAIN_WINDOW_US);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define QUEUE_TEST(path, func) \
  g_test_add ("/yamux/queue/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  QUEUE_TEST ("ahead-order", test_ahead_order);
  QUEUE_TEST ("ahead-not-inside-frame", test_ahead_not_inside_frame);
  QUEUE_TEST ("control-after-ahead", test_control_after_ahead);
  QUEUE_TEST ("owner-released-when-written", test_owner_released_when_written);
  QUEUE_TEST ("owner-released-when-cleared", test_owner_released_when_cleared);
  QUEUE_TEST ("drain-rate", test_drain_rate);
#undef QUEUE_TEST

  return g_test_run ();
}

/* Tests for FoctetChannelStream's asynchronous reads over a backend that
 * fills a waiting read's buffer itself (foctet_channel_get_read_space()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <foctet-channel.h>

#include "test-utils.h"

#define TIMEOUT 10

/* A backend holding bytes in a buffer, as a muxer holds what it received. */
typedef struct {
  GByteArray *held;
  gboolean eof;
  guint released;
} Fake;

static gboolean
fake_is_readable (gpointer backend)
{
  Fake *fake = backend;

  return fake->held->len > 0 || fake->eof;
}

static gboolean
fake_is_writable (gpointer backend)
{
  return TRUE;
}

static gssize
fake_read (gpointer   backend,
           void      *buffer,
           gsize      count,
           GError   **error)
{
  Fake *fake = backend;
  gsize n = MIN (count, fake->held->len);

  if (n == 0 && fake->eof)
    return 0;
  if (n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Nothing yet");
      return -1;
    }
  memcpy (buffer, fake->held->data, n);
  g_byte_array_remove_range (fake->held, 0, n);
  return n;
}

static gssize
fake_write (gpointer     backend,
            const void  *buffer,
            gsize        count,
            GError     **error)
{
  return count;
}

static gboolean
fake_close_write (gpointer   backend,
                  GError   **error)
{
  return TRUE;
}

static void
fake_nothing (gpointer backend)
{
}

static void
fake_reset (gpointer backend,
            guint32  code)
{
}

static void
fake_release (gpointer backend)
{
  ((Fake *) backend)->released++;
}

static const FoctetChannelFuncs fake_funcs = {
  fake_is_readable,
  fake_is_writable,
  fake_read,
  fake_write,
  fake_close_write,
  fake_nothing,
  fake_nothing,
  fake_reset,
  fake_release,
};

typedef struct {
  Fake fake;
  FoctetChannel *channel;
  FoctetStream *stream;
  GInputStream *input;
  guint8 buffer[64];
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->fake.held = g_byte_array_new ();
  f->channel = foctet_channel_new (&fake_funcs, &f->fake, NULL, g_main_context_default ());
  f->stream = foctet_channel_stream_new (FOCTET_TYPE_CHANNEL_STREAM, f->channel, 1);
  f->input = g_io_stream_get_input_stream (G_IO_STREAM (f->stream));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->stream);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (f->fake.released, ==, 1);
  g_clear_pointer (&f->channel, foctet_channel_unref);
  g_byte_array_unref (f->fake.held);
}

static void
hold (Fixture    *f,
      const char *text)
{
  g_byte_array_append (f->fake.held, (const guint8 *) text, strlen (text));
  foctet_channel_wake (f->channel, TRUE, FALSE);
}

/* Puts @text into the waiting read's buffer, as a backend that receives
 * it would. */
static void
fill (Fixture    *f,
      const char *text)
{
  gsize space = 0;
  guint8 *room = foctet_channel_get_read_space (f->channel, &space);

  g_assert_nonnull (room);
  g_assert_cmpuint (space, >=, strlen (text));
  memcpy (room, text, strlen (text));
  foctet_channel_read_space_filled (f->channel, strlen (text));
}

static void
read_start (Fixture       *f,
            gsize          count,
            GCancellable  *cancellable,
            GAsyncResult **slot)
{
  *slot = NULL;
  memset (f->buffer, 0, sizeof f->buffer);
  g_input_stream_read_async (f->input, f->buffer, count, G_PRIORITY_DEFAULT, cancellable,
                             foctet_test_store_result, slot);
}

/* Runs the context a few times: a read that can complete does. */
static void
turn (void)
{
  for (guint i = 0; i < 5; i++)
    g_main_context_iteration (NULL, FALSE);
}

static gssize
read_finish (Fixture       *f,
             GAsyncResult **slot,
             GError       **error)
{
  g_autoptr(GAsyncResult) result = foctet_test_wait_result (slot, TIMEOUT);

  return g_input_stream_read_finish (f->input, result, error);
}

/* Without a waiting read there is no room to fill. */
static void
test_no_room_without_read (Fixture       *f,
                           gconstpointer  data)
{
  gsize space = 1;

  g_assert_null (foctet_channel_get_read_space (f->channel, &space));
  g_assert_cmpuint (space, ==, 0);
}

/* What the backend holds is read at once; nothing is left waiting. */
static void
test_read_held (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  gsize space = 0;

  hold (f, "held");
  read_start (f, sizeof f->buffer, NULL, &slot);
  g_assert_null (foctet_channel_get_read_space (f->channel, &space));
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (f->buffer, 4, "held", 4);
}

/* A waiting read takes what the backend filled, then what it holds
 * after that, in order, in one completion. */
static void
test_fill_then_held (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  gsize space = 0;
  guint8 *room;

  read_start (f, 16, NULL, &slot);
  turn ();
  g_assert_null (slot);

  room = foctet_channel_get_read_space (f->channel, &space);
  g_assert_true (room == f->buffer);
  g_assert_cmpuint (space, ==, 16);
  fill (f, "first ");
  room = foctet_channel_get_read_space (f->channel, &space);
  g_assert_true (room == f->buffer + 6);
  g_assert_cmpuint (space, ==, 10);
  fill (f, "then ");
  hold (f, "held bytes");

  g_assert_cmpint (read_finish (f, &slot, &error), ==, 16);
  g_assert_no_error (error);
  g_assert_cmpmem (f->buffer, 16, "first then held ", 16);
  g_assert_null (foctet_channel_get_read_space (f->channel, &space));

  /* The rest stayed with the backend. */
  read_start (f, 16, NULL, &slot);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 5);
  g_assert_cmpmem (f->buffer, 5, "bytes", 5);
}

/* A full buffer offers no more room, and completes. */
static void
test_fill_full (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  gsize space = 1;

  read_start (f, 4, NULL, &slot);
  fill (f, "full");
  g_assert_null (foctet_channel_get_read_space (f->channel, &space));
  g_assert_cmpuint (space, ==, 0);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 4);
  g_assert_cmpmem (f->buffer, 4, "full", 4);
}

/* The end of the stream after filled bytes is the next read's. */
static void
test_fill_then_end (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  read_start (f, sizeof f->buffer, NULL, &slot);
  turn ();
  fill (f, "last");
  f->fake.eof = TRUE;
  foctet_channel_wake (f->channel, TRUE, FALSE);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 4);
  g_assert_cmpmem (f->buffer, 4, "last", 4);

  read_start (f, sizeof f->buffer, NULL, &slot);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 0);
  g_assert_no_error (error);
}

/* Cancelled while it waits: with nothing filled the read fails as
 * cancelled; with bytes filled it returns them, since they were taken
 * out of the stream. */
static void
test_cancel (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GCancellable) second = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  gsize space = 0;

  read_start (f, sizeof f->buffer, cancellable, &slot);
  turn ();
  g_cancellable_cancel (cancellable);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (foctet_channel_get_read_space (f->channel, &space));

  read_start (f, sizeof f->buffer, second, &slot);
  turn ();
  fill (f, "kept");
  g_cancellable_cancel (second);
  g_assert_cmpint (read_finish (f, &slot, &error), ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (f->buffer, 4, "kept", 4);
}

/* Taking from a queue of received pieces: across pieces, part of one,
 * then the rest; pieces taken whole are dropped. */
static void
test_bytes_queue_take (void)
{
  GQueue queue = G_QUEUE_INIT;
  gsize offset = 0;
  guint8 out[16];

  g_queue_push_tail (&queue, g_bytes_new_static ("abc", 3));
  g_queue_push_tail (&queue, g_bytes_new_static ("defgh", 5));
  g_assert_cmpuint (foctet_bytes_queue_take (&queue, &offset, out, 5), ==, 5);
  g_assert_cmpmem (out, 5, "abcde", 5);
  g_assert_cmpuint (g_queue_get_length (&queue), ==, 1);
  g_assert_cmpuint (offset, ==, 2);
  g_assert_cmpuint (foctet_bytes_queue_take (&queue, &offset, out, sizeof out), ==, 3);
  g_assert_cmpmem (out, 3, "fgh", 3);
  g_assert_true (g_queue_is_empty (&queue));
  g_assert_cmpuint (offset, ==, 0);
  g_assert_cmpuint (foctet_bytes_queue_take (&queue, &offset, out, sizeof out), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/channel/read-async/no-room-without-read", Fixture, NULL, fixture_setup,
              test_no_room_without_read, fixture_teardown);
  g_test_add ("/channel/read-async/held", Fixture, NULL, fixture_setup, test_read_held, fixture_teardown);
  g_test_add ("/channel/read-async/fill-then-held", Fixture, NULL, fixture_setup, test_fill_then_held,
              fixture_teardown);
  g_test_add ("/channel/read-async/fill-full", Fixture, NULL, fixture_setup, test_fill_full, fixture_teardown);
  g_test_add ("/channel/read-async/fill-then-end", Fixture, NULL, fixture_setup, test_fill_then_end,
              fixture_teardown);
  g_test_add_func ("/channel/bytes-queue-take", test_bytes_queue_take);
  g_test_add ("/channel/read-async/cancel", Fixture, NULL, fixture_setup, test_cancel, fixture_teardown);

  return g_test_run ();
}

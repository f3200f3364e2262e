/* test-stream-header.c: the PROTOCOL §5 stream header, parsed, written and
 * read over a FoctetStream backed by memory streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-stream-private.h"
#include "foctet-error.h"
#include "test-utils.h"

/* A FoctetStream over a memory input and a memory output. */
#define TEST_TYPE_MEMORY_STREAM (test_memory_stream_get_type ())
G_DECLARE_FINAL_TYPE (TestMemoryStream, test_memory_stream, TEST, MEMORY_STREAM, FoctetStream)

struct _TestMemoryStream {
  FoctetStream parent_instance;
  GInputStream *input;
  GOutputStream *output;
};

G_DEFINE_FINAL_TYPE (TestMemoryStream, test_memory_stream, FOCTET_TYPE_STREAM)

static GInputStream *
test_memory_stream_get_input_stream (GIOStream *stream)
{
  return TEST_MEMORY_STREAM (stream)->input;
}

static GOutputStream *
test_memory_stream_get_output_stream (GIOStream *stream)
{
  return TEST_MEMORY_STREAM (stream)->output;
}

static void
test_memory_stream_finalize (GObject *object)
{
  TestMemoryStream *self = TEST_MEMORY_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  G_OBJECT_CLASS (test_memory_stream_parent_class)->finalize (object);
}

static void
test_memory_stream_class_init (TestMemoryStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_memory_stream_finalize;
  G_IO_STREAM_CLASS (klass)->get_input_stream = test_memory_stream_get_input_stream;
  G_IO_STREAM_CLASS (klass)->get_output_stream = test_memory_stream_get_output_stream;
}

static void
test_memory_stream_init (TestMemoryStream *self)
{
}

static TestMemoryStream *
memory_stream_new (const void *input,
                   gsize       len)
{
  TestMemoryStream *self = g_object_new (TEST_TYPE_MEMORY_STREAM, NULL);

  self->input = g_memory_input_stream_new_from_data (g_memdup2 (input, len), len, g_free);
  self->output = g_memory_output_stream_new_resizable ();
  return self;
}

static void
test_parse (void)
{
  static const guint8 good[] = "\x0d" "foctet/ping/1" "payload";
  g_autoptr(GError) error = NULL;
  g_autofree char *protocol = NULL;
  gsize consumed = 0;

  g_assert_cmpint (foctet_stream_header_parse (good, sizeof good - 1, &protocol, &consumed, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpstr (protocol, ==, "foctet/ping/1");
  g_assert_cmpuint (consumed, ==, 14);

  /* Not enough yet: says how much the header needs once the length is known. */
  g_clear_pointer (&protocol, g_free);
  g_assert_cmpint (foctet_stream_header_parse (good, 0, &protocol, &consumed, &error), ==, 0);
  g_assert_cmpuint (consumed, ==, 1);
  g_assert_cmpint (foctet_stream_header_parse (good, 5, &protocol, &consumed, &error), ==, 0);
  g_assert_cmpuint (consumed, ==, 14);
  g_assert_null (protocol);
  g_assert_no_error (error);
}

static void
expect_parse_error (const guint8 *data,
                    gsize         len,
                    const char   *words)
{
  g_autoptr(GError) error = NULL;
  char *protocol = NULL;
  gsize consumed = 0;

  g_assert_cmpint (foctet_stream_header_parse (data, len, &protocol, &consumed, &error), ==, -1);
  g_assert_null (protocol);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_nonnull (strstr (error->message, words));
}

static void
test_parse_errors (void)
{
  expect_parse_error ((const guint8 *) "\x00" "rest", 5, "empty");
  expect_parse_error ((const guint8 *) "\x03" "a\0b", 4, "NUL");
  expect_parse_error ((const guint8 *) "\x02" "\xc3\x28", 3, "UTF-8");
}

static void
test_validate (void)
{
  g_autoptr(GError) error = NULL;
  char longest[FOCTET_PROTOCOL_NAME_MAX + 2];

  memset (longest, 'p', sizeof longest);
  longest[FOCTET_PROTOCOL_NAME_MAX] = '\0';
  g_assert_true (foctet_protocol_name_validate (longest, &error));
  g_assert_no_error (error);

  longest[FOCTET_PROTOCOL_NAME_MAX] = 'p';
  longest[FOCTET_PROTOCOL_NAME_MAX + 1] = '\0';
  g_assert_false (foctet_protocol_name_validate (longest, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "256"));
  g_clear_error (&error);

  g_assert_false (foctet_protocol_name_validate ("", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
}

static void
test_write_header (void)
{
  g_autoptr(TestMemoryStream) stream = memory_stream_new ("", 0);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  GMemoryOutputStream *out;

  foctet_stream_write_header_async (FOCTET_STREAM (stream), "app/chat/2", NULL,
                                    foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 5);
  g_assert_true (foctet_stream_write_header_finish (FOCTET_STREAM (stream), result, &error));
  g_assert_no_error (error);

  out = G_MEMORY_OUTPUT_STREAM (stream->output);
  g_assert_cmpuint (g_memory_output_stream_get_data_size (out), ==, 11);
  g_assert_cmpmem (g_memory_output_stream_get_data (out), 11, "\x0a" "app/chat/2", 11);
  g_assert_cmpstr (foctet_stream_get_protocol (FOCTET_STREAM (stream)), ==, "app/chat/2");
}

static void
test_write_header_invalid (void)
{
  g_autoptr(TestMemoryStream) stream = memory_stream_new ("", 0);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;

  foctet_stream_write_header_async (FOCTET_STREAM (stream), "", NULL,
                                    foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 5);
  g_assert_false (foctet_stream_write_header_finish (FOCTET_STREAM (stream), result, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (stream->output)), ==, 0);
}

static void
test_read_header (void)
{
  static const char wire[] = "\x0d" "foctet/perf/1" "\x00\x00\x00\x00\x00\x00\x00\x2a";
  g_autoptr(TestMemoryStream) stream = memory_stream_new (wire, sizeof wire - 1);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rest[16];
  gsize n = 0;

  foctet_stream_read_header_async (FOCTET_STREAM (stream), NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 5);
  g_assert_cmpstr (foctet_stream_read_header_finish (FOCTET_STREAM (stream), result, &error), ==,
                   "foctet/perf/1");
  g_assert_no_error (error);

  /* Nothing past the header was consumed. */
  g_assert_true (g_input_stream_read_all (stream->input, rest, sizeof rest, &n, NULL, &error));
  g_assert_cmpmem (rest, n, "\x00\x00\x00\x00\x00\x00\x00\x2a", 8);
}

static void
expect_read_error (const char *wire,
                   gsize       len,
                   const char *words)
{
  g_autoptr(TestMemoryStream) stream = memory_stream_new (wire, len);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;

  foctet_stream_read_header_async (FOCTET_STREAM (stream), NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 5);
  g_assert_null (foctet_stream_read_header_finish (FOCTET_STREAM (stream), result, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_nonnull (strstr (error->message, words));
  g_assert_null (foctet_stream_get_protocol (FOCTET_STREAM (stream)));
}

static void
test_read_header_errors (void)
{
  expect_read_error ("", 0, "after 0 of 1");
  expect_read_error ("\x05" "ab", 3, "after 3 of 6");
  expect_read_error ("\x00", 1, "empty");
  expect_read_error ("\x01\xff", 2, "UTF-8");
}

/* What an opener meets when the peer refuses its stream, and what it
 * does not. */
static void
test_refused_error (void)
{
  g_autoptr(GError) reset = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET, "reset");
  g_autoptr(GError) unsupported = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED, "no");
  g_autoptr(GError) closed = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED, "closed");
  g_autoptr(GError) io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "closed");

  g_assert_true (foctet_error_is_stream_refused (reset));
  g_assert_true (foctet_error_is_stream_refused (unsupported));
  g_assert_false (foctet_error_is_stream_refused (closed));
  g_assert_false (foctet_error_is_stream_refused (io));
  g_assert_false (foctet_error_is_stream_refused (NULL));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/stream-header/parse", test_parse);
  g_test_add_func ("/stream-header/parse-errors", test_parse_errors);
  g_test_add_func ("/stream-header/validate", test_validate);
  g_test_add_func ("/stream-header/write", test_write_header);
  g_test_add_func ("/stream-header/write-invalid", test_write_header_invalid);
  g_test_add_func ("/stream-header/read", test_read_header);
  g_test_add_func ("/stream-header/read-errors", test_read_header_errors);
  g_test_add_func ("/stream-header/refused-error", test_refused_error);

  return g_test_run ();
}

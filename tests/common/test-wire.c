/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"
#include "test-wire.h"

static void
assert_says (const GError *error,
             const char   *what)
{
  if (strstr (error->message, what) == NULL)
    g_error ("“%s” does not say “%s”", error->message, what);
}

void
foctet_test_wire_assert_encoding (const FoctetTestWire *wire,
                                  gconstpointer         message,
                                  const guint8         *expected,
                                  gsize                 expected_len)
{
  g_autoptr(GBytes) bytes = wire->encode (message);

  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected, expected_len);
}

gpointer
foctet_test_wire_parse_exact (const FoctetTestWire *wire,
                              GBytes               *bytes)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) again = NULL;
  gpointer message = NULL;
  gsize consumed = 0, len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_assert_true (wire->parse (data, len, &consumed, &message, &error));
  g_assert_no_error (error);
  g_assert_nonnull (message);
  g_assert_cmpuint (consumed, ==, len);
  again = wire->encode (message);
  g_assert_true (g_bytes_equal (again, bytes));
  return message;
}

void
foctet_test_wire_assert_rejected (const FoctetTestWire *wire,
                                  const guint8         *data,
                                  gsize                 len,
                                  const char           *what,
                                  const char           *what2)
{
  for (guint extra = 0; extra < 2; extra++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *copy = g_malloc (len + extra * 8 + 1);
      gpointer message = GSIZE_TO_POINTER (1);
      gsize consumed = 12345;

      memcpy (copy, data, len);
      memset (copy + len, 0, extra * 8);
      g_assert_false (wire->parse (copy, len + extra * 8, &consumed, &message, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      if (extra == 0)
        g_test_message ("%s", error->message);
      assert_says (error, what);
      if (what2 != NULL)
        assert_says (error, what2);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      if (wire->one_line_errors)
        g_assert_null (strchr (error->message, '\n'));
      g_assert_null (message);
      g_assert_cmpuint (consumed, ==, 0);
    }
}

void
foctet_test_wire_check_incremental (const FoctetTestWire *wire,
                                    GPtrArray            *all)
{
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  static const guint8 raw[] = { 0x16, 0x03, 0x01, 0x00, 0x10, 'r', 'a', 'w' };
  gsize pos = 0;

  for (guint i = 0; i < all->len; i++)
    {
      GBytes *bytes = g_ptr_array_index (all, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (bytes, &len);

      for (gsize n = 0; n <= len; n++)
        {
          g_autofree guint8 *prefix = g_memdup2 (data, n);
          g_autoptr(GError) error = NULL;
          gpointer message = NULL;
          gsize consumed = 99;
          gboolean done = wire->parse (prefix, n, &consumed, &message, &error);

          g_assert_no_error (error);
          g_assert_cmpint (done, ==, n == len);
          g_assert_cmpuint (consumed, ==, done ? len : 0);
          g_assert_true ((message != NULL) == done);
          g_clear_pointer (&message, wire->free);
        }
      g_byte_array_append (stream, data, len);
    }

  g_byte_array_append (stream, raw, sizeof raw);
  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr(GError) error = NULL;
      gpointer message = NULL;
      gsize consumed = 0;

      g_assert_true (wire->parse (stream->data + pos, stream->len - pos, &consumed, &message, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (consumed, ==, g_bytes_get_size (g_ptr_array_index (all, i)));
      pos += consumed;
      g_clear_pointer (&message, wire->free);
    }
  g_assert_cmpmem (stream->data + pos, stream->len - pos, raw, sizeof raw);
}

gpointer
foctet_test_wire_read (const FoctetTestWire  *wire,
                       GInputStream          *stream,
                       GError               **error)
{
  GAsyncResult *slot = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  wire->read_async (stream, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, wire->timeout_seconds);
  return wire->read_finish (stream, result, error);
}

gboolean
foctet_test_wire_write (const FoctetTestWire  *wire,
                        GOutputStream         *stream,
                        gconstpointer          message,
                        GError               **error)
{
  GAsyncResult *slot = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  wire->write_async (stream, message, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, wire->timeout_seconds);
  return wire->write_finish (stream, result, error);
}

void
foctet_test_wire_assert_read_fails (const FoctetTestWire *wire,
                                    const guint8         *data,
                                    gsize                 len,
                                    int                   code,
                                    const char           *what,
                                    gsize                 position)
{
  g_autoptr(GInputStream) input = foctet_test_memory_input (data, len);
  g_autoptr(GError) error = NULL;
  gpointer message = foctet_test_wire_read (wire, input, &error);

  g_assert_null (message);
  g_assert_error (error, FOCTET_ERROR, code);
  g_test_message ("%s", error->message);
  assert_says (error, what);
  g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, position);
}

void
foctet_test_wire_check_write (const FoctetTestWire *wire,
                              GPtrArray            *all,
                              gconstpointer         message)
{
  g_autoptr(GOutputStream) output = g_memory_output_stream_new_resizable ();
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(GBytes) written = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < all->len; i++)
    {
      GBytes *bytes = g_ptr_array_index (all, i);
      gpointer parsed = foctet_test_wire_parse_exact (wire, bytes);

      g_assert_true (foctet_test_wire_write (wire, output, parsed, &error));
      g_assert_no_error (error);
      g_byte_array_append (expected, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      wire->free (parsed);
    }
  g_assert_true (g_output_stream_close (output, NULL, NULL));
  written = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (output));
  g_assert_cmpmem (g_bytes_get_data (written, NULL), g_bytes_get_size (written),
                   expected->data, expected->len);

  /* The stream's error comes back as it is. */
  g_assert_false (foctet_test_wire_write (wire, output, message, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

void
foctet_test_wire_check_read_cancelled (const FoctetTestWire *wire,
                                       const guint8         *partial,
                                       gsize                 len)
{
  g_autoptr(GSocketConnection) a = NULL;
  g_autoptr(GSocketConnection) b = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  GInputStream *input;
  gpointer message;

  foctet_test_socket_pair (&a, &b);
  input = g_io_stream_get_input_stream (G_IO_STREAM (b));
  g_assert_cmpint (g_socket_send (g_socket_connection_get_socket (a), (const char *) partial,
                                  len, NULL, NULL), ==, len);
  wire->read_async (input, G_PRIORITY_DEFAULT, cancellable, foctet_test_store_result, &slot);
  for (guint i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_null (slot);
  g_cancellable_cancel (cancellable);
  result = foctet_test_wait_result (&slot, wire->timeout_seconds);
  message = wire->read_finish (input, result, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* test-wire.h: the checks every message format of ours shares (the
 * relay's control messages, foctet/transfer/1): parsing a byte at a
 * time, refusing with one error and nothing consumed, and the
 * one-message reader and writer over streams.  A test describes its
 * format with FOCTET_TEST_WIRE_DEFINE and passes that to the checks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* One format's functions, with its message type as a gpointer. */
typedef struct {
  gboolean (*parse) (const guint8  *data,
                     gsize          len,
                     gsize         *consumed,
                     gpointer      *message,
                     GError       **error);
  GBytes *(*encode) (gconstpointer message);
  void (*free) (gpointer message);
  void (*read_async) (GInputStream        *stream,
                      int                  io_priority,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data);
  gpointer (*read_finish) (GInputStream  *stream,
                           GAsyncResult  *result,
                           GError       **error);
  void (*write_async) (GOutputStream       *stream,
                       gconstpointer        message,
                       int                  io_priority,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data);
  gboolean (*write_finish) (GOutputStream  *stream,
                            GAsyncResult   *result,
                            GError        **error);
  guint timeout_seconds;      /* for each read or write */
  gboolean one_line_errors;   /* the format promises no '\n' in an error */
} FoctetTestWire;

/* Defines @var, a FoctetTestWire for the functions
 * foctet_<format>_message_* on messages of type @Type.  The adapters call
 * those functions with their own types, so that no function is called
 * through a pointer of another type (UBSan's -fsanitize=function). */
#define FOCTET_TEST_WIRE_DEFINE(var, format, Type, timeout, one_line) \
  static gboolean \
  var##_parse (const guint8 *data, gsize len, gsize *consumed, gpointer *message, GError **error) \
  { \
    Type *typed = *message; \
    gboolean ok = foctet_##format##_message_parse (data, len, consumed, &typed, error); \
    *message = typed; \
    return ok; \
  } \
  static GBytes * \
  var##_encode (gconstpointer message) \
  { \
    return foctet_##format##_message_encode (message); \
  } \
  static void \
  var##_free (gpointer message) \
  { \
    foctet_##format##_message_free (message); \
  } \
  static gpointer \
  var##_read_finish (GInputStream *stream, GAsyncResult *result, GError **error) \
  { \
    return foctet_##format##_message_read_finish (stream, result, error); \
  } \
  static void \
  var##_write_async (GOutputStream *stream, gconstpointer message, int io_priority, \
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data) \
  { \
    foctet_##format##_message_write_async (stream, message, io_priority, cancellable, callback, user_data); \
  } \
  static const FoctetTestWire var = { \
    var##_parse, var##_encode, var##_free, \
    foctet_##format##_message_read_async, var##_read_finish, \
    var##_write_async, foctet_##format##_message_write_finish, \
    (timeout), (one_line), \
  }

/* @message must encode to exactly @expected. */
void foctet_test_wire_assert_encoding (const FoctetTestWire *wire,
                                       gconstpointer         message,
                                       const guint8         *expected,
                                       gsize                 expected_len);

/* Parses @bytes, which must hold exactly one valid message, and checks
 * that it encodes back to the same bytes; returns it (transfer full). */
gpointer foctet_test_wire_parse_exact (const FoctetTestWire *wire,
                                       GBytes               *bytes);

/* @data must be refused with a protocol error that says @what (and
 * @what2, if not %NULL); it is also refused with any bytes after it, and
 * nothing is returned or consumed. */
void foctet_test_wire_assert_rejected (const FoctetTestWire *wire,
                                       const guint8         *data,
                                       gsize                 len,
                                       const char           *what,
                                       const char           *what2);

/* @all holds valid encodings (GBytes).  Each, fed a byte at a time from
 * an exact-size buffer, asks for more at every prefix without an error;
 * all of them in one buffer with raw bytes after parse one at a time and
 * leave the raw bytes. */
void foctet_test_wire_check_incremental (const FoctetTestWire *wire,
                                         GPtrArray            *all);

/* The format's async reader and writer, run to completion. */
gpointer foctet_test_wire_read (const FoctetTestWire  *wire,
                                GInputStream          *stream,
                                GError               **error);
gboolean foctet_test_wire_write (const FoctetTestWire  *wire,
                                 GOutputStream         *stream,
                                 gconstpointer          message,
                                 GError               **error);

/* Reading @data must fail with FOCTET_ERROR @code saying @what, with the
 * stream left at @position: a message is refused on the bytes that break
 * the rule. */
void foctet_test_wire_assert_read_fails (const FoctetTestWire *wire,
                                         const guint8         *data,
                                         gsize                 len,
                                         int                   code,
                                         const char           *what,
                                         gsize                 position);

/* Writing each of @all (valid encodings) to a memory stream writes
 * exactly their bytes; writing @message after the stream is closed
 * returns the stream's error. */
void foctet_test_wire_check_write (const FoctetTestWire *wire,
                                   GPtrArray            *all,
                                   gconstpointer         message);

/* A read that has @partial of a header and waits for the rest ends with
 * G_IO_ERROR_CANCELLED when cancelled: how a caller times out. */
void foctet_test_wire_check_read_cancelled (const FoctetTestWire *wire,
                                            const guint8         *partial,
                                            gsize                 len);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reading and writing one message of a length-prefixed control protocol on
 * a stream: a type byte, a big-endian body length of 2 or 4 bytes, the
 * body.  The reader asks for the type, then the length, then the body (a
 * long one in pieces), and never for a byte past the message, so that
 * what follows it (raw data, relayed bytes) stays in the stream; the
 * format's parser sees every piece, so garbage is refused as soon as its
 * first bytes are in.  For the transfer codec and the relay's.  Not part
 * of <foctet.h> and not introspected: include <foctet-message-io.h>. */

#include "foctet.h"

G_BEGIN_DECLS

/* Parses a message from the @len bytes at @data: TRUE with *@message and
 * *@consumed; FALSE with @error set for garbage; FALSE without an error
 * when the message is not whole yet. */
typedef gboolean (*FoctetMessageParseFunc) (const guint8  *data,
                                            gsize          len,
                                            gsize         *consumed,
                                            gpointer      *message,
                                            GError       **error,
                                            gpointer       user_data);

typedef struct {
  const char *name;                     /* in errors: "relay", "transfer" */
  guint length_size;                    /* 2 or 4 */
  guint32 max_body;                     /* the parser refuses longer */
  FoctetMessageParseFunc parse;
  GDestroyNotify free_message;
  const char *(*type_name) (guint8 type);
} FoctetMessageFormat;

/* Reads exactly one message of @format from @stream; @parse_data goes to
 * the format's parser.  foctet_message_read_finish() gives the message;
 * a %FOCTET_ERROR_PROTOCOL_ERROR from the parser, or one saying the
 * message is truncated when the stream ended inside it;
 * %FOCTET_ERROR_CONNECTION_CLOSED when it ended before the first byte of
 * a message; or the stream's own error.  No time limits: cancel
 * @cancellable to impose one.  @format must outlive the read. */
FOCTET_AVAILABLE_IN_ALL
void foctet_message_read_async (GInputStream              *stream,
                                const FoctetMessageFormat *format,
                                gpointer                   parse_data,
                                int                        io_priority,
                                GCancellable              *cancellable,
                                GAsyncReadyCallback        callback,
                                gpointer                   user_data);
FOCTET_AVAILABLE_IN_ALL
gpointer foctet_message_read_finish (GInputStream  *stream,
                                     GAsyncResult  *result,
                                     GError       **error);

/* Writes all of @encoded (kept until the write ends).  Nothing is
 * flushed: foctet streams send what is written. */
FOCTET_AVAILABLE_IN_ALL
void foctet_message_write_async (GOutputStream       *stream,
                                 GBytes              *encoded,
                                 int                  io_priority,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_message_write_finish (GOutputStream  *stream,
                                      GAsyncResult   *result,
                                      GError        **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "foctet-stream.h"

G_BEGIN_DECLS

/* Parses a complete PROTOCOL §5 stream header at the start of @data.
 * Returns 1 and sets @protocol (newly allocated) and @consumed when @data
 * holds a whole valid header, 0 when more bytes are needed (and sets
 * @consumed to the total the header will need once known, else 1), and -1
 * with @error for a malformed one. */
int foctet_stream_header_parse (const guint8  *data,
                                gsize          len,
                                char         **protocol,
                                gsize         *consumed,
                                GError       **error);

/* For the opener of @stream, whose peer never answered on it, on a
 * connection still open: a reset there is how a peer refuses a protocol
 * it does not serve (PROTOCOL §5), which *@error (if
 * %FOCTET_ERROR_STREAM_RESET) then says, naming it.  (A connection that
 * failed can fail its streams with that code too: not a refusal.) */
void foctet_stream_explain_unanswered_reset (FoctetStream  *stream,
                                             GError       **error);

gboolean foctet_protocol_name_validate (const char  *protocol,
                                        GError     **error);

G_END_DECLS

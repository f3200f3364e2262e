/* foctet-yamux-frame.h: the yamux frame header (PROTOCOL §4, the framing
 * of hashicorp/yamux): encoding, decoding and the checks a header must
 * pass on its own, before any session state is looked at.
 *
 *   version (1) = 0 | type (1) | flags (2) | stream id (4) | length (4)
 *
 * every field big-endian.  For Data the length is that of the payload
 * that follows; for WindowUpdate it is the window increment; for Ping an
 * opaque value echoed back; for GoAway the error code.  Only Data frames
 * carry a payload.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FOCTET_YAMUX_VERSION 0
#define FOCTET_YAMUX_HEADER_SIZE 12

typedef enum {
  FOCTET_YAMUX_TYPE_DATA = 0,
  FOCTET_YAMUX_TYPE_WINDOW_UPDATE = 1,
  FOCTET_YAMUX_TYPE_PING = 2,
  FOCTET_YAMUX_TYPE_GO_AWAY = 3,
} FoctetYamuxType;

typedef enum {
  FOCTET_YAMUX_FLAG_SYN = 1 << 0,
  FOCTET_YAMUX_FLAG_ACK = 1 << 1,
  FOCTET_YAMUX_FLAG_FIN = 1 << 2,
  FOCTET_YAMUX_FLAG_RST = 1 << 3,
} FoctetYamuxFlags;

/* GoAway codes. */
typedef enum {
  FOCTET_YAMUX_GO_AWAY_NORMAL = 0,
  FOCTET_YAMUX_GO_AWAY_PROTOCOL_ERROR = 1,
  FOCTET_YAMUX_GO_AWAY_INTERNAL_ERROR = 2,
} FoctetYamuxGoAway;

typedef struct {
  guint8 version;
  guint8 type;
  guint16 flags;
  guint32 stream_id;
  guint32 length;
} FoctetYamuxHeader;

void foctet_yamux_header_encode (const FoctetYamuxHeader *header,
                                 guint8                   out[FOCTET_YAMUX_HEADER_SIZE]);

/* Decodes the FOCTET_YAMUX_HEADER_SIZE bytes at @data into @header and
 * checks what a header alone can break: the version must be 0, the type
 * one of the four, a Data or WindowUpdate frame must name a stream (not
 * 0), and a Data frame may not be longer than @max_data_length (the
 * largest window the receiver ever grants).  Returns %FALSE with a
 * %FOCTET_ERROR_PROTOCOL_ERROR saying which rule was broken; @header is
 * filled in either way.  Unknown flag bits are ignored. */
gboolean foctet_yamux_header_decode (const guint8       *data,
                                     FoctetYamuxHeader  *header,
                                     guint32             max_data_length,
                                     GError            **error);

/* "Data", "WindowUpdate", "Ping", "GoAway", or "unknown". */
const char *foctet_yamux_type_to_string (guint8 type);

/* The set flags as "SYN|ACK", "" for none; @buf needs 32 bytes. */
const char *foctet_yamux_flags_to_string (guint16  flags,
                                          char    *buf,
                                          gsize    buf_len);

G_END_DECLS

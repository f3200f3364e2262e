/* foctet-yamux-frame.c: the yamux frame header codec.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "foctet-yamux-frame.h"

void
foctet_yamux_header_encode (const FoctetYamuxHeader *header,
                            guint8                   out[FOCTET_YAMUX_HEADER_SIZE])
{
  out[0] = header->version;
  out[1] = header->type;
  out[2] = header->flags >> 8;
  out[3] = header->flags & 0xff;
  out[4] = header->stream_id >> 24;
  out[5] = (header->stream_id >> 16) & 0xff;
  out[6] = (header->stream_id >> 8) & 0xff;
  out[7] = header->stream_id & 0xff;
  out[8] = header->length >> 24;
  out[9] = (header->length >> 16) & 0xff;
  out[10] = (header->length >> 8) & 0xff;
  out[11] = header->length & 0xff;
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

gboolean
foctet_yamux_header_decode (const guint8       *data,
                            FoctetYamuxHeader  *header,
                            guint32             max_data_length,
                            GError            **error)
{
  header->version = data[0];
  header->type = data[1];
  header->flags = ((guint16) data[2] << 8) | data[3];
  header->stream_id = read_u32 (data + 4);
  header->length = read_u32 (data + 8);

  if (header->version != FOCTET_YAMUX_VERSION)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "yamux frame has version %u; only version %u exists",
                   header->version, FOCTET_YAMUX_VERSION);
      return FALSE;
    }
  if (header->type > FOCTET_YAMUX_TYPE_GO_AWAY)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "yamux frame has unknown type %u", header->type);
      return FALSE;
    }
  if ((header->type == FOCTET_YAMUX_TYPE_DATA || header->type == FOCTET_YAMUX_TYPE_WINDOW_UPDATE) &&
      header->stream_id == 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "yamux %s frame for stream id 0, which is the session's",
                   foctet_yamux_type_to_string (header->type));
      return FALSE;
    }
  if (header->type == FOCTET_YAMUX_TYPE_DATA && header->length > max_data_length)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "yamux Data frame on stream %u is oversized: %u bytes, longer than the "
                   "largest window of %u bytes", header->stream_id, header->length, max_data_length);
      return FALSE;
    }
  return TRUE;
}

const char *
foctet_yamux_type_to_string (guint8 type)
{
  switch (type)
    {
    case FOCTET_YAMUX_TYPE_DATA:
      return "Data";
    case FOCTET_YAMUX_TYPE_WINDOW_UPDATE:
      return "WindowUpdate";
    case FOCTET_YAMUX_TYPE_PING:
      return "Ping";
    case FOCTET_YAMUX_TYPE_GO_AWAY:
      return "GoAway";
    default:
      return "unknown";
    }
}

const char *
foctet_yamux_flags_to_string (guint16  flags,
                              char    *buf,
                              gsize    buf_len)
{
  static const char * const names[] = { "SYN", "ACK", "FIN", "RST" };
  gsize len = 0;

  g_return_val_if_fail (buf_len >= 32, "");

  buf[0] = '\0';
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (flags & (1u << i))
      len += g_snprintf (buf + len, buf_len - len, "%s%s", len > 0 ? "|" : "", names[i]);
  if (flags & ~0xfu)
    g_snprintf (buf + len, buf_len - len, "%s0x%x", len > 0 ? "|" : "", flags & ~0xfu);
  return buf;
}

/* foctet-base32.c: RFC 4648 base32, lower case, no padding.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-base32.h"
#include "foctet-error.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

char *
foctet_base32_encode (const guint8 *data,
                      gsize         len)
{
  char *out = g_malloc ((len * 8 + 4) / 5 + 1);
  guint32 buffer = 0;
  guint bits = 0;
  gsize o = 0;

  for (gsize i = 0; i < len; i++)
    {
      buffer = (buffer << 8) | data[i];
      bits += 8;
      while (bits >= 5)
        {
          bits -= 5;
          out[o++] = alphabet[(buffer >> bits) & 31];
        }
    }
  if (bits > 0)
    out[o++] = alphabet[(buffer << (5 - bits)) & 31];
  out[o] = '\0';
  return out;
}

static int
decode_char (char c)
{
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

guint8 *
foctet_base32_decode (const char  *text,
                      gsize        len,
                      gsize       *out_len,
                      GError     **error)
{
  g_autofree guint8 *out = NULL;
  guint32 buffer = 0;
  guint bits = 0;
  gsize o = 0;

  /* 1, 3 or 6 characters past a multiple of 8 cannot come from whole bytes. */
  switch (len % 8)
    {
    case 1:
    case 3:
    case 6:
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "base32 text of %" G_GSIZE_FORMAT " characters cannot encode whole bytes",
                   len);
      return NULL;
    default:
      break;
    }

  out = g_malloc (len * 5 / 8 + 1);
  for (gsize i = 0; i < len; i++)
    {
      int v = decode_char (text[i]);

      if (v < 0)
        {
          if (g_ascii_isprint (text[i]))
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                         "invalid base32 character “%c” at position %" G_GSIZE_FORMAT,
                         text[i], i + 1);
          else
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                         "invalid base32 byte 0x%02x at position %" G_GSIZE_FORMAT,
                         (guint8) text[i], i + 1);
          return NULL;
        }
      buffer = (buffer << 5) | (guint32) v;
      bits += 5;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (buffer >> bits) & 0xff;
        }
    }

  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "base32 text is not canonical: the unused low bits of its last character “%c” are not zero",
                   text[len - 1]);
      return NULL;
    }

  *out_len = o;
  return g_steal_pointer (&out);
}

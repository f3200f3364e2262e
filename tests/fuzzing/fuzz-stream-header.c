/* Fuzz target: the stream header (PROTOCOL §5), checked against the
 * contract in foctet-stream-private.h and against the rule itself:
 * len(1) | name (len bytes, UTF-8, no NUL, 1..255).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-stream-private.h"
#include "foctet-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Whether the parser may answer @ret, worked out independently.  A header
 * cut short must ask for more; it may instead be refused early if what is
 * there already breaks the rule (a NUL, bytes that are not UTF-8), but a
 * prefix of a valid header never is (checked by the caller). */
static gboolean
verdict_allowed (const uint8_t *data,
                 size_t         size,
                 int            ret)
{
  size_t name_len, have;
  gboolean bad_so_far;

  if (size < 1)
    return ret == 0;
  name_len = data[0];
  if (name_len == 0)
    return ret == -1;
  have = MIN (size - 1, name_len);
  bad_so_far = memchr (data + 1, 0, have) != NULL ||
               !g_utf8_validate ((const char *) data + 1, have, NULL);
  if (size < 1 + name_len)
    return ret == 0 || (ret == -1 && bad_so_far);
  return ret == (bad_so_far ? -1 : 1);
}

static int
parse_checked (const uint8_t *data,
               size_t         size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *protocol = NULL;
  gsize consumed = 0;
  int ret;

  ret = foctet_stream_header_parse (data, size, &protocol, &consumed, &error);
  if (!verdict_allowed (data, size, ret))
    abort ();

  switch (ret)
    {
    case 1:
      /* A whole header, all inside the input, and a name a stream may be
       * opened with. */
      if (protocol == NULL || error != NULL || consumed != 1 + (gsize) data[0] || consumed > size ||
          strlen (protocol) != consumed - 1 || memcmp (data + 1, protocol, consumed - 1) != 0 ||
          !foctet_protocol_name_validate (protocol, NULL))
        abort ();
      break;
    case 0:
      /* Needs more: the total once the length byte is known (else 1),
       * more than it has, never more than a header can be. */
      if (protocol != NULL || error != NULL || consumed != (size == 0 ? 1 : 1 + (gsize) data[0]) ||
          consumed <= size || consumed > 1 + FOCTET_PROTOCOL_NAME_MAX)
        abort ();
      break;
    case -1:
      if (protocol != NULL || !g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) ||
          !g_utf8_validate (error->message, -1, NULL))
        abort ();
      break;
    default:
      abort ();
    }
  return ret;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  int ret = parse_checked (data, size);

  /* Fed a byte at a time, as a reader does: every prefix of a valid header
   * asks for more, and the header alone, without the data after it, gives
   * the same answer. */
  if (ret == 1)
    {
      size_t header_len = 1 + (size_t) data[0];

      for (size_t i = 0; i < header_len; i++)
        {
          /* An exact-size copy, so that reading past the prefix is caught. */
          g_autofree guint8 *prefix = g_memdup2 (data, i);

          if (parse_checked (prefix, i) != 0)
            abort ();
        }
      {
        g_autofree guint8 *header = g_memdup2 (data, header_len);

        if (parse_checked (header, header_len) != 1)
          abort ();
      }
    }
  return 0;
}

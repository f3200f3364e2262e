/* Fuzz target: the stream header (PROTOCOL §5). */
/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-stream-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *protocol = NULL;
  gsize consumed = 0;
  int ret;

  ret = foctet_stream_header_parse (data, size, &protocol, &consumed, &error);
  switch (ret)
    {
    case 1:
      /* A whole header: 1..255 bytes of UTF-8 without NUL, all inside the input. */
      if (protocol == NULL || error != NULL || consumed != 1 + strlen (protocol) ||
          consumed > size || strlen (protocol) == 0 || strlen (protocol) > 255 ||
          !g_utf8_validate (protocol, -1, NULL) || memcmp (data + 1, protocol, consumed - 1) != 0)
        abort ();
      break;
    case 0:
      /* Needs more: says how much, and that is more than it has. */
      if (protocol != NULL || error != NULL || consumed <= size || consumed > 256)
        abort ();
      break;
    case -1:
      if (protocol != NULL || error == NULL)
        abort ();
      break;
    default:
      abort ();
    }
  return 0;
}

/* Fuzz target: NodeId text (PROTOCOL §1).  Parsing must be the exact
 * inverse of formatting: one text per key.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-node-id.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr(FoctetNodeId) id = NULL;
  g_autofree char *formatted = NULL;
  g_autofree char *lower = NULL;

  id = foctet_node_id_parse (text, NULL);
  if (id == NULL)
    return 0;

  formatted = foctet_node_id_to_string (id);
  lower = g_ascii_strdown (text, -1);
  if (strcmp (formatted, lower) != 0)
    abort ();
  return 0;
}

/* Fuzz target: NodeId text (PROTOCOL §1).  Parsing must be the exact
 * inverse of formatting, one text per key (up to case), and every
 * rejection a FOCTET_ERROR_INVALID_NODE_ID with a one-line message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-node-id.h"
#include "foctet-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_round_trip (const FoctetNodeId *id)
{
  g_autofree char *formatted = foctet_node_id_to_string (id);
  g_autoptr(FoctetNodeId) again = NULL;
  g_autofree char *upper = NULL;
  g_autoptr(FoctetNodeId) again_upper = NULL;

  if (strlen (formatted) != FOCTET_NODE_ID_TEXT_LENGTH)
    abort ();
  for (const char *p = formatted; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !(*p >= '2' && *p <= '7'))
      abort ();
  again = foctet_node_id_parse (formatted, NULL);
  if (again == NULL || !foctet_node_id_equal (id, again) ||
      foctet_node_id_hash (id) != foctet_node_id_hash (again))
    abort ();
  upper = g_ascii_strup (formatted, -1);
  again_upper = foctet_node_id_parse (upper, NULL);
  if (again_upper == NULL || !foctet_node_id_equal (id, again_upper))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr(FoctetNodeId) id = NULL;
  g_autoptr(GError) error = NULL;

  id = foctet_node_id_parse (text, &error);
  if (id == NULL)
    {
      if (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID) ||
          !g_utf8_validate (error->message, -1, NULL) || strchr (error->message, '\n') != NULL)
        abort ();
    }
  else
    {
      g_autofree char *formatted = foctet_node_id_to_string (id);
      g_autofree char *lower = g_ascii_strdown (text, -1);

      /* Accepted text is the key's one text, in either case. */
      if (error != NULL || strcmp (formatted, lower) != 0)
        abort ();
      check_round_trip (id);
    }

  /* The raw bytes as a key: any 32 bytes are a NodeId, and no other length. */
  {
    g_autoptr(FoctetNodeId) raw = foctet_node_id_new_from_data (data, size, NULL);

    if ((raw != NULL) != (size == FOCTET_NODE_ID_SIZE))
      abort ();
    if (raw != NULL)
      {
        gsize len = 0;
        const guint8 *key = foctet_node_id_get_data (raw, &len);

        if (len != FOCTET_NODE_ID_SIZE || memcmp (key, data, len) != 0)
          abort ();
        check_round_trip (raw);
      }
  }
  return 0;
}

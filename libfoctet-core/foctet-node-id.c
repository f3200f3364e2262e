/* foctet-node-id.c: a node's identity, its Ed25519 public key.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-node-id.h"
#include "foctet-base32.h"
#include "foctet-error.h"

struct _FoctetNodeId {
  guint8 key[FOCTET_NODE_ID_SIZE];
};

G_DEFINE_BOXED_TYPE (FoctetNodeId, foctet_node_id, foctet_node_id_copy, foctet_node_id_free)

/**
 * foctet_node_id_new_from_data:
 * @data: (array length=len): the raw Ed25519 public key
 * @len: its length, which must be [const@Foctet.NODE_ID_SIZE]
 * @error: return location for a #GError
 *
 * Makes a NodeId from the [const@Foctet.NODE_ID_SIZE] bytes of an Ed25519 public
 * key, copying them.  Only the length is checked: whether the bytes are a
 * usable key shows when a peer has to prove it holds it.
 *
 * Returns: (transfer full): a new NodeId, or %NULL with
 *   %FOCTET_ERROR_INVALID_NODE_ID
 */
FoctetNodeId *
foctet_node_id_new_from_data (const guint8 *data,
                              gsize         len,
                              GError      **error)
{
  FoctetNodeId *self;

  if (len != FOCTET_NODE_ID_SIZE || data == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID,
                   "NodeId must be %d bytes, got %" G_GSIZE_FORMAT, FOCTET_NODE_ID_SIZE, len);
      return NULL;
    }

  self = g_new (FoctetNodeId, 1);
  memcpy (self->key, data, FOCTET_NODE_ID_SIZE);
  return self;
}

/**
 * foctet_node_id_new_from_bytes:
 * @bytes: the raw Ed25519 public key
 * @error: return location for a #GError
 *
 * Makes a NodeId from @bytes, as [ctor@Foctet.NodeId.new_from_data] does; the
 * bytes are copied, @bytes is not kept.
 *
 * Returns: (transfer full): a new NodeId, or %NULL with
 *   %FOCTET_ERROR_INVALID_NODE_ID
 */
FoctetNodeId *
foctet_node_id_new_from_bytes (GBytes  *bytes,
                               GError **error)
{
  gsize len = 0;
  const guint8 *data;

  g_return_val_if_fail (bytes != NULL, NULL);

  data = g_bytes_get_data (bytes, &len);
  return foctet_node_id_new_from_data (data, len, error);
}

/**
 * foctet_node_id_parse:
 * @text: a NodeId in text form: 52 characters of base32, either case
 * @error: return location for a #GError
 *
 * Parses the text form of PROTOCOL §1.  Anything else — another length,
 * a character outside the base32 alphabet, or a last character whose
 * unused bits are not zero — fails with %FOCTET_ERROR_INVALID_NODE_ID.
 *
 * Returns: (transfer full): the NodeId, or %NULL
 */
FoctetNodeId *
foctet_node_id_parse (const char  *text,
                      GError     **error)
{
  g_autofree guint8 *raw = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize len, raw_len = 0;

  g_return_val_if_fail (text != NULL, NULL);

  len = strlen (text);
  if (len != FOCTET_NODE_ID_TEXT_LENGTH)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID,
                   "NodeId must be %d characters, got %" G_GSIZE_FORMAT,
                   FOCTET_NODE_ID_TEXT_LENGTH, len);
      return NULL;
    }

  raw = foctet_base32_decode (text, len, &raw_len, &local_error);
  if (raw == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID,
                   "Invalid NodeId: %s", local_error->message);
      return NULL;
    }
  return foctet_node_id_new_from_data (raw, raw_len, error);
}

/**
 * foctet_node_id_to_string:
 * @self: a [struct@Foctet.NodeId]
 *
 * Formats the NodeId in the text form of PROTOCOL §1, the one
 * [func@Foctet.NodeId.parse] reads back.
 *
 * Returns: (transfer full): the text form: 52 characters of lower-case
 *   base32; free with g_free()
 */
char *
foctet_node_id_to_string (const FoctetNodeId *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return foctet_base32_encode (self->key, FOCTET_NODE_ID_SIZE);
}

/**
 * foctet_node_id_get_data:
 * @self: a [struct@Foctet.NodeId]
 * @len: (out) (optional): return location for the length, always
 *   [const@Foctet.NODE_ID_SIZE]
 *
 * Gets the raw Ed25519 public key the NodeId is, without copying it.
 *
 * Returns: (array length=len) (transfer none): the raw public key, owned
 *   by @self
 */
const guint8 *
foctet_node_id_get_data (const FoctetNodeId *self,
                         gsize              *len)
{
  g_return_val_if_fail (self != NULL, NULL);

  if (len != NULL)
    *len = FOCTET_NODE_ID_SIZE;
  return self->key;
}

/**
 * foctet_node_id_get_bytes:
 * @self: a [struct@Foctet.NodeId]
 *
 * Gets a copy of the raw Ed25519 public key the NodeId is, as #GBytes of
 * [const@Foctet.NODE_ID_SIZE] bytes.
 *
 * Returns: (transfer full): the raw public key
 */
GBytes *
foctet_node_id_get_bytes (const FoctetNodeId *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return g_bytes_new (self->key, FOCTET_NODE_ID_SIZE);
}

/**
 * foctet_node_id_equal:
 * @a: (type FoctetNodeId): a [struct@Foctet.NodeId]
 * @b: (type FoctetNodeId): another
 *
 * Compares two NodeIds by their keys.  Its signature fits #GEqualFunc,
 * to key a #GHashTable with [method@Foctet.NodeId.hash].
 *
 * Returns: %TRUE if both name the same node
 */
gboolean
foctet_node_id_equal (gconstpointer a,
                      gconstpointer b)
{
  const FoctetNodeId *x = a, *y = b;

  g_return_val_if_fail (x != NULL && y != NULL, FALSE);

  return memcmp (x->key, y->key, FOCTET_NODE_ID_SIZE) == 0;
}

/**
 * foctet_node_id_hash:
 * @self: (type FoctetNodeId): a [struct@Foctet.NodeId]
 *
 * Hashes a NodeId from all of its key.  Its signature fits #GHashFunc,
 * to key a #GHashTable with [method@Foctet.NodeId.equal].
 *
 * Returns: a hash for #GHashTable
 */
guint
foctet_node_id_hash (gconstpointer self)
{
  const FoctetNodeId *id = self;
  guint32 hash = 0;

  g_return_val_if_fail (id != NULL, 0);

  /* Honest keys are uniformly random already; folding in every byte means
   * NodeIds that share a prefix (which anyone can write down) still
   * spread out. */
  for (guint i = 0; i < FOCTET_NODE_ID_SIZE; i += 4)
    {
      guint32 word;

      memcpy (&word, id->key + i, sizeof word);
      hash = (hash ^ word) * 0x9e3779b1u;
    }
  return hash;
}

/**
 * foctet_node_id_copy:
 * @self: a [struct@Foctet.NodeId]
 *
 * Copies a NodeId.
 *
 * Returns: (transfer full): a copy; free it with [method@Foctet.NodeId.free]
 */
FoctetNodeId *
foctet_node_id_copy (const FoctetNodeId *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return g_memdup2 (self, sizeof *self);
}

/**
 * foctet_node_id_free:
 * @self: a [struct@Foctet.NodeId]
 *
 * Frees @self.
 */
void
foctet_node_id_free (FoctetNodeId *self)
{
  g_free (self);
}

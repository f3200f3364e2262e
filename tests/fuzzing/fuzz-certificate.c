/* Fuzz target: the peer-certificate check of PROTOCOL §2, on the input as
 * one DER certificate and split in two as a two-certificate chain (which
 * must always be refused: a peer presents exactly one).  Nothing may
 * crash; every refusal is a FOCTET_ERROR with a one-line message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-identity.h"
#include "foctet-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_refusal (const FoctetNodeId *peer,
               const GError       *error)
{
  if (peer != NULL || error == NULL || error->domain != FOCTET_ERROR ||
      (error->code != FOCTET_ERROR_BAD_CERTIFICATE && error->code != FOCTET_ERROR_NODE_ID_MISMATCH &&
       error->code != FOCTET_ERROR_FAILED) ||
      !g_utf8_validate (error->message, -1, NULL) || strchr (error->message, '\n') != NULL)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) whole = g_bytes_new (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;

  peer = foctet_identity_verify_peer (&whole, 1, NULL, &error);
  if (peer == NULL)
    check_refusal (peer, error);
  else
    {
      /* Accepted once: accepted again with itself expected, and refused as
       * a mismatch when another node is expected. */
      g_autoptr(FoctetNodeId) again = foctet_identity_verify_peer (&whole, 1, peer, NULL);
      guint8 other_key[FOCTET_NODE_ID_SIZE];
      g_autoptr(FoctetNodeId) other = NULL;
      g_autoptr(FoctetNodeId) mismatch = NULL;
      g_autoptr(GError) mismatch_error = NULL;

      if (error != NULL || again == NULL || !foctet_node_id_equal (again, peer))
        abort ();
      memcpy (other_key, foctet_node_id_get_data (peer, NULL), sizeof other_key);
      other_key[0] ^= 1;
      other = foctet_node_id_new_from_data (other_key, sizeof other_key, NULL);
      mismatch = foctet_identity_verify_peer (&whole, 1, other, &mismatch_error);
      check_refusal (mismatch, mismatch_error);
      if (!g_error_matches (mismatch_error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH))
        abort ();
    }

  {
    g_autoptr(GBytes) first = g_bytes_new (data, size / 2);
    g_autoptr(GBytes) second = g_bytes_new (data + size / 2, size - size / 2);
    GBytes *chain[] = { first, second };
    g_autoptr(GError) chain_error = NULL;
    g_autoptr(FoctetNodeId) none = foctet_identity_verify_peer (chain, 2, NULL, &chain_error);

    check_refusal (none, chain_error);
    /* Each half alone must not crash either. */
    for (guint i = 0; i < G_N_ELEMENTS (chain); i++)
      {
        g_autoptr(GError) half_error = NULL;
        g_autoptr(FoctetNodeId) half = foctet_identity_verify_peer (&chain[i], 1, NULL, &half_error);

        if (half == NULL)
          check_refusal (half, half_error);
      }
  }
  return 0;
}

/* Fuzz target: the peer-certificate check of PROTOCOL §2, on one
 * certificate and on the input split into a two-certificate chain.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "foctet-identity.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) whole = g_bytes_new (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;

  peer = foctet_identity_verify_peer (&whole, 1, NULL, &error);
  if ((peer == NULL) == (error == NULL))
    abort ();
  if (peer != NULL)
    {
      /* Accepted once: accepted with itself pinned, too. */
      g_autoptr(FoctetNodeId) again = foctet_identity_verify_peer (&whole, 1, peer, NULL);
      if (again == NULL || !foctet_node_id_equal (again, peer))
        abort ();
    }

  {
    g_autoptr(GBytes) first = g_bytes_new (data, size / 2);
    g_autoptr(GBytes) second = g_bytes_new (data + size / 2, size - size / 2);
    GBytes *chain[] = { first, second };
    g_autoptr(GError) chain_error = NULL;
    g_autoptr(FoctetNodeId) none = foctet_identity_verify_peer (chain, 2, NULL, &chain_error);

    if (none != NULL || chain_error == NULL)
      abort ();
  }
  return 0;
}

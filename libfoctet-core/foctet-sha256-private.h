/* foctet-sha256-private.h: SHA-256 through GnuTLS, in GChecksum's shape.
 *
 * GnuTLS (nettle) uses the CPU's SHA extensions where there are any:
 * here about five times GChecksum's speed, which is what a file transfer
 * hashing every byte on both sides runs at otherwise.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <gnutls/crypto.h>

#define FOCTET_SHA256_SIZE 32

typedef struct {
  gnutls_hash_hd_t hd;
} FoctetSha256;

static inline FoctetSha256 *
foctet_sha256_new (void)
{
  FoctetSha256 *self = g_new0 (FoctetSha256, 1);

  if (gnutls_hash_init (&self->hd, GNUTLS_DIG_SHA256) < 0)
    g_error ("GnuTLS has no SHA-256");
  return self;
}

static inline void
foctet_sha256_update (FoctetSha256 *self,
                      const void   *data,
                      gsize         len)
{
  gnutls_hash (self->hd, data, len);
}

/* The digest of everything since the last reset; starts over. */
static inline void
foctet_sha256_get_digest (FoctetSha256 *self,
                          guint8        digest[FOCTET_SHA256_SIZE])
{
  gnutls_hash_output (self->hd, digest);
}

static inline void
foctet_sha256_reset (FoctetSha256 *self)
{
  guint8 discarded[FOCTET_SHA256_SIZE];

  gnutls_hash_output (self->hd, discarded);
}

static inline void
foctet_sha256_free (FoctetSha256 *self)
{
  gnutls_hash_deinit (self->hd, NULL);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetSha256, foctet_sha256_free)

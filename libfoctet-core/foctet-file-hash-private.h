/* foctet-file-hash-private.h: the hash of a transferred file's content,
 * BLAKE3 (256 bits), in GChecksum's shape.
 *
 * BLAKE3 rather than SHA-256: a transfer hashes every byte on both sides
 * (the sender before it offers a file, the receiver as the bytes arrive),
 * and on one core BLAKE3 runs at several times SHA-256's speed even where
 * the CPU has SHA extensions (vector instructions, picked at run time).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <blake3.h>

#define FOCTET_FILE_HASH_SIZE BLAKE3_OUT_LEN

G_STATIC_ASSERT (FOCTET_FILE_HASH_SIZE == 32);

typedef struct {
  blake3_hasher hasher;
} FoctetFileHash;

/* Starts @self, e.g. one on the stack, empty. */
static inline void
foctet_file_hash_init (FoctetFileHash *self)
{
  blake3_hasher_init (&self->hasher);
}

static inline FoctetFileHash *
foctet_file_hash_new (void)
{
  FoctetFileHash *self = g_new (FoctetFileHash, 1);

  foctet_file_hash_init (self);
  return self;
}

static inline void
foctet_file_hash_update (FoctetFileHash *self,
                         const void     *data,
                         gsize           len)
{
  blake3_hasher_update (&self->hasher, data, len);
}

/* The digest of everything since the last reset; does not start over. */
static inline void
foctet_file_hash_get_digest (FoctetFileHash *self,
                             guint8          digest[FOCTET_FILE_HASH_SIZE])
{
  blake3_hasher_finalize (&self->hasher, digest, FOCTET_FILE_HASH_SIZE);
}

static inline void
foctet_file_hash_reset (FoctetFileHash *self)
{
  blake3_hasher_reset (&self->hasher);
}

static inline void
foctet_file_hash_free (FoctetFileHash *self)
{
  g_free (self);
}

/* The digest of @len bytes at @data, in one call. */
static inline void
foctet_file_hash_compute (const void *data,
                          gsize       len,
                          guint8      digest[FOCTET_FILE_HASH_SIZE])
{
  FoctetFileHash hash;

  foctet_file_hash_init (&hash);
  foctet_file_hash_update (&hash, data, len);
  foctet_file_hash_get_digest (&hash, digest);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetFileHash, foctet_file_hash_free)

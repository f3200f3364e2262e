/* netns-data.h: the byte streams the integrity check sends — seeded
 * pseudo-random bytes, or a marker repeated, for looking for it on the
 * wire — the same in the sender, the receiver and the test that checks
 * both.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/* The integrity protocol: the opener writes a header of three big-endian
 * 64-bit numbers (upload length, download length, seed), then the upload
 * bytes, then closes its write side; the acceptor reads them all, then
 * answers with the download bytes and closes.  Upload bytes are the
 * stream of the seed, download bytes that of seed + 1. */
#define NETNS_INTEGRITY_PROTOCOL "foctet-test/netns-integrity/1"
#define NETNS_INTEGRITY_HEADER_SIZE 24

/* Plain ASCII that no ciphertext contains by chance. */
#define NETNS_MARKER "FOCTET-PLAINTEXT-MARKER-"

typedef struct {
  guint64 state;
  guint64 word;
  guint used;                    /* bytes of word already handed out */
  gboolean marker;               /* NETNS_MARKER over and over instead */
  guint64 offset;                /* of the marker stream */
} NetnsData;

static inline void
netns_data_init (NetnsData *data,
                 guint64    seed)
{
  data->state = seed;
  data->used = 8;
  data->marker = FALSE;
}

static inline void
netns_data_init_marker (NetnsData *data)
{
  data->marker = TRUE;
  data->offset = 0;
}

/* splitmix64 */
static inline guint64
netns_data_next_word (NetnsData *data)
{
  guint64 z = (data->state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static inline void
netns_data_fill (NetnsData *data,
                 guint8    *buf,
                 gsize      len)
{
  if (data->marker)
    {
      for (gsize i = 0; i < len; i++)
        buf[i] = NETNS_MARKER[data->offset++ % (sizeof NETNS_MARKER - 1)];
      return;
    }
  for (gsize i = 0; i < len; i++)
    {
      if (data->used == 8)
        {
          data->word = netns_data_next_word (data);
          data->used = 0;
        }
      buf[i] = (guint8) (data->word >> (8 * data->used++));
    }
}

/* The SHA-256 (hex) of the next @len bytes of @data. */
static inline char *
netns_data_sha256_of (NetnsData *data,
                      guint64    len)
{
  GChecksum *checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 buf[16384];
  char *hex;

  while (len > 0)
    {
      gsize n = MIN (len, sizeof buf);

      netns_data_fill (data, buf, n);
      g_checksum_update (checksum, buf, n);
      len -= n;
    }
  hex = g_strdup (g_checksum_get_string (checksum));
  g_checksum_free (checksum);
  return hex;
}

/* The SHA-256 (hex) of the first @len bytes of the stream of @seed. */
static inline char *
netns_data_sha256 (guint64 seed,
                   guint64 len)
{
  NetnsData data;

  netns_data_init (&data, seed);
  return netns_data_sha256_of (&data, len);
}

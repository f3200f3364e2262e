/* test-transfer-wire.c: the wire format of foctet/transfer/1
 * (docs/protocol.md, "File transfer") — the exact bytes of each message,
 * round trips, every rule a message can break with the error that says
 * so, parsing a byte at a time, the path rules on good and evil paths,
 * building manifests (order, duplicates, files under files, limits),
 * checking GETs and DATA against each other, the ticket's offer, and the
 * one-message reader and writer over memory streams and sockets (the raw
 * bytes after a DATA stay unread).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-file-hash-private.h"
#include "foctet-transfer-wire.h"
#include "foctet-error.h"
#include "test-utils.h"
#include "test-wire.h"

#define TIMEOUT 30

FOCTET_TEST_WIRE_DEFINE (wire, transfer, FoctetTransferMessage, TIMEOUT, TRUE);

static const guint8 *
digest_of (guint8 seed)
{
  static guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];

  for (guint i = 0; i < sizeof digest; i++)
    digest[i] = (guint8) (seed + i);
  return digest;
}

static GBytes *
secret_of (guint8 seed)
{
  guint8 secret[FOCTET_TRANSFER_SECRET_SIZE];

  for (guint i = 0; i < sizeof secret; i++)
    secret[i] = (guint8) (seed * 7 + i);
  return g_bytes_new (secret, sizeof secret);
}

/* @n components of @len bytes each ('a', 'b', ...), joined by "/", then
 * "/" and a last component of @last_len bytes if it is not 0. */
static char *
path_of (guint n,
         guint len,
         guint last_len)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (s, '/');
      for (guint j = 0; j < len; j++)
        g_string_append_c (s, 'a' + i % 26);
    }
  if (last_len > 0)
    {
      if (n > 0)
        g_string_append_c (s, '/');
      for (guint j = 0; j < last_len; j++)
        g_string_append_c (s, 'z');
    }
  return g_string_free (s, FALSE);
}

/* A small manifest: a directory, files in it and under a subdirectory,
 * an empty file and an empty directory. */
static FoctetTransferManifest *
sample_manifest (void)
{
  FoctetTransferManifest *manifest = foctet_transfer_manifest_new ();
  GError *error = NULL;

  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "photos", 0755, &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "photos/a.jpg", 0644, 1000, digest_of (1), &error));
  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "photos/2024", 0700, &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "photos/2024/b c.jpg", 0600,
                                                    G_GUINT64_CONSTANT (5000000000), digest_of (2), &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "photos/empty", 0444, 0, digest_of (3), &error));
  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "photos/nothing", 0, &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "run.sh", 0777, 12, digest_of (4), &error));
  g_assert_no_error (error);
  return manifest;
}

static void
assert_same_manifest (FoctetTransferManifest *a,
                      FoctetTransferManifest *b)
{
  g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (a), ==, foctet_transfer_manifest_get_n_entries (b));
  g_assert_cmpuint (foctet_transfer_manifest_get_total_size (a), ==, foctet_transfer_manifest_get_total_size (b));
  for (guint32 i = 0; i < foctet_transfer_manifest_get_n_entries (a); i++)
    {
      const FoctetTransferEntry *x = foctet_transfer_manifest_get_entry (a, i);
      const FoctetTransferEntry *y = foctet_transfer_manifest_get_entry (b, i);

      g_assert_cmpint (x->kind, ==, y->kind);
      g_assert_cmpuint (x->mode, ==, y->mode);
      g_assert_cmpuint (x->size, ==, y->size);
      g_assert_cmpmem (x->digest, sizeof x->digest, y->digest, sizeof y->digest);
      g_assert_cmpstr (x->path, ==, y->path);
    }
}

/* @error's message must contain @what. */
static void
assert_says (const GError *error,
             const char   *what)
{
  if (strstr (error->message, what) == NULL)
    g_error ("“%s” does not say “%s”", error->message, what);
}

static void
assert_encoding (const FoctetTransferMessage *message,
                 const guint8                *expected,
                 gsize                        expected_len)
{
  foctet_test_wire_assert_encoding (&wire, message, expected, expected_len);
}

static FoctetTransferMessage *
parse_exact (GBytes *bytes)
{
  return foctet_test_wire_parse_exact (&wire, bytes);
}

static FoctetTransferMessage *
round_trip (const FoctetTransferMessage *message)
{
  g_autoptr(GBytes) bytes = foctet_transfer_message_encode (message);

  return parse_exact (bytes);
}

static void
test_encode_layout (void)
{
  g_autoptr(GBytes) secret = secret_of (1);
  g_autoptr(FoctetTransferMessage) hello = foctet_transfer_message_new_hello (secret);
  g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (3, G_GUINT64_CONSTANT (0x100000000), 1024);
  g_autoptr(FoctetTransferMessage) data = foctet_transfer_message_new_data (0x01020304, 5, 6);
  g_autoptr(FoctetTransferMessage) done = foctet_transfer_message_new_done (5);
  g_autoptr(FoctetTransferMessage) done_ack = foctet_transfer_message_new_done_ack ();
  g_autoptr(FoctetTransferMessage) error_message = foctet_transfer_message_new_error (2, "no");
  g_autoptr(FoctetTransferMessage) abort_message = foctet_transfer_message_new_abort (8, NULL);
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) manifest_message = NULL;
  g_autoptr(GError) error = NULL;
  guint8 expected[128];
  guint8 sha[32];

  static const guint8 get_bytes[] = { 3, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,
                                      0, 0, 0, 0, 0, 0, 4, 0 };
  static const guint8 data_bytes[] = { 4, 0, 0, 0, 20, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5,
                                       0, 0, 0, 0, 0, 0, 0, 6 };
  static const guint8 done_bytes[] = { 5, 0, 0, 0, 4, 0, 0, 0, 5 };
  static const guint8 done_ack_bytes[] = { 6, 0, 0, 0, 0 };
  static const guint8 error_bytes[] = { 7, 0, 0, 0, 4, 0, 2, 'n', 'o' };
  static const guint8 abort_bytes[] = { 8, 0, 0, 0, 2, 0, 8 };

  /* HELLO: the secret, then four zero bytes of flags. */
  expected[0] = 1;
  expected[1] = expected[2] = expected[3] = 0;
  expected[4] = 36;
  memcpy (expected + 5, g_bytes_get_data (secret, NULL), 32);
  memset (expected + 37, 0, 4);
  assert_encoding (hello, expected, 41);

  assert_encoding (get, get_bytes, sizeof get_bytes);
  assert_encoding (data, data_bytes, sizeof data_bytes);
  /* The same, without allocating. */
  {
    guint8 range[FOCTET_TRANSFER_RANGE_MESSAGE_SIZE];

    g_assert_cmpuint (sizeof range, ==, sizeof get_bytes);
    foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_GET, 3, G_GUINT64_CONSTANT (0x100000000), 1024,
                                          range);
    g_assert_cmpmem (range, sizeof range, get_bytes, sizeof get_bytes);
    foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_DATA, 0x01020304, 5, 6, range);
    g_assert_cmpmem (range, sizeof range, data_bytes, sizeof data_bytes);
  }
  assert_encoding (done, done_bytes, sizeof done_bytes);
  assert_encoding (done_ack, done_ack_bytes, sizeof done_ack_bytes);
  assert_encoding (error_message, error_bytes, sizeof error_bytes);
  assert_encoding (abort_message, abort_bytes, sizeof abort_bytes);

  /* MANIFEST: directory "d" 0755, file "d/f" 0644 of 3 bytes. */
  memset (sha, 0xab, sizeof sha);
  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "d", 0755, &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "d/f", 0644, 3, sha, &error));
  g_assert_no_error (error);
  manifest_message = foctet_transfer_message_new_manifest (manifest);
  {
    static const guint8 head[] = {
      2, 0, 0, 0, 78,                 /* type, length */
      0, 0, 0, 2,                     /* entry count */
      0, 0, 0, 0, 0, 0, 0, 3,         /* total size */
      0, 0, 0, 0x01, 0xed,            /* directory, 0755 */
      0, 0, 0, 0, 0, 0, 0, 0,         /* size 0, no digest */
      0, 1, 'd',
      1, 0, 0, 0x01, 0xa4,            /* file, 0644 */
      0, 0, 0, 0, 0, 0, 0, 3,
    };
    gsize n = 0;

    memcpy (expected, head, sizeof head);
    n = sizeof head;
    memset (expected + n, 0xab, 32);
    n += 32;
    memcpy (expected + n, "\x00\x03" "d/f", 5);
    n += 5;
    g_assert_cmpuint (n, ==, 5 + 78);
    assert_encoding (manifest_message, expected, n);
  }
}

static void
test_round_trip (void)
{
  static const guint32 indices[] = { 0, 1, 999999, G_MAXUINT32 };
  static const guint64 offsets[] = { 0, 1, G_GUINT64_CONSTANT (1) << 32, FOCTET_TRANSFER_MAX_TOTAL_SIZE };
  static const guint16 codes[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x1234, G_MAXUINT16 };
  static const char * const texts[] = { "", "busy", "déjà vu — ☃ 𝄞", "tab\tand\nnewline" };
  g_autoptr(GString) long_text = g_string_new (NULL);

  for (guint seed = 0; seed < 3; seed++)
    {
      g_autoptr(GBytes) secret = secret_of (seed);
      g_autoptr(FoctetTransferMessage) in = foctet_transfer_message_new_hello (secret);
      g_autoptr(FoctetTransferMessage) out = round_trip (in);

      g_assert_cmpint (out->type, ==, FOCTET_TRANSFER_MESSAGE_HELLO);
      g_assert_true (g_bytes_equal (out->secret, secret));
      g_assert_null (out->manifest);
      g_assert_null (out->error_text);
    }

  for (guint i = 0; i < G_N_ELEMENTS (indices); i++)
    for (guint j = 0; j < G_N_ELEMENTS (offsets); j++)
      for (guint type = FOCTET_TRANSFER_MESSAGE_GET; type <= FOCTET_TRANSFER_MESSAGE_DATA; type++)
        {
          /* The longest range that fits at this offset, and the shortest. */
          guint64 lengths[] = { 0, FOCTET_TRANSFER_MAX_TOTAL_SIZE - offsets[j] };

          for (guint k = 0; k < G_N_ELEMENTS (lengths); k++)
            {
              g_autoptr(FoctetTransferMessage) in =
                type == FOCTET_TRANSFER_MESSAGE_GET
                  ? foctet_transfer_message_new_get (indices[i], offsets[j], lengths[k])
                  : foctet_transfer_message_new_data (indices[i], offsets[j], lengths[k]);
              g_autoptr(FoctetTransferMessage) out = round_trip (in);

              g_assert_cmpint (out->type, ==, type);
              g_assert_cmpuint (out->index, ==, indices[i]);
              g_assert_cmpuint (out->offset, ==, offsets[j]);
              g_assert_cmpuint (out->length, ==, lengths[k]);
            }
        }

  for (guint i = 0; i < G_N_ELEMENTS (indices); i++)
    {
      g_autoptr(FoctetTransferMessage) in = foctet_transfer_message_new_done (indices[i]);
      g_autoptr(FoctetTransferMessage) out = round_trip (in);

      g_assert_cmpint (out->type, ==, FOCTET_TRANSFER_MESSAGE_DONE);
      g_assert_cmpuint (out->count, ==, indices[i]);
    }
  {
    g_autoptr(FoctetTransferMessage) in = foctet_transfer_message_new_done_ack ();
    g_autoptr(FoctetTransferMessage) out = round_trip (in);

    g_assert_cmpint (out->type, ==, FOCTET_TRANSFER_MESSAGE_DONE_ACK);
  }

  /* The longest text fills the longest body. */
  while (long_text->len < FOCTET_TRANSFER_TEXT_MAX)
    g_string_append_c (long_text, 'x');
  for (guint type = FOCTET_TRANSFER_MESSAGE_ERROR; type <= FOCTET_TRANSFER_MESSAGE_ABORT; type++)
    for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
      for (guint j = 0; j <= G_N_ELEMENTS (texts); j++)
        {
          const char *text = j < G_N_ELEMENTS (texts) ? texts[j] : long_text->str;
          g_autoptr(FoctetTransferMessage) in =
            type == FOCTET_TRANSFER_MESSAGE_ERROR ? foctet_transfer_message_new_error (codes[i], text)
                                                  : foctet_transfer_message_new_abort (codes[i], text);
          g_autoptr(GBytes) bytes = foctet_transfer_message_encode (in);
          g_autoptr(FoctetTransferMessage) out = parse_exact (bytes);

          g_assert_cmpint (out->type, ==, type);
          g_assert_cmpuint (out->error_code, ==, codes[i]);
          g_assert_cmpstr (out->error_text, ==, text);
          if (text == long_text->str)
            g_assert_cmpuint (g_bytes_get_size (bytes), ==, 5 + 2 + FOCTET_TRANSFER_TEXT_MAX);
        }

  /* Manifests: empty, the sample, and one of the longest paths. */
  {
    g_autoptr(FoctetTransferManifest) empty = foctet_transfer_manifest_new ();
    g_autoptr(FoctetTransferMessage) in = foctet_transfer_message_new_manifest (empty);
    g_autoptr(FoctetTransferMessage) out = round_trip (in);

    g_assert_cmpint (out->type, ==, FOCTET_TRANSFER_MESSAGE_MANIFEST);
    g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (out->manifest), ==, 0);
    g_assert_cmpuint (foctet_transfer_manifest_get_total_size (out->manifest), ==, 0);
  }
  {
    g_autoptr(FoctetTransferManifest) sample = sample_manifest ();
    g_autoptr(FoctetTransferMessage) in = foctet_transfer_message_new_manifest (sample);
    g_autoptr(FoctetTransferMessage) out = round_trip (in);
    const FoctetTransferEntry *entry;
    guint32 index = 99;

    assert_same_manifest (sample, out->manifest);
    g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (out->manifest), ==, 7);
    g_assert_cmpuint (foctet_transfer_manifest_get_total_size (out->manifest), ==,
                      G_GUINT64_CONSTANT (5000001012));
    entry = foctet_transfer_manifest_get_entry (out->manifest, 3);
    g_assert_cmpstr (entry->path, ==, "photos/2024/b c.jpg");
    g_assert_cmpint (entry->kind, ==, FOCTET_TRANSFER_ENTRY_FILE);
    g_assert_cmpuint (entry->mode, ==, 0600);
    g_assert_cmpuint (entry->size, ==, G_GUINT64_CONSTANT (5000000000));
    g_assert_cmpmem (entry->digest, 32, digest_of (2), 32);
    entry = foctet_transfer_manifest_get_entry (out->manifest, 5);
    g_assert_cmpint (entry->kind, ==, FOCTET_TRANSFER_ENTRY_DIRECTORY);
    g_assert_cmpuint (entry->mode, ==, 0);
    g_assert_cmpuint (entry->size, ==, 0);
    for (guint i = 0; i < 32; i++)
      g_assert_cmpuint (entry->digest[i], ==, 0);
    g_assert_true (foctet_transfer_manifest_lookup (out->manifest, "photos/empty", &index));
    g_assert_cmpuint (index, ==, 4);
    g_assert_true (foctet_transfer_manifest_lookup (out->manifest, "run.sh", NULL));
    g_assert_false (foctet_transfer_manifest_lookup (out->manifest, "photos/", &index));
    g_assert_false (foctet_transfer_manifest_lookup (out->manifest, "nope", &index));
    g_assert_cmpuint (index, ==, 4);
  }
  {
    g_autoptr(FoctetTransferManifest) deep = foctet_transfer_manifest_new ();
    g_autoptr(FoctetTransferMessage) in = NULL;
    g_autoptr(FoctetTransferMessage) out = NULL;
    g_autoptr(GError) error = NULL;

    /* 17 components of 240 bytes: 4096 bytes; each directory first. */
    for (guint n = 1; n <= 17; n++)
      {
        g_autofree char *path = path_of (n, 240, 0);

        if (n < 17)
          g_assert_true (foctet_transfer_manifest_add_directory (deep, path, 0755, &error));
        else
          {
            g_assert_cmpuint (strlen (path), ==, FOCTET_TRANSFER_PATH_MAX);
            g_assert_true (foctet_transfer_manifest_add_file (deep, path, 0644, 7, digest_of (9), &error));
          }
        g_assert_no_error (error);
      }
    in = foctet_transfer_message_new_manifest (deep);
    out = round_trip (in);
    assert_same_manifest (deep, out->manifest);
  }
}

static void
assert_rejected_full (const guint8 *data,
                      gsize         len,
                      const char   *what,
                      const char   *what2)
{
  foctet_test_wire_assert_rejected (&wire, data, len, what, what2);
}

static void
assert_rejected (const guint8 *data,
                 gsize         len,
                 const char   *what)
{
  assert_rejected_full (data, len, what, NULL);
}

static void
test_reject_type (void)
{
  static const guint8 zero[] = { 0 };
  static const guint8 nine[] = { 9, 0, 0, 0, 0 };
  static const guint8 high[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 1 };
  static const guint8 tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };

  assert_rejected (zero, sizeof zero, "unknown transfer message type 0x00");
  assert_rejected (nine, sizeof nine, "unknown transfer message type 0x09");
  assert_rejected (high, sizeof high, "unknown transfer message type 0xff");
  /* A TLS ClientHello where a message belongs. */
  assert_rejected (tls, sizeof tls, "unknown transfer message type 0x16");
}

static void
test_reject_length (void)
{
  /* Refused on the header alone: the body need not be there. */
  static const struct {
    guint8 header[5];
    const char *what;
  } cases[] = {
    { { 2, 0xff, 0xff, 0xff, 0xff }, "transfer MANIFEST message has length 4294967295; the most is 67108864" },
    { { 2, 0x04, 0x00, 0x00, 0x01 }, "transfer MANIFEST message has length 67108865; the most is 67108864" },
    { { 2, 0, 0, 0, 11 }, "transfer MANIFEST message has a 11-byte body; the entry count and the total size alone take 12" },
    { { 2, 0, 0, 0, 0 }, "transfer MANIFEST message has a 0-byte body" },
    { { 1, 0, 0, 0, 35 }, "transfer HELLO message has a 35-byte body; it must be 36 bytes (the 32-byte secret and the flags)" },
    { { 1, 0, 0, 0, 37 }, "transfer HELLO message has a 37-byte body; it must be 36 bytes" },
    { { 1, 0x10, 0, 0, 0 }, "transfer HELLO message has a 268435456-byte body; it must be 36 bytes" },
    { { 3, 0, 0, 0, 19 }, "transfer GET message has a 19-byte body; it must be 20 bytes (entry index, offset and length)" },
    { { 3, 0, 0, 0, 0 }, "transfer GET message has a 0-byte body; it must be 20 bytes" },
    { { 4, 0, 0, 0, 21 }, "transfer DATA message has a 21-byte body; it must be 20 bytes (entry index, offset and length)" },
    { { 5, 0, 0, 0, 8 }, "transfer DONE message has a 8-byte body; it must be 4 bytes (the entry count)" },
    { { 6, 0, 0, 0, 1 }, "transfer DONE_ACK message has a 1-byte body; it must be empty" },
    { { 7, 0, 0, 0x04, 0x03 }, "transfer ERROR message has length 1027; the most is 1026" },
    { { 8, 0xff, 0, 0, 0 }, "transfer ABORT message has length 4278190080; the most is 1026" },
    { { 7, 0, 0, 0, 1 }, "transfer ERROR message has a 1-byte body; the error code alone takes 2" },
    { { 8, 0, 0, 0, 0 }, "transfer ABORT message has a 0-byte body; the error code alone takes 2" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_rejected (cases[i].header, sizeof cases[i].header, cases[i].what);
}

static void
test_reject_fields (void)
{
  guint8 hello[41] = { 1, 0, 0, 0, 36 };
  static const guint8 get_past[] = { 3, 0, 0, 0, 20, 0, 0, 0, 7,
                                     0, 4, 0, 0, 0, 0, 0, 0,       /* 2^50 */
                                     0, 0, 0, 0, 0, 0, 0, 1 };
  static const guint8 data_huge[] = { 4, 0, 0, 0, 20, 0, 0, 0, 1,
                                      0, 0, 0, 0, 0, 0, 0, 1,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const guint8 get_offset[] = { 3, 0, 0, 0, 20, 0, 0, 0, 0,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0, 0, 0, 0, 0, 0, 0, 0 };
  static const guint8 text_nul[] = { 7, 0, 0, 0, 6, 0, 5, 'a', 'b', 0, 'c' };
  static const guint8 text_bad_utf8[] = { 8, 0, 0, 0, 6, 0x01, 0x00, 'a', 0xc3, 0x28, 'c' };
  static const guint8 text_cut_utf8[] = { 7, 0, 0, 0, 4, 0, 9, 'a', 0xe2 };

  hello[40] = 1;
  assert_rejected (hello, sizeof hello,
                   "transfer HELLO message has flags 0x00000001; version 1 defines none, so they must be 0");
  hello[40] = 0;
  hello[37] = 0x80;
  assert_rejected (hello, sizeof hello, "transfer HELLO message has flags 0x80000000");

  assert_rejected (get_past, sizeof get_past,
                   "transfer GET message (entry 7): offset 1125899906842624 + length 1 goes past "
                   "1125899906842624 (2^50), the largest size a file may have");
  assert_rejected (data_huge, sizeof data_huge,
                   "transfer DATA message (entry 1): offset 1 + length 18446744073709551615 goes past");
  assert_rejected (get_offset, sizeof get_offset,
                   "transfer GET message (entry 0): offset 18446744073709551615 + length 0 goes past");

  assert_rejected (text_nul, sizeof text_nul,
                   "transfer ERROR message (code 5): the text contains a NUL byte (at byte 3 of the text)");
  assert_rejected (text_bad_utf8, sizeof text_bad_utf8,
                   "transfer ABORT message (code 256): the text is not valid UTF-8 (at byte 2 of the text)");
  assert_rejected (text_cut_utf8, sizeof text_cut_utf8,
                   "transfer ERROR message (code 9): the text is not valid UTF-8 (at byte 2 of the text)");
}

/* Builds MANIFEST messages byte by byte, entries as given, so that tests
 * can write what the add functions would refuse. */
typedef struct {
  GByteArray *bytes;
} RawManifest;

static RawManifest
raw_manifest (guint32 count,
              guint64 total)
{
  RawManifest raw = { g_byte_array_new () };
  guint8 head[17] = { 2, 0, 0, 0, 0,
                      count >> 24, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff };

  for (guint i = 0; i < 8; i++)
    head[9 + i] = (total >> (56 - 8 * i)) & 0xff;
  g_byte_array_append (raw.bytes, head, sizeof head);
  return raw;
}

static void
raw_entry_full (RawManifest *raw,
                guint8       kind,
                guint32      mode,
                guint64      size,
                const char  *path,
                gsize        path_len,
                guint16      declared_len)
{
  guint8 fixed[13] = { kind, mode >> 24, (mode >> 16) & 0xff, (mode >> 8) & 0xff, mode & 0xff };
  guint8 len[2] = { declared_len >> 8, declared_len & 0xff };

  for (guint i = 0; i < 8; i++)
    fixed[5 + i] = (size >> (56 - 8 * i)) & 0xff;
  g_byte_array_append (raw->bytes, fixed, sizeof fixed);
  if (kind == FOCTET_TRANSFER_ENTRY_FILE)
    g_byte_array_append (raw->bytes, digest_of (kind), 32);
  g_byte_array_append (raw->bytes, len, 2);
  g_byte_array_append (raw->bytes, (const guint8 *) path, path_len);
}

static void
raw_entry (RawManifest *raw,
           guint8       kind,
           guint32      mode,
           guint64      size,
           const char  *path)
{
  raw_entry_full (raw, kind, mode, size, path, strlen (path), strlen (path));
}

/* The message, its length set; frees @raw. */
static GByteArray *
raw_finish (RawManifest *raw)
{
  gsize body = raw->bytes->len - 5;

  raw->bytes->data[1] = (body >> 24) & 0xff;
  raw->bytes->data[2] = (body >> 16) & 0xff;
  raw->bytes->data[3] = (body >> 8) & 0xff;
  raw->bytes->data[4] = body & 0xff;
  return raw->bytes;
}

static void
assert_manifest_rejected (RawManifest *raw,
                          const char  *what,
                          const char  *what2)
{
  g_autoptr(GByteArray) bytes = raw_finish (raw);

  assert_rejected_full (bytes->data, bytes->len, what, what2);
}

static void
assert_manifest_accepted (RawManifest *raw,
                          guint32      n_entries)
{
  g_autoptr(GByteArray) bytes = raw_finish (raw);
  g_autoptr(GBytes) as_bytes = g_bytes_new (bytes->data, bytes->len);
  g_autoptr(FoctetTransferMessage) message = parse_exact (as_bytes);

  g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (message->manifest), ==, n_entries);
}

static void
test_reject_manifest (void)
{
  RawManifest raw;

  /* Counts and sizes over the limits, from the fixed fields alone. */
  raw = raw_manifest (FOCTET_TRANSFER_MAX_ENTRIES + 1, 0);
  assert_manifest_rejected (&raw, "transfer MANIFEST message has entry count 1000001; the most is 1000000", NULL);
  raw = raw_manifest (G_MAXUINT32, 0);
  assert_manifest_rejected (&raw, "transfer MANIFEST message has entry count 4294967295", NULL);
  raw = raw_manifest (1, FOCTET_TRANSFER_MAX_TOTAL_SIZE + 1);
  raw_entry (&raw, 1, 0644, 1, "a");
  assert_manifest_rejected (&raw, "transfer MANIFEST message has total size 1125899906842625; the most is "
                            "1125899906842624 (2^50)", NULL);

  /* The largest total is fine. */
  raw = raw_manifest (2, FOCTET_TRANSFER_MAX_TOTAL_SIZE);
  raw_entry (&raw, 1, 0644, FOCTET_TRANSFER_MAX_TOTAL_SIZE - 1, "a");
  raw_entry (&raw, 1, 0644, 1, "b");
  assert_manifest_accepted (&raw, 2);

  /* Structure. */
  raw = raw_manifest (2, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: the body ends after 1 of the 2 entries its "
                            "entry count announces", NULL);
  raw = raw_manifest (1, 0);
  assert_manifest_rejected (&raw, "the body ends after 0 of the 1 entries", NULL);
  raw = raw_manifest (2, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  raw_entry (&raw, 2, 0755, 0, "b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 1 has kind 2; it must be 0 (directory) or 1 (file)",
                            NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 0xff, 0, 0, "l");
  assert_manifest_rejected (&raw, "entry 0 has kind 255", NULL);
  raw = raw_manifest (1, 0);
  g_byte_array_append (raw.bytes, (const guint8 *) "\x01\x00\x00\x01\xa4\x00\x00\x00\x00\x00\x00\x00\x01" "abc", 16);
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0 (a file) is cut off: its fields before "
                            "the path take 47 bytes, only 16 remain", NULL);
  raw = raw_manifest (1, 0);
  g_byte_array_append (raw.bytes, (const guint8 *) "\x00\x00\x00\x01\xed\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14);
  assert_manifest_rejected (&raw, "entry 0 (a directory) is cut off: its fields before the path take 15 bytes, "
                            "only 14 remain", NULL);
  raw = raw_manifest (1, 0);
  raw_entry_full (&raw, 0, 0755, 0, "abc", 3, 4);
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0: path length 4 runs past the end of the "
                            "body: only 3 bytes remain", NULL);
  raw = raw_manifest (1, 0);
  raw_entry_full (&raw, 0, 0755, 0, "abc", 3, 0xffff);
  assert_manifest_rejected (&raw, "entry 0: path length 65535 runs past the end of the body", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  g_byte_array_append (raw.bytes, (const guint8 *) "xyz", 3);
  assert_manifest_rejected (&raw, "transfer MANIFEST message: 3 bytes after the last of its 1 entries", NULL);
  raw = raw_manifest (0, 0);
  g_byte_array_append (raw.bytes, (const guint8 *) "\x00", 1);
  assert_manifest_rejected (&raw, "1 bytes after the last of its 0 entries", NULL);

  /* Sizes must add up to the total, exactly. */
  raw = raw_manifest (2, 10);
  raw_entry (&raw, 1, 0644, 4, "a");
  raw_entry (&raw, 1, 0644, 5, "b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message has total size 10, but its files add up to 9", NULL);
  raw = raw_manifest (2, 10);
  raw_entry (&raw, 1, 0644, 4, "a");
  raw_entry (&raw, 1, 0644, 7, "b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 1: the files up to here add up to 11 bytes, "
                            "more than the total size 10", NULL);
  raw = raw_manifest (2, 10);
  raw_entry (&raw, 1, 0644, 4, "a");
  raw_entry (&raw, 1, 0644, G_MAXUINT64, "b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 1: “b” (18446744073709551615 bytes) would take "
                            "the total size over 1125899906842624 bytes (2^50)", NULL);

  /* Entries. */
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 0, 0755, 5, "docs");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0: directory “docs” has size 5; "
                            "a directory's size must be 0", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 04755, 0, "run");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0: “run” has mode 04755; only the permission "
                            "bits 0777 may be set", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 0, 040755, 0, "dir");
  assert_manifest_rejected (&raw, "entry 0: “dir” has mode 040755", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0x80000000, 0, "x");
  assert_manifest_rejected (&raw, "“x” has mode 020000000000", NULL);

  raw = raw_manifest (3, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  raw_entry (&raw, 1, 0644, 0, "b");
  raw_entry (&raw, 1, 0644, 0, "a");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 2: “a” is listed twice (entry 0 has the same path)",
                            NULL);
  raw = raw_manifest (3, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  raw_entry (&raw, 0, 0755, 0, "a/b");
  raw_entry (&raw, 0, 0700, 0, "a/b");
  assert_manifest_rejected (&raw, "entry 2: “a/b” is listed twice (entry 1 has the same path)", NULL);

  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0644, 0, "a/b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0: the parent directory of “a/b”, “a”, is not "
                            "listed before it", NULL);
  /* The directory after its contents: the same. */
  raw = raw_manifest (2, 0);
  raw_entry (&raw, 1, 0644, 0, "a/b");
  raw_entry (&raw, 0, 0755, 0, "a");
  assert_manifest_rejected (&raw, "entry 0: the parent directory of “a/b”, “a”, is not listed before it", NULL);
  /* Every ancestor is listed: a grandparent is not enough. */
  raw = raw_manifest (2, 0);
  raw_entry (&raw, 0, 0755, 0, "a");
  raw_entry (&raw, 1, 0644, 0, "a/b/c");
  assert_manifest_rejected (&raw, "entry 1: the parent directory of “a/b/c”, “a/b”, is not listed before it", NULL);
  /* A file under a file. */
  raw = raw_manifest (2, 3);
  raw_entry (&raw, 1, 0644, 3, "a");
  raw_entry (&raw, 1, 0644, 0, "a/b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 1: the parent of “a/b”, “a” (entry 0), is a file, "
                            "not a directory", NULL);
  raw = raw_manifest (3, 0);
  raw_entry (&raw, 0, 0755, 0, "d");
  raw_entry (&raw, 1, 0644, 0, "d/f");
  raw_entry (&raw, 0, 0755, 0, "d/f/g");
  assert_manifest_rejected (&raw, "entry 2: the parent of “d/f/g”, “d/f” (entry 1), is a file", NULL);

  /* Paths: the rules of foctet_transfer_path_validate(), and NUL, which a
   * C string cannot hold. */
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 0, 0755, 0, "a/../b");
  assert_manifest_rejected (&raw, "transfer MANIFEST message: entry 0: invalid path “a/../b”: component 2 is “..”",
                            NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0644, 0, "/etc/passwd");
  assert_manifest_rejected (&raw, "entry 0: invalid path “/etc/passwd”: it is absolute (it starts with “/”)", NULL);
  raw = raw_manifest (1, 0);
  raw_entry_full (&raw, 1, 0644, 0, "a\0b", 3, 3);
  assert_manifest_rejected (&raw, "entry 0: invalid path “a\\000b”: it contains a NUL byte (at byte 2)", NULL);
  raw = raw_manifest (1, 0);
  raw_entry_full (&raw, 1, 0644, 0, "", 0, 0);
  assert_manifest_rejected (&raw, "entry 0: invalid path “”: it is empty", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0644, 0, "\xff\xfe");
  assert_manifest_rejected (&raw, "entry 0: invalid path “\\377\\376”: it is not valid UTF-8 (at byte 1)", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0644, 0, "..\\..\\x");
  assert_manifest_rejected (&raw, "entry 0: invalid path “..\\\\..\\\\x”: it contains a backslash (at byte 3)", NULL);
  raw = raw_manifest (1, 0);
  raw_entry (&raw, 1, 0644, 0, "x\x1b[2J");
  assert_manifest_rejected (&raw, "entry 0: invalid path “x\\033[2J”: it contains the control character 0x1b", NULL);
  {
    g_autofree char *overlong = path_of (17, 240, 1);

    raw = raw_manifest (1, 0);
    raw_entry (&raw, 1, 0644, 0, overlong);
    /* The path is quoted cut short. */
    assert_manifest_rejected (&raw, "…”: it is 4098 bytes long; the most is 4096", "entry 0: invalid path “aaaa");
  }
}

static void
test_path_validate (void)
{
  g_autofree char *c255 = path_of (1, 255, 0);
  g_autofree char *c256 = path_of (1, 256, 0);
  g_autofree char *deep_c256 = path_of (3, 10, 256);
  g_autofree char *p4096 = path_of (17, 240, 0);
  g_autofree char *p4097 = path_of (16, 240, 241);
  g_autofree char *p9000 = path_of (40, 224, 0);
  static const char * const good[] = {
    "a", "a/b/c", "file.txt", ".hidden", "..a", "a..", "...", "a/.b", "dir/..x", ".../x",
    "名前/ファイル.txt", "with space", " ", "a-b_c+d=e,f;g'h\"i", "C:foo", "foctet-part",
    "x.foctet-partial", "x.foctet-part.txt", "x.FOCTET-PART", "🎉/🎉", "a*b?c<d>e|f",
  };
  static const struct {
    const char *path;
    const char *what;
  } evil[] = {
    { "", "Invalid path “”: it is empty" },
    { "/etc/passwd", "Invalid path “/etc/passwd”: it is absolute (it starts with “/”)" },
    { "/", "Invalid path “/”: it is absolute" },
    { "//x", "it is absolute" },
    { "a/../b", "Invalid path “a/../b”: component 2 is “..”" },
    { "../x", "component 1 is “..”" },
    { "..", "Invalid path “..”: component 1 is “..”" },
    { "a/..", "component 2 is “..”" },
    { ".", "Invalid path “.”: component 1 is “.”" },
    { "./a", "component 1 is “.”" },
    { "a/./b", "component 2 is “.”" },
    { "a/.", "component 2 is “.”" },
    { "a//b", "Invalid path “a//b”: component 2 is empty (“//”)" },
    { "a/b//", "it ends with “/”" },
    { "a/", "Invalid path “a/”: it ends with “/”" },
    { "a\\b", "Invalid path “a\\\\b”: it contains a backslash (at byte 2); the only separator is “/”" },
    { "..\\..\\windows", "contains a backslash (at byte 3)" },
    { "a\nb", "Invalid path “a\\nb”: it contains the control character 0x0a (at byte 2)" },
    { "\t", "control character 0x09 (at byte 1)" },
    { "a\x7f", "control character 0x7f (at byte 2)" },
    { "\xff", "Invalid path “\\377”: it is not valid UTF-8 (at byte 1)" },
    { "ok/\xc3", "it is not valid UTF-8 (at byte 4)" },
    { "\xc0\xaf", "it is not valid UTF-8 (at byte 1)" },            /* overlong "/" */
    { "a\xe0\x80\xaf", "it is not valid UTF-8 (at byte 2)" },       /* overlong "/" */
    { "\xed\xa0\x80", "it is not valid UTF-8 (at byte 1)" },        /* a UTF-16 surrogate */
    { "\xf4\x90\x80\x80", "it is not valid UTF-8 (at byte 1)" },    /* above U+10FFFF */
    { "x.foctet-part", "component 1 ends with “.foctet-part”, which receivers reserve for files being fetched" },
    { "d.foctet-part/x", "component 1 ends with “.foctet-part”" },
    { "d/.foctet-part", "component 2 ends with “.foctet-part”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (foctet_transfer_path_validate (good[i], &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (evil); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (foctet_transfer_path_validate (evil[i].path, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_test_message ("%s", error->message);
      assert_says (error, evil[i].what);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_null (strchr (error->message, '\n'));
    }

  /* Lengths at and over the limits. */
  g_assert_true (foctet_transfer_path_validate (c255, NULL));
  g_assert_cmpuint (strlen (p4096), ==, 4096);
  g_assert_true (foctet_transfer_path_validate (p4096, NULL));
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (foctet_transfer_path_validate (c256, &error));
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "component 1 is 256 bytes long; the most is 255"));
    /* The quoted path is cut, at a character boundary. */
    g_assert_nonnull (strstr (error->message, "aaaa…”"));
    g_assert_cmpuint (strlen (error->message), <, 300);
  }
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (foctet_transfer_path_validate (deep_c256, &error));
    g_assert_nonnull (strstr (error->message, "component 4 is 256 bytes long; the most is 255"));
  }
  {
    g_autoptr(GError) error = NULL;

    g_assert_cmpuint (strlen (p4097), ==, 4097);
    g_assert_false (foctet_transfer_path_validate (p4097, &error));
    g_assert_nonnull (strstr (error->message, "it is 4097 bytes long; the most is 4096"));
  }
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (foctet_transfer_path_validate (p9000, &error));
    g_assert_nonnull (strstr (error->message, "it is 8999 bytes long; the most is 4096"));
  }
  {
    /* Cut between the bytes of a character: the quote ends before it. */
    g_autoptr(GString) s = g_string_new ("x");
    g_autoptr(GError) error = NULL;

    while (s->len < 300)
      g_string_append (s, "é");
    g_assert_false (foctet_transfer_path_validate (s->str, &error));
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_assert_nonnull (strstr (error->message, "éé…”: component 1 is 301 bytes long"));
  }
}

static void
test_manifest_build (void)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  static const struct {
    gboolean directory;
    const char *path;
    guint32 mode;
    const char *what;
  } refused[] = {
    { TRUE, "a/../b", 0755, "Manifest entry 3: invalid path “a/../b”: component 2 is “..”" },
    { FALSE, "/etc/shadow", 0644, "Manifest entry 3: invalid path “/etc/shadow”: it is absolute" },
    { FALSE, "top", 0644, "Manifest entry 3: “top” is listed twice (entry 0 has the same path)" },
    { TRUE, "top", 0755, "Manifest entry 3: “top” is listed twice (entry 0 has the same path)" },
    { FALSE, "top/sub/f", 02644, "Manifest entry 3: “top/sub/f” has mode 02644; only the permission bits 0777 may be set" },
    { TRUE, "top/x", 01777, "Manifest entry 3: “top/x” has mode 01777" },
    { FALSE, "missing/f", 0644, "Manifest entry 3: the parent directory of “missing/f”, “missing”, is not listed before it" },
    { FALSE, "top/sub/f/g", 0644, "Manifest entry 3: the parent of “top/sub/f/g”, “top/sub/f” (entry 2), is a file, not a directory" },
    { TRUE, "top/sub/f/d", 0755, "Manifest entry 3: the parent of “top/sub/f/d”, “top/sub/f” (entry 2), is a file" },
  };
  GError *error = NULL;

  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "top", 0755, &error));
  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "top/sub", 0755, &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "top/sub/f", 0644, 10, digest_of (0), &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      gboolean ok;

      if (refused[i].directory)
        ok = foctet_transfer_manifest_add_directory (manifest, refused[i].path, refused[i].mode, &error);
      else
        ok = foctet_transfer_manifest_add_file (manifest, refused[i].path, refused[i].mode, 1, digest_of (1), &error);
      g_assert_false (ok);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_test_message ("%s", error->message);
      if (!g_str_has_prefix (error->message, refused[i].what))
        g_error ("“%s” does not start with “%s”", error->message, refused[i].what);
      g_clear_error (&error);
      /* Unchanged. */
      g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (manifest), ==, 3);
      g_assert_cmpuint (foctet_transfer_manifest_get_total_size (manifest), ==, 10);
    }

  /* The total size limit. */
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "top/big", 0644,
                                                    FOCTET_TRANSFER_MAX_TOTAL_SIZE - 11, digest_of (2), &error));
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "top/one", 0644, 1, digest_of (3), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_transfer_manifest_get_total_size (manifest), ==, FOCTET_TRANSFER_MAX_TOTAL_SIZE);
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "top/empty", 0644, 0, digest_of (4), &error));
  g_assert_false (foctet_transfer_manifest_add_file (manifest, "top/more", 0644, 1, digest_of (5), &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_cmpstr (error->message, ==,
                   "Manifest entry 6: “top/more” (1 bytes) would take the total size over 1125899906842624 bytes (2^50)");
  g_clear_error (&error);
  g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (manifest), ==, 6);
}

/* The largest MANIFEST message: entries with the longest paths until the
 * next would not fit; encoded, parsed and read back. */
static void
test_manifest_body_limit (void)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(FoctetTransferMessage) parsed = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = path_of (16, 240, 0);
  gsize body = 12;
  guint n = 0;

  /* A directory chain of 3855 bytes, then files of 241-byte paths below. */
  for (guint i = 1; i <= 16; i++)
    {
      g_autofree char *path = path_of (i, 240, 0);

      g_assert_true (foctet_transfer_manifest_add_directory (manifest, path, 0755, &error));
      body += 15 + strlen (path);
    }
  for (;;)
    {
      g_autofree char *path = g_strdup_printf ("%s/%0240u", dir, n);

      g_assert_cmpuint (strlen (path), ==, 4096);
      if (!foctet_transfer_manifest_add_file (manifest, path, 0644, 1, digest_of (n), &error))
        break;
      body += 15 + 32 + 4096;
      n++;
    }
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_nonnull (strstr (error->message, "would make the MANIFEST message longer than 67108864 bytes"));
  g_assert_cmpuint (body, <=, FOCTET_TRANSFER_MESSAGE_MAX_BODY);
  g_assert_cmpuint (body + 15 + 32 + 4096, >, FOCTET_TRANSFER_MESSAGE_MAX_BODY);
  g_clear_error (&error);

  /* A directory is smaller: one may still fit, or not; either way the
   * manifest stays within the message. */
  message = foctet_transfer_message_new_manifest (manifest);
  bytes = foctet_transfer_message_encode (message);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 5 + body);
  parsed = parse_exact (bytes);
  g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (parsed->manifest), ==, 16 + n);
}

/* A manifest of as many entries as allowed; one more is refused. */
static void
test_manifest_entry_limit (void)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(FoctetTransferMessage) parsed = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  char path[32];

  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "d", 0755, &error));
  for (guint i = 1; i < FOCTET_TRANSFER_MAX_ENTRIES; i++)
    {
      g_snprintf (path, sizeof path, "d/%u", i);
      if (!foctet_transfer_manifest_add_file (manifest, path, 0644, 1024, digest_of (i), &error))
        g_error ("%s", error->message);
    }
  g_assert_false (foctet_transfer_manifest_add_file (manifest, "d/one-more", 0644, 1, digest_of (0), &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_assert_cmpstr (error->message, ==,
                   "Manifest entry 1000000: “d/one-more” would be entry 1000000; a manifest holds at most 1000000 entries");

  message = foctet_transfer_message_new_manifest (manifest);
  bytes = foctet_transfer_message_encode (message);
  parsed = parse_exact (bytes);
  g_assert_cmpuint (foctet_transfer_manifest_get_n_entries (parsed->manifest), ==, FOCTET_TRANSFER_MAX_ENTRIES);
  g_assert_cmpuint (foctet_transfer_manifest_get_total_size (parsed->manifest), ==,
                    (guint64) 1024 * (FOCTET_TRANSFER_MAX_ENTRIES - 1));
}

/* One valid encoding of each type at least, for the byte-by-byte and
 * stream tests. */
static GPtrArray *
valid_encodings (void)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GBytes) secret = secret_of (3);
  g_autoptr(FoctetTransferManifest) manifest = sample_manifest ();
  FoctetTransferMessage *messages[] = {
    foctet_transfer_message_new_hello (secret),
    foctet_transfer_message_new_manifest (manifest),
    foctet_transfer_message_new_get (1, 0, 1000),
    foctet_transfer_message_new_data (1, 0, 0),
    foctet_transfer_message_new_done (7),
    foctet_transfer_message_new_done_ack (),
    foctet_transfer_message_new_error (FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED, "photos/a.jpg is now 999 bytes"),
    foctet_transfer_message_new_abort (4242, ""),
  };

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_assert_nonnull (messages[i]);
      g_ptr_array_add (all, foctet_transfer_message_encode (messages[i]));
      foctet_transfer_message_free (messages[i]);
    }
  return all;
}

static void
test_incremental (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();

  foctet_test_wire_check_incremental (&wire, all);
}

static void
test_check_get (void)
{
  g_autoptr(FoctetTransferManifest) manifest = sample_manifest ();
  static const struct {
    guint32 index;
    guint64 offset;
    guint64 length;
    const char *what;   /* NULL: served */
  } cases[] = {
    { 1, 0, 1000, NULL },
    { 1, 999, 1, NULL },
    { 1, 500, 500, NULL },
    { 1, 0, 1, NULL },
    { 3, G_GUINT64_CONSTANT (4999999999), 1, NULL },
    { 4, 0, 0, NULL },
    { 6, 12, 0, "transfer GET message: length 0 for entry 6 (“run.sh”, 12 bytes); only an empty file is fetched with length 0" },
    { 1, 0, 0, "length 0 for entry 1 (“photos/a.jpg”, 1000 bytes)" },
    { 1, 0, 1001, "transfer GET message: offset 0 + length 1001 runs past the end of entry 1 (“photos/a.jpg”, 1000 bytes)" },
    { 1, 1000, 1, "offset 1000 + length 1 runs past the end of entry 1" },
    { 1, 1001, 1, "offset 1001 + length 1 runs past the end of entry 1" },
    { 4, 1, 0, "offset 1 + length 0 runs past the end of entry 4 (“photos/empty”, 0 bytes)" },
    { 4, 0, 1, "offset 0 + length 1 runs past the end of entry 4" },
    { 0, 0, 1, "transfer GET message: entry 0 (“photos”) is a directory, not a file" },
    { 5, 0, 0, "entry 5 (“photos/nothing”) is a directory" },
    { 7, 0, 1, "transfer GET message: entry index 7 is out of range: the manifest has 7 entries" },
    { G_MAXUINT32, 0, 1, "entry index 4294967295 is out of range" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (cases[i].index, cases[i].offset,
                                                                              cases[i].length);
      g_autoptr(GError) error = NULL;
      gboolean ok = foctet_transfer_manifest_check_get (manifest, get, &error);

      if (cases[i].what == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          continue;
        }
      g_assert_false (ok);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      g_test_message ("%s", error->message);
      assert_says (error, cases[i].what);
    }
}

static void
test_check_data (void)
{
  g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (3, 100, 50);
  g_autoptr(FoctetTransferMessage) right = foctet_transfer_message_new_data (3, 100, 50);
  g_autoptr(FoctetTransferMessage) other_index = foctet_transfer_message_new_data (4, 100, 50);
  g_autoptr(FoctetTransferMessage) other_offset = foctet_transfer_message_new_data (3, 0, 50);
  g_autoptr(FoctetTransferMessage) shorter = foctet_transfer_message_new_data (3, 100, 49);
  g_autoptr(FoctetTransferMessage) done_ack = foctet_transfer_message_new_done_ack ();
  FoctetTransferMessage *wrong[] = { other_index, other_offset, shorter };
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_transfer_message_check_data (get, right, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      g_assert_false (foctet_transfer_message_check_data (get, wrong[i], &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      g_assert_nonnull (strstr (error->message, "answers a GET for entry 3, offset 100, length 50"));
      g_clear_error (&error);
    }
  g_assert_false (foctet_transfer_message_check_data (get, shorter, &error));
  g_assert_cmpstr (error->message, ==, "transfer DATA message for entry 3, offset 100, length 49 answers a GET "
                   "for entry 3, offset 100, length 50");
  g_clear_error (&error);
  g_assert_false (foctet_transfer_message_check_data (get, done_ack, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_cmpstr (error->message, ==, "transfer DONE_ACK message where DATA for entry 3, offset 100, length 50 "
                   "was expected");
}

static void
test_constructors (void)
{
  /* Texts are made to fit: invalid UTF-8 replaced, long text cut at a
   * character boundary. */
  {
    g_autoptr(FoctetTransferMessage) message = foctet_transfer_message_new_error (1, "a\xffz");

    g_assert_cmpstr (message->error_text, ==, "a\xef\xbf\xbdz");
  }
  for (guint lead = 0; lead < 3; lead++)
    {
      g_autoptr(GString) text = g_string_new (NULL);
      g_autoptr(FoctetTransferMessage) message = NULL;
      g_autoptr(FoctetTransferMessage) parsed = NULL;
      gsize expected;

      g_string_append_len (text, "xx", lead);
      while (text->len < 2000)
        g_string_append (text, "€");   /* 3 bytes */
      message = foctet_transfer_message_new_abort (1, text->str);
      expected = lead + (FOCTET_TRANSFER_TEXT_MAX - lead) / 3 * 3;
      g_assert_cmpuint (strlen (message->error_text), ==, expected);
      g_assert_true (g_utf8_validate (message->error_text, -1, NULL));
      g_assert_true (strncmp (message->error_text, text->str, expected) == 0);
      parsed = round_trip (message);
      g_assert_cmpstr (parsed->error_text, ==, message->error_text);
    }
  /* The fields that do not belong to a type are empty. */
  {
    g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (1, 2, 3);

    g_assert_null (get->secret);
    g_assert_null (get->manifest);
    g_assert_null (get->error_text);
    g_assert_cmpuint (get->count, ==, 0);
    g_assert_cmpuint (get->error_code, ==, 0);
  }
}

static void
test_names (void)
{
  static const char * const type_names[] = { "unknown", "HELLO", "MANIFEST", "GET", "DATA", "DONE",
                                             "DONE_ACK", "ERROR", "ABORT", "unknown" };
  static const char * const descriptions[] = {
    NULL,
    "malformed message or request",
    "wrong secret",
    "busy: already serving a receiver",
    "unexpected message",
    "internal error",
    "file changed or unreadable",
    "limit exceeded",
    "cancelled",
    NULL,
  };

  for (guint i = 0; i < G_N_ELEMENTS (type_names); i++)
    g_assert_cmpstr (foctet_transfer_message_type_to_string (i), ==, type_names[i]);
  g_assert_cmpstr (foctet_transfer_message_type_to_string (0xff), ==, "unknown");

  for (guint code = 0; code < G_N_ELEMENTS (descriptions); code++)
    {
      g_autofree char *text = foctet_transfer_error_code_to_string (code);

      g_assert_cmpstr (foctet_transfer_error_code_describe (code), ==, descriptions[code]);
      if (descriptions[code] != NULL)
        g_assert_cmpstr (text, ==, descriptions[code]);
      else
        {
          g_autofree char *expected = g_strdup_printf ("error code %u", code);

          g_assert_cmpstr (text, ==, expected);
        }
    }

  /* One line per message for logs, peer text escaped, no secret. */
  {
    g_autoptr(GBytes) secret = secret_of (1);
    g_autoptr(FoctetTransferManifest) manifest = sample_manifest ();
    FoctetTransferMessage *messages[] = {
      foctet_transfer_message_new_hello (secret),
      foctet_transfer_message_new_manifest (manifest),
      foctet_transfer_message_new_get (3, 0, 1024),
      foctet_transfer_message_new_data (3, 1024, 7),
      foctet_transfer_message_new_done (7),
      foctet_transfer_message_new_done_ack (),
      foctet_transfer_message_new_error (6, "a.txt\n\x1b[31m—é"),
      foctet_transfer_message_new_abort (77, NULL),
    };
    static const char * const expected[] = {
      "HELLO",
      "MANIFEST 7 entries, 5000001012 bytes",
      "GET entry 3, offset 0, length 1024",
      "DATA entry 3, offset 1024, length 7",
      "DONE 7 entries verified",
      "DONE_ACK",
      "ERROR 6 (file changed or unreadable): “a.txt\\n\\033[31m—é”",
      "ABORT 77 (unknown code)",
    };

    for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
      {
        g_autofree char *text = foctet_transfer_message_to_string (messages[i]);

        g_assert_cmpstr (text, ==, expected[i]);
        foctet_transfer_message_free (messages[i]);
      }
  }
}

static void
test_to_error (void)
{
  static const struct {
    gboolean from_sender;
    guint16 code;
    int foctet_code;
    const char *message;
  } cases[] = {
    { TRUE, 1, FOCTET_ERROR_PROTOCOL_ERROR, "The sender refused: malformed message or request (code 1): “bad”" },
    { TRUE, 2, FOCTET_ERROR_INVALID_TICKET, "The sender refused: wrong secret (code 2): “bad”" },
    { TRUE, 3, FOCTET_ERROR_LIMIT_REACHED, "The sender refused: busy: already serving a receiver (code 3): “bad”" },
    { TRUE, 4, FOCTET_ERROR_PROTOCOL_ERROR, "The sender refused: unexpected message (code 4): “bad”" },
    { TRUE, 5, FOCTET_ERROR_FAILED, "The sender refused: internal error (code 5): “bad”" },
    { TRUE, 6, FOCTET_ERROR_FAILED, "The sender refused: file changed or unreadable (code 6): “bad”" },
    { TRUE, 7, FOCTET_ERROR_LIMIT_REACHED, "The sender refused: limit exceeded (code 7): “bad”" },
    { FALSE, 8, FOCTET_ERROR_FAILED, "The receiver aborted: cancelled (code 8): “bad”" },
    { FALSE, 0, FOCTET_ERROR_FAILED, "The receiver aborted: error code 0: “bad”" },
    { TRUE, 300, FOCTET_ERROR_FAILED, "The sender refused: error code 300: “bad”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(FoctetTransferMessage) message =
        cases[i].from_sender ? foctet_transfer_message_new_error (cases[i].code, "bad")
                             : foctet_transfer_message_new_abort (cases[i].code, "bad");
      g_autoptr(GError) error = foctet_transfer_message_to_error (message);

      g_assert_error (error, FOCTET_ERROR, cases[i].foctet_code);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
  {
    g_autoptr(FoctetTransferMessage) message = foctet_transfer_message_new_error (2, "");
    g_autoptr(GError) error = foctet_transfer_message_to_error (message);

    g_assert_cmpstr (error->message, ==, "The sender refused: wrong secret (code 2)");
  }
  {
    /* A push's ERROR comes from the receiving node. */
    g_autoptr(FoctetTransferMessage) message = foctet_transfer_message_new_error (3, "busy with another transfer");
    g_autoptr(GError) error = foctet_transfer_message_to_error_from (message, "The node refused the push");

    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
    g_assert_cmpstr (error->message, ==,
                     "The node refused the push: busy: already serving a receiver (code 3): "
                     "“busy with another transfer”");
  }
}

static void
test_offer (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) a = foctet_transfer_secret_new (&error);
  g_autoptr(GBytes) b = foctet_transfer_secret_new (&error);
  g_autoptr(GBytes) a_copy = NULL;
  g_autoptr(GBytes) short_secret = g_bytes_new ("0123456789abcdef0123456789abcde", 31);
  g_autoptr(FoctetNodeId) node_id = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) parsed = NULL;
  g_autoptr(FoctetTicket) bare = NULL;
  g_autoptr(GBytes) value = NULL;
  g_autoptr(GBytes) got = NULL;
  g_autofree char *text = NULL;
  guint8 key[32] = { 0 };

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (a), ==, FOCTET_TRANSFER_SECRET_SIZE);
  g_assert_false (g_bytes_equal (a, b));
  a_copy = g_bytes_new (g_bytes_get_data (a, NULL), g_bytes_get_size (a));
  g_assert_true (foctet_transfer_secret_equal (a, a_copy));
  g_assert_false (foctet_transfer_secret_equal (a, b));
  g_assert_false (foctet_transfer_secret_equal (short_secret, short_secret));

  value = foctet_transfer_offer_encode (a);
  g_assert_true (g_bytes_equal (value, a));
  got = foctet_transfer_offer_parse (value, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (got, a));
  g_clear_pointer (&got, g_bytes_unref);
  g_assert_null (foctet_transfer_offer_parse (short_secret, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  g_assert_cmpstr (error->message, ==, "Invalid ticket: its transfer offer (entry type 0x80) is 31 bytes long; "
                   "it must be the 32-byte secret");
  g_clear_error (&error);

  /* Through a ticket's text and back. */
  node_id = foctet_node_id_new_from_data (key, sizeof key, &error);
  g_assert_no_error (error);
  ticket = foctet_ticket_new (node_id);
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, "127.0.0.1:4433", &error));
  g_assert_true (foctet_transfer_ticket_add_offer (ticket, a, &error));
  g_assert_no_error (error);
  g_assert_false (foctet_transfer_ticket_add_offer (ticket, b, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "The ticket already carries a transfer offer");
  g_clear_error (&error);
  text = foctet_ticket_to_string (ticket);
  parsed = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  got = foctet_transfer_ticket_get_offer (parsed, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_transfer_secret_equal (got, a));

  /* No offer, or one of the wrong length. */
  bare = foctet_ticket_new (node_id);
  g_assert_null (foctet_transfer_ticket_get_offer (bare, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  g_assert_cmpstr (error->message, ==, "The ticket offers no files: it has no transfer offer (entry type 0x80)");
  g_clear_error (&error);
  g_assert_true (foctet_ticket_add_app_data (bare, FOCTET_TRANSFER_TICKET_ENTRY, short_secret, &error));
  g_assert_null (foctet_transfer_ticket_get_offer (bare, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  g_assert_nonnull (strstr (error->message, "is 31 bytes long"));
}

/* Reading and writing on streams. */

static FoctetTransferMessage *
read_message (GInputStream  *stream,
              GError       **error)
{
  return foctet_test_wire_read (&wire, stream, error);
}

static gboolean
write_message (GOutputStream                *stream,
               const FoctetTransferMessage  *message,
               GError                      **error)
{
  return foctet_test_wire_write (&wire, stream, message, error);
}


static void
test_read_leaves_raw_bytes (void)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GBytes) secret = secret_of (9);
  g_autoptr(FoctetTransferManifest) manifest = sample_manifest ();
  static const char file[] = "0123456789 raw bytes of the file, which look like nothing in particular";
  /* Raw bytes that look like a message: they must not be read as one. */
  static const guint8 tricky[] = { 2, 0xff, 0xff, 0xff, 0xff, 9, 9 };
  FoctetTransferMessage *messages[] = {
    foctet_transfer_message_new_hello (secret),
    foctet_transfer_message_new_manifest (manifest),
    foctet_transfer_message_new_data (6, 0, sizeof file - 1),
    foctet_transfer_message_new_data (6, 0, sizeof tricky),
    foctet_transfer_message_new_data (4, 0, 0),
    foctet_transfer_message_new_done_ack (),
  };
  gsize pos = 0;

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autoptr(GBytes) bytes = foctet_transfer_message_encode (messages[i]);

      g_byte_array_append (data, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      if (i == 2)
        g_byte_array_append (data, (const guint8 *) file, sizeof file - 1);
      if (i == 3)
        g_byte_array_append (data, tricky, sizeof tricky);
    }
  input = foctet_test_memory_input (data->data, data->len);

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetTransferMessage) message = read_message (input, &error);
      g_autoptr(GBytes) expected = foctet_transfer_message_encode (messages[i]);
      g_autoptr(GBytes) again = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (message);
      again = foctet_transfer_message_encode (message);
      g_assert_true (g_bytes_equal (again, expected));
      /* Not a byte further than the message. */
      pos += g_bytes_get_size (expected);
      g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, pos);

      if (message->type == FOCTET_TRANSFER_MESSAGE_DATA && message->length > 0)
        {
          g_autofree guint8 *raw = g_malloc (message->length);
          gsize n = 0;

          /* The raw bytes are all there for the caller. */
          g_assert_true (g_input_stream_read_all (input, raw, message->length, &n, NULL, &error));
          g_assert_no_error (error);
          if (i == 2)
            g_assert_cmpmem (raw, n, file, sizeof file - 1);
          else
            g_assert_cmpmem (raw, n, tricky, sizeof tricky);
          pos += n;
        }
    }
  g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, data->len);
  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    foctet_transfer_message_free (messages[i]);
}

static void
assert_read_fails (const guint8 *data,
                   gsize         len,
                   int           code,
                   const char   *what,
                   gsize         position)
{
  foctet_test_wire_assert_read_fails (&wire, data, len, code, what, position);
}

static void
test_read_eof (void)
{
  static const guint8 one[] = { 6 };
  static const guint8 four[] = { 2, 0, 0, 1 };
  static const guint8 get_cut[] = { 3, 0, 0, 0, 20, 0, 0, 0, 1, 2, 3 };
  static const guint8 manifest_cut[] = { 2, 0, 0x10, 0, 0, 0, 0, 0, 1 };
  static const guint8 done_ack[] = { 6, 0, 0, 0, 0 };

  assert_read_fails (NULL, 0, FOCTET_ERROR_CONNECTION_CLOSED, "The stream ended before a transfer message", 0);
  assert_read_fails (one, sizeof one, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated transfer DONE_ACK message: the stream ended after 1 of the 5 header bytes", 1);
  assert_read_fails (four, sizeof four, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated transfer MANIFEST message: the stream ended after 4 of the 5 header bytes", 4);
  assert_read_fails (get_cut, sizeof get_cut, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated transfer GET message: the stream ended after 11 of its 25 bytes", sizeof get_cut);
  assert_read_fails (manifest_cut, sizeof manifest_cut, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated transfer MANIFEST message: the stream ended after 9 of its 1048581 bytes",
                     sizeof manifest_cut);

  /* A whole message, then the end: the next read says the stream ended. */
  {
    g_autoptr(GInputStream) input = foctet_test_memory_input (done_ack, sizeof done_ack);
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetTransferMessage) ack = read_message (input, &error);
    g_autoptr(FoctetTransferMessage) none = NULL;

    g_assert_no_error (error);
    g_assert_cmpint (ack->type, ==, FOCTET_TRANSFER_MESSAGE_DONE_ACK);
    none = read_message (input, &error);
    g_assert_null (none);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  }
}

static void
test_read_rejects_early (void)
{
  static const guint8 unknown[] = { 0x16, 0x03, 0x01, 0x00, 0x10 };
  static const guint8 oversized[] = { 2, 0x10, 0x00, 0, 0, 0, 1, 'x', 'y' };
  static const guint8 done_ack_body[] = { 6, 0, 0, 0, 2, 'h', 'i' };
  guint8 flags[41 + 5] = { 1, 0, 0, 0, 36 };
  g_autoptr(GByteArray) evil = NULL;
  RawManifest raw = raw_manifest (1, 0);

  assert_read_fails (unknown, sizeof unknown, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown transfer message type 0x16", 1);
  assert_read_fails (oversized, sizeof oversized, FOCTET_ERROR_PROTOCOL_ERROR,
                     "transfer MANIFEST message has length 268435456; the most is 67108864", 5);
  assert_read_fails (done_ack_body, sizeof done_ack_body, FOCTET_ERROR_PROTOCOL_ERROR,
                     "transfer DONE_ACK message has a 2-byte body; it must be empty", 5);
  /* Flags 2, then a DONE_ACK that must stay unread. */
  flags[40] = 2;
  flags[41] = 6;
  assert_read_fails (flags, sizeof flags, FOCTET_ERROR_PROTOCOL_ERROR,
                     "transfer HELLO message has flags 0x00000002", 41);

  raw_entry (&raw, 1, 0644, 0, "../../.bashrc");
  evil = raw_finish (&raw);
  g_byte_array_append (evil, (const guint8 *) "\x06\x00\x00\x00\x00", 5);
  assert_read_fails (evil->data, evil->len, FOCTET_ERROR_PROTOCOL_ERROR,
                     "transfer MANIFEST message: entry 0: invalid path “../../.bashrc”: component 1 is “..”",
                     evil->len - 5);
}

static void
test_write (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();
  g_autoptr(FoctetTransferMessage) ack = foctet_transfer_message_new_done_ack ();

  foctet_test_wire_check_write (&wire, all, ack);
}


/* A manifest of several MiB over a socket, writer and reader at once:
 * the reader gets it in pieces, the writer waits for the reader, and
 * the DATA and raw bytes after it stay for the caller. */
static void
test_socket_large_manifest (void)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) manifest_message = NULL;
  g_autoptr(FoctetTransferMessage) data_message = foctet_transfer_message_new_data (1, 0, 4);
  g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (1, 0, 4);
  g_autoptr(FoctetTransferMessage) received = NULL;
  g_autoptr(FoctetTransferMessage) received_data = NULL;
  g_autoptr(GSocketConnection) a = NULL;
  g_autoptr(GSocketConnection) b = NULL;
  g_autoptr(GAsyncResult) write_result = NULL;
  g_autoptr(GAsyncResult) read_result = NULL;
  g_autoptr(GBytes) sent_bytes = NULL;
  g_autoptr(GBytes) received_bytes = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *write_slot = NULL;
  GAsyncResult *read_slot = NULL;
  GOutputStream *output;
  GInputStream *input;
  guint8 raw[4];
  gsize n = 0;

  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "many", 0755, &error));
  for (guint i = 0; i < 40000; i++)
    {
      g_autofree char *path = g_strdup_printf ("many/file-%06u-with-a-rather-long-name-for-bulk.txt", i);

      g_assert_true (foctet_transfer_manifest_add_file (manifest, path, 0644, 1024, digest_of (i), &error));
    }
  g_assert_no_error (error);
  manifest_message = foctet_transfer_message_new_manifest (manifest);
  sent_bytes = foctet_transfer_message_encode (manifest_message);
  g_assert_cmpuint (g_bytes_get_size (sent_bytes), >, 3 * 1024 * 1024);

  foctet_test_socket_pair (&a, &b);
  output = g_io_stream_get_output_stream (G_IO_STREAM (a));
  input = g_io_stream_get_input_stream (G_IO_STREAM (b));
  foctet_transfer_message_write_async (output, manifest_message, G_PRIORITY_DEFAULT, NULL,
                                       foctet_test_store_result, &write_slot);
  foctet_transfer_message_read_async (input, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &read_slot);
  write_result = foctet_test_wait_result (&write_slot, TIMEOUT);
  read_result = foctet_test_wait_result (&read_slot, TIMEOUT);
  g_assert_true (foctet_transfer_message_write_finish (output, write_result, &error));
  g_assert_no_error (error);
  received = foctet_transfer_message_read_finish (input, read_result, &error);
  g_assert_no_error (error);
  received_bytes = foctet_transfer_message_encode (received);
  g_assert_true (g_bytes_equal (received_bytes, sent_bytes));
  assert_same_manifest (manifest, received->manifest);

  g_assert_true (write_message (output, data_message, &error));
  g_assert_true (g_output_stream_write_all (output, "abcd", 4, NULL, NULL, &error));
  g_assert_true (g_socket_shutdown (g_socket_connection_get_socket (a), FALSE, TRUE, &error));
  g_assert_no_error (error);
  received_data = read_message (input, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_transfer_message_check_data (get, received_data, &error));
  g_assert_no_error (error);
  g_assert_true (g_input_stream_read_all (input, raw, sizeof raw, &n, NULL, &error));
  g_assert_cmpmem (raw, n, "abcd", 4);
  {
    g_autoptr(FoctetTransferMessage) none = read_message (input, &error);

    g_assert_null (none);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  }
}

static void
test_read_cancelled (void)
{
  /* Part of a header, then nothing. */
  static const guint8 partial[] = { 3, 0, 0 };

  foctet_test_wire_check_read_cancelled (&wire, partial, sizeof partial);
}

static void
assert_hex (const guint8 digest[FOCTET_FILE_HASH_SIZE],
            const char  *expected)
{
  char hex[2 * FOCTET_FILE_HASH_SIZE + 1];

  for (gsize i = 0; i < FOCTET_FILE_HASH_SIZE; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", digest[i]);
  g_assert_cmpstr (hex, ==, expected);
}

/* A file's hash is BLAKE3 (docs/protocol.md): the reference test vectors,
 * in one call, piece by piece across BLAKE3's 1 KiB chunks and 64-byte
 * blocks, and after a reset. */
static void
test_file_hash (void)
{
  static const struct {
    gsize len;
    guint8 fill;
    const char *hex;
  } vectors[] = {
    { 0, 0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" },
    { 100000, 'a', "4d593f58529cc720a92d1a3c4e0d0f05929bee0bc6e4cc0ede9476ff59c71536" },
  };
  static const char abc_hex[] = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";
  guint8 digest[FOCTET_FILE_HASH_SIZE];
  g_autoptr(FoctetFileHash) hash = foctet_file_hash_new ();

  G_STATIC_ASSERT (FOCTET_FILE_HASH_SIZE == FOCTET_TRANSFER_DIGEST_SIZE);

  foctet_file_hash_compute ("abc", 3, digest);
  assert_hex (digest, abc_hex);
  for (gsize v = 0; v < G_N_ELEMENTS (vectors); v++)
    {
      g_autofree guint8 *data = g_malloc (MAX (vectors[v].len, 1));
      gsize done = 0, piece = 1;

      memset (data, vectors[v].fill, vectors[v].len);
      foctet_file_hash_compute (data, vectors[v].len, digest);
      assert_hex (digest, vectors[v].hex);

      /* Pieces of 1, 2, 3, ... 64 bytes and then 1 KiB + 1, in turn. */
      foctet_file_hash_reset (hash);
      while (done < vectors[v].len)
        {
          gsize n = MIN (piece, vectors[v].len - done);

          foctet_file_hash_update (hash, data + done, n);
          done += n;
          piece = piece < 64 ? piece + 1 : piece == 64 ? 1025 : 1;
        }
      foctet_file_hash_get_digest (hash, digest);
      assert_hex (digest, vectors[v].hex);
    }
  foctet_file_hash_reset (hash);
  foctet_file_hash_update (hash, "ab", 2);
  foctet_file_hash_update (hash, "c", 1);
  foctet_file_hash_get_digest (hash, digest);
  assert_hex (digest, abc_hex);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/transfer/wire/file-hash", test_file_hash);
  g_test_add_func ("/transfer/wire/encode-layout", test_encode_layout);
  g_test_add_func ("/transfer/wire/round-trip", test_round_trip);
  g_test_add_func ("/transfer/wire/reject-type", test_reject_type);
  g_test_add_func ("/transfer/wire/reject-length", test_reject_length);
  g_test_add_func ("/transfer/wire/reject-fields", test_reject_fields);
  g_test_add_func ("/transfer/wire/reject-manifest", test_reject_manifest);
  g_test_add_func ("/transfer/wire/path-validate", test_path_validate);
  g_test_add_func ("/transfer/wire/manifest-build", test_manifest_build);
  g_test_add_func ("/transfer/wire/manifest-body-limit", test_manifest_body_limit);
  g_test_add_func ("/transfer/wire/manifest-entry-limit", test_manifest_entry_limit);
  g_test_add_func ("/transfer/wire/incremental", test_incremental);
  g_test_add_func ("/transfer/wire/check-get", test_check_get);
  g_test_add_func ("/transfer/wire/check-data", test_check_data);
  g_test_add_func ("/transfer/wire/constructors", test_constructors);
  g_test_add_func ("/transfer/wire/names", test_names);
  g_test_add_func ("/transfer/wire/to-error", test_to_error);
  g_test_add_func ("/transfer/wire/offer", test_offer);
  g_test_add_func ("/transfer/wire/read-leaves-raw-bytes", test_read_leaves_raw_bytes);
  g_test_add_func ("/transfer/wire/read-eof", test_read_eof);
  g_test_add_func ("/transfer/wire/read-rejects-early", test_read_rejects_early);
  g_test_add_func ("/transfer/wire/write", test_write);
  g_test_add_func ("/transfer/wire/socket-large-manifest", test_socket_large_manifest);
  g_test_add_func ("/transfer/wire/read-cancelled", test_read_cancelled);

  return g_test_run ();
}

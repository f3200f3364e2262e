/* test-node-id.c: NodeIds and their text form (PROTOCOL §1), and the
 * base32 codec under them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-node-id.h"
#include "foctet-base32.h"
#include "foctet-error.h"

/* Computed independently: base64.b32encode(...).lower().rstrip('='). */
static const struct {
  guint8 first, step;
  const char *text;
} vectors[] = {
  { 0, 0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
  { 0, 1, "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq" },
  { 255, 0, "777777777777777777777777777777777777777777777777777q" },
};

/* SHA-256 of "foctet", a key with no pattern; its text from Python's
 * base64.b32encode as above. */
static const guint8 sha256_foctet[FOCTET_NODE_ID_SIZE] = {
  0x2f, 0xf6, 0xa8, 0x9d, 0x23, 0x9f, 0x78, 0x50, 0x1a, 0xb1, 0x6b, 0x0e, 0x41, 0x40, 0x9f, 0xb1,
  0xfb, 0x4a, 0x77, 0x35, 0x95, 0x98, 0x3f, 0x8a, 0x7e, 0x3f, 0x4b, 0x1a, 0xbc, 0xa9, 0x42, 0x63,
};
static const char sha256_foctet_text[] = "f73krhjdt54fagvrnmhecqe7wh5uu5zvswmd7ct6h5frvpfjijrq";

static void
fill (guint8 *key,
      guint8  first,
      guint8  step)
{
  for (guint i = 0; i < FOCTET_NODE_ID_SIZE; i++)
    key[i] = first + i * step;
}

static void
test_vectors (void)
{
  for (guint v = 0; v < G_N_ELEMENTS (vectors); v++)
    {
      guint8 key[FOCTET_NODE_ID_SIZE];
      g_autoptr(FoctetNodeId) id = NULL;
      g_autoptr(FoctetNodeId) parsed = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *text = NULL;
      g_autofree char *upper = g_ascii_strup (vectors[v].text, -1);
      gsize len = 0;

      fill (key, vectors[v].first, vectors[v].step);
      id = foctet_node_id_new_from_data (key, sizeof key, &error);
      g_assert_no_error (error);
      text = foctet_node_id_to_string (id);
      g_assert_cmpstr (text, ==, vectors[v].text);

      parsed = foctet_node_id_parse (vectors[v].text, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (foctet_node_id_get_data (parsed, &len), FOCTET_NODE_ID_SIZE, key, sizeof key);
      g_assert_cmpuint (len, ==, FOCTET_NODE_ID_SIZE);
      g_assert_true (foctet_node_id_equal (id, parsed));
      g_assert_cmpuint (foctet_node_id_hash (id), ==, foctet_node_id_hash (parsed));
      g_clear_pointer (&parsed, foctet_node_id_free);

      /* Upper case is accepted too. */
      parsed = foctet_node_id_parse (upper, &error);
      g_assert_no_error (error);
      g_assert_true (foctet_node_id_equal (id, parsed));
    }
}

static void
test_unpatterned_vector (void)
{
  g_autoptr(FoctetNodeId) id = foctet_node_id_new_from_data (sha256_foctet, sizeof sha256_foctet, NULL);
  g_autoptr(FoctetNodeId) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = foctet_node_id_to_string (id);
  g_autofree char *mixed = g_strdup (sha256_foctet_text);

  g_assert_cmpstr (text, ==, sha256_foctet_text);
  g_assert_cmpuint (strlen (text), ==, FOCTET_NODE_ID_TEXT_LENGTH);

  /* Case may even change within one text. */
  for (guint i = 0; mixed[i] != '\0'; i += 2)
    mixed[i] = g_ascii_toupper (mixed[i]);
  parsed = foctet_node_id_parse (mixed, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (foctet_node_id_get_data (parsed, NULL), FOCTET_NODE_ID_SIZE,
                   sha256_foctet, sizeof sha256_foctet);
}

static void
test_random_round_trip (void)
{
  for (guint round = 0; round < 1000; round++)
    {
      guint8 key[FOCTET_NODE_ID_SIZE];
      g_autoptr(FoctetNodeId) id = NULL;
      g_autoptr(FoctetNodeId) parsed = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *text = NULL;

      for (guint i = 0; i < sizeof key; i++)
        key[i] = g_test_rand_int_range (0, 256);
      id = foctet_node_id_new_from_data (key, sizeof key, &error);
      g_assert_no_error (error);
      text = foctet_node_id_to_string (id);
      g_assert_cmpuint (strlen (text), ==, FOCTET_NODE_ID_TEXT_LENGTH);
      for (const char *p = text; *p != '\0'; p++)
        g_assert_true ((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7'));
      parsed = foctet_node_id_parse (text, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (foctet_node_id_get_data (parsed, NULL), FOCTET_NODE_ID_SIZE, key, sizeof key);
    }
}

static void
expect_invalid (const char *text,
                const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) id = foctet_node_id_parse (text, &error);

  g_assert_null (id);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s”: message “%s” does not say “%s”", text, error->message, words);
}

static void
test_invalid (void)
{
  expect_invalid ("", "NodeId must be 52 characters, got 0");
  expect_invalid ("aaaa", "NodeId must be 52 characters, got 4");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "got 51");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "got 53");
  /* Padding makes it longer, and is not part of the text form. */
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa====", "got 56");
  expect_invalid (" aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "“ ” at position 1");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0a", "“0” at position 51");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaa9aaaaaaaaaaaaaaaaaaaaaaaaa", "“9” at position 27");
  expect_invalid ("1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "“1” at position 1");
  expect_invalid ("aaaaaaaaaa8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "“8” at position 11");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=", "“=” at position 52");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9", "0xc3 at position 51");
  /* The last character's 4 unused bits must be zero: one text per key. */
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "not canonical");
  expect_invalid ("777777777777777777777777777777777777777777777777777r", "not canonical");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaB", "not canonical");
  /* Each of the four unused bits on its own: the text ends in “q” (16),
   * so these are 16 + 1, 2, 4 and 8. */
  {
    const char last[] = { 'r', 's', 'u', 'y' };

    for (guint i = 0; i < G_N_ELEMENTS (last); i++)
      {
        g_autofree char *text = g_strdup (sha256_foctet_text);

        text[FOCTET_NODE_ID_TEXT_LENGTH - 1] = last[i];
        expect_invalid (text, "not canonical");
      }
  }
}

static void
test_from_data (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) short_bytes = g_bytes_new ("abc", 3);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(FoctetNodeId) id = NULL;
  g_autoptr(FoctetNodeId) copy = NULL;
  guint8 key[FOCTET_NODE_ID_SIZE];

  g_assert_null (foctet_node_id_new_from_bytes (short_bytes, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID);
  g_assert_nonnull (strstr (error->message, "got 3"));
  g_clear_error (&error);

  fill (key, 7, 3);
  g_assert_null (foctet_node_id_new_from_data (key, sizeof key - 1, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID);
  g_assert_nonnull (strstr (error->message, "got 31"));
  g_clear_error (&error);
  {
    guint8 longer[FOCTET_NODE_ID_SIZE + 1] = { 0 };

    g_assert_null (foctet_node_id_new_from_data (longer, sizeof longer, &error));
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_NODE_ID);
    g_assert_nonnull (strstr (error->message, "got 33"));
    g_clear_error (&error);
  }

  bytes = g_bytes_new (key, sizeof key);
  id = foctet_node_id_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  copy = foctet_node_id_copy (id);
  g_assert_true (foctet_node_id_equal (id, copy));
  {
    g_autoptr(GBytes) back = foctet_node_id_get_bytes (copy);
    g_assert_true (g_bytes_equal (back, bytes));
    g_assert_cmpuint (g_bytes_get_size (back), ==, FOCTET_NODE_ID_SIZE);
  }

  /* A boxed type: GValue copies it. */
  {
    GValue value = G_VALUE_INIT;
    const FoctetNodeId *held;

    g_assert_true (G_TYPE_IS_BOXED (FOCTET_TYPE_NODE_ID));
    g_value_init (&value, FOCTET_TYPE_NODE_ID);
    g_value_set_boxed (&value, id);
    held = g_value_get_boxed (&value);
    g_assert_true (held != id);
    g_assert_true (foctet_node_id_equal (held, id));
    g_value_unset (&value);
  }
}

static void
test_hash_table (void)
{
  g_autoptr(GHashTable) table = g_hash_table_new_full (foctet_node_id_hash, foctet_node_id_equal,
                                                       (GDestroyNotify) foctet_node_id_free, NULL);
  guint8 key[FOCTET_NODE_ID_SIZE];

  for (guint i = 0; i < 100; i++)
    {
      fill (key, i, 1);
      g_hash_table_add (table, foctet_node_id_new_from_data (key, sizeof key, NULL));
    }
  g_assert_cmpuint (g_hash_table_size (table), ==, 100);
  fill (key, 42, 1);
  {
    g_autoptr(FoctetNodeId) probe = foctet_node_id_new_from_data (key, sizeof key, NULL);
    g_assert_true (g_hash_table_contains (table, probe));
  }
  fill (key, 200, 1);
  {
    g_autoptr(FoctetNodeId) absent = foctet_node_id_new_from_data (key, sizeof key, NULL);
    g_assert_false (g_hash_table_contains (table, absent));
  }

  /* Keys that differ only in their last byte are different keys, and
   * spread over the table. */
  {
    g_autoptr(GHashTable) same_prefix = g_hash_table_new_full (foctet_node_id_hash, foctet_node_id_equal,
                                                               (GDestroyNotify) foctet_node_id_free, NULL);
    g_autoptr(GHashTable) hashes = g_hash_table_new (NULL, NULL);

    for (guint i = 0; i < 64; i++)
      {
        FoctetNodeId *id;

        memset (key, 0x5a, sizeof key);
        key[FOCTET_NODE_ID_SIZE - 1] = i;
        id = foctet_node_id_new_from_data (key, sizeof key, NULL);
        g_hash_table_add (hashes, GUINT_TO_POINTER (foctet_node_id_hash (id)));
        g_hash_table_add (same_prefix, id);
      }
    g_assert_cmpuint (g_hash_table_size (same_prefix), ==, 64);
    g_assert_cmpuint (g_hash_table_size (hashes), ==, 64);

    memset (key, 0x5a, sizeof key);
    key[0] = 0;
    {
      g_autoptr(FoctetNodeId) other = foctet_node_id_new_from_data (key, sizeof key, NULL);
      g_assert_false (g_hash_table_contains (same_prefix, other));
    }
  }
}

static void
test_base32 (void)
{
  /* RFC 4648 §10, lower case, without padding. */
  static const struct { const char *plain, *encoded; } rfc[] = {
    { "", "" }, { "f", "my" }, { "fo", "mzxq" }, { "foo", "mzxw6" },
    { "foob", "mzxw6yq" }, { "fooba", "mzxw6ytb" }, { "foobar", "mzxw6ytboi" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (rfc); i++)
    {
      g_autofree char *encoded = foctet_base32_encode ((const guint8 *) rfc[i].plain, strlen (rfc[i].plain));
      g_autofree guint8 *decoded = NULL;
      g_autoptr(GError) error = NULL;
      gsize len = 0;

      g_assert_cmpstr (encoded, ==, rfc[i].encoded);
      decoded = foctet_base32_decode (encoded, strlen (encoded), &len, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (decoded, len, rfc[i].plain, strlen (rfc[i].plain));
    }

  /* Either case decodes; the unused bits of the last character must be 0. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *decoded = NULL;
    gsize len = 0;

    decoded = foctet_base32_decode ("MZXW6YTBOI", 10, &len, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (decoded, len, "foobar", 6);
    g_clear_pointer (&decoded, g_free);

    /* "f" is "my"; "mz" would be "f" plus a stray 1 bit. */
    decoded = foctet_base32_decode ("mz", 2, &len, &error);
    g_assert_null (decoded);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "not canonical"));
    g_clear_error (&error);

    /* Only @len characters are looked at. */
    decoded = foctet_base32_decode ("my!!", 2, &len, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (decoded, len, "f", 1);
    g_clear_pointer (&decoded, g_free);

    decoded = foctet_base32_decode ("mzx=", 4, &len, &error);
    g_assert_null (decoded);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "“=” at position 4"));
  }

  /* Lengths no byte string encodes to. */
  for (gsize bad = 1; bad <= 9; bad++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *decoded = NULL;
      gsize len = 0;

      if (bad % 8 != 1 && bad % 8 != 3 && bad % 8 != 6)
        continue;
      decoded = foctet_base32_decode ("aaaaaaaaa", bad, &len, &error);
      g_assert_null (decoded);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "cannot encode whole bytes"));
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/node-id/vectors", test_vectors);
  g_test_add_func ("/node-id/unpatterned-vector", test_unpatterned_vector);
  g_test_add_func ("/node-id/random-round-trip", test_random_round_trip);
  g_test_add_func ("/node-id/invalid", test_invalid);
  g_test_add_func ("/node-id/from-data", test_from_data);
  g_test_add_func ("/node-id/hash-table", test_hash_table);
  g_test_add_func ("/node-id/base32", test_base32);

  return g_test_run ();
}

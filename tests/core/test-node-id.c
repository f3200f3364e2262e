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
  expect_invalid ("", "got 0");
  expect_invalid ("aaaa", "got 4");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "got 51");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "got 53");
  expect_invalid ("1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "“1” at position 1");
  expect_invalid ("aaaaaaaaaa8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "“8” at position 11");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=", "“=” at position 52");
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9", "0xc3 at position 51");
  /* The last character's 4 unused bits must be zero: one text per key. */
  expect_invalid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "not canonical");
  expect_invalid ("777777777777777777777777777777777777777777777777777r", "not canonical");
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
  g_clear_error (&error);

  fill (key, 7, 3);
  bytes = g_bytes_new (key, sizeof key);
  id = foctet_node_id_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  copy = foctet_node_id_copy (id);
  g_assert_true (foctet_node_id_equal (id, copy));
  {
    g_autoptr(GBytes) back = foctet_node_id_get_bytes (copy);
    g_assert_true (g_bytes_equal (back, bytes));
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
      g_assert_nonnull (strstr (error->message, "cannot encode whole bytes"));
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/node-id/vectors", test_vectors);
  g_test_add_func ("/node-id/invalid", test_invalid);
  g_test_add_func ("/node-id/from-data", test_from_data);
  g_test_add_func ("/node-id/hash-table", test_hash_table);
  g_test_add_func ("/node-id/base32", test_base32);

  return g_test_run ();
}

/* test-byte-count.c: foctet_parse_byte_count (), BYTES as the command
 * line takes it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

static void
test_valid (void)
{
  static const struct { const char *text; guint64 bytes; } cases[] = {
    { "0", 0 },
    { "1", 1 },
    { "1024", 1024 },
    { "1K", 1024 },
    { "1k", 1024 },
    { "64M", 64 * 1024 * 1024 },
    { "1G", G_GUINT64_CONSTANT (1) << 30 },
    { "2t", G_GUINT64_CONSTANT (2) << 40 },
    { "18446744073709551615", G_MAXUINT64 },
    { "16777215T", G_GUINT64_CONSTANT (16777215) << 40 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 7;

      g_assert_true (foctet_parse_byte_count (cases[i].text, &bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bytes, ==, cases[i].bytes);
    }
}

static void
test_invalid (void)
{
  static const char *cases[] = {
    "", "K", "-1", "+1", " 1", "1 ", "1KB", "1.5G", "1P", "0x10",
    "99999999999999999999X",
  };
  static const char *too_large[] = { "18446744073709551616", "16777216T", "99999999999999999999G", "99999999999G" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 7;

      g_assert_false (foctet_parse_byte_count (cases[i], &bytes, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "is not a byte count"));
      g_assert_cmpuint (bytes, ==, 7);
    }
  for (guint i = 0; i < G_N_ELEMENTS (too_large); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 7;

      g_assert_false (foctet_parse_byte_count (too_large[i], &bytes, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "is too large a byte count"));
      g_assert_cmpuint (bytes, ==, 7);
    }
  g_assert_false (foctet_parse_byte_count (NULL, &(guint64) { 0 }, NULL));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/byte-count/valid", test_valid);
  g_test_add_func ("/byte-count/invalid", test_invalid);
  return g_test_run ();
}

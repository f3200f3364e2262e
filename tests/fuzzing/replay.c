/* replay.c: runs a fuzz target over the files of its corpus, so every
 * build (not only the clang fuzzing one) exercises the parsers on them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint
replay (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  guint count = 0;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, &error);
      const char *name;

      if (dir == NULL)
        g_error ("%s", error->message);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          count += replay (child);
        }
      return count;
    }

  if (!g_file_get_contents (path, &contents, &len, &error))
    g_error ("%s", error->message);
  /* A copy of exactly the input's size, so ASan catches any over-read. */
  {
    g_autofree guint8 *exact = g_memdup2 (contents, len);
    LLVMFuzzerTestOneInput (exact, len);
  }
  return 1;
}

int
main (int   argc,
      char *argv[])
{
  guint count = 0;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    count += replay (argv[i]);
  if (count == 0)
    {
      fprintf (stderr, "no inputs found\n");
      return 1;
    }
  printf ("replayed %u inputs\n", count);
  return 0;
}

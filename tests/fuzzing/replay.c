/* replay.c: runs a fuzz target over given files and directories (its
 * corpus, or a crash to reproduce), so that every build, not only the
 * clang fuzzing one, exercises the parsers on them.  A failed invariant
 * aborts, and the last "replay:" line names the input.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

static guint
replay (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, &error);
      g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      guint count = 0;

      if (dir == NULL)
        {
          fprintf (stderr, "replay: %s\n", error->message);
          exit (1);
        }
      while ((name = g_dir_read_name (dir)) != NULL)
        g_ptr_array_add (names, g_build_filename (path, name, NULL));
      /* In a fixed order, so that a run can be repeated exactly. */
      g_ptr_array_sort (names, compare_names);
      for (guint i = 0; i < names->len; i++)
        count += replay (g_ptr_array_index (names, i));
      return count;
    }

  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      fprintf (stderr, "replay: %s\n", error->message);
      exit (1);
    }
  printf ("replay: %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  fflush (stdout);
  /* A copy of exactly the input's size, so that sanitizers catch any read
   * past its end. */
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
  /* An empty corpus would make the test pass without testing anything. */
  if (count == 0)
    {
      fprintf (stderr, "replay: no inputs found\n");
      return 1;
    }
  printf ("replay: %u inputs, all passed\n", count);
  return 0;
}

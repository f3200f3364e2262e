/* test-bench.c: the benchmark scripts still work — run-tls.sh and
 * run-relay.sh on 4 MiB per stream, two rounds, against this build:
 * each prints its four rows, every cell a figure, none "n/a" (which is
 * how a script says that a part failed).  What the figures are does not
 * matter here: benchmarks are not timed tests.  (On one megabyte the Go
 * peer, which reads a megabyte at a time, could time a download at 0 s
 * on a fast machine, which a script rightly refuses.)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

#include "test-utils.h"

#define TIMEOUT 240

static const char *const cases[] = {
  "single-stream download", "single-stream upload", "8-stream download", "8-stream upload",
};

/* Runs bench/@script on this build; returns its table's rows. */
static GPtrArray *
run_script (const char *script)
{
  g_autofree char *path = g_build_filename (g_getenv ("BENCH_SOURCE_DIR"), script, NULL);
  const char *argv[] = { "bash", path, g_getenv ("BENCH_BUILD_DIR"), NULL };
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "BENCH_BYTES", "4M", TRUE);
  g_subprocess_launcher_setenv (launcher, "BENCH_RUNS", "2", TRUE);
  g_subprocess_launcher_setenv (launcher, "BENCH_TIMEOUT", "60", TRUE);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_communicate_utf8_finish (process, result, &out, &err, &error));
  g_assert_no_error (error);
  g_test_message ("%s printed:\n%s\nand on stderr:\n%s", script, out, err);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    for (guint j = 0; j < G_N_ELEMENTS (cases); j++)
      {
        g_autofree char *start = g_strdup_printf ("| %s |", cases[j]);

        if (g_str_has_prefix (lines[i], start))
          g_ptr_array_add (rows, g_strdup (lines[i]));
      }
  return rows;
}

/* Every row there, in order, with @n_cells figures after its label, the
 * first @n_rates of them throughputs (above 0; a CPU figure may round to
 * 0 on a few megabytes). */
static void
assert_rows (GPtrArray *rows,
             guint      n_cells,
             guint      n_rates)
{
  g_assert_cmpuint (rows->len, ==, G_N_ELEMENTS (cases));
  for (guint i = 0; i < rows->len; i++)
    {
      const char *row = rows->pdata[i];
      g_auto(GStrv) cells = g_strsplit (row, "|", -1);

      /* "", the label, the cells, "". */
      g_assert_cmpuint (g_strv_length (cells), ==, n_cells + 3);
      g_assert_cmpstr (g_strstrip (cells[1]), ==, cases[i]);
      for (guint j = 2; j < n_cells + 2; j++)
        {
          const char *cell = g_strstrip (cells[j]);
          char *end = NULL;
          double value = g_ascii_strtod (cell, &end);

          if (*cell == '\0' || *end != '\0' || !(value >= 0) || (j - 2 < n_rates && !(value > 0)))
            g_error ("cell %u of “%s” is not a figure", j - 1, row);
        }
    }
}

/* foctet, Go, GnuTLS two ways, three ratios, four CPU figures. */
static void
test_tls (void)
{
  g_autoptr(GPtrArray) rows = run_script ("run-tls.sh");

  assert_rows (rows, 11, 4);
}

/* direct, v1, raw, two ratios, five CPU figures, a ratio by CPU. */
static void
test_relay (void)
{
  g_autoptr(GPtrArray) rows = run_script ("run-relay.sh");

  assert_rows (rows, 11, 3);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bench/tls", test_tls);
  g_test_add_func ("/bench/relay", test_relay);
  return g_test_run ();
}

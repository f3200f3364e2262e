/* test-yamux-ids.c: the record of the stream ids a yamux peer opened
 * (plugins/mux-yamux/foctet-yamux-ids.c, compiled in): in order, skipped,
 * out of order, reused, and the bound on skipped ranges.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>

#include "foctet-yamux-ids.h"

static void
test_in_order (void)
{
  YamuxRemoteIds ids;

  yamux_remote_ids_init (&ids, 1);
  g_assert_false (yamux_remote_ids_was_opened (&ids, 1));
  for (guint32 id = 1; id <= 99; id += 2)
    g_assert_true (yamux_remote_ids_open (&ids, id));
  for (guint32 id = 1; id <= 99; id += 2)
    g_assert_true (yamux_remote_ids_was_opened (&ids, id));
  g_assert_false (yamux_remote_ids_was_opened (&ids, 101));
  g_assert_cmpuint (ids.gaps->len, ==, 0);
  /* An id is opened once. */
  g_assert_false (yamux_remote_ids_open (&ids, 51));
  g_assert_false (yamux_remote_ids_open (&ids, 99));
  yamux_remote_ids_clear (&ids);
}

static void
test_skipped_and_late (void)
{
  YamuxRemoteIds ids;

  yamux_remote_ids_init (&ids, 2);
  /* 2, 4 and 6 skipped, then 12: 8 and 10 skipped too. */
  g_assert_true (yamux_remote_ids_open (&ids, 8));
  g_assert_true (yamux_remote_ids_open (&ids, 12));
  g_assert_cmpuint (ids.gaps->len, ==, 2);
  for (guint32 id = 2; id <= 6; id += 2)
    g_assert_false (yamux_remote_ids_was_opened (&ids, id));
  g_assert_true (yamux_remote_ids_was_opened (&ids, 8));
  g_assert_false (yamux_remote_ids_was_opened (&ids, 10));
  g_assert_true (yamux_remote_ids_was_opened (&ids, 12));

  /* Late SYNs fill the gaps, from the middle and the ends. */
  g_assert_true (yamux_remote_ids_open (&ids, 4));
  g_assert_cmpuint (ids.gaps->len, ==, 3);
  g_assert_true (yamux_remote_ids_open (&ids, 2));
  g_assert_true (yamux_remote_ids_open (&ids, 6));
  g_assert_true (yamux_remote_ids_open (&ids, 10));
  g_assert_cmpuint (ids.gaps->len, ==, 0);
  for (guint32 id = 2; id <= 12; id += 2)
    {
      g_assert_true (yamux_remote_ids_was_opened (&ids, id));
      g_assert_false (yamux_remote_ids_open (&ids, id));
    }
  yamux_remote_ids_clear (&ids);
}

/* A peer skipping ids on every open: the ranges stay bounded, the lowest
 * forgotten (its ids then count as opened), the rest exact. */
static void
test_gaps_bounded (void)
{
  YamuxRemoteIds ids;
  guint32 n = YAMUX_REMOTE_IDS_MAX_GAPS + 10;

  yamux_remote_ids_init (&ids, 1);
  for (guint32 i = 0; i < n; i++)
    g_assert_true (yamux_remote_ids_open (&ids, 4 * i + 3));
  g_assert_cmpuint (ids.gaps->len, ==, YAMUX_REMOTE_IDS_MAX_GAPS);
  /* The oldest gaps are forgotten... */
  g_assert_true (yamux_remote_ids_was_opened (&ids, 1));
  /* ...the newest kept. */
  g_assert_false (yamux_remote_ids_was_opened (&ids, 4 * (n - 1) + 1));
  g_assert_true (yamux_remote_ids_was_opened (&ids, 4 * (n - 1) + 3));
  yamux_remote_ids_clear (&ids);

  /* Splitting a gap when the record is full forgets the part below. */
  yamux_remote_ids_init (&ids, 1);
  g_assert_true (yamux_remote_ids_open (&ids, 101));
  for (guint32 i = 0; ids.gaps->len < YAMUX_REMOTE_IDS_MAX_GAPS; i++)
    g_assert_true (yamux_remote_ids_open (&ids, 105 + 4 * i));
  g_assert_true (yamux_remote_ids_open (&ids, 51));
  g_assert_cmpuint (ids.gaps->len, ==, YAMUX_REMOTE_IDS_MAX_GAPS);
  g_assert_true (yamux_remote_ids_was_opened (&ids, 49));
  g_assert_false (yamux_remote_ids_was_opened (&ids, 53));
  yamux_remote_ids_clear (&ids);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/yamux/ids/in-order", test_in_order);
  g_test_add_func ("/yamux/ids/skipped-and-late", test_skipped_and_late);
  g_test_add_func ("/yamux/ids/gaps-bounded", test_gaps_bounded);
  return g_test_run ();
}

/* foctet-yamux-ids.c: which stream ids the yamux peer has opened.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux-ids.h"

/* Ids first to last of the peer's parity (stepping by 2), none opened. */
typedef struct {
  guint32 first;
  guint32 last;
} YamuxIdRange;

void
yamux_remote_ids_init (YamuxRemoteIds *ids,
                       guint32         first_id)
{
  ids->first_id = first_id;
  ids->highest = 0;
  ids->gaps = g_array_new (FALSE, FALSE, sizeof (YamuxIdRange));
}

void
yamux_remote_ids_clear (YamuxRemoteIds *ids)
{
  g_clear_pointer (&ids->gaps, g_array_unref);
}

/* The index of the gap holding @id, or -1. */
static gint
find_gap (const YamuxRemoteIds *ids,
          guint32               id)
{
  guint lo = 0, hi = ids->gaps->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      const YamuxIdRange *range = &g_array_index (ids->gaps, YamuxIdRange, mid);

      if (id < range->first)
        hi = mid;
      else if (id > range->last)
        lo = mid + 1;
      else
        return (gint) mid;
    }
  return -1;
}

gboolean
yamux_remote_ids_open (YamuxRemoteIds *ids,
                       guint32         id)
{
  gint i;

  if (id > ids->highest)
    {
      guint32 next = ids->highest == 0 ? ids->first_id : ids->highest + 2;

      if (id > next)
        {
          YamuxIdRange skipped = { next, id - 2 };

          if (ids->gaps->len == YAMUX_REMOTE_IDS_MAX_GAPS)
            g_array_remove_index (ids->gaps, 0);
          g_array_append_val (ids->gaps, skipped);
        }
      ids->highest = id;
      return TRUE;
    }
  i = find_gap (ids, id);
  if (i < 0)
    return FALSE;
  {
    YamuxIdRange *range = &g_array_index (ids->gaps, YamuxIdRange, i);

    if (range->first == range->last)
      g_array_remove_index (ids->gaps, i);
    else if (id == range->first)
      range->first += 2;
    else if (id == range->last)
      range->last -= 2;
    else if (ids->gaps->len < YAMUX_REMOTE_IDS_MAX_GAPS)
      {
        YamuxIdRange upper = { id + 2, range->last };

        range->last = id - 2;
        g_array_insert_val (ids->gaps, i + 1, upper);
      }
    else
      /* No room for one more: the part below @id is forgotten. */
      range->first = id + 2;
  }
  return TRUE;
}

gboolean
yamux_remote_ids_was_opened (const YamuxRemoteIds *ids,
                             guint32               id)
{
  return id <= ids->highest && find_gap (ids, id) < 0;
}

/* foctet-yamux-ids.h: which stream ids the yamux peer has opened.
 *
 * PROTOCOL §4 makes a frame without SYN for a stream id the peer never
 * opened a protocol error, while late frames for streams that ended are
 * ignored; an id is opened once.  The peer opens ids of its parity in
 * rising order, mostly without skipping any (its SYNs may still arrive
 * out of order when it opens streams at once): so the record is the
 * highest id opened and the ranges below it that were skipped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* At most this many skipped ranges are kept; beyond, the lowest is
 * forgotten (its ids count as opened: frames for them are ignored). */
#define YAMUX_REMOTE_IDS_MAX_GAPS 1024

typedef struct {
  guint32 first_id;                /* the lowest id of the peer's parity: 1 or 2 */
  guint32 highest;                 /* 0 before the first */
  GArray *gaps;                    /* YamuxIdRange below highest, rising */
} YamuxRemoteIds;

void yamux_remote_ids_init (YamuxRemoteIds *ids,
                            guint32         first_id);
void yamux_remote_ids_clear (YamuxRemoteIds *ids);
/* The peer opens @id (of its parity): FALSE if it opened it before. */
gboolean yamux_remote_ids_open (YamuxRemoteIds *ids,
                                guint32         id);
/* Whether the peer opened @id (of its parity) at some time. */
gboolean yamux_remote_ids_was_opened (const YamuxRemoteIds *ids,
                                      guint32               id);

G_END_DECLS

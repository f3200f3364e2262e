/* foctet-relay-splice.h: the two TCP connections of a raw circuit,
 * spliced in the relay (docs/protocol.md, "Raw circuits").
 *
 * Each direction moves bytes from one socket to the other through a pipe
 * with splice(2), so they never enter the relay's memory; where a pipe
 * cannot be had, through one buffer with read and write.  Either way a
 * direction holds at most its pipe's (or buffer's) worth: back-pressure
 * from either end reaches the other.  A token bucket bounds each
 * direction's rate, and buckets shared with other splices may too (a
 * client's rate over all its circuits); an end of stream is passed on as
 * a half-close (shutdown SHUT_WR) once every byte before it was; an error
 * on either socket ends the whole splice.
 *
 * Runs on the GMainContext it was made on.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "foctet-relay-bucket.h"

G_BEGIN_DECLS

/* The pipe (or buffer) of one direction. */
#define RELAY_SPLICE_PIPE_SIZE (256 * 1024)

typedef struct _RelaySplice RelaySplice;

/* The splice is over: @why is NULL when both directions ended normally,
 * else what went wrong.  @gone is then 0 or 1 when it was that socket's
 * (a's or b's) peer closing its connection (a reset, a broken pipe), -1
 * for anything else.  Called once; the splice may be freed in it. */
typedef void (*RelaySpliceDoneFunc) (gpointer    user_data,
                                     int         gone,
                                     const char *why);

RelaySplice *relay_splice_new (GSocket             *a,
                               GSocket             *b,
                               guint64              rate,
                               guint64             *bytes_total,
                               RelaySpliceDoneFunc  done,
                               gpointer             user_data);
void relay_splice_free (RelaySplice *self);

/* Rate limits a direction may share with others, besides its own. */
#define RELAY_SPLICE_MAX_SHARED_LIMITS 2

void relay_splice_add_limit (RelaySplice *self,
                             gboolean     a_to_b,
                             RelayBucket *bucket);

/* Bytes moved from a to b (@a_to_b) or from b to a. */
guint64 relay_splice_get_bytes (RelaySplice *self,
                                gboolean     a_to_b);
/* Whether that direction ended normally (end of stream passed on). */
gboolean relay_splice_get_done (RelaySplice *self,
                                gboolean     a_to_b);
/* Monotonic µs of the last byte moved either way. */
gint64 relay_splice_get_last_activity (RelaySplice *self);
/* Whether the directions move through pipes (zero copy). */
gboolean relay_splice_is_zero_copy (RelaySplice *self);

G_END_DECLS

/* foctet-relay-bucket.h: token buckets, the relay server's rate limits
 * (docs/protocol.md, "Limits"): bytes per second of a circuit's
 * direction, of what one client sends and receives over all its
 * circuits, and LOOKUPs per second of a client.
 *
 * A bucket holds up to its burst in tokens and gains @rate of them per
 * second; whatever it limits takes tokens as it goes and waits while the
 * bucket is empty.  A rate of 0 limits nothing.  Time is monotonic µs
 * (g_get_monotonic_time()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double rate;                        /* tokens per second; 0: no limit */
  double burst;                       /* tokens it holds at most */
  double tokens;
  gint64 refilled;                    /* monotonic µs */
} RelayBucket;

void relay_bucket_init (RelayBucket *bucket,
                        double       rate,
                        double       burst,
                        gint64       now);
double relay_bucket_refill (RelayBucket *bucket,
                            gint64       now);
gboolean relay_bucket_is_full (RelayBucket *bucket,
                               gint64       now);

/* Several buckets limiting one flow, all at once: NULL entries and
 * buckets without a rate are left out. */
gsize relay_buckets_allow (RelayBucket * const *buckets,
                           guint                n_buckets,
                           gsize                want,
                           gint64               now,
                           gint64              *ready_at);
void relay_buckets_take (RelayBucket * const *buckets,
                         guint                n_buckets,
                         gsize                amount);
void relay_buckets_refund (RelayBucket * const *buckets,
                           guint                n_buckets,
                           gsize                amount);

G_END_DECLS

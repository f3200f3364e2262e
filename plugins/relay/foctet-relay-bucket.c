/* foctet-relay-bucket.c: token buckets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-bucket.h"

/* A flow that finds a bucket empty waits until it holds this much again
 * (or its burst, if smaller), not a token: waking up for every few
 * hundred bytes would cost more than the bytes. */
#define RELAY_BUCKET_WAKE_TOKENS (16.0 * 1024)

/**
 * relay_bucket_init:
 * @bucket: a bucket
 * @rate: tokens per second; 0: no limit
 * @burst: the most it holds; it starts full
 * @now: monotonic µs
 */
void
relay_bucket_init (RelayBucket *bucket,
                   double       rate,
                   double       burst,
                   gint64       now)
{
  *bucket = (RelayBucket) { rate, burst, burst, now };
}

/**
 * relay_bucket_refill:
 * @bucket: a bucket with a rate
 * @now: monotonic µs
 *
 * Adds the tokens gained since the last refill, up to the burst.
 *
 * Returns: the tokens it holds now
 */
double
relay_bucket_refill (RelayBucket *bucket,
                     gint64       now)
{
  if (now > bucket->refilled)
    {
      bucket->tokens = MIN (bucket->burst,
                            bucket->tokens + (now - bucket->refilled) * bucket->rate / G_USEC_PER_SEC);
      bucket->refilled = now;
    }
  return bucket->tokens;
}

/**
 * relay_bucket_is_full:
 * @bucket: a bucket with a rate
 * @now: monotonic µs
 *
 * Returns: whether it holds its burst (and so says nothing a new
 *   bucket would not)
 */
gboolean
relay_bucket_is_full (RelayBucket *bucket,
                      gint64       now)
{
  return relay_bucket_refill (bucket, now) >= bucket->burst;
}

/**
 * relay_buckets_allow:
 * @buckets: (array length=n_buckets): the buckets of one flow
 * @n_buckets: how many
 * @want: what the flow would take
 * @now: monotonic µs
 * @ready_at: (out): when none may go, the monotonic µs at which every
 *   bucket will hold enough to go on again; else -1
 *
 * Returns: how much of @want the flow may take now: at most what each
 *   bucket holds, 0 while one holds less than a token
 */
gsize
relay_buckets_allow (RelayBucket * const *buckets,
                     guint                n_buckets,
                     gsize                want,
                     gint64               now,
                     gint64              *ready_at)
{
  gsize allowed = want;

  *ready_at = -1;
  for (guint i = 0; i < n_buckets; i++)
    if (buckets[i] != NULL && buckets[i]->rate > 0)
      allowed = MIN (allowed, (gsize) MAX (0.0, relay_bucket_refill (buckets[i], now)));
  if (allowed > 0 || want == 0)
    return allowed;

  for (guint i = 0; i < n_buckets; i++)
    if (buckets[i] != NULL && buckets[i]->rate > 0)
      {
        RelayBucket *b = buckets[i];
        /* Enough for @want, within reason: at most a tenth of a second's
         * worth, and at least a token. */
        double enough = MIN (MIN ((double) want, RELAY_BUCKET_WAKE_TOKENS), MIN (b->burst, b->rate / 10));
        double needed = MAX (1.0, enough) - b->tokens;

        if (needed > 0)
          *ready_at = MAX (*ready_at, now + (gint64) (needed * G_USEC_PER_SEC / b->rate) + 1);
      }
  /* Every bucket held a token after all (rounding): try again soon. */
  if (*ready_at < 0)
    *ready_at = now + 1000;
  return 0;
}

/**
 * relay_buckets_take:
 * @buckets: (array length=n_buckets): the buckets of one flow
 * @n_buckets: how many
 * @amount: what the flow took (after relay_buckets_allow(), at most what
 *   it allowed)
 */
void
relay_buckets_take (RelayBucket * const *buckets,
                    guint                n_buckets,
                    gsize                amount)
{
  for (guint i = 0; i < n_buckets; i++)
    if (buckets[i] != NULL && buckets[i]->rate > 0)
      buckets[i]->tokens -= (double) amount;
}

/**
 * relay_buckets_refund:
 * @buckets: (array length=n_buckets): the buckets of one flow
 * @n_buckets: how many
 * @amount: what the flow took beforehand and did not use (a read that
 *   got less than it was granted)
 */
void
relay_buckets_refund (RelayBucket * const *buckets,
                      guint                n_buckets,
                      gsize                amount)
{
  for (guint i = 0; i < n_buckets; i++)
    if (buckets[i] != NULL && buckets[i]->rate > 0)
      buckets[i]->tokens = MIN (buckets[i]->burst, buckets[i]->tokens + (double) amount);
}

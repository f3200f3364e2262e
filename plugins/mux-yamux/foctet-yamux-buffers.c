/* foctet-yamux-buffers.c: the yamux session's buffers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-yamux-buffers.h"

#include <string.h>

/* Most chunks one vectored write takes. */
#define WRITEV_MAX 128

/* The pools are shared by every session of the process, on whatever
 * thread it runs, so all of this is under one lock, held for a few
 * instructions at a time. */
G_LOCK_DEFINE_STATIC (pools);

/* Every pool that ever held a buffer, for the trim timer. */
static YamuxBufferPool *pools_listed;
/* The timer trims on the context of the last session that took a
 * buffer: one that is running.  The timer holds a reference to the
 * context it is attached to, so that the context cannot go away, and
 * the timer with it, while the timer is armed; when that context is no
 * longer run (its thread is done with it), the timer moves to the next
 * session's that takes a buffer. */
static GMainContext *pools_context;
static GSource *trim_source;
static GMainContext *trim_source_context;
static gint64 trim_due;       /* when the timer should fire next, monotonic µs */
static guint trim_interval = YAMUX_POOL_DEFAULT_TRIM_INTERVAL;

static gboolean pools_trim (gpointer data);

/* Under the lock.  Arms the trim timer unless it is armed. */
static void
pools_arm (void)
{
  if (trim_source != NULL || pools_context == NULL)
    return;
  trim_due = g_get_monotonic_time () + trim_interval * (gint64) 1000;
  trim_source = g_timeout_source_new (trim_interval);
  g_source_set_static_name (trim_source, "[foctet-yamux] buffer pools trim");
  g_source_set_callback (trim_source, pools_trim, NULL, NULL);
  trim_source_context = g_main_context_ref (pools_context);
  g_source_attach (trim_source, trim_source_context);
}

/* Under the lock.  Disarms the timer; returns the reference to its
 * context, for the caller to drop once it has let go of the lock. */
static GMainContext *
pools_disarm (void)
{
  if (trim_source == NULL)
    return NULL;
  g_source_destroy (trim_source);
  g_clear_pointer (&trim_source, g_source_unref);
  return g_steal_pointer (&trim_source_context);
}

/* The trim timer: frees the buffers that no one took since the tick
 * before — those below the least length each pool had since — and stays
 * armed while any pool still holds one.  The buffers on top, taken and
 * put back all the time by a transfer that runs, stay. */
static gboolean
pools_trim (gpointer data)
{
  g_autoptr (GPtrArray) freed = g_ptr_array_new_with_free_func (g_free);
  GMainContext *context = NULL;
  gboolean pooled = FALSE;

  G_LOCK (pools);
  if (g_main_current_source () != trim_source)
    {
      /* Replaced (yamux_pools_set_trim_interval()) while it waited for
       * the lock. */
      G_UNLOCK (pools);
      return G_SOURCE_REMOVE;
    }
  for (YamuxBufferPool *pool = pools_listed; pool != NULL; pool = pool->next)
    {
      for (guint i = 0; i < pool->low; i++)
        g_ptr_array_add (freed, pool->buffers[i]);
      memmove (pool->buffers, pool->buffers + pool->low, (pool->len - pool->low) * sizeof (gpointer));
      pool->len -= pool->low;
      pool->low = pool->len;
      pooled |= pool->len > 0;
    }
  if (!pooled)
    context = pools_disarm ();
  else
    trim_due = g_get_monotonic_time () + trim_interval * (gint64) 1000;
  G_UNLOCK (pools);

  if (freed->len > 0)
    g_debug ("buffer pools: %u buffers given back", freed->len);
  g_clear_pointer (&context, g_main_context_unref);
  return pooled ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* A buffer of @pool's size, recycled if one is there.  @context is the
 * caller's session's, where the trim timer goes. */
gpointer
yamux_pool_get (YamuxBufferPool *pool,
                GMainContext    *context)
{
  GMainContext *previous = NULL;
  GMainContext *stale = NULL;
  gpointer buffer = NULL;

  G_LOCK (pools);
  if (pool->len > 0)
    {
      buffer = pool->buffers[--pool->len];
      pool->low = MIN (pool->low, pool->len);
    }
  if (G_UNLIKELY (context != pools_context))
    {
      previous = pools_context;
      pools_context = g_main_context_ref (context);
    }
  /* A whole interval late: its context is not run any more. */
  if (G_UNLIKELY (trim_source != NULL && context != trim_source_context) &&
      g_get_monotonic_time () > trim_due + trim_interval * (gint64) 1000)
    {
      stale = pools_disarm ();
      pools_arm ();
    }
  G_UNLOCK (pools);
  if (G_UNLIKELY (previous != NULL))
    g_main_context_unref (previous);
  if (G_UNLIKELY (stale != NULL))
    g_main_context_unref (stale);
  return buffer != NULL ? buffer : g_malloc (pool->size);
}

void
yamux_pool_put (YamuxBufferPool *pool,
                gpointer         buffer)
{
  G_LOCK (pools);
  if (pool->len < YAMUX_POOL_MAX)
    {
      pool->buffers[pool->len++] = buffer;
      buffer = NULL;
      if (G_UNLIKELY (!pool->listed))
        {
          pool->listed = TRUE;
          pool->next = pools_listed;
          pools_listed = pool;
        }
      if (G_UNLIKELY (trim_source == NULL))
        pools_arm ();
    }
  G_UNLOCK (pools);
  g_free (buffer);
}

/* What all pools hold, in bytes. */
guint64
yamux_pools_get_pooled_bytes (void)
{
  guint64 bytes = 0;

  G_LOCK (pools);
  for (YamuxBufferPool *pool = pools_listed; pool != NULL; pool = pool->next)
    bytes += (guint64) pool->len * pool->size;
  G_UNLOCK (pools);
  return bytes;
}

guint
yamux_pools_get_trim_interval (void)
{
  guint interval_ms;

  G_LOCK (pools);
  interval_ms = trim_interval;
  G_UNLOCK (pools);
  return interval_ms;
}

/* Sets the trim interval of all pools, in milliseconds; an armed timer
 * starts over with it. */
void
yamux_pools_set_trim_interval (guint interval_ms)
{
  GMainContext *context = NULL;

  g_return_if_fail (interval_ms > 0);

  G_LOCK (pools);
  trim_interval = interval_ms;
  if (trim_source != NULL)
    {
      context = pools_disarm ();
      pools_arm ();
    }
  G_UNLOCK (pools);
  g_clear_pointer (&context, g_main_context_unref);
}

static YamuxBufferPool read_chunk_pool = YAMUX_BUFFER_POOL_INIT (sizeof (YamuxReadChunk) + YAMUX_READ_CHUNK_SIZE);

YamuxReadChunk *
yamux_read_chunk_new (GMainContext *context)
{
  YamuxReadChunk *chunk = yamux_pool_get (&read_chunk_pool, context);

  g_atomic_ref_count_init (&chunk->ref_count);
  chunk->used = 0;
  return chunk;
}

YamuxReadChunk *
yamux_read_chunk_ref (YamuxReadChunk *chunk)
{
  g_atomic_ref_count_inc (&chunk->ref_count);
  return chunk;
}

void
yamux_read_chunk_unref (YamuxReadChunk *chunk)
{
  if (g_atomic_ref_count_dec (&chunk->ref_count))
    yamux_pool_put (&read_chunk_pool, chunk);
}

/* What waits to be written: chunks of whole frames.  A data chunk holds
 * Data frames, each header right before its payload, in the one buffer
 * the application's bytes were copied into; a control chunk collects
 * header-only frames (window updates, pings, FIN, RST) as they come —
 * but pings and window updates that only grant credit go ahead of every
 * chunk not yet begun, in control chunks of their own
 * (yamux_out_queue_push_ahead()).  A big write's payload may also be the
 * caller's own memory, a chunk that continues the one before it.
 * Each chunk is one contiguous piece, one vector of a vectored
 * write (a TLS stream seals all of them and sends the records in one
 * write), never a vector per 12-byte header. */
#define CONTROL_CHUNK_SIZE (128 * FOCTET_YAMUX_HEADER_SIZE)

typedef struct {
  GBytes *bytes;       /* a data chunk, or NULL */
  guint8 *control;     /* a control chunk of CONTROL_CHUNK_SIZE bytes, or NULL */
  gboolean ahead;      /* a control chunk of frames that went ahead */
  gboolean continues;  /* the rest of the frame the chunk before began */
  const guint8 *borrowed;  /* a caller's payload, only while its write runs */
  gsize len;
  gsize sent;
  gpointer owner;      /* whom to tell when it leaves the queue, or NULL */
  gsize owned_len;     /* the length it was queued with */
} OutChunk;

static const guint8 *
out_chunk_data (OutChunk *chunk)
{
  if (chunk->borrowed != NULL)
    return chunk->borrowed;
  return chunk->bytes != NULL ? g_bytes_get_data (chunk->bytes, NULL) : chunk->control;
}

static void
out_chunk_free (YamuxOutQueue *queue,
                OutChunk      *chunk)
{
  if (chunk->owner != NULL)
    queue->release (chunk->owner, chunk->owned_len);
  g_clear_pointer (&chunk->bytes, g_bytes_unref);
  g_free (chunk->control);
  g_free (chunk);
}

void
yamux_out_queue_clear (YamuxOutQueue *queue)
{
  OutChunk *chunk;

  while ((chunk = g_queue_pop_head (&queue->chunks)) != NULL)
    out_chunk_free (queue, chunk);
  queue->bytes = 0;
  queue->drain_rate = 0;
  queue->blocked_since = 0;
}

void
yamux_out_queue_push_control (YamuxOutQueue           *queue,
                              const FoctetYamuxHeader *header)
{
  OutChunk *tail = g_queue_peek_tail (&queue->chunks);

  if (tail == NULL || tail->control == NULL || tail->ahead ||
      tail->len + FOCTET_YAMUX_HEADER_SIZE > CONTROL_CHUNK_SIZE)
    {
      tail = g_new0 (OutChunk, 1);
      tail->control = g_malloc (CONTROL_CHUNK_SIZE);
      g_queue_push_tail (&queue->chunks, tail);
    }
  foctet_yamux_header_encode (header, tail->control + tail->len);
  tail->len += FOCTET_YAMUX_HEADER_SIZE;
  queue->bytes += FOCTET_YAMUX_HEADER_SIZE;
}

/* Queues a frame that no other frame needs to come before: ahead of
 * every chunk not yet begun, behind the frames that went ahead before
 * it, in control chunks of such frames only, so that it does not wait
 * behind the data queued so far. */
void
yamux_out_queue_push_ahead (YamuxOutQueue           *queue,
                            const FoctetYamuxHeader *header)
{
  GList *at = queue->chunks.head;
  OutChunk *last = NULL;
  OutChunk *chunk;

  /* Never into the middle of what is being written, nor of a frame. */
  if (at != NULL && ((OutChunk *) at->data)->sent > 0)
    at = at->next;
  while (at != NULL && ((OutChunk *) at->data)->continues)
    at = at->next;
  while (at != NULL && ((OutChunk *) at->data)->ahead)
    {
      last = at->data;
      at = at->next;
    }
  chunk = last;
  if (chunk == NULL || chunk->len + FOCTET_YAMUX_HEADER_SIZE > CONTROL_CHUNK_SIZE)
    {
      chunk = g_new0 (OutChunk, 1);
      chunk->control = g_malloc (CONTROL_CHUNK_SIZE);
      chunk->ahead = TRUE;
      if (at != NULL)
        g_queue_insert_before (&queue->chunks, at, chunk);
      else
        g_queue_push_tail (&queue->chunks, chunk);
    }
  foctet_yamux_header_encode (header, chunk->control + chunk->len);
  chunk->len += FOCTET_YAMUX_HEADER_SIZE;
  queue->bytes += FOCTET_YAMUX_HEADER_SIZE;
}

static void
push_owned (YamuxOutQueue *queue,
            OutChunk      *chunk,
            gpointer       owner)
{
  g_assert (owner == NULL || queue->release != NULL);
  chunk->owner = owner;
  chunk->owned_len = chunk->len;
  g_queue_push_tail (&queue->chunks, chunk);
  queue->bytes += chunk->len;
}

/* Queues @frames, whole Data frames (owned).  @owner, unless NULL, is a
 * reference that queue->release gets back with the chunk's length when
 * the chunk leaves the queue, so that the owner can count what it has
 * queued. */
void
yamux_out_queue_push_data (YamuxOutQueue *queue,
                           GBytes        *frames,
                           gpointer       owner)
{
  OutChunk *chunk = g_new0 (OutChunk, 1);

  chunk->bytes = frames;
  chunk->len = g_bytes_get_size (frames);
  push_owned (queue, chunk, owner);
}

/* Queues @len bytes at @data without copying them, the rest of the frame
 * whose start was queued last: the caller calls
 * yamux_out_queue_keep_borrowed() before @data goes away.  @owner as for
 * yamux_out_queue_push_data(). */
void
yamux_out_queue_push_borrowed (YamuxOutQueue *queue,
                               const guint8  *data,
                               gsize          len,
                               gpointer       owner)
{
  OutChunk *chunk = g_new0 (OutChunk, 1);

  chunk->borrowed = data;
  chunk->continues = TRUE;
  chunk->len = len;
  push_owned (queue, chunk, owner);
}

/* Copies what is left of the borrowed chunks, so that the queue no
 * longer points into the caller's memory. */
void
yamux_out_queue_keep_borrowed (YamuxOutQueue *queue)
{
  for (GList *l = queue->chunks.head; l != NULL; l = l->next)
    {
      OutChunk *chunk = l->data;

      if (chunk->borrowed == NULL)
        continue;
      chunk->bytes = g_bytes_new (chunk->borrowed + chunk->sent, chunk->len - chunk->sent);
      chunk->borrowed = NULL;
      chunk->len -= chunk->sent;
      chunk->sent = 0;
    }
}

/* After a write: the base stream held some back (@blocked), or took
 * all.  The rate is that of the bytes written from one write held back
 * to another at least DRAIN_WINDOW_US later; it is forgotten when the
 * writes went through for twice as long. */
static void
out_queue_drain_sample (YamuxOutQueue *queue,
                        gboolean       blocked)
{
  gint64 now;

  if (!blocked && queue->blocked_since == 0)
    return;
  now = g_get_monotonic_time ();
  if (!blocked)
    {
      if (now - queue->blocked_last >= 2 * DRAIN_WINDOW_US)
        {
          queue->drain_rate = 0;
          queue->blocked_since = 0;
        }
      return;
    }
  queue->blocked_last = now;
  if (queue->blocked_since == 0)
    {
      queue->blocked_since = now;
      queue->blocked_written = 0;
    }
  else if (now - queue->blocked_since >= DRAIN_WINDOW_US)
    {
      queue->drain_rate = MAX (1, queue->blocked_written * (guint64) G_USEC_PER_SEC /
                                  (guint64) (now - queue->blocked_since));
      queue->blocked_since = now;
      queue->blocked_written = 0;
    }
}

/* Writes as much of @queue as the stream takes now.  Returns FALSE on a
 * write error; sets @would_block when chunks are left. */
gboolean
yamux_out_queue_write (YamuxOutQueue          *queue,
                       GPollableOutputStream  *output,
                       gboolean               *would_block,
                       GError                **error)
{
  *would_block = FALSE;
  while (!g_queue_is_empty (&queue->chunks))
    {
      GOutputVector vectors[WRITEV_MAX];
      guint n_vectors = 0;
      gsize written = 0;
      GPollableReturn ret;

      for (GList *l = queue->chunks.head; l != NULL && n_vectors < WRITEV_MAX; l = l->next)
        {
          OutChunk *chunk = l->data;

          vectors[n_vectors].buffer = out_chunk_data (chunk) + chunk->sent;
          vectors[n_vectors].size = chunk->len - chunk->sent;
          n_vectors++;
        }

      ret = g_pollable_output_stream_writev_nonblocking (output, vectors, n_vectors, &written,
                                                        NULL, error);
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        {
          *would_block = TRUE;
          out_queue_drain_sample (queue, TRUE);
          return TRUE;
        }
      if (ret == G_POLLABLE_RETURN_FAILED)
        return FALSE;

      queue->bytes -= written;
      queue->blocked_written += written;
      while (written > 0)
        {
          OutChunk *chunk = g_queue_peek_head (&queue->chunks);
          gsize left = chunk->len - chunk->sent;

          if (written < left)
            {
              chunk->sent += written;
              break;
            }
          written -= left;
          out_chunk_free (queue, g_queue_pop_head (&queue->chunks));
        }
    }
  out_queue_drain_sample (queue, FALSE);
  return TRUE;
}

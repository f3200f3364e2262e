/* foctet-yamux-buffers.h: the yamux session's buffers — big buffers
 * recycled, the chunks the base stream is read into, and the queue of
 * frames waiting to be written.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "foctet-yamux-frame.h"

G_BEGIN_DECLS

/* Big buffers are read into and written from in one piece: the base
 * stream is read in chunks of this size. */
#define YAMUX_READ_CHUNK_SIZE (256 * 1024)

/* Big buffers are recycled.  malloc hands out buffers this large as
 * fresh pages (mmap, or heap it has just trimmed), and faulting in and
 * zeroing those cost more than the copies they are for: at full speed
 * that was a tenth of the receiver's time.  A few are kept per size, in
 * pools that all sessions of the process share (a burst on one
 * connection leaves them warm for the next).
 *
 * What a pool kept but nobody took during a whole trim interval goes
 * back to malloc: a timer, armed only while some pool holds a buffer,
 * frees at each tick the buffers that lay at the bottom of the pool
 * since the tick before (see pools_trim()).  A connection that goes idle
 * after a burst thus gives the pools' memory (up to 20 MiB) back within
 * two intervals, and a bulk transfer, which takes and puts buffers back
 * all the time, keeps what it uses. */
#define YAMUX_POOL_MAX 16
#define YAMUX_POOL_DEFAULT_TRIM_INTERVAL 10000  /* ms */

typedef struct _YamuxBufferPool YamuxBufferPool;

struct _YamuxBufferPool {
  gsize size;
  guint len;
  guint low;                 /* the least len since the last trim */
  gboolean listed;           /* in the list of pools the timer trims */
  YamuxBufferPool *next;
  gpointer buffers[YAMUX_POOL_MAX];
};

#define YAMUX_BUFFER_POOL_INIT(buffer_size) { .size = (buffer_size) }

gpointer yamux_pool_get (YamuxBufferPool *pool,
                         GMainContext    *context);
void yamux_pool_put (YamuxBufferPool *pool,
                     gpointer         buffer);

guint64 yamux_pools_get_pooled_bytes (void);
guint yamux_pools_get_trim_interval (void);
void yamux_pools_set_trim_interval (guint interval_ms);

/* A piece of the base stream, read once; Data payloads are slices of it. */
typedef struct {
  gatomicrefcount ref_count;
  gsize used;
  guint8 data[];
} YamuxReadChunk;

YamuxReadChunk *yamux_read_chunk_new (GMainContext *context);
YamuxReadChunk *yamux_read_chunk_ref (YamuxReadChunk *chunk);
void yamux_read_chunk_unref (YamuxReadChunk *chunk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (YamuxReadChunk, yamux_read_chunk_unref)

/* Told that the data chunk of @owner (see yamux_out_queue_push_data())
 * left the queue, written or dropped, with the @len bytes it was queued
 * with; it owns the reference to @owner that the chunk held. */
typedef void (*YamuxOutReleaseFunc) (gpointer owner,
                                     gsize    len);

/* The shortest period a drain rate is measured over. */
#define DRAIN_WINDOW_US 100000

/* What waits to be written: chunks of whole frames (see
 * foctet-yamux-buffers.c), and how many bytes they hold. */
typedef struct {
  GQueue chunks;
  gsize bytes;         /* not yet written */
  YamuxOutReleaseFunc release;  /* for chunks with an owner */
  /* The rate the queue drains at while the base stream holds it back
   * (see out_queue_drain_sample()). */
  guint64 drain_rate;     /* bytes per second; 0: it keeps up */
  gint64 blocked_since;   /* monotonic µs, the window's start; 0: none */
  gint64 blocked_last;    /* the last write held back */
  gsize blocked_written;  /* since blocked_since */
} YamuxOutQueue;

void yamux_out_queue_clear (YamuxOutQueue *queue);
void yamux_out_queue_push_ahead (YamuxOutQueue           *queue,
                                 const FoctetYamuxHeader *header);
void yamux_out_queue_push_control (YamuxOutQueue           *queue,
                                   const FoctetYamuxHeader *header);
void yamux_out_queue_push_data (YamuxOutQueue *queue,
                                GBytes        *frames,
                                gpointer       owner);
void yamux_out_queue_push_borrowed (YamuxOutQueue *queue,
                                    const guint8  *data,
                                    gsize          len,
                                    gpointer       owner);
void yamux_out_queue_keep_borrowed (YamuxOutQueue *queue);
gboolean yamux_out_queue_write (YamuxOutQueue          *queue,
                                GPollableOutputStream  *output,
                                gboolean               *would_block,
                                GError                **error);

G_END_DECLS

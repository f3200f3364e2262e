/* foctet-relay-splice.c: splicing the two sockets of a raw circuit.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-splice.h"
#include "foctet-relay-common.h"
#include "foctet-relay-bucket.h"

#include <foctet-poll-fd.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Moved in one go before the main loop gets a turn: other circuits and
 * the control connections must not starve behind a fast one. */
#define SLICE_BYTES (4 * 1024 * 1024)

typedef struct {
  RelaySplice *splice;
  int from;
  int to;
  /* Both sockets, polled through FoctetPollFds (foctet-poll-fd.h):
   * each step waits for one or the other without adding and removing
   * descriptors. */
  FoctetPollFd in;                    /* from, for G_IO_IN */
  FoctetPollFd out;                   /* to, for G_IO_OUT */
  int pipe[2];                        /* -1 when buffered */
  guint8 *buffer;                     /* when not piped */
  gsize offset;                       /* of the pending bytes in buffer */
  gsize pending;                      /* in the pipe or the buffer */
  gsize capacity;
  guint64 bytes;
  RelayBucket rate;                   /* of this direction alone, in bytes */
  /* What limits it: its own rate, then those shared with other splices
   * (relay_splice_add_limit()). */
  RelayBucket *limits[1 + RELAY_SPLICE_MAX_SHARED_LIMITS];
  guint n_limits;
  gboolean eof;                       /* read end of stream */
  gboolean done;                      /* and passed it on */
  GSource *source;                    /* waits for an fd or for tokens */
} Direction;

struct _RelaySplice {
  Direction up;                       /* a → b */
  Direction down;                     /* b → a */
  GSocket *a;
  GSocket *b;
  guint64 *bytes_total;
  gint64 last_activity;
  RelaySpliceDoneFunc done;
  gpointer user_data;
  gboolean over;
};

typedef struct {
  GSource source;
  Direction *direction;
} DirectionSource;

static void direction_step (Direction *d);

static gboolean
direction_check (GSource *source)
{
  Direction *d = ((DirectionSource *) source)->direction;

  return foctet_poll_fd_reported (&d->in) || foctet_poll_fd_reported (&d->out);
}

static gboolean
direction_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  Direction *d = user_data;

  foctet_poll_fd_drop_if_hung_up (&d->in, source);
  foctet_poll_fd_drop_if_hung_up (&d->out, source);
  g_source_set_ready_time (source, -1);
  direction_step (d);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs direction_funcs = {
  .check = direction_check,
  .dispatch = direction_dispatch,
};

/* Waits for @fd (the direction's source or destination) to become ready
 * for @condition, or (fd -1) until @ready_time. */
static void
direction_wait (Direction    *d,
                int           fd,
                GIOCondition  condition,
                gint64        ready_time)
{
  foctet_poll_fd_wait (&d->in, d->source, fd >= 0 && fd == d->from ? condition : 0);
  foctet_poll_fd_wait (&d->out, d->source, fd >= 0 && fd == d->to ? condition : 0);
  g_source_set_ready_time (d->source, ready_time);
}

static void
splice_finish (RelaySplice *self,
               int          gone,
               const char  *why)
{
  if (self->over)
    return;
  self->over = TRUE;
  direction_wait (&self->up, -1, 0, -1);
  direction_wait (&self->down, -1, 0, -1);
  /* The sockets may be closed before the splice is freed. */
  foctet_poll_fd_remove (&self->up.in, self->up.source);
  foctet_poll_fd_remove (&self->up.out, self->up.source);
  foctet_poll_fd_remove (&self->down.in, self->down.source);
  foctet_poll_fd_remove (&self->down.out, self->down.source);
  self->done (self->user_data, gone, why);
}

/* @fd, a socket of @d, failed with @errsv in @what. */
static void
direction_fail (Direction  *d,
                int         fd,
                const char *what,
                int         errsv)
{
  RelaySplice *self = d->splice;
  g_autofree char *why = g_strdup_printf ("%s: %s", what, g_strerror (errsv));
  gboolean gone = errsv == ECONNRESET || errsv == EPIPE;

  splice_finish (self, !gone ? -1 : fd == g_socket_get_fd (self->a) ? 0 : 1, why);
}

/* Reads into the pipe or the buffer: > 0 bytes, 0 at the end of the
 * stream, -1 with errno. */
static gssize
direction_read (Direction *d,
                gsize      size)
{
  if (d->pipe[0] >= 0)
    return splice (d->from, NULL, d->pipe[1], NULL, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (d->pending == 0)
    d->offset = 0;
  else if (d->capacity - d->offset - d->pending < d->offset)
    {
      /* Less room after the pending bytes than before them: move them
       * to the front.  (With none after them, a read of 0 bytes would
       * pass for the end of the stream.) */
      memmove (d->buffer, d->buffer + d->offset, d->pending);
      d->offset = 0;
    }
  size = MIN (size, d->capacity - d->offset - d->pending);
  return recv (d->from, d->buffer + d->offset + d->pending, size, MSG_DONTWAIT);
}

static gssize
direction_write (Direction *d)
{
  gssize n;

  if (d->pipe[0] >= 0)
    return splice (d->pipe[0], NULL, d->to, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  n = send (d->to, d->buffer + d->offset, d->pending, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0)
    d->offset += n;
  return n;
}

/* Moves what can be moved now, then waits for what blocks it: the
 * destination when bytes are pending and it is full, else the source
 * (or the rate limit's tokens). */
static void
direction_step (Direction *d)
{
  RelaySplice *self = d->splice;
  gsize moved = 0;
  gint64 tokens_at = -1;

  if (self->over)
    return;
  for (;;)
    {
      gboolean progressed = FALSE;
      gboolean out_blocked = FALSE;
      gssize n;

      tokens_at = -1;
      if (!d->eof && d->pending < d->capacity)
        {
          gsize size = d->capacity - d->pending;

          if (d->n_limits > 0)
            size = relay_buckets_allow (d->limits, d->n_limits, size, g_get_monotonic_time (), &tokens_at);
          if (size > 0)
            {
              n = direction_read (d, size);
              if (n > 0)
                {
                  d->pending += n;
                  d->bytes += n;
                  relay_buckets_take (d->limits, d->n_limits, n);
                  *self->bytes_total += n;
                  self->last_activity = g_get_monotonic_time ();
                  moved += n;
                  progressed = TRUE;
                }
              else if (n == 0)
                {
                  d->eof = TRUE;
                  progressed = TRUE;
                }
              else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                {
                  direction_fail (d, d->from, "read", errno);
                  return;
                }
            }
        }
      if (d->pending > 0)
        {
          n = direction_write (d);
          if (n > 0)
            {
              d->pending -= n;
              progressed = TRUE;
            }
          else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            out_blocked = TRUE;
          else if (n < 0 && errno != EINTR)
            {
              direction_fail (d, d->to, "write", errno);
              return;
            }
        }
      if (d->eof && d->pending == 0 && !d->done)
        {
          d->done = TRUE;
          direction_wait (d, -1, 0, -1);
          if (shutdown (d->to, SHUT_WR) < 0 && errno != ENOTCONN)
            {
              direction_fail (d, d->to, "shutdown", errno);
              return;
            }
          if (self->up.done && self->down.done)
            splice_finish (self, -1, NULL);
          return;
        }
      if (out_blocked)
        {
          direction_wait (d, d->to, G_IO_OUT, -1);
          return;
        }
      if (!progressed || moved >= SLICE_BYTES)
        break;
    }
  if (tokens_at >= 0 && d->pending == 0)
    direction_wait (d, -1, 0, tokens_at);
  else if (moved >= SLICE_BYTES && d->pending > 0)
    /* The slice is used up: the other sources get their turn, and the
     * poll, level-triggered, brings this one back at once (a ready time
     * would do the same, and wake the context up twice on the way). */
    direction_wait (d, d->to, G_IO_OUT, -1);
  else
    direction_wait (d, d->from, G_IO_IN, tokens_at);
}

static void
direction_init (RelaySplice *self,
                Direction   *d,
                GSocket     *from,
                GSocket     *to,
                guint64      rate)
{
  d->splice = self;
  d->from = g_socket_get_fd (from);
  d->to = g_socket_get_fd (to);
  d->pipe[0] = d->pipe[1] = -1;
  d->capacity = RELAY_SPLICE_PIPE_SIZE;
  if (pipe2 (d->pipe, O_CLOEXEC | O_NONBLOCK) == 0)
    {
      int size = fcntl (d->pipe[1], F_SETPIPE_SZ, RELAY_SPLICE_PIPE_SIZE);

      /* The kernel may give less (pipe-max-size, per-user limits). */
      if (size > 0)
        d->capacity = size;
      else
        d->capacity = 64 * 1024;
    }
  else
    {
      g_debug ("No pipe for a raw circuit (%s): copying through a buffer", g_strerror (errno));
      d->pipe[0] = d->pipe[1] = -1;
      d->buffer = g_malloc (d->capacity);
    }
  /* A burst of at most a tenth of a second, and at least 64 KiB. */
  relay_bucket_init (&d->rate, rate, MAX (rate / 10.0, 64.0 * 1024), g_get_monotonic_time ());
  if (rate > 0)
    d->limits[d->n_limits++] = &d->rate;
  foctet_poll_fd_init (&d->in, d->from);
  foctet_poll_fd_init (&d->out, d->to);
  d->source = g_source_new (&direction_funcs, sizeof (DirectionSource));
  ((DirectionSource *) d->source)->direction = d;
  g_source_set_static_name (d->source, "foctet relay splice");
  /* Not blocked while it dispatches: blocking takes a source's
   * descriptors out of the context's poll set and puts them back, and
   * GLib (2.74) writes to the context's wake-up descriptor both times.
   * Nothing iterates this context from inside the callback. */
  g_source_set_can_recurse (d->source, TRUE);
  /* The dispatch gets the direction as its user data. */
  g_source_set_callback (d->source, (GSourceFunc) (void (*) (void)) direction_step, d, NULL);
  g_source_attach (d->source, g_main_context_get_thread_default ());
}

static void
direction_clear (Direction *d)
{
  relay_clear_source (&d->source);
  if (d->pipe[0] >= 0)
    {
      close (d->pipe[0]);
      close (d->pipe[1]);
    }
  g_free (d->buffer);
}

/**
 * relay_splice_new:
 * @a: a connected TCP socket (the dialer's end)
 * @b: another (the target's end)
 * @rate: bytes per second in each direction; 0: no limit
 * @bytes_total: a counter every byte moved is added to
 * @done: called once when the splice is over
 * @user_data: for @done
 *
 * Starts moving bytes both ways, on the thread-default main context.
 * Neither socket is closed here: that is the caller's, after @done (or
 * after relay_splice_free()).
 *
 * Returns: (transfer full): the splice
 */
RelaySplice *
relay_splice_new (GSocket             *a,
                  GSocket             *b,
                  guint64              rate,
                  guint64             *bytes_total,
                  RelaySpliceDoneFunc  done,
                  gpointer             user_data)
{
  RelaySplice *self = g_new0 (RelaySplice, 1);

  self->a = g_object_ref (a);
  self->b = g_object_ref (b);
  self->bytes_total = bytes_total;
  self->done = done;
  self->user_data = user_data;
  self->last_activity = g_get_monotonic_time ();
  direction_init (self, &self->up, a, b, rate);
  direction_init (self, &self->down, b, a, rate);
  /* Bytes may already wait (sent right after the token). */
  g_source_set_ready_time (self->up.source, 0);
  g_source_set_ready_time (self->down.source, 0);
  return self;
}

void
relay_splice_free (RelaySplice *self)
{
  if (self == NULL)
    return;
  direction_clear (&self->up);
  direction_clear (&self->down);
  g_object_unref (self->a);
  g_object_unref (self->b);
  g_free (self);
}

/**
 * relay_splice_add_limit:
 * @self: a splice
 * @a_to_b: the direction from a to b, else from b to a
 * @bucket: (transfer none): a rate limit that direction shares with
 *   others (a client's, say); it must outlive @self
 *
 * Holds that direction to @bucket as well as to its own rate; at most
 * %RELAY_SPLICE_MAX_SHARED_LIMITS of them.
 */
void
relay_splice_add_limit (RelaySplice *self,
                        gboolean     a_to_b,
                        RelayBucket *bucket)
{
  Direction *d = a_to_b ? &self->up : &self->down;

  g_return_if_fail (d->n_limits < G_N_ELEMENTS (d->limits));
  d->limits[d->n_limits++] = bucket;
}

guint64
relay_splice_get_bytes (RelaySplice *self,
                        gboolean     a_to_b)
{
  return a_to_b ? self->up.bytes : self->down.bytes;
}

gboolean
relay_splice_get_done (RelaySplice *self,
                       gboolean     a_to_b)
{
  return a_to_b ? self->up.done : self->down.done;
}

gint64
relay_splice_get_last_activity (RelaySplice *self)
{
  return self->last_activity;
}

gboolean
relay_splice_is_zero_copy (RelaySplice *self)
{
  return self->up.pipe[0] >= 0 && self->down.pipe[0] >= 0;
}

/* foctet-quic-connection.c: one QUIC connection (ngtcp2 + GnuTLS) as a
 * FoctetConnection, its streams as FoctetChannelStreams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "foctet-quic.h"

/* Flow control (PROTOCOL §3 leaves the numbers to implementations): a
 * stream starts with 1 MiB of credit and ngtcp2's auto-tuning grows a busy
 * one up to 16 MiB; the whole connection starts at 4 MiB and may grow to
 * 64 MiB, which bounds what a peer can make this side buffer. */
#define STREAM_WINDOW_INITIAL (1024 * 1024)
#define STREAM_WINDOW_MAX (16 * 1024 * 1024)
#define CONNECTION_WINDOW_INITIAL (4 * 1024 * 1024)
#define CONNECTION_WINDOW_MAX (64 * 1024 * 1024)
/* Bytes the application may have written to the streams of a connection
 * and not yet seen acknowledged before writes block, all the streams
 * together, or twice the congestion window if that is more
 * (conn_send_budget()): with many streams, megabytes each would be far
 * more than the path holds, out of the cache by the time ngtcp2 packs
 * them.  One stream may take the whole budget: on a long, fast path a
 * fixed bound of its own would cap it at that bound per round trip. */
#define CONN_SEND_BUFFER (8 * 1024 * 1024)
/* What a stream may hold whatever the others do: a stream beside a busy
 * one, which has the whole budget and takes every byte of it that is
 * acknowledged, still gets its messages out.  Only while the connection
 * holds less than twice its budget in all: a peer that opens many streams
 * and never takes what they send would otherwise pin this much per
 * stream. */
#define STREAM_SEND_MIN (256 * 1024)
/* Send buffers are made of chunks this big. */
#define SEND_CHUNK_SIZE (64 * 1024)
/* Pieces of stream data handed to ngtcp2 in one call. */
#define MAX_VECS 16
/* Datagrams written per dispatch before other sources get a turn. */

typedef struct _StreamState StreamState;

struct _QuicConnection {
  FoctetConnection parent_instance;

  QuicTransport *transport;          /* not owned */
  QuicEndpoint *endpoint;
  QuicConfig config;
  GMainContext *context;
  gboolean is_server;

  ngtcp2_conn *conn;
  gnutls_session_t session;
  ngtcp2_crypto_conn_ref conn_ref;
  ngtcp2_path_storage path;          /* the path packets are sent on */
  GPtrArray *cids;                   /* ngtcp2_cid registered at the endpoint */

  /* Authentication. */
  FoctetNodeId *expected_peer;       /* dialer: the NodeId it dialed */
  FoctetNodeId *peer_id;
  GError *verify_error;
  gboolean alpn_refused;

  /* State. */
  gboolean got_packet;               /* the peer sent one that decrypted */
  gboolean announced;                /* handed to the dialer or the listener's node */
  gboolean established;              /* handshake done (and confirmed, for a client) */
  gboolean ended;                    /* closed, for whatever reason */
  gboolean peer_closed;              /* by the peer's CONNECTION_CLOSE */
  guint64 last_rx;                   /* quic_timestamp () of the last packet read */
  GError *end_error;
  GSource *timer;                    /* expiry, pacing and "write soon" */
  GSource *handshake_timer;
  gboolean write_blocked;            /* the socket is full */
  guint8 *pending;                   /* a burst the socket did not take */
  gsize pending_len;
  gsize pending_segment;
  guint pending_ecn;
  guint8 *txbuf;

  /* Streams. */
  GHashTable *streams;               /* stream id → FoctetChannel */
  GQueue sendq;                      /* StreamState with something to send */
  GQueue incoming;                   /* QuicStream the peer opened, not accepted */
  GQueue accepts;                    /* GTask */
  GQueue opens;                      /* GTask waiting for stream credit */
  guint64 remote_streams_closed;     /* to give back as MAX_STREAMS */
  guint64 unacked;                   /* the streams' written and not acknowledged, together */
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (QuicConnection, quic_connection, FOCTET_TYPE_CONNECTION,
                                G_TYPE_FLAG_FINAL, {})

struct _QuicStream {
  FoctetChannelStream parent_instance;
};

G_DEFINE_DYNAMIC_TYPE_EXTENDED (QuicStream, quic_stream, FOCTET_TYPE_CHANNEL_STREAM,
                                G_TYPE_FLAG_FINAL, {})

static void conn_schedule_write (QuicConnection *self);
static void conn_end (QuicConnection *self,
                      GError         *error);
static void conn_check_opens (QuicConnection *self);

guint64
quic_timestamp (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * NGTCP2_SECONDS + (guint64) ts.tv_nsec;
}

static void
source_destroy_and_unref (GSource *source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

static GError *
closed_error (void)
{
  return g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                              "The QUIC connection is closed");
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

typedef struct {
  guint8 *data;
  gsize len;
} SendChunk;

struct _StreamState {
  QuicConnection *conn;              /* NULL once the connection ended */
  FoctetChannel *channel;            /* not owned: the channel owns this */
  int64_t id;
  gboolean in_table;                 /* ngtcp2 still knows the stream */

  /* Receiving: data in order, as ngtcp2 hands it over. */
  GQueue recv;                       /* GBytes */
  gsize recv_head_offset;
  gsize recv_buffered;
  gboolean fin_received;
  gboolean reset_received;
  guint64 reset_code;
  gboolean read_closed;

  /* Sending: everything from the oldest unacknowledged byte on. */
  GQueue chunks;                     /* SendChunk */
  guint64 base;                      /* stream offset of the first chunk */
  guint64 acked;
  guint64 sent;                      /* handed to ngtcp2 */
  guint64 written;                   /* by the application */
  gboolean fin_wanted;
  gboolean fin_sent;
  gboolean stop_received;            /* the peer's STOP_SENDING: ngtcp2 refused to send more */
  gboolean reset_sent;
  gboolean in_sendq;
  GList sendq_link;

  GError *error;                     /* the connection's end */
};

static StreamState *
stream_state (FoctetChannel *channel)
{
  return foctet_channel_get_backend (channel);
}

static void
send_chunk_free (SendChunk *chunk)
{
  g_free (chunk->data);
  g_free (chunk);
}

static void
stream_drop_received (StreamState *s)
{
  g_queue_clear_full (&s->recv, (GDestroyNotify) g_bytes_unref);
  s->recv_head_offset = 0;
  s->recv_buffered = 0;
}

/* @s's bytes up to @acked are acknowledged (or need not be any more). */
static void
stream_set_acked (StreamState *s,
                  guint64      acked)
{
  if (acked <= s->acked)
    return;
  if (s->conn != NULL)
    s->conn->unacked -= MIN (s->conn->unacked, acked - s->acked);
  s->acked = acked;
}

static void
stream_drop_send_buffer (StreamState *s)
{
  g_queue_clear_full (&s->chunks, (GDestroyNotify) send_chunk_free);
  stream_set_acked (s, s->written);
  s->base = s->acked = s->sent = s->written;
}

static void
stream_state_free (gpointer data)
{
  StreamState *s = data;

  g_assert (!s->in_sendq);
  stream_drop_received (s);
  stream_drop_send_buffer (s);
  g_clear_error (&s->error);
  g_free (s);
}

static gboolean
stream_has_unsent (StreamState *s)
{
  return s->sent < s->written || (s->fin_wanted && !s->fin_sent);
}

static void
sendq_remove (QuicConnection *self,
              StreamState    *s)
{
  if (!s->in_sendq)
    return;
  g_queue_unlink (&self->sendq, &s->sendq_link);
  s->in_sendq = FALSE;
}

static void
sendq_add (QuicConnection *self,
           StreamState    *s)
{
  if (s->in_sendq || !s->in_table || s->reset_sent || s->stop_received)
    return;
  s->sendq_link.data = s;
  g_queue_push_tail_link (&self->sendq, &s->sendq_link);
  s->in_sendq = TRUE;
  conn_schedule_write (self);
}

/* Bytes the application read: credit for the peer. */
static void
stream_consumed (StreamState *s,
                 gsize        n)
{
  if (n == 0 || s->conn == NULL || s->conn->conn == NULL)
    return;
  if (s->in_table)
    ngtcp2_conn_extend_max_stream_offset (s->conn->conn, s->id, n);
  ngtcp2_conn_extend_max_offset (s->conn->conn, n);
  conn_schedule_write (s->conn);
}

static gboolean
stream_is_readable (gpointer backend)
{
  StreamState *s = backend;

  return s->recv_buffered > 0 || s->fin_received || s->reset_received || s->read_closed ||
         s->error != NULL;
}

static gssize
stream_read (gpointer   backend,
             void      *buffer,
             gsize      count,
             GError   **error)
{
  StreamState *s = backend;
  guint8 *out = buffer;
  gsize done = 0;

  if (s->reset_received)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET,
                   "The peer reset QUIC stream %" G_GINT64_FORMAT " (code %" G_GUINT64_FORMAT ")",
                   s->id, s->reset_code);
      return -1;
    }
  if (s->reset_sent)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET,
                   "QUIC stream %" G_GINT64_FORMAT " was reset", s->id);
      return -1;
    }
  if (s->read_closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is closed");
      return -1;
    }
  if (s->recv_buffered == 0)
    {
      if (s->fin_received || count == 0)
        return 0;
      if (s->error != NULL)
        {
          g_propagate_error (error, g_error_copy (s->error));
          return -1;
        }
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "No data on the QUIC stream yet");
      return -1;
    }

  done = foctet_bytes_queue_take (&s->recv, &s->recv_head_offset, out, count);
  s->recv_buffered -= done;
  stream_consumed (s, done);
  return done;
}

static gboolean
stream_check_can_write (StreamState  *s,
                        GError      **error)
{
  if (s->reset_sent)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET,
                   "QUIC stream %" G_GINT64_FORMAT " was reset", s->id);
      return FALSE;
    }
  if (s->error != NULL)
    {
      g_propagate_error (error, g_error_copy (s->error));
      return FALSE;
    }
  if (s->fin_wanted)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream was closed for writing");
      return FALSE;
    }
  /* The peer sent STOP_SENDING (and ngtcp2 answered with RESET_STREAM),
   * or the stream is over for ngtcp2, which happens before this side's
   * end only when the peer aborted it: nothing written would be sent. */
  if (s->stop_received || !s->in_table)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET,
                   "The peer reset QUIC stream %" G_GINT64_FORMAT ": it reads no more", s->id);
      return FALSE;
    }
  return TRUE;
}

/* How many written, unacknowledged bytes the streams of @self may hold
 * together: CONN_SEND_BUFFER, or room for the congestion window twice
 * over on a path that holds more. */
static guint64
conn_send_budget (QuicConnection *self)
{
  ngtcp2_conn_stat cstat;

  if (self->conn == NULL)
    return CONN_SEND_BUFFER;
  ngtcp2_conn_get_conn_stat (self->conn, &cstat);
  return MAX (CONN_SEND_BUFFER, 2 * cstat.cwnd);
}

/* How much more @s may take now: what is left of the connection's
 * budget, or of STREAM_SEND_MIN (while the connection holds less than
 * twice its budget), whichever leaves it more. */
static gsize
stream_send_room (StreamState *s)
{
  guint64 held = s->written - s->acked;
  guint64 budget = conn_send_budget (s->conn);
  guint64 shared = budget - MIN (budget, s->conn->unacked);
  guint64 own = s->conn->unacked < 2 * budget ? STREAM_SEND_MIN - MIN (STREAM_SEND_MIN, held) : 0;

  return MAX (shared, own);
}

static gboolean
stream_is_writable (gpointer backend)
{
  StreamState *s = backend;

  if (s->reset_sent || s->stop_received || !s->in_table || s->error != NULL || s->fin_wanted)
    return TRUE;
  return stream_send_room (s) > 0;
}

static gssize
stream_write (gpointer     backend,
              const void  *buffer,
              gsize        count,
              GError     **error)
{
  StreamState *s = backend;
  const guint8 *in = buffer;
  gsize room, done = 0;

  if (!stream_check_can_write (s, error))
    return -1;
  if (count == 0)
    return 0;
  room = stream_send_room (s);
  if (room == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "The QUIC stream's send buffer is full");
      return -1;
    }
  count = MIN (count, room);

  while (done < count)
    {
      SendChunk *tail = g_queue_peek_tail (&s->chunks);
      gsize take;

      if (tail == NULL || tail->len == SEND_CHUNK_SIZE)
        {
          tail = g_new0 (SendChunk, 1);
          tail->data = g_malloc (SEND_CHUNK_SIZE);
          g_queue_push_tail (&s->chunks, tail);
        }
      take = MIN (count - done, SEND_CHUNK_SIZE - tail->len);
      memcpy (tail->data + tail->len, in + done, take);
      tail->len += take;
      done += take;
    }
  s->written += done;
  s->conn->unacked += done;
  sendq_add (s->conn, s);
  return done;
}

static gboolean
stream_close_write (gpointer   backend,
                    GError   **error)
{
  StreamState *s = backend;

  if (s->fin_wanted && !s->reset_sent)
    return TRUE;
  if (!stream_check_can_write (s, error))
    return FALSE;
  s->fin_wanted = TRUE;
  sendq_add (s->conn, s);
  foctet_channel_wake (s->channel, FALSE, TRUE);
  return TRUE;
}

static void
stream_close_read (gpointer backend)
{
  StreamState *s = backend;
  gsize dropped = s->recv_buffered;

  if (s->read_closed)
    return;
  s->read_closed = TRUE;
  stream_drop_received (s);
  if (s->conn != NULL && s->in_table && !s->fin_received && !s->reset_received)
    {
      ngtcp2_conn_shutdown_stream_read (s->conn->conn,
#if QUIC_NGTCP2_1
                                        0,
#endif
                                        s->id, FOCTET_CLOSE_CODE_NO_ERROR);
      conn_schedule_write (s->conn);
    }
  stream_consumed (s, dropped);
  foctet_channel_wake (s->channel, TRUE, FALSE);
}

static void
stream_reset (gpointer backend,
              guint32  code)
{
  StreamState *s = backend;

  if (s->reset_sent || s->conn == NULL || !s->in_table)
    return;
  g_debug ("Resetting QUIC stream %" G_GINT64_FORMAT " (code %u)", s->id, code);
  s->reset_sent = TRUE;
  sendq_remove (s->conn, s);
  ngtcp2_conn_shutdown_stream (s->conn->conn,
#if QUIC_NGTCP2_1
                               0,
#endif
                               s->id, code);
  if (!s->read_closed)
    stream_consumed (s, s->recv_buffered);
  stream_drop_received (s);
  s->read_closed = TRUE;
  conn_schedule_write (s->conn);
  foctet_channel_wake (s->channel, TRUE, TRUE);
}

static void
stream_close (gpointer backend)
{
  StreamState *s = backend;

  stream_close_read (s);
  if (!s->fin_wanted && !s->reset_sent && s->error == NULL && !s->stop_received)
    stream_close_write (s, NULL);
  foctet_channel_wake (s->channel, TRUE, TRUE);
}

/* The application dropped every object of the stream: one it had closed
 * for writing ends normally, any other is reset. */
static void
stream_release (gpointer backend)
{
  StreamState *s = backend;

  if (s->fin_wanted)
    stream_close (s);
  else
    stream_reset (s, FOCTET_CLOSE_CODE_NO_ERROR);
}

static const FoctetChannelFuncs stream_funcs = {
  stream_is_readable,
  stream_is_writable,
  stream_read,
  stream_write,
  stream_close_write,
  stream_close_read,
  stream_close,
  stream_reset,
  stream_release,
};

/* A new stream in the table; returns the application's object. */
static FoctetStream *
conn_add_stream (QuicConnection *self,
                 int64_t         id)
{
  StreamState *s = g_new0 (StreamState, 1);
  g_autoptr(FoctetChannel) channel = foctet_channel_new (&stream_funcs, s, stream_state_free, self->context);

  s->conn = self;
  s->channel = channel;
  s->id = id;
  s->in_table = TRUE;
  g_hash_table_insert (self->streams, GINT_TO_POINTER (id), foctet_channel_ref (channel));
  ngtcp2_conn_set_stream_user_data (self->conn, id, s);
  return foctet_channel_stream_new (QUIC_TYPE_STREAM, channel, (guint64) id);
}

/* ngtcp2 forgot the stream (both directions over, or the connection ended). */
static void
conn_remove_stream (QuicConnection *self,
                    StreamState    *s)
{
  sendq_remove (self, s);
  s->in_table = FALSE;
  stream_drop_send_buffer (s);
  /* The application may hold the stream longer than the connection
   * lives: it must not keep a pointer to it. */
  s->conn = NULL;
  foctet_channel_wake (s->channel, TRUE, TRUE);
  g_hash_table_remove (self->streams, GINT_TO_POINTER (s->id));
}

/* ------------------------------------------------------------------ */
/* ngtcp2 callbacks                                                    */

static ngtcp2_conn *
get_conn (ngtcp2_crypto_conn_ref *ref)
{
  QuicConnection *self = ref->user_data;

  return self->conn;
}

static void
rand_cb (uint8_t                *dest,
         size_t                  destlen,
         const ngtcp2_rand_ctx  *rand_ctx)
{
  gnutls_rnd (GNUTLS_RND_RANDOM, dest, destlen);
}

static int
get_new_connection_id_cb (ngtcp2_conn *conn,
                          ngtcp2_cid  *cid,
                          uint8_t     *token,
                          size_t       cidlen,
                          void        *user_data)
{
  QuicConnection *self = user_data;

  if (gnutls_rnd (GNUTLS_RND_RANDOM, cid->data, cidlen) < 0 ||
      gnutls_rnd (GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) < 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  cid->datalen = cidlen;
  g_ptr_array_add (self->cids, g_memdup2 (cid, sizeof *cid));
  quic_endpoint_add_cid (self->endpoint, cid, self);
  return 0;
}

static int
remove_connection_id_cb (ngtcp2_conn      *conn,
                         const ngtcp2_cid *cid,
                         void             *user_data)
{
  QuicConnection *self = user_data;

  for (guint i = 0; i < self->cids->len; i++)
    if (ngtcp2_cid_eq (self->cids->pdata[i], cid))
      {
        quic_endpoint_remove_cid (self->endpoint, cid);
        g_ptr_array_remove_index_fast (self->cids, i);
        break;
      }
  return 0;
}

static int
handshake_completed_cb (ngtcp2_conn *conn,
                        void        *user_data)
{
  QuicConnection *self = user_data;

  /* The listener has checked the client's certificate by now; a dialer
   * waits for HANDSHAKE_DONE, which the listener sends only once it
   * accepted the dialer's certificate. */
  if (self->is_server && self->peer_id != NULL)
    self->established = TRUE;
  return 0;
}

static int
handshake_confirmed_cb (ngtcp2_conn *conn,
                        void        *user_data)
{
  QuicConnection *self = user_data;

  if (!self->is_server && self->peer_id != NULL)
    self->established = TRUE;
  return 0;
}

static int
stream_open_cb (ngtcp2_conn *conn,
                int64_t      stream_id,
                void        *user_data)
{
  QuicConnection *self = user_data;

  if (!ngtcp2_is_bidi_stream (stream_id))
    {
      /* PROTOCOL §3: unidirectional streams are unused; our transport
       * parameters allow none, so ngtcp2 already refuses them. */
      return 0;
    }
  g_queue_push_tail (&self->incoming, conn_add_stream (self, stream_id));
  return 0;
}

static int
recv_stream_data_cb (ngtcp2_conn   *conn,
                     uint32_t       flags,
                     int64_t        stream_id,
                     uint64_t       offset,
                     const uint8_t *data,
                     size_t         datalen,
                     void          *user_data,
                     void          *stream_user_data)
{
  StreamState *s = stream_user_data;

  if (s == NULL)
    return 0;
  if (s->read_closed || s->reset_received)
    {
      /* Nobody will read it: give the credit back at once. */
      ngtcp2_conn_extend_max_stream_offset (conn, stream_id, datalen);
      ngtcp2_conn_extend_max_offset (conn, datalen);
    }
  else if (datalen > 0)
    {
      gsize space = 0;
      guint8 *room = s->recv_buffered == 0 ? foctet_channel_get_read_space (s->channel, &space) : NULL;

      if (room != NULL)
        {
          /* The application waits in a read: into its buffer, without
           * a buffer of our own in between. */
          gsize n = MIN (space, datalen);

          memcpy (room, data, n);
          foctet_channel_read_space_filled (s->channel, n);
          stream_consumed (s, n);
          data += n;
          datalen -= n;
        }
      if (datalen > 0)
        {
          g_queue_push_tail (&s->recv, g_bytes_new (data, datalen));
          s->recv_buffered += datalen;
        }
    }
  if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
    s->fin_received = TRUE;
  foctet_channel_wake (s->channel, TRUE, FALSE);
  return 0;
}

static int
acked_stream_data_offset_cb (ngtcp2_conn *conn,
                             int64_t      stream_id,
                             uint64_t     offset,
                             uint64_t     datalen,
                             void        *user_data,
                             void        *stream_user_data)
{
  StreamState *s = stream_user_data;
  SendChunk *head;

  if (s == NULL)
    return 0;
  stream_set_acked (s, offset + datalen);
  while ((head = g_queue_peek_head (&s->chunks)) != NULL && s->base + head->len <= s->acked &&
         (head->len == SEND_CHUNK_SIZE || s->base + head->len == s->written))
    {
      s->base += head->len;
      send_chunk_free (g_queue_pop_head (&s->chunks));
    }
  foctet_channel_wake (s->channel, FALSE, TRUE);
  return 0;
}

static int
stream_close_cb (ngtcp2_conn *conn,
                 uint32_t     flags,
                 int64_t      stream_id,
                 uint64_t     app_error_code,
                 void        *user_data,
                 void        *stream_user_data)
{
  QuicConnection *self = user_data;
  StreamState *s = stream_user_data;

  if (!ngtcp2_conn_is_local_stream (conn, stream_id))
    self->remote_streams_closed++;
  if (s != NULL)
    conn_remove_stream (self, s);
  return 0;
}

static int
stream_reset_cb (ngtcp2_conn *conn,
                 int64_t      stream_id,
                 uint64_t     final_size,
                 uint64_t     app_error_code,
                 void        *user_data,
                 void        *stream_user_data)
{
  StreamState *s = stream_user_data;

  if (s == NULL || s->reset_received)
    return 0;
  s->reset_received = TRUE;
  s->reset_code = app_error_code;
  if (!s->read_closed)
    {
      /* What was buffered will never be read; ngtcp2 credits the rest up
       * to the final size by itself. */
      ngtcp2_conn_extend_max_offset (conn, s->recv_buffered);
    }
  stream_drop_received (s);
  foctet_channel_wake (s->channel, TRUE, TRUE);
  return 0;
}

static int
extend_max_local_streams_bidi_cb (ngtcp2_conn *conn,
                                  uint64_t     max_streams,
                                  void        *user_data)
{
  conn_schedule_write (user_data);
  return 0;
}

static int
extend_max_stream_data_cb (ngtcp2_conn *conn,
                           int64_t      stream_id,
                           uint64_t     max_data,
                           void        *user_data,
                           void        *stream_user_data)
{
  StreamState *s = stream_user_data;

  if (s != NULL && stream_has_unsent (s))
    sendq_add (user_data, s);
  return 0;
}

/* ------------------------------------------------------------------ */
/* TLS                                                                 */

static int
verify_cb (gnutls_session_t session)
{
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr (session);
  QuicConnection *self = ref->user_data;
  GError *error = NULL;

  g_clear_pointer (&self->peer_id, foctet_node_id_free);
  self->peer_id = foctet_gnutls_verify_peer (session, self->is_server ? NULL : self->expected_peer, &error);
  if (self->peer_id == NULL)
    {
      g_clear_error (&self->verify_error);
      self->verify_error = error;
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  return 0;
}

/* After every handshake message: the checks of PROTOCOL §2 that GnuTLS
 * does not make (foctet_gnutls_handshake_check()): a common ALPN value on
 * either side, and a client that sent a certificate. */
static int
handshake_hook (gnutls_session_t       session,
                unsigned int           htype,
                unsigned int           when,
                unsigned int           incoming,
                const gnutls_datum_t  *msg)
{
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr (session);
  QuicConnection *self = ref->user_data;
  GError *error = NULL;
  int ret = foctet_gnutls_handshake_check (session, htype, incoming, &error);

  if (ret == GNUTLS_E_NO_APPLICATION_PROTOCOL)
    {
      self->alpn_refused = TRUE;
      g_clear_error (&error);
    }
  else if (ret < 0)
    {
      g_clear_error (&self->verify_error);
      self->verify_error = error;
    }
  return ret;
}

static gboolean
tls_setup (QuicConnection  *self,
           GError         **error)
{
  gnutls_certificate_credentials_t cred;
  gnutls_datum_t alpn = { (unsigned char *) self->config.alpn, strlen (self->config.alpn) };
  const char *error_pos = NULL;
  int ret;

  cred = foctet_gnutls_get_credentials (self->config.identity, error);
  if (cred == NULL)
    return FALSE;

  ret = gnutls_init (&self->session, (self->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                                     GNUTLS_NO_END_OF_EARLY_DATA | GNUTLS_NO_TICKETS);
  if (ret == 0)
    ret = gnutls_priority_set_direct (self->session,
                                      self->is_server ? FOCTET_GNUTLS_PRIORITY_SERVER : FOCTET_GNUTLS_PRIORITY,
                                      &error_pos);
  if (ret == 0)
    ret = self->is_server ? ngtcp2_crypto_gnutls_configure_server_session (self->session)
                          : ngtcp2_crypto_gnutls_configure_client_session (self->session);
  if (ret == 0)
    ret = gnutls_credentials_set (self->session, GNUTLS_CRD_CERTIFICATE, cred);
  if (ret == 0)
    ret = gnutls_alpn_set_protocols (self->session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot set up the TLS session for QUIC: %s",
                   ret == -1 ? "ngtcp2 refused it" : gnutls_strerror (ret));
      return FALSE;
    }

  self->conn_ref.get_conn = get_conn;
  self->conn_ref.user_data = self;
  gnutls_session_set_ptr (self->session, &self->conn_ref);
  gnutls_session_set_verify_function (self->session, verify_cb);
  foctet_gnutls_session_setup_checks (self->session, self->is_server, handshake_hook);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Why the handshake failed on this side (ngtcp2 said NGTCP2_ERR_CRYPTO). */
static GError *
local_handshake_error (QuicConnection *self)
{
  guint8 alert = ngtcp2_conn_get_tls_alert (self->conn);
  g_autofree char *name = foctet_gnutls_alert_name (alert);

  if (self->verify_error != NULL)
    return g_error_copy (self->verify_error);
  if ((self->alpn_refused || alert == GNUTLS_A_NO_APPLICATION_PROTOCOL) && self->is_server)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer offered no ALPN value this node serves (expected \"%s\")", self->config.alpn);
  if (self->alpn_refused || alert == GNUTLS_A_NO_APPLICATION_PROTOCOL)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer did not accept the ALPN value \"%s\"", self->config.alpn);
  if (alert == GNUTLS_A_CERTIFICATE_REQUIRED)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE, "The peer sent no certificate");
  return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                      "The QUIC handshake failed (alert %s)", name);
}

/* The peer's CONNECTION_CLOSE, and its reason phrase as text (NULL if
 * it gave none). */
static char *
remote_close_get (QuicConnection *self,
                  QuicCloseError *cc)
{
#if QUIC_NGTCP2_1
  *cc = *ngtcp2_conn_get_ccerr (self->conn);
#else
  ngtcp2_conn_get_connection_close_error (self->conn, cc);
#endif
  return cc->reasonlen > 0 ? g_utf8_make_valid ((const char *) cc->reason, cc->reasonlen) : NULL;
}

/* Why the peer closed the connection. */
static GError *
remote_close_error (QuicConnection *self)
{
  QuicCloseError cc;
  g_autofree char *reason = remote_close_get (self, &cc);

  if (cc.type == QUIC_CLOSE_ERROR_APPLICATION)
    {
      if (cc.error_code == FOCTET_CLOSE_CODE_NO_ERROR || cc.error_code == FOCTET_CLOSE_CODE_GOING_AWAY)
        return NULL;
      return g_error_new (FOCTET_ERROR, cc.error_code == FOCTET_CLOSE_CODE_PROTOCOL_ERROR
                                          ? FOCTET_ERROR_PROTOCOL_ERROR : FOCTET_ERROR_CONNECTION_CLOSED,
                          "The peer closed the QUIC connection with code %" G_GUINT64_FORMAT "%s%s",
                          cc.error_code, reason != NULL ? ": " : "", reason != NULL ? reason : "");
    }
  if (cc.error_code >= NGTCP2_CRYPTO_ERROR && cc.error_code < NGTCP2_CRYPTO_ERROR + 0x100)
    return foctet_gnutls_peer_alert_error (cc.error_code - NGTCP2_CRYPTO_ERROR, self->config.alpn, "QUIC handshake");
  if (cc.error_code == NGTCP2_NO_ERROR)
    return NULL;
  if (cc.error_code == NGTCP2_CONNECTION_REFUSED)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED, "The peer refused the QUIC connection%s%s",
                        reason != NULL ? ": " : "", reason != NULL ? reason : "");
  return g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                      "The peer closed the QUIC connection with transport error 0x%" G_GINT64_MODIFIER "x%s%s",
                      cc.error_code, reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

/* What the streams of a connection the peer closed normally (code 0 or
 * 4) say, with the peer's reason: the connection's own end is no error. */
static GError *
remote_normal_close_error (QuicConnection *self)
{
  QuicCloseError cc;
  g_autofree char *reason = remote_close_get (self, &cc);

  return g_error_new (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED, "The peer closed the QUIC connection%s%s%s",
                      cc.type == QUIC_CLOSE_ERROR_APPLICATION && cc.error_code == FOCTET_CLOSE_CODE_GOING_AWAY
                      ? " (going away)" : "",
                      reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

/* Hands a burst to the socket; keeps it when the socket is full. */
static gboolean
conn_send (QuicConnection *self,
           guint           ecn,
           const guint8   *data,
           gsize           len,
           gsize           segment)
{
  if (quic_endpoint_send (self->endpoint, self, &self->path.path, ecn, data, len, segment))
    return TRUE;
  self->write_blocked = TRUE;
  self->pending = g_memdup2 (data, len);
  self->pending_len = len;
  self->pending_segment = segment;
  self->pending_ecn = ecn;
  return FALSE;
}

/* Sends CONNECTION_CLOSE now (it is the last thing this side says). */
static void
conn_write_close (QuicConnection       *self,
                  const QuicCloseError *cc)
{
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_ssize n;

  if (self->conn == NULL || quic_conn_in_closing_period (self->conn) ||
      quic_conn_in_draining_period (self->conn))
    return;
  ngtcp2_path_storage_zero (&ps);
  n = ngtcp2_conn_write_connection_close (self->conn, &ps.path, &pi, self->txbuf, QUIC_MAX_UDP_PAYLOAD,
                                          cc, quic_timestamp ());
  if (n > 0)
    quic_endpoint_send (self->endpoint, self, &ps.path, pi.ecn, self->txbuf, n, 0);
}

/* CONNECTION_CLOSE for an ngtcp2 error, a TLS alert, or with an
 * application code. */
static void
conn_close_liberr (QuicConnection *self,
                   int             liberr)
{
  QuicCloseError cc;

#if QUIC_NGTCP2_1
  ngtcp2_ccerr_set_liberr (&cc, liberr, NULL, 0);
#else
  ngtcp2_connection_close_error_set_transport_error_liberr (&cc, liberr, NULL, 0);
#endif
  conn_write_close (self, &cc);
}

static void
conn_close_tls_alert (QuicConnection *self)
{
  QuicCloseError cc;

#if QUIC_NGTCP2_1
  ngtcp2_ccerr_set_tls_alert (&cc, ngtcp2_conn_get_tls_alert (self->conn), NULL, 0);
#else
  ngtcp2_connection_close_error_set_transport_error_tls_alert (&cc, ngtcp2_conn_get_tls_alert (self->conn),
                                                               NULL, 0);
#endif
  conn_write_close (self, &cc);
}

static void
conn_close_application (QuicConnection *self,
                        guint64         code,
                        const char     *reason)
{
  QuicCloseError cc;
  gsize reason_len = reason != NULL ? MIN (strlen (reason), 512) : 0;

#if QUIC_NGTCP2_1
  ngtcp2_ccerr_set_application_error (&cc, code, (const uint8_t *) reason, reason_len);
#else
  ngtcp2_connection_close_error_set_application_error (&cc, code, (const uint8_t *) reason, reason_len);
#endif
  conn_write_close (self, &cc);
}

/* Fills the pieces of @s not yet handed to ngtcp2. */
static gsize
stream_unsent_vecs (StreamState *s,
                    ngtcp2_vec  *vecs,
                    gsize        max)
{
  guint64 offset = s->base;
  gsize n = 0;

  for (GList *l = s->chunks.head; l != NULL && n < max; l = l->next)
    {
      SendChunk *chunk = l->data;

      if (offset + chunk->len > s->sent)
        {
          gsize skip = s->sent > offset ? s->sent - offset : 0;

          vecs[n].base = chunk->data + skip;
          vecs[n].len = chunk->len - skip;
          n++;
        }
      offset += chunk->len;
    }
  return n;
}

static gsize
vecs_len (const ngtcp2_vec *vecs,
          gsize             n)
{
  gsize total = 0;

  for (gsize i = 0; i < n; i++)
    total += vecs[i].len;
  return total;
}

/* Writes what ngtcp2 has to send, at most one send quantum — the burst
 * its pacer allows at once — in as few GSO sends as the packet sizes and
 * ECN marks permit, then tells the pacer when that burst left.  The
 * timer, set at ngtcp2_conn_get_expiry (which includes the pacer's next
 * departure time), brings us back for the next burst. */
static void
conn_write (QuicConnection *self)
{
  guint64 ts = quic_timestamp ();
  gsize max_payload, burst_max, packets = 0, count = 0;
  gsize segment = 0;
  guint8 *pos;
  ngtcp2_pkt_info pi = { 0 };
  guint burst_ecn = 0;

  if (self->conn == NULL || self->ended || self->write_blocked)
    return;
  if (quic_conn_in_closing_period (self->conn) || quic_conn_in_draining_period (self->conn))
    return;

  if (self->remote_streams_closed > 0)
    {
      ngtcp2_conn_extend_max_streams_bidi (self->conn, self->remote_streams_closed);
      self->remote_streams_closed = 0;
    }

  max_payload = ngtcp2_conn_get_path_max_tx_udp_payload_size (self->conn);
  /* Until the peer's transport parameters say how large a datagram it
   * takes, nothing larger than what every QUIC peer must take (ngtcp2
   * pads a dialer's Initial to the whole size it is given). */
  if (!ngtcp2_conn_get_handshake_completed (self->conn))
    max_payload = MIN (max_payload, NGTCP2_MAX_UDP_PAYLOAD_SIZE);
  burst_max = CLAMP (ngtcp2_conn_get_send_quantum (self->conn) / max_payload, 1, QUIC_MAX_BURST);
  burst_max = MIN (burst_max, MAX (QUIC_GSO_MAX_BYTES / max_payload, 1));
  pos = self->txbuf;

  while (packets < burst_max)
    {
      StreamState *s = g_queue_peek_head (&self->sendq);
      ngtcp2_vec vecs[MAX_VECS];
      gsize nvecs = 0;
      guint32 flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      int64_t stream_id = -1;
      ngtcp2_ssize datalen = -1;
      ngtcp2_ssize n;

      if (s != NULL)
        {
          stream_id = s->id;
          nvecs = stream_unsent_vecs (s, vecs, MAX_VECS);
          if (s->fin_wanted && !s->fin_sent && s->sent + vecs_len (vecs, nvecs) == s->written)
            flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }

      n = ngtcp2_conn_writev_stream (self->conn, &self->path.path, &pi, pos, max_payload, &datalen,
                                     flags, stream_id, vecs, nvecs, ts);
      if (s != NULL && datalen >= 0)
        {
          s->sent += datalen;
          if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && s->sent == s->written)
            s->fin_sent = TRUE;
          /* Streams take turns, packet by packet. */
          sendq_remove (self, s);
          if (stream_has_unsent (s))
            sendq_add (self, s);
        }
      if (n < 0)
        {
          switch (n)
            {
            case NGTCP2_ERR_WRITE_MORE:
              continue;
            case NGTCP2_ERR_STREAM_SHUT_WR:
              /* Not reset here: the peer's STOP_SENDING (ngtcp2 0.12 has
               * no callback for it).  What waits will never be sent. */
              if (s != NULL && !s->reset_sent && !s->stop_received)
                {
                  g_debug ("The peer stopped reading QUIC stream %" G_GINT64_FORMAT, s->id);
                  s->stop_received = TRUE;
                  stream_drop_send_buffer (s);
                  foctet_channel_wake (s->channel, FALSE, TRUE);
                }
              G_GNUC_FALLTHROUGH;
            case NGTCP2_ERR_STREAM_DATA_BLOCKED:
            case NGTCP2_ERR_STREAM_NOT_FOUND:
              /* Flow control (extend_max_stream_data puts it back) or gone. */
              if (s != NULL)
                sendq_remove (self, s);
              continue;
            default:
              conn_close_liberr (self, n);
              conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                           "QUIC failed to send: %s", ngtcp2_strerror (n)));
              return;
            }
        }
      if (n == 0)
        break;
      packets++;

      /* A packet that cannot join the GSO send being gathered (another
       * ECN mark) starts the next one.  Should the socket be full, it is
       * lost like any dropped datagram, and ngtcp2 sends it again. */
      if (count > 0 && pi.ecn != burst_ecn)
        {
          if (!conn_send (self, burst_ecn, self->txbuf, pos - self->txbuf, segment))
            break;
          memmove (self->txbuf, pos, n);
          pos = self->txbuf;
          count = 0;
        }
      if (count == 0)
        {
          segment = n;
          burst_ecn = pi.ecn;
        }
      pos += n;
      count++;
      /* GSO: equal segments, the last one may be shorter. */
      if ((gsize) n < segment)
        {
          if (!conn_send (self, burst_ecn, self->txbuf, pos - self->txbuf, segment))
            break;
          pos = self->txbuf;
          count = 0;
        }
    }
  if (count > 0 && !self->write_blocked)
    conn_send (self, burst_ecn, self->txbuf, pos - self->txbuf, segment);
  ngtcp2_conn_update_pkt_tx_time (self->conn, ts);
}

/* ------------------------------------------------------------------ */
/* Timer                                                               */

/* The connection's one source wakes it for ngtcp2's expiry (which
 * includes the pacer's next departure) and for "write soon".  Both are
 * fields its prepare reads, not the source's ready time: GLib (2.74)
 * writes the context's wake-up descriptor whenever a ready time changes,
 * even from the thread running the context, and the data path changes
 * them for every batch of datagrams in both directions.  Everything that
 * sets them runs in the connection's context (the transport's), on the
 * thread iterating it: streams do their I/O only there and cancellation
 * comes back through an idle source. */
typedef struct {
  GSource source;
  gint64 deadline;                   /* monotonic µs; -1: none */
  gboolean write_soon;
} TimerSource;

static gboolean
timer_prepare (GSource *source,
               gint    *timeout)
{
  TimerSource *timer = (TimerSource *) source;
  gint64 now;

  *timeout = -1;
  if (timer->write_soon)
    {
      *timeout = 0;
      return TRUE;
    }
  if (timer->deadline < 0)
    return FALSE;
  now = g_source_get_time (source);
  if (now >= timer->deadline)
    {
      *timeout = 0;
      return TRUE;
    }
  *timeout = (gint) MIN ((timer->deadline - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
timer_check (GSource *source)
{
  TimerSource *timer = (TimerSource *) source;

  return timer->write_soon || (timer->deadline >= 0 && g_source_get_time (source) >= timer->deadline);
}

/* When the connection is idle by our own count: idle-timeout after the
 * last packet from the peer.  ngtcp2 also restarts its idle timer when
 * this side sends an ack-eliciting packet; a side that kept probing a
 * peer gone silent (a peer killed, or this process stopped for longer
 * than the timeout and resumed) then waited minutes instead. */
static guint64
conn_rx_deadline (QuicConnection *self)
{
  if (!self->established || self->last_rx == 0 || self->config.idle_timeout == 0)
    return UINT64_MAX;
  return self->last_rx + (guint64) self->config.idle_timeout * NGTCP2_MILLISECONDS;
}

static void
conn_update_timer (QuicConnection *self)
{
  TimerSource *timer = (TimerSource *) self->timer;
  guint64 expiry, now;

  if (timer == NULL || self->conn == NULL)
    return;
  expiry = MIN (ngtcp2_conn_get_expiry (self->conn), conn_rx_deadline (self));
  if (expiry == UINT64_MAX)
    {
      timer->deadline = -1;
      return;
    }
  now = quic_timestamp ();
  if (expiry <= now)
    timer->write_soon = TRUE;
  else
    timer->deadline = g_get_monotonic_time () + (gint64) ((expiry - now + 999) / 1000);
}

static void
conn_schedule_write (QuicConnection *self)
{
  if (self->timer != NULL && !self->ended)
    ((TimerSource *) self->timer)->write_soon = TRUE;
}

/* Completes what the last event made possible: announces the connection,
 * opens waiting streams, hands out incoming streams. */
static void
conn_progress (QuicConnection *self)
{
  if (self->ended)
    return;
  if (self->established && self->handshake_timer != NULL)
    {
      g_clear_pointer (&self->handshake_timer, source_destroy_and_unref);
      foctet_connection_set_peer_id (FOCTET_CONNECTION (self), self->peer_id);
      self->announced = TRUE;
      quic_transport_connection_ready (self->transport, self);
    }
  if (self->ended || !self->established)
    return;
  conn_check_opens (self);
  while (!g_queue_is_empty (&self->incoming) && !g_queue_is_empty (&self->accepts))
    {
      GTask *task = g_queue_pop_head (&self->accepts);

      g_task_return_pointer (task, g_queue_pop_head (&self->incoming), foctet_stream_discard);
      g_object_unref (task);
    }
}

static gboolean
timer_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  QuicConnection *self = user_data;
  TimerSource *timer = (TimerSource *) source;
  guint64 now = quic_timestamp ();
  int ret;

  timer->write_soon = FALSE;
  timer->deadline = -1;
  g_object_ref (self);
  if (self->conn != NULL && conn_rx_deadline (self) <= now)
    {
      /* Silent, as an idle timeout is (RFC 9000 §10.1). */
      conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                   "The QUIC connection was idle for %u ms: nothing came from the peer",
                                   self->config.idle_timeout));
      g_object_unref (self);
      return G_SOURCE_CONTINUE;
    }
  if (self->conn != NULL && ngtcp2_conn_get_expiry (self->conn) <= now)
    {
      ret = ngtcp2_conn_handle_expiry (self->conn, now);
      if (ret != 0)
        {
          if (ret == NGTCP2_ERR_IDLE_CLOSE)
            conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                         "The QUIC connection was idle for %u ms", self->config.idle_timeout));
          else if (ret == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
            conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                         "The QUIC handshake did not finish within %u ms",
                                         self->config.handshake_timeout));
          else
            conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                         "The QUIC connection failed: %s", ngtcp2_strerror (ret)));
          g_object_unref (self);
          return G_SOURCE_CONTINUE;
        }
    }
  conn_write (self);
  conn_update_timer (self);
  conn_progress (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  timer_prepare, timer_check, timer_dispatch, NULL, NULL, NULL,
};

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  QuicConnection *self = user_data;

  g_clear_pointer (&self->handshake_timer, g_source_unref);
  conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                               "The QUIC handshake did not finish within %u ms", self->config.handshake_timeout));
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */

void
quic_connection_receive (QuicConnection    *self,
                         const ngtcp2_path *path,
                         guint              ecn,
                         const guint8      *data,
                         gsize              len)
{
  ngtcp2_pkt_info pi = { .ecn = ecn };
  int ret;

  if (self->conn == NULL || self->ended)
    return;
  g_object_ref (self);
  ret = ngtcp2_conn_read_pkt (self->conn, path, &pi, data, len, quic_timestamp ());
  if (ret != 0)
    {
      switch (ret)
        {
        case NGTCP2_ERR_DRAINING:
          self->peer_closed = TRUE;
          conn_end (self, remote_close_error (self));
          break;
        case NGTCP2_ERR_CRYPTO:
          conn_close_tls_alert (self);
          conn_end (self, local_handshake_error (self));
          break;
        case NGTCP2_ERR_DROP_CONN:
          conn_end (self, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                               self->got_packet ? "ngtcp2 dropped the QUIC connection"
                                                                : "The first QUIC packet did not decrypt"));
          break;
        default:
          conn_close_liberr (self, ret);
          conn_end (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                       "The peer broke the QUIC protocol: %s", ngtcp2_strerror (ret)));
          break;
        }
    }
  else
    {
      self->got_packet = TRUE;
      self->last_rx = quic_timestamp ();
      conn_schedule_write (self);
    }
  g_object_unref (self);
}

void
quic_connection_writable (QuicConnection *self)
{
  g_autofree guint8 *pending = g_steal_pointer (&self->pending);

  self->write_blocked = FALSE;
  if (pending != NULL && !self->ended &&
      !conn_send (self, self->pending_ecn, pending, self->pending_len, self->pending_segment))
    return;
  conn_schedule_write (self);
}

/* ------------------------------------------------------------------ */
/* Ending                                                              */

static void
fail_tasks (GQueue       *tasks,
            const GError *error)
{
  GTask *task;

  while ((task = g_queue_pop_head (tasks)) != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
}

/* No more timers, packets or room notices for this connection. */
static void
conn_detach (QuicConnection *self)
{
  g_clear_pointer (&self->handshake_timer, source_destroy_and_unref);
  g_clear_pointer (&self->timer, source_destroy_and_unref);
  g_clear_pointer (&self->pending, g_free);
  for (guint i = 0; i < self->cids->len; i++)
    quic_endpoint_remove_cid (self->endpoint, self->cids->pdata[i]);
  g_ptr_array_set_size (self->cids, 0);
  quic_endpoint_forget (self->endpoint, self);
}

/* Ends the connection once, for whatever reason: @error (transfer full)
 * says why, %NULL for a normal end.  Streams keep what they received; all
 * else fails. */
static void
conn_end (QuicConnection *self,
          GError         *error)
{
  g_autoptr(GError) stream_error = NULL;
  g_autoptr(GPtrArray) channels = NULL;
  GHashTableIter iter;
  gpointer value;
  FoctetStream *stream;
  gboolean was_announced = self->announced;

  if (self->ended)
    {
      g_clear_error (&error);
      return;
    }
  self->ended = TRUE;
  g_object_ref (self);
  if (error != NULL)
    g_debug ("QUIC connection ends: %s", error->message);
  else
    g_debug ("QUIC connection ends");

  conn_detach (self);

  stream_error = error != NULL ? g_error_copy (error)
                 : self->peer_closed && self->conn != NULL ? remote_normal_close_error (self)
                 : closed_error ();
  channels = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_channel_unref);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (channels, foctet_channel_ref (value));
  for (guint i = 0; i < channels->len; i++)
    {
      StreamState *s = stream_state (channels->pdata[i]);

      conn_remove_stream (self, s);
      s->conn = NULL;
      s->error = g_error_copy (stream_error);
      foctet_channel_wake (s->channel, TRUE, TRUE);
    }
  while ((stream = g_queue_pop_head (&self->incoming)) != NULL)
    g_object_unref (stream);

  fail_tasks (&self->accepts, stream_error);
  fail_tasks (&self->opens, stream_error);
  self->end_error = error != NULL ? g_error_copy (error) : NULL;
  if (!was_announced)
    quic_transport_connection_failed (self->transport, self, error != NULL ? error : stream_error);
  else
    foctet_connection_set_closed (FOCTET_CONNECTION (self), error);
  g_clear_error (&error);
  g_object_unref (self);
}

void
quic_connection_abort (QuicConnection *self,
                       const GError   *error)
{
  if (self->established)
    conn_close_application (self, FOCTET_CLOSE_CODE_GOING_AWAY, NULL);
  conn_end (self, g_error_copy (error));
}

/* ------------------------------------------------------------------ */
/* FoctetConnection                                                    */

static void
conn_check_opens (QuicConnection *self)
{
  while (!g_queue_is_empty (&self->opens))
    {
      GTask *task;
      int64_t id;
      int ret = ngtcp2_conn_open_bidi_stream (self->conn, &id, NULL);

      if (ret == NGTCP2_ERR_STREAM_ID_BLOCKED)
        return;
      task = g_queue_pop_head (&self->opens);
      if (ret != 0)
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot open a QUIC stream: %s",
                                 ngtcp2_strerror (ret));
      else
        g_task_return_pointer (task, conn_add_stream (self, id), foctet_stream_discard);
      g_object_unref (task);
    }
}

static void
quic_connection_open_stream_async (FoctetConnection    *connection,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  QuicConnection *self = QUIC_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, quic_connection_open_stream_async);
  if (self->ended)
    {
      g_task_return_error (task, self->end_error != NULL ? g_error_copy (self->end_error) : closed_error ());
      g_object_unref (task);
      return;
    }
  /* Streams open in the order asked for, when the peer allows more. */
  g_queue_push_tail (&self->opens, task);
  conn_check_opens (self);
}

static FoctetStream *
quic_connection_open_stream_finish (FoctetConnection  *connection,
                                    GAsyncResult      *result,
                                    GError           **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
quic_connection_accept_stream_async (FoctetConnection    *connection,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  QuicConnection *self = QUIC_CONNECTION (connection);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, quic_connection_accept_stream_async);
  if (!g_queue_is_empty (&self->incoming))
    g_task_return_pointer (task, g_queue_pop_head (&self->incoming), foctet_stream_discard);
  else if (self->ended)
    g_task_return_error (task, self->end_error != NULL ? g_error_copy (self->end_error) : closed_error ());
  else
    {
      g_queue_push_tail (&self->accepts, task);
      return;
    }
  g_object_unref (task);
}

static FoctetStream *
quic_connection_accept_stream_finish (FoctetConnection  *connection,
                                      GAsyncResult      *result,
                                      GError           **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* CONNECTION_CLOSE with the application's code: the one packet goes out
 * at once, and the connection is over for this side. */
static void
quic_connection_close_async (FoctetConnection    *connection,
                             guint32              code,
                             const char          *reason,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  QuicConnection *self = QUIC_CONNECTION (connection);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, quic_connection_close_async);
  if (!self->ended && self->conn != NULL)
    {
      /* Data written before closing goes out first, as far as the peer's
       * windows allow. */
      conn_write (self);
      conn_close_application (self, code, reason);
      conn_end (self, NULL);
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
quic_connection_close_finish (FoctetConnection  *connection,
                              GAsyncResult      *result,
                              GError           **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */

static const ngtcp2_callbacks *
callbacks (gboolean is_server)
{
  static ngtcp2_callbacks client, server;
  static gsize done;

  if (g_once_init_enter (&done))
    {
      ngtcp2_callbacks common = { 0 };

      common.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
      common.encrypt = ngtcp2_crypto_encrypt_cb;
      common.decrypt = ngtcp2_crypto_decrypt_cb;
      common.hp_mask = ngtcp2_crypto_hp_mask_cb;
      common.update_key = ngtcp2_crypto_update_key_cb;
      common.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
      common.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
      common.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
      common.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
      common.rand = rand_cb;
      common.get_new_connection_id = get_new_connection_id_cb;
      common.remove_connection_id = remove_connection_id_cb;
      common.handshake_completed = handshake_completed_cb;
      common.handshake_confirmed = handshake_confirmed_cb;
      common.stream_open = stream_open_cb;
      common.recv_stream_data = recv_stream_data_cb;
      common.acked_stream_data_offset = acked_stream_data_offset_cb;
      common.stream_close = stream_close_cb;
      common.stream_reset = stream_reset_cb;
      common.extend_max_local_streams_bidi = extend_max_local_streams_bidi_cb;
      common.extend_max_stream_data = extend_max_stream_data_cb;

      client = common;
      client.client_initial = ngtcp2_crypto_client_initial_cb;
      client.recv_retry = ngtcp2_crypto_recv_retry_cb;
      server = common;
      server.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
      g_once_init_leave (&done, 1);
    }
  return is_server ? &server : &client;
}

static void
conn_settings (QuicConnection       *self,
               ngtcp2_settings      *settings,
               ngtcp2_transport_params *params)
{
  gsize local_payload = quic_local_path_max_payload ((const struct sockaddr *) self->path.path.remote.addr,
                                                     self->path.path.remote.addrlen);

  ngtcp2_settings_default (settings);
  settings->initial_ts = quic_timestamp ();
  settings->max_tx_udp_payload_size = QUIC_MAX_UDP_PAYLOAD;
  if (local_payload > 0)
    {
      /* This host's own loopback: nothing to discover.  ngtcp2 still
       * sends no more than the peer's max_udp_payload_size allows. */
      settings->max_tx_udp_payload_size = local_payload;
      settings->no_tx_udp_payload_size_shaping = 1;
      settings->no_pmtud = 1;
    }
  settings->cc_algo = self->config.cc_algo;
  settings->max_window = CONNECTION_WINDOW_MAX;
  settings->max_stream_window = STREAM_WINDOW_MAX;
  settings->handshake_timeout = (ngtcp2_duration) self->config.handshake_timeout * NGTCP2_MILLISECONDS;

  ngtcp2_transport_params_default (params);
  params->initial_max_streams_bidi = self->config.max_streams;
  params->initial_max_streams_uni = 0;
  params->initial_max_stream_data_bidi_local = STREAM_WINDOW_INITIAL;
  params->initial_max_stream_data_bidi_remote = STREAM_WINDOW_INITIAL;
  params->initial_max_data = CONNECTION_WINDOW_INITIAL;
  params->max_idle_timeout = (ngtcp2_duration) self->config.idle_timeout * NGTCP2_MILLISECONDS;
  params->active_connection_id_limit = 4;
}

static void
conn_start (QuicConnection *self)
{
  self->timer = g_source_new (&timer_funcs, sizeof (TimerSource));
  ((TimerSource *) self->timer)->deadline = -1;
  g_source_set_static_name (self->timer, "foctet QUIC connection");
  g_source_set_priority (self->timer, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->timer, NULL, self, NULL);
  g_source_attach (self->timer, self->context);
  self->handshake_timer = g_timeout_source_new (self->config.handshake_timeout);
  g_source_set_callback (self->handshake_timer, handshake_timeout_cb, self, NULL);
  g_source_attach (self->handshake_timer, self->context);
  if (self->config.keepalive_interval > 0)
    ngtcp2_conn_set_keep_alive_timeout (self->conn, (ngtcp2_duration) self->config.keepalive_interval *
                                                    NGTCP2_MILLISECONDS);
  conn_schedule_write (self);
}

static void
path_init (ngtcp2_path_storage   *ps,
           const struct sockaddr *local,
           socklen_t              local_len,
           const struct sockaddr *remote,
           socklen_t              remote_len)
{
  ngtcp2_path_storage_init (ps, (const ngtcp2_sockaddr *) local, local_len,
                            (const ngtcp2_sockaddr *) remote, remote_len, NULL);
}

static QuicConnection *
conn_new (QuicTransport    *transport,
          const QuicConfig *config,
          QuicEndpoint     *endpoint,
          gboolean          is_server,
          const char       *local,
          const char       *remote,
          GMainContext     *context)
{
  QuicConnection *self = g_object_new (QUIC_TYPE_CONNECTION,
                                       "transport-name", QUIC_TRANSPORT_NAME,
                                       "local-address", local,
                                       "remote-address", remote,
                                       "is-initiator", !is_server,
                                       NULL);

  self->transport = transport;
  self->config = *config;
  self->config.identity = g_object_ref (config->identity);
  self->config.alpn = g_strdup (config->alpn);
  self->endpoint = quic_endpoint_ref (endpoint);
  self->is_server = is_server;
  self->context = g_main_context_ref (context);
  return self;
}

QuicConnection *
quic_connection_new_client (QuicTransport       *transport,
                            const QuicConfig    *config,
                            QuicEndpoint        *endpoint,
                            const struct sockaddr *local,
                            GSocketAddress      *remote,
                            const FoctetNodeId  *expected_peer,
                            GError             **error)
{
  g_autoptr(QuicConnection) self = NULL;
  struct sockaddr_storage remote_sa;
  socklen_t local_len = local->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);
  ngtcp2_cid dcid, scid;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  g_autofree char *local_text = NULL;
  g_autofree char *remote_text = foctet_socket_address_to_string (remote);
  int ret;

  if (!g_socket_address_to_native (remote, &remote_sa, sizeof remote_sa, error))
    return NULL;
  local_text = quic_sockaddr_to_string (local);
  self = conn_new (transport, config, endpoint, FALSE, local_text, remote_text, g_main_context_get_thread_default ()
                   ? g_main_context_get_thread_default () : g_main_context_default ());
  self->expected_peer = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  path_init (&self->path, local, local_len, (struct sockaddr *) &remote_sa,
             g_socket_address_get_native_size (remote));

  dcid.datalen = QUIC_CID_LEN;
  scid.datalen = QUIC_CID_LEN;
  gnutls_rnd (GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
  gnutls_rnd (GNUTLS_RND_RANDOM, scid.data, scid.datalen);
  conn_settings (self, &settings, &params);

  if (!tls_setup (self, error))
    return NULL;
  ret = ngtcp2_conn_client_new (&self->conn, &dcid, &scid, &self->path.path, NGTCP2_PROTO_VER_V1,
                                callbacks (FALSE), &settings, &params, NULL, self);
  if (ret != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot start a QUIC connection: %s",
                   ngtcp2_strerror (ret));
      return NULL;
    }
  ngtcp2_conn_set_tls_native_handle (self->conn, self->session);
  g_ptr_array_add (self->cids, g_memdup2 (&scid, sizeof scid));
  quic_endpoint_add_cid (endpoint, &scid, self);
  conn_start (self);
  return g_steal_pointer (&self);
}

QuicConnection *
quic_connection_new_server (QuicTransport       *transport,
                            const QuicConfig    *config,
                            QuicEndpoint        *endpoint,
                            const ngtcp2_path   *path,
                            const ngtcp2_pkt_hd *hd,
                            const ngtcp2_cid    *original_dcid,
                            const ngtcp2_cid    *retry_scid,
                            GError             **error)
{
  g_autoptr(QuicConnection) self = NULL;
  ngtcp2_cid scid;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  g_autofree char *local_text = quic_sockaddr_to_string ((const struct sockaddr *) path->local.addr);
  g_autofree char *remote_text = quic_sockaddr_to_string ((const struct sockaddr *) path->remote.addr);
  int ret;

  self = conn_new (transport, config, endpoint, TRUE, local_text, remote_text,
                   g_main_context_get_thread_default () ? g_main_context_get_thread_default ()
                                                        : g_main_context_default ());
  path_init (&self->path, (const struct sockaddr *) path->local.addr, path->local.addrlen,
             (const struct sockaddr *) path->remote.addr, path->remote.addrlen);
  scid.datalen = QUIC_CID_LEN;
  gnutls_rnd (GNUTLS_RND_RANDOM, scid.data, scid.datalen);
  conn_settings (self, &settings, &params);
  params.original_dcid = *original_dcid;
#if QUIC_NGTCP2_1
  params.original_dcid_present = 1;
#endif
  if (retry_scid != NULL)
    {
      params.retry_scid = *retry_scid;
      params.retry_scid_present = 1;
    }
  gnutls_rnd (GNUTLS_RND_RANDOM, params.stateless_reset_token, NGTCP2_STATELESS_RESET_TOKENLEN);
  params.stateless_reset_token_present = 1;

  if (!tls_setup (self, error))
    return NULL;
  ret = ngtcp2_conn_server_new (&self->conn, &hd->scid, &scid, &self->path.path, hd->version,
                                callbacks (TRUE), &settings, &params, NULL, self);
  if (ret != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot accept a QUIC connection: %s",
                   ngtcp2_strerror (ret));
      return NULL;
    }
  ngtcp2_conn_set_tls_native_handle (self->conn, self->session);
  /* The dialer's first Destination Connection ID routes its Initials
   * until it learns ours. */
  g_ptr_array_add (self->cids, g_memdup2 (&scid, sizeof scid));
  quic_endpoint_add_cid (endpoint, &scid, self);
  g_ptr_array_add (self->cids, g_memdup2 (&hd->dcid, sizeof hd->dcid));
  quic_endpoint_add_cid (endpoint, &hd->dcid, self);
  conn_start (self);
  return g_steal_pointer (&self);
}

gboolean
quic_connection_is_established (QuicConnection *self)
{
  return self->established && !self->ended;
}

QuicEndpoint *
quic_connection_get_endpoint (QuicConnection *self)
{
  return self->endpoint;
}

const struct sockaddr *
quic_connection_get_remote (QuicConnection *self,
                            socklen_t      *len)
{
  *len = self->path.path.remote.addrlen;
  return (const struct sockaddr *) self->path.path.remote.addr;
}

gboolean
quic_connection_got_packet (QuicConnection *self)
{
  return self->got_packet;
}

gboolean
quic_connection_is_server (QuicConnection *self)
{
  return self->is_server;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
quic_connection_dispose (GObject *object)
{
  QuicConnection *self = QUIC_CONNECTION (object);

  if (!self->ended)
    {
      if (self->conn != NULL)
        conn_close_application (self, FOCTET_CLOSE_CODE_NO_ERROR, NULL);
      self->established = FALSE;     /* nobody to tell any more */
      self->ended = TRUE;
      conn_detach (self);
    }
  G_OBJECT_CLASS (quic_connection_parent_class)->dispose (object);
}

static void
quic_connection_finalize (GObject *object)
{
  QuicConnection *self = QUIC_CONNECTION (object);
  GHashTableIter iter;
  gpointer value;

  /* Streams the application still holds outlive the connection. */
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      StreamState *s = stream_state (value);

      sendq_remove (self, s);
      s->conn = NULL;
      s->in_table = FALSE;
      if (s->error == NULL)
        s->error = closed_error ();
      foctet_channel_wake (s->channel, TRUE, TRUE);
    }
  g_hash_table_unref (self->streams);
  g_queue_clear_full (&self->incoming, g_object_unref);
  g_assert (g_queue_is_empty (&self->accepts) && g_queue_is_empty (&self->opens));
  if (self->conn != NULL)
    ngtcp2_conn_del (self->conn);
  if (self->session != NULL)
    gnutls_deinit (self->session);
  g_clear_pointer (&self->cids, g_ptr_array_unref);
  g_clear_pointer (&self->endpoint, quic_endpoint_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->config.identity);
  g_clear_pointer (&self->config.alpn, g_free);
  g_clear_pointer (&self->expected_peer, foctet_node_id_free);
  g_clear_pointer (&self->peer_id, foctet_node_id_free);
  g_clear_error (&self->verify_error);
  g_clear_error (&self->end_error);
  g_free (self->pending);
  g_free (self->txbuf);

  G_OBJECT_CLASS (quic_connection_parent_class)->finalize (object);
}

static void
quic_connection_class_init (QuicConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  FoctetConnectionClass *connection_class = FOCTET_CONNECTION_CLASS (klass);

  object_class->dispose = quic_connection_dispose;
  object_class->finalize = quic_connection_finalize;
  connection_class->open_stream_async = quic_connection_open_stream_async;
  connection_class->open_stream_finish = quic_connection_open_stream_finish;
  connection_class->accept_stream_async = quic_connection_accept_stream_async;
  connection_class->accept_stream_finish = quic_connection_accept_stream_finish;
  connection_class->close_async = quic_connection_close_async;
  connection_class->close_finish = quic_connection_close_finish;
}

static void
quic_connection_class_finalize (QuicConnectionClass *klass)
{
}

static void
quic_connection_init (QuicConnection *self)
{
  self->cids = g_ptr_array_new_with_free_func (g_free);
  self->streams = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) foctet_channel_unref);
  G_STATIC_ASSERT (QUIC_MAX_BURST * QUIC_MAX_UDP_PAYLOAD >= QUIC_GSO_MAX_BYTES);
  G_STATIC_ASSERT (QUIC_MAX_LOCAL_UDP_PAYLOAD <= QUIC_GSO_MAX_BYTES);
  self->txbuf = g_malloc (QUIC_MAX_BURST * QUIC_MAX_UDP_PAYLOAD);
}

static void
quic_stream_class_init (QuicStreamClass *klass)
{
}

static void
quic_stream_class_finalize (QuicStreamClass *klass)
{
}

static void
quic_stream_init (QuicStream *self)
{
}

void
quic_connection_register (GTypeModule *module)
{
  quic_connection_register_type (module);
  quic_stream_register_type (module);
}

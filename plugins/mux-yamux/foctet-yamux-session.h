/* foctet-yamux-session.h: what a yamux session (foctet-yamux-connection.c)
 * and the state of its streams (foctet-yamux-channel.c) share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "foctet-yamux.h"
#include "foctet-yamux-buffers.h"
#include "foctet-yamux-ids.h"

G_BEGIN_DECLS

/* A chunk with less room left than this is replaced (or reused when no
 * slice of it is alive any more). */
#define READ_MIN_SPACE (64 * 1024)
/* Bytes read in one dispatch, so that writing and other sources get
 * their turn under a flood. */
#define READ_BUDGET (1024 * 1024)
/* Reading stalls while the stream whose payload it is in holds more than
 * its read-ahead that its application has not read yet — twice what the
 * application last asked for, between READ_AHEAD_MIN and READ_AHEAD_MAX —
 * until the application reads it down to half, but no longer than the
 * session's read-stall-timeout without a read of it, nor
 * READ_STALL_MAX_TIMEOUTS times that in all.  An application that reads
 * as fast as it can then gets its bytes while they are still in the
 * cache, the read chunks are reused, and each read of the base stream
 * finds more waiting; a stream whose application reads slowly or not at
 * all holds up the others for one stall, and its window bounds what it
 * takes (see session_should_stall()). */
#define READ_AHEAD_MIN (512 * 1024)
#define READ_AHEAD_MAX (4 * 1024 * 1024)
#define READ_STALL_MAX_TIMEOUTS 5
/* An application read at least this big, of a stream with nothing
 * received, reads the stream's payload straight from the session's
 * stream into the application's buffer (yamux_session_read_through()). */
#define READ_THROUGH_MIN (16 * 1024)
/* Data frames in a row for the stream after which a read-through that
 * ends at the end of one waits for the application's next read: the
 * next frame is likely the stream's too. */
#define READ_THROUGH_RUN 4
/* Payload pieces shorter than this are copied out of the read chunk. */
#define COPY_BELOW (16 * 1024)
/* Longest Data frame this side sends, so that streams interleave. */
#define MAX_DATA_FRAME (256 * 1024)
/* Most bytes one write call queues. */
#define MAX_WRITE (1024 * 1024)
/* Streams' writes wait while more than this is queued ... */
#define SEND_QUEUE_LIMIT (4 * 1024 * 1024)
/* ... and one stream's while its share is queued: the queue is first in,
 * first out, so a stream's frames wait behind at most a share of each
 * other stream's, not behind all of the queue that one busy stream
 * filled.  The share is foctet_send_bound_for_rate() of the rate the
 * queue drains at while the base stream holds it up (20 ms of it, from
 * 128 KiB to 1 MiB); STREAM_QUEUE_LIMIT while it keeps up
 * (yamux_session_stream_share()). */
#define STREAM_QUEUE_LIMIT (1024 * 1024)
/* ... and reading pauses while control frames (answers to pings, window
 * updates, resets) push the queue past this, so a peer that sends but
 * never reads cannot make it grow without bound. */
#define SEND_QUEUE_HARD_LIMIT (8 * 1024 * 1024)
/* Writes this big go to the session's stream at once when nothing is
 * queued ahead of them (see yamux_channel_write()), with the first this
 * many bytes of each frame's payload copied next to its header: a TLS
 * record's worth, header included. */
#define WRITE_THROUGH_MIN (64 * 1024)
#define WRITE_THROUGH_HEAD (16 * 1024 - FOCTET_YAMUX_HEADER_SIZE)
/* Outgoing streams the peer has not acknowledged yet; more opens wait. */
#define MAX_UNACKED_STREAMS 256
/* How long closing waits for the last frames (GoAway) to be written. */
#define CLOSE_FLUSH_TIMEOUT_SECONDS 5
/* Round trips shorter than this count as this much when auto-tuning:
 * on loopback the main loop's own latency dominates the ping's. */
#define RTT_FLOOR_US 1000

/* The channel: one stream's state. */

struct _YamuxChannel {
  grefcount ref_count;
  FoctetYamuxConnection *session;  /* not owned; NULL once detached */
  guint32 id;
  gboolean outbound;               /* this side opened it */
  gboolean acked;                  /* outbound: the peer acknowledged it */
  gboolean ack_sent;               /* inbound: this side acknowledged it */
  gboolean in_table;               /* the session still has it */

  /* Receiving. */
  GQueue recv_queue;               /* GBytes */
  gsize recv_head_offset;          /* consumed of the queue's head */
  gsize recv_buffered;
  guint32 recv_window;             /* what the peer may still send */
  guint32 recv_window_max;         /* the window granted, grown by auto-tuning */
  guint32 recv_consumed;           /* consumed, not yet granted back */
  gint64 last_window_update;
  gboolean recv_fin;
  gboolean read_closed;            /* the application reads no more */
  gboolean stall_spent;            /* a stall on it timed out: none until it is read down */
  gsize read_ahead;                /* unread bytes at which reading stalls */
  guint64 recv_through;            /* read straight from the session's stream */
  gboolean closed;                 /* the whole stream was closed */

  /* Sending. */
  guint32 send_window;
  gsize send_queued;               /* bytes of its Data frames in the session's queue */
  gboolean share_full;             /* a write waited for send_queued to drop */
  gboolean fin_sent;

  gboolean reset;
  gboolean reset_by_peer;
  gboolean reset_for_unread;       /* by this side: the session held too much unread */
  GError *error;                   /* why the session ended */

  FoctetChannel *app;              /* the application's side, while it holds any object of it */
};

struct _FoctetYamuxConnection {
  FoctetConnection parent_instance;

  GIOStream *base;
  GPollableInputStream *input;
  GPollableOutputStream *output;
  GMainContext *context;
  gboolean is_client;

  guint64 next_id;
  YamuxRemoteIds remote_ids;       /* the ids the peer opened */
  GHashTable *channels;            /* stream id → YamuxChannel */
  GHashTable *attached;            /* every YamuxChannel whose session this is, in the table or not
                                    * (not referenced: a channel leaves it when it is freed) */
  guint n_unacked;
  guint n_remote;                  /* streams the peer opened, in the table */
  GQueue incoming;                 /* FoctetYamuxStream the peer opened, not accepted */
  GQueue accepts;                  /* GTask */
  GQueue opens;                    /* GTask waiting for fewer unacknowledged streams */

  /* Reading. */
  GSource *read_source;
  YamuxReadChunk *chunk;
  guint8 header_buf[FOCTET_YAMUX_HEADER_SIZE];
  gsize header_have;
  gboolean in_payload;
  guint32 payload_left;
  YamuxChannel *payload_channel;   /* NULL: the payload is dropped */
  gboolean payload_fin;
  gboolean parsing;                /* in session_read(): no read-through */
  guint32 data_run_id;             /* the stream of the last Data frames ... */
  guint data_run;                  /* ... and how many in a row */
  gboolean header_alone;           /* a payload went to a waiting read: read the next header on its own */
  GSource *stall_source;           /* ends a stall; handles a pending header */
  YamuxChannel *stall_channel;     /* reading waits for its application; NULL: not stalled */
  gint64 stall_start;
  guint64 recv_buffered;           /* what all channels hold unread */

  /* Writing. */
  YamuxOutQueue out;
  GSource *flush_source;
  GSource *write_source;
  gboolean writers_blocked;

  /* Windows. */
  guint32 max_stream_window;
  guint64 max_session_window;
  guint64 recv_window_total;
  guint accept_backlog;
  guint max_streams;               /* streams the peer may have open at once */
  guint read_stall_timeout;        /* ms; 0: reading never stalls */

  /* Keep-alive and round-trip time. */
  guint keepalive_interval;
  GSource *keepalive_source;
  guint32 ping_counter;
  guint32 ping_outstanding;
  gint64 ping_sent_at;             /* 0: no ping outstanding */
  gint64 rtt;                      /* µs, smoothed; 0 until measured */

  gboolean go_away_sent;
  gboolean go_away_received;
  guint32 go_away_code;
  gboolean shut;
};

/* The session, for its channels. */
void yamux_session_queued (FoctetYamuxConnection *self);
gboolean yamux_session_can_write_through (FoctetYamuxConnection *self);
void yamux_session_write_through (FoctetYamuxConnection *self);
void yamux_session_queue_frame (FoctetYamuxConnection *self,
                                guint8                 type,
                                guint16                flags,
                                guint32                stream_id,
                                guint32                length);
void yamux_session_open_pending (FoctetYamuxConnection *self);
void yamux_session_check_drained (FoctetYamuxConnection *self);
void yamux_session_channel_read (FoctetYamuxConnection *self,
                                 YamuxChannel          *channel,
                                 gsize                  count);
gboolean yamux_session_may_buffer (FoctetYamuxConnection *self,
                                   gsize                  len);
gsize yamux_session_stream_share (FoctetYamuxConnection *self);
gsize yamux_session_read_through (FoctetYamuxConnection *self,
                                  YamuxChannel          *channel,
                                  guint8                *buffer,
                                  gsize                  count);

/* The channels, for their session. */
YamuxChannel *yamux_channel_new (FoctetYamuxConnection *self,
                                 guint32                id,
                                 gboolean               outbound);
void yamux_channel_wake (YamuxChannel *channel,
                         gboolean      readers,
                         gboolean      writers);
guint16 yamux_channel_ack_flag (YamuxChannel *channel);
guint8 *yamux_channel_read_space (YamuxChannel *channel,
                                  gsize        *space);
void yamux_channel_read_space_filled (YamuxChannel *channel,
                                      gsize         n);
void yamux_channel_deliver (YamuxChannel   *channel,
                            YamuxReadChunk *chunk,
                            gsize           offset,
                            gsize           len);
void yamux_channel_receive_fin (YamuxChannel *channel);
void yamux_channel_release_queued (gpointer owner,
                                   gsize    len);
void yamux_channel_forget_session (YamuxChannel *channel);
void yamux_channel_detach (YamuxChannel *channel,
                           const GError *error);
void yamux_channel_do_reset (YamuxChannel *channel,
                             gboolean      by_peer);

G_END_DECLS

/* foctet-transfer-sender-private.h: what the files of
 * FoctetTransferSender share: its constants, its instance structure, a
 * session (Session) with its streams (StreamServe) and the chunks read
 * for them (Chunk), the walk of the files offered (Prepare), and the
 * functions each file offers the others.
 *
 *   foctet-transfer-sender.c          the public API, the GObject, pushes
 *   foctet-transfer-sender-prepare.c  walking and hashing the files offered
 *   foctet-transfer-sender-serve.c    sessions and their streams: reading
 *                                     requests, writing answers, ending
 *   foctet-transfer-sender-get.c      answering GETs: the I/O thread reads
 *                                     ahead, small files in batches
 *
 * Internal to libfoctet-core: not installed, not introspected.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "foctet-transfer-sender.h"
#include "foctet-transfer-wire.h"
#include "foctet-transfer-worker.h"
#include "foctet-transfer-private.h"
#include "foctet-file-hash-private.h"
#include "foctet-error.h"

G_BEGIN_DECLS

/* Files are read this much at a time, by the sender's I/O thread. */
#define CHUNK_SIZE (1024 * 1024)
/* Per stream: bytes read ahead of what was written to it. */
#define READ_AHEAD (4 * CHUNK_SIZE)
/* Hashing, before the ticket. */
#define HASH_SIZE (4 * 1024 * 1024)
/* GETs shorter than this are answered in batches: the I/O thread reads
 * several such files into one buffer, each after its DATA header, and
 * the buffer goes out in one write. */
#define BATCH_GET_MAX (64 * 1024)
/* A batch stops growing once its files' bytes reach this. */
#define BATCH_SIZE (64 * 1024)
/* The requests a stream may read ahead, and so its input buffer: at most
 * that many GETs, and room for any other message (ABORT: 1031 bytes). */
#define IN_SIZE (FOCTET_TRANSFER_MAX_OUTSTANDING_GETS * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE)

typedef struct _Session Session;
typedef struct _StreamServe StreamServe;

struct _FoctetTransferSender {
  GObject parent_instance;

  FoctetNode *node;
  GPtrArray *files;                     /* GFile, as given */
  GMainContext *context;

  FoctetTransferManifest *manifest;     /* once prepared */
  GPtrArray *sources;                   /* char *, local path of each entry */
  GPtrArray *skipped;                   /* Skipped: what the walk left out */
  guint n_files;
  GBytes *secret;
  gboolean preparing;
  gboolean handler_set;

  Session *session;                     /* the receiver being served */
  GPtrArray *streams;                   /* StreamServe, every one alive */
  GTask *serve_task;
  GSource *serve_cancelled;
  gboolean served;                      /* a session ended with DONE_ACK */

  FoctetTransferWorker *io;             /* reads the files, for every stream */
  FoctetTransferDirCache io_dirs;       /* the I/O thread's, for small files */
  FoctetTransferBufferPool buffers;     /* of CHUNK_SIZE, for reuse */
};

struct _Session {
  FoctetConnection *connection;
  StreamServe *control;
  guint n_data_streams;
  gulong closed_id;
  gboolean acked;                       /* DONE_ACK written */
};

typedef enum {
  ROLE_NONE,
  ROLE_CONTROL,
  ROLE_DATA,
} Role;

struct _StreamServe {
  int ref_count;
  FoctetTransferSender *sender;         /* strong, until the stream ends */
  FoctetConnection *connection;
  FoctetStream *stream;
  GCancellable *cancellable;
  GSource *timeout;                     /* first message; then the linger */
  Role role;
  GQueue requests;                      /* FoctetTransferMessage: answered in order */
  guint8 in[IN_SIZE];                   /* read, [in_start, in_end) not parsed yet */
  gsize in_start, in_end;
  gboolean reading;
  gboolean read_done;                   /* end of stream, or no more reads wanted */
  gboolean writing;
  gboolean ending;                      /* a final answer is on its way */
  gboolean write_closed;                /* and was followed by our half-close */
  gboolean ended;
  /* A bad message read after requests still to answer: refused in its
   * turn, once they are answered (stream_serve_refuse_in_turn ()). */
  guint16 refuse_code;
  char *refuse_text;

  /* Reads ahead: the chunks of the GETs queued, in order. */
  GQueue chunks;                        /* Chunk */
  guint64 chunk_bytes;                  /* in the chunks queued */
  guint prefetch_pos;                   /* requests (from the head) wholly asked for */
  guint64 prefetch_offset;              /* of the next, asked for so far */
  gboolean waiting_chunk;               /* the head chunk is not read yet */

  /* The I/O thread's: the file it has open for this stream. */
  int io_fd;
  guint32 io_index;
};

/* A GET of a batch. */
typedef struct {
  guint32 index;
  guint64 offset;
  guint64 length;
} BatchItem;

/* A piece of a GET, read by the I/O thread; or a batch: the whole
 * answers to several small GETs, DATA headers included. */
typedef struct {
  StreamServe *ss;                      /* a reference, until delivered */
  guint32 index;
  guint64 offset;
  gsize len;                            /* of the bytes in buf */
  gsize charged;                        /* to the stream's chunk_bytes */
  gboolean first;                       /* of its GET: checks the file's size */
  gboolean last;                        /* of its GET */
  BatchItem *items;                     /* a batch: the GETs it answers */
  guint n_items;
  guint8 *buf;
  gsize size;                           /* of buf */
  gboolean done;                        /* read (or failed) */
  gboolean dropped;                     /* nobody waits for it any more */
  GError *error;
} Chunk;

/* Preparing: walking and hashing, in a worker thread. */

/* An entry inside a directory offered that the walk left out. */
typedef struct {
  char *path;                           /* local */
  GFileType type;                       /* not followed: a link is a link */
} Skipped;

void skipped_free (Skipped *skipped);

typedef struct {
  GPtrArray *files;                     /* GFile */
  FoctetTransferManifest *manifest;
  GPtrArray *sources;
  GPtrArray *skipped;                   /* Skipped: links and special files inside directories */
  guint n_files;
  guint8 *hash_buf;                     /* HASH_SIZE, for every file */
} Prepare;

/* foctet-transfer-sender.c: the signals, for the session. */
void sender_emit_session_started (FoctetTransferSender *self,
                                  const char           *peer);
void sender_emit_session_ended (FoctetTransferSender *self,
                                const GError         *error);

/* foctet-transfer-sender-prepare.c: walking and hashing, in a worker
 * thread. */
void prepare_free (Prepare *prepare);
void prepare_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable);

/* foctet-transfer-sender-get.c: answering GETs, with the I/O thread
 * reading ahead. */
void sender_chunk_free (gpointer data);
void stream_serve_drop_chunks (StreamServe *ss,
                               gboolean     all);
void stream_serve_pop_request (StreamServe *ss);
void sender_io_work (gpointer data);
void sender_io_deliver (gpointer data);
void stream_serve_get_start (StreamServe           *ss,
                             FoctetTransferMessage *get);

/* foctet-transfer-sender-serve.c: sessions, and the streams they are
 * served on. */
StreamServe *stream_serve_ref (StreamServe *ss);
void stream_serve_unref (StreamServe *ss);
void stream_serve_end (StreamServe *ss,
                       guint32      reset_code);
void sender_unset_handler (FoctetTransferSender *self);
void sender_session_end (FoctetTransferSender *self,
                         const GError         *error);
void stream_serve_write_message (StreamServe           *ss,
                                 FoctetTransferMessage *message);
void stream_serve_refuse (StreamServe *ss,
                          guint16      code,
                          const char  *text);
void stream_serve_write_next (StreamServe *ss);
void stream_serve_read_next (StreamServe *ss);
void sender_transfer_handler (FoctetNode       *node,
                              FoctetConnection *connection,
                              FoctetStream     *stream,
                              gpointer          user_data);

G_END_DECLS

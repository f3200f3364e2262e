/* foctet-transfer-receiver-private.h: what the files of
 * FoctetTransferReceiver share: its constants, its instance structure, a
 * receive (Receive) with its jobs (FileJob), fetchers (Fetcher) and plan
 * (Plan), and the functions each file offers the others.
 *
 *   foctet-transfer-receiver.c          the public API, the GObject, progress
 *   foctet-transfer-receiver-session.c  a receive: dial, HELLO, MANIFEST,
 *                                       planning, fetching, DONE, ABORT
 *   foctet-transfer-receiver-plan.c     paths below the output directory;
 *                                       what is there already (worker thread)
 *   foctet-transfer-receiver-fetch.c    the streams: GETs out, DATA in
 *   foctet-transfer-receiver-io.c       the I/O threads writing and
 *                                       verifying the files
 *
 * Internal to libfoctet-core: not installed, not introspected.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sys/types.h>

#include "foctet-transfer-receiver.h"
#include "foctet-transfer-sender.h"
#include "foctet-transfer-wire.h"
#include "foctet-transfer-worker.h"
#include "foctet-transfer-private.h"
#include "foctet-file-hash-private.h"
#include "foctet-error.h"

G_BEGIN_DECLS

/* Per stream: requests in flight, well within the sender's read-ahead. */
#define MAX_GETS_IN_FLIGHT 32
/* A large file is asked for in pieces of this size, all on one stream. */
#define GET_SIZE (16 * 1024 * 1024)
/* After an ABORT, the control stream is drained this much at a time. */
#define ABORT_SCRATCH_SIZE (64 * 1024)
/* Data streams besides the control stream. */
#define N_DATA_STREAMS 4
#define CHUNK_SIZE (256 * 1024)
/* A stream's answers are read this much at a time, many small files'
 * DATA at once; the raw bytes of a large file go straight into the
 * buffers of the I/O thread instead. */
#define READ_SIZE (128 * 1024)
/* Files smaller than this arrive in one buffer of their size and are
 * written, verified and renamed by the I/O thread in one go. */
#define WHOLE_MAX (WRITE_SIZE / 4)
/* Part files are written by the receive's own I/O thread, this much at a
 * time (smaller for the last piece of a DATA); the main loop meanwhile
 * reads on, into another buffer. */
#define WRITE_SIZE (1024 * 1024)
/* Bytes handed to the I/O threads and not yet written: beyond this the
 * streams stop reading until the disk caught up.  The pieces of a large
 * file pass a hashing thread on their way to io[0], so that hashing one
 * overlaps with waiting for the disk to take the one before. */
#define MAX_QUEUED (8 * 1024 * 1024)
/* Threads writing the files.  The first takes every operation that must
 * run in order (the pieces of a large file, opening and finishing it);
 * whole small files are dealt out to all of them: creating a file is
 * most of what a small one costs, and creating unnamed files (O_TMPFILE)
 * does not lock their directory, so two threads create twice as many. */
#define N_IO_THREADS 2
/* Files at least this large are written around the page cache
 * (O_DIRECT), where the file system allows it: see io_open(). */
#define DIRECT_MIN_SIZE (16 * 1024 * 1024)
/* What O_DIRECT wants aligned: offsets, lengths, buffers. */
#define DIRECT_ALIGN 4096

/* What an I/O thread keeps for itself. */
typedef struct {
  FoctetTransferDirCache dirs;
  gboolean no_tmpfile;                  /* O_TMPFILE is refused here */
  gboolean link_by_proc;                /* linkat (AT_EMPTY_PATH) is refused */
} IoState;

typedef struct _Receive Receive;
typedef struct _Fetcher Fetcher;

struct _FoctetTransferReceiver {
  GObject parent_instance;

  FoctetNode *node;
  char *transport;                      /* dial with this one only; NULL: any */
  GMainContext *context;
  Receive *receive;                     /* the one in progress */
  GTask *waiting_push;                  /* a push from the node of the one in
                                         * progress, on a new connection: it
                                         * starts when that one has ended */

  guint64 bytes_total;
  guint64 bytes_done;
  guint64 bytes_fetched;
  guint files_total;
  guint files_done;
  char *current_file;
};

typedef struct {
  guint32 index;
  const FoctetTransferEntry *entry;
  guint64 start;                        /* bytes already there, from a part file */
  guint64 next_get;                     /* the next offset to ask for */
  guint64 have;                         /* bytes in the part file so far */
  guint64 queued;                       /* bytes handed to the I/O thread so far */
  guint outstanding;                    /* GETs not yet answered */
  gboolean resumed;                     /* start > 0: bytes of an earlier run */
  gboolean replace;                     /* a different file has the name (force) */
  gboolean failed;
  gboolean opened;                      /* the I/O thread was told to open it */
  gboolean whole;                       /* its one buffer went to the I/O thread */
  char *failure;
  /* The hashing thread's, while the job has operations in flight. */
  FoctetFileHash *checksum;               /* over the bytes queued so far */
  /* The I/O thread's, while the job has operations in flight. */
  int dir_fd;                           /* while writing */
  int fd;                               /* the part file, while writing */
  int direct_fd;                        /* the same, O_DIRECT, or -1 */
  gboolean io_failed;
} FileJob;

typedef struct {
  FileJob *job;
  guint64 offset;
  guint64 length;
} Get;

struct _Fetcher {
  Receive *receive;
  FoctetStream *stream;
  Get gets[MAX_GETS_IN_FLIGHT];         /* a ring, in the order sent */
  guint gets_head;
  guint n_gets;
  FileJob *current;                     /* the job whose GETs it is sending */
  gboolean writing;
  guint8 get_buf[MAX_GETS_IN_FLIGHT * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE];   /* the GETs being written */
  gboolean reading;
  gboolean read_direct;                 /* into buf, not in */
  gboolean closed;
  guint8 *in;                           /* READ_SIZE: read from the stream, */
  gsize in_start, in_end;               /* [in_start, in_end) not taken yet */
  guint8 *buf;                          /* being filled, for the I/O thread */
  gsize buf_size;
  gsize fill;                           /* of buf */
  FileJob *data_job;                    /* the DATA being read */
  guint64 data_left;
  gboolean data_whole;                  /* a whole small file, in one buffer */
  gboolean waiting_room;                /* until the I/O thread caught up */
};

struct _Receive {
  int ref_count;
  GTask *task;
  FoctetTransferReceiver *self;
  FoctetTicket *ticket;
  GBytes *secret;
  FoctetTransferReceiveFlags flags;
  char *output_path;
  int root_fd;
  mode_t umask;
  GCancellable *cancellable;            /* ours: cancels everything */
  GSource *user_cancelled;
  GSource *timeout;                     /* for DONE_ACK */

  FoctetConnection *connection;
  Fetcher *control;
  GPtrArray *fetchers;                  /* Fetcher; control first */
  guint n_opening;
  FoctetTransferManifest *manifest;
  GArray *jobs;                         /* FileJob, for files to fetch */
  GQueue pending;                       /* FileJob *, not yet taken by a stream */
  guint jobs_left;
  guint n_failed;
  char *first_failure;

  FoctetTransferWorker *hash;           /* hashes the ordered operations, then io[0] */
  FoctetTransferWorker *io[N_IO_THREADS];   /* write the files; io[0] in order */
  IoState io_state[N_IO_THREADS];       /* each the thread's own */
  guint next_io;                        /* the next to get a whole small file */
  guint64 bytes_queued;                 /* handed to it, not written yet */
  FoctetTransferBufferPool buffers;     /* of WRITE_SIZE, for reuse */

  gint64 fetch_started;                 /* monotonic: the first GET */
  gint64 fetch_ended;                   /* monotonic: all verified */
  gboolean done_pending;                /* DONE waits for the control stream */
  GError *error;                        /* the receive failed */
  gboolean finished;                    /* the result is decided */
  guint16 abort_code;                   /* of the ABORT to write; 0: from the error */
  gboolean abort_after_write;           /* once the control stream's GETs are written */
  gboolean abort_read_after_read;       /* once the control stream's read came back */
  guint8 *abort_scratch;                /* what comes after the ABORT, dropped */
};

/* Planning, in a worker thread: create the directories, look at what is
 * already there, hash it. */

typedef struct {
  FoctetTransferManifest *manifest;
  int root_fd;
  char *output_path;                    /* for messages */
  FoctetTransferReceiveFlags flags;
  GArray *jobs;                         /* FileJob */
  guint64 bytes_present;
  guint files_present;
  FoctetTransferDirCache dirs;
  GHashTable *created;                  /* paths of the directories this plan made */
} Plan;

/* foctet-transfer-receiver.c: progress, in the properties. */
void receiver_progress_reset (FoctetTransferReceiver *self);
void receiver_progress_set_totals (FoctetTransferReceiver *self,
                                   guint64                 bytes_total,
                                   guint                   files_total);
void receiver_progress_set_present (FoctetTransferReceiver *self,
                                    guint                   files_present,
                                    guint64                 bytes_present);
void receiver_progress_add (FoctetTransferReceiver *self,
                            gint64                  done,
                            guint64                 fetched);
void receiver_progress_set_current (FoctetTransferReceiver *self,
                                    const char             *path);
void receiver_progress_file_done (FoctetTransferReceiver *self);

/* foctet-transfer-receiver-plan.c: paths below the output directory, and
 * the plan of what to fetch. */
int receiver_open_parent (int          root_fd,
                          const char  *path,
                          const char **name,
                          GError     **error);
char *receiver_part_name (const char *name);
int receiver_dir_cache_get_parent (FoctetTransferDirCache  *cache,
                                   int                      root_fd,
                                   const char              *path,
                                   const char             **name,
                                   GError                 **error);
gboolean receiver_digest_matches (FoctetFileHash            *checksum,
                                  const FoctetTransferEntry *entry);
void file_job_close_files (FileJob *job);
void file_job_clear (FileJob *job);
void plan_free (Plan *plan);
void plan_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable);

/* foctet-transfer-receiver-io.c: jobs, and the I/O threads that write
 * and verify their files. */
mode_t receive_entry_mode (Receive                   *receive,
                           const FoctetTransferEntry *entry);
void receive_io_push_data (Receive *receive,
                           FileJob *job,
                           gboolean whole,
                           guint8  *buf,
                           gsize    size,
                           gsize    len);
void receive_job_finish_failed (Receive *receive,
                                FileJob *job);
void receive_job_done (Receive *receive);
void receive_hash_work (gpointer data);
void receive_io_work (gpointer data);
void receive_io_deliver (gpointer data);
void receive_job_complete (Receive *receive,
                           FileJob *job);
void receive_job_open (Receive *receive,
                       FileJob *job);

/* foctet-transfer-receiver-fetch.c: the fetchers, one per stream. */
void receive_buffer_free (guint8 *buf,
                          gsize   size);
void fetcher_free (Fetcher *fetcher);
Fetcher *fetcher_new (Receive      *receive,
                      FoctetStream *stream);
void fetcher_pump (Fetcher *fetcher);
void receive_pump (Receive *receive);
void fetcher_process (Fetcher *fetcher);
void fetcher_close_write (Fetcher *fetcher);

/* foctet-transfer-receiver-session.c: a receive from its start to its
 * result. */
Receive *receive_ref (Receive *receive);
void receive_unref (Receive *receive);
void receive_fail (Receive *receive,
                   GError  *error);
void receive_abort_write_done (Receive *receive,
                               gboolean whole);
void receive_abort_read_done (Receive *receive);
void receive_fail_code (Receive *receive,
                        guint16  code,
                        GError  *error);
void receive_all_fetched (Receive *receive);
void receive_control_opened_cb (GObject      *source,
                                GAsyncResult *result,
                                gpointer      user_data);
void receive_dialed_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data);
void receiver_start_waiting_push (FoctetTransferReceiver *self);
Receive *receive_begin (FoctetTransferReceiver     *self,
                        GTask                      *task,
                        GBytes                     *secret,
                        GFile                      *output_dir,
                        FoctetTransferReceiveFlags  flags,
                        GCancellable               *cancellable);

G_END_DECLS

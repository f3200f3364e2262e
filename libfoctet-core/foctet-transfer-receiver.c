/* foctet-transfer-receiver.c: the receiving side of foctet/transfer/1
 * (docs/protocol.md, "File transfer").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "foctet-transfer-receiver.h"
#include "foctet-transfer-sender.h"
#include "foctet-transfer-wire.h"
#include "foctet-transfer-private.h"
#include "foctet-sha256-private.h"
#include "foctet-error.h"

/**
 * FoctetTransferReceiver:
 *
 * Fetches what a transfer ticket offers into an output directory.
 *
 * foctet_transfer_receiver_receive_async() dials the ticket's node,
 * presents the secret, checks the manifest (every path again, whatever
 * the sender claims), creates the directories and fetches the files over
 * the control stream and a few data streams, many requests in flight on
 * each.  Each file is written to `<path>.foctet-part`, hashed as it
 * arrives, and renamed to `<path>` once its SHA-256 matches — never over
 * an existing file unless %FOCTET_TRANSFER_RECEIVE_FORCE is given — so a
 * final name only ever holds a complete, verified file.  (A small file
 * fetched in one piece is written unnamed, with O_TMPFILE where the file
 * system has it, and linked to `<path>` once verified, just as safely.)  Part files left
 * by an interrupted run are re-hashed and only the rest is fetched.
 *
 * Paths are resolved below the output directory one component at a time
 * with `openat (O_NOFOLLOW)`: a symbolic link inside it never redirects a
 * write, whoever made it.  Directories get their modes at the end; files
 * get theirs masked by the umask, never a set-ID bit.
 *
 * Progress shows in the read-only properties, with notifications:
 * #FoctetTransferReceiver:bytes-done, #FoctetTransferReceiver:bytes-total,
 * #FoctetTransferReceiver:files-done, #FoctetTransferReceiver:current-file
 * and #FoctetTransferReceiver:bytes-fetched.  One receive at a time.
 */

/* Per stream: requests in flight, well within the sender's read-ahead. */
#define MAX_GETS_IN_FLIGHT 32
/* A large file is asked for in pieces of this size, all on one stream. */
#define GET_SIZE (16 * 1024 * 1024)
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
/* Bytes handed to the I/O thread and not yet written: beyond this the
 * streams stop reading until the disk caught up. */
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
  GMainContext *context;
  Receive *receive;                     /* the one in progress */

  guint64 bytes_total;
  guint64 bytes_done;
  guint64 bytes_fetched;
  guint files_total;
  guint files_done;
  char *current_file;
};

enum {
  PROP_0,
  PROP_NODE,
  PROP_BYTES_TOTAL,
  PROP_BYTES_DONE,
  PROP_BYTES_FETCHED,
  PROP_FILES_TOTAL,
  PROP_FILES_DONE,
  PROP_CURRENT_FILE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (FoctetTransferReceiver, foctet_transfer_receiver, G_TYPE_OBJECT)

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
  /* The I/O thread's, while the job has operations in flight. */
  FoctetSha256 *checksum;               /* over what was written: [0, have) */
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
};

static void fetcher_pump (Fetcher *fetcher);
static void receive_pump (Receive *receive);
static void receive_all_fetched (Receive *receive);
static void fetcher_read (Fetcher *fetcher);
static void receive_fail (Receive *receive,
                          GError  *error);
static void io_work (gpointer data);
static void io_deliver (gpointer data);

/* Progress */

static void
progress_add (FoctetTransferReceiver *self,
              gint64                  done,
              guint64                 fetched)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (done != 0)
    {
      self->bytes_done += done;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_DONE]);
    }
  if (fetched != 0)
    {
      self->bytes_fetched += fetched;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_FETCHED]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static void
progress_set_current (FoctetTransferReceiver *self,
                      const char             *path)
{
  if (g_strcmp0 (self->current_file, path) == 0)
    return;
  g_free (self->current_file);
  self->current_file = g_strdup (path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_FILE]);
}

static void
progress_file_done (FoctetTransferReceiver *self)
{
  self->files_done++;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_DONE]);
}

/* Paths below the output directory */

/* Opens the directory that holds @path (relative, validated), walking
 * from @root_fd one component at a time without following a symbolic
 * link; sets *@name to the last component.  Returns the directory's fd
 * or -1. */
static int
open_parent (int          root_fd,
             const char  *path,
             const char **name,
             GError     **error)
{
  const char *p = path;
  const char *slash;
  int fd = dup (root_fd);

  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening the output directory"));
      return -1;
    }
  while ((slash = strchr (p, '/')) != NULL)
    {
      g_autofree char *component = g_strndup (p, slash - p);
      int next = openat (fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int saved = errno;

      close (fd);
      if (next < 0)
        {
          g_autofree char *dir = g_strndup (path, slash - path);

          if (saved == ELOOP || saved == ENOTDIR)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                         "“%s” is not a directory (a symbolic link is never followed); "
                         "refusing to write “%s” through it", dir, path);
          else
            g_propagate_error (error, foctet_transfer_errno_error (saved, "Opening “%s”", dir));
          return -1;
        }
      fd = next;
      p = slash + 1;
    }
  *name = p;
  return fd;
}

static char *
part_name (const char *name)
{
  return g_strconcat (name, FOCTET_TRANSFER_PART_SUFFIX, NULL);
}

/* As open_parent(), but the directory is borrowed: @root_fd itself for a
 * top-level entry, else the cache's, valid until the next call. */
static int
dir_cache_get_parent (FoctetTransferDirCache  *cache,
                      int                      root_fd,
                      const char              *path,
                      const char             **name,
                      GError                 **error)
{
  const char *slash = strrchr (path, '/');
  gsize len;

  if (slash == NULL)
    {
      *name = path;
      return root_fd;
    }
  len = slash - path;
  if (!foctet_transfer_dir_cache_holds (cache, path, len))
    {
      int fd = open_parent (root_fd, path, name, error);

      if (fd < 0)
        {
          foctet_transfer_dir_cache_clear (cache);
          return -1;
        }
      foctet_transfer_dir_cache_set (cache, path, len, fd);
    }
  *name = slash + 1;
  return cache->fd;
}

static gboolean
hash_fd (int            fd,
         guint64        length,
         FoctetSha256  *checksum,
         GCancellable  *cancellable,
         GError       **error)
{
  g_autofree guint8 *buf = g_malloc (CHUNK_SIZE);

  while (length > 0)
    {
      gsize want = MIN (length, CHUNK_SIZE);
      gssize n = foctet_transfer_read_full (fd, buf, want);

      if (n < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Reading"));
          return FALSE;
        }
      if ((gsize) n < want)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "The file shrank while it was read");
          return FALSE;
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      foctet_sha256_update (checksum, buf, n);
      length -= n;
    }
  return TRUE;
}

static gboolean
digest_matches (FoctetSha256                 *checksum,
                const FoctetTransferEntry *entry)
{
  guint8 digest[FOCTET_TRANSFER_SHA256_SIZE];

  foctet_sha256_get_digest (checksum, digest);
  return memcmp (digest, entry->sha256, sizeof digest) == 0;
}

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

static void
job_close_files (FileJob *job)
{
  if (job->fd >= 0)
    close (job->fd);
  job->fd = -1;
  if (job->direct_fd >= 0)
    close (job->direct_fd);
  job->direct_fd = -1;
  if (job->dir_fd >= 0)
    close (job->dir_fd);
  job->dir_fd = -1;
}

static void
file_job_clear (FileJob *job)
{
  g_clear_pointer (&job->checksum, foctet_sha256_free);
  g_clear_pointer (&job->failure, g_free);
  job_close_files (job);
}

static void
plan_free (Plan *plan)
{
  foctet_transfer_manifest_unref (plan->manifest);
  if (plan->root_fd >= 0)
    close (plan->root_fd);
  g_clear_pointer (&plan->jobs, g_array_unref);
  g_free (plan->output_path);
  foctet_transfer_dir_cache_clear (&plan->dirs);
  g_hash_table_unref (plan->created);
  g_free (plan);
}

static gboolean
plan_directory (Plan                      *plan,
                const FoctetTransferEntry *entry,
                GError                   **error)
{
  const char *name;
  struct stat st;
  int dir_fd = dir_cache_get_parent (&plan->dirs, plan->root_fd, entry->path, &name, error);

  if (dir_fd < 0)
    return FALSE;
  /* Searchable and writable by us while the transfer runs; the entry's
   * own mode comes at the end. */
  if (mkdirat (dir_fd, name, 0700) == 0)
    g_hash_table_add (plan->created, entry->path);
  else
    {
      int saved = errno;

      if (saved != EEXIST || fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
        {
          if (saved == EEXIST)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                         "“%s” exists and is not a directory", entry->path);
          else
            g_propagate_error (error, foctet_transfer_errno_error (saved, "Creating the directory “%s”",
                                                                   entry->path));
          return FALSE;
        }
    }
  return TRUE;
}

/* Whether the regular file @name in @dir_fd has exactly @entry's content. */
static gboolean
file_is_identical (int                        dir_fd,
                   const char                *name,
                   const FoctetTransferEntry *entry,
                   GCancellable              *cancellable,
                   gboolean                  *identical,
                   GError                   **error)
{
  g_autoptr(FoctetSha256) checksum = foctet_sha256_new ();
  int fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  gboolean ok;

  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening “%s”", entry->path));
      return FALSE;
    }
  ok = hash_fd (fd, entry->size, checksum, cancellable, error);
  close (fd);
  if (!ok)
    {
      g_prefix_error (error, "“%s”: ", entry->path);
      return FALSE;
    }
  *identical = digest_matches (checksum, entry);
  return TRUE;
}

static gboolean
plan_file (Plan                      *plan,
           guint32                    index,
           const FoctetTransferEntry *entry,
           GCancellable              *cancellable,
           GError                   **error)
{
  g_autofree char *part = NULL;
  g_autofree char *parent = NULL;
  const char *slash = strrchr (entry->path, '/');
  FileJob job = { 0 };
  const char *name;
  struct stat st;
  int dir_fd;

  job.index = index;
  job.entry = entry;
  job.dir_fd = -1;
  job.fd = -1;
  job.direct_fd = -1;

  /* In a directory this run made there is nothing to look at (part file
   * names are ours, and the final name is taken without replacing). */
  if (slash != NULL)
    {
      parent = g_strndup (entry->path, slash - entry->path);
      if (g_hash_table_contains (plan->created, parent))
        {
          g_array_append_val (plan->jobs, job);
          return TRUE;
        }
    }

  dir_fd = dir_cache_get_parent (&plan->dirs, plan->root_fd, entry->path, &name, error);
  if (dir_fd < 0)
    return FALSE;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      gboolean identical = FALSE;

      if (!S_ISREG (st.st_mode))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "“%s” exists and is not a regular file; it is left alone", entry->path);
          return FALSE;
        }
      if ((guint64) st.st_size == entry->size &&
          !file_is_identical (dir_fd, name, entry, cancellable, &identical, error))
        return FALSE;
      if (identical)
        {
          plan->bytes_present += entry->size;
          plan->files_present++;
          return TRUE;
        }
      if ((plan->flags & FOCTET_TRANSFER_RECEIVE_FORCE) == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "“%s” exists and differs from the file offered; not overwriting it", entry->path);
          return FALSE;
        }
      job.replace = TRUE;
    }
  else if (errno != ENOENT)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Looking at “%s”", entry->path));
      return FALSE;
    }

  part = part_name (name);
  if (fstatat (dir_fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      if (!S_ISREG (st.st_mode))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "“%s%s” exists and is not a regular file", entry->path, FOCTET_TRANSFER_PART_SUFFIX);
          return FALSE;
        }
      /* A part file longer than the entry is of another file: fetched anew. */
      if ((guint64) st.st_size <= entry->size && st.st_size > 0)
        {
          int fd = openat (dir_fd, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

          job.checksum = foctet_sha256_new ();
          if (fd >= 0 && hash_fd (fd, st.st_size, job.checksum, cancellable, NULL))
            job.start = st.st_size;
          else
            g_clear_pointer (&job.checksum, foctet_sha256_free);
          if (fd >= 0)
            close (fd);
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            {
              file_job_clear (&job);
              return FALSE;
            }
        }
    }
  job.resumed = job.start > 0;
  job.next_get = job.start;
  job.have = job.start;
  job.queued = job.start;
  plan->bytes_present += job.start;
  g_array_append_val (plan->jobs, job);
  return TRUE;
}

/* Refuses at once what cannot fit, rather than failing a write half-way
 * (which is still handled: other writers share the disk). */
static gboolean
plan_check_space (Plan    *plan,
                  GError **error)
{
  struct statvfs st;
  guint64 needed = 0, available;

  for (guint i = 0; i < plan->jobs->len; i++)
    {
      const FileJob *job = &g_array_index (plan->jobs, FileJob, i);

      needed += job->entry->size - job->start;
    }
  /* A file system of no size (ramfs: it grows as long as memory lasts)
   * says nothing about its room. */
  if (needed == 0 || fstatvfs (plan->root_fd, &st) < 0 || st.f_blocks == 0)
    return TRUE;
  available = (guint64) st.f_bavail * st.f_frsize;
  if (needed <= available)
    return TRUE;
  {
    g_autofree char *needed_text = g_format_size_full (needed, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *available_text = g_format_size_full (available, G_FORMAT_SIZE_IEC_UNITS);

    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                 "No space left on the device of “%s”: the files offered need %s more, %s is free",
                 plan->output_path, needed_text, available_text);
  }
  return FALSE;
}

static void
plan_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Plan *plan = task_data;
  guint32 n = foctet_transfer_manifest_get_n_entries (plan->manifest);
  GError *error = NULL;

  for (guint32 i = 0; i < n; i++)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (plan->manifest, i);
      gboolean ok;

      if (g_cancellable_set_error_if_cancelled (cancellable, &error))
        break;
      if (entry->kind == FOCTET_TRANSFER_ENTRY_DIRECTORY)
        ok = plan_directory (plan, entry, &error);
      else
        ok = plan_file (plan, i, entry, cancellable, &error);
      if (!ok)
        break;
    }
  if (error == NULL)
    plan_check_space (plan, &error);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* Receive: its life */

/* Buffers of WRITE_SIZE are aligned for O_DIRECT; others are not. */
static void
buffer_free (guint8 *buf,
             gsize   size)
{
  if (size == WRITE_SIZE)
    g_aligned_free (buf);
  else
    g_free (buf);
}

static Receive *
receive_ref (Receive *receive)
{
  receive->ref_count++;
  return receive;
}

static void
fetcher_free (Fetcher *fetcher)
{
  g_clear_object (&fetcher->stream);
  buffer_free (fetcher->buf, fetcher->buf_size);
  g_free (fetcher->in);
  g_free (fetcher);
}

/* The result is returned once nothing is in flight any more: no write to
 * a part file can then happen after the caller heard back. */
static void
receive_unref (Receive *receive)
{
  FoctetTransferReceiver *self = receive->self;
  g_autoptr(GTask) task = NULL;

  if (--receive->ref_count > 0)
    return;

  task = g_steal_pointer (&receive->task);
  /* Every operation came back (each held a reference): the thread is idle. */
  for (guint i = 0; i < N_IO_THREADS; i++)
    {
      g_clear_pointer (&receive->io[i], foctet_transfer_worker_free);
      foctet_transfer_dir_cache_clear (&receive->io_state[i].dirs);
    }
  foctet_transfer_buffer_pool_clear (&receive->buffers);
  foctet_transfer_source_clear (&receive->user_cancelled);
  foctet_transfer_source_clear (&receive->timeout);
  if (receive->connection != NULL)
    {
      if (!foctet_connection_is_closed (receive->connection))
        foctet_connection_close_async (receive->connection,
                                       receive->error != NULL ? FOCTET_CLOSE_CODE_INTERNAL_ERROR
                                                              : FOCTET_CLOSE_CODE_NO_ERROR,
                                       receive->error != NULL ? "transfer failed" : "transfer complete",
                                       NULL, NULL, NULL);
      g_object_unref (receive->connection);
    }
  g_clear_pointer (&receive->fetchers, g_ptr_array_unref);
  g_queue_clear (&receive->pending);
  g_clear_pointer (&receive->jobs, g_array_unref);
  g_clear_pointer (&receive->manifest, foctet_transfer_manifest_unref);
  g_clear_object (&receive->cancellable);
  g_clear_object (&receive->ticket);
  g_clear_pointer (&receive->secret, g_bytes_unref);
  g_free (receive->output_path);
  g_free (receive->first_failure);
  if (receive->root_fd >= 0)
    close (receive->root_fd);
  self->receive = NULL;
  progress_set_current (self, NULL);

  if (receive->error != NULL)
    g_task_return_error (task, receive->error);
  else
    g_task_return_boolean (task, TRUE);
  g_free (receive);
}

static guint16
abort_code_for (const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    return FOCTET_TRANSFER_ERROR_CODE_CANCELLED;
  if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
    return FOCTET_TRANSFER_ERROR_CODE_MALFORMED;
  if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_VERIFICATION_FAILED))
    return FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) ||
      g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED))
    return FOCTET_TRANSFER_ERROR_CODE_LIMITS;
  return FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR;
}

/* Whatever is still in flight on the streams ends with the connection. */
static void
receive_close_connection (Receive *receive)
{
  foctet_transfer_source_clear (&receive->timeout);
  if (receive->connection != NULL && !foctet_connection_is_closed (receive->connection))
    foctet_connection_close_async (receive->connection, FOCTET_CLOSE_CODE_NO_ERROR, "transfer failed",
                                   NULL, NULL, NULL);
}

static gboolean
abort_timeout_cb (gpointer user_data)
{
  Receive *receive = user_data;

  g_clear_pointer (&receive->timeout, g_source_unref);
  receive_close_connection (receive);
  return G_SOURCE_REMOVE;
}

static void
abort_answer_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Receive *receive = user_data;
  g_autoptr(FoctetTransferMessage) message = NULL;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, NULL);
  receive_close_connection (receive);
  receive_unref (receive);
}

/* After ABORT, the half-close; the sender then ends the stream too, and
 * only then is the connection closed, so that ABORT is not lost with it
 * (the timer set in receive_fail() bounds the wait). */
static void
abort_closed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Receive *receive = user_data;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, NULL))
    {
      receive_close_connection (receive);
      receive_unref (receive);
      return;
    }
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (source)), G_PRIORITY_DEFAULT,
                                      NULL, abort_answer_cb, receive);
}

static void
abort_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Receive *receive = user_data;

  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, NULL))
    {
      receive_close_connection (receive);
      receive_unref (receive);
      return;
    }
  foctet_stream_close_write_async (receive->control->stream, G_PRIORITY_DEFAULT, NULL, abort_closed_cb, receive);
}

/* Gives up: says why on the control stream (ABORT) when it can, stops
 * everything; the result goes out once all that is in flight is done. */
static void
receive_fail (Receive *receive,
              GError  *error)
{
  if (receive->finished)
    {
      g_error_free (error);
      return;
    }
  receive->finished = TRUE;
  receive->error = error;
  g_debug ("Transfer: receive failed: %s", error->message);
  g_cancellable_cancel (receive->cancellable);
  foctet_transfer_source_clear (&receive->timeout);

  if (receive->control != NULL && !receive->control->writing && !receive->control->closed)
    {
      g_autoptr(FoctetTransferMessage) abort = foctet_transfer_message_new_abort (abort_code_for (error),
                                                                                  error->message);

      receive->control->closed = TRUE;
      foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (receive->control->stream)),
                                           abort, G_PRIORITY_DEFAULT, NULL, abort_written_cb,
                                           receive_ref (receive));
      /* A stream out of window would hold the ABORT forever. */
      receive->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (2), abort_timeout_cb, receive,
                                                        receive->self->context);
      return;
    }
  receive_close_connection (receive);
}

/* For the callback of a step of the receive, holding a reference: fails
 * the receive with @error (owned) unless it is %NULL, and tells whether
 * the receive is over (failed now or before), having then dropped the
 * reference. */
static gboolean
receive_stopped (Receive *receive,
                 GError  *error)
{
  if (error != NULL)
    receive_fail (receive, error);
  if (!receive->finished)
    return FALSE;
  receive_unref (receive);
  return TRUE;
}

/* Jobs, and the I/O thread that writes their part files */

/* The mode a file or directory gets: the entry's, masked by the umask. */
static mode_t
entry_mode (Receive                   *receive,
            const FoctetTransferEntry *entry)
{
  return entry->mode & ~receive->umask & FOCTET_TRANSFER_MODE_MASK;
}

typedef enum {
  IO_OPEN,                              /* open the part file, cut to @offset */
  IO_WRITE,                             /* write @buf at @offset, hash it */
  IO_FINISH,                            /* all is written: verify, mode, rename */
  IO_CLOSE,                             /* the job is given up: close its files */
  IO_WHOLE,                             /* all of a small file: open, write, verify, mode, rename */
} IoKind;

typedef struct {
  IoKind kind;
  Receive *receive;                     /* a reference, until delivered */
  IoState *state;                       /* of the thread it runs in */
  FileJob *job;
  guint8 *buf;                          /* IO_WRITE */
  gsize len;
  gsize size;                           /* of buf */
  guint64 offset;
  gboolean matched;                     /* IO_FINISH, IO_WHOLE: the SHA-256 matched, renamed */
  GError *error;
} IoOp;

/* An operation on @job for I/O thread @worker, at the end of what was
 * queued of the job so far. */
static IoOp *
io_op_new (Receive *receive,
           IoKind   kind,
           guint    worker,
           FileJob *job)
{
  IoOp *op = g_new0 (IoOp, 1);

  op->kind = kind;
  op->receive = receive_ref (receive);
  op->state = &receive->io_state[worker];
  op->job = job;
  op->offset = job->queued;
  return op;
}

/* Queues an operation that must run in order with the job's others. */
static void
io_push (Receive *receive,
         IoKind   kind,
         FileJob *job)
{
  foctet_transfer_worker_push (receive->io[0], io_op_new (receive, kind, 0, job));
}

static void
job_finish_failed (Receive *receive,
                   FileJob *job)
{
  receive->n_failed++;
  if (receive->first_failure == NULL)
    receive->first_failure = g_strdup (job->failure);
  if (job->opened)
    io_push (receive, IO_CLOSE, job);
  job->opened = FALSE;
}

static void
job_done (Receive *receive)
{
  if (--receive->jobs_left == 0)
    receive_all_fetched (receive);
}

/* Renames @part to @name in @dir_fd, replacing nothing there unless
 * @replace; errno tells why not. */
static gboolean
rename_part (int         dir_fd,
             const char *part,
             const char *name,
             gboolean    replace)
{
  if (replace)
    return renameat (dir_fd, part, dir_fd, name) == 0;
  if (renameat2 (dir_fd, part, dir_fd, name, RENAME_NOREPLACE) == 0)
    return TRUE;
  if (errno != EINVAL && errno != ENOSYS)
    return FALSE;
  /* A file system without RENAME_NOREPLACE: a hard link fails just as
   * well on an existing name. */
  if (linkat (dir_fd, part, dir_fd, name, 0) < 0)
    return FALSE;
  unlinkat (dir_fd, part, 0);
  return TRUE;
}

/* Why rename_part() (or the link of an unnamed file) failed. */
static GError *
rename_error (const FoctetTransferEntry *entry,
              int                        saved)
{
  if (saved == EEXIST)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_EXISTS,
                        "“%s” appeared while it was being fetched; not overwriting it (the file fetched is "
                        "“%s%s”)", entry->path, entry->path, FOCTET_TRANSFER_PART_SUFFIX);
  return foctet_transfer_errno_error (saved, "Renaming “%s%s” to “%s”", entry->path, FOCTET_TRANSFER_PART_SUFFIX,
                                      entry->path);
}

/* Writes all of @buf at @offset; errno tells why not. */
static gboolean
pwrite_all (int           fd,
            const guint8 *buf,
            gsize         len,
            guint64       offset)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pwrite (fd, buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      done += n;
    }
  return TRUE;
}

/* In the I/O thread: opens the job's part file for writing, holding
 * exactly the @have bytes that were hashed, whatever happened to it since. */
static gboolean
io_open (Receive  *receive,
         FileJob  *job,
         guint64   have,
         GError  **error)
{
  g_autofree char *part = NULL;
  const char *name;

  job_close_files (job);
  job->dir_fd = open_parent (receive->root_fd, job->entry->path, &name, error);
  if (job->dir_fd < 0)
    return FALSE;
  part = part_name (name);
  /* From nothing: O_TRUNC, which does nothing to a file it creates.  Not
   * ftruncate (fd, 0): on ext4 a file cut to nothing is written out when
   * it is closed (auto_da_alloc, for programs that rewrite files without
   * fsync), which made close () start a disk write for every small file. */
  job->fd = openat (job->dir_fd, part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (have == 0 ? O_TRUNC : 0),
                    0600);
  if (job->fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Creating “%s%s”", job->entry->path,
                                                             FOCTET_TRANSFER_PART_SUFFIX));
      return FALSE;
    }
  if (have > 0 && ftruncate (job->fd, have) < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Preparing “%s%s”", job->entry->path,
                                                             FOCTET_TRANSFER_PART_SUFFIX));
      return FALSE;
    }
  /* Made here for a file that had no part file. */
  if (job->checksum == NULL)
    job->checksum = foctet_sha256_new ();
  else if (have == 0)
    foctet_sha256_reset (job->checksum);
  /* A large file goes to the disk without passing through the page
   * cache: on a machine with little memory to spare (or a virtual one,
   * whose fresh pages are dear) filling the cache with a whole large
   * file costs more than the transfer itself, and evicts everything
   * else.  Where the file system refuses, writes are buffered. */
  if (job->entry->size >= DIRECT_MIN_SIZE)
    job->direct_fd = openat (job->dir_fd, part, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
  return TRUE;
}

/* In the I/O thread. */
static gboolean
io_write (FileJob       *job,
          const guint8  *buf,
          gsize          len,
          guint64        offset,
          GError       **error)
{
  gsize done = 0;

  /* Whole aligned blocks straight to the disk; the rest (a file's tail,
   * or everything after a resume at an odd offset) through the cache. */
  if (job->direct_fd >= 0 && offset % DIRECT_ALIGN == 0 && GPOINTER_TO_SIZE (buf) % DIRECT_ALIGN == 0)
    {
      gsize direct = len - len % DIRECT_ALIGN;

      while (done < direct)
        {
          ssize_t n = pwrite (job->direct_fd, buf + done, direct - done, offset + done);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && errno == EINVAL)
            {
              /* Other alignment rules: buffered from here on. */
              close (job->direct_fd);
              job->direct_fd = -1;
              break;
            }
          if (n < 0)
            {
              g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s%s”", job->entry->path,
                                                                     FOCTET_TRANSFER_PART_SUFFIX));
              return FALSE;
            }
          done += n;
          if (n % DIRECT_ALIGN != 0)
            break;
        }
    }
  if (!pwrite_all (job->fd, buf + done, len - done, offset + done))
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s%s”", job->entry->path,
                                                             FOCTET_TRANSFER_PART_SUFFIX));
      return FALSE;
    }
  foctet_sha256_update (job->checksum, buf, len);
  return TRUE;
}

/* In the I/O thread: all of a job's bytes are written; verify, give the
 * file its mode, rename it.  A mismatch leaves the part file open. */
static gboolean
io_finish (Receive   *receive,
           FileJob   *job,
           gboolean  *matched,
           GError   **error)
{
  const FoctetTransferEntry *entry = job->entry;
  g_autofree char *part = NULL;
  const char *name = strrchr (entry->path, '/');
  int fd = job->fd;

  name = name != NULL ? name + 1 : entry->path;
  *matched = digest_matches (job->checksum, entry);
  if (!*matched)
    return TRUE;
  if (fchmod (fd, entry_mode (receive, entry)) < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Setting the mode of “%s”", entry->path));
      return FALSE;
    }
  job->fd = -1;
  if (close (fd) < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s%s”", entry->path,
                                                             FOCTET_TRANSFER_PART_SUFFIX));
      return FALSE;
    }
  part = part_name (name);
  if (!rename_part (job->dir_fd, part, name, (receive->flags & FOCTET_TRANSFER_RECEIVE_FORCE) != 0))
    {
      g_propagate_error (error, rename_error (entry, errno));
      return FALSE;
    }
  job_close_files (job);
  g_clear_pointer (&job->checksum, foctet_sha256_free);
  return TRUE;
}

/* In the I/O thread: gives the unnamed file @fd the name @name in
 * @dir_fd, replacing nothing; errno tells why not. */
static gboolean
link_tmpfile (IoState    *state,
              int         fd,
              int         dir_fd,
              const char *name)
{
  char proc_path[64];

  /* Without CAP_DAC_READ_SEARCH (before Linux 6.10) AT_EMPTY_PATH fails
   * with ENOENT; the link through /proc is what open(2) shows. */
  if (!state->link_by_proc)
    {
      if (linkat (fd, "", dir_fd, name, AT_EMPTY_PATH) == 0)
        return TRUE;
      if (errno != ENOENT && errno != EPERM && errno != EINVAL)
        return FALSE;
      state->link_by_proc = TRUE;
    }
  g_snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
  return linkat (AT_FDCWD, proc_path, dir_fd, name, AT_SYMLINK_FOLLOW) == 0;
}

/* In the I/O thread: a small file, all its bytes in @buf.  The same
 * steps as IO_OPEN, IO_WRITE and IO_FINISH, in one hop, with the
 * directory kept open for the next file.
 *
 * Where the file system has O_TMPFILE, the file is written unnamed and
 * linked to its name once verified (linkat () replaces nothing): one
 * entry added to the directory, where a part file and its rename make
 * three changes.  It is made with its mode (masked by the umask).  One
 * that does not match is linked as its part file instead, with mode
 * 0600, as a part file would have been left.  Interrupted, an unnamed
 * file leaves nothing: a small file is fetched whole again anyway. */
static gboolean
io_whole (Receive       *receive,
          IoState       *state,
          FileJob       *job,
          const guint8  *buf,
          gsize          len,
          gboolean      *matched,
          GError       **error)
{
  const FoctetTransferEntry *entry = job->entry;
  g_autofree char *part = NULL;
  g_autofree char *part_path = NULL;
  guint8 digest[FOCTET_TRANSFER_SHA256_SIZE];
  const char *name;
  int dir_fd, fd;

  dir_fd = dir_cache_get_parent (&state->dirs, receive->root_fd, entry->path, &name, error);
  if (dir_fd < 0)
    return FALSE;
  part = part_name (name);
  part_path = g_strconcat (entry->path, FOCTET_TRANSFER_PART_SUFFIX, NULL);
  gnutls_hash_fast (GNUTLS_DIG_SHA256, buf, len, digest);
  *matched = memcmp (digest, entry->sha256, sizeof digest) == 0;

  if (!job->replace && !state->no_tmpfile)
    {
      fd = openat (dir_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC,
                   *matched ? entry_mode (receive, entry) : 0600);
      if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
        state->no_tmpfile = TRUE;
      else if (fd < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Creating “%s”", part_path));
          return FALSE;
        }
      else
        {
          gboolean linked;
          int saved;

          if (!pwrite_all (fd, buf, len, 0))
            {
              g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s”", part_path));
              close (fd);
              return FALSE;
            }
          linked = link_tmpfile (state, fd, dir_fd, *matched ? name : part);
          saved = errno;
          if (!linked && !*matched && saved == EEXIST)
            {
              /* A part file of an earlier run: this one replaces it. */
              unlinkat (dir_fd, part, 0);
              linked = link_tmpfile (state, fd, dir_fd, part);
              saved = errno;
            }
          else if (!linked && *matched && saved == EEXIST)
            {
              /* Kept where rename_error() says it is. */
              fchmod (fd, 0600);
              link_tmpfile (state, fd, dir_fd, part);
            }
          close (fd);
          if (!linked && *matched)
            {
              g_propagate_error (error, rename_error (entry, saved));
              return FALSE;
            }
          if (!linked)
            {
              g_propagate_error (error, foctet_transfer_errno_error (saved, "Creating “%s”", part_path));
              return FALSE;
            }
          return TRUE;
        }
    }

  /* O_TMPFILE refused, or a file to replace (--force): a part file,
   * renamed.  O_TRUNC and not ftruncate (): see io_open(). */
  fd = openat (dir_fd, part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Creating “%s”", part_path));
      return FALSE;
    }
  if (!pwrite_all (fd, buf, len, 0))
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s”", part_path));
      close (fd);
      return FALSE;
    }
  if (*matched && fchmod (fd, entry_mode (receive, entry)) < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Setting the mode of “%s”", entry->path));
      close (fd);
      return FALSE;
    }
  if (close (fd) < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Writing “%s”", part_path));
      return FALSE;
    }
  if (!*matched)
    return TRUE;
  if (!rename_part (dir_fd, part, name, (receive->flags & FOCTET_TRANSFER_RECEIVE_FORCE) != 0))
    {
      g_propagate_error (error, rename_error (entry, errno));
      return FALSE;
    }
  return TRUE;
}

/* Runs in the I/O thread, one operation after the other.  After a
 * failure, or once the receive is over, only files are closed. */
static void
io_work (gpointer data)
{
  IoOp *op = data;
  FileJob *job = op->job;

  if (op->kind == IO_CLOSE)
    {
      job_close_files (job);
      return;
    }
  if (job->io_failed || g_cancellable_is_cancelled (op->receive->cancellable))
    return;
  switch (op->kind)
    {
    case IO_OPEN:
      job->io_failed = !io_open (op->receive, job, op->offset, &op->error);
      break;
    case IO_WRITE:
      job->io_failed = !io_write (job, op->buf, op->len, op->offset, &op->error);
      break;
    case IO_FINISH:
      job->io_failed = !io_finish (op->receive, job, &op->matched, &op->error);
      break;
    case IO_WHOLE:
      job->io_failed = !io_whole (op->receive, op->state, job, op->buf, op->len, &op->matched, &op->error);
      break;
    case IO_CLOSE:
      g_assert_not_reached ();
    }
}

static void fetcher_process (Fetcher *fetcher);

/* A completed file failed its check. */
static void
job_mismatched (Receive *receive,
                FileJob *job)
{
  const FoctetTransferEntry *entry = job->entry;

  if (job->resumed)
    {
      /* Part of it came from an earlier run: fetch it whole once more
       * (the part file is cut to nothing when it is opened again). */
      g_debug ("Transfer: “%s” failed its check after a resume; fetching it whole", entry->path);
      job->resumed = FALSE;
      progress_add (receive->self, -(gint64) job->have, 0);
      io_push (receive, IO_CLOSE, job);
      job->opened = FALSE;
      job->start = job->have = job->queued = job->next_get = 0;
      for (guint i = 0; i < receive->fetchers->len; i++)
        {
          Fetcher *fetcher = g_ptr_array_index (receive->fetchers, i);

          if (fetcher->current == job)
            fetcher->current = NULL;
        }
      g_queue_push_head (&receive->pending, job);
      receive_pump (receive);
      return;
    }
  job->failed = TRUE;
  job->failure = g_strdup_printf ("“%s” does not match its SHA-256 (the sender's file changed, "
                                  "or the data was corrupted); kept as “%s%s”", entry->path,
                                  entry->path, FOCTET_TRANSFER_PART_SUFFIX);
  job_finish_failed (receive, job);
  job_done (receive);
}

/* Back from the I/O thread, on the receive's context. */
static void
io_deliver (gpointer data)
{
  IoOp *op = data;
  Receive *receive = op->receive;
  FileJob *job = op->job;

  if (op->kind == IO_WRITE || op->kind == IO_WHOLE)
    {
      receive->bytes_queued -= op->len;
      if (op->size == WRITE_SIZE)
        foctet_transfer_buffer_pool_give (&receive->buffers, g_steal_pointer (&op->buf));
      buffer_free (op->buf, op->size);
    }
  if (op->error != NULL)
    receive_fail (receive, g_steal_pointer (&op->error));
  else if (!receive->finished)
    {
      switch (op->kind)
        {
        case IO_WRITE:
          job->have += op->len;
          progress_add (receive->self, op->len, 0);
          break;
        case IO_WHOLE:
          job->have += op->len;
          progress_add (receive->self, op->len, 0);
          G_GNUC_FALLTHROUGH;
        case IO_FINISH:
          if (op->matched)
            {
              job->opened = FALSE;
              progress_file_done (receive->self);
              job_done (receive);
            }
          else
            job_mismatched (receive, job);
          break;
        case IO_OPEN:
        case IO_CLOSE:
          break;
        }
    }
  /* The streams that waited for the disk read on. */
  if (!receive->finished && receive->bytes_queued < MAX_QUEUED)
    for (guint i = 0; i < receive->fetchers->len; i++)
      {
        Fetcher *fetcher = g_ptr_array_index (receive->fetchers, i);

        if (fetcher->waiting_room)
          {
            fetcher->waiting_room = FALSE;
            fetcher_process (fetcher);
          }
      }
  g_free (op);
  receive_unref (receive);
}

/* All of a job's bytes are queued: verify, give the file its mode, rename. */
static void
job_complete (Receive *receive,
              FileJob *job)
{
  io_push (receive, IO_FINISH, job);
}

/* Has the job's part file opened, at the end of what it holds. */
static void
job_open (Receive *receive,
          FileJob *job)
{
  job->opened = TRUE;
  io_push (receive, IO_OPEN, job);
}

/* Fetchers: one per stream, sending GETs and reading DATA. */

static Fetcher *
fetcher_new (Receive      *receive,
             FoctetStream *stream)
{
  Fetcher *fetcher = g_new0 (Fetcher, 1);

  fetcher->receive = receive;
  fetcher->stream = stream;
  fetcher->in = g_malloc (READ_SIZE);
  return fetcher;
}

static void
fetcher_gets_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  Fetcher *fetcher = user_data;
  Receive *receive = fetcher->receive;
  GError *error = NULL;

  fetcher->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    receive_fail (receive, error);
  else if (!receive->finished)
    {
      if (receive->done_pending && fetcher == receive->control)
        receive_all_fetched (receive);
      else
        fetcher_pump (fetcher);
    }
  receive_unref (receive);
}

/* Sends the next GETs, as many as there is room and work for, in one
 * write: with many small files that is one write for a few dozen of
 * them, not one each. */
static void
fetcher_pump (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;
  gsize n = 0;

  if (receive->finished || fetcher->writing || fetcher->closed)
    return;
  while (fetcher->n_gets < MAX_GETS_IN_FLIGHT)
    {
      FileJob *job = fetcher->current;
      Get *get;
      guint64 length;

      if (job != NULL && job->next_get >= job->entry->size)
        job = fetcher->current = NULL;
      if (job == NULL)
        {
          job = g_queue_pop_head (&receive->pending);
          if (job == NULL)
            break;
          fetcher->current = job;
        }
      /* An empty file is asked for with one GET of length 0. */
      length = MIN (GET_SIZE, job->entry->size - job->next_get);
      get = &fetcher->gets[(fetcher->gets_head + fetcher->n_gets) % MAX_GETS_IN_FLIGHT];
      get->job = job;
      get->offset = job->next_get;
      get->length = length;
      fetcher->n_gets++;
      foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_GET, job->index, job->next_get, length,
                                            fetcher->get_buf + n * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE);
      n++;
      job->next_get += length;
      job->outstanding++;
    }
  if (n == 0)
    return;
  fetcher->writing = TRUE;
  receive_ref (receive);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (fetcher->stream)),
                                   fetcher->get_buf, n * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE,
                                   G_PRIORITY_DEFAULT, receive->cancellable, fetcher_gets_written_cb, fetcher);
  fetcher_read (fetcher);
}

/* Every stream sends what GETs it can. */
static void
receive_pump (Receive *receive)
{
  for (guint i = 0; i < receive->fetchers->len; i++)
    fetcher_pump (g_ptr_array_index (receive->fetchers, i));
}

/* The answer to the head GET is complete (or refused). */
static void
fetcher_get_answered (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;
  Get *get = &fetcher->gets[fetcher->gets_head];
  FileJob *job = get->job;

  fetcher->gets_head = (fetcher->gets_head + 1) % MAX_GETS_IN_FLIGHT;
  fetcher->n_gets--;
  job->outstanding--;
  if (job->outstanding == 0 && job->next_get >= job->entry->size)
    {
      if (job->failed)
        {
          job_finish_failed (receive, job);
          job_done (receive);
        }
      else if (!job->whole && job->queued == job->entry->size)
        job_complete (receive, job);
    }
}

/* Hands what the fetcher's buffer holds to the I/O thread: a piece of a
 * file, or a whole small file. */
static void
fetcher_flush (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;
  FileJob *job = fetcher->data_job;
  guint worker;
  IoOp *op;

  if (fetcher->fill == 0 && !fetcher->data_whole)
    return;
  /* A whole file needs no order with any other operation. */
  worker = fetcher->data_whole ? receive->next_io++ % N_IO_THREADS : 0;
  op = io_op_new (receive, fetcher->data_whole ? IO_WHOLE : IO_WRITE, worker, job);
  /* An empty file has no buffer (and buf_size is the last one's). */
  op->size = fetcher->buf != NULL ? fetcher->buf_size : 0;
  op->buf = g_steal_pointer (&fetcher->buf);
  op->len = fetcher->fill;
  job->queued += op->len;
  if (fetcher->data_whole)
    job->whole = TRUE;
  receive->bytes_queued += op->len;
  fetcher->fill = 0;
  foctet_transfer_worker_push (receive->io[worker], op);
}

/* The buffer the raw bytes of the current DATA go into. */
static void
fetcher_ensure_buffer (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;

  if (fetcher->buf != NULL)
    return;
  /* Small files get buffers of their size. */
  if (fetcher->data_left >= WHOLE_MAX)
    {
      fetcher->buf_size = WRITE_SIZE;
      fetcher->buf = foctet_transfer_buffer_pool_take (&receive->buffers);
    }
  else
    {
      fetcher->buf_size = fetcher->data_left;
      fetcher->buf = g_malloc (fetcher->buf_size);
    }
  fetcher->fill = 0;
}

/* Takes the raw bytes of the current DATA that were read; returns
 * whether to go on with what follows (FALSE: read more, or wait for the
 * I/O thread to catch up). */
static gboolean
fetcher_take_data (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;
  FileJob *job = fetcher->data_job;
  gsize available = fetcher->in_end - fetcher->in_start;

  if (fetcher->data_left > 0 && available > 0)
    {
      gsize take = MIN (available, fetcher->data_left);

      if (job->failed)
        {
          /* A job given up on: its bytes are read and dropped. */
        }
      else
        {
          fetcher_ensure_buffer (fetcher);
          take = MIN (take, fetcher->buf_size - fetcher->fill);
          memcpy (fetcher->buf + fetcher->fill, fetcher->in + fetcher->in_start, take);
          fetcher->fill += take;
        }
      fetcher->in_start += take;
      fetcher->data_left -= take;
      progress_add (receive->self, 0, take);
    }
  if (!job->failed && (fetcher->data_left == 0 || (fetcher->buf != NULL && fetcher->fill == fetcher->buf_size)))
    fetcher_flush (fetcher);
  if (fetcher->data_left == 0)
    {
      /* Left over only by a job given up on. */
      if (fetcher->buf != NULL)
        buffer_free (g_steal_pointer (&fetcher->buf), fetcher->buf_size);
      fetcher->fill = 0;
      fetcher->data_job = NULL;
      fetcher->data_whole = FALSE;
      fetcher_get_answered (fetcher);
      return !receive->finished;
    }
  /* Reading goes on while the I/O thread writes, within limits. */
  if (receive->bytes_queued >= MAX_QUEUED)
    {
      fetcher->waiting_room = TRUE;
      return FALSE;
    }
  return fetcher->in_start < fetcher->in_end;
}

/* A message that answers the head GET; FALSE if the receive failed. */
static gboolean
fetcher_message (Fetcher               *fetcher,
                 FoctetTransferMessage *message)
{
  Receive *receive = fetcher->receive;
  Get *get = &fetcher->gets[fetcher->gets_head];
  FileJob *job = get->job;
  FoctetTransferMessage asked = { 0 };
  GError *error = NULL;

  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR &&
      message->error_code == FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED)
    {
      /* This GET only: the stream goes on. */
      if (!job->failed)
        {
          g_autoptr(GError) refused = foctet_transfer_message_to_error (message);

          job->failed = TRUE;
          job->failure = g_strdup_printf ("“%s”: %s", job->entry->path, refused->message);
        }
      fetcher_get_answered (fetcher);
      return !receive->finished;
    }
  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR)
    {
      receive_fail (receive, foctet_transfer_message_to_error (message));
      return FALSE;
    }
  asked.type = FOCTET_TRANSFER_MESSAGE_GET;
  asked.index = job->index;
  asked.offset = get->offset;
  asked.length = get->length;
  if (!foctet_transfer_message_check_data (&asked, message, &error))
    {
      foctet_stream_reset (fetcher->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      receive_fail (receive, error);
      return FALSE;
    }

  /* A small file asked for whole, with nothing of it on the disk yet,
   * goes to the I/O thread in one piece. */
  fetcher->data_whole = !job->failed && !job->opened && job->queued == 0 && message->offset == 0 &&
                        message->length == job->entry->size && message->length < WHOLE_MAX;
  if (!job->failed && !job->opened && !fetcher->data_whole)
    job_open (receive, job);
  progress_set_current (receive->self, job->entry->path);
  fetcher->data_job = job;
  fetcher->data_left = message->length;
  return TRUE;
}

/* Goes through what was read: messages, and the raw bytes after each
 * DATA, as far as they go; then reads on, and asks for more. */
static void
fetcher_process (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;

  while (!receive->finished)
    {
      g_autoptr(FoctetTransferMessage) message = NULL;
      GError *error = NULL;
      gsize consumed;

      if (fetcher->data_job != NULL)
        {
          if (!fetcher_take_data (fetcher))
            break;
          continue;
        }
      if (fetcher->in_start == fetcher->in_end)
        break;
      if (fetcher->n_gets == 0)
        {
          receive_fail (receive, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                              "The sender wrote more than the answers to the requests"));
          break;
        }
      if (!foctet_transfer_message_parse (fetcher->in + fetcher->in_start, fetcher->in_end - fetcher->in_start,
                                          &consumed, &message, &error))
        {
          if (error != NULL)
            receive_fail (receive, error);
          break;
        }
      fetcher->in_start += consumed;
      if (!fetcher_message (fetcher, message))
        break;
    }
  if (receive->finished)
    return;
  fetcher_pump (fetcher);
  fetcher_read (fetcher);
}

static void
fetcher_read_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Fetcher *fetcher = user_data;
  Receive *receive = fetcher->receive;
  GError *error = NULL;
  gssize n;

  fetcher->reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n == 0 && fetcher->data_job != NULL)
    error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "The sender ended a stream inside the data of “%s”", fetcher->data_job->entry->path);
  else if (n == 0)
    error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                 "The sender ended a stream with requests unanswered");
  if (n <= 0)
    {
      receive_fail (receive, error);
      receive_unref (receive);
      return;
    }
  if (receive->finished)
    {
      receive_unref (receive);
      return;
    }
  if (fetcher->read_direct)
    {
      fetcher->fill += n;
      fetcher->data_left -= n;
      progress_add (receive->self, 0, n);
    }
  else
    fetcher->in_end += n;
  fetcher_process (fetcher);
  receive_unref (receive);
}

/* Reads what the stream has, if an answer is awaited: into @in, where
 * messages are parsed from; or, in the middle of a DATA with nothing
 * left in @in, straight into the buffer for the I/O thread. */
static void
fetcher_read (Fetcher *fetcher)
{
  Receive *receive = fetcher->receive;
  guint8 *target;
  gsize count;

  if (receive->finished || fetcher->reading || fetcher->waiting_room ||
      (fetcher->n_gets == 0 && fetcher->data_job == NULL))
    return;
  if (fetcher->data_job != NULL && !fetcher->data_job->failed && fetcher->in_start == fetcher->in_end)
    {
      fetcher_ensure_buffer (fetcher);
      fetcher->read_direct = TRUE;
      target = fetcher->buf + fetcher->fill;
      count = MIN (fetcher->data_left, fetcher->buf_size - fetcher->fill);
    }
  else
    {
      foctet_transfer_buffer_compact (fetcher->in, &fetcher->in_start, &fetcher->in_end);
      fetcher->read_direct = FALSE;
      target = fetcher->in + fetcher->in_end;
      count = READ_SIZE - fetcher->in_end;
    }
  g_assert (count > 0);
  fetcher->reading = TRUE;
  receive_ref (receive);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (fetcher->stream)), target, count,
                             G_PRIORITY_DEFAULT, receive->cancellable, fetcher_read_cb, fetcher);
}

/* Half-closes the fetcher's stream: it asks for nothing more. */
static void
fetcher_close_write (Fetcher *fetcher)
{
  if (fetcher->closed)
    return;
  fetcher->closed = TRUE;
  foctet_stream_close_write_async (fetcher->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

/* The end: directory modes, DONE, DONE_ACK. */

static void
receive_succeed (Receive *receive)
{
  FoctetTransferReceiver *self = receive->self;

  receive->finished = TRUE;
  foctet_transfer_source_clear (&receive->timeout);
  /* Exact figures, for whoever checks what a resume fetched (-v); the
   * time is that of fetching alone, from the first GET to the last file
   * verified (bench/run-transfer.sh compares it with perf's). */
  g_debug ("Transfer: received and verified %" G_GUINT64_FORMAT " bytes in %u files; %" G_GUINT64_FORMAT
           " bytes fetched in %.3f s", self->bytes_total, self->files_total, self->bytes_fetched,
           receive->fetch_started != 0 ? (receive->fetch_ended - receive->fetch_started) / 1e6 : 0.0);
  /* Half-close every stream; the connection closes once all is done. */
  for (guint i = 0; i < receive->fetchers->len; i++)
    fetcher_close_write (g_ptr_array_index (receive->fetchers, i));
}

static void
done_ack_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Receive *receive = user_data;
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (!receive->finished)
    {
      /* The files are complete and verified: whatever comes now, the
       * receive succeeded. */
      if (message == NULL)
        g_warning ("Transfer: no DONE_ACK from the sender: %s", error->message);
      else if (message->type != FOCTET_TRANSFER_MESSAGE_DONE_ACK)
        {
          g_autofree char *text = foctet_transfer_message_to_string (message);

          g_warning ("Transfer: the sender answered DONE with %s", text);
        }
      receive_succeed (receive);
    }
  receive_unref (receive);
}

static gboolean
done_ack_timeout_cb (gpointer user_data)
{
  Receive *receive = user_data;

  g_clear_pointer (&receive->timeout, g_source_unref);
  g_warning ("Transfer: no DONE_ACK from the sender within %d s", FOCTET_TRANSFER_DONE_ACK_LINGER);
  g_cancellable_cancel (receive->cancellable);
  receive_succeed (receive);
  return G_SOURCE_REMOVE;
}

static void
done_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Receive *receive = user_data;
  GError *error = NULL;

  receive->control->writing = FALSE;
  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      /* Everything is verified; the sender just did not hear it. */
      g_warning ("Transfer: writing DONE: %s", error->message);
      g_error_free (error);
      receive_succeed (receive);
    }
  else if (!receive->finished)
    {
      receive->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (FOCTET_TRANSFER_DONE_ACK_LINGER),
                                                        done_ack_timeout_cb, receive, receive->self->context);
      foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (receive->control->stream)),
                                          G_PRIORITY_DEFAULT, receive->cancellable, done_ack_cb,
                                          receive_ref (receive));
    }
  receive_unref (receive);
}

/* Directories get their modes last, deepest first, so that a read-only
 * one does not stop what goes inside it. */
static gboolean
apply_directory_modes (Receive  *receive,
                       GError  **error)
{
  for (guint32 i = foctet_transfer_manifest_get_n_entries (receive->manifest); i-- > 0;)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (receive->manifest, i);
      const char *name;
      int dir_fd, fd, ok;

      if (entry->kind != FOCTET_TRANSFER_ENTRY_DIRECTORY)
        continue;
      dir_fd = open_parent (receive->root_fd, entry->path, &name, error);
      if (dir_fd < 0)
        return FALSE;
      fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dir_fd);
      ok = fd >= 0 && fchmod (fd, entry_mode (receive, entry)) == 0;
      if (!ok)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Setting the mode of “%s”", entry->path));
          if (fd >= 0)
            close (fd);
          return FALSE;
        }
      close (fd);
    }
  return TRUE;
}

static void
receive_all_fetched (Receive *receive)
{
  g_autoptr(FoctetTransferMessage) done = NULL;
  GError *error = NULL;

  if (receive->finished)
    return;
  /* Every GET is answered, but the last one's write may not have called
   * back yet: DONE follows once the stream is free. */
  if (receive->control->writing)
    {
      receive->done_pending = TRUE;
      return;
    }
  receive->done_pending = FALSE;
  receive->fetch_ended = g_get_monotonic_time ();
  if (receive->n_failed > 0)
    {
      receive_fail (receive, g_error_new (FOCTET_ERROR, FOCTET_ERROR_VERIFICATION_FAILED,
                                          "%u file%s could not be verified: %s%s", receive->n_failed,
                                          receive->n_failed == 1 ? "" : "s", receive->first_failure,
                                          receive->n_failed > 1 ? ", …" : ""));
      return;
    }
  if (!apply_directory_modes (receive, &error))
    {
      receive_fail (receive, error);
      return;
    }
  progress_set_current (receive->self, NULL);
  /* The data streams are done: half-close them now. */
  for (guint i = 1; i < receive->fetchers->len; i++)
    fetcher_close_write (g_ptr_array_index (receive->fetchers, i));
  done = foctet_transfer_message_new_done (foctet_transfer_manifest_get_n_entries (receive->manifest));
  receive->control->writing = TRUE;
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (receive->control->stream)),
                                       done, G_PRIORITY_DEFAULT, receive->cancellable, done_written_cb,
                                       receive_ref (receive));
}

/* Fetching */

static void
receive_start_fetching (Receive *receive)
{
  receive->fetch_started = g_get_monotonic_time ();
  receive_pump (receive);
}

static void
data_stream_opened_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Receive *receive = user_data;
  GError *error = NULL;
  FoctetStream *stream;

  stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (stream == NULL)
    receive_fail (receive, error);
  else if (receive->finished)
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_NO_ERROR);
      g_object_unref (stream);
    }
  else
    {
      Fetcher *fetcher = fetcher_new (receive, stream);

      g_ptr_array_add (receive->fetchers, fetcher);
      fetcher_pump (fetcher);
    }
  receive_unref (receive);
}

static void
planned_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Receive *receive = user_data;
  FoctetTransferReceiver *self = receive->self;
  Plan *plan = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  guint n_data;

  g_task_propagate_boolean (G_TASK (result), &error);
  if (receive_stopped (receive, error))
    return;
  receive->jobs = g_steal_pointer (&plan->jobs);
  receive->jobs_left = receive->jobs->len;
  g_queue_init (&receive->pending);

  g_object_freeze_notify (G_OBJECT (self));
  self->files_done = plan->files_present;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_DONE]);
  progress_add (self, plan->bytes_present, 0);
  g_object_thaw_notify (G_OBJECT (self));
  g_debug ("Transfer: %u files to fetch, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes already here",
           receive->jobs->len, plan->bytes_present, self->bytes_total);

  if (receive->jobs_left == 0)
    {
      receive_all_fetched (receive);
      receive_unref (receive);
      return;
    }
  for (guint i = 0; i < receive->jobs->len && !receive->finished; i++)
    {
      FileJob *job = &g_array_index (receive->jobs, FileJob, i);

      /* A part file with every byte (an earlier run stopped just before
       * its rename) needs nothing from the sender. */
      if (job->have == job->entry->size && job->entry->size > 0)
        {
          job_open (receive, job);
          job_complete (receive, job);
        }
      else
        g_queue_push_tail (&receive->pending, job);
    }
  if (receive->finished || g_queue_is_empty (&receive->pending))
    {
      receive_unref (receive);
      return;
    }
  /* Data streams only where there is more than one file to spread. */
  n_data = MIN (N_DATA_STREAMS, g_queue_get_length (&receive->pending) - 1);
  for (guint i = 0; i < n_data; i++)
    foctet_connection_open_stream_async (receive->connection, FOCTET_PROTOCOL_TRANSFER, receive->cancellable,
                                         data_stream_opened_cb, receive_ref (receive));
  receive_start_fetching (receive);
  receive_unref (receive);
}

/* A node offering nothing refuses the stream (PROTOCOL §5): over QUIC
 * that is a reset seen when reading the answer to HELLO. */
static gboolean
refused_stream (GError **error)
{
  GError *refused;

  if (!g_error_matches (*error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED) &&
      !g_error_matches (*error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET))
    return FALSE;
  refused = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED,
                         "The node offers no files (any more): it refused the transfer (%s)", (*error)->message);
  g_error_free (*error);
  *error = refused;
  return TRUE;
}

static void
manifest_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Receive *receive = user_data;
  FoctetTransferReceiver *self = receive->self;
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(GTask) thread = NULL;
  GError *error = NULL;
  guint32 n, n_files = 0;
  Plan *plan;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (message == NULL)
    {
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED))
        g_prefix_error (&error, "The sender did not answer: ");
      if (refused_stream (&error))
        receive->control->closed = TRUE;
    }
  if (receive_stopped (receive, error))
    return;
  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR)
    {
      receive->control->closed = TRUE;  /* the sender ended it: no ABORT */
      receive_fail (receive, foctet_transfer_message_to_error (message));
      receive_unref (receive);
      return;
    }
  if (message->type != FOCTET_TRANSFER_MESSAGE_MANIFEST)
    {
      receive_fail (receive, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                          "The sender answered HELLO with %s, not MANIFEST",
                                          foctet_transfer_message_type_to_string (message->type)));
      receive_unref (receive);
      return;
    }

  /* The parser enforced the rules; the paths are checked once more here,
   * where they are used, whatever parsed them. */
  receive->manifest = foctet_transfer_manifest_ref (message->manifest);
  n = foctet_transfer_manifest_get_n_entries (receive->manifest);
  for (guint32 i = 0; i < n; i++)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (receive->manifest, i);

      if (!foctet_transfer_path_validate (entry->path, &error))
        {
          g_prefix_error (&error, "The sender offered a path that is not safe: ");
          receive_fail (receive, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR, error->message));
          g_error_free (error);
          receive_unref (receive);
          return;
        }
      if (entry->kind == FOCTET_TRANSFER_ENTRY_FILE)
        n_files++;
    }

  g_object_freeze_notify (G_OBJECT (self));
  self->bytes_total = foctet_transfer_manifest_get_total_size (receive->manifest);
  self->files_total = n_files;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_TOTAL]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_TOTAL]);
  g_object_thaw_notify (G_OBJECT (self));

  plan = g_new0 (Plan, 1);
  plan->manifest = foctet_transfer_manifest_ref (receive->manifest);
  plan->root_fd = dup (receive->root_fd);
  plan->output_path = g_strdup (receive->output_path);
  plan->flags = receive->flags;
  plan->jobs = g_array_new (FALSE, TRUE, sizeof (FileJob));
  plan->dirs = (FoctetTransferDirCache) FOCTET_TRANSFER_DIR_CACHE_INIT;
  plan->created = g_hash_table_new (g_str_hash, g_str_equal);
  /* Also when planning fails half-way: the jobs made so far hold hashes. */
  g_array_set_clear_func (plan->jobs, (GDestroyNotify) file_job_clear);
  thread = g_task_new (NULL, receive->cancellable, planned_cb, receive);
  g_task_set_task_data (thread, plan, (GDestroyNotify) plan_free);
  g_task_run_in_thread (thread, plan_thread);
}

static void
hello_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Receive *receive = user_data;
  GError *error = NULL;

  receive->control->writing = FALSE;
  foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (receive_stopped (receive, error))
    return;
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (receive->control->stream)),
                                      G_PRIORITY_DEFAULT, receive->cancellable, manifest_cb, receive);
}

static void
control_opened_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Receive *receive = user_data;
  g_autoptr(FoctetTransferMessage) hello = NULL;
  GError *error = NULL;
  FoctetStream *stream;

  stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (stream == NULL)
    refused_stream (&error);
  else
    {
      receive->control = fetcher_new (receive, stream);
      g_ptr_array_add (receive->fetchers, receive->control);
    }
  if (receive_stopped (receive, error))
    return;
  hello = foctet_transfer_message_new_hello (receive->secret);
  receive->control->writing = TRUE;
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), hello,
                                       G_PRIORITY_DEFAULT, receive->cancellable, hello_written_cb, receive);
}

static void
dialed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Receive *receive = user_data;
  GError *error = NULL;

  receive->connection = foctet_node_dial_finish (FOCTET_NODE (source), result, &error);
  if (receive_stopped (receive, error))
    return;
  g_debug ("Transfer: connected over %s", foctet_connection_get_transport_name (receive->connection));
  foctet_connection_open_stream_async (receive->connection, FOCTET_PROTOCOL_TRANSFER, receive->cancellable,
                                       control_opened_cb, receive);
}

static gboolean
user_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  Receive *receive = user_data;

  g_clear_pointer (&receive->user_cancelled, g_source_unref);
  receive_fail (receive, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled"));
  return G_SOURCE_REMOVE;
}

static mode_t
current_umask (void)
{
  g_autofree char *status = NULL;
  const char *line;
  mode_t mask;

  /* Read, not set: umask () cannot read without changing it, which would
   * race with other threads creating files. */
  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL) &&
      (line = strstr (status, "\nUmask:")) != NULL)
    return (mode_t) g_ascii_strtoull (line + strlen ("\nUmask:"), NULL, 8) & 0777;
  mask = umask (022);
  umask (mask);
  return mask;
}

/* Sets up a receive of what @secret unlocks into @output_dir; on failure
 * returns NULL, with the error returned on @task. */
static Receive *
receive_begin (FoctetTransferReceiver     *self,
               GTask                      *task,
               GBytes                     *secret,
               GFile                      *output_dir,
               FoctetTransferReceiveFlags  flags,
               GCancellable               *cancellable)
{
  g_autoptr(GError) error = NULL;
  Receive *receive;
  int root_fd;

  if (self->receive != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "A receive is already in progress");
      return NULL;
    }
  if (g_file_peek_path (output_dir) == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "The output directory must be a local directory");
      return NULL;
    }
  if (!g_file_make_directory_with_parents (output_dir, cancellable, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    {
      g_prefix_error (&error, "Creating the output directory: ");
      g_task_return_error (task, g_steal_pointer (&error));
      return NULL;
    }
  root_fd = open (g_file_peek_path (output_dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    {
      g_task_return_error (task, foctet_transfer_errno_error (errno, "Opening the output directory “%s”",
                                                              g_file_peek_path (output_dir)));
      return NULL;
    }

  receive = g_new0 (Receive, 1);
  receive->ref_count = 1;
  receive->task = g_object_ref (task);
  receive->self = self;
  receive->secret = g_bytes_ref (secret);
  receive->flags = flags;
  receive->output_path = g_file_get_path (output_dir);
  receive->root_fd = root_fd;
  receive->umask = current_umask ();
  receive->cancellable = g_cancellable_new ();
  receive->fetchers = g_ptr_array_new_with_free_func ((GDestroyNotify) fetcher_free);
  g_queue_init (&receive->pending);
  for (guint i = 0; i < N_IO_THREADS; i++)
    {
      receive->io_state[i].dirs = (FoctetTransferDirCache) FOCTET_TRANSFER_DIR_CACHE_INIT;
      receive->io[i] = foctet_transfer_worker_new ("foctet-recv-io", self->context, io_work, io_deliver);
    }
  foctet_transfer_buffer_pool_init (&receive->buffers, WRITE_SIZE, MAX_QUEUED / WRITE_SIZE, DIRECT_ALIGN);
  self->receive = receive;

  g_object_freeze_notify (G_OBJECT (self));
  self->bytes_total = self->bytes_done = self->bytes_fetched = 0;
  self->files_total = self->files_done = 0;
  for (guint i = PROP_BYTES_TOTAL; i <= PROP_FILES_DONE; i++)
    g_object_notify_by_pspec (G_OBJECT (self), properties[i]);
  g_object_thaw_notify (G_OBJECT (self));

  if (cancellable != NULL)
    {
      receive->user_cancelled = foctet_transfer_source_attach (g_cancellable_source_new (cancellable),
                                                               (GSourceFunc) user_cancelled_cb, receive, self->context);
    }
  return receive;
}

/**
 * foctet_transfer_receiver_receive_async:
 * @self: a #FoctetTransferReceiver
 * @ticket: a sender's ticket, with its transfer offer
 * @output_dir: where to put what is offered; created if missing
 * @flags: #FoctetTransferReceiveFlags
 * @cancellable: (nullable): a #GCancellable; cancelling leaves the part
 *   files for a later run to resume
 * @callback: (scope async): called when everything is fetched and
 *   verified, or on failure
 * @user_data: data for @callback
 *
 * Fetches everything @ticket offers into @output_dir: dials the node
 * (over any transport the ticket names, a relay included), creates the
 * directories, fetches and verifies the files, confirms to the sender.
 * Files already there and identical are kept without fetching them; part
 * files of an earlier run are resumed.
 *
 * Errors: %FOCTET_ERROR_INVALID_TICKET for a ticket without an offer, or
 * whose secret the sender refused; %FOCTET_ERROR_LIMIT_REACHED when the
 * sender is busy with another receiver; %G_IO_ERROR_EXISTS for a
 * different file in the way (without %FOCTET_TRANSFER_RECEIVE_FORCE);
 * %FOCTET_ERROR_VERIFICATION_FAILED when a file does not match its
 * SHA-256 even fetched whole (it is left as its part file, and no file of
 * that name is made); %G_IO_ERROR_NO_SPACE when the files do not fit (said
 * before fetching anything when the free space shows it) or a write runs
 * out of space; the #G_IO_ERROR of another failed write, naming the file;
 * %FOCTET_ERROR_PROTOCOL_ERROR when the sender breaks the protocol; the
 * dial's errors.  No final file is ever left half-written.
 */
void
foctet_transfer_receiver_receive_async (FoctetTransferReceiver     *self,
                                        FoctetTicket               *ticket,
                                        GFile                      *output_dir,
                                        FoctetTransferReceiveFlags  flags,
                                        GCancellable               *cancellable,
                                        GAsyncReadyCallback         callback,
                                        gpointer                    user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) secret = NULL;
  Receive *receive;

  g_return_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));
  g_return_if_fail (G_IS_FILE (output_dir));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_receiver_receive_async);
  secret = foctet_transfer_ticket_get_offer (ticket, &error);
  if (secret == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  receive = receive_begin (self, task, secret, output_dir, flags, cancellable);
  if (receive == NULL)
    return;
  receive->ticket = g_object_ref (ticket);
  foctet_node_dial_async (self->node, ticket, NULL, receive->cancellable, dialed_cb, receive);
}

/* Pushes: a sender asks this node to fetch its offer. */

typedef struct {
  FoctetConnection *connection;
  FoctetStream *stream;
  GFile *output_dir;
  FoctetTransferReceiveFlags flags;
} Pushed;

static void
pushed_free (Pushed *pushed)
{
  g_clear_object (&pushed->connection);
  g_clear_object (&pushed->stream);
  g_clear_object (&pushed->output_dir);
  g_free (pushed);
}

/* Answers a push with ERROR, then ends the stream. */
static void
push_refuse (FoctetStream *stream,
             guint16       code,
             const char   *text)
{
  g_autoptr(FoctetTransferMessage) refusal = foctet_transfer_message_new_error (code, text);
  g_autoptr(GBytes) bytes = foctet_transfer_message_encode (refusal);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (stream));

  /* A few bytes on a fresh stream: within any window. */
  g_output_stream_write_all (out, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL, NULL, NULL);
  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

static void
pushed_offer_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetTransferReceiver *self = g_task_get_source_object (task);
  Pushed *pushed = g_task_get_task_data (task);
  g_autoptr(FoctetTransferMessage) offer = NULL;
  GError *error = NULL;
  Receive *receive;

  offer = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (offer == NULL)
    {
      g_prefix_error (&error, "Reading the offer of a push: ");
      foctet_stream_reset (pushed->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      g_task_return_error (task, error);
      return;
    }
  if (offer->type != FOCTET_TRANSFER_MESSAGE_HELLO)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, "a push starts with HELLO");
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "A push started with %s, not HELLO",
                               foctet_transfer_message_type_to_string (offer->type));
      return;
    }
  if (self->receive != NULL)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_BUSY, "busy with another transfer");
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                               "A push came while another transfer was in progress; refused");
      return;
    }
  receive = receive_begin (self, task, offer->secret, pushed->output_dir, pushed->flags,
                           g_task_get_cancellable (task));
  if (receive == NULL)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR, "cannot receive now");
      return;
    }
  /* Accepted: the push stream ends without a word, and this side becomes
   * an ordinary receiver on the pusher's connection. */
  foctet_stream_close_write_async (pushed->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  receive->connection = g_object_ref (pushed->connection);
  g_debug ("Transfer: accepted a push over %s", foctet_connection_get_transport_name (receive->connection));
  foctet_connection_open_stream_async (receive->connection, FOCTET_PROTOCOL_TRANSFER, receive->cancellable,
                                       control_opened_cb, receive);
}

/**
 * foctet_transfer_receiver_receive_pushed_async:
 * @self: a #FoctetTransferReceiver
 * @connection: the connection the push came on
 * @stream: the `foctet/transfer/push/1` stream (see
 *   %FOCTET_PROTOCOL_TRANSFER_PUSH), as a protocol handler gets it
 * @output_dir: where to put what is offered; created if missing
 * @flags: #FoctetTransferReceiveFlags
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when everything is fetched and
 *   verified, or on failure
 * @user_data: data for @callback
 *
 * Accepts a push (foctet_transfer_sender_push_async() on the other side):
 * reads the offer from @stream and fetches it over @connection exactly as
 * foctet_transfer_receiver_receive_async() fetches a ticket's.  A push
 * arriving while this receiver is busy is refused (the pusher hears
 * "busy"), with %FOCTET_ERROR_LIMIT_REACHED here.  Finish with
 * foctet_transfer_receiver_receive_finish().
 */
void
foctet_transfer_receiver_receive_pushed_async (FoctetTransferReceiver     *self,
                                               FoctetConnection           *connection,
                                               FoctetStream               *stream,
                                               GFile                      *output_dir,
                                               FoctetTransferReceiveFlags  flags,
                                               GCancellable               *cancellable,
                                               GAsyncReadyCallback         callback,
                                               gpointer                    user_data)
{
  g_autoptr(GTask) task = NULL;
  Pushed *pushed;

  g_return_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self));
  g_return_if_fail (FOCTET_IS_CONNECTION (connection));
  g_return_if_fail (FOCTET_IS_STREAM (stream));
  g_return_if_fail (G_IS_FILE (output_dir));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_receiver_receive_async);
  pushed = g_new0 (Pushed, 1);
  pushed->connection = g_object_ref (connection);
  pushed->stream = g_object_ref (stream);
  pushed->output_dir = g_object_ref (output_dir);
  pushed->flags = flags;
  g_task_set_task_data (task, pushed, (GDestroyNotify) pushed_free);
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), G_PRIORITY_DEFAULT,
                                      cancellable, pushed_offer_cb, g_steal_pointer (&task));
}

/**
 * foctet_transfer_receiver_receive_finish:
 * @self: a #FoctetTransferReceiver
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if everything offered is in the output directory,
 *   verified
 */
gboolean
foctet_transfer_receiver_receive_finish (FoctetTransferReceiver  *self,
                                         GAsyncResult            *result,
                                         GError                 **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_transfer_receiver_receive_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject */

static void
foctet_transfer_receiver_dispose (GObject *object)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  g_clear_object (&self->node);

  G_OBJECT_CLASS (foctet_transfer_receiver_parent_class)->dispose (object);
}

static void
foctet_transfer_receiver_finalize (GObject *object)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  g_free (self->current_file);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (foctet_transfer_receiver_parent_class)->finalize (object);
}

static void
foctet_transfer_receiver_get_property (GObject    *object,
                                       guint       prop_id,
                                       GValue     *value,
                                       GParamSpec *pspec)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    case PROP_BYTES_TOTAL:
      g_value_set_uint64 (value, self->bytes_total);
      break;
    case PROP_BYTES_DONE:
      g_value_set_uint64 (value, self->bytes_done);
      break;
    case PROP_BYTES_FETCHED:
      g_value_set_uint64 (value, self->bytes_fetched);
      break;
    case PROP_FILES_TOTAL:
      g_value_set_uint (value, self->files_total);
      break;
    case PROP_FILES_DONE:
      g_value_set_uint (value, self->files_done);
      break;
    case PROP_CURRENT_FILE:
      g_value_set_string (value, self->current_file);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_receiver_set_property (GObject      *object,
                                       guint         prop_id,
                                       const GValue *value,
                                       GParamSpec   *pspec)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_receiver_class_init (FoctetTransferReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = foctet_transfer_receiver_dispose;
  object_class->finalize = foctet_transfer_receiver_finalize;
  object_class->get_property = foctet_transfer_receiver_get_property;
  object_class->set_property = foctet_transfer_receiver_set_property;

  /**
   * FoctetTransferReceiver:node:
   *
   * The node that dials the sender.
   */
  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, FOCTET_TYPE_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-total:
   *
   * The size of everything offered, once the manifest is in.
   */
  properties[PROP_BYTES_TOTAL] =
    g_param_spec_uint64 ("bytes-total", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-done:
   *
   * How much of #FoctetTransferReceiver:bytes-total is in the output
   * directory: found there (identical files, part files of an earlier
   * run) or fetched.
   */
  properties[PROP_BYTES_DONE] =
    g_param_spec_uint64 ("bytes-done", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-fetched:
   *
   * File bytes received from the sender in this receive.
   */
  properties[PROP_BYTES_FETCHED] =
    g_param_spec_uint64 ("bytes-fetched", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:files-total:
   *
   * How many files are offered (directories not counted).
   */
  properties[PROP_FILES_TOTAL] =
    g_param_spec_uint ("files-total", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:files-done:
   *
   * How many files are in place and verified.
   */
  properties[PROP_FILES_DONE] =
    g_param_spec_uint ("files-done", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:current-file:
   *
   * The path (relative to the output directory) of the file whose bytes
   * arrived last, or %NULL.
   */
  properties[PROP_CURRENT_FILE] =
    g_param_spec_string ("current-file", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_transfer_receiver_init (FoctetTransferReceiver *self)
{
  self->context = g_main_context_ref_thread_default ();
}

/**
 * foctet_transfer_receiver_new:
 * @node: the node to dial senders from
 *
 * Returns: (transfer full): a new receiver
 */
FoctetTransferReceiver *
foctet_transfer_receiver_new (FoctetNode *node)
{
  g_return_val_if_fail (FOCTET_IS_NODE (node), NULL);

  return g_object_new (FOCTET_TYPE_TRANSFER_RECEIVER, "node", node, NULL);
}

/**
 * foctet_transfer_receiver_get_node:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: (transfer none): the node
 */
FoctetNode *
foctet_transfer_receiver_get_node (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), NULL);

  return self->node;
}

/**
 * foctet_transfer_receiver_get_bytes_total:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: the value of #FoctetTransferReceiver:bytes-total
 */
guint64
foctet_transfer_receiver_get_bytes_total (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_total;
}

/**
 * foctet_transfer_receiver_get_bytes_done:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: the value of #FoctetTransferReceiver:bytes-done
 */
guint64
foctet_transfer_receiver_get_bytes_done (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_done;
}

/**
 * foctet_transfer_receiver_get_bytes_fetched:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: the value of #FoctetTransferReceiver:bytes-fetched
 */
guint64
foctet_transfer_receiver_get_bytes_fetched (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_fetched;
}

/**
 * foctet_transfer_receiver_get_files_total:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: the value of #FoctetTransferReceiver:files-total
 */
guint
foctet_transfer_receiver_get_files_total (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->files_total;
}

/**
 * foctet_transfer_receiver_get_files_done:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: the value of #FoctetTransferReceiver:files-done
 */
guint
foctet_transfer_receiver_get_files_done (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->files_done;
}

/**
 * foctet_transfer_receiver_dup_current_file:
 * @self: a #FoctetTransferReceiver
 *
 * Returns: (transfer full) (nullable): the value of
 *   #FoctetTransferReceiver:current-file
 */
char *
foctet_transfer_receiver_dup_current_file (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), NULL);

  return g_strdup (self->current_file);
}

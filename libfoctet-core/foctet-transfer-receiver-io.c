/* foctet-transfer-receiver-io.c: a receive's jobs, one per file to
 * fetch, and the I/O threads that write their part files (around the
 * page cache for large files), hash them, and verify, give modes to and
 * rename what is complete; small files are written whole, unnamed where
 * the file system allows, and linked to their name once verified.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foctet-transfer-receiver-private.h"

/* Jobs, and the I/O thread that writes their part files */

/* The mode a file or directory gets: the entry's, masked by the umask. */
mode_t
receive_entry_mode (Receive                   *receive,
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
  gboolean matched;                     /* IO_FINISH, IO_WHOLE: the hash matched, renamed */
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

/* Hands @len bytes of @job to an I/O thread, in @buf (owned, of @size
 * bytes; %NULL for an empty file): the next piece of its part file (to
 * the hashing stage first), or all of a small file (@whole). */
void
receive_io_push_data (Receive *receive,
                      FileJob *job,
                      gboolean whole,
                      guint8  *buf,
                      gsize    size,
                      gsize    len)
{
  /* A whole file needs no order with any other operation. */
  guint worker = whole ? receive->next_io++ % N_IO_THREADS : 0;
  IoOp *op = io_op_new (receive, whole ? IO_WHOLE : IO_WRITE, worker, job);

  op->buf = buf;
  op->size = size;
  op->len = len;
  job->queued += len;
  if (whole)
    job->whole = TRUE;
  receive->bytes_queued += len;
  foctet_transfer_worker_push (whole ? receive->io[worker] : receive->hash, op);
}

/* Queues an operation that must run in order with the job's others: it
 * is hashed (receive_hash_work()), then written (receive_io_work()). */
static void
io_push (Receive *receive,
         IoKind   kind,
         FileJob *job)
{
  foctet_transfer_worker_push (receive->hash, io_op_new (receive, kind, 0, job));
}

void
receive_job_finish_failed (Receive *receive,
                           FileJob *job)
{
  receive->n_failed++;
  if (receive->first_failure == NULL)
    receive->first_failure = g_strdup (job->failure);
  if (job->opened)
    io_push (receive, IO_CLOSE, job);
  job->opened = FALSE;
}

void
receive_job_done (Receive *receive)
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

  file_job_close_files (job);
  job->dir_fd = receiver_open_parent (receive->root_fd, job->entry->path, &name, error);
  if (job->dir_fd < 0)
    return FALSE;
  part = receiver_part_name (name);
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
  return TRUE;
}

/* In the I/O thread: all of a job's bytes are written; if they
 * @matched their hash, give the file its mode and rename it.  A
 * mismatch leaves the part file open. */
static gboolean
io_finish (Receive   *receive,
           FileJob   *job,
           gboolean   matched,
           GError   **error)
{
  const FoctetTransferEntry *entry = job->entry;
  g_autofree char *part = NULL;
  const char *name = strrchr (entry->path, '/');
  int fd = job->fd;

  name = name != NULL ? name + 1 : entry->path;
  if (!matched)
    return TRUE;
  if (fchmod (fd, receive_entry_mode (receive, entry)) < 0)
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
  part = receiver_part_name (name);
  if (!rename_part (job->dir_fd, part, name, (receive->flags & FOCTET_TRANSFER_RECEIVE_FORCE) != 0))
    {
      g_propagate_error (error, rename_error (entry, errno));
      return FALSE;
    }
  file_job_close_files (job);
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
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];
  const char *name;
  int dir_fd, fd;

  dir_fd = receiver_dir_cache_get_parent (&state->dirs, receive->root_fd, entry->path, &name, error);
  if (dir_fd < 0)
    return FALSE;
  part = receiver_part_name (name);
  part_path = g_strconcat (entry->path, FOCTET_TRANSFER_PART_SUFFIX, NULL);
  foctet_file_hash_compute (buf, len, digest);
  *matched = memcmp (digest, entry->digest, sizeof digest) == 0;

  if (!job->replace && !state->no_tmpfile)
    {
      fd = openat (dir_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC,
                   *matched ? receive_entry_mode (receive, entry) : 0600);
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
  if (*matched && fchmod (fd, receive_entry_mode (receive, entry)) < 0)
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

/* Runs in the hashing thread, one operation after the other, before
 * receive_io_work() gets them: the hash of a part file is worked out
 * while the thread that writes it waits for the disk.  Only this thread
 * touches a job's checksum while it is being fetched. */
void
receive_hash_work (gpointer data)
{
  IoOp *op = data;
  FileJob *job = op->job;

  if (g_cancellable_is_cancelled (op->receive->cancellable))
    return;
  switch (op->kind)
    {
    case IO_OPEN:
      /* Made here for a file that had no part file. */
      if (job->checksum == NULL)
        job->checksum = foctet_file_hash_new ();
      else if (op->offset == 0)
        foctet_file_hash_reset (job->checksum);
      break;
    case IO_WRITE:
      foctet_file_hash_update (job->checksum, op->buf, op->len);
      break;
    case IO_FINISH:
      op->matched = receiver_digest_matches (job->checksum, job->entry);
      if (op->matched)
        g_clear_pointer (&job->checksum, foctet_file_hash_free);
      break;
    case IO_CLOSE:
      break;
    case IO_WHOLE:
      g_assert_not_reached ();
    }
}

/* Runs in the I/O thread, one operation after the other.  After a
 * failure, or once the receive is over, only files are closed. */
void
receive_io_work (gpointer data)
{
  IoOp *op = data;
  FileJob *job = op->job;

  if (op->kind == IO_CLOSE)
    {
      file_job_close_files (job);
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
      job->io_failed = !io_finish (op->receive, job, op->matched, &op->error);
      break;
    case IO_WHOLE:
      job->io_failed = !io_whole (op->receive, op->state, job, op->buf, op->len, &op->matched, &op->error);
      break;
    case IO_CLOSE:
      g_assert_not_reached ();
    }
}

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
      receiver_progress_add (receive->self, -(gint64) job->have, 0);
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
  job->failure = g_strdup_printf ("“%s” does not match its BLAKE3 hash (the sender's file changed, "
                                  "or the data was corrupted); kept as “%s%s”", entry->path,
                                  entry->path, FOCTET_TRANSFER_PART_SUFFIX);
  receive_job_finish_failed (receive, job);
  receive_job_done (receive);
}

/* Back from the I/O thread, on the receive's context. */
void
receive_io_deliver (gpointer data)
{
  IoOp *op = data;
  Receive *receive = op->receive;
  FileJob *job = op->job;

  if (op->kind == IO_WRITE || op->kind == IO_WHOLE)
    {
      receive->bytes_queued -= op->len;
      if (op->size == WRITE_SIZE)
        foctet_transfer_buffer_pool_give (&receive->buffers, g_steal_pointer (&op->buf));
      receive_buffer_free (op->buf, op->size);
    }
  if (op->error != NULL)
    receive_fail (receive, g_steal_pointer (&op->error));
  else if (!receive->finished)
    {
      switch (op->kind)
        {
        case IO_WRITE:
          job->have += op->len;
          receiver_progress_add (receive->self, op->len, 0);
          break;
        case IO_WHOLE:
          job->have += op->len;
          receiver_progress_add (receive->self, op->len, 0);
          G_GNUC_FALLTHROUGH;
        case IO_FINISH:
          if (op->matched)
            {
              job->opened = FALSE;
              receiver_progress_file_done (receive->self);
              receive_job_done (receive);
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
void
receive_job_complete (Receive *receive,
                      FileJob *job)
{
  io_push (receive, IO_FINISH, job);
}

/* Has the job's part file opened, at the end of what it holds. */
void
receive_job_open (Receive *receive,
                  FileJob *job)
{
  job->opened = TRUE;
  io_push (receive, IO_OPEN, job);
}

/* foctet-transfer-receiver-plan.c: where a receive writes, and what it
 * finds there first.  Paths below the output directory are walked one
 * component at a time without following a symbolic link; the plan, made
 * in a worker thread once the manifest is in, creates the directories,
 * keeps files already there and identical, and hashes part files left
 * by an earlier run so that only the rest is fetched.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "foctet-transfer-receiver-private.h"

/* Paths below the output directory */

/* Opens the directory that holds @path (relative, validated), walking
 * from @root_fd one component at a time without following a symbolic
 * link; sets *@name to the last component.  Returns the directory's fd
 * or -1. */
int
receiver_open_parent (int          root_fd,
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

char *
receiver_part_name (const char *name)
{
  return g_strconcat (name, FOCTET_TRANSFER_PART_SUFFIX, NULL);
}

/* As receiver_open_parent(), but the directory is borrowed: @root_fd itself for a
 * top-level entry, else the cache's, valid until the next call. */
int
receiver_dir_cache_get_parent (FoctetTransferDirCache  *cache,
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
      int fd = receiver_open_parent (root_fd, path, name, error);

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

/* Adds the first @length bytes of @fd to @checksum. */
static gboolean
hash_fd (int              fd,
         guint64          length,
         FoctetFileHash  *checksum,
         GCancellable    *cancellable,
         GError         **error)
{
  g_autofree guint8 *buf = g_malloc (CHUNK_SIZE);
  guint64 offset = 0;

  while (offset < length)
    {
      gsize want = MIN (length - offset, CHUNK_SIZE);
      gssize n = foctet_transfer_pread_full (fd, buf, want, offset);

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
      foctet_file_hash_update (checksum, buf, n);
      offset += n;
    }
  return TRUE;
}

gboolean
receiver_digest_matches (FoctetFileHash            *checksum,
                         const FoctetTransferEntry *entry)
{
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];

  foctet_file_hash_get_digest (checksum, digest);
  return memcmp (digest, entry->digest, sizeof digest) == 0;
}

/* Planning, in a worker thread: create the directories, look at what is
 * already there, hash it. */

void
file_job_close_files (FileJob *job)
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

void
file_job_clear (FileJob *job)
{
  g_clear_pointer (&job->checksum, foctet_file_hash_free);
  g_clear_pointer (&job->failure, g_free);
  file_job_close_files (job);
}

void
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

/* Adds the owner's rwx to the directory @name in @dir_fd, whose mode is
 * @mode: through an O_PATH descriptor (which opens whatever the mode, and
 * does not follow a symbolic link put there meanwhile) and its
 * /proc/self/fd name, since fchmod () refuses O_PATH descriptors. */
static gboolean
directory_make_usable (int                        dir_fd,
                       const char                *name,
                       mode_t                     mode,
                       const FoctetTransferEntry *entry,
                       GError                   **error)
{
  int fd = openat (dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autofree char *proc = NULL;
  int saved;

  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening the directory “%s”", entry->path));
      return FALSE;
    }
  proc = g_strdup_printf ("/proc/self/fd/%d", fd);
  if (chmod (proc, (mode & 07777) | 0700) == 0)
    {
      close (fd);
      return TRUE;
    }
  saved = errno;
  close (fd);
  g_propagate_error (error, foctet_transfer_errno_error (saved, "Making the directory “%s” writable", entry->path));
  return FALSE;
}

static gboolean
plan_directory (Plan                      *plan,
                const FoctetTransferEntry *entry,
                GError                   **error)
{
  const char *name;
  struct stat st;
  int dir_fd = receiver_dir_cache_get_parent (&plan->dirs, plan->root_fd, entry->path, &name, error);

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
      /* An existing one (an earlier receive's, whose entry's mode was
       * applied at its end: read-only, or 0) is made searchable and
       * writable again while this one runs, if it is ours. */
      if ((st.st_mode & 0700) != 0700 && st.st_uid == geteuid () &&
          !directory_make_usable (dir_fd, name, st.st_mode, entry, error))
        return FALSE;
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
  g_autoptr(FoctetFileHash) checksum = foctet_file_hash_new ();
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
  *identical = receiver_digest_matches (checksum, entry);
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

  dir_fd = receiver_dir_cache_get_parent (&plan->dirs, plan->root_fd, entry->path, &name, error);
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

  part = receiver_part_name (name);
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

          job.checksum = foctet_file_hash_new ();
          if (fd >= 0 && hash_fd (fd, st.st_size, job.checksum, cancellable, NULL))
            job.start = st.st_size;
          else
            g_clear_pointer (&job.checksum, foctet_file_hash_free);
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

void
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

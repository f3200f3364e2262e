/* foctet-transfer-sender-prepare.c: what a sender offers, found before
 * any receiver comes: the paths given are walked (depth first, each
 * directory's entries sorted by name, links and special files inside
 * them skipped) and every file is hashed, in a worker thread, into the
 * manifest.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "foctet-transfer-sender-private.h"

void
skipped_free (Skipped *skipped)
{
  g_free (skipped->path);
  g_free (skipped);
}

void
prepare_free (Prepare *prepare)
{
  g_free (prepare->hash_buf);
  g_ptr_array_unref (prepare->files);
  g_clear_pointer (&prepare->manifest, foctet_transfer_manifest_unref);
  g_clear_pointer (&prepare->sources, g_ptr_array_unref);
  g_clear_pointer (&prepare->skipped, g_ptr_array_unref);
  g_free (prepare);
}

#define WALK_ATTRIBUTES G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE "," \
                        G_FILE_ATTRIBUTE_UNIX_MODE

/* With plain system calls and one buffer for all files: for many small
 * files a GFileInputStream each, and a fresh 4 MiB buffer, cost more
 * than the hashing.  A file that fits the buffer is hashed in one call. */
static gboolean
hash_file (const char    *path,
           guint8        *buf,
           guint8         digest[FOCTET_TRANSFER_DIGEST_SIZE],
           guint64       *size,
           GCancellable  *cancellable,
           GError       **error)
{
  FoctetFileHash checksum;
  gssize have;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening “%s”", path));
      return FALSE;
    }
  /* The size is what was hashed: a file growing meanwhile is offered as
   * it was read. */
  *size = 0;
  foctet_file_hash_init (&checksum);
  for (;;)
    {
      have = foctet_transfer_pread_full (fd, buf, HASH_SIZE, *size);
      if (have < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Reading “%s”", path));
          close (fd);
          return FALSE;
        }
      *size += have;
      foctet_file_hash_update (&checksum, buf, have);
      if (have < HASH_SIZE)
        break;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          close (fd);
          return FALSE;
        }
    }
  close (fd);
  foctet_file_hash_get_digest (&checksum, digest);
  return TRUE;
}

static gboolean
prepare_add (Prepare       *prepare,
             GFile         *file,
             GFileInfo     *info,
             const char    *path,
             gboolean       top_level,
             GCancellable  *cancellable,
             GError       **error);

static int
compare_infos (gconstpointer a,
               gconstpointer b)
{
  GFileInfo *ia = *(GFileInfo **) a;
  GFileInfo *ib = *(GFileInfo **) b;

  return strcmp (g_file_info_get_name (ia), g_file_info_get_name (ib));
}

static gboolean
prepare_directory (Prepare       *prepare,
                   GFile         *dir,
                   const char    *path,
                   GCancellable  *cancellable,
                   GError       **error)
{
  g_autoptr(GFileEnumerator) children = NULL;
  g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func (g_object_unref);
  GFileInfo *info;

  children = g_file_enumerate_children (dir, WALK_ATTRIBUTES, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                        cancellable, error);
  if (children == NULL)
    return FALSE;
  while ((info = g_file_enumerator_next_file (children, cancellable, error)) != NULL)
    g_ptr_array_add (infos, info);
  if (error != NULL && *error != NULL)
    return FALSE;
  g_ptr_array_sort (infos, compare_infos);

  for (guint i = 0; i < infos->len; i++)
    {
      GFileInfo *child_info = g_ptr_array_index (infos, i);
      const char *name = g_file_info_get_name (child_info);
      g_autoptr(GFile) child = g_file_get_child (dir, name);
      g_autofree char *child_path = g_strconcat (path, "/", name, NULL);

      if (!prepare_add (prepare, child, child_info, child_path, FALSE, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
prepare_add (Prepare       *prepare,
             GFile         *file,
             GFileInfo     *info,
             const char    *path,
             gboolean       top_level,
             GCancellable  *cancellable,
             GError       **error)
{
  g_autofree char *local = g_file_get_path (file);
  guint32 mode = g_file_info_get_attribute_uint32 (info, G_FILE_ATTRIBUTE_UNIX_MODE) & FOCTET_TRANSFER_MODE_MASK;
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];
  guint64 size = 0;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  switch (g_file_info_get_file_type (info))
    {
    case G_FILE_TYPE_DIRECTORY:
      if (!foctet_transfer_manifest_add_directory (prepare->manifest, path, mode, error))
        return FALSE;
      g_ptr_array_add (prepare->sources, g_steal_pointer (&local));
      return prepare_directory (prepare, file, path, cancellable, error);
    case G_FILE_TYPE_REGULAR:
      /* Files are served by path (see chunk_read (), in
       * foctet-transfer-sender-get.c). */
      if (local == NULL)
        {
          g_autofree char *uri = g_file_get_uri (file);

          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT, "“%s” is not a local file", uri);
          return FALSE;
        }
      if (!hash_file (local, prepare->hash_buf, digest, &size, cancellable, error))
        return FALSE;
      if (!foctet_transfer_manifest_add_file (prepare->manifest, path, mode, size, digest, error))
        return FALSE;
      g_ptr_array_add (prepare->sources, g_steal_pointer (&local));
      prepare->n_files++;
      return TRUE;
    default:
      if (top_level && g_file_info_get_file_type (info) == G_FILE_TYPE_SYMBOLIC_LINK)
        {
          /* Followed, a link tells its own type only when its target is
           * missing. */
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s” is a symbolic link to nothing (its target does not exist)", local);
          return FALSE;
        }
      if (top_level)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s” is neither a regular file nor a directory", local);
          return FALSE;
        }
      /* Links, devices, sockets, FIFOs are never offered; the caller
       * learns which were left out. */
      g_debug ("Transfer: skipping “%s”: neither a regular file nor a directory", local);
      {
        Skipped *skipped = g_new0 (Skipped, 1);

        skipped->path = local != NULL ? g_steal_pointer (&local) : g_file_get_uri (file);
        skipped->type = g_file_info_get_file_type (info);
        g_ptr_array_add (prepare->skipped, skipped);
      }
      return TRUE;
    }
}

void
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  Prepare *prepare = task_data;
  GError *error = NULL;

  prepare->manifest = foctet_transfer_manifest_new ();
  prepare->sources = g_ptr_array_new_with_free_func (g_free);
  prepare->skipped = g_ptr_array_new_with_free_func ((GDestroyNotify) skipped_free);
  for (guint i = 0; i < prepare->files->len; i++)
    {
      GFile *file = g_ptr_array_index (prepare->files, i);
      g_autoptr(GFileInfo) info = NULL;
      g_autofree char *name = NULL;

      /* A path named on the command line is followed if it is a link;
       * links inside directories are not. */
      info = g_file_query_info (file, WALK_ATTRIBUTES, G_FILE_QUERY_INFO_NONE, cancellable, &error);
      if (info == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      name = g_file_get_basename (file);
      if (!prepare_add (prepare, file, info, name, TRUE, cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
}

/* foctet-transfer-common.c: what the sending and the receiving side of
 * foctet/transfer/1 share beyond the codec (see foctet-transfer-private.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "foctet-transfer-private.h"

/* A #G_IO_ERROR for @saved_errno: "<what>: <strerror>". */
GError *
foctet_transfer_errno_error (int         saved_errno,
                             const char *format,
                             ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  return g_error_new (G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s", what,
                      g_strerror (saved_errno));
}

/* Reads @count bytes from @offset, or fewer at the end of the file; -1
 * with errno when a read fails. */
gssize
foctet_transfer_pread_full (int     fd,
                            void   *buf,
                            gsize   count,
                            guint64 offset)
{
  gsize done = 0;

  while (done < count)
    {
      ssize_t n = pread (fd, (guint8 *) buf + done, count - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      done += n;
    }
  return done;
}

/* Whether @cache holds the directory named by the first @len bytes of
 * @dir. */
gboolean
foctet_transfer_dir_cache_holds (const FoctetTransferDirCache *cache,
                                 const char                   *dir,
                                 gsize                         len)
{
  return cache->path != NULL && strncmp (cache->path, dir, len) == 0 && cache->path[len] == '\0';
}

/* Makes @cache hold @fd (owned; -1 remembers a failure to open it) as the
 * directory named by the first @len bytes of @dir. */
void
foctet_transfer_dir_cache_set (FoctetTransferDirCache *cache,
                               const char             *dir,
                               gsize                   len,
                               int                     fd)
{
  foctet_transfer_dir_cache_clear (cache);
  cache->path = g_strndup (dir, len);
  cache->fd = fd;
}

void
foctet_transfer_dir_cache_clear (FoctetTransferDirCache *cache)
{
  g_clear_pointer (&cache->path, g_free);
  if (cache->fd >= 0)
    close (cache->fd);
  cache->fd = -1;
}

/* Attaches @source (owned: returned, to keep until it is cleared) to
 * @context, calling @func with @data. */
GSource *
foctet_transfer_source_attach (GSource      *source,
                               GSourceFunc   func,
                               gpointer      data,
                               GMainContext *context)
{
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  return source;
}

/* A pool of buffers of @size bytes, keeping @max_spare at most, aligned
 * to @align bytes unless it is 0. */
void
foctet_transfer_buffer_pool_init (FoctetTransferBufferPool *pool,
                                  gsize                     size,
                                  guint                     max_spare,
                                  gsize                     align)
{
  pool->spare = g_ptr_array_new_with_free_func (align != 0 ? g_aligned_free : g_free);
  pool->size = size;
  pool->max_spare = max_spare;
  pool->align = align;
}

void
foctet_transfer_buffer_pool_clear (FoctetTransferBufferPool *pool)
{
  g_clear_pointer (&pool->spare, g_ptr_array_unref);
}

/* A buffer of the pool's size: a spare one, or a new one.  Give it back
 * with foctet_transfer_buffer_pool_give(). */
guint8 *
foctet_transfer_buffer_pool_take (FoctetTransferBufferPool *pool)
{
  if (pool->spare->len > 0)
    return g_ptr_array_steal_index_fast (pool->spare, pool->spare->len - 1);
  if (pool->align != 0)
    return g_aligned_alloc (1, pool->size, pool->align);
  return g_malloc (pool->size);
}

/* Keeps @buf (owned), taken from the pool, for reuse; or frees it when
 * enough are kept. */
void
foctet_transfer_buffer_pool_give (FoctetTransferBufferPool *pool,
                                  guint8                   *buf)
{
  if (pool->spare->len < pool->max_spare)
    g_ptr_array_add (pool->spare, buf);
  else if (pool->align != 0)
    g_aligned_free (buf);
  else
    g_free (buf);
}

/* Moves the bytes [*@start, *@end) of @buf to its start, to make room
 * after them for the next read. */
void
foctet_transfer_buffer_compact (guint8 *buf,
                                gsize  *start,
                                gsize  *end)
{
  if (*start == 0)
    return;
  memmove (buf, buf + *start, *end - *start);
  *end -= *start;
  *start = 0;
}

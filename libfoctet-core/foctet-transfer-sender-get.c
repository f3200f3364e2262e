/* foctet-transfer-sender-get.c: a sender's answers to GETs.  The
 * sender's I/O thread reads each file chunk by chunk, a few chunks ahead
 * of what the stream has written, and many small files ahead in batches
 * (their DATA headers and bytes in one buffer, one write); the main loop
 * only hands the buffers on.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foctet-transfer-sender-private.h"

static void get_continue (StreamServe *ss);

/* Answering a GET: DATA, then the file's bytes chunk by chunk, read ahead
 * by the I/O thread. */

void
sender_chunk_free (gpointer data)
{
  Chunk *chunk = data;

  g_free (chunk->buf);
  g_free (chunk->items);
  g_clear_error (&chunk->error);
  g_free (chunk);
}

/* Forgets the chunks queued: all of them, or those of the head GET. */
void
stream_serve_drop_chunks (StreamServe *ss,
                          gboolean     all)
{
  Chunk *chunk;

  while ((chunk = g_queue_peek_head (&ss->chunks)) != NULL)
    {
      gboolean last = chunk->last;

      g_queue_pop_head (&ss->chunks);
      ss->chunk_bytes -= chunk->charged;
      /* One still being read is freed when it comes back. */
      if (chunk->done)
        sender_chunk_free (chunk);
      else
        chunk->dropped = TRUE;
      if (last && !all)
        break;
    }
  ss->waiting_chunk = FALSE;
}

/* The head request is answered. */
void
stream_serve_pop_request (StreamServe *ss)
{
  foctet_transfer_message_free (g_queue_pop_head (&ss->requests));
  if (ss->prefetch_pos > 0)
    ss->prefetch_pos--;
  else
    ss->prefetch_offset = 0;
}

/* In the I/O thread. */
static gboolean
chunk_read (Chunk   *chunk,
            GError **error)
{
  StreamServe *ss = chunk->ss;
  FoctetTransferSender *self = ss->sender;
  const char *source = g_ptr_array_index (self->sources, chunk->index);
  gssize done;

  if (ss->io_fd < 0 || ss->io_index != chunk->index)
    {
      if (ss->io_fd >= 0)
        close (ss->io_fd);
      ss->io_index = chunk->index;
      ss->io_fd = open (source, O_RDONLY | O_CLOEXEC);
      if (ss->io_fd < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening “%s”", source));
          return FALSE;
        }
    }
  if (chunk->first)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (self->manifest, chunk->index);
      struct stat st;

      if (fstat (ss->io_fd, &st) < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Looking at “%s”", source));
          return FALSE;
        }
      if ((guint64) st.st_size != entry->size)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "“%s” is now %" G_GUINT64_FORMAT
                       " bytes long, not %" G_GUINT64_FORMAT " as offered", source, (guint64) st.st_size,
                       entry->size);
          return FALSE;
        }
    }
  done = foctet_transfer_pread_full (ss->io_fd, chunk->buf, chunk->len, chunk->offset);
  if (done < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Reading “%s”", source));
      return FALSE;
    }
  if ((gsize) done < chunk->len)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "“%s” shrank while it was being sent", source);
      return FALSE;
    }
  return TRUE;
}

/* In the I/O thread: opens a small file of a batch, through its
 * directory, which stays open for the next file (they come in manifest
 * order, a directory's files one after the other). */
static int
batch_open (FoctetTransferSender *self,
            const char           *source)
{
  const char *slash = strrchr (source, '/');
  gsize len;

  if (slash == NULL || slash == source)
    return open (source, O_RDONLY | O_CLOEXEC);
  len = slash - source;
  if (!foctet_transfer_dir_cache_holds (&self->io_dirs, source, len))
    {
      g_autofree char *dir = g_strndup (source, len);

      foctet_transfer_dir_cache_set (&self->io_dirs, source, len, open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
  if (self->io_dirs.fd < 0)
    return open (source, O_RDONLY | O_CLOEXEC);
  return openat (self->io_dirs.fd, slash + 1, O_RDONLY | O_CLOEXEC);
}

/* Room for @more bytes after @pos (and one to spare, see batch_read_item()). */
static void
batch_reserve (Chunk *chunk,
               gsize  pos,
               gsize  more)
{
  if (pos + more + 1 > chunk->size)
    {
      chunk->size = pos + more + 1;
      chunk->buf = g_realloc (chunk->buf, chunk->size);
    }
}

/* In the I/O thread: answers one GET of a batch at @pos — DATA and the
 * bytes, or ERROR 6 when the file cannot be read or no longer has the
 * size it was offered with (checked before its DATA goes out, as for
 * any GET).  Returns where the next answer goes. */
static gsize
batch_read_item (FoctetTransferSender *self,
                 Chunk                *chunk,
                 const BatchItem      *item,
                 gsize                 pos)
{
  const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (self->manifest, item->index);
  const char *source = g_ptr_array_index (self->sources, item->index);
  /* A whole file is read with one byte more than its size: a short read
   * says it shrank, a long one that it grew, without an fstat (). */
  gboolean whole = item->offset == 0 && item->length == entry->size;
  gsize want = item->length + (whole ? 1 : 0);
  g_autoptr(FoctetTransferMessage) refusal = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autofree char *why = NULL;
  guint8 *data;
  gsize done = 0;
  struct stat st;
  int fd;

  batch_reserve (chunk, pos, FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + item->length);
  data = chunk->buf + pos + FOCTET_TRANSFER_RANGE_MESSAGE_SIZE;
  fd = batch_open (self, source);
  if (fd < 0)
    {
      int saved = errno;

      why = g_strdup_printf ("Opening “%s”: %s", source, g_strerror (saved));
      goto refuse;
    }
  if (!whole && fstat (fd, &st) == 0 && (guint64) st.st_size != entry->size)
    goto changed;
  /* One pread () in all (even for an empty file): it returns fewer bytes
   * than asked only at the end of a regular file. */
  for (gboolean first = TRUE; first || done < item->length; first = FALSE)
    {
      ssize_t n = pread (fd, data + done, want - done, item->offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;

          why = g_strdup_printf ("Reading “%s”: %s", source, g_strerror (saved));
          close (fd);
          goto refuse;
        }
      if (n == 0)
        break;
      done += n;
    }
  if (done != item->length)
    {
      if (!whole || done < item->length)
        {
          why = g_strdup_printf ("“%s” shrank while it was being sent", source);
          if (whole)
            goto changed;
          close (fd);
          goto refuse;
        }
      goto changed;
    }
  close (fd);
  foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_DATA, item->index, item->offset, item->length,
                                        chunk->buf + pos);
  return pos + FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + item->length;

changed:
  g_clear_pointer (&why, g_free);
  if (fstat (fd, &st) == 0)
    why = g_strdup_printf ("“%s” is now %" G_GUINT64_FORMAT " bytes long, not %" G_GUINT64_FORMAT
                           " as offered", source, (guint64) st.st_size, entry->size);
  else
    why = g_strdup_printf ("“%s” changed size since it was offered", source);
  close (fd);
refuse:
  {
    g_autofree char *text = g_strdup_printf ("%s: %s", entry->path, why);

    g_debug ("Transfer: %s", text);
    refusal = foctet_transfer_message_new_error (FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED, text);
  }
  encoded = foctet_transfer_message_encode (refusal);
  batch_reserve (chunk, pos, g_bytes_get_size (encoded));
  memcpy (chunk->buf + pos, g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded));
  return pos + g_bytes_get_size (encoded);
}

void
sender_io_work (gpointer data)
{
  Chunk *chunk = data;
  FoctetTransferSender *self = chunk->ss->sender;

  if (g_cancellable_is_cancelled (chunk->ss->cancellable))
    {
      chunk->len = 0;
      return;
    }
  if (chunk->items != NULL)
    {
      gsize pos = 0;

      for (guint i = 0; i < chunk->n_items; i++)
        pos = batch_read_item (self, chunk, &chunk->items[i], pos);
      chunk->len = pos;
      return;
    }
  chunk_read (chunk, &chunk->error);
}

void
sender_io_deliver (gpointer data)
{
  Chunk *chunk = data;
  StreamServe *ss = chunk->ss;

  if (chunk->dropped)
    {
      sender_chunk_free (chunk);
      stream_serve_unref (ss);
      return;
    }
  chunk->done = TRUE;
  if (ss->waiting_chunk && chunk == g_queue_peek_head (&ss->chunks))
    {
      ss->waiting_chunk = FALSE;
      get_continue (ss);
    }
  stream_serve_unref (ss);
}

/* Asks the I/O thread for the answers to the small GETs from the next
 * to prefetch on, in one batch: those that follow one another in the
 * queue, up to BATCH_SIZE bytes of files. */
static void
prefetch_batch (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  Chunk *chunk = g_new0 (Chunk, 1);
  FoctetTransferMessage *request;
  guint64 bytes = 0;
  guint n = 0;

  chunk->items = g_new (BatchItem, FOCTET_TRANSFER_MAX_OUTSTANDING_GETS);
  while (n < FOCTET_TRANSFER_MAX_OUTSTANDING_GETS && bytes < BATCH_SIZE &&
         (request = g_queue_peek_nth (&ss->requests, ss->prefetch_pos)) != NULL &&
         request->type == FOCTET_TRANSFER_MESSAGE_GET && request->length < BATCH_GET_MAX &&
         foctet_transfer_manifest_check_get (self->manifest, request, NULL))
    {
      chunk->items[n].index = request->index;
      chunk->items[n].offset = request->offset;
      chunk->items[n].length = request->length;
      bytes += request->length;
      n++;
      ss->prefetch_pos++;
    }
  g_assert (n > 0);
  chunk->ss = stream_serve_ref (ss);
  chunk->n_items = n;
  chunk->first = chunk->last = TRUE;
  chunk->size = n * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + bytes + 1;
  chunk->buf = g_malloc (chunk->size);
  chunk->charged = chunk->size;
  ss->chunk_bytes += chunk->charged;
  g_queue_push_tail (&ss->chunks, chunk);
  foctet_transfer_worker_push (self->io, chunk);
}

/* Asks the I/O thread for the chunks of the GETs queued, as far ahead as
 * the stream's read-ahead allows. */
static void
prefetch (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;

  while (!ss->ended && !ss->ending && ss->chunk_bytes < READ_AHEAD)
    {
      FoctetTransferMessage *request = g_queue_peek_nth (&ss->requests, ss->prefetch_pos);
      Chunk *chunk;

      if (request == NULL)
        return;
      if (request->type != FOCTET_TRANSFER_MESSAGE_GET)
        {
          ss->prefetch_pos++;
          continue;
        }
      /* Refused when it comes to be answered. */
      if (!foctet_transfer_manifest_check_get (self->manifest, request, NULL))
        return;
      if (ss->prefetch_offset == 0 && request->length < BATCH_GET_MAX)
        {
          prefetch_batch (ss);
          continue;
        }
      chunk = g_new0 (Chunk, 1);
      chunk->ss = stream_serve_ref (ss);
      chunk->index = request->index;
      chunk->offset = request->offset + ss->prefetch_offset;
      chunk->len = MIN (request->length - ss->prefetch_offset, CHUNK_SIZE);
      chunk->first = ss->prefetch_offset == 0;
      ss->prefetch_offset += chunk->len;
      chunk->charged = chunk->len;
      chunk->last = ss->prefetch_offset == request->length;
      if (chunk->last)
        {
          ss->prefetch_pos++;
          ss->prefetch_offset = 0;
        }
      if (chunk->len == CHUNK_SIZE)
        chunk->buf = foctet_transfer_buffer_pool_take (&self->buffers);
      else
        chunk->buf = g_malloc (MAX (chunk->len, 1));
      chunk->size = chunk->len;
      ss->chunk_bytes += chunk->len;
      g_queue_push_tail (&ss->chunks, chunk);
      foctet_transfer_worker_push (self->io, chunk);
    }
}

static void
get_fail_midway (StreamServe  *ss,
                 const GError *error)
{
  ss->writing = FALSE;
  if (ss->ended)
    return;
  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream), error->message);
  stream_serve_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
}

/* After a write of part of an answer: whether the answer cannot go on,
 * its write having failed with @error, or the stream having ended
 * meanwhile. */
static gboolean
get_write_stopped (StreamServe  *ss,
                   const GError *error)
{
  if (error != NULL)
    {
      get_fail_midway (ss, error);
      return TRUE;
    }
  if (ss->ended)
    {
      ss->writing = FALSE;
      return TRUE;
    }
  return FALSE;
}

/* The head @n_requests requests are answered: on to the next. */
static void
get_answered (StreamServe *ss,
              guint        n_requests)
{
  ss->writing = FALSE;
  for (guint i = 0; i < n_requests; i++)
    stream_serve_pop_request (ss);
  prefetch (ss);
  stream_serve_read_next (ss);
  stream_serve_write_next (ss);
}

/* The head chunk went out: a piece of a GET's file, after which the GET
 * goes on unless it was its last; or a batch, whose GETs are all done. */
static void
get_chunk_written_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  StreamServe *ss = user_data;
  FoctetTransferSender *self = ss->sender;
  g_autoptr(GError) error = NULL;
  Chunk *chunk;
  guint n_answered;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  if (get_write_stopped (ss, error))
    {
      stream_serve_unref (ss);
      return;
    }
  chunk = g_queue_pop_head (&ss->chunks);
  ss->chunk_bytes -= chunk->charged;
  if (chunk->items != NULL)
    n_answered = chunk->n_items;
  else
    n_answered = chunk->last ? 1 : 0;
  if (chunk->items == NULL && chunk->size == CHUNK_SIZE)
    foctet_transfer_buffer_pool_give (&self->buffers, g_steal_pointer (&chunk->buf));
  sender_chunk_free (chunk);
  if (n_answered > 0)
    get_answered (ss, n_answered);
  else
    {
      prefetch (ss);
      get_continue (ss);
    }
  stream_serve_unref (ss);
}

static void
get_send_chunk (StreamServe *ss)
{
  Chunk *chunk = g_queue_peek_head (&ss->chunks);

  if (chunk->len == 0)
    {
      /* An empty file: DATA alone. */
      g_queue_pop_head (&ss->chunks);
      sender_chunk_free (chunk);
      get_answered (ss, 1);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), chunk->buf,
                                   chunk->len, G_PRIORITY_DEFAULT, ss->cancellable, get_chunk_written_cb,
                                   stream_serve_ref (ss));
}

static void
get_header_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (!get_write_stopped (ss, error))
    get_send_chunk (ss);
  stream_serve_unref (ss);
}

/* The head chunk is read: send it (after DATA, for a GET's first), or
 * answer the GET with ERROR 6. */
static void
get_continue (StreamServe *ss)
{
  FoctetTransferMessage *get = g_queue_peek_head (&ss->requests);
  Chunk *chunk = g_queue_peek_head (&ss->chunks);
  g_autoptr(FoctetTransferMessage) data = NULL;

  if (ss->ended)
    return;
  if (!chunk->done)
    {
      ss->waiting_chunk = TRUE;
      return;
    }
  if (chunk->items != NULL)
    {
      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), chunk->buf,
                                       chunk->len, G_PRIORITY_DEFAULT, ss->cancellable, get_chunk_written_cb,
                                       stream_serve_ref (ss));
      return;
    }
  if (chunk->error != NULL && !chunk->first)
    {
      /* Its DATA header is out: the stream cannot go on. */
      get_fail_midway (ss, chunk->error);
      return;
    }
  if (chunk->error != NULL)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (ss->sender->manifest, get->index);
      g_autofree char *text = g_strdup_printf ("%s: %s", entry->path, chunk->error->message);

      /* ERROR 6 answers this GET only; the stream goes on. */
      g_debug ("Transfer: %s", text);
      stream_serve_drop_chunks (ss, FALSE);
      stream_serve_write_message (ss, foctet_transfer_message_new_error (FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED,
                                                                         text));
      return;
    }
  if (!chunk->first)
    {
      get_send_chunk (ss);
      return;
    }
  data = foctet_transfer_message_new_data (get->index, get->offset, get->length);
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), data,
                                       G_PRIORITY_DEFAULT, ss->cancellable, get_header_written_cb,
                                       stream_serve_ref (ss));
}

void
stream_serve_get_start (StreamServe           *ss,
                        FoctetTransferMessage *get)
{
  g_autoptr(GError) error = NULL;

  if (!foctet_transfer_manifest_check_get (ss->sender->manifest, get, &error))
    {
      stream_serve_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, error->message);
      return;
    }
  ss->writing = TRUE;
  prefetch (ss);
  get_continue (ss);
}

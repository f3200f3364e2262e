/* foctet-transfer-receiver-fetch.c: a receive's fetchers, one per
 * stream (the control stream and a few data streams): each writes GETs
 * for the jobs pending, many at a time, and reads the answers, handing
 * the bytes of every DATA to the I/O threads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-transfer-receiver-private.h"

static void fetcher_read (Fetcher *fetcher);

/* Fetchers: one per stream, sending GETs and reading DATA. */

/* Buffers of WRITE_SIZE are aligned for O_DIRECT; others are not. */
void
receive_buffer_free (guint8 *buf,
                     gsize   size)
{
  if (size == WRITE_SIZE)
    g_aligned_free (buf);
  else
    g_free (buf);
}

void
fetcher_free (Fetcher *fetcher)
{
  g_clear_object (&fetcher->stream);
  receive_buffer_free (fetcher->buf, fetcher->buf_size);
  g_free (fetcher->in);
  g_free (fetcher);
}

Fetcher *
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
  gsize written = 0;
  gboolean ok;

  fetcher->writing = FALSE;
  ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error);
  if (fetcher == receive->control && receive->abort_after_write)
    {
      /* The receive failed meanwhile: its ABORT goes out now, unless the
       * write stopped inside a GET. */
      g_clear_error (&error);
      receive_abort_write_done (receive, ok || written == 0);
    }
  else if (!ok)
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
void
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
void
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
          receive_job_finish_failed (receive, job);
          receive_job_done (receive);
        }
      else if (!job->whole && job->queued == job->entry->size)
        receive_job_complete (receive, job);
    }
}

/* Hands what the fetcher's buffer holds to the I/O thread: a piece of a
 * file, or a whole small file. */
static void
fetcher_flush (Fetcher *fetcher)
{
  gsize size;

  if (fetcher->fill == 0 && !fetcher->data_whole)
    return;
  /* An empty file has no buffer (and buf_size is the last one's). */
  size = fetcher->buf != NULL ? fetcher->buf_size : 0;
  receive_io_push_data (fetcher->receive, fetcher->data_job, fetcher->data_whole,
                        g_steal_pointer (&fetcher->buf), size, fetcher->fill);
  fetcher->fill = 0;
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
      receiver_progress_add (receive->self, 0, take);
    }
  if (!job->failed && (fetcher->data_left == 0 || (fetcher->buf != NULL && fetcher->fill == fetcher->buf_size)))
    fetcher_flush (fetcher);
  if (fetcher->data_left == 0)
    {
      /* Left over only by a job given up on. */
      if (fetcher->buf != NULL)
        receive_buffer_free (g_steal_pointer (&fetcher->buf), fetcher->buf_size);
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
      /* The sender ended the stream: the ABORT repeats its code. */
      receive_fail_code (receive, message->error_code, foctet_transfer_message_to_error (message));
      return FALSE;
    }
  asked.type = FOCTET_TRANSFER_MESSAGE_GET;
  asked.index = job->index;
  asked.offset = get->offset;
  asked.length = get->length;
  if (!foctet_transfer_message_check_data (&asked, message, &error))
    {
      /* Not the control stream: a reset would throw away the ABORT that
       * receive_fail () writes there. */
      if (fetcher != receive->control)
        foctet_stream_reset (fetcher->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      /* Another message than DATA has no place there; a DATA that does
       * not match its GET is malformed. */
      if (message->type != FOCTET_TRANSFER_MESSAGE_DATA)
        receive_fail_code (receive, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, g_steal_pointer (&error));
      else
        receive_fail (receive, g_steal_pointer (&error));
      return FALSE;
    }

  /* A small file asked for whole, with nothing of it on the disk yet,
   * goes to the I/O thread in one piece. */
  fetcher->data_whole = !job->failed && !job->opened && job->queued == 0 && message->offset == 0 &&
                        message->length == job->entry->size && message->length < WHOLE_MAX;
  if (!job->failed && !job->opened && !fetcher->data_whole)
    receive_job_open (receive, job);
  receiver_progress_set_current (receive->self, job->entry->path);
  fetcher->data_job = job;
  fetcher->data_left = message->length;
  return TRUE;
}

/* Goes through what was read: messages, and the raw bytes after each
 * DATA, as far as they go; then reads on, and asks for more. */
void
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
  if (receive->finished && fetcher == receive->control)
    {
      /* After an ABORT: it may wait for the sender's answer now. */
      g_clear_error (&error);
      receive_abort_read_done (receive);
      receive_unref (receive);
      return;
    }
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
      receiver_progress_add (receive->self, 0, n);
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
void
fetcher_close_write (Fetcher *fetcher)
{
  if (fetcher->closed)
    return;
  fetcher->closed = TRUE;
  foctet_stream_close_write_async (fetcher->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

/* foctet-transfer-receiver-session.c: one receive from start to end:
 * set up, dialled (or pushed to), HELLO and MANIFEST on the control
 * stream, planned, fetched over the data streams, and ended with DONE
 * and DONE_ACK, or with ABORT when it fails; its result goes out once
 * nothing is in flight any more.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foctet-transfer-receiver-private.h"

/* Receive: its life */

Receive *
receive_ref (Receive *receive)
{
  receive->ref_count++;
  return receive;
}

/* The result is returned once nothing is in flight any more: no write to
 * a part file can then happen after the caller heard back. */
void
receive_unref (Receive *receive)
{
  FoctetTransferReceiver *self = receive->self;
  g_autoptr(GTask) task = NULL;

  if (--receive->ref_count > 0)
    return;

  task = g_steal_pointer (&receive->task);
  /* Every operation came back (each held a reference): the threads are idle. */
  g_clear_pointer (&receive->hash, foctet_transfer_worker_free);
  for (guint i = 0; i < N_IO_THREADS; i++)
    {
      g_clear_pointer (&receive->io[i], foctet_transfer_worker_free);
      foctet_transfer_dir_cache_clear (&receive->io_state[i].dirs);
    }
  foctet_transfer_buffer_pool_clear (&receive->buffers);
  foctet_source_clear (&receive->user_cancelled);
  foctet_source_clear (&receive->timeout);
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
  g_free (receive->abort_scratch);
  if (receive->root_fd >= 0)
    close (receive->root_fd);
  self->receive = NULL;
  receiver_progress_set_current (self, NULL);

  if (receive->error != NULL)
    g_task_return_error (task, receive->error);
  else
    g_task_return_boolean (task, TRUE);
  g_free (receive);
  receiver_start_waiting_push (self);
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
  foctet_source_clear (&receive->timeout);
  if (receive->connection != NULL && !foctet_connection_is_closed (receive->connection))
    foctet_connection_close_async (receive->connection, FOCTET_CLOSE_CODE_NO_ERROR, "transfer failed",
                                   NULL, NULL, NULL);
}

/* The sender heard the ABORT, or cannot: the last step after it. */
static void
abort_done (Receive *receive)
{
  receive_close_connection (receive);
  receive_unref (receive);
}

static gboolean
abort_timeout_cb (gpointer user_data)
{
  Receive *receive = user_data;

  g_clear_pointer (&receive->timeout, g_source_unref);
  if (receive->abort_read_after_read)
    {
      /* Still waiting for the control stream's read to come back: the
       * wait for the sender ends here, with the ABORT's reference. */
      receive->abort_read_after_read = FALSE;
      abort_done (receive);
      return G_SOURCE_REMOVE;
    }
  receive_close_connection (receive);
  return G_SOURCE_REMOVE;
}

static void abort_answer_cb (GObject      *source,
                             GAsyncResult *result,
                             gpointer      user_data);

/* What the sender still writes on the control stream after the ABORT
 * (the rest of answers under way) is read and dropped, until it ends the
 * stream: only then is the connection closed, so that neither the ABORT
 * nor the close is lost to a reset (closing a socket with bytes unread
 * resets it). */
static void
abort_drain (Receive *receive)
{
  if (receive->abort_scratch == NULL)
    receive->abort_scratch = g_malloc (ABORT_SCRATCH_SIZE);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (receive->control->stream)),
                             receive->abort_scratch, ABORT_SCRATCH_SIZE, G_PRIORITY_DEFAULT, NULL, abort_answer_cb,
                             receive);
}

static void
abort_answer_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Receive *receive = user_data;

  if (g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL) > 0 && receive->timeout != NULL)
    {
      abort_drain (receive);
      return;
    }
  abort_done (receive);
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
    abort_done (receive);
  else if (g_input_stream_has_pending (g_io_stream_get_input_stream (G_IO_STREAM (source))))
    /* The control stream's own read, cancelled, has not called back
     * yet: the wait starts once it has (receive_abort_read_done ()). */
    receive->abort_read_after_read = TRUE;
  else
    abort_drain (receive);
}

/* The control stream's read came back after the ABORT went out. */
void
receive_abort_read_done (Receive *receive)
{
  if (!receive->abort_read_after_read)
    return;
  receive->abort_read_after_read = FALSE;
  abort_drain (receive);
}

static void
abort_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Receive *receive = user_data;

  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, NULL))
    abort_done (receive);
  else
    foctet_stream_close_write_async (receive->control->stream, G_PRIORITY_DEFAULT, NULL, abort_closed_cb, receive);
}

/* Writes the ABORT of the failed receive on the control stream, which
 * is free: half-closes it after, and then waits for the sender to end it
 * too, within the timer receive_fail () set. */
static void
receive_write_abort (Receive *receive)
{
  GError *error = receive->error;
  guint16 code = receive->abort_code != 0 ? receive->abort_code : abort_code_for (error);
  g_autoptr(FoctetTransferMessage) abort = foctet_transfer_message_new_abort (code, error->message);

  receive->control->closed = TRUE;
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (receive->control->stream)),
                                       abort, G_PRIORITY_DEFAULT, NULL, abort_written_cb, receive_ref (receive));
}

/* As receive_fail (), with the ABORT's code given rather than derived
 * from @error: 4 for a well-formed message out of place, the sender's
 * own code after its ERROR. */
void
receive_fail_code (Receive *receive,
                   guint16  code,
                   GError  *error)
{
  if (!receive->finished)
    receive->abort_code = code;
  receive_fail (receive, error);
}

/* Gives up: says why on the control stream (ABORT) when it can, stops
 * everything; the result goes out once all that is in flight is done. */
void
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
  foctet_source_clear (&receive->timeout);

  if (receive->control != NULL && !receive->control->closed)
    {
      /* A stream out of window would hold the ABORT forever. */
      receive->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (2), abort_timeout_cb, receive,
                                                        receive->self->context);
      if (receive->control->writing)
        /* GETs are being written there: the ABORT follows them
         * (receive_abort_write_done ()). */
        receive->abort_after_write = TRUE;
      else
        receive_write_abort (receive);
      return;
    }
  receive_close_connection (receive);
}

/* The GETs being written on the control stream when the receive failed
 * are written (@whole), or the write stopped in the middle of them. */
void
receive_abort_write_done (Receive *receive,
                          gboolean whole)
{
  if (!receive->abort_after_write)
    return;
  receive->abort_after_write = FALSE;
  if (whole)
    {
      receive_write_abort (receive);
      return;
    }
  /* Half a GET went out: no message can follow it. */
  receive->control->closed = TRUE;
  foctet_stream_reset (receive->control->stream, FOCTET_CLOSE_CODE_NO_ERROR);
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

/* The end: directory modes, DONE, DONE_ACK. */

static void
receive_succeed (Receive *receive)
{
  FoctetTransferReceiver *self = receive->self;

  receive->finished = TRUE;
  foctet_source_clear (&receive->timeout);
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
  /* An ABORT meanwhile waits for this read to have come back. */
  receive_abort_read_done (receive);
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

/* Opens the output directory @path, making it and its parents first if
 * @make; -1 with @error set if that fails. */
static int
open_output_dir (const char  *path,
                 gboolean     make,
                 GError     **error)
{
  int fd;

  if (make && g_mkdir_with_parents (path, 0777) != 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Creating the output directory “%s”", path));
      return -1;
    }
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening the output directory “%s”", path));
  return fd;
}

/* Whether the missing directory @path can be made: its nearest existing
 * ancestor is a directory this process may add entries to. */
static gboolean
output_dir_can_be_made (const char  *path,
                        GError     **error)
{
  g_autofree char *ancestor = g_path_get_dirname (path);

  g_clear_error (error);
  while (!g_file_test (ancestor, G_FILE_TEST_EXISTS))
    {
      char *up = g_path_get_dirname (ancestor);

      g_free (ancestor);
      ancestor = up;
    }
  if (!g_file_test (ancestor, G_FILE_TEST_IS_DIR))
    errno = ENOTDIR;
  else if (access (ancestor, W_OK | X_OK) == 0)
    return TRUE;
  g_propagate_error (error, foctet_transfer_errno_error (errno, "Creating the output directory “%s”", path));
  return FALSE;
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
      dir_fd = receiver_open_parent (receive->root_fd, entry->path, &name, error);
      if (dir_fd < 0)
        return FALSE;
      fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dir_fd);
      ok = fd >= 0 && fchmod (fd, receive_entry_mode (receive, entry)) == 0;
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

void
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
  receiver_progress_set_current (receive->self, NULL);
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

  receiver_progress_set_present (self, plan->files_present, plan->bytes_present);
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
          receive_job_open (receive, job);
          receive_job_complete (receive, job);
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

/* A node offering nothing refuses the stream (PROTOCOL §5): a reset,
 * seen when reading the answer to HELLO, or already when writing HELLO
 * if it came that soon. */
static gboolean
refused_stream (GError **error)
{
  GError *refused;

  if (!foctet_error_is_stream_refused (*error))
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
      receive_fail_code (receive, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE,
                         g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
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

  receiver_progress_set_totals (self, foctet_transfer_manifest_get_total_size (receive->manifest), n_files);

  if (receive->root_fd < 0)
    {
      receive->root_fd = open_output_dir (receive->output_path, TRUE, &error);
      if (receive->root_fd < 0)
        {
          receive_fail (receive, error);
          receive_unref (receive);
          return;
        }
    }

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
  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error) &&
      refused_stream (&error))
    receive->control->closed = TRUE;
  if (receive_stopped (receive, error))
    return;
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (receive->control->stream)),
                                      G_PRIORITY_DEFAULT, receive->cancellable, manifest_cb, receive);
}

void
receive_control_opened_cb (GObject      *source,
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

void
receive_dialed_cb (GObject      *source,
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
                                       receive_control_opened_cb, receive);
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
Receive *
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
  /* A missing directory is made once the sender's manifest came: a
   * receive that fails before (a dead ticket, a wrong secret) leaves
   * nothing behind.  That it can be made is checked now. */
  root_fd = open_output_dir (g_file_peek_path (output_dir), FALSE, &error);
  if (root_fd < 0 && !(g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
                       output_dir_can_be_made (g_file_peek_path (output_dir), &error)))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return NULL;
    }
  g_clear_error (&error);

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
      receive->io[i] = foctet_transfer_worker_new ("foctet-recv-io", self->context, receive_io_work, receive_io_deliver);
    }
  receive->hash = foctet_transfer_worker_new_stage ("foctet-recv-sha", receive_hash_work, receive->io[0]);
  foctet_transfer_buffer_pool_init (&receive->buffers, WRITE_SIZE, MAX_QUEUED / WRITE_SIZE, DIRECT_ALIGN);
  self->receive = receive;

  receiver_progress_reset (self);

  if (cancellable != NULL)
    {
      receive->user_cancelled = foctet_transfer_source_attach (g_cancellable_source_new (cancellable),
                                                               (GSourceFunc) user_cancelled_cb, receive, self->context);
    }
  return receive;
}

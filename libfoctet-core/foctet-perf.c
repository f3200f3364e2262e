/* foctet-perf.c: the foctet/perf/1 protocol (the libp2p perf protocol).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "foctet-perf.h"
#include "foctet-builtins-private.h"
#include "foctet-error.h"
#include "foctet-stream-private.h"

/* Big enough that per-call overhead vanishes next to the copy and the
 * encryption; transports chunk it into records or frames themselves.
 * yamux writes up to 1 MiB per call without copying it and reads as
 * much straight into it (alternating 1 GiB runs over tls against 256
 * KiB: download 0.70 → 0.54 s, upload 0.61 → 0.53 s; quic unchanged).
 * What is sent comes from perf_payload(), what is read goes to
 * perf_sink_for(). */
#define PERF_BUFFER_SIZE (1024 * 1024)

/* The bytes every perf stream of the process sends (the protocol leaves
 * them unspecified): one buffer, so that eight streams sending at once
 * keep one megabyte in the cache instead of eight, as the Go reference
 * peer and the bare GnuTLS baseline do.  Eight-stream downloads over tls,
 * six alternating runs: the sending side's CPU per byte fell by a fifth.
 * Filled with a pattern rather than left to the kernel's zero page, so
 * that the figures do not depend on it. */
static const guint8 *
perf_payload (void)
{
  static gsize payload = 0;

  if (g_once_init_enter (&payload))
    {
      guint8 *bytes = g_malloc (PERF_BUFFER_SIZE);

      memset (bytes, 0x5a, PERF_BUFFER_SIZE);
      g_once_init_leave (&payload, (gsize) bytes);
    }
  return (const guint8 *) payload;
}

static GPrivate perf_sink_key = G_PRIVATE_INIT (g_free);

/* Where @stream's reads go.  What perf reads is thrown away, so the
 * streams read in one thread share one buffer there (as Go's io.Discard
 * shares its buffers): eight streams then keep one megabyte in the cache
 * instead of eight.  Eight alternating runs of eight streams over tls,
 * medians: upload 2.58 → 2.29 s for 4 GiB (the receiving server's CPU
 * 2.34 → 2.08 s), download 2.58 → 2.45 s (the receiving client's 2.53 →
 * 2.25 s).  A stream that is not pollable may be read by GIO in a worker
 * thread, so it gets a buffer of its own, in @own. */
static guint8 *
perf_sink_for (FoctetStream  *stream,
               guint8       **own)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  guint8 *sink;

  if (!G_IS_POLLABLE_INPUT_STREAM (input) ||
      !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)))
    {
      *own = g_malloc (PERF_BUFFER_SIZE);
      return *own;
    }
  sink = g_private_get (&perf_sink_key);
  if (sink == NULL)
    {
      sink = g_malloc (PERF_BUFFER_SIZE);
      g_private_set (&perf_sink_key, sink);
    }
  return sink;
}

G_DEFINE_BOXED_TYPE (FoctetPerfResult, foctet_perf_result,
                     foctet_perf_result_copy, foctet_perf_result_free)

/**
 * foctet_perf_result_copy:
 * @self: a [struct@Foctet.PerfResult]
 *
 * Copies a perf result.
 *
 * Returns: (transfer full): a copy of @self; free it with
 *   [method@Foctet.PerfResult.free]
 */
FoctetPerfResult *
foctet_perf_result_copy (const FoctetPerfResult *self)
{
  return g_memdup2 (self, sizeof *self);
}

/**
 * foctet_perf_result_free:
 * @self: a [struct@Foctet.PerfResult]
 *
 * Frees @self.
 */
void
foctet_perf_result_free (FoctetPerfResult *self)
{
  g_free (self);
}

/**
 * foctet_perf_result_merge:
 * @self: a [struct@Foctet.PerfResult]: one run's, one made by merging,
 *   or all zeros (none yet)
 * @other: the result of a run at the same time, on the same connection
 *   (all zeros: nothing to add)
 *
 * Adds @other to @self, for the figures of several perf streams run at
 * once: the bytes add up, and the times are those of all the streams
 * together, not of the slowest one.  The upload phase lasts from the
 * first stream's opening to the last first downloaded byte of the
 * streams that uploaded anything (no time if none did), the download
 * phase from the first downloaded byte to the last, of the streams that
 * downloaded anything.  With the streams' downloads staggered, each
 * stream's own time is shorter than that, and the sum of bytes over it
 * would overstate the rate.
 */
void
foctet_perf_result_merge (FoctetPerfResult       *self,
                          const FoctetPerfResult *other)
{
  gint64 self_upload_end, other_upload_end, upload_end;

  g_return_if_fail (self != NULL);
  g_return_if_fail (other != NULL);

  if (other->started_at == 0)
    return;
  if (self->started_at == 0)
    {
      *self = *other;
      return;
    }
  /* The upload phase ends with the last of the runs that uploaded
   * something, and lasts no time while none did. */
  self_upload_end = self->started_at + (gint64) (self->upload_seconds * G_USEC_PER_SEC + 0.5);
  other_upload_end = other->started_at + (gint64) (other->upload_seconds * G_USEC_PER_SEC + 0.5);
  self->started_at = MIN (self->started_at, other->started_at);
  if (self->upload_bytes > 0 || other->upload_bytes > 0)
    {
      upload_end = MAX (self->upload_bytes > 0 ? self_upload_end : 0,
                        other->upload_bytes > 0 ? other_upload_end : 0);
      self->upload_seconds = (upload_end - self->started_at) / (double) G_USEC_PER_SEC;
    }
  self->upload_bytes += other->upload_bytes;
  /* The download phase spans the runs that downloaded something: those
   * that did not (uploads only) have it empty, at their end. */
  if (other->download_bytes == 0)
    return;
  if (self->download_bytes == 0)
    {
      self->first_byte_at = other->first_byte_at;
      self->ended_at = other->ended_at;
    }
  else
    {
      self->first_byte_at = MIN (self->first_byte_at, other->first_byte_at);
      self->ended_at = MAX (self->ended_at, other->ended_at);
    }
  self->download_bytes += other->download_bytes;
  self->download_seconds = (self->ended_at - self->first_byte_at) / (double) G_USEC_PER_SEC;
}

/* The opener: request N, upload, half-close, download, time both phases. */

typedef struct {
  FoctetStream *stream;
  guint64 upload_left;
  guint64 download_wanted;
  FoctetPerfResult result;
  guint8 request[8];
  guint8 *sink;                  /* reads go here (perf_sink_for()) ... */
  guint8 *own_sink;              /* ... owned, when the stream has one of its own */
} PerfRun;

static void
perf_run_free (PerfRun *run)
{
  g_clear_object (&run->stream);
  g_free (run->own_sink);
  g_free (run);
}

static void perf_download (GTask *task);

/* Ends @task's run with @error (owned): its stream is reset and let go
 * at once, not when the caller drops the result (the shell's streams
 * listed a finished perf stream until the next perf). */
static void
perf_run_return_error (GTask  *task,
                       GError *error)
{
  PerfRun *run = g_task_get_task_data (task);

  /* A refusal, if the connection lives on; else the connection failed. */
  if (run->result.download_bytes == 0 && !foctet_connection_is_closed (g_task_get_source_object (task)))
    foctet_stream_explain_unanswered_reset (run->stream, &error);
  if (run->stream != NULL)
    {
      foctet_stream_reset (run->stream, FOCTET_CLOSE_CODE_NO_ERROR);
      g_clear_object (&run->stream);
    }
  g_task_return_error (task, error);
}

static void
perf_download_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PerfRun *run = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      perf_run_return_error (task, error);
      return;
    }
  if (n > 0)
    {
      run->result.ended_at = g_get_monotonic_time ();
      if (run->result.first_byte_at == 0)
        run->result.first_byte_at = run->result.ended_at;
      run->result.download_bytes += n;
      if (run->result.download_bytes > run->download_wanted)
        {
          perf_run_return_error (task, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                    "Peer sent more than the %" G_GUINT64_FORMAT
                                                    " bytes asked for", run->download_wanted));
          return;
        }
      perf_download (g_steal_pointer (&task));
      return;
    }

  if (run->result.download_bytes != run->download_wanted)
    {
      perf_run_return_error (task, g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                                "Peer sent %" G_GUINT64_FORMAT " of the %" G_GUINT64_FORMAT
                                                " bytes asked for", run->result.download_bytes,
                                                run->download_wanted));
      return;
    }

  if (run->result.first_byte_at == 0)
    run->result.first_byte_at = run->result.ended_at = g_get_monotonic_time ();
  /* Opening the stream and the round trip of the request are no upload:
   * with nothing uploaded, that phase took no time. */
  if (run->result.upload_bytes > 0)
    run->result.upload_seconds = (run->result.first_byte_at - run->result.started_at) / (double) G_USEC_PER_SEC;
  run->result.download_seconds = (run->result.ended_at - run->result.first_byte_at) / (double) G_USEC_PER_SEC;
  g_io_stream_close_async (G_IO_STREAM (run->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&run->stream);
  g_task_return_pointer (task, foctet_perf_result_copy (&run->result),
                         (GDestroyNotify) foctet_perf_result_free);
}

static void
perf_download (GTask *task)
{
  PerfRun *run = g_task_get_task_data (task);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (run->stream)),
                             run->sink, PERF_BUFFER_SIZE, G_PRIORITY_DEFAULT,
                             g_task_get_cancellable (task), perf_download_cb, task);
}

static void
perf_close_write_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    {
      perf_run_return_error (task, error);
      return;
    }
  perf_download (g_steal_pointer (&task));
}

static void perf_upload (GTask *task);

static void
perf_upload_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  PerfRun *run = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n;

  n = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      perf_run_return_error (task, error);
      g_object_unref (task);
      return;
    }
  run->upload_left -= n;
  run->result.upload_bytes += n;
  perf_upload (task);
}

static void
perf_upload (GTask *task)
{
  PerfRun *run = g_task_get_task_data (task);

  if (run->upload_left == 0)
    {
      foctet_stream_close_write_async (run->stream, G_PRIORITY_DEFAULT,
                                       g_task_get_cancellable (task), perf_close_write_cb, task);
      return;
    }
  g_output_stream_write_async (g_io_stream_get_output_stream (G_IO_STREAM (run->stream)),
                               perf_payload (), MIN (run->upload_left, PERF_BUFFER_SIZE),
                               G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                               perf_upload_cb, task);
}

static void
perf_request_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      perf_run_return_error (task, error);
      g_object_unref (task);
      return;
    }
  perf_upload (task);
}

static void
perf_open_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  PerfRun *run = g_task_get_task_data (task);
  GError *error = NULL;
  guint64 be;

  run->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (run->stream == NULL)
    {
      perf_run_return_error (task, error);
      g_object_unref (task);
      return;
    }

  run->sink = perf_sink_for (run->stream, &run->own_sink);
  be = GUINT64_TO_BE (run->download_wanted);
  memcpy (run->request, &be, sizeof be);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (run->stream)),
                                   run->request, sizeof run->request, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), perf_request_cb, task);
}

/**
 * foctet_perf_run_async:
 * @connection: the connection to measure
 * @upload_bytes: bytes to send to the peer
 * @download_bytes: bytes to ask the peer for
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the figures
 * @user_data: data for @callback
 *
 * Runs the perf protocol on a new stream: asks for @download_bytes,
 * uploads @upload_bytes, half-closes, then downloads.  Run several at once
 * on one connection to measure many streams.
 */
void
foctet_perf_run_async (FoctetConnection    *connection,
                       guint64              upload_bytes,
                       guint64              download_bytes,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  GTask *task;
  PerfRun *run;

  g_return_if_fail (FOCTET_IS_CONNECTION (connection));

  task = g_task_new (connection, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_perf_run_async);

  run = g_new0 (PerfRun, 1);
  run->upload_left = upload_bytes;
  run->download_wanted = download_bytes;
  run->result.started_at = g_get_monotonic_time ();
  g_task_set_task_data (task, run, (GDestroyNotify) perf_run_free);

  foctet_connection_open_stream_async (connection, FOCTET_PROTOCOL_PERF, cancellable,
                                       perf_open_cb, task);
}

/**
 * foctet_perf_run_finish:
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [func@Foctet.perf_run_async].  It fails with
 * %FOCTET_ERROR_PROTOCOL_ERROR when the peer sent more or fewer bytes than
 * were asked for, and with the stream's errors otherwise (opening it,
 * writing, reading; %FOCTET_ERROR_STREAM_RESET when the peer does not
 * serve perf, %G_IO_ERROR_CANCELLED when cancelled).
 *
 * Returns: (transfer full): the figures of the run, or %NULL with @error
 *   set; free them with [method@Foctet.PerfResult.free]
 */
FoctetPerfResult *
foctet_perf_run_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The acceptor: read N, drain the upload to end of stream, send N bytes. */

typedef struct {
  FoctetStream *stream;
  guint8 request[8];
  guint64 to_send;
  guint8 *sink;                  /* reads go here (perf_sink_for()) ... */
  guint8 *own_sink;              /* ... owned, when the stream has one of its own */
} PerfServe;

static void
perf_serve_free (PerfServe *serve)
{
  g_io_stream_close_async (G_IO_STREAM (serve->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (serve->stream);
  g_free (serve->own_sink);
  g_free (serve);
}

static void
perf_serve_fail (PerfServe    *serve,
                 const GError *error)
{
  g_debug ("Perf stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (serve->stream),
           error->message);
  perf_serve_free (serve);
}

static void
perf_serve_close_write_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    return perf_serve_fail (user_data, error);
  perf_serve_free (user_data);
}

static void perf_serve_send (PerfServe *serve);

static void
perf_serve_send_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  PerfServe *serve = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (n < 0)
    return perf_serve_fail (serve, error);
  serve->to_send -= n;
  perf_serve_send (serve);
}

static void
perf_serve_send (PerfServe *serve)
{
  if (serve->to_send == 0)
    {
      foctet_stream_close_write_async (serve->stream, G_PRIORITY_DEFAULT, NULL,
                                       perf_serve_close_write_cb, serve);
      return;
    }
  g_output_stream_write_async (g_io_stream_get_output_stream (G_IO_STREAM (serve->stream)),
                               perf_payload (), MIN (serve->to_send, PERF_BUFFER_SIZE),
                               G_PRIORITY_DEFAULT, NULL, perf_serve_send_cb, serve);
}

static void
perf_serve_drain_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  PerfServe *serve = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    return perf_serve_fail (serve, error);
  if (n == 0)
    {
      perf_serve_send (serve);
      return;
    }
  g_input_stream_read_async (G_INPUT_STREAM (source), serve->sink, PERF_BUFFER_SIZE,
                             G_PRIORITY_DEFAULT, NULL, perf_serve_drain_cb, serve);
}

static void
perf_serve_request_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  PerfServe *serve = user_data;
  g_autoptr(GError) error = NULL;
  gsize n_read = 0;
  guint64 be;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n_read, &error))
    return perf_serve_fail (serve, error);
  if (n_read < sizeof serve->request)
    {
      g_debug ("Perf stream %" G_GUINT64_FORMAT ": ended inside the 8-byte request",
               foctet_stream_get_id (serve->stream));
      foctet_stream_reset (serve->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      perf_serve_free (serve);
      return;
    }

  memcpy (&be, serve->request, sizeof be);
  serve->to_send = GUINT64_FROM_BE (be);
  if (serve->to_send > FOCTET_PERF_MAX_DOWNLOAD)
    {
      g_debug ("Perf stream %" G_GUINT64_FORMAT ": refusing a request for %" G_GUINT64_FORMAT
               " bytes", foctet_stream_get_id (serve->stream), serve->to_send);
      foctet_stream_reset (serve->stream, FOCTET_CLOSE_CODE_REFUSED);
      perf_serve_free (serve);
      return;
    }

  serve->sink = perf_sink_for (serve->stream, &serve->own_sink);
  g_input_stream_read_async (G_INPUT_STREAM (source), serve->sink, PERF_BUFFER_SIZE,
                             G_PRIORITY_DEFAULT, NULL, perf_serve_drain_cb, serve);
}

void
foctet_perf_serve (FoctetStream *stream)
{
  PerfServe *serve = g_new0 (PerfServe, 1);

  serve->stream = g_object_ref (stream);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                 serve->request, sizeof serve->request, G_PRIORITY_DEFAULT,
                                 NULL, perf_serve_request_cb, serve);
}

/**
 * foctet_parse_byte_count:
 * @text: a count of bytes: digits, then optionally K, M, G or T (powers
 *   of 1024, either case), as the command line takes BYTES
 * @bytes: (out): the count
 * @error: return location for a #GError
 *
 * Parses a byte count as `foctet-shell perf` takes it: "1048576", "512K",
 * "1m", "4G".  No space, sign or fraction is allowed.
 *
 * Returns: %TRUE with @bytes set, or %FALSE with
 *   %FOCTET_ERROR_INVALID_ARGUMENT when @text is no such count or the
 *   count does not fit 64 bits
 */
gboolean
foctet_parse_byte_count (const char  *text,
                         guint64     *bytes,
                         GError     **error)
{
  char *end = NULL;
  guint64 value, unit = 1;

  g_return_val_if_fail (bytes != NULL, FALSE);

  if (text == NULL || !g_ascii_isdigit (text[0]))
    goto bad;
  errno = 0;
  value = g_ascii_strtoull (text, &end, 10);
  if (errno == ERANGE)
    goto too_large;
  if (errno != 0)
    goto bad;
  switch (g_ascii_toupper (*end))
    {
    case '\0':
      break;
    case 'K':
      unit = G_GUINT64_CONSTANT (1) << 10;
      end++;
      break;
    case 'M':
      unit = G_GUINT64_CONSTANT (1) << 20;
      end++;
      break;
    case 'G':
      unit = G_GUINT64_CONSTANT (1) << 30;
      end++;
      break;
    case 'T':
      unit = G_GUINT64_CONSTANT (1) << 40;
      end++;
      break;
    default:
      goto bad;
    }
  if (*end != '\0')
    goto bad;
  if (value > G_MAXUINT64 / unit)
    goto too_large;
  *bytes = value * unit;
  return TRUE;

too_large:
  /* The digits may be followed by anything: say what is wrong with them
   * only if the rest would do. */
  end += strspn (end, "0123456789");
  if (end[0] != '\0' && (strchr ("KkMmGgTt", end[0]) == NULL || end[1] != '\0'))
    goto bad;
  g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
               "'%s' is too large a byte count (at most 18446744073709551615, about 16 EiB)", text);
  return FALSE;

bad:
  g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
               "'%s' is not a byte count (digits, then optionally K, M, G or T)", text != NULL ? text : "");
  return FALSE;
}

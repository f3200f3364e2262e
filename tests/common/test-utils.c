/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "test-utils.h"

static gboolean
timeout_cb (gpointer user_data)
{
  g_error ("Test timed out after %u s", GPOINTER_TO_UINT (user_data));
  return G_SOURCE_REMOVE;
}

void
foctet_test_wait_for (gboolean *done,
                      guint     timeout_seconds)
{
  GMainContext *context = g_main_context_get_thread_default ();
  GSource *timeout = g_timeout_source_new_seconds (timeout_seconds);

  g_source_set_callback (timeout, timeout_cb, GUINT_TO_POINTER (timeout_seconds), NULL);
  g_source_attach (timeout, context);
  while (!*done)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
}

char *
foctet_test_make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("foctet-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

void
foctet_test_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR) || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_unlink (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      foctet_test_remove_tree (child);
    }
  g_rmdir (path);
}

GSubprocessLauncher *
foctet_test_launcher_new (const char       *tmpdir,
                          GSubprocessFlags  flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  g_autofree char *data_home = g_build_filename (tmpdir, "data", NULL);
  g_autofree char *state_home = g_build_filename (tmpdir, "state", NULL);

  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_STATE_HOME", state_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_SYSTEM_PATH", "", TRUE);
  return launcher;
}

void
foctet_test_run_command (const char         *cwd,
                         const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  if (cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, cwd);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_successful (proc))
    g_error ("%s failed:\n%s", argv[0], out);
}

void
foctet_test_store_result (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  g_assert_null (*slot);
  *slot = g_object_ref (result);
  g_main_context_wakeup (g_main_context_get_thread_default ());
}

static gboolean
wait_result_timeout_cb (gpointer user_data)
{
  g_error ("No result after %u s", GPOINTER_TO_UINT (user_data));
  return G_SOURCE_REMOVE;
}

GAsyncResult *
foctet_test_wait_result (GAsyncResult **slot,
                         guint          timeout_seconds)
{
  GMainContext *context = g_main_context_get_thread_default ();
  GSource *timeout = g_timeout_source_new_seconds (timeout_seconds);
  GAsyncResult *result;

  g_source_set_callback (timeout, wait_result_timeout_cb, GUINT_TO_POINTER (timeout_seconds), NULL);
  g_source_attach (timeout, context);
  while (*slot == NULL)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  result = *slot;
  *slot = NULL;
  return result;
}

char *
foctet_test_read_line (GDataInputStream *in,
                       guint             timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  char *line;

  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  line = g_data_input_stream_read_line_finish_utf8 (in, result, NULL, &error);
  g_assert_no_error (error);
  return line;
}

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  g_assert_nonnull (socket);
  return g_socket_connection_factory_create_connection (socket);
}

void
foctet_test_socket_pair (GSocketConnection **a,
                         GSocketConnection **b)
{
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  *a = connection_from_fd (fds[0]);
  *b = connection_from_fd (fds[1]);
}

/* What one direction of a delay line holds: chunks in order, each with
 * the time it is due; an empty chunk is the end of the stream. */
typedef struct {
  gint64 due;
  gsize len;
  guint8 data[];
} DelayChunk;

typedef struct {
  int from;
  int to;
  gint64 delay_us;
  guint64 rate;          /* bytes per second, 0 for no limit */
  gsize limit;           /* most bytes held, with a rate */
  GAsyncQueue *chunks;
  GThread *reader;
  GThread *writer;
  GMutex lock;
  GCond cond;
  gsize held;            /* bytes read and not yet written */
  gint64 line_free;      /* when the rate lets the next byte go */
} DelayDirection;

struct _FoctetTestDelayLine {
  int fds[2];   /* the line's ends of the two socketpairs */
  DelayDirection ways[2];
};

static gpointer
delay_reader (gpointer user_data)
{
  DelayDirection *way = user_data;

  for (;;)
    {
      DelayChunk *chunk = g_malloc (sizeof *chunk + 64 * 1024);
      gssize n;

      /* A line with a rate holds at most @limit, like a router's queue:
       * beyond it the sender's socket fills. */
      g_mutex_lock (&way->lock);
      while (way->limit > 0 && way->held >= way->limit)
        g_cond_wait (&way->cond, &way->lock);
      g_mutex_unlock (&way->lock);
      do
        n = read (way->from, chunk->data, 64 * 1024);
      while (n < 0 && errno == EINTR);
      chunk->len = MAX (n, 0);
      chunk->due = g_get_monotonic_time ();
      if (way->rate > 0 && n > 0)
        {
          /* Its bytes leave the line one after the other, at the rate. */
          g_mutex_lock (&way->lock);
          way->held += n;
          way->line_free = MAX (way->line_free, chunk->due) + (gint64) (n * G_USEC_PER_SEC / way->rate);
          chunk->due = way->line_free;
          g_mutex_unlock (&way->lock);
        }
      chunk->due += way->delay_us;
      g_async_queue_push (way->chunks, chunk);
      if (n <= 0)
        return NULL;
    }
}

static gpointer
delay_writer (gpointer user_data)
{
  DelayDirection *way = user_data;
  gboolean broken = FALSE;

  for (;;)
    {
      g_autofree DelayChunk *chunk = g_async_queue_pop (way->chunks);
      gint64 wait = chunk->due - g_get_monotonic_time ();

      if (chunk->len == 0)
        {
          shutdown (way->to, SHUT_WR);
          return NULL;
        }
      if (wait > 0)
        g_usleep (wait);
      /* Once the far end is gone, the rest is dropped. */
      for (gsize done = 0; !broken && done < chunk->len;)
        {
          gssize n = send (way->to, chunk->data + done, chunk->len - done, MSG_NOSIGNAL);

          if (n > 0)
            done += n;
          else if (n < 0 && errno != EINTR)
            broken = TRUE;
        }
      if (way->rate > 0)
        {
          g_mutex_lock (&way->lock);
          way->held -= chunk->len;
          g_cond_signal (&way->cond);
          g_mutex_unlock (&way->lock);
        }
    }
}

FoctetTestDelayLine *
foctet_test_delayed_socket_pair (GSocketConnection **a,
                                 GSocketConnection **b,
                                 guint              delay_ms,
                                 guint64            rate)
{
  FoctetTestDelayLine *line = g_new0 (FoctetTestDelayLine, 1);
  int pair_a[2], pair_b[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_a), ==, 0);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_b), ==, 0);
  *a = connection_from_fd (pair_a[0]);
  *b = connection_from_fd (pair_b[0]);
  line->fds[0] = pair_a[1];
  line->fds[1] = pair_b[1];
  for (guint i = 0; i < 2; i++)
    {
      DelayDirection *way = &line->ways[i];

      way->from = line->fds[i];
      way->to = line->fds[1 - i];
      way->delay_us = (gint64) delay_ms * 1000;
      way->rate = rate;
      /* A bandwidth-delay product, and a chunk. */
      way->limit = rate > 0 ? rate * delay_ms / 1000 + 64 * 1024 : 0;
      g_mutex_init (&way->lock);
      g_cond_init (&way->cond);
      way->chunks = g_async_queue_new_full (g_free);
      way->reader = g_thread_new ("delay-reader", delay_reader, way);
      way->writer = g_thread_new ("delay-writer", delay_writer, way);
    }
  return line;
}

void
foctet_test_delay_line_free (FoctetTestDelayLine *line)
{
  /* Ends the readers (and so the writers) even if an end is still open. */
  for (guint i = 0; i < 2; i++)
    shutdown (line->fds[i], SHUT_RDWR);
  for (guint i = 0; i < 2; i++)
    {
      g_thread_join (line->ways[i].reader);
      g_thread_join (line->ways[i].writer);
      g_async_queue_unref (line->ways[i].chunks);
      g_mutex_clear (&line->ways[i].lock);
      g_cond_clear (&line->ways[i].cond);
    }
  for (guint i = 0; i < 2; i++)
    close (line->fds[i]);
  g_free (line);
}

GInputStream *
foctet_test_memory_input (const guint8 *data,
                          gsize         len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);

  return g_memory_input_stream_new_from_bytes (bytes);
}

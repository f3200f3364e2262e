/* test-echo.c: see test-echo.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "test-echo.h"

static void
echo_closed_write_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  foctet_stream_close_write_finish (FOCTET_STREAM (source), result, NULL);
}

static void
echo_spliced_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(FoctetStream) stream = user_data;
  g_autoptr(GError) error = NULL;

  if (g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error) < 0)
    {
      g_test_message ("echo: %s", error->message);
      return;
    }
  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, echo_closed_write_cb, NULL);
}

void
foctet_test_echo_handler (FoctetNode       *node,
                          FoctetConnection *connection,
                          FoctetStream     *stream,
                          gpointer          user_data)
{
  g_output_stream_splice_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                G_OUTPUT_STREAM_SPLICE_NONE, G_PRIORITY_DEFAULT, NULL,
                                echo_spliced_cb, g_object_ref (stream));
}

struct _FoctetTestEcho {
  FoctetStream *stream;
  guint8 *sent;
  guint8 *received;                   /* one byte more than sent */
  gsize size;
  gsize n_received;
  gboolean reading;                   /* until the end of the echo */
  gboolean writing;                   /* until the half-close is done */
  gboolean done;
  GError *error;                      /* the first */
  guint *n_done;
};

static void echo_read (FoctetTestEcho *echo);

/* One side (reading, writing) is over; done once both are. */
static void
echo_side_done (FoctetTestEcho *echo,
                gboolean       *side,
                GError         *error)
{
  g_assert_true (*side);
  *side = FALSE;
  if (error != NULL && echo->error == NULL)
    echo->error = error;
  else
    g_clear_error (&error);
  if (!echo->reading && !echo->writing)
    {
      echo->done = TRUE;
      (*echo->n_done)++;
    }
}

static void
echo_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  FoctetTestEcho *echo = user_data;
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    echo_side_done (echo, &echo->reading, error);
  else if (n == 0)
    echo_side_done (echo, &echo->reading, NULL);
  else
    {
      echo->n_received += n;
      echo_read (echo);
    }
}

static void
echo_read (FoctetTestEcho *echo)
{
  if (echo->n_received > echo->size)
    {
      echo_side_done (echo, &echo->reading, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "too much echoed"));
      return;
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (echo->stream)),
                             echo->received + echo->n_received, echo->size + 1 - echo->n_received,
                             G_PRIORITY_DEFAULT, NULL, echo_read_cb, echo);
}

static void
echo_closed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  FoctetTestEcho *echo = user_data;
  GError *error = NULL;

  foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error);
  echo_side_done (echo, &echo->writing, error);
}

static void
echo_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  FoctetTestEcho *echo = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      echo_side_done (echo, &echo->writing, error);
      return;
    }
  /* Half-close: the echo keeps coming after our FIN. */
  foctet_stream_close_write_async (echo->stream, G_PRIORITY_DEFAULT, NULL, echo_closed_cb, echo);
}

static void
echo_opened_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  FoctetTestEcho *echo = user_data;
  GError *error = NULL;

  echo->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (echo->stream == NULL)
    {
      echo->reading = FALSE;
      echo_side_done (echo, &echo->writing, error);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (echo->stream)),
                                   echo->sent, echo->size, G_PRIORITY_DEFAULT, NULL, echo_written_cb, echo);
  echo_read (echo);
}

FoctetTestEcho *
foctet_test_echo_start (FoctetConnection *connection,
                        gsize             size,
                        guint             seed,
                        guint            *n_done)
{
  FoctetTestEcho *echo = g_new0 (FoctetTestEcho, 1);

  echo->size = size;
  echo->sent = g_malloc (size);
  echo->received = g_malloc (size + 1);
  echo->n_done = n_done;
  echo->reading = echo->writing = TRUE;
  for (gsize k = 0; k < size; k++)
    echo->sent[k] = (guint8) g_int_hash (&(guint) { seed * 7919 + (guint) k });
  foctet_connection_open_stream_async (connection, FOCTET_TEST_ECHO_PROTOCOL, NULL, echo_opened_cb, echo);
  return echo;
}

void
foctet_test_echo_check (FoctetTestEcho *echo)
{
  g_assert_true (echo->done);
  g_assert_no_error (echo->error);
  g_assert_cmpuint (echo->n_received, ==, echo->size);
  g_assert_cmpmem (echo->sent, echo->size, echo->received, echo->size);
  g_clear_object (&echo->stream);
  g_free (echo->sent);
  g_free (echo->received);
  g_free (echo);
}

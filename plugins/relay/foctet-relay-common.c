/* foctet-relay-common.c: small helpers both sides of the relay use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-common.h"

/* A timeout of @ms on @context that calls @func with @data, which it
 * does not hold; the caller owns the source. */
GSource *
relay_attach_timeout (GMainContext *context,
                      guint         ms,
                      GSourceFunc   func,
                      gpointer      data)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  return source;
}

/* Destroys *@source, if any, and clears it. */
void
relay_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* After the last message the stream lingers: what the peer still sends
 * (the rest of a request refused before it was read) is read and dropped
 * until the peer's end of stream, for LINGER_MS and LINGER_BYTES at the
 * most.  Let go at once, the stream would be reset when those bytes come
 * (a stream nobody reads any more is, as a TCP socket would be), and the
 * reset can overtake the message: the peer would see "reset", not why. */
#define LINGER_MS 2000
#define LINGER_BYTES (64 * 1024)

typedef struct {
  FoctetStream *stream;
  const char *what;
  GCancellable *cancellable;          /* the linger's; the timer cancels it */
  GSource *timer;
  gsize dropped;
  guint8 buffer[4096];
} LastMessage;

static void
last_message_free (LastMessage *last)
{
  relay_clear_source (&last->timer);
  g_object_unref (last->cancellable);
  g_object_unref (last->stream);
  g_free (last);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  LastMessage *last = user_data;

  g_cancellable_cancel (last->cancellable);
  return G_SOURCE_REMOVE;
}

static void linger_read (LastMessage *last);

static void
linger_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  LastMessage *last = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n > 0 && (last->dropped += n) < LINGER_BYTES)
    linger_read (last);
  else
    last_message_free (last);
}

static void
linger_read (LastMessage *last)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (last->stream)), last->buffer,
                             sizeof last->buffer, G_PRIORITY_DEFAULT, last->cancellable, linger_read_cb, last);
}

static void
last_message_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  LastMessage *last = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      g_debug ("Could not %s: %s", last->what, error->message);
      last_message_free (last);
      return;
    }
  foctet_stream_close_write_async (last->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  last->timer = g_timeout_source_new (LINGER_MS);
  g_source_set_callback (last->timer, linger_timeout_cb, last, NULL);
  g_source_attach (last->timer, g_main_context_get_thread_default ());
  linger_read (last);
}

/* Writes @message, the last on @stream, then half-closes the stream and
 * lingers (above); a reference on it is held until that is done.  If the
 * message cannot be sent, a debug line says "Could not @what". */
void
relay_write_last_message (FoctetStream       *stream,
                          FoctetRelayMessage *message,
                          GCancellable       *cancellable,
                          const char         *what)
{
  LastMessage *last = g_new0 (LastMessage, 1);

  last->stream = g_object_ref (stream);
  last->what = what;
  last->cancellable = g_cancellable_new ();
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), message,
                                    G_PRIORITY_DEFAULT, cancellable, last_message_written_cb, last);
}


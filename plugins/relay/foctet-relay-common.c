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

typedef struct {
  FoctetStream *stream;
  const char *what;
} LastMessage;

static void
last_message_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  LastMessage *last = user_data;
  g_autoptr(GError) error = NULL;

  if (foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    foctet_stream_close_write_async (last->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  else
    g_debug ("Could not %s: %s", last->what, error->message);
  g_object_unref (last->stream);
  g_free (last);
}

/* Writes @message, the last on @stream, then half-closes the stream; a
 * reference on it is held until that is done.  If the message cannot
 * be sent, a debug line says "Could not @what". */
void
relay_write_last_message (FoctetStream       *stream,
                          FoctetRelayMessage *message,
                          GCancellable       *cancellable,
                          const char         *what)
{
  LastMessage *last = g_new (LastMessage, 1);

  last->stream = g_object_ref (stream);
  last->what = what;
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), message,
                                    G_PRIORITY_DEFAULT, cancellable, last_message_written_cb, last);
}


/* foctet-message-io.c: one length-prefixed message read from or written
 * to a stream (see foctet-message-io.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "foctet-message-io.h"

/* The most one read asks for: memory grows with the bytes that arrived,
 * not with the length a message announces. */
#define READ_CHUNK (1024 * 1024)

typedef struct {
  const FoctetMessageFormat *format;
  gpointer parse_data;
  guint8 *buf;
  gsize allocated;
  gsize have;
  gsize asked;                          /* by the read in flight */
} ReadData;

static void
read_data_free (ReadData *data)
{
  g_free (data->buf);
  g_free (data);
}

static gsize
header_size (const FoctetMessageFormat *format)
{
  return 1 + format->length_size;
}

/* The whole message's length, once its header is in. */
static guint64
message_size (const ReadData *data)
{
  guint64 body = 0;

  for (guint i = 0; i < data->format->length_size; i++)
    body = body << 8 | data->buf[1 + i];
  return header_size (data->format) + body;
}

static void read_more (GTask *task);

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ReadData *data = g_task_get_task_data (task);
  const FoctetMessageFormat *format = data->format;
  gpointer message = NULL;
  GError *error = NULL;
  gsize n_read = 0, consumed = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n_read, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  data->have += n_read;

  if (format->parse (data->buf, data->have, &consumed, &message, &error, data->parse_data))
    {
      /* Reads ask for no more than the message needs. */
      g_assert (consumed == data->have);
      g_task_return_pointer (task, message, format->free_message);
      return;
    }
  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* read_all stops short only at the end of the stream. */
  if (n_read < data->asked)
    {
      if (data->have == 0)
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                 "The stream ended before a %s message", format->name);
      else if (data->have < header_size (format))
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                 "truncated %s %s message: the stream ended after %" G_GSIZE_FORMAT
                                 " of the %" G_GSIZE_FORMAT " header bytes",
                                 format->name, format->type_name (data->buf[0]), data->have,
                                 header_size (format));
      else
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                 "truncated %s %s message: the stream ended after %" G_GSIZE_FORMAT
                                 " of its %" G_GUINT64_FORMAT " bytes",
                                 format->name, format->type_name (data->buf[0]), data->have,
                                 message_size (data));
      return;
    }

  read_more (g_steal_pointer (&task));
}

/* Asks for exactly what the message still needs as far as is known: the
 * type, then the length, then the body, a long body in pieces.  Never
 * more, since whatever follows the message on the stream is not this
 * read's. */
static void
read_more (GTask *task)
{
  ReadData *data = g_task_get_task_data (task);
  guint64 needed;

  if (data->have < 1)
    needed = 1;
  else if (data->have < header_size (data->format))
    needed = header_size (data->format);
  else
    needed = message_size (data);
  /* The parser refused lengths over the limit. */
  g_assert (needed > data->have && needed <= header_size (data->format) + (guint64) data->format->max_body);

  data->asked = MIN (needed - data->have, READ_CHUNK);
  if (data->have + data->asked > data->allocated)
    {
      /* Doubling, so that a long body is not copied once per piece. */
      data->allocated = MIN (needed, MAX (data->have + data->asked, data->allocated * 2));
      data->buf = g_realloc (data->buf, data->allocated);
    }
  g_input_stream_read_all_async (g_task_get_source_object (task), data->buf + data->have,
                                 data->asked, g_task_get_priority (task),
                                 g_task_get_cancellable (task), read_cb, task);
}

void
foctet_message_read_async (GInputStream              *stream,
                           const FoctetMessageFormat *format,
                           gpointer                   parse_data,
                           int                        io_priority,
                           GCancellable              *cancellable,
                           GAsyncReadyCallback        callback,
                           gpointer                   user_data)
{
  GTask *task;
  ReadData *data;

  g_return_if_fail (G_IS_INPUT_STREAM (stream));
  g_return_if_fail (format != NULL && (format->length_size == 2 || format->length_size == 4));
  g_return_if_fail (format->parse != NULL && format->type_name != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (stream, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_message_read_async);
  g_task_set_priority (task, io_priority);
  data = g_new0 (ReadData, 1);
  data->format = format;
  data->parse_data = parse_data;
  data->allocated = header_size (format);
  data->buf = g_malloc (data->allocated);
  g_task_set_task_data (task, data, (GDestroyNotify) read_data_free);
  read_more (task);
}

gpointer
foctet_message_read_finish (GInputStream  *stream,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_message_read_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
foctet_message_write_async (GOutputStream       *stream,
                            GBytes              *encoded,
                            int                  io_priority,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (G_IS_OUTPUT_STREAM (stream));
  g_return_if_fail (encoded != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (stream, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_message_write_async);
  g_task_set_priority (task, io_priority);
  g_task_set_task_data (task, g_bytes_ref (encoded), (GDestroyNotify) g_bytes_unref);
  g_output_stream_write_all_async (stream, g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded),
                                   io_priority, cancellable, write_cb, task);
}

gboolean
foctet_message_write_finish (GOutputStream  *stream,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_message_write_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

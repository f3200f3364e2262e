/* foctet-stream.c: a stream of a FoctetConnection, and the stream header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-stream-private.h"
#include "foctet-error.h"

/**
 * FoctetStream:
 *
 * One bidirectional stream of a [class@Foctet.Connection]: a #GIOStream whose
 * input and output streams are pollable.  Every stream starts with the
 * header naming its protocol (PROTOCOL §5); [class@Foctet.Connection] writes it when
 * it opens a stream and [class@Foctet.Node] reads it for incoming ones.
 *
 * Besides closing (both directions), a stream can be half-closed with
 * [method@Foctet.Stream.close_write_async] and aborted with [method@Foctet.Stream.reset].
 */

typedef struct {
  char *protocol;
  guint64 id;
} FoctetStreamPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (FoctetStream, foctet_stream, G_TYPE_IO_STREAM)

enum {
  PROP_0,
  PROP_PROTOCOL,
  PROP_ID,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
foctet_stream_finalize (GObject *object)
{
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (FOCTET_STREAM (object));

  g_free (priv->protocol);

  G_OBJECT_CLASS (foctet_stream_parent_class)->finalize (object);
}

static void
foctet_stream_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (FOCTET_STREAM (object));

  switch (prop_id)
    {
    case PROP_PROTOCOL:
      g_value_set_string (value, priv->protocol);
      break;
    case PROP_ID:
      g_value_set_uint64 (value, priv->id);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_stream_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  FoctetStream *self = FOCTET_STREAM (object);
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_PROTOCOL:
      foctet_stream_set_protocol (self, g_value_get_string (value));
      break;
    case PROP_ID:
      priv->id = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_stream_real_close_write_async (FoctetStream        *self,
                                      int                  io_priority,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_task_report_new_error (self, callback, user_data,
                           foctet_stream_real_close_write_async,
                           G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "%s does not support half-close",
                           G_OBJECT_TYPE_NAME (self));
}

static gboolean
foctet_stream_real_close_write_finish (FoctetStream  *self,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
foctet_stream_real_reset (FoctetStream *self,
                          guint32       error_code)
{
  /* Without a way to signal the code, closing both directions is the
   * closest a subclass without reset support can come. */
  g_io_stream_close (G_IO_STREAM (self), NULL, NULL);
}

static void
foctet_stream_class_init (FoctetStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = foctet_stream_finalize;
  object_class->get_property = foctet_stream_get_property;
  object_class->set_property = foctet_stream_set_property;

  klass->close_write_async = foctet_stream_real_close_write_async;
  klass->close_write_finish = foctet_stream_real_close_write_finish;
  klass->reset = foctet_stream_real_reset;

  /**
   * FoctetStream:protocol:
   *
   * The protocol named in the stream's header, once written or read.
   */
  properties[PROP_PROTOCOL] =
    g_param_spec_string ("protocol", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetStream:id:
   *
   * The transport's identifier of the stream (QUIC or yamux stream id).
   */
  properties[PROP_ID] =
    g_param_spec_uint64 ("id", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_stream_init (FoctetStream *self)
{
}

/**
 * foctet_stream_get_protocol:
 * @self: a [class@Foctet.Stream]
 *
 * Gets the protocol the stream's header names, the [property@Foctet.Stream:protocol]
 * property.  Streams from [method@Foctet.Connection.open_stream_finish] and those
 * a [class@Foctet.Node] hands to a protocol handler have it set.
 *
 * Returns: (nullable): the stream's protocol, owned by @self, or %NULL
 *   before its header was written or read
 */
const char *
foctet_stream_get_protocol (FoctetStream *self)
{
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_STREAM (self), NULL);

  return priv->protocol;
}

/**
 * foctet_stream_set_protocol:
 * @self: a [class@Foctet.Stream]
 * @protocol: (nullable): the protocol name
 *
 * Records the stream's protocol without writing anything.
 */
void
foctet_stream_set_protocol (FoctetStream *self,
                            const char   *protocol)
{
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (self);

  g_return_if_fail (FOCTET_IS_STREAM (self));

  if (g_strcmp0 (priv->protocol, protocol) == 0)
    return;
  g_free (priv->protocol);
  priv->protocol = g_strdup (protocol);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROTOCOL]);
}

/**
 * foctet_stream_get_id:
 * @self: a [class@Foctet.Stream]
 *
 * Gets the identifier the transport or muxer gave the stream (the QUIC or
 * yamux stream id), unique within its connection.  Useful in logs; it
 * means nothing to the peer's application.
 *
 * Returns: the transport's identifier of the stream
 */
guint64
foctet_stream_get_id (FoctetStream *self)
{
  FoctetStreamPrivate *priv = foctet_stream_get_instance_private (self);

  g_return_val_if_fail (FOCTET_IS_STREAM (self), 0);

  return priv->id;
}

/**
 * foctet_stream_close_write_async:
 * @self: a [class@Foctet.Stream]
 * @io_priority: the I/O priority
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Half-closes the stream: the peer reads end-of-stream after the bytes
 * written so far, while this side can still read.
 */
void
foctet_stream_close_write_async (FoctetStream        *self,
                                 int                  io_priority,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (FOCTET_IS_STREAM (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  FOCTET_STREAM_GET_CLASS (self)->close_write_async (self, io_priority, cancellable,
                                                     callback, user_data);
}

/**
 * foctet_stream_close_write_finish:
 * @self: a [class@Foctet.Stream]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Stream.close_write_async].  It fails with
 * %G_IO_ERROR_NOT_SUPPORTED for a stream class without half-close, and
 * with the stream's error when it was already reset or its connection
 * closed.
 *
 * Returns: %TRUE once end-of-stream was handed to the transport, %FALSE
 *   with @error set otherwise
 */
gboolean
foctet_stream_close_write_finish (FoctetStream  *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (FOCTET_IS_STREAM (self), FALSE);

  return FOCTET_STREAM_GET_CLASS (self)->close_write_finish (self, result, error);
}

/**
 * foctet_stream_discard:
 * @stream: (type Foctet.Stream) (transfer full): a stream nobody took
 *
 * Resets @stream (code %FOCTET_CLOSE_CODE_NO_ERROR) and drops the
 * reference: the #GDestroyNotify of a task that returns a stream
 * (`g_task_return_pointer (task, stream, foctet_stream_discard)`), so that
 * a stream opened for a caller who cancelled in the meantime does not
 * stay open on both sides.
 */
void
foctet_stream_discard (gpointer stream)
{
  g_return_if_fail (FOCTET_IS_STREAM (stream));

  foctet_stream_reset (stream, FOCTET_CLOSE_CODE_NO_ERROR);
  g_object_unref (stream);
}

/**
 * foctet_stream_reset:
 * @self: a [class@Foctet.Stream]
 * @error_code: a [enum@Foctet.CloseCode] or an application code
 *
 * Aborts both directions at once.  Pending and later reads and writes on
 * either side fail with %FOCTET_ERROR_STREAM_RESET.
 */
void
foctet_stream_reset (FoctetStream *self,
                     guint32       error_code)
{
  g_return_if_fail (FOCTET_IS_STREAM (self));

  FOCTET_STREAM_GET_CLASS (self)->reset (self, error_code);
}

void
foctet_stream_explain_unanswered_reset (FoctetStream  *stream,
                                        GError       **error)
{
  const char *protocol = stream != NULL ? foctet_stream_get_protocol (stream) : NULL;

  if (error == NULL || !g_error_matches (*error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET) || protocol == NULL)
    return;
  g_prefix_error (error, "The peer does not serve %s, or reset the stream before answering: ", protocol);
}

gboolean
foctet_protocol_name_validate (const char  *protocol,
                               GError     **error)
{
  gsize len = protocol != NULL ? strlen (protocol) : 0;

  if (len == 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "Protocol name is empty");
      return FALSE;
    }
  if (len > FOCTET_PROTOCOL_NAME_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Protocol name is %" G_GSIZE_FORMAT " bytes long; the most is %d",
                   len, FOCTET_PROTOCOL_NAME_MAX);
      return FALSE;
    }
  if (!g_utf8_validate (protocol, len, NULL))
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "Protocol name is not valid UTF-8");
      return FALSE;
    }
  return TRUE;
}

int
foctet_stream_header_parse (const guint8  *data,
                            gsize          len,
                            char         **protocol,
                            gsize         *consumed,
                            GError       **error)
{
  gsize name_len;

  *protocol = NULL;
  *consumed = 1;
  if (len < 1)
    return 0;

  name_len = data[0];
  *consumed = 1 + name_len;
  if (name_len == 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                           "Stream header names an empty protocol");
      return -1;
    }
  if (len < 1 + name_len)
    return 0;

  if (memchr (data + 1, '\0', name_len) != NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                           "Stream header protocol name contains a NUL byte");
      return -1;
    }
  if (!g_utf8_validate ((const char *) data + 1, name_len, NULL))
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                           "Stream header protocol name is not valid UTF-8");
      return -1;
    }

  *protocol = g_strndup ((const char *) data + 1, name_len);
  return 1;
}

/* Header writing and reading: two small async helpers over the stream's
 * own input and output streams, so nothing past the header is consumed. */

typedef struct {
  guint8 buf[1 + FOCTET_PROTOCOL_NAME_MAX];
  gsize len;
  char *protocol;
} HeaderData;

static void
header_data_free (HeaderData *data)
{
  g_free (data->protocol);
  g_free (data);
}

static void
write_header_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HeaderData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  foctet_stream_set_protocol (g_task_get_source_object (task), data->protocol);
  g_task_return_boolean (task, TRUE);
}

/**
 * foctet_stream_write_header_async:
 * @self: a [class@Foctet.Stream]
 * @protocol: the protocol name, 1 to 255 bytes of UTF-8
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Writes the stream header naming @protocol.  [method@Foctet.Connection.open_stream_async]
 * does this for you; transports and tests may call it directly.
 */
void
foctet_stream_write_header_async (FoctetStream        *self,
                                  const char          *protocol,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  HeaderData *data;
  gsize len;

  g_return_if_fail (FOCTET_IS_STREAM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_stream_write_header_async);

  if (!foctet_protocol_name_validate (protocol, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  len = strlen (protocol);
  data = g_new0 (HeaderData, 1);
  data->buf[0] = (guint8) len;
  memcpy (data->buf + 1, protocol, len);
  data->len = 1 + len;
  data->protocol = g_strdup (protocol);
  g_task_set_task_data (task, data, (GDestroyNotify) header_data_free);

  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self)),
                                   data->buf, data->len, G_PRIORITY_DEFAULT,
                                   cancellable, write_header_cb, g_steal_pointer (&task));
}

/**
 * foctet_stream_write_header_finish:
 * @self: a [class@Foctet.Stream]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Stream.write_header_async].  It fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT for a bad protocol name, or with the
 * stream's write error.  On success [property@Foctet.Stream:protocol] is set.
 *
 * Returns: %TRUE when the header was written, %FALSE with @error set
 *   otherwise
 */
gboolean
foctet_stream_write_header_finish (FoctetStream  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
read_header_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HeaderData *data = g_task_get_task_data (task);
  GError *error = NULL;
  gsize n_read = 0, needed = 0;
  char *protocol = NULL;
  int ret;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n_read, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  data->len += n_read;

  ret = foctet_stream_header_parse (data->buf, data->len, &protocol, &needed, &error);
  if (ret < 0)
    {
      g_task_return_error (task, error);
      return;
    }
  if (ret > 0)
    {
      foctet_stream_set_protocol (g_task_get_source_object (task), protocol);
      data->protocol = protocol;
      g_task_return_pointer (task, data->protocol, NULL);
      return;
    }
  if (n_read == 0 || needed <= data->len)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "Stream ended after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                               " stream header bytes", data->len, needed);
      return;
    }

  g_input_stream_read_all_async (G_INPUT_STREAM (source), data->buf + data->len,
                                 needed - data->len, G_PRIORITY_DEFAULT,
                                 g_task_get_cancellable (task), read_header_cb,
                                 g_object_ref (task));
}

/**
 * foctet_stream_read_header_async:
 * @self: a [class@Foctet.Stream]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Reads the stream header the opener wrote, and nothing past it.
 * [class@Foctet.Node] does this for incoming streams before it hands them to a
 * protocol handler.
 */
void
foctet_stream_read_header_async (FoctetStream        *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (FOCTET_IS_STREAM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_stream_read_header_async);
  g_task_set_task_data (task, g_new0 (HeaderData, 1), (GDestroyNotify) header_data_free);

  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (self)),
                                 ((HeaderData *) g_task_get_task_data (task))->buf, 1,
                                 G_PRIORITY_DEFAULT, cancellable, read_header_cb, task);
}

/**
 * foctet_stream_read_header_finish:
 * @self: a [class@Foctet.Stream]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Stream.read_header_async].  It fails with
 * %FOCTET_ERROR_PROTOCOL_ERROR when the header is malformed or the stream
 * ends inside it, or with the stream's read error.
 *
 * Returns: (transfer none): the protocol named by the header, owned by
 *   @self and also available as [property@Foctet.Stream:protocol] from now on, or
 *   %NULL with @error set
 */
const char *
foctet_stream_read_header_finish (FoctetStream  *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if (!g_task_propagate_pointer (G_TASK (result), error))
    return NULL;
  return foctet_stream_get_protocol (self);
}

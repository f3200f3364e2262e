/* foctet-transfer-receiver.c: the receiving side of foctet/transfer/1
 * (docs/protocol.md, "File transfer").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-transfer-receiver-private.h"

/**
 * FoctetTransferReceiver:
 *
 * Fetches what a transfer ticket offers into an output directory.
 *
 * [method@Foctet.TransferReceiver.receive_async] dials the ticket's node,
 * presents the secret, checks the manifest (every path again, whatever
 * the sender claims), creates the directories and fetches the files over
 * the control stream and a few data streams, many requests in flight on
 * each.  Each file is written to `<path>.foctet-part`, hashed as it
 * arrives, and renamed to `<path>` once its BLAKE3 hash matches — never over
 * an existing file unless %FOCTET_TRANSFER_RECEIVE_FORCE is given — so a
 * final name only ever holds a complete, verified file.  (A small file
 * fetched in one piece is written unnamed, with O_TMPFILE where the file
 * system has it, and linked to `<path>` once verified, just as safely.)  Part files left
 * by an interrupted run are re-hashed and only the rest is fetched.
 *
 * Paths are resolved below the output directory one component at a time
 * with `openat (O_NOFOLLOW)`: a symbolic link inside it never redirects a
 * write, whoever made it.  Directories get their modes at the end; files
 * get theirs masked by the umask, never a set-ID bit.
 *
 * Progress shows in the read-only properties, with notifications:
 * [property@Foctet.TransferReceiver:bytes-done], [property@Foctet.TransferReceiver:bytes-total],
 * [property@Foctet.TransferReceiver:files-done], [property@Foctet.TransferReceiver:current-file]
 * and [property@Foctet.TransferReceiver:bytes-fetched].  One receive at a time.
 *
 * [property@Foctet.TransferReceiver:transport] makes it dial the sender
 * with one transport only, as `foctet-shell receive --transport` does.
 */

enum {
  PROP_0,
  PROP_NODE,
  PROP_TRANSPORT,
  PROP_BYTES_TOTAL,
  PROP_BYTES_DONE,
  PROP_BYTES_FETCHED,
  PROP_FILES_TOTAL,
  PROP_FILES_DONE,
  PROP_CURRENT_FILE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (FoctetTransferReceiver, foctet_transfer_receiver, G_TYPE_OBJECT)

/* Progress */

/* A new receive: nothing known yet. */
void
receiver_progress_reset (FoctetTransferReceiver *self)
{
  g_object_freeze_notify (G_OBJECT (self));
  self->bytes_total = self->bytes_done = self->bytes_fetched = 0;
  self->files_total = self->files_done = 0;
  for (guint i = PROP_BYTES_TOTAL; i <= PROP_FILES_DONE; i++)
    g_object_notify_by_pspec (G_OBJECT (self), properties[i]);
  g_object_thaw_notify (G_OBJECT (self));
}

/* The manifest is in: what is offered. */
void
receiver_progress_set_totals (FoctetTransferReceiver *self,
                              guint64                 bytes_total,
                              guint                   files_total)
{
  g_object_freeze_notify (G_OBJECT (self));
  self->bytes_total = bytes_total;
  self->files_total = files_total;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_TOTAL]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_TOTAL]);
  g_object_thaw_notify (G_OBJECT (self));
}

/* Planned: what was found in the output directory already. */
void
receiver_progress_set_present (FoctetTransferReceiver *self,
                               guint                   files_present,
                               guint64                 bytes_present)
{
  g_object_freeze_notify (G_OBJECT (self));
  self->files_done = files_present;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_DONE]);
  receiver_progress_add (self, bytes_present, 0);
  g_object_thaw_notify (G_OBJECT (self));
}

void
receiver_progress_add (FoctetTransferReceiver *self,
                       gint64                  done,
                       guint64                 fetched)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (done != 0)
    {
      self->bytes_done += done;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_DONE]);
    }
  if (fetched != 0)
    {
      self->bytes_fetched += fetched;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_FETCHED]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
receiver_progress_set_current (FoctetTransferReceiver *self,
                               const char             *path)
{
  if (g_strcmp0 (self->current_file, path) == 0)
    return;
  g_free (self->current_file);
  self->current_file = g_strdup (path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_FILE]);
}

void
receiver_progress_file_done (FoctetTransferReceiver *self)
{
  self->files_done++;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILES_DONE]);
}

/**
 * foctet_transfer_receiver_receive_async:
 * @self: a [class@Foctet.TransferReceiver]
 * @ticket: a sender's ticket, with its transfer offer
 * @output_dir: where to put what is offered; created if missing
 * @flags: [flags@Foctet.TransferReceiveFlags]
 * @cancellable: (nullable): a #GCancellable; cancelling leaves the part
 *   files for a later run to resume
 * @callback: (scope async): called when everything is fetched and
 *   verified, or on failure
 * @user_data: data for @callback
 *
 * Fetches everything @ticket offers into @output_dir: dials the node
 * (over any transport the ticket names, a relay included), creates the
 * directories, fetches and verifies the files, confirms to the sender.
 * Files already there and identical are kept without fetching them; part
 * files of an earlier run are resumed.
 *
 * Errors: %FOCTET_ERROR_INVALID_TICKET for a ticket without an offer, or
 * whose secret the sender refused; %FOCTET_ERROR_LIMIT_REACHED when the
 * sender is busy with another receiver; %G_IO_ERROR_EXISTS for a
 * different file in the way (without %FOCTET_TRANSFER_RECEIVE_FORCE);
 * %FOCTET_ERROR_VERIFICATION_FAILED when a file does not match its
 * hash even fetched whole (it is left as its part file, and no file of
 * that name is made); %G_IO_ERROR_NO_SPACE when the files do not fit (said
 * before fetching anything when the free space shows it) or a write runs
 * out of space; the #G_IO_ERROR of another failed write, naming the file;
 * %FOCTET_ERROR_PROTOCOL_ERROR when the sender breaks the protocol; the
 * dial's errors.  No final file is ever left half-written.
 */
void
foctet_transfer_receiver_receive_async (FoctetTransferReceiver     *self,
                                        FoctetTicket               *ticket,
                                        GFile                      *output_dir,
                                        FoctetTransferReceiveFlags  flags,
                                        GCancellable               *cancellable,
                                        GAsyncReadyCallback         callback,
                                        gpointer                    user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) secret = NULL;
  Receive *receive;

  g_return_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));
  g_return_if_fail (G_IS_FILE (output_dir));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_receiver_receive_async);
  secret = foctet_transfer_ticket_get_offer (ticket, &error);
  if (secret == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  receive = receive_begin (self, task, secret, output_dir, flags, cancellable);
  if (receive == NULL)
    return;
  receive->ticket = g_object_ref (ticket);
  foctet_node_dial_async (self->node, ticket, self->transport, receive->cancellable, receive_dialed_cb, receive);
}

/* Pushes: a sender asks this node to fetch its offer. */

typedef struct {
  FoctetConnection *connection;
  FoctetStream *stream;
  GFile *output_dir;
  FoctetTransferReceiveFlags flags;
  GBytes *secret;                       /* the offer's, once read */
} Pushed;

static void
pushed_free (Pushed *pushed)
{
  g_clear_object (&pushed->connection);
  g_clear_object (&pushed->stream);
  g_clear_object (&pushed->output_dir);
  g_clear_pointer (&pushed->secret, g_bytes_unref);
  g_free (pushed);
}

/* Answers a push with ERROR, then ends the stream. */
static void
push_refuse (FoctetStream *stream,
             guint16       code,
             const char   *text)
{
  g_autoptr(FoctetTransferMessage) refusal = foctet_transfer_message_new_error (code, text);
  g_autoptr(GBytes) bytes = foctet_transfer_message_encode (refusal);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (stream));

  /* A few bytes on a fresh stream: within any window. */
  g_output_stream_write_all (out, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL, NULL, NULL);
  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

/* Takes the push of @task on: this side becomes an ordinary receiver on
 * the pusher's connection. */
static void
pushed_accept (GTask *task)
{
  FoctetTransferReceiver *self = g_task_get_source_object (task);
  Pushed *pushed = g_task_get_task_data (task);
  Receive *receive;

  receive = receive_begin (self, task, pushed->secret, pushed->output_dir, pushed->flags,
                           g_task_get_cancellable (task));
  if (receive == NULL)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR, "cannot receive now");
      return;
    }
  /* Accepted: the push stream ends without a word. */
  foctet_stream_close_write_async (pushed->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  receive->connection = g_object_ref (pushed->connection);
  g_debug ("Transfer: accepted a push over %s", foctet_connection_get_transport_name (receive->connection));
  foctet_connection_open_stream_async (receive->connection, FOCTET_PROTOCOL_TRANSFER, receive->cancellable,
                                       receive_control_opened_cb, receive);
}

/* Whether the push in progress came from the node of @connection over
 * another connection: that node was killed and started anew, or its path
 * broke, before this side noticed the old connection is dead (over QUIC
 * that takes the idle timeout). */
static gboolean
push_came_back (Receive          *receive,
                FoctetConnection *connection)
{
  return receive->ticket == NULL && receive->connection != NULL && receive->connection != connection &&
         foctet_node_id_equal (foctet_connection_get_peer_id (receive->connection),
                               foctet_connection_get_peer_id (connection));
}

/* Called when a receive has ended: a push waiting for it starts. */
void
receiver_start_waiting_push (FoctetTransferReceiver *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->waiting_push);

  if (task != NULL)
    pushed_accept (task);
}

static void
pushed_offer_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetTransferReceiver *self = g_task_get_source_object (task);
  Pushed *pushed = g_task_get_task_data (task);
  g_autoptr(FoctetTransferMessage) offer = NULL;
  GError *error = NULL;

  offer = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (offer == NULL)
    {
      g_prefix_error (&error, "Reading the offer of a push: ");
      foctet_stream_reset (pushed->stream, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      g_task_return_error (task, error);
      return;
    }
  if (offer->type != FOCTET_TRANSFER_MESSAGE_HELLO)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, "a push starts with HELLO");
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "A push started with %s, not HELLO",
                               foctet_transfer_message_type_to_string (offer->type));
      return;
    }
  pushed->secret = g_bytes_ref (offer->secret);
  if (self->receive != NULL && push_came_back (self->receive, pushed->connection))
    {
      g_autoptr(GTask) earlier = g_steal_pointer (&self->waiting_push);
      FoctetConnection *old = g_object_ref (self->receive->connection);

      /* The new push starts once the old one has let go of its files
       * (receiver_start_waiting_push ()); closing its connection ends
       * whatever it has in flight. */
      if (earlier != NULL)
        {
          Pushed *superseded = g_task_get_task_data (earlier);

          push_refuse (superseded->stream, FOCTET_TRANSFER_ERROR_CODE_BUSY, "replaced by a newer push");
          g_task_return_new_error (earlier, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                   "A push was replaced by a newer one from the same node");
        }
      self->waiting_push = g_steal_pointer (&task);
      g_debug ("Transfer: the pushing node is back on a new connection; dropping the old one");
      receive_fail (self->receive, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                                        "The pushing node came back on a new connection"));
      foctet_connection_close_async (old, FOCTET_CLOSE_CODE_GOING_AWAY,
                                     "the same node pushed again on a new connection", NULL, NULL, NULL);
      g_object_unref (old);
      return;
    }
  if (self->receive != NULL || self->waiting_push != NULL)
    {
      push_refuse (pushed->stream, FOCTET_TRANSFER_ERROR_CODE_BUSY, "busy with another transfer");
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                               "A push came while another transfer was in progress; refused");
      return;
    }
  pushed_accept (task);
}

/**
 * foctet_transfer_receiver_receive_pushed_async:
 * @self: a [class@Foctet.TransferReceiver]
 * @connection: the connection the push came on
 * @stream: the `foctet/transfer/push/1` stream (see
 *   [const@Foctet.PROTOCOL_TRANSFER_PUSH]), as a protocol handler gets it
 * @output_dir: where to put what is offered; created if missing
 * @flags: [flags@Foctet.TransferReceiveFlags]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when everything is fetched and
 *   verified, or on failure
 * @user_data: data for @callback
 *
 * Accepts a push ([method@Foctet.TransferSender.push_async] on the other side):
 * reads the offer from @stream and fetches it over @connection exactly as
 * [method@Foctet.TransferReceiver.receive_async] fetches a ticket's.  A push
 * arriving while this receiver is busy is refused (the pusher hears
 * "busy"), with %FOCTET_ERROR_LIMIT_REACHED here — unless it comes from
 * the node whose push is in progress, over a new connection: that node
 * was restarted, or its path broke, before this side noticed.  The new
 * push then replaces the old one, whose connection is closed and whose
 * receive fails with %FOCTET_ERROR_CONNECTION_CLOSED, and resumes from its
 * part files.  Finish with
 * [method@Foctet.TransferReceiver.receive_finish].
 */
void
foctet_transfer_receiver_receive_pushed_async (FoctetTransferReceiver     *self,
                                               FoctetConnection           *connection,
                                               FoctetStream               *stream,
                                               GFile                      *output_dir,
                                               FoctetTransferReceiveFlags  flags,
                                               GCancellable               *cancellable,
                                               GAsyncReadyCallback         callback,
                                               gpointer                    user_data)
{
  g_autoptr(GTask) task = NULL;
  Pushed *pushed;

  g_return_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self));
  g_return_if_fail (FOCTET_IS_CONNECTION (connection));
  g_return_if_fail (FOCTET_IS_STREAM (stream));
  g_return_if_fail (G_IS_FILE (output_dir));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_receiver_receive_async);
  pushed = g_new0 (Pushed, 1);
  pushed->connection = g_object_ref (connection);
  pushed->stream = g_object_ref (stream);
  pushed->output_dir = g_object_ref (output_dir);
  pushed->flags = flags;
  g_task_set_task_data (task, pushed, (GDestroyNotify) pushed_free);
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), G_PRIORITY_DEFAULT,
                                      cancellable, pushed_offer_cb, g_steal_pointer (&task));
}

/**
 * foctet_transfer_receiver_receive_finish:
 * @self: a [class@Foctet.TransferReceiver]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.TransferReceiver.receive_async] or
 * [method@Foctet.TransferReceiver.receive_pushed_async].  The errors are those
 * they list; a receive of a ticket started while another is in progress
 * fails with %G_IO_ERROR_PENDING, and a cancelled one with
 * %G_IO_ERROR_CANCELLED, leaving its part files for a later run to resume.
 *
 * Returns: %TRUE if everything offered is in the output directory,
 *   verified; %FALSE with @error set otherwise
 */
gboolean
foctet_transfer_receiver_receive_finish (FoctetTransferReceiver  *self,
                                         GAsyncResult            *result,
                                         GError                 **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_transfer_receiver_receive_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject */

static void
foctet_transfer_receiver_dispose (GObject *object)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  g_clear_object (&self->node);

  G_OBJECT_CLASS (foctet_transfer_receiver_parent_class)->dispose (object);
}

static void
foctet_transfer_receiver_finalize (GObject *object)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  g_free (self->current_file);
  g_free (self->transport);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (foctet_transfer_receiver_parent_class)->finalize (object);
}

static void
foctet_transfer_receiver_get_property (GObject    *object,
                                       guint       prop_id,
                                       GValue     *value,
                                       GParamSpec *pspec)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    case PROP_TRANSPORT:
      g_value_set_string (value, self->transport);
      break;
    case PROP_BYTES_TOTAL:
      g_value_set_uint64 (value, self->bytes_total);
      break;
    case PROP_BYTES_DONE:
      g_value_set_uint64 (value, self->bytes_done);
      break;
    case PROP_BYTES_FETCHED:
      g_value_set_uint64 (value, self->bytes_fetched);
      break;
    case PROP_FILES_TOTAL:
      g_value_set_uint (value, self->files_total);
      break;
    case PROP_FILES_DONE:
      g_value_set_uint (value, self->files_done);
      break;
    case PROP_CURRENT_FILE:
      g_value_set_string (value, self->current_file);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_receiver_set_property (GObject      *object,
                                       guint         prop_id,
                                       const GValue *value,
                                       GParamSpec   *pspec)
{
  FoctetTransferReceiver *self = FOCTET_TRANSFER_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    case PROP_TRANSPORT:
      foctet_transfer_receiver_set_transport (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_receiver_class_init (FoctetTransferReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = foctet_transfer_receiver_dispose;
  object_class->finalize = foctet_transfer_receiver_finalize;
  object_class->get_property = foctet_transfer_receiver_get_property;
  object_class->set_property = foctet_transfer_receiver_set_property;

  /**
   * FoctetTransferReceiver:node:
   *
   * The node that dials the sender.
   */
  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, FOCTET_TYPE_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:transport:
   *
   * The name of the only transport a receive dials the sender with
   * ("quic", "tls", "relay", or a third party's), or %NULL (the default)
   * to race the ticket's paths as [method@Foctet.Node.dial_async] does.
   * A receive that cannot dial with it fails with the dial's error.
   * It applies to receives started after it is set; pushes
   * ([method@Foctet.TransferReceiver.receive_pushed_async]) come on a
   * connection the sender made and ignore it.
   */
  properties[PROP_TRANSPORT] =
    g_param_spec_string ("transport", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-total:
   *
   * The size of everything offered, once the manifest is in.
   */
  properties[PROP_BYTES_TOTAL] =
    g_param_spec_uint64 ("bytes-total", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-done:
   *
   * How much of [property@Foctet.TransferReceiver:bytes-total] is in the output
   * directory: found there (identical files, part files of an earlier
   * run) or fetched.
   */
  properties[PROP_BYTES_DONE] =
    g_param_spec_uint64 ("bytes-done", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:bytes-fetched:
   *
   * File bytes received from the sender in this receive.
   */
  properties[PROP_BYTES_FETCHED] =
    g_param_spec_uint64 ("bytes-fetched", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:files-total:
   *
   * How many files are offered (directories not counted).
   */
  properties[PROP_FILES_TOTAL] =
    g_param_spec_uint ("files-total", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:files-done:
   *
   * How many files are in place and verified.
   */
  properties[PROP_FILES_DONE] =
    g_param_spec_uint ("files-done", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetTransferReceiver:current-file:
   *
   * The path (relative to the output directory) of the file whose bytes
   * arrived last, or %NULL.
   */
  properties[PROP_CURRENT_FILE] =
    g_param_spec_string ("current-file", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_transfer_receiver_init (FoctetTransferReceiver *self)
{
  self->context = g_main_context_ref_thread_default ();
}

/**
 * foctet_transfer_receiver_get_transport:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets [property@Foctet.TransferReceiver:transport].
 *
 * Returns: (nullable): the transport receives dial with, or %NULL for
 *   any
 */
const char *
foctet_transfer_receiver_get_transport (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), NULL);

  return self->transport;
}

/**
 * foctet_transfer_receiver_set_transport:
 * @self: a [class@Foctet.TransferReceiver]
 * @transport: (nullable): a transport's name, or %NULL for any
 *
 * Sets [property@Foctet.TransferReceiver:transport]: the receives
 * started from now on dial the sender with @transport only.
 */
void
foctet_transfer_receiver_set_transport (FoctetTransferReceiver *self,
                                        const char             *transport)
{
  g_return_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self));

  if (g_strcmp0 (self->transport, transport) == 0)
    return;
  g_free (self->transport);
  self->transport = g_strdup (transport);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TRANSPORT]);
}

/**
 * foctet_transfer_ticket_check_offer:
 * @ticket: a ticket, as given to the receiver
 * @error: return location for a #GError
 *
 * Checks, without dialing anything, that @ticket offers files: that it
 * carries a transfer offer (application data of type 0x80) that is
 * exactly a secret.  A ticket without one (such as `foctet-shell
 * serve`'s), or with a malformed one, fails with
 * %FOCTET_ERROR_INVALID_TICKET saying which, as
 * [method@Foctet.TransferReceiver.receive_async] would; an application
 * can tell its user before starting.
 *
 * Returns: %TRUE if [method@Foctet.TransferReceiver.receive_async] may be
 *   given @ticket
 */
gboolean
foctet_transfer_ticket_check_offer (FoctetTicket  *ticket,
                                    GError       **error)
{
  g_autoptr(GBytes) secret = NULL;

  g_return_val_if_fail (FOCTET_IS_TICKET (ticket), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  secret = foctet_transfer_ticket_get_offer (ticket, error);
  return secret != NULL;
}

/**
 * foctet_transfer_receiver_new:
 * @node: the node to dial senders from
 *
 * Creates a receiver that fetches transfers through @node, which it keeps
 * a reference to.  The receiver runs on the #GMainContext that is
 * thread-default now.
 *
 * Returns: (transfer full): a new receiver
 */
FoctetTransferReceiver *
foctet_transfer_receiver_new (FoctetNode *node)
{
  g_return_val_if_fail (FOCTET_IS_NODE (node), NULL);

  return g_object_new (FOCTET_TYPE_TRANSFER_RECEIVER, "node", node, NULL);
}

/**
 * foctet_transfer_receiver_get_node:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets the node the receiver dials senders from, the
 * [property@Foctet.TransferReceiver:node] property.
 *
 * Returns: (transfer none): the node, owned by @self
 */
FoctetNode *
foctet_transfer_receiver_get_node (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), NULL);

  return self->node;
}

/**
 * foctet_transfer_receiver_get_bytes_total:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets the size in bytes of everything the current (or last) receive
 * offers; 0 until its manifest is in.
 *
 * Returns: the value of [property@Foctet.TransferReceiver:bytes-total]
 */
guint64
foctet_transfer_receiver_get_bytes_total (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_total;
}

/**
 * foctet_transfer_receiver_get_bytes_done:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets how many of the offered bytes are in the output directory, found
 * there already or fetched; it reaches
 * [method@Foctet.TransferReceiver.get_bytes_total] when the receive succeeds.
 *
 * Returns: the value of [property@Foctet.TransferReceiver:bytes-done]
 */
guint64
foctet_transfer_receiver_get_bytes_done (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_done;
}

/**
 * foctet_transfer_receiver_get_bytes_fetched:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets how many file bytes the current (or last) receive got from the
 * sender.  Files found in the output directory do not count, so this
 * can be less than [method@Foctet.TransferReceiver.get_bytes_done].
 *
 * Returns: the value of [property@Foctet.TransferReceiver:bytes-fetched]
 */
guint64
foctet_transfer_receiver_get_bytes_fetched (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->bytes_fetched;
}

/**
 * foctet_transfer_receiver_get_files_total:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets how many files the current (or last) receive offers, directories
 * not counted; 0 until its manifest is in.
 *
 * Returns: the value of [property@Foctet.TransferReceiver:files-total]
 */
guint
foctet_transfer_receiver_get_files_total (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->files_total;
}

/**
 * foctet_transfer_receiver_get_files_done:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets how many of the offered files are in place under their final
 * names and verified, those found there already included.
 *
 * Returns: the value of [property@Foctet.TransferReceiver:files-done]
 */
guint
foctet_transfer_receiver_get_files_done (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), 0);

  return self->files_done;
}

/**
 * foctet_transfer_receiver_dup_current_file:
 * @self: a [class@Foctet.TransferReceiver]
 *
 * Gets the path, relative to the output directory, of the file whose
 * bytes arrived last.  It is a copy, since the property changes as the
 * receive goes on.
 *
 * Returns: (transfer full) (nullable): the value of
 *   [property@Foctet.TransferReceiver:current-file], or %NULL before any file's
 *   bytes arrived; free with g_free()
 */
char *
foctet_transfer_receiver_dup_current_file (FoctetTransferReceiver *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_RECEIVER (self), NULL);

  return g_strdup (self->current_file);
}

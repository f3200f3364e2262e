/* foctet-transfer-sender.c: the sending side of foctet/transfer/1
 * (docs/protocol.md, "File transfer").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-transfer-sender-private.h"

/**
 * FoctetTransferSender:
 *
 * Offers files and directories to one receiver over foctet/transfer/1.
 *
 * [method@Foctet.TransferSender.prepare_async] walks the paths given to
 * [ctor@Foctet.TransferSender.new] (depth first, each directory's entries
 * sorted by name; symbolic links, devices, sockets and FIFOs inside them
 * are skipped), hashes every file (BLAKE3) in a worker thread, builds
 * the manifest, makes a fresh secret and registers the protocol's handler
 * on the node.  [method@Foctet.TransferSender.get_ticket] then gives the
 * node's ticket with the offer in it, to pass to the receiver like a
 * password.
 *
 * From then on the sender serves receivers presenting the secret, one at
 * a time (another gets "busy"), reading the files from disk in chunks as
 * the receiver's GETs ask.  The reads run on the sender's own I/O thread,
 * a few chunks ahead of the stream on every stream (and many small files
 * ahead), so that the disk and the network work at the same time; the
 * main loop only hands buffers on.
 * [method@Foctet.TransferSender.serve_async] completes when a receiver
 * confirmed every entry (DONE answered with DONE_ACK); an interrupted
 * receiver may come back and resume meanwhile.
 *
 * One sender per node at a time: it owns the node's handler for
 * [const@Foctet.PROTOCOL_TRANSFER] until it is finalized or has served.
 */

enum {
  PROP_0,
  PROP_NODE,
  N_PROPS
};

enum {
  SIGNAL_SESSION_STARTED,
  SIGNAL_SESSION_ENDED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (FoctetTransferSender, foctet_transfer_sender, G_TYPE_OBJECT)

/* The signals, for the session (foctet-transfer-sender-serve.c). */

void
sender_emit_session_started (FoctetTransferSender *self,
                             const char           *peer)
{
  g_signal_emit (self, signals[SIGNAL_SESSION_STARTED], 0, peer);
}

void
sender_emit_session_ended (FoctetTransferSender *self,
                           const GError         *error)
{
  g_signal_emit (self, signals[SIGNAL_SESSION_ENDED], 0, error);
}

static void serve_stop (FoctetTransferSender *self,
                        GError               *error);

/* The node dropped the handler: it shut down, or another took the
 * protocol.  Serving cannot go on. */
static void
handler_dropped (GWeakRef *ref)
{
  g_autoptr(FoctetTransferSender) self = g_weak_ref_get (ref);

  g_weak_ref_clear (ref);
  g_free (ref);
  if (self == NULL || !self->handler_set)
    return;
  self->handler_set = FALSE;
  if (self->serve_task != NULL)
    serve_stop (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                   "The node stopped serving %s (it shut down, or another handler took it)",
                                   FOCTET_PROTOCOL_TRANSFER));
}

/* GObject */

static void
foctet_transfer_sender_dispose (GObject *object)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (object);

  /* Streams hold references on the sender: none is left here. */
  if (self->node != NULL)
    sender_unset_handler (self);
  g_clear_object (&self->node);

  G_OBJECT_CLASS (foctet_transfer_sender_parent_class)->dispose (object);
}

static void
foctet_transfer_sender_finalize (GObject *object)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (object);

  g_assert (self->session == NULL);
  g_assert (self->serve_task == NULL);
  /* Every chunk came back (each held a stream, which holds the sender). */
  g_clear_pointer (&self->io, foctet_transfer_worker_free);
  foctet_transfer_dir_cache_clear (&self->io_dirs);
  foctet_transfer_buffer_pool_clear (&self->buffers);
  g_ptr_array_unref (self->streams);
  g_ptr_array_unref (self->files);
  g_clear_pointer (&self->sources, g_ptr_array_unref);
  g_clear_pointer (&self->skipped, g_ptr_array_unref);
  g_clear_pointer (&self->manifest, foctet_transfer_manifest_unref);
  g_clear_pointer (&self->secret, g_bytes_unref);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (foctet_transfer_sender_parent_class)->finalize (object);
}

static void
foctet_transfer_sender_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_sender_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_transfer_sender_class_init (FoctetTransferSenderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = foctet_transfer_sender_dispose;
  object_class->finalize = foctet_transfer_sender_finalize;
  object_class->get_property = foctet_transfer_sender_get_property;
  object_class->set_property = foctet_transfer_sender_set_property;

  /**
   * FoctetTransferSender:node:
   *
   * The node that serves the transfer.
   */
  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, FOCTET_TYPE_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * FoctetTransferSender::session-started:
   * @self: the sender
   * @peer: the receiver's NodeId, as text
   *
   * A receiver presented the right secret and is being served.
   */
  signals[SIGNAL_SESSION_STARTED] =
    g_signal_new ("session-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * FoctetTransferSender::session-ended:
   * @self: the sender
   * @error: (nullable): why the receiver went away, or %NULL when it
   *   confirmed every entry
   *
   * A receiver's session is over.  After an error the sender goes on
   * waiting for a receiver, who may resume.
   */
  signals[SIGNAL_SESSION_ENDED] =
    g_signal_new ("session-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
foctet_transfer_sender_init (FoctetTransferSender *self)
{
  self->files = g_ptr_array_new_with_free_func (g_object_unref);
  self->streams = g_ptr_array_new ();
  foctet_transfer_buffer_pool_init (&self->buffers, CHUNK_SIZE, 16, 0);
  self->io_dirs = (FoctetTransferDirCache) FOCTET_TRANSFER_DIR_CACHE_INIT;
  self->context = g_main_context_ref_thread_default ();
}

/**
 * foctet_transfer_sender_new:
 * @node: the node to serve the transfer on; it listens (or will) where
 *   receivers can reach it
 * @files: (array length=n_files): the files and directories to offer
 * @n_files: how many; at least one
 *
 * Makes a sender for @files.  Each becomes a top-level entry under its
 * base name; a directory brings everything inside it.
 *
 * Returns: (transfer full): a new sender
 */
FoctetTransferSender *
foctet_transfer_sender_new (FoctetNode  *node,
                            GFile      **files,
                            guint        n_files)
{
  FoctetTransferSender *self;

  g_return_val_if_fail (FOCTET_IS_NODE (node), NULL);
  g_return_val_if_fail (files != NULL && n_files > 0, NULL);

  self = g_object_new (FOCTET_TYPE_TRANSFER_SENDER, "node", node, NULL);
  for (guint i = 0; i < n_files; i++)
    {
      g_return_val_if_fail (G_IS_FILE (files[i]), self);
      g_ptr_array_add (self->files, g_object_ref (files[i]));
    }
  return self;
}

/**
 * foctet_transfer_sender_get_node:
 * @self: a [class@Foctet.TransferSender]
 *
 * Gets the node the sender serves the transfer on, the
 * [property@Foctet.TransferSender:node] property.
 *
 * Returns: (transfer none): the node, owned by @self
 */
FoctetNode *
foctet_transfer_sender_get_node (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), NULL);

  return self->node;
}

static void
prepared_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (source);
  g_autoptr(GTask) task = user_data;
  Prepare *prepare = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  GWeakRef *ref;

  self->preparing = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      return;
    }
  self->secret = foctet_transfer_secret_new (&error);
  if (self->secret == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  self->manifest = g_steal_pointer (&prepare->manifest);
  self->sources = g_steal_pointer (&prepare->sources);
  self->skipped = g_steal_pointer (&prepare->skipped);
  self->n_files = prepare->n_files;

  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  foctet_node_set_protocol_handler (self->node, FOCTET_PROTOCOL_TRANSFER, sender_transfer_handler, ref,
                                    (GDestroyNotify) handler_dropped);
  self->handler_set = TRUE;
  g_debug ("Transfer: offering %u entries, %u files, %" G_GUINT64_FORMAT " bytes",
           foctet_transfer_manifest_get_n_entries (self->manifest), self->n_files,
           foctet_transfer_manifest_get_total_size (self->manifest));
  g_task_return_boolean (task, TRUE);
}

/**
 * foctet_transfer_sender_prepare_async:
 * @self: a [class@Foctet.TransferSender]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called once the offer is ready
 * @user_data: data for @callback
 *
 * Walks the files and directories, hashes every file (in a worker thread:
 * the main loop goes on), builds the manifest, makes the offer's secret
 * and starts serving the protocol on the node.  Fails on a path that
 * cannot be read, or that a receiver would have to refuse (a name that is
 * not UTF-8, two top-level entries of the same name, a manifest over the
 * protocol's limits).  Call it once.
 */
void
foctet_transfer_sender_prepare_async (FoctetTransferSender *self,
                                      GCancellable         *cancellable,
                                      GAsyncReadyCallback   callback,
                                      gpointer              user_data)
{
  GTask *task;
  g_autoptr(GTask) thread = NULL;
  Prepare *prepare;

  g_return_if_fail (FOCTET_IS_TRANSFER_SENDER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_sender_prepare_async);
  if (self->preparing || self->manifest != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "The sender is already prepared");
      g_object_unref (task);
      return;
    }
  self->preparing = TRUE;

  prepare = g_new0 (Prepare, 1);
  prepare->hash_buf = g_malloc (HASH_SIZE);
  prepare->files = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->files->len; i++)
    g_ptr_array_add (prepare->files, g_object_ref (g_ptr_array_index (self->files, i)));
  thread = g_task_new (self, cancellable, prepared_cb, task);
  g_task_set_task_data (thread, prepare, (GDestroyNotify) prepare_free);
  g_task_run_in_thread (thread, prepare_thread);
}

/**
 * foctet_transfer_sender_prepare_finish:
 * @self: a [class@Foctet.TransferSender]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.TransferSender.prepare_async].  It fails with
 * %G_IO_ERROR_PENDING when the sender is being or has been prepared
 * already, with %G_IO_ERROR_CANCELLED when cancelled, and with the errors
 * [method@Foctet.TransferSender.prepare_async] names for the paths (the
 * #G_IO_ERROR of a path that cannot be read; %FOCTET_ERROR_INVALID_ARGUMENT
 * for what a receiver would refuse, %FOCTET_ERROR_LIMIT_REACHED for a
 * manifest over the protocol's limits).
 *
 * Returns: %TRUE if the offer is ready: get its ticket with
 *   [method@Foctet.TransferSender.get_ticket]; %FALSE with @error set otherwise
 */
gboolean
foctet_transfer_sender_prepare_finish (FoctetTransferSender  *self,
                                       GAsyncResult          *result,
                                       GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_transfer_sender_prepare_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * foctet_transfer_sender_get_n_files:
 * @self: a prepared [class@Foctet.TransferSender]
 *
 * Counts the files of the offer, known once
 * [method@Foctet.TransferSender.prepare_async] has completed; 0 before.
 *
 * Returns: how many regular files are offered (directories not counted)
 */
guint
foctet_transfer_sender_get_n_files (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), 0);

  return self->n_files;
}

/**
 * foctet_transfer_sender_get_n_skipped:
 * @self: a prepared [class@Foctet.TransferSender]
 *
 * Counts what [method@Foctet.TransferSender.prepare_async] found inside
 * the directories offered but left out: symbolic links (never followed
 * inside a directory), devices, sockets and FIFOs.  0 before it has
 * completed.
 *
 * Returns: how many entries were left out
 */
guint
foctet_transfer_sender_get_n_skipped (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), 0);

  return self->skipped != NULL ? self->skipped->len : 0;
}

/**
 * foctet_transfer_sender_get_skipped_path:
 * @self: a prepared [class@Foctet.TransferSender]
 * @index: of an entry left out, below
 *   [method@Foctet.TransferSender.get_n_skipped]
 *
 * Gets where an entry left out is, for saying so (as `foctet-shell send`
 * does, one line each).
 *
 * Returns: (type filename): the local path of the entry left out
 */
const char *
foctet_transfer_sender_get_skipped_path (FoctetTransferSender *self,
                                         guint                 index)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), NULL);
  g_return_val_if_fail (index < foctet_transfer_sender_get_n_skipped (self), NULL);

  return ((Skipped *) self->skipped->pdata[index])->path;
}

/**
 * foctet_transfer_sender_get_skipped_type:
 * @self: a prepared [class@Foctet.TransferSender]
 * @index: of an entry left out, below
 *   [method@Foctet.TransferSender.get_n_skipped]
 *
 * Gets what kind of entry was left out.
 *
 * Returns: what the entry left out is, as the walk found it, without
 *   following it: %G_FILE_TYPE_SYMBOLIC_LINK for a link,
 *   %G_FILE_TYPE_SPECIAL for a device, socket or FIFO
 */
GFileType
foctet_transfer_sender_get_skipped_type (FoctetTransferSender *self,
                                         guint                 index)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), G_FILE_TYPE_UNKNOWN);
  g_return_val_if_fail (index < foctet_transfer_sender_get_n_skipped (self), G_FILE_TYPE_UNKNOWN);

  return ((Skipped *) self->skipped->pdata[index])->type;
}

/**
 * foctet_transfer_sender_get_total_size:
 * @self: a prepared [class@Foctet.TransferSender]
 *
 * Adds up the sizes of the offer's files, as hashed by
 * [method@Foctet.TransferSender.prepare_async]; 0 before it has completed.
 *
 * Returns: the sizes of all files offered, added up, in bytes
 */
guint64
foctet_transfer_sender_get_total_size (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), 0);

  return self->manifest != NULL ? foctet_transfer_manifest_get_total_size (self->manifest) : 0;
}

/**
 * foctet_transfer_sender_get_ticket:
 * @self: a prepared [class@Foctet.TransferSender]
 *
 * Makes the ticket a receiver needs: the node's (its NodeId and the
 * addresses it listens on, see [method@Foctet.Node.get_ticket]) with the offer
 * entry (type 0x80) holding the secret.  Whoever has it can fetch the
 * files: pass it on like a password.
 *
 * Returns: (transfer full) (nullable): the ticket, or %NULL before
 *   [method@Foctet.TransferSender.prepare_async] succeeded
 */
FoctetTicket *
foctet_transfer_sender_get_ticket (FoctetTransferSender *self)
{
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), NULL);

  if (self->secret == NULL)
    return NULL;
  ticket = foctet_node_get_ticket (self->node);
  if (!foctet_transfer_ticket_add_offer (ticket, self->secret, &error))
    {
      g_critical ("Adding the transfer offer to a ticket: %s", error->message);
      return NULL;
    }
  return g_steal_pointer (&ticket);
}

/* Serving ends with @error (owned), the session and the streams with it. */
static void
serve_stop (FoctetTransferSender *self,
            GError               *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->serve_task);

  foctet_source_clear (&self->serve_cancelled);
  sender_unset_handler (self);
  if (self->session != NULL)
    {
      g_autoptr(FoctetConnection) connection = g_object_ref (self->session->connection);

      sender_session_end (self, error);
      foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_GOING_AWAY, "transfer cancelled",
                                     NULL, NULL, NULL);
    }
  /* Streams not yet in a session. */
  while (self->streams->len > 0)
    stream_serve_end (g_ptr_array_index (self->streams, 0), FOCTET_CLOSE_CODE_GOING_AWAY);
  if (task != NULL)
    g_task_return_error (task, error);
  else
    g_error_free (error);
}

static gboolean
serve_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  FoctetTransferSender *self = user_data;

  g_clear_pointer (&self->serve_cancelled, g_source_unref);
  serve_stop (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled"));
  return G_SOURCE_REMOVE;
}

/* Pushing: the offer goes to a node that accepts pushes, which then
 * fetches it like any receiver, over the connection this side dialed. */

typedef struct {
  FoctetConnection *connection;
  FoctetStream *stream;
} Push;

static void
push_free (Push *push)
{
  g_clear_object (&push->stream);
  g_clear_object (&push->connection);
  g_free (push);
}

/* A node that takes no pushes (from us) refuses the stream: a reset, seen
 * when reading the answer to the offer, or already when writing it if
 * it came that soon.  Says so in @error, and returns it. */
static GError *
push_refused (GError *error)
{
  GError *refused;

  if (!foctet_error_is_stream_refused (error))
    return error;
  refused = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED,
                         "The node does not accept pushed files, or none from this node (%s)", error->message);
  g_error_free (error);
  return refused;
}

static void
push_answer_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(FoctetTransferMessage) message = NULL;
  GError *error = NULL;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (message == NULL && g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED))
    {
      /* The end of the stream, without a word: accepted. */
      g_error_free (error);
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (message == NULL)
    {
      g_task_return_error (task, push_refused (error));
      return;
    }
  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR)
    g_task_return_error (task, foctet_transfer_message_to_error_from (message, "The node refused the push"));
  else
    g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                             "The node answered a push with %s",
                             foctet_transfer_message_type_to_string (message->type));
}

static void
push_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Push *push = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      g_task_return_error (task, push_refused (error));
      return;
    }
  foctet_stream_close_write_async (push->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (push->stream)),
                                      G_PRIORITY_DEFAULT, cancellable, push_answer_cb, g_steal_pointer (&task));
}

static void
push_opened_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  FoctetTransferSender *self = g_task_get_source_object (task);
  Push *push = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(FoctetTransferMessage) offer = NULL;
  GError *error = NULL;

  push->stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (push->stream == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  /* The offer is a HELLO with the secret: the same bytes a receiver
   * will present to this side. */
  offer = foctet_transfer_message_new_hello (self->secret);
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (push->stream)), offer,
                                       G_PRIORITY_DEFAULT, cancellable, push_written_cb, g_steal_pointer (&task));
}

static void
push_dialed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Push *push = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  push->connection = foctet_node_dial_finish (FOCTET_NODE (source), result, &error);
  if (push->connection == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  foctet_connection_open_stream_async (push->connection, FOCTET_PROTOCOL_TRANSFER_PUSH, cancellable,
                                       push_opened_cb, g_steal_pointer (&task));
}

/**
 * foctet_transfer_sender_push_async:
 * @self: a prepared [class@Foctet.TransferSender]
 * @ticket: the ticket of a node that accepts pushes (e.g. `foctet-shell
 *   serve --inbox DIR`)
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called once the node accepted or refused
 * @user_data: data for @callback
 *
 * Offers the files to the node of @ticket instead of waiting for a
 * receiver to come: dials it, opens a `foctet/transfer/push/1` stream and
 * writes the offer (the secret).  The node then fetches the files over
 * the same connection, as any receiver does; run
 * [method@Foctet.TransferSender.serve_async] too, which completes once it has
 * confirmed every file.  This call completes when the node has accepted
 * the push (or refused it: %FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED when it
 * accepts no pushes, %FOCTET_ERROR_LIMIT_REACHED when it is busy).
 */
void
foctet_transfer_sender_push_async (FoctetTransferSender *self,
                                   FoctetTicket         *ticket,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (FOCTET_IS_TRANSFER_SENDER (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_sender_push_async);
  if (self->manifest == NULL || !self->handler_set)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "The sender is not prepared");
      return;
    }
  g_task_set_task_data (task, g_new0 (Push, 1), (GDestroyNotify) push_free);
  foctet_node_dial_async (self->node, ticket, NULL, cancellable, push_dialed_cb, g_steal_pointer (&task));
}

/**
 * foctet_transfer_sender_push_finish:
 * @self: a [class@Foctet.TransferSender]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.TransferSender.push_async].  It fails with
 * %G_IO_ERROR_NOT_INITIALIZED when the sender is not prepared, with the
 * refusals [method@Foctet.TransferSender.push_async] names, and with the dial's
 * or the stream's errors.  Success only means the push was accepted:
 * [method@Foctet.TransferSender.serve_finish] tells when the files arrived.
 *
 * Returns: %TRUE if the node accepted the push, %FALSE with @error set
 *   otherwise
 */
gboolean
foctet_transfer_sender_push_finish (FoctetTransferSender  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_transfer_sender_push_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * foctet_transfer_sender_serve_async:
 * @self: a prepared [class@Foctet.TransferSender]
 * @cancellable: (nullable): a #GCancellable; cancelling it stops serving
 * @callback: (scope async): called when a receiver has everything
 * @user_data: data for @callback
 *
 * Waits until a receiver confirmed every entry of the offer, and the
 * sender acknowledged it.  Receivers that fail or go away meanwhile do
 * not end the wait (see [signal@Foctet.TransferSender::session-ended]): they may
 * come back and resume.  Once served, the sender refuses new receivers.
 */
void
foctet_transfer_sender_serve_async (FoctetTransferSender *self,
                                    GCancellable         *cancellable,
                                    GAsyncReadyCallback   callback,
                                    gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (FOCTET_IS_TRANSFER_SENDER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_transfer_sender_serve_async);
  if (self->served)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->manifest == NULL || !self->handler_set)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                               "The sender is not prepared");
      return;
    }
  if (self->serve_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "The sender is already serving");
      return;
    }
  self->serve_task = g_steal_pointer (&task);
  if (cancellable != NULL)
    {
      self->serve_cancelled = foctet_transfer_source_attach (g_cancellable_source_new (cancellable),
                                                             (GSourceFunc) serve_cancelled_cb, self, self->context);
    }
}

/**
 * foctet_transfer_sender_serve_finish:
 * @self: a [class@Foctet.TransferSender]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.TransferSender.serve_async].  It fails with
 * %G_IO_ERROR_NOT_INITIALIZED when the sender is not prepared, with
 * %G_IO_ERROR_PENDING when another serve is waiting already, and with
 * %G_IO_ERROR_CANCELLED when cancelled.  Failed receivers do not make it
 * fail.  Once the sender has served, it succeeds at once.
 *
 * Returns: %TRUE once a receiver confirmed every entry, %FALSE with @error
 *   set otherwise
 */
gboolean
foctet_transfer_sender_serve_finish (FoctetTransferSender  *self,
                                     GAsyncResult          *result,
                                     GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, foctet_transfer_sender_serve_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

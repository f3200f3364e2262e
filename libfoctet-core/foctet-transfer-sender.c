/* foctet-transfer-sender.c: the sending side of foctet/transfer/1
 * (docs/protocol.md, "File transfer").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foctet-transfer-sender.h"
#include "foctet-transfer-wire.h"
#include "foctet-transfer-private.h"
#include "foctet-sha256-private.h"
#include "foctet-error.h"

/**
 * FoctetTransferSender:
 *
 * Offers files and directories to one receiver over foctet/transfer/1.
 *
 * foctet_transfer_sender_prepare_async() walks the paths given to
 * foctet_transfer_sender_new() (depth first, each directory's entries
 * sorted by name; symbolic links, devices, sockets and FIFOs inside them
 * are skipped), hashes every file with SHA-256 in a worker thread, builds
 * the manifest, makes a fresh secret and registers the protocol's handler
 * on the node.  foctet_transfer_sender_get_ticket() then gives the
 * node's ticket with the offer in it, to pass to the receiver like a
 * password.
 *
 * From then on the sender serves receivers presenting the secret, one at
 * a time (another gets "busy"), reading the files from disk in chunks as
 * the receiver's GETs ask.  The reads run on the sender's own I/O thread,
 * a few chunks ahead of the stream on every stream (and many small files
 * ahead), so that the disk and the network work at the same time; the
 * main loop only hands buffers on.
 * foctet_transfer_sender_serve_async() completes when a receiver
 * confirmed every entry (DONE answered with DONE_ACK); an interrupted
 * receiver may come back and resume meanwhile.
 *
 * One sender per node at a time: it owns the node's handler for
 * %FOCTET_PROTOCOL_TRANSFER until it is finalized or has served.
 */

/* Files are read this much at a time, by the sender's I/O thread. */
#define CHUNK_SIZE (1024 * 1024)
/* Per stream: bytes read ahead of what was written to it. */
#define READ_AHEAD (4 * CHUNK_SIZE)
/* Hashing, before the ticket. */
#define HASH_SIZE (4 * 1024 * 1024)
/* GETs shorter than this are answered in batches: the I/O thread reads
 * several such files into one buffer, each after its DATA header, and
 * the buffer goes out in one write. */
#define BATCH_GET_MAX (64 * 1024)
/* A batch stops growing once its files' bytes reach this. */
#define BATCH_SIZE (64 * 1024)
/* The requests a stream may read ahead, and so its input buffer: at most
 * that many GETs, and room for any other message (ABORT: 1031 bytes). */
#define IN_SIZE (FOCTET_TRANSFER_MAX_OUTSTANDING_GETS * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE)

typedef struct _Session Session;
typedef struct _StreamServe StreamServe;

struct _FoctetTransferSender {
  GObject parent_instance;

  FoctetNode *node;
  GPtrArray *files;                     /* GFile, as given */
  GMainContext *context;

  FoctetTransferManifest *manifest;     /* once prepared */
  GPtrArray *sources;                   /* char *, local path of each entry */
  guint n_files;
  GBytes *secret;
  gboolean preparing;
  gboolean handler_set;

  Session *session;                     /* the receiver being served */
  GPtrArray *streams;                   /* StreamServe, every one alive */
  GTask *serve_task;
  GSource *serve_cancelled;
  gboolean served;                      /* a session ended with DONE_ACK */

  FoctetTransferWorker *io;             /* reads the files, for every stream */
  FoctetTransferDirCache io_dirs;       /* the I/O thread's, for small files */
  FoctetTransferBufferPool buffers;     /* of CHUNK_SIZE, for reuse */
};

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

struct _Session {
  FoctetConnection *connection;
  StreamServe *control;
  guint n_data_streams;
  gulong closed_id;
  gboolean acked;                       /* DONE_ACK written */
};

typedef enum {
  ROLE_NONE,
  ROLE_CONTROL,
  ROLE_DATA,
} Role;

struct _StreamServe {
  int ref_count;
  FoctetTransferSender *sender;         /* strong, until the stream ends */
  FoctetConnection *connection;
  FoctetStream *stream;
  GCancellable *cancellable;
  GSource *timeout;                     /* first message; then the linger */
  Role role;
  GQueue requests;                      /* FoctetTransferMessage: answered in order */
  guint8 in[IN_SIZE];                   /* read, [in_start, in_end) not parsed yet */
  gsize in_start, in_end;
  gboolean reading;
  gboolean read_done;                   /* end of stream, or no more reads wanted */
  gboolean writing;
  gboolean ending;                      /* a final answer is on its way */
  gboolean write_closed;                /* and was followed by our half-close */
  gboolean ended;

  /* Reads ahead: the chunks of the GETs queued, in order. */
  GQueue chunks;                        /* Chunk */
  guint64 chunk_bytes;                  /* in the chunks queued */
  guint prefetch_pos;                   /* requests (from the head) wholly asked for */
  guint64 prefetch_offset;              /* of the next, asked for so far */
  gboolean waiting_chunk;               /* the head chunk is not read yet */

  /* The I/O thread's: the file it has open for this stream. */
  int io_fd;
  guint32 io_index;
};

/* A GET of a batch. */
typedef struct {
  guint32 index;
  guint64 offset;
  guint64 length;
} BatchItem;

/* A piece of a GET, read by the I/O thread; or a batch: the whole
 * answers to several small GETs, DATA headers included. */
typedef struct {
  StreamServe *ss;                      /* a reference, until delivered */
  guint32 index;
  guint64 offset;
  gsize len;                            /* of the bytes in buf */
  gsize charged;                        /* to the stream's chunk_bytes */
  gboolean first;                       /* of its GET: checks the file's size */
  gboolean last;                        /* of its GET */
  BatchItem *items;                     /* a batch: the GETs it answers */
  guint n_items;
  guint8 *buf;
  gsize size;                           /* of buf */
  gboolean done;                        /* read (or failed) */
  gboolean dropped;                     /* nobody waits for it any more */
  GError *error;
} Chunk;

static void chunk_free (gpointer data);
static void stream_read_next (StreamServe *ss);
static void stream_write_next (StreamServe *ss);
static void get_continue (StreamServe *ss);
static void chunks_drop (StreamServe *ss,
                         gboolean     all);
static void request_pop (StreamServe *ss);
static void stream_end (StreamServe *ss,
                        guint32      reset_code);
static void session_end (FoctetTransferSender *self,
                         const GError         *error);

/* Sessions and serving */

static StreamServe *
stream_serve_ref (StreamServe *ss)
{
  ss->ref_count++;
  return ss;
}

static void
stream_serve_unref (StreamServe *ss)
{
  if (--ss->ref_count > 0)
    return;
  g_assert (ss->ended);
  g_queue_clear_full (&ss->requests, (GDestroyNotify) foctet_transfer_message_free);
  /* Every chunk came back (each held a reference), every write of one
   * called back: the thread is done with this stream's file. */
  g_queue_clear_full (&ss->chunks, chunk_free);
  if (ss->io_fd >= 0)
    close (ss->io_fd);
  g_clear_object (&ss->cancellable);
  g_clear_object (&ss->stream);
  g_clear_object (&ss->connection);
  g_clear_object (&ss->sender);
  g_free (ss);
}

/* Ends the stream: no more reads or writes; @reset_code resets it,
 * G_MAXUINT32 closes it normally. */
static void
stream_end (StreamServe *ss,
            guint32      reset_code)
{
  FoctetTransferSender *self = ss->sender;

  if (ss->ended)
    return;
  ss->ended = TRUE;
  foctet_transfer_source_clear (&ss->timeout);
  g_cancellable_cancel (ss->cancellable);
  if (reset_code != G_MAXUINT32)
    foctet_stream_reset (ss->stream, reset_code);
  g_io_stream_close_async (G_IO_STREAM (ss->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_ptr_array_remove_fast (self->streams, ss);
  if (self->session != NULL && ss->role == ROLE_DATA && ss->connection == self->session->connection)
    self->session->n_data_streams--;
  if (self->session != NULL && self->session->control == ss)
    {
      g_autoptr(GError) error = NULL;

      if (!self->session->acked)
        error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                     "The receiver ended the transfer before it was complete");
      session_end (self, error);
    }
  stream_serve_unref (ss);
}

static void
serve_return (FoctetTransferSender *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->serve_task);

  foctet_transfer_source_clear (&self->serve_cancelled);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
unset_handler (FoctetTransferSender *self)
{
  if (self->handler_set)
    {
      self->handler_set = FALSE;
      foctet_node_set_protocol_handler (self->node, FOCTET_PROTOCOL_TRANSFER, NULL, NULL, NULL);
    }
}

/* The session is over: its streams are reset, the sender waits for the
 * next receiver (or, after DONE_ACK, is done). */
static void
session_end (FoctetTransferSender *self,
             const GError         *error)
{
  Session *session = self->session;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new ();
  gboolean acked;

  if (session == NULL)
    return;
  self->session = NULL;
  acked = session->acked;

  for (guint i = 0; i < self->streams->len; i++)
    {
      StreamServe *ss = g_ptr_array_index (self->streams, i);

      if (ss->connection == session->connection)
        g_ptr_array_add (doomed, ss);
    }
  for (guint i = 0; i < doomed->len; i++)
    {
      StreamServe *ss = g_ptr_array_index (doomed, i);

      stream_end (ss, ss == session->control ? G_MAXUINT32 : FOCTET_CLOSE_CODE_INTERNAL_ERROR);
    }

  g_signal_handler_disconnect (session->connection, session->closed_id);
  if (acked)
    foctet_connection_close_async (session->connection, FOCTET_CLOSE_CODE_NO_ERROR, "transfer complete",
                                   NULL, NULL, NULL);
  g_object_unref (session->connection);
  g_free (session);

  if (acked)
    g_debug ("Transfer: the receiver confirmed every entry");
  else
    g_debug ("Transfer: session ended: %s", error != NULL ? error->message : "no reason");
  g_signal_emit (self, signals[SIGNAL_SESSION_ENDED], 0, acked ? NULL : error);

  if (acked)
    {
      self->served = TRUE;
      unset_handler (self);
      serve_return (self);
    }
}

static void
session_closed_cb (FoctetConnection *connection,
                   const GError     *error,
                   gpointer          user_data)
{
  FoctetTransferSender *self = user_data;
  g_autoptr(GError) closed = NULL;

  if (error == NULL)
    closed = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                  "The receiver's connection closed");
  session_end (self, error != NULL ? error : closed);
}

static void
stream_close_write_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    g_debug ("Transfer stream %" G_GUINT64_FORMAT ": half-close: %s",
             foctet_stream_get_id (ss->stream), error->message);
  ss->write_closed = TRUE;
  /* A data stream is done once both sides half-closed; the control
   * stream after DONE_ACK waits for the receiver's half-close (or the
   * linger timer). */
  if (!ss->ended && ss->read_done && !ss->reading)
    stream_end (ss, G_MAXUINT32);
  stream_serve_unref (ss);
}

static void
stream_close_write (StreamServe *ss)
{
  foctet_stream_close_write_async (ss->stream, G_PRIORITY_DEFAULT, ss->cancellable,
                                   stream_close_write_cb, stream_serve_ref (ss));
}

static void
stream_write_message_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  ss->writing = FALSE;
  if (!foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      if (!ss->ended)
        {
          g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream),
                   error->message);
          stream_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
        }
      stream_serve_unref (ss);
      return;
    }
  if (ss->ended)
    {
      stream_serve_unref (ss);
      return;
    }
  if (ss->ending)
    stream_close_write (ss);
  else
    {
      request_pop (ss);
      stream_read_next (ss);
      stream_write_next (ss);
    }
  stream_serve_unref (ss);
}

static void
stream_write_message (StreamServe           *ss,
                      FoctetTransferMessage *message)
{
  g_autoptr(FoctetTransferMessage) owned = message;

  ss->writing = TRUE;
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), owned,
                                       G_PRIORITY_DEFAULT, ss->cancellable, stream_write_message_cb,
                                       stream_serve_ref (ss));
}

/* Answers with ERROR @code and ends the stream (half-close, read no
 * more); the session with it if this is its control stream. */
static void
stream_refuse (StreamServe *ss,
               guint16      code,
               const char  *text)
{
  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": refusing: %s (%s)", foctet_stream_get_id (ss->stream),
           foctet_transfer_error_code_describe (code), text);
  ss->ending = TRUE;
  ss->read_done = TRUE;
  g_queue_clear_full (&ss->requests, (GDestroyNotify) foctet_transfer_message_free);
  ss->prefetch_pos = 0;
  ss->prefetch_offset = 0;
  foctet_transfer_source_clear (&ss->timeout);
  if (ss->writing)
    {
      /* Mid-answer: the ERROR cannot be framed in; reset. */
      stream_end (ss, code == FOCTET_TRANSFER_ERROR_CODE_MALFORMED ? FOCTET_CLOSE_CODE_PROTOCOL_ERROR
                                                                   : FOCTET_CLOSE_CODE_INTERNAL_ERROR);
      return;
    }
  chunks_drop (ss, TRUE);
  stream_write_message (ss, foctet_transfer_message_new_error (code, text));
}

/* Answering a GET: DATA, then the file's bytes chunk by chunk, read ahead
 * by the I/O thread. */

static void
chunk_free (gpointer data)
{
  Chunk *chunk = data;

  g_free (chunk->buf);
  g_free (chunk->items);
  g_clear_error (&chunk->error);
  g_free (chunk);
}

/* Forgets the chunks queued: all of them, or those of the head GET. */
static void
chunks_drop (StreamServe *ss,
             gboolean     all)
{
  Chunk *chunk;

  while ((chunk = g_queue_peek_head (&ss->chunks)) != NULL)
    {
      gboolean last = chunk->last;

      g_queue_pop_head (&ss->chunks);
      ss->chunk_bytes -= chunk->charged;
      /* One still being read is freed when it comes back. */
      if (chunk->done)
        chunk_free (chunk);
      else
        chunk->dropped = TRUE;
      if (last && !all)
        break;
    }
  ss->waiting_chunk = FALSE;
}

/* The head request is answered. */
static void
request_pop (StreamServe *ss)
{
  foctet_transfer_message_free (g_queue_pop_head (&ss->requests));
  if (ss->prefetch_pos > 0)
    ss->prefetch_pos--;
  else
    ss->prefetch_offset = 0;
}

/* In the I/O thread. */
static gboolean
chunk_read (Chunk   *chunk,
            GError **error)
{
  StreamServe *ss = chunk->ss;
  FoctetTransferSender *self = ss->sender;
  const char *source = g_ptr_array_index (self->sources, chunk->index);
  gssize done;

  if (ss->io_fd < 0 || ss->io_index != chunk->index)
    {
      if (ss->io_fd >= 0)
        close (ss->io_fd);
      ss->io_index = chunk->index;
      ss->io_fd = open (source, O_RDONLY | O_CLOEXEC);
      if (ss->io_fd < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening “%s”", source));
          return FALSE;
        }
    }
  if (chunk->first)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (self->manifest, chunk->index);
      struct stat st;

      if (fstat (ss->io_fd, &st) < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Looking at “%s”", source));
          return FALSE;
        }
      if ((guint64) st.st_size != entry->size)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "“%s” is now %" G_GUINT64_FORMAT
                       " bytes long, not %" G_GUINT64_FORMAT " as offered", source, (guint64) st.st_size,
                       entry->size);
          return FALSE;
        }
    }
  done = foctet_transfer_pread_full (ss->io_fd, chunk->buf, chunk->len, chunk->offset);
  if (done < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Reading “%s”", source));
      return FALSE;
    }
  if ((gsize) done < chunk->len)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "“%s” shrank while it was being sent", source);
      return FALSE;
    }
  return TRUE;
}

/* In the I/O thread: opens a small file of a batch, through its
 * directory, which stays open for the next file (they come in manifest
 * order, a directory's files one after the other). */
static int
batch_open (FoctetTransferSender *self,
            const char           *source)
{
  const char *slash = strrchr (source, '/');
  gsize len;

  if (slash == NULL || slash == source)
    return open (source, O_RDONLY | O_CLOEXEC);
  len = slash - source;
  if (!foctet_transfer_dir_cache_holds (&self->io_dirs, source, len))
    {
      g_autofree char *dir = g_strndup (source, len);

      foctet_transfer_dir_cache_set (&self->io_dirs, source, len, open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
  if (self->io_dirs.fd < 0)
    return open (source, O_RDONLY | O_CLOEXEC);
  return openat (self->io_dirs.fd, slash + 1, O_RDONLY | O_CLOEXEC);
}

/* Room for @more bytes after @pos (and one to spare, see batch_read()). */
static void
batch_reserve (Chunk *chunk,
               gsize  pos,
               gsize  more)
{
  if (pos + more + 1 > chunk->size)
    {
      chunk->size = pos + more + 1;
      chunk->buf = g_realloc (chunk->buf, chunk->size);
    }
}

/* In the I/O thread: answers one GET of a batch at @pos — DATA and the
 * bytes, or ERROR 6 when the file cannot be read or no longer has the
 * size it was offered with (checked before its DATA goes out, as for
 * any GET).  Returns where the next answer goes. */
static gsize
batch_read_item (FoctetTransferSender *self,
                 Chunk                *chunk,
                 const BatchItem      *item,
                 gsize                 pos)
{
  const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (self->manifest, item->index);
  const char *source = g_ptr_array_index (self->sources, item->index);
  /* A whole file is read with one byte more than its size: a short read
   * says it shrank, a long one that it grew, without an fstat (). */
  gboolean whole = item->offset == 0 && item->length == entry->size;
  gsize want = item->length + (whole ? 1 : 0);
  g_autoptr(FoctetTransferMessage) refusal = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autofree char *why = NULL;
  guint8 *data;
  gsize done = 0;
  struct stat st;
  int fd;

  batch_reserve (chunk, pos, FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + item->length);
  data = chunk->buf + pos + FOCTET_TRANSFER_RANGE_MESSAGE_SIZE;
  fd = batch_open (self, source);
  if (fd < 0)
    {
      int saved = errno;

      why = g_strdup_printf ("Opening “%s”: %s", source, g_strerror (saved));
      goto refuse;
    }
  if (!whole && fstat (fd, &st) == 0 && (guint64) st.st_size != entry->size)
    goto changed;
  /* One pread () in all (even for an empty file): it returns fewer bytes
   * than asked only at the end of a regular file. */
  for (gboolean first = TRUE; first || done < item->length; first = FALSE)
    {
      ssize_t n = pread (fd, data + done, want - done, item->offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;

          why = g_strdup_printf ("Reading “%s”: %s", source, g_strerror (saved));
          close (fd);
          goto refuse;
        }
      if (n == 0)
        break;
      done += n;
    }
  if (done != item->length)
    {
      if (!whole || done < item->length)
        {
          why = g_strdup_printf ("“%s” shrank while it was being sent", source);
          if (whole)
            goto changed;
          close (fd);
          goto refuse;
        }
      goto changed;
    }
  close (fd);
  foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_DATA, item->index, item->offset, item->length,
                                        chunk->buf + pos);
  return pos + FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + item->length;

changed:
  g_clear_pointer (&why, g_free);
  if (fstat (fd, &st) == 0)
    why = g_strdup_printf ("“%s” is now %" G_GUINT64_FORMAT " bytes long, not %" G_GUINT64_FORMAT
                           " as offered", source, (guint64) st.st_size, entry->size);
  else
    why = g_strdup_printf ("“%s” changed size since it was offered", source);
  close (fd);
refuse:
  {
    g_autofree char *text = g_strdup_printf ("%s: %s", entry->path, why);

    g_debug ("Transfer: %s", text);
    refusal = foctet_transfer_message_new_error (FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED, text);
  }
  encoded = foctet_transfer_message_encode (refusal);
  batch_reserve (chunk, pos, g_bytes_get_size (encoded));
  memcpy (chunk->buf + pos, g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded));
  return pos + g_bytes_get_size (encoded);
}

static void
io_work (gpointer data)
{
  Chunk *chunk = data;
  FoctetTransferSender *self = chunk->ss->sender;

  if (g_cancellable_is_cancelled (chunk->ss->cancellable))
    {
      chunk->len = 0;
      return;
    }
  if (chunk->items != NULL)
    {
      gsize pos = 0;

      for (guint i = 0; i < chunk->n_items; i++)
        pos = batch_read_item (self, chunk, &chunk->items[i], pos);
      chunk->len = pos;
      return;
    }
  chunk_read (chunk, &chunk->error);
}

static void
io_deliver (gpointer data)
{
  Chunk *chunk = data;
  StreamServe *ss = chunk->ss;

  if (chunk->dropped)
    {
      chunk_free (chunk);
      stream_serve_unref (ss);
      return;
    }
  chunk->done = TRUE;
  if (ss->waiting_chunk && chunk == g_queue_peek_head (&ss->chunks))
    {
      ss->waiting_chunk = FALSE;
      get_continue (ss);
    }
  stream_serve_unref (ss);
}

/* Asks the I/O thread for the answers to the small GETs from the next
 * to prefetch on, in one batch: those that follow one another in the
 * queue, up to BATCH_SIZE bytes of files. */
static void
prefetch_batch (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  Chunk *chunk = g_new0 (Chunk, 1);
  FoctetTransferMessage *request;
  guint64 bytes = 0;
  guint n = 0;

  chunk->items = g_new (BatchItem, FOCTET_TRANSFER_MAX_OUTSTANDING_GETS);
  while (n < FOCTET_TRANSFER_MAX_OUTSTANDING_GETS && bytes < BATCH_SIZE &&
         (request = g_queue_peek_nth (&ss->requests, ss->prefetch_pos)) != NULL &&
         request->type == FOCTET_TRANSFER_MESSAGE_GET && request->length < BATCH_GET_MAX &&
         foctet_transfer_manifest_check_get (self->manifest, request, NULL))
    {
      chunk->items[n].index = request->index;
      chunk->items[n].offset = request->offset;
      chunk->items[n].length = request->length;
      bytes += request->length;
      n++;
      ss->prefetch_pos++;
    }
  g_assert (n > 0);
  chunk->ss = stream_serve_ref (ss);
  chunk->n_items = n;
  chunk->first = chunk->last = TRUE;
  chunk->size = n * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE + bytes + 1;
  chunk->buf = g_malloc (chunk->size);
  chunk->charged = chunk->size;
  ss->chunk_bytes += chunk->charged;
  g_queue_push_tail (&ss->chunks, chunk);
  foctet_transfer_worker_push (self->io, chunk);
}

/* Asks the I/O thread for the chunks of the GETs queued, as far ahead as
 * the stream's read-ahead allows. */
static void
prefetch (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;

  while (!ss->ended && !ss->ending && ss->chunk_bytes < READ_AHEAD)
    {
      FoctetTransferMessage *request = g_queue_peek_nth (&ss->requests, ss->prefetch_pos);
      Chunk *chunk;

      if (request == NULL)
        return;
      if (request->type != FOCTET_TRANSFER_MESSAGE_GET)
        {
          ss->prefetch_pos++;
          continue;
        }
      /* Refused when it comes to be answered. */
      if (!foctet_transfer_manifest_check_get (self->manifest, request, NULL))
        return;
      if (ss->prefetch_offset == 0 && request->length < BATCH_GET_MAX)
        {
          prefetch_batch (ss);
          continue;
        }
      chunk = g_new0 (Chunk, 1);
      chunk->ss = stream_serve_ref (ss);
      chunk->index = request->index;
      chunk->offset = request->offset + ss->prefetch_offset;
      chunk->len = MIN (request->length - ss->prefetch_offset, CHUNK_SIZE);
      chunk->first = ss->prefetch_offset == 0;
      ss->prefetch_offset += chunk->len;
      chunk->charged = chunk->len;
      chunk->last = ss->prefetch_offset == request->length;
      if (chunk->last)
        {
          ss->prefetch_pos++;
          ss->prefetch_offset = 0;
        }
      if (chunk->len == CHUNK_SIZE)
        chunk->buf = foctet_transfer_buffer_pool_take (&self->buffers);
      else
        chunk->buf = g_malloc (MAX (chunk->len, 1));
      chunk->size = chunk->len;
      ss->chunk_bytes += chunk->len;
      g_queue_push_tail (&ss->chunks, chunk);
      foctet_transfer_worker_push (self->io, chunk);
    }
}

static void
get_fail_midway (StreamServe  *ss,
                 const GError *error)
{
  ss->writing = FALSE;
  if (ss->ended)
    return;
  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream), error->message);
  stream_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
}

/* After a write of part of an answer: whether the answer cannot go on,
 * its write having failed with @error, or the stream having ended
 * meanwhile. */
static gboolean
get_write_stopped (StreamServe  *ss,
                   const GError *error)
{
  if (error != NULL)
    {
      get_fail_midway (ss, error);
      return TRUE;
    }
  if (ss->ended)
    {
      ss->writing = FALSE;
      return TRUE;
    }
  return FALSE;
}

/* The head @n_requests requests are answered: on to the next. */
static void
get_answered (StreamServe *ss,
              guint        n_requests)
{
  ss->writing = FALSE;
  for (guint i = 0; i < n_requests; i++)
    request_pop (ss);
  prefetch (ss);
  stream_read_next (ss);
  stream_write_next (ss);
}

static void
get_chunk_written_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  StreamServe *ss = user_data;
  FoctetTransferSender *self = ss->sender;
  g_autoptr(GError) error = NULL;
  Chunk *chunk;
  gboolean last;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  if (get_write_stopped (ss, error))
    {
      stream_serve_unref (ss);
      return;
    }
  chunk = g_queue_pop_head (&ss->chunks);
  ss->chunk_bytes -= chunk->charged;
  last = chunk->last;
  if (chunk->size == CHUNK_SIZE)
    foctet_transfer_buffer_pool_give (&self->buffers, g_steal_pointer (&chunk->buf));
  chunk_free (chunk);
  if (last)
    get_answered (ss, 1);
  else
    {
      prefetch (ss);
      get_continue (ss);
    }
  stream_serve_unref (ss);
}

/* A batch went out: the GETs it answered are done. */
static void
batch_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;
  Chunk *chunk;
  guint n_items;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  if (get_write_stopped (ss, error))
    {
      stream_serve_unref (ss);
      return;
    }
  chunk = g_queue_pop_head (&ss->chunks);
  ss->chunk_bytes -= chunk->charged;
  n_items = chunk->n_items;
  chunk_free (chunk);
  get_answered (ss, n_items);
  stream_serve_unref (ss);
}

static void
get_send_chunk (StreamServe *ss)
{
  Chunk *chunk = g_queue_peek_head (&ss->chunks);

  if (chunk->len == 0)
    {
      /* An empty file: DATA alone. */
      g_queue_pop_head (&ss->chunks);
      chunk_free (chunk);
      get_answered (ss, 1);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), chunk->buf,
                                   chunk->len, G_PRIORITY_DEFAULT, ss->cancellable, get_chunk_written_cb,
                                   stream_serve_ref (ss));
}

static void
get_header_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;

  foctet_transfer_message_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (!get_write_stopped (ss, error))
    get_send_chunk (ss);
  stream_serve_unref (ss);
}

/* The head chunk is read: send it (after DATA, for a GET's first), or
 * answer the GET with ERROR 6. */
static void
get_continue (StreamServe *ss)
{
  FoctetTransferMessage *get = g_queue_peek_head (&ss->requests);
  Chunk *chunk = g_queue_peek_head (&ss->chunks);
  g_autoptr(FoctetTransferMessage) data = NULL;

  if (ss->ended)
    return;
  if (!chunk->done)
    {
      ss->waiting_chunk = TRUE;
      return;
    }
  if (chunk->items != NULL)
    {
      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), chunk->buf,
                                       chunk->len, G_PRIORITY_DEFAULT, ss->cancellable, batch_written_cb,
                                       stream_serve_ref (ss));
      return;
    }
  if (chunk->error != NULL && !chunk->first)
    {
      /* Its DATA header is out: the stream cannot go on. */
      get_fail_midway (ss, chunk->error);
      return;
    }
  if (chunk->error != NULL)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (ss->sender->manifest, get->index);
      g_autofree char *text = g_strdup_printf ("%s: %s", entry->path, chunk->error->message);

      /* ERROR 6 answers this GET only; the stream goes on. */
      g_debug ("Transfer: %s", text);
      chunks_drop (ss, FALSE);
      stream_write_message (ss, foctet_transfer_message_new_error (FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED,
                                                                   text));
      return;
    }
  if (!chunk->first)
    {
      get_send_chunk (ss);
      return;
    }
  data = foctet_transfer_message_new_data (get->index, get->offset, get->length);
  foctet_transfer_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (ss->stream)), data,
                                       G_PRIORITY_DEFAULT, ss->cancellable, get_header_written_cb,
                                       stream_serve_ref (ss));
}

static void
get_start (StreamServe           *ss,
           FoctetTransferMessage *get)
{
  g_autoptr(GError) error = NULL;

  if (!foctet_transfer_manifest_check_get (ss->sender->manifest, get, &error))
    {
      stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, error->message);
      return;
    }
  ss->writing = TRUE;
  prefetch (ss);
  get_continue (ss);
}

static void
done_ack_linger_expired (StreamServe *ss)
{
  g_debug ("Transfer: the receiver did not half-close within %d s of DONE_ACK",
           FOCTET_TRANSFER_DONE_ACK_LINGER);
  ss->read_done = TRUE;
  stream_end (ss, G_MAXUINT32);
}

static gboolean
linger_cb (gpointer user_data)
{
  StreamServe *ss = user_data;

  g_clear_pointer (&ss->timeout, g_source_unref);
  done_ack_linger_expired (ss);
  return G_SOURCE_REMOVE;
}

/* The head of the queue: a MANIFEST to send, a GET or a DONE to answer. */
static void
stream_write_next (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  FoctetTransferMessage *head;

  if (ss->ended || ss->writing || ss->ending)
    return;
  head = g_queue_peek_head (&ss->requests);
  if (head == NULL)
    {
      /* A data stream the receiver half-closed, all answered. */
      if (ss->read_done && ss->role == ROLE_DATA)
        {
          ss->ending = TRUE;
          stream_close_write (ss);
        }
      return;
    }

  switch (head->type)
    {
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      ss->writing = TRUE;
      stream_write_message (ss, foctet_transfer_message_new_manifest (head->manifest));
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      get_start (ss, head);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      {
        guint32 n = foctet_transfer_manifest_get_n_entries (self->manifest);
        g_autofree char *text = NULL;

        if (head->count != n)
          {
            text = g_strdup_printf ("DONE with %" G_GUINT32_FORMAT " entries; the manifest has %"
                                    G_GUINT32_FORMAT, head->count, n);
            stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, text);
            return;
          }
        if (self->session != NULL && self->session->control == ss)
          self->session->acked = TRUE;
        ss->ending = TRUE;
        /* Wait for the receiver's half-close, within limits. */
        ss->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (FOCTET_TRANSFER_DONE_ACK_LINGER),
                                                     linger_cb, ss, self->context);
        stream_write_message (ss, foctet_transfer_message_new_done_ack ());
      }
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
session_start (StreamServe *ss)
{
  FoctetTransferSender *self = ss->sender;
  g_autofree char *peer = foctet_node_id_to_string (foctet_connection_get_peer_id (ss->connection));
  Session *session = g_new0 (Session, 1);

  session->connection = g_object_ref (ss->connection);
  session->control = ss;
  session->closed_id = g_signal_connect (ss->connection, "closed", G_CALLBACK (session_closed_cb), self);
  self->session = session;
  ss->role = ROLE_CONTROL;
  g_queue_push_tail (&ss->requests, foctet_transfer_message_new_manifest (self->manifest));
  g_debug ("Transfer: serving %s over %s", peer, foctet_connection_get_transport_name (ss->connection));
  g_signal_emit (self, signals[SIGNAL_SESSION_STARTED], 0, peer);
}

/* A stream's first message decides its role. */
static void
stream_first_message (StreamServe           *ss,
                      FoctetTransferMessage *message)
{
  FoctetTransferSender *self = ss->sender;

  foctet_transfer_source_clear (&ss->timeout);
  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      if (!foctet_transfer_secret_equal (message->secret, self->secret))
        stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET, "wrong secret");
      else if (self->session != NULL || self->served)
        stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BUSY, "already serving another receiver");
      else
        session_start (ss);
      foctet_transfer_message_free (message);
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      if (self->session == NULL || self->session->connection != ss->connection)
        stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET, "no session on this connection");
      else if (self->session->n_data_streams >= FOCTET_TRANSFER_MAX_DATA_STREAMS)
        stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_LIMITS, "too many data streams");
      else
        {
          ss->role = ROLE_DATA;
          self->session->n_data_streams++;
          g_queue_push_tail (&ss->requests, g_steal_pointer (&message));
        }
      foctet_transfer_message_free (message);
      break;
    default:
      {
        g_autofree char *text = g_strdup_printf ("%s as the first message of a stream",
                                                 foctet_transfer_message_type_to_string (message->type));

        stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
        foctet_transfer_message_free (message);
      }
    }
}

static void
stream_message (StreamServe           *ss,
                FoctetTransferMessage *message)
{
  FoctetTransferSender *self = ss->sender;
  g_autofree char *text = NULL;

  if (ss->role == ROLE_NONE)
    {
      stream_first_message (ss, message);
      return;
    }
  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_GET:
      g_queue_push_tail (&ss->requests, message);
      return;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      if (ss->role == ROLE_CONTROL)
        {
          /* Answered in order, after the GETs before it. */
          g_queue_push_tail (&ss->requests, message);
          return;
        }
      break;
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      if (ss->role == ROLE_CONTROL)
        {
          g_autoptr(GError) error = foctet_transfer_message_to_error (message);

          foctet_transfer_message_free (message);
          ss->read_done = TRUE;
          if (self->session != NULL && self->session->control == ss)
            session_end (self, error);
          stream_end (ss, G_MAXUINT32);
          return;
        }
      break;
    default:
      break;
    }
  text = g_strdup_printf ("%s on a %s stream", foctet_transfer_message_type_to_string (message->type),
                          ss->role == ROLE_CONTROL ? "control" : "data");
  foctet_transfer_message_free (message);
  stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
}

/* The size of the message begun in the input buffer, header included,
 * as far as it is known: the header's alone until the header is all
 * there. */
static gsize
buffered_message_size (StreamServe *ss)
{
  const guint8 *header = ss->in + ss->in_start;

  if (ss->in_end - ss->in_start < FOCTET_TRANSFER_MESSAGE_HEADER_SIZE)
    return FOCTET_TRANSFER_MESSAGE_HEADER_SIZE;
  return FOCTET_TRANSFER_MESSAGE_HEADER_SIZE + (gsize) (((guint32) header[1] << 24) | ((guint32) header[2] << 16) |
                                                        ((guint32) header[3] << 8) | header[4]);
}

/* A read came back: the messages in it are taken in order, as far as
 * they are whole. */
static void
stream_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  StreamServe *ss = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  ss->reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (ss->ended)
    {
      stream_serve_unref (ss);
      return;
    }
  if (ss->ending)
    {
      /* After a final answer (DONE_ACK, or an ERROR): the receiver's
       * half-close, or anything else, is the last thing read. */
      ss->read_done = TRUE;
      if (ss->write_closed)
        stream_end (ss, G_MAXUINT32);
      stream_serve_unref (ss);
      return;
    }
  if (n < 0)
    {
      ss->read_done = TRUE;
      g_debug ("Transfer stream %" G_GUINT64_FORMAT ": %s", foctet_stream_get_id (ss->stream), error->message);
      stream_end (ss, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
      stream_serve_unref (ss);
      return;
    }
  if (n == 0)
    {
      ss->read_done = TRUE;
      if (ss->in_start < ss->in_end)
        {
          g_autofree char *text = g_strdup_printf ("truncated transfer %s message: the stream ended after %"
                                                   G_GSIZE_FORMAT " of its bytes",
                                                   foctet_transfer_message_type_to_string (ss->in[ss->in_start]),
                                                   ss->in_end - ss->in_start);

          stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, text);
        }
      /* The receiver half-closed. */
      else if (ss->role == ROLE_DATA)
        stream_write_next (ss);
      else
        stream_end (ss, G_MAXUINT32);
      stream_serve_unref (ss);
      return;
    }
  ss->in_end += n;
  while (!ss->ended && !ss->ending && !ss->read_done)
    {
      FoctetTransferMessage *message;
      gsize consumed;

      if (!foctet_transfer_message_parse (ss->in + ss->in_start, ss->in_end - ss->in_start, &consumed, &message,
                                          &error))
        {
          if (error != NULL)
            stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_MALFORMED, error->message);
          else if (buffered_message_size (ss) > IN_SIZE)
            {
              /* Longer than anything a receiver sends (a MANIFEST): not read. */
              g_autofree char *text = g_strdup_printf ("%s from the receiver",
                                                       foctet_transfer_message_type_to_string (ss->in[ss->in_start]));

              stream_refuse (ss, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE, text);
            }
          break;
        }
      ss->in_start += consumed;
      stream_message (ss, message);
    }
  stream_read_next (ss);
  stream_write_next (ss);
  stream_serve_unref (ss);
}

/* Reads what the receiver sent, never more than the requests it may have
 * ahead of the answers: with 64 GETs taken and not yet answered (or the
 * bytes of so many in the buffer), the stream is not read until one is
 * answered. */
static void
stream_read_next (StreamServe *ss)
{
  guint n_requests = g_queue_get_length (&ss->requests);
  gssize buffered = ss->in_end - ss->in_start;
  gssize room;

  if (ss->ended || ss->reading || ss->read_done || n_requests >= FOCTET_TRANSFER_MAX_OUTSTANDING_GETS)
    return;
  room = (gssize) (FOCTET_TRANSFER_MAX_OUTSTANDING_GETS - n_requests) * FOCTET_TRANSFER_RANGE_MESSAGE_SIZE - buffered;
  /* Whatever the count, a message begun is read to its end (an ABORT is
   * longer than a GET); stream_read_cb() refused any too long for IN_SIZE. */
  if (buffered > 0)
    room = MAX (room, (gssize) buffered_message_size (ss) - buffered);
  if (room <= 0)
    return;
  foctet_transfer_buffer_compact (ss->in, &ss->in_start, &ss->in_end);
  room = MIN ((gsize) room, IN_SIZE - ss->in_end);
  ss->reading = TRUE;
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (ss->stream)), ss->in + ss->in_end, room,
                             G_PRIORITY_DEFAULT, ss->cancellable, stream_read_cb, stream_serve_ref (ss));
}

static gboolean
first_message_timeout_cb (gpointer user_data)
{
  StreamServe *ss = user_data;

  g_debug ("Transfer stream %" G_GUINT64_FORMAT ": no message within %d s",
           foctet_stream_get_id (ss->stream), FOCTET_TRANSFER_FIRST_MESSAGE_TIMEOUT);
  g_clear_pointer (&ss->timeout, g_source_unref);
  stream_end (ss, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
  return G_SOURCE_REMOVE;
}

static void
transfer_handler (FoctetNode       *node,
                  FoctetConnection *connection,
                  FoctetStream     *stream,
                  gpointer          user_data)
{
  g_autoptr(FoctetTransferSender) self = g_weak_ref_get (user_data);
  StreamServe *ss;

  if (self == NULL || self->served)
    {
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      return;
    }

  ss = g_new0 (StreamServe, 1);
  ss->ref_count = 1;
  ss->sender = g_object_ref (self);
  ss->connection = g_object_ref (connection);
  ss->stream = g_object_ref (stream);
  ss->cancellable = g_cancellable_new ();
  g_queue_init (&ss->requests);
  g_queue_init (&ss->chunks);
  ss->io_fd = -1;
  if (self->io == NULL)
    self->io = foctet_transfer_worker_new ("foctet-send-io", self->context, io_work, io_deliver);
  g_ptr_array_add (self->streams, ss);
  ss->timeout = foctet_transfer_source_attach (g_timeout_source_new_seconds (FOCTET_TRANSFER_FIRST_MESSAGE_TIMEOUT),
                                               first_message_timeout_cb, ss, self->context);
  stream_read_next (ss);
}

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

/* GObject */

static void
foctet_transfer_sender_dispose (GObject *object)
{
  FoctetTransferSender *self = FOCTET_TRANSFER_SENDER (object);

  /* Streams hold references on the sender: none is left here. */
  if (self->node != NULL)
    unset_handler (self);
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
 * @self: a #FoctetTransferSender
 *
 * Returns: (transfer none): the node
 */
FoctetNode *
foctet_transfer_sender_get_node (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), NULL);

  return self->node;
}

/* Preparing: walking and hashing, in a worker thread. */

typedef struct {
  GPtrArray *files;                     /* GFile */
  FoctetTransferManifest *manifest;
  GPtrArray *sources;
  guint n_files;
  guint8 *hash_buf;                     /* HASH_SIZE, for every file */
} Prepare;

static void
prepare_free (Prepare *prepare)
{
  g_free (prepare->hash_buf);
  g_ptr_array_unref (prepare->files);
  g_clear_pointer (&prepare->manifest, foctet_transfer_manifest_unref);
  g_clear_pointer (&prepare->sources, g_ptr_array_unref);
  g_free (prepare);
}

#define WALK_ATTRIBUTES G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE "," \
                        G_FILE_ATTRIBUTE_UNIX_MODE

/* With plain system calls and one buffer for all files: for many small
 * files a GFileInputStream each, and a fresh 4 MiB buffer, cost more
 * than the hashing.  A file that fits the buffer is hashed in one call. */
static gboolean
hash_file (const char    *path,
           guint8        *buf,
           guint8         digest[FOCTET_TRANSFER_SHA256_SIZE],
           guint64       *size,
           GCancellable  *cancellable,
           GError       **error)
{
  g_autoptr(FoctetSha256) checksum = NULL;
  gssize have;                          /* in buf, not hashed yet */
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      g_propagate_error (error, foctet_transfer_errno_error (errno, "Opening “%s”", path));
      return FALSE;
    }
  /* The size is what was hashed: a file growing meanwhile is offered as
   * it was read. */
  *size = 0;
  for (;;)
    {
      have = foctet_transfer_read_full (fd, buf, HASH_SIZE);
      if (have < 0)
        {
          g_propagate_error (error, foctet_transfer_errno_error (errno, "Reading “%s”", path));
          close (fd);
          return FALSE;
        }
      *size += have;
      if (have < HASH_SIZE)
        break;
      if (checksum == NULL)
        checksum = foctet_sha256_new ();
      foctet_sha256_update (checksum, buf, have);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          close (fd);
          return FALSE;
        }
    }
  close (fd);
  if (checksum == NULL)
    {
      gnutls_hash_fast (GNUTLS_DIG_SHA256, buf, have, digest);
      return TRUE;
    }
  foctet_sha256_update (checksum, buf, have);
  foctet_sha256_get_digest (checksum, digest);
  return TRUE;
}

static gboolean
prepare_add (Prepare       *prepare,
             GFile         *file,
             GFileInfo     *info,
             const char    *path,
             gboolean       top_level,
             GCancellable  *cancellable,
             GError       **error);

static int
compare_infos (gconstpointer a,
               gconstpointer b)
{
  GFileInfo *ia = *(GFileInfo **) a;
  GFileInfo *ib = *(GFileInfo **) b;

  return strcmp (g_file_info_get_name (ia), g_file_info_get_name (ib));
}

static gboolean
prepare_directory (Prepare       *prepare,
                   GFile         *dir,
                   const char    *path,
                   GCancellable  *cancellable,
                   GError       **error)
{
  g_autoptr(GFileEnumerator) children = NULL;
  g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func (g_object_unref);
  GFileInfo *info;

  children = g_file_enumerate_children (dir, WALK_ATTRIBUTES, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                        cancellable, error);
  if (children == NULL)
    return FALSE;
  while ((info = g_file_enumerator_next_file (children, cancellable, error)) != NULL)
    g_ptr_array_add (infos, info);
  if (error != NULL && *error != NULL)
    return FALSE;
  g_ptr_array_sort (infos, compare_infos);

  for (guint i = 0; i < infos->len; i++)
    {
      GFileInfo *child_info = g_ptr_array_index (infos, i);
      const char *name = g_file_info_get_name (child_info);
      g_autoptr(GFile) child = g_file_get_child (dir, name);
      g_autofree char *child_path = g_strconcat (path, "/", name, NULL);

      if (!prepare_add (prepare, child, child_info, child_path, FALSE, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
prepare_add (Prepare       *prepare,
             GFile         *file,
             GFileInfo     *info,
             const char    *path,
             gboolean       top_level,
             GCancellable  *cancellable,
             GError       **error)
{
  g_autofree char *local = g_file_get_path (file);
  guint32 mode = g_file_info_get_attribute_uint32 (info, G_FILE_ATTRIBUTE_UNIX_MODE) & FOCTET_TRANSFER_MODE_MASK;
  guint8 digest[FOCTET_TRANSFER_SHA256_SIZE];
  guint64 size = 0;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  switch (g_file_info_get_file_type (info))
    {
    case G_FILE_TYPE_DIRECTORY:
      if (!foctet_transfer_manifest_add_directory (prepare->manifest, path, mode, error))
        return FALSE;
      g_ptr_array_add (prepare->sources, g_steal_pointer (&local));
      return prepare_directory (prepare, file, path, cancellable, error);
    case G_FILE_TYPE_REGULAR:
      /* Files are served by path (see chunk_read ()). */
      if (local == NULL)
        {
          g_autofree char *uri = g_file_get_uri (file);

          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT, "“%s” is not a local file", uri);
          return FALSE;
        }
      if (!hash_file (local, prepare->hash_buf, digest, &size, cancellable, error))
        return FALSE;
      if (!foctet_transfer_manifest_add_file (prepare->manifest, path, mode, size, digest, error))
        return FALSE;
      g_ptr_array_add (prepare->sources, g_steal_pointer (&local));
      prepare->n_files++;
      return TRUE;
    default:
      if (top_level)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s” is neither a regular file nor a directory", local);
          return FALSE;
        }
      /* Links, devices, sockets, FIFOs are never offered. */
      g_debug ("Transfer: skipping “%s”: neither a regular file nor a directory", local);
      return TRUE;
    }
}

static void
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  Prepare *prepare = task_data;
  GError *error = NULL;

  prepare->manifest = foctet_transfer_manifest_new ();
  prepare->sources = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < prepare->files->len; i++)
    {
      GFile *file = g_ptr_array_index (prepare->files, i);
      g_autoptr(GFileInfo) info = NULL;
      g_autofree char *name = NULL;

      /* A path named on the command line is followed if it is a link;
       * links inside directories are not. */
      info = g_file_query_info (file, WALK_ATTRIBUTES, G_FILE_QUERY_INFO_NONE, cancellable, &error);
      if (info == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      name = g_file_get_basename (file);
      if (!prepare_add (prepare, file, info, name, TRUE, cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
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
  self->n_files = prepare->n_files;

  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  foctet_node_set_protocol_handler (self->node, FOCTET_PROTOCOL_TRANSFER, transfer_handler, ref,
                                    (GDestroyNotify) weak_ref_free);
  self->handler_set = TRUE;
  g_debug ("Transfer: offering %u entries, %u files, %" G_GUINT64_FORMAT " bytes",
           foctet_transfer_manifest_get_n_entries (self->manifest), self->n_files,
           foctet_transfer_manifest_get_total_size (self->manifest));
  g_task_return_boolean (task, TRUE);
}

/**
 * foctet_transfer_sender_prepare_async:
 * @self: a #FoctetTransferSender
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
 * @self: a #FoctetTransferSender
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the offer is ready: get its ticket with
 *   foctet_transfer_sender_get_ticket()
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
 * @self: a prepared #FoctetTransferSender
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
 * foctet_transfer_sender_get_total_size:
 * @self: a prepared #FoctetTransferSender
 *
 * Returns: the sizes of all files offered, added up
 */
guint64
foctet_transfer_sender_get_total_size (FoctetTransferSender *self)
{
  g_return_val_if_fail (FOCTET_IS_TRANSFER_SENDER (self), 0);

  return self->manifest != NULL ? foctet_transfer_manifest_get_total_size (self->manifest) : 0;
}

/**
 * foctet_transfer_sender_get_ticket:
 * @self: a prepared #FoctetTransferSender
 *
 * Makes the ticket a receiver needs: the node's (its NodeId and the
 * addresses it listens on, see foctet_node_get_ticket()) with the offer
 * entry (type 0x80) holding the secret.  Whoever has it can fetch the
 * files: pass it on like a password.
 *
 * Returns: (transfer full) (nullable): the ticket, or %NULL before
 *   foctet_transfer_sender_prepare_async() succeeded
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

static gboolean
serve_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  FoctetTransferSender *self = user_data;
  g_autoptr(GTask) task = g_steal_pointer (&self->serve_task);
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled");

  g_clear_pointer (&self->serve_cancelled, g_source_unref);
  unset_handler (self);
  if (self->session != NULL)
    {
      g_autoptr(FoctetConnection) connection = g_object_ref (self->session->connection);

      session_end (self, error);
      foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_GOING_AWAY, "transfer cancelled",
                                     NULL, NULL, NULL);
    }
  /* Streams not yet in a session. */
  while (self->streams->len > 0)
    stream_end (g_ptr_array_index (self->streams, 0), FOCTET_CLOSE_CODE_GOING_AWAY);
  g_task_return_error (task, g_steal_pointer (&error));
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
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET) ||
          g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED))
        {
          g_autofree char *why = g_strdup (error->message);

          g_clear_error (&error);
          error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED,
                               "The node does not accept pushed files, or none from this node (%s)", why);
        }
      g_task_return_error (task, error);
      return;
    }
  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR)
    g_task_return_error (task, foctet_transfer_message_to_error (message));
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
      g_task_return_error (task, error);
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
 * @self: a prepared #FoctetTransferSender
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
 * foctet_transfer_sender_serve_async() too, which completes once it has
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
 * @self: a #FoctetTransferSender
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the node accepted the push
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
 * @self: a prepared #FoctetTransferSender
 * @cancellable: (nullable): a #GCancellable; cancelling it stops serving
 * @callback: (scope async): called when a receiver has everything
 * @user_data: data for @callback
 *
 * Waits until a receiver confirmed every entry of the offer, and the
 * sender acknowledged it.  Receivers that fail or go away meanwhile do
 * not end the wait (see #FoctetTransferSender::session-ended): they may
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
 * @self: a #FoctetTransferSender
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE once a receiver confirmed every entry
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

/* Fuzz target: yamux (PROTOCOL §4) — the frame header codec, and a whole
 * session fed the input as what its peer sent.
 *
 * The first byte configures the session (bit 0: it is the initiator;
 * bit 1: it accepts streams and reads them; bit 2: an accept backlog of 2;
 * bit 3: it opens a stream and writes to it); the rest is the byte stream
 * from the peer, followed by the end of the stream.  Invariants:
 *  - the codec accepts exactly the headers the rules allow, reads the
 *    fields big-endian and encodes them back to the same bytes;
 *  - the session ends (the peer's end of stream always ends it) within a
 *    bounded number of main loop iterations, with no error, a
 *    %FOCTET_ERROR_CONNECTION_CLOSED or a %FOCTET_ERROR_PROTOCOL_ERROR —
 *    the latter whenever the input holds a header that breaks the rules
 *    before any GoAway;
 *  - everything the session sent is well-formed yamux, and a protocol
 *    error it found is announced with GoAway(1) as its last frame;
 *  - nothing leaks (the replay runs under ASan's leak checker).
 *
 * The yamux sources are compiled into this program; the types are
 * registered statically.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <foctet.h>

#include "foctet-yamux.h"
#include "foctet-yamux-frame.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_DATA (16 * 1024 * 1024)
#define MAX_ITERATIONS 5000

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Whether the rules allow the header at @p, worked out independently. */
static gboolean
header_allowed (const guint8 *p,
                guint32       max_data)
{
  guint8 type = p[1];
  guint32 id = read_u32 (p + 4);

  if (p[0] != 0 || type > 3)
    return FALSE;
  if (type <= 1 && id == 0)
    return FALSE;
  if (type == 0 && read_u32 (p + 8) > max_data)
    return FALSE;
  return TRUE;
}

static void
check_codec (const guint8 *data,
             size_t        size)
{
  for (size_t i = 0; i + FOCTET_YAMUX_HEADER_SIZE <= size; i++)
    {
      const guint8 *p = data + i;
      /* Each window once with the session's limit, once with a small one. */
      guint32 max_data = (i & 1) ? MAX_DATA : 1024;
      g_autoptr(GError) error = NULL;
      FoctetYamuxHeader header;
      guint8 encoded[FOCTET_YAMUX_HEADER_SIZE];
      gboolean ok = foctet_yamux_header_decode (p, &header, max_data, &error);

      if (ok != header_allowed (p, max_data))
        abort ();
      if (header.version != p[0] || header.type != p[1] ||
          header.flags != (((guint16) p[2] << 8) | p[3]) ||
          header.stream_id != read_u32 (p + 4) || header.length != read_u32 (p + 8))
        abort ();
      if (ok)
        {
          if (error != NULL)
            abort ();
          foctet_yamux_header_encode (&header, encoded);
          if (memcmp (encoded, p, sizeof encoded) != 0)
            abort ();
        }
      else if (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) ||
               !g_utf8_validate (error->message, -1, NULL))
        abort ();
    }
}

/* Whether the peer's bytes hold a header that breaks the rules before
 * any GoAway, framed as the session frames them. */
static gboolean
expect_protocol_error (const guint8 *data,
                       size_t        size)
{
  size_t pos = 0;

  while (pos + FOCTET_YAMUX_HEADER_SIZE <= size)
    {
      const guint8 *p = data + pos;

      if (!header_allowed (p, MAX_DATA))
        return TRUE;
      if (p[1] == FOCTET_YAMUX_TYPE_GO_AWAY)
        return FALSE;
      pos += FOCTET_YAMUX_HEADER_SIZE;
      if (p[1] == FOCTET_YAMUX_TYPE_DATA)
        pos += read_u32 (p + 8);
    }
  return FALSE;
}

/* The session. */

typedef struct {
  FoctetConnection *session;
  gboolean closed;
  GError *error;
  guint n_accepted;
  guint n_live;               /* streams with an operation in flight */
} Run;

typedef struct {
  Run *run;
  FoctetStream *stream;
  guint8 buffer[4096];
} Reader;

static void
reader_free (Reader *reader)
{
  reader->run->n_live--;
  g_object_unref (reader->stream);
  g_free (reader);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Reader *reader = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      if (error == NULL)
        abort ();
      reader_free (reader);
      return;
    }
  if (n == 0)
    {
      /* Both ways closed, or only the read side, by the stream's id. */
      if (foctet_stream_get_id (reader->stream) % 4 < 2)
        g_io_stream_close (G_IO_STREAM (reader->stream), NULL, NULL);
      else
        g_output_stream_close (g_io_stream_get_output_stream (G_IO_STREAM (reader->stream)),
                               NULL, NULL);
      reader_free (reader);
      return;
    }
  g_input_stream_read_async (G_INPUT_STREAM (source), reader->buffer,
                             1 + reader->buffer[0] % sizeof reader->buffer, G_PRIORITY_DEFAULT,
                             NULL, read_cb, reader);
}

static void
accept_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;
  FoctetStream *stream = foctet_connection_accept_stream_finish (FOCTET_CONNECTION (source),
                                                                 result, &error);
  Reader *reader;

  run->n_live--;
  if (stream == NULL)
    {
      if (error == NULL)
        abort ();
      return;
    }
  run->n_accepted++;
  /* Some are reset or closed at once, the others read. */
  switch (run->n_accepted % 5)
    {
    case 0:
      foctet_stream_reset (stream, FOCTET_CLOSE_CODE_REFUSED);
      g_object_unref (stream);
      break;
    case 1:
      g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
      g_object_unref (stream);
      break;
    default:
      reader = g_new0 (Reader, 1);
      reader->run = run;
      reader->stream = stream;
      run->n_live++;
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                 reader->buffer, sizeof reader->buffer, G_PRIORITY_DEFAULT,
                                 NULL, read_cb, reader);
      break;
    }
  if (run->session != NULL)
    {
      run->n_live++;
      foctet_connection_accept_stream_async (run->session, NULL, accept_cb, run);
    }
}

static void
written_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;
  FoctetStream *stream = g_object_get_data (source, "fuzz-stream");

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_set_data (source, "fuzz-stream", NULL);
  run->n_live--;
}

static void
opened_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  static const guint8 payload[3000];
  Run *run = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetStream) stream = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source),
                                                                         result, &error);
  GOutputStream *output;

  run->n_live--;
  if (stream == NULL)
    return;
  output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  g_object_set_data_full (G_OBJECT (output), "fuzz-stream", g_object_ref (stream), g_object_unref);
  run->n_live++;
  g_output_stream_write_all_async (output, payload, sizeof payload, G_PRIORITY_DEFAULT, NULL,
                                   written_cb, run);
}

static void
closed_cb (FoctetConnection *connection,
           const GError     *error,
           gpointer          user_data)
{
  Run *run = user_data;

  if (run->closed)
    abort ();
  run->closed = TRUE;
  run->error = error != NULL ? g_error_copy (error) : NULL;
}

/* Reads what the session sent, without blocking; FALSE at its end. */
static gboolean
drain (GSocket    *socket,
       GByteArray *sent)
{
  for (;;)
    {
      char buffer[65536];
      gssize n = g_socket_receive_with_blocking (socket, buffer, sizeof buffer, FALSE, NULL, NULL);

      if (n == 0)
        return FALSE;
      if (n < 0)
        return TRUE;
      g_byte_array_append (sent, (const guint8 *) buffer, n);
    }
}

/* Everything the session sent is well-formed; returns the last frame's
 * header (type 0xff when there was none). */
static FoctetYamuxHeader
check_sent (GByteArray *sent)
{
  FoctetYamuxHeader last = { 0, 0xff, 0, 0, 0 };
  gsize pos = 0;

  while (pos < sent->len)
    {
      FoctetYamuxHeader header;

      if (sent->len - pos < FOCTET_YAMUX_HEADER_SIZE)
        abort ();
      if (!foctet_yamux_header_decode (sent->data + pos, &header, FOCTET_YAMUX_INITIAL_WINDOW, NULL))
        abort ();
      pos += FOCTET_YAMUX_HEADER_SIZE;
      if (header.type == FOCTET_YAMUX_TYPE_DATA)
        pos += header.length;
      if (pos > sent->len)
        abort ();
      last = header;
    }
  return last;
}

static void
run_session (const guint8 *data,
             size_t        size)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr(GSocket) session_socket = NULL;
  g_autoptr(GSocket) raw = NULL;
  g_autoptr(GSocketConnection) base = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autoptr(GByteArray) sent = g_byte_array_new ();
  guint8 config = size > 0 ? data[0] : 0;
  const guint8 *input = size > 0 ? data + 1 : data;
  size_t input_len = size > 0 ? size - 1 : 0;
  static const guint8 peer_bytes[FOCTET_NODE_ID_SIZE] = { 1, 2, 3 };
  Run run = { 0, };
  gboolean raw_open = TRUE;
  size_t written = 0;
  guint i;
  int fds[2];

  g_main_context_push_thread_default (context);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    abort ();
  session_socket = g_socket_new_from_fd (fds[0], NULL);
  raw = g_socket_new_from_fd (fds[1], NULL);
  if (session_socket == NULL || raw == NULL)
    abort ();
  base = g_socket_connection_factory_create_connection (session_socket);
  peer = foctet_node_id_new_from_data (peer_bytes, sizeof peer_bytes, NULL);

  run.session = FOCTET_CONNECTION (foctet_yamux_connection_new (G_IO_STREAM (base), config & 1, peer,
                                                                "fuzz", NULL, NULL, NULL));
  if (run.session == NULL)
    abort ();
  g_object_set (run.session, "keepalive-interval", 0, NULL);
  if (config & 4)
    g_object_set (run.session, "accept-backlog", 2, NULL);
  g_signal_connect (run.session, "closed", G_CALLBACK (closed_cb), &run);
  if (config & 2)
    {
      run.n_live++;
      foctet_connection_accept_stream_async (run.session, NULL, accept_cb, &run);
    }
  if (config & 8)
    {
      run.n_live++;
      foctet_connection_open_stream_async (run.session, "fuzz/open", NULL, opened_cb, &run);
    }

  /* The peer's bytes, then its end of stream; the session's answers are
   * read as they come so that it never waits to write. */
  for (i = 0; i < MAX_ITERATIONS && !run.closed; i++)
    {
      if (written < input_len)
        {
          gssize n = g_socket_send_with_blocking (raw, (const char *) input + written,
                                                  input_len - written, FALSE, NULL, NULL);
          if (n > 0)
            written += n;
        }
      else if (raw_open)
        {
          g_socket_shutdown (raw, FALSE, TRUE, NULL);
          raw_open = FALSE;
        }
      drain (raw, sent);
      g_main_context_iteration (context, FALSE);
    }
  if (!run.closed)
    abort ();
  if (run.error != NULL &&
      !g_error_matches (run.error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) &&
      !g_error_matches (run.error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED))
    abort ();
  if (expect_protocol_error (input, input_len) &&
      !g_error_matches (run.error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
    abort ();

  /* The session closes its end once the last frames are out. */
  for (i = 0; i < MAX_ITERATIONS && drain (raw, sent); i++)
    g_main_context_iteration (context, FALSE);
  if (i == MAX_ITERATIONS)
    abort ();
  {
    FoctetYamuxHeader last = check_sent (sent);

    /* A violation the session found itself (not the peer's GoAway 1). */
    if (g_error_matches (run.error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) &&
        !g_str_has_prefix (run.error->message, "The peer ended") &&
        (last.type != FOCTET_YAMUX_TYPE_GO_AWAY || last.length != 1))
      abort ();
  }

  g_clear_object (&run.session);
  for (i = 0; i < MAX_ITERATIONS && (run.n_live > 0 || g_main_context_pending (context)); i++)
    g_main_context_iteration (context, FALSE);
  if (run.n_live > 0)
    abort ();
  g_clear_error (&run.error);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static gboolean registered = FALSE;

  if (!registered)
    {
      foctet_yamux_register_types (NULL);
      registered = TRUE;
    }
  check_codec (data, size);
  run_session (data, size);
  return 0;
}

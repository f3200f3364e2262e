/* foctet-tls-stream.c: TLS 1.3 (PROTOCOL §2) over any pollable GIOStream.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "foctet-tls-stream.h"
#include "foctet-source-private.h"
#include "foctet-poll-fd.h"
#include "foctet-tcp-private.h"
#include "foctet-gnutls.h"
#include "foctet-error.h"

/**
 * FoctetTlsStream:
 *
 * A TLS 1.3 session run over another #GIOStream (a TCP connection, or a
 * circuit through a relay), with the handshake and the certificate rules of
 * PROTOCOL §2: mutual authentication with one self-signed Ed25519
 * certificate each, checked by [func@Foctet.Identity.verify_peer], exactly one
 * ALPN value, no resumption.  The result is itself a #GIOStream whose
 * input and output streams are pollable; a muxer runs on top of it.
 *
 * Every I/O happens on the thread-default main context of the call to
 * [func@Foctet.TlsStream.handshake_async]; the base stream's input and output
 * must be pollable.  Write from the thread that runs that context: the
 * stream sends the records it buffered from there, and a TLS session does
 * not allow two threads to send at once.
 *
 * Writes are taken as soon as GnuTLS has sealed them: when the base stream
 * is full, the last record waits inside the session and is sent as soon as
 * the base stream takes it, without the caller having to write again.
 *
 * Over a #GTcpConnection the stream sizes the socket's `TCP_NOTSENT_LOWAT`
 * to the path's rate as it writes (see foctet_tcp_socket_tune()): what is
 * written then waits behind about 20 ms of unsent bytes in the kernel,
 * not behind megabytes on a slow path.
 */

/* Ciphertext read from the base stream in one go; sealed records
 * gathered for one write to it (room for a 256 KiB write and its record
 * overhead, with room to spare for a vectored write); and the most
 * plaintext sealed in one record. */
#define READ_BUFFER_SIZE (256 * 1024)
#define WRITE_BUFFER_SIZE (512 * 1024)
#define RECORD_PAYLOAD_MAX 16384

/* How long closing waits to deliver close_notify before giving up on it. */
#define CLOSE_NOTIFY_TIMEOUT_MS 2000

struct _FoctetTlsStream {
  GIOStream parent_instance;

  GIOStream *base;
  GPollableInputStream *base_in;
  GPollableOutputStream *base_out;
  GInputStream *in;
  GOutputStream *out;
  GMainContext *context;

  FoctetIdentity *identity;
  gnutls_session_t session;
  gboolean is_server;
  char *alpn;
  FoctetNodeId *expected_peer;
  FoctetNodeId *peer_id;

  /* Why the handshake failed, when we know better than GnuTLS. */
  GError *verify_error;
  gboolean alpn_refused;
  /* The base stream's own error, seen by the push or pull function. */
  GError *base_error;

  guint8 *rbuf;
  gsize rbuf_start;
  gsize rbuf_len;
  gboolean base_eof;
  /* Reading records (not the handshake or the close). */
  gboolean reading_records;
  /* The base stream's last read was short: it had no more then, and
   * asking again before it is reported readable would only fail. */
  gboolean base_drained;

  GError *read_error;
  gboolean read_eof;
  GError *write_error;
  gboolean send_pending;
  gboolean bye_sent;
  gboolean base_released;     /* the handshake failed: @base is the caller's again */
  /* Sealed records not yet taken by the base stream: GnuTLS pushes each
   * record here, and the base stream gets them in one big write at the
   * end of each (vectored) write, or when the next record does not fit. */
  guint8 *wbuf;
  gsize wbuf_start;
  gsize wbuf_len;
  GSource *flush_source;
  /* Over a TCP socket (else NULL), the unsent bytes the kernel keeps,
   * sized to the path's rate as records go out. */
  GSocket *socket;
  FoctetTcpRate socket_rate;

  /* The handshake in progress. */
  GTask *handshake_task;
  GSource *step_source;
  GSource *timeout_source;
  guint timeout_ms;
  GSource *cancel_source;
};

G_DEFINE_FINAL_TYPE (FoctetTlsStream, foctet_tls_stream, G_TYPE_IO_STREAM)

/* ------------------------------------------------------------------ */
/* The input and output streams                                        */

#define TLS_TYPE_INPUT_STREAM (tls_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (TlsInputStream, tls_input_stream, TLS, INPUT_STREAM, GInputStream)
#define TLS_TYPE_OUTPUT_STREAM (tls_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (TlsOutputStream, tls_output_stream, TLS, OUTPUT_STREAM, GOutputStream)

/* The substreams are owned by the FoctetTlsStream and point back at it
 * weakly, as GIOStream's substreams do. */
struct _TlsInputStream {
  GInputStream parent_instance;
  GWeakRef tls;
};

struct _TlsOutputStream {
  GOutputStream parent_instance;
  GWeakRef tls;
};

static void tls_input_pollable_iface_init (GPollableInputStreamInterface *iface);
static void tls_output_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TlsInputStream, tls_input_stream, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      tls_input_pollable_iface_init))
G_DEFINE_FINAL_TYPE_WITH_CODE (TlsOutputStream, tls_output_stream, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      tls_output_pollable_iface_init))

static gboolean
closed_error (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The TLS session is closed");
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* GnuTLS transport functions                                          */

static ssize_t
pull_func (gnutls_transport_ptr_t ptr,
           void                  *data,
           size_t                 size)
{
  FoctetTlsStream *self = ptr;
  gsize n;

  if (self->rbuf_len == 0)
    {
      g_autoptr(GError) error = NULL;
      gssize got;

      if (self->base_eof)
        return 0;
      if (self->base_drained && self->reading_records)
        {
          gnutls_transport_set_errno (self->session, EAGAIN);
          return -1;
        }
      got = g_pollable_input_stream_read_nonblocking (self->base_in, self->rbuf, READ_BUFFER_SIZE,
                                                      NULL, &error);
      if (got < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              gnutls_transport_set_errno (self->session, EAGAIN);
              return -1;
            }
          if (self->base_error == NULL)
            self->base_error = g_steal_pointer (&error);
          gnutls_transport_set_errno (self->session, EIO);
          return -1;
        }
      if (got == 0)
        {
          self->base_eof = TRUE;
          return 0;
        }
      self->rbuf_start = 0;
      self->rbuf_len = got;
      self->base_drained = got < READ_BUFFER_SIZE;
    }

  n = MIN (size, self->rbuf_len);
  memcpy (data, self->rbuf + self->rbuf_start, n);
  self->rbuf_start += n;
  self->rbuf_len -= n;
  return n;
}

/* Writes out what wbuf holds, as far as the base stream takes it.  FALSE
 * with G_IO_ERROR_WOULD_BLOCK while some is left. */
static gboolean
wbuf_flush (FoctetTlsStream  *self,
            GError          **error)
{
  if (self->socket != NULL && self->wbuf_len > 0)
    foctet_tcp_socket_follow_rate (self->socket, &self->socket_rate);
  while (self->wbuf_len > 0)
    {
      GError *local = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (self->base_out, self->wbuf + self->wbuf_start,
                                                             self->wbuf_len, NULL, &local);

      if (n < 0)
        {
          if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) && self->base_error == NULL)
            self->base_error = g_error_copy (local);
          g_propagate_error (error, local);
          return FALSE;
        }
      self->wbuf_start += n;
      self->wbuf_len -= n;
    }
  self->wbuf_start = 0;
  return TRUE;
}

/* Takes a sealed record into wbuf, whole: when it does not fit behind
 * what wbuf holds, wbuf goes to the base stream first, so that a record
 * is never split over two writes to the socket. */
static ssize_t
vec_push_func (gnutls_transport_ptr_t  ptr,
               const giovec_t         *iov,
               int                     iovcnt)
{
  FoctetTlsStream *self = ptr;
  gsize room, total = 0, copied = 0;

  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  room = WRITE_BUFFER_SIZE - self->wbuf_start - self->wbuf_len;
  if (total > room && self->wbuf_len > 0)
    {
      g_autoptr(GError) error = NULL;

      /* No compacting of what is left: the base stream takes it soon,
       * and moving it would cost more than waiting. */
      if (!wbuf_flush (self, &error) && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          gnutls_transport_set_errno (self->session, EIO);
          return -1;
        }
      room = WRITE_BUFFER_SIZE - self->wbuf_start - self->wbuf_len;
    }

  if (room == 0)
    {
      gnutls_transport_set_errno (self->session, EAGAIN);
      return -1;
    }
  for (int i = 0; i < iovcnt && room > 0; i++)
    {
      gsize n = MIN (iov[i].iov_len, room);

      memcpy (self->wbuf + self->wbuf_start + self->wbuf_len, iov[i].iov_base, n);
      self->wbuf_len += n;
      copied += n;
      room -= n;
    }
  return copied;
}

static int
pull_timeout_func (gnutls_transport_ptr_t ptr,
                   unsigned int           ms)
{
  FoctetTlsStream *self = ptr;

  /* Only asked with a zero timeout: the session is non-blocking and has
   * no GnuTLS timeouts set. */
  if (self->rbuf_len > 0 || self->base_eof)
    return 1;
  return g_pollable_input_stream_is_readable (self->base_in) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* A GError for GnuTLS's @ret, saying what went wrong in words a user can
 * act on. */
static GError *
session_error (FoctetTlsStream *self,
               int              ret,
               gboolean         in_handshake)
{
  const char *during = in_handshake ? "TLS handshake" : "TLS session";

  if (self->verify_error != NULL)
    return g_error_copy (self->verify_error);
  if (self->alpn_refused && self->is_server)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer offered no ALPN value this node serves (expected \"%s\")", self->alpn);
  if (self->alpn_refused)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer did not accept the ALPN value \"%s\"", self->alpn);
  if (self->base_error != NULL)
    return g_error_new (self->base_error->domain, self->base_error->code,
                        "%s failed: %s", during, self->base_error->message);

  switch (ret)
    {
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      return foctet_gnutls_peer_alert_error (gnutls_alert_get (self->session), self->alpn, during);
    case GNUTLS_E_NO_APPLICATION_PROTOCOL:
      return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                          "The peer offered no ALPN value this node serves (expected \"%s\")", self->alpn);
    case GNUTLS_E_CERTIFICATE_REQUIRED:
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
      return g_error_new (FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                          "The peer sent no certificate");
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_UNEXPECTED_PACKET:
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
    case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
      /* After the handshake a record that does not decode is, all but
       * always, one cut off: the peer's process died while writing it. */
      if (!in_handshake)
        return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                            "The TLS session broke off: the peer's last record did not decode (%s); its "
                            "connection ended in the middle of it, or was corrupted", gnutls_strerror (ret));
      return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                          "The peer does not speak TLS 1.3 as foctet does: %s", gnutls_strerror (ret));
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_PULL_ERROR:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                          "The peer closed the connection during the %s", during);
    case GNUTLS_E_DECRYPTION_FAILED:
    case GNUTLS_E_MAC_VERIFY_FAILED:
      return g_error_new (FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                          "A TLS record failed authentication: the connection was tampered with");
    default:
      return g_error_new (FOCTET_ERROR, in_handshake ? FOCTET_ERROR_HANDSHAKE_FAILED : FOCTET_ERROR_FAILED,
                          "%s failed: %s", during, gnutls_strerror (ret));
    }
}

/* ------------------------------------------------------------------ */
/* Certificates                                                        */

/* PROTOCOL §2 in place of the PKI check: one self-signed Ed25519
 * certificate, whose key is the peer's NodeId; the dialer's must be the
 * one it dialed (and a relay circuit's target's, the caller the relay
 * announced). */
static int
verify_func (gnutls_session_t session)
{
  FoctetTlsStream *self = gnutls_session_get_ptr (session);
  GError *error = NULL;

  g_clear_pointer (&self->peer_id, foctet_node_id_free);
  self->peer_id = foctet_gnutls_verify_peer (session, self->expected_peer, &error);
  if (self->peer_id == NULL)
    {
      g_clear_error (&self->verify_error);
      self->verify_error = error;
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  return 0;
}

/* After every handshake message: the checks of PROTOCOL §2 that GnuTLS
 * does not make (foctet_gnutls_handshake_check()): a common ALPN value,
 * and a client that sent a certificate. */
static int
handshake_hook (gnutls_session_t        session,
                unsigned int            htype,
                unsigned int            when,
                unsigned int            incoming,
                const gnutls_datum_t   *msg)
{
  FoctetTlsStream *self = gnutls_session_get_ptr (session);
  GError *error = NULL;
  int ret = foctet_gnutls_handshake_check (session, htype, incoming, &error);

  if (ret == GNUTLS_E_NO_APPLICATION_PROTOCOL)
    {
      self->alpn_refused = TRUE;
      g_clear_error (&error);
    }
  else if (ret < 0)
    {
      g_clear_error (&self->verify_error);
      self->verify_error = error;
    }
  return ret;
}

/* ------------------------------------------------------------------ */
/* FoctetTlsStream                                                     */

static GInputStream *
foctet_tls_stream_get_input_stream (GIOStream *stream)
{
  return FOCTET_TLS_STREAM (stream)->in;
}

static GOutputStream *
foctet_tls_stream_get_output_stream (GIOStream *stream)
{
  return FOCTET_TLS_STREAM (stream)->out;
}

/* Sends the record GnuTLS holds from an earlier write.  FALSE with
 * G_IO_ERROR_WOULD_BLOCK while the base stream cannot take it. */
static gboolean
flush_pending (FoctetTlsStream  *self,
               GError          **error)
{
  int ret;

  if (self->write_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->write_error));
      return FALSE;
    }
  if (self->send_pending)
    {
      do
        ret = gnutls_record_send (self->session, NULL, 0);
      while (ret == GNUTLS_E_INTERRUPTED);
      if (ret == GNUTLS_E_AGAIN)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Would block");
          return FALSE;
        }
      self->send_pending = FALSE;
      if (ret < 0)
        {
          self->write_error = session_error (self, ret, FALSE);
          g_propagate_error (error, g_error_copy (self->write_error));
          return FALSE;
        }
    }
  if (!wbuf_flush (self, error))
    {
      if (self->base_error != NULL && self->write_error == NULL)
        self->write_error = session_error (self, GNUTLS_E_PUSH_ERROR, FALSE);
      return FALSE;
    }
  return TRUE;
}

/* A source for the base stream becoming readable or writable, not
 * blocked while it dispatches: blocking takes a source's descriptors out
 * of the context's poll set and puts them back, and GLib (2.74) writes to
 * the context's wake-up descriptor both times — four system calls per
 * dispatch on the data path.  On a socket, the socket's own source: the
 * socket stream's would hold it as a child, which GLib blocks when it
 * dispatches it.  The stream never iterates a context from inside a
 * callback (wait_blocking() runs its own), so nothing recurses.  Its
 * callback is a GSocketSourceFunc on a socket, else a
 * GPollableSourceFunc. */
static GSource *
base_source_new (FoctetTlsStream *self,
                 gboolean         for_write,
                 gboolean        *is_socket)
{
  GSource *source;

  *is_socket = G_IS_SOCKET_CONNECTION (self->base);
  if (*is_socket)
    source = g_socket_create_source (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->base)),
                                     for_write ? G_IO_OUT : G_IO_IN, NULL);
  else if (for_write)
    source = g_pollable_output_stream_create_source (self->base_out, NULL);
  else
    source = g_pollable_input_stream_create_source (self->base_in, NULL);
  g_source_set_can_recurse (source, TRUE);
  return source;
}

/* What a flush source does: G_SOURCE_CONTINUE while records still wait
 * for the base stream. */
static gboolean
flush_buffered (FoctetTlsStream *self)
{
  g_autoptr(GError) error = NULL;

  if (!flush_pending (self, &error) && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  if (error != NULL)
    g_debug ("Sending a buffered TLS record failed: %s", error->message);
  return G_SOURCE_REMOVE;
}

/* On a socket the flush source is made once and kept: it polls the
 * socket for G_IO_OUT while records wait (armed), and asks for nothing
 * otherwise, through a FoctetPollFd (foctet-poll-fd.h): every time the
 * socket fills up (thousands of times per GiB), without the two system
 * calls that adding and removing a descriptor cost.  Only the context's
 * thread arms it. */
typedef struct {
  GSource source;
  FoctetPollFd fd;
} SocketFlushSource;

static gboolean
socket_flush_cb (gpointer user_data)
{
  return flush_buffered (user_data);
}

static gboolean
socket_flush_check (GSource *source)
{
  return foctet_poll_fd_reported (&((SocketFlushSource *) source)->fd);
}

static gboolean
socket_flush_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  SocketFlushSource *fs = (SocketFlushSource *) source;

  if (fs->fd.pollfd.events != 0 && callback (user_data) == G_SOURCE_CONTINUE)
    return G_SOURCE_CONTINUE;
  foctet_poll_fd_wait (&fs->fd, source, 0);
  foctet_poll_fd_drop_if_hung_up (&fs->fd, source);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs socket_flush_funcs = {
  NULL, socket_flush_check, socket_flush_dispatch, NULL, NULL, NULL,
};

/* On the context's thread. */
static void
socket_flush_arm (FoctetTlsStream *self)
{
  SocketFlushSource *fs = (SocketFlushSource *) self->flush_source;

  if (fs == NULL)
    {
      GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->base));

      self->flush_source = g_source_new (&socket_flush_funcs, sizeof (SocketFlushSource));
      fs = (SocketFlushSource *) self->flush_source;
      foctet_poll_fd_init (&fs->fd, g_socket_get_fd (socket));
      /* As base_source_new()'s. */
      g_source_set_can_recurse (self->flush_source, TRUE);
      g_source_set_callback (self->flush_source, socket_flush_cb, self, NULL);
      g_source_set_static_name (self->flush_source, "[foctet] TLS flush");
      g_source_attach (self->flush_source, self->context);
    }
  foctet_poll_fd_wait (&fs->fd, self->flush_source, G_IO_OUT);
}

static gboolean
socket_flush_arm_cb (gpointer user_data)
{
  socket_flush_arm (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
pollable_flush_cb (GObject  *base_out,
                   gpointer  user_data)
{
  FoctetTlsStream *self = user_data;

  if (flush_buffered (self) == G_SOURCE_CONTINUE)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->flush_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* A record left inside the session goes out as soon as the base stream
 * can take it, whether or not the caller writes again. */
static void
schedule_flush (FoctetTlsStream *self)
{
  gboolean is_socket;

  if (G_IS_SOCKET_CONNECTION (self->base))
    {
      if (g_main_context_is_owner (self->context))
        socket_flush_arm (self);
      else
        g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, socket_flush_arm_cb,
                                    g_object_ref (self), g_object_unref);
      return;
    }
  if (self->flush_source != NULL)
    return;
  self->flush_source = base_source_new (self, TRUE, &is_socket);
  g_source_set_callback (self->flush_source, G_SOURCE_FUNC (pollable_flush_cb), self, NULL);
  g_source_set_static_name (self->flush_source, "[foctet] TLS flush");
  g_source_attach (self->flush_source, self->context);
}

static gssize
tls_read_records (FoctetTlsStream  *self,
                      guint8           *buffer,
                      gsize             count,
                      GError          **error)
{
  gsize total = 0;

  if (self->read_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->read_error));
      return -1;
    }
  if (self->read_eof || count == 0)
    return 0;

  /* As many records as there are, so the caller gets big reads. */
  self->reading_records = TRUE;
  while (total < count)
    {
      ssize_t ret = gnutls_record_recv (self->session, buffer + total, count - total);

      if (ret > 0)
        {
          total += ret;
          continue;
        }
      if (ret == 0)
        {
          self->read_eof = TRUE;
          break;
        }
      if (ret == GNUTLS_E_INTERRUPTED)
        continue;
      if (ret == GNUTLS_E_AGAIN)
        {
          if (total > 0)
            break;
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Would block");
          self->reading_records = FALSE;
          return -1;
        }
      if (ret == GNUTLS_E_PREMATURE_TERMINATION && self->base_error == NULL)
        {
          /* Many peers close TCP without close_notify; the muxer above
           * knows whether the end was clean. */
          g_debug ("The peer closed the TLS session without close_notify");
          self->read_eof = TRUE;
          break;
        }
      if (!gnutls_error_is_fatal (ret))
        continue;
      self->read_error = session_error (self, ret, FALSE);
      if (total > 0)
        break;
      g_propagate_error (error, g_error_copy (self->read_error));
      self->reading_records = FALSE;
      return -1;
    }
  self->reading_records = FALSE;
  return total;
}

/* Reading may make GnuTLS answer (a KeyUpdate): that goes out too. */
static gssize
tls_read_nonblocking (FoctetTlsStream  *self,
                      guint8           *buffer,
                      gsize             count,
                      GError          **error)
{
  gssize n = tls_read_records (self, buffer, count, error);

  if (self->wbuf_len > 0)
    schedule_flush (self);
  return n;
}

/* Seals what GnuTLS takes of @buffer into records, stopping early when
 * the base stream is full: the last record then waits in the session. */
static gssize
tls_seal (FoctetTlsStream  *self,
          const guint8     *buffer,
          gsize             count,
          GError          **error)
{
  gsize total = 0;

  while (total < count)
    {
      gsize chunk = MIN (count - total, RECORD_PAYLOAD_MAX);
      ssize_t ret = gnutls_record_send (self->session, buffer + total, chunk);

      if (ret > 0)
        {
          total += ret;
          continue;
        }
      if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        {
          /* The record is sealed and buffered in the session: it is ours
           * to deliver now. */
          self->send_pending = TRUE;
          total += chunk;
          break;
        }
      self->write_error = session_error (self, ret, FALSE);
      if (total > 0)
        break;
      g_propagate_error (error, g_error_copy (self->write_error));
      return -1;
    }
  return total;
}

/* Seals @vectors in order, as far as the base stream lets them go, and
 * then sends wbuf: a vectored write (yamux hands over all its frames at
 * once) goes to the socket in as few writes as wbuf allows, not one per
 * vector. */
static gssize
tls_write_vectors (FoctetTlsStream      *self,
                   const GOutputVector  *vectors,
                   gsize                 n_vectors,
                   GError              **error)
{
  gsize total = 0;
  g_autoptr(GError) flush_error = NULL;

  /* A record GnuTLS holds goes first; records already in wbuf simply
   * have new ones queued behind them. */
  if (self->write_error != NULL || self->send_pending)
    if (!flush_pending (self, error))
      return -1;

  for (gsize i = 0; i < n_vectors && !self->send_pending && self->write_error == NULL; i++)
    {
      gssize n = tls_seal (self, vectors[i].buffer, vectors[i].size, total == 0 ? error : NULL);

      if (n < 0 && total == 0)
        return -1;
      if (n < 0)
        break;
      total += n;
      if ((gsize) n < vectors[i].size)
        break;
    }
  if (self->send_pending || !wbuf_flush (self, &flush_error))
    schedule_flush (self);
  return total;
}

/* A read returns at once without the base stream: plaintext or
 * ciphertext is buffered on our side, or the error or end is known. */
static gboolean
input_ready_now (FoctetTlsStream *self)
{
  return self->rbuf_len > 0 || gnutls_record_check_pending (self->session) > 0 ||
         self->read_error != NULL || self->read_eof;
}

static gboolean
tls_is_readable (FoctetTlsStream *self)
{
  if (input_ready_now (self))
    return TRUE;
  if (!g_pollable_input_stream_is_readable (self->base_in))
    return FALSE;
  self->base_drained = FALSE;
  return TRUE;
}

static gboolean
wait_ready_cb (GObject  *stream,
               gpointer  user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
wait_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Blocks on a private main context until @source (a pollable source,
 * consumed) is ready: the blocking read and write of the substreams. */
static gboolean
wait_blocking (GSource       *source,
               GCancellable  *cancellable,
               GError       **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GSource) cancel_source = NULL;
  gboolean ready = FALSE;

  g_source_set_callback (source, G_SOURCE_FUNC (wait_ready_cb), &ready, NULL);
  g_source_attach (source, context);
  if (cancellable != NULL)
    {
      cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (cancel_source, G_SOURCE_FUNC (wait_cancelled_cb), &ready, NULL);
      g_source_attach (cancel_source, context);
    }
  while (!ready)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (source);
  g_source_unref (source);
  if (cancel_source != NULL)
    g_source_destroy (cancel_source);
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

static void
foctet_tls_stream_dispose (GObject *object)
{
  FoctetTlsStream *self = FOCTET_TLS_STREAM (object);

  foctet_source_clear (&self->flush_source);
  foctet_source_clear (&self->step_source);
  foctet_source_clear (&self->timeout_source);
  foctet_source_clear (&self->cancel_source);

  G_OBJECT_CLASS (foctet_tls_stream_parent_class)->dispose (object);
}

static void
foctet_tls_stream_finalize (GObject *object)
{
  FoctetTlsStream *self = FOCTET_TLS_STREAM (object);

  if (self->session != NULL)
    gnutls_deinit (self->session);
  g_clear_object (&self->in);
  g_clear_object (&self->out);
  g_clear_object (&self->base);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->expected_peer, foctet_node_id_free);
  g_clear_pointer (&self->peer_id, foctet_node_id_free);
  g_clear_error (&self->verify_error);
  g_clear_error (&self->base_error);
  g_clear_error (&self->read_error);
  g_clear_error (&self->write_error);
  g_free (self->alpn);
  g_free (self->rbuf);
  g_free (self->wbuf);

  G_OBJECT_CLASS (foctet_tls_stream_parent_class)->finalize (object);
}

/* close_notify, best effort and without waiting: the sync close. */
static gboolean
foctet_tls_stream_close_fn (GIOStream     *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  FoctetTlsStream *self = FOCTET_TLS_STREAM (stream);

  foctet_source_clear (&self->flush_source);
  if (self->base_released)
    return TRUE;
  if (self->session != NULL && self->write_error == NULL && flush_pending (self, NULL) && !self->bye_sent)
    {
      self->bye_sent = TRUE;
      gnutls_bye (self->session, GNUTLS_SHUT_WR);
      wbuf_flush (self, NULL);
    }
  return g_io_stream_close (self->base, cancellable, error);
}

typedef struct {
  GSource *wait;
  GSource *timeout;
} CloseData;

static void
close_data_free (CloseData *data)
{
  foctet_source_clear (&data->wait);
  foctet_source_clear (&data->timeout);
  g_free (data);
}

static void
close_base_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
close_base (GTask *task)
{
  FoctetTlsStream *self = g_task_get_source_object (task);
  CloseData *data = g_task_get_task_data (task);

  foctet_source_clear (&data->wait);
  foctet_source_clear (&data->timeout);
  g_io_stream_close_async (self->base, g_task_get_priority (task), g_task_get_cancellable (task),
                           close_base_cb, task);
}

static gboolean close_step (GObject *base_out, gpointer user_data);

static gboolean
close_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;

  g_debug ("Gave up sending close_notify after %d ms", CLOSE_NOTIFY_TIMEOUT_MS);
  close_base (task);
  return G_SOURCE_REMOVE;
}

/* Flushes what is pending, sends close_notify, then closes the base. */
static gboolean
close_step (GObject  *base_out,
            gpointer  user_data)
{
  GTask *task = user_data;
  FoctetTlsStream *self = g_task_get_source_object (task);
  CloseData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  int ret = 0;

  if (!flush_pending (self, &error))
    ret = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ? GNUTLS_E_AGAIN : -1;
  else if (self->session != NULL && !self->bye_sent)
    {
      /* close_notify lands in wbuf: the next round sends it. */
      self->bye_sent = TRUE;
      ret = gnutls_bye (self->session, GNUTLS_SHUT_WR);
      if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        self->bye_sent = FALSE;   /* GnuTLS resumes it on the next call */
      else if (ret == 0 && self->wbuf_len > 0)
        ret = wbuf_flush (self, NULL) ? 0 : GNUTLS_E_AGAIN;
    }

  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    {
      if (data->wait == NULL)
        {
          data->wait = g_pollable_output_stream_create_source (self->base_out, NULL);
          g_source_set_callback (data->wait, G_SOURCE_FUNC (close_step), task, NULL);
          g_source_attach (data->wait, self->context);
          data->timeout = g_timeout_source_new (CLOSE_NOTIFY_TIMEOUT_MS);
          g_source_set_callback (data->timeout, close_timeout_cb, task, NULL);
          g_source_attach (data->timeout, self->context);
        }
      return G_SOURCE_CONTINUE;
    }
  close_base (task);
  return G_SOURCE_REMOVE;
}

static void
foctet_tls_stream_close_async (GIOStream           *stream,
                               int                  io_priority,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  FoctetTlsStream *self = FOCTET_TLS_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, foctet_tls_stream_close_async);
  g_task_set_priority (task, io_priority);
  g_task_set_task_data (task, g_new0 (CloseData, 1), (GDestroyNotify) close_data_free);
  foctet_source_clear (&self->flush_source);
  if (self->base_released)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  if (close_step (NULL, task) == G_SOURCE_REMOVE)
    return;
}

static gboolean
foctet_tls_stream_close_finish (GIOStream     *stream,
                                GAsyncResult  *result,
                                GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
foctet_tls_stream_class_init (FoctetTlsStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = foctet_tls_stream_dispose;
  object_class->finalize = foctet_tls_stream_finalize;
  stream_class->get_input_stream = foctet_tls_stream_get_input_stream;
  stream_class->get_output_stream = foctet_tls_stream_get_output_stream;
  stream_class->close_fn = foctet_tls_stream_close_fn;
  stream_class->close_async = foctet_tls_stream_close_async;
  stream_class->close_finish = foctet_tls_stream_close_finish;
}

static void
foctet_tls_stream_init (FoctetTlsStream *self)
{
}

/* ------------------------------------------------------------------ */
/* Sources                                                             */

/* The source of a substream: ready whenever the session can be read (or
 * written) without blocking — because plaintext or ciphertext is already
 * buffered on our side, or an error or the end is known, or the base
 * stream is ready.  It stays valid for as long as the caller keeps it, as
 * GPollable sources must: readiness is checked at every iteration, not
 * decided when the source is made. */
typedef struct {
  GSource source;
  GWeakRef tls;
  GObject *stream;
  gboolean for_write;
} TlsSource;

static gboolean
tls_source_ready (TlsSource *ts)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&ts->tls);

  if (tls == NULL)
    return TRUE;
  if (ts->for_write)
    return tls->write_error != NULL;
  return input_ready_now (tls);
}

static gboolean
tls_source_prepare (GSource *source,
                    int     *timeout)
{
  *timeout = -1;
  return tls_source_ready ((TlsSource *) source);
}

static gboolean
tls_source_check (GSource *source)
{
  return tls_source_ready ((TlsSource *) source);
}

static gboolean
tls_source_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     user_data)
{
  TlsSource *ts = (TlsSource *) source;

  if (!ts->for_write)
    {
      g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&ts->tls);

      /* Dispatched: the base stream may have more to read. */
      if (tls != NULL)
        tls->base_drained = FALSE;
    }
  if (callback == NULL)
    return G_SOURCE_CONTINUE;
  return ((GPollableSourceFunc) (void (*) (void)) callback) (ts->stream, user_data);
}

static void
tls_source_finalize (GSource *source)
{
  TlsSource *ts = (TlsSource *) source;

  g_weak_ref_clear (&ts->tls);
  g_object_unref (ts->stream);
}

static gboolean
tls_source_closure_callback (GObject  *stream,
                             gpointer  data)
{
  GClosure *closure = data;
  GValue param = G_VALUE_INIT;
  GValue result_value = G_VALUE_INIT;
  gboolean result;

  g_value_init (&result_value, G_TYPE_BOOLEAN);
  g_value_init (&param, G_TYPE_OBJECT);
  g_value_set_object (&param, stream);
  g_closure_invoke (closure, &result_value, 1, &param, NULL);
  result = g_value_get_boolean (&result_value);
  g_value_unset (&result_value);
  g_value_unset (&param);
  return result;
}

static GSourceFuncs tls_source_funcs = {
  tls_source_prepare,
  tls_source_check,
  tls_source_dispatch,
  tls_source_finalize,
  (GSourceFunc) (void (*) (void)) tls_source_closure_callback,
  NULL,
};

static GSource *
tls_source_new (FoctetTlsStream *tls,
                GObject         *stream,
                gboolean         for_write,
                GCancellable    *cancellable)
{
  GSource *source = g_source_new (&tls_source_funcs, sizeof (TlsSource));
  TlsSource *ts = (TlsSource *) source;

  g_source_set_static_name (source, for_write ? "[foctet] TLS writable" : "[foctet] TLS readable");
  /* As base_source_new()'s. */
  g_source_set_can_recurse (source, TRUE);
  g_weak_ref_init (&ts->tls, tls);
  ts->stream = g_object_ref (stream);
  ts->for_write = for_write;

  if (tls != NULL)
    {
      gboolean is_socket;
      g_autoptr(GSource) base = base_source_new (tls, for_write, &is_socket);

      g_source_set_dummy_callback (base);
      g_source_add_child_source (source, base);
    }
  if (cancellable != NULL)
    {
      g_autoptr(GSource) cancel = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancel);
      g_source_add_child_source (source, cancel);
    }
  return source;
}

/* ------------------------------------------------------------------ */
/* TlsInputStream                                                      */

static gssize
tls_input_stream_read_nonblocking (GPollableInputStream  *pollable,
                                   void                  *buffer,
                                   gsize                  count,
                                   GError               **error)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_INPUT_STREAM (pollable)->tls);

  if (tls == NULL)
    return closed_error (error) ? 0 : -1;
  return tls_read_nonblocking (tls, buffer, count, error);
}

static gboolean
tls_input_stream_is_readable (GPollableInputStream *pollable)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_INPUT_STREAM (pollable)->tls);

  return tls == NULL || tls_is_readable (tls);
}

static GSource *
tls_input_stream_create_source (GPollableInputStream *pollable,
                                GCancellable         *cancellable)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_INPUT_STREAM (pollable)->tls);

  return tls_source_new (tls, G_OBJECT (pollable), FALSE, cancellable);
}

static gboolean
tls_input_stream_can_poll (GPollableInputStream *pollable)
{
  return TRUE;
}

static gssize
tls_input_stream_read (GInputStream  *stream,
                       void          *buffer,
                       gsize          count,
                       GCancellable  *cancellable,
                       GError       **error)
{
  for (;;)
    {
      g_autoptr(GError) local = NULL;
      gssize n = tls_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream), buffer, count, &local);

      if (n >= 0 || !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local != NULL)
            g_propagate_error (error, g_steal_pointer (&local));
          return n;
        }
      if (!wait_blocking (tls_input_stream_create_source (G_POLLABLE_INPUT_STREAM (stream), NULL),
                          cancellable, error))
        return -1;
    }
}

static gboolean
tls_input_stream_close (GInputStream  *stream,
                        GCancellable  *cancellable,
                        GError       **error)
{
  /* The FoctetTlsStream closes the session. */
  return TRUE;
}

static void
tls_input_stream_finalize (GObject *object)
{
  g_weak_ref_clear (&TLS_INPUT_STREAM (object)->tls);
  G_OBJECT_CLASS (tls_input_stream_parent_class)->finalize (object);
}

static void
tls_input_stream_class_init (TlsInputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tls_input_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = tls_input_stream_read;
  G_INPUT_STREAM_CLASS (klass)->close_fn = tls_input_stream_close;
}

static void
tls_input_stream_init (TlsInputStream *self)
{
}

static void
tls_input_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = tls_input_stream_can_poll;
  iface->is_readable = tls_input_stream_is_readable;
  iface->create_source = tls_input_stream_create_source;
  iface->read_nonblocking = tls_input_stream_read_nonblocking;
}

/* ------------------------------------------------------------------ */
/* TlsOutputStream                                                     */

static gssize
tls_output_stream_write_nonblocking (GPollableOutputStream  *pollable,
                                     const void             *buffer,
                                     gsize                   count,
                                     GError                **error)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_OUTPUT_STREAM (pollable)->tls);
  GOutputVector vector = { buffer, count };

  if (tls == NULL)
    return closed_error (error) ? 0 : -1;
  return tls_write_vectors (tls, &vector, 1, error);
}

static GPollableReturn
tls_output_stream_writev_nonblocking (GPollableOutputStream  *pollable,
                                      const GOutputVector    *vectors,
                                      gsize                   n_vectors,
                                      gsize                  *bytes_written,
                                      GError                **error)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_OUTPUT_STREAM (pollable)->tls);
  GError *local = NULL;
  gssize n;

  *bytes_written = 0;
  if (tls == NULL)
    return closed_error (error) ? G_POLLABLE_RETURN_OK : G_POLLABLE_RETURN_FAILED;
  n = tls_write_vectors (tls, vectors, n_vectors, &local);
  if (n < 0)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (local);
          return G_POLLABLE_RETURN_WOULD_BLOCK;
        }
      g_propagate_error (error, local);
      return G_POLLABLE_RETURN_FAILED;
    }
  *bytes_written = n;
  return G_POLLABLE_RETURN_OK;
}

static gboolean
tls_output_stream_is_writable (GPollableOutputStream *pollable)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_OUTPUT_STREAM (pollable)->tls);

  return tls == NULL || tls->write_error != NULL || g_pollable_output_stream_is_writable (tls->base_out);
}

static GSource *
tls_output_stream_create_source (GPollableOutputStream *pollable,
                                 GCancellable          *cancellable)
{
  g_autoptr(FoctetTlsStream) tls = g_weak_ref_get (&TLS_OUTPUT_STREAM (pollable)->tls);

  return tls_source_new (tls, G_OBJECT (pollable), TRUE, cancellable);
}

static gboolean
tls_output_stream_can_poll (GPollableOutputStream *pollable)
{
  return TRUE;
}

static gssize
tls_output_stream_write (GOutputStream  *stream,
                         const void     *buffer,
                         gsize           count,
                         GCancellable   *cancellable,
                         GError        **error)
{
  for (;;)
    {
      g_autoptr(GError) local = NULL;
      gssize n = tls_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (stream), buffer, count, &local);

      if (n >= 0 || !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local != NULL)
            g_propagate_error (error, g_steal_pointer (&local));
          return n;
        }
      if (!wait_blocking (tls_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (stream), NULL),
                          cancellable, error))
        return -1;
    }
}

static gboolean
tls_output_stream_close (GOutputStream  *stream,
                         GCancellable   *cancellable,
                         GError        **error)
{
  return TRUE;
}

static void
tls_output_stream_finalize (GObject *object)
{
  g_weak_ref_clear (&TLS_OUTPUT_STREAM (object)->tls);
  G_OBJECT_CLASS (tls_output_stream_parent_class)->finalize (object);
}

static void
tls_output_stream_class_init (TlsOutputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tls_output_stream_finalize;
  G_OUTPUT_STREAM_CLASS (klass)->write_fn = tls_output_stream_write;
  G_OUTPUT_STREAM_CLASS (klass)->close_fn = tls_output_stream_close;
}

static void
tls_output_stream_init (TlsOutputStream *self)
{
}

static void
tls_output_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = tls_output_stream_can_poll;
  iface->is_writable = tls_output_stream_is_writable;
  iface->create_source = tls_output_stream_create_source;
  iface->write_nonblocking = tls_output_stream_write_nonblocking;
  iface->writev_nonblocking = tls_output_stream_writev_nonblocking;
}

/* ------------------------------------------------------------------ */
/* The handshake                                                       */

static void
handshake_finish_with (FoctetTlsStream *self,
                       GError          *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->handshake_task);

  foctet_source_clear (&self->step_source);
  foctet_source_clear (&self->timeout_source);
  foctet_source_clear (&self->cancel_source);
  if (task == NULL)
    return;
  /* "@base_stream is not closed on failure": not even when this stream,
   * which the caller never gets, goes. */
  self->base_released = error != NULL;
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_object_ref (self), g_object_unref);
}

static void handshake_step (FoctetTlsStream *self);

static gboolean
handshake_ready_cb (GObject  *pollable,
                    gpointer  user_data)
{
  FoctetTlsStream *self = user_data;

  foctet_source_clear (&self->step_source);
  handshake_step (self);
  return G_SOURCE_REMOVE;
}

/* Tells the peer why, as far as the handshake still allows it. */
static void
send_alert (FoctetTlsStream *self,
            int              ret)
{
  if (self->verify_error != NULL)
    gnutls_alert_send (self->session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
  else if (self->alpn_refused || ret == GNUTLS_E_NO_APPLICATION_PROTOCOL)
    gnutls_alert_send (self->session, GNUTLS_AL_FATAL, GNUTLS_A_NO_APPLICATION_PROTOCOL);
  else if (self->base_error == NULL && ret != GNUTLS_E_FATAL_ALERT_RECEIVED)
    gnutls_alert_send_appropriate (self->session, ret);
  wbuf_flush (self, NULL);
}

static void
handshake_step (FoctetTlsStream *self)
{
  int ret;

  do
    ret = gnutls_handshake (self->session);
  while (ret < 0 && !gnutls_error_is_fatal (ret) && ret != GNUTLS_E_AGAIN);

  /* The flight GnuTLS just sealed is in wbuf. */
  if (ret == GNUTLS_E_AGAIN || ret == 0)
    {
      g_autoptr(GError) error = NULL;

      if (!wbuf_flush (self, &error) && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        ret = GNUTLS_E_PUSH_ERROR;
      else if (ret == 0 && self->wbuf_len > 0)
        schedule_flush (self);
    }

  if (ret == GNUTLS_E_AGAIN)
    {
      if (self->wbuf_len > 0 || gnutls_record_get_direction (self->session) == 1)
        self->step_source = g_pollable_output_stream_create_source (self->base_out, NULL);
      else
        self->step_source = g_pollable_input_stream_create_source (self->base_in, NULL);
      g_source_set_callback (self->step_source, G_SOURCE_FUNC (handshake_ready_cb), self, NULL);
      g_source_set_static_name (self->step_source, "[foctet] TLS handshake");
      g_source_attach (self->step_source, self->context);
      return;
    }

  if (ret < 0)
    {
      GError *error = session_error (self, ret, TRUE);

      send_alert (self, ret);
      g_debug ("TLS handshake as %s failed: %s", self->is_server ? "listener" : "dialer", error->message);
      handshake_finish_with (self, error);
      return;
    }

  if (self->peer_id == NULL)
    {
      /* GnuTLS ran no verification: no certificate came. */
      handshake_finish_with (self, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                                                        "The peer sent no certificate"));
      return;
    }

  if (g_getenv ("G_MESSAGES_DEBUG") != NULL)
    {
      g_autofree char *description = foctet_tls_stream_get_description (self);
      g_debug ("TLS handshake done: %s", description);
    }
  handshake_finish_with (self, NULL);
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  FoctetTlsStream *self = user_data;
  guint timeout_ms = self->timeout_ms;

  g_clear_pointer (&self->timeout_source, g_source_unref);
  handshake_finish_with (self, g_error_new (FOCTET_ERROR, FOCTET_ERROR_TIMED_OUT,
                                            "The TLS handshake did not complete within %u.%03u s",
                                            timeout_ms / 1000, timeout_ms % 1000));
  return G_SOURCE_REMOVE;
}

static gboolean
handshake_cancelled_cb (GCancellable *cancellable,
                        gpointer      user_data)
{
  FoctetTlsStream *self = user_data;
  GError *error = NULL;

  g_clear_pointer (&self->cancel_source, g_source_unref);
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  handshake_finish_with (self, error);
  return G_SOURCE_REMOVE;
}

static gboolean
session_setup (FoctetTlsStream  *self,
               GError          **error)
{
  gnutls_certificate_credentials_t cred;
  gnutls_datum_t alpn;
  const char *error_pos = NULL;
  int ret;

  cred = foctet_gnutls_get_credentials (self->identity, error);
  if (cred == NULL)
    return FALSE;

  ret = gnutls_init (&self->session, (self->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                                     GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
  if (ret == 0)
    ret = gnutls_priority_set_direct (self->session, self->is_server ? FOCTET_GNUTLS_PRIORITY_SERVER : FOCTET_GNUTLS_PRIORITY,
                                      &error_pos);
  if (ret == 0)
    ret = gnutls_credentials_set (self->session, GNUTLS_CRD_CERTIFICATE, cred);
  if (ret == 0)
    {
      alpn.data = (unsigned char *) self->alpn;
      alpn.size = strlen (self->alpn);
      ret = gnutls_alpn_set_protocols (self->session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    }
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot set up the TLS session: %s",
                   gnutls_strerror (ret));
      return FALSE;
    }

  gnutls_session_set_ptr (self->session, self);
  gnutls_session_set_verify_function (self->session, verify_func);
  gnutls_handshake_set_timeout (self->session, 0);
  foctet_gnutls_session_setup_checks (self->session, self->is_server, handshake_hook);
  gnutls_transport_set_ptr (self->session, self);
  gnutls_transport_set_pull_function (self->session, pull_func);
  gnutls_transport_set_pull_timeout_function (self->session, pull_timeout_func);
  gnutls_transport_set_vec_push_function (self->session, vec_push_func);
  return TRUE;
}

/**
 * foctet_tls_stream_handshake_async:
 * @base_stream: the stream to run TLS over; its input and output streams
 *   must be pollable
 * @identity: our identity, whose certificate we present
 * @is_server: %TRUE on the listening side
 * @alpn: the one ALPN value to offer or serve, e.g. [const@Foctet.TLS_ALPN]
 * @expected_peer: (nullable): the peer's NodeId to insist on: on the
 *   dialing side the node dialed; on the listening side usually %NULL
 *   (anyone may connect), or the one caller expected, such as the caller
 *   a relay announced for a circuit
 * @timeout_ms: the limit on the handshake in milliseconds, 0 for none
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the handshake is done
 * @user_data: data for @callback
 *
 * Runs the TLS 1.3 handshake of PROTOCOL §2 over @base_stream.  A peer
 * certificate that breaks the rules fails with
 * %FOCTET_ERROR_BAD_CERTIFICATE, a dialed node presenting another NodeId
 * with %FOCTET_ERROR_NODE_ID_MISMATCH (both send alert bad_certificate),
 * no common ALPN value or a refusal by the peer with
 * %FOCTET_ERROR_HANDSHAKE_FAILED, a handshake beyond @timeout_ms with
 * %FOCTET_ERROR_TIMED_OUT.  @base_stream is not closed on failure.
 */
void
foctet_tls_stream_handshake_async (GIOStream           *base_stream,
                                   FoctetIdentity      *identity,
                                   gboolean             is_server,
                                   const char          *alpn,
                                   const FoctetNodeId  *expected_peer,
                                   guint                timeout_ms,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(FoctetTlsStream) self = NULL;
  GInputStream *base_in;
  GOutputStream *base_out;
  GError *error = NULL;
  TlsInputStream *in;
  TlsOutputStream *out;

  g_return_if_fail (G_IS_IO_STREAM (base_stream));
  g_return_if_fail (FOCTET_IS_IDENTITY (identity));
  g_return_if_fail (alpn != NULL && *alpn != '\0' && strlen (alpn) < 256);

  self = g_object_new (FOCTET_TYPE_TLS_STREAM, NULL);
  self->handshake_task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (self->handshake_task, foctet_tls_stream_handshake_async);

  base_in = g_io_stream_get_input_stream (base_stream);
  base_out = g_io_stream_get_output_stream (base_stream);
  if (!G_IS_POLLABLE_INPUT_STREAM (base_in) || !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (base_in)) ||
      !G_IS_POLLABLE_OUTPUT_STREAM (base_out) || !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (base_out)))
    {
      handshake_finish_with (self, g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                                                        "TLS needs a base stream whose input and output are pollable"));
      return;
    }

  self->base = g_object_ref (base_stream);
  if (G_IS_TCP_CONNECTION (base_stream))
    self->socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (base_stream));  /* base's */
  self->base_in = G_POLLABLE_INPUT_STREAM (base_in);
  self->base_out = G_POLLABLE_OUTPUT_STREAM (base_out);
  self->context = g_main_context_ref_thread_default ();
  self->identity = g_object_ref (identity);
  self->is_server = is_server;
  self->alpn = g_strdup (alpn);
  self->expected_peer = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  self->rbuf = g_malloc (READ_BUFFER_SIZE);
  self->wbuf = g_malloc (WRITE_BUFFER_SIZE);

  in = g_object_new (TLS_TYPE_INPUT_STREAM, NULL);
  g_weak_ref_init (&in->tls, self);
  self->in = G_INPUT_STREAM (in);
  out = g_object_new (TLS_TYPE_OUTPUT_STREAM, NULL);
  g_weak_ref_init (&out->tls, self);
  self->out = G_OUTPUT_STREAM (out);

  if (!session_setup (self, &error))
    {
      handshake_finish_with (self, error);
      return;
    }

  if (timeout_ms > 0)
    {
      self->timeout_ms = timeout_ms;
      self->timeout_source = g_timeout_source_new (timeout_ms);
      g_source_set_callback (self->timeout_source, handshake_timeout_cb, self, NULL);
      g_source_attach (self->timeout_source, self->context);
    }
  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (handshake_cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, self->context);
    }

  /* The task keeps the stream alive while the handshake runs. */
  g_task_set_task_data (self->handshake_task, g_object_ref (self), g_object_unref);
  handshake_step (self);
}

/**
 * foctet_tls_stream_handshake_finish:
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [func@Foctet.TlsStream.handshake_async].  The errors are those
 * [func@Foctet.TlsStream.handshake_async] lists, %FOCTET_ERROR_INVALID_ARGUMENT
 * for a base stream that is not pollable, %G_IO_ERROR_CANCELLED when
 * cancelled, or the base stream's I/O error.  On failure the base stream
 * is left open for the caller to close.
 *
 * Returns: (transfer full): the TLS stream, its peer authenticated, or
 *   %NULL with @error set
 */
FoctetTlsStream *
foctet_tls_stream_handshake_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == foctet_tls_stream_handshake_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * foctet_tls_stream_get_base_stream:
 * @self: a [class@Foctet.TlsStream]
 *
 * Gets the stream the TLS session runs over, as given to
 * [func@Foctet.TlsStream.handshake_async].  The TLS stream holds a reference
 * to it; do not read or write it directly while the session is in use.
 *
 * Returns: (transfer none): the stream TLS runs over, owned by @self
 */
GIOStream *
foctet_tls_stream_get_base_stream (FoctetTlsStream *self)
{
  g_return_val_if_fail (FOCTET_IS_TLS_STREAM (self), NULL);
  return self->base;
}

/**
 * foctet_tls_stream_get_peer_id:
 * @self: a [class@Foctet.TlsStream]
 *
 * Gets the peer's NodeId, taken from the certificate it presented and
 * proved in the handshake.  Every stream [func@Foctet.TlsStream.handshake_finish]
 * returns has one.
 *
 * Returns: (transfer none): the NodeId the peer proved it holds, owned by
 *   @self
 */
const FoctetNodeId *
foctet_tls_stream_get_peer_id (FoctetTlsStream *self)
{
  g_return_val_if_fail (FOCTET_IS_TLS_STREAM (self), NULL);
  return self->peer_id;
}

/**
 * foctet_tls_stream_get_alpn:
 * @self: a [class@Foctet.TlsStream]
 *
 * Gets the ALPN value the session was set up with; the handshake
 * succeeds only when both sides agree on it.
 *
 * Returns: the ALPN value of the session, owned by @self
 */
const char *
foctet_tls_stream_get_alpn (FoctetTlsStream *self)
{
  g_return_val_if_fail (FOCTET_IS_TLS_STREAM (self), NULL);
  return self->alpn;
}

/**
 * foctet_tls_stream_get_description:
 * @self: a [class@Foctet.TlsStream]
 *
 * Describes the session's security parameters in one line of text, such
 * as "TLS1.3 AES-256-GCM X25519", as GnuTLS names them.
 *
 * Returns: (transfer full): the protocol version, cipher suite and key
 *   exchange group, for logs; free with g_free()
 */
char *
foctet_tls_stream_get_description (FoctetTlsStream *self)
{
  const char *group;

  g_return_val_if_fail (FOCTET_IS_TLS_STREAM (self), NULL);

  group = gnutls_group_get_name (gnutls_group_get (self->session));
  return g_strdup_printf ("%s %s %s",
                          gnutls_protocol_get_name (gnutls_protocol_get_version (self->session)),
                          gnutls_cipher_get_name (gnutls_cipher_get (self->session)),
                          group != NULL ? group : "");
}

/* tls-baseline.c: the throughput of a bare GnuTLS TLS 1.3 stream on
 * loopback, the ceiling foctet's TLS transport is measured against.
 *
 * Copyright 2024 The foctet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The process forks a server child; each side has its own self-signed
 * Ed25519 certificate and checks the other's (mutual authentication, as in
 * PROTOCOL §2).  Every stream is its own TCP connection and its own thread,
 * with blocking sockets and TCP_NODELAY.  All streams shake hands first;
 * the clock runs from the moment they are released until the last byte has
 * arrived (download) or the server has confirmed the last byte (upload).
 * Like `foctet-shell perf --streams N`, --bytes is per stream and the result
 * gives the total over all streams.
 *
 * Output: one JSON line on stdout,
 *   {"bytes":…, "seconds":…, "gbit_per_s":…, "streams":N, "direction":…, "cipher":…}
 * with Gbit/s = bytes × 8 / seconds / 10⁹.
 */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define DEFAULT_PRIORITY \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-X25519"

typedef enum {
  DIRECTION_DOWNLOAD,  /* server → client */
  DIRECTION_UPLOAD,    /* client → server */
} Direction;

typedef struct {
  guint64 bytes;           /* per stream */
  int streams;
  Direction direction;
  gsize buffer_size;       /* application buffer handed to gnutls_record_send/recv */
  gsize read_ahead;        /* user-space receive buffer under GnuTLS; 0: GnuTLS reads the socket */
  gsize write_coalesce;    /* records gathered before one send(); 0: one send() per record */
  char *priority;
} Options;

/* What one stream's thread needs; the socket layer under GnuTLS lives here
 * too, so that reads ahead and gathered writes stay with their session. */
typedef struct {
  const Options *options;
  gnutls_certificate_credentials_t credentials;
  int fd;
  gboolean server;

  guint8 *in_buf;
  gsize in_start, in_end;
  guint8 *out_buf;
  gsize out_len;
  gboolean coalescing;     /* only once the handshake is over: its flights must not wait */

  const char *cipher;      /* the one negotiated */

  GMutex *lock;            /* the start line, shared by the streams of one side */
  GCond *cond;
  int *ready;
  gboolean *go;
} Stream;

G_NORETURN static void
die (const char *what,
     const char *why)
{
  g_printerr ("tls-baseline: %s: %s\n", what, why);
  exit (1);
}

static void
check_gnutls (int         ret,
              const char *what)
{
  if (ret < 0)
    die (what, gnutls_strerror (ret));
}

static gboolean
parse_bytes (const char *text,
             guint64    *out)
{
  char *end = NULL;
  guint64 value, unit = 1;

  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  errno = 0;
  value = g_ascii_strtoull (text, &end, 10);
  if (errno != 0)
    return FALSE;
  switch (g_ascii_toupper (*end))
    {
    case '\0': break;
    case 'K': unit = G_GUINT64_CONSTANT (1) << 10; end++; break;
    case 'M': unit = G_GUINT64_CONSTANT (1) << 20; end++; break;
    case 'G': unit = G_GUINT64_CONSTANT (1) << 30; end++; break;
    default: return FALSE;
    }
  if (*end != '\0' || value > G_MAXUINT64 / unit)
    return FALSE;
  *out = value * unit;
  return TRUE;
}

/* Certificates. */

/* PROTOCOL §2: exactly one certificate, an Ed25519 key, a self-signature
 * valid under that key; nothing else about it matters. */
static int
verify_peer (gnutls_session_t session)
{
  const gnutls_datum_t *chain;
  unsigned int n = 0, status = 0;
  gnutls_x509_crt_t crt;
  int ret = GNUTLS_E_CERTIFICATE_ERROR;

  chain = gnutls_certificate_get_peers (session, &n);
  if (chain == NULL || n != 1)
    return GNUTLS_E_CERTIFICATE_ERROR;
  if (gnutls_x509_crt_init (&crt) < 0)
    return GNUTLS_E_CERTIFICATE_ERROR;
  /* DO_NOT_ALLOW_SAME makes GnuTLS check the signature of a certificate
   * that is its own trust anchor instead of trusting it on sight. */
  if (gnutls_x509_crt_import (crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0 &&
      gnutls_x509_crt_get_pk_algorithm (crt, NULL) == GNUTLS_PK_EDDSA_ED25519 &&
      gnutls_x509_crt_verify (crt, &crt, 1,
                              GNUTLS_VERIFY_DO_NOT_ALLOW_SAME |
                              GNUTLS_VERIFY_DISABLE_CA_SIGN |
                              GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                              GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                              GNUTLS_VERIFY_ALLOW_ANY_X509_V1_CA_CRT,
                              &status) >= 0 &&
      status == 0)
    ret = 0;
  gnutls_x509_crt_deinit (crt);
  return ret;
}

static gnutls_certificate_credentials_t
make_credentials (const char *name)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_certificate_credentials_t credentials;
  guint8 serial[16];
  time_t now = time (NULL);

  check_gnutls (gnutls_x509_privkey_init (&key), "key");
  check_gnutls (gnutls_x509_privkey_generate (key, GNUTLS_PK_EDDSA_ED25519, 0, 0), "generate key");

  check_gnutls (gnutls_x509_crt_init (&crt), "certificate");
  check_gnutls (gnutls_x509_crt_set_version (crt, 3), "certificate version");
  for (gsize i = 0; i < sizeof serial; i++)
    serial[i] = g_random_int_range (0, 256);
  serial[0] &= 0x7f;  /* a positive INTEGER */
  check_gnutls (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), "certificate serial");
  check_gnutls (gnutls_x509_crt_set_activation_time (crt, now - 3600), "certificate dates");
  check_gnutls (gnutls_x509_crt_set_expiration_time (crt, now + 86400), "certificate dates");
  check_gnutls (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                               name, strlen (name)), "certificate subject");
  check_gnutls (gnutls_x509_crt_set_key (crt, key), "certificate key");
  check_gnutls (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_UNKNOWN, 0), "sign certificate");

  check_gnutls (gnutls_certificate_allocate_credentials (&credentials), "credentials");
  /* The credentials keep copies of both. */
  check_gnutls (gnutls_certificate_set_x509_key (credentials, &crt, 1, key), "credentials");
  gnutls_certificate_set_verify_function (credentials, verify_peer);

  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
  return credentials;
}

/* The socket layer under GnuTLS.  By default GnuTLS reads a record's
 * header and its body with two recv() calls and writes each record (at
 * most 16 KiB of data) with its own sendmsg(); reading ahead and gathering
 * records cut those system calls, which are most of what a loopback
 * stream costs besides AES-GCM. */

static ssize_t
stream_pull (gnutls_transport_ptr_t ptr,
             void                  *data,
             size_t                 len)
{
  Stream *stream = ptr;
  gsize have;

  if (stream->in_start == stream->in_end)
    {
      ssize_t n;

      if (len >= stream->options->read_ahead)
        return recv (stream->fd, data, len, 0);
      n = recv (stream->fd, stream->in_buf, stream->options->read_ahead, 0);
      if (n <= 0)
        return n;
      stream->in_start = 0;
      stream->in_end = n;
    }
  have = MIN (len, stream->in_end - stream->in_start);
  memcpy (data, stream->in_buf + stream->in_start, have);
  stream->in_start += have;
  return have;
}

static int
stream_pull_timeout (gnutls_transport_ptr_t ptr,
                     unsigned int           ms)
{
  Stream *stream = ptr;
  struct pollfd pfd = { .fd = stream->fd, .events = POLLIN };

  if (stream->in_start < stream->in_end)
    return 1;
  return poll (&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
}

static gboolean
send_all (int          fd,
          const guint8 *data,
          gsize        len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
stream_flush (Stream *stream)
{
  gboolean ok = send_all (stream->fd, stream->out_buf, stream->out_len);

  stream->out_len = 0;
  return ok;
}

/* GnuTLS hands over each record whole; once they stop fitting, the
 * gathered ones go out in one send().  The caller flushes after its last
 * record and before it waits for the peer. */
static ssize_t
stream_push (gnutls_transport_ptr_t ptr,
             const giovec_t        *iov,
             int                    iovcnt)
{
  Stream *stream = ptr;
  gsize total = 0;

  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  if (stream->out_len + total > stream->options->write_coalesce && !stream_flush (stream))
    return -1;
  if (!stream->coalescing || total > stream->options->write_coalesce)
    {
      for (int i = 0; i < iovcnt; i++)
        if (!send_all (stream->fd, iov[i].iov_base, iov[i].iov_len))
          return -1;
      return total;
    }
  for (int i = 0; i < iovcnt; i++)
    {
      memcpy (stream->out_buf + stream->out_len, iov[i].iov_base, iov[i].iov_len);
      stream->out_len += iov[i].iov_len;
    }
  return total;
}

/* Sessions. */

static gnutls_session_t
start_session (Stream *stream)
{
  const Options *options = stream->options;
  gnutls_session_t session;
  const char *error_pos = NULL;
  int one = 1, ret;

  if (setsockopt (stream->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    die ("TCP_NODELAY", g_strerror (errno));

  check_gnutls (gnutls_init (&session, stream->server ? GNUTLS_SERVER | GNUTLS_NO_TICKETS
                                                      : GNUTLS_CLIENT),
                "session");
  ret = gnutls_priority_set_direct (session, options->priority, &error_pos);
  if (ret < 0)
    {
      g_autofree char *what = g_strdup_printf ("priority at '%s'", error_pos ? error_pos : "");
      die (what, gnutls_strerror (ret));
    }
  check_gnutls (gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, stream->credentials),
                "credentials");
  if (stream->server)
    gnutls_certificate_server_set_request (session, GNUTLS_CERT_REQUIRE);

  /* The default callbacks take the socket itself as their pointer. */
  gnutls_transport_set_ptr2 (session,
                             options->read_ahead > 0 ? (gpointer) stream : GINT_TO_POINTER (stream->fd),
                             options->write_coalesce > 0 ? (gpointer) stream : GINT_TO_POINTER (stream->fd));
  if (options->read_ahead > 0)
    {
      stream->in_buf = g_malloc (options->read_ahead);
      gnutls_transport_set_pull_function (session, stream_pull);
      gnutls_transport_set_pull_timeout_function (session, stream_pull_timeout);
    }
  if (options->write_coalesce > 0)
    {
      stream->out_buf = g_malloc (options->write_coalesce);
      gnutls_transport_set_vec_push_function (session, stream_push);
    }

  do
    ret = gnutls_handshake (session);
  while (ret < 0 && gnutls_error_is_fatal (ret) == 0);
  check_gnutls (ret, stream->server ? "server handshake" : "client handshake");
  stream->coalescing = TRUE;

  if (gnutls_protocol_get_version (session) != GNUTLS_TLS1_3)
    die ("handshake", "the peers agreed on a version other than TLS 1.3");
  stream->cipher = gnutls_cipher_get_name (gnutls_cipher_get (session));
  return session;
}

static void
send_bytes (Stream          *stream,
            gnutls_session_t session,
            guint64          bytes)
{
  gsize size = stream->options->buffer_size;
  g_autofree guint8 *buf = g_malloc (size);

  memset (buf, 0x5a, size);
  while (bytes > 0)
    {
      gsize chunk = MIN (bytes, size), off = 0;

      /* One call sends at most one record: walk the buffer. */
      while (off < chunk)
        {
          ssize_t n = gnutls_record_send (session, buf + off, chunk - off);

          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n < 0)
            die ("send", gnutls_strerror (n));
          off += n;
        }
      bytes -= chunk;
    }
  if (!stream_flush (stream))
    die ("send", g_strerror (errno));
}

static void
receive_bytes (gnutls_session_t session,
               gsize            buffer_size,
               guint64          bytes)
{
  g_autofree guint8 *buf = g_malloc (buffer_size);

  while (bytes > 0)
    {
      ssize_t n = gnutls_record_recv (session, buf, MIN (bytes, buffer_size));

      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        continue;
      if (n < 0)
        die ("receive", gnutls_strerror (n));
      if (n == 0)
        die ("receive", "the peer closed the stream early");
      bytes -= n;
    }
}

static void
send_byte (Stream          *stream,
           gnutls_session_t session)
{
  const guint8 byte = 1;
  ssize_t n;

  do
    n = gnutls_record_send (session, &byte, 1);
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
  if (n < 0)
    die ("send", gnutls_strerror (n));
  if (!stream_flush (stream))
    die ("send", g_strerror (errno));
}

static void
end_session (Stream          *stream,
             gnutls_session_t session)
{
  gnutls_bye (session, GNUTLS_SHUT_WR);
  stream_flush (stream);
  gnutls_deinit (session);
  close (stream->fd);
  g_free (stream->in_buf);
  g_free (stream->out_buf);
}

/* Waits until every stream of this side has shaken hands and the main
 * thread has started the clock. */
static void
stream_ready (Stream *stream)
{
  g_mutex_lock (stream->lock);
  (*stream->ready)++;
  g_cond_broadcast (stream->cond);
  while (!*stream->go)
    g_cond_wait (stream->cond, stream->lock);
  g_mutex_unlock (stream->lock);
}

/* Closing only after the peer did loses nothing that is still in flight. */
static void
wait_for_close (gnutls_session_t session)
{
  guint8 byte;
  ssize_t n;

  do
    n = gnutls_record_recv (session, &byte, 1);
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED || n > 0);
}

static gpointer
client_thread (gpointer data)
{
  Stream *stream = data;
  const Options *options = stream->options;
  gnutls_session_t session = start_session (stream);

  stream_ready (stream);
  if (options->direction == DIRECTION_DOWNLOAD)
    {
      /* The server starts sending on this byte, so that it does not run
       * ahead of the clock. */
      send_byte (stream, session);
      receive_bytes (session, options->buffer_size, options->bytes);
    }
  else
    {
      send_bytes (stream, session, options->bytes);
      receive_bytes (session, options->buffer_size, 1);
    }
  end_session (stream, session);
  return NULL;
}

static gpointer
server_thread (gpointer data)
{
  Stream *stream = data;
  const Options *options = stream->options;
  gnutls_session_t session = start_session (stream);

  if (options->direction == DIRECTION_DOWNLOAD)
    {
      receive_bytes (session, options->buffer_size, 1);
      send_bytes (stream, session, options->bytes);
    }
  else
    {
      receive_bytes (session, options->buffer_size, options->bytes);
      send_byte (stream, session);
    }
  wait_for_close (session);
  end_session (stream, session);
  return NULL;
}

static void
run_server (const Options *options,
            int            listener)
{
  gnutls_certificate_credentials_t credentials = make_credentials ("tls-baseline server");
  g_autofree GThread **threads = g_new0 (GThread *, options->streams);
  g_autofree Stream *streams = g_new0 (Stream, options->streams);

  for (int i = 0; i < options->streams; i++)
    {
      int fd;

      do
        fd = accept (listener, NULL, NULL);
      while (fd < 0 && errno == EINTR);
      if (fd < 0)
        die ("accept", g_strerror (errno));
      streams[i].options = options;
      streams[i].credentials = credentials;
      streams[i].fd = fd;
      streams[i].server = TRUE;
      threads[i] = g_thread_new ("server", server_thread, &streams[i]);
    }
  close (listener);
  for (int i = 0; i < options->streams; i++)
    g_thread_join (threads[i]);
  gnutls_certificate_free_credentials (credentials);
}

static int
listen_loopback (guint16 *port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0 ||
      bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      listen (fd, 128) < 0 ||
      getsockname (fd, (struct sockaddr *) &addr, &len) < 0)
    die ("listen", g_strerror (errno));
  *port = ntohs (addr.sin_port);
  return fd;
}

static int
connect_loopback (guint16 port)
{
  struct sockaddr_in addr = {
    .sin_family = AF_INET,
    .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
    .sin_port = htons (port),
  };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    die ("connect", g_strerror (errno));
  return fd;
}

static gboolean
parse_size_option (const char *name,
                   const char *text,
                   gsize      *out,
                   GError    **error)
{
  guint64 value;

  if (text == NULL)
    return TRUE;
  if (!parse_bytes (text, &value) || value > G_MAXINT32)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--%s: '%s' is not a byte count", name, text);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
parse_options (int       *argc,
               char    ***argv,
               Options   *options,
               GError   **error)
{
  g_autofree char *bytes = NULL, *direction = NULL, *buffer = NULL;
  g_autofree char *read_ahead = NULL, *coalesce = NULL;
  g_autofree char *priority = NULL;
  const GOptionEntry entries[] = {
    { "bytes", 0, 0, G_OPTION_ARG_STRING, &bytes, "Bytes per stream, suffixes K M G (default 1G)", "BYTES" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &options->streams, "Concurrent streams, one TCP connection each (default 1)", "N" },
    { "direction", 0, 0, G_OPTION_ARG_STRING, &direction, "download (server sends) or upload (client sends)", "DIR" },
    { "buffer", 0, 0, G_OPTION_ARG_STRING, &buffer, "Application buffer per send/receive call (default 256K)", "BYTES" },
    { "read-ahead", 0, 0, G_OPTION_ARG_STRING, &read_ahead, "Read the socket this much at a time under GnuTLS, 0 = GnuTLS's own reads (default 256K)", "BYTES" },
    { "coalesce", 0, 0, G_OPTION_ARG_STRING, &coalesce, "Gather records up to this size per send(), 0 = one per record (default 256K)", "BYTES" },
    { "priority", 0, 0, G_OPTION_ARG_STRING, &priority, "GnuTLS priority string", "STRING" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("");

  options->bytes = G_GUINT64_CONSTANT (1) << 30;
  options->streams = 1;
  options->direction = DIRECTION_DOWNLOAD;
  options->buffer_size = 256 * 1024;
  options->read_ahead = 256 * 1024;
  options->write_coalesce = 256 * 1024;
  options->priority = NULL;

  g_option_context_set_summary (context,
                                "Measure a bare GnuTLS TLS 1.3 stream (AES-128-GCM, X25519, Ed25519 "
                                "certificates, mutual authentication) on loopback; print one JSON line.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "unexpected argument '%s'", (*argv)[1]);
      return FALSE;
    }
  if (bytes != NULL && !parse_bytes (bytes, &options->bytes))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--bytes: '%s' is not a byte count", bytes);
      return FALSE;
    }
  if (options->streams < 1 || options->streams > 1024)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--streams must be 1 to 1024");
      return FALSE;
    }
  if (direction != NULL && strcmp (direction, "upload") == 0)
    options->direction = DIRECTION_UPLOAD;
  else if (direction != NULL && strcmp (direction, "download") != 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--direction: '%s' is neither upload nor download", direction);
      return FALSE;
    }
  if (!parse_size_option ("buffer", buffer, &options->buffer_size, error) ||
      !parse_size_option ("read-ahead", read_ahead, &options->read_ahead, error) ||
      !parse_size_option ("coalesce", coalesce, &options->write_coalesce, error))
    return FALSE;
  if (options->buffer_size == 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--buffer must not be 0");
      return FALSE;
    }
  options->priority = priority != NULL ? g_steal_pointer (&priority) : g_strdup (DEFAULT_PRIORITY);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  Options options;
  g_autoptr(GError) error = NULL;
  gnutls_certificate_credentials_t credentials;
  g_autofree GThread **threads = NULL;
  g_autofree Stream *streams = NULL;
  GMutex lock;
  GCond cond;
  int ready = 0, listener, status;
  gboolean go = FALSE;
  guint16 port;
  pid_t server;
  gint64 start, end;
  double seconds;
  guint64 total;

  if (!parse_options (&argc, &argv, &options, &error))
    {
      g_printerr ("tls-baseline: %s\n", error->message);
      return 2;
    }

  /* Fork before any thread exists; each side makes its own identity. */
  listener = listen_loopback (&port);
  fflush (NULL);
  server = fork ();
  if (server < 0)
    die ("fork", g_strerror (errno));
  if (server == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      if (getppid () == 1)
        _exit (1);
      run_server (&options, listener);
      g_free (options.priority);
      return 0;
    }
  close (listener);

  credentials = make_credentials ("tls-baseline client");
  g_mutex_init (&lock);
  g_cond_init (&cond);
  threads = g_new0 (GThread *, options.streams);
  streams = g_new0 (Stream, options.streams);
  for (int i = 0; i < options.streams; i++)
    {
      streams[i].options = &options;
      streams[i].credentials = credentials;
      streams[i].fd = connect_loopback (port);
      streams[i].lock = &lock;
      streams[i].cond = &cond;
      streams[i].ready = &ready;
      streams[i].go = &go;
      threads[i] = g_thread_new ("client", client_thread, &streams[i]);
    }

  g_mutex_lock (&lock);
  while (ready < options.streams)
    g_cond_wait (&cond, &lock);
  start = g_get_monotonic_time ();
  go = TRUE;
  g_cond_broadcast (&cond);
  g_mutex_unlock (&lock);

  for (int i = 0; i < options.streams; i++)
    g_thread_join (threads[i]);
  end = g_get_monotonic_time ();

  if (waitpid (server, &status, 0) < 0)
    die ("waitpid", g_strerror (errno));
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    die ("server", "it failed");

  seconds = (end - start) / 1e6;
  total = options.bytes * options.streams;
  g_print ("{\"bytes\": %" G_GUINT64_FORMAT ", \"seconds\": %.6f, \"gbit_per_s\": %.3f, "
           "\"streams\": %d, \"direction\": \"%s\", \"cipher\": \"%s\"}\n",
           total, seconds, seconds > 0 ? total * 8.0 / seconds / 1e9 : 0.0, options.streams,
           options.direction == DIRECTION_UPLOAD ? "upload" : "download", streams[0].cipher);

  gnutls_certificate_free_credentials (credentials);
  g_mutex_clear (&lock);
  g_cond_clear (&cond);
  g_free (options.priority);
  return 0;
}

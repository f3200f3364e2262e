/* test-interop.c: foctet peers of different implementations against each
 * other, as separate processes over loopback TCP and UDP.
 *
 * The reference is foctet-go-peer (tests/interop/go-peer, Go's crypto/tls +
 * hashicorp/yamux and quic-go, written from the wire protocol alone).  Each case of the
 * table below starts a server (its ticket is the first line of its stdout),
 * runs one client command against it, and checks the client's exit status
 * and output and the server's log; the server then gets SIGTERM and must
 * exit 0.  Clients: foctet-go-peer, foctet-shell, openssl s_client and
 * gnutls-cli (TLS-level checks of the handshake rules).
 *
 * Environment: FOCTET_GO_PEER, FOCTET_SHELL, FOCTET_PLUGIN_PATH (the
 * shell's plugins); a missing program fails the case (scripts/deps.sh
 * installs them all).  Every child is killed with the
 * test process (PR_SET_PDEATHSIG) and every wait is bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "test-utils.h"

#define SERVER_START_TIMEOUT 20
#define SERVER_STOP_TIMEOUT 15

static char *tmpdir;

/* ------------------------------------------------------------------------ */
/* The table */

typedef enum {
  PROG_GO_PEER,
  PROG_SHELL,
  PROG_OPENSSL,
  PROG_GNUTLS_CLI,
} Program;

typedef enum {
  CHECK_NONE,
  CHECK_PING,  /* stdout: `count` lines "seq=N rtt=X.XXXms via=<transport>" */
  CHECK_PERF,  /* stdout: the --json object; `count` bytes each way in total */
} OutputCheck;

typedef enum {
  NEEDS_NOTHING,
  NEEDS_QUIC_PLUGIN,  /* foctet-shell over quic: see quic_plugin_built() */
} Requirement;

typedef struct {
  const char *path;              /* GTest path */
  Program server;                /* PROG_GO_PEER or PROG_SHELL */
  const char *server_args[8];
  Program client;
  /* @TICKET@ the server's ticket, @ADDR@ its first TLS address host:port,
   * @TMP@ the test's directory (certificates: see make_certificates()). */
  const char *client_args[24];
  gboolean success;              /* client exit status 0, or not 0 */
  OutputCheck check;
  guint64 count;
  const char *client_says;       /* in the client's stdout + stderr, if set */
  const char *server_says;       /* in the server's stderr, if set */
  guint timeout;                 /* seconds for the client; 0: 60 */
  guint stdin_open_ms;           /* keep the client's stdin open that long */
  const char *transport;         /* in CHECK_PING/CHECK_PERF output; NULL: "tls" */
  /* If set, a second client command of the same program, run after the
   * first against the same server: it must succeed (the server goes on
   * serving after a refused client). */
  const char *then_args[8];
  Requirement needs;
} InteropCase;

#define GO_SERVE { "serve", "--listen", "127.0.0.1:0" }
#define GO_SERVE_QUIC { "serve", "--listen", "quic/127.0.0.1:0" }
#define SHELL_SERVE { "serve", "--transport", "tls", "--listen", "127.0.0.1:0" }
#define SHELL_SERVE_QUIC { "serve", "--listen", "quic/127.0.0.1:0" }
/* A valid NodeId that no test node has (the all-zero key). */
#define OTHER_NODE_ID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define QUIC_REFUSED "refused (RESET_STREAM 3, STOP_SENDING 3)\n"
#define OPENSSL_TLS13 "s_client", "-connect", "@ADDR@", "-tls1_3", "-brief"
#define GNUTLS_TLS13 "--insecure", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static const InteropCase cases[] = {
  /* Go <-> Go: the reference agrees with itself. */
  { "/interop/go-go/ping", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "3", "--interval", "100" },
    TRUE, CHECK_PING, 3, NULL, "connection from" },
  { "/interop/go-go/perf-1-stream", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--json" },
    TRUE, CHECK_PERF, 1 << 20 },
  { "/interop/go-go/perf-8-streams", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8", "--json" },
    TRUE, CHECK_PERF, 8 << 20 },
  { "/interop/go-go/perf-empty", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "0", "--download", "0", "--json" },
    TRUE, CHECK_PERF, 0 },
  { "/interop/go-go/perf-over-limit", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "0", "--download", "2000G" },
    FALSE, CHECK_NONE, 0, "reset" },
  { "/interop/go-go/open-ping", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/ping/1" },
    TRUE, CHECK_NONE, 0, "closed 0\n" },
  { "/interop/go-go/unknown-protocol", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/nope/1" },
    TRUE, CHECK_NONE, 0, "refused\n" },
  { "/interop/go-go/empty-protocol", PROG_GO_PEER, GO_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "" },
    TRUE, CHECK_NONE, 0, "refused\n" },
  { "/interop/go-go/nodeid-mismatch", PROG_GO_PEER, { "serve", "--listen", "127.0.0.1:0", "--present-other-key" },
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1" },
    FALSE, CHECK_NONE, 0, "NodeId mismatch", "bad certificate" },

  /* Go <-> Go over QUIC (quic-go). */
  { "/interop/go-go-quic/ping", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "3", "--interval", "100", "--transport", "quic" },
    TRUE, CHECK_PING, 3, NULL, "connection from quic/", .transport = "quic" },
  { "/interop/go-go-quic/perf-1-stream", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "4M", "--download", "4M", "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 4 << 20, .transport = "quic" },
  { "/interop/go-go-quic/perf-8-streams", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8",
                    "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 8 << 20, .transport = "quic" },
  { "/interop/go-go-quic/perf-empty", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "0", "--download", "0", "--json" },
    TRUE, CHECK_PERF, 0, .transport = "quic" },
  { "/interop/go-go-quic/perf-over-limit", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "0", "--download", "2000G" },
    FALSE, CHECK_NONE, 0, "reset by the peer (code 3)" },
  { "/interop/go-go-quic/open-ping", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/ping/1" },
    TRUE, CHECK_NONE, 0, "closed 0\n" },
  /* Without its FIN, the stream is refused before the listener has it all:
   * RESET_STREAM and STOP_SENDING, both with code 3. */
  { "/interop/go-go-quic/unknown-protocol", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/nope/1", "--no-fin" },
    TRUE, CHECK_NONE, 0, QUIC_REFUSED },
  { "/interop/go-go-quic/empty-protocol", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "", "--no-fin" },
    TRUE, CHECK_NONE, 0, QUIC_REFUSED },
  /* With the FIN, the listener has read the whole stream: RESET_STREAM only
   * (RFC 9000 §3.5). */
  { "/interop/go-go-quic/unknown-protocol-fin", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/nope/1" },
    TRUE, CHECK_NONE, 0, "refused (RESET_STREAM 3" },
  /* The dialer expects another NodeId: it aborts with CRYPTO_ERROR 0x12a
   * (bad_certificate), which the listener logs; the next client is served. */
  { "/interop/go-go-quic/nodeid-mismatch", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--node-id", OTHER_NODE_ID },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR (0x12a): NodeId mismatch", "the peer aborted it: CRYPTO_ERROR (0x12a)",
    .then_args = { "ping", "@TICKET@", "--count", "1" } },
  { "/interop/go-go-quic/other-key", PROG_GO_PEER, { "serve", "--listen", "quic/127.0.0.1:0", "--present-other-key" },
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1" },
    FALSE, CHECK_NONE, 0, "NodeId mismatch", "CRYPTO_ERROR (0x12a)" },
  { "/interop/go-go-quic/wrong-alpn", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--alpn", "foctet-relay/1" },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR (0x178)", "CRYPTO_ERROR (0x178)",
    .then_args = { "ping", "@TICKET@", "--count", "1" } },
  /* quic-go's TLS stack cannot send no_application_protocol here: the Go
   * listener refuses with internal_error (0x150); see docs/interop.md. */
  { "/interop/go-go-quic/no-alpn", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--no-alpn" },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR", "no ALPN",
    .then_args = { "ping", "@TICKET@", "--count", "1" } },
  /* A ticket with both transports: QUIC unless --transport says tls. */
  { "/interop/go-go-quic/ticket-both", PROG_GO_PEER,
    { "serve", "--listen", "tls/127.0.0.1:0", "--listen", "quic/127.0.0.1:0" },
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "2", "--interval", "100" },
    TRUE, CHECK_PING, 2, NULL, "connection from quic/", .transport = "quic" },
  { "/interop/go-go-quic/ticket-both-tls", PROG_GO_PEER,
    { "serve", "--listen", "quic/127.0.0.1:0", "--listen", "tls/127.0.0.1:0" },
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "2", "--interval", "100", "--transport", "tls" },
    TRUE, CHECK_PING, 2, NULL, "connection from tls/" },

  /* TLS-level rules of the Go listener, seen by independent TLS clients. */
  { "/interop/tls/openssl-accepted", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1", "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    TRUE, CHECK_NONE, 0, "CONNECTION ESTABLISHED", "connection from", 0, 1000 },
  { "/interop/tls/aes256-accepted", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-alpn", "foctet/1",
                    "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    TRUE, CHECK_NONE, 0, "TLS_AES_256_GCM_SHA384", "connection from", 0, 1000 },
  { "/interop/tls/chacha20-p256-accepted", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "-groups", "P-256",
                    "-alpn", "foctet/1", "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    TRUE, CHECK_NONE, 0, "TLS_CHACHA20_POLY1305_SHA256", "connection from", 0, 1000 },
  { "/interop/tls/gnutls-accepted", PROG_GO_PEER, GO_SERVE,
    PROG_GNUTLS_CLI, { GNUTLS_TLS13, "--alpn=foctet/1", "--x509certfile", "@TMP@/ed.crt",
                       "--x509keyfile", "@TMP@/ed.key", "@ADDR@" },
    TRUE, CHECK_NONE, 0, "Application protocol: foctet/1", "connection from", 0, 1000 },
  { "/interop/tls/no-alpn", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    FALSE, CHECK_NONE, 0, "alert number 120", "no ALPN", 0, 3000 },
  { "/interop/tls/no-alpn-gnutls", PROG_GO_PEER, GO_SERVE,
    PROG_GNUTLS_CLI, { GNUTLS_TLS13, "--x509certfile", "@TMP@/ed.crt", "--x509keyfile", "@TMP@/ed.key", "@ADDR@" },
    FALSE, CHECK_NONE, 0, "Received alert [120]", "no ALPN", 0, 3000 },
  { "/interop/tls/wrong-alpn", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet-relay/1", "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    FALSE, CHECK_NONE, 0, "alert number 120", "unsupported application protocol", 0, 3000 },
  { "/interop/tls/tls12-refused", PROG_GO_PEER, GO_SERVE,
    PROG_GNUTLS_CLI, { "--insecure", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "--alpn=foctet/1",
                       "--x509certfile", "@TMP@/ed.crt", "--x509keyfile", "@TMP@/ed.key", "@ADDR@" },
    FALSE, CHECK_NONE, 0, "Received alert [70]", "unsupported versions", 0, 3000 },
  { "/interop/tls/no-client-certificate", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1" },
    FALSE, CHECK_NONE, 0, "alert number 42", "didn't provide a certificate", 0, 3000 },
  { "/interop/tls/no-client-certificate-gnutls", PROG_GO_PEER, GO_SERVE,
    PROG_GNUTLS_CLI, { GNUTLS_TLS13, "--alpn=foctet/1", "@ADDR@" },
    FALSE, CHECK_NONE, 0, "Received alert [42]", "didn't provide a certificate", 0, 3000 },
  { "/interop/tls/ecdsa-certificate", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1", "-cert", "@TMP@/ec.crt", "-key", "@TMP@/ec.key" },
    FALSE, CHECK_NONE, 0, "alert number 42", "not Ed25519", 0, 3000 },
  { "/interop/tls/not-self-signed", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1", "-cert", "@TMP@/leaf.crt", "-key", "@TMP@/ed.key" },
    FALSE, CHECK_NONE, 0, "alert number 42", "not self-signed", 0, 3000 },
  { "/interop/tls/two-certificates", PROG_GO_PEER, GO_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1", "-cert", "@TMP@/leaf.crt", "-key", "@TMP@/ed.key",
                    "-cert_chain", "@TMP@/ca.crt" },
    FALSE, CHECK_NONE, 0, "alert number 42", "exactly one", 0, 3000 },

  /* foctet-shell <-> Go. */
  { "/interop/go-shell/ping", PROG_GO_PEER, GO_SERVE,
    PROG_SHELL, { "ping", "@TICKET@", "--count", "3", "--transport", "tls" },
    TRUE, CHECK_PING, 3, NULL, "connection from" },
  { "/interop/go-shell/perf-1-stream", PROG_GO_PEER, GO_SERVE,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--transport", "tls", "--json" },
    TRUE, CHECK_PERF, 1 << 20 },
  { "/interop/go-shell/perf-8-streams", PROG_GO_PEER, GO_SERVE,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8",
                  "--transport", "tls", "--json" },
    TRUE, CHECK_PERF, 8 << 20 },
  { "/interop/go-shell/nodeid-mismatch", PROG_GO_PEER, { "serve", "--listen", "127.0.0.1:0", "--present-other-key" },
    PROG_SHELL, { "ping", "@TICKET@", "--count", "1", "--transport", "tls" },
    FALSE, CHECK_NONE, 0, NULL, "bad certificate" },
  { "/interop/shell-go/ping", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "3", "--interval", "100" },
    TRUE, CHECK_PING, 3 },
  { "/interop/shell-go/open-ping", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/ping/1" },
    TRUE, CHECK_NONE, 0, "closed 0\n" },
  { "/interop/shell-go/unknown-protocol", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/nope/1" },
    TRUE, CHECK_NONE, 0, "refused\n" },
  { "/interop/shell-go/empty-protocol", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "open", "@TICKET@", "" },
    TRUE, CHECK_NONE, 0, "refused\n" },
  { "/interop/shell-go/perf-1-stream", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--json" },
    TRUE, CHECK_PERF, 1 << 20 },
  { "/interop/shell-go/perf-8-streams", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8", "--json" },
    TRUE, CHECK_PERF, 8 << 20 },
  /* foctet-shell <-> foctet-shell over tls. */
  { "/interop/shell-shell/ping", PROG_SHELL, SHELL_SERVE,
    PROG_SHELL, { "ping", "@TICKET@", "--count", "3", "--transport", "tls" },
    TRUE, CHECK_PING, 3 },
  { "/interop/shell-shell/perf-8-streams", PROG_SHELL, SHELL_SERVE,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8", "--json" },
    TRUE, CHECK_PERF, 8 << 20 },
  { "/interop/shell-tls/no-alpn", PROG_SHELL, SHELL_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-cert", "@TMP@/ed.crt", "-key", "@TMP@/ed.key" },
    FALSE, CHECK_NONE, 0, "alert number 120", NULL, 0, 3000 },
  /* PROTOCOL §2: not exactly one certificate, so bad_certificate (42),
   * also for none at all. */
  { "/interop/shell-tls/no-client-certificate", PROG_SHELL, SHELL_SERVE,
    PROG_OPENSSL, { OPENSSL_TLS13, "-alpn", "foctet/1" },
    FALSE, CHECK_NONE, 0, "alert number 42", NULL, 0, 3000 },
  { "/interop/shell-go/no-client-certificate", PROG_SHELL, SHELL_SERVE,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--no-certificate" },
    FALSE, CHECK_NONE, 0, "bad certificate" },

  /* foctet-shell <-> Go over QUIC: only defined when the build has the quic
   * plugin (NEEDS_QUIC_PLUGIN, see main()), so that the suite does not
   * depend on it before it lands. */
  { "/interop/go-shell-quic/ping", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_SHELL, { "ping", "@TICKET@", "--count", "3", "--transport", "quic" },
    TRUE, CHECK_PING, 3, NULL, "connection from quic/", .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/go-shell-quic/perf-1-stream", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "4M", "--download", "4M", "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 4 << 20, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  /* quic-go updates its keys (RFC 9001 §6) after 100 000 packets sent or
   * received (KeyUpdateInterval); 160 MiB each way takes over 110 000
   * packets of at most 1452 bytes each way, so the transfer goes on
   * across a key update in both directions. */
  { "/interop/go-shell-quic/perf-past-key-update", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "160M", "--download", "160M", "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 160 << 20, .timeout = 120, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/go-shell-quic/perf-8-streams", PROG_GO_PEER, GO_SERVE_QUIC,
    PROG_SHELL, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8",
                  "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 8 << 20, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/go-shell-quic/nodeid-mismatch", PROG_GO_PEER,
    { "serve", "--listen", "quic/127.0.0.1:0", "--present-other-key" },
    PROG_SHELL, { "ping", "@TICKET@", "--count", "1", "--transport", "quic" },
    FALSE, CHECK_NONE, 0, NULL, "the peer aborted it: CRYPTO_ERROR (0x12a)", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/ping", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "3", "--interval", "100", "--transport", "quic" },
    TRUE, CHECK_PING, 3, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/perf-1-stream", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "4M", "--download", "4M", "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 4 << 20, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/perf-past-key-update", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "160M", "--download", "160M", "--transport", "quic",
                    "--json" },
    TRUE, CHECK_PERF, 160 << 20, .timeout = 120, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/perf-8-streams", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "perf", "@TICKET@", "--upload", "1M", "--download", "1M", "--streams", "8",
                    "--transport", "quic", "--json" },
    TRUE, CHECK_PERF, 8 << 20, .transport = "quic", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/open-ping", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/ping/1", "--transport", "quic" },
    TRUE, CHECK_NONE, 0, "closed 0\n", .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/unknown-protocol", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "open", "@TICKET@", "foctet/nope/1", "--no-fin", "--transport", "quic" },
    TRUE, CHECK_NONE, 0, QUIC_REFUSED, .needs = NEEDS_QUIC_PLUGIN },
  /* The Go dialer expects another NodeId: the shell's listener is refused
   * and serves the next client. */
  { "/interop/shell-go-quic/nodeid-mismatch", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--transport", "quic", "--node-id", OTHER_NODE_ID },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR (0x12a): NodeId mismatch",
    .then_args = { "ping", "@TICKET@", "--count", "1", "--transport", "quic" }, .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/no-client-certificate", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--transport", "quic", "--no-certificate" },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR (0x12a)",
    .then_args = { "ping", "@TICKET@", "--count", "1", "--transport", "quic" }, .needs = NEEDS_QUIC_PLUGIN },
  { "/interop/shell-go-quic/wrong-alpn", PROG_SHELL, SHELL_SERVE_QUIC,
    PROG_GO_PEER, { "ping", "@TICKET@", "--count", "1", "--transport", "quic", "--alpn", "foctet-relay/1" },
    FALSE, CHECK_NONE, 0, "CRYPTO_ERROR (0x178)",
    .then_args = { "ping", "@TICKET@", "--count", "1", "--transport", "quic" }, .needs = NEEDS_QUIC_PLUGIN },
};

/* ------------------------------------------------------------------------ */
/* Processes */

static void
child_setup (gpointer user_data)
{
  /* Die with the test, whatever way it ends. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static const char *
program_path (Program program)
{
  switch (program)
    {
    case PROG_GO_PEER:
      return g_getenv ("FOCTET_GO_PEER");
    case PROG_SHELL:
      return g_getenv ("FOCTET_SHELL");
    case PROG_OPENSSL:
      return "openssl";
    case PROG_GNUTLS_CLI:
      return "gnutls-cli";
    }
  g_assert_not_reached ();
}

/* Why a case cannot run here, or NULL. */
static const char *
missing_program (Program program)
{
  const char *path = program_path (program);

  if (path == NULL || *path == '\0')
    return program == PROG_SHELL ? "FOCTET_SHELL is not set" : "FOCTET_GO_PEER is not set";
  if (program == PROG_OPENSSL || program == PROG_GNUTLS_CLI)
    {
      g_autofree char *found = g_find_program_in_path (path);
      if (found == NULL)
        return program == PROG_OPENSSL ? "openssl is not installed" : "gnutls-cli is not installed";
    }
  return NULL;
}

static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = foctet_test_launcher_new (tmpdir, flags);

  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  return launcher;
}

static char *
substitute (const char *arg,
            const char *ticket,
            const char *addr)
{
  g_autoptr(GString) s = g_string_new (arg);

  if (ticket != NULL)
    g_string_replace (s, "@TICKET@", ticket, 0);
  if (strstr (s->str, "@ADDR@") != NULL && addr == NULL)
    g_error ("“%s”: the server's ticket has no TLS address", arg);
  if (addr != NULL)
    g_string_replace (s, "@ADDR@", addr, 0);
  g_string_replace (s, "@TMP@", tmpdir, 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static GPtrArray *
make_argv (Program             program,
           const char         *role,
           const char * const *args,
           guint               n_args,
           const char         *ticket,
           const char         *addr)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (program_path (program)));
  if (program == PROG_SHELL)
    {
      g_ptr_array_add (argv, g_strdup ("--identity"));
      g_ptr_array_add (argv, g_strdup_printf ("%s/%s.identity", tmpdir, role));
    }
  for (guint i = 0; i < n_args && args[i] != NULL; i++)
    g_ptr_array_add (argv, substitute (args[i], ticket, addr));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static char *
argv_text (GPtrArray *argv)
{
  return g_strjoinv (" ", (char **) argv->pdata);
}

typedef struct {
  GSubprocess *proc;
  char *log_path;
  char *ticket;
  char *addr;
} Server;

static char *
read_log (const char *path)
{
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    text = g_strdup ("");
  return text;
}

/* Decodes lower- or upper-case unpadded base32 (no canonical check: the
 * peers' own parsers do that). */
static GBytes *
base32_decode (const char *text)
{
  GByteArray *out = g_byte_array_new ();
  guint32 acc = 0;
  guint bits = 0;

  for (const char *p = text; *p != '\0'; p++)
    {
      int c = g_ascii_tolower (*p), v;

      if (c >= 'a' && c <= 'z')
        v = c - 'a';
      else if (c >= '2' && c <= '7')
        v = c - '2' + 26;
      else
        {
          g_byte_array_unref (out);
          return NULL;
        }
      acc = (acc << 5) | (guint32) v;
      bits += 5;
      if (bits >= 8)
        {
          guint8 b = (guint8) (acc >> (bits - 8));
          g_byte_array_append (out, &b, 1);
          bits -= 8;
        }
    }
  return g_byte_array_free_to_bytes (out);
}

/* The first address of entry type @type (1 QUIC, 2 TLS over TCP) of a
 * ticket, or NULL. */
static char *
ticket_address (const char *ticket,
                guint8      type)
{
  g_autoptr(GBytes) payload = NULL;
  const guint8 *p;
  gsize len, off;

  if (!g_str_has_prefix (ticket, "foctet"))
    return NULL;
  payload = base32_decode (ticket + strlen ("foctet"));
  if (payload == NULL)
    return NULL;
  p = g_bytes_get_data (payload, &len);
  if (len < 33 || p[0] != 1)
    return NULL;
  for (off = 33; off + 2 <= len && off + 2 + p[off + 1] <= len; off += 2 + p[off + 1])
    if (p[off] == type)
      return g_strndup ((const char *) p + off + 2, p[off + 1]);
  return NULL;
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  g_main_context_wakeup (NULL);
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until *slot holds a result or @seconds pass;
 * returns the result (transfer full) or NULL on timeout. */
static GAsyncResult *
wait_result_or_timeout (GAsyncResult **slot,
                        guint          seconds)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (seconds, wait_timeout_cb, &timed_out);
  GAsyncResult *result;

  while (*slot == NULL && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  result = *slot;
  *slot = NULL;
  return result;
}

static void
server_start (Server              *server,
              const InteropCase   *c)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cmd = NULL;
  g_autofree char *quic_addr = NULL;
  GAsyncResult *slot = NULL;
  static guint serial;
  char *line;

  argv = make_argv (c->server, "server", c->server_args, G_N_ELEMENTS (c->server_args), NULL, NULL);
  cmd = argv_text (argv);
  server->log_path = g_strdup_printf ("%s/server-%u.log", tmpdir, ++serial);
  g_unlink (server->log_path);
  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (launcher, server->log_path);
  g_test_message ("server: %s", cmd);
  server->proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->proc));
  g_data_input_stream_read_line_async (lines, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = wait_result_or_timeout (&slot, SERVER_START_TIMEOUT);
  if (result == NULL)
    {
      g_autofree char *log = read_log (server->log_path);
      g_subprocess_force_exit (server->proc);
      g_error ("`%s` printed no ticket within %d s; its stderr:\n%s", cmd, SERVER_START_TIMEOUT, log);
    }
  line = g_data_input_stream_read_line_finish_utf8 (lines, result, NULL, &error);
  g_assert_no_error (error);
  if (line == NULL || !g_str_has_prefix (line, "foctet"))
    {
      g_autofree char *log = read_log (server->log_path);
      g_subprocess_force_exit (server->proc);
      g_error ("`%s` did not print a ticket first (got “%s”); its stderr:\n%s", cmd,
               line != NULL ? line : "end of output", log);
    }
  server->ticket = line;
  server->addr = ticket_address (line, 2);
  quic_addr = ticket_address (line, 1);
  if (server->addr == NULL && quic_addr == NULL)
    {
      g_subprocess_force_exit (server->proc);
      g_error ("the ticket %s names no address", line);
    }
  g_test_message ("ticket: %s (TLS address %s)", server->ticket, server->addr != NULL ? server->addr : "none");
}

/* SIGTERM, then the server must exit 0 in time. */
static void
server_stop (Server *server)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  g_subprocess_send_signal (server->proc, SIGTERM);
  g_subprocess_wait_async (server->proc, NULL, foctet_test_store_result, &slot);
  result = wait_result_or_timeout (&slot, SERVER_STOP_TIMEOUT);
  if (result == NULL)
    {
      g_autofree char *log = read_log (server->log_path);
      g_subprocess_force_exit (server->proc);
      g_error ("the server did not exit within %d s of SIGTERM; its stderr:\n%s", SERVER_STOP_TIMEOUT, log);
    }
  g_subprocess_wait_finish (server->proc, result, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (server->proc) || g_subprocess_get_exit_status (server->proc) != 0)
    {
      g_autofree char *log = read_log (server->log_path);
      g_error ("the server did not exit 0 after SIGTERM (wait status %d); its stderr:\n%s",
               g_subprocess_get_status (server->proc), log);
    }
}

static void
server_clear (Server *server)
{
  g_clear_object (&server->proc);
  g_clear_pointer (&server->log_path, g_free);
  g_clear_pointer (&server->ticket, g_free);
  g_clear_pointer (&server->addr, g_free);
}

static gboolean
close_fd_cb (gpointer user_data)
{
  int *fd = user_data;

  if (*fd >= 0)
    {
      close (*fd);
      *fd = -1;
    }
  return G_SOURCE_REMOVE;
}

/* Runs the client to completion within @timeout seconds; returns its exit
 * status (-1 if killed by a signal).  Its stdin stays open, empty, for
 * @stdin_open_ms (TLS tools quit at end of input). */
static int
run_client (GPtrArray  *argv,
            guint       timeout,
            guint       stdin_open_ms,
            char      **out,
            char      **err)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cmd = argv_text (argv);
  GAsyncResult *slot = NULL;
  int fds[2];
  int write_fd;
  guint close_id;

  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, NULL));
  write_fd = fds[1];
  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_stdin_fd (launcher, fds[0]);
  g_test_message ("client: %s", cmd);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  close_id = g_timeout_add (stdin_open_ms, close_fd_cb, &write_fd);

  g_subprocess_communicate_utf8_async (proc, NULL, NULL, foctet_test_store_result, &slot);
  result = wait_result_or_timeout (&slot, timeout);
  if (result == NULL)
    {
      g_subprocess_force_exit (proc);
      g_error ("`%s` did not finish within %u s", cmd, timeout);
    }
  if (write_fd >= 0)
    {
      g_source_remove (close_id);
      close_fd_cb (&write_fd);
    }
  g_subprocess_communicate_utf8_finish (proc, result, out, err, &error);
  g_assert_no_error (error);
  g_test_message ("client exit status %d\nstdout:\n%s\nstderr:\n%s", g_subprocess_get_status (proc), *out, *err);
  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
}

/* ------------------------------------------------------------------------ */
/* Output checks */

static void
check_ping (const char *out,
            guint64     count,
            const char *transport)
{
  g_autofree char *pattern = g_strdup_printf ("^seq=([0-9]+) rtt=[0-9]+\\.[0-9]{3}ms via=%s$", transport);
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  guint64 seen = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *seq = NULL;

      if (lines[i][0] == '\0')
        continue;
      if (!g_regex_match (re, lines[i], 0, &match))
        g_error ("unexpected ping output line “%s”", lines[i]);
      seq = g_match_info_fetch (match, 1);
      seen++;
      g_assert_cmpuint (g_ascii_strtoull (seq, NULL, 10), ==, seen);
    }
  g_assert_cmpuint (seen, ==, count);
}

static double
json_number (const char *json,
             const char *key)
{
  g_autofree char *pattern = g_strdup_printf ("\"%s\"\\s*:\\s*([0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?)[\\s,}]", key);
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *number = NULL;

  if (!g_regex_match (re, json, 0, &match))
    g_error ("no number \"%s\" in %s", key, json);
  number = g_match_info_fetch (match, 1);
  return g_ascii_strtod (number, NULL);
}

static void
check_perf (const char *out,
            guint64     bytes,
            const char *transport)
{
  g_autofree char *pattern = g_strdup_printf ("\"transport\"\\s*:\\s*\"%s\"", transport);
  g_autoptr(GRegex) transport_re = g_regex_new (pattern, 0, 0, NULL);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  const char *json = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      {
        g_assert_null (json);  /* one line of output */
        json = lines[i];
      }
  g_assert_nonnull (json);
  g_assert_true (g_str_has_prefix (json, "{") && g_str_has_suffix (json, "}"));
  if (!g_regex_match (transport_re, json, 0, NULL))
    g_error ("the perf output does not name transport %s: %s", transport, json);
  g_assert_cmpfloat (json_number (json, "upload_bytes"), ==, (double) bytes);
  g_assert_cmpfloat (json_number (json, "download_bytes"), ==, (double) bytes);
  /* Nothing uploaded took no time. */
  if (bytes > 0)
    g_assert_cmpfloat (json_number (json, "upload_seconds"), >, 0);
  else
    g_assert_cmpfloat (json_number (json, "upload_seconds"), ==, 0);
  /* May print as 0 when the whole download was already buffered when
   * its first byte was read. */
  g_assert_cmpfloat (json_number (json, "download_seconds"), >=, 0);
  g_assert_cmpfloat (json_number (json, "handshake_seconds"), >, 0);
  g_assert_cmpfloat (json_number (json, "handshake_seconds"), <, 10);
}

static void
assert_says (const char *who,
             const char *text,
             const char *words)
{
  if (words != NULL && strstr (text, words) == NULL)
    g_error ("%s does not say “%s”:\n%s", who, words, text);
}

/* ------------------------------------------------------------------------ */
/* Tests */

static void
test_case (gconstpointer data)
{
  const InteropCase *c = data;
  Server server = { 0 };
  g_autoptr(GPtrArray) argv = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *both = NULL;
  g_autofree char *log = NULL;
  const char *transport = c->transport != NULL ? c->transport : "tls";
  const char *why;
  int status;

  if ((why = missing_program (c->server)) != NULL || (why = missing_program (c->client)) != NULL)
    {
      g_test_fail_printf ("%s", why);
      return;
    }

  server_start (&server, c);
  argv = make_argv (c->client, "client", c->client_args, G_N_ELEMENTS (c->client_args),
                    server.ticket, server.addr);
  status = run_client (argv, c->timeout != 0 ? c->timeout : 60, c->stdin_open_ms, &out, &err);
  if (c->then_args[0] != NULL)
    {
      g_autoptr(GPtrArray) then_argv = make_argv (c->client, "client", c->then_args, G_N_ELEMENTS (c->then_args),
                                                  server.ticket, server.addr);
      g_autofree char *then_out = NULL;
      g_autofree char *then_err = NULL;

      if (run_client (then_argv, 60, 0, &then_out, &then_err) != 0)
        {
          g_autofree char *server_log = read_log (server.log_path);
          g_error ("the next client failed:\n%s%s\nserver stderr:\n%s", then_out, then_err, server_log);
        }
    }
  /* A client that gives up first may be done before the server has
   * logged why: wait for that line (at most 5 s) before stopping it. */
  if (c->server_says != NULL)
    {
      gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

      for (;;)
        {
          g_autofree char *so_far = read_log (server.log_path);

          if (strstr (so_far, c->server_says) != NULL || g_get_monotonic_time () > deadline)
            break;
          g_usleep (20 * 1000);
        }
    }
  server_stop (&server);
  log = read_log (server.log_path);
  g_test_message ("server stderr:\n%s", log);

  both = g_strconcat (out, err, NULL);
  if (c->success && status != 0)
    g_error ("the client failed (status %d):\n%s", status, both);
  if (!c->success && status == 0)
    g_error ("the client succeeded but should have failed:\n%s", both);
  if (c->client == PROG_GO_PEER || c->client == PROG_SHELL)
    {
      /* CLI.md: failures are one line on stderr, exit status 1. */
      if (!c->success)
        {
          g_assert_cmpint (status, ==, 1);
          g_assert_true (g_str_has_suffix (err, "\n"));
          g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
        }
    }
  assert_says ("the client", both, c->client_says);
  assert_says ("the server", log, c->server_says);
  if (c->check == CHECK_PING)
    check_ping (out, c->count, transport);
  else if (c->check == CHECK_PERF)
    check_perf (out, c->count, transport);
  server_clear (&server);
}

/* foctet-go-peer's own command line: keys, tickets, usage errors. */
static int
run_go_peer (char       **out,
             char       **err,
             const char  *first,
             ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, g_strdup (g_getenv ("FOCTET_GO_PEER")));
  va_start (args, first);
  for (arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return run_client (argv, 30, 0, out, err);
}

static char *
ticket_node_id (const char *ticket)
{
  g_autoptr(GBytes) payload = base32_decode (ticket + strlen ("foctet"));
  gsize len;
  const guint8 *p = g_bytes_get_data (payload, &len);

  g_assert_cmpuint (len, >=, 33);
  return g_base64_encode (p + 1, 32);
}

static void
test_go_peer_key_file (void)
{
  g_autofree char *key = g_build_filename (tmpdir, "go.key", NULL);
  g_autofree char *listen = NULL;
  const InteropCase serve = { "serve", PROG_GO_PEER,
                              { "serve", "--listen", "127.0.0.1:0", "--key", "@TMP@/go.key" } };
  Server server = { 0 };
  g_autofree char *first_id = NULL;
  g_autofree char *second_id = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GStatBuf st;

  if (missing_program (PROG_GO_PEER) != NULL)
    {
      g_test_fail_printf ("%s", missing_program (PROG_GO_PEER));
      return;
    }
  g_unlink (key);

  /* Created 0600 on first use, the same NodeId next time. */
  server_start (&server, &serve);
  first_id = ticket_node_id (server.ticket);
  server_stop (&server);
  server_clear (&server);
  g_assert_cmpint (g_stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  server_start (&server, &serve);
  second_id = ticket_node_id (server.ticket);
  server_stop (&server);
  server_clear (&server);
  g_assert_cmpstr (first_id, ==, second_id);

  /* A key file others may read is refused. */
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  g_assert_cmpint (run_go_peer (&out, &err, "serve", "--listen", "127.0.0.1:0", "--key", key, NULL), ==, 1);
  g_assert_cmpstr (out, ==, "");
  assert_says ("foctet-go-peer", err, "group or others");
  g_unlink (key);
}

static void
test_go_peer_usage (void)
{
  static const char *const bad[][4] = {
    { "ping", NULL },
    { "ping", "foctetxyz", NULL },
    { "ping", "notaticket", NULL },
    { "perf", "foctetaaaa", "--upload", "12Q" },
    { "serve", "--bogus", NULL },
    { "serve", NULL },
    { "open", "foctetaaaa", NULL },
    { "frobnicate", NULL },
  };

  if (missing_program (PROG_GO_PEER) != NULL)
    {
      g_test_fail_printf ("%s", missing_program (PROG_GO_PEER));
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      g_assert_cmpint (run_go_peer (&out, &err, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL), ==, 2);
      g_assert_true (g_str_has_prefix (err, "foctet-go-peer: "));
      g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
    }
}

/* A client that answers the Retry and then never finishes its
 * handshakes (foctet-go-peer stall: quic-go, its client-certificate
 * callback blocked), 80 at once from 127.0.0.2, holds at most 32 of the
 * listener's 64 handshake slots: from half of them on, one address may
 * have 16.  A ping from 127.0.0.1 meanwhile gets through; without that
 * limit the 64 slots were all the staller's and it was refused. */
static void
test_quic_stalled_handshakes (void)
{
  const InteropCase serve = { "serve", PROG_SHELL, { "serve", "--listen", "quic/127.0.0.1:0", "--no-mdns" } };
  Server server = { 0 };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) staller = NULL;
  g_autoptr(GDataInputStream) staller_out = NULL;
  g_autoptr(GPtrArray) ping = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL, *out = NULL, *err = NULL, *log = NULL;
  const char *shell = g_getenv ("FOCTET_SHELL");

  g_assert_nonnull (shell);
  server_start (&server, &serve);
  staller = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_GO_PEER"), "stall", server.ticket,
                                         "--count", "80", "--hold", "10", "--from", "127.0.0.2", NULL);
  g_assert_no_error (error);
  staller_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (staller));
  line = foctet_test_read_line (staller_out, 20);
  g_assert_cmpstr (line, ==, "stalling 80");
  /* Their Initials, and the Retries, go back and forth. */
  g_usleep (G_USEC_PER_SEC * 3 / 2);

  ping = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (ping, g_strdup (shell));
  g_ptr_array_add (ping, g_strdup ("--identity"));
  g_ptr_array_add (ping, g_strdup_printf ("%s/pinger.identity", tmpdir));
  g_ptr_array_add (ping, g_strdup ("ping"));
  g_ptr_array_add (ping, g_strdup (server.ticket));
  g_ptr_array_add (ping, g_strdup ("--count"));
  g_ptr_array_add (ping, g_strdup ("1"));
  g_ptr_array_add (ping, g_strdup ("--transport"));
  g_ptr_array_add (ping, g_strdup ("quic"));
  g_ptr_array_add (ping, NULL);
  g_assert_cmpint (run_client (ping, 30, 0, &out, &err), ==, 0);
  g_assert_true (g_str_has_prefix (out, "seq=1 "));

  log = read_log (server.log_path);
  g_test_message ("the server's log:\n%s", log);
  g_assert_nonnull (strstr (log, "127.0.0.2 already has 32 QUIC handshakes in progress"));
  g_subprocess_force_exit (staller);
  server_stop (&server);
  server_clear (&server);
}

/* Certificates for the TLS-level clients: ed.{key,crt} a valid node
 * certificate (Ed25519, self-signed), ec.{key,crt} an ECDSA one, leaf.crt
 * the Ed25519 key certified by another key (ca.crt). */
static gboolean
make_certificates (void)
{
  static const char *const script =
    "set -e; cd \"$1\"; "
    "openssl genpkey -algorithm ed25519 -out ed.key; "
    "openssl req -x509 -new -key ed.key -subj /CN=interop -days 2 -out ed.crt; "
    "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
    "  -keyout ec.key -subj /CN=ecdsa -days 2 -out ec.crt; "
    "openssl genpkey -algorithm ed25519 -out ca.key; "
    "openssl req -x509 -new -key ca.key -subj /CN=ca -days 2 -out ca.crt; "
    "openssl req -new -key ed.key -subj /CN=leaf -out leaf.csr; "
    "openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out leaf.crt";
  const char *argv[] = { "/bin/sh", "-c", script, "sh", tmpdir, NULL };
  g_autofree char *openssl = g_find_program_in_path ("openssl");

  if (openssl == NULL)
    return FALSE;
  foctet_test_run_command (NULL, argv);
  return TRUE;
}

/* Whether a directory of FOCTET_PLUGIN_PATH holds the quic transport. */
static gboolean
quic_plugin_built (void)
{
  const char *path = g_getenv ("FOCTET_PLUGIN_PATH");
  g_auto(GStrv) dirs = NULL;

  if (path == NULL)
    return FALSE;
  dirs = g_strsplit (path, G_SEARCHPATH_SEPARATOR_S, -1);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *file = NULL;

      if (dirs[i][0] == '\0')
        continue;
      file = g_build_filename (dirs[i], "libfoctet-transport-quic.so", NULL);
      if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    }
  return FALSE;
}

int
main (int    argc,
      char **argv)
{
  gboolean have_quic_plugin;
  int ret;

  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN);

  tmpdir = foctet_test_make_tmpdir ();
  make_certificates ();

  /* The foctet-shell cases over QUIC exist only when the quic plugin was
   * built, so that this suite passes before the plugin lands; no skipping:
   * they are not defined at all without it. */
  have_quic_plugin = quic_plugin_built ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    if (cases[i].needs != NEEDS_QUIC_PLUGIN || have_quic_plugin)
      g_test_add_data_func (cases[i].path, &cases[i], test_case);
  g_test_add_func ("/interop/go-peer/key-file", test_go_peer_key_file);
  g_test_add_func ("/interop/go-peer/usage", test_go_peer_usage);
  if (have_quic_plugin)
    g_test_add_func ("/interop/go-quic/stalled-handshakes", test_quic_stalled_handshakes);

  ret = g_test_run ();
  foctet_test_remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}

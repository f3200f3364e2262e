/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Runs the thread-default main context until *done is TRUE, failing the
 * test if that takes longer than @timeout_seconds: no test can hang. */
void foctet_test_wait_for (gboolean *done,
                           guint     timeout_seconds);

/* A fresh temporary directory for one test, removed by
 * foctet_test_remove_tree() (which tests call at their end). */
char *foctet_test_make_tmpdir (void);
void foctet_test_remove_tree (const char *path);

/* A launcher with @flags for foctet programs that never touches the real
 * home: their data and state go under @tmpdir (XDG_DATA_HOME,
 * XDG_STATE_HOME), and plugins come from FOCTET_PLUGIN_PATH only. */
GSubprocessLauncher *foctet_test_launcher_new (const char       *tmpdir,
                                               GSubprocessFlags  flags);

/* Runs @argv to completion in @cwd (may be NULL) and fails the test on a
 * non-zero exit, showing what it printed. */
void foctet_test_run_command (const char         *cwd,
                              const char * const *argv);

G_END_DECLS

G_BEGIN_DECLS

/* For async calls in tests: pass foctet_test_store_result as the callback
 * and &slot as its data, then foctet_test_wait_result (&slot, seconds)
 * returns the result (transfer full) once it arrived, failing on timeout. */
void foctet_test_store_result (GObject      *source,
                               GAsyncResult *result,
                               gpointer      user_data);
GAsyncResult *foctet_test_wait_result (GAsyncResult **slot,
                                       guint          timeout_seconds);
/* The next line @in gives (without its end), waiting @timeout_seconds at
 * most (failing after that); NULL at the end of the stream. */
char *foctet_test_read_line (GDataInputStream *in,
                             guint             timeout_seconds);

/* Two connected stream sockets (AF_UNIX), as connections: what one writes
 * the other reads. */
void foctet_test_socket_pair (GSocketConnection **a,
                              GSocketConnection **b);

/* Like foctet_test_socket_pair(), but every byte reaches the other end
 * @delay_ms after it was written, each way, as over a link with a round
 * trip of twice that.  With @rate 0 there is no bandwidth limit, and
 * nothing bounds what the line holds but the protocol on top (yamux's
 * windows); else its bytes leave at @rate bytes per second each way, and
 * it holds at most a bandwidth-delay product (plus 64 KiB), past which
 * the writer's socket fills, as at a router's queue.  Two threads per
 * direction carry the bytes.  Free the line after closing both
 * connections. */
typedef struct _FoctetTestDelayLine FoctetTestDelayLine;

FoctetTestDelayLine *foctet_test_delayed_socket_pair (GSocketConnection **a,
                                                      GSocketConnection **b,
                                                      guint              delay_ms,
                                                      guint64            rate);
void foctet_test_delay_line_free (FoctetTestDelayLine *line);

/* A seekable stream over a copy of @data, so a test can tell how far a
 * reader went. */
GInputStream *foctet_test_memory_input (const guint8 *data,
                                        gsize         len);

G_END_DECLS

/* test-shell.c: foctet-shell as a user runs it — exit codes, one-line
 * errors, identity files, plugin listing, scripted input, serve + ping +
 * perf between two processes over the test-only transport plugin, and
 * send + receive with the real ones: from the prompt too, resumed after
 * kill -9 of either side, and receive's progress on a terminal and off
 * one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>
#include <linux/capability.h>

#include <glib/gstdio.h>
#include <glib-unix.h>
#include <foctet.h>

#include "test-utils.h"

#define TIMEOUT 30

static char *tmpdir;

/* Never touch the real home; plugins from the build tree only. */
static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags)
{
  return foctet_test_launcher_new (tmpdir, flags);
}

/* Runs foctet-shell with @args to completion, with the environment
 * variables @env ("NAME", "VALUE", ..., NULL; may be NULL) set; returns its
 * exit status. */
static int
run_shell_va (const char * const  *env,
              const char          *stdin_text,
              char               **out,
              char               **err,
              const char          *first,
              va_list              args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;
  const char *arg;

  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_SHELL"));
  for (arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  g_ptr_array_add (argv, NULL);

  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                           G_SUBPROCESS_FLAGS_STDERR_PIPE);
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, env[i], env[i + 1], TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, stdin_text != NULL ? stdin_text : "", NULL,
                                       foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_subprocess_communicate_utf8_finish (proc, result, out, err, &error);
  g_assert_no_error (error);
  return g_subprocess_get_exit_status (proc);
}

static int
run_shell (const char  *stdin_text,
           char       **out,
           char       **err,
           const char  *first,
           ...)
{
  va_list args;
  int status;

  va_start (args, first);
  status = run_shell_va (NULL, stdin_text, out, err, first, args);
  va_end (args);
  return status;
}

static int
run_shell_env (const char * const  *env,
               char               **out,
               char               **err,
               const char          *first,
               ...)
{
  va_list args;
  int status;

  va_start (args, first);
  status = run_shell_va (env, NULL, out, err, first, args);
  va_end (args);
  return status;
}

static void
assert_one_line_error (const char *err,
                       const char *words)
{
  g_assert_true (g_str_has_prefix (err, "foctet-shell: "));
  g_assert_true (g_str_has_suffix (err, "\n"));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
  if (strstr (err, words) == NULL)
    g_error ("“%s” does not say “%s”", err, words);
}

static void
test_id (void)
{
  g_autofree char *out = NULL, *err = NULL, *again = NULL, *err2 = NULL, *lower = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "data", "foctet", "identity", NULL);
  g_autoptr(FoctetNodeId) id = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  g_assert_cmpint (run_shell (NULL, &out, &err, "id", NULL), ==, 0);
  g_assert_cmpuint (strlen (out), ==, 53);
  g_strchomp (out);
  id = foctet_node_id_parse (out, &error);
  g_assert_no_error (error);
  lower = g_ascii_strdown (out, -1);
  g_assert_cmpstr (out, ==, lower);

  /* Created on first use, in XDG_DATA_HOME, private. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_assert_cmpint (run_shell (NULL, &again, &err2, "id", NULL), ==, 0);
  g_strchomp (again);
  g_assert_cmpstr (again, ==, out);
}

static void
test_identity_option (void)
{
  g_autofree char *path = g_build_filename (tmpdir, "other", "key", NULL);
  g_autofree char *out = NULL, *err = NULL, *default_out = NULL, *err2 = NULL;
  g_autofree char *out3 = NULL, *err3 = NULL;

  g_assert_cmpint (run_shell (NULL, &out, &err, "--identity", path, "id", NULL), ==, 0);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (run_shell (NULL, &default_out, &err2, "id", NULL), ==, 0);
  g_assert_cmpstr (out, !=, default_out);

  /* A key others may read is refused: run-time failure, one line. */
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_assert_cmpint (run_shell (NULL, &out3, &err3, "--identity", path, "id", NULL), ==, 1);
  g_assert_cmpstr (out3, ==, "");
  assert_one_line_error (err3, "chmod 600");
}

static void
test_usage_errors (void)
{
  struct {
    const char *args[3];
    const char *words;
  } cases[] = {
    { { "frob", NULL }, "unknown command 'frob'" },
    { { "--frob", "id", NULL }, "--frob" },
    { { "id", "--frob", NULL }, "--frob" },
    { { "id", "extra", NULL }, "extra" },
    { { "ping", NULL }, "missing TICKET" },
    { { "ping", "foctet-not-a-ticket", NULL }, "ping: bad ticket" },
    { { "ping", "cjeozblsvlatzdon6ufgqzn5r5gwrfitehsudamjt3in4hivsko", NULL },
      "nor a NodeId: NodeId must be 52 characters, got 51" },
    { { "receive", "cjeozblsvlatzdon6ufgqzn5r5gwrfitehsudamjt3in4hivskoq", NULL },
      "receive: cjeozblsvlatzdon6ufgqzn5r5gwrfitehsudamjt3in4hivskoq is a NodeId; give the ticket send printed" },
    { { "perf", "x", "--upload=lots" }, "lots" },
    { { "perf", "x", "--download=99999999999G" }, "perf: --download: '99999999999G' is too large a byte count" },
    { { "help", "extra", NULL }, "unknown command 'extra'" },
    /* serve's ticket for this NodeId: no transfer offer in it. */
    { { "receive", "foctetaefq4xosih7knllhwh35iq3qophvta6vwlov5c652hpanui4etglsaqpgezdolrqfyyc4mj2gm2dqnrr", NULL },
      "receive: The ticket offers no files: it has no transfer offer (entry type 0x80); give the ticket send "
      "printed" },
    { { "help", "id", "extra" }, "help: unexpected argument 'extra'" },
    { { "--identity=", "id", NULL }, "--identity: the path is empty" },
    { { "--plugin-path=/nonexistent", "id", NULL }, "--plugin-path /nonexistent: not a directory" },
    { { "connect", "x", NULL }, "connect: a command of the interactive shell" },
    { { "streams", NULL }, "streams: a command of the interactive shell" },
    /* A malformed URI or address is a usage error, not a failure to
     * listen or dial. */
    { { "serve", "--listen", "bogus" }, "--listen: 'bogus' is not of the form TRANSPORT/HOST:PORT" },
    { { "serve", "--listen", "udp/127.0.0.1:0" }, "--listen: 'udp' is not a transport of a loaded plugin" },
    { { "serve", "--listen", "tcp-test/127.0.0.1" }, "--listen: “127.0.0.1”: missing “:port”" },
    { { "serve", "--relay", "no-port" }, "serve: --relay: “no-port”" },
    { { "serve", "--relay", "127.0.0.1:0" }, "serve: --relay 127.0.0.1:0: a relay's port must be given" },
    { { "send", "x", "--relay=127.0.0.1:0" }, "send: --relay 127.0.0.1:0: a relay's port must be given" },
    { { "ping", "x", "--relay=127.0.0.1:0" }, "ping: --relay 127.0.0.1:0: a relay's port must be given" },
    { { "serve", "--listen", "tcp-test/127.0.0.1:0:1" }, "serve: --listen: " },
    { { "serve", "--transport", "bogus" }, "--transport: 'bogus' is not a transport of a loaded plugin" },
    { { "send", "x", "--listen=bogus" }, "send: --listen: 'bogus'" },
    { { "ping", "x", "--transport=bogus" }, "ping: --transport: 'bogus'" },
    { { "receive", "x", "--transport=bogus" }, "receive: --transport: 'bogus'" },
    { { "perf", "x", "--address=tcp-test/1.2.3" }, "perf: --address: “1.2.3”: missing “:port”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL, *err = NULL;

      g_test_message ("case %u: %s", i, cases[i].args[0]);
      g_assert_cmpint (run_shell (NULL, &out, &err, cases[i].args[0], cases[i].args[1],
                                  cases[i].args[2], NULL), ==, 2);
      assert_one_line_error (err, cases[i].words);
    }

  {
    /* A transfer offer one byte short of a secret: a wrong argument too. */
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetNodeId) id = foctet_node_id_parse ("cjeozblsvlatzdon6ufgqzn5r5gwrfitehsudamjt3in4hivskoq", &error);
    g_autoptr(FoctetTicket) ticket = NULL;
    g_autoptr(GBytes) offer = g_bytes_new_static ("0123456789012345678901234567890", 31);
    g_autofree char *text = NULL;
    g_autofree char *out = NULL, *err = NULL;

    g_assert_no_error (error);
    ticket = foctet_ticket_new (id);
    g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, "127.0.0.1:9", &error));
    g_assert_true (foctet_ticket_add_app_data (ticket, 0x80, offer, &error));
    g_assert_no_error (error);
    text = foctet_ticket_to_string (ticket);
    g_assert_cmpint (run_shell (NULL, &out, &err, "receive", text, NULL), ==, 2);
    assert_one_line_error (err, "receive: Invalid ticket: its transfer offer (entry type 0x80) is 31 bytes long");
  }
}

/* --transport relay listens through --relay only: without one it is a
 * usage error, not a failure to listen on a relay "0.0.0.0:0". */
static void
test_transport_relay_needs_relay (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  const char *commands[] = { "serve", "send" };

  if (path == NULL)
    {
      g_test_skip ("no relay plugin in this build");
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      g_autofree char *expected = g_strdup_printf ("%s: --transport relay needs --relay HOST:PORT", commands[i]);

      if (g_str_equal (commands[i], "send"))
        g_assert_cmpint (run_shell_env (env, &out, &err, "send", "x", "--transport", "relay", NULL), ==, 2);
      else
        g_assert_cmpint (run_shell_env (env, &out, &err, "serve", "--transport", "relay", NULL), ==, 2);
      assert_one_line_error (err, expected);
      g_assert_cmpstr (out, ==, "");
    }
}

/* A bare NodeId where a ticket goes: not a ticket, but a node to find.
 * With no discovery plugin on the path (only the test transport), the
 * dial says so; a malformed NodeId is a usage error. */
static void
test_bare_node_id (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autofree char *node_id = foctet_node_id_to_string (foctet_identity_get_node_id (identity));
  g_autofree char *bad = g_strnfill (52, '!');
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *out2 = NULL, *err2 = NULL;
  g_autofree char *out3 = NULL, *err3 = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (run_shell (NULL, &out, &err, "ping", node_id, "--count", "1", NULL), ==, 1);
  assert_one_line_error (err, node_id);
  g_assert_nonnull (strstr (err, "no address, and no discovery mechanism is enabled"));
  g_assert_cmpstr (out, ==, "");

  g_assert_cmpint (run_shell (NULL, &out2, &err2, "perf", bad, NULL), ==, 2);
  assert_one_line_error (err2, "bad ticket");

  g_assert_cmpint (run_shell (NULL, &out3, &err3, "ping", node_id, "--relay", "no-port", NULL), ==, 2);
  assert_one_line_error (err3, "ping: --relay: “no-port”: missing “:port”");
}

static void
test_help (void)
{
  const char *commands[] = { "id", "plugins", "serve", "ping", "perf", "peers", "send", "receive", "help" };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (run_shell (NULL, &out, &err, "--help", NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_assert_nonnull (strstr (out, commands[i]));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *cmd_out = NULL, *cmd_err = NULL;

      g_assert_cmpint (run_shell (NULL, &cmd_out, &cmd_err, commands[i], "--help", NULL), ==, 0);
      g_assert_nonnull (strstr (cmd_out, "Usage:"));
    }

  /* help COMMAND is COMMAND --help. */
  {
    g_autofree char *cmd_out = NULL, *cmd_err = NULL;

    g_assert_cmpint (run_shell (NULL, &cmd_out, &cmd_err, "help", "ping", NULL), ==, 0);
    g_assert_nonnull (strstr (cmd_out, "foctet-shell ping"));
  }

  /* The shell's own commands: listed by its help only, their --help
   * anywhere. */
  g_assert_null (strstr (out, "connect"));
  for (guint i = 0; i < 2; i++)
    {
      const char *own = i == 0 ? "connect" : "streams";
      g_autofree char *cmd_out = NULL, *cmd_err = NULL, *script = g_strdup_printf ("help\n%s --help\n", own);

      g_assert_cmpint (run_shell (NULL, &cmd_out, &cmd_err, own, "--help", NULL), ==, 0);
      g_assert_nonnull (strstr (cmd_out, "Usage:"));
      g_clear_pointer (&cmd_out, g_free);
      g_clear_pointer (&cmd_err, g_free);
      g_assert_cmpint (run_shell (script, &cmd_out, &cmd_err, NULL), ==, 0);
      g_assert_nonnull (strstr (cmd_out, own));
      g_assert_nonnull (strstr (cmd_out, "Usage:"));
    }
}

static void
test_plugins (void)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *expected = g_strdup_printf ("transport tcp-test %s/libfoctet-transport-tcp-test.so\n",
                                               g_getenv ("TEST_PLUGIN_DIR"));
  g_autofree char *bad = g_strdup_printf ("--plugin-path=%s", g_getenv ("TEST_BAD_PLUGIN_DIR"));

  g_assert_cmpint (run_shell (NULL, &out, &err, bad, "plugins", NULL), ==, 0);
  if (strstr (out, expected) == NULL)
    g_error ("plugins printed:\n%s", out);
  /* stdout: "<kind> <name> <file>" of the loaded ones only; the refused
   * ones, and why, on stderr. */
  g_assert_null (strstr (out, "refused"));
  g_assert_nonnull (strstr (err, "refused bad-abi "));
  g_assert_nonnull (strstr (err, "built for plugin ABI"));
  g_assert_nonnull (strstr (err, "refused libno-descriptor.so "));
  g_assert_null (strstr (out, "must-not-load"));
  g_assert_null (strstr (err, "must-not-load"));
}

static void
test_scripted (void)
{
  g_autofree char *out = NULL, *err = NULL, *id = NULL, *err2 = NULL;

  g_assert_cmpint (run_shell (NULL, &id, &err2, "id", NULL), ==, 0);
  g_assert_cmpint (run_shell ("# a comment\n\nid\nquit\nid\n", &out, &err, NULL), ==, 0);
  /* One id: the second comes after quit. */
  g_assert_cmpstr (out, ==, id);

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell ("frob\n", &out, &err, NULL), ==, 2);
  assert_one_line_error (err, "unknown command");
}

/* serve in one process, ping and perf from others. */

static char *
read_line (GDataInputStream *in)
{
  char *line = foctet_test_read_line (in, TIMEOUT);

  g_assert_nonnull (line);
  return line;
}

static void
test_serve_ping_perf (void)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *server_key = g_build_filename (tmpdir, "server", NULL);
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetIdentity) stranger = NULL;
  g_autoptr(FoctetTicket) stranger_ticket = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *ticket_text = NULL, *listening = NULL, *stranger_text = NULL;
  GAsyncResult *slot = NULL;
  const char *uri;

  server = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"),
                                        "--identity", server_key,
                                        "serve", "--listen", "tcp-test/127.0.0.1:0", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (server));

  ticket_text = read_line (out);
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  listening = read_line (err);
  g_assert_true (g_str_has_prefix (listening, "listening on tcp-test/127.0.0.1:"));
  uri = listening + strlen ("listening on ");
  /* A transport with no kind of ticket address: the line says so, and
   * how to reach it. */
  {
    g_autofree char *note = g_strdup_printf (" (not in the ticket, which has no tcp-test addresses: peers dial it "
                                             "with --address %.*s)", (int) strcspn (uri, " "), uri);

    g_assert_true (g_str_has_suffix (listening, note));
    listening[strlen (listening) - strlen (note)] = '\0';
  }

  {
    g_autofree char *ping_out = NULL, *ping_err = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_cmpint (run_shell (NULL, &ping_out, &ping_err, "ping", ticket_text, "--count", "2",
                                "--address", uri, NULL), ==, 0);
    lines = g_strsplit (ping_out, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 3);
    g_assert_true (g_regex_match_simple ("^seq=1 rtt=[0-9]+\\.[0-9]{3}ms via=tcp-test$", lines[0], 0, 0));
    g_assert_true (g_regex_match_simple ("^seq=2 rtt=[0-9]+\\.[0-9]{3}ms via=tcp-test$", lines[1], 0, 0));
    g_assert_cmpstr (lines[2], ==, "");
  }

  {
    /* A ticket pasted with white space around it. */
    g_autofree char *padded = g_strdup_printf (" %s\n", ticket_text);
    g_autofree char *ping_out = NULL, *ping_err = NULL;

    g_assert_cmpint (run_shell (NULL, &ping_out, &ping_err, "ping", padded, "--count", "1", "--address", uri, NULL),
                     ==, 0);
    g_assert_true (g_str_has_prefix (ping_out, "seq=1 "));
  }

  {
    g_autofree char *perf_out = NULL, *perf_err = NULL;

    g_assert_cmpint (run_shell (NULL, &perf_out, &perf_err, "perf", ticket_text, "--upload", "1M",
                                "--download", "2M", "--streams", "3", "--json", "--address", uri, NULL), ==, 0);
    g_assert_true (g_regex_match_simple ("^\\{\"transport\": \"tcp-test\", \"upload_bytes\": 3145728, "
                                         "\"download_bytes\": 6291456, \"upload_seconds\": [0-9.]+, "
                                         "\"download_seconds\": [0-9.]+, \"handshake_seconds\": [0-9.]+\\}\n$",
                                         perf_out, 0, 0));
  }

  {
    /* A direction that moves nothing takes no time, and shows no rate. */
    g_autofree char *down_out = NULL, *down_err = NULL, *up_out = NULL, *up_err = NULL;
    g_autofree char *human_out = NULL, *human_err = NULL;

    g_assert_cmpint (run_shell (NULL, &down_out, &down_err, "perf", ticket_text, "--download", "2M", "--upload",
                                "0", "--json", "--address", uri, NULL), ==, 0);
    if (!g_regex_match_simple ("^\\{\"transport\": \"tcp-test\", \"upload_bytes\": 0, \"download_bytes\": 2097152, "
                               "\"upload_seconds\": 0\\.000000, \"download_seconds\": [0-9.]+, "
                               "\"handshake_seconds\": [0-9.]+\\}\n$", down_out, 0, 0))
      g_error ("perf --upload 0 --json printed: %s", down_out);
    g_assert_cmpint (run_shell (NULL, &up_out, &up_err, "perf", ticket_text, "--upload", "2M", "--download",
                                "0", "--json", "--address", uri, NULL), ==, 0);
    if (!g_regex_match_simple ("^\\{\"transport\": \"tcp-test\", \"upload_bytes\": 2097152, \"download_bytes\": 0, "
                               "\"upload_seconds\": [0-9.]+, \"download_seconds\": 0\\.000000, "
                               "\"handshake_seconds\": [0-9.]+\\}\n$", up_out, 0, 0))
      g_error ("perf --download 0 --json printed: %s", up_out);
    g_assert_cmpint (run_shell (NULL, &human_out, &human_err, "perf", ticket_text, "--download", "2M",
                                "--address", uri, NULL), ==, 0);
    g_assert_true (g_regex_match_simple ("^upload 0\\.00 Gbit/s download ([0-9]+\\.[0-9]{2}|n/a) Gbit/s\n$",
                                         human_out, 0, 0));
  }

  {
    g_autofree char *perf_out = NULL, *perf_err = NULL;

    g_assert_cmpint (run_shell (NULL, &perf_out, &perf_err, "perf", ticket_text, "--upload", "4M",
                                "--download", "4M", "--address", uri, NULL), ==, 0);
    g_assert_true (g_regex_match_simple ("^upload [0-9]+\\.[0-9]{2} Gbit/s download [0-9]+\\.[0-9]{2} Gbit/s\n$",
                                         perf_out, 0, 0));
  }

  {
    /* Without sizes: 64 MiB each way, not nothing. */
    g_autofree char *perf_out = NULL, *perf_err = NULL;

    g_assert_cmpint (run_shell (NULL, &perf_out, &perf_err, "perf", ticket_text, "--json", "--address", uri, NULL),
                     ==, 0);
    g_assert_true (g_regex_match_simple ("^\\{\"transport\": \"tcp-test\", \"upload_bytes\": 67108864, "
                                         "\"download_bytes\": 67108864, ", perf_out, 0, 0));
  }

  {
    /* A byte comes in one read: no time to divide by, and no 0.00. */
    g_autofree char *perf_out = NULL, *perf_err = NULL;

    g_assert_cmpint (run_shell (NULL, &perf_out, &perf_err, "perf", ticket_text, "--upload", "0",
                                "--download", "1", "--address", uri, NULL), ==, 0);
    g_assert_cmpstr (perf_out, ==, "upload 0.00 Gbit/s download n/a Gbit/s\n");
    g_assert_cmpstr (perf_err, ==, "foctet-shell: perf: the download (1 byte) arrived in one read, too fast to "
                     "time: ask for more with --download\n");
  }

  /* The shell's connect keeps a connection that ping then uses: this
   * ticket has no address a loaded transport can dial (see below), so a
   * ping of its own would fail.  streams lists it, before and after. */
  {
    g_autofree char *script = g_strdup_printf ("streams\nconnect %s --address %s\nstreams\nping %s --count 1\n"
                                               "connect %s\nstreams\nquit\n",
                                               ticket_text, uri, ticket_text, ticket_text);
    g_autofree char *o = NULL, *e = NULL;
    g_autofree char *id = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
    g_autofree char *connected = g_strdup_printf ("^connected to %s via=tcp-test 127\\.0\\.0\\.1:[0-9]+ in "
                                                  "[0-9.]+ ms$", id);
    g_autofree char *listed = g_strdup_printf ("^%s via=tcp-test 127\\.0\\.0\\.1:[0-9]+ dialed, [0-9]+ streams?$",
                                               id);
    g_autofree char *again = g_strdup_printf ("^already connected to %s via=tcp-test ", id);
    g_auto(GStrv) lines = NULL;
    guint n = 0;

    g_assert_cmpint (run_shell (script, &o, &e, NULL), ==, 0);
    g_test_message ("shell: %s", o);
    g_assert_nonnull (strstr (e, "no connections"));
    lines = g_strsplit (o, "\n", -1);
    g_assert_true (g_regex_match_simple (connected, lines[n++], 0, 0));
    g_assert_true (g_regex_match_simple (listed, lines[n++], 0, 0));
    g_assert_true (g_regex_match_simple ("^seq=1 rtt=[0-9]+\\.[0-9]{3}ms via=tcp-test$", lines[n++], 0, 0));
    g_assert_true (g_regex_match_simple (again, lines[n++], 0, 0));
    /* Still the one connection; its streams (the ping's may still be
     * closing) indented under it. */
    g_assert_true (g_regex_match_simple (listed, lines[n++], 0, 0));
    while (lines[n] != NULL && g_str_has_prefix (lines[n], "  stream "))
      n++;
    g_assert_cmpstr (lines[n], ==, "");
    g_assert_null (lines[n + 1]);
  }

  /* A peer that stops answering without a word (here: stopped, so its
   * connection stays up): ping gives up after --timeout, not after the
   * transport's idle timeout. */
  {
    g_autoptr(GSubprocessLauncher) ping_launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                 G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autofree char *client_key = g_build_filename (tmpdir, "client", NULL);
    g_autoptr(GSubprocess) ping = NULL;
    g_autoptr(GDataInputStream) ping_out = NULL;
    g_autoptr(GDataInputStream) ping_err = NULL;
    g_autoptr(GAsyncResult) waited = NULL;
    g_autofree char *first = NULL, *failure = NULL;
    GAsyncResult *ping_slot = NULL;
    gint64 stopped;

    ping = g_subprocess_launcher_spawn (ping_launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", client_key,
                                        "ping", ticket_text, "--address", uri, "--count", "5", "--timeout", "1",
                                        NULL);
    g_assert_no_error (error);
    ping_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (ping));
    ping_err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (ping));
    first = read_line (ping_out);
    g_assert_true (g_str_has_prefix (first, "seq=1 "));
    g_subprocess_send_signal (server, SIGSTOP);
    stopped = g_get_monotonic_time ();
    failure = read_line (ping_err);
    g_subprocess_wait_async (ping, NULL, foctet_test_store_result, &ping_slot);
    waited = foctet_test_wait_result (&ping_slot, TIMEOUT);
    g_subprocess_send_signal (server, SIGCONT);
    g_test_message ("%s, %.1f s after the server stopped", failure,
                    (g_get_monotonic_time () - stopped) / (double) G_USEC_PER_SEC);
    g_assert_true (g_regex_match_simple ("^foctet-shell: ping: no reply to seq=[23] within 1 s$", failure, 0, 0));
    g_assert_cmpint (g_subprocess_get_exit_status (ping), ==, 1);
    g_assert_cmpint (g_get_monotonic_time () - stopped, <, 5 * G_USEC_PER_SEC);
  }

  /* Someone else's ticket at this address: the NodeId does not match. */
  stranger = foctet_identity_generate (&error);
  g_assert_no_error (error);
  stranger_ticket = foctet_ticket_new (foctet_identity_get_node_id (stranger));
  stranger_text = foctet_ticket_to_string (stranger_ticket);
  {
    g_autofree char *o = NULL, *e = NULL;

    g_assert_cmpint (run_shell (NULL, &o, &e, "ping", stranger_text, "--address", uri, NULL), ==, 1);
    assert_one_line_error (e, "not the expected");
  }

  /* Nobody listens there. */
  {
    g_autofree char *o = NULL, *e = NULL;

    g_assert_cmpint (run_shell (NULL, &o, &e, "ping", ticket_text, "--address", "tcp-test/127.0.0.1:1", NULL), ==, 1);
    assert_one_line_error (e, "connect: ");
  }

  /* A ticket without any address the loaded transports can use. */
  {
    g_autofree char *o = NULL, *e = NULL;

    g_assert_cmpint (run_shell (NULL, &o, &e, "ping", ticket_text, NULL), ==, 1);
    assert_one_line_error (e, "no address");
  }

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait_check_async (server, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_check_finish (server, result, &error));
  g_assert_no_error (error);
}

/* serve without --listen, with the plugins of @plugin_path: listens on
 * every default transport (quic, tls) that is loaded, and the ticket
 * carries them all; ping without --transport races them.  With the quic
 * twin of tcp-test (@twin), quic wins, or tls when quic hangs. */
static void
serve_default (const char *plugin_path,
               gboolean    twin)
{
  const char * const env[] = { "FOCTET_PLUGIN_PATH", plugin_path, NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *server_key = g_build_filename (tmpdir, "server-default", NULL);
  g_autofree char *plugins_out = NULL, *plugins_err = NULL;
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *ticket_text = NULL;
  GAsyncResult *slot = NULL;
  const struct {
    const char *name;
    FoctetAddressKind kind;
  } defaults[] = { { "quic", FOCTET_ADDRESS_KIND_QUIC }, { "tls", FOCTET_ADDRESS_KIND_TLS } };
  gboolean loaded[G_N_ELEMENTS (defaults)] = { FALSE };
  guint n_loaded = 0;

  g_assert_cmpint (run_shell_env (env, &plugins_out, &plugins_err, "plugins", NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
    {
      g_autofree char *line = g_strdup_printf ("transport %s ", defaults[i].name);

      loaded[i] = g_str_has_prefix (plugins_out, line) || strstr (plugins_out, line) != NULL;
      n_loaded += loaded[i];
    }
  g_assert_true (loaded[1]);
  if (twin)
    g_assert_true (loaded[0]);

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", plugin_path, TRUE);
  server = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"),
                                        "--identity", server_key, "serve", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (server));

  ticket_text = read_line (out);
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  /* A line per default listener: on 0.0.0.0 for each transport, and on
   * [::] too where this host has IPv6 (/netns/shell/default-listen checks
   * which); the test twin listens once, and says so of its second
   * listener: "foctet-shell: listen quic/[::]:0: … (serving without it)". */
  for (guint i = 0, n_listening = 0; n_listening < n_loaded; i++)
    {
      g_autofree char *line = read_line (err);

      g_assert_cmpuint (i, <, 2 * n_loaded);
      g_test_message ("%s", line);
      if (g_str_has_prefix (line, "listening on "))
        n_listening++;
      else
        g_assert_true (g_str_has_prefix (line, "foctet-shell: listen ") &&
                       g_str_has_suffix (line, " (serving without it)"));
    }
  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
    {
      g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, defaults[i].kind);

      g_test_message ("%s: %u addresses in the ticket", defaults[i].name, g_strv_length (addresses));
      if (loaded[i])
        g_assert_cmpuint (g_strv_length (addresses), >, 0);
      else
        g_assert_cmpuint (g_strv_length (addresses), ==, 0);
    }

  /* No --transport: the race.  Against the twin, quic wins; when its
   * dials hang, tls wins after the racing delay. */
  {
    g_autofree char *o = NULL, *e = NULL;

    g_assert_cmpint (run_shell_env (env, &o, &e, "ping", ticket_text, "--count", "1", NULL), ==, 0);
    g_test_message ("%s", o);
    g_assert_true (g_regex_match_simple ("^seq=1 rtt=[0-9]+\\.[0-9]{3}ms via=(quic|tls)\n$", o, 0, 0));
    if (twin)
      g_assert_nonnull (strstr (o, "via=quic"));
  }
  if (twin)
    {
      const char * const hang_env[] = { "FOCTET_PLUGIN_PATH", plugin_path, "TCP_TEST_DIAL_MODE", "hang", NULL };
      g_autofree char *o = NULL, *e = NULL, *perf_out = NULL, *perf_err = NULL;

      g_assert_cmpint (run_shell_env (hang_env, &o, &e, "ping", ticket_text, "--count", "1", NULL), ==, 0);
      g_assert_true (g_regex_match_simple ("^seq=1 rtt=[0-9]+\\.[0-9]{3}ms via=tls\n$", o, 0, 0));

      g_assert_cmpint (run_shell_env (hang_env, &perf_out, &perf_err, "perf", ticket_text, "--upload", "64K",
                                      "--json", NULL), ==, 0);
      g_assert_true (g_str_has_prefix (perf_out, "{\"transport\": \"tls\""));
    }
  {
    g_autofree char *o = NULL, *e = NULL;

    g_assert_cmpint (run_shell_env (env, &o, &e, "ping", ticket_text, "--count", "1", "--transport", "tls", NULL), ==, 0);
    g_assert_true (g_regex_match_simple ("^seq=1 rtt=[0-9]+\\.[0-9]{3}ms via=tls\n$", o, 0, 0));
  }

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait_check_async (server, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_check_finish (server, result, &error));
  g_assert_no_error (error);
}

static void
test_serve_default_twin (void)
{
  const char *path = g_getenv ("TEST_QUIC_TWIN_PLUGIN_PATH");

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  serve_default (path, TRUE);
}

static void
test_serve_default (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  serve_default (path, FALSE);
}

/* serve says on stderr which incoming connections failed, and why: a
 * TLS client without a certificate, bytes that are not TLS at all.  A
 * ping that succeeds says nothing. */
static void
test_serve_incoming_failed (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char * const env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *server_key = g_build_filename (tmpdir, "server-incoming-failed", NULL);
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) garbage = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL, *listening = NULL, *line = NULL, *connected_from = NULL;
  g_autofree char *o = NULL, *e = NULL;
  const char text[] = "GET / HTTP/1.0\r\n\r\n";
  GAsyncResult *slot = NULL;
  const char *host_port;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  server = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", server_key,
                                        "serve", "--listen", "tls/127.0.0.1:0", "--no-mdns", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (server));
  ticket_text = read_line (out);
  listening = read_line (err);
  g_assert_true (g_str_has_prefix (listening, "listening on tls/127.0.0.1:"));
  host_port = listening + strlen ("listening on tls/");

  g_assert_cmpint (run_shell_env (env, &o, &e, "ping", ticket_text, "--count", "1", NULL), ==, 0);

  /* Not TLS: the handshake fails on the first bytes. */
  g_socket_client_connect_to_host_async (client, host_port, 0, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  garbage = g_socket_client_connect_to_host_finish (client, result, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (garbage)), text,
                                            strlen (text), NULL, NULL, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GInetSocketAddress) local = NULL;
    g_autofree char *ip = NULL;

    local = G_INET_SOCKET_ADDRESS (g_socket_connection_get_local_address (garbage, &error));
    g_assert_no_error (error);
    ip = g_inet_address_to_string (g_inet_socket_address_get_address (local));
    connected_from = g_strdup_printf ("incoming tls connection from %s:%u failed: ", ip,
                                      g_inet_socket_address_get_port (local));
  }
  line = read_line (err);
  g_test_message ("%s", line);
  if (!g_str_has_prefix (line, connected_from) || strlen (line) == strlen (connected_from))
    g_error ("“%s” is not “%s” and a reason", line, connected_from);
  g_io_stream_close (G_IO_STREAM (garbage), NULL, NULL);

  g_subprocess_send_signal (server, SIGTERM);
  g_clear_object (&result);
  g_subprocess_wait_check_async (server, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_check_finish (server, result, &error));
  g_assert_no_error (error);
}

/* send in one process, receive in another, with the real plugins: the
 * ticket first on send's stdout, nothing on receive's, both exit 0; a file
 * in the way is refused until --force; usage and run-time errors. */
/* send PATHS... over tls, its ticket read; its stderr in *@err if that
 * is given, else silenced. */
static GSubprocess *
start_send_full (const char         *plugin_path,
                 const char         *key,
                 const char * const *paths,
                 char              **ticket_text,
                 GDataInputStream  **err)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          (err != NULL ? G_SUBPROCESS_FLAGS_STDERR_PIPE
                                                                       : G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *sender;

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", plugin_path, TRUE);
  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_SHELL"));
  g_ptr_array_add (argv, (char *) "--identity");
  g_ptr_array_add (argv, (char *) key);
  g_ptr_array_add (argv, (char *) "send");
  for (guint i = 0; paths[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) paths[i]);
  g_ptr_array_add (argv, (char *) "--listen");
  g_ptr_array_add (argv, (char *) "tls/127.0.0.1:0");
  g_ptr_array_add (argv, NULL);
  sender = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sender));
  *ticket_text = read_line (out);
  g_assert_true (g_str_has_prefix (*ticket_text, "foctet"));
  if (err != NULL)
    *err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (sender));
  return sender;
}

static GSubprocess *
start_send (const char         *plugin_path,
            const char         *key,
            const char * const *paths,
            char              **ticket_text)
{
  return start_send_full (plugin_path, key, paths, ticket_text, NULL);
}

static void
wait_exit (GSubprocess *proc,
           int          status)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  g_subprocess_wait_async (proc, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (proc, result, NULL));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, status);
}

static void
test_send_receive (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "send-src", NULL);
  g_autofree char *dir = g_build_filename (src, "dir", NULL);
  g_autofree char *file = g_build_filename (src, "file.txt", NULL);
  g_autofree char *inner = g_build_filename (dir, "inner.txt", NULL);
  g_autofree char *output = g_build_filename (tmpdir, "send-out", NULL);
  g_autofree char *got_file = g_build_filename (output, "file.txt", NULL);
  g_autofree char *got_inner = g_build_filename (output, "dir", "inner.txt", NULL);
  g_autofree char *sender_key = g_build_filename (tmpdir, "sender", NULL);
  g_autofree char *missing = g_build_filename (tmpdir, "no-such-file", NULL);
  const char *paths[] = { dir, file, NULL };
  const char *changed[] = { file, NULL };
  g_autoptr(GSubprocess) sender = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *out = NULL, *err = NULL, *content = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "the file\n", -1, NULL));
  g_assert_true (g_file_set_contents (inner, "inside\n", -1, NULL));

  sender = start_send (path, sender_key, paths, &ticket_text);
  g_assert_cmpint (run_shell_env (env, &out, &err, "receive", ticket_text, "--output", output, NULL), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_nonnull (strstr (err, "received 2 files"));
  wait_exit (sender, 0);
  g_clear_object (&sender);
  g_assert_true (g_file_get_contents (got_file, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "the file\n");
  g_clear_pointer (&content, g_free);
  g_assert_true (g_file_get_contents (got_inner, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "inside\n");
  g_clear_pointer (&content, g_free);

  /* Changed on the sender's side: the old copy is not replaced, unless
   * forced. */
  g_assert_true (g_file_set_contents (file, "changed\n", -1, NULL));
  g_clear_pointer (&ticket_text, g_free);
  sender = start_send (path, sender_key, changed, &ticket_text);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "-q", "receive", ticket_text, "--output", output, NULL), ==, 1);
  assert_one_line_error (err, "not overwriting it (--force replaces it)");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "-q", "receive", ticket_text, "--output", output, "--force",
                                  NULL), ==, 0);
  g_assert_cmpstr (err, ==, "");
  wait_exit (sender, 0);
  g_assert_true (g_file_get_contents (got_file, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "changed\n");

  /* Errors. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", NULL), ==, 2);
  assert_one_line_error (err, "missing PATH");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "receive", "nonsense", NULL), ==, 2);
  assert_one_line_error (err, "bad ticket");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", missing, "--listen", "tls/127.0.0.1:0", NULL), ==, 1);
  assert_one_line_error (err, "no-such-file");
  g_assert_cmpstr (out, ==, "");
}

/* Runs foctet-shell without a command, @script on its standard input. */
static int
run_script_env (const char * const  *env,
                const char          *script,
                char               **out,
                char               **err,
                ...)
{
  va_list args;
  int status;

  va_start (args, err);
  status = run_shell_va (env, script, out, err, NULL, args);
  va_end (args);
  return status;
}

/* kill -9 in the middle of a transfer, on either side, then resume.  The
 * file is large enough that a receive takes a while on loopback, and the
 * part file is watched until about half of it is there. */

#ifdef FOCTET_TEST_SANITIZED
/* meson defines this under -Db_sanitize, where every byte costs more. */
#define KILL_SIZE (24 * 1024 * 1024 + 5)
#else
#define KILL_SIZE (96 * 1024 * 1024 + 5)
#endif

static void
make_kill_tree (const char *src)
{
  g_autofree char *big = g_build_filename (src, "big.bin", NULL);
  g_autofree guint8 *data = g_malloc (KILL_SIZE);
  guint32 x = 1;

  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  for (gsize i = 0; i + 4 <= KILL_SIZE; i += 4)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      memcpy (data + i, &x, 4);
    }
  g_assert_true (g_file_set_contents (big, (const char *) data, KILL_SIZE, NULL));
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("small-%02u.txt", i);
      g_autofree char *path = g_build_filename (src, name, NULL);

      g_assert_true (g_file_set_contents (path, (const char *) data + i * 1000, 1000 + i, NULL));
    }
}

/* Bytes in @dir: final files and part files. */
static guint64
bytes_present (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint64 total = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (path, &st), ==, 0);
      total += S_ISDIR (st.st_mode) ? bytes_present (path) : (guint64) st.st_size;
    }
  return total;
}

static guint64
total_size (const char *dir)
{
  return bytes_present (dir);
}

static GSubprocess *
start_receive (const char *plugin_path,
               const char *ticket_text,
               const char *output)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                          G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "-q", "receive", ticket_text, "--output", output, NULL };
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", plugin_path, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return proc;
}

/* Waits until @part holds at least @size bytes (at most TIMEOUT s),
 * polling every millisecond; returns its size then. */
static void
wait_part (const char *part,
           goffset     size)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;
  struct stat st;

  while (stat (part, &st) < 0 || st.st_size < size)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("“%s” did not reach %" G_GOFFSET_FORMAT " bytes within %d s", part, size, TIMEOUT);
      g_usleep (1000);
    }
}

static void
kill_and_reap (GSubprocess *proc)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  g_subprocess_force_exit (proc);
  g_subprocess_wait_async (proc, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (proc, result, NULL));
  g_assert_true (g_subprocess_get_if_signaled (proc));
  g_assert_cmpint (g_subprocess_get_term_sig (proc), ==, SIGKILL);
}

/* The exact count from receive -v ("… N bytes fetched"). */
static guint64
bytes_fetched (const char *err)
{
  const char *line = strstr (err, "bytes fetched");
  const char *start;

  if (line == NULL)
    g_error ("receive -v did not say what it fetched: %s", err);
  start = line - 1;
  while (start > err && g_ascii_isdigit (start[-1]))
    start--;
  return g_ascii_strtoull (start, NULL, 10);
}

/* Every file of @src (flat, as make_kill_tree () makes it) is in
 * @received with the same bytes. */
static void
assert_same_files (const char *src,
                   const char *received)
{
  g_autoptr(GDir) dir = g_dir_open (src, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *a = g_build_filename (src, name, NULL);
      g_autofree char *b = g_build_filename (received, name, NULL);
      g_autofree char *ca = NULL, *cb = NULL;
      gsize la = 0, lb = 0;

      g_assert_true (g_file_get_contents (a, &ca, &la, NULL));
      g_assert_true (g_file_get_contents (b, &cb, &lb, NULL));
      g_assert_cmpmem (ca, la, cb, lb);
    }
}

static void
resume_and_check (const char *path,
                  const char *ticket_text,
                  const char *src,
                  const char *output,
                  guint64     present)
{
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *received = g_build_filename (output, "src", NULL);
  guint64 total = total_size (src), fetched;

  g_assert_cmpint (run_shell_env (env, &out, &err, "-v", "receive", ticket_text, "--output", output, NULL), ==, 0);
  fetched = bytes_fetched (err);
  g_test_message ("%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes were there; the resume fetched %"
                  G_GUINT64_FORMAT, present, total, fetched);
  g_assert_cmpuint (fetched, ==, total - present);
  g_assert_cmpuint (bytes_present (received), ==, total);
  assert_same_files (src, received);
}

static void
test_receive_killed (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "receive-killed", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *output = g_build_filename (base, "out", NULL);
  g_autofree char *part = g_build_filename (output, "src", "big.bin.foctet-part", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  const char *paths[] = { src, NULL };
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GSubprocess) receiver = NULL;
  g_autofree char *ticket_text = NULL;
  guint64 present;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  make_kill_tree (src);
  sender = start_send (path, key, paths, &ticket_text);
  receiver = start_receive (path, ticket_text, output);
  wait_part (part, KILL_SIZE / 2);
  kill_and_reap (receiver);
  present = bytes_present (output);
  g_assert_cmpuint (present, >=, KILL_SIZE / 2);
  g_assert_cmpuint (present, <, total_size (src));

  /* The same send waits on: the new receive resumes. */
  resume_and_check (path, ticket_text, src, output, present);
  wait_exit (sender, 0);
}

/* receive interrupted (SIGINT) in the middle of a large file over tls:
 * the sender hears why — the receiver's ABORT, not a broken connection —
 * even though the receiving process exits at once. */
static void
test_receive_interrupted (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "receive-interrupted", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *output = g_build_filename (base, "out", NULL);
  g_autofree char *part = g_build_filename (output, "src", "big.bin.foctet-part", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  const char *paths[] = { src, NULL };
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GSubprocess) receiver = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *line = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  make_kill_tree (src);
  sender = start_send_full (path, key, paths, &ticket_text, &err);
  receiver = start_receive (path, ticket_text, output);
  wait_part (part, KILL_SIZE / 4);
  g_subprocess_send_signal (receiver, SIGINT);
  wait_exit (receiver, 1);

  for (guint i = 0; i < 20; i++)
    {
      g_free (line);
      line = read_line (err);
      g_assert_nonnull (line);
      g_test_message ("send: %s", line);
      if (g_str_has_prefix (line, "receiver gone: "))
        break;
    }
  g_assert_true (g_str_has_prefix (line, "receiver gone: The receiver aborted: cancelled (code 8)"));
  kill_and_reap (sender);
}

/* Permissions apply to the child even as root: the capabilities that
 * override them leave its bounding set, so not even its exec gets them
 * back.  (Not root: they apply anyway.) */
static void
drop_dac_override (gpointer user_data)
{
  prctl (PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0);
  prctl (PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0);
}

/* receive, under permissions, into @output; its exit status. */
static int
receive_under_permissions (const char *path,
                           const char *ticket_text,
                           const char *output,
                           char      **err)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  g_subprocess_launcher_set_child_setup (launcher, drop_dac_override, NULL, NULL);
  proc = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "receive", ticket_text,
                                      "--output", output, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  return g_subprocess_get_exit_status (proc);
}

/* Directories offered read-only (0555) or with mode 0 are received with
 * those modes, and a second receive of the same files into the same
 * place, a resume or a check, still works: the directories the first one
 * left are made usable again while it runs, then get their modes back. */
static void
test_receive_locked_directories (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "locked", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *ro = g_build_filename (src, "ro", NULL);
  g_autofree char *zero = g_build_filename (src, "zero", NULL);
  g_autofree char *output = g_build_filename (base, "out", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  const char *paths[] = { src, NULL };

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (ro, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (zero, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (output, 0755), ==, 0);
  {
    g_autofree char *f = g_build_filename (ro, "f.txt", NULL);
    g_autofree char *g = g_build_filename (zero, "g.txt", NULL);

    g_assert_true (g_file_set_contents (f, "read only\n", -1, NULL));
    g_assert_true (g_file_set_contents (g, "nothing\n", -1, NULL));
  }
  g_assert_cmpint (g_chmod (ro, 0555), ==, 0);
  g_assert_cmpint (g_chmod (zero, 0), ==, 0);

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(GSubprocess) sender = NULL;
      g_autofree char *ticket_text = NULL;
      g_autofree char *err = NULL;
      g_autofree char *got_ro = g_build_filename (output, "src", "ro", NULL);
      g_autofree char *got_zero = g_build_filename (output, "src", "zero", NULL);
      struct stat st;
      int status;

      sender = start_send (path, key, paths, &ticket_text);
      status = receive_under_permissions (path, ticket_text, output, &err);
      g_test_message ("round %u: receive exited %d: %s", round, status, err);
      g_assert_cmpint (status, ==, 0);
      wait_exit (sender, 0);
      g_assert_cmpint (stat (got_ro, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 07777, ==, 0555);
      g_assert_cmpint (stat (got_zero, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 07777, ==, 0);
    }
  /* For the removal of the test's files. */
  {
    g_autofree char *got_ro = g_build_filename (output, "src", "ro", NULL);
    g_autofree char *got_zero = g_build_filename (output, "src", "zero", NULL);

    g_assert_cmpint (g_chmod (got_ro, 0755), ==, 0);
    g_assert_cmpint (g_chmod (got_zero, 0755), ==, 0);
    g_assert_cmpint (g_chmod (ro, 0755), ==, 0);
    g_assert_cmpint (g_chmod (zero, 0755), ==, 0);
  }
}

/* send hashing for long off a terminal says so after a moment (before,
 * it said nothing until its ticket, which looked like a hang); it stops
 * at SIGTERM, with no ticket printed. */
static void
test_send_hashing_notice (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "hashing", NULL);
  g_autofree char *huge = g_build_filename (base, "huge.bin", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gint64 start;
  int fd;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (base, 0755), ==, 0);
  /* 64 GiB of holes: minutes of hashing, no disk. */
  fd = open (huge, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, (off_t) 64 << 30), ==, 0);
  close (fd);

  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  start = g_get_monotonic_time ();
  sender = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", key, "send",
                                        huge, "--listen", "tls/127.0.0.1:0", NULL);
  g_assert_no_error (error);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (sender));
  line = read_line (err);
  g_test_message ("after %.1f s: %s", (g_get_monotonic_time () - start) / 1e6, line);
  g_assert_cmpstr (line, ==, "reading and hashing the files…");
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 1 * G_USEC_PER_SEC);
  g_subprocess_send_signal (sender, SIGTERM);
  wait_exit (sender, 1);
  {
    g_autofree char *out = NULL;
    g_autoptr(GDataInputStream) stdout_in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sender));

    out = g_data_input_stream_read_line_utf8 (stdout_in, NULL, NULL, NULL);
    g_assert_null (out);
  }
  g_unlink (huge);
}

static void
test_send_killed (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "send-killed", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *output = g_build_filename (base, "out", NULL);
  g_autofree char *part = g_build_filename (output, "src", "big.bin.foctet-part", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  const char *paths[] = { src, NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GSubprocess) receiver = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *second_ticket = NULL;
  g_autofree char *err = NULL;
  guint64 present;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  make_kill_tree (src);
  sender = start_send (path, key, paths, &ticket_text);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  receiver = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "-q", "receive",
                                          ticket_text, "--output", output, NULL);
  g_assert_no_error (error);
  wait_part (part, KILL_SIZE / 2);
  kill_and_reap (sender);
  g_clear_object (&sender);
  /* The receiver sees the connection end (TCP) and fails, saying what it
   * kept and that the same receive resumes. */
  g_assert_true (g_subprocess_communicate_utf8 (receiver, NULL, NULL, NULL, &err, &error));
  g_assert_no_error (error);
  g_test_message ("receive: %s", err);
  g_assert_cmpint (g_subprocess_get_exit_status (receiver), ==, 1);
  assert_one_line_error (err, "kept: run the same receive again to resume");
  g_assert_true (g_str_has_prefix (err, "foctet-shell: receive: "));
  g_assert_nonnull (strstr (err, "MiB of "));
  present = bytes_present (output);
  g_assert_cmpuint (present, >=, KILL_SIZE / 2);
  g_assert_cmpuint (present, <, total_size (src));

  /* A new send of the same files: a new ticket, a new secret; the
   * receiver resumes from its part files all the same. */
  sender = start_send (path, key, paths, &second_ticket);
  g_assert_cmpstr (second_ticket, !=, ticket_text);
  resume_and_check (path, second_ticket, src, output, present);
  wait_exit (sender, 0);
}

/* receive's progress.  On a terminal (its stderr a pseudo-terminal of 100
 * columns here) a bar redrawn in place — "\r", erase the line — with the
 * bytes, the rate, the time left, the files and the one being fetched;
 * elsewhere plain lines, every 2 s.  So that it shows whatever the
 * machine's speed, the sender is stopped (SIGSTOP) in the middle of the
 * file for a while, then let go. */

typedef struct {
  GString *text;
  gboolean closed;
} PtyReader;

static gboolean
pty_readable_cb (int           fd,
                 GIOCondition  condition,
                 gpointer      user_data)
{
  PtyReader *reader = user_data;
  char buf[4096];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n > 0)
        {
          g_string_append_len (reader->text, buf, n);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return G_SOURCE_CONTINUE;
      /* EIO: every end of the terminal's other side is closed. */
      reader->closed = TRUE;
      return G_SOURCE_REMOVE;
    }
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
iterate_for (guint milliseconds)
{
  gboolean done = FALSE;

  g_timeout_add (milliseconds, set_flag_cb, &done);
  foctet_test_wait_for (&done, TIMEOUT);
}

/* Receives @src's one file, the sender stopped for @stall_ms once a MiB
 * of it arrived; returns what receive wrote on its stderr, a terminal if
 * @tty. */
static char *
receive_stalled (const char *path,
                 const char *base,
                 gboolean    tty,
                 guint       stall_ms)
{
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *output = g_build_filename (base, tty ? "out-tty" : "out-pipe", NULL);
  g_autofree char *part = g_build_filename (output, "src", "big.bin.foctet-part", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  const char *paths[] = { src, NULL };
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "receive", NULL, "--output", output, NULL };
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GSubprocess) receiver = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL;
  PtyReader reader = { g_string_new (NULL), FALSE };
  int master = -1;

  sender = start_send (path, key, paths, &ticket_text);
  argv[2] = ticket_text;
  {
    g_autoptr(GSubprocessLauncher) launcher = NULL;

    launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                             (tty ? G_SUBPROCESS_FLAGS_NONE : G_SUBPROCESS_FLAGS_STDERR_PIPE));
    g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
    if (tty)
      {
        struct winsize size = { .ws_row = 24, .ws_col = 100 };
        int slave;

        g_assert_cmpint (openpty (&master, &slave, NULL, NULL, &size), ==, 0);
        g_assert_true (g_unix_set_fd_nonblocking (master, TRUE, NULL));
        /* The launcher closes its end when it goes, just below. */
        g_subprocess_launcher_take_stderr_fd (launcher, slave);
      }
    receiver = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
  }
  if (tty)
    g_unix_fd_add (master, G_IO_IN | G_IO_HUP | G_IO_ERR, pty_readable_cb, &reader);

  wait_part (part, 1024 * 1024);
  g_subprocess_send_signal (sender, SIGSTOP);
  iterate_for (stall_ms);
  g_subprocess_send_signal (sender, SIGCONT);

  if (tty)
    {
      wait_exit (receiver, 0);
      foctet_test_wait_for (&reader.closed, TIMEOUT);
      close (master);
    }
  else
    {
      g_autoptr(GAsyncResult) result = NULL;
      GAsyncResult *slot = NULL;
      g_autofree char *err = NULL;

      g_subprocess_communicate_utf8_async (receiver, NULL, NULL, foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      g_subprocess_communicate_utf8_finish (receiver, result, NULL, &err, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_subprocess_get_exit_status (receiver), ==, 0);
      g_string_append (reader.text, err);
    }
  wait_exit (sender, 0);
  return g_string_free (reader.text, FALSE);
}

/* Runs send on @paths with its stderr on a terminal, until it says it
 * waits for a receiver; stops it; returns what the terminal showed (line
 * ends as written, without the terminal's carriage returns). */
static char *
send_on_terminal (const char         *plugin_path,
                  const char         *key,
                  gboolean            quiet,
                  const char * const *listen,
                  const char         *file,
                  char              **ticket_text)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  struct winsize size = { .ws_row = 50, .ws_col = 200 };
  PtyReader reader = { g_string_new (NULL), FALSE };
  g_autoptr(GString) text = NULL;
  int master, slave;

  g_ptr_array_add (argv, (char *) g_getenv ("FOCTET_SHELL"));
  g_ptr_array_add (argv, (char *) "--identity");
  g_ptr_array_add (argv, (char *) key);
  if (quiet)
    g_ptr_array_add (argv, (char *) "-q");
  g_ptr_array_add (argv, (char *) "send");
  g_ptr_array_add (argv, (char *) file);
  for (guint i = 0; listen[i] != NULL; i++)
    {
      g_ptr_array_add (argv, (char *) "--listen");
      g_ptr_array_add (argv, (char *) listen[i]);
    }
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", plugin_path, TRUE);
  g_assert_cmpint (openpty (&master, &slave, NULL, NULL, &size), ==, 0);
  g_assert_true (g_unix_set_fd_nonblocking (master, TRUE, NULL));
  g_subprocess_launcher_take_stderr_fd (launcher, slave);
  sender = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_clear_object (&launcher);           /* closes our copy of the terminal's other side */
  g_unix_fd_add (master, G_IO_IN | G_IO_HUP | G_IO_ERR, pty_readable_cb, &reader);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sender));
  *ticket_text = read_line (out);
  g_assert_true (g_str_has_prefix (*ticket_text, "foctet"));
  if (!quiet)
    {
      gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

      while (strstr (reader.text->str, "waiting for a receiver") == NULL)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_main_context_iteration (NULL, TRUE);
        }
    }
  g_subprocess_send_signal (sender, SIGTERM);
  wait_exit (sender, 1);
  foctet_test_wait_for (&reader.closed, TIMEOUT);
  close (master);

  text = g_string_new (reader.text->str);
  g_string_free (reader.text, TRUE);
  g_string_replace (text, "\r", "", 0);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The QR code's lines in @text (nothing but half blocks and spaces) as a
 * PBM image, four pixels a module and eight modules of light border
 * more: a dark module (a space) black, a light one (drawn) white. */
static GBytes *
qr_drawing_to_pbm (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  GString *pbm = g_string_new (NULL);
  const guint scale = 4, border = 8;
  guint width = 0, side;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *p = lines[i];
      g_autofree gboolean *top = NULL, *bottom = NULL;
      guint n = g_utf8_strlen (lines[i], -1), x = 0;
      gboolean only_blocks = n > 0 && g_utf8_validate (lines[i], -1, NULL);

      for (const char *q = p; only_blocks && *q != '\0'; q = g_utf8_next_char (q))
        only_blocks = strchr (" ", *q) != NULL || g_str_has_prefix (q, "█") || g_str_has_prefix (q, "▀") ||
                      g_str_has_prefix (q, "▄");
      if (!only_blocks || strspn (lines[i], " ") == strlen (lines[i]))
        continue;
      if (width == 0)
        width = n;
      g_assert_cmpuint (n, ==, width);
      top = g_new0 (gboolean, width);
      bottom = g_new0 (gboolean, width);
      for (; *p != '\0'; p = g_utf8_next_char (p), x++)
        {
          /* TRUE: light */
          top[x] = g_str_has_prefix (p, "█") || g_str_has_prefix (p, "▀");
          bottom[x] = g_str_has_prefix (p, "█") || g_str_has_prefix (p, "▄");
        }
      g_ptr_array_add (rows, g_steal_pointer (&top));
      g_ptr_array_add (rows, g_steal_pointer (&bottom));
    }
  /* The code and its quiet zone are square; an odd side leaves the last
   * line's lower half below it. */
  g_assert_cmpuint (width, >=, 21);
  g_assert_cmpuint (rows->len, ==, width + width % 2);
  side = (width + 2 * border) * scale;
  g_string_append_printf (pbm, "P1\n%u %u\n", side, side);
  for (guint y = 0; y < side; y++)
    {
      for (guint x = 0; x < side; x++)
        {
          guint my = y / scale, mx = x / scale;
          gboolean light = TRUE;

          if (my >= border && my < border + width && mx >= border && mx < border + width)
            light = ((gboolean *) rows->pdata[my - border])[mx - border];
          g_string_append_c (pbm, light ? '0' : '1');
        }
      g_string_append_c (pbm, '\n');
    }
  return g_string_free_to_bytes (pbm);
}

/* send draws its ticket as a QR code when stderr is a terminal: read back
 * from the drawing by zbarimg, it is the ticket, base32 in upper case
 * (QR's compact alphanumeric mode); with -q, or stderr not a terminal
 * (every other test), no drawing. */
static void
test_send_qr_code (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "qr", NULL);
  g_autofree char *file = g_build_filename (base, "file.txt", NULL);
  g_autofree char *key = g_build_filename (base, "sender", NULL);
  g_autofree char *image = g_build_filename (base, "ticket.pbm", NULL);
  /* Eight addresses: a ticket of about 300 characters. */
  const char *listen[] = { "tls/127.0.0.1:0", "tls/127.0.0.1:0", "tls/127.0.0.1:0", "tls/127.0.0.1:0",
                           "tls/127.0.0.1:0", "tls/127.0.0.1:0", "tls/127.0.0.1:0", "tls/127.0.0.1:0", NULL };
  const char *one[] = { "tls/127.0.0.1:0", NULL };
  g_autofree char *ticket_text = NULL, *shown = NULL, *upper = NULL, *expected = NULL;
  g_autofree char *decoded = NULL, *zbar_err = NULL;
  g_autoptr(GBytes) pbm = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) read_back = NULL;
  g_autofree char *read_back_text = NULL, *zbarimg = NULL;
  int status;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  zbarimg = g_find_program_in_path ("zbarimg");
  if (zbarimg == NULL)
    g_error ("zbarimg is not installed (zbar-tools): run ./scripts/deps.sh");
  g_assert_cmpint (g_mkdir_with_parents (base, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "a file to offer\n", -1, NULL));

  shown = send_on_terminal (path, key, FALSE, listen, file, &ticket_text);
  g_test_message ("ticket (%zu characters): %s", strlen (ticket_text), ticket_text);
  pbm = qr_drawing_to_pbm (shown);
  g_assert_true (g_file_set_contents (image, g_bytes_get_data (pbm, NULL), g_bytes_get_size (pbm), &error));
  g_assert_no_error (error);
  {
    const char *argv[] = { zbarimg, "--raw", "-q", image, NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                 &decoded, &zbar_err, &status, &error));
    g_assert_no_error (error);
  }
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("zbarimg read no QR code from the drawing (%s): %s", zbar_err, shown);
  g_strchomp (decoded);
  upper = g_ascii_strup (ticket_text + strlen ("foctet"), -1);
  expected = g_strconcat ("foctet", upper, NULL);
  g_assert_cmpstr (decoded, ==, expected);
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  read_back = foctet_ticket_parse (decoded, &error);
  g_assert_no_error (error);
  read_back_text = foctet_ticket_to_string (read_back);
  g_assert_cmpstr (read_back_text, ==, ticket_text);

  /* -q: the ticket on stdout, nothing on the terminal. */
  {
    g_autofree char *quiet_ticket = NULL;
    g_autofree char *quiet_shown = send_on_terminal (path, key, TRUE, one, file, &quiet_ticket);

    g_assert_true (g_str_has_prefix (quiet_ticket, "foctet"));
    g_assert_null (strstr (quiet_shown, "█"));
    g_assert_null (strstr (quiet_shown, "▀"));
  }
}

static void
test_receive_progress (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *base = g_build_filename (tmpdir, "progress", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *big = g_build_filename (src, "big.bin", NULL);
  g_autofree guint8 *data = NULL;
  g_autofree char *tty = NULL;
  g_autofree char *plain = NULL;
  g_auto(GStrv) draws = NULL;
  g_auto(GStrv) lines = NULL;
  guint stalled = 0;
  /* As the shell prints it (24 or 96 MiB: the sanitized build's file is smaller). */
  g_autofree char *size = g_format_size_full (KILL_SIZE, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *size_sp = g_strconcat (size, " ", NULL);
  g_autofree char *done = g_strdup_printf ("] 100%% %s/%s ", size, size);
  g_autofree char *summary = g_strdup_printf ("received 1 file, %s (%s fetched), verified", size, size);
  g_autofree char *summary_nl = g_strconcat ("\n", summary, NULL);
  g_autofree char *of_size = g_strdup_printf (" of %s (", size);

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  data = g_malloc0 (KILL_SIZE);
  for (gsize i = 0; i < KILL_SIZE; i += 4096)
    data[i] = i / 4096;
  g_assert_true (g_file_set_contents (big, (const char *) data, KILL_SIZE, NULL));

  /* On a terminal: 1.2 s stalled, so at least five redraws in the middle
   * of the file, then the last at 100 %, then the summary. */
  tty = receive_stalled (path, base, TRUE, 1200);
  g_test_message ("on a terminal: %s", tty);
  draws = g_strsplit (tty, "\r\033[K", -1);
  g_assert_cmpstr (draws[0], ==, "");
  for (guint i = 1; draws[i] != NULL; i++)
    {
      const char *draw = draws[i];
      const char *eta = strstr (draw, " ETA ");
      g_autofree char *bar = g_strndup (draw, strcspn (draw, "\r\n"));

      /* [#####.......]  42% 40.0 MiB/96.0 MiB 123.4 MiB/s ETA 0:02 0/1 src/big.bin */
      g_assert_true (g_str_has_prefix (draw, "["));
      g_assert_nonnull (strstr (draw, "] "));
      g_assert_nonnull (strstr (draw, "% "));
      g_assert_nonnull (strstr (draw, size_sp));
      g_assert_nonnull (strstr (draw, "/s ETA "));
      g_assert_nonnull (eta);
      /* M:SS or H:MM:SS, or -:-- while nothing has arrived yet (which a
       * slow build may well draw first). */
      if (!g_regex_match_simple ("^(-:--|[0-9]+:[0-5][0-9](:[0-5][0-9])?) ", eta + 5, 0, 0))
        g_error ("no ETA in “%s”", draw);
      g_assert_cmpint (g_utf8_strlen (bar, -1), <, 100);
      if (strstr (draw, " 0/1 src/big.bin") != NULL)
        stalled++;
      if (draws[i + 1] == NULL)
        {
          /* The last: complete, then a new line and the summary. */
          g_assert_nonnull (strstr (draw, done));
          g_assert_nonnull (strstr (draw, " ETA 0:00 1/1"));
          g_assert_nonnull (strstr (draw, summary_nl));
        }
      else
        g_assert_null (strchr (draw, '\n'));
    }
  g_assert_cmpuint (stalled, >=, 4);

  /* Elsewhere: plain lines, one at least while stalled for 2.5 s. */
  plain = receive_stalled (path, base, FALSE, 2500);
  g_test_message ("on a pipe: %s", plain);
  g_assert_null (strchr (plain, '\r'));
  g_assert_null (strchr (plain, '\033'));
  g_assert_true (g_str_has_suffix (plain, "\n"));
  lines = g_strsplit (plain, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >=, 3);
  for (guint i = 0; lines[i + 2] != NULL; i++)
    {
      g_assert_true (g_str_has_prefix (lines[i], "received "));
      g_assert_nonnull (strstr (lines[i], of_size));
      g_assert_true (g_str_has_suffix (lines[i], "%), 0 of 1 files"));
    }
  g_assert_cmpstr (lines[g_strv_length (lines) - 2], ==, summary);
}

/* send and receive from the shell's own prompt (commands on standard
 * input): the same commands, the same output. */
/* Ctrl-C (SIGINT) at the interactive prompt gives a fresh prompt, as in
 * other shells, rather than ending the shell. */
/* The interactive shell on a pipe: stdout holds the results only (the
 * line end after the last prompt goes to stderr). */
static void
test_interactive_stdout (void)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *key = g_build_filename (tmpdir, "prompt-key", NULL);
  g_autoptr(GSubprocess) shell = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  shell = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", key,
                                       "--interactive", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (shell, "id\n", NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (out), ==, 53);
  g_assert_cmpint (out[52], ==, '\n');
}

static void
test_interrupt_at_prompt (void)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *key = g_build_filename (tmpdir, "prompt-key", NULL);
  g_autoptr(GSubprocess) shell = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *first = NULL, *second = NULL;
  GOutputStream *in;
  GAsyncResult *slot = NULL;

  shell = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", key, "-q",
                                       "--interactive", NULL);
  g_assert_no_error (error);
  in = g_subprocess_get_stdin_pipe (shell);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (shell));
  /* A first command's output: the shell is at its prompt again. */
  g_assert_true (g_output_stream_write_all (in, "id\n", 3, NULL, NULL, &error));
  g_assert_no_error (error);
  first = read_line (out);
  g_usleep (300 * 1000);
  g_subprocess_send_signal (shell, SIGINT);
  g_usleep (100 * 1000);
  g_assert_true (g_output_stream_write_all (in, "id\nquit\n", 8, NULL, NULL, &error));
  g_assert_no_error (error);
  /* The interrupted prompt ends its line; then the second id. */
  second = read_line (out);
  if (*second == '\0')
    {
      g_free (second);
      second = read_line (out);
    }
  g_assert_cmpstr (second, ==, first);
  g_subprocess_wait_async (shell, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_get_if_exited (shell));
  g_assert_cmpint (g_subprocess_get_exit_status (shell), ==, 0);
}

static void
test_interactive_transfer (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "interactive-src", NULL);
  g_autofree char *file = g_build_filename (src, "hello.txt", NULL);
  g_autofree char *output = g_build_filename (tmpdir, "interactive-out", NULL);
  g_autofree char *got = g_build_filename (output, "interactive-src", "hello.txt", NULL);
  g_autofree char *key = g_build_filename (tmpdir, "interactive-key", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GDataInputStream) sender_out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *receive_script = NULL;
  g_autofree char *out = NULL, *err = NULL, *content = NULL, *id_line = NULL;
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", key, NULL };
  gsize written = 0;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "from the prompt\n", -1, NULL));

  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                           G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  sender = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  /* send, then one more command once it is done. */
  script = g_strdup_printf ("send '%s' --listen tls/127.0.0.1:0\nid\n", src);
  g_assert_true (g_output_stream_write_all (g_subprocess_get_stdin_pipe (sender), script, strlen (script),
                                            &written, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (sender), NULL, NULL));
  sender_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sender));
  ticket_text = read_line (sender_out);
  g_assert_true (g_str_has_prefix (ticket_text, "foctet"));

  receive_script = g_strdup_printf ("receive %s --output '%s'\nid\n", ticket_text, output);
  g_assert_cmpint (run_script_env (env, receive_script, &out, &err), ==, 0);
  /* stdout: only the id (receive prints nothing there); stderr: the
   * progress and the summary, as from the command line. */
  g_assert_cmpuint (strlen (out), ==, 53);
  g_assert_nonnull (strstr (err, "received 1 file"));
  g_assert_true (g_file_get_contents (got, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "from the prompt\n");

  /* The sender's shell went on to its next command. */
  id_line = read_line (sender_out);
  g_assert_cmpuint (strlen (id_line), ==, 52);
  wait_exit (sender, 0);
}

/* send leaves out links and special files inside a directory, and says
 * so; a link to nothing named on the command line is refused, saying
 * what it is. */
static void
test_send_skipped (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "skip-src", NULL);
  g_autofree char *file = g_build_filename (src, "a", NULL);
  g_autofree char *link = g_build_filename (src, "l", NULL);
  g_autofree char *fifo = g_build_filename (src, "ff", NULL);
  g_autofree char *dangling = g_build_filename (tmpdir, "dangling", NULL);
  g_autofree char *key = g_build_filename (tmpdir, "skip-key", NULL);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", key, "send", src, "--listen", "tls/127.0.0.1:0",
                         NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GDataInputStream) out = NULL, err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) lines = g_string_new (NULL);
  g_autofree char *ticket_text = NULL, *o = NULL, *e = NULL;
  g_autofree char *expected_link = NULL, *expected_fifo = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "a\n", -1, NULL));
  g_assert_cmpint (symlink (file, link), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  sender = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sender));
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (sender));
  ticket_text = read_line (out);
  g_assert_true (g_str_has_prefix (ticket_text, "foctet"));
  for (;;)
    {
      g_autofree char *line = read_line (err);

      g_assert_nonnull (line);
      g_string_append_printf (lines, "%s\n", line);
      if (g_str_has_prefix (line, "offering "))
        break;
    }
  expected_link = g_strdup_printf ("not offering %s: a symbolic link", link);
  expected_fifo = g_strdup_printf ("not offering %s: neither a regular file nor a directory\n", fifo);
  g_test_message ("send said:\n%s", lines->str);
  g_assert_nonnull (strstr (lines->str, expected_link));
  g_assert_nonnull (strstr (lines->str, expected_fifo));
  g_assert_nonnull (strstr (lines->str, "offering 1 file, 2 bytes"));
  g_subprocess_send_signal (sender, SIGTERM);
  wait_exit (sender, 1);

  g_assert_cmpint (symlink ("no-such-target", dangling), ==, 0);
  g_assert_cmpint (run_shell_env (env, &o, &e, "send", dangling, "--listen", "tls/127.0.0.1:0", NULL), ==, 1);
  assert_one_line_error (e, "is a symbolic link to nothing");
  g_assert_cmpstr (o, ==, "");
}

/* receive makes a missing --output DIR only once the sender's manifest
 * came: a receive that fails before leaves nothing behind.  Whether DIR
 * can be made is known at once. */
static void
test_receive_output_made_late (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "late-src", NULL);
  g_autofree char *file = g_build_filename (src, "f", NULL);
  g_autofree char *key = g_build_filename (tmpdir, "late-key", NULL);
  g_autofree char *gone = g_build_filename (tmpdir, "late-gone", "deeper", NULL);
  g_autofree char *made = g_build_filename (tmpdir, "late-made", "deeper", NULL);
  g_autofree char *got = g_build_filename (made, "late-src", "f", NULL);
  g_autofree char *under_file = g_build_filename (file, "out", NULL);
  const char *paths[] = { src, NULL };
  g_autoptr(GSubprocess) sender = NULL;
  g_autofree char *ticket_text = NULL, *out = NULL, *err = NULL, *content = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "late\n", -1, NULL));
  sender = start_send (path, key, paths, &ticket_text);

  /* Under a file: refused before anything is dialed. */
  g_assert_cmpint (run_shell_env (env, &out, &err, "receive", ticket_text, "--output", under_file, NULL), ==, 1);
  assert_one_line_error (err, "the output directory");
  g_assert_nonnull (strstr (err, "Not a directory"));

  /* The sender gone: the receive fails, and makes no directory. */
  kill_and_reap (sender);
  g_clear_object (&sender);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "receive", ticket_text, "--output", gone, NULL), ==, 1);
  g_assert_false (g_file_test (gone, G_FILE_TEST_EXISTS));
  {
    g_autofree char *parent = g_path_get_dirname (gone);

    g_assert_false (g_file_test (parent, G_FILE_TEST_EXISTS));
  }

  /* A sender there: DIR and its parents are made. */
  g_clear_pointer (&ticket_text, g_free);
  sender = start_send (path, key, paths, &ticket_text);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "receive", ticket_text, "--output", made, NULL), ==, 0);
  g_assert_true (g_file_get_contents (got, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "late\n");
  wait_exit (sender, 0);
}

/* For serve: few file descriptors. */
static void
limit_descriptors (gpointer user_data)
{
  struct rlimit limit = { 64, 64 };

  setrlimit (RLIMIT_NOFILE, &limit);
}

/* CPU seconds @proc has used so far. */
static double
process_cpu_seconds (GSubprocess *proc)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", g_subprocess_get_identifier (proc));
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;

  g_assert_true (g_file_get_contents (path, &stat, NULL, NULL));
  /* After the command's name, in parentheses: utime and stime are the
   * 12th and 13th fields. */
  fields = g_strsplit (strrchr (stat, ')') + 2, " ", -1);
  g_assert_cmpuint (g_strv_length (fields), >, 13);
  return (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10)) /
         (double) sysconf (_SC_CLK_TCK);
}

/* A serving node out of file descriptors: connections wait in the
 * backlog.  It must neither spin on them (with a warning each time, as
 * GSocketService does) nor stop serving: once descriptors are free
 * again, it accepts again. */
static void
test_serve_out_of_descriptors (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *key = g_build_filename (tmpdir, "fd-key", NULL);
  g_autofree char *log = g_build_filename (tmpdir, "fd-serve.log", NULL);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", key, "serve", "--listen", "tls/127.0.0.1:0",
                         NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) server_out = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL, *out = NULL, *err = NULL, *text = NULL;
  g_auto(GStrv) addresses = NULL;
  g_auto(GStrv) lines = NULL;
  guint n_failures = 0;
  double cpu;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  g_subprocess_launcher_set_child_setup (launcher, limit_descriptors, NULL, NULL);
  server = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  server_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  ticket_text = read_line (server_out);
  g_assert_true (g_str_has_prefix (ticket_text, "foctet"));
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  addresses = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_TLS);
  g_assert_cmpuint (g_strv_length (addresses), ==, 1);

  /* More connections than it has descriptors, held open, from eight
   * addresses (one address may have 16 handshakes in progress). */
  for (guint i = 0; i < 80; i++)
    {
      g_autofree char *source = g_strdup_printf ("127.0.0.%u", 1 + i % 8);
      g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (source);
      g_autoptr(GSocketAddress) local = g_inet_socket_address_new (inet, 0);
      GSocketConnection *connection;

      g_socket_client_set_local_address (client, local);
      connection = g_socket_client_connect_to_host (client, addresses[0], 0, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (clients, connection);
    }
  /* Once it has taken what it could (and started their handshakes). */
  g_usleep (G_USEC_PER_SEC / 2);
  cpu = process_cpu_seconds (server);
  g_usleep (2 * G_USEC_PER_SEC);
  cpu = process_cpu_seconds (server) - cpu;
  g_test_message ("2 s out of descriptors: %.2f s of the node's CPU", cpu);
  g_assert_cmpfloat (cpu, <, 0.5);

  /* Free again: a ping gets through. */
  g_ptr_array_set_size (clients, 0);
  g_assert_cmpint (run_shell_env (env, &out, &err, "ping", ticket_text, "--count", "1", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "via=tls"));

  g_subprocess_send_signal (server, SIGTERM);
  wait_exit (server, 0);
  /* It said why, once, and when it could accept again. */
  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "Too many open files") != NULL)
      n_failures++;
  g_test_message ("the node's log:\n%s", text);
  g_assert_cmpuint (n_failures, ==, 1);
  g_assert_nonnull (strstr (text, "Accepting connections again"));
}

/* Under a flood of failing connections, serve logs the first ten of a
 * ten-second window, then one line for the rest (here at its exit). */
static void
test_serve_incoming_failures_bounded (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  g_autofree char *key = g_build_filename (tmpdir, "flood-key", NULL);
  g_autofree char *log = g_build_filename (tmpdir, "flood-serve.log", NULL);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", key, "serve", "--listen", "tls/127.0.0.1:0",
                         "--no-mdns", NULL };
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) server_out = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL, *text = NULL;
  g_auto(GStrv) addresses = NULL;
  g_auto(GStrv) lines = NULL;
  guint n_lines = 0, n_summaries = 0;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  server = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  server_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  ticket_text = read_line (server_out);
  ticket = foctet_ticket_parse (ticket_text, &error);
  g_assert_no_error (error);
  addresses = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_TLS);

  /* 30 connections that send bytes that are not TLS. */
  for (guint i = 0; i < 30; i++)
    {
      g_autoptr(GSocketConnection) connection = g_socket_client_connect_to_host (client, addresses[0], 0, NULL,
                                                                                 &error);

      g_assert_no_error (error);
      g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), "GET / HTTP/1.0\r\n\r\n",
                                 18, NULL, NULL, &error);
      g_assert_no_error (error);
    }
  g_usleep (2 * G_USEC_PER_SEC);
  g_subprocess_send_signal (server, SIGTERM);
  wait_exit (server, 0);

  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  g_test_message ("the node's log:\n%s", text);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "incoming tls connection from 127.0.0.1:"))
      n_lines++;
    else if (g_str_has_prefix (lines[i], "20 more incoming connections failed in 10 s, the last: incoming tls "
                                          "connection from 127.0.0.1:"))
      n_summaries++;
  g_assert_cmpuint (n_lines, ==, 10);
  g_assert_cmpuint (n_summaries, ==, 1);
}

/* serve --inbox DIR accepts files pushed with send --to TICKET; a node
 * serving without --inbox refuses pushes. */
static GSubprocess *
start_serve (const char  *plugin_path,
             const char  *listen,
             const char  *inbox,
             const char  *inbox_from,
             char       **ticket_text)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *key = g_build_filename (tmpdir, inbox != NULL ? "inbox-key" : "no-inbox-key", NULL);
  const char *argv[] = { g_getenv ("FOCTET_SHELL"), "--identity", key, "serve", "--listen", listen,
                         inbox != NULL ? "--inbox" : NULL, inbox,
                         inbox_from != NULL ? "--inbox-from" : NULL, inbox_from, NULL };
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", plugin_path, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  *ticket_text = read_line (out);
  g_assert_true (g_str_has_prefix (*ticket_text, "foctet"));
  return proc;
}

static void
test_serve_inbox (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "push-src", NULL);
  g_autofree char *file = g_build_filename (src, "pushed.txt", NULL);
  g_autofree char *inbox = g_build_filename (tmpdir, "inbox", NULL);
  g_autofree char *got = g_build_filename (inbox, "push-src", "pushed.txt", NULL);
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GSubprocess) plain = NULL;
  g_autofree char *ticket_text = NULL, *plain_ticket = NULL;
  g_autofree char *out = NULL, *err = NULL, *content = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "pushed\n", -1, NULL));

  server = start_serve (path, "tls/127.0.0.1:0", inbox, NULL, &ticket_text);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", src, "--to", ticket_text, NULL), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_nonnull (strstr (err, "the node has everything"));
  g_assert_true (g_file_get_contents (got, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "pushed\n");

  /* The same files again: already there, nothing to fetch, still fine. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "-q", "send", src, "--to", ticket_text, NULL), ==, 0);
  g_assert_cmpstr (err, ==, "");

  /* Without --inbox, a push is refused. */
  plain = start_serve (path, "tls/127.0.0.1:0", NULL, NULL, &plain_ticket);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", src, "--to", plain_ticket, NULL), ==, 1);
  assert_one_line_error (err, "does not accept pushed files");

  /* Usage. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "serve", "--inbox-from", "nonsense", "--inbox", inbox, NULL),
                   ==, 2);
  assert_one_line_error (err, "--inbox-from");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "serve", "--inbox-from", "nonsense", NULL), ==, 2);
  assert_one_line_error (err, "--inbox-from needs --inbox");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", src, "--to", "nonsense", NULL), ==, 2);
  assert_one_line_error (err, "--to: bad ticket");
  /* An inbox that cannot be one fails at once, not at the first push. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "serve", "--no-mdns", "--listen", "tls/127.0.0.1:0", "--inbox",
                                  file, NULL), ==, 1);
  assert_one_line_error (err, "serve: --inbox: ");
  g_assert_nonnull (strstr (err, "is not a directory"));
  g_assert_cmpstr (out, ==, "");

  g_subprocess_send_signal (server, SIGTERM);
  wait_exit (server, 0);
  g_subprocess_send_signal (plain, SIGTERM);
  wait_exit (plain, 0);
}

/* A pusher killed in the middle of a push over QUIC, where no connection
 * reset tells the inbox (it would notice at the idle timeout, 45 s), and
 * started again: its new push replaces the stalled one at once and
 * resumes from the part file.  Another node is meanwhile told "busy". */
static void
test_push_killed (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *base = g_build_filename (tmpdir, "push-killed", NULL);
  g_autofree char *src = g_build_filename (base, "src", NULL);
  g_autofree char *inbox = g_build_filename (base, "inbox", NULL);
  g_autofree char *received = g_build_filename (inbox, "src", NULL);
  g_autofree char *part = g_build_filename (received, "big.bin.foctet-part", NULL);
  g_autofree char *key = g_build_filename (base, "pusher", NULL);
  g_autofree char *other = g_build_filename (base, "other", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GSubprocess) pusher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *out = NULL, *err = NULL;
  guint64 present;
  gint64 start;

  if (path == NULL)
    {
      g_test_skip ("no quic plugin in this build");
      return;
    }
  make_kill_tree (src);
  server = start_serve (path, "quic/127.0.0.1:0", inbox, NULL, &ticket_text);
  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "FOCTET_PLUGIN_PATH", path, TRUE);
  pusher = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("FOCTET_SHELL"), "--identity", key, "send", src,
                                        "--to", ticket_text, NULL);
  g_assert_no_error (error);
  wait_part (part, KILL_SIZE / 2);
  kill_and_reap (pusher);
  present = bytes_present (inbox);
  g_assert_cmpuint (present, >=, KILL_SIZE / 2);
  g_assert_cmpuint (present, <, total_size (src));

  g_assert_cmpint (run_shell_env (env, &out, &err, "--identity", other, "send", src, "--to", ticket_text, NULL),
                   ==, 1);
  assert_one_line_error (err, "busy");

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  start = g_get_monotonic_time ();
  g_assert_cmpint (run_shell_env (env, &out, &err, "--identity", key, "send", src, "--to", ticket_text, NULL), ==, 0);
  g_test_message ("the second push took %.2f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_nonnull (strstr (err, "the node has everything"));
  g_assert_cmpuint (bytes_present (received), ==, total_size (src));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  assert_same_files (src, received);
  g_subprocess_send_signal (server, SIGTERM);
  wait_exit (server, 0);
}

/* serve --inbox DIR --inbox-from NODEID: pushes from that node only. */
static void
test_serve_inbox_from (void)
{
  const char *path = g_getenv ("TEST_REAL_PLUGIN_PATH");
  const char *env[] = { "FOCTET_PLUGIN_PATH", path, NULL };
  g_autofree char *src = g_build_filename (tmpdir, "from-src", NULL);
  g_autofree char *file = g_build_filename (src, "only.txt", NULL);
  g_autofree char *inbox = g_build_filename (tmpdir, "from-inbox", NULL);
  g_autofree char *got = g_build_filename (inbox, "from-src", "only.txt", NULL);
  g_autofree char *other_key = g_build_filename (tmpdir, "stranger-key", NULL);
  g_autoptr(GSubprocess) server = NULL;
  g_autofree char *ticket_text = NULL, *me = NULL;
  g_autofree char *out = NULL, *err = NULL, *content = NULL;

  if (path == NULL)
    {
      g_test_skip ("no tls plugin in this build");
      return;
    }
  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "from a friend\n", -1, NULL));
  g_assert_cmpint (run_shell_env (env, &me, &err, "id", NULL), ==, 0);
  g_strchomp (me);
  g_assert_cmpuint (strlen (me), ==, 52);

  server = start_serve (path, "tls/127.0.0.1:0", inbox, me, &ticket_text);

  /* A node not on the list is refused, as by a node without an inbox,
   * and nothing arrives. */
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "--identity", other_key, "send", src, "--to", ticket_text,
                                  NULL), ==, 1);
  assert_one_line_error (err, "does not accept pushed files, or none from this node");
  g_assert_false (g_file_test (got, G_FILE_TEST_EXISTS));

  /* The listed node gets through. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_shell_env (env, &out, &err, "send", src, "--to", ticket_text, NULL), ==, 0);
  g_assert_true (g_file_get_contents (got, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "from a friend\n");

  g_subprocess_send_signal (server, SIGTERM);
  wait_exit (server, 0);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  tmpdir = foctet_test_make_tmpdir ();
  g_test_add_func ("/shell/id", test_id);
  g_test_add_func ("/shell/identity-option", test_identity_option);
  g_test_add_func ("/shell/usage-errors", test_usage_errors);
  g_test_add_func ("/shell/transport-relay-needs-relay", test_transport_relay_needs_relay);
  g_test_add_func ("/shell/help", test_help);
  g_test_add_func ("/shell/bare-node-id", test_bare_node_id);
  g_test_add_func ("/shell/plugins", test_plugins);
  g_test_add_func ("/shell/scripted", test_scripted);
  g_test_add_func ("/shell/serve-ping-perf", test_serve_ping_perf);
  g_test_add_func ("/shell/serve-default", test_serve_default);
  g_test_add_func ("/shell/serve-default-race", test_serve_default_twin);
  g_test_add_func ("/shell/serve-incoming-failed", test_serve_incoming_failed);
  g_test_add_func ("/shell/send-receive", test_send_receive);
  g_test_add_func ("/shell/send-skipped", test_send_skipped);
  g_test_add_func ("/shell/receive-output-made-late", test_receive_output_made_late);
  g_test_add_func ("/shell/receive-killed", test_receive_killed);
  g_test_add_func ("/shell/receive-interrupted", test_receive_interrupted);
  g_test_add_func ("/shell/receive-locked-directories", test_receive_locked_directories);
  g_test_add_func ("/shell/send-hashing-notice", test_send_hashing_notice);
  g_test_add_func ("/shell/send-killed", test_send_killed);
  g_test_add_func ("/shell/receive-progress", test_receive_progress);
  g_test_add_func ("/shell/send-qr-code", test_send_qr_code);
  g_test_add_func ("/shell/interactive-transfer", test_interactive_transfer);
  g_test_add_func ("/shell/interrupt-at-prompt", test_interrupt_at_prompt);
  g_test_add_func ("/shell/serve-inbox", test_serve_inbox);
  g_test_add_func ("/shell/serve-out-of-descriptors", test_serve_out_of_descriptors);
  g_test_add_func ("/shell/serve-incoming-failures-bounded", test_serve_incoming_failures_bounded);
  g_test_add_func ("/shell/serve-inbox-from", test_serve_inbox_from);
  g_test_add_func ("/shell/push-killed", test_push_killed);
  g_test_add_func ("/shell/interactive-stdout", test_interactive_stdout);
  ret = g_test_run ();

  foctet_test_remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}

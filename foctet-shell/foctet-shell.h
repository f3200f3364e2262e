/* foctet-shell: the command line.  Uses only the public API, <foctet.h>.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

/* Exit codes of CLI.md. */
enum {
  SHELL_EXIT_OK = 0,
  SHELL_EXIT_FAILURE = 1,
  SHELL_EXIT_USAGE = 2,
};

typedef struct {
  char *identity_path;
  gboolean quiet;
  gboolean interactive;       /* --interactive: prompt even without a terminal */
  gboolean in_shell;          /* commands come from the shell, not argv */
  FoctetIdentity *identity;   /* loaded on first use */
  /* In the shell: the node `connect` made; its connections stay open for
   * the commands after it (ping, perf, streams) until the shell ends. */
  FoctetNode *session;
} ShellContext;

typedef int (*ShellCommandFunc) (ShellContext *ctx,
                                 int           argc,
                                 char        **argv);

typedef struct {
  const char *name;
  const char *args;
  const char *summary;
  ShellCommandFunc run;
  gboolean shell_only;        /* the interactive shell's own (connect, streams) */
} ShellCommand;

const ShellCommand *shell_commands (guint *n_commands);
const ShellCommand *shell_find_command (const char *name);
/* The list of commands for help texts; with "quit" when @in_shell. */
char *shell_commands_help (gboolean in_shell);
int shell_run_command (ShellContext *ctx,
                       int           argc,
                       char        **argv);

/* Messages in the CLI.md forms; both return the exit code to use. */
int shell_usage_error (const char *format,
                       ...) G_GNUC_PRINTF (1, 2);
int shell_failure (const char   *what,
                   const GError *error);
/* A GOptionContext parse error of @command (NULL for the global options). */
int shell_option_error (const char   *command,
                        const GError *error);

FoctetIdentity *shell_get_identity (ShellContext  *ctx,
                                    GError       **error);

/* Parses a command's own options (and --help, without exiting).  Returns
 * -1 to go on, else the exit code to return at once. */
int shell_parse_options (const char         *command,
                         const char         *parameter,
                         const char         *summary,
                         const GOptionEntry *entries,
                         int                *argc,
                         char             ***argv);

int shell_check_operands (const char  *command,
                          int          argc,
                          char       **argv,
                          const char  *operand);

/* An async call's result, for code that waits on it with shell_wait():
 * pass shell_wait_cb and a ShellWait. */
typedef struct {
  GAsyncResult *result;
  gboolean done;
} ShellWait;

void shell_wait_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data);

/* A node with the identity; on failure prints why, sets *status, NULL. */
FoctetNode *shell_make_node (ShellContext *ctx,
                             int          *status);
void shell_shutdown_node (FoctetNode *node);

/* The URIs serve and send listen on, added to @uris, from their
 * options: each of @listen (a bare HOST:PORT is @transport's), else the
 * defaults (quic and tls, those loaded, or @transport alone, on all
 * addresses, any port; the first *n_defaults of @uris), then a relay/
 * URI for each of @relays.  --transport relay has no default: it needs
 * --relay.  On a wrong option prints why as @command's usage error, sets
 * *status. */
gboolean shell_listen_uris (const char  *command,
                            char       **listen,
                            const char  *transport,
                            char       **relays,
                            GPtrArray   *uris,
                            guint       *n_defaults,
                            int         *status);
/* Listens on every URI; the first @n_defaults are the defaults, of which
 * one failing is only a warning while another succeeds.  Returns the URIs
 * bound, or NULL: with *status set on failure, unchanged if @stop was
 * cancelled. */
GPtrArray *shell_listen (ShellContext *ctx,
                         FoctetNode   *node,
                         GPtrArray    *uris,
                         guint         n_defaults,
                         GCancellable *stop,
                         int          *status);
void shell_print_listening (FoctetNode *node,
                            GPtrArray  *bound);

/* Command-line checks before anything runs: each prints a usage error
 * naming @command and @option and sets *status (exit 2) when its value
 * is wrong.  A transport a loaded plugin provides; a URI
 * "TRANSPORT/ADDRESS" of such a transport, its address of the form the
 * transport takes ("HOST:PORT" but for a third party's). */
gboolean shell_check_transport (const char *command,
                                const char *option,
                                const char *name,
                                int        *status);
/* A relay's HOST:PORT (@option's), port 0 refused. */
gboolean shell_check_relay (const char *command,
                            const char *option,
                            const char *text,
                            int        *status);
gboolean shell_check_uri (const char *command,
                          const char *option,
                          const char *uri,
                          int        *status);

/* A ticket, with any white space around it left out. */
FoctetTicket *shell_parse_ticket (const char  *text,
                                  GError     **error);
/* A ticket, or a bare NodeId (a ticket without addresses, which the node
 * then looks up by discovery); each of @relays (may be NULL) is added as
 * a relay entry. */
FoctetTicket *shell_parse_target (const char  *text,
                                  char       **relays,
                                  GError     **error);
gboolean shell_ticket_has_direct_address (FoctetTicket *ticket);
/* Turns on the discovery mechanisms the loaded plugins provide that can
 * help with @ticket (mDNS always, the relay directory when @ticket names
 * a relay; @ticket NULL: mDNS only), or that publish for a serving node
 * (@flags PUBLISH).  One that cannot start is a warning on stderr, not a
 * failure. */
void shell_enable_discovery (ShellContext         *ctx,
                             FoctetNode           *node,
                             FoctetDiscoveryFlags  flags,
                             FoctetTicket         *ticket);
void shell_enable_named_discovery (ShellContext         *ctx,
                                   FoctetNode           *node,
                                   const char           *name,
                                   FoctetDiscoveryFlags  flags);

int shell_cmd_connect (ShellContext *ctx,
                       int           argc,
                       char        **argv);
int shell_cmd_streams (ShellContext *ctx,
                       int           argc,
                       char        **argv);
int shell_cmd_ping (ShellContext *ctx,
                    int           argc,
                    char        **argv);
int shell_cmd_perf (ShellContext *ctx,
                    int           argc,
                    char        **argv);

int shell_cmd_send (ShellContext *ctx,
                    int           argc,
                    char        **argv);
int shell_cmd_receive (ShellContext *ctx,
                       int           argc,
                       char        **argv);

int shell_cmd_peers (ShellContext *ctx,
                     int           argc,
                     char        **argv);
int shell_interactive (ShellContext *ctx);

/* Runs the default main context until *done.  When @interruptible,
 * SIGINT/SIGTERM meanwhile cancel @cancellable and the wait goes on until the
 * cancelled operation is done; without a @cancellable they end the wait at
 * once.  Returns FALSE if a signal came. */
gboolean shell_wait (gboolean     *done,
                     gboolean      interruptible,
                     GCancellable *cancellable);
/* Waits @milliseconds; FALSE if SIGINT/SIGTERM came first. */
gboolean shell_sleep (guint milliseconds);

G_END_DECLS

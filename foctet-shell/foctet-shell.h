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
  gboolean interactive;
  FoctetIdentity *identity;   /* loaded on first use */
} ShellContext;

typedef int (*ShellCommandFunc) (ShellContext *ctx,
                                 int           argc,
                                 char        **argv);

typedef struct {
  const char *name;
  const char *args;
  const char *summary;
  ShellCommandFunc run;
} ShellCommand;

const ShellCommand *shell_commands (guint *n_commands);
const ShellCommand *shell_find_command (const char *name);
int shell_run_command (ShellContext *ctx,
                       int           argc,
                       char        **argv);

/* Messages in the CLI.md forms; both return the exit code to use. */
int shell_usage_error (const char *format,
                       ...) G_GNUC_PRINTF (1, 2);
int shell_failure (const char   *what,
                   const GError *error);

FoctetIdentity *shell_get_identity (ShellContext  *ctx,
                                    GError       **error);

int shell_interactive (ShellContext *ctx);

/* Runs the default main context until *done, or until SIGINT/SIGTERM when
 * @interruptible; returns FALSE if interrupted. */
gboolean shell_wait (gboolean *done,
                     gboolean  interruptible);
/* Waits @milliseconds; FALSE if SIGINT/SIGTERM came first. */
gboolean shell_sleep (guint milliseconds);

G_END_DECLS

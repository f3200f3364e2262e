/* shell-interactive.c: the interactive shell (libedit), and commands read
 * from a non-terminal standard input.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "foctet-shell.h"

static int
run_line (ShellContext *ctx,
          const char   *line,
          gboolean     *quit)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char **args = NULL;
  g_autoptr(GError) error = NULL;
  int argc = 0;

  if (!g_shell_parse_argv (line, &argc, &argv, &error))
    {
      /* An empty or blank line is not an error. */
      if (g_error_matches (error, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
        return SHELL_EXIT_OK;
      return shell_usage_error ("%s", error->message);
    }
  if (argv[0][0] == '#')
    return SHELL_EXIT_OK;
  if (strcmp (argv[0], "quit") == 0 || strcmp (argv[0], "exit") == 0)
    {
      *quit = TRUE;
      return SHELL_EXIT_OK;
    }
  /* The commands' option parsers take the options out of the vector they
   * get, without freeing them: give them a copy of the pointers, and free
   * the strings from the original. */
  args = g_memdup2 (argv, sizeof (char *) * (argc + 1));
  return shell_run_command (ctx, argc, args);
}

static char *
command_generator (const char *text,
                   int         state)
{
  static guint index;
  static const char *extra[] = { "quit" };
  /* connect and streams are in the table, marked as the shell's. */
  guint n = 0;
  const ShellCommand *commands = shell_commands (&n);
  size_t len = strlen (text);

  if (state == 0)
    index = 0;
  while (index < n + G_N_ELEMENTS (extra))
    {
      const char *name = index < n ? commands[index].name : extra[index - n];

      index++;
      if (strncmp (name, text, len) == 0)
        return strdup (name);   /* freed by libedit with free() */
    }
  return NULL;
}

static char **
complete (const char *text,
          int         start,
          int         end)
{
  /* Command names complete only in first position. */
  rl_attempted_completion_over = 1;
  if (start != 0)
    return NULL;
  return rl_completion_matches (text, command_generator);
}

static char *
history_path (void)
{
  return g_build_filename (g_get_user_state_dir (), "foctet", "history", NULL);
}

/* Ctrl-C at the prompt gives a fresh prompt, as in other shells, instead
 * of ending the shell.  The handler only notes it; the read it interrupts
 * (no SA_RESTART) makes readline give up the line. */
static volatile sig_atomic_t prompt_interrupted;

static void
prompt_sigint (int signum)
{
  prompt_interrupted = 1;
}

/* While the shell waits for a line (readline () or getline () block),
 * another thread runs the main context, so that what the shell keeps
 * goes on between commands: connections kept with connect flush their
 * writes and answer keep-alives, a relay circuit finishes its handshake,
 * the node answers pings.  It stops before the line's command runs, which
 * runs the context itself; the two never run it at once. */
typedef struct {
  GThread *thread;
  gint stop;
} ContextPump;

static gpointer
context_pump_run (gpointer user_data)
{
  ContextPump *pump = user_data;
  GMainContext *context = g_main_context_default ();
  sigset_t all;

  /* Signals go to the thread at the prompt: Ctrl-C there interrupts
   * readline () (read_command_line ()). */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, NULL);
  g_main_context_acquire (context);
  while (!g_atomic_int_get (&pump->stop))
    g_main_context_iteration (context, TRUE);
  g_main_context_release (context);
  return NULL;
}

static void
context_pump_start (ContextPump *pump)
{
  g_atomic_int_set (&pump->stop, 0);
  pump->thread = g_thread_new ("foctet-shell-idle", context_pump_run, pump);
}

static void
context_pump_stop (ContextPump *pump)
{
  g_atomic_int_set (&pump->stop, 1);
  g_main_context_wakeup (g_main_context_default ());
  g_thread_join (g_steal_pointer (&pump->thread));
}

static char *
read_command_line (void)
{
  struct sigaction action = { 0 }, previous;
  char *line;

  action.sa_handler = prompt_sigint;
  sigemptyset (&action.sa_mask);
  prompt_interrupted = 0;
  /* For every prompt: a command's wait leaves SIGINT at its default when
   * it removes its GLib signal sources. */
  sigaction (SIGINT, &action, &previous);
  line = readline ("foctet> ");
  sigaction (SIGINT, &previous, NULL);
  return line;
}

int
shell_interactive (ShellContext *ctx)
{
  gboolean quit = FALSE;
  int status = SHELL_EXIT_OK;

  ctx->in_shell = TRUE;
  if (!ctx->interactive && !isatty (STDIN_FILENO))
    {
      /* Scripted: one command a line, no prompt; the last failure's code. */
      char *line = NULL;
      size_t size = 0;
      ContextPump pump = { 0 };

      while (!quit)
        {
          int ret;
          gssize got;

          context_pump_start (&pump);
          got = getline (&line, &size, stdin);
          context_pump_stop (&pump);
          if (got < 0)
            break;

          g_strchomp (line);
          ret = run_line (ctx, line, &quit);
          if (ret != SHELL_EXIT_OK)
            status = ret;
          /* A command's output comes before the next one's errors. */
          fflush (stdout);
        }
      free (line);
      return status;
    }

  {
    g_autofree char *history = history_path ();
    g_autofree char *history_dir = g_path_get_dirname (history);
    char *line;

    rl_readline_name = "foctet-shell";
    rl_attempted_completion_function = complete;
    /* SIGINT is ours at the prompt (read_command_line ()). */
    rl_catch_signals = 0;
    using_history ();
    read_history (history);

    if (!ctx->quiet)
      g_printerr ("foctet-shell %s; type help for the commands, quit to leave.\n", FOCTET_VERSION_STRING);
    while (!quit)
      {
        ContextPump pump = { 0 };

        context_pump_start (&pump);
        line = read_command_line ();
        context_pump_stop (&pump);
        /* The line ends on the terminal, not in the results (stdout). */
        if (line == NULL && prompt_interrupted)
          {
            g_printerr ("\n");
            continue;
          }
        if (line == NULL)
          break;
        if (*g_strstrip (line) != '\0')
          add_history (line);
        status = run_line (ctx, line, &quit);
        free (line);
      }
    if (!quit)
      g_printerr ("\n");

    g_mkdir_with_parents (history_dir, 0700);
    stifle_history (1000);
    write_history (history);
  }
  return SHELL_EXIT_OK;
}

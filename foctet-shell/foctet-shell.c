/* foctet-shell.c: global options and dispatch to commands.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "foctet-shell.h"

int
shell_usage_error (const char *format,
                   ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("foctet-shell: %s\n", message);
  return SHELL_EXIT_USAGE;
}

int
shell_failure (const char   *what,
               const GError *error)
{
  g_autofree char *why = g_strdup (error != NULL ? error->message : "failed");

  /* One line, whatever the message held. */
  g_strdelimit (why, "\r\n", ' ');
  g_printerr ("foctet-shell: %s: %s\n", what, why);
  return SHELL_EXIT_FAILURE;
}

int
shell_option_error (const char   *command,
                    const GError *error)
{
  g_autofree char *message = g_strdup (error->message);

  /* GOption says "Unknown option --frob"; our one-liners start lower case,
   * as in "foctet-shell: unknown option --frob".  Leave words in capitals
   * alone. */
  if (g_ascii_isupper (message[0]) && g_ascii_islower (message[1]))
    message[0] = g_ascii_tolower (message[0]);
  if (command != NULL)
    return shell_usage_error ("%s: %s", command, message);
  return shell_usage_error ("%s", message);
}

FoctetIdentity *
shell_get_identity (ShellContext  *ctx,
                    GError       **error)
{
  if (ctx->identity == NULL)
    ctx->identity = foctet_identity_load_or_create (ctx->identity_path, error);
  return ctx->identity;
}

typedef struct {
  gboolean interrupted;
  GCancellable *cancellable;
} Interrupt;

static gboolean
interrupted_cb (gpointer user_data)
{
  Interrupt *interrupt = user_data;

  interrupt->interrupted = TRUE;
  if (interrupt->cancellable != NULL)
    g_cancellable_cancel (interrupt->cancellable);
  return G_SOURCE_CONTINUE;
}

gboolean
shell_wait (gboolean     *done,
            gboolean      interruptible,
            GCancellable *cancellable)
{
  Interrupt interrupt = { FALSE, cancellable };
  guint sigint = 0, sigterm = 0;

  /* The handlers live only while we wait: at the interactive prompt, and
   * once the wait is over, the signals do what they always do. */
  if (interruptible)
    {
      sigint = g_unix_signal_add (SIGINT, interrupted_cb, &interrupt);
      sigterm = g_unix_signal_add (SIGTERM, interrupted_cb, &interrupt);
    }
  /* With a cancellable, wait for the cancelled operation to report back:
   * its callback holds pointers into our caller's stack. */
  while (!*done && !(interrupt.interrupted && cancellable == NULL))
    g_main_context_iteration (NULL, TRUE);
  if (interruptible)
    {
      g_source_remove (sigint);
      g_source_remove (sigterm);
    }
  return !interrupt.interrupted;
}

static gboolean
slept_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
shell_sleep (guint milliseconds)
{
  gboolean slept = FALSE;
  guint id = g_timeout_add (milliseconds, slept_cb, &slept);

  if (!shell_wait (&slept, TRUE, NULL))
    {
      g_source_remove (id);
      return FALSE;
    }
  return TRUE;
}

int
shell_run_command (ShellContext *ctx,
                   int           argc,
                   char        **argv)
{
  const ShellCommand *command = shell_find_command (argv[0]);

  if (command == NULL)
    return shell_usage_error (ctx->in_shell ? "unknown command '%s' (try: help)"
                                            : "unknown command '%s' (try: foctet-shell --help)", argv[0]);
  /* Its --help works anywhere (CLI.md: every command prints --help). */
  if (command->shell_only && !ctx->in_shell && !(argc == 2 && (strcmp (argv[1], "--help") == 0 ||
                                                                strcmp (argv[1], "-h") == 0)))
    return shell_usage_error ("%s: a command of the interactive shell (foctet-shell without a command): "
                              "its connections last until the shell ends", argv[0]);
  return command->run (ctx, argc, argv);
}

static char *
commands_description (void)
{
  g_autofree char *commands = shell_commands_help (FALSE);

  return g_strconcat ("Commands:\n", commands,
                      "\nWithout a command: an interactive shell (or commands read from standard input).\n"
                      "Every command takes --help.", NULL);
}

static gboolean verbose;

/* -v shows the debug messages of the library and the plugins (all of them
 * log in domains "Foctet" or "Foctet-…"), not those of GLib or GIO, which
 * G_MESSAGES_DEBUG=all would add.  Everything goes to stderr: stdout is for
 * results only. */
static GLogWriterOutput
log_writer (GLogLevelFlags   log_level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  if (verbose && (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0)
    for (gsize i = 0; i < n_fields; i++)
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        {
          if (fields[i].value != NULL && g_str_has_prefix (fields[i].value, "Foctet"))
            return g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
          break;
        }
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* Global options come before the command; the command parses the rest. */
static int
command_index (int    argc,
               char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--") == 0)
        return i + 1 < argc ? i + 1 : argc;
      if (argv[i][0] != '-')
        return i;
      if ((strcmp (argv[i], "--identity") == 0 || strcmp (argv[i], "--plugin-path") == 0) && i + 1 < argc)
        i++;
    }
  return argc;
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *identity_path = NULL;
  g_auto(GStrv) plugin_paths = NULL;
  gboolean quiet = FALSE, version = FALSE, interactive = FALSE;
  const GOptionEntry entries[] = {
    { "identity", 0, 0, G_OPTION_ARG_FILENAME, &identity_path,
      "Identity key file (default $XDG_DATA_HOME/foctet/identity)", "PATH" },
    { "plugin-path", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_paths,
      "Look for plugins in DIR first (repeatable; also FOCTET_PLUGIN_PATH)", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Show debug messages", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Show nothing but results and errors", NULL },
    { "interactive", 0, 0, G_OPTION_ARG_NONE, &interactive,
      "Interactive shell even when standard input is not a terminal", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Show the version", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *description = NULL;
  ShellContext ctx = { 0 };
  int split, global_argc, status;
  char **global_argv;

  setlocale (LC_ALL, "");
  g_log_writer_default_set_use_stderr (TRUE);
  g_log_set_writer_func (log_writer, NULL, NULL);

  split = command_index (argc, argv);
  global_argc = split;
  global_argv = g_new0 (char *, split + 1);
  memcpy (global_argv, argv, sizeof (char *) * split);

  options = g_option_context_new ("[COMMAND [ARGS...]]");
  g_option_context_set_summary (options, "Secure peer-to-peer networking from the command line.");
  description = commands_description ();
  g_option_context_set_description (options, description);
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &global_argc, &global_argv, &error))
    {
      g_free (global_argv);
      return shell_option_error (NULL, error);
    }
  g_free (global_argv);

  if (version)
    {
      g_print ("foctet-shell %s\n", FOCTET_VERSION_STRING);
      return SHELL_EXIT_OK;
    }
  if (identity_path != NULL && identity_path[0] == '\0')
    return shell_usage_error ("--identity: the path is empty");
  for (guint i = 0; plugin_paths != NULL && plugin_paths[i] != NULL; i++)
    {
      /* A directory that is not there would only leave its plugins out,
       * without a word. */
      if (!g_file_test (plugin_paths[i], G_FILE_TEST_IS_DIR))
        return shell_usage_error ("--plugin-path %s: not a directory", plugin_paths[i]);
      foctet_registry_add_search_path (foctet_registry_get_default (), plugin_paths[i]);
    }

  ctx.identity_path = identity_path != NULL
                      ? g_steal_pointer (&identity_path)
                      : g_build_filename (g_get_user_data_dir (), "foctet", "identity", NULL);
  ctx.quiet = quiet;
  ctx.interactive = interactive;

  if (split < argc)
    status = shell_run_command (&ctx, argc - split, argv + split);
  else
    status = shell_interactive (&ctx);

  /* The shell's connections end with it, each with a proper close. */
  if (ctx.session != NULL)
    {
      shell_shutdown_node (ctx.session);
      g_clear_object (&ctx.session);
    }
  g_clear_object (&ctx.identity);
  g_free (ctx.identity_path);
  return status;
}

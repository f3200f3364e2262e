/* shell-transfer.c: send and receive — file transfer from the command
 * line, on FoctetTransferSender and FoctetTransferReceiver.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib-unix.h>

#ifdef HAVE_QRENCODE
#include <qrencode.h>
#endif

#include "foctet-shell.h"

/* The ticket as a QR code on stderr, in half-block characters: two rows
 * of modules per line.  Light modules are drawn, dark ones left blank,
 * which reads right on the usual dark terminal; a quiet zone of two
 * modules around it.  The base32 part goes in upper case (PROTOCOL §6
 * accepts either), which QR codes hold in their alphanumeric mode at 5.5
 * bits a character instead of 8: a ticket of 300 characters takes 53
 * modules a side instead of 61.  The prefix stays as it must be. */
static void
print_qr_code (const char *ticket)
{
#ifdef HAVE_QRENCODE
  g_autofree char *upper = NULL, *text = NULL;
  QRcode *qr;
  GString *out;
  int margin = 2, size;

  g_return_if_fail (g_str_has_prefix (ticket, "foctet"));

  upper = g_ascii_strup (ticket + strlen ("foctet"), -1);
  text = g_strconcat ("foctet", upper, NULL);
  qr = QRcode_encodeString (text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);

  if (qr == NULL)
    return;
  size = qr->width + 2 * margin;
  out = g_string_new (NULL);
  for (int y = 0; y < size; y += 2)
    {
      for (int x = 0; x < size; x++)
        {
          gboolean top = FALSE, bottom = FALSE;
          int mx = x - margin, my = y - margin;

          /* Dark modules, in the code proper. */
          if (mx >= 0 && mx < qr->width && my >= 0 && my < qr->width)
            top = qr->data[my * qr->width + mx] & 1;
          if (mx >= 0 && mx < qr->width && my + 1 >= 0 && my + 1 < qr->width)
            bottom = qr->data[(my + 1) * qr->width + mx] & 1;
          if (y + 1 >= size)
            bottom = TRUE;   /* below the code: the terminal's dark */
          g_string_append (out, !top && !bottom ? "█" : !top ? "▀" : !bottom ? "▄" : " ");
        }
      g_string_append_c (out, '\n');
    }
  g_printerr ("%s", out->str);
  g_string_free (out, TRUE);
  QRcode_free (qr);
#endif
}

static gboolean
stop_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_CONTINUE;
}

static void
session_started_cb (FoctetTransferSender *sender,
                    const char           *peer,
                    gpointer              user_data)
{
  g_printerr ("receiver %s connected\n", peer);
}

static void
session_ended_cb (FoctetTransferSender *sender,
                  const GError         *error,
                  gpointer              user_data)
{
  if (error != NULL)
    g_printerr ("receiver gone: %s; waiting for it to resume\n", error->message);
}

/* send --to: the one receiver is the node pushed to; when its session
 * ends without success, so does the send. */
typedef struct {
  GCancellable *stop;
  GError *error;
} PushEnd;

static void
push_session_ended_cb (FoctetTransferSender *sender,
                       const GError         *error,
                       gpointer              user_data)
{
  PushEnd *end = user_data;

  if (error == NULL || end->error != NULL)
    return;
  end->error = g_error_copy (error);
  g_cancellable_cancel (end->stop);
}

/* send --to: the offer goes to @target, which fetches it at once. */
static int
send_push (ShellContext         *ctx,
           FoctetTransferSender *sender,
           FoctetTicket         *target,
           GCancellable         *stop)
{
  g_autoptr(GError) error = NULL;
  PushEnd end = { stop, NULL };
  ShellWait wait = { 0 };
  gulong ended;
  int ret = SHELL_EXIT_OK;

  ended = g_signal_connect (sender, "session-ended", G_CALLBACK (push_session_ended_cb), &end);
  foctet_transfer_sender_push_async (sender, target, stop, shell_wait_cb, &wait);
  shell_wait (&wait.done, FALSE, NULL);
  if (!foctet_transfer_sender_push_finish (sender, wait.result, &error))
    {
      g_clear_object (&wait.result);
      g_signal_handler_disconnect (sender, ended);
      g_clear_error (&end.error);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return SHELL_EXIT_FAILURE;
      return shell_failure ("send", error);
    }
  g_clear_object (&wait.result);
  if (!ctx->quiet)
    {
      g_autofree char *size = g_format_size_full (foctet_transfer_sender_get_total_size (sender),
                                                  G_FORMAT_SIZE_IEC_UNITS);

      g_printerr ("offering %u file%s, %s; the node accepted the push\n",
                  foctet_transfer_sender_get_n_files (sender),
                  foctet_transfer_sender_get_n_files (sender) == 1 ? "" : "s", size);
    }

  memset (&wait, 0, sizeof wait);
  foctet_transfer_sender_serve_async (sender, stop, shell_wait_cb, &wait);
  shell_wait (&wait.done, FALSE, NULL);
  if (!foctet_transfer_sender_serve_finish (sender, wait.result, &error))
    {
      if (end.error != NULL)
        {
          g_clear_error (&error);
          error = g_error_new (end.error->domain, end.error->code, "the node gave up: %s", end.error->message);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                       "interrupted before the node had everything");
        }
      ret = shell_failure ("send", error);
    }
  else if (!ctx->quiet)
    g_printerr ("the node has everything\n");
  g_clear_object (&wait.result);
  g_signal_handler_disconnect (sender, ended);
  g_clear_error (&end.error);
  return ret;
}

/* What the walk left out, one line each: a user sending a directory
 * should know what does not arrive. */
static void
print_skipped (FoctetTransferSender *sender)
{
  for (guint i = 0; i < foctet_transfer_sender_get_n_skipped (sender); i++)
    g_printerr ("not offering %s: %s\n", foctet_transfer_sender_get_skipped_path (sender, i),
                foctet_transfer_sender_get_skipped_type (sender, i) == G_FILE_TYPE_SYMBOLIC_LINK
                  ? "a symbolic link (links inside a directory are not followed)"
                  : "neither a regular file nor a directory");
}

/* Off a terminal, send says it is hashing only after this many seconds. */
#define HASHING_NOTICE_DELAY 2

static gboolean
hashing_notice_cb (gpointer user_data)
{
  guint *id = user_data;

  *id = 0;
  g_printerr ("reading and hashing the files…\n");
  return G_SOURCE_REMOVE;
}

int
shell_cmd_send (ShellContext *ctx,
                int           argc,
                char        **argv)
{
  g_auto(GStrv) listen = NULL;
  g_auto(GStrv) relays = NULL;
  g_autofree char *transport = NULL;
  g_autofree char *to = NULL;
  const GOptionEntry entries[] = {
    { "to", 0, 0, G_OPTION_ARG_STRING, &to,
      "Push the files to the node of TICKET (one serving with --inbox) instead of waiting for a receiver",
      "TICKET" },
    { "relay", 0, 0, G_OPTION_ARG_STRING_ARRAY, &relays,
      "Also be reachable through the relay at HOST:PORT (repeatable)", "HOST:PORT" },
    { "listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      "Listen on URI, e.g. quic/0.0.0.0:0 (repeatable; default: quic and tls, those loaded, "
      "on all addresses, any port)", "URI" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      "Listen with this transport only: on all addresses, or on each --listen HOST:PORT", "NAME" },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) target = NULL;
  g_autoptr(GCancellable) stop = NULL;
  g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) bound = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autofree char *ticket_text = NULL;
  g_autofree char *size = NULL;
  guint n_defaults = 0;
  guint sigint, sigterm;
  guint hashing_notice = 0;
  ShellWait wait = { 0 };
  int ret;

  if ((ret = shell_parse_options ("send", "PATH...",
                                  "Offer files and directories to one receiver; print the ticket first.",
                                  entries, &argc, &argv)) >= 0)
    return ret;
  ret = SHELL_EXIT_OK;
  if (argc < 2)
    return shell_usage_error ("send: missing PATH");
  if (to != NULL && (target = shell_parse_ticket (to, &error)) == NULL)
    return shell_usage_error ("send: --to: bad ticket: %s", error->message);
  if (to != NULL && (listen != NULL || relays != NULL || transport != NULL))
    return shell_usage_error ("send: --to dials out: it takes no --listen, --relay or --transport");
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (files, g_file_new_for_commandline_arg (argv[i]));
  if (to == NULL && !shell_listen_uris ("send", listen, transport, relays, uris, &n_defaults, &ret))
    return ret;

  node = shell_make_node (ctx, &ret);
  if (node == NULL)
    return ret;
  stop = g_cancellable_new ();
  sigint = g_unix_signal_add (SIGINT, stop_cb, stop);
  sigterm = g_unix_signal_add (SIGTERM, stop_cb, stop);

  /* Hash first: a path that cannot be offered fails before any ticket.
   * Said at once on a terminal; elsewhere (a log, a script's pipe) only
   * if it takes a while, so that a long wait does not look like a hang
   * while a quick send stays silent until its ticket. */
  if (!ctx->quiet && isatty (STDERR_FILENO))
    g_printerr ("reading and hashing the files…\n");
  else if (!ctx->quiet)
    hashing_notice = g_timeout_add_seconds (HASHING_NOTICE_DELAY, hashing_notice_cb, &hashing_notice);
  sender = foctet_transfer_sender_new (node, (GFile **) files->pdata, files->len);
  foctet_transfer_sender_prepare_async (sender, stop, shell_wait_cb, &wait);
  shell_wait (&wait.done, FALSE, NULL);
  g_clear_handle_id (&hashing_notice, g_source_remove);
  if (!foctet_transfer_sender_prepare_finish (sender, wait.result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ret = shell_failure ("send", error);
      else
        ret = SHELL_EXIT_FAILURE;
      g_clear_object (&wait.result);
      goto out;
    }
  g_clear_object (&wait.result);
  if (!ctx->quiet)
    print_skipped (sender);

  if (target != NULL)
    {
      ret = send_push (ctx, sender, target, stop);
      goto out;
    }

  bound = shell_listen (ctx, node, uris, n_defaults, stop, &ret);
  if (bound == NULL)
    {
      if (ret == SHELL_EXIT_OK)
        ret = SHELL_EXIT_FAILURE;   /* interrupted: nothing was sent */
      goto out;
    }

  /* The ticket first, at once: scripts wait for this line. */
  ticket = foctet_transfer_sender_get_ticket (sender);
  ticket_text = foctet_ticket_to_string (ticket);
  g_print ("%s\n", ticket_text);
  fflush (stdout);
  if (!ctx->quiet && isatty (STDERR_FILENO))
    print_qr_code (ticket_text);
  if (!ctx->quiet)
    {
      size = g_format_size_full (foctet_transfer_sender_get_total_size (sender), G_FORMAT_SIZE_IEC_UNITS);
      shell_print_listening (node, bound);
      g_printerr ("offering %u file%s, %s; waiting for a receiver (the ticket is the password)\n",
                  foctet_transfer_sender_get_n_files (sender),
                  foctet_transfer_sender_get_n_files (sender) == 1 ? "" : "s", size);
      g_signal_connect (sender, "session-started", G_CALLBACK (session_started_cb), NULL);
      g_signal_connect (sender, "session-ended", G_CALLBACK (session_ended_cb), NULL);
    }

  memset (&wait, 0, sizeof wait);
  foctet_transfer_sender_serve_async (sender, stop, shell_wait_cb, &wait);
  shell_wait (&wait.done, FALSE, NULL);
  if (!foctet_transfer_sender_serve_finish (sender, wait.result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                       "interrupted before a receiver had everything");
        }
      ret = shell_failure ("send", error);
    }
  else if (!ctx->quiet)
    g_printerr ("the receiver has everything\n");
  g_clear_object (&wait.result);

out:
  g_source_remove (sigint);
  g_source_remove (sigterm);
  if (sender != NULL)
    g_signal_handlers_disconnect_by_data (sender, NULL);
  shell_shutdown_node (node);
  return ret;
}

/* receive */

typedef struct {
  FoctetTransferReceiver *receiver;
  gboolean tty;
  gboolean shown;
  gint64 started;
} Progress;

/* Seconds as M:SS, or H:MM:SS from an hour on. */
static char *
format_duration (guint64 seconds)
{
  if (seconds >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", seconds / 3600, (guint) (seconds / 60 % 60),
                            (guint) (seconds % 60));
  return g_strdup_printf ("%u:%02u", (guint) (seconds / 60), (guint) (seconds % 60));
}

/* The terminal's width, 80 if it does not say. */
static guint
terminal_columns (void)
{
  struct winsize size;

  if (ioctl (STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    return size.ws_col;
  return 80;
}

static void
progress_show (Progress *progress,
               gboolean  last)
{
  FoctetTransferReceiver *receiver = progress->receiver;
  guint64 done = foctet_transfer_receiver_get_bytes_done (receiver);
  guint64 total = foctet_transfer_receiver_get_bytes_total (receiver);
  g_autofree char *done_text = g_format_size_full (done, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *total_text = g_format_size_full (total, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *current = foctet_transfer_receiver_dup_current_file (receiver);
  double fraction = total > 0 ? (double) done / total : 1.0;
  double seconds = (g_get_monotonic_time () - progress->started) / 1e6;
  guint64 fetched = foctet_transfer_receiver_get_bytes_fetched (receiver);
  g_autofree char *rate = g_format_size_full (seconds > 0 ? (guint64) (fetched / seconds) : 0,
                                              G_FORMAT_SIZE_IEC_UNITS);

  if (total == 0 && foctet_transfer_receiver_get_files_total (receiver) == 0 && !last)
    return;
  if (progress->tty)
    {
      g_autoptr(GString) line = g_string_new ("\r\033[K[");
      g_autofree char *eta = NULL;
      int filled = (int) (fraction * 12);
      glong room;

      /* The time left at the average rate so far. */
      if (last || done >= total)
        eta = format_duration (0);
      else if (fetched > 0 && seconds > 0)
        eta = format_duration ((guint64) ((total - done) / (fetched / seconds)));
      else
        eta = g_strdup ("-:--");
      for (int i = 0; i < 12; i++)
        g_string_append_c (line, i < filled ? '#' : '.');
      g_string_append_printf (line, "] %3d%% %s/%s %s/s ETA %s %u/%u", (int) (fraction * 100), done_text,
                              total_text, rate, eta, foctet_transfer_receiver_get_files_done (receiver),
                              foctet_transfer_receiver_get_files_total (receiver));
      /* The file being fetched, its end if need be, in what is left of
       * the line: a line longer than the terminal would wrap, and "\r"
       * would then redraw only its last row. */
      room = (glong) terminal_columns () - 1 - g_utf8_strlen (line->str + 4, -1) - 1;
      if (current != NULL && room >= 6)
        {
          glong length = g_utf8_strlen (current, -1);

          g_string_append_c (line, ' ');
          if (length > room)
            {
              g_string_append (line, "…");
              g_string_append (line, g_utf8_offset_to_pointer (current, length - (room - 1)));
            }
          else
            g_string_append (line, current);
        }
      if (last)
        g_string_append_c (line, '\n');
      g_printerr ("%s", line->str);
    }
  else
    g_printerr ("received %s of %s (%d%%), %u of %u files\n", done_text, total_text, (int) (fraction * 100),
                foctet_transfer_receiver_get_files_done (receiver),
                foctet_transfer_receiver_get_files_total (receiver));
  progress->shown = TRUE;
}

static gboolean
progress_cb (gpointer user_data)
{
  progress_show (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* "265.0 MiB of 1.0 GiB" when a failed receive leaves some of the
 * files' bytes in the output directory and not all of them; else NULL. */
static char *
receive_kept (FoctetTransferReceiver *receiver)
{
  guint64 done = foctet_transfer_receiver_get_bytes_done (receiver);
  guint64 total = foctet_transfer_receiver_get_bytes_total (receiver);
  g_autofree char *done_text = NULL;
  g_autofree char *total_text = NULL;

  if (done == 0 || done >= total)
    return NULL;
  done_text = g_format_size_full (done, G_FORMAT_SIZE_IEC_UNITS);
  total_text = g_format_size_full (total, G_FORMAT_SIZE_IEC_UNITS);
  return g_strdup_printf ("%s of %s", done_text, total_text);
}

int
shell_cmd_receive (ShellContext *ctx,
                   int           argc,
                   char        **argv)
{
  g_autofree char *output = NULL;
  g_autofree char *transport = NULL;
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Put the files in DIR (default: the current directory)",
      "DIR" },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace files in DIR that differ from those offered", NULL },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      "Use only this transport: quic, tls or relay (default: race the ticket's addresses, quic first)", "NAME" },
    { NULL }
  };
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GFile) dir = NULL;
  g_autoptr(GError) error = NULL;
  ShellWait wait = { 0 };
  Progress progress = { 0 };
  guint timer = 0;
  int ret;

  if ((ret = shell_parse_options ("receive", "TICKET",
                                  "Fetch what a send ticket offers into DIR, verify it, resume an earlier try.",
                                  entries, &argc, &argv)) >= 0)
    return ret;
  if ((ret = shell_check_operands ("receive", argc, argv, "TICKET")) >= 0)
    return ret;
  if (transport != NULL && !shell_check_transport ("receive", "--transport", transport, &ret))
    return ret;
  ret = SHELL_EXIT_OK;
  ticket = shell_parse_ticket (argv[1], &error);
  if (ticket == NULL)
    {
      g_autofree char *stripped = g_strstrip (g_strdup (argv[1]));
      g_autoptr(FoctetNodeId) id = foctet_node_id_parse (stripped, NULL);

      /* A NodeId finds the node, but not what it offers. */
      if (id != NULL)
        return shell_usage_error ("receive: %s is a NodeId; give the ticket send printed, which carries "
                                  "the transfer's secret", stripped);
      return shell_usage_error ("receive: bad ticket: %s", error->message);
    }
  {
    /* A ticket without a transfer offer (docs/protocol.md: entry type
     * 0x80), such as serve's, or with a malformed one, is a wrong
     * argument, known before anything is dialed. */
    g_autoptr(GError) offer_error = NULL;

    if (!foctet_transfer_ticket_check_offer (ticket, &offer_error))
      return shell_usage_error ("receive: %s; give the ticket send printed", offer_error->message);
  }

  node = shell_make_node (ctx, &ret);
  if (node == NULL)
    return ret;
  receiver = foctet_transfer_receiver_new (node);
  foctet_transfer_receiver_set_transport (receiver, transport);
  dir = g_file_new_for_commandline_arg (output != NULL ? output : ".");
  cancellable = g_cancellable_new ();

  progress.receiver = receiver;
  progress.tty = isatty (STDERR_FILENO);
  progress.started = g_get_monotonic_time ();
  if (!ctx->quiet)
    timer = g_timeout_add (progress.tty ? 200 : 2000, progress_cb, &progress);

  foctet_transfer_receiver_receive_async (receiver, ticket, dir,
                                          force ? FOCTET_TRANSFER_RECEIVE_FORCE : FOCTET_TRANSFER_RECEIVE_NONE,
                                          cancellable, shell_wait_cb, &wait);
  shell_wait (&wait.done, TRUE, cancellable);
  if (timer != 0)
    g_source_remove (timer);
  if (!foctet_transfer_receiver_receive_finish (receiver, wait.result, &error))
    {
      if (progress.shown && progress.tty)
        g_printerr ("\n");
      g_autofree char *kept = receive_kept (receiver);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          error = kept != NULL
                  ? g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                 "interrupted with %s kept; run it again to resume", kept)
                  : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted; run it again to resume");
        }
      else if (kept != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS) &&
               !g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET) &&
               !g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) &&
               !g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_VERIFICATION_FAILED))
        {
          /* The sender went away, the network or the disk failed: what
           * came is in part files, and the same receive picks it up. */
          GError *hinted = g_error_new (error->domain, error->code,
                                        "%s; %s kept: run the same receive again to resume", error->message,
                                        kept);

          g_clear_error (&error);
          error = hinted;
        }
      /* A different file of the same name: --force replaces it (not a
       * directory or a link in the way, also EXISTS). */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS) && !force &&
          strstr (error->message, "differs from the file offered") != NULL)
        {
          g_autofree char *text = g_strdup_printf ("%s (--force replaces it)", error->message);

          g_clear_error (&error);
          error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS, text);
        }
      ret = shell_failure ("receive", error);
    }
  else if (!ctx->quiet)
    {
      g_autofree char *size = g_format_size_full (foctet_transfer_receiver_get_bytes_total (receiver),
                                                  G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *fetched = g_format_size_full (foctet_transfer_receiver_get_bytes_fetched (receiver),
                                                     G_FORMAT_SIZE_IEC_UNITS);

      if (progress.tty)
        progress_show (&progress, TRUE);
      g_printerr ("received %u file%s, %s (%s fetched), verified\n",
                  foctet_transfer_receiver_get_files_total (receiver),
                  foctet_transfer_receiver_get_files_total (receiver) == 1 ? "" : "s", size, fetched);
    }
  g_clear_object (&wait.result);
  shell_shutdown_node (node);
  return ret;
}

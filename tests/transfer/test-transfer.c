/* test-transfer.c: file transfer end to end on loopback — a
 * FoctetTransferSender and a FoctetTransferReceiver on two in-process
 * nodes with the real plugins (quic, tls with yamux, relay through the
 * real foctet-relay): a tree of every kind of entry compared byte for
 * byte and mode for mode, a wrong secret, a second receiver while one is
 * served, resuming a cancelled receive, a sender lying about a file's
 * SHA-256 (written with the codec directly), a failing write, files in
 * the way, and symbolic links in the output directory.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <foctet.h>

#include "foctet-transfer-wire.h"
#include "test-utils.h"

#define TIMEOUT 30
#define BIG_SIZE (3 * 1024 * 1024 + 17)
#define N_SMALL 300

typedef struct {
  GSubprocess *relay;
  char *relay_address;
  FoctetNode *sender_node;
  FoctetNode *receiver_node;
  char *tmp;
  char *source;                        /* what is offered: tmp/tree */
  char *output;                        /* where it goes: tmp/out */
} Fixture;

static FoctetNode *
make_node (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);

  g_assert_no_error (error);
  return foctet_node_new (identity);
}

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
start_relay (Fixture *fixture)
{
  const char *argv[] = { g_getenv ("FOCTET_RELAY"), "--listen", "127.0.0.1:0", NULL };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;
  GAsyncResult *slot = NULL;

  g_assert_nonnull (argv[0]);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  fixture->relay = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->relay));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  line = g_data_input_stream_read_line_finish_utf8 (out, result, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  words = g_strsplit (line, " ", -1);
  g_assert_cmpuint (g_strv_length (words), ==, 3);
  fixture->relay_address = g_strdup (words[2]);
}

static void
stop_relay (Fixture *fixture)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  g_subprocess_send_signal (fixture->relay, SIGTERM);
  g_subprocess_wait_async (fixture->relay, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (g_subprocess_wait_finish (fixture->relay, result, NULL));
  g_clear_object (&fixture->relay);
}

static void
node_listen (FoctetNode *node,
             const char *uri)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *bound = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_listen_async (node, uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  bound = foctet_node_listen_finish (node, result, &error);
  g_assert_no_error (error);
}

static void
shutdown_node (FoctetNode *node)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_shutdown_async (node, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (foctet_node_shutdown_finish (node, result, NULL));
}

/* @data: the transport the sender listens on. */
static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const char *transport = data != NULL ? data : "quic";
  g_autofree char *uri = NULL;

  fixture->sender_node = make_node ();
  fixture->receiver_node = make_node ();
  if (g_strcmp0 (transport, "relay") == 0)
    {
      start_relay (fixture);
      uri = g_strconcat ("relay/", fixture->relay_address, NULL);
    }
  else
    uri = g_strconcat (transport, "/127.0.0.1:0", NULL);
  node_listen (fixture->sender_node, uri);
  fixture->tmp = foctet_test_make_tmpdir ();
  fixture->source = g_build_filename (fixture->tmp, "tree", NULL);
  fixture->output = g_build_filename (fixture->tmp, "out", NULL);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  shutdown_node (fixture->receiver_node);
  shutdown_node (fixture->sender_node);
  g_clear_object (&fixture->receiver_node);
  g_clear_object (&fixture->sender_node);
  if (fixture->relay != NULL)
    stop_relay (fixture);
  g_free (fixture->relay_address);
  foctet_test_remove_tree (fixture->tmp);
  g_free (fixture->tmp);
  g_free (fixture->source);
  g_free (fixture->output);
  for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

/* Trees */

static void
write_file (const char *path,
            gsize       size,
            GRand      *rand,
            mode_t      mode)
{
  g_autofree guint8 *data = g_malloc (MAX (size, 1));
  g_autoptr(GError) error = NULL;

  for (gsize i = 0; i < size; i++)
    data[i] = g_rand_int (rand) & 0xff;
  g_file_set_contents_full (path, (const char *) data, size, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static void
make_dir (const char *path,
          mode_t      mode)
{
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

/* Nested directories, an empty file and an empty directory, non-ASCII
 * names, a file of a few MiB, a few hundred small ones, a few modes; and
 * things a sender skips (a symbolic link). */
static void
make_tree (const char *root)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autofree char *a = g_build_filename (root, "a", NULL);
  g_autofree char *ab = g_build_filename (root, "a", "b", NULL);
  g_autofree char *abc = g_build_filename (root, "a", "b", "c", NULL);
  g_autofree char *small = g_build_filename (root, "small", NULL);
  g_autofree char *path = NULL;

  make_dir (root, 0755);
  make_dir (a, 0750);
  make_dir (ab, 0755);
  make_dir (abc, 0700);
  path = g_build_filename (abc, "deep.bin", NULL);
  write_file (path, 1000, rand, 0600);
  g_free (path);
  path = g_build_filename (root, "empty.txt", NULL);
  write_file (path, 0, rand, 0644);
  g_free (path);
  path = g_build_filename (root, "empty dir", NULL);
  make_dir (path, 0755);
  g_free (path);
  path = g_build_filename (root, "héllo wörld ✓.txt", NULL);
  write_file (path, 12345, rand, 0644);
  g_free (path);
  path = g_build_filename (root, "日本語", NULL);
  make_dir (path, 0755);
  g_free (path);
  path = g_build_filename (root, "日本語", "ファイル.bin", NULL);
  write_file (path, 777, rand, 0755);
  g_free (path);
  path = g_build_filename (root, "big.bin", NULL);
  write_file (path, BIG_SIZE, rand, 0644);
  g_free (path);
  path = g_build_filename (root, "link", NULL);
  g_assert_cmpint (symlink ("big.bin", path), ==, 0);
  make_dir (small, 0755);
  for (guint i = 0; i < N_SMALL; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%03u", i);

      g_autofree char *file = g_build_filename (small, name, NULL);

      write_file (file, g_rand_int_range (rand, 0, 3000), rand, i % 7 == 0 ? 0600 : 0644);
    }
}

/* Fails unless @received holds exactly what @offered does (symbolic
 * links aside, which are not offered): the same names, kinds, modes and
 * bytes, and nothing else. */
static void
compare_trees (const char *offered,
               const char *received)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  struct stat so, sr;
  const char *name;

  g_assert_cmpint (lstat (offered, &so), ==, 0);
  g_assert_cmpint (lstat (received, &sr), ==, 0);
  g_assert_cmpint (so.st_mode & S_IFMT, ==, sr.st_mode & S_IFMT);
  g_assert_cmpint (so.st_mode & 07777, ==, sr.st_mode & 07777);
  if (S_ISREG (so.st_mode))
    {
      g_autofree char *a = NULL;
      g_autofree char *b = NULL;
      gsize alen = 0, blen = 0;

      g_assert_true (g_file_get_contents (offered, &a, &alen, NULL));
      g_assert_true (g_file_get_contents (received, &b, &blen, NULL));
      g_assert_cmpmem (a, alen, b, blen);
      return;
    }
  g_assert_true (S_ISDIR (so.st_mode));

  dir = g_dir_open (offered, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *a = g_build_filename (offered, name, NULL);
      g_autofree char *b = g_build_filename (received, name, NULL);

      if (g_file_test (a, G_FILE_TEST_IS_SYMLINK))
        continue;
      compare_trees (a, b);
      g_hash_table_add (seen, g_strdup (name));
    }
  g_clear_pointer (&dir, g_dir_close);
  dir = g_dir_open (received, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (!g_hash_table_contains (seen, name))
      g_error ("“%s” holds “%s”, which was not offered", received, name);
}

/* Sending and receiving */

static FoctetTransferSender *
prepare_sender (Fixture  *fixture,
                GFile   **files,
                guint     n_files)
{
  g_autoptr(FoctetTransferSender) sender = foctet_transfer_sender_new (fixture->sender_node, files, n_files);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_transfer_sender_prepare_async (sender, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (foctet_transfer_sender_prepare_finish (sender, result, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&sender);
}

static FoctetTransferSender *
prepare_tree_sender (Fixture *fixture)
{
  g_autoptr(GFile) file = g_file_new_for_path (fixture->source);

  return prepare_sender (fixture, &file, 1);
}

static gboolean
receive (FoctetTransferReceiver      *receiver,
         FoctetTicket                *ticket,
         const char                  *output,
         FoctetTransferReceiveFlags   flags,
         GCancellable                *cancellable,
         GError                     **error)
{
  g_autoptr(GFile) dir = g_file_new_for_path (output);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_transfer_receiver_receive_async (receiver, ticket, dir, flags, cancellable,
                                          foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  return foctet_transfer_receiver_receive_finish (receiver, result, error);
}

static void
serve_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_transfer_sender_serve_finish (FOCTET_TRANSFER_SENDER (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

/* The whole tree over the fixture's transport. */
static void
test_tree (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *received = NULL;
  gboolean served = FALSE;
  gint64 start;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  g_assert_cmpuint (foctet_transfer_sender_get_n_files (sender), ==, N_SMALL + 5);
  ticket = foctet_transfer_sender_get_ticket (sender);
  text = foctet_ticket_to_string (ticket);
  g_clear_object (&ticket);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  /* The receiver knows only the text, as a user would. */
  ticket = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  start = g_get_monotonic_time ();
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("%s: %" G_GUINT64_FORMAT " bytes in %u files, %.2f s", (const char *) data,
                  foctet_transfer_receiver_get_bytes_total (receiver),
                  foctet_transfer_receiver_get_files_total (receiver),
                  (g_get_monotonic_time () - start) / 1e6);
  foctet_test_wait_for (&served, TIMEOUT);

  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_done (receiver), ==,
                    foctet_transfer_receiver_get_bytes_total (receiver));
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==,
                    foctet_transfer_receiver_get_bytes_total (receiver));
  g_assert_cmpuint (foctet_transfer_receiver_get_files_done (receiver), ==, N_SMALL + 5);
  received = g_build_filename (fixture->output, "tree", NULL);
  compare_trees (fixture->source, received);

  /* Served: the node no longer offers anything. */
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED);
}

static FoctetTicket *
ticket_with_secret (FoctetNode   *node,
                    const guint8 *secret)
{
  g_autoptr(FoctetTicket) ticket = foctet_node_get_ticket (node);
  g_autoptr(GBytes) value = g_bytes_new (secret, FOCTET_TRANSFER_SECRET_SIZE);
  g_autoptr(GError) error = NULL;

  foctet_ticket_add_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY, value, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&ticket);
}

/* A ticket with another secret is refused, and says so; one without an
 * offer is refused before anything is dialed. */
static void
test_wrong_secret (Fixture       *fixture,
                   gconstpointer  data)
{
  static const guint8 wrong[FOCTET_TRANSFER_SECRET_SIZE] = { 1, 2, 3 };
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) bare = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) out = NULL;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = ticket_with_secret (fixture->sender_node, wrong);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "wrong secret"));
  g_clear_error (&error);
  /* Nothing was written. */
  out = g_file_new_for_path (fixture->output);
  g_assert_false (g_file_query_exists (g_file_get_child (out, "tree"), NULL) ? TRUE : FALSE);

  bare = foctet_node_get_ticket (fixture->sender_node);
  g_assert_false (receive (receiver, bare, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
}

typedef struct {
  GCancellable *cancellable;
  guint64 at;
} CancelAt;

static void
cancel_at_cb (FoctetTransferReceiver *receiver,
              GParamSpec             *pspec,
              CancelAt               *cancel)
{
  if (foctet_transfer_receiver_get_bytes_done (receiver) >= cancel->at)
    g_cancellable_cancel (cancel->cancellable);
}

/* What the output directory holds of @entries: final files, and part
 * files. */
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
      if (S_ISDIR (st.st_mode))
        total += bytes_present (path);
      else
        total += st.st_size;
    }
  return total;
}

/* A receive cancelled part-way leaves part files; the next one (while
 * the sender waits on) fetches only what is missing and verifies; a
 * second receiver meanwhile is told the sender is busy. */
static void
test_resume (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *received = NULL;
  CancelAt cancel = { cancellable, BIG_SIZE / 2 };
  gboolean served = FALSE;
  guint64 present, total;
  gulong id;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  id = g_signal_connect (receiver, "notify::bytes-done", G_CALLBACK (cancel_at_cb), &cancel);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_signal_handler_disconnect (receiver, id);
  g_assert_false (served);

  total = foctet_transfer_receiver_get_bytes_total (receiver);
  present = bytes_present (fixture->output);
  g_test_message ("cancelled with %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes there", present, total);
  g_assert_cmpuint (present, >=, BIG_SIZE / 2);
  g_assert_cmpuint (present, <, total);
  /* The large file, fetched in order, stopped in the middle. */
  {
    g_autofree char *part = g_build_filename (fixture->output, "tree", "big.bin.foctet-part", NULL);
    struct stat st;

    g_assert_cmpint (stat (part, &st), ==, 0);
    g_assert_cmpint (st.st_size, >, 0);
    g_assert_cmpint (st.st_size, <, BIG_SIZE);
  }

  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==, total - present);
  foctet_test_wait_for (&served, TIMEOUT);
  received = g_build_filename (fixture->output, "tree", NULL);
  compare_trees (fixture->source, received);
}

static void
busy_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GError **error = user_data;

  g_assert_false (foctet_transfer_receiver_receive_finish (FOCTET_TRANSFER_RECEIVER (source), result, error));
  g_assert_nonnull (*error);
}

typedef struct {
  Fixture *fixture;
  FoctetTicket *ticket;
  FoctetTransferReceiver *second;
  char *output;
  GError *error;
  gboolean started;
} Busy;

static void
start_second_cb (FoctetTransferReceiver *receiver,
                 GParamSpec             *pspec,
                 Busy                   *busy)
{
  g_autoptr(GFile) dir = NULL;

  if (busy->started || foctet_transfer_receiver_get_bytes_done (receiver) == 0)
    return;
  busy->started = TRUE;
  dir = g_file_new_for_path (busy->output);
  foctet_transfer_receiver_receive_async (busy->second, busy->ticket, dir, FOCTET_TRANSFER_RECEIVE_NONE, NULL,
                                          busy_cb, &busy->error);
}

static void
test_busy (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetNode) third = make_node ();
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  Busy busy = { 0 };
  gboolean served = FALSE;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  busy.ticket = ticket;
  busy.second = foctet_transfer_receiver_new (third);
  busy.output = g_build_filename (fixture->tmp, "second", NULL);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_signal_connect (receiver, "notify::bytes-done", G_CALLBACK (start_second_cb), &busy);
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  while (busy.error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("second receiver: %s", busy.error->message);
  g_assert_error (busy.error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED);
  g_clear_error (&busy.error);
  g_clear_object (&busy.second);
  g_free (busy.output);
  shutdown_node (third);
}

/* A file in the way is left alone, unless forced; a symbolic link in the
 * output directory is never written through. */
static void
test_existing (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *tree = g_build_filename (fixture->output, "tree", NULL);
  g_autofree char *in_the_way = g_build_filename (tree, "héllo wörld ✓.txt", NULL);
  g_autofree char *elsewhere = g_build_filename (fixture->tmp, "elsewhere", NULL);
  g_autofree char *link = g_build_filename (tree, "a", NULL);
  g_autofree char *content = NULL;
  gboolean served = FALSE;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);

  /* A link where a directory goes. */
  g_assert_cmpint (g_mkdir_with_parents (tree, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (elsewhere, 0755), ==, 0);
  g_assert_cmpint (symlink (elsewhere, link), ==, 0);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_FORCE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_cmpuint (bytes_present (elsewhere), ==, 0);
  g_assert_cmpint (g_unlink (link), ==, 0);

  /* A different file where a file goes. */
  g_assert_true (g_file_set_contents (in_the_way, "mine", -1, NULL));
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (in_the_way, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "mine");

  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_FORCE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  compare_trees (fixture->source, tree);
}

/* A lying sender, written with the codec: it announces a SHA-256 that
 * one file's bytes do not have. */

typedef struct {
  FoctetStream *stream;
  FoctetTransferManifest *manifest;
  GPtrArray *contents;                 /* GBytes per entry */
} Liar;

static void liar_read (Liar *liar);

static void
liar_free (Liar *liar)
{
  g_io_stream_close_async (G_IO_STREAM (liar->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (liar->stream);
  foctet_transfer_manifest_unref (liar->manifest);
  g_ptr_array_unref (liar->contents);
  g_free (liar);
}

static void
liar_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Liar *liar = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      liar_free (liar);
      return;
    }
  liar_read (liar);
}

static void
liar_message_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Liar *liar = user_data;
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(FoctetTransferMessage) answer = NULL;
  g_autoptr(GBytes) header = NULL;
  GByteArray *out = g_byte_array_new ();
  GBytes *all;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, NULL);
  if (message == NULL || message->type == FOCTET_TRANSFER_MESSAGE_ABORT)
    {
      g_byte_array_unref (out);
      liar_free (liar);
      return;
    }
  if (message->type == FOCTET_TRANSFER_MESSAGE_HELLO)
    answer = foctet_transfer_message_new_manifest (liar->manifest);
  else if (message->type == FOCTET_TRANSFER_MESSAGE_GET)
    answer = foctet_transfer_message_new_data (message->index, message->offset, message->length);
  else
    answer = foctet_transfer_message_new_done_ack ();
  header = foctet_transfer_message_encode (answer);
  g_byte_array_append (out, g_bytes_get_data (header, NULL), g_bytes_get_size (header));
  if (message->type == FOCTET_TRANSFER_MESSAGE_GET)
    {
      GBytes *content = g_ptr_array_index (liar->contents, message->index);

      g_byte_array_append (out, (const guint8 *) g_bytes_get_data (content, NULL) + message->offset,
                           message->length);
    }
  all = g_byte_array_free_to_bytes (out);
  g_object_set_data_full (G_OBJECT (liar->stream), "pending", all, (GDestroyNotify) g_bytes_unref);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (liar->stream)),
                                   g_bytes_get_data (all, NULL), g_bytes_get_size (all), G_PRIORITY_DEFAULT,
                                   NULL, liar_written_cb, liar);
}

static void
liar_read (Liar *liar)
{
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (liar->stream)),
                                      G_PRIORITY_DEFAULT, NULL, liar_message_cb, liar);
}

static void
liar_handler (FoctetNode       *node,
              FoctetConnection *connection,
              FoctetStream     *stream,
              gpointer          user_data)
{
  Liar *liar = g_new0 (Liar, 1);
  Liar *model = user_data;

  liar->stream = g_object_ref (stream);
  liar->manifest = foctet_transfer_manifest_ref (model->manifest);
  liar->contents = g_ptr_array_ref (model->contents);
  liar_read (liar);
}

static void
sha256_of (const char *text,
           guint8      digest[FOCTET_TRANSFER_SHA256_SIZE])
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = FOCTET_TRANSFER_SHA256_SIZE;

  g_checksum_update (checksum, (const guint8 *) text, strlen (text));
  g_checksum_get_digest (checksum, digest, &len);
}

static void
test_corrupted (Fixture       *fixture,
                gconstpointer  data)
{
  static const guint8 secret_bytes[FOCTET_TRANSFER_SECRET_SIZE] = { 42 };
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *bad = g_build_filename (fixture->output, "bad.txt", NULL);
  g_autofree char *bad_part = g_build_filename (fixture->output, "bad.txt.foctet-part", NULL);
  g_autofree char *good = g_build_filename (fixture->output, "good.txt", NULL);
  g_autofree char *content = NULL;
  guint8 digest[FOCTET_TRANSFER_SHA256_SIZE];
  Liar model = { 0 };

  model.manifest = foctet_transfer_manifest_new ();
  model.contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  sha256_of ("the truth", digest);
  g_assert_true (foctet_transfer_manifest_add_file (model.manifest, "good.txt", 0644, 9, digest, NULL));
  g_ptr_array_add (model.contents, g_bytes_new_static ("the truth", 9));
  sha256_of ("what was announced", digest);
  g_assert_true (foctet_transfer_manifest_add_file (model.manifest, "bad.txt", 0644, 6, digest, NULL));
  g_ptr_array_add (model.contents, g_bytes_new_static ("a lie!", 6));
  foctet_node_set_protocol_handler (fixture->sender_node, FOCTET_PROTOCOL_TRANSFER, liar_handler, &model, NULL);

  ticket = ticket_with_secret (fixture->sender_node, secret_bytes);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_VERIFICATION_FAILED);
  g_assert_nonnull (strstr (error->message, "bad.txt"));
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (bad_part, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "a lie!");
  g_clear_pointer (&content, g_free);
  g_assert_true (g_file_get_contents (good, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "the truth");

  foctet_node_set_protocol_handler (fixture->sender_node, FOCTET_PROTOCOL_TRANSFER, NULL, NULL, NULL);
  foctet_transfer_manifest_unref (model.manifest);
  g_ptr_array_unref (model.contents);
}

/* A write that fails (here: past RLIMIT_FSIZE, as a full disk would) ends
 * the receive with an error naming the file; no final file is left
 * half-written, and a later run completes it. */
static void
test_write_error (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *big = g_build_filename (fixture->output, "tree", "big.bin", NULL);
  g_autofree char *received = g_build_filename (fixture->output, "tree", NULL);
  struct rlimit saved, limit;
  gboolean served = FALSE;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  limit = saved;
  limit.rlim_cur = 1024 * 1024;
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  g_test_message ("%s", error->message);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_nonnull (strstr (error->message, "big.bin.foctet-part"));
  g_assert_false (g_file_test (big, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  compare_trees (fixture->source, received);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  umask (022);

  g_test_add ("/transfer/tree/quic", Fixture, "quic", fixture_setup, test_tree, fixture_teardown);
  g_test_add ("/transfer/tree/tls", Fixture, "tls", fixture_setup, test_tree, fixture_teardown);
  if (g_getenv ("FOCTET_RELAY") != NULL)
    g_test_add ("/transfer/tree/relay", Fixture, "relay", fixture_setup, test_tree, fixture_teardown);
  g_test_add ("/transfer/wrong-secret", Fixture, "quic", fixture_setup, test_wrong_secret, fixture_teardown);
  g_test_add ("/transfer/resume", Fixture, "tls", fixture_setup, test_resume, fixture_teardown);
  g_test_add ("/transfer/busy", Fixture, "quic", fixture_setup, test_busy, fixture_teardown);
  g_test_add ("/transfer/existing", Fixture, "quic", fixture_setup, test_existing, fixture_teardown);
  g_test_add ("/transfer/write-error", Fixture, "quic", fixture_setup, test_write_error, fixture_teardown);
  g_test_add ("/transfer/corrupted", Fixture, "quic", fixture_setup, test_corrupted, fixture_teardown);
  return g_test_run ();
}

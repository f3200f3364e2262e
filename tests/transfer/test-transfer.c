/* test-transfer.c: file transfer end to end on loopback — a
 * FoctetTransferSender and a FoctetTransferReceiver on two in-process
 * nodes with the real plugins (quic, tls with yamux, relay through the
 * real foctet-relay): a tree of every kind of entry compared byte for
 * byte and mode for mode, a wrong secret, a second receiver while one is
 * served, resuming a cancelled receive, a sender lying about a file's
 * hash (written with the codec directly), a failing write, files in
 * the way, and symbolic links in the output directory.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <foctet.h>

#include "foctet-file-hash-private.h"
#include "foctet-transfer-wire.h"
#include "foctet-transfer-worker.h"
#include "test-utils.h"
#include "test-node.h"

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
  char *mount_point;                   /* a tmpfs the test mounted, or NULL */
} Fixture;

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
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;

  g_assert_nonnull (argv[0]);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  fixture->relay = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->relay));
  line = foctet_test_read_line (out, TIMEOUT);
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
  g_autofree char *bound = foctet_test_node_listen (node, uri, TIMEOUT);
}

/* @data: the transport the sender listens on. */
static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const char *transport = data != NULL ? data : "quic";
  g_autofree char *uri = NULL;

  fixture->sender_node = foctet_test_node_new ();
  fixture->receiver_node = foctet_test_node_new ();
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
  foctet_test_node_shutdown (fixture->receiver_node, TIMEOUT);
  foctet_test_node_shutdown (fixture->sender_node, TIMEOUT);
  g_clear_object (&fixture->receiver_node);
  g_clear_object (&fixture->sender_node);
  if (fixture->mount_point != NULL)
    {
      g_assert_cmpint (umount2 (fixture->mount_point, MNT_DETACH), ==, 0);
      g_clear_pointer (&fixture->mount_point, g_free);
    }
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

static gssize
read_full (int     fd,
           guint8 *buf,
           gsize   len)
{
  gsize got = 0;

  while (got < len)
    {
      gssize n = read (fd, buf + got, len - got);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        break;
      got += n;
    }
  return got;
}

/* Byte for byte, a chunk at a time: the large file is compared without
 * holding two copies of it. */
static void
compare_files (const char *offered,
               const char *received)
{
  g_autofree guint8 *a = g_malloc (1024 * 1024);
  g_autofree guint8 *b = g_malloc (1024 * 1024);
  int fa = open (offered, O_RDONLY | O_CLOEXEC);
  int fb = open (received, O_RDONLY | O_CLOEXEC);
  gssize na, nb;

  g_assert_cmpint (fa, >=, 0);
  g_assert_cmpint (fb, >=, 0);
  do
    {
      na = read_full (fa, a, 1024 * 1024);
      nb = read_full (fb, b, 1024 * 1024);
      if (na != nb || memcmp (a, b, na) != 0)
        g_error ("“%s” differs from “%s”", received, offered);
    }
  while (na > 0);
  close (fa);
  close (fb);
}

/* Fails unless @received holds exactly what @offered does (symbolic
 * links, FIFOs and devices aside, which are not offered): the same names,
 * kinds, modes and bytes, and nothing else. */
static void
compare_trees (const char *offered,
               const char *received)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  struct stat so, sr;
  const char *name;

  g_assert_cmpint (lstat (offered, &so), ==, 0);
  if (lstat (received, &sr) < 0)
    g_error ("“%s” is missing: %s", received, g_strerror (errno));
  g_assert_cmpint (so.st_mode & S_IFMT, ==, sr.st_mode & S_IFMT);
  g_assert_cmpint (so.st_mode & 07777, ==, sr.st_mode & 07777);
  if (S_ISREG (so.st_mode))
    {
      g_assert_cmpint (so.st_size, ==, sr.st_size);
      compare_files (offered, received);
      return;
    }
  g_assert_true (S_ISDIR (so.st_mode));

  dir = g_dir_open (offered, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *a = g_build_filename (offered, name, NULL);
      g_autofree char *b = g_build_filename (received, name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (a, &st), ==, 0);
      if (!S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode))
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
receive_within (FoctetTransferReceiver      *receiver,
                FoctetTicket                *ticket,
                const char                  *output,
                FoctetTransferReceiveFlags   flags,
                GCancellable                *cancellable,
                guint                        timeout,
                GError                     **error)
{
  g_autoptr(GFile) dir = g_file_new_for_path (output);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_transfer_receiver_receive_async (receiver, ticket, dir, flags, cancellable,
                                          foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout);
  return foctet_transfer_receiver_receive_finish (receiver, result, error);
}

static gboolean
receive (FoctetTransferReceiver      *receiver,
         FoctetTicket                *ticket,
         const char                  *output,
         FoctetTransferReceiveFlags   flags,
         GCancellable                *cancellable,
         GError                     **error)
{
  return receive_within (receiver, ticket, output, flags, cancellable, TIMEOUT, error);
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

/* A sender serving when its node shuts down: serving ends, with an
 * error that says so, instead of waiting for ever. */
static void
test_serve_node_shutdown (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  foctet_transfer_sender_serve_async (sender, NULL, foctet_test_store_result, &slot);
  foctet_test_node_shutdown (fixture->sender_node, TIMEOUT);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_false (foctet_transfer_sender_serve_finish (sender, result, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
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
  {
    g_autoptr(GFile) tree = g_file_get_child (out, "tree");

    g_assert_false (g_file_query_exists (tree, NULL));
  }

  bare = foctet_node_get_ticket (fixture->sender_node);
  g_assert_false (receive (receiver, bare, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
}

static void
note_transport_cb (FoctetNode        *node,
                   FoctetConnection  *connection,
                   char             **transport)
{
  g_free (*transport);
  *transport = g_strdup (foctet_connection_get_transport_name (connection));
}

/* FoctetTransferReceiver:transport: a receive dials the sender with that
 * transport only, though the ticket offers quic too (which a race takes
 * first on loopback). */
static void
test_receive_transport (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (21);
  g_autofree char *used = NULL;
  g_autofree char *set = NULL;
  g_autofree char *file = g_build_filename (fixture->source, "one.bin", NULL);
  gboolean served = FALSE;
  gulong id;

  node_listen (fixture->sender_node, "tls/127.0.0.1:0");
  g_assert_cmpint (g_mkdir_with_parents (fixture->source, 0755), ==, 0);
  write_file (file, 300 * 1024, rand, 0644);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_null (foctet_transfer_receiver_get_transport (receiver));
  foctet_transfer_receiver_set_transport (receiver, "tls");
  g_object_get (receiver, "transport", &set, NULL);
  g_assert_cmpstr (set, ==, "tls");
  id = g_signal_connect (fixture->sender_node, "incoming-connection", G_CALLBACK (note_transport_cb), &used);
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  g_signal_handler_disconnect (fixture->sender_node, id);
  g_assert_cmpstr (used, ==, "tls");

  /* A transport the ticket has no address for: the dial's error. */
  g_object_set (receiver, "transport", "relay", NULL);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_assert_nonnull (strstr (error->message, "no relay address"));
  foctet_transfer_receiver_set_transport (receiver, NULL);
  g_assert_null (foctet_transfer_receiver_get_transport (receiver));
}

/* Cancels once half of the bytes are on disk. */
static void
cancel_at_half_cb (FoctetTransferReceiver *receiver,
                   GParamSpec             *pspec,
                   GCancellable           *cancellable)
{
  guint64 total = foctet_transfer_receiver_get_bytes_total (receiver);

  if (total > 0 && foctet_transfer_receiver_get_bytes_done (receiver) >= total / 2)
    g_cancellable_cancel (cancellable);
}

/* The part files under @dir that hold some bytes but not all of their
 * file (whose size is taken from the same path under @source). */
static guint
count_partial (const char *dir,
               const char *source)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint count = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st, whole;

      g_assert_cmpint (lstat (path, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        {
          g_autofree char *from = g_build_filename (source, name, NULL);

          count += count_partial (path, from);
        }
      else if (g_str_has_suffix (name, ".foctet-part") && st.st_size > 0)
        {
          g_autofree char *base = g_strndup (name, strlen (name) - strlen (".foctet-part"));
          g_autofree char *from = g_build_filename (source, base, NULL);

          g_assert_cmpint (stat (from, &whole), ==, 0);
          if (st.st_size < whole.st_size)
            count++;
        }
    }
  return count;
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

static void
first_session_end_cb (FoctetTransferSender *sender,
                      const GError         *error,
                      GError              **first)
{
  if (*first == NULL)
    *first = error != NULL ? g_error_copy (error) : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "none");
}

/* A receive cancelled part-way leaves part files; the next one (while
 * the sender waits on) fetches only what is missing and verifies.
 *
 * The receiver may have up to MAX_QUEUED (8 MiB) handed to its I/O
 * threads beyond what it has reported done, and all of that can still
 * reach the disk after the cancel; a file of four times that keeps the
 * cancel at half of the total clear of the end. */
static void
test_resume (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autofree char *huge = NULL;
  g_autofree char *received = NULL;
  g_autoptr(GError) ended = NULL;
  gboolean served = FALSE;
  guint64 present, total;
  gulong id;

  make_tree (fixture->source);
  huge = g_build_filename (fixture->source, "huge.bin", NULL);
  write_file (huge, 32 * 1024 * 1024 + 5, rand, 0644);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  g_signal_connect (sender, "session-ended", G_CALLBACK (first_session_end_cb), &ended);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  id = g_signal_connect (receiver, "notify::bytes-done", G_CALLBACK (cancel_at_half_cb), cancellable);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_signal_handler_disconnect (receiver, id);
  g_assert_false (served);
  /* The sender heard why, in the middle of its DATA: the receiver's
   * ABORT, not a connection that broke. */
  for (gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC; ended == NULL;)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_test_message ("the sender: %s", ended->message);
  g_assert_true (g_str_has_prefix (ended->message, "The receiver aborted: cancelled (code 8)"));
  g_signal_handlers_disconnect_by_data (sender, &ended);

  total = foctet_transfer_receiver_get_bytes_total (receiver);
  present = bytes_present (fixture->output);
  g_test_message ("cancelled with %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes there", present, total);
  g_assert_cmpuint (present, >=, total / 2);
  g_assert_cmpuint (present, <, total);
  /* A large file stopped in the middle, its bytes kept for the next
   * receive. */
  received = g_build_filename (fixture->output, "tree", NULL);
  g_assert_cmpuint (count_partial (received, fixture->source), >, 0);

  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==, total - present);
  foctet_test_wait_for (&served, TIMEOUT);
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
  g_autoptr(FoctetNode) third = foctet_test_node_new ();
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
  foctet_test_node_shutdown (third, TIMEOUT);
}

typedef struct {
  FoctetTicket *ticket;
  FoctetTransferReceiver *second;
  char *output;
  GAsyncResult *result;
  gboolean started;
} Takeover;

static void
start_takeover_cb (FoctetTransferReceiver *receiver,
                   GParamSpec             *pspec,
                   Takeover               *t)
{
  g_autoptr(GFile) dir = NULL;

  if (t->started || foctet_transfer_receiver_get_bytes_done (receiver) == 0)
    return;
  t->started = TRUE;
  dir = g_file_new_for_path (t->output);
  foctet_transfer_receiver_receive_async (t->second, t->ticket, dir, FOCTET_TRANSFER_RECEIVE_NONE, NULL,
                                          foctet_test_store_result, &t->result);
}

/* The receiver's node (its NodeId) coming back on a new connection while
 * the sender still serves its old one — as after a kill -9, before the
 * sender noticed — takes over at once: the old connection is closed, the
 * new one served to the end (another node is told "busy": test_busy). */
static void
test_same_receiver_takes_over (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetNode) again = foctet_node_new (foctet_node_get_identity (fixture->receiver_node));
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (11);
  g_autofree char *huge = NULL;
  g_autofree char *tree = NULL;
  Takeover t = { 0 };
  gboolean served = FALSE;

  make_tree (fixture->source);
  huge = g_build_filename (fixture->source, "huge.bin", NULL);
  write_file (huge, 32 * 1024 * 1024, rand, 0644);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  t.ticket = ticket;
  t.second = foctet_transfer_receiver_new (again);
  t.output = g_build_filename (fixture->tmp, "second", NULL);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_signal_connect (receiver, "notify::bytes-done", G_CALLBACK (start_takeover_cb), &t);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("the first receive: %s", error->message);
  g_clear_error (&error);
  g_assert_true (t.started);

  {
    g_autoptr(GAsyncResult) result = foctet_test_wait_result (&t.result, TIMEOUT);

    g_assert_true (foctet_transfer_receiver_receive_finish (t.second, result, &error));
    g_assert_no_error (error);
  }
  foctet_test_wait_for (&served, TIMEOUT);
  tree = g_build_filename (t.output, "tree", NULL);
  compare_trees (fixture->source, tree);
  g_clear_object (&t.second);
  g_free (t.output);
  foctet_test_node_shutdown (again, TIMEOUT);
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

/* Files that change on the sender's side after the ticket: each GET of
 * them is answered with ERROR 6 (small ones inside a batch of answers,
 * the large one before its first chunk), the others arrive, the receive
 * fails naming what could not be verified; once the files are back as
 * offered, the same sender serves a second receive, which completes. */
static void
test_changed (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *tree = g_build_filename (fixture->output, "tree", NULL);
  const char *changed[] = { "small/f010", "small/f011", "small/f012", "big.bin" };
  GBytes *saved[G_N_ELEMENTS (changed)];
  mode_t modes[G_N_ELEMENTS (changed)];
  gboolean served = FALSE;

  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  for (guint i = 0; i < G_N_ELEMENTS (changed); i++)
    {
      g_autofree char *path = g_build_filename (fixture->source, changed[i], NULL);
      g_autofree char *content = NULL;
      gsize len = 0;
      struct stat st;

      g_assert_true (g_file_get_contents (path, &content, &len, NULL));
      g_assert_cmpuint (len, >, 1);
      g_assert_cmpint (stat (path, &st), ==, 0);
      saved[i] = g_bytes_new (content, len);
      modes[i] = st.st_mode & 0777;
      switch (i)
        {
        case 0:                       /* grew */
          {
            g_autofree char *longer = g_strnfill (len + 1, 'x');

            g_assert_true (g_file_set_contents (path, longer, len + 1, NULL));
          }
          break;
        case 1:                       /* gone */
          g_assert_cmpint (g_unlink (path), ==, 0);
          break;
        default:                      /* shrank */
          g_assert_cmpint (truncate (path, len - 1), ==, 0);
          break;
        }
    }

  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_VERIFICATION_FAILED);
  g_assert_nonnull (strstr (error->message, "4 files"));
  g_clear_error (&error);
  g_assert_false (served);
  for (guint i = 0; i < G_N_ELEMENTS (changed); i++)
    {
      g_autofree char *path = g_build_filename (tree, changed[i], NULL);

      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  /* The files before and after them in their batches arrived. */
  for (guint i = 5; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%03u", i);
      g_autofree char *path = g_build_filename (tree, "small", name, NULL);

      if (i < 10 || i > 12)
        g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }

  for (guint i = 0; i < G_N_ELEMENTS (changed); i++)
    {
      g_autofree char *path = g_build_filename (fixture->source, changed[i], NULL);

      g_assert_true (g_file_set_contents_full (path, g_bytes_get_data (saved[i], NULL), g_bytes_get_size (saved[i]),
                                               G_FILE_SET_CONTENTS_CONSISTENT, modes[i], NULL));
      g_assert_cmpint (g_chmod (path, modes[i]), ==, 0);
      g_bytes_unref (saved[i]);
    }
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  compare_trees (fixture->source, tree);
}

/* Empty files between large ones: on one stream (the first GETs all go
 * on the control stream), an empty file's DATA comes after a large
 * file's, whose 1 MiB buffers go back to a pool for the next large one;
 * the empty file has no buffer to give back. */
static void
test_empty_between (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(GFile) file = NULL;
  g_autofree char *src = g_build_filename (fixture->source, "between", NULL);
  g_autofree char *received = g_build_filename (fixture->output, "between", NULL);
  gboolean served = FALSE;

  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *name = g_strdup_printf ("%u%s", i, i % 2 == 0 ? ".bin" : ".txt");
      g_autofree char *path = g_build_filename (src, name, NULL);

      /* Exactly one buffer each: the last one of a file is a whole one. */
      write_file (path, i % 2 == 0 ? 1024 * 1024 : 0, rand, 0644);
    }
  file = g_file_new_for_path (src);
  sender = prepare_sender (fixture, &file, 1);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  compare_trees (src, received);
}

/* A lying sender, written with the codec: it announces a hash that
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
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];
  Liar model = { 0 };

  model.manifest = foctet_transfer_manifest_new ();
  model.contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  foctet_file_hash_compute ("the truth", strlen ("the truth"), digest);
  g_assert_true (foctet_transfer_manifest_add_file (model.manifest, "good.txt", 0644, 9, digest, NULL));
  g_ptr_array_add (model.contents, g_bytes_new_static ("the truth", 9));
  foctet_file_hash_compute ("what was announced", strlen ("what was announced"), digest);
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

/* The large tree: a 256 MiB file (32 MiB under the sanitizers, see
 * below), 5 000 small files in 50 directories, nested and empty
 * directories, empty files, non-ASCII names, several modes, and entries a
 * sender skips (a symbolic link pointing out, a FIFO).  Made once per
 * process from a seeded generator, shared by the /transfer/large tests. */

#ifdef FOCTET_TEST_SANITIZED
/* meson defines FOCTET_TEST_SANITIZED in builds with -Db_sanitize: there
 * every byte moved and every file made costs several times as much, and
 * the full tree over three transports takes minutes.  The sanitized build
 * checks the same code paths on a smaller tree: a 16 MiB file, 1 000
 * small files. */
#define LARGE_SIZE (16 * 1024 * 1024 + 3)
#define LARGE_N_SMALL 1000
#else
#define LARGE_SIZE (256 * 1024 * 1024 + 3)
#define LARGE_N_SMALL 5000
#endif
#define LARGE_TIMEOUT 240

static char *large_tmp;
static char *large_source;
static guint large_n_files;

static guint64
rng_next (guint64 *state)
{
  /* xorshift64*: fast, and the same bytes on every run. */
  guint64 x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * G_GUINT64_CONSTANT (0x2545F4914F6CDD1D);
}

/* Random bytes, made once: files are cut from it at random offsets, which
 * is much faster than a generator per byte (under the sanitizers above
 * all) and still gives every file, and every 1 MiB of the large one,
 * content of its own. */
#define POOL_SIZE (2 * 1024 * 1024)
static guint8 *pool;

static void
write_random (const char *path,
              guint64     size,
              guint64    *state,
              mode_t      mode)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

  if (pool == NULL)
    {
      pool = g_malloc (POOL_SIZE);
      for (gsize i = 0; i < POOL_SIZE; i += 8)
        {
          guint64 v = rng_next (state);

          memcpy (pool + i, &v, 8);
        }
    }
  g_assert_cmpint (fd, >=, 0);
  while (size > 0)
    {
      gsize n = MIN (size, POOL_SIZE / 2);

      g_assert_cmpint (write (fd, pool + rng_next (state) % (POOL_SIZE / 2), n), ==, (gssize) n);
      size -= n;
    }
  g_assert_cmpint (close (fd), ==, 0);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  large_n_files++;
}

static const char *
large_tree (void)
{
  static const mode_t modes[] = { 0644, 0600, 0755, 0640, 0444 };
  guint64 state = 0x5eed5eed5eedULL;
  gint64 start = g_get_monotonic_time ();
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;

  if (large_source != NULL)
    return large_source;
  large_tmp = foctet_test_make_tmpdir ();
  large_source = g_build_filename (large_tmp, "große Sammlung", NULL);
  make_dir (large_source, 0755);

  path = g_build_filename (large_source, "large.bin", NULL);
  write_random (path, LARGE_SIZE, &state, 0640);
  g_free (path);
  path = g_build_filename (large_source, "empty", NULL);
  write_random (path, 0, &state, 0644);
  g_free (path);
  path = g_build_filename (large_source, "empty dir", NULL);
  make_dir (path, 0750);
  g_free (path);

  /* Nested six deep, an empty file and an empty directory at the bottom. */
  dir = g_strdup (large_source);
  for (guint depth = 0; depth < 6; depth++)
    {
      g_autofree char *name = g_strdup_printf ("level %u — ñ", depth);
      char *next = g_build_filename (dir, name, NULL);

      make_dir (next, depth == 3 ? 0700 : 0755);
      g_free (dir);
      dir = next;
    }
  path = g_build_filename (dir, "leaf.txt", NULL);
  write_random (path, 4097, &state, 0600);
  g_free (path);
  path = g_build_filename (dir, "empty leaf", NULL);
  write_random (path, 0, &state, 0644);
  g_free (path);
  path = g_build_filename (dir, "ungefüllt", NULL);
  make_dir (path, 0755);
  g_free (path);

  /* Names beyond ASCII. */
  path = g_build_filename (large_source, "日本語のファイル.txt", NULL);
  write_random (path, 123457, &state, 0644);
  g_free (path);
  path = g_build_filename (large_source, "Ελληνικά ✓ 🎉", NULL);
  write_random (path, 9, &state, 0755);
  g_free (path);

  for (guint d = 0; d < LARGE_N_SMALL / 100; d++)
    {
      g_autofree char *name = g_strdup_printf ("small-%02u", d);
      g_autofree char *small = g_build_filename (large_source, name, NULL);

      make_dir (small, 0755);
      for (guint f = 0; f < 100; f++)
        {
          g_autofree char *file_name = g_strdup_printf ("f%03u%s", f, f % 10 == 0 ? "·é" : "");
          g_autofree char *file = g_build_filename (small, file_name, NULL);

          /* 0 to 8 KiB; every 17th empty. */
          write_random (file, f % 17 == 0 ? 0 : rng_next (&state) % 8193, &state,
                        modes[(d + f) % G_N_ELEMENTS (modes)]);
        }
    }

  /* Never offered: a link pointing out of the tree, a FIFO. */
  path = g_build_filename (large_source, "passwd", NULL);
  g_assert_cmpint (symlink ("/etc/passwd", path), ==, 0);
  g_free (path);
  path = g_build_filename (large_source, "fifo", NULL);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  g_test_message ("large tree made in %.2f s", (g_get_monotonic_time () - start) / 1e6);
  return large_source;
}

/* The large tree over the fixture's transport, compared byte for byte
 * and mode for mode. */
static void
test_large (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = g_file_new_for_path (large_tree ());
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *received = NULL;
  g_autofree char *base = NULL;
  GAsyncResult *slot = NULL;
  gboolean served = FALSE;
  gint64 start;
  double seconds;

  start = g_get_monotonic_time ();
  sender = foctet_transfer_sender_new (fixture->sender_node, &file, 1);
  foctet_transfer_sender_prepare_async (sender, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, LARGE_TIMEOUT);
  g_assert_true (foctet_transfer_sender_prepare_finish (sender, result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (foctet_transfer_sender_get_n_files (sender), ==, large_n_files);
  g_test_message ("hashed in %.2f s", (g_get_monotonic_time () - start) / 1e6);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);

  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  start = g_get_monotonic_time ();
  g_assert_true (receive_within (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL,
                                 LARGE_TIMEOUT, &error));
  g_assert_no_error (error);
  seconds = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("%s: %" G_GUINT64_FORMAT " bytes in %u files, %.2f s, %.2f Gbit/s", (const char *) data,
                  foctet_transfer_receiver_get_bytes_total (receiver),
                  foctet_transfer_receiver_get_files_total (receiver), seconds,
                  foctet_transfer_receiver_get_bytes_total (receiver) * 8 / seconds / 1e9);
  foctet_test_wait_for (&served, TIMEOUT);
  g_assert_cmpuint (foctet_transfer_receiver_get_files_done (receiver), ==, large_n_files);
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==,
                    foctet_transfer_receiver_get_bytes_total (receiver));
  base = g_path_get_basename (large_source);
  received = g_build_filename (fixture->output, base, NULL);
  compare_trees (large_source, received);
}

/* A scripted sender, written with the codec: it answers HELLO with
 * whatever MANIFEST bytes it is given (rules broken on purpose
 * included), and GETs from contents held in memory — in batches when
 * asked to, which makes pipelining visible: with a batch of K it answers
 * nothing until K GETs wait (or all that remain), so a receiver that
 * keeps fewer than K requests in flight never finishes, and N files take
 * at most ⌈N / K⌉ rounds. */

typedef struct {
  GBytes *manifest;                    /* the whole MANIFEST message */
  GPtrArray *contents;                 /* GBytes per entry, or NULL */
  guint n_files;                       /* GETs to expect, one per file */
  guint batch;                         /* 0: answer at once */

  GQueue waiting;                      /* FakeGet, in arrival order */
  guint answered;
  guint rounds;
  guint max_waiting;
  guint streams;
  guint live;                          /* streams still being read */
  int abort_code;                      /* of the ABORT received, or -1 */
  gboolean done;                       /* DONE answered with DONE_ACK */
  gboolean no_done_ack;                /* DONE is left unanswered */
  guint16 refuse_gets;                 /* answer each GET with this ERROR, if not 0 */
  GCancellable *cancel_at_done;        /* cancelled when DONE arrives */
} Fake;

typedef struct {
  Fake *fake;
  FoctetStream *stream;
  GByteArray *out;                     /* to write once the write in flight is done */
  GBytes *writing;
  gboolean reading;
} FakeStream;

typedef struct {
  FakeStream *stream;
  FoctetTransferMessage *get;
} FakeGet;

static void fake_stream_read (FakeStream *fs);

static void
fake_stream_maybe_free (FakeStream *fs)
{
  if (fs->reading || fs->writing != NULL)
    return;
  fs->fake->live--;
  g_io_stream_close_async (G_IO_STREAM (fs->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_object_unref (fs->stream);
  g_byte_array_unref (fs->out);
  g_free (fs);
}

static void fake_stream_flush (FakeStream *fs);

static void
fake_stream_written_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  FakeStream *fs = user_data;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);

  g_clear_pointer (&fs->writing, g_bytes_unref);
  if (!ok)
    g_byte_array_set_size (fs->out, 0);
  fake_stream_flush (fs);
  fake_stream_maybe_free (fs);
}

static void
fake_stream_flush (FakeStream *fs)
{
  if (fs->writing != NULL || fs->out->len == 0)
    return;
  fs->writing = g_byte_array_free_to_bytes (fs->out);
  fs->out = g_byte_array_new ();
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (fs->stream)),
                                   g_bytes_get_data (fs->writing, NULL), g_bytes_get_size (fs->writing),
                                   G_PRIORITY_DEFAULT, NULL, fake_stream_written_cb, fs);
}

static void
fake_stream_queue (FakeStream                  *fs,
                   const FoctetTransferMessage *message,
                   const guint8                *raw,
                   gsize                        raw_len)
{
  g_autoptr(GBytes) bytes = foctet_transfer_message_encode (message);

  g_byte_array_append (fs->out, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  if (raw_len > 0)
    g_byte_array_append (fs->out, raw, raw_len);
}

/* Answers every GET waiting, if enough wait. */
static void
fake_release (Fake *fake)
{
  guint waiting = g_queue_get_length (&fake->waiting);
  FakeGet *get;

  fake->max_waiting = MAX (fake->max_waiting, waiting);
  if (waiting == 0 || waiting < MIN (fake->batch, fake->n_files - fake->answered))
    return;
  fake->rounds++;
  while ((get = g_queue_pop_head (&fake->waiting)) != NULL)
    {
      GBytes *content = g_ptr_array_index (fake->contents, get->get->index);
      g_autoptr(FoctetTransferMessage) data = foctet_transfer_message_new_data (get->get->index,
                                                                                get->get->offset,
                                                                                get->get->length);

      fake_stream_queue (get->stream, data, (const guint8 *) g_bytes_get_data (content, NULL) + get->get->offset,
                         get->get->length);
      fake_stream_flush (get->stream);
      fake->answered++;
      foctet_transfer_message_free (get->get);
      g_free (get);
    }
}

static void
fake_message_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  FakeStream *fs = user_data;
  Fake *fake = fs->fake;
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(FoctetTransferMessage) answer = NULL;

  message = foctet_transfer_message_read_finish (G_INPUT_STREAM (source), result, NULL);
  if (message == NULL || message->type == FOCTET_TRANSFER_MESSAGE_ABORT)
    {
      if (message != NULL)
        fake->abort_code = message->error_code;
      fs->reading = FALSE;
      fake_stream_maybe_free (fs);
      return;
    }
  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      g_byte_array_append (fs->out, g_bytes_get_data (fake->manifest, NULL), g_bytes_get_size (fake->manifest));
      fake_stream_flush (fs);
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      if (fake->refuse_gets != 0)
        {
          answer = foctet_transfer_message_new_error (fake->refuse_gets, "refused by the test");
          fake_stream_queue (fs, answer, NULL, 0);
          fake_stream_flush (fs);
          break;
        }
      {
        FakeGet *get = g_new0 (FakeGet, 1);

        get->stream = fs;
        get->get = g_steal_pointer (&message);
        g_queue_push_tail (&fake->waiting, get);
        fake_release (fake);
      }
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      g_assert_cmpuint (g_queue_get_length (&fake->waiting), ==, 0);
      if (fake->cancel_at_done != NULL)
        g_cancellable_cancel (fake->cancel_at_done);
      if (fake->no_done_ack)
        break;
      answer = foctet_transfer_message_new_done_ack ();
      fake_stream_queue (fs, answer, NULL, 0);
      fake_stream_flush (fs);
      fake->done = TRUE;
      break;
    default:
      g_error ("the receiver sent %s", foctet_transfer_message_type_to_string (message->type));
    }
  fake_stream_read (fs);
}

static void
fake_stream_read (FakeStream *fs)
{
  fs->reading = TRUE;
  foctet_transfer_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (fs->stream)),
                                      G_PRIORITY_DEFAULT, NULL, fake_message_cb, fs);
}

static void
fake_handler (FoctetNode       *node,
              FoctetConnection *connection,
              FoctetStream     *stream,
              gpointer          user_data)
{
  Fake *fake = user_data;
  FakeStream *fs = g_new0 (FakeStream, 1);

  fs->fake = fake;
  fs->stream = g_object_ref (stream);
  fs->out = g_byte_array_new ();
  fake->streams++;
  fake->live++;
  fake_stream_read (fs);
}

static void
fake_start (Fixture *fixture,
            Fake    *fake)
{
  g_queue_init (&fake->waiting);
  fake->abort_code = -1;
  foctet_node_set_protocol_handler (fixture->sender_node, FOCTET_PROTOCOL_TRANSFER, fake_handler, fake, NULL);
}

/* After the receive: its connection closes, the streams end. */
static void
fake_stop (Fixture *fixture,
           Fake    *fake)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT * G_USEC_PER_SEC;

  while (fake->live > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (fake->live, ==, 0);
  foctet_node_set_protocol_handler (fixture->sender_node, FOCTET_PROTOCOL_TRANSFER, NULL, NULL, NULL);
  g_queue_clear_full (&fake->waiting, g_free);
}

static const guint8 fake_secret[FOCTET_TRANSFER_SECRET_SIZE] = { 7, 7, 7 };

/* 10 000 files of 1 KiB, answered only 64 GETs at a time: the receive
 * completes only if the receiver keeps at least 64 requests in flight
 * across its streams, and then takes at most ⌈10 000 / 64⌉ = 157 rounds
 * instead of 10 000 round trips.  (A receiver that waits for each answer
 * before its next GET never gets one: the test fails on its time-out.) */
#ifdef FOCTET_TEST_SANITIZED
/* Fewer files under the sanitizers (see LARGE_SIZE): still 40 rounds. */
#define PIPELINE_FILES 2500
#else
#define PIPELINE_FILES 10000
#endif
#define PIPELINE_BATCH 64

static void
test_pipelining (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *many = g_build_filename (fixture->output, "many", NULL);
  guint64 state = 1;
  Fake fake = { 0 };
  gint64 start;

  fake.contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_assert_true (foctet_transfer_manifest_add_directory (manifest, "many", 0755, &error));
  g_ptr_array_add (fake.contents, g_bytes_new (NULL, 0));
  for (guint i = 0; i < PIPELINE_FILES; i++)
    {
      g_autofree char *path = g_strdup_printf ("many/%05u", i);
      guint8 content[1024], digest[FOCTET_TRANSFER_DIGEST_SIZE];

      for (gsize j = 0; j < sizeof content; j += 8)
        {
          guint64 v = rng_next (&state);

          memcpy (content + j, &v, 8);
        }
      foctet_file_hash_compute (content, sizeof content, digest);
      g_assert_true (foctet_transfer_manifest_add_file (manifest, path, 0644, sizeof content, digest, &error));
      g_ptr_array_add (fake.contents, g_bytes_new (content, sizeof content));
    }
  message = foctet_transfer_message_new_manifest (manifest);
  fake.manifest = foctet_transfer_message_encode (message);
  fake.n_files = PIPELINE_FILES;
  fake.batch = PIPELINE_BATCH;
  fake_start (fixture, &fake);

  ticket = ticket_with_secret (fixture->sender_node, fake_secret);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  start = g_get_monotonic_time ();
  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("%u files in %u rounds on %u streams, at most %u GETs waiting at once, %.2f s",
                  PIPELINE_FILES, fake.rounds, fake.streams, fake.max_waiting,
                  (g_get_monotonic_time () - start) / 1e6);
  fake_stop (fixture, &fake);

  g_assert_true (fake.done);
  g_assert_cmpint (fake.abort_code, ==, -1);
  g_assert_cmpuint (fake.answered, ==, PIPELINE_FILES);
  g_assert_cmpuint (fake.rounds, <=, (PIPELINE_FILES + PIPELINE_BATCH - 1) / PIPELINE_BATCH);
  g_assert_cmpuint (fake.max_waiting, >=, PIPELINE_BATCH);
  g_assert_cmpuint (fake.streams, >, 1);
  g_assert_cmpuint (foctet_transfer_receiver_get_files_done (receiver), ==, PIPELINE_FILES);
  /* A sample, byte for byte. */
  for (guint i = 0; i < PIPELINE_FILES; i += 997)
    {
      g_autofree char *name = g_strdup_printf ("%05u", i);
      g_autofree char *path = g_build_filename (many, name, NULL);
      g_autofree char *content = NULL;
      gsize len = 0;
      GBytes *expected = g_ptr_array_index (fake.contents, i + 1);

      g_assert_true (g_file_get_contents (path, &content, &len, NULL));
      g_assert_cmpmem (content, len, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
    }
  g_bytes_unref (fake.manifest);
  g_ptr_array_unref (fake.contents);
}

/* The messages the sender writes on @stream until it ends it: each one
 * (a DATA's bytes skipped); *@reset says whether it ended with a reset
 * rather than a clean end. */
static GPtrArray *
read_answers (FoctetStream *stream,
              gboolean     *reset)
{
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_transfer_message_free);
  g_autoptr(GByteArray) in = g_byte_array_new ();
  guint64 skip = 0;

  *reset = FALSE;
  for (guint reads = 0; reads < 10000; reads++)
    {
      g_autoptr(GError) error = NULL;
      guint8 buf[65536];
      gssize n = foctet_test_stream_read_some (stream, buf, sizeof buf, &error, TIMEOUT);

      if (n < 0)
        {
          g_test_message ("the stream ended with: %s", error->message);
          *reset = TRUE;
          return g_steal_pointer (&messages);
        }
      if (n == 0)
        {
          g_assert_cmpuint (in->len, ==, 0);
          g_assert_cmpuint (skip, ==, 0);
          return g_steal_pointer (&messages);
        }
      g_byte_array_append (in, buf, n);
      for (;;)
        {
          FoctetTransferMessage *message = NULL;
          gsize consumed = 0;

          if (skip > 0)
            {
              gsize dropped = MIN (skip, in->len);

              g_byte_array_remove_range (in, 0, dropped);
              skip -= dropped;
              if (skip > 0)
                break;
            }
          if (!foctet_transfer_message_parse (in->data, in->len, &consumed, &message, &error))
            {
              g_assert_no_error (error);
              break;
            }
          g_byte_array_remove_range (in, 0, consumed);
          if (message->type == FOCTET_TRANSFER_MESSAGE_DATA)
            skip = message->length;
          g_ptr_array_add (messages, message);
        }
    }
  g_assert_not_reached ();
}

/* A data stream of a session with the real sender, on a connection of
 * its own; *@control is the session's control stream (its MANIFEST read). */
static FoctetStream *
open_data_stream (Fixture          *fixture,
                  FoctetTicket     *ticket,
                  FoctetConnection **connection,
                  FoctetStream     **control)
{
  g_autoptr(FoctetTransferMessage) hello = NULL;
  g_autoptr(GBytes) hello_bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTransferMessage) manifest = NULL;
  g_autoptr(GByteArray) in = g_byte_array_new ();
  g_autoptr(GBytes) secret = foctet_ticket_get_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY);
  FoctetStream *data;

  g_assert_nonnull (secret);
  *connection = foctet_test_node_dial (fixture->receiver_node, ticket, NULL, NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  *control = foctet_test_open_stream (*connection, FOCTET_PROTOCOL_TRANSFER, &error, TIMEOUT);
  g_assert_no_error (error);
  hello = foctet_transfer_message_new_hello (secret);
  hello_bytes = foctet_transfer_message_encode (hello);
  foctet_test_stream_write_all (*control, g_bytes_get_data (hello_bytes, NULL), g_bytes_get_size (hello_bytes),
                                TIMEOUT);
  for (guint reads = 0; manifest == NULL; reads++)
    {
      guint8 buf[4096];
      gsize consumed = 0;
      gssize n = foctet_test_stream_read_some (*control, buf, sizeof buf, &error, TIMEOUT);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_assert_cmpuint (reads, <, 1000);
      g_byte_array_append (in, buf, n);
      if (foctet_transfer_message_parse (in->data, in->len, &consumed, &manifest, &error))
        g_assert_cmpint (manifest->type, ==, FOCTET_TRANSFER_MESSAGE_MANIFEST);
      g_assert_no_error (error);
    }
  data = foctet_test_open_stream (*connection, FOCTET_PROTOCOL_TRANSFER, &error, TIMEOUT);
  g_assert_no_error (error);
  return data;
}

/* GETs pipelined before a bad message are answered, in order, and then
 * the ERROR comes in the bad message's turn: for a message that has no
 * place on a data stream (4), one that does not parse (1), and one the
 * stream ended in the middle of (1).  Then a HELLO where a session is
 * open already. */
static void
test_answers_before_error (Fixture       *fixture,
                           gconstpointer  data)
{
  static const struct {
    const char *name;
    guint16 code;
  } cases[] = {
    { "a DONE on a data stream", FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE },
    { "an unknown type", FOCTET_TRANSFER_ERROR_CODE_MALFORMED },
    { "a truncated GET", FOCTET_TRANSFER_ERROR_CODE_MALFORMED },
  };
  g_autofree char *path = g_build_filename (fixture->tmp, "one.bin", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  write_file (path, 3 * 1024 * 1024, rand, 0644);
  sender = prepare_sender (fixture, &file, 1);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, cancellable, foctet_test_store_result, &slot);

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr(FoctetConnection) connection = NULL;
      g_autoptr(FoctetStream) control = NULL;
      g_autoptr(FoctetStream) stream = NULL;
      g_autoptr(GByteArray) out = g_byte_array_new ();
      g_autoptr(GPtrArray) answers = NULL;
      guint8 range[FOCTET_TRANSFER_RANGE_MESSAGE_SIZE];
      FoctetTransferMessage *last;
      gboolean reset;

      g_test_message ("GETs, then %s", cases[c].name);
      stream = open_data_stream (fixture, ticket, &connection, &control);
      /* A large GET and a small one, in one write with what follows. */
      foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_GET, 0, 0, 2 * 1024 * 1024, range);
      g_byte_array_append (out, range, sizeof range);
      foctet_transfer_message_encode_range (FOCTET_TRANSFER_MESSAGE_GET, 0, 100, 1000, range);
      g_byte_array_append (out, range, sizeof range);
      if (c == 0)
        {
          g_autoptr(FoctetTransferMessage) done = foctet_transfer_message_new_done (1);
          g_autoptr(GBytes) bytes = foctet_transfer_message_encode (done);

          g_byte_array_append (out, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
        }
      else if (c == 1)
        {
          static const guint8 unknown[] = { 0x09, 0, 0, 0, 0 };

          g_byte_array_append (out, unknown, sizeof unknown);
        }
      else
        g_byte_array_append (out, range, 7);
      foctet_test_stream_write_all (stream, out->data, out->len, TIMEOUT);
      foctet_test_stream_close_write (stream, TIMEOUT);

      answers = read_answers (stream, &reset);
      g_assert_false (reset);
      g_assert_cmpuint (answers->len, ==, 3);
      g_assert_cmpint (((FoctetTransferMessage *) answers->pdata[0])->type, ==, FOCTET_TRANSFER_MESSAGE_DATA);
      g_assert_cmpuint (((FoctetTransferMessage *) answers->pdata[0])->length, ==, 2 * 1024 * 1024);
      g_assert_cmpint (((FoctetTransferMessage *) answers->pdata[1])->type, ==, FOCTET_TRANSFER_MESSAGE_DATA);
      g_assert_cmpuint (((FoctetTransferMessage *) answers->pdata[1])->offset, ==, 100);
      last = answers->pdata[2];
      g_assert_cmpint (last->type, ==, FOCTET_TRANSFER_MESSAGE_ERROR);
      g_test_message ("ERROR %u: %s", last->error_code, last->error_text);
      g_assert_cmpuint (last->error_code, ==, cases[c].code);
      foctet_test_close_connection (connection, FOCTET_CLOSE_CODE_NO_ERROR, "next case", TIMEOUT);
    }

  /* A HELLO on another stream of the connection whose session is open:
   * ERROR 4, as a second HELLO is, not 3 (busy with another receiver). */
  {
    g_autoptr(FoctetConnection) connection = NULL;
    g_autoptr(FoctetStream) control = NULL;
    g_autoptr(FoctetStream) stream = NULL;
    g_autoptr(GBytes) secret = foctet_ticket_get_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY);
    g_autoptr(FoctetTransferMessage) hello = foctet_transfer_message_new_hello (secret);
    g_autoptr(GBytes) bytes = foctet_transfer_message_encode (hello);
    g_autoptr(GPtrArray) answers = NULL;
    FoctetTransferMessage *answer;
    gboolean reset;

    stream = open_data_stream (fixture, ticket, &connection, &control);
    foctet_test_stream_write_all (stream, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), TIMEOUT);
    foctet_test_stream_close_write (stream, TIMEOUT);
    answers = read_answers (stream, &reset);
    g_assert_false (reset);
    g_assert_cmpuint (answers->len, ==, 1);
    answer = answers->pdata[0];
    g_assert_cmpint (answer->type, ==, FOCTET_TRANSFER_MESSAGE_ERROR);
    g_test_message ("a second HELLO: ERROR %u: %s", answer->error_code, answer->error_text);
    g_assert_cmpuint (answer->error_code, ==, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE);
    foctet_test_close_connection (connection, FOCTET_CLOSE_CODE_NO_ERROR, "done", TIMEOUT);
  }
  g_cancellable_cancel (cancellable);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_false (foctet_transfer_sender_serve_finish (sender, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* A scripted sender's offer of one file, "hello.txt". */
static void
fake_one_file (Fake *fake)
{
  g_autoptr(FoctetTransferManifest) manifest = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];

  fake->contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  foctet_file_hash_compute ((const guint8 *) "hello", 5, digest);
  g_assert_true (foctet_transfer_manifest_add_file (manifest, "hello.txt", 0644, 5, digest, &error));
  g_assert_no_error (error);
  g_ptr_array_add (fake->contents, g_bytes_new_static ("hello", 5));
  message = foctet_transfer_message_new_manifest (manifest);
  fake->manifest = foctet_transfer_message_encode (message);
  fake->n_files = 1;
}

/* The receive is cancelled while it waits for DONE_ACK (every file
 * verified, DONE sent, the sender silent): it ends, at once and once,
 * whatever the ABORT it writes then finds on the control stream (its own
 * read for DONE_ACK, cancelled). */
static void
test_cancel_waiting_done_ack (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Fake fake = { 0 };
  gint64 start;

  fake_one_file (&fake);
  fake.no_done_ack = TRUE;
  fake.cancel_at_done = cancellable;
  fake_start (fixture, &fake);

  ticket = ticket_with_secret (fixture->sender_node, fake_secret);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  start = g_get_monotonic_time ();
  g_assert_false (receive_within (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, cancellable,
                                  TIMEOUT, &error));
  g_test_message ("%s after %.2f s", error->message, (g_get_monotonic_time () - start) / 1e6);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Not the 5 s DONE_ACK wait: the ABORT's own wait is 2 s at most. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  fake_stop (fixture, &fake);
  g_assert_cmpint (fake.abort_code, ==, FOCTET_TRANSFER_ERROR_CODE_CANCELLED);
  g_bytes_unref (fake.manifest);
  g_ptr_array_unref (fake.contents);
}

/* A sender's ERROR that ends a stream in the middle of the fetch (2:
 * the sender lost the session): the receiver gives up, and its ABORT
 * repeats the code. */
static void
test_abort_repeats_error (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  Fake fake = { 0 };

  fake_one_file (&fake);
  fake.refuse_gets = FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET;
  fake_start (fixture, &fake);

  ticket = ticket_with_secret (fixture->sender_node, fake_secret);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "refused by the test"));
  fake_stop (fixture, &fake);
  g_assert_cmpint (fake.abort_code, ==, FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET);
  g_bytes_unref (fake.manifest);
  g_ptr_array_unref (fake.contents);
}

/* Hostile manifests, encoded by hand (the codec's builder refuses to make
 * them): every one is refused, with ABORT 1 to the sender, and nothing is
 * written anywhere. */

typedef struct {
  guint8 kind;
  guint32 mode;
  guint64 size;
  const char *path;
  gsize path_len;                      /* 0: strlen (path) */
} RawEntry;

static void
put_be (GByteArray *out,
        guint64     value,
        guint       bytes)
{
  for (guint i = bytes; i-- > 0;)
    {
      guint8 b = (value >> (8 * i)) & 0xff;

      g_byte_array_append (out, &b, 1);
    }
}

/* A MANIFEST message; @count and @total are taken as given when not
 * G_MAXUINT64, else computed; @length likewise. */
static GBytes *
raw_manifest (const RawEntry *entries,
              guint           n,
              guint64         count,
              guint64         total,
              guint64         length)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();
  guint64 sum = 0;
  guint8 type = FOCTET_TRANSFER_MESSAGE_MANIFEST;
  static const guint8 zero_sha[FOCTET_TRANSFER_DIGEST_SIZE] = { 0 };

  for (guint i = 0; i < n; i++)
    {
      gsize len = entries[i].path_len != 0 ? entries[i].path_len : strlen (entries[i].path);

      put_be (body, entries[i].kind, 1);
      put_be (body, entries[i].mode, 4);
      put_be (body, entries[i].size, 8);
      if (entries[i].kind != FOCTET_TRANSFER_ENTRY_DIRECTORY)
        g_byte_array_append (body, zero_sha, sizeof zero_sha);
      put_be (body, len, 2);
      g_byte_array_append (body, (const guint8 *) entries[i].path, len);
      sum += entries[i].size;
    }
  g_byte_array_append (out, &type, 1);
  put_be (out, length != G_MAXUINT64 ? length : body->len + 12, 4);
  put_be (out, count != G_MAXUINT64 ? count : n, 4);
  put_be (out, total != G_MAXUINT64 ? total : sum, 8);
  g_byte_array_append (out, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

#define D(path) { FOCTET_TRANSFER_ENTRY_DIRECTORY, 0755, 0, path, 0 }
#define F(path) { FOCTET_TRANSFER_ENTRY_FILE, 0644, 4, path, 0 }

static void
test_hostile_manifest (Fixture       *fixture,
                       gconstpointer  data)
{
  static char long_component[300];
  static char long_path[4200];
  static const RawEntry absolute[] = { F ("/tmp/evil") };
  static const RawEntry dotdot[] = { F ("../evil") };
  static const RawEntry inner_dotdot[] = { D ("d"), F ("d/../../evil") };
  static const RawEntry dot[] = { D ("d"), F ("d/./evil") };
  static const RawEntry double_slash[] = { D ("d"), F ("d//evil") };
  static const RawEntry trailing_slash[] = { D ("d/") };
  static const RawEntry backslash[] = { F ("..\\evil") };
  static const RawEntry control[] = { F ("ev\x1bil") };
  static const RawEntry nul[] = { { FOCTET_TRANSFER_ENTRY_FILE, 0644, 4, "evil\0.txt", 9 } };
  static const RawEntry part_suffix[] = { F ("evil.foctet-part") };
  static const RawEntry bad_utf8[] = { F ("ev\xc0\xafil") };
  static const RawEntry empty[] = { { FOCTET_TRANSFER_ENTRY_FILE, 0644, 4, "", 0 } };
  static const RawEntry no_parent[] = { F ("nowhere/evil") };
  static const RawEntry under_file[] = { F ("f"), F ("f/evil") };
  static const RawEntry duplicate[] = { F ("evil"), F ("evil") };
  static const RawEntry device[] = { { 2, 0644, 0, "evil", 0 } };
  static const RawEntry setuid[] = { { FOCTET_TRANSFER_ENTRY_FILE, 04755, 4, "evil", 0 } };
  static const RawEntry type_bits[] = { { FOCTET_TRANSFER_ENTRY_FILE, 0100644, 4, "evil", 0 } };
  static const RawEntry sized_dir[] = { { FOCTET_TRANSFER_ENTRY_DIRECTORY, 0755, 4, "evil", 0 } };
  static const RawEntry huge[] = { { FOCTET_TRANSFER_ENTRY_FILE, 0644, (G_GUINT64_CONSTANT (1) << 50) + 1,
                                     "evil", 0 } };
  static RawEntry too_long_component[] = { F ("") };
  static RawEntry too_long_path[] = { F ("") };
  const struct {
    const char *what;
    const RawEntry *entries;
    guint n;
    guint64 count, total, length;
  } cases[] = {
    { "absolute path", absolute, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "..", dotdot, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { ".. inside", inner_dotdot, 2, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { ".", dot, 2, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "//", double_slash, 2, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "trailing /", trailing_slash, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "backslash", backslash, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "control character", control, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "NUL", nul, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "part-file name", part_suffix, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "overlong UTF-8", bad_utf8, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "empty path", empty, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "component of 256 bytes", too_long_component, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "path of 4097 bytes", too_long_path, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "parent not listed", no_parent, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "entry under a file", under_file, 2, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "duplicate", duplicate, 2, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "kind 2 (a device, a link)", device, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "set-user-ID mode", setuid, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "file-type bits in the mode", type_bits, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "directory with a size", sized_dir, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "file over 1 PiB", huge, 1, G_MAXUINT64, G_MAXUINT64, G_MAXUINT64 },
    { "total not the sum", absolute + 0, 0, 0, 5, G_MAXUINT64 },
    { "1 000 001 entries announced", NULL, 0, FOCTET_TRANSFER_MAX_ENTRIES + 1, 0, G_MAXUINT64 },
    { "more entries announced than sent", duplicate, 1, 2, G_MAXUINT64, G_MAXUINT64 },
    { "body of 64 MiB + 1", NULL, 0, 0, 0, FOCTET_TRANSFER_MESSAGE_MAX_BODY + 1 },
    { "body longer than its entries", NULL, 0, 0, 0, 13 },
  };
  g_autoptr(FoctetTransferReceiver) receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_autoptr(FoctetTicket) ticket = ticket_with_secret (fixture->sender_node, fake_secret);

  memset (long_component, 'x', 256);
  too_long_component[0].path = long_component;
  too_long_component[0].path_len = 256;
  for (guint i = 0; i < sizeof long_path - 1; i++)
    long_path[i] = i % 200 == 199 ? '/' : 'y';
  too_long_path[0].path = long_path;
  too_long_path[0].path_len = 4097;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      Fake fake = { 0 };

      fake.manifest = raw_manifest (cases[i].entries, cases[i].n, cases[i].count, cases[i].total, cases[i].length);
      if (cases[i].length == 13)
        {
          /* One byte after an empty list. */
          GByteArray *grown = g_bytes_unref_to_array (fake.manifest);

          g_byte_array_append (grown, (const guint8 *) "x", 1);
          fake.manifest = g_byte_array_free_to_bytes (grown);
        }
      fake_start (fixture, &fake);
      g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
      g_test_message ("%s: %s", cases[i].what, error->message);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      g_assert_null (strchr (error->message, '\n'));
      fake_stop (fixture, &fake);
      g_assert_cmpint (fake.abort_code, ==, FOCTET_TRANSFER_ERROR_CODE_MALFORMED);
      g_assert_false (fake.done);
      /* Nothing written, inside the output directory or out of it: a
       * missing output directory is made only for a manifest that
       * passed, so it is not even there. */
      g_assert_false (g_file_test (fixture->output, G_FILE_TEST_EXISTS));
      {
        g_autofree char *evil = g_build_filename (fixture->tmp, "evil", NULL);

        g_assert_false (g_file_test (evil, G_FILE_TEST_EXISTS));
      }
      g_bytes_unref (fake.manifest);
    }

  /* A well-formed message that is no answer to HELLO: ABORT 4, not 1. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetTransferMessage) ack = foctet_transfer_message_new_done_ack ();
    Fake fake = { 0 };

    fake.manifest = foctet_transfer_message_encode (ack);
    fake_start (fixture, &fake);
    g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
    g_test_message ("DONE_ACK for MANIFEST: %s", error->message);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
    fake_stop (fixture, &fake);
    g_assert_cmpint (fake.abort_code, ==, FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE);
    g_assert_false (g_file_test (fixture->output, G_FILE_TEST_EXISTS));
    g_bytes_unref (fake.manifest);
  }
}

#undef D
#undef F

/* What must never be sent or written through: a sender skips symbolic
 * links (one pointing out of the tree), FIFOs and device nodes inside a
 * directory and refuses them named directly; a receiver never writes
 * through a symbolic link that sits where a file or its part file goes. */
static void
test_special_files (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *fifo = g_build_filename (fixture->source, "fifo", NULL);
  g_autofree char *device = g_build_filename (fixture->source, "null", NULL);
  g_autofree char *out_link = g_build_filename (fixture->source, "a", "outside", NULL);
  g_autofree char *victim = g_build_filename (fixture->tmp, "victim", NULL);
  g_autofree char *tree = g_build_filename (fixture->output, "tree", NULL);
  g_autofree char *big_part = g_build_filename (tree, "big.bin.foctet-part", NULL);
  g_autofree char *deep_dir = g_build_filename (tree, "a", "b", "c", NULL);
  g_autofree char *deep = g_build_filename (deep_dir, "deep.bin", NULL);
  g_autofree char *content = NULL;
  g_autoptr(GFile) fifo_file = NULL;
  GAsyncResult *slot = NULL;
  gboolean served = FALSE;

  make_tree (fixture->source);
  g_assert_true (g_file_set_contents (victim, "precious", -1, NULL));
  g_assert_cmpint (symlink (victim, out_link), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  if (geteuid () == 0)
    g_assert_cmpint (mknod (device, S_IFCHR | 0666, makedev (1, 3)), ==, 0);

  /* A FIFO named directly is refused (and not opened: that would block). */
  fifo_file = g_file_new_for_path (fifo);
  sender = foctet_transfer_sender_new (fixture->sender_node, &fifo_file, 1);
  foctet_transfer_sender_prepare_async (sender, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_false (foctet_transfer_sender_prepare_finish (sender, result, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_object (&sender);

  /* Inside the tree they are skipped. */
  sender = prepare_tree_sender (fixture);
  g_assert_cmpuint (foctet_transfer_sender_get_n_files (sender), ==, N_SMALL + 5);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);

  /* Links the receiver finds where a part file and a file go, both
   * pointing at a file outside. */
  g_assert_cmpint (g_mkdir_with_parents (tree, 0755), ==, 0);
  g_assert_cmpint (symlink (victim, big_part), ==, 0);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_FORCE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "big.bin.foctet-part"));
  g_clear_error (&error);
  g_assert_cmpint (g_unlink (big_part), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (deep_dir, 0755), ==, 0);
  g_assert_cmpint (symlink (victim, deep), ==, 0);
  g_assert_false (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_FORCE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "deep.bin"));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (victim, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "precious");
  g_assert_cmpint (g_unlink (deep), ==, 0);

  g_assert_true (receive (receiver, ticket, fixture->output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  /* compare_trees: neither the link, the FIFO nor the device came. */
  compare_trees (fixture->source, tree);
}

/* Disk full, on a small tmpfs the test mounts (root only): more than fits
 * is refused before anything is fetched; a write that fails half-way (the
 * space check passed, but every small file takes a page) ends the receive
 * with one line naming the condition; either way no final file is left
 * incomplete. */

static gboolean private_mounts;

static void
mount_fs (Fixture    *fixture,
          const char *type,
          const char *options)
{
  fixture->mount_point = g_build_filename (fixture->tmp, "small-disk", NULL);
  g_assert_cmpint (g_mkdir (fixture->mount_point, 0755), ==, 0);
  if (mount ("foctet-test", fixture->mount_point, type, MS_NOSUID | MS_NODEV, options) < 0)
    g_error ("mounting a %s on %s: %s", type, fixture->mount_point, g_strerror (errno));
}

static void
mount_tmpfs (Fixture    *fixture,
             const char *size)
{
  g_autofree char *options = g_strdup_printf ("size=%s,mode=0755", size);

  mount_fs (fixture, "tmpfs", options);
}

/* Every final (not part) file under @received is complete: the same as
 * the one offered. */
static guint
check_final_files (const char *offered,
                   const char *received)
{
  g_autoptr(GDir) dir = g_dir_open (received, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *a = g_build_filename (offered, name, NULL);
      g_autofree char *b = g_build_filename (received, name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (b, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        n += check_final_files (a, b);
      else if (!g_str_has_suffix (name, FOCTET_TRANSFER_PART_SUFFIX))
        {
          struct stat so;

          g_assert_true (S_ISREG (st.st_mode));
          g_assert_cmpint (stat (a, &so), ==, 0);
          g_assert_cmpint (so.st_size, ==, st.st_size);
          compare_files (a, b);
          n++;
        }
    }
  return n;
}

static void
serve_ended_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  foctet_transfer_sender_serve_finish (FOCTET_TRANSFER_SENDER (source), result, &error);
  *(gboolean *) user_data = TRUE;
}

static void
test_disk_full (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GCancellable) stop = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);
  g_autofree char *output = NULL;
  g_autofree char *tree = NULL;
  g_autofree char *many = g_build_filename (fixture->source, "many", NULL);
  g_autofree char *many_out = NULL;
  gboolean ended = FALSE;
  guint complete;

  if (geteuid () != 0)
    {
      g_test_skip ("mounting a small tmpfs needs root");
      return;
    }
  if (!private_mounts)
    g_test_message ("no private mount namespace: the tmpfs is unmounted in the teardown only");

  /* Too much for the disk: refused before fetching. */
  mount_tmpfs (fixture, "1m");
  output = g_build_filename (fixture->mount_point, "in", NULL);
  tree = g_build_filename (output, "tree", NULL);
  make_tree (fixture->source);
  sender = prepare_tree_sender (fixture);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, stop, serve_ended_cb, &ended);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_false (receive (receiver, ticket, output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (error->message, "No space left"));
  g_assert_null (strchr (error->message, '\n'));
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==, 0);
  g_assert_cmpuint (check_final_files (fixture->source, tree), ==, 0);
  g_clear_error (&error);
  g_cancellable_cancel (stop);
  foctet_test_wait_for (&ended, TIMEOUT);
  g_clear_object (&sender);
  g_clear_object (&ticket);

  /* 600 files of 100 bytes: 60 KB by their sizes, but a page each on a
   * tmpfs of 256 pages — the space check passes, a write fails. */
  g_assert_cmpint (g_mkdir (many, 0755), ==, 0);
  for (guint i = 0; i < 600; i++)
    {
      g_autofree char *name = g_strdup_printf ("%03u", i);
      g_autofree char *path = g_build_filename (many, name, NULL);

      write_file (path, 100, rand, 0644);
    }
  {
    g_autoptr(GFile) file = g_file_new_for_path (many);

    sender = prepare_sender (fixture, &file, 1);
  }
  ticket = foctet_transfer_sender_get_ticket (sender);
  ended = FALSE;
  g_clear_object (&stop);
  stop = g_cancellable_new ();
  foctet_transfer_sender_serve_async (sender, stop, serve_ended_cb, &ended);
  g_assert_false (receive (receiver, ticket, output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (error->message, "No space left"));
  g_assert_null (strchr (error->message, '\n'));
  many_out = g_build_filename (output, "many", NULL);
  complete = check_final_files (many, many_out);
  g_test_message ("%u files complete when the disk was full", complete);
  g_assert_cmpuint (complete, >, 0);
  g_assert_cmpuint (complete, <, 600);
  g_cancellable_cancel (stop);
  foctet_test_wait_for (&ended, TIMEOUT);
}

/* Large files (16 MiB and more) are written around the page cache
 * (O_DIRECT) where the file system allows it.  Here it does not (ramfs
 * refuses O_DIRECT; tmpfs no longer does since Linux 6.6): they are
 * written through the cache instead, and arrive the same.  One of them
 * resumes from a part file of an odd length, which is written through
 * the cache anywhere. */
static void
test_no_direct (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(FoctetTransferSender) sender = NULL;
  g_autoptr(FoctetTransferReceiver) receiver = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (16);
  g_autoptr(GFile) file = NULL;
  g_autofree char *src = g_build_filename (fixture->source, "direct", NULL);
  g_autofree char *whole = g_build_filename (src, "whole.bin", NULL);
  g_autofree char *resumed = g_build_filename (src, "resumed.bin", NULL);
  g_autofree char *output = NULL;
  g_autofree char *probe = NULL;
  g_autofree char *part = NULL;
  g_autofree char *head = NULL;
  gboolean served = FALSE;
  gsize head_len = 5 * 1024 * 1024 + 3;
  int fd;

  if (geteuid () != 0)
    {
      g_test_skip ("mounting a ramfs needs root");
      return;
    }
  mount_fs (fixture, "ramfs", "mode=0755");
  probe = g_build_filename (fixture->mount_point, "probe", NULL);
  fd = open (probe, O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd >= 0)
    {
      close (fd);
      g_test_skip ("this kernel's ramfs takes O_DIRECT: the fallback cannot be tested here");
      return;
    }
  g_assert_cmpint (errno, ==, EINVAL);

  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  write_file (whole, 17 * 1024 * 1024 + 17, rand, 0644);
  write_file (resumed, 16 * 1024 * 1024 + 4096, rand, 0640);
  output = g_build_filename (fixture->mount_point, "in", NULL);
  part = g_build_filename (output, "direct", "resumed.bin.foctet-part", NULL);
  {
    g_autofree char *dir = g_path_get_dirname (part);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  }
  g_assert_true (g_file_get_contents (resumed, &head, NULL, NULL));
  g_assert_true (g_file_set_contents (part, head, head_len, NULL));

  file = g_file_new_for_path (src);
  sender = prepare_sender (fixture, &file, 1);
  ticket = foctet_transfer_sender_get_ticket (sender);
  foctet_transfer_sender_serve_async (sender, NULL, serve_done_cb, &served);
  receiver = foctet_transfer_receiver_new (fixture->receiver_node);
  g_assert_true (receive_within (receiver, ticket, output, FOCTET_TRANSFER_RECEIVE_NONE, NULL, 2 * TIMEOUT,
                                 &error));
  g_assert_no_error (error);
  foctet_test_wait_for (&served, TIMEOUT);
  g_assert_cmpuint (foctet_transfer_receiver_get_bytes_fetched (receiver), ==,
                    foctet_transfer_receiver_get_bytes_total (receiver) - head_len);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  {
    g_autofree char *received = g_build_filename (output, "direct", NULL);

    compare_trees (src, received);
  }
}

/* The I/O worker with a stage in front (foctet-transfer-worker.c): every
 * operation runs in the stage's thread, then in the worker's, then is
 * delivered on the worker's context, in the order pushed; and the two
 * threads work at once: the worker holds operation 0 until the stage
 * has run operation 1, which one thread doing both could never do. */
#define STAGE_OPS 64

typedef struct {
  GMutex lock;
  GCond cond;
  guint staged;                         /* operations the stage ran */
  gboolean overlapped;
  GThread *stage_thread;
  GThread *worker_thread;
  guint delivered[STAGE_OPS];
  guint n_delivered;
  gboolean all_delivered;
} StageTest;

typedef struct {
  StageTest *test;
  guint index;
  gboolean staged;
  gboolean worked;
} StageOp;

/* Under t->lock: the operation runs in the thread that ran the others of
 * its kind (*@thread), and that thread is noted. */
static void
stage_note_thread (GThread **thread)
{
  g_assert_true (*thread == NULL || *thread == g_thread_self ());
  *thread = g_thread_self ();
}

static void
stage_work (gpointer data)
{
  StageOp *op = data;
  StageTest *t = op->test;

  g_assert_false (op->worked);
  op->staged = TRUE;
  g_mutex_lock (&t->lock);
  stage_note_thread (&t->stage_thread);
  t->staged++;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

static void
stage_next_work (gpointer data)
{
  StageOp *op = data;
  StageTest *t = op->test;
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  g_assert_true (op->staged);
  op->worked = TRUE;
  g_mutex_lock (&t->lock);
  stage_note_thread (&t->worker_thread);
  while (op->index == 0 && t->staged < 2 && g_cond_wait_until (&t->cond, &t->lock, deadline))
    ;
  if (op->index == 0)
    t->overlapped = t->staged >= 2;
  g_mutex_unlock (&t->lock);
}

static void
stage_deliver (gpointer data)
{
  StageOp *op = data;
  StageTest *t = op->test;

  g_assert_true (op->worked);
  t->delivered[t->n_delivered++] = op->index;
  t->all_delivered = t->n_delivered == STAGE_OPS;
  g_free (op);
}

static void
test_worker_stages (void)
{
  StageTest t = { 0 };
  g_autoptr(GMainContext) context = g_main_context_new ();
  FoctetTransferWorker *worker, *stage;

  g_mutex_init (&t.lock);
  g_cond_init (&t.cond);
  g_main_context_push_thread_default (context);
  worker = foctet_transfer_worker_new ("test-worker", context, stage_next_work, stage_deliver);
  stage = foctet_transfer_worker_new_stage ("test-stage", stage_work, worker);
  for (guint i = 0; i < STAGE_OPS; i++)
    {
      StageOp *op = g_new0 (StageOp, 1);

      op->test = &t;
      op->index = i;
      foctet_transfer_worker_push (stage, op);
    }
  foctet_test_wait_for (&t.all_delivered, 20);
  g_main_context_pop_thread_default (context);
  g_assert_cmpuint (t.n_delivered, ==, STAGE_OPS);
  for (guint i = 0; i < STAGE_OPS; i++)
    g_assert_cmpuint (t.delivered[i], ==, i);
  g_assert_true (t.overlapped);
  g_assert_nonnull (t.stage_thread);
  g_assert_nonnull (t.worker_thread);
  g_assert_true (t.stage_thread != t.worker_thread);
  g_assert_true (t.stage_thread != g_thread_self ());
  g_assert_true (t.worker_thread != g_thread_self ());
  foctet_transfer_worker_free (stage);
  foctet_transfer_worker_free (worker);
  g_mutex_clear (&t.lock);
  g_cond_clear (&t.cond);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  umask (022);
  /* As root, a mount namespace of our own, before any thread exists: the
   * tmpfs of /transfer/disk-full then vanishes with this process, even
   * when a failed assertion skips the teardown. */
  if (geteuid () == 0)
    private_mounts = unshare (CLONE_NEWNS) == 0 && mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;

  g_test_add_func ("/transfer/worker/stages", test_worker_stages);
  g_test_add ("/transfer/tree/quic", Fixture, "quic", fixture_setup, test_tree, fixture_teardown);
  g_test_add ("/transfer/tree/tls", Fixture, "tls", fixture_setup, test_tree, fixture_teardown);
  if (g_getenv ("FOCTET_RELAY") != NULL)
    g_test_add ("/transfer/tree/relay", Fixture, "relay", fixture_setup, test_tree, fixture_teardown);
  g_test_add ("/transfer/receive-transport", Fixture, "quic", fixture_setup, test_receive_transport,
              fixture_teardown);
  g_test_add ("/transfer/wrong-secret", Fixture, "quic", fixture_setup, test_wrong_secret, fixture_teardown);
  g_test_add ("/transfer/serve-node-shutdown", Fixture, "tls", fixture_setup, test_serve_node_shutdown,
              fixture_teardown);
  g_test_add ("/transfer/resume", Fixture, "tls", fixture_setup, test_resume, fixture_teardown);
  g_test_add ("/transfer/same-receiver-takes-over", Fixture, "tls", fixture_setup, test_same_receiver_takes_over,
              fixture_teardown);
  g_test_add ("/transfer/busy", Fixture, "quic", fixture_setup, test_busy, fixture_teardown);
  g_test_add ("/transfer/existing", Fixture, "quic", fixture_setup, test_existing, fixture_teardown);
  g_test_add ("/transfer/write-error", Fixture, "quic", fixture_setup, test_write_error, fixture_teardown);
  g_test_add ("/transfer/corrupted", Fixture, "quic", fixture_setup, test_corrupted, fixture_teardown);
  g_test_add ("/transfer/changed", Fixture, "tls", fixture_setup, test_changed, fixture_teardown);
  g_test_add ("/transfer/empty-between", Fixture, "tls", fixture_setup, test_empty_between, fixture_teardown);
  g_test_add ("/transfer/special-files", Fixture, "quic", fixture_setup, test_special_files, fixture_teardown);
  g_test_add ("/transfer/hostile-manifest", Fixture, "quic", fixture_setup, test_hostile_manifest,
              fixture_teardown);
  g_test_add ("/transfer/pipelining", Fixture, "tls", fixture_setup, test_pipelining, fixture_teardown);
  g_test_add ("/transfer/answers-before-error", Fixture, "tls", fixture_setup, test_answers_before_error,
              fixture_teardown);
  g_test_add ("/transfer/cancel-waiting-done-ack", Fixture, "tls", fixture_setup, test_cancel_waiting_done_ack,
              fixture_teardown);
  g_test_add ("/transfer/abort-repeats-error", Fixture, "tls", fixture_setup, test_abort_repeats_error,
              fixture_teardown);
  g_test_add ("/transfer/disk-full", Fixture, "quic", fixture_setup, test_disk_full, fixture_teardown);
  g_test_add ("/transfer/no-direct", Fixture, "tls", fixture_setup, test_no_direct, fixture_teardown);
  /* Run apart by meson (suite transfer-large), with a longer time-out. */
  g_test_add ("/transfer/large/quic", Fixture, "quic", fixture_setup, test_large, fixture_teardown);
  g_test_add ("/transfer/large/tls", Fixture, "tls", fixture_setup, test_large, fixture_teardown);
  if (g_getenv ("FOCTET_RELAY") != NULL)
    g_test_add ("/transfer/large/relay", Fixture, "relay", fixture_setup, test_large, fixture_teardown);
  ret = g_test_run ();

  if (large_tmp != NULL)
    foctet_test_remove_tree (large_tmp);
  g_free (large_tmp);
  g_free (large_source);
  g_free (pool);
  return ret;
}

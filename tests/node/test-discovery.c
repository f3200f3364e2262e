/* test-discovery.c: how a node uses discovery mechanisms — publishing its
 * ticket, gathering their peers into one GListModel, looking a NodeId up
 * through all of them at once when a ticket has no direct address, the
 * cache, cancellation and shutdown.  The mechanisms are TestDiscovery,
 * defined here, whose answers each test sets; the nodes talk over the
 * real tls transport and yamux, loaded from the build tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"
#include "test-node.h"

#define TIMEOUT 20

/* TestDiscovery */

typedef enum {
  MODE_ANSWER,                   /* resolve answers from its table, or fails */
  MODE_HANG,                     /* resolve waits until cancelled */
} Mode;

#define TEST_TYPE_DISCOVERY (test_discovery_get_type ())
G_DECLARE_FINAL_TYPE (TestDiscovery, test_discovery, TEST, DISCOVERY, GObject)

struct _TestDiscovery {
  GObject parent_instance;

  FoctetIdentity *identity;
  char *name;
  Mode mode;
  GListStore *peers;             /* NULL: a mechanism without a list */
  GHashTable *answers;           /* FoctetNodeId → FoctetTicket */
  FoctetTicket *published;
  guint n_published;
  guint n_started;
  guint n_stopped;
  guint n_resolves;
  guint n_cancelled;
  gboolean fail_start;
};

enum { PROP_0, PROP_IDENTITY };

static void test_discovery_iface_init (FoctetDiscoveryInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestDiscovery, test_discovery, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (FOCTET_TYPE_DISCOVERY, test_discovery_iface_init))

static void
test_discovery_finalize (GObject *object)
{
  TestDiscovery *self = TEST_DISCOVERY (object);

  g_clear_object (&self->identity);
  g_clear_object (&self->peers);
  g_clear_object (&self->published);
  g_clear_pointer (&self->answers, g_hash_table_unref);
  g_free (self->name);
  G_OBJECT_CLASS (test_discovery_parent_class)->finalize (object);
}

static void
test_discovery_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  g_value_set_object (value, TEST_DISCOVERY (object)->identity);
}

static void
test_discovery_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  TEST_DISCOVERY (object)->identity = g_value_dup_object (value);
}

static void
test_discovery_class_init (TestDiscoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = test_discovery_finalize;
  object_class->get_property = test_discovery_get_property;
  object_class->set_property = test_discovery_set_property;
  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");
}

static void
test_discovery_init (TestDiscovery *self)
{
  self->answers = g_hash_table_new_full (foctet_node_id_hash, foctet_node_id_equal,
                                         (GDestroyNotify) foctet_node_id_free, g_object_unref);
}

static const char *
test_discovery_get_name (FoctetDiscovery *discovery)
{
  return TEST_DISCOVERY (discovery)->name;
}

static gboolean
test_discovery_start (FoctetDiscovery *discovery, GError **error)
{
  TestDiscovery *self = TEST_DISCOVERY (discovery);

  if (self->fail_start)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "port taken");
      return FALSE;
    }
  self->n_started++;
  return TRUE;
}

static void
test_discovery_stop (FoctetDiscovery *discovery)
{
  TEST_DISCOVERY (discovery)->n_stopped++;
}

static gboolean
hang_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  TestDiscovery *self = g_task_get_source_object (task);

  self->n_cancelled++;
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static void
test_discovery_resolve_async (FoctetDiscovery     *discovery,
                              FoctetTicket        *hint,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  TestDiscovery *self = TEST_DISCOVERY (discovery);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  FoctetTicket *answer;

  self->n_resolves++;
  if (self->mode == MODE_HANG)
    {
      GSource *source;

      g_assert_nonnull (cancellable);
      source = g_cancellable_source_new (cancellable);
      g_source_set_callback (source, (GSourceFunc) (void (*) (void)) hang_cancelled_cb, task, g_object_unref);
      g_source_attach (source, g_main_context_get_thread_default ());
      g_source_unref (source);
      return;
    }

  answer = g_hash_table_lookup (self->answers, foctet_ticket_get_node_id (hint));
  if (answer != NULL)
    g_task_return_pointer (task, g_object_ref (answer), g_object_unref);
  else
    g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND, "%s knows nothing of it",
                             self->name);
  g_object_unref (task);
}

static FoctetTicket *
test_discovery_resolve_finish (FoctetDiscovery *discovery, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_discovery_publish (FoctetDiscovery *discovery, FoctetTicket *own)
{
  TestDiscovery *self = TEST_DISCOVERY (discovery);

  self->n_published++;
  g_set_object (&self->published, own);
}

static GListModel *
test_discovery_get_peers (FoctetDiscovery *discovery)
{
  TestDiscovery *self = TEST_DISCOVERY (discovery);

  return self->peers != NULL ? G_LIST_MODEL (self->peers) : NULL;
}

static void
test_discovery_iface_init (FoctetDiscoveryInterface *iface)
{
  iface->get_name = test_discovery_get_name;
  iface->start = test_discovery_start;
  iface->stop = test_discovery_stop;
  iface->resolve_async = test_discovery_resolve_async;
  iface->resolve_finish = test_discovery_resolve_finish;
  iface->publish = test_discovery_publish;
  iface->get_peers = test_discovery_get_peers;
}

static TestDiscovery *
test_discovery_new (FoctetNode *node,
                    const char *name,
                    gboolean    listing)
{
  TestDiscovery *self = g_object_new (TEST_TYPE_DISCOVERY,
                                      "identity", foctet_node_get_identity (node), NULL);

  self->name = g_strdup (name);
  if (listing)
    self->peers = g_list_store_new (FOCTET_TYPE_PEER);
  return self;
}

static void
test_discovery_answer (TestDiscovery *self,
                       FoctetTicket  *ticket)
{
  g_hash_table_replace (self->answers, foctet_node_id_copy (foctet_ticket_get_node_id (ticket)),
                        g_object_ref (ticket));
}

/* Nodes */

static void
node_listen (FoctetNode *node)
{
  g_autofree char *bound = foctet_test_node_listen (node, "tls/127.0.0.1:0", TIMEOUT);
}

/* A ticket with the NodeId alone, as a bare NodeId on the command line. */
static FoctetTicket *
bare_ticket (FoctetNode *node)
{
  return foctet_ticket_new (foctet_node_get_node_id (node));
}

static void
ping_once (FoctetConnection *connection)
{
  g_autoptr(FoctetPinger) pinger = foctet_pinger_new (connection);
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;

  foctet_pinger_ping_async (pinger, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_cmpint (foctet_pinger_ping_finish (pinger, result, &error), >=, 0);
  g_assert_no_error (error);
  g_clear_object (&result);
  foctet_pinger_close_async (pinger, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_true (foctet_pinger_close_finish (pinger, result, &error));
  g_assert_no_error (error);
}

static gboolean
ticket_has_tls (FoctetTicket *ticket)
{
  g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_TLS);

  return addresses[0] != NULL;
}

/* Publishing: the node's ticket, once it listens, to the mechanisms
 * added with PUBLISH only; withdrawn (stop) at shutdown. */
static void
test_publish (void)
{
  g_autoptr(FoctetNode) node = foctet_test_node_new ();
  g_autoptr(TestDiscovery) loud = test_discovery_new (node, "loud", TRUE);
  g_autoptr(TestDiscovery) quiet = test_discovery_new (node, "quiet", TRUE);
  g_autoptr(TestDiscovery) late = test_discovery_new (node, "late", FALSE);
  g_autoptr(TestDiscovery) again = test_discovery_new (node, "loud", FALSE);
  g_autoptr(TestDiscovery) broken = test_discovery_new (node, "broken", FALSE);
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_node_add_discovery (node, FOCTET_DISCOVERY (loud), FOCTET_DISCOVERY_FLAGS_PUBLISH, &error));
  g_assert_no_error (error);
  g_assert_true (foctet_node_add_discovery (node, FOCTET_DISCOVERY (quiet), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (loud->n_started, ==, 1);
  g_assert_cmpuint (quiet->n_started, ==, 1);
  /* Nothing to publish before the node listens. */
  g_assert_cmpuint (loud->n_published, ==, 0);

  node_listen (node);
  g_assert_cmpuint (loud->n_published, ==, 1);
  g_assert_nonnull (loud->published);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (loud->published),
                                       foctet_node_get_node_id (node)));
  g_assert_true (ticket_has_tls (loud->published));
  g_assert_cmpuint (quiet->n_published, ==, 0);

  /* Added once the node listens: published at once. */
  g_assert_true (foctet_node_add_discovery (node, FOCTET_DISCOVERY (late), FOCTET_DISCOVERY_FLAGS_PUBLISH, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (late->n_published, ==, 1);
  g_assert_true (ticket_has_tls (late->published));

  /* A second mechanism of a name in use, and one that cannot start. */
  g_assert_false (foctet_node_add_discovery (node, FOCTET_DISCOVERY (again), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "loud"));
  g_clear_error (&error);
  g_assert_cmpuint (again->n_started, ==, 0);
  broken->fail_start = TRUE;
  g_assert_false (foctet_node_add_discovery (node, FOCTET_DISCOVERY (broken), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull (strstr (error->message, "Cannot start discovery “broken”: port taken"));
  g_clear_error (&error);

  /* No plugin of that name. */
  g_assert_false (foctet_node_enable_discovery (node, "no-such-mechanism", FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
  g_clear_error (&error);

  foctet_test_node_shutdown (node, TIMEOUT);
  g_assert_cmpuint (loud->n_stopped, ==, 1);
  g_assert_cmpuint (quiet->n_stopped, ==, 1);
  g_assert_cmpuint (late->n_stopped, ==, 1);
  g_assert_cmpuint (broken->n_stopped, ==, 0);

  /* A node that is shut down takes no more. */
  g_assert_false (foctet_node_add_discovery (node, FOCTET_DISCOVERY (broken), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
}

typedef struct {
  guint calls;
  guint removed;
  guint added;
} Changes;

static void
items_changed_cb (GListModel *model, guint position, guint removed, guint added, Changes *changes)
{
  changes->calls++;
  changes->removed += removed;
  changes->added += added;
}

static void
count_notify_cb (GObject *object, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

static FoctetPeer *
make_peer (const FoctetNodeId *node_id,
           const char         *tls_address,
           const char         *source)
{
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (node_id);
  g_autoptr(GError) error = NULL;

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, tls_address, &error));
  g_assert_no_error (error);
  return foctet_peer_new (ticket, source, 120);
}

static FoctetNodeId *
random_node_id (void)
{
  guint8 data[32];

  for (guint i = 0; i < sizeof data; i++)
    data[i] = g_random_int_range (0, 256);
  return foctet_node_id_new_from_data (data, sizeof data, NULL);
}

/* The node's peer list: every mechanism's peers, one per NodeId, with
 * items-changed as they come and go; FoctetPeer itself. */
static void
test_peers (void)
{
  g_autoptr(FoctetNode) node = foctet_test_node_new ();
  g_autoptr(TestDiscovery) first = test_discovery_new (node, "first", TRUE);
  g_autoptr(TestDiscovery) second = test_discovery_new (node, "second", TRUE);
  g_autoptr(FoctetNodeId) id_a = random_node_id ();
  g_autoptr(FoctetNodeId) id_b = random_node_id ();
  g_autoptr(FoctetPeer) a1 = make_peer (id_a, "192.0.2.1:1000", "first");
  g_autoptr(FoctetPeer) a2 = make_peer (id_a, "192.0.2.2:2000", "second");
  g_autoptr(FoctetPeer) b2 = make_peer (id_b, "192.0.2.3:3000", "second");
  g_autoptr(FoctetTicket) moved = foctet_ticket_new (id_a);
  g_auto(GStrv) addresses = NULL;
  g_autoptr(GError) error = NULL;
  Changes changes = { 0 };
  GListModel *peers = foctet_node_get_peers (node);
  guint notified = 0;

  g_assert_true (G_IS_LIST_MODEL (peers));
  g_assert_true (g_list_model_get_item_type (peers) == FOCTET_TYPE_PEER);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 0);
  g_signal_connect (peers, "items-changed", G_CALLBACK (items_changed_cb), &changes);

  /* A peer a mechanism already knew shows at once. */
  g_list_store_append (first->peers, a1);
  g_assert_true (foctet_node_add_discovery (node, FOCTET_DISCOVERY (first), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_true (foctet_node_add_discovery (node, FOCTET_DISCOVERY (second), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 1);
  g_assert_cmpuint (changes.added, ==, 1);

  /* The same NodeId from a second mechanism: still one entry, the first
   * mechanism's; a new NodeId: one more. */
  g_list_store_append (second->peers, a2);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 1);
  g_list_store_append (second->peers, b2);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 2);
  {
    g_autoptr(FoctetPeer) item0 = g_list_model_get_item (peers, 0);
    g_autoptr(FoctetPeer) item1 = g_list_model_get_item (peers, 1);

    g_assert_true (item0 == a1);
    g_assert_true (item1 == b2);
    g_assert_cmpstr (foctet_peer_get_source (item1), ==, "second");
  }

  /* The first forgets A: the second's A takes its place. */
  g_list_store_remove (first->peers, 0);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 2);
  g_assert_true (g_list_store_find (G_LIST_STORE (peers), a2, NULL));
  g_assert_false (g_list_store_find (G_LIST_STORE (peers), a1, NULL));

  /* An update in place notifies, without items-changed. */
  changes = (Changes) { 0 };
  g_signal_connect (a2, "notify::addresses", G_CALLBACK (count_notify_cb), &notified);
  g_assert_true (foctet_ticket_add_address (moved, FOCTET_ADDRESS_KIND_QUIC, "192.0.2.9:9", &error));
  foctet_peer_update (a2, moved, 60);
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpuint (changes.calls, ==, 0);
  g_assert_cmpuint (foctet_peer_get_ttl (a2), ==, 60);
  g_assert_false (foctet_peer_is_expired (a2));
  addresses = foctet_peer_get_addresses (a2);
  g_assert_cmpuint (g_strv_length (addresses), ==, 1);
  g_assert_cmpstr (addresses[0], ==, "quic/192.0.2.9:9");
  /* The same announcement again: only last-seen moves. */
  foctet_peer_update (a2, moved, 60);
  g_assert_cmpuint (notified, ==, 1);
  foctet_peer_update (a2, moved, 0);
  g_assert_true (foctet_peer_is_expired (a2));

  /* Shutdown empties the list. */
  foctet_test_node_shutdown (node, TIMEOUT);
  g_assert_cmpuint (g_list_model_get_n_items (peers), ==, 0);
  g_signal_handlers_disconnect_by_func (peers, items_changed_cb, &changes);
}

/* Dialing a bare NodeId: looked up through every mechanism at once, the
 * first answer wins and the others are cancelled; the result is cached
 * for a mechanism without a list, and forgotten when a dial on it fails. */
static void
test_dial_bare (void)
{
  g_autoptr(FoctetNode) server = foctet_test_node_new ();
  g_autoptr(FoctetNode) client = foctet_test_node_new ();
  g_autoptr(TestDiscovery) slow = test_discovery_new (client, "slow", TRUE);
  g_autoptr(TestDiscovery) directory = test_discovery_new (client, "directory", FALSE);
  g_autoptr(FoctetTicket) bare = bare_ticket (server);
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  node_listen (server);
  ticket = foctet_node_get_ticket (server);
  slow->mode = MODE_HANG;
  test_discovery_answer (directory, ticket);
  g_assert_true (foctet_node_add_discovery (client, FOCTET_DISCOVERY (slow), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_true (foctet_node_add_discovery (client, FOCTET_DISCOVERY (directory), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  g_assert_no_error (error);

  connection = foctet_test_node_dial (client, bare, NULL, NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_connection_get_peer_id (connection),
                                       foctet_node_get_node_id (server)));
  ping_once (connection);
  g_assert_cmpuint (slow->n_resolves, ==, 1);
  g_assert_cmpuint (directory->n_resolves, ==, 1);
  /* The loser was cancelled, not left waiting. */
  while (slow->n_cancelled == 0)
    g_main_context_iteration (NULL, TRUE);

  /* Cached: the next dial asks nobody. */
  g_clear_object (&connection);
  connection = foctet_test_node_dial (client, bare, NULL, NULL, &error, TIMEOUT);
  g_assert_no_error (error);
  g_assert_cmpuint (directory->n_resolves, ==, 1);
  g_assert_cmpuint (slow->n_resolves, ==, 1);

  /* A peer in a mechanism's list is used as it is. */
  g_clear_object (&connection);
  foctet_test_node_shutdown (server, TIMEOUT);
  {
    g_autoptr(FoctetNode) server2 = foctet_test_node_new ();
    g_autoptr(FoctetTicket) bare2 = bare_ticket (server2);
    g_autoptr(FoctetTicket) ticket2 = NULL;
    g_autoptr(FoctetPeer) peer = NULL;

    node_listen (server2);
    ticket2 = foctet_node_get_ticket (server2);
    peer = foctet_peer_new (ticket2, "slow", 120);
    g_list_store_append (slow->peers, peer);
    connection = foctet_test_node_dial (client, bare2, NULL, NULL, &error, TIMEOUT);
    g_assert_no_error (error);
    g_assert_cmpuint (slow->n_resolves, ==, 1);
    g_assert_cmpuint (directory->n_resolves, ==, 1);
    g_clear_object (&connection);
    foctet_test_node_shutdown (server2, TIMEOUT);
  }

  /* The first server is gone: the cached addresses fail, and are
   * forgotten; the next dial asks again. */
  connection = foctet_test_node_dial (client, bare, NULL, NULL, &error, TIMEOUT);
  g_assert_null (connection);
  g_assert_nonnull (error);
  g_clear_error (&error);
  slow->mode = MODE_ANSWER;
  g_hash_table_remove_all (directory->answers);
  connection = foctet_test_node_dial (client, bare, NULL, NULL, &error, TIMEOUT);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_assert_cmpuint (directory->n_resolves, ==, 2);
  g_assert_nonnull (strstr (error->message, "slow — slow knows nothing of it"));
  g_assert_nonnull (strstr (error->message, "directory — directory knows nothing of it"));
  g_clear_error (&error);

  foctet_test_node_shutdown (client, TIMEOUT);
}

/* A bare NodeId with no mechanism to ask; a lookup cancelled by the
 * caller, and one ended by the node's shutdown. */
static void
test_dial_unfindable (void)
{
  g_autoptr(FoctetNode) client = foctet_test_node_new ();
  g_autoptr(FoctetNode) other = foctet_test_node_new ();
  g_autoptr(TestDiscovery) slow = test_discovery_new (client, "slow", FALSE);
  g_autoptr(FoctetTicket) bare = bare_ticket (other);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GAsyncResult *slot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = foctet_node_id_to_string (foctet_node_get_node_id (other));

  connection = foctet_test_node_dial (client, bare, NULL, NULL, &error, TIMEOUT);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, text));
  g_assert_nonnull (strstr (error->message, "no discovery mechanism"));
  g_clear_error (&error);

  slow->mode = MODE_HANG;
  g_assert_true (foctet_node_add_discovery (client, FOCTET_DISCOVERY (slow), FOCTET_DISCOVERY_FLAGS_NONE, &error));
  foctet_node_dial_async (client, bare, NULL, cancellable, foctet_test_store_result, &slot);
  g_assert_cmpuint (slow->n_resolves, ==, 1);
  g_cancellable_cancel (cancellable);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_null (foctet_node_dial_finish (client, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&result);
  g_assert_cmpuint (slow->n_cancelled, ==, 1);

  foctet_node_dial_async (client, bare, NULL, NULL, foctet_test_store_result, &slot);
  foctet_test_node_shutdown (client, TIMEOUT);
  result = foctet_test_wait_result (&slot, TIMEOUT);
  g_assert_null (foctet_node_dial_finish (client, result, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  g_assert_cmpuint (slow->n_cancelled, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/discovery/publish", test_publish);
  g_test_add_func ("/discovery/peers", test_peers);
  g_test_add_func ("/discovery/dial-bare", test_dial_bare);
  g_test_add_func ("/discovery/dial-unfindable", test_dial_unfindable);

  return g_test_run ();
}

/* test-registry.c: plugins found on FOCTET_PLUGIN_PATH, loaded, refused
 * (wrong ABI, no descriptor, not a shared object, shadowed), created by
 * name, types registered at run time, and the order of the search path.
 * FOCTET_PLUGIN_PATH is "<plugins>:<bad>:<shadow>:<plugins>" (see
 * meson.build): the second <plugins> checks that a directory named twice
 * is scanned once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "test-utils.h"

static FoctetPluginInfo *
find_info (const char *name,
           gboolean    refused)
{
  GListModel *plugins = foctet_registry_get_plugins (foctet_registry_get_default ());

  for (guint i = 0; i < g_list_model_get_n_items (plugins); i++)
    {
      g_autoptr(FoctetPluginInfo) info = g_list_model_get_item (plugins, i);

      if (g_strcmp0 (foctet_plugin_info_get_name (info), name) == 0 &&
          (foctet_plugin_info_get_refusal (info) != NULL) == refused)
        return info;   /* the list keeps it alive */
    }
  return NULL;
}

static guint
count_infos (const char *name)
{
  GListModel *plugins = foctet_registry_get_plugins (foctet_registry_get_default ());
  guint count = 0;

  for (guint i = 0; i < g_list_model_get_n_items (plugins); i++)
    {
      g_autoptr(FoctetPluginInfo) info = g_list_model_get_item (plugins, i);

      if (g_strcmp0 (foctet_plugin_info_get_name (info), name) == 0)
        count++;
    }
  return count;
}

static FoctetPluginInfo *
assert_refused (const char *name,
                const char *filename,
                const char *words)
{
  FoctetPluginInfo *info = find_info (name, TRUE);

  if (info == NULL)
    g_error ("%s was not refused", name);
  g_assert_cmpint (foctet_plugin_info_get_kind (info), ==, FOCTET_PLUGIN_KIND_NONE);
  g_assert_cmpstr (foctet_plugin_info_get_filename (info), ==, filename);
  if (strstr (foctet_plugin_info_get_refusal (info), words) == NULL)
    g_error ("refusal of %s says “%s”, expected “%s”", name,
             foctet_plugin_info_get_refusal (info), words);
  return info;
}

static void
test_loaded (void)
{
  FoctetPluginInfo *info = find_info ("tcp-test", FALSE);
  g_autofree char *expected = g_build_filename (g_getenv ("TEST_PLUGIN_DIR"),
                                                "libfoctet-transport-tcp-test.so", NULL);
  g_auto(GStrv) transports = NULL;
  g_auto(GStrv) muxers = NULL;
  g_autofree char *name = NULL, *filename = NULL, *refusal = NULL;
  FoctetPluginKind kind = FOCTET_PLUGIN_KIND_NONE;

  g_assert_nonnull (info);
  g_assert_cmpint (foctet_plugin_info_get_kind (info), ==, FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_cmpstr (foctet_plugin_info_get_filename (info), ==, expected);
  g_assert_null (foctet_plugin_info_get_refusal (info));
  g_assert_cmpstr (foctet_plugin_kind_to_string (foctet_plugin_info_get_kind (info)), ==, "transport");

  /* The same through the read-only properties. */
  g_object_get (info, "kind", &kind, "name", &name, "filename", &filename, "refusal", &refusal, NULL);
  g_assert_cmpint (kind, ==, FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_cmpstr (name, ==, "tcp-test");
  g_assert_cmpstr (filename, ==, expected);
  g_assert_null (refusal);

  /* Listed once, although its directory is on the path twice. */
  g_assert_cmpuint (count_infos ("tcp-test"), ==, 1);

  transports = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_true (g_strv_contains ((const char * const *) transports, "tcp-test"));
  g_assert_false (g_strv_contains ((const char * const *) transports, "must-not-load"));
  g_assert_cmpuint (count_infos ("must-not-load"), ==, 0);
  muxers = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_MUXER);
  g_assert_cmpuint (g_strv_length (muxers), ==, 0);

  g_assert_cmpstr (foctet_plugin_kind_to_string (FOCTET_PLUGIN_KIND_MUXER), ==, "muxer");
  g_assert_cmpstr (foctet_plugin_kind_to_string (FOCTET_PLUGIN_KIND_DISCOVERY), ==, "discovery");
  g_assert_cmpstr (foctet_plugin_kind_to_string (FOCTET_PLUGIN_KIND_NONE), ==, "none");
}

static void
test_refused (void)
{
  const char *bad_dir = g_getenv ("TEST_BAD_PLUGIN_DIR");
  const char *shadow_dir = g_getenv ("TEST_SHADOW_PLUGIN_DIR");
  g_autofree char *abi = g_strdup_printf ("built for plugin ABI %d, this libfoctet-core has ABI %d",
                                          FOCTET_PLUGIN_ABI_VERSION + 1, FOCTET_PLUGIN_ABI_VERSION);
  g_autofree char *bad_abi = g_build_filename (bad_dir, "libbad-abi.so", NULL);
  g_autofree char *no_descriptor = g_build_filename (bad_dir, "libno-descriptor.so", NULL);
  g_autofree char *junk = g_build_filename (bad_dir, "junk.so", NULL);
  g_autofree char *copy = g_build_filename (shadow_dir, "libfoctet-transport-tcp-test-copy.so", NULL);
  g_autofree char *shadowed_by = g_strdup_printf ("shadowed by %s/libfoctet-transport-tcp-test.so",
                                                  g_getenv ("TEST_PLUGIN_DIR"));
  FoctetPluginInfo *info;

  assert_refused ("bad-abi", bad_abi, abi);
  assert_refused ("libno-descriptor.so", no_descriptor, "not a foctet plugin: no foctet_plugin_desc symbol");
  /* The loader's own words, which name the file. */
  info = assert_refused ("junk.so", junk, junk);
  g_assert_true (g_str_has_prefix (foctet_plugin_info_get_refusal (info), junk));
  info = assert_refused ("transport-tcp-test", copy, shadowed_by);
  g_assert_cmpstr (foctet_plugin_info_get_refusal (info), ==, shadowed_by);

  /* None of them ran: they would have registered "must-not-load". */
  g_assert_cmpuint (count_infos ("must-not-load"), ==, 0);
  g_assert_false (g_type_from_name ("BadTransport"));
}

static void
test_create (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) transport = NULL;
  g_autoptr(FoctetTransport) missing = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
  g_autoptr(FoctetDiscovery) discovery = NULL;
  g_auto(GStrv) addresses = NULL;

  g_assert_no_error (error);
  transport = foctet_registry_create_transport (foctet_registry_get_default (), "tcp-test",
                                                identity, &error);
  g_assert_no_error (error);
  g_assert_true (FOCTET_IS_TRANSPORT (transport));
  g_assert_cmpstr (foctet_transport_get_name (transport), ==, "tcp-test");
  g_assert_true (foctet_transport_get_identity (transport) == identity);
  g_assert_cmpuint (foctet_transport_get_address_kind (transport), ==, 0);
  addresses = foctet_transport_get_listen_addresses (transport);
  g_assert_cmpuint (g_strv_length (addresses), ==, 0);

  missing = foctet_registry_create_transport (foctet_registry_get_default (), "nope", identity, &error);
  g_assert_null (missing);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
  /* It says what exists. */
  g_assert_nonnull (strstr (error->message, "“nope”"));
  g_assert_nonnull (strstr (error->message, "tcp-test"));
  g_clear_error (&error);

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), NULL, &error);
  g_assert_null (muxer);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "available: none"));
  g_clear_error (&error);

  discovery = foctet_registry_create_discovery (foctet_registry_get_default (), "mdns", identity, &error);
  g_assert_null (discovery);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
}

/* A transport defined by the application itself. */
#define TEST_TYPE_APP_TRANSPORT (test_app_transport_get_type ())
G_DECLARE_FINAL_TYPE (TestAppTransport, test_app_transport, TEST, APP_TRANSPORT, GObject)

struct _TestAppTransport {
  GObject parent_instance;
  FoctetIdentity *identity;
};

static const char *
app_get_name (FoctetTransport *transport)
{
  return "app-transport";
}

static void
app_dial_async (FoctetTransport     *transport,
                const char          *address,
                const FoctetNodeId  *expected,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  g_task_report_new_error (transport, callback, user_data, app_dial_async,
                           FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE, "app transport reached %s", address);
}

static FoctetConnection *
app_dial_finish (FoctetTransport  *transport,
                 GAsyncResult     *result,
                 GError          **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
app_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = app_get_name;
  iface->dial_async = app_dial_async;
  iface->dial_finish = app_dial_finish;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (TestAppTransport, test_app_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (FOCTET_TYPE_TRANSPORT, app_iface_init))

static void
app_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  TEST_APP_TRANSPORT (object)->identity = g_value_dup_object (value);
}

static void
app_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  g_value_set_object (value, TEST_APP_TRANSPORT (object)->identity);
}

static void
app_finalize (GObject *object)
{
  g_clear_object (&TEST_APP_TRANSPORT (object)->identity);
  G_OBJECT_CLASS (test_app_transport_parent_class)->finalize (object);
}

static void
test_app_transport_class_init (TestAppTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->set_property = app_set_property;
  G_OBJECT_CLASS (klass)->get_property = app_get_property;
  G_OBJECT_CLASS (klass)->finalize = app_finalize;
  g_object_class_override_property (G_OBJECT_CLASS (klass), 1, "identity");
}

static void
test_app_transport_init (TestAppTransport *self)
{
}

/* One that takes the "identity" property and forgets it. */
#define TEST_TYPE_FORGETFUL_TRANSPORT (test_forgetful_transport_get_type ())
G_DECLARE_FINAL_TYPE (TestForgetfulTransport, test_forgetful_transport, TEST, FORGETFUL_TRANSPORT, GObject)

struct _TestForgetfulTransport {
  GObject parent_instance;
};

G_DEFINE_FINAL_TYPE_WITH_CODE (TestForgetfulTransport, test_forgetful_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (FOCTET_TYPE_TRANSPORT, app_iface_init))

static void
forgetful_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
}

static void
forgetful_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  g_value_set_object (value, NULL);
}

static void
test_forgetful_transport_class_init (TestForgetfulTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->set_property = forgetful_set_property;
  G_OBJECT_CLASS (klass)->get_property = forgetful_get_property;
  g_object_class_override_property (G_OBJECT_CLASS (klass), 1, "identity");
}

static void
test_forgetful_transport_init (TestForgetfulTransport *self)
{
}

/* And one that has no "identity" at all. */
#define TEST_TYPE_NAMELESS_TRANSPORT (test_nameless_transport_get_type ())
G_DECLARE_FINAL_TYPE (TestNamelessTransport, test_nameless_transport, TEST, NAMELESS_TRANSPORT, GObject)

struct _TestNamelessTransport {
  GObject parent_instance;
};

G_DEFINE_FINAL_TYPE_WITH_CODE (TestNamelessTransport, test_nameless_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (FOCTET_TYPE_TRANSPORT, app_iface_init))

static void
test_nameless_transport_class_init (TestNamelessTransportClass *klass)
{
}

static void
test_nameless_transport_init (TestNamelessTransport *self)
{
}

/* A transport type that does not keep the identity it is given would
 * fail at its first handshake, far from the cause: the registry refuses
 * to make one, and says what the type lacks. */
static void
test_identity_kept (void)
{
  FoctetRegistry *registry = foctet_registry_get_default ();
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) transport = NULL;

  g_assert_true (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "forgetful",
                                                TEST_TYPE_FORGETFUL_TRANSPORT, &error));
  g_assert_no_error (error);
  transport = foctet_registry_create_transport (registry, "forgetful", identity, &error);
  g_assert_null (transport);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_REFUSED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "must override the “identity” property"));
  g_clear_error (&error);

  /* GObject itself complains of the class, once. */
  g_assert_true (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "nameless",
                                                TEST_TYPE_NAMELESS_TRANSPORT, &error));
  g_assert_no_error (error);
  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_CRITICAL, "*doesn't implement property 'identity'*");
  transport = foctet_registry_create_transport (registry, "nameless", identity, &error);
  g_test_assert_expected_messages ();
  g_assert_null (transport);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_REFUSED);
  g_assert_nonnull (strstr (error->message, "TestNamelessTransport"));
}

static void
test_register_type (void)
{
  FoctetRegistry *registry = foctet_registry_get_default ();
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetNode) node = NULL;
  g_autoptr(FoctetTransport) transport = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;
  g_auto(GStrv) names = NULL;

  g_assert_true (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "app-transport",
                                                TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_no_error (error);
  names = foctet_registry_list_names (registry, FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_true (g_strv_contains ((const char * const *) names, "app-transport"));
  g_assert_nonnull (find_info ("app-transport", FALSE));
  g_assert_null (foctet_plugin_info_get_filename (find_info ("app-transport", FALSE)));
  g_assert_cmpint (foctet_plugin_info_get_kind (find_info ("app-transport", FALSE)), ==,
                   FOCTET_PLUGIN_KIND_TRANSPORT);
  g_clear_pointer (&names, g_strfreev);

  /* Taken names, types of the wrong kind and unusable names are refused. */
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "app-transport",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "tcp-test",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "plain-object",
                                                 G_TYPE_OBJECT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_MUXER, "app-muxer",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_NONE, "nothing",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "a/b",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  names = foctet_registry_list_names (registry, FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_false (g_strv_contains ((const char * const *) names, "plain-object"));
  g_assert_null (find_info ("app-muxer", FALSE));

  /* Created by name like any plugin's. */
  transport = foctet_registry_create_transport (registry, "app-transport", identity, &error);
  g_assert_no_error (error);
  g_assert_true (TEST_IS_APP_TRANSPORT (transport));
  g_assert_true (foctet_transport_get_identity (transport) == identity);

  /* A node finds it by name like any plugin's. */
  node = foctet_node_new (identity);
  foctet_node_dial_uri_async (node, foctet_identity_get_node_id (identity), "app-transport/192.0.2.1:7",
                              NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 10);
  connection = foctet_node_dial_uri_finish (node, result, &error);
  g_assert_null (connection);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_assert_cmpstr (error->message, ==, "app transport reached 192.0.2.1:7");
}

/* One whose addresses are paths, of a form of its own. */
#define TEST_TYPE_PATH_TRANSPORT (test_path_transport_get_type ())
G_DECLARE_FINAL_TYPE (TestPathTransport, test_path_transport, TEST, PATH_TRANSPORT, GObject)

struct _TestPathTransport {
  GObject parent_instance;
  FoctetIdentity *identity;
};

static gboolean
path_check_address (FoctetTransport  *transport,
                    const char       *address,
                    GError          **error)
{
  if (address[0] == '/')
    return TRUE;
  g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT, "“%s” is not an absolute path", address);
  return FALSE;
}

static void
path_iface_init (FoctetTransportInterface *iface)
{
  app_iface_init (iface);
  iface->check_address = path_check_address;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (TestPathTransport, test_path_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (FOCTET_TYPE_TRANSPORT, path_iface_init))

static void
path_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  TEST_PATH_TRANSPORT (object)->identity = g_value_dup_object (value);
}

static void
path_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  g_value_set_object (value, TEST_PATH_TRANSPORT (object)->identity);
}

static void
path_finalize (GObject *object)
{
  g_clear_object (&TEST_PATH_TRANSPORT (object)->identity);
  G_OBJECT_CLASS (test_path_transport_parent_class)->finalize (object);
}

static void
test_path_transport_class_init (TestPathTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->set_property = path_set_property;
  G_OBJECT_CLASS (klass)->get_property = path_get_property;
  G_OBJECT_CLASS (klass)->finalize = path_finalize;
  g_object_class_override_property (G_OBJECT_CLASS (klass), 1, "identity");
}

static void
test_path_transport_init (TestPathTransport *self)
{
}

static void
dial_uri (FoctetNode  *node,
          const char  *uri,
          GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(FoctetConnection) connection = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_dial_uri_async (node, foctet_node_get_node_id (node), uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, 10);
  connection = foctet_node_dial_uri_finish (node, result, error);
  g_assert_null (connection);
}

/* A transport takes "host:port" unless it checks addresses of a form of
 * its own; the node hands it everything after the URI's first slash,
 * slashes and all, once it passed that check. */
static void
test_address_form (void)
{
  FoctetRegistry *registry = foctet_registry_get_default ();
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) tcp_test = NULL;
  g_autoptr(FoctetTransport) path = NULL;
  g_autoptr(FoctetNode) node = NULL;

  g_assert_true (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "path-transport",
                                                TEST_TYPE_PATH_TRANSPORT, &error));
  g_assert_no_error (error);

  tcp_test = foctet_registry_create_transport (registry, "tcp-test", identity, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_transport_check_address (tcp_test, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  g_assert_false (foctet_transport_check_address (tcp_test, "/run/foctet.sock", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  path = foctet_registry_create_transport (registry, "path-transport", identity, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_transport_check_address (path, "/run/foctet.sock", &error));
  g_assert_no_error (error);
  g_assert_false (foctet_transport_check_address (path, "127.0.0.1:0", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  node = foctet_node_new (identity);
  dial_uri (node, "path-transport//run/foctet.sock", &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE);
  g_assert_cmpstr (error->message, ==, "app transport reached /run/foctet.sock");
  g_clear_error (&error);

  dial_uri (node, "path-transport/127.0.0.1:1", &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "“path-transport/127.0.0.1:1”: “127.0.0.1:1” is not an absolute path");
  g_clear_error (&error);

  dial_uri (node, "tcp-test//run/foctet.sock", &error);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error->message, "“tcp-test//run/foctet.sock”: "));
}

/* The search order, each in a fresh process, since a registry scans once. */

static void
test_search_path_first (void)
{
  FoctetRegistry *registry;
  g_autofree char *copy = NULL;
  g_autofree char *shadowed_by = NULL;
  g_autofree char *original = NULL;
  FoctetPluginInfo *info;
  guint n_before;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }

  copy = g_build_filename (g_getenv ("TEST_SHADOW_PLUGIN_DIR"), "libfoctet-transport-tcp-test-copy.so", NULL);
  original = g_build_filename (g_getenv ("TEST_PLUGIN_DIR"), "libfoctet-transport-tcp-test.so", NULL);
  shadowed_by = g_strdup_printf ("shadowed by %s", copy);

  /* Searched before FOCTET_PLUGIN_PATH: now the copy wins. */
  registry = foctet_registry_get_default ();
  foctet_registry_add_search_path (registry, g_getenv ("TEST_SHADOW_PLUGIN_DIR"));
  info = find_info ("tcp-test", FALSE);
  g_assert_nonnull (info);
  g_assert_cmpstr (foctet_plugin_info_get_filename (info), ==, copy);
  info = assert_refused ("transport-tcp-test", original, shadowed_by);
  g_assert_cmpstr (foctet_plugin_info_get_refusal (info), ==, shadowed_by);

  /* Once loaded, a directory already scanned changes nothing ... */
  n_before = g_list_model_get_n_items (foctet_registry_get_plugins (registry));
  foctet_registry_add_search_path (registry, g_getenv ("TEST_BAD_PLUGIN_DIR"));
  foctet_registry_ensure_loaded (registry);
  g_assert_cmpuint (count_infos ("tcp-test"), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (foctet_registry_get_plugins (registry)), ==, n_before);
  /* ... and a new one is scanned at once. */
  if (g_getenv ("TEST_LATE_PLUGIN_DIR") != NULL)
    {
      g_assert_null (find_info ("yamux", FALSE));
      foctet_registry_add_search_path (registry, g_getenv ("TEST_LATE_PLUGIN_DIR"));
      info = find_info ("yamux", FALSE);
      g_assert_nonnull (info);
      g_assert_true (g_str_has_prefix (foctet_plugin_info_get_filename (info), g_getenv ("TEST_LATE_PLUGIN_DIR")));
      g_assert_cmpuint (g_list_model_get_n_items (foctet_registry_get_plugins (registry)), ==, n_before + 1);
    }
}

static void
test_system_path (void)
{
  g_autofree char *original = NULL;
  FoctetPluginInfo *info;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }

  /* FOCTET_PLUGIN_SYSTEM_PATH replaces the installed directory. */
  g_unsetenv ("FOCTET_PLUGIN_PATH");
  g_setenv ("FOCTET_PLUGIN_SYSTEM_PATH", g_getenv ("TEST_PLUGIN_DIR"), TRUE);
  original = g_build_filename (g_getenv ("TEST_PLUGIN_DIR"), "libfoctet-transport-tcp-test.so", NULL);
  info = find_info ("tcp-test", FALSE);
  g_assert_nonnull (info);
  g_assert_cmpstr (foctet_plugin_info_get_filename (info), ==, original);
  g_assert_cmpuint (g_list_model_get_n_items (foctet_registry_get_plugins (foctet_registry_get_default ())),
                    ==, 1);
}

static void
test_empty_path (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = NULL;
  g_autoptr(FoctetTransport) transport = NULL;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }

  /* Set but empty: no directory at all, not even the installed one. */
  g_unsetenv ("FOCTET_PLUGIN_PATH");
  g_setenv ("FOCTET_PLUGIN_SYSTEM_PATH", "", TRUE);
  g_assert_cmpuint (g_list_model_get_n_items (foctet_registry_get_plugins (foctet_registry_get_default ())),
                    ==, 0);
  identity = foctet_identity_generate (&error);
  g_assert_no_error (error);
  transport = foctet_registry_create_transport (foctet_registry_get_default (), "tcp-test", identity, &error);
  g_assert_null (transport);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "available: none"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/registry/loaded", test_loaded);
  g_test_add_func ("/registry/refused", test_refused);
  g_test_add_func ("/registry/create", test_create);
  g_test_add_func ("/registry/register-type", test_register_type);
  g_test_add_func ("/registry/identity-kept", test_identity_kept);
  g_test_add_func ("/registry/address-form", test_address_form);
  g_test_add_func ("/registry/search-path-first", test_search_path_first);
  g_test_add_func ("/registry/system-path", test_system_path);
  g_test_add_func ("/registry/empty-path", test_empty_path);

  return g_test_run ();
}

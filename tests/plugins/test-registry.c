/* test-registry.c: plugins found on FOCTET_PLUGIN_PATH, loaded, refused
 * (wrong ABI, no descriptor, not a shared object, shadowed), created by
 * name, and types registered at run time.
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
        return info;
    }
  return NULL;
}

static void
assert_refused (const char *name,
                const char *file_suffix,
                const char *words)
{
  FoctetPluginInfo *info = find_info (name, TRUE);

  if (info == NULL)
    g_error ("%s was not refused", name);
  g_assert_cmpint (foctet_plugin_info_get_kind (info), ==, FOCTET_PLUGIN_KIND_NONE);
  g_assert_true (g_str_has_suffix (foctet_plugin_info_get_filename (info), file_suffix));
  if (strstr (foctet_plugin_info_get_refusal (info), words) == NULL)
    g_error ("refusal of %s says “%s”, expected “%s”", name,
             foctet_plugin_info_get_refusal (info), words);
}

static void
test_loaded (void)
{
  FoctetPluginInfo *info = find_info ("tcp-test", FALSE);
  g_auto(GStrv) transports = NULL;

  g_assert_nonnull (info);
  g_assert_cmpint (foctet_plugin_info_get_kind (info), ==, FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_true (g_str_has_suffix (foctet_plugin_info_get_filename (info),
                                   "/plugins/libfoctet-transport-tcp-test.so"));
  g_assert_true (g_file_test (foctet_plugin_info_get_filename (info), G_FILE_TEST_IS_REGULAR));
  g_assert_cmpstr (foctet_plugin_kind_to_string (foctet_plugin_info_get_kind (info)), ==, "transport");

  transports = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_TRANSPORT);
  g_assert_true (g_strv_contains ((const char * const *) transports, "tcp-test"));
  g_assert_false (g_strv_contains ((const char * const *) transports, "must-not-load"));
}

static void
test_refused (void)
{
  g_autofree char *abi = g_strdup_printf ("built for plugin ABI %d, this libfoctet-core has plugin ABI %d",
                                          FOCTET_PLUGIN_ABI_VERSION + 1, FOCTET_PLUGIN_ABI_VERSION);

  assert_refused ("bad-abi", "/libbad-abi.so", abi);
  assert_refused ("libno-descriptor.so", "/libno-descriptor.so", "no foctet_plugin_desc symbol");
  assert_refused ("junk.so", "/junk.so", "cannot be loaded");
  assert_refused ("transport-tcp-test", "/libfoctet-transport-tcp-test-copy.so", "shadowed by ");
}

static void
test_create (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetTransport) transport = NULL;
  g_autoptr(FoctetTransport) missing = NULL;
  g_autoptr(FoctetMuxer) muxer = NULL;
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
  g_assert_nonnull (strstr (error->message, "“nope”"));
  g_assert_nonnull (strstr (error->message, "tcp-test"));
  g_clear_error (&error);

  muxer = foctet_registry_create_muxer (foctet_registry_get_default (), NULL, &error);
  g_assert_null (muxer);
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

  /* Taken names and types of the wrong kind are refused. */
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_TRANSPORT, "app-transport",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_registry_register_type (registry, FOCTET_PLUGIN_KIND_MUXER, "app-muxer",
                                                 TEST_TYPE_APP_TRANSPORT, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/registry/loaded", test_loaded);
  g_test_add_func ("/registry/refused", test_refused);
  g_test_add_func ("/registry/create", test_create);
  g_test_add_func ("/registry/register-type", test_register_type);

  return g_test_run ();
}

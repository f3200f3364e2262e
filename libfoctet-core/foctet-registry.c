/* foctet-registry.c: finds, checks and loads plugins.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <gmodule.h>

#include "foctet-registry.h"
#include "foctet-enums.h"
#include "foctet-error.h"
#include "foctet-plugin.h"

/**
 * FoctetPluginInfo:
 *
 * What the registry knows of one plugin: a type it provides (a transport,
 * a muxer, a discovery mechanism) and the file it came from — or a module
 * it refused, and why.
 */

struct _FoctetPluginInfo {
  GObject parent_instance;

  FoctetPluginKind kind;
  char *name;
  char *filename;
  char *refusal;
};

G_DEFINE_FINAL_TYPE (FoctetPluginInfo, foctet_plugin_info, G_TYPE_OBJECT)

enum {
  INFO_PROP_0,
  INFO_PROP_KIND,
  INFO_PROP_NAME,
  INFO_PROP_FILENAME,
  INFO_PROP_REFUSAL,
  INFO_N_PROPS
};

static GParamSpec *info_properties[INFO_N_PROPS];

static void
foctet_plugin_info_finalize (GObject *object)
{
  FoctetPluginInfo *self = FOCTET_PLUGIN_INFO (object);

  g_free (self->name);
  g_free (self->filename);
  g_free (self->refusal);

  G_OBJECT_CLASS (foctet_plugin_info_parent_class)->finalize (object);
}

static void
foctet_plugin_info_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  FoctetPluginInfo *self = FOCTET_PLUGIN_INFO (object);

  switch (prop_id)
    {
    case INFO_PROP_KIND:
      g_value_set_enum (value, self->kind);
      break;
    case INFO_PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case INFO_PROP_FILENAME:
      g_value_set_string (value, self->filename);
      break;
    case INFO_PROP_REFUSAL:
      g_value_set_string (value, self->refusal);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_plugin_info_class_init (FoctetPluginInfoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = foctet_plugin_info_finalize;
  object_class->get_property = foctet_plugin_info_get_property;

  /**
   * FoctetPluginInfo:kind:
   *
   * What the plugin provides; %FOCTET_PLUGIN_KIND_NONE for a refused module.
   */
  info_properties[INFO_PROP_KIND] =
    g_param_spec_enum ("kind", NULL, NULL, FOCTET_TYPE_PLUGIN_KIND, FOCTET_PLUGIN_KIND_NONE,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPluginInfo:name:
   *
   * The name of what it provides ("tls"), or of the refused module.
   */
  info_properties[INFO_PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPluginInfo:filename:
   *
   * The module file, or %NULL for a type registered at run time.
   */
  info_properties[INFO_PROP_FILENAME] =
    g_param_spec_string ("filename", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPluginInfo:refusal:
   *
   * Why the module was refused, or %NULL if it was loaded.
   */
  info_properties[INFO_PROP_REFUSAL] =
    g_param_spec_string ("refusal", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, INFO_N_PROPS, info_properties);
}

static void
foctet_plugin_info_init (FoctetPluginInfo *self)
{
}

static FoctetPluginInfo *
plugin_info_new (FoctetPluginKind  kind,
                 const char       *name,
                 const char       *filename,
                 const char       *refusal)
{
  FoctetPluginInfo *self = g_object_new (FOCTET_TYPE_PLUGIN_INFO, NULL);

  self->kind = kind;
  self->name = g_strdup (name);
  self->filename = g_strdup (filename);
  self->refusal = g_strdup (refusal);
  return self;
}

/**
 * foctet_plugin_info_get_kind:
 * @self: a [class@Foctet.PluginInfo]
 *
 * Gets what kind of type the plugin provides, the [property@Foctet.PluginInfo:kind]
 * property.
 *
 * Returns: what the plugin provides, or %FOCTET_PLUGIN_KIND_NONE for a
 *   refused module
 */
FoctetPluginKind
foctet_plugin_info_get_kind (FoctetPluginInfo *self)
{
  g_return_val_if_fail (FOCTET_IS_PLUGIN_INFO (self), FOCTET_PLUGIN_KIND_NONE);
  return self->kind;
}

/**
 * foctet_plugin_info_get_name:
 * @self: a [class@Foctet.PluginInfo]
 *
 * Gets the name the provided type is found by, such as "tls" — what
 * [method@Foctet.Registry.create_transport] and its siblings take — or the name
 * of the refused module.
 *
 * Returns: the name of what it provides, or of the refused module; owned
 *   by @self
 */
const char *
foctet_plugin_info_get_name (FoctetPluginInfo *self)
{
  g_return_val_if_fail (FOCTET_IS_PLUGIN_INFO (self), NULL);
  return self->name;
}

/**
 * foctet_plugin_info_get_filename:
 * @self: a [class@Foctet.PluginInfo]
 *
 * Gets the path of the module file the plugin was loaded (or refused)
 * from.
 *
 * Returns: (nullable) (type filename): the module file, owned by @self, or
 *   %NULL for a type registered at run time
 */
const char *
foctet_plugin_info_get_filename (FoctetPluginInfo *self)
{
  g_return_val_if_fail (FOCTET_IS_PLUGIN_INFO (self), NULL);
  return self->filename;
}

/**
 * foctet_plugin_info_get_refusal:
 * @self: a [class@Foctet.PluginInfo]
 *
 * Gets why the registry refused the module (no descriptor, another
 * plugin ABI, shadowed by a module of the same name found earlier).
 *
 * Returns: (nullable): why the module was refused, owned by @self, or
 *   %NULL if it was loaded
 */
const char *
foctet_plugin_info_get_refusal (FoctetPluginInfo *self)
{
  g_return_val_if_fail (FOCTET_IS_PLUGIN_INFO (self), NULL);
  return self->refusal;
}

/**
 * foctet_plugin_kind_to_string:
 * @kind: a [enum@Foctet.PluginKind]
 *
 * Gives the name of @kind, as `foctet-shell plugins` prints it.  A value
 * outside the enumeration is named "none".
 *
 * Returns: "transport", "muxer", "discovery" or "none", a static string
 */
const char *
foctet_plugin_kind_to_string (FoctetPluginKind kind)
{
  switch (kind)
    {
    case FOCTET_PLUGIN_KIND_TRANSPORT:
      return "transport";
    case FOCTET_PLUGIN_KIND_MUXER:
      return "muxer";
    case FOCTET_PLUGIN_KIND_DISCOVERY:
      return "discovery";
    case FOCTET_PLUGIN_KIND_NONE:
    default:
      return "none";
    }
}

/**
 * FoctetRegistry:
 *
 * The plugins of the process.  On first use it scans the plugin
 * directories — those given with [method@Foctet.Registry.add_search_path], then
 * `FOCTET_PLUGIN_PATH` (colon-separated), then the installed plugin
 * directory, or `FOCTET_PLUGIN_SYSTEM_PATH` instead when set — and loads
 * every module whose descriptor (#FoctetPluginDesc) matches this library's
 * plugin ABI.  Modules without a descriptor, built for another ABI, or
 * shadowed by one of the same name found earlier are refused before any
 * of their code runs; [method@Foctet.Registry.get_plugins] says why.
 */

struct _FoctetRegistry {
  GObject parent_instance;

  /* Guards everything below: the registry is shared by the whole process,
   * and applications may look plugins up from more than one thread.
   * Recursive, because a plugin's g_io_module_load() may itself ask the
   * registry for something while the registry is loading it. */
  GRecMutex lock;
  GPtrArray *search_path;
  gboolean loaded;
  GPtrArray *scanned;         /* once loaded: the directories scanned, canonical */
  GListStore *plugins;
  GHashTable *module_names;   /* descriptor name → file it was loaded from */
};

G_DEFINE_FINAL_TYPE (FoctetRegistry, foctet_registry, G_TYPE_OBJECT)

static const struct {
  FoctetPluginKind kind;
  const char *point;
} extension_points[] = {
  { FOCTET_PLUGIN_KIND_TRANSPORT, FOCTET_EXTENSION_POINT_TRANSPORT },
  { FOCTET_PLUGIN_KIND_MUXER, FOCTET_EXTENSION_POINT_MUXER },
  { FOCTET_PLUGIN_KIND_DISCOVERY, FOCTET_EXTENSION_POINT_DISCOVERY },
};

static const char *
kind_to_point (FoctetPluginKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (extension_points); i++)
    if (extension_points[i].kind == kind)
      return extension_points[i].point;
  return NULL;
}

static GType
kind_to_interface (FoctetPluginKind kind)
{
  switch (kind)
    {
    case FOCTET_PLUGIN_KIND_TRANSPORT:
      return FOCTET_TYPE_TRANSPORT;
    case FOCTET_PLUGIN_KIND_MUXER:
      return FOCTET_TYPE_MUXER;
    case FOCTET_PLUGIN_KIND_DISCOVERY:
      return FOCTET_TYPE_DISCOVERY;
    case FOCTET_PLUGIN_KIND_NONE:
    default:
      return G_TYPE_INVALID;
    }
}

static void
foctet_registry_finalize (GObject *object)
{
  FoctetRegistry *self = FOCTET_REGISTRY (object);

  g_clear_pointer (&self->search_path, g_ptr_array_unref);
  g_clear_pointer (&self->scanned, g_ptr_array_unref);
  g_clear_object (&self->plugins);
  g_clear_pointer (&self->module_names, g_hash_table_unref);
  g_rec_mutex_clear (&self->lock);

  G_OBJECT_CLASS (foctet_registry_parent_class)->finalize (object);
}

static void
foctet_registry_class_init (FoctetRegistryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = foctet_registry_finalize;
}

static void
foctet_registry_init (FoctetRegistry *self)
{
  g_rec_mutex_init (&self->lock);
  self->search_path = g_ptr_array_new_with_free_func (g_free);
  self->plugins = g_list_store_new (FOCTET_TYPE_PLUGIN_INFO);
  self->module_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * foctet_registry_get_default:
 *
 * Gets the registry of the process, creating it and registering the
 * extension points [const@Foctet.EXTENSION_POINT_TRANSPORT],
 * [const@Foctet.EXTENSION_POINT_MUXER] and [const@Foctet.EXTENSION_POINT_DISCOVERY] on
 * first use.  Plugins are loaded later, on the first lookup.
 *
 * Returns: (transfer none): the registry of the process
 */
FoctetRegistry *
foctet_registry_get_default (void)
{
  static FoctetRegistry *registry;

  if (g_once_init_enter (&registry))
    {
      FoctetRegistry *created;

      for (guint i = 0; i < G_N_ELEMENTS (extension_points); i++)
        {
          GIOExtensionPoint *point = g_io_extension_point_register (extension_points[i].point);

          g_io_extension_point_set_required_type (point,
                                                  kind_to_interface (extension_points[i].kind));
        }
      created = g_object_new (FOCTET_TYPE_REGISTRY, NULL);
      g_once_init_leave (&registry, created);
    }
  return registry;
}

static void add_directory (GPtrArray  *dirs,
                           const char *directory);
static void load_directory (FoctetRegistry *self,
                            const char     *directory);

/**
 * foctet_registry_add_search_path:
 * @self: a [class@Foctet.Registry]
 * @directory: (type filename): a directory of plugins
 *
 * Searches @directory before `FOCTET_PLUGIN_PATH` and the installed plugin
 * directory; directories added earlier are searched first.  Once the
 * plugins are loaded (at the first lookup), @directory is scanned at once
 * instead, after everything loaded before: of a module with the name of
 * one already loaded, the one loaded first stays (the other is listed as
 * refused, "shadowed by …").  A directory already scanned is not scanned
 * again.
 */

void
foctet_registry_add_search_path (FoctetRegistry *self,
                                 const char     *directory)
{
  g_return_if_fail (FOCTET_IS_REGISTRY (self));
  g_return_if_fail (directory != NULL);

  g_rec_mutex_lock (&self->lock);
  if (!self->loaded)
    g_ptr_array_add (self->search_path, g_strdup (directory));
  else
    {
      guint before = self->scanned->len;

      add_directory (self->scanned, directory);
      if (self->scanned->len > before)
        load_directory (self, g_ptr_array_index (self->scanned, before));
    }
  g_rec_mutex_unlock (&self->lock);
}

static void
refuse (FoctetRegistry *self,
        const char     *name,
        const char     *path,
        const char     *reason)
{
  g_autoptr(FoctetPluginInfo) info = plugin_info_new (FOCTET_PLUGIN_KIND_NONE, name, path, reason);

  g_debug ("Refused plugin %s: %s", path, reason);
  g_list_store_append (self->plugins, info);
}

static GHashTable *
snapshot_extensions (void)
{
  GHashTable *seen = g_hash_table_new (g_direct_hash, g_direct_equal);

  for (guint i = 0; i < G_N_ELEMENTS (extension_points); i++)
    for (GList *l = g_io_extension_point_get_extensions (g_io_extension_point_lookup (extension_points[i].point));
         l != NULL; l = l->next)
      g_hash_table_add (seen, l->data);
  return seen;
}

/* Reads the module's descriptor and decides whether to load it.  Opening
 * a module runs only what the dynamic loader runs (ELF constructors, and
 * GModule's g_module_check_init(); a foctet plugin has neither), so a
 * refused module's own code never runs: g_io_module_load() is called only
 * through the GIOModule, once every check passed. */
static void
load_module (FoctetRegistry *self,
             const char     *path)
{
  g_autofree char *basename = g_path_get_basename (path);
  g_autofree char *name = NULL;
  g_autoptr(GHashTable) before = NULL;
  const FoctetPluginDesc *desc = NULL;
  gpointer entry_point = NULL;
  const char *earlier;
  GIOModule *io_module;
  GModule *module;
  guint provided = 0;

  g_debug ("Examining plugin %s", path);
  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      refuse (self, basename, path, g_module_error ());
      return;
    }
  if (!g_module_symbol (module, "foctet_plugin_desc", (gpointer *) &desc) || desc == NULL)
    {
      refuse (self, basename, path, "not a foctet plugin: no foctet_plugin_desc symbol");
      g_module_close (module);
      return;
    }
  /* The descriptor only ever grows at its end, so its first fields can be
   * read whatever ABI the module was built for. */
  name = g_strdup (desc->name != NULL && desc->name[0] != '\0' ? desc->name : basename);
  if (desc->abi_version != FOCTET_PLUGIN_ABI_VERSION)
    {
      g_autofree char *reason =
        g_strdup_printf ("built for plugin ABI %u, this libfoctet-core has ABI %d",
                         desc->abi_version, FOCTET_PLUGIN_ABI_VERSION);
      refuse (self, name, path, reason);
      g_module_close (module);
      return;
    }

  earlier = g_hash_table_lookup (self->module_names, name);
  if (earlier != NULL)
    {
      g_autofree char *reason = g_strdup_printf ("shadowed by %s", earlier);
      refuse (self, name, path, reason);
      g_module_close (module);
      return;
    }

  /* GIOModule would only print to stderr if these were missing. */
  if (!g_module_symbol (module, "g_io_module_load", &entry_point) ||
      !g_module_symbol (module, "g_io_module_unload", &entry_point))
    {
      refuse (self, name, path, "not a GIO module: no g_io_module_load or g_io_module_unload symbol");
      g_module_close (module);
      return;
    }

  before = snapshot_extensions ();
  io_module = g_io_module_new (path);
  /* Still holding our handle, the GIOModule opens the same loaded object
   * instead of loading it a second time. */
  if (!g_type_module_use (G_TYPE_MODULE (io_module)))
    {
      refuse (self, name, path, "its g_io_module_load() could not be run");
      /* A GTypeModule is never freed once created. */
      g_module_close (module);
      return;
    }
  /* Types cannot be unregistered, so the module stays in use for good. */
  g_module_close (module);
  g_hash_table_insert (self->module_names, g_strdup (name), g_strdup (path));

  for (guint i = 0; i < G_N_ELEMENTS (extension_points); i++)
    {
      GIOExtensionPoint *point = g_io_extension_point_lookup (extension_points[i].point);

      for (GList *l = g_io_extension_point_get_extensions (point); l != NULL; l = l->next)
        {
          g_autoptr(FoctetPluginInfo) info = NULL;
          const char *extension_name = g_io_extension_get_name (l->data);

          if (g_hash_table_contains (before, l->data))
            continue;
          /* GIO keeps both; lookups by name find the one of higher priority. */
          if (g_io_extension_point_get_extension_by_name (point, extension_name) != l->data)
            g_debug ("Plugin %s provides %s %s, which another plugin already provides",
                     path, foctet_plugin_kind_to_string (extension_points[i].kind), extension_name);
          info = plugin_info_new (extension_points[i].kind, extension_name, path, NULL);
          g_list_store_append (self->plugins, info);
          g_debug ("Plugin %s (%s) provides %s %s", path, name,
                   foctet_plugin_kind_to_string (extension_points[i].kind), extension_name);
          provided++;
        }
    }
  if (provided == 0)
    g_debug ("Plugin %s (%s) loaded but provides nothing", path, name);
}

static gint
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
load_directory (FoctetRegistry *self,
                const char     *directory)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *entry;

  dir = g_dir_open (directory, 0, &error);
  if (dir == NULL)
    {
      g_debug ("Plugin directory %s: %s", directory, error->message);
      return;
    }
  g_debug ("Scanning plugin directory %s", directory);
  while ((entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (entry, "." G_MODULE_SUFFIX))
      g_ptr_array_add (files, g_build_filename (directory, entry, NULL));
  g_ptr_array_sort (files, compare_names);

  for (guint i = 0; i < files->len; i++)
    load_module (self, g_ptr_array_index (files, i));
}

/* Appends @directory unless it is already listed: a directory named twice
 * would otherwise have every module "shadowed" by itself. */
static void
add_directory (GPtrArray  *dirs,
               const char *directory)
{
  g_autofree char *canonical = g_canonicalize_filename (directory, NULL);

  for (guint i = 0; i < dirs->len; i++)
    if (strcmp (g_ptr_array_index (dirs, i), canonical) == 0)
      return;
  g_ptr_array_add (dirs, g_steal_pointer (&canonical));
}

static void
add_path_list (GPtrArray  *dirs,
               const char *list)
{
  g_auto(GStrv) parts = NULL;

  if (list == NULL)
    return;
  parts = g_strsplit (list, G_SEARCHPATH_SEPARATOR_S, -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      add_directory (dirs, parts[i]);
}

/**
 * foctet_registry_ensure_loaded:
 * @self: a [class@Foctet.Registry]
 *
 * Scans the plugin directories and loads the plugins, once.  Every
 * function that looks plugins up calls this itself.
 *
 * The directories are, in order: those given with
 * [method@Foctet.Registry.add_search_path], those in the colon-separated
 * `FOCTET_PLUGIN_PATH`, then those in `FOCTET_PLUGIN_SYSTEM_PATH` if it
 * is set (set it empty for none), else the installed plugin directory.
 * In each, every `*.so` is examined in the order of their names; of two
 * modules with the same descriptor name, the one found first wins.
 */
void
foctet_registry_ensure_loaded (FoctetRegistry *self)
{
  g_autoptr(GPtrArray) dirs = NULL;
  const char *system_path;

  g_return_if_fail (FOCTET_IS_REGISTRY (self));

  g_rec_mutex_lock (&self->lock);
  if (self->loaded)
    {
      g_rec_mutex_unlock (&self->lock);
      return;
    }
  self->loaded = TRUE;

  dirs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < self->search_path->len; i++)
    add_directory (dirs, g_ptr_array_index (self->search_path, i));
  add_path_list (dirs, g_getenv ("FOCTET_PLUGIN_PATH"));
  system_path = g_getenv ("FOCTET_PLUGIN_SYSTEM_PATH");
  if (system_path != NULL)
    add_path_list (dirs, system_path);
  else
    add_directory (dirs, FOCTET_PLUGINDIR);

  for (guint i = 0; i < dirs->len; i++)
    load_directory (self, g_ptr_array_index (dirs, i));
  self->scanned = g_steal_pointer (&dirs);
  g_rec_mutex_unlock (&self->lock);
}

/**
 * foctet_registry_get_plugins:
 * @self: a [class@Foctet.Registry]
 *
 * Lists what the registry found, loading the plugins first if that has
 * not happened yet.  Types registered later with
 * [method@Foctet.Registry.register_type] are appended to the same model.
 *
 * Returns: (transfer none): a list model of [class@Foctet.PluginInfo], owned by
 *   the registry; one item per type a plugin provides, and one per refused
 *   module
 */
GListModel *
foctet_registry_get_plugins (FoctetRegistry *self)
{
  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), NULL);

  foctet_registry_ensure_loaded (self);
  return G_LIST_MODEL (self->plugins);
}

/**
 * foctet_registry_list_names:
 * @self: a [class@Foctet.Registry]
 * @kind: which kind of plugin
 *
 * Lists the names of the types available for @kind, from plugins and
 * from [method@Foctet.Registry.register_type], loading the plugins first if that
 * has not happened yet.  For %FOCTET_PLUGIN_KIND_NONE the list is empty.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names available
 *   for @kind, highest priority first; free with g_strfreev()
 */
char **
foctet_registry_list_names (FoctetRegistry   *self,
                            FoctetPluginKind  kind)
{
  GPtrArray *names;
  const char *point;

  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), NULL);

  foctet_registry_ensure_loaded (self);
  names = g_ptr_array_new ();
  point = kind_to_point (kind);
  if (point != NULL)
    for (GList *l = g_io_extension_point_get_extensions (g_io_extension_point_lookup (point));
         l != NULL; l = l->next)
      g_ptr_array_add (names, g_strdup (g_io_extension_get_name (l->data)));
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

/**
 * foctet_registry_register_type:
 * @self: a [class@Foctet.Registry]
 * @kind: what @type provides
 * @name: the name to find it by ("tls", "my-transport")
 * @type: a type implementing the interface of @kind
 * @error: return location for a #GError
 *
 * Registers a type at run time, as a plugin would — for applications,
 * including Python and GJS ones, that bring their own transport.  The
 * plugins are loaded first, so a name a plugin already provides is taken.
 * The type is listed by [method@Foctet.Registry.get_plugins] without a filename.
 *
 * Returns: %TRUE if registered; %FALSE with %FOCTET_ERROR_INVALID_ARGUMENT
 *   if @type does not implement the interface of @kind, or @name is not
 *   usable or already taken
 */
gboolean
foctet_registry_register_type (FoctetRegistry    *self,
                               FoctetPluginKind   kind,
                               const char        *name,
                               GType              type,
                               GError           **error)
{
  g_autoptr(FoctetPluginInfo) info = NULL;
  const char *point;
  GType iface;

  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  foctet_registry_ensure_loaded (self);
  point = kind_to_point (kind);
  iface = kind_to_interface (kind);
  if (point == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Cannot register a plugin of kind %d", kind);
      return FALSE;
    }
  if (!g_type_is_a (type, iface) || G_TYPE_IS_ABSTRACT (type))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Type %s is not an instantiable %s",
                   type != G_TYPE_INVALID ? g_type_name (type) : "(invalid)", g_type_name (iface));
      return FALSE;
    }
  if (name[0] == '\0' || strchr (name, '/') != NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a usable plugin name", name);
      return FALSE;
    }
  g_rec_mutex_lock (&self->lock);
  if (g_io_extension_point_get_extension_by_name (g_io_extension_point_lookup (point), name) != NULL)
    {
      g_rec_mutex_unlock (&self->lock);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "A %s named “%s” is already registered", foctet_plugin_kind_to_string (kind), name);
      return FALSE;
    }

  g_io_extension_point_implement (point, type, name, 0);
  info = plugin_info_new (kind, name, NULL, NULL);
  g_list_store_append (self->plugins, info);
  g_rec_mutex_unlock (&self->lock);
  g_debug ("Registered %s %s (type %s) at run time", foctet_plugin_kind_to_string (kind), name,
           g_type_name (type));
  return TRUE;
}

static GType
lookup (FoctetRegistry    *self,
        FoctetPluginKind   kind,
        const char        *name,
        GError           **error)
{
  GIOExtensionPoint *point;
  GIOExtension *extension = NULL;

  foctet_registry_ensure_loaded (self);
  point = g_io_extension_point_lookup (kind_to_point (kind));
  if (name != NULL)
    extension = g_io_extension_point_get_extension_by_name (point, name);
  else if (g_io_extension_point_get_extensions (point) != NULL)
    extension = g_io_extension_point_get_extensions (point)->data;

  if (extension == NULL)
    {
      g_auto(GStrv) names = foctet_registry_list_names (self, kind);
      g_autofree char *available = g_strjoinv (", ", names);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_NOT_FOUND,
                   "No %s plugin%s%s%s (available: %s)", foctet_plugin_kind_to_string (kind),
                   name != NULL ? " named “" : "", name != NULL ? name : "", name != NULL ? "”" : "",
                   names[0] != NULL ? available : "none");
      return G_TYPE_INVALID;
    }
  return g_io_extension_get_type (extension);
}

/* Whether objects of @type (a transport or a discovery) can be given
 * the node's identity: their class must override the interface's
 * "identity" property (g_object_class_override_property ()). */
static gboolean
type_takes_identity (GType type)
{
  GObjectClass *klass = g_type_class_ref (type);
  GParamSpec *pspec = g_object_class_find_property (klass, "identity");

  g_type_class_unref (klass);
  return pspec != NULL && (pspec->flags & G_PARAM_READWRITE) == G_PARAM_READWRITE;
}

/* A transport or discovery of @type, given @identity; refused unless it
 * keeps it (without, it could not authenticate, and would fail later
 * with a far less clear error). */
static gpointer
new_with_identity (GType             type,
                   FoctetPluginKind  kind,
                   const char       *name,
                   FoctetIdentity   *identity,
                   GError          **error)
{
  g_autoptr(GObject) object = NULL;
  g_autoptr(FoctetIdentity) kept = NULL;

  if (type_takes_identity (type))
    {
      object = g_object_new (type, "identity", identity, NULL);
      g_object_get (object, "identity", &kept, NULL);
    }
  if (kept != identity)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PLUGIN_REFUSED,
                   "The %s “%s” (type %s) does not keep the identity it is given: its class must override "
                   "the “identity” property of the interface and store it", foctet_plugin_kind_to_string (kind),
                   name, g_type_name (type));
      return NULL;
    }
  return g_steal_pointer (&object);
}

/**
 * foctet_registry_create_transport:
 * @self: a [class@Foctet.Registry]
 * @name: the transport's name ("tls", "quic", ...)
 * @identity: the identity it authenticates with
 * @error: return location for a #GError
 *
 * Creates a transport of the type registered as @name, loading the
 * plugins first if that has not happened yet.  A [class@Foctet.Node] does this
 * itself when it listens or dials on a transport.
 *
 * Returns: (transfer full): a new transport, or %NULL with
 *   %FOCTET_ERROR_PLUGIN_NOT_FOUND, or %FOCTET_ERROR_PLUGIN_REFUSED for a
 *   type that does not keep @identity (its class must override the
 *   interface's "identity" property)
 */
FoctetTransport *
foctet_registry_create_transport (FoctetRegistry  *self,
                                  const char      *name,
                                  FoctetIdentity  *identity,
                                  GError         **error)
{
  GType type;

  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (FOCTET_IS_IDENTITY (identity), NULL);

  type = lookup (self, FOCTET_PLUGIN_KIND_TRANSPORT, name, error);
  if (type == G_TYPE_INVALID)
    return NULL;
  return new_with_identity (type, FOCTET_PLUGIN_KIND_TRANSPORT, name, identity, error);
}

/**
 * foctet_registry_create_muxer:
 * @self: a [class@Foctet.Registry]
 * @name: (nullable): the muxer's name, or %NULL for the preferred one
 * @error: return location for a #GError
 *
 * Creates a muxer of the type registered as @name, or of the one with the
 * highest priority, loading the plugins first if that has not happened
 * yet.
 *
 * Returns: (transfer full): a new muxer, or %NULL with
 *   %FOCTET_ERROR_PLUGIN_NOT_FOUND
 */
FoctetMuxer *
foctet_registry_create_muxer (FoctetRegistry  *self,
                              const char      *name,
                              GError         **error)
{
  GType type;

  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), NULL);

  type = lookup (self, FOCTET_PLUGIN_KIND_MUXER, name, error);
  if (type == G_TYPE_INVALID)
    return NULL;
  return g_object_new (type, NULL);
}

/**
 * foctet_registry_create_discovery:
 * @self: a [class@Foctet.Registry]
 * @name: the mechanism's name ("mdns", ...)
 * @identity: the identity of the node it works for
 * @error: return location for a #GError
 *
 * Creates a discovery mechanism of the type registered as @name, loading
 * the plugins first if that has not happened yet.  It does nothing until
 * it is started; [method@Foctet.Node.add_discovery] is the usual way to use one.
 *
 * Returns: (transfer full): a new discovery, or %NULL with
 *   %FOCTET_ERROR_PLUGIN_NOT_FOUND, or %FOCTET_ERROR_PLUGIN_REFUSED for a
 *   type that does not keep @identity
 */
FoctetDiscovery *
foctet_registry_create_discovery (FoctetRegistry  *self,
                                  const char      *name,
                                  FoctetIdentity  *identity,
                                  GError         **error)
{
  GType type;

  g_return_val_if_fail (FOCTET_IS_REGISTRY (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (FOCTET_IS_IDENTITY (identity), NULL);

  type = lookup (self, FOCTET_PLUGIN_KIND_DISCOVERY, name, error);
  if (type == G_TYPE_INVALID)
    return NULL;
  return new_with_identity (type, FOCTET_PLUGIN_KIND_DISCOVERY, name, identity, error);
}

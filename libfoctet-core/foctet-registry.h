/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-identity.h"
#include "foctet-transport.h"
#include "foctet-muxer.h"
#include "foctet-discovery.h"

G_BEGIN_DECLS

/**
 * FoctetPluginKind:
 * @FOCTET_PLUGIN_KIND_NONE: nothing (a refused module)
 * @FOCTET_PLUGIN_KIND_TRANSPORT: a [iface@Foctet.Transport]
 * @FOCTET_PLUGIN_KIND_MUXER: a [iface@Foctet.Muxer]
 * @FOCTET_PLUGIN_KIND_DISCOVERY: a [iface@Foctet.Discovery]
 *
 * What a plugin provides.
 */
typedef enum {
  FOCTET_PLUGIN_KIND_NONE,
  FOCTET_PLUGIN_KIND_TRANSPORT,
  FOCTET_PLUGIN_KIND_MUXER,
  FOCTET_PLUGIN_KIND_DISCOVERY,
} FoctetPluginKind;

#define FOCTET_TYPE_PLUGIN_INFO (foctet_plugin_info_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetPluginInfo, foctet_plugin_info, FOCTET, PLUGIN_INFO, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetPluginKind foctet_plugin_info_get_kind (FoctetPluginInfo *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_plugin_info_get_name (FoctetPluginInfo *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_plugin_info_get_filename (FoctetPluginInfo *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_plugin_info_get_refusal (FoctetPluginInfo *self);

FOCTET_AVAILABLE_IN_ALL
const char *foctet_plugin_kind_to_string (FoctetPluginKind kind);

#define FOCTET_TYPE_REGISTRY (foctet_registry_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetRegistry, foctet_registry, FOCTET, REGISTRY, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetRegistry *foctet_registry_get_default (void);
FOCTET_AVAILABLE_IN_ALL
void foctet_registry_add_search_path (FoctetRegistry *self,
                                      const char     *directory);
FOCTET_AVAILABLE_IN_ALL
void foctet_registry_ensure_loaded (FoctetRegistry *self);
FOCTET_AVAILABLE_IN_ALL
GListModel *foctet_registry_get_plugins (FoctetRegistry *self);
FOCTET_AVAILABLE_IN_ALL
char **foctet_registry_list_names (FoctetRegistry   *self,
                                   FoctetPluginKind  kind);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_registry_register_type (FoctetRegistry    *self,
                                        FoctetPluginKind   kind,
                                        const char        *name,
                                        GType              type,
                                        GError           **error);
FOCTET_AVAILABLE_IN_ALL
FoctetTransport *foctet_registry_create_transport (FoctetRegistry  *self,
                                                   const char      *name,
                                                   FoctetIdentity  *identity,
                                                   GError         **error);
FOCTET_AVAILABLE_IN_ALL
FoctetMuxer *foctet_registry_create_muxer (FoctetRegistry  *self,
                                           const char      *name,
                                           GError         **error);
FOCTET_AVAILABLE_IN_ALL
FoctetDiscovery *foctet_registry_create_discovery (FoctetRegistry  *self,
                                                   const char      *name,
                                                   FoctetIdentity  *identity,
                                                   GError         **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-version.h"

G_BEGIN_DECLS

/**
 * FOCTET_EXTENSION_POINT_TRANSPORT:
 *
 * Name of the GIO extension point on which transport plugins register
 * types implementing [iface@Foctet.Transport].  The extension name is the
 * transport name used in addresses ("tls", "quic", ...).
 */
#define FOCTET_EXTENSION_POINT_TRANSPORT "foctet-transport"
/**
 * FOCTET_EXTENSION_POINT_MUXER:
 *
 * Extension point for types implementing [iface@Foctet.Muxer].
 */
#define FOCTET_EXTENSION_POINT_MUXER "foctet-muxer"
/**
 * FOCTET_EXTENSION_POINT_DISCOVERY:
 *
 * Extension point for types implementing [iface@Foctet.Discovery].
 */
#define FOCTET_EXTENSION_POINT_DISCOVERY "foctet-discovery"

/**
 * FoctetPluginDesc: (skip)
 * @abi_version: the FOCTET_PLUGIN_ABI_VERSION the plugin was built with
 * @name: short name of the plugin, e.g. "transport-tls"
 * @description: one line saying what it provides
 *
 * The descriptor every plugin exports as the symbol `foctet_plugin_desc`.
 * The registry reads it before it runs any code of the module, so a stale
 * plugin is refused with a message instead of crashing the process.
 * The struct only ever grows at its end.
 */
typedef struct {
  guint32 abi_version;
  const char *name;
  const char *description;
} FoctetPluginDesc;

/**
 * FOCTET_PLUGIN_DEFINE: (skip)
 * @plugin_name: short name of the plugin (a string literal)
 * @plugin_description: one line describing it (a string literal)
 *
 * Defines the plugin descriptor.  Use it once in the module file, next to
 * g_io_module_load(), g_io_module_unload() and g_io_module_query(), as
 * G_DEFINE_TYPE() is used: without a semicolon after it.
 */
#define FOCTET_PLUGIN_DEFINE(plugin_name, plugin_description)                  \
  G_MODULE_EXPORT extern const FoctetPluginDesc foctet_plugin_desc;            \
  G_MODULE_EXPORT const FoctetPluginDesc foctet_plugin_desc = {                \
    FOCTET_PLUGIN_ABI_VERSION, plugin_name, plugin_description                 \
  };

G_END_DECLS

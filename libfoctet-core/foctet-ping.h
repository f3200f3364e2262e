/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-connection.h"

G_BEGIN_DECLS

/**
 * FOCTET_PROTOCOL_PING:
 *
 * The built-in ping protocol (PROTOCOL §5).
 */
#define FOCTET_PROTOCOL_PING "foctet/ping/1"

/**
 * FOCTET_PING_SIZE:
 *
 * Bytes in one ping.
 */
#define FOCTET_PING_SIZE 32

#define FOCTET_TYPE_PINGER (foctet_pinger_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetPinger, foctet_pinger, FOCTET, PINGER, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetPinger *foctet_pinger_new (FoctetConnection *connection);
FOCTET_AVAILABLE_IN_ALL
void foctet_pinger_ping_async (FoctetPinger        *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gint64 foctet_pinger_ping_finish (FoctetPinger  *self,
                                  GAsyncResult  *result,
                                  GError       **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_pinger_close_async (FoctetPinger        *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_pinger_close_finish (FoctetPinger  *self,
                                     GAsyncResult  *result,
                                     GError       **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_SOCKET_SERVICE (foctet_socket_service_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetSocketService, foctet_socket_service, FOCTET, SOCKET_SERVICE, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetSocketService *foctet_socket_service_new (void);
FOCTET_AVAILABLE_IN_ALL
void foctet_socket_service_add_socket (FoctetSocketService *self,
                                       GSocket             *socket,
                                       GObject             *source_object);
FOCTET_AVAILABLE_IN_ALL
void foctet_socket_service_start (FoctetSocketService *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_socket_service_stop (FoctetSocketService *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_socket_service_is_active (FoctetSocketService *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_socket_service_close (FoctetSocketService *self);

G_END_DECLS

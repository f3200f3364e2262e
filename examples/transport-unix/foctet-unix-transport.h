/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define UNIX_TRANSPORT_NAME "unix"

#define UNIX_TYPE_TRANSPORT (unix_transport_get_type ())
G_DECLARE_FINAL_TYPE (UnixTransport, unix_transport, UNIX, TRANSPORT, GObject)

void unix_transport_register (GTypeModule *module);

G_END_DECLS

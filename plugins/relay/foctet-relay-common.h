/* foctet-relay-common.h: small helpers both sides of the relay use: the
 * relay plugin (transport and directory) and the foctet-relay server
 * each compile foctet-relay-common.c in (they are different programs;
 * foctet-relay-shared.h is state within the plugin).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

#include "foctet-relay-message.h"

G_BEGIN_DECLS

GSource *relay_attach_timeout (GMainContext *context,
                               guint         ms,
                               GSourceFunc   func,
                               gpointer      data);
void relay_clear_source (GSource **source);


void relay_write_last_message (FoctetStream       *stream,
                               FoctetRelayMessage *message,
                               GCancellable       *cancellable,
                               const char         *what);

G_END_DECLS

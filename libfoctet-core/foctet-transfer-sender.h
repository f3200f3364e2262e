/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node.h"
#include "foctet-ticket.h"

G_BEGIN_DECLS

/**
 * FOCTET_PROTOCOL_TRANSFER:
 *
 * The file-transfer protocol (docs/protocol.md, "File transfer").
 */
#define FOCTET_PROTOCOL_TRANSFER "foctet/transfer/1"

/**
 * FOCTET_PROTOCOL_TRANSFER_PUSH:
 *
 * The protocol name of a push: a sender asking a node to fetch its offer
 * (docs/protocol.md, "Pushing").
 */
#define FOCTET_PROTOCOL_TRANSFER_PUSH "foctet/transfer/push/1"

#define FOCTET_TYPE_TRANSFER_SENDER (foctet_transfer_sender_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetTransferSender, foctet_transfer_sender, FOCTET, TRANSFER_SENDER, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetTransferSender *foctet_transfer_sender_new (FoctetNode  *node,
                                                  GFile      **files,
                                                  guint        n_files);
FOCTET_AVAILABLE_IN_ALL
FoctetNode *foctet_transfer_sender_get_node (FoctetTransferSender *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_sender_prepare_async (FoctetTransferSender *self,
                                           GCancellable         *cancellable,
                                           GAsyncReadyCallback   callback,
                                           gpointer              user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transfer_sender_prepare_finish (FoctetTransferSender  *self,
                                                GAsyncResult          *result,
                                                GError               **error);

FOCTET_AVAILABLE_IN_ALL
guint foctet_transfer_sender_get_n_files (FoctetTransferSender *self);
FOCTET_AVAILABLE_IN_ALL
guint64 foctet_transfer_sender_get_total_size (FoctetTransferSender *self);
FOCTET_AVAILABLE_IN_ALL
guint foctet_transfer_sender_get_n_skipped (FoctetTransferSender *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_transfer_sender_get_skipped_path (FoctetTransferSender *self,
                                                     guint                 index);
FOCTET_AVAILABLE_IN_ALL
GFileType foctet_transfer_sender_get_skipped_type (FoctetTransferSender *self,
                                                   guint                 index);
FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_transfer_sender_get_ticket (FoctetTransferSender *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_sender_serve_async (FoctetTransferSender *self,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transfer_sender_serve_finish (FoctetTransferSender  *self,
                                              GAsyncResult          *result,
                                              GError               **error);

FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_sender_push_async (FoctetTransferSender *self,
                                        FoctetTicket         *ticket,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transfer_sender_push_finish (FoctetTransferSender  *self,
                                             GAsyncResult          *result,
                                             GError               **error);

G_END_DECLS

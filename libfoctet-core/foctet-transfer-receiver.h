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
 * FoctetTransferReceiveFlags:
 * @FOCTET_TRANSFER_RECEIVE_NONE: no flags: never replace a file that is
 *   already in the output directory and differs from the one offered
 * @FOCTET_TRANSFER_RECEIVE_FORCE: replace such files (regular files only;
 *   a directory or symbolic link in the way is still an error)
 *
 * Flags of [method@Foctet.TransferReceiver.receive_async].
 */
typedef enum /*< flags >*/ {
  FOCTET_TRANSFER_RECEIVE_NONE = 0,
  FOCTET_TRANSFER_RECEIVE_FORCE = 1 << 0,
} FoctetTransferReceiveFlags;

#define FOCTET_TYPE_TRANSFER_RECEIVER (foctet_transfer_receiver_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetTransferReceiver, foctet_transfer_receiver, FOCTET, TRANSFER_RECEIVER, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetTransferReceiver *foctet_transfer_receiver_new (FoctetNode *node);
FOCTET_AVAILABLE_IN_ALL
FoctetNode *foctet_transfer_receiver_get_node (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_transfer_receiver_get_transport (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_receiver_set_transport (FoctetTransferReceiver *self,
                                             const char             *transport);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transfer_ticket_check_offer (FoctetTicket  *ticket,
                                             GError       **error);

FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_receiver_receive_async (FoctetTransferReceiver     *self,
                                             FoctetTicket               *ticket,
                                             GFile                      *output_dir,
                                             FoctetTransferReceiveFlags  flags,
                                             GCancellable               *cancellable,
                                             GAsyncReadyCallback         callback,
                                             gpointer                    user_data);
FOCTET_AVAILABLE_IN_ALL
void foctet_transfer_receiver_receive_pushed_async (FoctetTransferReceiver     *self,
                                                    FoctetConnection           *connection,
                                                    FoctetStream               *stream,
                                                    GFile                      *output_dir,
                                                    FoctetTransferReceiveFlags  flags,
                                                    GCancellable               *cancellable,
                                                    GAsyncReadyCallback         callback,
                                                    gpointer                    user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_transfer_receiver_receive_finish (FoctetTransferReceiver  *self,
                                                  GAsyncResult            *result,
                                                  GError                 **error);

FOCTET_AVAILABLE_IN_ALL
guint64 foctet_transfer_receiver_get_bytes_total (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
guint64 foctet_transfer_receiver_get_bytes_done (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
guint64 foctet_transfer_receiver_get_bytes_fetched (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
guint foctet_transfer_receiver_get_files_total (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
guint foctet_transfer_receiver_get_files_done (FoctetTransferReceiver *self);
FOCTET_AVAILABLE_IN_ALL
char *foctet_transfer_receiver_dup_current_file (FoctetTransferReceiver *self);

G_END_DECLS

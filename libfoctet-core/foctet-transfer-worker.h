/* foctet-transfer-worker.h: the file-I/O threads of a transfer.
 *
 * Internal to libfoctet-core, like foctet-transfer-wire.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A file-I/O thread of one transfer side: the main loop hands it
 * operations (reads or writes of whole chunks, opening and finishing
 * files) in order, goes on moving bytes on the network meanwhile, and
 * gets each operation back on its own context, in the same order, once
 * the thread ran it.  One thread, one queue, one wake-up per batch of
 * results: rather than a GTask per chunk, whose worker-thread hop costs
 * two context switches each time and runs chunks of one file on
 * whichever pool thread is free. */
typedef struct _FoctetTransferWorker FoctetTransferWorker;

/* Runs in the worker thread. */
typedef void (*FoctetTransferWorkFunc) (gpointer op);
/* Runs on the worker's context, once per operation, in order. */
typedef void (*FoctetTransferDeliverFunc) (gpointer op);

FoctetTransferWorker *foctet_transfer_worker_new (const char                *name,
                                                  GMainContext              *context,
                                                  FoctetTransferWorkFunc     work,
                                                  FoctetTransferDeliverFunc  deliver);
FoctetTransferWorker *foctet_transfer_worker_new_stage (const char             *name,
                                                        FoctetTransferWorkFunc  work,
                                                        FoctetTransferWorker   *next);
void foctet_transfer_worker_push (FoctetTransferWorker *self,
                                  gpointer              op);
void foctet_transfer_worker_free (FoctetTransferWorker *self);

G_END_DECLS

/* foctet-transfer-private.h: what FoctetTransferSender and
 * FoctetTransferReceiver share beyond the codec (foctet-transfer-wire.h):
 * errors from errno, reads that survive EINTR, the directory kept open
 * for the next file, sources on a transfer's context, and buffers kept
 * for reuse.  Internal to libfoctet-core, like the codec.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "foctet-source-private.h"

G_BEGIN_DECLS

GError *foctet_transfer_errno_error (int         saved_errno,
                                     const char *format,
                                     ...) G_GNUC_PRINTF (2, 3);

gssize foctet_transfer_pread_full (int     fd,
                                   void   *buf,
                                   gsize   count,
                                   guint64 offset);

/* The directory the last file went into, kept open for the next: files
 * come in manifest order, a directory's files one after the other, so a
 * file costs no walk to its directory (nor any open () or close () of
 * it).  One per thread. */
typedef struct {
  char *path;                           /* NULL when none is held */
  int fd;                               /* may be -1: opening it failed */
} FoctetTransferDirCache;

#define FOCTET_TRANSFER_DIR_CACHE_INIT { NULL, -1 }

gboolean foctet_transfer_dir_cache_holds (const FoctetTransferDirCache *cache,
                                          const char                   *dir,
                                          gsize                         len);
void foctet_transfer_dir_cache_set (FoctetTransferDirCache *cache,
                                    const char             *dir,
                                    gsize                   len,
                                    int                     fd);
void foctet_transfer_dir_cache_clear (FoctetTransferDirCache *cache);

GSource *foctet_transfer_source_attach (GSource      *source,
                                        GSourceFunc   func,
                                        gpointer      data,
                                        GMainContext *context);

/* Buffers of one size, for the chunks the I/O thread reads or writes:
 * a transfer goes through one per chunk, and allocating that many large
 * buffers anew costs more than keeping a few. */
typedef struct {
  GPtrArray *spare;
  gsize size;
  guint max_spare;                      /* kept at most; more are freed */
  gsize align;                          /* for O_DIRECT; 0: not aligned */
} FoctetTransferBufferPool;

void foctet_transfer_buffer_pool_init (FoctetTransferBufferPool *pool,
                                       gsize                     size,
                                       guint                     max_spare,
                                       gsize                     align);
void foctet_transfer_buffer_pool_clear (FoctetTransferBufferPool *pool);
guint8 *foctet_transfer_buffer_pool_take (FoctetTransferBufferPool *pool);
void foctet_transfer_buffer_pool_give (FoctetTransferBufferPool *pool,
                                       guint8                   *buf);

void foctet_transfer_buffer_compact (guint8 *buf,
                                     gsize  *start,
                                     gsize  *end);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The application side of a stream, for muxers and transports: a backend
 * implements a few non-blocking functions on its own per-stream state and
 * gets a FoctetStream whose input and output streams are pollable, can
 * block in the owner thread, and tell the backend when the application is
 * done.  Not part of <foctet.h> and not introspected: include
 * <foctet-channel.h>. */

#include "foctet.h"

G_BEGIN_DECLS

/**
 * FoctetChannelFuncs:
 * @is_readable: whether @read would return something other than
 *   %G_IO_ERROR_WOULD_BLOCK (data, end of stream or an error)
 * @is_writable: whether @write would return something other than
 *   %G_IO_ERROR_WOULD_BLOCK (room, or an error)
 * @read: read without blocking: bytes, 0 at end of stream, or -1 with
 *   %G_IO_ERROR_WOULD_BLOCK or another error
 * @write: write without blocking, like @read
 * @close_write: send end-of-stream behind everything written so far;
 *   fails when the stream was reset or the connection ended
 * @close_read: the application reads no more; drop what arrives
 * @close: both directions end (the application closed the stream):
 *   end-of-stream if not sent yet, stop reading
 * @reset: abort both directions with an application error code
 * @release: the application dropped every object of the stream; a
 *   backend closes a stream that was closed for writing and resets any other
 *
 * What a backend provides per stream.  Every function runs in the thread
 * of the channel's main context.
 */
typedef struct {
  gboolean (*is_readable) (gpointer      backend);
  gboolean (*is_writable) (gpointer      backend);
  gssize   (*read)        (gpointer      backend,
                           void         *buffer,
                           gsize         count,
                           GError      **error);
  gssize   (*write)       (gpointer      backend,
                           const void   *buffer,
                           gsize         count,
                           GError      **error);
  gboolean (*close_write) (gpointer      backend,
                           GError      **error);
  void     (*close_read)  (gpointer      backend);
  void     (*close)       (gpointer      backend);
  void     (*reset)       (gpointer      backend,
                           guint32       code);
  void     (*release)     (gpointer      backend);
} FoctetChannelFuncs;

typedef struct _FoctetChannel FoctetChannel;

FOCTET_AVAILABLE_IN_ALL
FoctetChannel *foctet_channel_new (const FoctetChannelFuncs *funcs,
                                   gpointer                  backend,
                                   GDestroyNotify            backend_free,
                                   GMainContext             *context);
FOCTET_AVAILABLE_IN_ALL
FoctetChannel *foctet_channel_ref (FoctetChannel *channel);
FOCTET_AVAILABLE_IN_ALL
void foctet_channel_unref (FoctetChannel *channel);
FOCTET_AVAILABLE_IN_ALL
void foctet_channel_wake (FoctetChannel *channel,
                          gboolean       readers,
                          gboolean       writers);
FOCTET_AVAILABLE_IN_ALL
guint8 *foctet_channel_get_read_space (FoctetChannel *channel,
                                       gsize         *space);
FOCTET_AVAILABLE_IN_ALL
void foctet_channel_read_space_filled (FoctetChannel *channel,
                                       gsize          n);
FOCTET_AVAILABLE_IN_ALL
gsize foctet_bytes_queue_take (GQueue *queue,
                               gsize  *head_offset,
                               guint8 *out,
                               gsize   count);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetChannel, foctet_channel_unref)

#define FOCTET_TYPE_CHANNEL_STREAM (foctet_channel_stream_get_type ())
FOCTET_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (FoctetChannelStream, foctet_channel_stream, FOCTET, CHANNEL_STREAM, FoctetStream)

struct _FoctetChannelStreamClass {
  FoctetStreamClass parent_class;

  /*< private >*/
  gpointer padding[8];
};

FOCTET_AVAILABLE_IN_ALL
FoctetStream *foctet_channel_stream_new (GType          type,
                                         FoctetChannel *channel,
                                         guint64        id);
FOCTET_AVAILABLE_IN_ALL
FoctetChannel *foctet_channel_stream_get_channel (FoctetChannelStream *self);
FOCTET_AVAILABLE_IN_ALL
gpointer foctet_channel_get_backend (FoctetChannel *channel);

G_END_DECLS

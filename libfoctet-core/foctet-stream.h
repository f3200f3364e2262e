/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"

G_BEGIN_DECLS

/**
 * FOCTET_PROTOCOL_NAME_MAX:
 *
 * Longest protocol name a stream header can carry, in bytes (PROTOCOL §5).
 */
#define FOCTET_PROTOCOL_NAME_MAX 255

#define FOCTET_TYPE_STREAM (foctet_stream_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (FoctetStream, foctet_stream, FOCTET, STREAM, GIOStream)

/**
 * FoctetStreamClass:
 * @parent_class: the parent class
 * @close_write_async: send end-of-stream (FIN) after everything written so far
 *   and keep reading; the default flushes and fails with %G_IO_ERROR_NOT_SUPPORTED
 * @close_write_finish: finishes @close_write_async
 * @reset: abort both directions at once with an application error code
 *
 * A stream of a [class@Foctet.Connection].  Subclasses provide pollable
 * #GInputStream and #GOutputStream through the #GIOStream vfuncs, so
 * g_output_stream_splice_async(), #GDataInputStream and the pollable
 * source helpers work on every transport.
 */
struct _FoctetStreamClass {
  GIOStreamClass parent_class;

  void     (*close_write_async)  (FoctetStream        *self,
                                  int                  io_priority,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
  gboolean (*close_write_finish) (FoctetStream        *self,
                                  GAsyncResult        *result,
                                  GError             **error);
  void     (*reset)              (FoctetStream        *self,
                                  guint32              error_code);

  /*< private >*/
  gpointer padding[12];
};

FOCTET_AVAILABLE_IN_ALL
const char *foctet_stream_get_protocol (FoctetStream *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_stream_set_protocol (FoctetStream *self,
                                 const char   *protocol);
FOCTET_AVAILABLE_IN_ALL
guint64 foctet_stream_get_id (FoctetStream *self);

FOCTET_AVAILABLE_IN_ALL
void foctet_stream_close_write_async (FoctetStream        *self,
                                      int                  io_priority,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_stream_close_write_finish (FoctetStream  *self,
                                           GAsyncResult  *result,
                                           GError       **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_stream_discard (gpointer stream);
FOCTET_AVAILABLE_IN_ALL
void foctet_stream_reset (FoctetStream *self,
                          guint32       error_code);

FOCTET_AVAILABLE_IN_ALL
void foctet_stream_write_header_async (FoctetStream        *self,
                                       const char          *protocol,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_stream_write_header_finish (FoctetStream  *self,
                                            GAsyncResult  *result,
                                            GError       **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_stream_read_header_async (FoctetStream        *self,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
const char *foctet_stream_read_header_finish (FoctetStream  *self,
                                              GAsyncResult  *result,
                                              GError       **error);

G_END_DECLS

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
 * FOCTET_PROTOCOL_PERF:
 *
 * The built-in perf protocol (PROTOCOL §5).
 */
#define FOCTET_PROTOCOL_PERF "foctet/perf/1"

/**
 * FOCTET_PERF_MAX_DOWNLOAD:
 *
 * The most bytes a node serving perf sends on one stream (1 TiB);
 * larger requests are refused with reset code 3.
 */
#define FOCTET_PERF_MAX_DOWNLOAD (G_GUINT64_CONSTANT (1) << 40)

#define FOCTET_TYPE_PERF_RESULT (foctet_perf_result_get_type ())

/**
 * FoctetPerfResult:
 * @upload_bytes: bytes uploaded
 * @download_bytes: bytes downloaded
 * @upload_seconds: from opening the stream to the first downloaded byte
 *   (or to the end of the stream when nothing was downloaded); 0 when
 *   nothing was uploaded
 * @download_seconds: from there to the last downloaded byte; 0 when
 *   nothing was downloaded
 * @started_at: when the stream was opened, in g_get_monotonic_time()'s µs
 * @first_byte_at: when the first byte was downloaded (or the end of the
 *   stream read, when nothing was), in the same µs
 * @ended_at: when the last byte was downloaded (or the end of the stream
 *   read, when nothing was), in the same µs
 *
 * The figures of one perf run (PROTOCOL §5), or of several run at once,
 * added up with [method@Foctet.PerfResult.merge].
 */
typedef struct {
  guint64 upload_bytes;
  guint64 download_bytes;
  double upload_seconds;
  double download_seconds;
  gint64 started_at;
  gint64 first_byte_at;
  gint64 ended_at;
} FoctetPerfResult;

FOCTET_AVAILABLE_IN_ALL
GType foctet_perf_result_get_type (void) G_GNUC_CONST;
FOCTET_AVAILABLE_IN_ALL
FoctetPerfResult *foctet_perf_result_copy (const FoctetPerfResult *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_perf_result_free (FoctetPerfResult *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_perf_result_merge (FoctetPerfResult       *self,
                               const FoctetPerfResult *other);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetPerfResult, foctet_perf_result_free)

FOCTET_AVAILABLE_IN_ALL
void foctet_perf_run_async (FoctetConnection    *connection,
                            guint64              upload_bytes,
                            guint64              download_bytes,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data);
FOCTET_AVAILABLE_IN_ALL
FoctetPerfResult *foctet_perf_run_finish (GAsyncResult  *result,
                                          GError       **error);

FOCTET_AVAILABLE_IN_ALL
gboolean foctet_parse_byte_count (const char  *text,
                                  guint64     *bytes,
                                  GError     **error);

G_END_DECLS

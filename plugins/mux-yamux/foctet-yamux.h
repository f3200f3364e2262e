/* foctet-yamux.h: internals of the yamux muxer plugin (PROTOCOL §4).
 *
 * FoctetYamuxMuxer is what the registry hands out; its wrap() makes a
 * FoctetYamuxConnection, the yamux session over one byte stream.  Each
 * yamux stream has a YamuxChannel, the session's state of it (flow
 * control, receive queue, half-close and reset), shared by the
 * FoctetYamuxStream the application holds and that stream's pollable
 * input and output streams.  The channel outlives its session when the
 * application keeps the stream: it is then detached and every operation
 * fails with the error that ended the session.
 *
 * Everything runs on the GMainContext that was thread-default when the
 * session was made; nothing blocks and no thread is used.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

#include "foctet-yamux-frame.h"

G_BEGIN_DECLS

#define FOCTET_YAMUX_NAME "yamux"

/* Initial window of every stream, fixed by the spec. */
#define FOCTET_YAMUX_INITIAL_WINDOW (256 * 1024)
/* Defaults of the session's properties. */
#define FOCTET_YAMUX_DEFAULT_MAX_STREAM_WINDOW (16 * 1024 * 1024)
#define FOCTET_YAMUX_DEFAULT_MAX_SESSION_WINDOW (64 * 1024 * 1024)
#define FOCTET_YAMUX_DEFAULT_ACCEPT_BACKLOG 256
#define FOCTET_YAMUX_DEFAULT_KEEPALIVE_INTERVAL 30

#define FOCTET_YAMUX_TYPE_MUXER (foctet_yamux_muxer_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxMuxer, foctet_yamux_muxer, FOCTET_YAMUX, MUXER, GObject)

#define FOCTET_YAMUX_TYPE_CONNECTION (foctet_yamux_connection_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxConnection, foctet_yamux_connection, FOCTET_YAMUX, CONNECTION,
                      FoctetConnection)

#define FOCTET_YAMUX_TYPE_STREAM (foctet_yamux_stream_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxStream, foctet_yamux_stream, FOCTET_YAMUX, STREAM, FoctetStream)

#define FOCTET_YAMUX_TYPE_INPUT_STREAM (foctet_yamux_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxInputStream, foctet_yamux_input_stream, FOCTET_YAMUX,
                      INPUT_STREAM, GInputStream)

#define FOCTET_YAMUX_TYPE_OUTPUT_STREAM (foctet_yamux_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxOutputStream, foctet_yamux_output_stream, FOCTET_YAMUX,
                      OUTPUT_STREAM, GOutputStream)

/* Registers every type of the plugin with @module, or statically when
 * @module is %NULL (the fuzz target links the sources in directly). */
void foctet_yamux_register_types (GTypeModule *module);

void foctet_yamux_muxer_register (GTypeModule *module);
void foctet_yamux_connection_register (GTypeModule *module);
void foctet_yamux_stream_register (GTypeModule *module);

FoctetYamuxConnection *foctet_yamux_connection_new (GIOStream           *base_stream,
                                                    gboolean             is_initiator,
                                                    const FoctetNodeId  *peer_id,
                                                    const char          *transport_name,
                                                    const char          *local_address,
                                                    const char          *remote_address,
                                                    GError             **error);

/* A stream's state in its session.  Reference counted; the session holds
 * one reference while the stream is open, the application's objects the
 * others. */
typedef struct _YamuxChannel YamuxChannel;

YamuxChannel *yamux_channel_ref (YamuxChannel *channel);
void yamux_channel_unref (YamuxChannel *channel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (YamuxChannel, yamux_channel_unref)

guint32 yamux_channel_get_id (YamuxChannel *channel);
guint32 yamux_channel_get_receive_window (YamuxChannel *channel);
guint32 yamux_channel_get_send_window (YamuxChannel *channel);

/* Non-blocking I/O, as GPollableInputStream and GPollableOutputStream
 * want it: G_IO_ERROR_WOULD_BLOCK when nothing can be done now. */
gboolean yamux_channel_is_readable (YamuxChannel *channel);
gboolean yamux_channel_is_writable (YamuxChannel *channel);
gssize yamux_channel_read (YamuxChannel  *channel,
                           void          *buffer,
                           gsize          count,
                           GError       **error);
gssize yamux_channel_write (YamuxChannel  *channel,
                            const void    *buffer,
                            gsize          count,
                            GError       **error);
/* A source that fires when the channel becomes readable (or writable)
 * and calls a GPollableSourceFunc with @pollable. */
GSource *yamux_channel_create_source (YamuxChannel *channel,
                                      gboolean      for_write,
                                      GObject      *pollable);
/* For the blocking read and write: runs the session's context until the
 * channel is ready, if this thread may. */
gboolean yamux_channel_wait (YamuxChannel  *channel,
                             gboolean       for_write,
                             GCancellable  *cancellable,
                             GError       **error);

/* Sends FIN after everything written so far. */
gboolean yamux_channel_close_write (YamuxChannel  *channel,
                                    GError       **error);
/* The application will not read any more: what arrives is dropped and
 * credited back to the sender. */
void yamux_channel_close_read (YamuxChannel *channel);
/* The whole stream is closed: FIN, and data that still arrives makes the
 * stream reset (as TCP does for a closed socket). */
void yamux_channel_close (YamuxChannel *channel);
void yamux_channel_reset (YamuxChannel *channel,
                          guint32       code);

/* Each of the application's objects of a channel (stream, input, output)
 * holds it; when the last one is gone, a stream still open is reset. */
void yamux_channel_hold (YamuxChannel *channel);
void yamux_channel_release (YamuxChannel *channel);

/* The application's stream of a channel. */
FoctetYamuxStream *foctet_yamux_stream_new (YamuxChannel *channel);

G_END_DECLS

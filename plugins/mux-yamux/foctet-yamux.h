/* foctet-yamux.h: internals of the yamux muxer plugin (PROTOCOL §4).
 *
 * FoctetYamuxMuxer is what the registry hands out; its wrap() makes a
 * FoctetYamuxConnection, the yamux session over one byte stream.  Each
 * yamux stream has a YamuxChannel, the session's state of it (flow
 * control, receive queue, half-close and reset); the FoctetYamuxStream the
 * application holds is a FoctetChannelStream over it (<foctet-channel.h>:
 * pollable input and output, blocking I/O, release).  The channel outlives its session when the
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
#include <foctet-channel.h>

#include "foctet-yamux-frame.h"

G_BEGIN_DECLS

#define FOCTET_YAMUX_NAME "yamux"

/* Initial window of every stream, fixed by the spec. */
#define FOCTET_YAMUX_INITIAL_WINDOW (256 * 1024)
/* Defaults of the session's properties. */
#define FOCTET_YAMUX_DEFAULT_MAX_STREAM_WINDOW (16 * 1024 * 1024)
#define FOCTET_YAMUX_DEFAULT_MAX_SESSION_WINDOW (64 * 1024 * 1024)
#define FOCTET_YAMUX_DEFAULT_ACCEPT_BACKLOG 256
#define FOCTET_YAMUX_DEFAULT_MAX_STREAMS 1024
#define FOCTET_YAMUX_DEFAULT_KEEPALIVE_INTERVAL 30
#define FOCTET_YAMUX_DEFAULT_READ_STALL_TIMEOUT 10

#define FOCTET_YAMUX_TYPE_MUXER (foctet_yamux_muxer_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxMuxer, foctet_yamux_muxer, FOCTET_YAMUX, MUXER, GObject)

#define FOCTET_YAMUX_TYPE_CONNECTION (foctet_yamux_connection_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxConnection, foctet_yamux_connection, FOCTET_YAMUX, CONNECTION,
                      FoctetConnection)

#define FOCTET_YAMUX_TYPE_STREAM (foctet_yamux_stream_get_type ())
G_DECLARE_FINAL_TYPE (FoctetYamuxStream, foctet_yamux_stream, FOCTET_YAMUX, STREAM, FoctetChannelStream)

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
guint32 yamux_channel_get_receive_buffered (YamuxChannel *channel);
guint64 yamux_channel_get_read_through (YamuxChannel *channel);

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

/* The application dropped every object of the stream: one still open
 * is reset, one it half-closed is closed. */
void yamux_channel_release (YamuxChannel *channel);
/* Where the channel wakes the application's sources; %NULL once released. */
void yamux_channel_set_app (YamuxChannel  *channel,
                            FoctetChannel *app);

/* The application's stream of a channel. */
FoctetYamuxStream *foctet_yamux_stream_new (YamuxChannel *channel,
                                            GMainContext *context);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/socket.h>
#include <gnutls/crypto.h>

#include <foctet.h>
#include <foctet-channel.h>
#include <foctet-gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

G_BEGIN_DECLS

/* ngtcp2 1.x renamed a few things (see docs/architecture.md). */
#if NGTCP2_VERSION_NUM >= 0x010000
#define QUIC_NGTCP2_1 1
typedef ngtcp2_ccerr QuicCloseError;
#define QUIC_CLOSE_ERROR_APPLICATION NGTCP2_CCERR_TYPE_APPLICATION
#define quic_conn_in_closing_period ngtcp2_conn_in_closing_period
#define quic_conn_in_draining_period ngtcp2_conn_in_draining_period
#else
#define QUIC_NGTCP2_1 0
typedef ngtcp2_connection_close_error QuicCloseError;
#define QUIC_CLOSE_ERROR_APPLICATION NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
#define quic_conn_in_closing_period ngtcp2_conn_is_in_closing_period
#define quic_conn_in_draining_period ngtcp2_conn_is_in_draining_period
#endif

#define QUIC_TRANSPORT_NAME "quic"

/* Every connection ID this side issues has this length, so that short
 * header packets can be routed by their first bytes. */
#define QUIC_CID_LEN 18
/* The largest UDP payload a connection sends (path MTU discovery may
 * stop below it)... */
#define QUIC_MAX_UDP_PAYLOAD 1452
/* ...unless its peer is on this host (loopback, or one of this host's
 * own addresses): then the path is the loopback interface, whose MTU
 * (64 KiB on Linux) it takes up to this.  Packets of 16 KiB cost the
 * same AES-GCM per byte as small ones and a tenth of the per-packet
 * work (ngtcp2's framing, ACKs and loss detection, header protection,
 * the kernel's per-datagram path); larger ones measured no faster and
 * leave a GSO send room for several. */
#define QUIC_MAX_LOCAL_UDP_PAYLOAD 16384
/* The most a GSO send may carry: 64 KiB less the IPv6 and UDP headers. */
#define QUIC_GSO_MAX_BYTES (65535 - 40 - 8)
/* Packets sent in one GSO burst at most. */
#define QUIC_MAX_BURST 64

#define QUIC_TYPE_TRANSPORT (quic_transport_get_type ())
G_DECLARE_FINAL_TYPE (QuicTransport, quic_transport, QUIC, TRANSPORT, GObject)

#define QUIC_TYPE_CONNECTION (quic_connection_get_type ())
G_DECLARE_FINAL_TYPE (QuicConnection, quic_connection, QUIC, CONNECTION, FoctetConnection)

#define QUIC_TYPE_STREAM (quic_stream_get_type ())
G_DECLARE_FINAL_TYPE (QuicStream, quic_stream, QUIC, STREAM, FoctetChannelStream)

typedef struct _QuicEndpoint QuicEndpoint;

/* What a connection needs from its transport. */
typedef struct {
  FoctetIdentity *identity;
  guint handshake_timeout;           /* ms */
  guint idle_timeout;                /* ms */
  guint keepalive_interval;          /* ms, 0: none */
  guint max_streams;                 /* incoming streams open at once */
  ngtcp2_cc_algo cc_algo;
  char *alpn;                        /* the one ALPN value offered and served */
} QuicConfig;

void quic_transport_register (GTypeModule *module);
void quic_connection_register (GTypeModule *module);

/* Transport side, used by connections. */
void quic_transport_connection_ready (QuicTransport  *transport,
                                      QuicConnection *connection);
void quic_transport_connection_failed (QuicTransport  *transport,
                                       QuicConnection *connection,
                                       const GError   *error);

/* Endpoints: one UDP socket each. */
QuicEndpoint *quic_endpoint_ref (QuicEndpoint *endpoint);
void quic_endpoint_unref (QuicEndpoint *endpoint);
const struct sockaddr *quic_endpoint_get_local (QuicEndpoint *endpoint,
                                                socklen_t    *len);
void quic_endpoint_add_cid (QuicEndpoint     *endpoint,
                            const ngtcp2_cid *cid,
                            QuicConnection   *connection);
void quic_endpoint_remove_cid (QuicEndpoint     *endpoint,
                               const ngtcp2_cid *cid);
/* Sends @len bytes: one datagram, or several of @segment bytes each (the
 * last may be shorter) in one GSO call.  Returns FALSE when the socket is
 * full: the endpoint calls quic_connection_writable() later. */
gboolean quic_endpoint_send (QuicEndpoint         *endpoint,
                             QuicConnection       *connection,
                             const ngtcp2_path    *path,
                             guint                 ecn,
                             const guint8         *data,
                             gsize                 len,
                             gsize                 segment);
/* Handles one datagram that arrived from @remote at @local. */
void quic_endpoint_receive (QuicEndpoint          *endpoint,
                            const struct sockaddr *local,
                            socklen_t              local_len,
                            const struct sockaddr *remote,
                            socklen_t              remote_len,
                            guint                  ecn,
                            const guint8          *data,
                            gsize                  len);
/* For tests and fuzzing: the first endpoint that listens, if any. */
QuicEndpoint *quic_transport_get_listening_endpoint (QuicTransport *self);
void quic_endpoint_forget (QuicEndpoint   *endpoint,
                           QuicConnection *connection);

/* Connections. */
QuicConnection *quic_connection_new_client (QuicTransport       *transport,
                                            const QuicConfig    *config,
                                            QuicEndpoint        *endpoint,
                                            const struct sockaddr *local,
                                            GSocketAddress      *remote,
                                            const FoctetNodeId  *expected_peer,
                                            GError             **error);
QuicConnection *quic_connection_new_server (QuicTransport       *transport,
                                            const QuicConfig    *config,
                                            QuicEndpoint        *endpoint,
                                            const ngtcp2_path   *path,
                                            const ngtcp2_pkt_hd *hd,
                                            const ngtcp2_cid    *original_dcid,
                                            const ngtcp2_cid    *retry_scid,
                                            GError             **error);
void quic_connection_receive (QuicConnection    *self,
                              const ngtcp2_path *path,
                              guint              ecn,
                              const guint8      *data,
                              gsize              len);
void quic_connection_writable (QuicConnection *self);
gboolean quic_connection_is_established (QuicConnection *self);
QuicEndpoint *quic_connection_get_endpoint (QuicConnection *self);
/* The address the connection sends to. */
const struct sockaddr *quic_connection_get_remote (QuicConnection *self,
                                                   socklen_t      *len);
gboolean quic_connection_is_server (QuicConnection *self);
/* Whether any packet of the peer was accepted. */
gboolean quic_connection_got_packet (QuicConnection *self);
void quic_connection_abort (QuicConnection *self,
                            const GError   *error);
char *quic_connection_describe_failure (QuicConnection *self);

guint64 quic_timestamp (void);
char *quic_sockaddr_to_string (const struct sockaddr *sa);
gsize quic_local_path_max_payload (const struct sockaddr *remote,
                                   socklen_t              remote_len);

G_END_DECLS

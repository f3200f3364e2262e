/* foctet-relay-server.h: the relay side of the relay control protocol
 * (docs/protocol.md, "Relay control"): reservations, circuits and the
 * splicing of circuit streams, and the directory of addresses reserved
 * nodes publish, on a FoctetNode whose transports speak ALPN
 * foctet-relay/1.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define RELAY_TYPE_SERVER (relay_server_get_type ())
G_DECLARE_FINAL_TYPE (RelayServer, relay_server, RELAY, SERVER, GObject)

/* Defaults of the limits (properties of the same names). */
#define RELAY_DEFAULT_MAX_RESERVATIONS 1024
#define RELAY_DEFAULT_MAX_CIRCUITS 1024
#define RELAY_DEFAULT_MAX_CIRCUITS_PER_CLIENT 64
#define RELAY_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 8
/* The transports' own limit, raised: many clients may share one NAT. */
#define RELAY_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS 1024
#define RELAY_DEFAULT_RESERVATION_TTL 120         /* seconds */
#define RELAY_DEFAULT_CIRCUIT_IDLE_TIMEOUT 120    /* seconds */
#define RELAY_DEFAULT_INCOMING_TIMEOUT 10         /* seconds */
#define RELAY_DEFAULT_MAX_MEMORY (256u * 1024 * 1024)
/* One buffer per direction of a circuit. */
#define RELAY_CIRCUIT_BUFFER (64 * 1024)
/* LOOKUPs per second per client NodeId; the bucket holds
 * RELAY_LOOKUP_BURST_FACTOR times as many. */
#define RELAY_DEFAULT_LOOKUP_RATE 5
#define RELAY_LOOKUP_BURST_FACTOR 4

/* Counters, as foctet-relay prints them. */
typedef struct {
  guint reservations;                 /* held now */
  guint circuits_active;
  guint64 circuits_total;             /* ever spliced */
  guint64 bytes_relayed;              /* both directions, all circuits */
  guint published;                    /* reservations with published addresses, now */
  guint64 lookups;                    /* LOOKUPs answered, however */
  guint64 lookups_found;              /* of which with FOUND */
  guint64 refusals[11];               /* by FoctetRelayErrorCode (0: other) */
  guint64 raw_circuits_total;         /* of circuits_total, the raw ones */
  guint64 raw_refused;                /* raw connections closed: bad magic, bad, used or
                                       * expired token, no token in time; tokens never claimed */
  guint64 incoming_failed;            /* connections to the relay that failed before they were
                                       * one: handshakes refused (certificate, ALPN), timed out,
                                       * or over the handshake limits; garbage */
} RelayServerStats;

/* Serves the relay protocols on @node (which it does not start): the
 * node's handlers for reserve and connect streams are set, perf is
 * no longer served. */
RelayServer *relay_server_new (FoctetNode *node);

FoctetNode *relay_server_get_node (RelayServer *self);
void relay_server_get_stats (RelayServer      *self,
                             RelayServerStats *stats);
/* The counters as one line of "name=value" pairs. */
char *relay_server_format_stats (RelayServer *self);

guint16 relay_server_listen_raw (RelayServer        *self,
                                 const char * const *addresses,
                                 GError            **error);

/* Ends every circuit and reservation. */
void relay_server_stop (RelayServer *self);

G_END_DECLS

/* foctet-relay-server-private.h: what the parts of the relay server
 * share — its state, and what each part offers the others:
 *
 *   foctet-relay-server.c            the object: limits, counters, refusals, stopping
 *   foctet-relay-server-directory.c  reservations, and the directory published under them
 *   foctet-relay-server-circuits.c   circuits, v1 and raw, and the raw port
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet-address-counts.h>
#include <foctet-log-limit.h>

#include "foctet-relay-server.h"
#include "foctet-relay-common.h"

G_BEGIN_DECLS

struct _RelayServer {
  GObject parent_instance;

  FoctetNode *node;
  GMainContext *context;
  GCancellable *cancellable;          /* cancelled by relay_server_stop () */

  guint max_reservations;
  guint max_circuits;
  guint max_circuits_per_client;
  guint max_connections_per_client;
  guint reservation_ttl;              /* seconds */
  guint circuit_idle_timeout;         /* seconds */
  guint incoming_timeout;             /* seconds */
  guint64 rate;                       /* bytes/s per direction; 0: no limit */
  guint64 rate_per_client;            /* bytes/s a node sends, and receives, over its circuits; 0: no limit */
  guint64 max_memory;                 /* bytes of circuit buffers */
  guint lookup_rate;                  /* LOOKUPs per second per client; 0: no limit */

  GHashTable *reservations;           /* NodeId text → Reservation */
  GHashTable *client_circuits;        /* NodeId text → CircuitClient: its circuits */
  GHashTable *circuits;               /* Circuit set, v1 and raw, spliced or being set up */
  GHashTable *reserve_streams;        /* Reservation set, reserved or not yet */
  GHashTable *publications;           /* Publication set: publish streams */
  GHashTable *lookups;                /* Lookup set: lookup streams */
  GHashTable *lookup_buckets;         /* NodeId text → RelayBucket */
  GHashTable *client_connections;     /* NodeId text → count of connections (as a pointer) */
  GHashTable *connections;            /* FoctetConnection → its NodeId text, each counted */
  GHashTable *connections_over;       /* FoctetConnection → the GSource that closes it: over the limit */
  RelayServerStats stats;
  gboolean stopped;

  guint64 buffer_memory;              /* of the circuits counted in the limits */
  FoctetSocketService *raw_service;   /* raw-circuit connections; NULL: no raw circuits */
  guint16 raw_port;
  GHashTable *raw_tokens;             /* token (32 bytes) → RawCircuit, until claimed */
  GHashTable *raw_pending;            /* RawPending set: connections before their token */
  FoctetLogLimit *raw_log;            /* their refusals' lines */
  FoctetAddressCounts *raw_pending_hosts; /* raw_pending per remote host */
};

/* foctet-relay-server.c */

void relay_server_count_refusal (RelayServer *self,
                                 guint16      code);
gboolean relay_server_admit (RelayServer      *self,
                             FoctetConnection *connection,
                             FoctetStream     *stream);
void relay_server_refuse (RelayServer  *self,
                          FoctetStream *stream,
                          guint16       code,
                          const char   *format,
                          ...) G_GNUC_PRINTF (4, 5);

/* foctet-relay-server-directory.c */

void relay_server_directory_init (RelayServer *self);
void relay_server_directory_finalize (RelayServer *self);
void relay_server_handle_reserve (FoctetNode       *node,
                                  FoctetConnection *connection,
                                  FoctetStream     *stream,
                                  gpointer          user_data);
void relay_server_handle_publish (FoctetNode       *node,
                                  FoctetConnection *connection,
                                  FoctetStream     *stream,
                                  gpointer          user_data);
void relay_server_handle_lookup (FoctetNode       *node,
                                 FoctetConnection *connection,
                                 FoctetStream     *stream,
                                 gpointer          user_data);
FoctetConnection *relay_server_get_reserved_connection (RelayServer *self,
                                                        const char  *key);
void relay_server_directory_stop (RelayServer *self);
void relay_server_reservations_stop (RelayServer *self);

/* foctet-relay-server-circuits.c */

void relay_server_circuits_init (RelayServer *self);
void relay_server_circuits_finalize (RelayServer *self);
void relay_server_handle_connect (FoctetNode       *node,
                                  FoctetConnection *connection,
                                  FoctetStream     *stream,
                                  gpointer          user_data);
void relay_server_circuits_stop (RelayServer *self);

G_END_DECLS

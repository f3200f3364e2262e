/* foctet-mdns-discovery-private.h: what the parts of the "mdns"
 * discovery share — its state, and what each part offers the others:
 *
 *   foctet-mdns-discovery.c  the sockets, receiving, the #FoctetDiscovery
 *                            interface and the object
 *   foctet-mdns-cache.c      names, host addresses and instances: the cache
 *                            and the peer list
 *   foctet-mdns-responder.c  publishing and answering
 *   foctet-mdns-querier.c    browsing, resolving, expiry and refresh
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "foctet-dns-message.h"
#include "foctet-mdns-discovery.h"

G_BEGIN_DECLS

#define USEC_PER_MSEC 1000
/* RFC 6762 §5.2: the interval between queries doubles up to an hour. */
#define QUERY_INTERVAL_FIRST_MS 1000
#define QUERY_INTERVAL_MAX_MS (3600 * 1000)

/* One socket: IPv4 or IPv6. */
typedef struct {
  FoctetMdnsDiscovery *self;     /* unowned */
  GSocketFamily family;
  GSocket *socket;
  GSource *source;
  GArray *interfaces;            /* of int: the interfaces joined */
  GSocketAddress *group;
} Endpoint;

/* An address of a host name, as A or AAAA records gave it. */
typedef struct {
  GInetAddress *address;
  gint64 received;               /* monotonic µs */
  gint64 expires;                /* monotonic µs */
} HostAddress;

/* What the cache knows of one instance <NodeId>._foctet._udp.local. */
typedef struct {
  char *label;                   /* the NodeId text, lower case */
  FoctetNodeId *node_id;

  char *srv_target;              /* NULL: no SRV */
  guint16 srv_port;
  gint64 srv_expires;

  gboolean have_txt;
  guint16 quic_port, tls_port;   /* 0: not announced */
  gint64 txt_expires;

  gint64 ptr_expires;            /* 0: no PTR */
  guint ptr_ttl;

  FoctetPeer *peer;              /* in the list while it holds together */
  gint64 expires;                /* of the peer: its first record to expire */
  gint64 refresh_at;             /* the next refresh query; 0: none */
  guint refreshes;
} Instance;

struct _FoctetMdnsDiscovery {
  GObject parent_instance;

  FoctetIdentity *identity;
  GMainContext *context;
  char *own_label;               /* our NodeId text */
  char *own_instance;            /* <NodeId>._foctet._udp.local */
  char *own_host;                /* <NodeId>.local */

  gboolean started;
  Endpoint *endpoints[2];        /* IPv4, IPv6 (NULL if unavailable) */

  GListStore *peers;
  GHashTable *instances;         /* label → Instance */
  GHashTable *hosts;             /* lower-case host name → GPtrArray of HostAddress */

  /* Browsing. */
  GSource *query_timer;
  guint query_interval_ms;

  /* Publishing. */
  GPtrArray *records;            /* our FoctetDnsRecord, none when unpublished */
  GSource *announce_timer;
  guint announcements_left;
  GHashTable *last_multicast;    /* "family/ifindex/type/name" → gint64 µs */

  /* Answers waiting: shared records 20–120 ms, records multicast a
   * moment ago until a second has passed (RFC 6762 §6). */
  GPtrArray *delayed;            /* of Delayed */

  GSource *maintenance_timer;
  GList *resolves;               /* of GTask */

  /* Interfaces that come up (or go) after the start. */
  GNetworkMonitor *monitor;
  gulong monitor_handler;
  GSource *rescan_timer;

  guint64 dropped;
};

typedef struct {
  Endpoint *endpoint;
  int ifindex;
  GPtrArray *answers;            /* FoctetDnsRecord copies */
  GPtrArray *additionals;
  GSource *timer;
} Delayed;

/* foctet-mdns-discovery.c */

GSource *mdns_timeout_source (FoctetMdnsDiscovery *self,
                              guint                ms,
                              GSourceFunc          callback,
                              gpointer             data);
void mdns_clear_source (GSource **source);
void mdns_endpoint_send (Endpoint       *endpoint,
                         int             ifindex,
                         GBytes         *bytes,
                         GSocketAddress *to);
GBytes *mdns_build (FoctetDnsMessage *message);
void mdns_send_everywhere (FoctetMdnsDiscovery *self,
                           FoctetDnsMessage    *message);

/* foctet-mdns-cache.c */

FoctetNodeId *mdns_instance_node_id (const char  *name,
                                     char       **label);
gboolean mdns_address_usable (GInetAddress *address);
void mdns_instance_free (Instance *instance);
void mdns_instance_evaluate (FoctetMdnsDiscovery *self,
                             Instance            *instance,
                             gboolean             heard);
Instance *mdns_cache_service_record (FoctetMdnsDiscovery   *self,
                                     const FoctetDnsRecord *record,
                                     const char            *from,
                                     gboolean              *bad);
gboolean mdns_cache_address_record (FoctetMdnsDiscovery   *self,
                                    const FoctetDnsRecord *record);

/* foctet-mdns-responder.c */

GPtrArray *mdns_records_for_ticket (FoctetMdnsDiscovery *self,
                                    FoctetTicket        *ticket);
void mdns_start_announcing (FoctetMdnsDiscovery *self);
void mdns_send_goodbyes (FoctetMdnsDiscovery *self,
                         GPtrArray           *records,
                         GPtrArray           *keep);
void mdns_delayed_free (Delayed *delayed);
void mdns_answer_query (FoctetMdnsDiscovery    *self,
                        Endpoint               *endpoint,
                        int                     ifindex,
                        const FoctetDnsMessage *query,
                        GSocketAddress         *from);
void mdns_suppress_duplicates (FoctetMdnsDiscovery    *self,
                               Endpoint               *endpoint,
                               int                     ifindex,
                               const FoctetDnsMessage *response);

/* foctet-mdns-querier.c */

void mdns_schedule_query (FoctetMdnsDiscovery *self,
                          guint                ms);
void mdns_suppress_duplicate_question (FoctetMdnsDiscovery    *self,
                                       const FoctetDnsMessage *query);
void mdns_resolve_complete (FoctetMdnsDiscovery *self,
                            Instance            *instance);
void mdns_resolve_async (FoctetDiscovery     *discovery,
                         FoctetTicket        *hint,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data);
FoctetTicket *mdns_resolve_finish (FoctetDiscovery  *discovery,
                                   GAsyncResult     *result,
                                   GError          **error);
void mdns_fail_resolves (FoctetMdnsDiscovery *self,
                         const char          *why);
void mdns_schedule_maintenance (FoctetMdnsDiscovery *self);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node-id.h"

G_BEGIN_DECLS

/**
 * FOCTET_TICKET_PREFIX:
 *
 * The lower-case prefix every ticket starts with.
 */
#define FOCTET_TICKET_PREFIX "foctet"

/**
 * FoctetAddressKind:
 * @FOCTET_ADDRESS_KIND_QUIC: a QUIC address (ticket entry type 1, transport "quic")
 * @FOCTET_ADDRESS_KIND_TLS: a TLS-over-TCP address (entry type 2, transport "tls")
 * @FOCTET_ADDRESS_KIND_RELAY: a relay through which the node is reached (entry type 3, transport "relay")
 *
 * The kinds of address a ticket carries; the values are the entry types of
 * PROTOCOL §6.
 */
typedef enum {
  FOCTET_ADDRESS_KIND_QUIC = 1,
  FOCTET_ADDRESS_KIND_TLS = 2,
  FOCTET_ADDRESS_KIND_RELAY = 3,
} FoctetAddressKind;

#define FOCTET_TYPE_TICKET (foctet_ticket_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetTicket, foctet_ticket, FOCTET, TICKET, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_ticket_new (const FoctetNodeId *node_id);
FOCTET_AVAILABLE_IN_ALL
FoctetTicket *foctet_ticket_parse (const char *text,
                                  GError    **error);
FOCTET_AVAILABLE_IN_ALL
char *foctet_ticket_to_string (FoctetTicket *self);
FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_ticket_get_node_id (FoctetTicket *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_ticket_add_address (FoctetTicket      *self,
                                    FoctetAddressKind  kind,
                                    const char        *host_port,
                                    GError           **error);
FOCTET_AVAILABLE_IN_ALL
char **foctet_ticket_get_addresses (FoctetTicket      *self,
                                    FoctetAddressKind  kind);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_ticket_has_address (FoctetTicket      *self,
                                    FoctetAddressKind  kind);
FOCTET_AVAILABLE_IN_ALL
char **foctet_ticket_get_uris (FoctetTicket *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_ticket_add_app_data (FoctetTicket *self,
                                     guint8        type,
                                     GBytes       *value,
                                     GError      **error);
FOCTET_AVAILABLE_IN_ALL
GBytes *foctet_ticket_get_app_data (FoctetTicket *self,
                                    guint8        type);

FOCTET_AVAILABLE_IN_ALL
const char *foctet_address_kind_to_transport (FoctetAddressKind kind);

FOCTET_AVAILABLE_IN_ALL
gboolean foctet_parse_host_port (const char *host_port,
                                 char      **host,
                                 guint16    *port,
                                 GError    **error);

G_END_DECLS

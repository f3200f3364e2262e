/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "foctet-ticket.h"

G_BEGIN_DECLS

#define FOCTET_N_ADDRESS_KINDS 3

/* The address kinds in the order a node prefers them (PROTOCOL §3: QUIC
 * first): QUIC, then TLS, then relay.  Its own ticket lists them so, a
 * dial tries them so and foctet_ticket_get_uris() returns them so. */
extern const FoctetAddressKind foctet_address_kinds[FOCTET_N_ADDRESS_KINDS];

G_END_DECLS

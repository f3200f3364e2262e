/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define FOCTET_MDNS_DISCOVERY_NAME "mdns"

/* The service type and domain of docs/protocol.md, "LAN discovery (mDNS)". */
#define FOCTET_MDNS_SERVICE "_foctet._udp.local"
#define FOCTET_MDNS_SERVICES_ENUMERATION "_services._dns-sd._udp.local"
#define FOCTET_MDNS_PORT 5353
#define FOCTET_MDNS_GROUP_IPV4 "224.0.0.251"
#define FOCTET_MDNS_GROUP_IPV6 "ff02::fb"

/* Times to live (RFC 6762 §10): host and SRV records, others. */
#define FOCTET_MDNS_TTL_HOST 120
#define FOCTET_MDNS_TTL_OTHER 4500

#define FOCTET_TYPE_MDNS_DISCOVERY (foctet_mdns_discovery_get_type ())
G_DECLARE_FINAL_TYPE (FoctetMdnsDiscovery, foctet_mdns_discovery, FOCTET, MDNS_DISCOVERY, GObject)

void foctet_mdns_discovery_register (GTypeModule *module);

G_END_DECLS

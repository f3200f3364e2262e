/* foctet.h: the one public header of libfoctet-core.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define __FOCTET_INSIDE__

#include "foctet-version.h"
#include "foctet-macros.h"
#include "foctet-enums.h"
#include "foctet-error.h"
#include "foctet-node-id.h"
#include "foctet-identity.h"
#include "foctet-ticket.h"
#include "foctet-stream.h"
#include "foctet-connection.h"
#include "foctet-transport.h"
#include "foctet-socket-service.h"
#include "foctet-muxer.h"
#include "foctet-peer.h"
#include "foctet-discovery.h"
#include "foctet-registry.h"
#include "foctet-plugin.h"
#include "foctet-ping.h"
#include "foctet-perf.h"
#include "foctet-tls-stream.h"
#include "foctet-node.h"
#include "foctet-transfer-sender.h"
#include "foctet-transfer-receiver.h"

#undef __FOCTET_INSIDE__

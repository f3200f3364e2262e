/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <glib.h>
#include "foctet-macros.h"

G_BEGIN_DECLS

/**
 * FOCTET_ERROR:
 *
 * Error domain of foctet.  Errors in this domain are from [error@Foctet.Error].
 * Plain I/O failures keep their #G_IO_ERROR domain.
 */
#define FOCTET_ERROR (foctet_error_quark ())

/**
 * FoctetError:
 * @FOCTET_ERROR_FAILED: a failure that fits no other code
 * @FOCTET_ERROR_INVALID_ARGUMENT: an argument was malformed (an address, a URI, an option)
 * @FOCTET_ERROR_INVALID_NODE_ID: a NodeId text or value was malformed
 * @FOCTET_ERROR_INVALID_TICKET: a ticket was malformed
 * @FOCTET_ERROR_INVALID_KEY: a key file could not be read or holds no usable Ed25519 key
 * @FOCTET_ERROR_INSECURE_KEY_FILE: a key file can be read by group or others
 * @FOCTET_ERROR_BAD_CERTIFICATE: a peer certificate breaks the rules of PROTOCOL §2
 * @FOCTET_ERROR_NODE_ID_MISMATCH: the peer is not the node that was dialed
 * @FOCTET_ERROR_HANDSHAKE_FAILED: the secure handshake failed for another reason (ALPN, TLS alert, version)
 * @FOCTET_ERROR_PROTOCOL_ERROR: the peer broke the wire protocol
 * @FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED: the peer has no handler for the stream's protocol (stream refused)
 * @FOCTET_ERROR_STREAM_RESET: the stream was reset
 * @FOCTET_ERROR_CONNECTION_CLOSED: the connection is closed
 * @FOCTET_ERROR_TIMED_OUT: an operation took longer than its limit
 * @FOCTET_ERROR_UNREACHABLE: no address of the peer could be reached
 * @FOCTET_ERROR_LIMIT_REACHED: a resource limit refused the operation
 * @FOCTET_ERROR_PLUGIN_NOT_FOUND: no plugin provides the requested transport, muxer or discovery
 * @FOCTET_ERROR_PLUGIN_REFUSED: a plugin module was refused (wrong ABI, missing descriptor)
 * @FOCTET_ERROR_VERIFICATION_FAILED: received data does not match the checksum it was announced with
 * @FOCTET_ERROR_NOT_FOUND: discovery found no address for a NodeId
 *
 * Error codes of the #FOCTET_ERROR domain.
 */
typedef enum {
  FOCTET_ERROR_FAILED,
  FOCTET_ERROR_INVALID_ARGUMENT,
  FOCTET_ERROR_INVALID_NODE_ID,
  FOCTET_ERROR_INVALID_TICKET,
  FOCTET_ERROR_INVALID_KEY,
  FOCTET_ERROR_INSECURE_KEY_FILE,
  FOCTET_ERROR_BAD_CERTIFICATE,
  FOCTET_ERROR_NODE_ID_MISMATCH,
  FOCTET_ERROR_HANDSHAKE_FAILED,
  FOCTET_ERROR_PROTOCOL_ERROR,
  FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED,
  FOCTET_ERROR_STREAM_RESET,
  FOCTET_ERROR_CONNECTION_CLOSED,
  FOCTET_ERROR_TIMED_OUT,
  FOCTET_ERROR_UNREACHABLE,
  FOCTET_ERROR_LIMIT_REACHED,
  FOCTET_ERROR_PLUGIN_NOT_FOUND,
  FOCTET_ERROR_PLUGIN_REFUSED,
  FOCTET_ERROR_VERIFICATION_FAILED,
  FOCTET_ERROR_NOT_FOUND,
} FoctetError;

/**
 * FoctetCloseCode:
 * @FOCTET_CLOSE_CODE_NO_ERROR: normal close
 * @FOCTET_CLOSE_CODE_PROTOCOL_ERROR: the peer broke the protocol
 * @FOCTET_CLOSE_CODE_INTERNAL_ERROR: a local failure
 * @FOCTET_CLOSE_CODE_REFUSED: refused (unknown protocol, limit reached)
 * @FOCTET_CLOSE_CODE_GOING_AWAY: the node is shutting down
 *
 * Application error codes used when closing a connection or resetting a
 * stream (PROTOCOL §3).
 */
typedef enum {
  FOCTET_CLOSE_CODE_NO_ERROR = 0,
  FOCTET_CLOSE_CODE_PROTOCOL_ERROR = 1,
  FOCTET_CLOSE_CODE_INTERNAL_ERROR = 2,
  FOCTET_CLOSE_CODE_REFUSED = 3,
  FOCTET_CLOSE_CODE_GOING_AWAY = 4,
} FoctetCloseCode;

FOCTET_AVAILABLE_IN_ALL
GQuark foctet_error_quark (void);

FOCTET_AVAILABLE_IN_ALL
gboolean foctet_error_is_stream_refused (const GError *error);

G_END_DECLS

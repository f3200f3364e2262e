/* foctet-relay-message.h: the messages of the relay control protocol
 * (docs/protocol.md, "Relay control (foctet-relay/1)"): their codec, and
 * async helpers that read or write exactly one message on a stream.
 *
 * Every control stream carries messages framed as
 *
 *   type (1) | length (2, big-endian) | body (length bytes, at most 1024)
 *
 *   1 RESERVE     empty
 *   2 RESERVE_OK  ttl (u32) | addr_len (1) | observed address "host:port"
 *   3 CONNECT     target NodeId (32)
 *   4 INCOMING    caller NodeId (32) | addr_len (1) | caller's address "host:port"
 *   5 OK          empty
 *   6 ERROR       code (u16) | message (UTF-8, the rest of the body)
 *
 * and the directory's streams (publish/1, lookup/1) carry OK, ERROR and
 *
 *   7 PUBLISH     entries: kind (1) | len (1) | "host:port", to the end
 *   8 LOOKUP      target NodeId (32)
 *   9 FOUND       ttl (u32) | addr_len (1) | target's observed address | entries
 *
 * and the raw-circuit streams (connect-raw/1, incoming-raw/1) carry
 * CONNECT, OK, ERROR and
 *
 *  10 RAW_CIRCUIT  port (u16) | token (32)
 *  11 INCOMING_RAW caller NodeId (32) | port (u16) | token (32) | addr_len (1) | caller's address
 *
 * and the observed stream (observed/1) carries ERROR and
 *
 *  12 OBSERVED     addr_len (1) | the client's address as the relay sees it
 *
 * Each family of streams knows its own types only: a PUBLISH on a reserve
 * stream is an unknown type there, as a RESERVE is on a lookup stream.
 *
 * The encoding is canonical: a message has exactly one encoding, so
 * encoding a parsed message gives back the bytes it was parsed from.
 *
 * Plugin-internal: the relay transport and the relay server compile this
 * file in.  It uses only what libfoctet-core installs: <foctet.h>, and
 * <foctet-host-port.h> so that addresses are checked by the ticket's own
 * host:port parser.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <foctet.h>

G_BEGIN_DECLS

/* The ALPN value of a node's connection to a relay (PROTOCOL §2). */
#define FOCTET_RELAY_ALPN "foctet-relay/1"

/* The stream protocols (PROTOCOL §5 headers) of that connection. */
#define FOCTET_RELAY_PROTOCOL_RESERVE "foctet-relay/reserve/1"
#define FOCTET_RELAY_PROTOCOL_CONNECT "foctet-relay/connect/1"
#define FOCTET_RELAY_PROTOCOL_INCOMING "foctet-relay/incoming/1"
/* The directory: a reserved client publishes its addresses; any client
 * looks a NodeId up. */
#define FOCTET_RELAY_PROTOCOL_PUBLISH "foctet-relay/publish/1"
#define FOCTET_RELAY_PROTOCOL_LOOKUP "foctet-relay/lookup/1"
/* Raw circuits: the dialer asks for one; the relay offers it to the
 * target.  Each node then opens a plain TCP connection to the relay's
 * raw-circuit port and claims its end with a one-time token. */
#define FOCTET_RELAY_PROTOCOL_CONNECT_RAW "foctet-relay/connect-raw/1"
#define FOCTET_RELAY_PROTOCOL_INCOMING_RAW "foctet-relay/incoming-raw/1"
/* Any client: where does the relay see me?  (A reserving one learns it
 * from RESERVE_OK too.) */
#define FOCTET_RELAY_PROTOCOL_OBSERVED "foctet-relay/observed/1"

/* A raw-circuit token: random, single use. */
#define FOCTET_RELAY_TOKEN_SIZE 32
/* What a raw-circuit TCP connection starts with, before the token.  Its
 * first byte, 'f' (0x66), is no TLS content type (a TLS connection starts
 * 0x16 0x03), so a listener can tell the two apart by one byte. */
#define FOCTET_RELAY_RAW_MAGIC "foctet-raw/1"
#define FOCTET_RELAY_RAW_MAGIC_SIZE 12
/* The magic and the token: all a node writes before the circuit's bytes. */
#define FOCTET_RELAY_RAW_PREAMBLE_SIZE (FOCTET_RELAY_RAW_MAGIC_SIZE + FOCTET_RELAY_TOKEN_SIZE)

/* type (1) and length (2). */
#define FOCTET_RELAY_MESSAGE_HEADER_SIZE 3
/* The largest body; a longer length is a protocol error. */
#define FOCTET_RELAY_MESSAGE_MAX_BODY 1024
/* The largest whole message. */
#define FOCTET_RELAY_MESSAGE_MAX_SIZE (FOCTET_RELAY_MESSAGE_HEADER_SIZE + FOCTET_RELAY_MESSAGE_MAX_BODY)
/* The longest address: its length is one byte. */
#define FOCTET_RELAY_ADDRESS_MAX 255
/* The longest ERROR text: the body less the code. */
#define FOCTET_RELAY_ERROR_TEXT_MAX (FOCTET_RELAY_MESSAGE_MAX_BODY - 2)
/* The most entries a PUBLISH (and so a FOUND) carries. */
#define FOCTET_RELAY_DIRECTORY_MAX_ENTRIES 16
/* The most bytes the entries of a PUBLISH or a FOUND take: what is left
 * of a FOUND body after its ttl and the longest observed address, so
 * that whatever was published fits in the answer. */
#define FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE (FOCTET_RELAY_MESSAGE_MAX_BODY - 4 - 1 - FOCTET_RELAY_ADDRESS_MAX)

/**
 * FoctetRelayMessageSet:
 * @FOCTET_RELAY_MESSAGES_CIRCUIT: the types of the reserve, connect and
 *   incoming streams: RESERVE, RESERVE_OK, CONNECT, INCOMING, OK, ERROR
 * @FOCTET_RELAY_MESSAGES_DIRECTORY: the types of the publish and lookup
 *   streams: OK, ERROR, PUBLISH, LOOKUP, FOUND
 * @FOCTET_RELAY_MESSAGES_RAW: the types of the connect-raw and
 *   incoming-raw streams: CONNECT, OK, ERROR, RAW_CIRCUIT, INCOMING_RAW
 * @FOCTET_RELAY_MESSAGES_OBSERVED: the types of the observed stream:
 *   ERROR, OBSERVED
 *
 * Which message types a stream's protocol knows; any other type read on
 * it is an unknown type.
 */
typedef enum {
  FOCTET_RELAY_MESSAGES_CIRCUIT,
  FOCTET_RELAY_MESSAGES_DIRECTORY,
  FOCTET_RELAY_MESSAGES_RAW,
  FOCTET_RELAY_MESSAGES_OBSERVED,
} FoctetRelayMessageSet;

/**
 * FoctetRelayMessageType:
 * @FOCTET_RELAY_MESSAGE_RESERVE: client → relay on a reserve stream: make
 *   me reachable, or renew my reservation
 * @FOCTET_RELAY_MESSAGE_RESERVE_OK: relay → client: the reservation holds
 *   for `ttl` more seconds; `address` is where the relay saw the client
 *   connect from
 * @FOCTET_RELAY_MESSAGE_CONNECT: dialer → relay on a connect stream: splice
 *   me to `node_id`
 * @FOCTET_RELAY_MESSAGE_INCOMING: relay → target on an incoming stream:
 *   `node_id` at `address` wants a circuit to you
 * @FOCTET_RELAY_MESSAGE_OK: accepted; raw relayed bytes follow
 * @FOCTET_RELAY_MESSAGE_ERROR: refused, with `error_code` and `error_text`
 * @FOCTET_RELAY_MESSAGE_PUBLISH: reserved client → relay on a publish
 *   stream: find me at `entries` (replacing what was published)
 * @FOCTET_RELAY_MESSAGE_LOOKUP: client → relay on a lookup stream: where
 *   is `node_id`?
 * @FOCTET_RELAY_MESSAGE_FOUND: relay → client: the target published
 *   `entries`; its reservation holds for `ttl` more seconds and the relay
 *   sees it at `address`
 * @FOCTET_RELAY_MESSAGE_RAW_CIRCUIT: relay → dialer on a connect-raw
 *   stream: claim your end of the circuit with `token` on the relay's
 *   raw-circuit `port`
 * @FOCTET_RELAY_MESSAGE_INCOMING_RAW: relay → target on an incoming-raw
 *   stream: `node_id` at `address` wants a circuit to you; claim your end
 *   with `token` on the relay's raw-circuit `port`
 * @FOCTET_RELAY_MESSAGE_OBSERVED: relay → client on an observed stream:
 *   the relay sees the client's connection come from `address`
 *
 * The message types; the values are the wire's.
 */
typedef enum {
  FOCTET_RELAY_MESSAGE_RESERVE = 1,
  FOCTET_RELAY_MESSAGE_RESERVE_OK = 2,
  FOCTET_RELAY_MESSAGE_CONNECT = 3,
  FOCTET_RELAY_MESSAGE_INCOMING = 4,
  FOCTET_RELAY_MESSAGE_OK = 5,
  FOCTET_RELAY_MESSAGE_ERROR = 6,
  FOCTET_RELAY_MESSAGE_PUBLISH = 7,
  FOCTET_RELAY_MESSAGE_LOOKUP = 8,
  FOCTET_RELAY_MESSAGE_FOUND = 9,
  FOCTET_RELAY_MESSAGE_RAW_CIRCUIT = 10,
  FOCTET_RELAY_MESSAGE_INCOMING_RAW = 11,
  FOCTET_RELAY_MESSAGE_OBSERVED = 12,
} FoctetRelayMessageType;

/**
 * FoctetRelayEntry:
 * @kind: %FOCTET_ADDRESS_KIND_QUIC or %FOCTET_ADDRESS_KIND_TLS (the
 *   ticket entry types 1 and 2)
 * @address: "host:port" as in tickets, port 1–65535
 *
 * One address of a PUBLISH or a FOUND.
 */
typedef struct {
  FoctetAddressKind kind;
  char *address;
} FoctetRelayEntry;

/**
 * FoctetRelayErrorCode:
 * @FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST: the request could not be
 *   parsed, or asked for something impossible
 * @FOCTET_RELAY_ERROR_CODE_NO_RESERVATION: the target holds no reservation
 *   on this relay
 * @FOCTET_RELAY_ERROR_CODE_RESERVATION_LIMIT: the relay holds as many
 *   reservations as it will
 * @FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT: the relay, the dialer or the
 *   target has as many circuits as it may
 * @FOCTET_RELAY_ERROR_CODE_REFUSED: the target refused the circuit
 * @FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE: the target did not answer
 *   INCOMING in time, or its connection failed
 * @FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE: a well-formed message that
 *   does not belong at this point of this stream
 * @FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR: a failure inside the relay
 * @FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT: a memory, rate or connection limit
 * @FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED: the target refused the
 *   incoming-raw stream (it knows no raw circuits): ask again with
 *   connect/1
 *
 * The codes of ERROR messages.  A message may carry any other 16-bit code
 * (a later version's): parsers accept it, and it reads as "error code N".
 */
typedef enum {
  FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST = 1,
  FOCTET_RELAY_ERROR_CODE_NO_RESERVATION = 2,
  FOCTET_RELAY_ERROR_CODE_RESERVATION_LIMIT = 3,
  FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT = 4,
  FOCTET_RELAY_ERROR_CODE_REFUSED = 5,
  FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE = 6,
  FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE = 7,
  FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR = 8,
  FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT = 9,
  FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED = 10,
} FoctetRelayErrorCode;

/**
 * FoctetRelayMessage:
 * @type: which message
 * @ttl: RESERVE_OK, FOUND: seconds the reservation lasts from now, at
 *   least 1; otherwise 0
 * @node_id: CONNECT: the target; INCOMING: the caller; LOOKUP: the node
 *   looked up; otherwise %NULL
 * @address: RESERVE_OK: the client's address as the relay observed it;
 *   INCOMING: the caller's, as the relay observed it; FOUND: the
 *   target's, as the relay observed it; OBSERVED: the client's, as
 *   the relay observed it; "host:port" as in tickets
 *   (PROTOCOL §6), port 1–65535; otherwise %NULL
 * @port: RAW_CIRCUIT, INCOMING_RAW: the relay's raw-circuit TCP port,
 *   1–65535, on the host the node reached the relay at; otherwise 0
 * @token: RAW_CIRCUIT, INCOMING_RAW: the one-time token that claims an
 *   end of the circuit; otherwise zeros
 * @entries: PUBLISH, FOUND: the published addresses, 0 to
 *   %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES #FoctetRelayEntry, in the
 *   publisher's order of preference; otherwise %NULL
 * @error_code: ERROR: a #FoctetRelayErrorCode or any other code;
 *   otherwise 0
 * @error_text: ERROR: the message text, valid UTF-8 without NUL, possibly
 *   empty; otherwise %NULL
 *
 * One control message.  Made by the constructors or by
 * foctet_relay_message_parse(), so its fields always hold what the wire
 * allows; read them, do not change them.  Free with
 * foctet_relay_message_free().
 */
typedef struct {
  FoctetRelayMessageType type;
  guint32 ttl;
  FoctetNodeId *node_id;
  char *address;
  guint16 error_code;
  char *error_text;
  GPtrArray *entries;
  guint16 port;
  guint8 token[FOCTET_RELAY_TOKEN_SIZE];
} FoctetRelayMessage;

FoctetRelayMessage *foctet_relay_message_new_reserve (void);
FoctetRelayMessage *foctet_relay_message_new_reserve_ok (guint32      ttl,
                                                         const char  *observed_address,
                                                         GError     **error);
FoctetRelayMessage *foctet_relay_message_new_connect (const FoctetNodeId *target);
FoctetRelayMessage *foctet_relay_message_new_incoming (const FoctetNodeId  *caller,
                                                       const char          *caller_address,
                                                       GError             **error);
FoctetRelayMessage *foctet_relay_message_new_ok (void);
FoctetRelayMessage *foctet_relay_message_new_error (guint16     code,
                                                    const char *text);
FoctetRelayMessage *foctet_relay_message_new_publish (GPtrArray  *entries,
                                                      GError    **error);
FoctetRelayMessage *foctet_relay_message_new_lookup (const FoctetNodeId *target);
FoctetRelayMessage *foctet_relay_message_new_found (guint32      ttl,
                                                    const char  *observed_address,
                                                    GPtrArray   *entries,
                                                    GError     **error);
FoctetRelayMessage *foctet_relay_message_new_observed (const char  *observed_address,
                                                       GError     **error);
FoctetRelayMessage *foctet_relay_message_new_raw_circuit (guint16       port,
                                                         const guint8 *token);
FoctetRelayMessage *foctet_relay_message_new_incoming_raw (const FoctetNodeId  *caller,
                                                          const char          *caller_address,
                                                          guint16              port,
                                                          const guint8        *token,
                                                          GError             **error);
void foctet_relay_message_free (FoctetRelayMessage *self);

FoctetRelayEntry *foctet_relay_entry_new (FoctetAddressKind kind,
                                          const char       *address);
void foctet_relay_entry_free (FoctetRelayEntry *self);
GPtrArray *foctet_relay_entries_new (void);
gboolean foctet_relay_entries_check (GPtrArray  *entries,
                                     GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetRelayEntry, foctet_relay_entry_free)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetRelayMessage, foctet_relay_message_free)

GBytes *foctet_relay_message_encode (const FoctetRelayMessage *self);

gboolean foctet_relay_message_parse (const guint8        *data,
                                     gsize                len,
                                     gsize               *consumed,
                                     FoctetRelayMessage **out,
                                     GError             **error);
gboolean foctet_relay_message_parse_in (FoctetRelayMessageSet   set,
                                        const guint8           *data,
                                        gsize                   len,
                                        gsize                  *consumed,
                                        FoctetRelayMessage    **out,
                                        GError                **error);

void foctet_relay_message_read_async (GInputStream        *stream,
                                      int                  io_priority,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
void foctet_relay_message_read_in_async (GInputStream          *stream,
                                         FoctetRelayMessageSet  set,
                                         int                    io_priority,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
FoctetRelayMessage *foctet_relay_message_read_finish (GInputStream  *stream,
                                                      GAsyncResult  *result,
                                                      GError       **error);

void foctet_relay_message_write_async (GOutputStream            *stream,
                                       const FoctetRelayMessage *message,
                                       int                       io_priority,
                                       GCancellable             *cancellable,
                                       GAsyncReadyCallback       callback,
                                       gpointer                  user_data);
gboolean foctet_relay_message_write_finish (GOutputStream  *stream,
                                            GAsyncResult   *result,
                                            GError        **error);

const char *foctet_relay_message_type_to_string (guint8 type);
char *foctet_relay_message_to_string (const FoctetRelayMessage *self);

const char *foctet_relay_error_code_describe (guint16 code);
char *foctet_relay_error_code_to_string (guint16 code);
GError *foctet_relay_message_to_error (const FoctetRelayMessage *self);

GBytes *foctet_relay_raw_preamble_new (const guint8 *token);
gboolean foctet_relay_raw_preamble_parse (const guint8  *data,
                                          gsize          len,
                                          guint8        *token,
                                          GError       **error);

char *foctet_relay_address_from_socket_address (GSocketAddress *address);

G_END_DECLS

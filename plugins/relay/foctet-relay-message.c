/* foctet-relay-message.c: the relay control messages — codec and
 * one-message readers and writers for streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet-host-port.h>
#include <foctet-message-io.h>

#include "foctet-relay-message.h"

#define TTL_SIZE 4
#define ADDR_LEN_SIZE 1
#define CODE_SIZE 2

/* Bodies: the fixed part before any address or text. */
#define RESERVE_OK_FIXED (TTL_SIZE + ADDR_LEN_SIZE)
#define INCOMING_FIXED (FOCTET_NODE_ID_SIZE + ADDR_LEN_SIZE)
#define FOUND_FIXED (TTL_SIZE + ADDR_LEN_SIZE)
#define PORT_SIZE 2
#define RAW_CIRCUIT_SIZE (PORT_SIZE + FOCTET_RELAY_TOKEN_SIZE)
#define INCOMING_RAW_FIXED (FOCTET_NODE_ID_SIZE + PORT_SIZE + FOCTET_RELAY_TOKEN_SIZE + ADDR_LEN_SIZE)
/* An entry of PUBLISH and FOUND: kind (1) | length (1) | address. */
#define ENTRY_HEADER_SIZE 2

static guint16
read_u16 (const guint8 *p)
{
  return ((guint16) p[0] << 8) | p[1];
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static gboolean
type_is_known (FoctetRelayMessageSet set,
               guint8                type)
{
  if (set == FOCTET_RELAY_MESSAGES_DIRECTORY)
    return type >= FOCTET_RELAY_MESSAGE_OK && type <= FOCTET_RELAY_MESSAGE_FOUND;
  if (set == FOCTET_RELAY_MESSAGES_OBSERVED)
    return type == FOCTET_RELAY_MESSAGE_ERROR || type == FOCTET_RELAY_MESSAGE_OBSERVED;
  if (set == FOCTET_RELAY_MESSAGES_RAW)
    return type == FOCTET_RELAY_MESSAGE_CONNECT || type == FOCTET_RELAY_MESSAGE_OK ||
           type == FOCTET_RELAY_MESSAGE_ERROR || type == FOCTET_RELAY_MESSAGE_RAW_CIRCUIT ||
           type == FOCTET_RELAY_MESSAGE_INCOMING_RAW;
  return type >= FOCTET_RELAY_MESSAGE_RESERVE && type <= FOCTET_RELAY_MESSAGE_ERROR;
}

/**
 * foctet_relay_message_type_to_string:
 * @type: a message type byte
 *
 * Returns: the name used in the specification ("RESERVE", "RESERVE_OK",
 *   "CONNECT", "INCOMING", "OK", "ERROR", "PUBLISH", "LOOKUP", "FOUND",
 *   "RAW_CIRCUIT", "INCOMING_RAW", "OBSERVED"),
 *   or "unknown"
 */
const char *
foctet_relay_message_type_to_string (guint8 type)
{
  switch (type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
      return "RESERVE";
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      return "RESERVE_OK";
    case FOCTET_RELAY_MESSAGE_CONNECT:
      return "CONNECT";
    case FOCTET_RELAY_MESSAGE_INCOMING:
      return "INCOMING";
    case FOCTET_RELAY_MESSAGE_OK:
      return "OK";
    case FOCTET_RELAY_MESSAGE_ERROR:
      return "ERROR";
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      return "PUBLISH";
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      return "LOOKUP";
    case FOCTET_RELAY_MESSAGE_FOUND:
      return "FOUND";
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      return "RAW_CIRCUIT";
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      return "INCOMING_RAW";
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      return "OBSERVED";
    default:
      return "unknown";
    }
}

/**
 * foctet_relay_error_code_describe:
 * @code: an ERROR code
 *
 * Returns: (nullable): what @code means, in a few lower-case words, or
 *   %NULL if it is not a #FoctetRelayErrorCode
 */
const char *
foctet_relay_error_code_describe (guint16 code)
{
  switch (code)
    {
    case FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST:
      return "malformed request";
    case FOCTET_RELAY_ERROR_CODE_NO_RESERVATION:
      return "target not reachable: it holds no reservation";
    case FOCTET_RELAY_ERROR_CODE_RESERVATION_LIMIT:
      return "reservation limit reached";
    case FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT:
      return "circuit limit reached";
    case FOCTET_RELAY_ERROR_CODE_REFUSED:
      return "refused by the target";
    case FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE:
      return "target unreachable or timed out";
    case FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE:
      return "unexpected message";
    case FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR:
      return "internal error";
    case FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT:
      return "resource limit reached (memory, rate or connections)";
    case FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED:
      return "the target offers no raw circuits";
    default:
      return NULL;
    }
}

/**
 * foctet_relay_error_code_to_string:
 * @code: an ERROR code
 *
 * Like foctet_relay_error_code_describe(), for any code: one the protocol
 * does not define (a later version's) reads "error code N".
 *
 * Returns: (transfer full): the text for logs and error messages
 */
char *
foctet_relay_error_code_to_string (guint16 code)
{
  const char *text = foctet_relay_error_code_describe (code);

  if (text != NULL)
    return g_strdup (text);
  return g_strdup_printf ("error code %u", code);
}

/* Text from the peer goes into logs and error messages: escape control
 * characters, quotes and backslashes, but keep UTF-8 as it is. */
static char *
printable_text (const char *text)
{
  char high_bytes[129];

  for (guint i = 0; i < 128; i++)
    high_bytes[i] = (char) (0x80 + i);
  high_bytes[128] = '\0';
  return g_strescape (text, high_bytes);
}

/* The address rules of ticket entries of types 1–3 (PROTOCOL §6), so that
 * an address a relay reports can go into a ticket as it is: the core's one
 * host:port parser, a port 1–65535, at most 255 bytes.  @text holds @len
 * bytes, not NUL-terminated.  The message says what is wrong, not in which
 * field: callers add that. */
static gboolean
validate_address (const char  *text,
                  gsize        len,
                  GError     **error)
{
  if (len == 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT, "it is empty");
      return FALSE;
    }
  if (len > FOCTET_RELAY_ADDRESS_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "it is %" G_GSIZE_FORMAT " bytes long; the most is %d",
                   len, FOCTET_RELAY_ADDRESS_MAX);
      return FALSE;
    }
  return foctet_parse_host_port_len (text, len, FALSE, NULL, NULL, error);
}

static FoctetRelayMessage *
message_new (FoctetRelayMessageType type)
{
  FoctetRelayMessage *self = g_new0 (FoctetRelayMessage, 1);

  self->type = type;
  return self;
}

/**
 * foctet_relay_message_free:
 * @self: (nullable): a #FoctetRelayMessage
 *
 * Frees @self and everything it holds.
 */
void
foctet_relay_message_free (FoctetRelayMessage *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->node_id, foctet_node_id_free);
  g_free (self->address);
  g_free (self->error_text);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_free (self);
}

/**
 * foctet_relay_entry_new:
 * @kind: %FOCTET_ADDRESS_KIND_QUIC or %FOCTET_ADDRESS_KIND_TLS
 * @address: "host:port"
 *
 * Makes an entry of a PUBLISH or FOUND; nothing is checked here (see
 * foctet_relay_entries_check()).
 *
 * Returns: (transfer full): the entry
 */
FoctetRelayEntry *
foctet_relay_entry_new (FoctetAddressKind  kind,
                        const char        *address)
{
  FoctetRelayEntry *self;

  g_return_val_if_fail (address != NULL, NULL);

  self = g_new0 (FoctetRelayEntry, 1);
  self->kind = kind;
  self->address = g_strdup (address);
  return self;
}

/**
 * foctet_relay_entry_free:
 * @self: (nullable): a #FoctetRelayEntry
 */
void
foctet_relay_entry_free (FoctetRelayEntry *self)
{
  if (self == NULL)
    return;
  g_free (self->address);
  g_free (self);
}

/**
 * foctet_relay_entries_new:
 *
 * Returns: (transfer full) (element-type FoctetRelayEntry): an empty
 *   array that frees its entries
 */
GPtrArray *
foctet_relay_entries_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_relay_entry_free);
}

static gsize
entries_size (GPtrArray *entries)
{
  gsize size = 0;

  for (guint i = 0; i < entries->len; i++)
    size += ENTRY_HEADER_SIZE + strlen (((FoctetRelayEntry *) g_ptr_array_index (entries, i))->address);
  return size;
}

/**
 * foctet_relay_entries_check:
 * @entries: (element-type FoctetRelayEntry): entries to publish
 * @error: return location for a #GError
 *
 * Checks that @entries may go into a PUBLISH: at most
 * %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES of them, of kinds QUIC and TLS only,
 * each address one a ticket could hold, and
 * %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE bytes at most in all.
 *
 * Returns: %TRUE if they may, else %FALSE with
 *   %FOCTET_ERROR_INVALID_ARGUMENT saying what is wrong
 */
gboolean
foctet_relay_entries_check (GPtrArray  *entries,
                            GError    **error)
{
  gsize size;

  g_return_val_if_fail (entries != NULL, FALSE);

  if (entries->len > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "%u addresses to publish; the most is %d", entries->len, FOCTET_RELAY_DIRECTORY_MAX_ENTRIES);
      return FALSE;
    }
  for (guint i = 0; i < entries->len; i++)
    {
      FoctetRelayEntry *entry = g_ptr_array_index (entries, i);
      g_autoptr(GError) local_error = NULL;

      if (entry->kind != FOCTET_ADDRESS_KIND_QUIC && entry->kind != FOCTET_ADDRESS_KIND_TLS)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "address %u to publish is of kind %d; only QUIC (1) and TLS (2) addresses are published",
                       i + 1, entry->kind);
          return FALSE;
        }
      if (!validate_address (entry->address, strlen (entry->address), &local_error))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "address %u to publish: %s", i + 1, local_error->message);
          return FALSE;
        }
    }
  size = entries_size (entries);
  if (size > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "the addresses to publish take %" G_GSIZE_FORMAT " bytes; the most is %d",
                   size, FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE);
      return FALSE;
    }
  return TRUE;
}

static GPtrArray *
entries_copy (GPtrArray *entries)
{
  GPtrArray *copy = foctet_relay_entries_new ();

  for (guint i = 0; i < entries->len; i++)
    {
      FoctetRelayEntry *entry = g_ptr_array_index (entries, i);

      g_ptr_array_add (copy, foctet_relay_entry_new (entry->kind, entry->address));
    }
  return copy;
}

/**
 * foctet_relay_message_new_reserve:
 *
 * Returns: (transfer full): a RESERVE message, which asks for a
 *   reservation or renews it
 */
FoctetRelayMessage *
foctet_relay_message_new_reserve (void)
{
  return message_new (FOCTET_RELAY_MESSAGE_RESERVE);
}

/**
 * foctet_relay_message_new_reserve_ok:
 * @ttl: seconds the reservation lasts from now, at least 1
 * @observed_address: the address the client connected from, "host:port"
 *   as in tickets, port 1–65535; see
 *   foctet_relay_address_from_socket_address()
 * @error: return location for a #GError
 *
 * Makes the relay's answer to RESERVE.  An address a ticket could not
 * hold (malformed, port 0, longer than 255 bytes) fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT.
 *
 * Returns: (transfer full): a RESERVE_OK message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_reserve_ok (guint32      ttl,
                                     const char  *observed_address,
                                     GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  FoctetRelayMessage *self;

  g_return_val_if_fail (ttl >= 1, NULL);
  g_return_val_if_fail (observed_address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_address (observed_address, strlen (observed_address), &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid observed address for a relay RESERVE_OK message: %s",
                   local_error->message);
      return NULL;
    }
  self = message_new (FOCTET_RELAY_MESSAGE_RESERVE_OK);
  self->ttl = ttl;
  self->address = g_strdup (observed_address);
  return self;
}

/**
 * foctet_relay_message_new_observed:
 * @observed_address: where the relay sees the client's connection come
 *   from, as for foctet_relay_message_new_reserve_ok()
 * @error: return location for a #GError
 *
 * Makes the relay's answer on an observed stream.  An address a ticket
 * could not hold fails with %FOCTET_ERROR_INVALID_ARGUMENT.
 *
 * Returns: (transfer full): an OBSERVED message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_observed (const char  *observed_address,
                                   GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  FoctetRelayMessage *self;

  g_return_val_if_fail (observed_address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_address (observed_address, strlen (observed_address), &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid observed address for a relay OBSERVED message: %s", local_error->message);
      return NULL;
    }
  self = message_new (FOCTET_RELAY_MESSAGE_OBSERVED);
  self->address = g_strdup (observed_address);
  return self;
}

/**
 * foctet_relay_message_new_connect:
 * @target: the node the dialer wants a circuit to
 *
 * Returns: (transfer full): a CONNECT message
 */
FoctetRelayMessage *
foctet_relay_message_new_connect (const FoctetNodeId *target)
{
  FoctetRelayMessage *self;

  g_return_val_if_fail (target != NULL, NULL);

  self = message_new (FOCTET_RELAY_MESSAGE_CONNECT);
  self->node_id = foctet_node_id_copy (target);
  return self;
}

/**
 * foctet_relay_message_new_incoming:
 * @caller: the dialer, as the relay authenticated it
 * @caller_address: where the relay saw the dialer connect from,
 *   "host:port" as in tickets, port 1–65535
 * @error: return location for a #GError
 *
 * Makes the message a relay sends its target on an incoming stream.  An
 * invalid address fails as in foctet_relay_message_new_reserve_ok().
 *
 * Returns: (transfer full): an INCOMING message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_incoming (const FoctetNodeId  *caller,
                                   const char          *caller_address,
                                   GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  FoctetRelayMessage *self;

  g_return_val_if_fail (caller != NULL, NULL);
  g_return_val_if_fail (caller_address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_address (caller_address, strlen (caller_address), &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid caller address for a relay INCOMING message: %s",
                   local_error->message);
      return NULL;
    }
  self = message_new (FOCTET_RELAY_MESSAGE_INCOMING);
  self->node_id = foctet_node_id_copy (caller);
  self->address = g_strdup (caller_address);
  return self;
}

/**
 * foctet_relay_message_new_raw_circuit:
 * @port: the relay's raw-circuit TCP port, 1–65535
 * @token: (array fixed-size=32): the dialer's one-time token
 *
 * Makes the relay's answer to a CONNECT on a connect-raw stream.
 *
 * Returns: (transfer full): a RAW_CIRCUIT message
 */
FoctetRelayMessage *
foctet_relay_message_new_raw_circuit (guint16       port,
                                      const guint8 *token)
{
  FoctetRelayMessage *self;

  g_return_val_if_fail (port != 0, NULL);
  g_return_val_if_fail (token != NULL, NULL);

  self = message_new (FOCTET_RELAY_MESSAGE_RAW_CIRCUIT);
  self->port = port;
  memcpy (self->token, token, FOCTET_RELAY_TOKEN_SIZE);
  return self;
}

/**
 * foctet_relay_message_new_incoming_raw:
 * @caller: the dialer, as the relay authenticated it
 * @caller_address: where the relay saw the dialer connect from,
 *   "host:port" as in tickets
 * @port: the relay's raw-circuit TCP port, 1–65535
 * @token: (array fixed-size=32): the target's one-time token
 * @error: return location for a #GError
 *
 * Makes the message a relay sends its target on an incoming-raw stream.
 * An invalid address fails as in foctet_relay_message_new_incoming().
 *
 * Returns: (transfer full): an INCOMING_RAW message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_incoming_raw (const FoctetNodeId  *caller,
                                       const char          *caller_address,
                                       guint16              port,
                                       const guint8        *token,
                                       GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  FoctetRelayMessage *self;

  g_return_val_if_fail (caller != NULL, NULL);
  g_return_val_if_fail (caller_address != NULL, NULL);
  g_return_val_if_fail (port != 0, NULL);
  g_return_val_if_fail (token != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_address (caller_address, strlen (caller_address), &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid caller address for a relay INCOMING_RAW message: %s",
                   local_error->message);
      return NULL;
    }
  self = message_new (FOCTET_RELAY_MESSAGE_INCOMING_RAW);
  self->node_id = foctet_node_id_copy (caller);
  self->address = g_strdup (caller_address);
  self->port = port;
  memcpy (self->token, token, FOCTET_RELAY_TOKEN_SIZE);
  return self;
}

/**
 * foctet_relay_message_new_publish:
 * @entries: (element-type FoctetRelayEntry): the addresses to publish,
 *   possibly none; copied
 * @error: return location for a #GError
 *
 * Makes the message a reserved client sends on its publish stream.
 * Entries foctet_relay_entries_check() refuses fail with its error.
 *
 * Returns: (transfer full): a PUBLISH message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_publish (GPtrArray  *entries,
                                  GError    **error)
{
  FoctetRelayMessage *self;

  g_return_val_if_fail (entries != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!foctet_relay_entries_check (entries, error))
    return NULL;
  self = message_new (FOCTET_RELAY_MESSAGE_PUBLISH);
  self->entries = entries_copy (entries);
  return self;
}

/**
 * foctet_relay_message_new_lookup:
 * @target: the node whose addresses are asked for
 *
 * Returns: (transfer full): a LOOKUP message
 */
FoctetRelayMessage *
foctet_relay_message_new_lookup (const FoctetNodeId *target)
{
  FoctetRelayMessage *self;

  g_return_val_if_fail (target != NULL, NULL);

  self = message_new (FOCTET_RELAY_MESSAGE_LOOKUP);
  self->node_id = foctet_node_id_copy (target);
  return self;
}

/**
 * foctet_relay_message_new_found:
 * @ttl: seconds the target's reservation still lasts, at least 1
 * @observed_address: where the relay sees the target connect from
 * @entries: (element-type FoctetRelayEntry): what the target published;
 *   copied
 * @error: return location for a #GError
 *
 * Makes the relay's answer to a LOOKUP of a node that published.  An
 * invalid address fails as in foctet_relay_message_new_reserve_ok(),
 * invalid entries as in foctet_relay_message_new_publish().
 *
 * Returns: (transfer full): a FOUND message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_new_found (guint32      ttl,
                                const char  *observed_address,
                                GPtrArray   *entries,
                                GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  FoctetRelayMessage *self;

  g_return_val_if_fail (ttl >= 1, NULL);
  g_return_val_if_fail (observed_address != NULL, NULL);
  g_return_val_if_fail (entries != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_address (observed_address, strlen (observed_address), &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid observed address for a relay FOUND message: %s", local_error->message);
      return NULL;
    }
  if (!foctet_relay_entries_check (entries, error))
    return NULL;
  self = message_new (FOCTET_RELAY_MESSAGE_FOUND);
  self->ttl = ttl;
  self->address = g_strdup (observed_address);
  self->entries = entries_copy (entries);
  return self;
}

/**
 * foctet_relay_message_new_ok:
 *
 * Returns: (transfer full): an OK message: the circuit is accepted, and
 *   raw relayed bytes follow it on the stream
 */
FoctetRelayMessage *
foctet_relay_message_new_ok (void)
{
  return message_new (FOCTET_RELAY_MESSAGE_OK);
}

/**
 * foctet_relay_message_new_error:
 * @code: a #FoctetRelayErrorCode (any other value is sent as it is)
 * @text: (nullable): a message for the peer's logs, or %NULL for none
 *
 * Makes an ERROR message.  @text is made to fit the wire: bytes that are
 * not UTF-8 become U+FFFD, and text longer than
 * %FOCTET_RELAY_ERROR_TEXT_MAX bytes is cut at a character boundary.
 *
 * Returns: (transfer full): an ERROR message
 */
FoctetRelayMessage *
foctet_relay_message_new_error (guint16     code,
                                const char *text)
{
  FoctetRelayMessage *self = message_new (FOCTET_RELAY_MESSAGE_ERROR);
  char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  gsize len = strlen (valid);

  if (len > FOCTET_RELAY_ERROR_TEXT_MAX)
    {
      gsize cut = FOCTET_RELAY_ERROR_TEXT_MAX;

      /* Back to the first byte of the character the limit falls in. */
      while (cut > 0 && ((guint8) valid[cut] & 0xc0) == 0x80)
        cut--;
      valid[cut] = '\0';
    }
  self->error_code = code;
  self->error_text = valid;
  return self;
}

static gboolean
message_is_well_formed (const FoctetRelayMessage *self)
{
  switch (self->type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
    case FOCTET_RELAY_MESSAGE_OK:
      return TRUE;
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      return self->ttl >= 1 && self->address != NULL &&
             strlen (self->address) <= FOCTET_RELAY_ADDRESS_MAX;
    case FOCTET_RELAY_MESSAGE_CONNECT:
      return self->node_id != NULL;
    case FOCTET_RELAY_MESSAGE_INCOMING:
      return self->node_id != NULL && self->address != NULL &&
             strlen (self->address) <= FOCTET_RELAY_ADDRESS_MAX;
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      return self->address != NULL && strlen (self->address) <= FOCTET_RELAY_ADDRESS_MAX;
    case FOCTET_RELAY_MESSAGE_ERROR:
      return self->error_text != NULL && strlen (self->error_text) <= FOCTET_RELAY_ERROR_TEXT_MAX;
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      return self->entries != NULL && foctet_relay_entries_check (self->entries, NULL);
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      return self->node_id != NULL;
    case FOCTET_RELAY_MESSAGE_FOUND:
      return self->ttl >= 1 && self->address != NULL &&
             strlen (self->address) <= FOCTET_RELAY_ADDRESS_MAX &&
             self->entries != NULL && foctet_relay_entries_check (self->entries, NULL);
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      return self->port != 0;
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      return self->port != 0 && self->node_id != NULL && self->address != NULL &&
             strlen (self->address) <= FOCTET_RELAY_ADDRESS_MAX;
    default:
      return FALSE;
    }
}

static void
append_node_id (GByteArray         *out,
                const FoctetNodeId *node_id)
{
  gsize len = 0;
  const guint8 *key = foctet_node_id_get_data (node_id, &len);

  g_byte_array_append (out, key, len);
}

static void
append_address (GByteArray *out,
                const char *address)
{
  guint8 len = (guint8) strlen (address);

  g_byte_array_append (out, &len, 1);
  g_byte_array_append (out, (const guint8 *) address, len);
}

static void
append_entries (GByteArray *out,
                GPtrArray  *entries)
{
  for (guint i = 0; i < entries->len; i++)
    {
      FoctetRelayEntry *entry = g_ptr_array_index (entries, i);
      guint8 kind = entry->kind;

      g_byte_array_append (out, &kind, 1);
      append_address (out, entry->address);
    }
}

static void
append_port_token (GByteArray         *out,
                   const FoctetRelayMessage *self)
{
  guint8 port[PORT_SIZE] = { self->port >> 8, self->port & 0xff };

  g_byte_array_append (out, port, sizeof port);
  g_byte_array_append (out, self->token, FOCTET_RELAY_TOKEN_SIZE);
}

static void
append_ttl (GByteArray *out,
            guint32     value)
{
  guint8 ttl[TTL_SIZE] = { value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  g_byte_array_append (out, ttl, sizeof ttl);
}

/**
 * foctet_relay_message_encode:
 * @self: a message made by a constructor or by the parser
 *
 * Encodes @self as it goes on the wire: type, length, body.
 *
 * Returns: (transfer full): the encoding, 3 to 1027 bytes
 */
GBytes *
foctet_relay_message_encode (const FoctetRelayMessage *self)
{
  GByteArray *out;
  gsize body_len;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (message_is_well_formed (self), NULL);

  out = g_byte_array_sized_new (FOCTET_RELAY_MESSAGE_HEADER_SIZE + 64);
  {
    /* The length is filled in below, once the body is known. */
    guint8 header[FOCTET_RELAY_MESSAGE_HEADER_SIZE] = { self->type, 0, 0 };

    g_byte_array_append (out, header, sizeof header);
  }

  switch (self->type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
    case FOCTET_RELAY_MESSAGE_OK:
      break;
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      append_ttl (out, self->ttl);
      append_address (out, self->address);
      break;
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      append_entries (out, self->entries);
      break;
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      append_node_id (out, self->node_id);
      break;
    case FOCTET_RELAY_MESSAGE_FOUND:
      append_ttl (out, self->ttl);
      append_address (out, self->address);
      append_entries (out, self->entries);
      break;
    case FOCTET_RELAY_MESSAGE_CONNECT:
      append_node_id (out, self->node_id);
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING:
      append_node_id (out, self->node_id);
      append_address (out, self->address);
      break;
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      append_address (out, self->address);
      break;
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      append_port_token (out, self);
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      append_node_id (out, self->node_id);
      append_port_token (out, self);
      append_address (out, self->address);
      break;
    case FOCTET_RELAY_MESSAGE_ERROR:
      {
        guint8 code[CODE_SIZE] = { self->error_code >> 8, self->error_code & 0xff };

        g_byte_array_append (out, code, sizeof code);
        g_byte_array_append (out, (const guint8 *) self->error_text, strlen (self->error_text));
      }
      break;
    default:
      g_assert_not_reached ();
    }

  body_len = out->len - FOCTET_RELAY_MESSAGE_HEADER_SIZE;
  /* Every field is bounded so that no body can be longer. */
  g_assert (body_len <= FOCTET_RELAY_MESSAGE_MAX_BODY);
  out->data[1] = body_len >> 8;
  out->data[2] = body_len & 0xff;
  return g_byte_array_free_to_bytes (out);
}

/* The rules a message's length breaks on its own, checked as soon as the
 * header is in, so that a reader never waits for the body of a message it
 * will refuse anyway. */
static gboolean
check_length (guint8    type,
              guint16   length,
              GError  **error)
{
  const char *name = foctet_relay_message_type_to_string (type);

  if (length > FOCTET_RELAY_MESSAGE_MAX_BODY)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "relay %s message has length %u; the most is %d",
                   name, length, FOCTET_RELAY_MESSAGE_MAX_BODY);
      return FALSE;
    }

  switch (type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
    case FOCTET_RELAY_MESSAGE_OK:
      if (length != 0)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message has a %u-byte body; it must be empty", name, length);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      if (length < RESERVE_OK_FIXED)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay RESERVE_OK message has a %u-byte body; the ttl and the address "
                       "length alone take %d", length, RESERVE_OK_FIXED);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_CONNECT:
      if (length != FOCTET_NODE_ID_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay CONNECT message has a %u-byte body; it must be the %d-byte "
                       "target NodeId", length, FOCTET_NODE_ID_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING:
      if (length < INCOMING_FIXED)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay INCOMING message has a %u-byte body; the caller NodeId and the "
                       "address length alone take %d", length, INCOMING_FIXED);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      if (length < ADDR_LEN_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay OBSERVED message has a %u-byte body; the address length alone takes %d",
                       length, ADDR_LEN_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_ERROR:
      if (length < CODE_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay ERROR message has a %u-byte body; the error code alone takes %d",
                       length, CODE_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      if (length > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay PUBLISH message has a %u-byte body; its entries may take at most %d",
                       length, FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      if (length != FOCTET_NODE_ID_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay LOOKUP message has a %u-byte body; it must be the %d-byte "
                       "target NodeId", length, FOCTET_NODE_ID_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_FOUND:
      if (length < FOUND_FIXED)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay FOUND message has a %u-byte body; the ttl and the address "
                       "length alone take %d", length, FOUND_FIXED);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      if (length != RAW_CIRCUIT_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay RAW_CIRCUIT message has a %u-byte body; it must be the %d-byte "
                       "port and token", length, RAW_CIRCUIT_SIZE);
          return FALSE;
        }
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      if (length < INCOMING_RAW_FIXED)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay INCOMING_RAW message has a %u-byte body; the caller NodeId, port, "
                       "token and address length alone take %d", length, INCOMING_RAW_FIXED);
          return FALSE;
        }
      break;
    default:
      g_assert_not_reached ();
    }
  return TRUE;
}

/* An address field, addr_len (1) | "host:port", that must end the body:
 * @p points at addr_len and @left bytes of the body remain from there
 * (at least 1, as check_length() made sure). */
static char *
parse_address (const char    *type_name,
               const char    *field,
               const guint8  *p,
               gsize          left,
               GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  guint8 addr_len = p[0];

  if (addr_len > left - 1)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "relay %s message: %s length %u runs past the end of the body: "
                   "only %" G_GSIZE_FORMAT " bytes follow it",
                   type_name, field, addr_len, left - 1);
      return NULL;
    }
  if (addr_len < left - 1)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "relay %s message: %" G_GSIZE_FORMAT " bytes after the %s; the body must "
                   "end with it", type_name, left - 1 - addr_len, field);
      return NULL;
    }
  if (!validate_address ((const char *) p + 1, addr_len, &local_error))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "relay %s message: bad %s: %s", type_name, field, local_error->message);
      return NULL;
    }
  return g_strndup ((const char *) p + 1, addr_len);
}

/* The entries that end a PUBLISH or FOUND body: @left bytes at @p,
 * possibly none. */
static GPtrArray *
parse_entries (const char    *type_name,
               const guint8  *p,
               gsize          left,
               GError       **error)
{
  g_autoptr(GPtrArray) entries = foctet_relay_entries_new ();
  guint n = 0;

  if (left > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "relay %s message: its entries take %" G_GSIZE_FORMAT " bytes; the most is %d",
                   type_name, left, FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE);
      return NULL;
    }
  while (left > 0)
    {
      g_autoptr(GError) local_error = NULL;
      guint8 kind, len;

      n++;
      if (n > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message has more than %d entries", type_name,
                       FOCTET_RELAY_DIRECTORY_MAX_ENTRIES);
          return NULL;
        }
      if (left < ENTRY_HEADER_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message: entry %u is truncated: 1 byte left, its type and "
                       "length take %d", type_name, n, ENTRY_HEADER_SIZE);
          return NULL;
        }
      kind = p[0];
      len = p[1];
      if (kind != FOCTET_ADDRESS_KIND_QUIC && kind != FOCTET_ADDRESS_KIND_TLS)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message: entry %u has type %u; only 1 (QUIC) and 2 (TLS) "
                       "addresses are published", type_name, n, kind);
          return NULL;
        }
      if (len > left - ENTRY_HEADER_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message: entry %u length %u runs past the end of the body: "
                       "only %" G_GSIZE_FORMAT " bytes follow it",
                       type_name, n, len, left - ENTRY_HEADER_SIZE);
          return NULL;
        }
      if (!validate_address ((const char *) p + ENTRY_HEADER_SIZE, len, &local_error))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "relay %s message: bad address in entry %u: %s", type_name, n,
                       local_error->message);
          return NULL;
        }
      {
        FoctetRelayEntry *entry = g_new0 (FoctetRelayEntry, 1);

        entry->kind = kind;
        entry->address = g_strndup ((const char *) p + ENTRY_HEADER_SIZE, len);
        g_ptr_array_add (entries, entry);
      }
      p += ENTRY_HEADER_SIZE + len;
      left -= ENTRY_HEADER_SIZE + len;
    }
  return g_steal_pointer (&entries);
}

/* The body of a message whose type and length check_length() accepted. */
static FoctetRelayMessage *
parse_body (guint8         type,
            const guint8  *body,
            gsize          length,
            GError       **error)
{
  g_autoptr(FoctetRelayMessage) message = message_new (type);
  const char *name = foctet_relay_message_type_to_string (type);

  switch (type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
    case FOCTET_RELAY_MESSAGE_OK:
      break;
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      message->ttl = read_u32 (body);
      if (message->ttl == 0)
        {
          g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "relay RESERVE_OK message has ttl 0; it must be at least 1 second");
          return NULL;
        }
      message->address = parse_address (name, "observed address", body + TTL_SIZE,
                                        length - TTL_SIZE, error);
      if (message->address == NULL)
        return NULL;
      break;
    case FOCTET_RELAY_MESSAGE_CONNECT:
      message->node_id = foctet_node_id_new_from_data (body, FOCTET_NODE_ID_SIZE, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING:
      message->node_id = foctet_node_id_new_from_data (body, FOCTET_NODE_ID_SIZE, NULL);
      message->address = parse_address (name, "caller address", body + FOCTET_NODE_ID_SIZE,
                                        length - FOCTET_NODE_ID_SIZE, error);
      if (message->address == NULL)
        return NULL;
      break;
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      message->address = parse_address (name, "observed address", body, length, error);
      if (message->address == NULL)
        return NULL;
      break;
    case FOCTET_RELAY_MESSAGE_ERROR:
      {
        const char *text = (const char *) body + CODE_SIZE;
        gsize text_len = length - CODE_SIZE;
        const char *nul = memchr (text, '\0', text_len);
        const char *end = NULL;

        message->error_code = read_u16 (body);
        if (nul != NULL)
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "relay ERROR message (code %u): the text contains a NUL byte "
                         "(at byte %" G_GSIZE_FORMAT " of the text)",
                         message->error_code, (gsize) (nul - text) + 1);
            return NULL;
          }
        if (!g_utf8_validate (text, text_len, &end))
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "relay ERROR message (code %u): the text is not valid UTF-8 "
                         "(at byte %" G_GSIZE_FORMAT " of the text)",
                         message->error_code, (gsize) (end - text) + 1);
            return NULL;
          }
        message->error_text = g_strndup (text, text_len);
      }
      break;
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      message->entries = parse_entries (name, body, length, error);
      if (message->entries == NULL)
        return NULL;
      break;
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      message->node_id = foctet_node_id_new_from_data (body, FOCTET_NODE_ID_SIZE, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_FOUND:
      {
        g_autoptr(GError) local_error = NULL;
        guint8 addr_len = body[TTL_SIZE];
        gsize after = length - FOUND_FIXED;

        message->ttl = read_u32 (body);
        if (message->ttl == 0)
          {
            g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                                 "relay FOUND message has ttl 0; it must be at least 1 second");
            return NULL;
          }
        if (addr_len > after)
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "relay FOUND message: observed address length %u runs past the end of "
                         "the body: only %" G_GSIZE_FORMAT " bytes follow it", addr_len, after);
            return NULL;
          }
        if (!validate_address ((const char *) body + FOUND_FIXED, addr_len, &local_error))
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "relay FOUND message: bad observed address: %s", local_error->message);
            return NULL;
          }
        message->address = g_strndup ((const char *) body + FOUND_FIXED, addr_len);
        message->entries = parse_entries (name, body + FOUND_FIXED + addr_len, after - addr_len, error);
        if (message->entries == NULL)
          return NULL;
      }
      break;
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      {
        const guint8 *p = body;

        if (type == FOCTET_RELAY_MESSAGE_INCOMING_RAW)
          {
            message->node_id = foctet_node_id_new_from_data (p, FOCTET_NODE_ID_SIZE, NULL);
            p += FOCTET_NODE_ID_SIZE;
          }
        message->port = read_u16 (p);
        if (message->port == 0)
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "relay %s message has port 0; it must be 1–65535", name);
            return NULL;
          }
        memcpy (message->token, p + PORT_SIZE, FOCTET_RELAY_TOKEN_SIZE);
        p += RAW_CIRCUIT_SIZE;
        if (type == FOCTET_RELAY_MESSAGE_INCOMING_RAW)
          {
            message->address = parse_address (name, "caller address", p, length - (p - body), error);
            if (message->address == NULL)
              return NULL;
          }
      }
      break;
    default:
      g_assert_not_reached ();
    }
  return g_steal_pointer (&message);
}

/**
 * foctet_relay_message_parse:
 * @data: (array length=len): bytes received, starting at a message
 * @len: how many
 * @consumed: (out): return location for the size of the message parsed:
 *   header and body; 0 unless %TRUE is returned
 * @out: (out) (transfer full): return location for the message; %NULL
 *   unless %TRUE is returned
 * @error: return location for a #GError
 *
 * Parses the message at the start of @data, if it is all there.  Bytes
 * after it are left alone: the caller hands them to the next parse, or
 * they are relayed bytes.
 *
 * Returns %FALSE without an error when @data holds only the start of a
 * message that may still turn out valid: read more and call again with
 * everything.  A message is refused as soon as the bytes at hand break a
 * rule — an unknown type after one byte, a bad length after three — so a
 * reader never waits for the rest of a message it will refuse; a prefix of
 * a valid message is never refused.
 *
 * A refused message fails with %FOCTET_ERROR_PROTOCOL_ERROR and a message
 * saying which type, which field and which length: an unknown type, a
 * length over 1024, a body of the wrong size for its type (RESERVE and OK
 * must be empty, CONNECT exactly a NodeId, the others at least their
 * fixed fields), a RESERVE_OK ttl of 0, an address length running past
 * the body or not reaching its end, an address tickets would refuse, or
 * an ERROR text with a NUL byte or invalid UTF-8.  Pass a #GError to tell
 * a refused message from an incomplete one.
 *
 * This parses the messages of the reserve, connect and incoming streams
 * (%FOCTET_RELAY_MESSAGES_CIRCUIT); foctet_relay_message_parse_in() those
 * of either family.
 *
 * Returns: %TRUE if a whole valid message was parsed
 */
gboolean
foctet_relay_message_parse (const guint8        *data,
                            gsize                len,
                            gsize               *consumed,
                            FoctetRelayMessage **out,
                            GError             **error)
{
  return foctet_relay_message_parse_in (FOCTET_RELAY_MESSAGES_CIRCUIT, data, len, consumed, out, error);
}

/**
 * foctet_relay_message_parse_in:
 * @set: the message family of the stream the bytes came from
 * @data: (array length=len): bytes received, starting at a message
 * @len: how many
 * @consumed: (out): as in foctet_relay_message_parse()
 * @out: (out) (transfer full): as in foctet_relay_message_parse()
 * @error: return location for a #GError
 *
 * foctet_relay_message_parse() for the messages of @set: a type outside
 * it is an unknown type.  On top of the rules there, the directory's
 * messages are refused for a PUBLISH longer than
 * %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE, a LOOKUP other than a NodeId,
 * a FOUND ttl of 0 or an observed address running past the body, more
 * than %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES entries or entries taking more
 * than %FOCTET_RELAY_DIRECTORY_MAX_ENTRIES_SIZE bytes, an entry of a type
 * other than 1 (QUIC) or 2 (TLS), an entry cut short or running past the
 * body, and an entry address tickets would refuse.
 *
 * Returns: %TRUE if a whole valid message was parsed
 */
gboolean
foctet_relay_message_parse_in (FoctetRelayMessageSet   set,
                               const guint8           *data,
                               gsize                   len,
                               gsize                  *consumed,
                               FoctetRelayMessage    **out,
                               GError                **error)
{
  FoctetRelayMessage *message;
  guint8 type;
  guint16 length;

  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (consumed != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *consumed = 0;
  *out = NULL;
  if (len < 1)
    return FALSE;

  type = data[0];
  if (!type_is_known (set, type))
    {
      if (set == FOCTET_RELAY_MESSAGES_DIRECTORY)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown relay directory message type 0x%02x", type);
      else if (set == FOCTET_RELAY_MESSAGES_RAW)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown relay raw-circuit message type 0x%02x", type);
      else if (set == FOCTET_RELAY_MESSAGES_OBSERVED)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown relay observed-address message type 0x%02x", type);
      else
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown relay message type 0x%02x", type);
      return FALSE;
    }
  if (len < FOCTET_RELAY_MESSAGE_HEADER_SIZE)
    return FALSE;

  length = read_u16 (data + 1);
  if (!check_length (type, length, error))
    return FALSE;
  if (len - FOCTET_RELAY_MESSAGE_HEADER_SIZE < length)
    return FALSE;

  message = parse_body (type, data + FOCTET_RELAY_MESSAGE_HEADER_SIZE, length, error);
  if (message == NULL)
    return FALSE;
  *consumed = FOCTET_RELAY_MESSAGE_HEADER_SIZE + length;
  *out = message;
  return TRUE;
}

/**
 * foctet_relay_message_to_string:
 * @self: a #FoctetRelayMessage
 *
 * Describes @self on one line for logs, e.g. "RESERVE_OK ttl 600 s,
 * observed address 192.0.2.1:4433" or "ERROR 5 (refused by the target):
 * “busy”".  Text from the peer is escaped.
 *
 * Returns: (transfer full): the description
 */
char *
foctet_relay_message_to_string (const FoctetRelayMessage *self)
{
  const char *name;

  g_return_val_if_fail (self != NULL, NULL);

  name = foctet_relay_message_type_to_string (self->type);
  switch (self->type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      return g_strdup_printf ("%s ttl %" G_GUINT32_FORMAT " s, observed address %s",
                              name, self->ttl, self->address);
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      return g_strdup_printf ("%s address %s", name, self->address);
    case FOCTET_RELAY_MESSAGE_CONNECT:
    case FOCTET_RELAY_MESSAGE_INCOMING:
      {
        g_autofree char *node = foctet_node_id_to_string (self->node_id);

        if (self->type == FOCTET_RELAY_MESSAGE_CONNECT)
          return g_strdup_printf ("%s to %s", name, node);
        return g_strdup_printf ("%s from %s at %s", name, node, self->address);
      }
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      {
        g_autofree char *node = foctet_node_id_to_string (self->node_id);

        return g_strdup_printf ("%s of %s", name, node);
      }
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      /* The token is a secret: logs never show it. */
      return g_strdup_printf ("%s on port %u", name, self->port);
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      {
        g_autofree char *node = foctet_node_id_to_string (self->node_id);

        return g_strdup_printf ("%s from %s at %s, on port %u", name, node, self->address, self->port);
      }
    case FOCTET_RELAY_MESSAGE_PUBLISH:
    case FOCTET_RELAY_MESSAGE_FOUND:
      {
        GString *text = g_string_new (name);

        if (self->type == FOCTET_RELAY_MESSAGE_FOUND)
          g_string_append_printf (text, " ttl %" G_GUINT32_FORMAT " s, observed address %s,",
                                  self->ttl, self->address);
        g_string_append_printf (text, " %u entries", self->entries->len);
        for (guint i = 0; i < self->entries->len; i++)
          {
            FoctetRelayEntry *entry = g_ptr_array_index (self->entries, i);

            g_string_append_printf (text, "%s%s/%s", i == 0 ? ": " : ", ",
                                    foctet_address_kind_to_transport (entry->kind), entry->address);
          }
        return g_string_free (text, FALSE);
      }
    case FOCTET_RELAY_MESSAGE_ERROR:
      {
        const char *meaning = foctet_relay_error_code_describe (self->error_code);
        g_autofree char *text = printable_text (self->error_text);

        return g_strdup_printf ("%s %u (%s)%s%s%s", name, self->error_code,
                                meaning != NULL ? meaning : "unknown code",
                                *text != '\0' ? ": “" : "", text, *text != '\0' ? "”" : "");
      }
    default:
      return g_strdup (name);
    }
}

static int
error_code_to_foctet_error (guint16 code)
{
  switch (code)
    {
    case FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST:
    case FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE:
      return FOCTET_ERROR_PROTOCOL_ERROR;
    case FOCTET_RELAY_ERROR_CODE_NO_RESERVATION:
    case FOCTET_RELAY_ERROR_CODE_REFUSED:
    case FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE:
    case FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED:
      return FOCTET_ERROR_UNREACHABLE;
    case FOCTET_RELAY_ERROR_CODE_RESERVATION_LIMIT:
    case FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT:
    case FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT:
      return FOCTET_ERROR_LIMIT_REACHED;
    default:
      return FOCTET_ERROR_FAILED;
    }
}

/**
 * foctet_relay_message_to_error:
 * @self: an ERROR message
 *
 * Turns an ERROR received into the #GError to report, in the
 * %FOCTET_ERROR domain: %FOCTET_ERROR_PROTOCOL_ERROR for codes 1 and 7
 * (the peer says this side broke the protocol),
 * %FOCTET_ERROR_UNREACHABLE for 2, 5 and 6, %FOCTET_ERROR_LIMIT_REACHED
 * for 3, 4 and 9, %FOCTET_ERROR_FAILED for 8 and unknown codes.  The
 * message reads e.g. "Relay error: circuit limit reached (code 4): “at
 * most 16 per node”".
 *
 * Returns: (transfer full): the error
 */
GError *
foctet_relay_message_to_error (const FoctetRelayMessage *self)
{
  g_autofree char *meaning = NULL;
  g_autofree char *text = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (self->type == FOCTET_RELAY_MESSAGE_ERROR, NULL);

  meaning = foctet_relay_error_code_to_string (self->error_code);
  text = printable_text (self->error_text);
  if (foctet_relay_error_code_describe (self->error_code) != NULL)
    return g_error_new (FOCTET_ERROR, error_code_to_foctet_error (self->error_code),
                        "Relay error: %s (code %u)%s%s%s", meaning, self->error_code,
                        *text != '\0' ? ": “" : "", text, *text != '\0' ? "”" : "");
  return g_error_new (FOCTET_ERROR, error_code_to_foctet_error (self->error_code),
                      "Relay error: %s%s%s%s", meaning,
                      *text != '\0' ? ": “" : "", text, *text != '\0' ? "”" : "");
}

/**
 * foctet_relay_address_from_socket_address:
 * @address: where a peer connected from
 *
 * Formats the address for RESERVE_OK and INCOMING: "a.b.c.d:port" or
 * "[v6]:port", without an IPv6 scope.  An IPv4-mapped IPv6 address (a
 * dual-stack socket's view of an IPv4 peer) is written as the IPv4
 * address, which is what the peer can use.
 *
 * Returns: (transfer full) (nullable): the address, or %NULL if @address
 *   is not an internet address with a port other than 0
 */
char *
foctet_relay_address_from_socket_address (GSocketAddress *address)
{
  g_autoptr(GInetAddress) mapped = NULL;
  g_autofree char *host = NULL;
  GInetAddress *inet;
  guint16 port;

  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), NULL);

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return NULL;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  if (port == 0)
    return NULL;

  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    {
      static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
      const guint8 *bytes = g_inet_address_to_bytes (inet);

      if (memcmp (bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0)
        inet = mapped = g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);
    }

  host = g_inet_address_to_string (inet);
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

/* Reading and writing one message on a stream: the kit's reader with
 * this codec's parser. */

static gboolean
parse_message (const guint8  *data,
               gsize          len,
               gsize         *consumed,
               gpointer      *message,
               GError       **error,
               gpointer       user_data)
{
  return foctet_relay_message_parse_in (GPOINTER_TO_INT (user_data), data, len, consumed,
                                        (FoctetRelayMessage **) message, error);
}

static const FoctetMessageFormat message_format = {
  .name = "relay",
  .length_size = 2,
  .max_body = FOCTET_RELAY_MESSAGE_MAX_BODY,
  .parse = parse_message,
  .free_message = (GDestroyNotify) foctet_relay_message_free,
  .type_name = foctet_relay_message_type_to_string,
};

/**
 * foctet_relay_message_read_async:
 * @stream: a control stream, after its PROTOCOL §5 header
 * @io_priority: the I/O priority of the reads
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the message
 * @user_data: data for @callback
 *
 * Reads exactly one message from @stream, and not one byte past it, so
 * that the relayed bytes following an OK stay in the stream.  The reads
 * ask for the type, then the length, then the body, so a message the
 * parser refuses is refused as soon as its first bytes are in.
 *
 * Results, from foctet_relay_message_read_finish(): the message; a
 * %FOCTET_ERROR_PROTOCOL_ERROR as from foctet_relay_message_parse(), or
 * one saying the message is truncated when the stream ended inside it;
 * %FOCTET_ERROR_CONNECTION_CLOSED when it ended before the first byte of
 * a message (the peer half-closed: for a reserve stream, the end of the
 * reservation); or the stream's own error (a reset, cancellation).
 * There are no time limits here: cancel @cancellable to impose one.
 *
 * This reads the messages of the reserve, connect and incoming streams;
 * foctet_relay_message_read_in_async() those of either family.
 */
void
foctet_relay_message_read_async (GInputStream        *stream,
                                 int                  io_priority,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  foctet_relay_message_read_in_async (stream, FOCTET_RELAY_MESSAGES_CIRCUIT, io_priority, cancellable,
                                      callback, user_data);
}

/**
 * foctet_relay_message_read_in_async:
 * @stream: a control stream, after its PROTOCOL §5 header
 * @set: the message family of @stream's protocol
 * @io_priority: the I/O priority of the reads
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the message
 * @user_data: data for @callback
 *
 * foctet_relay_message_read_async() for the messages of @set, parsed by
 * foctet_relay_message_parse_in().  Finish with
 * foctet_relay_message_read_finish().
 */
void
foctet_relay_message_read_in_async (GInputStream          *stream,
                                    FoctetRelayMessageSet  set,
                                    int                    io_priority,
                                    GCancellable          *cancellable,
                                    GAsyncReadyCallback    callback,
                                    gpointer               user_data)
{
  foctet_message_read_async (stream, &message_format, GINT_TO_POINTER (set), io_priority, cancellable,
                             callback, user_data);
}

/**
 * foctet_relay_message_read_finish:
 * @stream: the stream passed to foctet_relay_message_read_async()
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the message, or %NULL on error
 */
FoctetRelayMessage *
foctet_relay_message_read_finish (GInputStream  *stream,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  return foctet_message_read_finish (stream, result, error);
}

/**
 * foctet_relay_message_write_async:
 * @stream: a control stream, after its PROTOCOL §5 header
 * @message: the message; encoded at once, so it may be freed on return
 * @io_priority: the I/O priority of the write
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the whole message is written
 * @user_data: data for @callback
 *
 * Writes @message.  Nothing is flushed: foctet streams send what is
 * written; a caller that wraps @stream in a buffer flushes it itself.
 */
void
foctet_relay_message_write_async (GOutputStream            *stream,
                                  const FoctetRelayMessage *message,
                                  int                       io_priority,
                                  GCancellable             *cancellable,
                                  GAsyncReadyCallback       callback,
                                  gpointer                  user_data)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_if_fail (message != NULL && message_is_well_formed (message));

  bytes = foctet_relay_message_encode (message);
  foctet_message_write_async (stream, bytes, io_priority, cancellable, callback, user_data);
}

/**
 * foctet_relay_message_write_finish:
 * @stream: the stream passed to foctet_relay_message_write_async()
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the whole message was written; else %FALSE with the
 *   stream's error
 */
gboolean
foctet_relay_message_write_finish (GOutputStream  *stream,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  return foctet_message_write_finish (stream, result, error);
}

/**
 * foctet_relay_raw_preamble_new:
 * @token: (array fixed-size=32): a token from RAW_CIRCUIT or INCOMING_RAW
 *
 * Returns: (transfer full): what a node writes first on its raw-circuit
 *   TCP connection: %FOCTET_RELAY_RAW_MAGIC, then @token
 */
GBytes *
foctet_relay_raw_preamble_new (const guint8 *token)
{
  guint8 *preamble = g_malloc (FOCTET_RELAY_RAW_PREAMBLE_SIZE);

  g_return_val_if_fail (token != NULL, NULL);

  memcpy (preamble, FOCTET_RELAY_RAW_MAGIC, FOCTET_RELAY_RAW_MAGIC_SIZE);
  memcpy (preamble + FOCTET_RELAY_RAW_MAGIC_SIZE, token, FOCTET_RELAY_TOKEN_SIZE);
  return g_bytes_new_take (preamble, FOCTET_RELAY_RAW_PREAMBLE_SIZE);
}

/**
 * foctet_relay_raw_preamble_parse:
 * @data: (array length=len): the first bytes of a raw-circuit connection
 * @len: how many: at most %FOCTET_RELAY_RAW_PREAMBLE_SIZE are looked at
 * @token: (out caller-allocates) (array fixed-size=32): where the token
 *   goes
 * @error: return location for a #GError
 *
 * Checks the magic and takes the token.  Fails with
 * %FOCTET_ERROR_PROTOCOL_ERROR for fewer than
 * %FOCTET_RELAY_RAW_PREAMBLE_SIZE bytes (the connection ended early) or
 * a wrong magic, saying which byte differs (and that a TLS record was
 * seen, when it starts like one).  Whether the token is a live one is
 * the relay's business.
 *
 * Returns: %TRUE if @data starts with a preamble
 */
gboolean
foctet_relay_raw_preamble_parse (const guint8  *data,
                                 gsize          len,
                                 guint8        *token,
                                 GError       **error)
{
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (token != NULL, FALSE);

  for (gsize i = 0; i < MIN (len, FOCTET_RELAY_RAW_MAGIC_SIZE); i++)
    if (data[i] != (guint8) FOCTET_RELAY_RAW_MAGIC[i])
      {
        if (len >= 2 && data[0] == 0x16 && data[1] == 0x03)
          g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                               "not a raw-circuit connection: it starts with a TLS record (0x16 0x03)");
        else
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "not a raw-circuit connection: byte %" G_GSIZE_FORMAT " of the magic is 0x%02x, "
                       "not 0x%02x", i + 1, data[i], (guint8) FOCTET_RELAY_RAW_MAGIC[i]);
        return FALSE;
      }
  if (len < FOCTET_RELAY_RAW_PREAMBLE_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "raw-circuit preamble cut short: %" G_GSIZE_FORMAT " of %d bytes (magic and token)",
                   len, FOCTET_RELAY_RAW_PREAMBLE_SIZE);
      return FALSE;
    }
  memcpy (token, data + FOCTET_RELAY_RAW_MAGIC_SIZE, FOCTET_RELAY_TOKEN_SIZE);
  return TRUE;
}

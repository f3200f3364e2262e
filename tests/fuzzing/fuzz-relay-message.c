/* Fuzz target: the relay control messages (docs/protocol.md, "Relay
 * control (foctet-relay/1)"): type (1) | length (2) | body.
 *
 * The input is what a peer wrote on a control stream: messages one after
 * another, parsed until one is refused or the bytes run out — once as the
 * messages of the circuit streams (reserve, connect, incoming: types 1–6)
 * once as those of the directory's (publish, lookup: types 5–9, with
 * the entries of PUBLISH and FOUND), once as those of the raw-circuit
 * streams (3, 5, 6, 10, 11) and once as those of the observed stream (6,
 * 12).  Invariants:
 *  - the verdict on each message is the one the framing rules give,
 *    worked out independently (type, length, body size per type, ttl,
 *    address length); addresses and texts the parser refuses are the ones
 *    the core's host:port parser or UTF-8 validation refuse;
 *  - consumed <= len, and is the message's size exactly when it is
 *    accepted; a refusal is a %FOCTET_ERROR_PROTOCOL_ERROR with a UTF-8
 *    message, and returns nothing;
 *  - every prefix of an accepted message asks for more, without an error;
 *  - parse -> encode gives back the bytes parsed (the encoding is
 *    canonical), and parsing that encoding gives the same message again;
 *  - the constructors accept every field the parser accepted and encode
 *    the same bytes; the log and error texts are UTF-8;
 *  - the async reader, over a memory stream of the input, returns the same
 *    messages, leaves the stream exactly at the end of each, refuses with
 *    the parser's error having read no more than the bytes that break the
 *    rule, and reports the end of the stream as truncated inside a
 *    message and as closed before one;
 *  - nothing leaks (the replay runs under ASan's leak checker).
 *
 * The codec is compiled into this program.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <foctet.h>
#include <foctet-host-port.h>

#include "foctet-relay-message.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER FOCTET_RELAY_MESSAGE_HEADER_SIZE

typedef enum {
  VERDICT_MORE,        /* a prefix of a message that may still be valid */
  VERDICT_REFUSED,     /* the framing rules refuse it */
  VERDICT_FRAMED,      /* framing right; addresses and text up to the parser */
} Verdict;

/* The framing rules, independently of the codec.  Sets @decided_at to
 * how many bytes it took to decide (for a refusal: the bytes a reader has
 * read when it refuses) and @total to the message's size once known. */
/* The entries of PUBLISH and FOUND: kind 1 or 2 | len | address, at most
 * 16 of them in at most 764 bytes, none running past the end. */
static gboolean
entries_framed (const guint8 *p,
                size_t        n)
{
  size_t count = 0;

  if (n > 764)
    return FALSE;
  while (n > 0)
    {
      if (++count > 16 || n < 2 || (p[0] != 1 && p[0] != 2) || p[1] > n - 2)
        return FALSE;
      n -= 2 + p[1];
      p += 2 + p[1];
    }
  return TRUE;
}

/* Whether the addresses of well-framed entries are valid. */
static gboolean
entries_valid (const guint8 *p,
               size_t        n)
{
  while (n > 0)
    {
      if (p[1] == 0 || !foctet_parse_host_port_len ((const char *) p + 2, p[1], FALSE, NULL, NULL, NULL))
        return FALSE;
      n -= 2 + p[1];
      p += 2 + p[1];
    }
  return TRUE;
}

static gboolean
type_known (FoctetRelayMessageSet set,
            guint8                type)
{
  if (set == FOCTET_RELAY_MESSAGES_DIRECTORY)
    return type >= 5 && type <= 9;
  if (set == FOCTET_RELAY_MESSAGES_RAW)
    return type == 3 || type == 5 || type == 6 || type == 10 || type == 11;
  if (set == FOCTET_RELAY_MESSAGES_OBSERVED)
    return type == 6 || type == 12;
  return type >= 1 && type <= 6;
}

static Verdict
framing_verdict (FoctetRelayMessageSet  set,
                 const guint8          *p,
                 size_t                 n,
                 size_t                *decided_at,
                 size_t                *total)
{
  guint8 type;
  size_t length, minimum = 0, maximum = 1024;
  gboolean exact = FALSE;

  *decided_at = 0;
  *total = 0;
  if (n < 1)
    return VERDICT_MORE;
  type = p[0];
  *decided_at = 1;
  if (!type_known (set, type))
    return VERDICT_REFUSED;
  if (n < HEADER)
    return VERDICT_MORE;
  length = ((size_t) p[1] << 8) | p[2];
  *decided_at = HEADER;
  *total = HEADER + length;
  switch (type)
    {
    case 1:   /* RESERVE */
    case 5:   /* OK */
      exact = TRUE;
      minimum = 0;
      break;
    case 2:   /* RESERVE_OK: ttl, addr_len */
      minimum = 5;
      break;
    case 3:   /* CONNECT: NodeId */
      exact = TRUE;
      minimum = 32;
      break;
    case 4:   /* INCOMING: NodeId, addr_len */
      minimum = 33;
      break;
    case 6:   /* ERROR: code */
      minimum = 2;
      break;
    case 7:   /* PUBLISH: entries */
      maximum = 764;
      break;
    case 8:   /* LOOKUP: NodeId */
      exact = TRUE;
      minimum = 32;
      break;
    case 9:   /* FOUND: ttl, addr_len */
      minimum = 5;
      break;
    case 10:  /* RAW_CIRCUIT: port, token */
      exact = TRUE;
      minimum = 34;
      break;
    case 11:  /* INCOMING_RAW: NodeId, port, token, addr_len */
      minimum = 67;
      break;
    case 12:  /* OBSERVED: addr_len */
      minimum = 1;
      break;
    default:
      abort ();
    }
  if (length > 1024 || length > maximum || length < minimum || (exact && length != minimum))
    return VERDICT_REFUSED;
  if (n < HEADER + length)
    return VERDICT_MORE;
  *decided_at = HEADER + length;
  if (type == 2 && (p[3] | p[4] | p[5] | p[6]) == 0)
    return VERDICT_REFUSED;
  if (type == 2 && p[HEADER + 4] != length - 5)
    return VERDICT_REFUSED;
  if (type == 4 && p[HEADER + 32] != length - 33)
    return VERDICT_REFUSED;
  if ((type == 10 && (p[HEADER] | p[HEADER + 1]) == 0) ||
      (type == 11 && (p[HEADER + 32] | p[HEADER + 33]) == 0))
    return VERDICT_REFUSED;
  if (type == 11 && p[HEADER + 66] != length - 67)
    return VERDICT_REFUSED;
  if (type == 12 && p[HEADER] != length - 1)
    return VERDICT_REFUSED;
  if (type == 7 && !entries_framed (p + HEADER, length))
    return VERDICT_REFUSED;
  if (type == 9)
    {
      size_t addr_len = p[HEADER + 4];

      if ((p[3] | p[4] | p[5] | p[6]) == 0 || addr_len > length - 5 ||
          !entries_framed (p + HEADER + 5 + addr_len, length - 5 - addr_len))
        return VERDICT_REFUSED;
    }
  return VERDICT_FRAMED;
}

/* Whether the free-form part of a framed message (its address or text)
 * is one the rules accept. */
static gboolean
contents_valid (const guint8 *p)
{
  size_t length = ((size_t) p[1] << 8) | p[2];
  const guint8 *body = p + HEADER;

  switch (p[0])
    {
    case 2:
    case 4:
    case 11:
    case 12:
      {
        const guint8 *field = body + (p[0] == 2 ? 4 : p[0] == 4 ? 32 : p[0] == 11 ? 66 : 0);

        return field[0] > 0 &&
               foctet_parse_host_port_len ((const char *) field + 1, field[0], FALSE, NULL, NULL, NULL);
      }
    case 6:
      return memchr (body + 2, 0, length - 2) == NULL &&
             g_utf8_validate ((const char *) body + 2, length - 2, NULL);
    case 7:
      return entries_valid (body, length);
    case 9:
      {
        size_t addr_len = body[4];

        return addr_len > 0 &&
               foctet_parse_host_port_len ((const char *) body + 5, addr_len, FALSE, NULL, NULL, NULL) &&
               entries_valid (body + 5 + addr_len, length - 5 - addr_len);
      }
    default:
      return TRUE;
    }
}

static FoctetRelayMessage *
rebuild (const FoctetRelayMessage *message)
{
  FoctetRelayMessage *copy = NULL;

  switch (message->type)
    {
    case FOCTET_RELAY_MESSAGE_RESERVE:
      copy = foctet_relay_message_new_reserve ();
      break;
    case FOCTET_RELAY_MESSAGE_RESERVE_OK:
      copy = foctet_relay_message_new_reserve_ok (message->ttl, message->address, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_CONNECT:
      copy = foctet_relay_message_new_connect (message->node_id);
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING:
      copy = foctet_relay_message_new_incoming (message->node_id, message->address, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_OK:
      copy = foctet_relay_message_new_ok ();
      break;
    case FOCTET_RELAY_MESSAGE_ERROR:
      copy = foctet_relay_message_new_error (message->error_code, message->error_text);
      break;
    case FOCTET_RELAY_MESSAGE_PUBLISH:
      copy = foctet_relay_message_new_publish (message->entries, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_LOOKUP:
      copy = foctet_relay_message_new_lookup (message->node_id);
      break;
    case FOCTET_RELAY_MESSAGE_FOUND:
      copy = foctet_relay_message_new_found (message->ttl, message->address, message->entries, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_RAW_CIRCUIT:
      copy = foctet_relay_message_new_raw_circuit (message->port, message->token);
      break;
    case FOCTET_RELAY_MESSAGE_INCOMING_RAW:
      copy = foctet_relay_message_new_incoming_raw (message->node_id, message->address, message->port,
                                                    message->token, NULL);
      break;
    case FOCTET_RELAY_MESSAGE_OBSERVED:
      copy = foctet_relay_message_new_observed (message->address, NULL);
      break;
    default:
      abort ();
    }
  if (copy == NULL)
    abort ();
  return copy;
}

static void
check_accepted (FoctetRelayMessageSet     set,
                const guint8             *p,
                size_t                    consumed,
                const FoctetRelayMessage *message)
{
  g_autoptr(GBytes) encoded = foctet_relay_message_encode (message);
  g_autoptr(FoctetRelayMessage) again = NULL;
  g_autoptr(FoctetRelayMessage) rebuilt = NULL;
  g_autoptr(GBytes) again_encoded = NULL;
  g_autoptr(GBytes) rebuilt_encoded = NULL;
  g_autofree char *text = NULL;
  gsize again_consumed = 0;

  /* Canonical: the same bytes back. */
  if (encoded == NULL || g_bytes_get_size (encoded) != consumed ||
      memcmp (g_bytes_get_data (encoded, NULL), p, consumed) != 0)
    abort ();
  if (!foctet_relay_message_parse_in (set, g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded),
                                      &again_consumed, &again, NULL) ||
      again_consumed != consumed)
    abort ();
  again_encoded = foctet_relay_message_encode (again);
  if (!g_bytes_equal (again_encoded, encoded))
    abort ();

  /* The fields are what the constructors make. */
  if (message->type != p[0] ||
      ((message->type == FOCTET_RELAY_MESSAGE_RESERVE_OK || message->type == FOCTET_RELAY_MESSAGE_FOUND) &&
       message->ttl == 0) ||
      ((message->node_id != NULL) !=
       (message->type == FOCTET_RELAY_MESSAGE_CONNECT || message->type == FOCTET_RELAY_MESSAGE_INCOMING ||
        message->type == FOCTET_RELAY_MESSAGE_LOOKUP || message->type == FOCTET_RELAY_MESSAGE_INCOMING_RAW)) ||
      ((message->address != NULL) !=
       (message->type == FOCTET_RELAY_MESSAGE_RESERVE_OK || message->type == FOCTET_RELAY_MESSAGE_INCOMING ||
        message->type == FOCTET_RELAY_MESSAGE_FOUND || message->type == FOCTET_RELAY_MESSAGE_INCOMING_RAW ||
        message->type == FOCTET_RELAY_MESSAGE_OBSERVED)) ||
      ((message->port != 0) !=
       (message->type == FOCTET_RELAY_MESSAGE_RAW_CIRCUIT || message->type == FOCTET_RELAY_MESSAGE_INCOMING_RAW)) ||
      ((message->entries != NULL) !=
       (message->type == FOCTET_RELAY_MESSAGE_PUBLISH || message->type == FOCTET_RELAY_MESSAGE_FOUND)) ||
      (message->entries != NULL && message->entries->len > FOCTET_RELAY_DIRECTORY_MAX_ENTRIES) ||
      ((message->error_text != NULL) != (message->type == FOCTET_RELAY_MESSAGE_ERROR)))
    abort ();
  rebuilt = rebuild (message);
  rebuilt_encoded = foctet_relay_message_encode (rebuilt);
  if (!g_bytes_equal (rebuilt_encoded, encoded))
    abort ();

  text = foctet_relay_message_to_string (message);
  if (text == NULL || !g_utf8_validate (text, -1, NULL))
    abort ();
  if (message->type == FOCTET_RELAY_MESSAGE_ERROR)
    {
      g_autoptr(GError) error = foctet_relay_message_to_error (message);
      g_autofree char *code_text = foctet_relay_error_code_to_string (message->error_code);

      if (error == NULL || error->domain != FOCTET_ERROR || !g_utf8_validate (error->message, -1, NULL) ||
          code_text == NULL || !g_utf8_validate (code_text, -1, NULL))
        abort ();
    }
}

/* Parses the message at @p and checks the verdict.  Returns the verdict
 * given; on %VERDICT_REFUSED, @error is set. */
static Verdict
parse_checked (FoctetRelayMessageSet  set,
               const guint8         *p,
               size_t                n,
               size_t               *consumed_out,
               FoctetRelayMessage  **message_out,
               size_t               *decided_at,
               GError              **error_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetRelayMessage) message = NULL;
  size_t total = 0;
  gsize consumed = 7;
  Verdict framing = framing_verdict (set, p, n, decided_at, &total);
  gboolean ok = foctet_relay_message_parse_in (set, p, n, &consumed, &message, &error);

  if (consumed > n)
    abort ();
  if (!ok)
    {
      if (message != NULL || consumed != 0)
        abort ();
      if (error == NULL)
        {
          if (framing != VERDICT_MORE)
            abort ();
          return VERDICT_MORE;
        }
      if (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) ||
          !g_utf8_validate (error->message, -1, NULL))
        abort ();
      if (framing == VERDICT_MORE || (framing == VERDICT_FRAMED && contents_valid (p)))
        abort ();
      *error_out = g_steal_pointer (&error);
      return VERDICT_REFUSED;
    }

  if (framing != VERDICT_FRAMED || !contents_valid (p) || error != NULL || message == NULL ||
      consumed != total)
    abort ();
  check_accepted (set, p, consumed, message);

  /* Every prefix asks for more, from an exact-size copy so that reading
   * past it is caught. */
  for (size_t i = 0; i < consumed; i++)
    {
      g_autofree guint8 *prefix = g_memdup2 (p, i);
      g_autoptr(GError) prefix_error = NULL;
      g_autoptr(FoctetRelayMessage) prefix_message = NULL;
      gsize prefix_consumed = 7;

      if (foctet_relay_message_parse_in (set, prefix, i, &prefix_consumed, &prefix_message, &prefix_error) ||
          prefix_error != NULL || prefix_message != NULL || prefix_consumed != 0)
        abort ();
    }

  *consumed_out = consumed;
  *message_out = g_steal_pointer (&message);
  return VERDICT_FRAMED;
}

/* The async reader. */

typedef struct {
  GAsyncResult *result;
} Slot;

static void
store_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Slot *slot = user_data;

  slot->result = g_object_ref (result);
}

static FoctetRelayMessage *
read_one (GMainContext           *context,
          FoctetRelayMessageSet   set,
          GInputStream           *input,
          GError                **error)
{
  Slot slot = { NULL };
  FoctetRelayMessage *message;
  guint i;

  if (set == FOCTET_RELAY_MESSAGES_CIRCUIT)
    foctet_relay_message_read_async (input, G_PRIORITY_DEFAULT, NULL, store_cb, &slot);
  else
    foctet_relay_message_read_in_async (input, set, G_PRIORITY_DEFAULT, NULL, store_cb, &slot);
  /* A memory stream is always ready: a few iterations per read. */
  for (i = 0; i < 10000 && slot.result == NULL; i++)
    g_main_context_iteration (context, TRUE);
  if (slot.result == NULL)
    abort ();
  message = foctet_relay_message_read_finish (input, slot.result, error);
  g_object_unref (slot.result);
  return message;
}

/* The whole input as the messages of @set. */
static void
run (GMainContext          *context,
     FoctetRelayMessageSet  set,
     const uint8_t         *data,
     size_t                 size)
{
  g_autoptr(GInputStream) input = g_memory_input_stream_new_from_data (data, size, NULL);
  size_t offset = 0;

  for (;;)
    {
      g_autoptr(FoctetRelayMessage) parsed = NULL;
      g_autoptr(FoctetRelayMessage) got = NULL;
      g_autoptr(GError) parse_error = NULL;
      g_autoptr(GError) read_error = NULL;
      size_t consumed = 0, decided_at = 0;
      Verdict verdict = parse_checked (set, data + offset, size - offset, &consumed, &parsed, &decided_at,
                                       &parse_error);

      got = read_one (context, set, input, &read_error);

      if (verdict == VERDICT_FRAMED)
        {
          g_autoptr(GBytes) a = foctet_relay_message_encode (parsed);
          g_autoptr(GBytes) b = NULL;

          if (got == NULL || read_error != NULL)
            abort ();
          b = foctet_relay_message_encode (got);
          if (!g_bytes_equal (a, b))
            abort ();
          offset += consumed;
          /* Not a byte past the message. */
          if (g_seekable_tell (G_SEEKABLE (input)) != (goffset) offset)
            abort ();
          continue;
        }

      if (got != NULL || read_error == NULL || read_error->domain != FOCTET_ERROR ||
          !g_utf8_validate (read_error->message, -1, NULL))
        abort ();
      if (verdict == VERDICT_REFUSED)
        {
          /* The same refusal, on no more bytes than it takes. */
          if (read_error->code != parse_error->code ||
              strcmp (read_error->message, parse_error->message) != 0 ||
              g_seekable_tell (G_SEEKABLE (input)) != (goffset) (offset + decided_at))
            abort ();
        }
      else if (offset == size)
        {
          if (read_error->code != FOCTET_ERROR_CONNECTION_CLOSED)
            abort ();
        }
      else if (read_error->code != FOCTET_ERROR_PROTOCOL_ERROR ||
               strstr (read_error->message, "truncated") == NULL ||
               g_seekable_tell (G_SEEKABLE (input)) != (goffset) size)
        abort ();
      break;
    }
}

/* The first bytes of a raw-circuit connection: accepted exactly when
 * they start with the magic and hold a token, which is then theirs. */
static void
check_preamble (const uint8_t *data,
                size_t         size)
{
  g_autoptr(GError) error = NULL;
  guint8 token[FOCTET_RELAY_TOKEN_SIZE];
  gboolean expected = size >= FOCTET_RELAY_RAW_PREAMBLE_SIZE &&
                      memcmp (data, FOCTET_RELAY_RAW_MAGIC, FOCTET_RELAY_RAW_MAGIC_SIZE) == 0;
  gboolean ok = foctet_relay_raw_preamble_parse (data, size, token, &error);

  if (ok != expected || (ok && error != NULL) || (!ok && (error == NULL || error->domain != FOCTET_ERROR ||
                                                         !g_utf8_validate (error->message, -1, NULL))))
    abort ();
  if (ok)
    {
      g_autoptr(GBytes) again = foctet_relay_raw_preamble_new (token);

      if (memcmp (g_bytes_get_data (again, NULL), data, FOCTET_RELAY_RAW_PREAMBLE_SIZE) != 0)
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  GMainContext *context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  run (context, FOCTET_RELAY_MESSAGES_CIRCUIT, data, size);
  run (context, FOCTET_RELAY_MESSAGES_DIRECTORY, data, size);
  run (context, FOCTET_RELAY_MESSAGES_RAW, data, size);
  run (context, FOCTET_RELAY_MESSAGES_OBSERVED, data, size);
  check_preamble (data, size);
  while (g_main_context_pending (context))
    g_main_context_iteration (context, FALSE);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return 0;
}

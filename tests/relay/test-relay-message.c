/* test-relay-message.c: the relay control messages (docs/protocol.md,
 * "Relay control") — the exact bytes of each type, round trips, every
 * rule a message can break with the error that says so, parsing a byte
 * at a time, the constructors' checks, the names and errors made from
 * codes, and the one-message reader and writer over memory streams and
 * sockets (relayed bytes after a message stay unread; the end of the
 * stream before and inside a message).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "foctet-relay-message.h"
#include "test-utils.h"
#include "test-wire.h"

#define TIMEOUT 10

FOCTET_TEST_WIRE_DEFINE (wire, relay, FoctetRelayMessage, TIMEOUT, FALSE);

static FoctetNodeId *
node_id_with (guint8 first)
{
  guint8 data[FOCTET_NODE_ID_SIZE];

  for (guint i = 0; i < sizeof data; i++)
    data[i] = (guint8) (first + i);
  return foctet_node_id_new_from_data (data, sizeof data, NULL);
}

/* A valid address of exactly 255 bytes: a 253-character hostname. */
static char *
longest_address (void)
{
  GString *s = g_string_new (NULL);

  for (guint label = 0; label < 4; label++)
    {
      if (label > 0)
        g_string_append_c (s, '.');
      for (guint i = 0; i < (label < 3 ? 63u : 61u); i++)
        g_string_append_c (s, 'a' + (label + i) % 26);
    }
  g_assert_cmpuint (s->len, ==, 253);
  g_string_append (s, ":1");
  return g_string_free (s, FALSE);
}

static void
assert_encoding (const FoctetRelayMessage *message,
                 const guint8             *expected,
                 gsize                     expected_len)
{
  foctet_test_wire_assert_encoding (&wire, message, expected, expected_len);
}

static FoctetRelayMessage *
parse_exact (GBytes *bytes)
{
  return foctet_test_wire_parse_exact (&wire, bytes);
}

static void
test_encode_layout (void)
{
  g_autoptr(FoctetNodeId) id = node_id_with (0x10);
  g_autoptr(FoctetRelayMessage) reserve = foctet_relay_message_new_reserve ();
  g_autoptr(FoctetRelayMessage) reserve_ok = NULL;
  g_autoptr(FoctetRelayMessage) connect = foctet_relay_message_new_connect (id);
  g_autoptr(FoctetRelayMessage) incoming = NULL;
  g_autoptr(FoctetRelayMessage) ok = foctet_relay_message_new_ok ();
  g_autoptr(FoctetRelayMessage) error_message = foctet_relay_message_new_error (5, "busy");
  g_autoptr(GError) error = NULL;
  guint8 expected[64];
  gsize n;

  static const guint8 reserve_bytes[] = { 1, 0, 0 };
  static const guint8 ok_bytes[] = { 5, 0, 0 };
  static const guint8 reserve_ok_bytes[] = { 2, 0, 19, 0x00, 0x00, 0x02, 0x58, 14,
                                             '1', '9', '2', '.', '0', '.', '2', '.', '1', ':',
                                             '4', '4', '3', '3' };
  static const guint8 error_bytes[] = { 6, 0, 6, 0, 5, 'b', 'u', 's', 'y' };

  assert_encoding (reserve, reserve_bytes, sizeof reserve_bytes);
  assert_encoding (ok, ok_bytes, sizeof ok_bytes);

  reserve_ok = foctet_relay_message_new_reserve_ok (600, "192.0.2.1:4433", &error);
  g_assert_no_error (error);
  assert_encoding (reserve_ok, reserve_ok_bytes, sizeof reserve_ok_bytes);

  expected[0] = 3;
  expected[1] = 0;
  expected[2] = 32;
  for (guint i = 0; i < 32; i++)
    expected[3 + i] = 0x10 + i;
  assert_encoding (connect, expected, 35);

  incoming = foctet_relay_message_new_incoming (id, "[2001:db8::1]:9", &error);
  g_assert_no_error (error);
  n = strlen ("[2001:db8::1]:9");
  expected[0] = 4;
  expected[1] = 0;
  expected[2] = 32 + 1 + n;
  for (guint i = 0; i < 32; i++)
    expected[3 + i] = 0x10 + i;
  expected[35] = n;
  memcpy (expected + 36, "[2001:db8::1]:9", n);
  assert_encoding (incoming, expected, 36 + n);

  assert_encoding (error_message, error_bytes, sizeof error_bytes);
}

static void
test_round_trip (void)
{
  static const guint32 ttls[] = { 1, 30, 600, G_MAXUINT32 };
  static const char * const addresses[] = {
    "192.0.2.1:4433", "127.0.0.1:1", "[::1]:65535", "[2001:db8::17]:443",
    "[::ffff:192.0.2.1]:5", "relay.example.org:443", "Relay-1.Example:7", "localhost:080",
  };
  static const guint16 codes[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x1234, G_MAXUINT16 };
  static const char * const texts[] = { "", "busy", "déjà vu — ☃ 𝄞", "tab\tand\nnewline" };
  g_autofree char *longest = longest_address ();
  g_autoptr(FoctetNodeId) id = node_id_with (0xf0);
  g_autoptr(GString) long_text = g_string_new (NULL);

  {
    g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_reserve ();
    g_autoptr(GBytes) bytes = foctet_relay_message_encode (in);
    g_autoptr(FoctetRelayMessage) out = parse_exact (bytes);

    g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_RESERVE);
    g_assert_null (out->node_id);
    g_assert_null (out->address);
    g_assert_null (out->error_text);
  }
  {
    g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_ok ();
    g_autoptr(GBytes) bytes = foctet_relay_message_encode (in);
    g_autoptr(FoctetRelayMessage) out = parse_exact (bytes);

    g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_OK);
  }

  for (guint i = 0; i < G_N_ELEMENTS (ttls); i++)
    for (guint j = 0; j <= G_N_ELEMENTS (addresses); j++)
      {
        const char *address = j < G_N_ELEMENTS (addresses) ? addresses[j] : longest;
        g_autoptr(GError) error = NULL;
        g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_reserve_ok (ttls[i], address, &error);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(FoctetRelayMessage) out = NULL;

        g_assert_no_error (error);
        bytes = foctet_relay_message_encode (in);
        out = parse_exact (bytes);
        g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_RESERVE_OK);
        g_assert_cmpuint (out->ttl, ==, ttls[i]);
        g_assert_cmpstr (out->address, ==, address);
        g_assert_null (out->node_id);
      }

  for (guint first = 0; first < 256; first += 85)
    {
      g_autoptr(FoctetNodeId) target = node_id_with (first);
      g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_connect (target);
      g_autoptr(GBytes) bytes = foctet_relay_message_encode (in);
      g_autoptr(FoctetRelayMessage) out = parse_exact (bytes);

      g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_CONNECT);
      g_assert_true (foctet_node_id_equal (out->node_id, target));
      g_assert_null (out->address);
    }

  for (guint j = 0; j <= G_N_ELEMENTS (addresses); j++)
    {
      const char *address = j < G_N_ELEMENTS (addresses) ? addresses[j] : longest;
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_incoming (id, address, &error);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(FoctetRelayMessage) out = NULL;

      g_assert_no_error (error);
      bytes = foctet_relay_message_encode (in);
      out = parse_exact (bytes);
      g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_INCOMING);
      g_assert_true (foctet_node_id_equal (out->node_id, id));
      g_assert_cmpstr (out->address, ==, address);
    }

  /* The longest text fills the longest body. */
  while (long_text->len < FOCTET_RELAY_ERROR_TEXT_MAX)
    g_string_append_c (long_text, 'x');
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    for (guint j = 0; j <= G_N_ELEMENTS (texts); j++)
      {
        const char *text = j < G_N_ELEMENTS (texts) ? texts[j] : long_text->str;
        g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_error (codes[i], text);
        g_autoptr(GBytes) bytes = foctet_relay_message_encode (in);
        g_autoptr(FoctetRelayMessage) out = parse_exact (bytes);

        g_assert_cmpint (out->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
        g_assert_cmpuint (out->error_code, ==, codes[i]);
        g_assert_cmpstr (out->error_text, ==, text);
        if (text == long_text->str)
          g_assert_cmpuint (g_bytes_get_size (bytes), ==, FOCTET_RELAY_MESSAGE_MAX_SIZE);
      }

  /* A NULL text is an empty one. */
  {
    g_autoptr(FoctetRelayMessage) in = foctet_relay_message_new_error (8, NULL);
    g_autoptr(GBytes) bytes = foctet_relay_message_encode (in);
    g_autoptr(FoctetRelayMessage) out = parse_exact (bytes);

    g_assert_cmpuint (g_bytes_get_size (bytes), ==, 5);
    g_assert_cmpstr (out->error_text, ==, "");
  }
}

static void
assert_rejected_full (const guint8 *data,
                      gsize         len,
                      const char   *what,
                      const char   *what2)
{
  foctet_test_wire_assert_rejected (&wire, data, len, what, what2);
}

static void
assert_rejected (const guint8 *data,
                 gsize         len,
                 const char   *what)
{
  assert_rejected_full (data, len, what, NULL);
}

static void
test_reject_type (void)
{
  static const guint8 zero[] = { 0 };
  static const guint8 seven[] = { 7, 0, 0 };
  static const guint8 high[] = { 0xff, 0xff, 0xff, 1, 2, 3 };
  static const guint8 tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };

  assert_rejected (zero, sizeof zero, "unknown relay message type 0x00");
  assert_rejected (seven, sizeof seven, "unknown relay message type 0x07");
  assert_rejected (high, sizeof high, "unknown relay message type 0xff");
  /* A TLS ClientHello sent where a message belongs. */
  assert_rejected (tls, sizeof tls, "unknown relay message type 0x16");
}

static void
test_reject_length (void)
{
  /* Refused on the header alone: the body need not be there. */
  static const guint8 over[] = { 6, 0x04, 0x01 };
  static const guint8 max[] = { 2, 0xff, 0xff };
  static const guint8 reserve_body[] = { 1, 0, 1 };
  static const guint8 ok_body[] = { 5, 0x03, 0xff };
  static const guint8 connect_short[] = { 3, 0, 31 };
  static const guint8 connect_long[] = { 3, 0, 33 };
  static const guint8 connect_empty[] = { 3, 0, 0 };
  static const guint8 reserve_ok_short[] = { 2, 0, 4 };
  static const guint8 incoming_short[] = { 4, 0, 32 };
  static const guint8 error_short[] = { 6, 0, 1 };
  static const guint8 error_empty[] = { 6, 0, 0 };

  assert_rejected (over, sizeof over, "relay ERROR message has length 1025; the most is 1024");
  assert_rejected (max, sizeof max, "relay RESERVE_OK message has length 65535; the most is 1024");
  assert_rejected (reserve_body, sizeof reserve_body,
                   "relay RESERVE message has a 1-byte body; it must be empty");
  assert_rejected (ok_body, sizeof ok_body, "relay OK message has a 1023-byte body; it must be empty");
  assert_rejected (connect_short, sizeof connect_short,
                   "relay CONNECT message has a 31-byte body; it must be the 32-byte target NodeId");
  assert_rejected (connect_long, sizeof connect_long, "relay CONNECT message has a 33-byte body");
  assert_rejected (connect_empty, sizeof connect_empty, "relay CONNECT message has a 0-byte body");
  assert_rejected (reserve_ok_short, sizeof reserve_ok_short,
                   "relay RESERVE_OK message has a 4-byte body; the ttl and the address length alone take 5");
  assert_rejected (incoming_short, sizeof incoming_short,
                   "relay INCOMING message has a 32-byte body; the caller NodeId and the address "
                   "length alone take 33");
  assert_rejected (error_short, sizeof error_short,
                   "relay ERROR message has a 1-byte body; the error code alone takes 2");
  assert_rejected (error_empty, sizeof error_empty, "relay ERROR message has a 0-byte body");
}

/* A RESERVE_OK or INCOMING (per @incoming) whose address field is
 * @addr_len and @tail (@tail_len bytes), the length computed to match. */
static GByteArray *
address_message (gboolean    incoming,
                 guint32     ttl,
                 guint8      addr_len,
                 const char *tail,
                 gsize       tail_len)
{
  GByteArray *out = g_byte_array_new ();
  gsize body = (incoming ? 32 : 4) + 1 + tail_len;
  guint8 header[3] = { incoming ? 4 : 2, body >> 8, body & 0xff };

  g_byte_array_append (out, header, 3);
  if (incoming)
    {
      for (guint i = 0; i < 32; i++)
        g_byte_array_append (out, (const guint8 *) "\x42", 1);
    }
  else
    {
      guint8 t[4] = { ttl >> 24, (ttl >> 16) & 0xff, (ttl >> 8) & 0xff, ttl & 0xff };

      g_byte_array_append (out, t, 4);
    }
  g_byte_array_append (out, &addr_len, 1);
  g_byte_array_append (out, (const guint8 *) tail, tail_len);
  return out;
}

static void
assert_address_rejected (const char *address,
                         gsize       len,
                         const char *what)
{
  for (guint incoming = 0; incoming < 2; incoming++)
    {
      g_autoptr(GByteArray) bytes = address_message (incoming, 60, len, address, len);
      g_autofree char *prefix = g_strdup_printf ("relay %s message: bad %s address: ",
                                                 incoming ? "INCOMING" : "RESERVE_OK",
                                                 incoming ? "caller" : "observed");

      assert_rejected_full (bytes->data, bytes->len, prefix, what);
    }
}

static void
test_reject_fields (void)
{
  g_autoptr(GByteArray) ttl0 = address_message (FALSE, 0, 9, "1.2.3.4:5", 9);
  g_autoptr(GByteArray) past = address_message (FALSE, 60, 20, "1.2.3.4:5", 9);
  g_autoptr(GByteArray) short_len = address_message (FALSE, 60, 6, "1.2.3.4:5", 9);
  g_autoptr(GByteArray) past_incoming = address_message (TRUE, 0, 10, "1.2.3.4:5", 9);
  g_autoptr(GByteArray) short_incoming = address_message (TRUE, 0, 0, "1.2.3.4:5", 9);
  static const guint8 text_nul[] = { 6, 0, 6, 0, 5, 'a', 'b', 0, 'c' };
  static const guint8 text_bad_utf8[] = { 6, 0, 6, 0x01, 0x00, 'a', 0xc3, 0x28, 'c' };
  static const guint8 text_cut_utf8[] = { 6, 0, 4, 0, 9, 'a', 0xe2 };

  assert_rejected (ttl0->data, ttl0->len,
                   "relay RESERVE_OK message has ttl 0; it must be at least 1 second");
  assert_rejected (past->data, past->len,
                   "relay RESERVE_OK message: observed address length 20 runs past the end of the "
                   "body: only 9 bytes follow it");
  assert_rejected (short_len->data, short_len->len,
                   "relay RESERVE_OK message: 3 bytes after the observed address; the body must end with it");
  assert_rejected (past_incoming->data, past_incoming->len,
                   "relay INCOMING message: caller address length 10 runs past the end of the body: "
                   "only 9 bytes follow it");
  assert_rejected (short_incoming->data, short_incoming->len,
                   "relay INCOMING message: 9 bytes after the caller address");

  /* The address rules are the tickets'. */
  assert_address_rejected ("", 0, "it is empty");
  assert_address_rejected ("1.2.3.4", 7, "“1.2.3.4”: missing “:port”");
  assert_address_rejected ("1.2.3.4:", 8, "missing port number after “:”");
  assert_address_rejected ("1.2.3.4:0", 9, "“1.2.3.4:0”: port 0 is out of range (1 to 65535)");
  assert_address_rejected ("1.2.3.4:65536", 13, "port 65536 is out of range (1 to 65535)");
  assert_address_rejected ("1.2.3.4:x1", 10, "port “x1” is not a decimal number");
  assert_address_rejected ("300.2.3.4:5", 11, "“300.2.3.4” is not an IPv4 address");
  assert_address_rejected ("2001:db8::1:5", 13, "an IPv6 address must be written in brackets");
  assert_address_rejected ("[1.2.3.4]:5", 11, "“1.2.3.4” in brackets is not an IPv6 address");
  assert_address_rejected ("[::1]5", 6, "missing “:port” after the IPv6 address");
  assert_address_rejected ("[::1:5", 6, "“[” without a closing “]”");
  assert_address_rejected (":5", 2, "empty host before “:port”");
  assert_address_rejected ("bad_host:5", 10, "“bad_host” is not a valid hostname");
  assert_address_rejected ("-bad.example:5", 14, "starts with a hyphen");
  assert_address_rejected ("example.:5", 10, "it has an empty label");
  assert_address_rejected ("1.2.3.4\0:5", 10, "Address contains a NUL byte (at position 8)");
  assert_address_rejected ("h\xc3\xa9:5", 5, "is not a valid hostname");

  assert_rejected (text_nul, sizeof text_nul,
                   "relay ERROR message (code 5): the text contains a NUL byte (at byte 3 of the text)");
  assert_rejected (text_bad_utf8, sizeof text_bad_utf8,
                   "relay ERROR message (code 256): the text is not valid UTF-8 (at byte 2 of the text)");
  assert_rejected (text_cut_utf8, sizeof text_cut_utf8,
                   "relay ERROR message (code 9): the text is not valid UTF-8 (at byte 2 of the text)");
}

/* Every valid encoding, a type at least once, for the byte-by-byte and
 * stream tests. */
static GPtrArray *
valid_encodings (void)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(FoctetNodeId) id = node_id_with (7);
  g_autofree char *longest = longest_address ();
  FoctetRelayMessage *messages[] = {
    foctet_relay_message_new_reserve (),
    foctet_relay_message_new_reserve_ok (3600, "[2001:db8::1]:4433", NULL),
    foctet_relay_message_new_reserve_ok (1, longest, NULL),
    foctet_relay_message_new_connect (id),
    foctet_relay_message_new_incoming (id, "198.51.100.7:61000", NULL),
    foctet_relay_message_new_ok (),
    foctet_relay_message_new_error (FOCTET_RELAY_ERROR_CODE_REFUSED, "not now"),
    foctet_relay_message_new_error (4242, ""),
  };

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_assert_nonnull (messages[i]);
      g_ptr_array_add (all, foctet_relay_message_encode (messages[i]));
      foctet_relay_message_free (messages[i]);
    }
  return all;
}

static void
test_incremental (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();

  foctet_test_wire_check_incremental (&wire, all);
}

static void
test_constructors (void)
{
  g_autoptr(FoctetNodeId) id = node_id_with (1);
  g_autofree char *too_long = g_strnfill (300, 'a');
  static const struct {
    const char *address;
    const char *what;
  } bad[] = {
    { "", "it is empty" },
    { "no-port", "missing “:port”" },
    { "1.2.3.4:0", "port 0 is out of range" },
    { "::1:5", "an IPv6 address must be written in brackets" },
    { "a b:5", "is not a valid hostname" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) error2 = NULL;

      g_assert_null (foctet_relay_message_new_reserve_ok (60, bad[i].address, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message,
                                       "Invalid observed address for a relay RESERVE_OK message: "));
      g_assert_nonnull (strstr (error->message, bad[i].what));

      g_assert_null (foctet_relay_message_new_incoming (id, bad[i].address, &error2));
      g_assert_error (error2, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error2->message,
                                       "Invalid caller address for a relay INCOMING message: "));
      g_assert_nonnull (strstr (error2->message, bad[i].what));
    }
  {
    g_autoptr(GError) error = NULL;

    memcpy (too_long + 290, ".b:1234", 8);
    g_assert_null (foctet_relay_message_new_reserve_ok (60, too_long, &error));
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "it is 297 bytes long; the most is 255"));
  }

  /* Error texts are made to fit: invalid UTF-8 replaced, long text cut at
   * a character boundary. */
  {
    g_autoptr(FoctetRelayMessage) message = foctet_relay_message_new_error (1, "a\xffz");

    g_assert_cmpstr (message->error_text, ==, "a\xef\xbf\xbdz");
  }
  for (guint lead = 0; lead < 3; lead++)
    {
      g_autoptr(GString) text = g_string_new (NULL);
      g_autoptr(FoctetRelayMessage) message = NULL;
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(FoctetRelayMessage) parsed = NULL;
      gsize expected;

      g_string_append_len (text, "xx", lead);
      while (text->len < 2000)
        g_string_append (text, "€");   /* 3 bytes */
      message = foctet_relay_message_new_error (1, text->str);
      expected = lead + (FOCTET_RELAY_ERROR_TEXT_MAX - lead) / 3 * 3;
      g_assert_cmpuint (strlen (message->error_text), ==, expected);
      g_assert_true (g_utf8_validate (message->error_text, -1, NULL));
      g_assert_true (strncmp (message->error_text, text->str, expected) == 0);
      bytes = foctet_relay_message_encode (message);
      parsed = parse_exact (bytes);
      g_assert_cmpstr (parsed->error_text, ==, message->error_text);
    }
}

static void
test_names (void)
{
  static const char * const type_names[] = { "unknown", "RESERVE", "RESERVE_OK", "CONNECT",
                                             "INCOMING", "OK", "ERROR", "PUBLISH", "LOOKUP",
                                             "FOUND", "RAW_CIRCUIT", "INCOMING_RAW", "OBSERVED",
                                             "unknown" };
  static const char * const descriptions[] = {
    NULL,
    "malformed request",
    "target not reachable: it holds no reservation",
    "reservation limit reached",
    "circuit limit reached",
    "refused by the target",
    "target unreachable or timed out",
    "unexpected message",
    "internal error",
    "resource limit reached (memory, rate or connections)",
    "the target offers no raw circuits",
    NULL,
  };
  g_autoptr(FoctetNodeId) id = node_id_with (0);
  g_autofree char *id_text = foctet_node_id_to_string (id);

  for (guint i = 0; i < G_N_ELEMENTS (type_names); i++)
    g_assert_cmpstr (foctet_relay_message_type_to_string (i), ==, type_names[i]);
  g_assert_cmpstr (foctet_relay_message_type_to_string (0xff), ==, "unknown");

  for (guint code = 0; code < G_N_ELEMENTS (descriptions); code++)
    {
      g_autofree char *text = foctet_relay_error_code_to_string (code);

      g_assert_cmpstr (foctet_relay_error_code_describe (code), ==, descriptions[code]);
      if (descriptions[code] != NULL)
        g_assert_cmpstr (text, ==, descriptions[code]);
      else
        {
          g_autofree char *expected = g_strdup_printf ("error code %u", code);

          g_assert_cmpstr (text, ==, expected);
        }
    }
  {
    g_autofree char *text = foctet_relay_error_code_to_string (65535);

    g_assert_cmpstr (text, ==, "error code 65535");
  }

  /* One line per message for logs, peer text escaped. */
  {
    g_autoptr(FoctetRelayMessage) reserve = foctet_relay_message_new_reserve ();
    g_autoptr(FoctetRelayMessage) reserve_ok = foctet_relay_message_new_reserve_ok (600, "[::1]:9", NULL);
    g_autoptr(FoctetRelayMessage) connect = foctet_relay_message_new_connect (id);
    g_autoptr(FoctetRelayMessage) incoming = foctet_relay_message_new_incoming (id, "192.0.2.9:1", NULL);
    g_autoptr(FoctetRelayMessage) ok = foctet_relay_message_new_ok ();
    g_autoptr(FoctetRelayMessage) refused = foctet_relay_message_new_error (5, "busy\n\x1b[31m—é");
    g_autoptr(FoctetRelayMessage) unknown = foctet_relay_message_new_error (77, NULL);
    g_autofree char *s1 = foctet_relay_message_to_string (reserve);
    g_autofree char *s2 = foctet_relay_message_to_string (reserve_ok);
    g_autofree char *s3 = foctet_relay_message_to_string (connect);
    g_autofree char *s4 = foctet_relay_message_to_string (incoming);
    g_autofree char *s5 = foctet_relay_message_to_string (ok);
    g_autofree char *s6 = foctet_relay_message_to_string (refused);
    g_autofree char *s7 = foctet_relay_message_to_string (unknown);
    g_autofree char *connect_expected = g_strdup_printf ("CONNECT to %s", id_text);
    g_autofree char *incoming_expected = g_strdup_printf ("INCOMING from %s at 192.0.2.9:1", id_text);

    g_assert_cmpstr (s1, ==, "RESERVE");
    g_assert_cmpstr (s2, ==, "RESERVE_OK ttl 600 s, observed address [::1]:9");
    g_assert_cmpstr (s3, ==, connect_expected);
    g_assert_cmpstr (s4, ==, incoming_expected);
    g_assert_cmpstr (s5, ==, "OK");
    g_assert_cmpstr (s6, ==, "ERROR 5 (refused by the target): “busy\\n\\033[31m—é”");
    g_assert_cmpstr (s7, ==, "ERROR 77 (unknown code)");
  }
}

static void
test_to_error (void)
{
  static const struct {
    guint16 code;
    int foctet_code;
    const char *message;
  } cases[] = {
    { 1, FOCTET_ERROR_PROTOCOL_ERROR, "Relay error: malformed request (code 1): “bad”" },
    { 2, FOCTET_ERROR_UNREACHABLE, "Relay error: target not reachable: it holds no reservation (code 2): “bad”" },
    { 3, FOCTET_ERROR_LIMIT_REACHED, "Relay error: reservation limit reached (code 3): “bad”" },
    { 4, FOCTET_ERROR_LIMIT_REACHED, "Relay error: circuit limit reached (code 4): “bad”" },
    { 5, FOCTET_ERROR_UNREACHABLE, "Relay error: refused by the target (code 5): “bad”" },
    { 6, FOCTET_ERROR_UNREACHABLE, "Relay error: target unreachable or timed out (code 6): “bad”" },
    { 7, FOCTET_ERROR_PROTOCOL_ERROR, "Relay error: unexpected message (code 7): “bad”" },
    { 8, FOCTET_ERROR_FAILED, "Relay error: internal error (code 8): “bad”" },
    { 9, FOCTET_ERROR_LIMIT_REACHED, "Relay error: resource limit reached (memory, rate or connections) (code 9): “bad”" },
    { 0, FOCTET_ERROR_FAILED, "Relay error: error code 0: “bad”" },
    { 300, FOCTET_ERROR_FAILED, "Relay error: error code 300: “bad”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(FoctetRelayMessage) message = foctet_relay_message_new_error (cases[i].code, "bad");
      g_autoptr(GError) error = foctet_relay_message_to_error (message);

      g_assert_error (error, FOCTET_ERROR, cases[i].foctet_code);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
  {
    g_autoptr(FoctetRelayMessage) message = foctet_relay_message_new_error (4, "");
    g_autoptr(GError) error = foctet_relay_message_to_error (message);

    g_assert_cmpstr (error->message, ==, "Relay error: circuit limit reached (code 4)");
  }
}

static void
test_socket_address (void)
{
  static const struct {
    const char *ip;
    guint16 port;
    const char *expected;
  } cases[] = {
    { "192.0.2.1", 4433, "192.0.2.1:4433" },
    { "2001:db8::1", 443, "[2001:db8::1]:443" },
    { "::1", 65535, "[::1]:65535" },
    { "::ffff:198.51.100.2", 9, "198.51.100.2:9" },
    { "fe80::1", 7, "[fe80::1]:7" },
    { "192.0.2.1", 0, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (cases[i].ip, cases[i].port);
      g_autofree char *text = foctet_relay_address_from_socket_address (address);
      g_autoptr(FoctetRelayMessage) message = NULL;

      g_assert_cmpstr (text, ==, cases[i].expected);
      if (text == NULL)
        continue;
      /* What it makes, the messages carry. */
      message = foctet_relay_message_new_reserve_ok (60, text, NULL);
      g_assert_nonnull (message);
    }
}

/* Reading and writing on streams. */

static FoctetRelayMessage *
read_message (GInputStream  *stream,
              GError       **error)
{
  return foctet_test_wire_read (&wire, stream, error);
}

static gboolean
write_message (GOutputStream             *stream,
               const FoctetRelayMessage  *message,
               GError                   **error)
{
  return foctet_test_wire_write (&wire, stream, message, error);
}


static void
test_read_leaves_relayed_bytes (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();
  g_autoptr(GByteArray) data = g_byte_array_new ();
  static const guint8 raw[] = { 0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03 };
  g_autoptr(GInputStream) input = NULL;
  guint8 rest[64];
  gsize n_rest = 0;
  gsize pos = 0;

  for (guint i = 0; i < all->len; i++)
    g_byte_array_append (data, g_bytes_get_data (g_ptr_array_index (all, i), NULL),
                         g_bytes_get_size (g_ptr_array_index (all, i)));
  g_byte_array_append (data, raw, sizeof raw);
  input = foctet_test_memory_input (data->data, data->len);

  for (guint i = 0; i < all->len; i++)
    {
      GBytes *expected = g_ptr_array_index (all, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetRelayMessage) message = read_message (input, &error);
      g_autoptr(GBytes) again = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (message);
      again = foctet_relay_message_encode (message);
      g_assert_true (g_bytes_equal (again, expected));
      /* Not a byte further than the message. */
      pos += g_bytes_get_size (expected);
      g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, pos);
    }

  /* The relayed bytes are all still there for whoever splices. */
  g_assert_true (g_input_stream_read_all (input, rest, sizeof rest, &n_rest, NULL, NULL));
  g_assert_cmpmem (rest, n_rest, raw, sizeof raw);
}

static void
assert_read_fails (const guint8 *data,
                   gsize         len,
                   int           code,
                   const char   *what,
                   gsize         position)
{
  foctet_test_wire_assert_read_fails (&wire, data, len, code, what, position);
}

static void
test_read_eof (void)
{
  static const guint8 one[] = { 5 };
  static const guint8 two[] = { 2, 0 };
  static const guint8 body_cut[] = { 2, 0, 20, 0, 0, 0, 60, 15, '1', '9', '2', '.', '0' };
  static const guint8 connect_cut[] = { 3, 0, 32, 1, 2, 3 };
  static const guint8 ok_then_eof[] = { 5, 0, 0 };

  assert_read_fails (NULL, 0, FOCTET_ERROR_CONNECTION_CLOSED, "The stream ended before a relay message", 0);
  assert_read_fails (one, sizeof one, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated relay OK message: the stream ended after 1 of the 3 header bytes", 1);
  assert_read_fails (two, sizeof two, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated relay RESERVE_OK message: the stream ended after 2 of the 3 header bytes", 2);
  assert_read_fails (body_cut, sizeof body_cut, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated relay RESERVE_OK message: the stream ended after 13 of its 23 bytes",
                     sizeof body_cut);
  assert_read_fails (connect_cut, sizeof connect_cut, FOCTET_ERROR_PROTOCOL_ERROR,
                     "truncated relay CONNECT message: the stream ended after 6 of its 35 bytes",
                     sizeof connect_cut);

  /* A whole message, then the end: the next read says the stream ended. */
  {
    g_autoptr(GInputStream) input = foctet_test_memory_input (ok_then_eof, sizeof ok_then_eof);
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetRelayMessage) ok = read_message (input, &error);
    g_autoptr(FoctetRelayMessage) none = NULL;

    g_assert_no_error (error);
    g_assert_cmpint (ok->type, ==, FOCTET_RELAY_MESSAGE_OK);
    none = read_message (input, &error);
    g_assert_null (none);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  }
}

static void
test_read_rejects_early (void)
{
  static const guint8 unknown[] = { 0x16, 0x03, 0x01, 0x00, 0x10 };
  static const guint8 oversized[] = { 6, 0x10, 0x00, 0, 1, 'x', 'y' };
  static const guint8 reserve_body[] = { 1, 0, 2, 'h', 'i' };
  static const guint8 bad_address[] = { 2, 0, 12, 0, 0, 0, 60, 7, '1', '.', '2', ':', '3', '4', '5',
                                        5, 0, 0 };

  assert_read_fails (unknown, sizeof unknown, FOCTET_ERROR_PROTOCOL_ERROR,
                     "unknown relay message type 0x16", 1);
  assert_read_fails (oversized, sizeof oversized, FOCTET_ERROR_PROTOCOL_ERROR,
                     "relay ERROR message has length 4096; the most is 1024", 3);
  assert_read_fails (reserve_body, sizeof reserve_body, FOCTET_ERROR_PROTOCOL_ERROR,
                     "relay RESERVE message has a 2-byte body; it must be empty", 3);
  assert_read_fails (bad_address, sizeof bad_address, FOCTET_ERROR_PROTOCOL_ERROR,
                     "relay RESERVE_OK message: bad observed address: “1.2:345”: “1.2” is not an IPv4 address",
                     15);
}

static void
test_write (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();
  g_autoptr(FoctetRelayMessage) ok = foctet_relay_message_new_ok ();

  foctet_test_wire_check_write (&wire, all, ok);
}

/* Over a socket pair: the writer's messages and relayed bytes arrive a
 * byte at a time, and the reader puts them together. */

typedef struct {
  GSocket *socket;
  const guint8 *data;
  gsize len;
  gsize sent;
  gboolean finished;   /* the writer half-closed after the last byte */
} Trickle;

static gboolean
trickle_cb (gpointer user_data)
{
  Trickle *trickle = user_data;

  if (trickle->sent == trickle->len)
    {
      g_assert_true (g_socket_shutdown (trickle->socket, FALSE, TRUE, NULL));
      trickle->finished = TRUE;
      return G_SOURCE_REMOVE;
    }
  g_assert_cmpint (g_socket_send (trickle->socket, (const char *) trickle->data + trickle->sent, 1,
                                  NULL, NULL), ==, 1);
  trickle->sent++;
  return G_SOURCE_CONTINUE;
}


static void
test_read_byte_by_byte (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GSocketConnection) writer = NULL;
  g_autoptr(GSocketConnection) reader = NULL;
  static const guint8 raw[] = "relayed bytes";
  GInputStream *input;
  Trickle trickle = { 0, };
  guint8 rest[64];
  gsize n_rest = 0;

  for (guint i = 0; i < all->len; i++)
    g_byte_array_append (data, g_bytes_get_data (g_ptr_array_index (all, i), NULL),
                         g_bytes_get_size (g_ptr_array_index (all, i)));
  g_byte_array_append (data, raw, sizeof raw);

  foctet_test_socket_pair (&writer, &reader);
  trickle.socket = g_socket_connection_get_socket (writer);
  trickle.data = data->data;
  trickle.len = data->len;
  g_timeout_add (0, trickle_cb, &trickle);
  input = g_io_stream_get_input_stream (G_IO_STREAM (reader));

  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetRelayMessage) message = read_message (input, &error);
      g_autoptr(GBytes) again = NULL;

      g_assert_no_error (error);
      again = foctet_relay_message_encode (message);
      g_assert_true (g_bytes_equal (again, g_ptr_array_index (all, i)));
    }
  /* Wait for the trickle to end, then read what was relayed. */
  foctet_test_wait_for (&trickle.finished, TIMEOUT);
  g_assert_true (g_input_stream_read_all (input, rest, sizeof rest, &n_rest, NULL, NULL));
  g_assert_cmpmem (rest, n_rest, raw, sizeof raw);
}

static void
test_write_then_read_socket (void)
{
  g_autoptr(GPtrArray) all = valid_encodings ();
  g_autoptr(GSocketConnection) a = NULL;
  g_autoptr(GSocketConnection) b = NULL;
  GOutputStream *output;
  GInputStream *input;

  foctet_test_socket_pair (&a, &b);
  output = g_io_stream_get_output_stream (G_IO_STREAM (a));
  input = g_io_stream_get_input_stream (G_IO_STREAM (b));
  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr(FoctetRelayMessage) sent = parse_exact (g_ptr_array_index (all, i));
      g_autoptr(FoctetRelayMessage) received = NULL;
      g_autoptr(GBytes) again = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_true (write_message (output, sent, &error));
      g_assert_no_error (error);
      received = read_message (input, &error);
      g_assert_no_error (error);
      again = foctet_relay_message_encode (received);
      g_assert_true (g_bytes_equal (again, g_ptr_array_index (all, i)));
    }

  /* A half-close before the next message: the clean end. */
  g_assert_true (g_socket_shutdown (g_socket_connection_get_socket (a), FALSE, TRUE, NULL));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(FoctetRelayMessage) none = read_message (input, &error);

    g_assert_null (none);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED);
  }
}

static void
test_read_cancelled (void)
{
  /* Half a header, then nothing. */
  static const guint8 partial[] = { 2, 0 };

  foctet_test_wire_check_read_cancelled (&wire, partial, sizeof partial);
}

/* ------------------------------------------------------------------ */
/* The directory's messages: PUBLISH, LOOKUP, FOUND                    */

static GPtrArray *
entries_of (const char *first,
            ...) G_GNUC_NULL_TERMINATED;

/* Entries from "quic/host:port" and "tls/host:port" strings. */
static GPtrArray *
entries_of (const char *first,
            ...)
{
  GPtrArray *entries = foctet_relay_entries_new ();
  va_list args;

  va_start (args, first);
  for (const char *uri = first; uri != NULL; uri = va_arg (args, const char *))
    {
      if (g_str_has_prefix (uri, "quic/"))
        g_ptr_array_add (entries, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_QUIC, uri + 5));
      else if (g_str_has_prefix (uri, "tls/"))
        g_ptr_array_add (entries, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_TLS, uri + 4));
      else
        g_assert_not_reached ();
    }
  va_end (args);
  return entries;
}

static void
assert_entries (GPtrArray  *entries,
                const char *first,
                ...)
{
  va_list args;
  guint i = 0;

  va_start (args, first);
  for (const char *uri = first; uri != NULL; uri = va_arg (args, const char *), i++)
    {
      FoctetRelayEntry *entry;
      g_autofree char *got = NULL;

      g_assert_cmpuint (i, <, entries->len);
      entry = g_ptr_array_index (entries, i);
      got = g_strdup_printf ("%s/%s", foctet_address_kind_to_transport (entry->kind), entry->address);
      g_assert_cmpstr (got, ==, uri);
    }
  va_end (args);
  g_assert_cmpuint (i, ==, entries->len);
}

/* Parses @len bytes as exactly one message of @set, which must encode
 * back to them. */
static FoctetRelayMessage *
parse_exact_in (FoctetRelayMessageSet  set,
                const guint8          *data,
                gsize                  len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) again = NULL;
  FoctetRelayMessage *message = NULL;
  gsize consumed = 0;

  g_assert_true (foctet_relay_message_parse_in (set, data, len, &consumed, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, len);
  again = foctet_relay_message_encode (message);
  g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), data, len);
  return message;
}

/* @data must be refused as a message of @set with @what in the error,
 * with or without bytes after it. */
static void
assert_rejected_in (FoctetRelayMessageSet  set,
                    const guint8          *data,
                    gsize                  len,
                    const char            *what)
{
  for (guint extra = 0; extra < 2; extra++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *copy = g_malloc0 (len + extra * 8);
      FoctetRelayMessage *message = (FoctetRelayMessage *) 0x1;
      gsize consumed = 12345;

      memcpy (copy, data, len);
      g_assert_false (foctet_relay_message_parse_in (set, copy, len + extra * 8, &consumed, &message, &error));
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      if (extra == 0)
        g_test_message ("%s", error->message);
      if (strstr (error->message, what) == NULL)
        g_error ("“%s” does not say “%s”", error->message, what);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_null (message);
      g_assert_cmpuint (consumed, ==, 0);
    }
}

static void
test_directory_layout (void)
{
  /* The example of docs/protocol.md. */
  static const guint8 publish_bytes[] = {
    0x07, 0x00, 0x1e,
    0x01, 0x0d, '1', '0', '.', '0', '.', '1', '.', '2', ':', '4', '4', '3', '3',
    0x02, 0x0d, '1', '0', '.', '0', '.', '1', '.', '2', ':', '4', '4', '3', '4',
  };
  static const guint8 empty_publish_bytes[] = { 0x07, 0x00, 0x00 };
  static const guint8 found_bytes[] = {
    0x09, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x78,
    0x0e, '1', '9', '8', '.', '1', '8', '.', '0', '.', '1', ':', '9', '0', '0',
    0x01, 0x08, '[', ':', ':', '1', ']', ':', '4', '3',
  };
  g_autoptr(GPtrArray) entries = entries_of ("quic/10.0.1.2:4433", "tls/10.0.1.2:4434", NULL);
  g_autoptr(GPtrArray) none = foctet_relay_entries_new ();
  g_autoptr(GPtrArray) one = entries_of ("quic/[::1]:43", NULL);
  g_autoptr(FoctetNodeId) id = node_id_with (0x40);
  g_autoptr(FoctetRelayMessage) publish = NULL;
  g_autoptr(FoctetRelayMessage) empty = NULL;
  g_autoptr(FoctetRelayMessage) found = NULL;
  g_autoptr(FoctetRelayMessage) lookup = foctet_relay_message_new_lookup (id);
  g_autoptr(FoctetRelayMessage) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  guint8 lookup_bytes[3 + 32] = { 0x08, 0x00, 0x20 };

  publish = foctet_relay_message_new_publish (entries, &error);
  g_assert_no_error (error);
  assert_encoding (publish, publish_bytes, sizeof publish_bytes);
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, publish_bytes, sizeof publish_bytes);
  g_assert_cmpint (parsed->type, ==, FOCTET_RELAY_MESSAGE_PUBLISH);
  assert_entries (parsed->entries, "quic/10.0.1.2:4433", "tls/10.0.1.2:4434", NULL);
  g_assert_null (parsed->address);
  g_assert_null (parsed->node_id);
  text = foctet_relay_message_to_string (parsed);
  g_assert_cmpstr (text, ==, "PUBLISH 2 entries: quic/10.0.1.2:4433, tls/10.0.1.2:4434");
  g_clear_pointer (&parsed, foctet_relay_message_free);
  g_clear_pointer (&text, g_free);

  empty = foctet_relay_message_new_publish (none, &error);
  g_assert_no_error (error);
  assert_encoding (empty, empty_publish_bytes, sizeof empty_publish_bytes);
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, empty_publish_bytes, sizeof empty_publish_bytes);
  g_assert_cmpuint (parsed->entries->len, ==, 0);
  g_clear_pointer (&parsed, foctet_relay_message_free);

  for (guint i = 0; i < 32; i++)
    lookup_bytes[3 + i] = 0x40 + i;
  assert_encoding (lookup, lookup_bytes, sizeof lookup_bytes);
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, lookup_bytes, sizeof lookup_bytes);
  g_assert_true (foctet_node_id_equal (parsed->node_id, id));
  text = foctet_relay_message_to_string (parsed);
  g_assert_true (g_str_has_prefix (text, "LOOKUP of "));
  g_clear_pointer (&parsed, foctet_relay_message_free);
  g_clear_pointer (&text, g_free);

  found = foctet_relay_message_new_found (120, "198.18.0.1:900", one, &error);
  g_assert_no_error (error);
  assert_encoding (found, found_bytes, sizeof found_bytes);
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, found_bytes, sizeof found_bytes);
  g_assert_cmpuint (parsed->ttl, ==, 120);
  g_assert_cmpstr (parsed->address, ==, "198.18.0.1:900");
  assert_entries (parsed->entries, "quic/[::1]:43", NULL);
  text = foctet_relay_message_to_string (parsed);
  g_assert_cmpstr (text, ==, "FOUND ttl 120 s, observed address 198.18.0.1:900, 1 entries: quic/[::1]:43");
}

/* Each family of streams knows its own types only. */
static void
test_directory_sets (void)
{
  static const guint8 publish[] = { 0x07, 0x00, 0x00 };
  static const guint8 reserve[] = { 0x01, 0x00, 0x00 };
  static const guint8 ok[] = { 0x05, 0x00, 0x00 };
  static const guint8 error_bytes[] = { 0x06, 0x00, 0x03, 0x00, 0x02, 'x' };
  static const guint8 ten[] = { 0x0a, 0x00, 0x00 };
  static const struct {
    FoctetRelayMessageSet set;
    const guint8 *data;
    const char *refusal;              /* NULL: accepted */
  } cases[] = {
    { FOCTET_RELAY_MESSAGES_CIRCUIT, publish, "unknown relay message type 0x07" },
    { FOCTET_RELAY_MESSAGES_DIRECTORY, reserve, "unknown relay directory message type 0x01" },
    { FOCTET_RELAY_MESSAGES_DIRECTORY, ten, "unknown relay directory message type 0x0a" },
    { FOCTET_RELAY_MESSAGES_DIRECTORY, publish, NULL },
    { FOCTET_RELAY_MESSAGES_DIRECTORY, ok, NULL },
    { FOCTET_RELAY_MESSAGES_CIRCUIT, ok, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetRelayMessage) message = NULL;
      gsize consumed = 0;
      gboolean ok_parse = foctet_relay_message_parse_in (cases[i].set, cases[i].data, 3, &consumed, &message,
                                                         &error);

      if (cases[i].refusal == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok_parse);
          g_assert_cmpuint (consumed, ==, 3);
        }
      else
        {
          g_assert_false (ok_parse);
          g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
          /* Refused on the type byte alone. */
          g_assert_cmpstr (error->message, ==, cases[i].refusal);
        }
    }

  /* ERROR means the same on both. */
  for (guint set = 0; set < 2; set++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(FoctetRelayMessage) message = NULL;
      gsize consumed = 0;

      g_assert_true (foctet_relay_message_parse_in (set, error_bytes, sizeof error_bytes, &consumed, &message,
                                                    &error));
      g_assert_cmpuint (message->error_code, ==, 2);
      g_assert_cmpstr (message->error_text, ==, "x");
    }
}

/* A message of @type whose body is @body. */
static GByteArray *
message_with_body (guint8      type,
                   GByteArray *body)
{
  GByteArray *out = g_byte_array_new ();
  guint8 header[3] = { type, body->len >> 8, body->len & 0xff };

  g_byte_array_append (out, header, 3);
  g_byte_array_append (out, body->data, body->len);
  return out;
}

static void
append_entry (GByteArray *body,
              guint8      kind,
              const char *address)
{
  guint8 header[2] = { kind, (guint8) strlen (address) };

  g_byte_array_append (body, header, 2);
  g_byte_array_append (body, (const guint8 *) address, strlen (address));
}

static void
append_found_head (GByteArray *body,
                   guint32     ttl,
                   const char *address)
{
  guint8 head[5] = { ttl >> 24, (ttl >> 16) & 0xff, (ttl >> 8) & 0xff, ttl & 0xff, (guint8) strlen (address) };

  g_byte_array_append (body, head, 5);
  g_byte_array_append (body, (const guint8 *) address, strlen (address));
}

/* A valid "host:1" address of exactly @len bytes (5 to 255): a hostname
 * of labels of at most 63 characters. */
static char *
address_of_length (gsize len)
{
  GString *s = g_string_new (NULL);

  g_assert_cmpuint (len, >=, 5);
  while (s->len < len - 2)
    {
      if (s->len > 0)
        g_string_append_c (s, '.');
      for (guint i = 0; i < 63 && s->len < len - 2; i++)
        g_string_append_c (s, 'a' + (s->len % 26));
      /* No label may end up empty or start after the last dot. */
      if (s->len == len - 3)
        g_string_append_c (s, 'z');
    }
  g_string_append (s, ":1");
  g_assert_cmpuint (s->len, ==, len);
  g_assert_true (foctet_parse_host_port (s->str, NULL, NULL, NULL));
  return g_string_free (s, FALSE);
}

static void
test_directory_reject (void)
{
  static const guint8 publish_too_long[] = { 0x07, 0x02, 0xfd };   /* 765 */
  static const guint8 lookup_short[] = { 0x08, 0x00, 0x1f };
  static const guint8 lookup_long[] = { 0x08, 0x00, 0x21 };
  static const guint8 found_short[] = { 0x09, 0x00, 0x04 };
  static const guint8 over_1024[] = { 0x09, 0x04, 0x01 };
  static const guint8 entry_header_cut[] = { 0x07, 0x00, 0x01, 0x01 };
  static const guint8 entry_past_end[] = { 0x07, 0x00, 0x05, 0x02, 0x04, 'a', ':', '1' };
  static const guint8 entry_empty[] = { 0x07, 0x00, 0x02, 0x01, 0x00 };
  static const guint8 entry_relay[] = { 0x07, 0x00, 0x05, 0x03, 0x03, 'a', ':', '1' };
  static const guint8 entry_zero[] = { 0x07, 0x00, 0x05, 0x00, 0x03, 'a', ':', '1' };
  static const guint8 entry_app[] = { 0x07, 0x00, 0x05, 0x80, 0x03, 'a', ':', '1' };
  static const guint8 entry_port0[] = { 0x07, 0x00, 0x05, 0x01, 0x03, 'a', ':', '0' };
  static const guint8 entry_nul[] = { 0x07, 0x00, 0x05, 0x01, 0x03, 'a', 0, '1' };
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autoptr(GByteArray) message = NULL;

  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, publish_too_long, sizeof publish_too_long,
                      "PUBLISH message has a 765-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, lookup_short, sizeof lookup_short,
                      "LOOKUP message has a 31-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, lookup_long, sizeof lookup_long,
                      "LOOKUP message has a 33-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, found_short, sizeof found_short,
                      "FOUND message has a 4-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, over_1024, sizeof over_1024, "FOUND message has length 1025");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_header_cut, sizeof entry_header_cut,
                      "entry 1 is truncated");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_past_end, sizeof entry_past_end,
                             "entry 1 length 4 runs past the end of the body: only 3 bytes");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_empty, sizeof entry_empty,
                      "bad address in entry 1: it is empty");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_relay, sizeof entry_relay, "entry 1 has type 3");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_zero, sizeof entry_zero, "entry 1 has type 0");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_app, sizeof entry_app, "entry 1 has type 128");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_port0, sizeof entry_port0, "bad address in entry 1");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, entry_nul, sizeof entry_nul, "bad address in entry 1");

  /* 17 entries, where 16 is the most; the 16 alone are fine. */
  for (guint i = 0; i < 16; i++)
    append_entry (body, 1 + i % 2, "h:1");
  message = message_with_body (0x07, body);
  {
    g_autoptr(FoctetRelayMessage) sixteen = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data,
                                                            message->len);

    g_assert_cmpuint (sixteen->entries->len, ==, 16);
  }
  g_byte_array_unref (message);
  append_entry (body, 1, "h:1");
  message = message_with_body (0x07, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len,
                      "PUBLISH message has more than 16 entries");
  g_clear_pointer (&message, g_byte_array_unref);

  /* A second entry that goes wrong is named as the second. */
  g_byte_array_set_size (body, 0);
  append_entry (body, 1, "10.0.0.1:5");
  append_entry (body, 2, "10.0.0.1:99999");
  message = message_with_body (0x07, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len, "bad address in entry 2");
  g_clear_pointer (&message, g_byte_array_unref);

  /* FOUND: ttl 0, an address running past the body, an empty address, a
   * bad entry, entries over 764 bytes. */
  g_byte_array_set_size (body, 0);
  append_found_head (body, 0, "a:1");
  message = message_with_body (0x09, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len, "FOUND message has ttl 0");
  g_clear_pointer (&message, g_byte_array_unref);

  g_byte_array_set_size (body, 0);
  append_found_head (body, 5, "a:1");
  body->data[4] = 9;
  message = message_with_body (0x09, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len,
                             "observed address length 9 runs past the end of the body: only 3 bytes");
  g_clear_pointer (&message, g_byte_array_unref);

  g_byte_array_set_size (body, 0);
  append_found_head (body, 5, "");
  message = message_with_body (0x09, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len,
                      "bad observed address: it is empty");
  g_clear_pointer (&message, g_byte_array_unref);

  g_byte_array_set_size (body, 0);
  append_found_head (body, 5, "a:1");
  append_entry (body, 2, "b:2");
  append_entry (body, 4, "b:2");
  message = message_with_body (0x09, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len,
                      "FOUND message: entry 2 has type 4");
  g_clear_pointer (&message, g_byte_array_unref);

  g_byte_array_set_size (body, 0);
  append_found_head (body, 5, "a:1");
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *address = address_of_length (255);   /* 257 bytes an entry */

      append_entry (body, 1, address);
    }
  message = message_with_body (0x09, body);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_DIRECTORY, message->data, message->len,
                      "its entries take 771 bytes; the most is 764");
}

/* Every prefix of a valid directory message asks for more. */
static void
test_directory_incremental (void)
{
  g_autoptr(GPtrArray) entries = entries_of ("quic/10.0.1.2:4433", "tls/[fd00::2]:1", NULL);
  g_autoptr(FoctetRelayMessage) publish = foctet_relay_message_new_publish (entries, NULL);
  g_autoptr(FoctetRelayMessage) found = foctet_relay_message_new_found (9, "example.org:7", entries, NULL);
  FoctetRelayMessage *all[] = { publish, found };

  for (guint m = 0; m < G_N_ELEMENTS (all); m++)
    {
      g_autoptr(GBytes) bytes = foctet_relay_message_encode (all[m]);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (bytes, &len);

      for (gsize i = 0; i < len; i++)
        {
          g_autoptr(GError) error = NULL;
          g_autofree guint8 *prefix = g_memdup2 (data, i);
          FoctetRelayMessage *message = NULL;
          gsize consumed = 7;

          g_assert_false (foctet_relay_message_parse_in (FOCTET_RELAY_MESSAGES_DIRECTORY, prefix, i, &consumed,
                                                         &message, &error));
          g_assert_no_error (error);
          g_assert_null (message);
          g_assert_cmpuint (consumed, ==, 0);
        }
    }
}

static void
test_directory_constructors (void)
{
  g_autoptr(GPtrArray) too_many = foctet_relay_entries_new ();
  g_autoptr(GPtrArray) relay_kind = foctet_relay_entries_new ();
  g_autoptr(GPtrArray) bad_address = entries_of ("quic/10.0.0.1:0", NULL);
  g_autoptr(GPtrArray) too_big = foctet_relay_entries_new ();
  g_autoptr(GPtrArray) largest = foctet_relay_entries_new ();
  g_autoptr(FoctetRelayMessage) found = NULL;
  g_autoptr(FoctetRelayMessage) parsed = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *longest = longest_address ();
  gsize size = 0;

  for (guint i = 0; i < 17; i++)
    g_ptr_array_add (too_many, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_TLS, "h:1"));
  g_assert_null (foctet_relay_message_new_publish (too_many, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "17 addresses to publish; the most is 16"));
  g_clear_error (&error);

  g_ptr_array_add (relay_kind, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_RELAY, "h:1"));
  g_assert_null (foctet_relay_message_new_publish (relay_kind, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "only QUIC (1) and TLS (2)"));
  g_clear_error (&error);

  g_assert_null (foctet_relay_message_new_publish (bad_address, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "address 1 to publish"));
  g_clear_error (&error);

  /* 16 entries of 52 bytes: 832, over 764. */
  for (guint i = 0; i < 16; i++)
    {
      g_autofree char *host = g_strnfill (48, 'a' + i);
      g_autofree char *address = g_strconcat (host, ":1", NULL);

      g_ptr_array_add (too_big, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_QUIC, address));
    }
  g_assert_null (foctet_relay_message_new_publish (too_big, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "take 832 bytes; the most is 764"));
  g_clear_error (&error);

  g_assert_null (foctet_relay_message_new_found (1, "no-port", largest, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* The largest FOUND: a 255-byte observed address and 764 bytes of
   * entries (two of 255 + 2 and one of 248 + 2) make a 1024-byte body. */
  g_ptr_array_add (largest, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_QUIC, longest));
  g_ptr_array_add (largest, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_TLS, longest));
  {
    g_autofree char *address = address_of_length (248);

    g_ptr_array_add (largest, foctet_relay_entry_new (FOCTET_ADDRESS_KIND_TLS, address));
  }
  found = foctet_relay_message_new_found (G_MAXUINT32, longest, largest, &error);
  g_assert_no_error (error);
  bytes = foctet_relay_message_encode (found);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, FOCTET_RELAY_MESSAGE_MAX_SIZE);
  {
    const guint8 *data = g_bytes_get_data (bytes, &size);

    parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_DIRECTORY, data, size);
  }
  g_assert_cmpuint (parsed->ttl, ==, G_MAXUINT32);
  g_assert_cmpuint (parsed->entries->len, ==, 3);
}

/* The reader reads a directory message and not a byte more; a circuit
 * message on a directory stream is refused on its first byte. */
static void
test_directory_read (void)
{
  g_autoptr(GPtrArray) entries = entries_of ("tls/192.0.2.7:443", NULL);
  g_autoptr(FoctetRelayMessage) publish = foctet_relay_message_new_publish (entries, NULL);
  g_autoptr(GBytes) bytes = foctet_relay_message_encode (publish);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  static const guint8 after[] = { 0x02, 0x00, 0x00 };  /* a RESERVE_OK head: unknown here */
  g_autoptr(GInputStream) input = NULL;

  g_byte_array_append (data, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_byte_array_append (data, after, sizeof after);
  input = foctet_test_memory_input (data->data, data->len);

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(FoctetRelayMessage) message = NULL;
      GAsyncResult *slot = NULL;

      foctet_relay_message_read_in_async (input, FOCTET_RELAY_MESSAGES_DIRECTORY, G_PRIORITY_DEFAULT, NULL,
                                          foctet_test_store_result, &slot);
      result = foctet_test_wait_result (&slot, TIMEOUT);
      message = foctet_relay_message_read_finish (input, result, &error);
      if (round == 0)
        {
          g_assert_no_error (error);
          assert_entries (message->entries, "tls/192.0.2.7:443", NULL);
          g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, g_bytes_get_size (bytes));
        }
      else
        {
          g_assert_null (message);
          g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
          g_assert_cmpstr (error->message, ==, "unknown relay directory message type 0x02");
          g_assert_cmpint (g_seekable_tell (G_SEEKABLE (input)), ==, g_bytes_get_size (bytes) + 1);
        }
    }
}


/* ---- Raw circuits --------------------------------------------------- */

static void
test_raw_layout (void)
{
  g_autoptr(FoctetNodeId) caller = node_id_with (0x40);
  guint8 token[FOCTET_RELAY_TOKEN_SIZE];
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < sizeof token; i++)
    token[i] = 0xa0 + i;

  /* RAW_CIRCUIT on port 4434: 0a | 00 22 | 11 52 | token */
  {
    g_autoptr(FoctetRelayMessage) message = foctet_relay_message_new_raw_circuit (4434, token);
    g_autoptr(FoctetRelayMessage) parsed = NULL;
    static const guint8 head[] = { 0x0a, 0x00, 0x22, 0x11, 0x52 };
    g_autofree char *text = NULL;

    g_byte_array_append (expected, head, sizeof head);
    g_byte_array_append (expected, token, sizeof token);
    assert_encoding (message, expected->data, expected->len);
    parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_RAW, expected->data, expected->len);
    g_assert_cmpint (parsed->type, ==, FOCTET_RELAY_MESSAGE_RAW_CIRCUIT);
    g_assert_cmpuint (parsed->port, ==, 4434);
    g_assert_cmpmem (parsed->token, sizeof parsed->token, token, sizeof token);
    /* Logs never show the token. */
    text = foctet_relay_message_to_string (parsed);
    g_assert_cmpstr (text, ==, "RAW_CIRCUIT on port 4434");
  }

  /* INCOMING_RAW from caller at 10.0.0.1:5, port 4434:
   * 0b | 00 4d | caller[32] | 11 52 | token[32] | 0a | "10.0.0.1:5" */
  {
    g_autoptr(FoctetRelayMessage) message = foctet_relay_message_new_incoming_raw (caller, "10.0.0.1:5", 4434, token,
                                                                                  &error);
    g_autoptr(FoctetRelayMessage) parsed = NULL;
    static const guint8 head[] = { 0x0b, 0x00, 0x4d };
    static const guint8 port[] = { 0x11, 0x52 };
    guint8 addr_len = 10;
    gsize len = 0;

    g_assert_no_error (error);
    g_byte_array_set_size (expected, 0);
    g_byte_array_append (expected, head, sizeof head);
    g_byte_array_append (expected, foctet_node_id_get_data (caller, &len), FOCTET_NODE_ID_SIZE);
    g_byte_array_append (expected, port, sizeof port);
    g_byte_array_append (expected, token, sizeof token);
    g_byte_array_append (expected, &addr_len, 1);
    g_byte_array_append (expected, (const guint8 *) "10.0.0.1:5", 10);
    g_assert_cmpuint (expected->len, ==, 3 + 0x4d);
    assert_encoding (message, expected->data, expected->len);
    parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_RAW, expected->data, expected->len);
    g_assert_cmpint (parsed->type, ==, FOCTET_RELAY_MESSAGE_INCOMING_RAW);
    g_assert_true (foctet_node_id_equal (parsed->node_id, caller));
    g_assert_cmpstr (parsed->address, ==, "10.0.0.1:5");
    g_assert_cmpuint (parsed->port, ==, 4434);
    g_assert_cmpmem (parsed->token, sizeof parsed->token, token, sizeof token);
  }

  /* A bad caller address is refused by the constructor. */
  g_clear_error (&error);
  g_assert_null (foctet_relay_message_new_incoming_raw (caller, "nohost", 1, token, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
}

static void
test_raw_sets (void)
{
  static const guint8 raw_circuit_header[] = { 0x0a, 0x00, 0x22 };
  static const guint8 reserve[] = { 0x01, 0x00, 0x00 };
  static const guint8 incoming[] = { 0x04, 0x00, 0x21 };
  static const guint8 publish[] = { 0x07, 0x00, 0x00 };
  static const guint8 twelve[] = { 0x0c, 0x00, 0x00 };
  g_autoptr(FoctetNodeId) target = node_id_with (1);
  g_autoptr(FoctetRelayMessage) connect = foctet_relay_message_new_connect (target);
  g_autoptr(GBytes) connect_bytes = foctet_relay_message_encode (connect);
  g_autoptr(FoctetRelayMessage) parsed = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  /* The new types are unknown on the v1 and directory streams... */
  g_assert_false (foctet_relay_message_parse (raw_circuit_header, 3, &consumed, &parsed, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_cmpstr (error->message, ==, "unknown relay message type 0x0a");
  g_clear_error (&error);
  g_assert_false (foctet_relay_message_parse_in (FOCTET_RELAY_MESSAGES_DIRECTORY, raw_circuit_header, 3, &consumed,
                                                 &parsed, &error));
  g_assert_cmpstr (error->message, ==, "unknown relay directory message type 0x0a");
  g_clear_error (&error);

  /* ...and the raw streams know only CONNECT, OK, ERROR and their own. */
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, reserve, sizeof reserve,
                      "unknown relay raw-circuit message type 0x01");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, incoming, sizeof incoming,
                      "unknown relay raw-circuit message type 0x04");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, publish, sizeof publish,
                      "unknown relay raw-circuit message type 0x07");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, twelve, sizeof twelve,
                      "unknown relay raw-circuit message type 0x0c");
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_RAW, g_bytes_get_data (connect_bytes, NULL),
                           g_bytes_get_size (connect_bytes));
  g_assert_true (foctet_node_id_equal (parsed->node_id, target));
}

static void
test_raw_reject (void)
{
  static const guint8 raw_short[] = { 0x0a, 0x00, 0x21 };
  static const guint8 raw_long[] = { 0x0a, 0x00, 0x23 };
  static const guint8 incoming_short[] = { 0x0b, 0x00, 0x42 };
  g_autoptr(GByteArray) message = g_byte_array_new ();
  static const guint8 zeros[80] = { 0 };
  guint8 byte;

  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, raw_short, sizeof raw_short,
                      "RAW_CIRCUIT message has a 33-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, raw_long, sizeof raw_long, "RAW_CIRCUIT message has a 35-byte body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, incoming_short, sizeof incoming_short,
                      "INCOMING_RAW message has a 66-byte body");

  /* RAW_CIRCUIT with port 0. */
  byte = 0x0a;
  g_byte_array_append (message, &byte, 1);
  byte = 0x00;
  g_byte_array_append (message, &byte, 1);
  byte = 0x22;
  g_byte_array_append (message, &byte, 1);
  g_byte_array_append (message, zeros, 34);
  assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, message->data, message->len, "RAW_CIRCUIT message has port 0");

  /* INCOMING_RAW: port 0; an address length past the body; one leaving
   * bytes after it; a bad address. */
  {
    static const struct {
      guint8 port_lo;
      guint8 addr_len;
      const char *address;
      guint extra;
      const char *what;
    } cases[] = {
      { 0, 3, "a:1", 0, "INCOMING_RAW message has port 0" },
      { 1, 4, "a:1", 0, "caller address length 4 runs past the end of the body" },
      { 1, 3, "a:1", 1, "caller address" },
      { 1, 3, "a:0", 0, "caller address" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        guint len = 67 + (guint) strlen (cases[i].address) + cases[i].extra;
        guint8 head[3] = { 0x0b, len >> 8, len & 0xff };
        guint8 port[2] = { 0, cases[i].port_lo };

        g_byte_array_set_size (message, 0);
        g_byte_array_append (message, head, 3);
        g_byte_array_append (message, zeros, 32);
        g_byte_array_append (message, port, 2);
        g_byte_array_append (message, zeros, 32);
        g_byte_array_append (message, &cases[i].addr_len, 1);
        g_byte_array_append (message, (const guint8 *) cases[i].address, strlen (cases[i].address));
        g_byte_array_append (message, zeros, cases[i].extra);
        assert_rejected_in (FOCTET_RELAY_MESSAGES_RAW, message->data, message->len, cases[i].what);
      }
  }
}

static void
test_raw_preamble (void)
{
  guint8 token[FOCTET_RELAY_TOKEN_SIZE];
  guint8 out[FOCTET_RELAY_TOKEN_SIZE] = { 0 };
  g_autoptr(GBytes) preamble = NULL;
  g_autoptr(GError) error = NULL;
  static const guint8 tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00 };
  const guint8 *data;
  gsize len = 0;
  guint8 *garbled;

  for (guint i = 0; i < sizeof token; i++)
    token[i] = (guint8) (7 * i + 1);
  preamble = foctet_relay_raw_preamble_new (token);
  data = g_bytes_get_data (preamble, &len);
  g_assert_cmpuint (len, ==, 44);
  g_assert_cmpmem (data, 12, "foctet-raw/1", 12);
  /* It can never be taken for TLS: a TLS connection starts 0x16 0x03. */
  g_assert_cmpuint (data[0], !=, 0x16);
  g_assert_true (foctet_relay_raw_preamble_parse (data, len, out, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (out, sizeof out, token, sizeof token);

  /* Cut short. */
  g_assert_false (foctet_relay_raw_preamble_parse (data, 43, out, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_cmpstr (error->message, ==, "raw-circuit preamble cut short: 43 of 44 bytes (magic and token)");
  g_clear_error (&error);

  /* A TLS ClientHello. */
  g_assert_false (foctet_relay_raw_preamble_parse (tls, sizeof tls, out, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_assert_nonnull (strstr (error->message, "TLS record"));
  g_clear_error (&error);

  /* One wrong byte of the magic, named. */
  garbled = g_memdup2 (data, len);
  garbled[6] = '_';
  g_assert_false (foctet_relay_raw_preamble_parse (garbled, len, out, &error));
  g_assert_cmpstr (error->message, ==, "not a raw-circuit connection: byte 7 of the magic is 0x5f, not 0x2d");
  g_clear_error (&error);
  g_free (garbled);
}

/* OBSERVED, the answer on an observed stream: 0c | len | n | address[n]. */
static void
test_observed_layout (void)
{
  static const guint8 expected[] = { 0x0c, 0x00, 0x0f, 0x0e, '1', '9', '2', '.', '0', '.', '2', '.', '1',
                                     ':', '4', '4', '3', '3' };
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(FoctetRelayMessage) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  message = foctet_relay_message_new_observed ("192.0.2.1:4433", &error);
  g_assert_no_error (error);
  assert_encoding (message, expected, sizeof expected);
  /* Parsed, and encoded back to the same bytes. */
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_OBSERVED, expected, sizeof expected);
  g_assert_cmpint (parsed->type, ==, FOCTET_RELAY_MESSAGE_OBSERVED);
  g_assert_cmpstr (parsed->address, ==, "192.0.2.1:4433");
  text = foctet_relay_message_to_string (parsed);
  g_assert_cmpstr (text, ==, "OBSERVED address 192.0.2.1:4433");

  /* A prefix is not refused: more is needed. */
  for (gsize len = 0; len < sizeof expected; len++)
    {
      g_autoptr(FoctetRelayMessage) partial = NULL;
      gsize consumed = 7;

      g_assert_false (foctet_relay_message_parse_in (FOCTET_RELAY_MESSAGES_OBSERVED, expected, len, &consumed,
                                                     &partial, &error));
      g_assert_no_error (error);
      g_assert_null (partial);
      g_assert_cmpuint (consumed, ==, 0);
    }

  /* The constructor refuses what a ticket could not hold. */
  g_assert_null (foctet_relay_message_new_observed ("192.0.2.1:0", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
}

static void
test_observed_sets (void)
{
  static const guint8 observed[] = { 0x0c, 0x00, 0x04, 0x03, 'a', ':', '1' };
  static const guint8 reserve[] = { 0x01, 0x00, 0x00 };
  static const guint8 ok[] = { 0x05, 0x00, 0x00 };
  static const guint8 found[] = { 0x09, 0x00, 0x00 };
  g_autoptr(FoctetRelayMessage) refusal = foctet_relay_message_new_error (5, "no");
  g_autoptr(GBytes) refusal_bytes = foctet_relay_message_encode (refusal);
  g_autoptr(FoctetRelayMessage) parsed = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  /* OBSERVED is unknown on every other family of streams... */
  g_assert_false (foctet_relay_message_parse (observed, sizeof observed, &consumed, &parsed, &error));
  g_assert_cmpstr (error->message, ==, "unknown relay message type 0x0c");
  g_clear_error (&error);
  g_assert_false (foctet_relay_message_parse_in (FOCTET_RELAY_MESSAGES_DIRECTORY, observed, sizeof observed,
                                                 &consumed, &parsed, &error));
  g_assert_cmpstr (error->message, ==, "unknown relay directory message type 0x0c");
  g_clear_error (&error);

  /* ...and an observed stream knows ERROR and OBSERVED only. */
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, reserve, sizeof reserve,
                      "unknown relay observed-address message type 0x01");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, ok, sizeof ok,
                      "unknown relay observed-address message type 0x05");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, found, sizeof found,
                      "unknown relay observed-address message type 0x09");
  g_clear_pointer (&parsed, foctet_relay_message_free);
  parsed = parse_exact_in (FOCTET_RELAY_MESSAGES_OBSERVED, g_bytes_get_data (refusal_bytes, NULL),
                           g_bytes_get_size (refusal_bytes));
  g_assert_cmpint (parsed->type, ==, FOCTET_RELAY_MESSAGE_ERROR);
  g_assert_cmpuint (parsed->error_code, ==, 5);
}

static void
test_observed_reject (void)
{
  static const guint8 empty[] = { 0x0c, 0x00, 0x00 };
  static const guint8 past_end[] = { 0x0c, 0x00, 0x04, 0x04, 'a', ':', '1' };
  static const guint8 trailing[] = { 0x0c, 0x00, 0x05, 0x03, 'a', ':', '1', 0 };
  static const guint8 port_zero[] = { 0x0c, 0x00, 0x04, 0x03, 'a', ':', '0' };
  static const guint8 no_port[] = { 0x0c, 0x00, 0x02, 0x01, 'a' };
  static const guint8 too_long[] = { 0x0c, 0x04, 0x01 };

  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, empty, sizeof empty,
                            "relay OBSERVED message has a 0-byte body; the address length alone takes 1");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, past_end, sizeof past_end,
                      "observed address length 4 runs past the end of the body");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, trailing, sizeof trailing,
                      "1 bytes after the observed address");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, port_zero, sizeof port_zero, "bad observed address");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, no_port, sizeof no_port, "bad observed address");
  assert_rejected_in (FOCTET_RELAY_MESSAGES_OBSERVED, too_long, sizeof too_long,
                      "relay OBSERVED message has length 1025; the most is 1024");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/relay/message/encode-layout", test_encode_layout);
  g_test_add_func ("/relay/message/round-trip", test_round_trip);
  g_test_add_func ("/relay/message/reject-type", test_reject_type);
  g_test_add_func ("/relay/message/reject-length", test_reject_length);
  g_test_add_func ("/relay/message/reject-fields", test_reject_fields);
  g_test_add_func ("/relay/message/incremental", test_incremental);
  g_test_add_func ("/relay/message/constructors", test_constructors);
  g_test_add_func ("/relay/message/names", test_names);
  g_test_add_func ("/relay/message/to-error", test_to_error);
  g_test_add_func ("/relay/message/socket-address", test_socket_address);
  g_test_add_func ("/relay/message/read-leaves-relayed-bytes", test_read_leaves_relayed_bytes);
  g_test_add_func ("/relay/message/read-eof", test_read_eof);
  g_test_add_func ("/relay/message/read-rejects-early", test_read_rejects_early);
  g_test_add_func ("/relay/message/write", test_write);
  g_test_add_func ("/relay/message/read-byte-by-byte", test_read_byte_by_byte);
  g_test_add_func ("/relay/message/write-then-read-socket", test_write_then_read_socket);
  g_test_add_func ("/relay/message/read-cancelled", test_read_cancelled);
  g_test_add_func ("/relay/message/directory/layout", test_directory_layout);
  g_test_add_func ("/relay/message/directory/sets", test_directory_sets);
  g_test_add_func ("/relay/message/directory/reject", test_directory_reject);
  g_test_add_func ("/relay/message/directory/incremental", test_directory_incremental);
  g_test_add_func ("/relay/message/directory/constructors", test_directory_constructors);
  g_test_add_func ("/relay/message/directory/read", test_directory_read);
  g_test_add_func ("/relay/message/raw/layout", test_raw_layout);
  g_test_add_func ("/relay/message/raw/sets", test_raw_sets);
  g_test_add_func ("/relay/message/raw/reject", test_raw_reject);
  g_test_add_func ("/relay/message/raw/preamble", test_raw_preamble);
  g_test_add_func ("/relay/message/observed/layout", test_observed_layout);
  g_test_add_func ("/relay/message/observed/sets", test_observed_sets);
  g_test_add_func ("/relay/message/observed/reject", test_observed_reject);

  return g_test_run ();
}

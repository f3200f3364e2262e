/* test-ticket.c: tickets (PROTOCOL §6) and the host:port parser.
 *
 * The known vectors below were built byte by byte and base32-encoded
 * independently of foctet, with Python:
 *   "foctet" + base64.b32encode (payload).decode ().lower ().rstrip ("=")
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-ticket.h"
#include "foctet-host-port.h"
#include "foctet-base32.h"
#include "foctet-error.h"

/* The NodeId of every vector: bytes 0, 1, ..., 31. */
#define NODE_ID_BYTES \
  "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" \
  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"

/* Version 1 and the NodeId, no entries. */
static const char bare_payload[] = "\x01" NODE_ID_BYTES;
#define VECTOR_BARE "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6"

/* TLS 127.0.0.1:4433, QUIC [::1]:4433, app data 0x80 "hi". */
static const char full_payload[] =
  "\x01" NODE_ID_BYTES
  "\x02\x0e" "127.0.0.1:4433"
  "\x01\x0a" "[::1]:4433"
  "\x80\x02" "hi";
#define VECTOR_FULL \
  "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqogezdolrqfyyc4mj2gq2dgmybbjntuorrlu5dinbtgoaae2dj"

/* Every kind, two QUIC addresses, kinds interleaved, an empty app data
 * value and a binary one. */
static const char kinds_payload[] =
  "\x01" NODE_ID_BYTES
  "\x03\x15" "relay.example.net:443"
  "\x01\x0e" "192.0.2.1:4433"
  "\x02\x11" "[2001:db8::2]:443"
  "\x01\x11" "node.example:4433"
  "\x81\x00"
  "\xff\x03" "\x00\x01\xfe";
#define VECTOR_KINDS \
  "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6ayvojswyylzfzsxqylnobwgkltomv2dunbugmaq4mjzgixdalrs" \
  "fyytunbugmzqeek3giydamj2mrrdqor2gjotunbugmarc3tpmrss4zlymfwxa3dfhi2dimztqeap6ayaah7a"

/* Entries of reserved types 4 ("abc") and 0x7f (empty) before a relay
 * entry. */
static const char unknown_payload[] =
  "\x01" NODE_ID_BYTES
  "\x04\x03" "abc"
  "\x7f\x00"
  "\x03\x10" "relay.example:80";
#define VECTOR_UNKNOWN \
  "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6badmfrgg7yaamihezlmmf4s4zlymfwxa3dfhi4da"

/* A hostname of labels of the given lengths ("aaa.bbbb"), then @suffix. */
static char *
hostname_of_labels (const guint *lengths,
                    guint        n_labels,
                    const char  *suffix)
{
  GString *name = g_string_new (NULL);

  for (guint i = 0; i < n_labels; i++)
    {
      if (i > 0)
        g_string_append_c (name, '.');
      for (guint j = 0; j < lengths[i]; j++)
        g_string_append_c (name, 'a' + i % 26);
    }
  g_string_append (name, suffix);
  return g_string_free (name, FALSE);
}

static FoctetNodeId *
vector_node_id (void)
{
  guint8 key[FOCTET_NODE_ID_SIZE];

  for (guint i = 0; i < sizeof key; i++)
    key[i] = i;
  return foctet_node_id_new_from_data (key, sizeof key, NULL);
}

/* The vectors agree with the payloads written out above: guards against a
 * typo in either, independently of foctet's encoder. */
static void
assert_vector_is_payload (const char   *vector,
                          const char   *payload,
                          gsize         payload_len)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *decoded = NULL;
  gsize len = 0;

  g_assert_true (g_str_has_prefix (vector, "foctet"));
  decoded = foctet_base32_decode (vector + 6, strlen (vector + 6), &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (decoded, len, payload, payload_len);
}

static void
test_format_vectors (void)
{
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) bare = foctet_ticket_new (id);
  g_autoptr(FoctetTicket) full = foctet_ticket_new (id);
  g_autoptr(FoctetTicket) kinds = foctet_ticket_new (id);
  g_autoptr(GBytes) hi = g_bytes_new_static ("hi", 2);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(GBytes) binary = g_bytes_new_static ("\x00\x01\xfe", 3);
  g_autoptr(GError) error = NULL;
  g_autofree char *bare_text = NULL;
  g_autofree char *full_text = NULL;
  g_autofree char *kinds_text = NULL;

  assert_vector_is_payload (VECTOR_BARE, bare_payload, sizeof bare_payload - 1);
  assert_vector_is_payload (VECTOR_FULL, full_payload, sizeof full_payload - 1);
  assert_vector_is_payload (VECTOR_KINDS, kinds_payload, sizeof kinds_payload - 1);
  assert_vector_is_payload (VECTOR_UNKNOWN, unknown_payload, sizeof unknown_payload - 1);

  bare_text = foctet_ticket_to_string (bare);
  g_assert_cmpstr (bare_text, ==, VECTOR_BARE);

  g_assert_true (foctet_ticket_add_address (full, FOCTET_ADDRESS_KIND_TLS, "127.0.0.1:4433", &error));
  g_assert_no_error (error);
  g_assert_true (foctet_ticket_add_address (full, FOCTET_ADDRESS_KIND_QUIC, "[::1]:4433", &error));
  g_assert_no_error (error);
  g_assert_true (foctet_ticket_add_app_data (full, 0x80, hi, &error));
  g_assert_no_error (error);
  full_text = foctet_ticket_to_string (full);
  g_assert_cmpstr (full_text, ==, VECTOR_FULL);

  g_assert_true (foctet_ticket_add_address (kinds, FOCTET_ADDRESS_KIND_RELAY, "relay.example.net:443", &error));
  g_assert_true (foctet_ticket_add_address (kinds, FOCTET_ADDRESS_KIND_QUIC, "192.0.2.1:4433", &error));
  g_assert_true (foctet_ticket_add_address (kinds, FOCTET_ADDRESS_KIND_TLS, "[2001:db8::2]:443", &error));
  g_assert_true (foctet_ticket_add_address (kinds, FOCTET_ADDRESS_KIND_QUIC, "node.example:4433", &error));
  g_assert_true (foctet_ticket_add_app_data (kinds, 0x81, empty, &error));
  g_assert_true (foctet_ticket_add_app_data (kinds, 0xff, binary, &error));
  g_assert_no_error (error);
  kinds_text = foctet_ticket_to_string (kinds);
  g_assert_cmpstr (kinds_text, ==, VECTOR_KINDS);
}

static void
assert_addresses (FoctetTicket       *ticket,
                  FoctetAddressKind   kind,
                  const char * const *expected)
{
  g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kind);

  g_assert_nonnull (addresses);
  g_assert_cmpstrv (addresses, expected);
}

static void
assert_app_data (FoctetTicket *ticket,
                 guint8        type,
                 const char   *expected,
                 gsize         expected_len)
{
  g_autoptr(GBytes) value = foctet_ticket_get_app_data (ticket, type);

  if (expected == NULL)
    {
      g_assert_null (value);
      return;
    }
  g_assert_nonnull (value);
  g_assert_cmpmem (g_bytes_get_data (value, NULL), g_bytes_get_size (value), expected, expected_len);
}

static void
test_parse_vectors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) full = NULL;
  g_autoptr(FoctetTicket) kinds = NULL;
  const char * const none[] = { NULL };

  full = foctet_ticket_parse (VECTOR_FULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (full);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (full), id));
  assert_addresses (full, FOCTET_ADDRESS_KIND_TLS, (const char *[]) { "127.0.0.1:4433", NULL });
  assert_addresses (full, FOCTET_ADDRESS_KIND_QUIC, (const char *[]) { "[::1]:4433", NULL });
  assert_addresses (full, FOCTET_ADDRESS_KIND_RELAY, none);
  assert_app_data (full, 0x80, "hi", 2);
  assert_app_data (full, 0x81, NULL, 0);

  kinds = foctet_ticket_parse (VECTOR_KINDS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (kinds);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (kinds), id));
  assert_addresses (kinds, FOCTET_ADDRESS_KIND_QUIC,
                    (const char *[]) { "192.0.2.1:4433", "node.example:4433", NULL });
  assert_addresses (kinds, FOCTET_ADDRESS_KIND_TLS, (const char *[]) { "[2001:db8::2]:443", NULL });
  assert_addresses (kinds, FOCTET_ADDRESS_KIND_RELAY, (const char *[]) { "relay.example.net:443", NULL });
  assert_app_data (kinds, 0x81, "", 0);
  assert_app_data (kinds, 0xff, "\x00\x01\xfe", 3);
  /* Address entries are not application data. */
  assert_app_data (kinds, FOCTET_ADDRESS_KIND_QUIC, NULL, 0);
}

static void
test_no_address (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (VECTOR_BARE, &error);
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetNodeId) property_id = NULL;
  const char * const none[] = { NULL };

  g_assert_no_error (error);
  g_assert_nonnull (ticket);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (ticket), id));
  g_object_get (ticket, "node-id", &property_id, NULL);
  g_assert_true (foctet_node_id_equal (property_id, id));
  assert_addresses (ticket, FOCTET_ADDRESS_KIND_QUIC, none);
  assert_addresses (ticket, FOCTET_ADDRESS_KIND_TLS, none);
  assert_addresses (ticket, FOCTET_ADDRESS_KIND_RELAY, none);
  assert_app_data (ticket, 0x80, NULL, 0);
}

static void
test_upper_case_base32 (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *upper = g_ascii_strup (&VECTOR_FULL[strlen ("foctet")], -1);
  g_autofree char *text = g_strconcat ("foctet", upper, NULL);
  g_autofree char *mixed = g_strdup (VECTOR_FULL);
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) mixed_ticket = NULL;
  g_autofree char *again = NULL;
  g_autofree char *mixed_again = NULL;

  ticket = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  again = foctet_ticket_to_string (ticket);
  g_assert_cmpstr (again, ==, VECTOR_FULL);

  for (gsize i = strlen ("foctet"); mixed[i] != '\0'; i += 2)
    mixed[i] = g_ascii_toupper (mixed[i]);
  mixed_ticket = foctet_ticket_parse (mixed, &error);
  g_assert_no_error (error);
  mixed_again = foctet_ticket_to_string (mixed_ticket);
  g_assert_cmpstr (mixed_again, ==, VECTOR_FULL);
}

/* A payload for tickets the tests break on purpose: version, NodeId and
 * entries appended one by one.  Encoded with foctet's encoder, which the
 * known vectors check. */
static GByteArray *
payload_new (guint8 version)
{
  GByteArray *payload = g_byte_array_new ();

  g_byte_array_append (payload, &version, 1);
  g_byte_array_append (payload, (const guint8 *) NODE_ID_BYTES, FOCTET_NODE_ID_SIZE);
  return payload;
}

static void
payload_add (GByteArray *payload,
             guint8      type,
             const char *value,
             gsize       len)
{
  guint8 header[2] = { type, (guint8) len };

  g_byte_array_append (payload, header, 2);
  g_byte_array_append (payload, (const guint8 *) value, len);
}

static void
payload_add_string (GByteArray *payload,
                    guint8      type,
                    const char *value)
{
  payload_add (payload, type, value, strlen (value));
}

static char *
payload_to_ticket (GByteArray *payload)
{
  g_autofree char *encoded = foctet_base32_encode (payload->data, payload->len);

  return g_strconcat ("foctet", encoded, NULL);
}

static void
test_unknown_entries_skipped (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) built = NULL;
  g_autoptr(GByteArray) payload = payload_new (1);
  g_autofree char *text = NULL;
  g_autofree char *again = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GByteArray) expected_payload = payload_new (1);

  ticket = foctet_ticket_parse (VECTOR_UNKNOWN, &error);
  g_assert_no_error (error);
  assert_addresses (ticket, FOCTET_ADDRESS_KIND_RELAY, (const char *[]) { "relay.example:80", NULL });

  /* Every reserved type, among valid entries of all kinds: the reserved
   * ones are skipped, the others kept in order, and formatting drops the
   * skipped ones. */
  payload_add_string (payload, 0x00, "zero");
  payload_add_string (payload, FOCTET_ADDRESS_KIND_QUIC, "192.0.2.1:1");
  payload_add (payload, 0x04, "\xff\x00\x01", 3);
  payload_add_string (payload, FOCTET_ADDRESS_KIND_TLS, "[::1]:2");
  payload_add_string (payload, 0x7f, "not an address");
  payload_add_string (payload, 0x90, "app");
  payload_add (payload, 0x05, "", 0);
  payload_add_string (payload, FOCTET_ADDRESS_KIND_QUIC, "example.org:3");
  text = payload_to_ticket (payload);

  built = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (built);
  assert_addresses (built, FOCTET_ADDRESS_KIND_QUIC, (const char *[]) { "192.0.2.1:1", "example.org:3", NULL });
  assert_addresses (built, FOCTET_ADDRESS_KIND_TLS, (const char *[]) { "[::1]:2", NULL });
  assert_app_data (built, 0x90, "app", 3);
  assert_app_data (built, 0x7f, NULL, 0);

  payload_add_string (expected_payload, FOCTET_ADDRESS_KIND_QUIC, "192.0.2.1:1");
  payload_add_string (expected_payload, FOCTET_ADDRESS_KIND_TLS, "[::1]:2");
  payload_add_string (expected_payload, 0x90, "app");
  payload_add_string (expected_payload, FOCTET_ADDRESS_KIND_QUIC, "example.org:3");
  expected = payload_to_ticket (expected_payload);
  again = foctet_ticket_to_string (built);
  g_assert_cmpstr (again, ==, expected);
}

static void
test_round_trip (void)
{
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (id);
  g_autoptr(FoctetTicket) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *again = NULL;
  g_autofree char *longest = NULL;
  const char *quic[] = {
    "192.0.2.7:1", "[2001:db8::1]:65535", "node-1.example.org:4433", "localhost:9", "[fe80::1]:443",
    NULL, NULL,
  };
  const char *tls[] = { "10.0.0.1:443", "[::ffff:192.0.2.1]:8443", "A-Host.Example.COM:80", NULL };
  const char *relay[] = { "relay.example:443", "[::]:1", NULL };
  guint8 big[255];
  g_autoptr(GBytes) big_value = NULL;
  g_autoptr(GBytes) first = g_bytes_new_static ("first", 5);
  g_autoptr(GBytes) second = g_bytes_new_static ("second", 6);

  /* The longest address an entry holds: 249 characters of hostname in
   * labels of at most 63, and ":65535". */
  longest = hostname_of_labels ((const guint[]) { 63, 63, 63, 57 }, 4, ":65535");
  g_assert_cmpuint (strlen (longest), ==, 255);
  quic[5] = longest;

  /* Interleave the kinds: the order within each kind is kept. */
  for (guint i = 0; quic[i] != NULL; i++)
    {
      g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, quic[i], &error));
      g_assert_no_error (error);
      if (i < 3)
        g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, tls[i], &error));
      if (i < 2)
        g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, relay[i], &error));
      g_assert_no_error (error);
    }
  memset (big, 0xab, sizeof big);
  big_value = g_bytes_new (big, sizeof big);
  g_assert_true (foctet_ticket_add_app_data (ticket, 0xff, big_value, &error));
  g_assert_true (foctet_ticket_add_app_data (ticket, 0x80, first, &error));
  g_assert_true (foctet_ticket_add_app_data (ticket, 0x80, second, &error));
  g_assert_no_error (error);

  text = foctet_ticket_to_string (ticket);
  g_assert_true (g_str_has_prefix (text, "foctet"));
  for (const char *p = text; *p != '\0'; p++)
    g_assert_true (g_ascii_islower (*p) || (*p >= '2' && *p <= '7'));

  parsed = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (parsed), id));
  assert_addresses (parsed, FOCTET_ADDRESS_KIND_QUIC, quic);
  assert_addresses (parsed, FOCTET_ADDRESS_KIND_TLS, tls);
  assert_addresses (parsed, FOCTET_ADDRESS_KIND_RELAY, relay);
  assert_app_data (parsed, 0xff, (const char *) big, sizeof big);
  assert_app_data (parsed, 0x80, "first", 5);
  again = foctet_ticket_to_string (parsed);
  g_assert_cmpstr (again, ==, text);
}

/* Every rejection says which, in a message that prints on one line. */
static void
expect_invalid (const char *text,
                const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (text, &error);

  g_assert_null (ticket);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_null (strchr (error->message, '\n'));
  if (strstr (error->message, words) == NULL)
    g_error ("“%s”: message “%s” does not say “%s”", text, error->message, words);
  g_test_message ("%s", error->message);
}

static void
expect_invalid_payload (GByteArray *payload,
                        const char *words)
{
  g_autofree char *text = payload_to_ticket (payload);

  expect_invalid (text, words);
}

static void
test_invalid_text (void)
{
  g_autofree char *bad_trailing_bits = g_strdup (VECTOR_BARE);

  /* Prefix */
  expect_invalid ("", "starts with the prefix “foctet”");
  expect_invalid ("ticket" VECTOR_BARE, "starts with the prefix “foctet”");
  expect_invalid ("focte", "starts with the prefix “foctet”");
  expect_invalid (" " VECTOR_BARE, "starts with the prefix “foctet”");
  expect_invalid ("FOCTETaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "lower-case “foctet”, not “FOCTET”");
  expect_invalid ("Foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "lower-case");

  /* Base32: the character and its position after the prefix. */
  expect_invalid ("foctetaeaacaqdaqcqmby1be", "bad base32");
  expect_invalid ("foctetaeaacaqdaqcqmby1be", "“1” at position 16");
  expect_invalid ("foctetaeaacaqdaqcqmby=be", "“=” at position 16");
  expect_invalid ("foctetaeaacaqdaqcqmbyib\n", "0x0a at position 18");
  expect_invalid (VECTOR_BARE "\xc3\xa9", "0xc3 at position");
  expect_invalid ("foctetaeaacaqdaqcqmbyibef", "cannot encode whole bytes");
  bad_trailing_bits[strlen (bad_trailing_bits) - 1] = '7';
  expect_invalid (bad_trailing_bits, "not canonical");

  /* Too short for version and NodeId */
  expect_invalid ("foctet", "too short: 0 bytes");
  expect_invalid ("foctetaeaacaqdaqcqmbyibe", "too short: 11 bytes");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupa", "too short: 32 bytes");

  /* Version: the one it has is named, even when the rest is short. */
  expect_invalid ("foctetaiaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "version 2 is not supported");
  expect_invalid ("foctetai", "version 2");
  expect_invalid ("foctetaaaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "version 0");
  expect_invalid ("foctet74aacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "version 255");
}

static void
test_invalid_entries (void)
{
  g_autoptr(GByteArray) header = payload_new (1);
  g_autoptr(GByteArray) header_later = payload_new (1);
  g_autoptr(GByteArray) past_end = payload_new (1);
  g_autoptr(GByteArray) past_end_reserved = payload_new (1);
  g_autoptr(GByteArray) past_end_app = payload_new (1);
  g_autoptr(GByteArray) cut = g_byte_array_new ();
  guint8 type_only = FOCTET_ADDRESS_KIND_QUIC;

  /* Entry header cut after its type byte, as the first and as a later entry. */
  g_byte_array_append (header, &type_only, 1);
  expect_invalid_payload (header, "truncated entry header at byte 33");
  payload_add_string (header_later, FOCTET_ADDRESS_KIND_TLS, "10.0.0.1:1");
  g_byte_array_append (header_later, &type_only, 1);
  expect_invalid_payload (header_later, "truncated entry header at byte 45");

  /* Lengths running past the end, for every sort of entry. */
  payload_add_string (past_end, FOCTET_ADDRESS_KIND_QUIC, "127.0.0.1:1");
  past_end->data[34] = 20;
  expect_invalid_payload (past_end, "has length 20, running past the end: only 11 bytes remain");
  payload_add_string (past_end_reserved, 0x7f, "x");
  past_end_reserved->data[34] = 2;
  expect_invalid_payload (past_end_reserved, "running past the end");
  payload_add_string (past_end_app, 0xff, "");
  past_end_app->data[34] = 255;
  expect_invalid_payload (past_end_app, "entry 1 (type 255) at byte 33 has length 255");
  /* The full vector, cut short inside its last entry. */
  g_byte_array_append (cut, (const guint8 *) full_payload, sizeof full_payload - 2);
  expect_invalid_payload (cut, "entry 3 (type 128) at byte 61 has length 2, running past the end: only 1 bytes remain");
}

typedef struct {
  const char *value;
  gsize len;       /* 0: strlen (value) */
  const char *words;
} BadAddress;

static void
test_invalid_addresses (void)
{
  const BadAddress bad[] = {
    { "127.0.0.1", 0, "missing “:port”" },
    { "", 0, "missing “:port”" },
    { "127.0.0.1:", 0, "missing port number" },
    { "127.0.0.1:0", 0, "port 0 is out of range (1 to 65535)" },
    { "127.0.0.1:65536", 0, "port 65536 is out of range (1 to 65535)" },
    { "127.0.0.1:99999999999999999999999", 0, "out of range (1 to 65535)" },
    { "127.0.0.1:http", 0, "port “http” is not a decimal number" },
    { "127.0.0.1:+80", 0, "not a decimal number" },
    { "127.0.0.1: 80", 0, "not a decimal number" },
    { ":80", 0, "empty host" },
    { "::1:80", 0, "in brackets" },
    { "2001:db8::1:443", 0, "in brackets" },
    { "[::1:80", 0, "without a closing “]”" },
    { "[]:80", 0, "in brackets is not an IPv6 address" },
    { "[127.0.0.1]:80", 0, "in brackets is not an IPv6 address" },
    { "[::1]80", 0, "missing “:port” after the IPv6 address" },
    { "[::1]", 0, "missing “:port” after the IPv6 address" },
    { "256.0.0.1:80", 0, "not an IPv4 address" },
    { "1.2.3:80", 0, "not an IPv4 address" },
    { "1234:80", 0, "not an IPv4 address" },
    { "under_score.example:80", 0, "“_” at position 6 is not allowed" },
    { "host name:80", 0, "byte 0x20 at position 5" },
    { "h\xc3\xa9te:80", 0, "byte 0xc3 at position 2" },
    { "line\nbreak:80", 0, "byte 0x0a" },
    { "-host:80", 0, "label “-host” starts with a hyphen" },
    { "host-.example:80", 0, "label “host-” ends with a hyphen" },
    { "a..b:80", 0, "empty label" },
    { ".example:80", 0, "empty label" },
    { "example.:80", 0, "empty label" },
    { "127.0.0.1\0:80", 13, "NUL byte (at position 10)" },
    { "\0", 1, "NUL byte (at position 1)" },
  };
  g_autofree char *long_label = hostname_of_labels ((const guint[]) { 64 }, 1, ".example:80");

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GByteArray) payload = payload_new (1);

      payload_add (payload, FOCTET_ADDRESS_KIND_QUIC, bad[i].value,
                   bad[i].len != 0 ? bad[i].len : strlen (bad[i].value));
      expect_invalid_payload (payload, bad[i].words);
      expect_invalid_payload (payload, "entry 1 (quic address) at byte 33");
    }

  {
    g_autoptr(GByteArray) payload = payload_new (1);

    payload_add_string (payload, FOCTET_ADDRESS_KIND_QUIC, long_label);
    expect_invalid_payload (payload, "a label is 64 characters long; the most is 63");
  }
  /* Each kind is checked, and the entry is named by its number. */
  {
    g_autoptr(GByteArray) tls = payload_new (1);
    g_autoptr(GByteArray) relay = payload_new (1);

    payload_add_string (tls, FOCTET_ADDRESS_KIND_QUIC, "192.0.2.1:1");
    payload_add_string (tls, 0x42, "skipped");
    payload_add_string (tls, FOCTET_ADDRESS_KIND_TLS, "192.0.2.1:0");
    expect_invalid_payload (tls, "entry 3 (tls address) at byte 55");
    payload_add_string (relay, FOCTET_ADDRESS_KIND_RELAY, "relay.example");
    expect_invalid_payload (relay, "entry 1 (relay address)");
    expect_invalid_payload (relay, "missing “:port”");
  }
}

static void
expect_host_port (const char *text,
                  const char *host,
                  guint16     port)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *parsed_host = NULL;
  guint16 parsed_port = 0;

  if (!foctet_parse_host_port (text, &parsed_host, &parsed_port, &error))
    g_error ("“%s” refused: %s", text, error->message);
  g_assert_no_error (error);
  g_assert_cmpstr (parsed_host, ==, host);
  g_assert_cmpuint (parsed_port, ==, port);
  /* Both out arguments are optional. */
  g_assert_true (foctet_parse_host_port (text, NULL, NULL, NULL));
}

static void
expect_bad_host_port (const char *text,
                      const char *words)
{
  g_autoptr(GError) error = NULL;
  char *host = NULL;
  guint16 port = 7;

  g_assert_false (foctet_parse_host_port (text, &host, &port, &error));
  g_assert_null (host);
  g_assert_cmpuint (port, ==, 7);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_null (strchr (error->message, '\n'));
  if (strstr (error->message, words) == NULL)
    g_error ("“%s”: message “%s” does not say “%s”", text, error->message, words);
}

static void
test_host_port (void)
{
  g_autofree char *longest_label = hostname_of_labels ((const guint[]) { 63 }, 1, ".example:1");
  g_autofree char *longest_label_host = hostname_of_labels ((const guint[]) { 63 }, 1, ".example");
  g_autofree char *longest_name = hostname_of_labels ((const guint[]) { 63, 63, 63, 61 }, 4, ":1");
  g_autofree char *longest_name_host = hostname_of_labels ((const guint[]) { 63, 63, 63, 61 }, 4, "");
  g_autofree char *too_long_name = hostname_of_labels ((const guint[]) { 63, 63, 63, 62 }, 4, ":1");

  expect_host_port ("127.0.0.1:4433", "127.0.0.1", 4433);
  expect_host_port ("255.255.255.255:65535", "255.255.255.255", 65535);
  expect_host_port ("0.0.0.0:0", "0.0.0.0", 0);
  expect_host_port ("[::]:0", "::", 0);
  expect_host_port ("[2001:db8::7]:65535", "2001:db8::7", 65535);
  expect_host_port ("[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", 80);
  expect_host_port ("Example-Host.example.COM:80", "Example-Host.example.COM", 80);
  expect_host_port ("localhost:1", "localhost", 1);
  expect_host_port ("x:00080", "x", 80);
  expect_host_port ("3com.example:9", "3com.example", 9);
  expect_host_port (longest_label, longest_label_host, 1);
  expect_host_port (longest_name, longest_name_host, 1);

  expect_bad_host_port ("127.0.0.1", "missing “:port”");
  expect_bad_host_port ("127.0.0.1:", "missing port number");
  expect_bad_host_port (":80", "empty host");
  expect_bad_host_port ("", "missing “:port”");
  expect_bad_host_port ("host:http", "not a decimal number");
  expect_bad_host_port ("host:-1", "not a decimal number");
  expect_bad_host_port ("host:65536", "port 65536 is out of range (0 to 65535)");
  expect_bad_host_port ("host:99999999999999999999", "out of range");
  expect_bad_host_port ("[::1:80", "without a closing “]”");
  expect_bad_host_port ("[1.2.3.4]:80", "not an IPv6 address");
  expect_bad_host_port ("[::1]80", "missing “:port”");
  expect_bad_host_port ("[::1]:80]", "not a decimal number");
  expect_bad_host_port ("::1:80", "in brackets");
  expect_bad_host_port ("1.2.3:80", "not an IPv4 address");
  expect_bad_host_port ("01.2.3.4:80", "not an IPv4 address");
  expect_bad_host_port ("-host:80", "not a valid hostname");
  expect_bad_host_port ("host-:80", "ends with a hyphen");
  expect_bad_host_port ("a..b:80", "empty label");
  expect_bad_host_port ("under_score:80", "“_” at position 6");
  expect_bad_host_port ("tab\there:80", "byte 0x09 at position 4");
  expect_bad_host_port (too_long_name, "254 characters long; the most is 253");
  /* Escaped in the message, which stays one line of UTF-8 */
  expect_bad_host_port ("bad\n\xff:80", "\\n\\377");
}

/* The length-bounded form plugins use for addresses inside their own
 * messages: exactly the bytes given, the port range of their choice. */
static void
test_host_port_len (void)
{
  static const char buffer[] = "192.0.2.1:4433trailing";
  static const char with_nul[] = { 'h', ':', '1', '\0', '2' };
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  guint16 port = 0;

  g_assert_true (foctet_parse_host_port_len (buffer, 14, FALSE, &host, &port, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (host, ==, "192.0.2.1");
  g_assert_cmpuint (port, ==, 4433);
  g_assert_false (foctet_parse_host_port_len (buffer, sizeof buffer - 1, FALSE, NULL, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "port “4433trailing” is not a decimal number"));
  g_clear_error (&error);

  g_assert_true (foctet_parse_host_port_len ("[::]:0", 6, TRUE, NULL, &port, NULL));
  g_assert_cmpuint (port, ==, 0);
  g_assert_false (foctet_parse_host_port_len ("[::]:0", 6, FALSE, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "port 0 is out of range (1 to 65535)"));
  g_clear_error (&error);
  g_assert_false (foctet_parse_host_port_len ("h:65536", 7, FALSE, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "port 65536 is out of range (1 to 65535)"));
  g_clear_error (&error);

  g_assert_false (foctet_parse_host_port_len (with_nul, sizeof with_nul, FALSE, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "Address contains a NUL byte (at position 4)"));
  g_clear_error (&error);
  g_assert_false (foctet_parse_host_port_len ("", 0, FALSE, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "missing “:port”"));
}

static void
test_add_errors (void)
{
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (id);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) small = g_bytes_new_static ("x", 1);
  g_autoptr(GBytes) huge = g_bytes_new_take (g_malloc0 (256), 256);
  g_autofree char *long_address = NULL;
  g_autofree char *text = NULL;

  /* 256 bytes, hostname otherwise valid */
  long_address = hostname_of_labels ((const guint[]) { 63, 63, 63, 58 }, 4, ":65535");
  g_assert_cmpuint (strlen (long_address), ==, 256);

  g_assert_false (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, "127.0.0.1:0", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "1 to 65535"));
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, "::1:80", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "in brackets"));
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, long_address, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "256 bytes long; a ticket entry holds at most 255"));
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_address (ticket, (FoctetAddressKind) 4, "127.0.0.1:1", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not an address kind"));
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_app_data (ticket, 0x7f, small, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "0x7f is not an application data type"));
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_app_data (ticket, FOCTET_ADDRESS_KIND_QUIC, small, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_app_data (ticket, 0x80, huge, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "256 bytes long"));
  g_clear_error (&error);

  /* Refused additions leave the ticket as it was. */
  text = foctet_ticket_to_string (ticket);
  g_assert_cmpstr (text, ==, VECTOR_BARE);
}

/* The addresses of every kind as "transport/host:port", QUIC then TLS then
 * relay whatever the entries' order, and whether a kind has any. */
static void
test_uris (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) bare = foctet_ticket_parse (VECTOR_BARE, &error);
  g_autoptr(FoctetTicket) full = foctet_ticket_parse (VECTOR_FULL, &error);
  g_autoptr(FoctetTicket) kinds = foctet_ticket_parse (VECTOR_KINDS, &error);
  g_auto(GStrv) bare_uris = NULL;
  g_auto(GStrv) full_uris = NULL;
  g_auto(GStrv) kinds_uris = NULL;
  const char * const none[] = { NULL };

  g_assert_no_error (error);

  bare_uris = foctet_ticket_get_uris (bare);
  g_assert_nonnull (bare_uris);
  g_assert_cmpstrv (bare_uris, none);
  g_assert_false (foctet_ticket_has_address (bare, FOCTET_ADDRESS_KIND_QUIC));
  g_assert_false (foctet_ticket_has_address (bare, FOCTET_ADDRESS_KIND_TLS));
  g_assert_false (foctet_ticket_has_address (bare, FOCTET_ADDRESS_KIND_RELAY));

  /* TLS first in the ticket, QUIC first in the list. */
  full_uris = foctet_ticket_get_uris (full);
  g_assert_cmpstrv (full_uris, ((const char * const []) { "quic/[::1]:4433", "tls/127.0.0.1:4433", NULL }));
  g_assert_true (foctet_ticket_has_address (full, FOCTET_ADDRESS_KIND_QUIC));
  g_assert_true (foctet_ticket_has_address (full, FOCTET_ADDRESS_KIND_TLS));
  g_assert_false (foctet_ticket_has_address (full, FOCTET_ADDRESS_KIND_RELAY));
  /* Application data (type 0x80 here) is no address. */
  g_assert_false (foctet_ticket_has_address (full, (FoctetAddressKind) 0x80));
  g_assert_false (foctet_ticket_has_address (full, (FoctetAddressKind) 0));

  /* The relay first and the two QUIC addresses apart in the ticket. */
  kinds_uris = foctet_ticket_get_uris (kinds);
  g_assert_cmpstrv (kinds_uris, ((const char * const []) { "quic/192.0.2.1:4433", "quic/node.example:4433",
                                                            "tls/[2001:db8::2]:443",
                                                            "relay/relay.example.net:443", NULL }));
  g_assert_true (foctet_ticket_has_address (kinds, FOCTET_ADDRESS_KIND_QUIC));
  g_assert_true (foctet_ticket_has_address (kinds, FOCTET_ADDRESS_KIND_TLS));
  g_assert_true (foctet_ticket_has_address (kinds, FOCTET_ADDRESS_KIND_RELAY));
}

static void
test_transport_names (void)
{
  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_QUIC), ==, "quic");
  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_TLS), ==, "tls");
  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_RELAY), ==, "relay");
  g_assert_null (foctet_address_kind_to_transport ((FoctetAddressKind) 0));
  g_assert_null (foctet_address_kind_to_transport ((FoctetAddressKind) 0x80));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ticket/format-vectors", test_format_vectors);
  g_test_add_func ("/ticket/parse-vectors", test_parse_vectors);
  g_test_add_func ("/ticket/no-address", test_no_address);
  g_test_add_func ("/ticket/upper-case-base32", test_upper_case_base32);
  g_test_add_func ("/ticket/unknown-entries-skipped", test_unknown_entries_skipped);
  g_test_add_func ("/ticket/round-trip", test_round_trip);
  g_test_add_func ("/ticket/invalid/text", test_invalid_text);
  g_test_add_func ("/ticket/invalid/entries", test_invalid_entries);
  g_test_add_func ("/ticket/invalid/addresses", test_invalid_addresses);
  g_test_add_func ("/ticket/host-port", test_host_port);
  g_test_add_func ("/ticket/host-port-len", test_host_port_len);
  g_test_add_func ("/ticket/add-errors", test_add_errors);
  g_test_add_func ("/ticket/transport-names", test_transport_names);
  g_test_add_func ("/ticket/uris", test_uris);

  return g_test_run ();
}

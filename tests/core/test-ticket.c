/* test-ticket.c: tickets (PROTOCOL §6) and the host:port parser.  The
 * vectors were built byte by byte and base32-encoded independently.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-ticket.h"
#include "foctet-error.h"

/* NodeId bytes 0, 1, ..., 31; TLS 127.0.0.1:4433, QUIC [::1]:4433, app data 0x80 "hi". */
#define VECTOR_FULL "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqogezdolrqfyyc4mj2gq2dgmybbjntuorrlu5dinbtgoaae2dj"
#define VECTOR_BARE "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6"
/* Entries of reserved types 4 and 0x7f before a relay entry. */
#define VECTOR_UNKNOWN "foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6badmfrgg7yaamihezlmmf4s4zlymfwxa3dfhi4da"

static FoctetNodeId *
vector_node_id (void)
{
  guint8 key[FOCTET_NODE_ID_SIZE];

  for (guint i = 0; i < sizeof key; i++)
    key[i] = i;
  return foctet_node_id_new_from_data (key, sizeof key, NULL);
}

static void
test_format_vector (void)
{
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (id);
  g_autoptr(FoctetTicket) bare = foctet_ticket_new (id);
  g_autoptr(GBytes) hi = g_bytes_new_static ("hi", 2);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *bare_text = NULL;

  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, "127.0.0.1:4433", &error));
  g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, "[::1]:4433", &error));
  g_assert_true (foctet_ticket_add_app_data (ticket, 0x80, hi, &error));
  g_assert_no_error (error);
  text = foctet_ticket_to_string (ticket);
  g_assert_cmpstr (text, ==, VECTOR_FULL);

  bare_text = foctet_ticket_to_string (bare);
  g_assert_cmpstr (bare_text, ==, VECTOR_BARE);
}

static void
test_parse_vector (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (VECTOR_FULL, &error);
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_auto(GStrv) tls = NULL;
  g_auto(GStrv) quic = NULL;
  g_auto(GStrv) relay = NULL;
  g_autoptr(GBytes) app = NULL;
  g_autoptr(GBytes) none = NULL;

  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_ticket_get_node_id (ticket), id));
  tls = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_TLS);
  quic = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_QUIC);
  relay = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_RELAY);
  g_assert_cmpuint (g_strv_length (tls), ==, 1);
  g_assert_cmpstr (tls[0], ==, "127.0.0.1:4433");
  g_assert_cmpuint (g_strv_length (quic), ==, 1);
  g_assert_cmpstr (quic[0], ==, "[::1]:4433");
  g_assert_cmpuint (g_strv_length (relay), ==, 0);
  app = foctet_ticket_get_app_data (ticket, 0x80);
  g_assert_cmpmem (g_bytes_get_data (app, NULL), g_bytes_get_size (app), "hi", 2);
  none = foctet_ticket_get_app_data (ticket, 0x81);
  g_assert_null (none);
}

static void
test_upper_case_base32 (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *upper = g_ascii_strup (VECTOR_FULL + strlen ("foctet"), -1);
  g_autofree char *text = g_strconcat ("foctet", upper, NULL);
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (text, &error);
  g_autofree char *again = NULL;

  g_assert_no_error (error);
  again = foctet_ticket_to_string (ticket);
  g_assert_cmpstr (again, ==, VECTOR_FULL);
}

static void
test_unknown_entries_skipped (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (VECTOR_UNKNOWN, &error);
  g_auto(GStrv) relay = NULL;

  g_assert_no_error (error);
  relay = foctet_ticket_get_addresses (ticket, FOCTET_ADDRESS_KIND_RELAY);
  g_assert_cmpuint (g_strv_length (relay), ==, 1);
  g_assert_cmpstr (relay[0], ==, "relay.example:80");
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
  g_auto(GStrv) quic = NULL;
  const char *addresses[] = {
    "192.0.2.7:1", "[2001:db8::1]:65535", "node-1.example.org:4433", "localhost:9", "[fe80::1]:443",
  };
  guint8 big[255];

  for (guint i = 0; i < G_N_ELEMENTS (addresses); i++)
    {
      g_assert_true (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_QUIC, addresses[i], &error));
      g_assert_no_error (error);
    }
  memset (big, 0xab, sizeof big);
  {
    g_autoptr(GBytes) value = g_bytes_new (big, sizeof big);
    g_assert_true (foctet_ticket_add_app_data (ticket, 0xff, value, &error));
  }
  text = foctet_ticket_to_string (ticket);
  g_assert_true (g_str_has_prefix (text, "foctet"));
  for (const char *p = text; *p != '\0'; p++)
    g_assert_true (g_ascii_islower (*p) || (*p >= '2' && *p <= '7'));

  parsed = foctet_ticket_parse (text, &error);
  g_assert_no_error (error);
  quic = foctet_ticket_get_addresses (parsed, FOCTET_ADDRESS_KIND_QUIC);
  g_assert_cmpuint (g_strv_length (quic), ==, G_N_ELEMENTS (addresses));
  for (guint i = 0; i < G_N_ELEMENTS (addresses); i++)
    g_assert_cmpstr (quic[i], ==, addresses[i]);
  again = foctet_ticket_to_string (parsed);
  g_assert_cmpstr (again, ==, text);
}

static void
expect_invalid (const char *text,
                const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTicket) ticket = foctet_ticket_parse (text, &error);

  g_assert_null (ticket);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s”: message “%s” does not say “%s”", text, error->message, words);
}

static void
test_invalid (void)
{
  expect_invalid ("", "must start with");
  expect_invalid ("FOCTETaeaacaqdaqcqmbyibe", "must start with");
  expect_invalid ("ticketaeaacaqdaqcqmbyibe", "must start with");
  expect_invalid ("foctet", "empty");
  expect_invalid ("foctetaeaacaqdaqcqmby1be", "“1” at position 16");
  expect_invalid ("foctetaeaacaqdaqcqmbyibef", "cannot encode whole bytes");
  /* Version 2 */
  expect_invalid ("foctetaiaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6", "version 2");
  /* Version 1, 10 bytes of NodeId */
  expect_invalid ("foctetaeaacaqdaqcqmbyibe", "too short");
  /* Entry header cut after its type byte */
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aq", "truncated entry header at byte 33");
  /* Length 20, 11 bytes left */
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqugezdolrqfyyc4mj2ge", "says 20 bytes");
  /* Malformed addresses */
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqjgezdolrqfyyc4mi", "missing “:port”");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6ailgezdolrqfyyc4mj2ga", "port must be 1 to 65535");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aipgezdolrqfyyc4mj2gy2tkmzw", "port must be 1 to 65535");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aiihi5dcorugqztg", "in brackets");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aylmjqwix3in5zxioryga", "relay address in entry 1");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqkmeageltdn5wtuobq", "NUL");
  expect_invalid ("foctetaeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aqohe4tslrqfyyc4mj2gq2dgmy", "not an IPv4 address");
}

static void
expect_host_port (const char *text,
                  const char *host,
                  guint16     port)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *parsed_host = NULL;
  guint16 parsed_port = 0;

  g_assert_true (foctet_parse_host_port (text, &parsed_host, &parsed_port, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (parsed_host, ==, host);
  g_assert_cmpuint (parsed_port, ==, port);
}

static void
expect_bad_host_port (const char *text,
                      const char *words)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (foctet_parse_host_port (text, NULL, NULL, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s”: message “%s” does not say “%s”", text, error->message, words);
}

static void
test_host_port (void)
{
  expect_host_port ("127.0.0.1:4433", "127.0.0.1", 4433);
  expect_host_port ("0.0.0.0:0", "0.0.0.0", 0);
  expect_host_port ("[::]:0", "::", 0);
  expect_host_port ("[2001:db8::7]:65535", "2001:db8::7", 65535);
  expect_host_port ("Example-Host.example.COM:80", "Example-Host.example.COM", 80);

  expect_bad_host_port ("127.0.0.1", "missing “:port”");
  expect_bad_host_port ("127.0.0.1:", "missing port");
  expect_bad_host_port (":80", "empty host");
  expect_bad_host_port ("host:http", "not a decimal number");
  expect_bad_host_port ("host:-1", "not a decimal number");
  expect_bad_host_port ("host:99999999999999999999", "1 to 65535");
  expect_bad_host_port ("[::1:80", "without “]”");
  expect_bad_host_port ("[1.2.3.4]:80", "not an IPv6 address");
  expect_bad_host_port ("[::1]80", "missing “:port”");
  expect_bad_host_port ("1.2.3:80", "not an IPv4 address");
  expect_bad_host_port ("-host:80", "not a valid hostname");
  expect_bad_host_port ("host-:80", "not a valid hostname");
  expect_bad_host_port ("a..b:80", "not a valid hostname");
  expect_bad_host_port ("under_score:80", "not a valid hostname");
}

static void
test_add_errors (void)
{
  g_autoptr(FoctetNodeId) id = vector_node_id ();
  g_autoptr(FoctetTicket) ticket = foctet_ticket_new (id);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) small = g_bytes_new_static ("x", 1);
  g_autoptr(GBytes) huge = g_bytes_new_take (g_malloc0 (256), 256);
  g_autofree char *long_host = g_strnfill (250, 'a');
  g_autofree char *long_address = g_strconcat (long_host, ".b:1", NULL);

  g_assert_false (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, "127.0.0.1:0", &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, long_address, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_app_data (ticket, 0x7f, small, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (foctet_ticket_add_app_data (ticket, 0x80, huge, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_QUIC), ==, "quic");
  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_TLS), ==, "tls");
  g_assert_cmpstr (foctet_address_kind_to_transport (FOCTET_ADDRESS_KIND_RELAY), ==, "relay");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ticket/format-vector", test_format_vector);
  g_test_add_func ("/ticket/parse-vector", test_parse_vector);
  g_test_add_func ("/ticket/upper-case-base32", test_upper_case_base32);
  g_test_add_func ("/ticket/unknown-entries-skipped", test_unknown_entries_skipped);
  g_test_add_func ("/ticket/round-trip", test_round_trip);
  g_test_add_func ("/ticket/invalid", test_invalid);
  g_test_add_func ("/ticket/host-port", test_host_port);
  g_test_add_func ("/ticket/add-errors", test_add_errors);

  return g_test_run ();
}

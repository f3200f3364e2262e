/* test-dns-message.c: the DNS message codec of the mdns discovery plugin
 * (plugins/discovery-mdns/foctet-dns-message.c, compiled in): real
 * packets avahi-daemon 0.8 sent, what we build, and malformed packets —
 * compression loops and forward pointers, lengths past the end, absurd
 * counts — refused with an error that says where.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-dns-message.h"

/* Captured with tcpdump on a veth pair between two namespaces while
 * avahi-daemon 0.8 (host name "captest", address 10.99.0.1 and
 * fe80::dc61:82ff:fea4:7a01) ran in one of them and
 * `avahi-publish -s "Foctet Test" _foctet._udp 4433 v=1 id=abc`
 * published a service; UDP payloads, as hex. */

/* The host name's probe over IPv4: three ANY questions and the four
 * records it means to claim in the authority section. */
static const char avahi_probe[] =
  "0000000000030000000400000131013001610137013401610165016601660166013201380131"
  "0136016301640130013001300130013001300130013001300130013001300130013801650166"
  "0369703604617270610000ff00010763617074657374056c6f63616c0000ff00010131013002"
  "393902313007696e2d61646472c05000ff0001c05a000100010000007800040a630001c06d00"
  "0c0001000000780002c05ac05a001c0001000000780010fe80000000000000dc6182fffea47a"
  "01c00c000c0001000000780002c05a";

/* The service's announcement over IPv4: TXT, PTR, SRV, AAAA, A and the
 * service-type enumeration PTR. */
static const char avahi_announce[] =
  "0000840000000006000000000b466f637465742054657374075f666f63746574045f75647005"
  "6c6f63616c000010800100001194000b03763d310669643d616263c018000c00010000119400"
  "02c00cc00c002180010000007800100000000011510763617074657374c025c061001c800100"
  "0000780010fe80000000000000dc6182fffea47a01c061000180010000007800040a63000109"
  "5f7365727669636573075f646e732d7364c020000c0001000011940002c018";

/* avahi-browse's query for the service type, with the PTR it already
 * knows as a known answer (RFC 6762 §7.1). */
static const char avahi_browse[] =
  "000000000001000100000000075f666f63746574045f756470056c6f63616c00000c0001c00c"
  "000c000100001194000e0b466f637465742054657374c00c";

/* avahi-publish exiting: goodbyes (ttl 0) for the PTRs, SRV and TXT; the
 * host's addresses stay. */
static const char avahi_goodbye[] =
  "000084000000000600000000095f7365727669636573075f646e732d7364045f756470056c6f"
  "63616c00000c000100000000000a075f666f63746574c01ec034000c000100000000000e0b46"
  "6f637465742054657374c034c04a002180010000000000100000000011510763617074657374"
  "c023c06a001c8001000000780010fe80000000000000dc6182fffea47a01c06a000180010000"
  "007800040a630001c04a0010800100000000000b03763d310669643d616263";

static GBytes *
from_hex (const char *hex)
{
  gsize n = strlen (hex) / 2;
  guint8 *data = g_malloc (n);

  g_assert_cmpuint (strlen (hex) % 2, ==, 0);
  for (gsize i = 0; i < n; i++)
    data[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) * 16 + g_ascii_xdigit_value (hex[2 * i + 1]));
  return g_bytes_new_take (data, n);
}

static char *
to_hex (GBytes *bytes)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  GString *hex = g_string_new (NULL);

  for (gsize i = 0; i < size; i++)
    g_string_append_printf (hex, "%02x", data[i]);
  return g_string_free (hex, FALSE);
}

static FoctetDnsMessage *
parse_hex (const char *hex)
{
  g_autoptr(GBytes) bytes = from_hex (hex);
  g_autoptr(GError) error = NULL;
  FoctetDnsMessage *message;

  message = foctet_dns_message_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  g_assert_nonnull (message);
  return message;
}

static FoctetDnsRecord *
record_at (FoctetDnsMessage *message,
           FoctetDnsSection  section,
           guint             i)
{
  g_assert_cmpuint (i, <, message->sections[section]->len);
  return g_ptr_array_index (message->sections[section], i);
}

static void
assert_address (const FoctetDnsRecord *record,
                const char            *expected)
{
  g_autoptr(GInetAddress) address = foctet_dns_record_get_address (record);
  g_autofree char *text = NULL;

  g_assert_nonnull (address);
  text = g_inet_address_to_string (address);
  g_assert_cmpstr (text, ==, expected);
}

/* build (parse (x)) parses back to the same message, and building that
 * again gives the same bytes. */
static void
assert_round_trip (FoctetDnsMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) built = foctet_dns_message_build (message, &error);
  g_autoptr(FoctetDnsMessage) again = NULL;
  g_autoptr(GBytes) rebuilt = NULL;

  g_assert_no_error (error);
  again = foctet_dns_message_parse (g_bytes_get_data (built, NULL), g_bytes_get_size (built), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->id, ==, message->id);
  g_assert_cmpuint (again->flags, ==, message->flags);
  g_assert_cmpuint (again->questions->len, ==, message->questions->len);
  for (guint i = 0; i < message->questions->len; i++)
    {
      FoctetDnsQuestion *a = g_ptr_array_index (message->questions, i);
      FoctetDnsQuestion *b = g_ptr_array_index (again->questions, i);

      g_assert_cmpstr (a->name, ==, b->name);
      g_assert_cmpuint (a->type, ==, b->type);
      g_assert_cmpuint (a->klass, ==, b->klass);
      g_assert_cmpint (a->unicast_response, ==, b->unicast_response);
    }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    {
      g_assert_cmpuint (again->sections[s]->len, ==, message->sections[s]->len);
      for (guint i = 0; i < message->sections[s]->len; i++)
        {
          FoctetDnsRecord *a = g_ptr_array_index (message->sections[s], i);
          FoctetDnsRecord *b = g_ptr_array_index (again->sections[s], i);

          g_assert_true (foctet_dns_record_same_data (a, b));
          g_assert_cmpstr (a->name, ==, b->name);
          g_assert_cmpuint (a->ttl, ==, b->ttl);
          g_assert_cmpint (a->cache_flush, ==, b->cache_flush);
        }
    }
  rebuilt = foctet_dns_message_build (again, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (built, rebuilt));
}

static void
test_avahi_probe (void)
{
  g_autoptr(FoctetDnsMessage) m = parse_hex (avahi_probe);
  FoctetDnsQuestion *q;
  FoctetDnsRecord *r;

  g_assert_cmpuint (m->flags, ==, 0);
  g_assert_cmpuint (m->questions->len, ==, 3);
  q = g_ptr_array_index (m->questions, 0);
  g_assert_cmpstr (q->name, ==, "1.0.a.7.4.a.e.f.f.f.2.8.1.6.c.d.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa");
  g_assert_cmpuint (q->type, ==, FOCTET_DNS_TYPE_ANY);
  g_assert_false (q->unicast_response);
  q = g_ptr_array_index (m->questions, 1);
  g_assert_cmpstr (q->name, ==, "captest.local");
  q = g_ptr_array_index (m->questions, 2);
  g_assert_cmpstr (q->name, ==, "1.0.99.10.in-addr.arpa");

  g_assert_cmpuint (m->sections[FOCTET_DNS_SECTION_ANSWER]->len, ==, 0);
  g_assert_cmpuint (m->sections[FOCTET_DNS_SECTION_AUTHORITY]->len, ==, 4);
  g_assert_cmpuint (m->sections[FOCTET_DNS_SECTION_ADDITIONAL]->len, ==, 0);
  r = record_at (m, FOCTET_DNS_SECTION_AUTHORITY, 0);
  g_assert_cmpstr (r->name, ==, "captest.local");
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_A);
  g_assert_cmpuint (r->ttl, ==, 120);
  g_assert_false (r->cache_flush);
  assert_address (r, "10.99.0.1");
  r = record_at (m, FOCTET_DNS_SECTION_AUTHORITY, 1);
  g_assert_cmpstr (r->name, ==, "1.0.99.10.in-addr.arpa");
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_PTR);
  g_assert_cmpstr (r->target, ==, "captest.local");
  r = record_at (m, FOCTET_DNS_SECTION_AUTHORITY, 2);
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_AAAA);
  assert_address (r, "fe80::dc61:82ff:fea4:7a01");

  assert_round_trip (m);
}

static void
test_avahi_announce (void)
{
  g_autoptr(FoctetDnsMessage) m = parse_hex (avahi_announce);
  g_autofree char *v = NULL, *id = NULL, *missing = NULL;
  FoctetDnsRecord *r;

  g_assert_cmpuint (m->flags, ==, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  g_assert_cmpuint (m->questions->len, ==, 0);
  g_assert_cmpuint (m->sections[FOCTET_DNS_SECTION_ANSWER]->len, ==, 6);

  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 0);
  g_assert_cmpstr (r->name, ==, "Foctet Test._foctet._udp.local");
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_TXT);
  g_assert_true (r->cache_flush);
  g_assert_cmpuint (r->klass, ==, FOCTET_DNS_CLASS_IN);
  g_assert_cmpuint (r->ttl, ==, 4500);
  g_assert_cmpuint (r->strings->len, ==, 2);
  v = foctet_dns_record_get_txt_value (r, "v");
  id = foctet_dns_record_get_txt_value (r, "ID");
  missing = foctet_dns_record_get_txt_value (r, "quic");
  g_assert_cmpstr (v, ==, "1");
  g_assert_cmpstr (id, ==, "abc");
  g_assert_null (missing);

  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 1);
  g_assert_cmpstr (r->name, ==, "_foctet._udp.local");
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_PTR);
  g_assert_false (r->cache_flush);
  g_assert_cmpstr (r->target, ==, "Foctet Test._foctet._udp.local");

  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 2);
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_SRV);
  g_assert_cmpuint (r->ttl, ==, 120);
  g_assert_cmpuint (r->priority, ==, 0);
  g_assert_cmpuint (r->weight, ==, 0);
  g_assert_cmpuint (r->port, ==, 4433);
  g_assert_cmpstr (r->target, ==, "captest.local");

  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 3);
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_AAAA);
  g_assert_cmpstr (r->name, ==, "captest.local");
  assert_address (r, "fe80::dc61:82ff:fea4:7a01");
  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 4);
  g_assert_cmpuint (r->type, ==, FOCTET_DNS_TYPE_A);
  assert_address (r, "10.99.0.1");
  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 5);
  g_assert_cmpstr (r->name, ==, "_services._dns-sd._udp.local");
  g_assert_cmpstr (r->target, ==, "_foctet._udp.local");

  assert_round_trip (m);
}

static void
test_avahi_browse (void)
{
  g_autoptr(FoctetDnsMessage) m = parse_hex (avahi_browse);
  g_autoptr(FoctetDnsMessage) ours = foctet_dns_message_new (0, 0);
  g_autoptr(GBytes) built = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *built_hex = NULL;
  FoctetDnsQuestion *q;
  FoctetDnsRecord *r;

  g_assert_cmpuint (m->questions->len, ==, 1);
  q = g_ptr_array_index (m->questions, 0);
  g_assert_cmpstr (q->name, ==, "_foctet._udp.local");
  g_assert_cmpuint (q->type, ==, FOCTET_DNS_TYPE_PTR);
  r = record_at (m, FOCTET_DNS_SECTION_ANSWER, 0);
  g_assert_cmpstr (r->target, ==, "Foctet Test._foctet._udp.local");
  g_assert_cmpuint (r->ttl, ==, 4500);

  /* The same query built by us is byte for byte avahi's: same layout,
   * same compression. */
  foctet_dns_message_add_question (ours, "_foctet._udp.local", FOCTET_DNS_TYPE_PTR, FALSE);
  foctet_dns_message_add_record (ours, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_ptr ("_foctet._udp.local",
                                                            "Foctet Test._foctet._udp.local", 4500));
  built = foctet_dns_message_build (ours, &error);
  g_assert_no_error (error);
  built_hex = to_hex (built);
  g_assert_cmpstr (built_hex, ==, avahi_browse);
}

static void
test_avahi_goodbye (void)
{
  g_autoptr(FoctetDnsMessage) m = parse_hex (avahi_goodbye);
  guint goodbyes = 0;

  g_assert_cmpuint (m->sections[FOCTET_DNS_SECTION_ANSWER]->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      FoctetDnsRecord *r = record_at (m, FOCTET_DNS_SECTION_ANSWER, i);

      if (r->ttl == 0)
        {
          goodbyes++;
          g_assert_true (r->type == FOCTET_DNS_TYPE_PTR || r->type == FOCTET_DNS_TYPE_SRV
                         || r->type == FOCTET_DNS_TYPE_TXT);
        }
      else
        g_assert_true (r->type == FOCTET_DNS_TYPE_A || r->type == FOCTET_DNS_TYPE_AAAA);
    }
  g_assert_cmpuint (goodbyes, ==, 4);
  assert_round_trip (m);
}

/* Our own announcement: every type, compressed, read back. */
static void
test_build (void)
{
  static const char *txt[] = { "v=1", "id=x", "quic=4433", NULL };
  g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, FOCTET_DNS_FLAG_RESPONSE | FOCTET_DNS_FLAG_AUTHORITATIVE);
  g_autoptr(GInetAddress) v4 = g_inet_address_new_from_string ("192.0.2.7");
  g_autoptr(GInetAddress) v6 = g_inet_address_new_from_string ("2001:db8::7");
  g_autoptr(GBytes) built = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetDnsMessage) back = NULL;
  g_autofree char *port = NULL;
  FoctetDnsRecord *r;
  gsize uncompressed = 12;

  foctet_dns_message_add_question (m, "x._foctet._udp.local", FOCTET_DNS_TYPE_ANY, TRUE);
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_ptr ("_foctet._udp.local", "x._foctet._udp.local", 4500));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_srv ("x._foctet._udp.local", 0, 0, 4433, "x.local", 120));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ANSWER,
                                 foctet_dns_record_new_txt ("x._foctet._udp.local", txt, 4500));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ADDITIONAL,
                                 foctet_dns_record_new_address ("x.local", v4, 120, TRUE));
  foctet_dns_message_add_record (m, FOCTET_DNS_SECTION_ADDITIONAL,
                                 foctet_dns_record_new_address ("x.local", v6, 0, TRUE));
  built = foctet_dns_message_build (m, &error);
  g_assert_no_error (error);

  /* Every name written out in full would take this much. */
  uncompressed += 22 + 4;
  uncompressed += 20 + 10 + 22;
  uncompressed += 22 + 10 + 6 + 9;
  uncompressed += 22 + 10 + 4 + 5 + 10;
  uncompressed += 9 + 10 + 4;
  uncompressed += 9 + 10 + 16;
  g_assert_cmpuint (g_bytes_get_size (built), <, uncompressed - 60);

  back = foctet_dns_message_parse (g_bytes_get_data (built, NULL), g_bytes_get_size (built), &error);
  g_assert_no_error (error);
  g_assert_true (((FoctetDnsQuestion *) g_ptr_array_index (back->questions, 0))->unicast_response);
  r = record_at (back, FOCTET_DNS_SECTION_ANSWER, 1);
  g_assert_cmpuint (r->port, ==, 4433);
  g_assert_cmpstr (r->target, ==, "x.local");
  g_assert_true (r->cache_flush);
  r = record_at (back, FOCTET_DNS_SECTION_ANSWER, 2);
  port = foctet_dns_record_get_txt_value (r, "quic");
  g_assert_cmpstr (port, ==, "4433");
  r = record_at (back, FOCTET_DNS_SECTION_ADDITIONAL, 1);
  g_assert_cmpuint (r->ttl, ==, 0);
  assert_address (r, "2001:db8::7");
  assert_round_trip (m);
  assert_round_trip (back);
}

/* Labels with dots, backslashes, spaces and bytes outside ASCII survive. */
static void
test_escaping (void)
{
  static const guint8 label[] = { 'a', '.', 'b', '\\', ' ', 0xc3, 0xa9, 0x00, 'z' };
  g_autofree char *escaped = foctet_dns_name_escape_label ((const char *) label, sizeof label);
  g_autofree char *name = g_strconcat (escaped, "._foctet._udp.local", NULL);
  g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, 0);
  g_autoptr(FoctetDnsMessage) back = NULL;
  g_autoptr(GBytes) built = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *wire;

  g_assert_cmpstr (escaped, ==, "a\\.b\\\\ \\195\\169\\000z");
  foctet_dns_message_add_question (m, name, FOCTET_DNS_TYPE_SRV, FALSE);
  built = foctet_dns_message_build (m, &error);
  g_assert_no_error (error);
  wire = g_bytes_get_data (built, NULL);
  g_assert_cmpuint (wire[12], ==, sizeof label);
  g_assert_cmpmem (wire + 13, sizeof label, label, sizeof label);
  back = foctet_dns_message_parse (wire, g_bytes_get_size (built), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (((FoctetDnsQuestion *) g_ptr_array_index (back->questions, 0))->name, ==, name);
  g_assert_true (foctet_dns_name_equal ("X._Foctet._UDP.local", "x._foctet._udp.LOCAL"));
  g_assert_false (foctet_dns_name_equal ("x._foctet._udp.local", "y._foctet._udp.local"));
}

static void
test_build_invalid (void)
{
  g_autofree char *long_label = g_strnfill (64, 'a');
  g_autofree char *label63 = g_strnfill (63, 'a');
  g_autofree char *long_name = g_strjoin (".", label63, label63, label63, label63, NULL);
  const char *bad[] = { "a..local", long_label, long_name, "a\\" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(FoctetDnsMessage) m = foctet_dns_message_new (0, 0);
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) built = NULL;

      foctet_dns_message_add_question (m, bad[i], FOCTET_DNS_TYPE_A, FALSE);
      built = foctet_dns_message_build (m, &error);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      g_assert_null (built);
      g_test_message ("%s", error->message);
    }
}

typedef struct {
  const char *what;
  const char *hex;
  const char *error;             /* a part of the message */
} Malformed;

static const Malformed malformed[] = {
  { "short header", "00000000000100", "too short" },
  { "question cut off", "000000000001000000000000" "03616263000001", "is cut off" },
  { "pointer to itself", "000000000001000000000000" "c00c" "00010001", "not before the labels" },
  { "pointer loop: a label, then back to it",
    "000000000001000000000000" "0161c00c" "00010001", "not before the labels" },
  { "loop between two names",
    "000000000002000000000000" "0161c012" "00010001" "0162c00c" "00010001", "not before the labels" },
  { "forward pointer", "000000000001000000000000" "c020" "00010001" "00000000000000000000000000000000", "not before" },
  { "pointer cut off", "000000000001000000000000" "01610161c0", "pointer at offset 16 is cut off" },
  { "label past the end", "000000000001000000000000" "3f61616100010001", "runs past the end" },
  { "label type 0x40", "000000000001000000000000" "41610000010001", "unknown type 0x40" },
  { "huge counts", "0000000000ff00ff00ff00ff" "00000100010000000000000000", "cannot fit" },
  { "65535 records", "000000000000ffff00000000" "0000000000000000000000", "cannot fit" },
  { "record data past the end",
    "000084000000000100000000" "0000010001000000780010" "0a000001", "past the end of the message" },
  { "A of 3 bytes", "000084000000000100000000" "0000010001000000780003" "0a0000", "not 4" },
  { "AAAA of 4 bytes", "000084000000000100000000" "00001c0001000000780004" "0a000001", "not 16" },
  { "SRV too short", "000084000000000100000000" "0000210001000000780003" "000000", "only 3 bytes" },
  { "SRV name past its record",
    "000084000000000100000000" "0000210001000000780008" "000000001151" "0161" "0000", "past the end of its record" },
  { "PTR with bytes after its name", "000084000000000100000000" "00000c0001000000780002" "0000", "after its name" },
  { "TXT string past its record",
    "000084000000000100000000" "0000100001000000780003" "05763d31", "past the end of its record" },
  { "record cut off", "000084000000000100000000" "0361626300" "000100010000", "at offset 12 is cut off" },
  { "pointer chain", NULL, "more than 127 compression pointers" },
  { "name longer than 255", NULL, "longer than 255" },
};

static GBytes *
pointer_chain (void)
{
  g_autoptr(GByteArray) p = g_byte_array_new ();
  static const guint8 header[] = { 0, 0, 0x84, 0, 0, 0, 0, 2, 0, 0, 0, 0 };
  /* Root name, a type nobody knows, class IN, ttl 120, 401 bytes. */
  static const guint8 raw[] = { 0, 0xff, 0, 0, 1, 0, 0, 0, 120, 401 >> 8, 401 & 0xff };
  static const guint8 a[] = { 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 1 };
  guint root, last = 0;

  /* The first record's data, kept raw, is a root label followed by 200
   * compression pointers, each to the one before; the second record's
   * name points at the last of them.  Every pointer points backwards, but
   * no real name needs 200 of them. */
  g_byte_array_append (p, header, sizeof header);
  g_byte_array_append (p, raw, sizeof raw);
  root = p->len;
  g_byte_array_append (p, (const guint8 *) "", 1);
  for (guint i = 0; i < 200; i++)
    {
      guint target = i == 0 ? root : last;
      guint8 ptr[2] = { 0xc0 | (target >> 8), target & 0xff };

      last = p->len;
      g_byte_array_append (p, ptr, 2);
    }
  {
    guint8 ptr[2] = { 0xc0 | (last >> 8), last & 0xff };

    g_byte_array_append (p, ptr, 2);
    g_byte_array_append (p, a, sizeof a);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&p));
}

static GBytes *
long_name (void)
{
  g_autoptr(GByteArray) p = g_byte_array_new ();
  static const guint8 header[] = { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
  guint8 label[64];

  /* Five labels of 63 bytes: 320 bytes on the wire. */
  g_byte_array_append (p, header, sizeof header);
  label[0] = 63;
  memset (label + 1, 'a', 63);
  for (int i = 0; i < 5; i++)
    g_byte_array_append (p, label, sizeof label);
  g_byte_array_append (p, (const guint8 *) "\0\0\1\0\1", 5);
  return g_byte_array_free_to_bytes (g_steal_pointer (&p));
}

static void
test_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(FoctetDnsMessage) m = NULL;
      g_autoptr(GError) error = NULL;

      if (g_str_equal (malformed[i].what, "pointer chain"))
        bytes = pointer_chain ();
      else if (g_str_equal (malformed[i].what, "name longer than 255"))
        bytes = long_name ();
      else
        bytes = from_hex (malformed[i].hex);
      m = foctet_dns_message_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
      g_test_message ("%s: %s", malformed[i].what, error != NULL ? error->message : "(parsed)");
      g_assert_null (m);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
      g_assert_nonnull (strstr (error->message, malformed[i].error));
      if (g_bytes_get_size (bytes) >= FOCTET_DNS_HEADER_SIZE && !g_str_equal (malformed[i].what, "huge counts")
          && !g_str_equal (malformed[i].what, "65535 records"))
        g_assert_nonnull (strstr (error->message, "offset"));
    }
}

/* Every cut of a real packet is refused, and every single-byte change of
 * one either parses (and then round-trips) or is refused: never a crash,
 * which ASan and UBSan builds check. */
static void
test_mutations (void)
{
  const char *packets[] = { avahi_probe, avahi_announce, avahi_browse, avahi_goodbye };
  /* Small and large lengths, the label types (0x40, 0x80) and pointers
   * (0xc0), counts and ttls of all ones. */
  static const guint8 values[] = { 0x00, 0x01, 0x05, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc1, 0xfe, 0xff };
  guint parsed = 0, refused = 0;

  for (guint k = 0; k < G_N_ELEMENTS (packets); k++)
    {
      g_autoptr(GBytes) bytes = from_hex (packets[k]);
      gsize size = g_bytes_get_size (bytes);
      g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (bytes, NULL), size);

      for (gsize cut = 0; cut < size; cut++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(FoctetDnsMessage) m = foctet_dns_message_parse (copy, cut, &error);

          g_assert_null (m);
          g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
        }
      for (gsize i = 0; i < size; i++)
        for (guint v = 0; v < G_N_ELEMENTS (values); v++)
          {
            guint value = values[v];
            g_autoptr(GError) error = NULL;
            g_autoptr(FoctetDnsMessage) m = NULL;
            guint8 saved = copy[i];

            copy[i] = (guint8) value;
            m = foctet_dns_message_parse (copy, size, &error);
            copy[i] = saved;
            if (m != NULL)
              {
                parsed++;
                assert_round_trip (m);
              }
            else
              {
                refused++;
                g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
              }
          }
    }
  g_test_message ("mutations: %u parsed, %u refused", parsed, refused);
  g_assert_cmpuint (parsed, >, 0);
  g_assert_cmpuint (refused, >, 0);
}

static void
test_txt_values (void)
{
  static const char *txt[] = { "v=1", "flag", "empty=", "Key=first", "key=second", "=novalue", NULL };
  g_autoptr(FoctetDnsRecord) r = foctet_dns_record_new_txt ("x.local", txt, 4500);
  g_autofree char *flag = foctet_dns_record_get_txt_value (r, "flag");
  g_autofree char *empty = foctet_dns_record_get_txt_value (r, "empty");
  g_autofree char *key = foctet_dns_record_get_txt_value (r, "KEY");
  g_autofree char *none = foctet_dns_record_get_txt_value (r, "none");

  g_assert_cmpstr (flag, ==, "");
  g_assert_cmpstr (empty, ==, "");
  g_assert_cmpstr (key, ==, "first");
  g_assert_null (none);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dns/avahi/probe", test_avahi_probe);
  g_test_add_func ("/dns/avahi/announce", test_avahi_announce);
  g_test_add_func ("/dns/avahi/browse", test_avahi_browse);
  g_test_add_func ("/dns/avahi/goodbye", test_avahi_goodbye);
  g_test_add_func ("/dns/build", test_build);
  g_test_add_func ("/dns/escaping", test_escaping);
  g_test_add_func ("/dns/build-invalid", test_build_invalid);
  g_test_add_func ("/dns/malformed", test_malformed);
  g_test_add_func ("/dns/mutations", test_mutations);
  g_test_add_func ("/dns/txt", test_txt_values);

  return g_test_run ();
}

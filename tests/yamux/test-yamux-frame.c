/* test-yamux-frame.c: the yamux frame header codec — encoding, decoding
 * and each rule a header alone can break.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet.h>

#include "foctet-yamux-frame.h"

#define MAX_DATA (16 * 1024 * 1024)

static void
test_encode_layout (void)
{
  FoctetYamuxHeader header = { 0, FOCTET_YAMUX_TYPE_WINDOW_UPDATE,
                               FOCTET_YAMUX_FLAG_SYN | FOCTET_YAMUX_FLAG_FIN, 0x01020304, 0xa0b0c0d0 };
  static const guint8 expected[] = { 0, 1, 0, 5, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0 };
  guint8 out[FOCTET_YAMUX_HEADER_SIZE];

  foctet_yamux_header_encode (&header, out);
  g_assert_cmpmem (out, sizeof out, expected, sizeof expected);
}

static void
test_round_trip (void)
{
  static const guint32 ids[] = { 1, 2, 0x7fffffff, 0xffffffff };
  static const guint32 lengths[] = { 0, 1, 262144, MAX_DATA };

  for (guint8 type = 0; type <= FOCTET_YAMUX_TYPE_GO_AWAY; type++)
    for (guint16 flags = 0; flags < 16; flags++)
      for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
        for (guint j = 0; j < G_N_ELEMENTS (lengths); j++)
          {
            FoctetYamuxHeader in = { 0, type, flags, ids[i], lengths[j] };
            FoctetYamuxHeader out = { 0xff, 0xff, 0xffff, 0, 0 };
            g_autoptr(GError) error = NULL;
            guint8 bytes[FOCTET_YAMUX_HEADER_SIZE];

            foctet_yamux_header_encode (&in, bytes);
            g_assert_true (foctet_yamux_header_decode (bytes, &out, MAX_DATA, &error));
            g_assert_no_error (error);
            g_assert_cmpuint (out.version, ==, 0);
            g_assert_cmpuint (out.type, ==, type);
            g_assert_cmpuint (out.flags, ==, flags);
            g_assert_cmpuint (out.stream_id, ==, ids[i]);
            g_assert_cmpuint (out.length, ==, lengths[j]);
          }

  /* Ping and GoAway belong to the session: stream id 0 is theirs. */
  for (guint8 type = FOCTET_YAMUX_TYPE_PING; type <= FOCTET_YAMUX_TYPE_GO_AWAY; type++)
    {
      FoctetYamuxHeader in = { 0, type, FOCTET_YAMUX_FLAG_SYN, 0, 42 };
      FoctetYamuxHeader out;
      guint8 bytes[FOCTET_YAMUX_HEADER_SIZE];

      foctet_yamux_header_encode (&in, bytes);
      g_assert_true (foctet_yamux_header_decode (bytes, &out, MAX_DATA, NULL));
      g_assert_cmpuint (out.length, ==, 42);
    }
}

static void
assert_rejected (const guint8 *bytes,
                 guint32       max_data,
                 const char   *what)
{
  g_autoptr(GError) error = NULL;
  FoctetYamuxHeader header;

  g_assert_false (foctet_yamux_header_decode (bytes, &header, max_data, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, what));
}

static void
test_reject_version (void)
{
  static const guint8 v1[] = { 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
  static const guint8 v255[] = { 255, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 };

  assert_rejected (v1, MAX_DATA, "version 1");
  assert_rejected (v255, MAX_DATA, "version 255");
}

static void
test_reject_type (void)
{
  static const guint8 t4[] = { 0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
  static const guint8 t255[] = { 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

  assert_rejected (t4, MAX_DATA, "unknown type 4");
  assert_rejected (t255, MAX_DATA, "unknown type 255");
}

static void
test_reject_stream_zero (void)
{
  static const guint8 data0[] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4 };
  static const guint8 update0[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };

  assert_rejected (data0, MAX_DATA, "stream id 0");
  assert_rejected (update0, MAX_DATA, "stream id 0");
}

static void
test_reject_oversized (void)
{
  static const guint8 huge[] = { 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff };
  static const guint8 just_over[] = { 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 0x00, 0x00, 0x01 };
  static const guint8 at_max[] = { 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 0x00, 0x00, 0x00 };
  /* A window update's length is an increment, not a payload. */
  static const guint8 big_update[] = { 0, 1, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff };
  FoctetYamuxHeader header;

  assert_rejected (huge, MAX_DATA, "oversized");
  assert_rejected (just_over, MAX_DATA, "oversized");
  g_assert_true (foctet_yamux_header_decode (at_max, &header, MAX_DATA, NULL));
  g_assert_true (foctet_yamux_header_decode (big_update, &header, MAX_DATA, NULL));
  g_assert_cmpuint (header.length, ==, G_MAXUINT32);
}

static void
test_unknown_flags_ignored (void)
{
  static const guint8 bytes[] = { 0, 0, 0xff, 0xf2, 0, 0, 0, 9, 0, 0, 0, 0 };
  FoctetYamuxHeader header;
  char text[32];

  g_assert_true (foctet_yamux_header_decode (bytes, &header, MAX_DATA, NULL));
  g_assert_cmpuint (header.flags & 0xf, ==, FOCTET_YAMUX_FLAG_ACK);
  g_assert_cmpstr (foctet_yamux_flags_to_string (header.flags, text, sizeof text), ==, "ACK|0xfff0");
}

static void
test_names (void)
{
  char text[32];

  g_assert_cmpstr (foctet_yamux_type_to_string (0), ==, "Data");
  g_assert_cmpstr (foctet_yamux_type_to_string (1), ==, "WindowUpdate");
  g_assert_cmpstr (foctet_yamux_type_to_string (2), ==, "Ping");
  g_assert_cmpstr (foctet_yamux_type_to_string (3), ==, "GoAway");
  g_assert_cmpstr (foctet_yamux_type_to_string (4), ==, "unknown");
  g_assert_cmpstr (foctet_yamux_flags_to_string (0, text, sizeof text), ==, "");
  g_assert_cmpstr (foctet_yamux_flags_to_string (15, text, sizeof text), ==, "SYN|ACK|FIN|RST");
  g_assert_cmpstr (foctet_yamux_flags_to_string (FOCTET_YAMUX_FLAG_FIN, text, sizeof text), ==, "FIN");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/yamux/frame/encode-layout", test_encode_layout);
  g_test_add_func ("/yamux/frame/round-trip", test_round_trip);
  g_test_add_func ("/yamux/frame/reject-version", test_reject_version);
  g_test_add_func ("/yamux/frame/reject-type", test_reject_type);
  g_test_add_func ("/yamux/frame/reject-stream-zero", test_reject_stream_zero);
  g_test_add_func ("/yamux/frame/reject-oversized", test_reject_oversized);
  g_test_add_func ("/yamux/frame/unknown-flags-ignored", test_unknown_flags_ignored);
  g_test_add_func ("/yamux/frame/names", test_names);

  return g_test_run ();
}

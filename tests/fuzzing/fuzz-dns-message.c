/* Fuzz target: the DNS message codec of the mdns discovery plugin
 * (plugins/discovery-mdns/foctet-dns-message.c) — what anyone on the LAN
 * can send to port 5353.
 *
 * Invariants:
 *  - parsing ends (no loop through compression pointers) and either gives
 *    a message or a %FOCTET_ERROR_PROTOCOL_ERROR with a UTF-8 text;
 *  - a message shorter than a header, or whose counts cannot fit in the
 *    bytes after it, is refused whatever it holds;
 *  - a parsed message has the header's id, flags and counts, and every
 *    name in it is at most 255 bytes on the wire;
 *  - building a parsed message succeeds, parses back to the same
 *    questions and records, and building that gives the same bytes again;
 *  - every record prints as UTF-8; nothing leaks (the replay runs under
 *    ASan's leak checker).
 *
 * The codec is compiled into this program.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-dns-message.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint16
u16_at (const uint8_t *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static void
check_same (const FoctetDnsMessage *a,
            const FoctetDnsMessage *b)
{
  if (a->id != b->id || a->flags != b->flags || a->questions->len != b->questions->len)
    abort ();
  for (guint i = 0; i < a->questions->len; i++)
    {
      const FoctetDnsQuestion *qa = g_ptr_array_index (a->questions, i);
      const FoctetDnsQuestion *qb = g_ptr_array_index (b->questions, i);

      if (strcmp (qa->name, qb->name) != 0 || qa->type != qb->type || qa->klass != qb->klass
          || qa->unicast_response != qb->unicast_response)
        abort ();
    }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    {
      if (a->sections[s]->len != b->sections[s]->len)
        abort ();
      for (guint i = 0; i < a->sections[s]->len; i++)
        {
          const FoctetDnsRecord *ra = g_ptr_array_index (a->sections[s], i);
          const FoctetDnsRecord *rb = g_ptr_array_index (b->sections[s], i);

          if (!foctet_dns_record_same_data (ra, rb) || strcmp (ra->name, rb->name) != 0
              || ra->ttl != rb->ttl || ra->cache_flush != rb->cache_flush)
            abort ();
        }
    }
}

/* The name's length on the wire, from its text. */
static gsize
wire_length (const char *name)
{
  gsize n = 1, label = 0;

  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '.')
        {
          n += 1 + label;
          label = 0;
          continue;
        }
      if (*p == '\\')
        p += g_ascii_isdigit (p[1]) ? 3 : 1;
      label++;
    }
  if (label > 0)
    n += 1 + label;
  return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(FoctetDnsMessage) message = NULL;
  g_autoptr(FoctetDnsMessage) again = NULL;
  g_autoptr(GBytes) built = NULL;
  g_autoptr(GBytes) rebuilt = NULL;
  g_autoptr(GError) error = NULL;

  message = foctet_dns_message_parse (data, size, &error);
  if (message == NULL)
    {
      if (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR)
          || !g_utf8_validate (error->message, -1, NULL))
        abort ();
      return 0;
    }
  if (error != NULL || size < FOCTET_DNS_HEADER_SIZE)
    abort ();

  {
    guint questions = u16_at (data + 4);
    guint records = u16_at (data + 6) + u16_at (data + 8) + u16_at (data + 10);

    if ((gsize) questions * 5 + (gsize) records * 11 > size - FOCTET_DNS_HEADER_SIZE
        || questions + records > FOCTET_DNS_MAX_ENTRIES)
      abort ();
    if (message->id != u16_at (data) || message->flags != u16_at (data + 2)
        || message->questions->len != questions
        || message->sections[FOCTET_DNS_SECTION_ANSWER]->len != u16_at (data + 6)
        || message->sections[FOCTET_DNS_SECTION_AUTHORITY]->len != u16_at (data + 8)
        || message->sections[FOCTET_DNS_SECTION_ADDITIONAL]->len != u16_at (data + 10))
      abort ();
  }

  for (guint i = 0; i < message->questions->len; i++)
    if (wire_length (((FoctetDnsQuestion *) g_ptr_array_index (message->questions, i))->name) > FOCTET_DNS_MAX_NAME)
      abort ();
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      {
        FoctetDnsRecord *record = g_ptr_array_index (message->sections[s], i);
        g_autofree char *text = foctet_dns_record_to_string (record);

        if (!g_utf8_validate (text, -1, NULL) || wire_length (record->name) > FOCTET_DNS_MAX_NAME
            || (record->target != NULL && wire_length (record->target) > FOCTET_DNS_MAX_NAME))
          abort ();
      }

  built = foctet_dns_message_build (message, &error);
  if (built == NULL)
    abort ();
  again = foctet_dns_message_parse (g_bytes_get_data (built, NULL), g_bytes_get_size (built), &error);
  if (again == NULL)
    abort ();
  check_same (message, again);
  rebuilt = foctet_dns_message_build (again, &error);
  if (rebuilt == NULL || !g_bytes_equal (built, rebuilt))
    abort ();
  return 0;
}

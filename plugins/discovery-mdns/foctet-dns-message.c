/* foctet-dns-message.c: see foctet-dns-message.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "foctet-dns-message.h"

/* The smallest question: the root name (1 byte), type and class; the
 * smallest record adds a ttl and a data length. */
#define MIN_QUESTION_SIZE 5
#define MIN_RECORD_SIZE 11

/* Compression pointers reach the first 16 KiB of a message only. */
#define MAX_POINTER_OFFSET 0x3fff

static void G_GNUC_PRINTF (2, 3)
malformed (GError     **error,
           const char  *format,
           ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR, message);
}

const char *
foctet_dns_type_to_string (guint16 type)
{
  switch (type)
    {
    case FOCTET_DNS_TYPE_A:
      return "A";
    case FOCTET_DNS_TYPE_PTR:
      return "PTR";
    case FOCTET_DNS_TYPE_TXT:
      return "TXT";
    case FOCTET_DNS_TYPE_AAAA:
      return "AAAA";
    case FOCTET_DNS_TYPE_SRV:
      return "SRV";
    case FOCTET_DNS_TYPE_NSEC:
      return "NSEC";
    case FOCTET_DNS_TYPE_ANY:
      return "ANY";
    default:
      return "other";
    }
}

/* Names as text. */

static void
append_escaped_label (GString      *text,
                      const guint8 *label,
                      gsize         length)
{
  for (gsize i = 0; i < length; i++)
    {
      guint8 c = label[i];

      if (c == '.' || c == '\\')
        {
          g_string_append_c (text, '\\');
          g_string_append_c (text, (char) c);
        }
      else if (c < 0x20 || c > 0x7e)
        g_string_append_printf (text, "\\%03u", c);
      else
        g_string_append_c (text, (char) c);
    }
}

char *
foctet_dns_name_escape_label (const char *label,
                              gsize       length)
{
  GString *text = g_string_new (NULL);

  append_escaped_label (text, (const guint8 *) label, length);
  return g_string_free (text, FALSE);
}

gboolean
foctet_dns_name_equal (const char *a,
                       const char *b)
{
  return a != NULL && b != NULL && g_ascii_strcasecmp (a, b) == 0;
}

/* Splits the text of @name into its labels (raw bytes, as #GBytes). */
static GPtrArray *
name_to_labels (const char  *name,
                GError     **error)
{
  g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GByteArray) label = g_byte_array_new ();
  gsize length = strlen (name);
  gsize wire = 1;

  /* One trailing dot (a fully qualified name) is allowed; the root is "". */
  if (length > 0 && name[length - 1] == '.' && (length < 2 || name[length - 2] != '\\'))
    length--;
  if (length == 0)
    return g_steal_pointer (&labels);

  for (gsize i = 0; i <= length; i++)
    {
      guint8 c;

      if (i == length || name[i] == '.')
        {
          if (label->len == 0)
            {
              malformed (error, "the name “%s” has an empty label", name);
              return NULL;
            }
          if (label->len > FOCTET_DNS_MAX_LABEL)
            {
              malformed (error, "the name “%s” has a label of %u bytes (at most %d)", name,
                         label->len, FOCTET_DNS_MAX_LABEL);
              return NULL;
            }
          wire += 1 + label->len;
          g_ptr_array_add (labels, g_bytes_new (label->data, label->len));
          g_byte_array_set_size (label, 0);
          continue;
        }
      c = (guint8) name[i];
      if (c == '\\')
        {
          if (i + 3 < length && g_ascii_isdigit (name[i + 1]) && g_ascii_isdigit (name[i + 2])
              && g_ascii_isdigit (name[i + 3]))
            {
              guint value = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');

              if (value > 255)
                {
                  malformed (error, "the name “%s” has an escape \\%u above 255", name, value);
                  return NULL;
                }
              c = (guint8) value;
              i += 3;
            }
          else if (i + 1 < length)
            c = (guint8) name[++i];
          else
            {
              malformed (error, "the name “%s” ends in a lone backslash", name);
              return NULL;
            }
        }
      g_byte_array_append (label, &c, 1);
    }

  if (wire > FOCTET_DNS_MAX_NAME)
    {
      malformed (error, "the name “%s” is %zu bytes long on the wire (at most %d)", name, wire,
                 FOCTET_DNS_MAX_NAME);
      return NULL;
    }
  return g_steal_pointer (&labels);
}

/* Questions and records. */

void
foctet_dns_question_free (FoctetDnsQuestion *question)
{
  if (question == NULL)
    return;
  g_free (question->name);
  g_free (question);
}

void
foctet_dns_record_free (FoctetDnsRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  g_free (record->target);
  g_clear_pointer (&record->strings, g_ptr_array_unref);
  g_clear_pointer (&record->rdata, g_bytes_unref);
  g_free (record);
}

FoctetDnsRecord *
foctet_dns_record_new (const char *name,
                       guint16     type,
                       guint32     ttl,
                       gboolean    cache_flush)
{
  FoctetDnsRecord *record = g_new0 (FoctetDnsRecord, 1);

  record->name = g_strdup (name);
  record->type = type;
  record->klass = FOCTET_DNS_CLASS_IN;
  record->ttl = ttl;
  record->cache_flush = cache_flush;
  if (type == FOCTET_DNS_TYPE_TXT)
    record->strings = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  return record;
}

FoctetDnsRecord *
foctet_dns_record_new_address (const char   *name,
                               GInetAddress *address,
                               guint32       ttl,
                               gboolean      cache_flush)
{
  gboolean v4 = g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4;
  FoctetDnsRecord *record = foctet_dns_record_new (name, v4 ? FOCTET_DNS_TYPE_A : FOCTET_DNS_TYPE_AAAA,
                                                   ttl, cache_flush);

  memcpy (record->address, g_inet_address_to_bytes (address), g_inet_address_get_native_size (address));
  return record;
}

FoctetDnsRecord *
foctet_dns_record_new_ptr (const char *name,
                           const char *target,
                           guint32     ttl)
{
  /* PTR records of a service type are shared: never cache-flush. */
  FoctetDnsRecord *record = foctet_dns_record_new (name, FOCTET_DNS_TYPE_PTR, ttl, FALSE);

  record->target = g_strdup (target);
  return record;
}

FoctetDnsRecord *
foctet_dns_record_new_srv (const char *name,
                           guint16     priority,
                           guint16     weight,
                           guint16     port,
                           const char *target,
                           guint32     ttl)
{
  FoctetDnsRecord *record = foctet_dns_record_new (name, FOCTET_DNS_TYPE_SRV, ttl, TRUE);

  record->priority = priority;
  record->weight = weight;
  record->port = port;
  record->target = g_strdup (target);
  return record;
}

FoctetDnsRecord *
foctet_dns_record_new_txt (const char         *name,
                           const char * const *strings,
                           guint32             ttl)
{
  FoctetDnsRecord *record = foctet_dns_record_new (name, FOCTET_DNS_TYPE_TXT, ttl, TRUE);

  for (gsize i = 0; strings != NULL && strings[i] != NULL; i++)
    g_ptr_array_add (record->strings, g_bytes_new (strings[i], MIN (strlen (strings[i]), 255)));
  /* RFC 6763 §6.1: a TXT record holds at least one string.  (The builder
   * writes what it is given, so that a parsed record builds back the
   * same.) */
  if (record->strings->len == 0)
    g_ptr_array_add (record->strings, g_bytes_new ("", 0));
  return record;
}

FoctetDnsRecord *
foctet_dns_record_copy (const FoctetDnsRecord *record)
{
  FoctetDnsRecord *copy = g_new0 (FoctetDnsRecord, 1);

  *copy = *record;
  copy->name = g_strdup (record->name);
  copy->target = g_strdup (record->target);
  if (record->strings != NULL)
    {
      copy->strings = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      for (guint i = 0; i < record->strings->len; i++)
        g_ptr_array_add (copy->strings, g_bytes_ref (g_ptr_array_index (record->strings, i)));
    }
  if (record->rdata != NULL)
    copy->rdata = g_bytes_ref (record->rdata);
  return copy;
}

static gboolean
bytes_equal0 (GBytes *a,
              GBytes *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_bytes_equal (a, b);
}

/* Whether two records say the same thing (type, class, name and data;
 * not the ttl or the cache-flush bit): RFC 6762 §7.1's and §7.4's test. */
gboolean
foctet_dns_record_same_data (const FoctetDnsRecord *a,
                             const FoctetDnsRecord *b)
{
  if (a->type != b->type || a->klass != b->klass || !foctet_dns_name_equal (a->name, b->name))
    return FALSE;

  switch (a->type)
    {
    case FOCTET_DNS_TYPE_A:
      return memcmp (a->address, b->address, 4) == 0;
    case FOCTET_DNS_TYPE_AAAA:
      return memcmp (a->address, b->address, 16) == 0;
    case FOCTET_DNS_TYPE_PTR:
      return foctet_dns_name_equal (a->target, b->target);
    case FOCTET_DNS_TYPE_SRV:
      return a->priority == b->priority && a->weight == b->weight && a->port == b->port
             && foctet_dns_name_equal (a->target, b->target);
    case FOCTET_DNS_TYPE_TXT:
      if (a->strings->len != b->strings->len)
        return FALSE;
      for (guint i = 0; i < a->strings->len; i++)
        if (!g_bytes_equal (g_ptr_array_index (a->strings, i), g_ptr_array_index (b->strings, i)))
          return FALSE;
      return TRUE;
    case FOCTET_DNS_TYPE_NSEC:
      return foctet_dns_name_equal (a->target, b->target) && bytes_equal0 (a->rdata, b->rdata);
    default:
      return bytes_equal0 (a->rdata, b->rdata);
    }
}

GInetAddress *
foctet_dns_record_get_address (const FoctetDnsRecord *record)
{
  if (record->type == FOCTET_DNS_TYPE_A)
    return g_inet_address_new_from_bytes (record->address, G_SOCKET_FAMILY_IPV4);
  if (record->type == FOCTET_DNS_TYPE_AAAA)
    return g_inet_address_new_from_bytes (record->address, G_SOCKET_FAMILY_IPV6);
  return NULL;
}

/* RFC 6763 §6.4: keys are case-insensitive, the first occurrence counts;
 * "key" alone and "key=" both give "". */
char *
foctet_dns_record_get_txt_value (const FoctetDnsRecord *record,
                                 const char            *key)
{
  gsize key_length = strlen (key);

  if (record->type != FOCTET_DNS_TYPE_TXT)
    return NULL;

  for (guint i = 0; i < record->strings->len; i++)
    {
      gsize size;
      const char *s = g_bytes_get_data (g_ptr_array_index (record->strings, i), &size);
      const char *equals = s != NULL ? memchr (s, '=', size) : NULL;
      gsize this_key = equals != NULL ? (gsize) (equals - s) : size;

      if (this_key == key_length && g_ascii_strncasecmp (s, key, key_length) == 0)
        return equals != NULL ? g_strndup (equals + 1, size - key_length - 1) : g_strdup ("");
    }
  return NULL;
}

char *
foctet_dns_record_to_string (const FoctetDnsRecord *record)
{
  GString *text = g_string_new (NULL);

  g_string_append_printf (text, "%s %s(%u) ttl=%u%s", record->name, foctet_dns_type_to_string (record->type),
                          record->type, record->ttl, record->cache_flush ? " flush" : "");
  switch (record->type)
    {
    case FOCTET_DNS_TYPE_A:
    case FOCTET_DNS_TYPE_AAAA:
      {
        g_autoptr(GInetAddress) address = foctet_dns_record_get_address (record);
        g_autofree char *s = g_inet_address_to_string (address);

        g_string_append_printf (text, " %s", s);
      }
      break;
    case FOCTET_DNS_TYPE_PTR:
      g_string_append_printf (text, " %s", record->target);
      break;
    case FOCTET_DNS_TYPE_SRV:
      g_string_append_printf (text, " %u %u %u %s", record->priority, record->weight, record->port,
                              record->target);
      break;
    case FOCTET_DNS_TYPE_TXT:
      for (guint i = 0; i < record->strings->len; i++)
        {
          gsize size;
          const guint8 *s = g_bytes_get_data (g_ptr_array_index (record->strings, i), &size);

          g_string_append (text, " \"");
          append_escaped_label (text, s, size);
          g_string_append_c (text, '"');
        }
      break;
    case FOCTET_DNS_TYPE_NSEC:
      g_string_append_printf (text, " %s +%zu", record->target, g_bytes_get_size (record->rdata));
      break;
    default:
      g_string_append_printf (text, " %zu bytes", record->rdata != NULL ? g_bytes_get_size (record->rdata) : 0);
    }
  return g_string_free (text, FALSE);
}

/* Messages. */

FoctetDnsMessage *
foctet_dns_message_new (guint16 id,
                        guint16 flags)
{
  FoctetDnsMessage *message = g_new0 (FoctetDnsMessage, 1);

  message->id = id;
  message->flags = flags;
  message->questions = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_question_free);
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    message->sections[s] = g_ptr_array_new_with_free_func ((GDestroyNotify) foctet_dns_record_free);
  return message;
}

void
foctet_dns_message_free (FoctetDnsMessage *message)
{
  if (message == NULL)
    return;
  g_ptr_array_unref (message->questions);
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    g_ptr_array_unref (message->sections[s]);
  g_free (message);
}

void
foctet_dns_message_add_question (FoctetDnsMessage *message,
                                 const char       *name,
                                 guint16           type,
                                 gboolean          unicast_response)
{
  FoctetDnsQuestion *question = g_new0 (FoctetDnsQuestion, 1);

  question->name = g_strdup (name);
  question->type = type;
  question->klass = FOCTET_DNS_CLASS_IN;
  question->unicast_response = unicast_response;
  g_ptr_array_add (message->questions, question);
}

void
foctet_dns_message_add_record (FoctetDnsMessage *message,
                               FoctetDnsSection  section,
                               FoctetDnsRecord  *record)
{
  g_return_if_fail (section < FOCTET_DNS_N_SECTIONS);

  g_ptr_array_add (message->sections[section], record);
}

guint
foctet_dns_message_count_records (const FoctetDnsMessage *message)
{
  guint n = 0;

  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    n += message->sections[s]->len;
  return n;
}

/* Parsing. */

typedef struct {
  const guint8 *data;
  gsize size;
} Packet;

static guint16
get_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static guint32
get_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Reads the name at *@pos, whose bytes in place must end before @limit;
 * advances *@pos past them.  Each compression pointer must point before
 * the start of the labels it ends (RFC 1035 §4.1.4 "a prior occurrence"):
 * the chain then strictly moves backwards, so it can neither loop nor run
 * forward. */
static char *
parse_name (const Packet  *packet,
            gsize         *pos,
            gsize          limit,
            GError       **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  gsize start = *pos;
  gsize segment = *pos;          /* where the labels being read began */
  gsize p = *pos;
  gsize bound = limit;
  gsize wire = 1;
  guint jumps = 0;
  gboolean jumped = FALSE;

  for (;;)
    {
      guint8 length;

      if (p >= bound)
        {
          malformed (error, "the name at offset %zu runs past the end of its %s", start,
                     jumped || limit == packet->size ? "message" : "record");
          return NULL;
        }
      length = packet->data[p];

      if ((length & 0xc0) == 0xc0)
        {
          gsize target;

          if (p + 2 > bound)
            {
              malformed (error, "the compression pointer at offset %zu is cut off", p);
              return NULL;
            }
          target = ((gsize) (length & 0x3f) << 8) | packet->data[p + 1];
          if (target >= segment)
            {
              malformed (error, "the compression pointer at offset %zu points to offset %zu, "
                         "not before the labels it ends (a loop or a forward pointer)", p, target);
              return NULL;
            }
          /* A name of 255 bytes has at most 127 labels, so a real one
           * never needs more jumps; a hostile chain of pointers to
           * pointers costs no more than that. */
          if (++jumps > FOCTET_DNS_MAX_NAME / 2)
            {
              malformed (error, "the name at offset %zu follows more than %d compression pointers",
                         start, FOCTET_DNS_MAX_NAME / 2);
              return NULL;
            }
          if (!jumped)
            *pos = p + 2;
          jumped = TRUE;
          segment = target;
          p = target;
          bound = packet->size;
          continue;
        }
      if ((length & 0xc0) != 0)
        {
          malformed (error, "the label at offset %zu has the unknown type 0x%02x", p, length & 0xc0);
          return NULL;
        }
      if (length == 0)
        {
          if (!jumped)
            *pos = p + 1;
          break;
        }
      if (p + 1 + length > bound)
        {
          malformed (error, "the label at offset %zu (%u bytes) runs past the end of its %s", p, length,
                     jumped || limit == packet->size ? "message" : "record");
          return NULL;
        }
      wire += 1 + length;
      if (wire > FOCTET_DNS_MAX_NAME)
        {
          malformed (error, "the name at offset %zu is longer than %d bytes", start, FOCTET_DNS_MAX_NAME);
          return NULL;
        }
      if (text->len > 0)
        g_string_append_c (text, '.');
      append_escaped_label (text, packet->data + p + 1, length);
      p += 1 + length;
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static FoctetDnsQuestion *
parse_question (const Packet  *packet,
                gsize         *pos,
                GError       **error)
{
  g_autofree char *name = NULL;
  FoctetDnsQuestion *question;
  guint16 klass;

  name = parse_name (packet, pos, packet->size, error);
  if (name == NULL)
    return NULL;
  if (*pos + 4 > packet->size)
    {
      malformed (error, "the question “%s” at offset %zu is cut off", name, *pos);
      return NULL;
    }
  question = g_new0 (FoctetDnsQuestion, 1);
  question->name = g_steal_pointer (&name);
  question->type = get_u16 (packet->data + *pos);
  klass = get_u16 (packet->data + *pos + 2);
  question->klass = klass & ~FOCTET_DNS_CLASS_TOP_BIT;
  question->unicast_response = (klass & FOCTET_DNS_CLASS_TOP_BIT) != 0;
  *pos += 4;
  return question;
}

static gboolean
parse_rdata (const Packet     *packet,
             FoctetDnsRecord  *record,
             gsize             start,
             gsize             end,
             GError          **error)
{
  gsize p = start;
  gsize length = end - start;

  switch (record->type)
    {
    case FOCTET_DNS_TYPE_A:
    case FOCTET_DNS_TYPE_AAAA:
      {
        gsize expected = record->type == FOCTET_DNS_TYPE_A ? 4 : 16;

        if (length != expected)
          {
            malformed (error, "the %s record “%s” at offset %zu has %zu bytes of data, not %zu",
                       foctet_dns_type_to_string (record->type), record->name, start, length, expected);
            return FALSE;
          }
        memcpy (record->address, packet->data + start, expected);
        return TRUE;
      }

    case FOCTET_DNS_TYPE_PTR:
    case FOCTET_DNS_TYPE_SRV:
    case FOCTET_DNS_TYPE_NSEC:
      if (record->type == FOCTET_DNS_TYPE_SRV)
        {
          if (length < 7)
            {
              malformed (error, "the SRV record “%s” at offset %zu has only %zu bytes of data",
                         record->name, start, length);
              return FALSE;
            }
          record->priority = get_u16 (packet->data + p);
          record->weight = get_u16 (packet->data + p + 2);
          record->port = get_u16 (packet->data + p + 4);
          p += 6;
        }
      record->target = parse_name (packet, &p, end, error);
      if (record->target == NULL)
        return FALSE;
      if (record->type == FOCTET_DNS_TYPE_NSEC)
        {
          record->rdata = g_bytes_new (packet->data + p, end - p);
          return TRUE;
        }
      if (p != end)
        {
          malformed (error, "the %s record “%s” at offset %zu has %zu bytes after its name",
                     foctet_dns_type_to_string (record->type), record->name, start, end - p);
          return FALSE;
        }
      return TRUE;

    case FOCTET_DNS_TYPE_TXT:
      record->strings = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      while (p < end)
        {
          guint8 n = packet->data[p];

          if (p + 1 + n > end)
            {
              malformed (error, "the TXT string at offset %zu (%u bytes) runs past the end of its record",
                         p, n);
              return FALSE;
            }
          g_ptr_array_add (record->strings, g_bytes_new (packet->data + p + 1, n));
          p += 1 + n;
        }
      return TRUE;

    default:
      record->rdata = g_bytes_new (packet->data + start, length);
      return TRUE;
    }
}

static FoctetDnsRecord *
parse_record (const Packet  *packet,
              gsize         *pos,
              GError       **error)
{
  g_autoptr(FoctetDnsRecord) record = g_new0 (FoctetDnsRecord, 1);
  guint16 klass, rdlength;
  gsize at = *pos;

  record->name = parse_name (packet, pos, packet->size, error);
  if (record->name == NULL)
    return NULL;
  if (*pos + 10 > packet->size)
    {
      malformed (error, "the record “%s” at offset %zu is cut off", record->name, at);
      return NULL;
    }
  record->type = get_u16 (packet->data + *pos);
  klass = get_u16 (packet->data + *pos + 2);
  record->klass = klass & ~FOCTET_DNS_CLASS_TOP_BIT;
  record->cache_flush = (klass & FOCTET_DNS_CLASS_TOP_BIT) != 0;
  record->ttl = get_u32 (packet->data + *pos + 4);
  rdlength = get_u16 (packet->data + *pos + 8);
  *pos += 10;
  if (*pos + rdlength > packet->size)
    {
      malformed (error, "the %s record “%s” at offset %zu has %u bytes of data, past the end of "
                 "the message (%zu bytes)", foctet_dns_type_to_string (record->type), record->name, at,
                 rdlength, packet->size);
      return NULL;
    }
  if (!parse_rdata (packet, record, *pos, *pos + rdlength, error))
    return NULL;
  *pos += rdlength;
  return g_steal_pointer (&record);
}

FoctetDnsMessage *
foctet_dns_message_parse (const guint8  *data,
                          gsize          size,
                          GError       **error)
{
  g_autoptr(FoctetDnsMessage) message = NULL;
  Packet packet = { data, size };
  guint counts[1 + FOCTET_DNS_N_SECTIONS];
  guint records = 0;
  gsize pos = FOCTET_DNS_HEADER_SIZE;

  if (size < FOCTET_DNS_HEADER_SIZE)
    {
      malformed (error, "%zu bytes are too short for a DNS message (a header is %d)", size,
                 FOCTET_DNS_HEADER_SIZE);
      return NULL;
    }
  message = foctet_dns_message_new (get_u16 (data), get_u16 (data + 2));
  for (int i = 0; i < 1 + FOCTET_DNS_N_SECTIONS; i++)
    counts[i] = get_u16 (data + 4 + 2 * i);
  records = counts[1] + counts[2] + counts[3];

  /* Absurd counts are refused before anything is allocated for them. */
  if (counts[0] + records > FOCTET_DNS_MAX_ENTRIES
      || (gsize) counts[0] * MIN_QUESTION_SIZE + (gsize) records * MIN_RECORD_SIZE > size - pos)
    {
      malformed (error, "the header counts %u questions and %u records, which cannot fit in %zu bytes",
                 counts[0], records, size - pos);
      return NULL;
    }

  for (guint i = 0; i < counts[0]; i++)
    {
      FoctetDnsQuestion *question = parse_question (&packet, &pos, error);

      if (question == NULL)
        return NULL;
      g_ptr_array_add (message->questions, question);
    }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < counts[1 + s]; i++)
      {
        FoctetDnsRecord *record = parse_record (&packet, &pos, error);

        if (record == NULL)
          return NULL;
        g_ptr_array_add (message->sections[s], record);
      }
  /* Bytes after the last record are ignored, as other resolvers do. */
  return g_steal_pointer (&message);
}

/* Building. */

typedef struct {
  GByteArray *out;
  GHashTable *offsets;           /* escaped suffix text → offset */
} Writer;

static void
put_u16 (GByteArray *out,
         guint16     value)
{
  guint8 b[2] = { value >> 8, value & 0xff };

  g_byte_array_append (out, b, 2);
}

static void
put_u32 (GByteArray *out,
         guint32     value)
{
  guint8 b[4] = { value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  g_byte_array_append (out, b, 4);
}

/* Writes @name, pointing to an earlier copy of its longest known suffix
 * when @compress.  Suffixes match byte for byte (case included), so a
 * built message parses back to exactly the names it was built from. */
static gboolean
write_name (Writer      *w,
            const char  *name,
            gboolean     compress,
            GError     **error)
{
  g_autoptr(GPtrArray) labels = name_to_labels (name, error);

  if (labels == NULL)
    return FALSE;

  for (guint i = 0; i < labels->len; i++)
    {
      g_autoptr(GString) suffix = g_string_new (NULL);
      gpointer offset;
      GBytes *label;
      guint8 length;
      gsize size;
      const guint8 *bytes;

      for (guint j = i; j < labels->len; j++)
        {
          bytes = g_bytes_get_data (g_ptr_array_index (labels, j), &size);
          if (j > i)
            g_string_append_c (suffix, '.');
          append_escaped_label (suffix, bytes, size);
        }
      if (compress && g_hash_table_lookup_extended (w->offsets, suffix->str, NULL, &offset))
        {
          put_u16 (w->out, 0xc000 | GPOINTER_TO_UINT (offset));
          return TRUE;
        }
      if (w->out->len <= MAX_POINTER_OFFSET)
        g_hash_table_insert (w->offsets, g_strdup (suffix->str), GUINT_TO_POINTER (w->out->len));

      label = g_ptr_array_index (labels, i);
      bytes = g_bytes_get_data (label, &size);
      length = (guint8) size;
      g_byte_array_append (w->out, &length, 1);
      g_byte_array_append (w->out, bytes, size);
    }
  g_byte_array_append (w->out, (const guint8 *) "", 1);
  return TRUE;
}

static gboolean
write_record (Writer                 *w,
              const FoctetDnsRecord  *record,
              GError                **error)
{
  guint rdlength_at, rdata_start;
  gsize rdlength;
  guint8 length;

  if (!write_name (w, record->name, TRUE, error))
    return FALSE;
  put_u16 (w->out, record->type);
  put_u16 (w->out, (record->klass & ~FOCTET_DNS_CLASS_TOP_BIT)
                   | (record->cache_flush ? FOCTET_DNS_CLASS_TOP_BIT : 0));
  put_u32 (w->out, record->ttl);
  rdlength_at = w->out->len;
  put_u16 (w->out, 0);
  rdata_start = w->out->len;

  switch (record->type)
    {
    case FOCTET_DNS_TYPE_A:
      g_byte_array_append (w->out, record->address, 4);
      break;
    case FOCTET_DNS_TYPE_AAAA:
      g_byte_array_append (w->out, record->address, 16);
      break;
    case FOCTET_DNS_TYPE_SRV:
      put_u16 (w->out, record->priority);
      put_u16 (w->out, record->weight);
      put_u16 (w->out, record->port);
      G_GNUC_FALLTHROUGH;
    case FOCTET_DNS_TYPE_PTR:
    case FOCTET_DNS_TYPE_NSEC:
      /* RFC 6762 §18.14: mDNS compresses the names in these. */
      if (!write_name (w, record->target != NULL ? record->target : "", TRUE, error))
        return FALSE;
      if (record->type == FOCTET_DNS_TYPE_NSEC && record->rdata != NULL)
        g_byte_array_append (w->out, g_bytes_get_data (record->rdata, NULL), g_bytes_get_size (record->rdata));
      break;
    case FOCTET_DNS_TYPE_TXT:
      for (guint i = 0; record->strings != NULL && i < record->strings->len; i++)
        {
          gsize size;
          const guint8 *s = g_bytes_get_data (g_ptr_array_index (record->strings, i), &size);

          if (size > 255)
            {
              malformed (error, "a TXT string of “%s” has %zu bytes (at most 255)", record->name, size);
              return FALSE;
            }
          length = (guint8) size;
          g_byte_array_append (w->out, &length, 1);
          g_byte_array_append (w->out, s, size);
        }
      break;
    default:
      if (record->rdata != NULL)
        g_byte_array_append (w->out, g_bytes_get_data (record->rdata, NULL), g_bytes_get_size (record->rdata));
    }

  rdlength = w->out->len - rdata_start;
  if (rdlength > G_MAXUINT16)
    {
      malformed (error, "the data of “%s” is %zu bytes long", record->name, rdlength);
      return FALSE;
    }
  w->out->data[rdlength_at] = rdlength >> 8;
  w->out->data[rdlength_at + 1] = rdlength & 0xff;
  return TRUE;
}

GBytes *
foctet_dns_message_build (const FoctetDnsMessage  *message,
                          GError                 **error)
{
  g_autoptr(GByteArray) out = g_byte_array_sized_new (512);
  g_autoptr(GHashTable) offsets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Writer w = { out, offsets };

  if (message->questions->len > G_MAXUINT16)
    {
      malformed (error, "%u questions do not fit in a DNS message", message->questions->len);
      return NULL;
    }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    if (message->sections[s]->len > G_MAXUINT16)
      {
        malformed (error, "%u records do not fit in a section of a DNS message", message->sections[s]->len);
        return NULL;
      }

  put_u16 (out, message->id);
  put_u16 (out, message->flags);
  put_u16 (out, message->questions->len);
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    put_u16 (out, message->sections[s]->len);

  for (guint i = 0; i < message->questions->len; i++)
    {
      const FoctetDnsQuestion *q = g_ptr_array_index (message->questions, i);

      if (!write_name (&w, q->name, TRUE, error))
        return NULL;
      put_u16 (out, q->type);
      put_u16 (out, (q->klass & ~FOCTET_DNS_CLASS_TOP_BIT) | (q->unicast_response ? FOCTET_DNS_CLASS_TOP_BIT : 0));
    }
  for (int s = 0; s < FOCTET_DNS_N_SECTIONS; s++)
    for (guint i = 0; i < message->sections[s]->len; i++)
      if (!write_record (&w, g_ptr_array_index (message->sections[s], i), error))
        return NULL;

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

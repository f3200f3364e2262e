/* foctet-dns-message.h: a codec for DNS messages as multicast DNS uses
 * them (RFC 1035 §4, RFC 6762 §18): the header, questions, and the
 * answer, authority and additional records, with name compression.
 *
 * Parsing trusts nothing: every read is bounded by the message, a name
 * has at most 63 bytes a label and 255 in all, compression pointers must
 * point backwards (so that no pointer chain loops or runs forward), the
 * counts of the header must fit in the bytes that follow, and the data of
 * the types the codec knows (A, AAAA, PTR, SRV, TXT, NSEC) must fill its
 * length exactly.  Other types are kept as raw bytes.  A malformed message
 * is an error in the %FOCTET_ERROR domain (%FOCTET_ERROR_PROTOCOL_ERROR)
 * whose message says what was wrong and at which offset.
 *
 * Names are text: labels joined by '.', with no trailing dot; the root is
 * "".  Inside a label, '.' and '\\' are written "\\." and "\\\\", and bytes
 * outside printable ASCII "\\DDD" (decimal), so that any label survives a
 * parse and a build.  Names compare without regard to ASCII case
 * (foctet_dns_name_equal()).
 *
 * Plugin-internal: the mdns discovery plugin, its tests and the fuzz
 * target compile this file in.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <foctet.h>

G_BEGIN_DECLS

/* Header flags (RFC 1035 §4.1.1) mDNS uses. */
#define FOCTET_DNS_FLAG_RESPONSE 0x8000        /* QR */
#define FOCTET_DNS_FLAG_AUTHORITATIVE 0x0400   /* AA */
#define FOCTET_DNS_FLAG_TRUNCATED 0x0200       /* TC */

/* The top bit of a question's class asks for a unicast response
 * (RFC 6762 §5.4); of a record's class, it is the cache-flush bit
 * (RFC 6762 §10.2). */
#define FOCTET_DNS_CLASS_IN 1
#define FOCTET_DNS_CLASS_ANY 255
#define FOCTET_DNS_CLASS_TOP_BIT 0x8000

#define FOCTET_DNS_HEADER_SIZE 12
/* The longest name in its wire form, length bytes and the final zero
 * included, and the longest label (RFC 1035 §2.3.4). */
#define FOCTET_DNS_MAX_NAME 255
#define FOCTET_DNS_MAX_LABEL 63
/* More questions and records than this in one message is taken for an
 * attack: a 9000-byte mDNS packet (RFC 6762 §17) cannot hold that many
 * useful ones. */
#define FOCTET_DNS_MAX_ENTRIES 1024
/* The largest message mDNS sends or accepts (RFC 6762 §17). */
#define FOCTET_DNS_MAX_MESSAGE 9000

/**
 * FoctetDnsType:
 *
 * The record types the codec parses; others are kept raw.
 */
typedef enum {
  FOCTET_DNS_TYPE_A = 1,
  FOCTET_DNS_TYPE_PTR = 12,
  FOCTET_DNS_TYPE_TXT = 16,
  FOCTET_DNS_TYPE_AAAA = 28,
  FOCTET_DNS_TYPE_SRV = 33,
  FOCTET_DNS_TYPE_NSEC = 47,
  FOCTET_DNS_TYPE_ANY = 255,
} FoctetDnsType;

/**
 * FoctetDnsSection:
 *
 * The three record sections of a message.
 */
typedef enum {
  FOCTET_DNS_SECTION_ANSWER,
  FOCTET_DNS_SECTION_AUTHORITY,
  FOCTET_DNS_SECTION_ADDITIONAL,
  FOCTET_DNS_N_SECTIONS
} FoctetDnsSection;

typedef struct {
  char *name;
  guint16 type;
  guint16 klass;                 /* without the unicast-response bit */
  gboolean unicast_response;
} FoctetDnsQuestion;

/**
 * FoctetDnsRecord:
 * @name: the owner name
 * @type: a #FoctetDnsType or any other type
 * @klass: the class, without the cache-flush bit
 * @cache_flush: the cache-flush bit
 * @ttl: the time to live in seconds; 0 is a goodbye
 * @address: A and AAAA: 4 or 16 bytes in network order
 * @target: PTR: the name pointed to; SRV: the host; NSEC: the next name
 * @priority: SRV
 * @weight: SRV
 * @port: SRV
 * @strings: TXT: its character-strings, as #GBytes (each at most 255 bytes)
 * @rdata: NSEC: the type bitmaps; other types: the whole record data
 *
 * One resource record.  Which fields hold data depends on @type (and on
 * @klass being IN for A and AAAA).
 */
typedef struct {
  char *name;
  guint16 type;
  guint16 klass;
  gboolean cache_flush;
  guint32 ttl;

  guint8 address[16];
  char *target;
  guint16 priority;
  guint16 weight;
  guint16 port;
  GPtrArray *strings;
  GBytes *rdata;
} FoctetDnsRecord;

typedef struct {
  guint16 id;
  guint16 flags;
  GPtrArray *questions;                          /* of FoctetDnsQuestion */
  GPtrArray *sections[FOCTET_DNS_N_SECTIONS];    /* of FoctetDnsRecord */
} FoctetDnsMessage;

FoctetDnsMessage *foctet_dns_message_new (guint16 id,
                                          guint16 flags);
void foctet_dns_message_free (FoctetDnsMessage *message);
FoctetDnsMessage *foctet_dns_message_parse (const guint8  *data,
                                            gsize          size,
                                            GError       **error);
GBytes *foctet_dns_message_build (const FoctetDnsMessage  *message,
                                  GError                 **error);

void foctet_dns_message_add_question (FoctetDnsMessage *message,
                                      const char       *name,
                                      guint16           type,
                                      gboolean          unicast_response);
void foctet_dns_message_add_record (FoctetDnsMessage *message,
                                    FoctetDnsSection  section,
                                    FoctetDnsRecord  *record);
guint foctet_dns_message_count_records (const FoctetDnsMessage *message);

void foctet_dns_question_free (FoctetDnsQuestion *question);

FoctetDnsRecord *foctet_dns_record_new (const char *name,
                                        guint16     type,
                                        guint32     ttl,
                                        gboolean    cache_flush);
FoctetDnsRecord *foctet_dns_record_new_address (const char   *name,
                                                GInetAddress *address,
                                                guint32       ttl,
                                                gboolean      cache_flush);
FoctetDnsRecord *foctet_dns_record_new_ptr (const char *name,
                                            const char *target,
                                            guint32     ttl);
FoctetDnsRecord *foctet_dns_record_new_srv (const char *name,
                                            guint16     priority,
                                            guint16     weight,
                                            guint16     port,
                                            const char *target,
                                            guint32     ttl);
FoctetDnsRecord *foctet_dns_record_new_txt (const char         *name,
                                            const char * const *strings,
                                            guint32             ttl);
FoctetDnsRecord *foctet_dns_record_copy (const FoctetDnsRecord *record);
void foctet_dns_record_free (FoctetDnsRecord *record);
gboolean foctet_dns_record_same_data (const FoctetDnsRecord *a,
                                      const FoctetDnsRecord *b);
GInetAddress *foctet_dns_record_get_address (const FoctetDnsRecord *record);
char *foctet_dns_record_get_txt_value (const FoctetDnsRecord *record,
                                       const char            *key);
char *foctet_dns_record_to_string (const FoctetDnsRecord *record);

gboolean foctet_dns_name_equal (const char *a,
                                const char *b);
char *foctet_dns_name_escape_label (const char *label,
                                    gsize       length);
const char *foctet_dns_type_to_string (guint16 type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetDnsMessage, foctet_dns_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetDnsRecord, foctet_dns_record_free)

G_END_DECLS

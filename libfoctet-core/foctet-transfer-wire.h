/* foctet-transfer-wire.h: the wire format of the file-transfer protocol
 * foctet/transfer/1 (docs/protocol.md, "File transfer
 * (foctet/transfer/1)"): its messages, the manifest of what is offered
 * with the rules that keep a receiver's writes inside its output
 * directory, the ticket's offer entry, and async helpers that read or
 * write exactly one message on a stream.
 *
 * Every stream of the protocol carries messages framed as
 *
 *   type (1) | length (4, big-endian) | body (length bytes)
 *
 *   1 HELLO     secret (32) | flags (u32) = 0              receiver → sender
 *   2 MANIFEST  entry count (u32) | total size (u64) | entries
 *   3 GET       entry index (u32) | offset (u64) | length (u64)
 *   4 DATA      entry index (u32) | offset (u64) | length (u64),
 *               then `length` raw bytes, not framed
 *   5 DONE      entries verified (u32)                     receiver → sender
 *   6 DONE_ACK  empty                                      sender → receiver
 *   7 ERROR     code (u16) | text (UTF-8)                  sender → receiver
 *   8 ABORT     code (u16) | text (UTF-8)                  receiver → sender
 *
 * a manifest entry being
 *
 *   kind (1: 0 directory, 1 file) | mode (u32, bits 0777 only) |
 *   size (u64, 0 for a directory) | BLAKE3 (32, files only) |
 *   path_len (u16) | path (relative, '/'-separated UTF-8)
 *
 * The encoding is canonical: a message has exactly one encoding, so
 * encoding a parsed message gives back the bytes it was parsed from.
 *
 * Internal to libfoctet-core: neither installed nor in <foctet.h> nor
 * introspected, and none of its symbols is exported.  Unit tests and
 * fuzzers reach it through the static twin library.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "foctet-ticket.h"

G_BEGIN_DECLS

/* The protocol name of every stream (PROTOCOL §5 header). */
#define FOCTET_TRANSFER_PROTOCOL "foctet/transfer/1"

/* The ticket's application-data entry type of a transfer offer
 * (PROTOCOL §6); its value in version 1 is the secret, nothing else. */
#define FOCTET_TRANSFER_TICKET_ENTRY 0x80
/* The secret a receiver presents in HELLO. */
#define FOCTET_TRANSFER_SECRET_SIZE 32
/* A file's BLAKE3 hash: 256 bits. */
#define FOCTET_TRANSFER_DIGEST_SIZE 32

/* type (1) and length (4). */
#define FOCTET_TRANSFER_MESSAGE_HEADER_SIZE 5
/* A whole GET, or a DATA header: type, length, index, offset, length. */
#define FOCTET_TRANSFER_RANGE_MESSAGE_SIZE 25
/* The largest body of any message: a MANIFEST's.  Other types have much
 * smaller limits (see foctet_transfer_message_parse()). */
#define FOCTET_TRANSFER_MESSAGE_MAX_BODY (64 * 1024 * 1024)
/* The longest ERROR or ABORT text, in bytes. */
#define FOCTET_TRANSFER_TEXT_MAX 1024

/* Limits of a manifest. */
#define FOCTET_TRANSFER_MAX_ENTRIES 1000000
#define FOCTET_TRANSFER_MAX_TOTAL_SIZE (G_GUINT64_CONSTANT (1) << 50)
#define FOCTET_TRANSFER_PATH_MAX 4096
#define FOCTET_TRANSFER_COMPONENT_MAX 255
/* The only mode bits an entry may carry: rwx for owner, group, other. */
#define FOCTET_TRANSFER_MODE_MASK 0777

/* How many GETs a sender reads ahead of its answers on one stream; it
 * reads no further until it has answered one (flow control, not an
 * error). */
#define FOCTET_TRANSFER_MAX_OUTSTANDING_GETS 64

/* How many data streams a sender serves per session, besides the
 * control stream; the first GET of one more is answered with ERROR 7. */
#define FOCTET_TRANSFER_MAX_DATA_STREAMS 16
/* Seconds a sender waits for the first message of a stream before it
 * resets the stream. */
#define FOCTET_TRANSFER_FIRST_MESSAGE_TIMEOUT 10
/* Seconds a sender waits, after DONE_ACK, for the receiver to half-close
 * the control stream before it closes the connection anyway. */
#define FOCTET_TRANSFER_DONE_ACK_LINGER 5

/* What a receiver appends to a file's path for the file being fetched;
 * no path component may end with it. */
#define FOCTET_TRANSFER_PART_SUFFIX ".foctet-part"

/**
 * FoctetTransferMessageType:
 * @FOCTET_TRANSFER_MESSAGE_HELLO: receiver → sender, first on the
 *   control stream: the `secret` from the ticket
 * @FOCTET_TRANSFER_MESSAGE_MANIFEST: sender → receiver: the `manifest`
 *   of everything offered
 * @FOCTET_TRANSFER_MESSAGE_GET: receiver → sender, on any stream: send
 *   `length` bytes of entry `index` from `offset`
 * @FOCTET_TRANSFER_MESSAGE_DATA: sender → receiver: the answer to a GET,
 *   with the same fields; `length` raw bytes follow it
 * @FOCTET_TRANSFER_MESSAGE_DONE: receiver → sender, on the control
 *   stream: all `count` entries are verified
 * @FOCTET_TRANSFER_MESSAGE_DONE_ACK: sender → receiver: the sender took
 *   note of DONE and ends the transfer
 * @FOCTET_TRANSFER_MESSAGE_ERROR: sender → receiver: refused, with
 *   `error_code` and `error_text`
 * @FOCTET_TRANSFER_MESSAGE_ABORT: receiver → sender, on the control
 *   stream: the receiver gives up, with `error_code` and `error_text`
 *
 * The message types; the values are the wire's.
 */
typedef enum {
  FOCTET_TRANSFER_MESSAGE_HELLO = 1,
  FOCTET_TRANSFER_MESSAGE_MANIFEST = 2,
  FOCTET_TRANSFER_MESSAGE_GET = 3,
  FOCTET_TRANSFER_MESSAGE_DATA = 4,
  FOCTET_TRANSFER_MESSAGE_DONE = 5,
  FOCTET_TRANSFER_MESSAGE_DONE_ACK = 6,
  FOCTET_TRANSFER_MESSAGE_ERROR = 7,
  FOCTET_TRANSFER_MESSAGE_ABORT = 8,
} FoctetTransferMessageType;

/**
 * FoctetTransferErrorCode:
 * @FOCTET_TRANSFER_ERROR_CODE_MALFORMED: a message failed to parse, or a
 *   request was impossible (a GET outside its file, a DONE with the wrong
 *   count, a manifest breaking the rules)
 * @FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET: HELLO carried the wrong secret,
 *   or a GET came on a connection that presented none
 * @FOCTET_TRANSFER_ERROR_CODE_BUSY: the sender is already serving a
 *   receiver
 * @FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE: a well-formed message
 *   that does not belong at this point of this stream
 * @FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR: a local failure (I/O,
 *   memory)
 * @FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED: the sender's file changed
 *   size or cannot be read; from a receiver: a file failed its hash
 *   check even when fetched whole
 * @FOCTET_TRANSFER_ERROR_CODE_LIMITS: a limit of the side sending it (too
 *   many streams, a manifest larger than the receiver accepts, no room)
 * @FOCTET_TRANSFER_ERROR_CODE_CANCELLED: the side gives up for a reason
 *   of its own (interrupted by its user, a file it will not overwrite)
 *
 * The codes of ERROR and ABORT messages.  A message may carry any other
 * 16-bit code (a later version's): parsers accept it, and it reads as
 * "error code N".
 */
typedef enum {
  FOCTET_TRANSFER_ERROR_CODE_MALFORMED = 1,
  FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET = 2,
  FOCTET_TRANSFER_ERROR_CODE_BUSY = 3,
  FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE = 4,
  FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR = 5,
  FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED = 6,
  FOCTET_TRANSFER_ERROR_CODE_LIMITS = 7,
  FOCTET_TRANSFER_ERROR_CODE_CANCELLED = 8,
} FoctetTransferErrorCode;

/**
 * FoctetTransferEntryKind:
 * @FOCTET_TRANSFER_ENTRY_DIRECTORY: a directory
 * @FOCTET_TRANSFER_ENTRY_FILE: a regular file
 *
 * What a manifest entry is; the values are the wire's.  There is no
 * other kind: symbolic links, devices, sockets and FIFOs are never
 * offered.
 */
typedef enum {
  FOCTET_TRANSFER_ENTRY_DIRECTORY = 0,
  FOCTET_TRANSFER_ENTRY_FILE = 1,
} FoctetTransferEntryKind;

/**
 * FoctetTransferEntry:
 * @kind: a file or a directory
 * @mode: permission bits, within %FOCTET_TRANSFER_MODE_MASK
 * @size: a file's size in bytes; 0 for a directory
 * @digest: a file's BLAKE3 hash (256 bits); all zero for a directory
 * @path: where the entry goes, relative to the receiver's output
 *   directory; it passed foctet_transfer_path_validate()
 *
 * One entry of a #FoctetTransferManifest.  Read it, do not change it.
 */
typedef struct {
  FoctetTransferEntryKind kind;
  guint32 mode;
  guint64 size;
  guint8 digest[FOCTET_TRANSFER_DIGEST_SIZE];
  char *path;
} FoctetTransferEntry;

/**
 * FoctetTransferManifest:
 *
 * The list of everything a sender offers, in MANIFEST order: entry i is
 * the one GET and DATA call index i.  Whichever way it is made — entry
 * by entry with the add functions, or by the parser — it holds only
 * entries that obey the rules: safe paths, no duplicates, every entry's
 * parent directory listed before it, within the limits.  Reference
 * counted.
 */
typedef struct _FoctetTransferManifest FoctetTransferManifest;

FoctetTransferManifest *foctet_transfer_manifest_new (void);
FoctetTransferManifest *foctet_transfer_manifest_ref (FoctetTransferManifest *self);
void foctet_transfer_manifest_unref (FoctetTransferManifest *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetTransferManifest, foctet_transfer_manifest_unref)

gboolean foctet_transfer_manifest_add_directory (FoctetTransferManifest  *self,
                                                 const char              *path,
                                                 guint32                  mode,
                                                 GError                 **error);
gboolean foctet_transfer_manifest_add_file (FoctetTransferManifest  *self,
                                            const char              *path,
                                            guint32                  mode,
                                            guint64                  size,
                                            const guint8             digest[FOCTET_TRANSFER_DIGEST_SIZE],
                                            GError                 **error);

guint32 foctet_transfer_manifest_get_n_entries (FoctetTransferManifest *self);
const FoctetTransferEntry *foctet_transfer_manifest_get_entry (FoctetTransferManifest *self,
                                                               guint32                 index);
guint64 foctet_transfer_manifest_get_total_size (FoctetTransferManifest *self);
gboolean foctet_transfer_manifest_lookup (FoctetTransferManifest *self,
                                          const char             *path,
                                          guint32                *index);

gboolean foctet_transfer_path_validate (const char  *path,
                                        GError     **error);

/**
 * FoctetTransferMessage:
 * @type: which message
 * @secret: HELLO: the %FOCTET_TRANSFER_SECRET_SIZE-byte secret;
 *   otherwise %NULL
 * @manifest: MANIFEST: what is offered; otherwise %NULL
 * @index: GET, DATA: the manifest entry, a file; otherwise 0
 * @offset: GET, DATA: the first byte of the range; otherwise 0
 * @length: GET, DATA: how many bytes; @offset + @length is at most
 *   %FOCTET_TRANSFER_MAX_TOTAL_SIZE; otherwise 0
 * @count: DONE: how many entries the receiver verified; otherwise 0
 * @error_code: ERROR, ABORT: a #FoctetTransferErrorCode or any other
 *   code; otherwise 0
 * @error_text: ERROR, ABORT: the text for logs, valid UTF-8 without NUL,
 *   at most %FOCTET_TRANSFER_TEXT_MAX bytes, possibly empty; otherwise
 *   %NULL
 *
 * One message.  Made by the constructors or by
 * foctet_transfer_message_parse(), so its fields always hold what the
 * wire allows; read them, do not change them.  Free with
 * foctet_transfer_message_free().
 */
typedef struct {
  FoctetTransferMessageType type;
  GBytes *secret;
  FoctetTransferManifest *manifest;
  guint32 index;
  guint64 offset;
  guint64 length;
  guint32 count;
  guint16 error_code;
  char *error_text;
} FoctetTransferMessage;

FoctetTransferMessage *foctet_transfer_message_new_hello (GBytes *secret);
FoctetTransferMessage *foctet_transfer_message_new_manifest (FoctetTransferManifest *manifest);
FoctetTransferMessage *foctet_transfer_message_new_get (guint32 index,
                                                        guint64 offset,
                                                        guint64 length);
FoctetTransferMessage *foctet_transfer_message_new_data (guint32 index,
                                                         guint64 offset,
                                                         guint64 length);
FoctetTransferMessage *foctet_transfer_message_new_done (guint32 count);
FoctetTransferMessage *foctet_transfer_message_new_done_ack (void);
FoctetTransferMessage *foctet_transfer_message_new_error (guint16     code,
                                                          const char *text);
FoctetTransferMessage *foctet_transfer_message_new_abort (guint16     code,
                                                          const char *text);
void foctet_transfer_message_free (FoctetTransferMessage *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetTransferMessage, foctet_transfer_message_free)

GBytes *foctet_transfer_message_encode (const FoctetTransferMessage *self);
void foctet_transfer_message_encode_range (FoctetTransferMessageType  type,
                                           guint32                    index,
                                           guint64                    offset,
                                           guint64                    length,
                                           guint8                    *out);

gboolean foctet_transfer_message_parse (const guint8           *data,
                                        gsize                   len,
                                        gsize                  *consumed,
                                        FoctetTransferMessage **out,
                                        GError                **error);

void foctet_transfer_message_read_async (GInputStream        *stream,
                                         int                  io_priority,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
FoctetTransferMessage *foctet_transfer_message_read_finish (GInputStream  *stream,
                                                            GAsyncResult  *result,
                                                            GError       **error);

void foctet_transfer_message_write_async (GOutputStream               *stream,
                                          const FoctetTransferMessage *message,
                                          int                          io_priority,
                                          GCancellable                *cancellable,
                                          GAsyncReadyCallback          callback,
                                          gpointer                     user_data);
gboolean foctet_transfer_message_write_finish (GOutputStream  *stream,
                                               GAsyncResult   *result,
                                               GError        **error);

gboolean foctet_transfer_manifest_check_get (FoctetTransferManifest       *self,
                                             const FoctetTransferMessage  *get,
                                             GError                      **error);
gboolean foctet_transfer_message_check_data (const FoctetTransferMessage  *get,
                                             const FoctetTransferMessage  *data,
                                             GError                      **error);

const char *foctet_transfer_message_type_to_string (guint8 type);
char *foctet_transfer_message_to_string (const FoctetTransferMessage *self);

const char *foctet_transfer_error_code_describe (guint16 code);
char *foctet_transfer_error_code_to_string (guint16 code);
GError *foctet_transfer_message_to_error (const FoctetTransferMessage *self);
GError *foctet_transfer_message_to_error_from (const FoctetTransferMessage *self,
                                              const char                  *who);

GBytes *foctet_transfer_secret_new (GError **error);
gboolean foctet_transfer_secret_equal (GBytes *a,
                                       GBytes *b);

GBytes *foctet_transfer_offer_encode (GBytes *secret);
GBytes *foctet_transfer_offer_parse (GBytes  *value,
                                     GError **error);
gboolean foctet_transfer_ticket_add_offer (FoctetTicket  *ticket,
                                           GBytes        *secret,
                                           GError       **error);
GBytes *foctet_transfer_ticket_get_offer (FoctetTicket  *ticket,
                                          GError       **error);

G_END_DECLS

/* Fuzz target: the file-transfer messages (docs/protocol.md, "File
 * transfer (foctet/transfer/1)"): type (1) | length (4) | body, a DATA's
 * raw bytes after it, and the paths of manifests.
 *
 * The input is what a peer wrote on a transfer stream: messages one after
 * another, each DATA followed by its raw bytes, parsed until one is
 * refused or the bytes run out.  Invariants:
 *  - the verdict on each message is the one the framing rules give,
 *    worked out independently (type, length per type, HELLO flags, the
 *    GET and DATA range bound, ERROR and ABORT texts); a MANIFEST the
 *    parser accepts obeys every manifest rule, checked independently:
 *    entry count and total size within the limits and adding up, kinds,
 *    modes, directory sizes, no path twice, every parent listed before
 *    as a directory, and only safe paths — each one, joined to an output
 *    directory and canonicalized, stays strictly inside it;
 *  - consumed <= len, and is the message's size exactly when it is
 *    accepted; a refusal is a %FOCTET_ERROR_PROTOCOL_ERROR with a one-line
 *    UTF-8 message, and returns nothing;
 *  - every prefix of an accepted message asks for more, without an error;
 *  - parse -> encode gives back the bytes parsed (the encoding is
 *    canonical), and parsing that encoding gives the same message again;
 *  - the constructors (and the manifest's add functions) accept every
 *    field the parser accepted and encode the same bytes; the log and
 *    error texts are UTF-8;
 *  - each GET is judged by foctet_transfer_manifest_check_get() against
 *    the last manifest seen as the rules say, worked out independently;
 *  - the async reader, over a memory stream of the input, returns the same
 *    messages, leaves the stream exactly at the end of each (a DATA's raw
 *    bytes stay unread), refuses with the parser's error having read no
 *    more than the bytes that break the rule, and reports the end of the
 *    stream as truncated inside a message and as closed before one;
 *  - the input read as one path (up to its first NUL) is accepted by
 *    foctet_transfer_path_validate() exactly when the path rules,
 *    checked independently, accept it;
 *  - nothing leaks (the replay runs under ASan's leak checker).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-transfer-wire.h"
#include "foctet-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER 5
#define MAX_TOTAL (G_GUINT64_CONSTANT (1) << 50)

typedef enum {
  VERDICT_MORE,        /* a prefix of a message that may still be valid */
  VERDICT_REFUSED,     /* the framing rules refuse it */
  VERDICT_FRAMED,      /* framing right; a manifest's entries up to the parser */
} Verdict;

static guint32
get_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
get_u64 (const guint8 *p)
{
  return ((guint64) get_u32 (p) << 32) | get_u32 (p + 4);
}

/* The framing rules, independently of the codec.  Sets @decided_at to
 * how many bytes it took to decide (for a refusal: the bytes a reader has
 * read when it refuses) and @total to the message's size once known. */
static Verdict
framing_verdict (const guint8 *p,
                 size_t        n,
                 size_t       *decided_at,
                 size_t       *total)
{
  guint8 type;
  guint64 length, minimum, maximum;
  const guint8 *body;

  *decided_at = 0;
  *total = 0;
  if (n < 1)
    return VERDICT_MORE;
  type = p[0];
  *decided_at = 1;
  if (type < 1 || type > 8)
    return VERDICT_REFUSED;
  if (n < HEADER)
    return VERDICT_MORE;
  length = get_u32 (p + 1);
  *decided_at = HEADER;
  switch (type)
    {
    case 1:   /* HELLO */
      minimum = maximum = 36;
      break;
    case 2:   /* MANIFEST */
      minimum = 12;
      maximum = 64 * 1024 * 1024;
      break;
    case 3:   /* GET */
    case 4:   /* DATA */
      minimum = maximum = 20;
      break;
    case 5:   /* DONE */
      minimum = maximum = 4;
      break;
    case 6:   /* DONE_ACK */
      minimum = maximum = 0;
      break;
    case 7:   /* ERROR */
    case 8:   /* ABORT */
      minimum = 2;
      maximum = 2 + 1024;
      break;
    default:
      abort ();
    }
  if (length < minimum || length > maximum)
    return VERDICT_REFUSED;
  *total = HEADER + length;
  if (n < HEADER + length)
    return VERDICT_MORE;
  *decided_at = HEADER + length;
  body = p + HEADER;
  switch (type)
    {
    case 1:
      if (get_u32 (body + 32) != 0)
        return VERDICT_REFUSED;
      break;
    case 3:
    case 4:
      {
        guint64 offset = get_u64 (body + 4), len = get_u64 (body + 12);

        if (offset > MAX_TOTAL || len > MAX_TOTAL - offset)
          return VERDICT_REFUSED;
      }
      break;
    case 7:
    case 8:
      if (memchr (body + 2, 0, length - 2) != NULL ||
          !g_utf8_validate ((const char *) body + 2, length - 2, NULL))
        return VERDICT_REFUSED;
      break;
    case 2:
      if (get_u32 (body) > 1000000 || get_u64 (body + 4) > MAX_TOTAL)
        return VERDICT_REFUSED;
      break;
    default:
      break;
    }
  return VERDICT_FRAMED;
}

/* The path rules, independently of the codec's scan. */
static gboolean
path_is_safe (const char *path)
{
  size_t len = strlen (path);
  g_auto(GStrv) components = NULL;

  if (len == 0 || len > 4096 || !g_utf8_validate (path, len, NULL))
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if ((guint8) path[i] < 0x20 || path[i] == 0x7f || path[i] == '\\')
      return FALSE;
  components = g_strsplit (path, "/", -1);
  for (guint i = 0; components[i] != NULL; i++)
    {
      const char *c = components[i];

      if (*c == '\0' || strlen (c) > 255 || strcmp (c, ".") == 0 || strcmp (c, "..") == 0 ||
          g_str_has_suffix (c, ".foctet-part"))
        return FALSE;
    }
  return TRUE;
}

/* What the rules mean: joined to an output directory, the path names
 * something strictly inside it. */
static void
check_stays_inside (const char *path)
{
  g_autofree char *joined = g_canonicalize_filename (path, "/out");

  if (!g_str_has_prefix (joined, "/out/") || strlen (joined) != strlen (path) + 5)
    abort ();
}

/* Every rule of an accepted manifest, independently, and the add
 * functions rebuild it to the same bytes. */
static void
check_manifest (FoctetTransferManifest *manifest,
                const guint8           *body)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(FoctetTransferManifest) rebuilt = foctet_transfer_manifest_new ();
  g_autoptr(FoctetTransferMessage) a = foctet_transfer_message_new_manifest (manifest);
  g_autoptr(FoctetTransferMessage) b = NULL;
  g_autoptr(GBytes) a_bytes = NULL;
  g_autoptr(GBytes) b_bytes = NULL;
  guint32 n = foctet_transfer_manifest_get_n_entries (manifest);
  guint64 sum = 0;

  if (n != get_u32 (body) || n > 1000000 ||
      foctet_transfer_manifest_get_total_size (manifest) != get_u64 (body + 4))
    abort ();
  for (guint32 i = 0; i < n; i++)
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (manifest, i);
      const char *slash = strrchr (entry->path, '/');
      guint32 index = G_MAXUINT32;
      gboolean ok;

      if ((entry->kind != FOCTET_TRANSFER_ENTRY_DIRECTORY && entry->kind != FOCTET_TRANSFER_ENTRY_FILE) ||
          (entry->mode & ~0777u) != 0 ||
          (entry->kind == FOCTET_TRANSFER_ENTRY_DIRECTORY && entry->size != 0) ||
          !path_is_safe (entry->path) || !foctet_transfer_path_validate (entry->path, NULL) ||
          g_hash_table_contains (seen, entry->path))
        abort ();
      check_stays_inside (entry->path);
      if (slash != NULL)
        {
          g_autofree char *parent = g_strndup (entry->path, slash - entry->path);
          gpointer kind = g_hash_table_lookup (seen, parent);

          if (kind != GUINT_TO_POINTER (1 + FOCTET_TRANSFER_ENTRY_DIRECTORY))
            abort ();
        }
      g_hash_table_insert (seen, entry->path, GUINT_TO_POINTER (1 + entry->kind));
      if (!foctet_transfer_manifest_lookup (manifest, entry->path, &index) || index != i)
        abort ();
      sum += entry->size;
      if (sum > MAX_TOTAL)
        abort ();

      if (entry->kind == FOCTET_TRANSFER_ENTRY_DIRECTORY)
        ok = foctet_transfer_manifest_add_directory (rebuilt, entry->path, entry->mode, NULL);
      else
        ok = foctet_transfer_manifest_add_file (rebuilt, entry->path, entry->mode, entry->size,
                                                entry->digest, NULL);
      if (!ok)
        abort ();
    }
  if (sum != foctet_transfer_manifest_get_total_size (manifest))
    abort ();

  b = foctet_transfer_message_new_manifest (rebuilt);
  a_bytes = foctet_transfer_message_encode (a);
  b_bytes = foctet_transfer_message_encode (b);
  if (!g_bytes_equal (a_bytes, b_bytes))
    abort ();
}

/* The GET rules against a manifest, independently. */
static void
check_get (FoctetTransferManifest      *manifest,
           const FoctetTransferMessage *get)
{
  g_autoptr(GError) error = NULL;
  gboolean expected = FALSE;
  gboolean ok = foctet_transfer_manifest_check_get (manifest, get, &error);

  if (get->index < foctet_transfer_manifest_get_n_entries (manifest))
    {
      const FoctetTransferEntry *entry = foctet_transfer_manifest_get_entry (manifest, get->index);

      expected = entry->kind == FOCTET_TRANSFER_ENTRY_FILE &&
                 (get->length > 0 || entry->size == 0) &&
                 get->offset <= entry->size && get->offset + get->length <= entry->size;
    }
  if (ok != expected || ok != (error == NULL))
    abort ();
  if (!ok && (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) ||
              !g_utf8_validate (error->message, -1, NULL) || strchr (error->message, '\n') != NULL))
    abort ();
}

static FoctetTransferMessage *
rebuild (const FoctetTransferMessage *message)
{
  FoctetTransferMessage *copy = NULL;

  switch (message->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      copy = foctet_transfer_message_new_hello (message->secret);
      break;
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      copy = foctet_transfer_message_new_manifest (message->manifest);
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
      copy = foctet_transfer_message_new_get (message->index, message->offset, message->length);
      break;
    case FOCTET_TRANSFER_MESSAGE_DATA:
      copy = foctet_transfer_message_new_data (message->index, message->offset, message->length);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      copy = foctet_transfer_message_new_done (message->count);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      copy = foctet_transfer_message_new_done_ack ();
      break;
    case FOCTET_TRANSFER_MESSAGE_ERROR:
      copy = foctet_transfer_message_new_error (message->error_code, message->error_text);
      break;
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      copy = foctet_transfer_message_new_abort (message->error_code, message->error_text);
      break;
    default:
      abort ();
    }
  if (copy == NULL)
    abort ();
  return copy;
}

static void
check_accepted (const guint8                *p,
                size_t                       consumed,
                const FoctetTransferMessage *message)
{
  g_autoptr(GBytes) encoded = foctet_transfer_message_encode (message);
  g_autoptr(FoctetTransferMessage) again = NULL;
  g_autoptr(FoctetTransferMessage) rebuilt = NULL;
  g_autoptr(GBytes) again_encoded = NULL;
  g_autoptr(GBytes) rebuilt_encoded = NULL;
  g_autofree char *text = NULL;
  gsize again_consumed = 0;

  /* Canonical: the same bytes back. */
  if (encoded == NULL || g_bytes_get_size (encoded) != consumed ||
      memcmp (g_bytes_get_data (encoded, NULL), p, consumed) != 0)
    abort ();
  if (!foctet_transfer_message_parse (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded),
                                      &again_consumed, &again, NULL) ||
      again_consumed != consumed)
    abort ();
  again_encoded = foctet_transfer_message_encode (again);
  if (!g_bytes_equal (again_encoded, encoded))
    abort ();

  /* The fields are what the constructors make. */
  if (message->type != p[0] ||
      ((message->secret != NULL) != (message->type == FOCTET_TRANSFER_MESSAGE_HELLO)) ||
      ((message->manifest != NULL) != (message->type == FOCTET_TRANSFER_MESSAGE_MANIFEST)) ||
      ((message->error_text != NULL) != (message->type == FOCTET_TRANSFER_MESSAGE_ERROR ||
                                         message->type == FOCTET_TRANSFER_MESSAGE_ABORT)))
    abort ();
  if (message->type == FOCTET_TRANSFER_MESSAGE_HELLO &&
      (g_bytes_get_size (message->secret) != 32 || !foctet_transfer_secret_equal (message->secret, message->secret)))
    abort ();
  if (message->type == FOCTET_TRANSFER_MESSAGE_MANIFEST)
    check_manifest (message->manifest, p + HEADER);
  rebuilt = rebuild (message);
  rebuilt_encoded = foctet_transfer_message_encode (rebuilt);
  if (!g_bytes_equal (rebuilt_encoded, encoded))
    abort ();

  text = foctet_transfer_message_to_string (message);
  if (text == NULL || !g_utf8_validate (text, -1, NULL) || strchr (text, '\n') != NULL)
    abort ();
  if (message->type == FOCTET_TRANSFER_MESSAGE_ERROR || message->type == FOCTET_TRANSFER_MESSAGE_ABORT)
    {
      g_autoptr(GError) error = foctet_transfer_message_to_error (message);
      g_autofree char *code_text = foctet_transfer_error_code_to_string (message->error_code);

      if (error == NULL || error->domain != FOCTET_ERROR || !g_utf8_validate (error->message, -1, NULL) ||
          strchr (error->message, '\n') != NULL || code_text == NULL || !g_utf8_validate (code_text, -1, NULL))
        abort ();
    }
}

/* Parses the message at @p and checks the verdict.  Returns the verdict
 * given; on %VERDICT_REFUSED, @error is set. */
static Verdict
parse_checked (const guint8           *p,
               size_t                  n,
               size_t                 *consumed_out,
               FoctetTransferMessage **message_out,
               size_t                 *decided_at,
               GError                **error_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetTransferMessage) message = NULL;
  size_t total = 0;
  gsize consumed = 7;
  Verdict framing = framing_verdict (p, n, decided_at, &total);
  gboolean ok = foctet_transfer_message_parse (p, n, &consumed, &message, &error);

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
          !g_utf8_validate (error->message, -1, NULL) || strchr (error->message, '\n') != NULL)
        abort ();
      /* Only a manifest's entries may be refused beyond the framing. */
      if (framing == VERDICT_MORE || (framing == VERDICT_FRAMED && p[0] != FOCTET_TRANSFER_MESSAGE_MANIFEST))
        abort ();
      *error_out = g_steal_pointer (&error);
      return VERDICT_REFUSED;
    }

  if (framing != VERDICT_FRAMED || error != NULL || message == NULL || consumed != total)
    abort ();
  check_accepted (p, consumed, message);

  /* Every prefix asks for more, from an exact-size copy so that reading
   * past it is caught. */
  for (size_t i = 0; i < consumed; i++)
    {
      g_autofree guint8 *prefix = g_memdup2 (p, i);
      g_autoptr(GError) prefix_error = NULL;
      g_autoptr(FoctetTransferMessage) prefix_message = NULL;
      gsize prefix_consumed = 7;

      if (foctet_transfer_message_parse (prefix, i, &prefix_consumed, &prefix_message, &prefix_error) ||
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

static FoctetTransferMessage *
read_one (GMainContext  *context,
          GInputStream  *input,
          GError       **error)
{
  Slot slot = { NULL };
  FoctetTransferMessage *message;
  guint i;

  foctet_transfer_message_read_async (input, G_PRIORITY_DEFAULT, NULL, store_cb, &slot);
  /* A memory stream is always ready: a few iterations per read. */
  for (i = 0; i < 100000 && slot.result == NULL; i++)
    g_main_context_iteration (context, TRUE);
  if (slot.result == NULL)
    abort ();
  message = foctet_transfer_message_read_finish (input, slot.result, error);
  g_object_unref (slot.result);
  return message;
}

static void
fuzz_path (const uint8_t *data,
           size_t         size)
{
  g_autofree char *path = g_strndup ((const char *) data, MIN (size, 5000));
  g_autoptr(GError) error = NULL;
  gboolean ok = foctet_transfer_path_validate (path, &error);

  if (ok != path_is_safe (path) || ok != (error == NULL))
    abort ();
  if (ok)
    check_stays_inside (path);
  else if (!g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT) ||
           !g_utf8_validate (error->message, -1, NULL) || strchr (error->message, '\n') != NULL)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(FoctetTransferManifest) manifest = NULL;
  size_t offset = 0;

  fuzz_path (data, size);

  g_main_context_push_thread_default (context);
  input = g_memory_input_stream_new_from_data (data, size, NULL);

  for (;;)
    {
      g_autoptr(FoctetTransferMessage) parsed = NULL;
      g_autoptr(FoctetTransferMessage) got = NULL;
      g_autoptr(GError) parse_error = NULL;
      g_autoptr(GError) read_error = NULL;
      size_t consumed = 0, decided_at = 0;
      Verdict verdict = parse_checked (data + offset, size - offset, &consumed, &parsed, &decided_at,
                                       &parse_error);

      got = read_one (context, input, &read_error);

      if (verdict == VERDICT_FRAMED)
        {
          g_autoptr(GBytes) a = foctet_transfer_message_encode (parsed);
          g_autoptr(GBytes) b = NULL;

          if (got == NULL || read_error != NULL)
            abort ();
          b = foctet_transfer_message_encode (got);
          if (!g_bytes_equal (a, b))
            abort ();
          offset += consumed;
          /* Not a byte past the message. */
          if (g_seekable_tell (G_SEEKABLE (input)) != (goffset) offset)
            abort ();

          if (parsed->type == FOCTET_TRANSFER_MESSAGE_MANIFEST)
            {
              g_clear_pointer (&manifest, foctet_transfer_manifest_unref);
              manifest = foctet_transfer_manifest_ref (parsed->manifest);
            }
          else if (parsed->type == FOCTET_TRANSFER_MESSAGE_GET && manifest != NULL)
            check_get (manifest, parsed);
          else if (parsed->type == FOCTET_TRANSFER_MESSAGE_DATA)
            {
              /* The raw bytes: whatever of them the input holds. */
              gsize raw = (gsize) MIN (parsed->length, (guint64) (size - offset));
              g_autoptr(FoctetTransferMessage) get = foctet_transfer_message_new_get (parsed->index, parsed->offset,
                                                                                      parsed->length);

              if (!foctet_transfer_message_check_data (get, parsed, NULL))
                abort ();
              if (g_input_stream_skip (input, raw, NULL, NULL) != (gssize) raw)
                abort ();
              offset += raw;
            }
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

  g_clear_object (&input);
  while (g_main_context_pending (context))
    g_main_context_iteration (context, FALSE);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return 0;
}

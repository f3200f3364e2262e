/* foctet-transfer-wire.c: the file-transfer protocol's wire format —
 * path rules, manifests, the message codec, one-message readers and
 * writers for streams, and the ticket's offer entry.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "foctet-transfer-wire.h"
#include "foctet-error.h"
#include "foctet-message-io.h"

#define HEADER FOCTET_TRANSFER_MESSAGE_HEADER_SIZE

/* Bodies of the fixed-size messages. */
#define FLAGS_SIZE 4
#define HELLO_BODY (FOCTET_TRANSFER_SECRET_SIZE + FLAGS_SIZE)
#define RANGE_BODY (4 + 8 + 8)                    /* GET, DATA */
#define DONE_BODY 4
#define CODE_SIZE 2
#define TEXT_BODY_MAX (CODE_SIZE + FOCTET_TRANSFER_TEXT_MAX)
/* MANIFEST: entry count and total size, then the entries. */
#define MANIFEST_FIXED (4 + 8)
/* An entry: kind, mode, size, [BLAKE3,] path_len, path. */
#define ENTRY_FIXED (1 + 4 + 8 + 2)
#define ENTRY_MIN (ENTRY_FIXED + 1)

/* Peer text in error messages: paths are cut after this many bytes. */
#define SHOWN_PATH_MAX 160

static guint16
read_u16 (const guint8 *p)
{
  return ((guint16) p[0] << 8) | p[1];
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
read_u64 (const guint8 *p)
{
  return ((guint64) read_u32 (p) << 32) | read_u32 (p + 4);
}

static void
append_u16 (GByteArray *out,
            guint16     v)
{
  guint8 b[2] = { v >> 8, v & 0xff };

  g_byte_array_append (out, b, sizeof b);
}

static void
append_u32 (GByteArray *out,
            guint32     v)
{
  guint8 b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

  g_byte_array_append (out, b, sizeof b);
}

static void
append_u64 (GByteArray *out,
            guint64     v)
{
  append_u32 (out, v >> 32);
  append_u32 (out, v & 0xffffffff);
}

/* Text from the peer (paths, ERROR and ABORT texts) goes into logs and
 * error messages, which are one line of UTF-8: control characters,
 * quotes and backslashes are escaped, and so is every byte above 0x7f
 * unless the whole text is valid UTF-8 (which is then kept as it is).
 * At most @max bytes of @text are shown, cut at a character boundary
 * and followed by "…". */
static char *
printable_len (const char *text,
               gsize       len,
               gsize       max)
{
  gboolean utf8 = g_utf8_validate (text, len, NULL);
  GString *out = g_string_sized_new (MIN (len, max) + 8);
  gsize shown = len;

  if (len > max)
    {
      shown = max;
      while (utf8 && shown > 0 && ((guint8) text[shown] & 0xc0) == 0x80)
        shown--;
    }
  for (gsize i = 0; i < shown; i++)
    {
      guint8 c = (guint8) text[i];

      switch (c)
        {
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        case '\v':
          g_string_append (out, "\\v");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '"':
          g_string_append (out, "\\\"");
          break;
        default:
          if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            g_string_append_printf (out, "\\%03o", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  if (shown < len)
    g_string_append (out, "…");
  return g_string_free (out, FALSE);
}

static char *
printable_path (const char *path,
                gsize       len)
{
  return printable_len (path, len, SHOWN_PATH_MAX);
}

static char *
printable_text (const char *text)
{
  return printable_len (text, strlen (text), G_MAXSIZE);
}

/* Paths. */

/* The path rules, on exactly @len bytes (a path from the wire is not
 * NUL-terminated).  On failure @reason says what is wrong, without
 * quoting the path. */
static gboolean
check_path (const char  *path,
            gsize        len,
            char       **reason)
{
  const char *nul, *end = NULL;
  const gsize suffix_len = strlen (FOCTET_TRANSFER_PART_SUFFIX);
  gsize start = 0;
  guint component = 0;

  if (len == 0)
    {
      *reason = g_strdup ("it is empty");
      return FALSE;
    }
  if (len > FOCTET_TRANSFER_PATH_MAX)
    {
      *reason = g_strdup_printf ("it is %" G_GSIZE_FORMAT " bytes long; the most is %d",
                                 len, FOCTET_TRANSFER_PATH_MAX);
      return FALSE;
    }
  nul = memchr (path, '\0', len);
  if (nul != NULL)
    {
      *reason = g_strdup_printf ("it contains a NUL byte (at byte %" G_GSIZE_FORMAT ")",
                                 (gsize) (nul - path) + 1);
      return FALSE;
    }
  if (!g_utf8_validate (path, len, &end))
    {
      *reason = g_strdup_printf ("it is not valid UTF-8 (at byte %" G_GSIZE_FORMAT ")",
                                 (gsize) (end - path) + 1);
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    {
      guint8 c = (guint8) path[i];

      if (c == '\\')
        {
          *reason = g_strdup_printf ("it contains a backslash (at byte %" G_GSIZE_FORMAT "); "
                                     "the only separator is “/”", i + 1);
          return FALSE;
        }
      if (c < 0x20 || c == 0x7f)
        {
          *reason = g_strdup_printf ("it contains the control character 0x%02x (at byte %"
                                     G_GSIZE_FORMAT ")", c, i + 1);
          return FALSE;
        }
    }
  if (path[0] == '/')
    {
      *reason = g_strdup ("it is absolute (it starts with “/”)");
      return FALSE;
    }
  if (path[len - 1] == '/')
    {
      *reason = g_strdup ("it ends with “/”");
      return FALSE;
    }

  for (;;)
    {
      const char *slash = memchr (path + start, '/', len - start);
      gsize stop = slash != NULL ? (gsize) (slash - path) : len;
      gsize n = stop - start;
      const char *name = path + start;

      component++;
      if (n == 0)
        {
          *reason = g_strdup_printf ("component %u is empty (“//”)", component);
          return FALSE;
        }
      if (n > FOCTET_TRANSFER_COMPONENT_MAX)
        {
          *reason = g_strdup_printf ("component %u is %" G_GSIZE_FORMAT " bytes long; the most is %d",
                                     component, n, FOCTET_TRANSFER_COMPONENT_MAX);
          return FALSE;
        }
      if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
        {
          *reason = g_strdup_printf ("component %u is “%.*s”", component, (int) n, name);
          return FALSE;
        }
      if (n >= suffix_len && memcmp (name + n - suffix_len, FOCTET_TRANSFER_PART_SUFFIX, suffix_len) == 0)
        {
          *reason = g_strdup_printf ("component %u ends with “%s”, which receivers reserve for "
                                     "files being fetched", component, FOCTET_TRANSFER_PART_SUFFIX);
          return FALSE;
        }
      if (slash == NULL)
        break;
      start = stop + 1;
    }
  return TRUE;
}

/**
 * foctet_transfer_path_validate:
 * @path: a path as a manifest carries it
 * @error: return location for a #GError
 *
 * Checks that @path may name an entry of a manifest: a receiver can
 * create it under its output directory, and only there, on any usual
 * file system.  The rules: 1 to %FOCTET_TRANSFER_PATH_MAX bytes of valid
 * UTF-8; no NUL byte, backslash or control character (0x01–0x1f, 0x7f);
 * relative (no leading "/") and no trailing "/"; components separated by
 * single "/", none empty, "." or "..", none longer than
 * %FOCTET_TRANSFER_COMPONENT_MAX bytes, none ending with
 * %FOCTET_TRANSFER_PART_SUFFIX.
 *
 * The sender checks each path before it offers it, so that it never
 * makes a manifest a receiver must refuse; manifests are checked with
 * the same code when they are parsed.  A path breaking a rule fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT and a message quoting it (escaped) and
 * saying which rule, and where.
 *
 * Returns: %TRUE if @path is valid
 */
gboolean
foctet_transfer_path_validate (const char  *path,
                               GError     **error)
{
  g_autofree char *reason = NULL;
  gsize len;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = strlen (path);
  if (!check_path (path, len, &reason))
    {
      g_autofree char *shown = printable_path (path, len);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Invalid path “%s”: %s", shown, reason);
      return FALSE;
    }
  return TRUE;
}

/* Manifests. */

struct _FoctetTransferManifest {
  gatomicrefcount ref_count;
  GArray *entries;       /* of FoctetTransferEntry, in manifest order */
  /* path (the entry's own string) → index + 1.  A balanced tree, not a
   * hash table: the paths come from the peer, who could pick a million
   * that collide in any fixed hash function and make each insertion
   * linear.  A lookup costs O(log n) comparisons whatever the paths. */
  GTree *paths;
  guint parent_hint;     /* index + 1 of the last entry's parent, or 0 */
  guint64 total_size;
  gsize body_size;       /* of its MANIFEST message */
};

/* Whether entry @index (+ 1, 0 for none) is the directory @path of
 * @len bytes. */
static gboolean
entry_is_path (FoctetTransferManifest *self,
               guint                   index,
               const char             *path,
               gsize                   len)
{
  const FoctetTransferEntry *entry;

  if (index == 0)
    return FALSE;
  entry = &g_array_index (self->entries, FoctetTransferEntry, index - 1);
  return strncmp (entry->path, path, len) == 0 && entry->path[len] == '\0';
}

static void
entry_clear (FoctetTransferEntry *entry)
{
  g_clear_pointer (&entry->path, g_free);
}

static gsize
entry_encoded_size (FoctetTransferEntryKind kind,
                    gsize                   path_len)
{
  return ENTRY_FIXED + (kind == FOCTET_TRANSFER_ENTRY_FILE ? FOCTET_TRANSFER_DIGEST_SIZE : 0) + path_len;
}

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return strcmp (a, b);
}

static FoctetTransferManifest *
manifest_new_sized (guint reserved)
{
  FoctetTransferManifest *self = g_new0 (FoctetTransferManifest, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->entries = g_array_sized_new (FALSE, FALSE, sizeof (FoctetTransferEntry), reserved);
  g_array_set_clear_func (self->entries, (GDestroyNotify) entry_clear);
  self->paths = g_tree_new (compare_paths);
  self->body_size = MANIFEST_FIXED;
  return self;
}

/**
 * foctet_transfer_manifest_new:
 *
 * Creates an empty manifest; the sender adds its entries with
 * foctet_transfer_manifest_add_directory() and
 * foctet_transfer_manifest_add_file(), each directory before what it
 * holds.
 *
 * Returns: (transfer full): a new manifest
 */
FoctetTransferManifest *
foctet_transfer_manifest_new (void)
{
  return manifest_new_sized (0);
}

/**
 * foctet_transfer_manifest_ref:
 * @self: a #FoctetTransferManifest
 *
 * Returns: (transfer full): @self
 */
FoctetTransferManifest *
foctet_transfer_manifest_ref (FoctetTransferManifest *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * foctet_transfer_manifest_unref:
 * @self: (nullable): a #FoctetTransferManifest
 *
 * Drops a reference; the last one frees the manifest.
 */
void
foctet_transfer_manifest_unref (FoctetTransferManifest *self)
{
  if (self == NULL || !g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_tree_unref (self->paths);
  g_array_unref (self->entries);
  g_free (self);
}

/* Checks one entry against the rules and against the entries before it,
 * and appends it.  @path holds @path_len bytes, not NUL-terminated.  On
 * failure the manifest is unchanged and @error holds
 * %FOCTET_ERROR_INVALID_ARGUMENT (the entry breaks a rule) or
 * %FOCTET_ERROR_LIMIT_REACHED (it would take the manifest over a limit),
 * with a message that quotes the path but does not say which entry:
 * callers add that. */
static gboolean
manifest_append (FoctetTransferManifest   *self,
                 FoctetTransferEntryKind   kind,
                 guint32                   mode,
                 guint64                   size,
                 const guint8             *digest,
                 const char               *path,
                 gsize                     path_len,
                 GError                  **error)
{
  g_autofree char *reason = NULL;
  g_autofree char *shown = NULL;     /* the path as error messages quote it */
  g_autofree char *copy = NULL;
  FoctetTransferEntry entry = { 0, };
  gpointer found;
  char *slash;
  gsize encoded;

  if (!check_path (path, path_len, &reason))
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "invalid path “%s”: %s", shown, reason);
      return FALSE;
    }
  /* Valid paths hold no NUL: the copy is the whole path. */
  copy = g_strndup (path, path_len);

  if ((mode & ~(guint32) FOCTET_TRANSFER_MODE_MASK) != 0)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” has mode 0%o; only the permission bits 0777 may be set", shown, mode);
      return FALSE;
    }
  if (kind == FOCTET_TRANSFER_ENTRY_DIRECTORY && size != 0)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "directory “%s” has size %" G_GUINT64_FORMAT "; a directory's size must be 0",
                   shown, size);
      return FALSE;
    }
  found = g_tree_lookup (self->paths, copy);
  if (found != NULL)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s” is listed twice (entry %u has the same path)",
                   shown, GPOINTER_TO_UINT (found) - 1);
      return FALSE;
    }
  slash = strrchr (copy, '/');
  if (slash != NULL)
    {
      const FoctetTransferEntry *parent = NULL;
      guint parent_index = 0;

      /* The parent is the path up to its last "/": most often that of
       * the entry before, or the entry before itself; else it is looked
       * up in place. */
      if (entry_is_path (self, self->parent_hint, copy, slash - copy))
        found = GUINT_TO_POINTER (self->parent_hint);
      else if (entry_is_path (self, self->entries->len, copy, slash - copy))
        found = GUINT_TO_POINTER (self->entries->len);
      else
        {
          *slash = '\0';
          found = g_tree_lookup (self->paths, copy);
          *slash = '/';
        }
      if (found != NULL)
        {
          parent_index = GPOINTER_TO_UINT (found) - 1;
          parent = &g_array_index (self->entries, FoctetTransferEntry, parent_index);
        }
      if (parent == NULL || parent->kind != FOCTET_TRANSFER_ENTRY_DIRECTORY)
        {
          g_autofree char *shown_parent = printable_path (copy, slash - copy);

          shown = printable_path (path, path_len);
          if (parent == NULL)
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                         "the parent directory of “%s”, “%s”, is not listed before it",
                         shown, shown_parent);
          else
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                         "the parent of “%s”, “%s” (entry %u), is a file, not a directory",
                         shown, shown_parent, parent_index);
          return FALSE;
        }
    }

  if (self->entries->len >= FOCTET_TRANSFER_MAX_ENTRIES)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "“%s” would be entry %u; a manifest holds at most %d entries",
                   shown, self->entries->len, FOCTET_TRANSFER_MAX_ENTRIES);
      return FALSE;
    }
  if (size > FOCTET_TRANSFER_MAX_TOTAL_SIZE - self->total_size)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "“%s” (%" G_GUINT64_FORMAT " bytes) would take the total size over %"
                   G_GUINT64_FORMAT " bytes (2^50)",
                   shown, size, FOCTET_TRANSFER_MAX_TOTAL_SIZE);
      return FALSE;
    }
  encoded = entry_encoded_size (kind, path_len);
  if (encoded > FOCTET_TRANSFER_MESSAGE_MAX_BODY - self->body_size)
    {
      shown = printable_path (path, path_len);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                   "“%s” would make the MANIFEST message longer than %d bytes",
                   shown, FOCTET_TRANSFER_MESSAGE_MAX_BODY);
      return FALSE;
    }

  entry.kind = kind;
  entry.mode = mode;
  entry.size = size;
  if (kind == FOCTET_TRANSFER_ENTRY_FILE)
    memcpy (entry.digest, digest, FOCTET_TRANSFER_DIGEST_SIZE);
  self->parent_hint = slash != NULL ? GPOINTER_TO_UINT (found) : 0;
  entry.path = g_steal_pointer (&copy);
  g_array_append_val (self->entries, entry);
  g_tree_insert (self->paths, entry.path, GUINT_TO_POINTER (self->entries->len));
  self->total_size += size;
  self->body_size += encoded;
  return TRUE;
}

static gboolean
manifest_add (FoctetTransferManifest   *self,
              FoctetTransferEntryKind   kind,
              const char               *path,
              guint32                   mode,
              guint64                   size,
              const guint8             *digest,
              GError                  **error)
{
  g_autoptr(GError) local_error = NULL;

  if (manifest_append (self, kind, mode, size, digest, path, strlen (path), &local_error))
    return TRUE;
  g_set_error (error, local_error->domain, local_error->code,
               "Manifest entry %u: %s", self->entries->len, local_error->message);
  return FALSE;
}

/**
 * foctet_transfer_manifest_add_directory:
 * @self: a #FoctetTransferManifest
 * @path: where the directory goes, as foctet_transfer_path_validate()
 *   accepts it
 * @mode: its permission bits, within 0777
 * @error: return location for a #GError
 *
 * Appends a directory.  Fails, leaving @self unchanged, with
 * %FOCTET_ERROR_INVALID_ARGUMENT if @path is invalid, already listed, or
 * inside a directory not listed yet or inside a file, or @mode has other
 * bits than 0777; with %FOCTET_ERROR_LIMIT_REACHED if the manifest would
 * hold more than %FOCTET_TRANSFER_MAX_ENTRIES entries or not fit in a
 * MANIFEST message.  The message starts "Manifest entry N: ", N being
 * the index the entry would have had.
 *
 * Returns: %TRUE if the directory was added, as the last entry
 */
gboolean
foctet_transfer_manifest_add_directory (FoctetTransferManifest  *self,
                                        const char              *path,
                                        guint32                  mode,
                                        GError                 **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return manifest_add (self, FOCTET_TRANSFER_ENTRY_DIRECTORY, path, mode, 0, NULL, error);
}

/**
 * foctet_transfer_manifest_add_file:
 * @self: a #FoctetTransferManifest
 * @path: where the file goes, as foctet_transfer_path_validate() accepts
 *   it
 * @mode: its permission bits, within 0777
 * @size: its size in bytes
 * @digest: (array fixed-size=32): the BLAKE3 hash (256 bits) of its content
 * @error: return location for a #GError
 *
 * Appends a regular file.  Fails as
 * foctet_transfer_manifest_add_directory() does, and with
 * %FOCTET_ERROR_LIMIT_REACHED if the sizes of all files would add up to
 * more than %FOCTET_TRANSFER_MAX_TOTAL_SIZE.
 *
 * Returns: %TRUE if the file was added, as the last entry
 */
gboolean
foctet_transfer_manifest_add_file (FoctetTransferManifest  *self,
                                   const char              *path,
                                   guint32                  mode,
                                   guint64                  size,
                                   const guint8             digest[FOCTET_TRANSFER_DIGEST_SIZE],
                                   GError                 **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (digest != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return manifest_add (self, FOCTET_TRANSFER_ENTRY_FILE, path, mode, size, digest, error);
}

/**
 * foctet_transfer_manifest_get_n_entries:
 * @self: a #FoctetTransferManifest
 *
 * Returns: how many entries @self holds
 */
guint32
foctet_transfer_manifest_get_n_entries (FoctetTransferManifest *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->entries->len;
}

/**
 * foctet_transfer_manifest_get_entry:
 * @self: a #FoctetTransferManifest
 * @index: an entry index, below foctet_transfer_manifest_get_n_entries()
 *
 * Returns: (transfer none): entry @index; valid as long as @self is and
 *   no entry is added to it
 */
const FoctetTransferEntry *
foctet_transfer_manifest_get_entry (FoctetTransferManifest *self,
                                    guint32                 index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->entries->len, NULL);

  return &g_array_index (self->entries, FoctetTransferEntry, index);
}

/**
 * foctet_transfer_manifest_get_total_size:
 * @self: a #FoctetTransferManifest
 *
 * Returns: the sizes of all its files added up, at most
 *   %FOCTET_TRANSFER_MAX_TOTAL_SIZE
 */
guint64
foctet_transfer_manifest_get_total_size (FoctetTransferManifest *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->total_size;
}

/**
 * foctet_transfer_manifest_lookup:
 * @self: a #FoctetTransferManifest
 * @path: a path
 * @index: (out) (optional): return location for the entry's index
 *
 * Finds the entry whose path is exactly @path.
 *
 * Returns: %TRUE if there is one
 */
gboolean
foctet_transfer_manifest_lookup (FoctetTransferManifest *self,
                                 const char             *path,
                                 guint32                *index)
{
  gpointer found;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  found = g_tree_lookup (self->paths, path);
  if (found == NULL)
    return FALSE;
  if (index != NULL)
    *index = GPOINTER_TO_UINT (found) - 1;
  return TRUE;
}

/* Messages. */

static gboolean
type_is_known (guint8 type)
{
  return type >= FOCTET_TRANSFER_MESSAGE_HELLO && type <= FOCTET_TRANSFER_MESSAGE_ABORT;
}

/**
 * foctet_transfer_message_type_to_string:
 * @type: a message type byte
 *
 * Returns: the name used in the specification ("HELLO", "MANIFEST",
 *   "GET", "DATA", "DONE", "DONE_ACK", "ERROR", "ABORT"), or "unknown"
 */
const char *
foctet_transfer_message_type_to_string (guint8 type)
{
  switch (type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      return "HELLO";
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      return "MANIFEST";
    case FOCTET_TRANSFER_MESSAGE_GET:
      return "GET";
    case FOCTET_TRANSFER_MESSAGE_DATA:
      return "DATA";
    case FOCTET_TRANSFER_MESSAGE_DONE:
      return "DONE";
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      return "DONE_ACK";
    case FOCTET_TRANSFER_MESSAGE_ERROR:
      return "ERROR";
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      return "ABORT";
    default:
      return "unknown";
    }
}

/**
 * foctet_transfer_error_code_describe:
 * @code: an ERROR or ABORT code
 *
 * Returns: (nullable): what @code means, in a few lower-case words, or
 *   %NULL if it is not a #FoctetTransferErrorCode
 */
const char *
foctet_transfer_error_code_describe (guint16 code)
{
  switch (code)
    {
    case FOCTET_TRANSFER_ERROR_CODE_MALFORMED:
      return "malformed message or request";
    case FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET:
      return "wrong secret";
    case FOCTET_TRANSFER_ERROR_CODE_BUSY:
      return "busy: already serving a receiver";
    case FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE:
      return "unexpected message";
    case FOCTET_TRANSFER_ERROR_CODE_INTERNAL_ERROR:
      return "internal error";
    case FOCTET_TRANSFER_ERROR_CODE_FILE_CHANGED:
      return "file changed or unreadable";
    case FOCTET_TRANSFER_ERROR_CODE_LIMITS:
      return "limit exceeded";
    case FOCTET_TRANSFER_ERROR_CODE_CANCELLED:
      return "cancelled";
    default:
      return NULL;
    }
}

/**
 * foctet_transfer_error_code_to_string:
 * @code: an ERROR or ABORT code
 *
 * Like foctet_transfer_error_code_describe(), for any code: one the
 * protocol does not define (a later version's) reads "error code N".
 *
 * Returns: (transfer full): the text for logs and error messages
 */
char *
foctet_transfer_error_code_to_string (guint16 code)
{
  const char *text = foctet_transfer_error_code_describe (code);

  if (text != NULL)
    return g_strdup (text);
  return g_strdup_printf ("error code %u", code);
}

static FoctetTransferMessage *
message_new (FoctetTransferMessageType type)
{
  FoctetTransferMessage *self = g_new0 (FoctetTransferMessage, 1);

  self->type = type;
  return self;
}

/**
 * foctet_transfer_message_free:
 * @self: (nullable): a #FoctetTransferMessage
 *
 * Frees @self and drops what it holds.
 */
void
foctet_transfer_message_free (FoctetTransferMessage *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->secret, g_bytes_unref);
  g_clear_pointer (&self->manifest, foctet_transfer_manifest_unref);
  g_free (self->error_text);
  g_free (self);
}

static gboolean
range_is_valid (guint64 offset,
                guint64 length)
{
  return offset <= FOCTET_TRANSFER_MAX_TOTAL_SIZE && length <= FOCTET_TRANSFER_MAX_TOTAL_SIZE - offset;
}

/**
 * foctet_transfer_message_new_hello:
 * @secret: the %FOCTET_TRANSFER_SECRET_SIZE-byte secret of the ticket's
 *   offer
 *
 * Returns: (transfer full): a HELLO message, the receiver's first on its
 *   control stream
 */
FoctetTransferMessage *
foctet_transfer_message_new_hello (GBytes *secret)
{
  FoctetTransferMessage *self;

  g_return_val_if_fail (secret != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (secret) == FOCTET_TRANSFER_SECRET_SIZE, NULL);

  self = message_new (FOCTET_TRANSFER_MESSAGE_HELLO);
  self->secret = g_bytes_ref (secret);
  return self;
}

/**
 * foctet_transfer_message_new_manifest:
 * @manifest: what the sender offers; the message holds a reference, so
 *   add nothing to it afterwards
 *
 * A manifest always fits in a MANIFEST message: the add functions refuse
 * an entry that would not.
 *
 * Returns: (transfer full): a MANIFEST message
 */
FoctetTransferMessage *
foctet_transfer_message_new_manifest (FoctetTransferManifest *manifest)
{
  FoctetTransferMessage *self;

  g_return_val_if_fail (manifest != NULL, NULL);

  self = message_new (FOCTET_TRANSFER_MESSAGE_MANIFEST);
  self->manifest = foctet_transfer_manifest_ref (manifest);
  return self;
}

/* GET and DATA: the same fields. */
static FoctetTransferMessage *
message_new_range (FoctetTransferMessageType type,
                   guint32                   index,
                   guint64                   offset,
                   guint64                   length)
{
  FoctetTransferMessage *self;

  g_return_val_if_fail (range_is_valid (offset, length), NULL);

  self = message_new (type);
  self->index = index;
  self->offset = offset;
  self->length = length;
  return self;
}

/**
 * foctet_transfer_message_new_get:
 * @index: the manifest entry of the file
 * @offset: the first byte wanted
 * @length: how many bytes; @offset + @length at most
 *   %FOCTET_TRANSFER_MAX_TOTAL_SIZE
 *
 * Makes a request for a range of a file.  Whether the range lies within
 * the file is for the sender to check, with
 * foctet_transfer_manifest_check_get().
 *
 * Returns: (transfer full): a GET message
 */
FoctetTransferMessage *
foctet_transfer_message_new_get (guint32 index,
                                 guint64 offset,
                                 guint64 length)
{
  return message_new_range (FOCTET_TRANSFER_MESSAGE_GET, index, offset, length);
}

/**
 * foctet_transfer_message_new_data:
 * @index: the manifest entry of the file, as the GET asked
 * @offset: the first byte sent, as the GET asked
 * @length: how many bytes follow the message, as the GET asked
 *
 * Makes the header of an answer to a GET; exactly @length raw bytes of
 * the file must follow it on the stream.
 *
 * Returns: (transfer full): a DATA message
 */
FoctetTransferMessage *
foctet_transfer_message_new_data (guint32 index,
                                  guint64 offset,
                                  guint64 length)
{
  return message_new_range (FOCTET_TRANSFER_MESSAGE_DATA, index, offset, length);
}

/**
 * foctet_transfer_message_new_done:
 * @count: how many entries the receiver verified: all of the manifest's
 *
 * Returns: (transfer full): a DONE message
 */
FoctetTransferMessage *
foctet_transfer_message_new_done (guint32 count)
{
  FoctetTransferMessage *self = message_new (FOCTET_TRANSFER_MESSAGE_DONE);

  self->count = count;
  return self;
}

/**
 * foctet_transfer_message_new_done_ack:
 *
 * Returns: (transfer full): a DONE_ACK message
 */
FoctetTransferMessage *
foctet_transfer_message_new_done_ack (void)
{
  return message_new (FOCTET_TRANSFER_MESSAGE_DONE_ACK);
}

static FoctetTransferMessage *
message_new_text (FoctetTransferMessageType  type,
                  guint16                    code,
                  const char                *text)
{
  FoctetTransferMessage *self = message_new (type);
  char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  gsize len = strlen (valid);

  if (len > FOCTET_TRANSFER_TEXT_MAX)
    {
      gsize cut = FOCTET_TRANSFER_TEXT_MAX;

      /* Back to the first byte of the character the limit falls in. */
      while (cut > 0 && ((guint8) valid[cut] & 0xc0) == 0x80)
        cut--;
      valid[cut] = '\0';
    }
  self->error_code = code;
  self->error_text = valid;
  return self;
}

/**
 * foctet_transfer_message_new_error:
 * @code: a #FoctetTransferErrorCode (any other value is sent as it is)
 * @text: (nullable): a message for the receiver's logs, or %NULL for none
 *
 * Makes the sender's ERROR message.  @text is made to fit the wire: bytes
 * that are not UTF-8 become U+FFFD, and text longer than
 * %FOCTET_TRANSFER_TEXT_MAX bytes is cut at a character boundary.
 *
 * Returns: (transfer full): an ERROR message
 */
FoctetTransferMessage *
foctet_transfer_message_new_error (guint16     code,
                                   const char *text)
{
  return message_new_text (FOCTET_TRANSFER_MESSAGE_ERROR, code, text);
}

/**
 * foctet_transfer_message_new_abort:
 * @code: a #FoctetTransferErrorCode (any other value is sent as it is)
 * @text: (nullable): a message for the sender's logs, or %NULL for none
 *
 * Makes the receiver's ABORT message; @text is made to fit as in
 * foctet_transfer_message_new_error().
 *
 * Returns: (transfer full): an ABORT message
 */
FoctetTransferMessage *
foctet_transfer_message_new_abort (guint16     code,
                                   const char *text)
{
  return message_new_text (FOCTET_TRANSFER_MESSAGE_ABORT, code, text);
}

static gboolean
message_is_well_formed (const FoctetTransferMessage *self)
{
  switch (self->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      return self->secret != NULL && g_bytes_get_size (self->secret) == FOCTET_TRANSFER_SECRET_SIZE;
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      return self->manifest != NULL;
    case FOCTET_TRANSFER_MESSAGE_GET:
    case FOCTET_TRANSFER_MESSAGE_DATA:
      return range_is_valid (self->offset, self->length);
    case FOCTET_TRANSFER_MESSAGE_DONE:
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      return TRUE;
    case FOCTET_TRANSFER_MESSAGE_ERROR:
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      return self->error_text != NULL && strlen (self->error_text) <= FOCTET_TRANSFER_TEXT_MAX;
    default:
      return FALSE;
    }
}

static void
append_manifest (GByteArray             *out,
                 FoctetTransferManifest *manifest)
{
  append_u32 (out, manifest->entries->len);
  append_u64 (out, manifest->total_size);
  for (guint i = 0; i < manifest->entries->len; i++)
    {
      const FoctetTransferEntry *entry = &g_array_index (manifest->entries, FoctetTransferEntry, i);
      gsize path_len = strlen (entry->path);
      guint8 kind = entry->kind;

      g_byte_array_append (out, &kind, 1);
      append_u32 (out, entry->mode);
      append_u64 (out, entry->size);
      if (entry->kind == FOCTET_TRANSFER_ENTRY_FILE)
        g_byte_array_append (out, entry->digest, FOCTET_TRANSFER_DIGEST_SIZE);
      append_u16 (out, (guint16) path_len);
      g_byte_array_append (out, (const guint8 *) entry->path, path_len);
    }
}

/**
 * foctet_transfer_message_encode:
 * @self: a message made by a constructor or by the parser
 *
 * Encodes @self as it goes on the wire: type, length, body.  For DATA,
 * that is the header the raw bytes follow.
 *
 * Returns: (transfer full): the encoding
 */
GBytes *
foctet_transfer_message_encode (const FoctetTransferMessage *self)
{
  GByteArray *out;
  gsize body_len;
  gsize size_hint = 64;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (message_is_well_formed (self), NULL);

  if (self->type == FOCTET_TRANSFER_MESSAGE_MANIFEST)
    size_hint = self->manifest->body_size;
  out = g_byte_array_sized_new (HEADER + size_hint);
  {
    /* The length is filled in below, once the body is known. */
    guint8 header[HEADER] = { self->type, 0, 0, 0, 0 };

    g_byte_array_append (out, header, sizeof header);
  }

  switch (self->type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      g_byte_array_append (out, g_bytes_get_data (self->secret, NULL), FOCTET_TRANSFER_SECRET_SIZE);
      append_u32 (out, 0);
      break;
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      append_manifest (out, self->manifest);
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
    case FOCTET_TRANSFER_MESSAGE_DATA:
      append_u32 (out, self->index);
      append_u64 (out, self->offset);
      append_u64 (out, self->length);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      append_u32 (out, self->count);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      break;
    case FOCTET_TRANSFER_MESSAGE_ERROR:
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      append_u16 (out, self->error_code);
      g_byte_array_append (out, (const guint8 *) self->error_text, strlen (self->error_text));
      break;
    default:
      g_assert_not_reached ();
    }

  body_len = out->len - HEADER;
  /* Every field is bounded so that no body can be longer. */
  g_assert (body_len <= FOCTET_TRANSFER_MESSAGE_MAX_BODY);
  out->data[1] = (body_len >> 24) & 0xff;
  out->data[2] = (body_len >> 16) & 0xff;
  out->data[3] = (body_len >> 8) & 0xff;
  out->data[4] = body_len & 0xff;
  return g_byte_array_free_to_bytes (out);
}

/**
 * foctet_transfer_message_encode_range:
 * @type: %FOCTET_TRANSFER_MESSAGE_GET or %FOCTET_TRANSFER_MESSAGE_DATA
 * @index: the entry
 * @offset: the first byte
 * @length: how many bytes; @offset + @length at most
 *   %FOCTET_TRANSFER_MAX_TOTAL_SIZE
 * @out: (out caller-allocates): %FOCTET_TRANSFER_RANGE_MESSAGE_SIZE bytes
 *
 * Encodes a GET or a DATA header into @out, as
 * foctet_transfer_message_encode() would, without allocating: for the
 * sides that write many of them back to back into one buffer.
 */
void
foctet_transfer_message_encode_range (FoctetTransferMessageType type,
                                      guint32                   index,
                                      guint64                   offset,
                                      guint64                   length,
                                      guint8                   *out)
{
  g_return_if_fail (type == FOCTET_TRANSFER_MESSAGE_GET || type == FOCTET_TRANSFER_MESSAGE_DATA);
  g_return_if_fail (offset <= FOCTET_TRANSFER_MAX_TOTAL_SIZE &&
                    length <= FOCTET_TRANSFER_MAX_TOTAL_SIZE - offset);

  out[0] = type;
  out[1] = out[2] = out[3] = 0;
  out[4] = FOCTET_TRANSFER_RANGE_MESSAGE_SIZE - HEADER;
  for (int i = 0; i < 4; i++)
    out[5 + i] = (index >> (24 - 8 * i)) & 0xff;
  for (int i = 0; i < 8; i++)
    {
      out[9 + i] = (offset >> (56 - 8 * i)) & 0xff;
      out[17 + i] = (length >> (56 - 8 * i)) & 0xff;
    }
}

/* The rules a message's length breaks on its own, checked as soon as the
 * header is in, so that a reader never waits for (or allocates) the body
 * of a message it will refuse anyway. */
static gboolean
check_length (guint8    type,
              guint32   length,
              GError  **error)
{
  const char *name = foctet_transfer_message_type_to_string (type);
  guint32 exact = 0;
  const char *what = NULL;

  switch (type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      exact = HELLO_BODY;
      what = "the 32-byte secret and the flags";
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
    case FOCTET_TRANSFER_MESSAGE_DATA:
      exact = RANGE_BODY;
      what = "entry index, offset and length";
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      exact = DONE_BODY;
      what = "the entry count";
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      if (length != 0)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer DONE_ACK message has a %" G_GUINT32_FORMAT "-byte body; it must be empty",
                       length);
          return FALSE;
        }
      return TRUE;
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      if (length > FOCTET_TRANSFER_MESSAGE_MAX_BODY)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message has length %" G_GUINT32_FORMAT "; the most is %d",
                       length, FOCTET_TRANSFER_MESSAGE_MAX_BODY);
          return FALSE;
        }
      if (length < MANIFEST_FIXED)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message has a %" G_GUINT32_FORMAT "-byte body; the entry "
                       "count and the total size alone take %d", length, MANIFEST_FIXED);
          return FALSE;
        }
      return TRUE;
    case FOCTET_TRANSFER_MESSAGE_ERROR:
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      if (length > TEXT_BODY_MAX)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer %s message has length %" G_GUINT32_FORMAT "; the most is %d",
                       name, length, TEXT_BODY_MAX);
          return FALSE;
        }
      if (length < CODE_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer %s message has a %" G_GUINT32_FORMAT "-byte body; the error code "
                       "alone takes %d", name, length, CODE_SIZE);
          return FALSE;
        }
      return TRUE;
    default:
      g_assert_not_reached ();
    }

  if (length != exact)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer %s message has a %" G_GUINT32_FORMAT "-byte body; it must be %"
                   G_GUINT32_FORMAT " bytes (%s)", name, length, exact, what);
      return FALSE;
    }
  return TRUE;
}

/* A MANIFEST body whose length check_length() accepted. */
static FoctetTransferManifest *
parse_manifest (const guint8  *body,
                gsize          length,
                GError       **error)
{
  g_autoptr(FoctetTransferManifest) manifest = NULL;
  guint32 count = read_u32 (body);
  guint64 total = read_u64 (body + 4);
  gsize pos = MANIFEST_FIXED;

  if (count > FOCTET_TRANSFER_MAX_ENTRIES)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer MANIFEST message has entry count %" G_GUINT32_FORMAT "; the most is %d",
                   count, FOCTET_TRANSFER_MAX_ENTRIES);
      return NULL;
    }
  if (total > FOCTET_TRANSFER_MAX_TOTAL_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer MANIFEST message has total size %" G_GUINT64_FORMAT "; the most is %"
                   G_GUINT64_FORMAT " (2^50)", total, FOCTET_TRANSFER_MAX_TOTAL_SIZE);
      return NULL;
    }

  /* No more room than the body can describe, whatever the count says. */
  manifest = manifest_new_sized (MIN (count, (length - MANIFEST_FIXED) / ENTRY_MIN));

  for (guint32 i = 0; i < count; i++)
    {
      g_autoptr(GError) local_error = NULL;
      const guint8 *p = body + pos;
      gsize left = length - pos;
      FoctetTransferEntryKind kind;
      gsize fixed;
      guint16 path_len;

      if (left < 1)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: the body ends after %u of the %"
                       G_GUINT32_FORMAT " entries its entry count announces", i, count);
          return NULL;
        }
      if (p[0] != FOCTET_TRANSFER_ENTRY_DIRECTORY && p[0] != FOCTET_TRANSFER_ENTRY_FILE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: entry %u has kind %u; it must be 0 (directory) "
                       "or 1 (file)", i, p[0]);
          return NULL;
        }
      kind = p[0];
      fixed = entry_encoded_size (kind, 0);
      if (left < fixed)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: entry %u (a %s) is cut off: its fields before "
                       "the path take %" G_GSIZE_FORMAT " bytes, only %" G_GSIZE_FORMAT " remain",
                       i, kind == FOCTET_TRANSFER_ENTRY_FILE ? "file" : "directory", fixed, left);
          return NULL;
        }
      path_len = read_u16 (p + fixed - 2);
      if (path_len > left - fixed)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: entry %u: path length %u runs past the end of "
                       "the body: only %" G_GSIZE_FORMAT " bytes remain", i, path_len, left - fixed);
          return NULL;
        }

      if (!manifest_append (manifest, kind, read_u32 (p + 1), read_u64 (p + 5),
                            kind == FOCTET_TRANSFER_ENTRY_FILE ? p + 13 : NULL,
                            (const char *) p + fixed, path_len, &local_error))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: entry %u: %s", i, local_error->message);
          return NULL;
        }
      if (manifest->total_size > total)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer MANIFEST message: entry %u: the files up to here add up to %"
                       G_GUINT64_FORMAT " bytes, more than the total size %" G_GUINT64_FORMAT,
                       i, manifest->total_size, total);
          return NULL;
        }
      pos += fixed + path_len;
    }

  if (pos < length)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer MANIFEST message: %" G_GSIZE_FORMAT " bytes after the last of its %"
                   G_GUINT32_FORMAT " entries", length - pos, count);
      return NULL;
    }
  if (manifest->total_size != total)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer MANIFEST message has total size %" G_GUINT64_FORMAT
                   ", but its files add up to %" G_GUINT64_FORMAT, total, manifest->total_size);
      return NULL;
    }
  /* What was parsed is what encoding gives back. */
  g_assert (manifest->body_size == length);
  return g_steal_pointer (&manifest);
}

/* The body of a message whose type and length check_length() accepted. */
static FoctetTransferMessage *
parse_body (guint8         type,
            const guint8  *body,
            gsize          length,
            GError       **error)
{
  g_autoptr(FoctetTransferMessage) message = message_new (type);
  const char *name = foctet_transfer_message_type_to_string (type);

  switch (type)
    {
    case FOCTET_TRANSFER_MESSAGE_HELLO:
      {
        guint32 flags = read_u32 (body + FOCTET_TRANSFER_SECRET_SIZE);

        if (flags != 0)
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "transfer HELLO message has flags 0x%08" G_GINT32_MODIFIER "x; version 1 "
                         "defines none, so they must be 0", flags);
            return NULL;
          }
        message->secret = g_bytes_new (body, FOCTET_TRANSFER_SECRET_SIZE);
      }
      break;
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      message->manifest = parse_manifest (body, length, error);
      if (message->manifest == NULL)
        return NULL;
      break;
    case FOCTET_TRANSFER_MESSAGE_GET:
    case FOCTET_TRANSFER_MESSAGE_DATA:
      message->index = read_u32 (body);
      message->offset = read_u64 (body + 4);
      message->length = read_u64 (body + 12);
      if (!range_is_valid (message->offset, message->length))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                       "transfer %s message (entry %" G_GUINT32_FORMAT "): offset %" G_GUINT64_FORMAT
                       " + length %" G_GUINT64_FORMAT " goes past %" G_GUINT64_FORMAT
                       " (2^50), the largest size a file may have",
                       name, message->index, message->offset, message->length,
                       FOCTET_TRANSFER_MAX_TOTAL_SIZE);
          return NULL;
        }
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE:
      message->count = read_u32 (body);
      break;
    case FOCTET_TRANSFER_MESSAGE_DONE_ACK:
      break;
    case FOCTET_TRANSFER_MESSAGE_ERROR:
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      {
        const char *text = (const char *) body + CODE_SIZE;
        gsize text_len = length - CODE_SIZE;
        const char *nul = memchr (text, '\0', text_len);
        const char *end = NULL;

        message->error_code = read_u16 (body);
        if (nul != NULL)
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "transfer %s message (code %u): the text contains a NUL byte "
                         "(at byte %" G_GSIZE_FORMAT " of the text)",
                         name, message->error_code, (gsize) (nul - text) + 1);
            return NULL;
          }
        if (!g_utf8_validate (text, text_len, &end))
          {
            g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                         "transfer %s message (code %u): the text is not valid UTF-8 "
                         "(at byte %" G_GSIZE_FORMAT " of the text)",
                         name, message->error_code, (gsize) (end - text) + 1);
            return NULL;
          }
        message->error_text = g_strndup (text, text_len);
      }
      break;
    default:
      g_assert_not_reached ();
    }
  return g_steal_pointer (&message);
}

/**
 * foctet_transfer_message_parse:
 * @data: (array length=len): bytes received, starting at a message
 * @len: how many
 * @consumed: (out): return location for the size of the message parsed:
 *   header and body; 0 unless %TRUE is returned
 * @out: (out) (transfer full): return location for the message; %NULL
 *   unless %TRUE is returned
 * @error: return location for a #GError
 *
 * Parses the message at the start of @data, if it is all there.  Bytes
 * after it are left alone: the caller hands them to the next parse, or,
 * after DATA, they are the file's raw bytes.
 *
 * Returns %FALSE without an error when @data holds only the start of a
 * message that may still turn out valid: read more and call again with
 * everything.  A message is refused as soon as the bytes at hand break a
 * rule — an unknown type after one byte, a bad length after five — so a
 * reader never waits for the rest of a message it will refuse; a prefix
 * of a valid message is never refused.
 *
 * A refused message fails with %FOCTET_ERROR_PROTOCOL_ERROR and a message
 * naming the type, the field (and for a MANIFEST the entry index) and the
 * value at fault: an unknown type; a body of the wrong length for its
 * type (HELLO 36 bytes, GET and DATA 20, DONE 4, DONE_ACK 0, MANIFEST 12
 * to %FOCTET_TRANSFER_MESSAGE_MAX_BODY, ERROR and ABORT 2 to 1026);
 * HELLO flags other than 0; a GET or DATA range ending past 2^50; an
 * ERROR or ABORT text with a NUL byte or invalid UTF-8; a MANIFEST whose
 * entry count or total size is over the limits, whose entries run past
 * the body or leave bytes after the last, whose sizes do not add up to
 * its total, or with an entry of an unknown kind, an invalid path (see
 * foctet_transfer_path_validate()), a mode outside 0777, a directory with
 * a size, a path listed twice, or a parent not listed before it as a
 * directory.  Pass a #GError to tell a refused message from an incomplete
 * one.
 *
 * Returns: %TRUE if a whole valid message was parsed
 */
gboolean
foctet_transfer_message_parse (const guint8           *data,
                               gsize                   len,
                               gsize                  *consumed,
                               FoctetTransferMessage **out,
                               GError                **error)
{
  FoctetTransferMessage *message;
  guint8 type;
  guint32 length;

  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (consumed != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *consumed = 0;
  *out = NULL;
  if (len < 1)
    return FALSE;

  type = data[0];
  if (!type_is_known (type))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "unknown transfer message type 0x%02x", type);
      return FALSE;
    }
  if (len < HEADER)
    return FALSE;

  length = read_u32 (data + 1);
  if (!check_length (type, length, error))
    return FALSE;
  if (len - HEADER < length)
    return FALSE;

  message = parse_body (type, data + HEADER, length, error);
  if (message == NULL)
    return FALSE;
  *consumed = HEADER + (gsize) length;
  *out = message;
  return TRUE;
}

/* Checking requests and answers against each other. */

/**
 * foctet_transfer_manifest_check_get:
 * @self: the manifest the sender offered
 * @get: a GET message received
 * @error: return location for a #GError
 *
 * Checks that @get asks for something the sender can serve: entry
 * `index` exists and is a file, the range lies within the file, and
 * `length` is 0 only for an empty file.  Any offset within the file is
 * allowed: receivers resume wherever they stopped.  A request that
 * breaks a rule fails with %FOCTET_ERROR_PROTOCOL_ERROR and a message
 * naming the entry, its path and size, and the range; the sender answers
 * it with ERROR 1.
 *
 * Returns: %TRUE if @get may be served
 */
gboolean
foctet_transfer_manifest_check_get (FoctetTransferManifest       *self,
                                    const FoctetTransferMessage  *get,
                                    GError                      **error)
{
  const FoctetTransferEntry *entry;
  g_autofree char *shown = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (get != NULL && get->type == FOCTET_TRANSFER_MESSAGE_GET, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (get->index >= self->entries->len)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer GET message: entry index %" G_GUINT32_FORMAT " is out of range: the "
                   "manifest has %u entries", get->index, self->entries->len);
      return FALSE;
    }
  entry = &g_array_index (self->entries, FoctetTransferEntry, get->index);
  if (entry->kind != FOCTET_TRANSFER_ENTRY_FILE)
    {
      shown = printable_path (entry->path, strlen (entry->path));
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer GET message: entry %" G_GUINT32_FORMAT " (“%s”) is a directory, not a file",
                   get->index, shown);
      return FALSE;
    }
  if (get->length == 0 && entry->size != 0)
    {
      shown = printable_path (entry->path, strlen (entry->path));
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer GET message: length 0 for entry %" G_GUINT32_FORMAT " (“%s”, %"
                   G_GUINT64_FORMAT " bytes); only an empty file is fetched with length 0",
                   get->index, shown, entry->size);
      return FALSE;
    }
  if (get->offset > entry->size || get->length > entry->size - get->offset)
    {
      shown = printable_path (entry->path, strlen (entry->path));
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer GET message: offset %" G_GUINT64_FORMAT " + length %" G_GUINT64_FORMAT
                   " runs past the end of entry %" G_GUINT32_FORMAT " (“%s”, %" G_GUINT64_FORMAT " bytes)",
                   get->offset, get->length, get->index, shown, entry->size);
      return FALSE;
    }
  return TRUE;
}

/**
 * foctet_transfer_message_check_data:
 * @get: a GET the receiver sent
 * @data: the DATA message that came as its answer
 * @error: return location for a #GError
 *
 * Checks that @data answers @get: a sender answers the GETs of a stream
 * in order, each with DATA carrying exactly the GET's entry index,
 * offset and length (or with ERROR, which the caller handles before).
 * Anything else fails with %FOCTET_ERROR_PROTOCOL_ERROR naming both
 * ranges; the receiver then ends the stream.
 *
 * Returns: %TRUE if @data is the answer to @get
 */
gboolean
foctet_transfer_message_check_data (const FoctetTransferMessage  *get,
                                    const FoctetTransferMessage  *data,
                                    GError                      **error)
{
  g_return_val_if_fail (get != NULL && get->type == FOCTET_TRANSFER_MESSAGE_GET, FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (data->type != FOCTET_TRANSFER_MESSAGE_DATA)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer %s message where DATA for entry %" G_GUINT32_FORMAT ", offset %"
                   G_GUINT64_FORMAT ", length %" G_GUINT64_FORMAT " was expected",
                   foctet_transfer_message_type_to_string (data->type),
                   get->index, get->offset, get->length);
      return FALSE;
    }
  if (data->index != get->index || data->offset != get->offset || data->length != get->length)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR,
                   "transfer DATA message for entry %" G_GUINT32_FORMAT ", offset %" G_GUINT64_FORMAT
                   ", length %" G_GUINT64_FORMAT " answers a GET for entry %" G_GUINT32_FORMAT
                   ", offset %" G_GUINT64_FORMAT ", length %" G_GUINT64_FORMAT,
                   data->index, data->offset, data->length, get->index, get->offset, get->length);
      return FALSE;
    }
  return TRUE;
}

/* Texts for logs and errors. */

/**
 * foctet_transfer_message_to_string:
 * @self: a #FoctetTransferMessage
 *
 * Describes @self on one line for logs, e.g. "GET entry 3, offset 0,
 * length 1024" or "ERROR 6 (file changed or unreadable): “a.txt”".
 * Text from the peer is escaped; a HELLO's secret is never shown.
 *
 * Returns: (transfer full): the description
 */
char *
foctet_transfer_message_to_string (const FoctetTransferMessage *self)
{
  const char *name;

  g_return_val_if_fail (self != NULL, NULL);

  name = foctet_transfer_message_type_to_string (self->type);
  switch (self->type)
    {
    case FOCTET_TRANSFER_MESSAGE_MANIFEST:
      return g_strdup_printf ("%s %u entries, %" G_GUINT64_FORMAT " bytes", name,
                              self->manifest->entries->len, self->manifest->total_size);
    case FOCTET_TRANSFER_MESSAGE_GET:
    case FOCTET_TRANSFER_MESSAGE_DATA:
      return g_strdup_printf ("%s entry %" G_GUINT32_FORMAT ", offset %" G_GUINT64_FORMAT
                              ", length %" G_GUINT64_FORMAT,
                              name, self->index, self->offset, self->length);
    case FOCTET_TRANSFER_MESSAGE_DONE:
      return g_strdup_printf ("%s %" G_GUINT32_FORMAT " entries verified", name, self->count);
    case FOCTET_TRANSFER_MESSAGE_ERROR:
    case FOCTET_TRANSFER_MESSAGE_ABORT:
      {
        const char *meaning = foctet_transfer_error_code_describe (self->error_code);
        g_autofree char *text = printable_text (self->error_text);

        return g_strdup_printf ("%s %u (%s)%s%s%s", name, self->error_code,
                                meaning != NULL ? meaning : "unknown code",
                                *text != '\0' ? ": “" : "", text, *text != '\0' ? "”" : "");
      }
    default:
      return g_strdup (name);
    }
}

static int
error_code_to_foctet_error (guint16 code)
{
  switch (code)
    {
    case FOCTET_TRANSFER_ERROR_CODE_MALFORMED:
    case FOCTET_TRANSFER_ERROR_CODE_UNEXPECTED_MESSAGE:
      return FOCTET_ERROR_PROTOCOL_ERROR;
    case FOCTET_TRANSFER_ERROR_CODE_BAD_SECRET:
      return FOCTET_ERROR_INVALID_TICKET;
    case FOCTET_TRANSFER_ERROR_CODE_BUSY:
    case FOCTET_TRANSFER_ERROR_CODE_LIMITS:
      return FOCTET_ERROR_LIMIT_REACHED;
    default:
      return FOCTET_ERROR_FAILED;
    }
}

/**
 * foctet_transfer_message_to_error_from:
 * @self: an ERROR or ABORT message
 * @who: (nullable): who sent it, refusing or aborting, e.g. "The node
 *   refused the push"; %NULL: "The sender refused" for an ERROR, "The
 *   receiver aborted" for an ABORT
 *
 * Turns an ERROR or ABORT received into the #GError to report, in the
 * %FOCTET_ERROR domain: %FOCTET_ERROR_PROTOCOL_ERROR for codes 1 and 4
 * (the peer says this side broke the protocol),
 * %FOCTET_ERROR_INVALID_TICKET for 2 (the ticket's secret is not the one
 * offered: an old or mistyped ticket), %FOCTET_ERROR_LIMIT_REACHED for 3
 * and 7, %FOCTET_ERROR_FAILED for the others and unknown codes.  The
 * message reads e.g. "The sender refused: wrong secret (code 2)" or "The
 * receiver aborted: cancelled (code 8): “interrupted”".
 *
 * Returns: (transfer full): the error
 */
GError *
foctet_transfer_message_to_error_from (const FoctetTransferMessage *self,
                                       const char                  *who)
{
  g_autofree char *meaning = NULL;
  g_autofree char *text = NULL;
  g_autofree char *code = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (self->type == FOCTET_TRANSFER_MESSAGE_ERROR ||
                        self->type == FOCTET_TRANSFER_MESSAGE_ABORT, NULL);

  if (who == NULL)
    who = self->type == FOCTET_TRANSFER_MESSAGE_ERROR ? "The sender refused" : "The receiver aborted";
  meaning = foctet_transfer_error_code_to_string (self->error_code);
  text = printable_text (self->error_text);
  if (foctet_transfer_error_code_describe (self->error_code) != NULL)
    code = g_strdup_printf (" (code %u)", self->error_code);
  return g_error_new (FOCTET_ERROR, error_code_to_foctet_error (self->error_code),
                      "%s: %s%s%s%s%s", who, meaning, code != NULL ? code : "",
                      *text != '\0' ? ": “" : "", text, *text != '\0' ? "”" : "");
}

/**
 * foctet_transfer_message_to_error:
 * @self: an ERROR or ABORT message
 *
 * foctet_transfer_message_to_error_from() with the usual sender: a
 * sender's ERROR, a receiver's ABORT.
 *
 * Returns: (transfer full): the error
 */
GError *
foctet_transfer_message_to_error (const FoctetTransferMessage *self)
{
  return foctet_transfer_message_to_error_from (self, NULL);
}

/* Secrets and the ticket's offer. */

/**
 * foctet_transfer_secret_new:
 * @error: return location for a #GError
 *
 * Makes a fresh secret for an offer from the system's key-grade random
 * generator (GnuTLS, %GNUTLS_RND_KEY).  Fails with %FOCTET_ERROR_FAILED
 * only if that generator fails.
 *
 * Returns: (transfer full): %FOCTET_TRANSFER_SECRET_SIZE random bytes, or
 *   %NULL on error
 */
GBytes *
foctet_transfer_secret_new (GError **error)
{
  guint8 secret[FOCTET_TRANSFER_SECRET_SIZE];
  int ret;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ret = gnutls_rnd (GNUTLS_RND_KEY, secret, sizeof secret);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED,
                   "Making a transfer secret: %s", gnutls_strerror (ret));
      return NULL;
    }
  return g_bytes_new (secret, sizeof secret);
}

/**
 * foctet_transfer_secret_equal:
 * @a: a secret
 * @b: another
 *
 * Compares two secrets in constant time, so that a sender checking a
 * HELLO does not tell by its timing how much of a guess was right.
 *
 * Returns: %TRUE if both are %FOCTET_TRANSFER_SECRET_SIZE bytes long and
 *   equal
 */
gboolean
foctet_transfer_secret_equal (GBytes *a,
                              GBytes *b)
{
  gsize a_len = 0, b_len = 0;
  const guint8 *a_data, *b_data;
  volatile guint8 diff = 0;

  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  a_data = g_bytes_get_data (a, &a_len);
  b_data = g_bytes_get_data (b, &b_len);
  if (a_len != FOCTET_TRANSFER_SECRET_SIZE || b_len != FOCTET_TRANSFER_SECRET_SIZE)
    return FALSE;
  for (gsize i = 0; i < FOCTET_TRANSFER_SECRET_SIZE; i++)
    diff |= a_data[i] ^ b_data[i];
  return diff == 0;
}

/**
 * foctet_transfer_offer_encode:
 * @secret: the offer's %FOCTET_TRANSFER_SECRET_SIZE-byte secret
 *
 * Makes the value of a ticket's transfer offer entry (type
 * %FOCTET_TRANSFER_TICKET_ENTRY).  In version 1 it is the secret and
 * nothing else.
 *
 * Returns: (transfer full): the entry's value
 */
GBytes *
foctet_transfer_offer_encode (GBytes *secret)
{
  g_return_val_if_fail (secret != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (secret) == FOCTET_TRANSFER_SECRET_SIZE, NULL);

  return g_bytes_new (g_bytes_get_data (secret, NULL), FOCTET_TRANSFER_SECRET_SIZE);
}

/**
 * foctet_transfer_offer_parse:
 * @value: the value of a ticket entry of type %FOCTET_TRANSFER_TICKET_ENTRY
 * @error: return location for a #GError
 *
 * Reads a transfer offer.  A value of any length other than
 * %FOCTET_TRANSFER_SECRET_SIZE fails with %FOCTET_ERROR_INVALID_TICKET.
 *
 * Returns: (transfer full): the secret, or %NULL on error
 */
GBytes *
foctet_transfer_offer_parse (GBytes  *value,
                             GError **error)
{
  gsize len;

  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  len = g_bytes_get_size (value);
  if (len != FOCTET_TRANSFER_SECRET_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: its transfer offer (entry type 0x%02x) is %" G_GSIZE_FORMAT
                   " bytes long; it must be the %d-byte secret",
                   FOCTET_TRANSFER_TICKET_ENTRY, len, FOCTET_TRANSFER_SECRET_SIZE);
      return NULL;
    }
  return g_bytes_new (g_bytes_get_data (value, NULL), len);
}

/**
 * foctet_transfer_ticket_add_offer:
 * @ticket: the sender's ticket
 * @secret: the offer's %FOCTET_TRANSFER_SECRET_SIZE-byte secret, from
 *   foctet_transfer_secret_new()
 * @error: return location for a #GError
 *
 * Adds the transfer offer entry to @ticket.  A ticket carries at most
 * one: a second fails with %FOCTET_ERROR_INVALID_ARGUMENT.
 *
 * Returns: %TRUE if added
 */
gboolean
foctet_transfer_ticket_add_offer (FoctetTicket  *ticket,
                                  GBytes        *secret,
                                  GError       **error)
{
  g_autoptr(GBytes) existing = NULL;
  g_autoptr(GBytes) value = NULL;

  g_return_val_if_fail (FOCTET_IS_TICKET (ticket), FALSE);
  g_return_val_if_fail (secret != NULL, FALSE);
  g_return_val_if_fail (g_bytes_get_size (secret) == FOCTET_TRANSFER_SECRET_SIZE, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  existing = foctet_ticket_get_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY);
  if (existing != NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "The ticket already carries a transfer offer");
      return FALSE;
    }
  value = foctet_transfer_offer_encode (secret);
  return foctet_ticket_add_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY, value, error);
}

/**
 * foctet_transfer_ticket_get_offer:
 * @ticket: a ticket, as the receiver parsed it
 * @error: return location for a #GError
 *
 * Gets the secret of the ticket's transfer offer (its first entry of type
 * %FOCTET_TRANSFER_TICKET_ENTRY).  A ticket without one, or whose offer
 * is not exactly a secret, fails with %FOCTET_ERROR_INVALID_TICKET.
 *
 * Returns: (transfer full): the secret, or %NULL on error
 */
GBytes *
foctet_transfer_ticket_get_offer (FoctetTicket  *ticket,
                                  GError       **error)
{
  g_autoptr(GBytes) value = NULL;

  g_return_val_if_fail (FOCTET_IS_TICKET (ticket), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = foctet_ticket_get_app_data (ticket, FOCTET_TRANSFER_TICKET_ENTRY);
  if (value == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "The ticket offers no files: it has no transfer offer (entry type 0x%02x)",
                   FOCTET_TRANSFER_TICKET_ENTRY);
      return NULL;
    }
  return foctet_transfer_offer_parse (value, error);
}

/* Reading and writing one message on a stream: the kit's reader with
 * this codec's parser. */

static gboolean
parse_message (const guint8  *data,
               gsize          len,
               gsize         *consumed,
               gpointer      *message,
               GError       **error,
               gpointer       user_data)
{
  return foctet_transfer_message_parse (data, len, consumed, (FoctetTransferMessage **) message, error);
}

static const FoctetMessageFormat message_format = {
  .name = "transfer",
  .length_size = 4,
  .max_body = FOCTET_TRANSFER_MESSAGE_MAX_BODY,
  .parse = parse_message,
  .free_message = (GDestroyNotify) foctet_transfer_message_free,
  .type_name = foctet_transfer_message_type_to_string,
};

/**
 * foctet_transfer_message_read_async:
 * @stream: a transfer stream, after its PROTOCOL §5 header
 * @io_priority: the I/O priority of the reads
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the message
 * @user_data: data for @callback
 *
 * Reads exactly one message from @stream, and not one byte past it, so
 * that the raw bytes following a DATA stay in the stream for the caller
 * to read.  The reads ask for the type, then the length, then the body,
 * so a message the parser refuses is refused as soon as its first bytes
 * are in; a long body is read in pieces of at most 1 MiB, so memory
 * grows with the bytes that arrived, not with the length announced.
 *
 * Results, from foctet_transfer_message_read_finish(): the message; a
 * %FOCTET_ERROR_PROTOCOL_ERROR as from foctet_transfer_message_parse(),
 * or one saying the message is truncated when the stream ended inside
 * it; %FOCTET_ERROR_CONNECTION_CLOSED when it ended before the first byte
 * of a message (the peer half-closed); or the stream's own error (a
 * reset, cancellation).  There are no time limits here: cancel
 * @cancellable to impose one.
 */
void
foctet_transfer_message_read_async (GInputStream        *stream,
                                    int                  io_priority,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  foctet_message_read_async (stream, &message_format, NULL, io_priority, cancellable, callback, user_data);
}

/**
 * foctet_transfer_message_read_finish:
 * @stream: the stream passed to foctet_transfer_message_read_async()
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the message, or %NULL on error
 */
FoctetTransferMessage *
foctet_transfer_message_read_finish (GInputStream  *stream,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  return foctet_message_read_finish (stream, result, error);
}

/**
 * foctet_transfer_message_write_async:
 * @stream: a transfer stream, after its PROTOCOL §5 header
 * @message: the message; encoded at once, so it may be freed on return
 * @io_priority: the I/O priority of the write
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the whole message is written
 * @user_data: data for @callback
 *
 * Writes @message.  For DATA that is the header only: the caller writes
 * the raw bytes after it.  Nothing is flushed: foctet streams send what
 * is written; a caller that wraps @stream in a buffer flushes it itself.
 */
void
foctet_transfer_message_write_async (GOutputStream               *stream,
                                     const FoctetTransferMessage *message,
                                     int                          io_priority,
                                     GCancellable                *cancellable,
                                     GAsyncReadyCallback          callback,
                                     gpointer                     user_data)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_if_fail (message != NULL && message_is_well_formed (message));

  bytes = foctet_transfer_message_encode (message);
  foctet_message_write_async (stream, bytes, io_priority, cancellable, callback, user_data);
}

/**
 * foctet_transfer_message_write_finish:
 * @stream: the stream passed to foctet_transfer_message_write_async()
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the whole message was written; else %FALSE with the
 *   stream's error
 */
gboolean
foctet_transfer_message_write_finish (GOutputStream  *stream,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  return foctet_message_write_finish (stream, result, error);
}

/* foctet-identity.c: a node's Ed25519 key, its certificate, and the one
 * check of peer certificates.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "foctet-identity.h"
#include "foctet-error.h"

/**
 * FoctetIdentity:
 *
 * A node's identity: an Ed25519 key pair.  Its public key is the node's
 * [struct@Foctet.NodeId].  The identity also makes the self-signed X.509
 * certificate the node presents in every TLS handshake (PROTOCOL §2).
 *
 * The secret key is kept in one PKCS#8 PEM file with mode 0600; a file
 * that group or others may read is refused.
 *
 * Identities are made by [func@Foctet.Identity.generate],
 * [func@Foctet.Identity.load], [func@Foctet.Identity.load_or_create] and
 * [ctor@Foctet.Identity.new_from_pem], never by g_object_new().
 */

struct _FoctetIdentity {
  GObject parent_instance;

  gnutls_privkey_t key;
  FoctetNodeId *node_id;
  GBytes *certificate_der;
  char *certificate_pem;
};

G_DEFINE_FINAL_TYPE (FoctetIdentity, foctet_identity, G_TYPE_OBJECT)

/* Certificates say they are valid for this long; peers ignore the dates. */
#define CERTIFICATE_LIFETIME_SECONDS (10 * 365 * 24 * 3600)

/* A PEM Ed25519 key is about 120 bytes; anything this large is not one. */
#define MAX_KEY_FILE_SIZE (64 * 1024)

/* TLS carries a certificate in a 24-bit length; nothing larger is one. */
#define MAX_CERTIFICATE_SIZE ((1 << 24) - 1)

static void
foctet_identity_finalize (GObject *object)
{
  FoctetIdentity *self = FOCTET_IDENTITY (object);

  g_clear_pointer (&self->key, gnutls_privkey_deinit);
  g_clear_pointer (&self->node_id, foctet_node_id_free);
  g_clear_pointer (&self->certificate_der, g_bytes_unref);
  g_free (self->certificate_pem);

  G_OBJECT_CLASS (foctet_identity_parent_class)->finalize (object);
}

static void
foctet_identity_class_init (FoctetIdentityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = foctet_identity_finalize;
}

static void
foctet_identity_init (FoctetIdentity *self)
{
}

static gboolean
gnutls_check (int          ret,
              const char  *what,
              GError     **error)
{
  if (ret >= 0)
    return TRUE;
  g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "%s: %s", what, gnutls_strerror (ret));
  return FALSE;
}

/* What kind of key @pubkey is, for error messages: "ECDSA-SECP256R1",
 * "RSA-2048", "Ed448"… */
static char *
describe_key (gnutls_pubkey_t pubkey)
{
  unsigned int bits = 0;
  int algorithm = gnutls_pubkey_get_pk_algorithm (pubkey, &bits);
  const char *name;

  switch (algorithm)
    {
    case GNUTLS_PK_ECDSA:
      {
        gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        const char *curve_name = NULL;

        if (gnutls_pubkey_export_ecc_raw2 (pubkey, &curve, &x, &y, 0) >= 0)
          curve_name = gnutls_ecc_curve_get_name (curve);
        gnutls_free (x.data);
        gnutls_free (y.data);
        return g_strdup_printf ("ECDSA-%s", curve_name != NULL ? curve_name : "on an unknown curve");
      }
    case GNUTLS_PK_RSA:
      return g_strdup_printf ("RSA-%u", bits);
    case GNUTLS_PK_RSA_PSS:
      return g_strdup_printf ("RSA-PSS-%u", bits);
    case GNUTLS_PK_DSA:
      return g_strdup_printf ("DSA-%u", bits);
    case GNUTLS_PK_EDDSA_ED25519:
      return g_strdup ("Ed25519");
    case GNUTLS_PK_EDDSA_ED448:
      return g_strdup ("Ed448");
    default:
      name = algorithm > 0 ? gnutls_pk_get_name (algorithm) : NULL;
      return g_strdup (name != NULL ? name : "of an unknown type");
    }
}

static FoctetNodeId *
node_id_from_pubkey (gnutls_pubkey_t   pubkey,
                     FoctetError       code,
                     GError          **error)
{
  gnutls_datum_t x = { NULL, 0 };
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  FoctetNodeId *id;
  int ret;

  ret = gnutls_pubkey_export_ecc_raw2 (pubkey, &curve, &x, NULL, 0);
  if (ret < 0 || curve != GNUTLS_ECC_CURVE_ED25519 || x.size != FOCTET_NODE_ID_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, code, "Cannot read the Ed25519 public key: %s",
                   ret < 0 ? gnutls_strerror (ret) : "not a 32-byte Ed25519 key");
      gnutls_free (x.data);
      return NULL;
    }
  id = foctet_node_id_new_from_data (x.data, x.size, error);
  gnutls_free (x.data);
  return id;
}

static gboolean
make_certificate (FoctetIdentity  *self,
                  gnutls_pubkey_t  pubkey,
                  GError         **error)
{
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t der = { NULL, 0 }, pem = { NULL, 0 };
  g_autofree char *cn = foctet_node_id_to_string (self->node_id);
  guint8 serial[16];
  time_t now = time (NULL);
  gboolean ok = FALSE;

  if (!gnutls_check (gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial), "Making a serial number", error))
    return FALSE;
  serial[0] &= 0x7f;   /* positive */
  serial[0] |= 0x01;   /* and no leading zero byte to strip */

  if (!gnutls_check (gnutls_x509_crt_init (&crt), "Creating the certificate", error))
    return FALSE;
  if (gnutls_check (gnutls_x509_crt_set_version (crt, 3), "Setting the certificate version", error) &&
      gnutls_check (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), "Setting the serial", error) &&
      gnutls_check (gnutls_x509_crt_set_activation_time (crt, now - 3600), "Setting the start date", error) &&
      gnutls_check (gnutls_x509_crt_set_expiration_time (crt, now + CERTIFICATE_LIFETIME_SECONDS),
                    "Setting the end date", error) &&
      gnutls_check (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)),
                    "Setting the subject", error) &&
      gnutls_check (gnutls_x509_crt_set_issuer_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)),
                    "Setting the issuer", error) &&
      gnutls_check (gnutls_x509_crt_set_pubkey (crt, pubkey), "Setting the public key", error) &&
      gnutls_check (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE),
                    "Setting the key usage", error) &&
      gnutls_check (gnutls_x509_crt_privkey_sign (crt, crt, self->key, GNUTLS_DIG_SHA512, 0),
                    "Signing the certificate", error) &&
      gnutls_check (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), "Exporting the certificate", error) &&
      gnutls_check (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem), "Exporting the certificate", error))
    {
      self->certificate_der = g_bytes_new (der.data, der.size);
      self->certificate_pem = g_strndup ((const char *) pem.data, pem.size);
      ok = TRUE;
    }

  gnutls_free (der.data);
  gnutls_free (pem.data);
  gnutls_x509_crt_deinit (crt);
  return ok;
}

/* Takes ownership of @key. */
static FoctetIdentity *
identity_new_from_key (gnutls_privkey_t   key,
                       GError           **error)
{
  g_autoptr(FoctetIdentity) self = g_object_new (FOCTET_TYPE_IDENTITY, NULL);
  gnutls_pubkey_t pubkey = NULL;
  gboolean ok;

  self->key = key;
  if (!gnutls_check (gnutls_pubkey_init (&pubkey), "Creating a public key", error))
    return NULL;
  ok = gnutls_check (gnutls_pubkey_import_privkey (pubkey, key, 0, 0), "Deriving the public key", error) &&
       (self->node_id = node_id_from_pubkey (pubkey, FOCTET_ERROR_INVALID_KEY, error)) != NULL &&
       make_certificate (self, pubkey, error);
  gnutls_pubkey_deinit (pubkey);
  return ok ? g_steal_pointer (&self) : NULL;
}

/**
 * foctet_identity_generate:
 * @error: return location for a #GError
 *
 * Generates a new identity with a fresh Ed25519 key.
 *
 * Returns: (transfer full): the new identity
 */
FoctetIdentity *
foctet_identity_generate (GError **error)
{
  gnutls_privkey_t key = NULL;
  int ret;

  if (!gnutls_check (gnutls_privkey_init (&key), "Creating a key", error))
    return NULL;
  ret = gnutls_privkey_generate2 (key, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0);
  if (!gnutls_check (ret, "Generating an Ed25519 key", error))
    {
      gnutls_privkey_deinit (key);
      return NULL;
    }
  return identity_new_from_key (key, error);
}

/* The label of the first PEM block in @text ("PRIVATE KEY" for
 * "-----BEGIN PRIVATE KEY-----"), or %NULL if there is none.  Only used to
 * say what a file holds when it holds no usable key. */
static char *
pem_label (const char *text,
           gsize       len)
{
  static const char begin[] = "-----BEGIN ";
  const char *start = g_strstr_len (text, len, begin);
  const char *end = text + len;
  const char *p;

  if (start == NULL)
    return NULL;
  start += strlen (begin);
  for (p = start; p < end && p - start < 64; p++)
    {
      if (*p == '-')
        return end - p >= 5 && memcmp (p, "-----", 5) == 0 && p > start ? g_strndup (start, p - start) : NULL;
      if (*p != ' ' && !g_ascii_isalnum (*p))
        return NULL;
    }
  return NULL;
}

/**
 * foctet_identity_new_from_pem:
 * @pem: an unencrypted PEM private key, PKCS#8 as
 *   [method@Foctet.Identity.export_private_key_pem] writes it (other unencrypted
 *   PEM forms GnuTLS reads are accepted too)
 * @length: its length, or -1 if it is nul-terminated
 * @error: return location for a #GError
 *
 * Makes the identity of an existing Ed25519 key.  Text that holds no
 * unencrypted private key, or a key of another type, fails with
 * %FOCTET_ERROR_INVALID_KEY saying what was found.
 *
 * Returns: (transfer full): the identity, or %NULL
 */
FoctetIdentity *
foctet_identity_new_from_pem (const char  *pem,
                              gssize       length,
                              GError     **error)
{
  gnutls_x509_privkey_t xkey = NULL;
  gnutls_privkey_t key = NULL;
  gnutls_pubkey_t pubkey = NULL;
  gnutls_datum_t datum;
  gsize len;
  int ret;

  g_return_val_if_fail (pem != NULL, NULL);

  len = length < 0 ? strlen (pem) : (gsize) length;
  if (len > MAX_KEY_FILE_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Not an Ed25519 private key: %" G_GSIZE_FORMAT " bytes is far too large for one", len);
      return NULL;
    }
  datum.data = (unsigned char *) pem;
  datum.size = len;

  if (!gnutls_check (gnutls_x509_privkey_init (&xkey), "Creating a key", error))
    return NULL;
  ret = gnutls_x509_privkey_import2 (xkey, &datum, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
  if (ret < 0)
    {
      /* Say the likely reason rather than GnuTLS's generic one. */
      g_autofree char *label = pem_label (pem, len);

      if (label == NULL)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                     "Not an unencrypted PEM private key: no PEM block found");
      else if (g_str_equal (label, "ENCRYPTED PRIVATE KEY") ||
               g_strstr_len (pem, len, "Proc-Type: 4,ENCRYPTED") != NULL)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                     "Not an unencrypted PEM private key: the key is protected by a password");
      else if (!g_str_has_suffix (label, "PRIVATE KEY"))
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                     "Not an unencrypted PEM private key: found a PEM “%s” block instead", label);
      else
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                     "Not an unencrypted PEM private key: the “%s” block is unreadable (%s)",
                     label, gnutls_strerror (ret));
      gnutls_x509_privkey_deinit (xkey);
      return NULL;
    }

  if (!gnutls_check (gnutls_privkey_init (&key), "Creating a key", error) ||
      !gnutls_check (gnutls_privkey_import_x509 (key, xkey, GNUTLS_PRIVKEY_IMPORT_COPY),
                     "Importing the key", error))
    {
      g_clear_pointer (&key, gnutls_privkey_deinit);
      gnutls_x509_privkey_deinit (xkey);
      return NULL;
    }
  gnutls_x509_privkey_deinit (xkey);

  if (gnutls_privkey_get_pk_algorithm (key, NULL) != GNUTLS_PK_EDDSA_ED25519)
    {
      g_autofree char *what = NULL;

      if (gnutls_pubkey_init (&pubkey) >= 0 && gnutls_pubkey_import_privkey (pubkey, key, 0, 0) >= 0)
        what = describe_key (pubkey);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "The key is %s, not Ed25519", what != NULL ? what : "of an unknown type");
      g_clear_pointer (&pubkey, gnutls_pubkey_deinit);
      gnutls_privkey_deinit (key);
      return NULL;
    }

  return identity_new_from_key (key, error);
}

/* Reads the key file, refusing one that group or others may access.  The
 * checks look at the file that was opened, not at the name, so what is
 * checked is what is read. */
static char *
read_key_file (const char  *path,
               gsize       *out_len,
               GError     **error)
{
  g_autoptr(GByteArray) contents = NULL;
  struct stat st;
  int fd, saved_errno;

  /* O_NONBLOCK: a FIFO put in the key's place must not hang the caller. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot open key file %s: %s", path, g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &st) != 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot read key file %s: %s", path, g_strerror (saved_errno));
      goto fail;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Key file %s is not a regular file", path);
      goto fail;
    }
  if ((st.st_mode & 077) != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INSECURE_KEY_FILE,
                   "Key file %s has mode %04o: group or others may access it; "
                   "refusing to use it (fix: chmod 600 %s)",
                   path, (guint) (st.st_mode & 07777), path);
      goto fail;
    }
  if (st.st_size > MAX_KEY_FILE_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Key file %s is %" G_GINT64_FORMAT " bytes, far too large for an Ed25519 key",
                   path, (gint64) st.st_size);
      goto fail;
    }

  contents = g_byte_array_sized_new (st.st_size + 1);
  for (;;)
    {
      guint8 chunk[4096];
      gssize n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          saved_errno = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       "Cannot read key file %s: %s", path, g_strerror (saved_errno));
          memset (chunk, 0, sizeof chunk);
          goto fail;
        }
      if (n == 0)
        break;
      g_byte_array_append (contents, chunk, n);
      memset (chunk, 0, n);
      if (contents->len > MAX_KEY_FILE_SIZE)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                       "Key file %s grew too large while it was read", path);
          goto fail;
        }
    }
  close (fd);

  *out_len = contents->len;
  g_byte_array_append (contents, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&contents), FALSE);

fail:
  if (contents != NULL)
    memset (contents->data, 0, contents->len);
  close (fd);
  return NULL;
}

/**
 * foctet_identity_load:
 * @path: (type filename): the key file
 * @error: return location for a #GError
 *
 * Loads an identity from a key file.  A file that group or others may
 * access fails with %FOCTET_ERROR_INSECURE_KEY_FILE; one without an
 * Ed25519 key with %FOCTET_ERROR_INVALID_KEY; a file that cannot be read
 * with a #G_IO_ERROR (%G_IO_ERROR_NOT_FOUND if there is none).
 *
 * Returns: (transfer full): the identity, or %NULL
 */
FoctetIdentity *
foctet_identity_load (const char  *path,
                      GError     **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) local_error = NULL;
  FoctetIdentity *identity;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);

  contents = read_key_file (path, &len, error);
  if (contents == NULL)
    return NULL;

  identity = foctet_identity_new_from_pem (contents, len, &local_error);
  memset (contents, 0, len);
  if (identity == NULL)
    {
      g_set_error (error, local_error->domain, local_error->code,
                   "Key file %s: %s", path, local_error->message);
      return NULL;
    }
  return identity;
}

/* Writes @contents to a fresh file with mode 0600 next to @path, then puts
 * it in place in one step, so that no reader ever sees half a key and the
 * key is never readable by others, not even for a moment.  With @replace
 * the new file replaces whatever is at @path; without, it is only put
 * there if @path does not exist yet, and G_IO_ERROR_EXISTS says that
 * someone else was first. */
static gboolean
write_key_file (const char  *path,
                const char  *contents,
                gboolean     replace,
                GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *template = g_strdup_printf (".%s.XXXXXX", base);
  g_autofree char *tmp = g_build_filename (dir, template, NULL);
  gsize len = strlen (contents), done = 0;
  const char *what;
  int fd, saved_errno;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot create directory %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot create a key file in %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  what = "write";
  while (done < len)
    {
      gssize n = write (fd, contents + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      done += n;
    }
  what = "sync";
  if (fsync (fd) != 0)
    goto fail;
  what = "close";
  if (close (fd) != 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;

  if (replace)
    {
      what = "rename";
      if (g_rename (tmp, path) != 0)
        goto fail;
      return TRUE;
    }

  /* link() fails if @path exists, where rename() would replace it. */
  if (link (tmp, path) == 0)
    {
      g_unlink (tmp);
      return TRUE;
    }
  saved_errno = errno;
  if (saved_errno == EEXIST)
    {
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "Key file %s exists already", path);
      return FALSE;
    }
  /* A file system without hard links: check, then rename. */
  what = "rename";
  if (saved_errno == EPERM || saved_errno == ENOTSUP || saved_errno == ENOSYS || saved_errno == EOPNOTSUPP)
    {
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_unlink (tmp);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "Key file %s exists already", path);
          return FALSE;
        }
      if (g_rename (tmp, path) == 0)
        return TRUE;
    }
  else
    {
      what = "link";
      errno = saved_errno;
    }

fail:
  saved_errno = errno;
  if (fd >= 0)
    close (fd);
  g_unlink (tmp);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "Cannot write key file %s (%s): %s", path, what, g_strerror (saved_errno));
  return FALSE;
}

/**
 * foctet_identity_save:
 * @self: a [class@Foctet.Identity]
 * @path: (type filename): where to write the key
 * @error: return location for a #GError
 *
 * Writes the secret key as unencrypted PKCS#8 PEM to @path, atomically
 * (a new file with mode 0600 next to it, then renamed over it), creating
 * missing parent directories with mode 0700.  An existing file at @path
 * is replaced.
 *
 * Returns: %TRUE on success
 */
gboolean
foctet_identity_save (FoctetIdentity  *self,
                      const char      *path,
                      GError         **error)
{
  g_autofree char *pem = NULL;
  gboolean ok;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  pem = foctet_identity_export_private_key_pem (self);
  if (pem == NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot export the key");
      return FALSE;
    }
  ok = write_key_file (path, pem, TRUE, error);
  memset (pem, 0, strlen (pem));
  return ok;
}

/**
 * foctet_identity_load_or_create:
 * @path: (type filename): the key file
 * @error: return location for a #GError
 *
 * Loads the identity in @path, or, if there is no file there, generates
 * one and saves it there as [method@Foctet.Identity.save] does.  Two processes
 * doing this at once end up with the same identity: a new key is only
 * put in place if no other appeared meanwhile.
 *
 * Returns: (transfer full): the identity, or %NULL
 */
FoctetIdentity *
foctet_identity_load_or_create (const char  *path,
                                GError     **error)
{
  g_autoptr(FoctetIdentity) identity = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *pem = NULL;
  gboolean ok;

  g_return_val_if_fail (path != NULL, NULL);

  identity = foctet_identity_load (path, &local_error);
  if (identity != NULL)
    return g_steal_pointer (&identity);
  if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  g_clear_error (&local_error);

  identity = foctet_identity_generate (error);
  if (identity == NULL)
    return NULL;
  pem = foctet_identity_export_private_key_pem (identity);
  if (pem == NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot export the key");
      return NULL;
    }
  ok = write_key_file (path, pem, FALSE, &local_error);
  memset (pem, 0, strlen (pem));
  if (ok)
    return g_steal_pointer (&identity);

  /* Someone else created it first: use theirs. */
  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    return foctet_identity_load (path, error);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

/**
 * foctet_identity_get_node_id:
 * @self: a [class@Foctet.Identity]
 *
 * Gets the identity's NodeId: its Ed25519 public key, which peers see
 * and check in the TLS handshake.
 *
 * Returns: (transfer none): the NodeId, owned by @self
 */
const FoctetNodeId *
foctet_identity_get_node_id (FoctetIdentity *self)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  return self->node_id;
}

/**
 * foctet_identity_get_certificate_der:
 * @self: a [class@Foctet.Identity]
 *
 * Gets the self-signed X.509 certificate the node presents in its TLS
 * handshakes (PROTOCOL §2), DER-encoded.  The identity made it, for its
 * NodeId, when it was created or loaded; it does not change afterwards.
 *
 * Returns: (transfer full): the node's self-signed certificate, DER
 */
GBytes *
foctet_identity_get_certificate_der (FoctetIdentity *self)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  return g_bytes_ref (self->certificate_der);
}

/**
 * foctet_identity_get_certificate_pem:
 * @self: a [class@Foctet.Identity]
 *
 * Gets the same certificate as [method@Foctet.Identity.get_certificate_der],
 * PEM-encoded.
 *
 * Returns: (transfer full): the node's self-signed certificate, PEM; free
 *   it with g_free()
 */
char *
foctet_identity_get_certificate_pem (FoctetIdentity *self)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  return g_strdup (self->certificate_pem);
}

/**
 * foctet_identity_export_private_key_pem:
 * @self: a [class@Foctet.Identity]
 *
 * The secret key, for transports that hand it to their TLS library.
 * Wipe it after use.
 *
 * Returns: (transfer full) (nullable): the key as unencrypted PKCS#8 PEM
 */
char *
foctet_identity_export_private_key_pem (FoctetIdentity *self)
{
  gnutls_x509_privkey_t xkey = NULL;
  gnutls_datum_t out = { NULL, 0 };
  char *pem = NULL;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  if (gnutls_privkey_export_x509 (self->key, &xkey) >= 0 &&
      gnutls_x509_privkey_export2_pkcs8 (xkey, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out) >= 0)
    {
      pem = g_strndup ((const char *) out.data, out.size);
      memset (out.data, 0, out.size);
    }
  gnutls_free (out.data);
  if (xkey != NULL)
    gnutls_x509_privkey_deinit (xkey);
  return pem;
}

/* Points @datum at @bytes, failing if GnuTLS's 32-bit length cannot say
 * how long they are (rather than silently covering only a prefix). */
static gboolean
datum_from_bytes (gnutls_datum_t  *datum,
                  GBytes          *bytes,
                  const char      *what,
                  GError         **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  if (len > G_MAXUINT)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "%s of %" G_GSIZE_FORMAT " bytes is too large", what, len);
      return FALSE;
    }
  datum->data = (unsigned char *) (data != NULL ? data : (const guint8 *) "");
  datum->size = len;
  return TRUE;
}

/**
 * foctet_identity_sign:
 * @self: a [class@Foctet.Identity]
 * @data: the data to sign
 * @error: return location for a #GError
 *
 * Signs @data with the node's Ed25519 key (pure Ed25519, RFC 8032), so that
 * anyone who knows the NodeId can check it with
 * [func@Foctet.Identity.verify_signature].  Protocols that sign should put a
 * context string of their own in @data so that a signature made for one
 * purpose is not valid for another.
 *
 * Returns: (transfer full): the 64-byte Ed25519 signature of @data, or
 *   %NULL
 */
GBytes *
foctet_identity_sign (FoctetIdentity  *self,
                      GBytes          *data,
                      GError         **error)
{
  gnutls_datum_t in, sig = { NULL, 0 };
  GBytes *result;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (data != NULL, NULL);

  if (!datum_from_bytes (&in, data, "Data to sign", error))
    return NULL;
  if (!gnutls_check (gnutls_privkey_sign_data2 (self->key, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &sig),
                     "Signing", error))
    return NULL;
  result = g_bytes_new (sig.data, sig.size);
  gnutls_free (sig.data);
  return result;
}

static gnutls_pubkey_t
pubkey_from_node_id (const FoctetNodeId  *node_id,
                     GError             **error)
{
  gnutls_pubkey_t pubkey = NULL;
  gnutls_datum_t x;
  gsize len = 0;

  x.data = (unsigned char *) foctet_node_id_get_data (node_id, &len);
  x.size = len;
  if (!gnutls_check (gnutls_pubkey_init (&pubkey), "Creating a public key", error))
    return NULL;
  if (!gnutls_check (gnutls_pubkey_import_ecc_raw (pubkey, GNUTLS_ECC_CURVE_ED25519, &x, NULL),
                     "Importing the NodeId as a key", error))
    {
      gnutls_pubkey_deinit (pubkey);
      return NULL;
    }
  return pubkey;
}

/**
 * foctet_identity_verify_signature:
 * @signer: the NodeId that supposedly signed
 * @data: the signed data
 * @signature: the signature
 * @error: return location for a #GError
 *
 * Checks an Ed25519 signature made with [method@Foctet.Identity.sign].  A
 * signature that does not verify fails with
 * %FOCTET_ERROR_BAD_CERTIFICATE, the code for credentials that do not
 * check out.
 *
 * Returns: %TRUE if @signature is @signer's Ed25519 signature of @data
 */
gboolean
foctet_identity_verify_signature (const FoctetNodeId  *signer,
                                  GBytes              *data,
                                  GBytes              *signature,
                                  GError             **error)
{
  gnutls_pubkey_t pubkey;
  gnutls_datum_t in, sig;
  int ret;

  g_return_val_if_fail (signer != NULL && data != NULL && signature != NULL, FALSE);

  if (g_bytes_get_size (signature) != 64)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Signature does not verify: an Ed25519 signature is 64 bytes, got %" G_GSIZE_FORMAT,
                   g_bytes_get_size (signature));
      return FALSE;
    }
  if (!datum_from_bytes (&in, data, "Signed data", error) ||
      !datum_from_bytes (&sig, signature, "Signature", error))
    return FALSE;

  pubkey = pubkey_from_node_id (signer, error);
  if (pubkey == NULL)
    return FALSE;
  ret = gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &sig);
  gnutls_pubkey_deinit (pubkey);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Signature does not verify: %s", gnutls_strerror (ret));
      return FALSE;
    }
  return TRUE;
}

/* A minimal DER walk, enough to find the three parts of a certificate:
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }.
 * Every length is checked against what is left. */
typedef struct {
  const guint8 *data;
  gsize len;
} Der;

static gboolean
der_next (Der          *in,
          guint8        expected_tag,
          Der          *whole,
          Der          *content)
{
  gsize header = 2, length;

  if (in->len < 2 || in->data[0] != expected_tag)
    return FALSE;
  length = in->data[1];
  if (length & 0x80)
    {
      guint n = length & 0x7f;

      if (n == 0 || n > 4 || in->len < 2 + n)
        return FALSE;
      length = 0;
      for (guint i = 0; i < n; i++)
        length = (length << 8) | in->data[2 + i];
      header += n;
    }
  if (length > in->len - header)
    return FALSE;

  if (whole != NULL)
    {
      whole->data = in->data;
      whole->len = header + length;
    }
  if (content != NULL)
    {
      content->data = in->data + header;
      content->len = length;
    }
  in->data += header + length;
  in->len -= header + length;
  return TRUE;
}

#define DER_SEQUENCE 0x30
#define DER_BIT_STRING 0x03
#define DER_OID 0x06

/* id-Ed25519, 1.3.101.112 */
static const guint8 ed25519_oid[] = { 0x2b, 0x65, 0x70 };

/* Finds the to-be-signed part and the signature of a certificate, and
 * checks that its outer signatureAlgorithm is Ed25519 without parameters
 * (RFC 8410).  GnuTLS has parsed the same bytes already; this walk is only
 * to get at the exact bytes the signature covers. */
static gboolean
split_certificate (const guint8  *data,
                   gsize          len,
                   Der           *tbs,
                   Der           *signature,
                   GError       **error)
{
  Der in = { data, len }, cert, rest, algorithm, oid, bits;

  if (!der_next (&in, DER_SEQUENCE, NULL, &cert) || in.len != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is not a DER certificate: it is not exactly one DER SEQUENCE");
      return FALSE;
    }
  rest = cert;
  if (!der_next (&rest, DER_SEQUENCE, tbs, NULL) ||
      !der_next (&rest, DER_SEQUENCE, NULL, &algorithm) ||
      !der_next (&rest, DER_BIT_STRING, NULL, &bits) || rest.len != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is malformed: it is not a to-be-signed part, "
                           "a signature algorithm and a signature");
      return FALSE;
    }
  if (!der_next (&algorithm, DER_OID, NULL, &oid) || algorithm.len != 0 ||
      oid.len != sizeof ed25519_oid || memcmp (oid.data, ed25519_oid, sizeof ed25519_oid) != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is not signed with Ed25519 (signature algorithm "
                           "is not the bare id-Ed25519)");
      return FALSE;
    }
  if (bits.len < 1 || bits.data[0] != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate signature is malformed: its BIT STRING has unused bits");
      return FALSE;
    }
  signature->data = bits.data + 1;
  signature->len = bits.len - 1;
  return TRUE;
}

/* What the certificate's key is, for error messages. */
static char *
describe_certificate_key (gnutls_x509_crt_t crt)
{
  gnutls_pubkey_t pubkey = NULL;
  char *what = NULL;
  char oid[128];
  size_t oid_size = sizeof oid;

  if (gnutls_pubkey_init (&pubkey) >= 0 && gnutls_pubkey_import_x509 (pubkey, crt, 0) >= 0)
    what = describe_key (pubkey);
  if (pubkey != NULL)
    gnutls_pubkey_deinit (pubkey);
  if (what == NULL || g_str_equal (what, "of an unknown type"))
    {
      g_free (what);
      if (gnutls_x509_crt_get_pk_oid (crt, oid, &oid_size) >= 0 && g_utf8_validate (oid, -1, NULL))
        what = g_strdup_printf ("of an unknown type (OID %s)", oid);
      else
        what = g_strdup ("of an unknown type");
    }
  return what;
}

/* What the certificate is signed with, for error messages. */
static char *
describe_certificate_signature (gnutls_x509_crt_t crt)
{
  int sign = gnutls_x509_crt_get_signature_algorithm (crt);
  const char *name = sign > 0 ? gnutls_sign_get_name (sign) : NULL;
  char oid[128];
  size_t oid_size = sizeof oid;

  if (name != NULL)
    return g_strdup (name);
  if (gnutls_x509_crt_get_signature_oid (crt, oid, &oid_size) >= 0 && g_utf8_validate (oid, -1, NULL))
    return g_strdup_printf ("an unknown algorithm (OID %s)", oid);
  return g_strdup ("an unknown algorithm");
}

/**
 * foctet_identity_verify_peer:
 * @certificates: (array length=n_certificates): the DER certificates the
 *   peer presented, its own first
 * @n_certificates: how many
 * @expected: (nullable): the NodeId the peer must have, or %NULL
 * @error: return location for a #GError
 *
 * The one check of a peer's certificate (PROTOCOL §2), which every
 * TLS-based transport calls during its handshake: exactly one certificate,
 * an Ed25519 public key, and an Ed25519 signature that verifies under that
 * same key.  Validity dates, issuer, subject, X.509 version and key usage
 * are deliberately not looked at, so no PKI chain verification is done:
 * the signature over the to-be-signed bytes is checked directly.  The TLS
 * library checks the handshake signature itself.
 *
 * The certificates are untrusted input; any bytes at all are refused
 * cleanly.
 *
 * Fails with %FOCTET_ERROR_BAD_CERTIFICATE, or with
 * %FOCTET_ERROR_NODE_ID_MISMATCH when the peer is not @expected.
 *
 * Returns: (transfer full): the peer's NodeId, or %NULL
 */
FoctetNodeId *
foctet_identity_verify_peer (GBytes * const     *certificates,
                             guint               n_certificates,
                             const FoctetNodeId *expected,
                             GError            **error)
{
  g_autoptr(FoctetNodeId) peer = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_pubkey_t pubkey = NULL;
  gnutls_datum_t datum, tbs_datum, sig_datum;
  Der tbs, signature;
  gsize len = 0;
  int ret;

  if (n_certificates != 1)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer sent %u certificates, expected exactly one", n_certificates);
      return NULL;
    }
  g_return_val_if_fail (certificates != NULL && certificates[0] != NULL, NULL);

  datum.data = (unsigned char *) g_bytes_get_data (certificates[0], &len);
  if (datum.data == NULL || len == 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is empty");
      return NULL;
    }
  if (len > MAX_CERTIFICATE_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate is %" G_GSIZE_FORMAT " bytes, larger than TLS can carry", len);
      return NULL;
    }
  datum.size = len;

  if (gnutls_x509_crt_init (&crt) < 0 || gnutls_pubkey_init (&pubkey) < 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Out of memory");
      goto out;
    }
  ret = gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate is not a DER certificate: %s", gnutls_strerror (ret));
      goto out;
    }

  if (gnutls_x509_crt_get_pk_algorithm (crt, NULL) != GNUTLS_PK_EDDSA_ED25519)
    {
      g_autofree char *what = describe_certificate_key (crt);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate key is %s, not Ed25519", what);
      goto out;
    }
  if (gnutls_x509_crt_get_signature_algorithm (crt) != GNUTLS_SIGN_EDDSA_ED25519)
    {
      g_autofree char *what = describe_certificate_signature (crt);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate is signed with %s, not Ed25519", what);
      goto out;
    }
  if (!split_certificate (datum.data, len, &tbs, &signature, error))
    goto out;

  ret = gnutls_pubkey_import_x509 (pubkey, crt, 0);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Cannot read peer certificate key: %s", gnutls_strerror (ret));
      goto out;
    }

  /* Not gnutls_x509_crt_verify(): its chain rules look at the CA flag, the
   * version, key usage and dates, none of which may matter here. */
  tbs_datum.data = (unsigned char *) tbs.data;
  tbs_datum.size = tbs.len;
  sig_datum.data = (unsigned char *) signature.data;
  sig_datum.size = signature.len;
  ret = gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &tbs_datum, &sig_datum);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate is not validly self-signed: its signature does not verify "
                   "under its own key (%s)", gnutls_strerror (ret));
      goto out;
    }

  peer = node_id_from_pubkey (pubkey, FOCTET_ERROR_BAD_CERTIFICATE, error);
  if (peer == NULL)
    goto out;

  if (expected != NULL && !foctet_node_id_equal (peer, expected))
    {
      g_autofree char *want = foctet_node_id_to_string (expected);
      g_autofree char *got = foctet_node_id_to_string (peer);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH,
                   "Peer is %s, not the expected %s", got, want);
      g_clear_pointer (&peer, foctet_node_id_free);
    }

out:
  if (pubkey != NULL)
    gnutls_pubkey_deinit (pubkey);
  if (crt != NULL)
    gnutls_x509_crt_deinit (crt);
  return g_steal_pointer (&peer);
}

/* foctet-identity.c: a node's Ed25519 key, its certificate, and the one
 * check of peer certificates.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "foctet-identity.h"
#include "foctet-error.h"

/**
 * FoctetIdentity:
 *
 * A node's identity: an Ed25519 key pair.  Its public key is the node's
 * #FoctetNodeId.  The identity also makes the self-signed X.509
 * certificate the node presents in every TLS handshake (PROTOCOL §2).
 *
 * The secret key is kept in one PKCS#8 PEM file with mode 0600; a file
 * that group or others may read is refused.
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

static FoctetNodeId *
node_id_from_pubkey (gnutls_pubkey_t   pubkey,
                     GError          **error)
{
  gnutls_datum_t x = { NULL, 0 };
  gnutls_ecc_curve_t curve;
  FoctetNodeId *id;
  int ret;

  ret = gnutls_pubkey_export_ecc_raw2 (pubkey, &curve, &x, NULL, 0);
  if (ret < 0 || curve != GNUTLS_ECC_CURVE_ED25519)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Cannot read the Ed25519 public key: %s",
                   ret < 0 ? gnutls_strerror (ret) : "wrong curve");
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

  for (guint i = 0; i < sizeof serial; i++)
    serial[i] = g_random_int_range (0, 256);
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
       (self->node_id = node_id_from_pubkey (pubkey, error)) != NULL &&
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

/**
 * foctet_identity_new_from_pem:
 * @pem: an unencrypted PKCS#8 (or PKCS#1-style) PEM private key
 * @length: its length, or -1 if it is nul-terminated
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the identity, or %NULL with
 *   %FOCTET_ERROR_INVALID_KEY
 */
FoctetIdentity *
foctet_identity_new_from_pem (const char  *pem,
                              gssize       length,
                              GError     **error)
{
  gnutls_x509_privkey_t xkey = NULL;
  gnutls_privkey_t key = NULL;
  gnutls_datum_t datum;
  int ret, algorithm;

  g_return_val_if_fail (pem != NULL, NULL);

  datum.data = (unsigned char *) pem;
  datum.size = length < 0 ? strlen (pem) : (gsize) length;

  if (!gnutls_check (gnutls_x509_privkey_init (&xkey), "Creating a key", error))
    return NULL;
  ret = gnutls_x509_privkey_import2 (xkey, &datum, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Not an unencrypted PEM private key: %s", gnutls_strerror (ret));
      gnutls_x509_privkey_deinit (xkey);
      return NULL;
    }

  algorithm = gnutls_x509_privkey_get_pk_algorithm2 (xkey, NULL);
  if (algorithm != GNUTLS_PK_EDDSA_ED25519)
    {
      const char *name = algorithm >= 0 ? gnutls_pk_get_name (algorithm) : NULL;

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "The key is %s, not Ed25519", name != NULL ? name : "of an unknown type");
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
  return identity_new_from_key (key, error);
}

/**
 * foctet_identity_load:
 * @path: (type filename): the key file
 * @error: return location for a #GError
 *
 * Loads an identity from a key file.  A file that group or others may
 * access fails with %FOCTET_ERROR_INSECURE_KEY_FILE; one without an
 * Ed25519 key with %FOCTET_ERROR_INVALID_KEY.
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
  GStatBuf st;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_stat (path, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot read key file %s: %s", path, g_strerror (saved_errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Key file %s is not a regular file", path);
      return NULL;
    }
  if ((st.st_mode & 077) != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INSECURE_KEY_FILE,
                   "Key file %s has mode %04o: group or others may access it; "
                   "refusing to use it (run: chmod 600 %s)",
                   path, (guint) (st.st_mode & 07777), path);
      return NULL;
    }

  if (!g_file_get_contents (path, &contents, &len, error))
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

/**
 * foctet_identity_save:
 * @self: a #FoctetIdentity
 * @path: (type filename): where to write the key
 * @error: return location for a #GError
 *
 * Writes the secret key as PKCS#8 PEM to @path, atomically and with mode
 * 0600, creating missing parent directories with mode 0700.
 *
 * Returns: %TRUE on success
 */
gboolean
foctet_identity_save (FoctetIdentity  *self,
                      const char      *path,
                      GError         **error)
{
  g_autofree char *pem = NULL;
  g_autofree char *dir = NULL;
  gboolean ok;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot create directory %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  pem = foctet_identity_export_private_key_pem (self);
  if (pem == NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Cannot export the key");
      return FALSE;
    }
  ok = g_file_set_contents_full (path, pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
  memset (pem, 0, strlen (pem));
  return ok;
}

/**
 * foctet_identity_load_or_create:
 * @path: (type filename): the key file
 * @error: return location for a #GError
 *
 * Loads the identity in @path, or generates one and saves it there if the
 * file does not exist.
 *
 * Returns: (transfer full): the identity, or %NULL
 */
FoctetIdentity *
foctet_identity_load_or_create (const char  *path,
                                GError     **error)
{
  g_autoptr(FoctetIdentity) identity = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return foctet_identity_load (path, error);

  identity = foctet_identity_generate (error);
  if (identity == NULL || !foctet_identity_save (identity, path, error))
    return NULL;
  return g_steal_pointer (&identity);
}

/**
 * foctet_identity_get_node_id:
 * @self: a #FoctetIdentity
 *
 * Returns: (transfer none): the NodeId
 */
const FoctetNodeId *
foctet_identity_get_node_id (FoctetIdentity *self)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  return self->node_id;
}

/**
 * foctet_identity_get_certificate_der:
 * @self: a #FoctetIdentity
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
 * @self: a #FoctetIdentity
 *
 * Returns: (transfer full): the node's self-signed certificate, PEM
 */
char *
foctet_identity_get_certificate_pem (FoctetIdentity *self)
{
  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);

  return g_strdup (self->certificate_pem);
}

/**
 * foctet_identity_export_private_key_pem:
 * @self: a #FoctetIdentity
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

/**
 * foctet_identity_sign:
 * @self: a #FoctetIdentity
 * @data: the data to sign
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the 64-byte Ed25519 signature of @data
 */
GBytes *
foctet_identity_sign (FoctetIdentity  *self,
                      GBytes          *data,
                      GError         **error)
{
  gnutls_datum_t in, sig = { NULL, 0 };
  gsize len = 0;
  GBytes *result;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (data != NULL, NULL);

  in.data = (unsigned char *) g_bytes_get_data (data, &len);
  in.size = len;
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
  gsize len = 0;
  int ret;

  g_return_val_if_fail (signer != NULL && data != NULL && signature != NULL, FALSE);

  pubkey = pubkey_from_node_id (signer, error);
  if (pubkey == NULL)
    return FALSE;
  in.data = (unsigned char *) g_bytes_get_data (data, &len);
  in.size = len;
  sig.data = (unsigned char *) g_bytes_get_data (signature, &len);
  sig.size = len;
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
                           "Peer certificate is not a DER certificate");
      return FALSE;
    }
  rest = cert;
  if (!der_next (&rest, DER_SEQUENCE, tbs, NULL) ||
      !der_next (&rest, DER_SEQUENCE, NULL, &algorithm) ||
      !der_next (&rest, DER_BIT_STRING, NULL, &bits) || rest.len != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is malformed");
      return FALSE;
    }
  if (!der_next (&algorithm, DER_OID, NULL, &oid) || algorithm.len != 0 ||
      oid.len != sizeof ed25519_oid || memcmp (oid.data, ed25519_oid, sizeof ed25519_oid) != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate is not signed with Ed25519");
      return FALSE;
    }
  if (bits.len < 1 || bits.data[0] != 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                           "Peer certificate signature is malformed");
      return FALSE;
    }
  signature->data = bits.data + 1;
  signature->len = bits.len - 1;
  return TRUE;
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
 * an Ed25519 public key, and a self-signature that verifies under that
 * key.  Validity dates, issuer, subject, X.509 version and key usage are
 * deliberately not looked at.  The TLS library checks the handshake
 * signature itself.
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
  int ret, algorithm;

  if (n_certificates != 1)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer sent %u certificates, expected exactly one", n_certificates);
      return NULL;
    }
  g_return_val_if_fail (certificates != NULL && certificates[0] != NULL, NULL);

  datum.data = (unsigned char *) g_bytes_get_data (certificates[0], &len);
  datum.size = len;
  if (datum.data == NULL || !split_certificate (datum.data, len, &tbs, &signature, error))
    {
      if (datum.data == NULL)
        g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                             "Peer certificate is empty");
      return NULL;
    }

  if (gnutls_x509_crt_init (&crt) < 0 || gnutls_pubkey_init (&pubkey) < 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_FAILED, "Out of memory");
      goto out;
    }
  ret = gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Cannot parse peer certificate: %s", gnutls_strerror (ret));
      goto out;
    }
  algorithm = gnutls_x509_crt_get_pk_algorithm (crt, NULL);
  if (algorithm != GNUTLS_PK_EDDSA_ED25519)
    {
      const char *name = algorithm >= 0 ? gnutls_pk_get_name (algorithm) : NULL;

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate key is %s, not Ed25519", name != NULL ? name : "of an unknown type");
      goto out;
    }
  ret = gnutls_pubkey_import_x509 (pubkey, crt, 0);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Cannot read peer certificate key: %s", gnutls_strerror (ret));
      goto out;
    }

  tbs_datum.data = (unsigned char *) tbs.data;
  tbs_datum.size = tbs.len;
  sig_datum.data = (unsigned char *) signature.data;
  sig_datum.size = signature.len;
  ret = gnutls_pubkey_verify_data2 (pubkey, GNUTLS_SIGN_EDDSA_ED25519, 0, &tbs_datum, &sig_datum);
  if (ret < 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE,
                   "Peer certificate is not validly self-signed: %s", gnutls_strerror (ret));
      goto out;
    }

  peer = node_id_from_pubkey (pubkey, error);
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

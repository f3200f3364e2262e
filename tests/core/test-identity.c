/* test-identity.c: identities (keys on disk, certificates) and the one
 * peer-certificate check of PROTOCOL §2, against keys and certificates
 * made by OpenSSL and GnuTLS's certtool during the test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "foctet-identity.h"
#include "foctet-error.h"
#include "test-utils.h"

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static GBytes *
load_file (const char *name)
{
  g_autofree char *path = tmp_path (name);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

static void
write_file (const char *name,
            const char *contents,
            int         mode)
{
  g_autofree char *path = tmp_path (name);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static void
run (const char *first,
     ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const char *arg;
  va_list args;

  va_start (args, first);
  for (arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  foctet_test_run_command (tmpdir, (const char * const *) argv->pdata);
}

/* The raw Ed25519 public key of a key file, as OpenSSL reads it: the last
 * 32 bytes of its 44-byte SubjectPublicKeyInfo. */
static FoctetNodeId *
openssl_public_key (const char *key_file)
{
  g_autoptr(GBytes) spki = NULL;
  const guint8 *data;
  gsize len = 0;

  run ("openssl", "pkey", "-in", key_file, "-pubout", "-outform", "DER", "-out", "pub.der", NULL);
  spki = load_file ("pub.der");
  data = g_bytes_get_data (spki, &len);
  g_assert_cmpuint (len, ==, 44);
  return foctet_node_id_new_from_data (data + 12, 32, NULL);
}

/* Parses @der with GnuTLS, to check what the tests made. */
static gnutls_x509_crt_t
parse_certificate (GBytes *der)
{
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t datum;

  datum.data = (unsigned char *) g_bytes_get_data (der, NULL);
  datum.size = g_bytes_get_size (der);
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER), ==, 0);
  return crt;
}

static void
assert_mode (const char *path,
             guint       mode)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, mode);
}

static void
test_generate_save_load (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autofree char *top = tmp_path ("keys");
  g_autofree char *dir = tmp_path ("keys/nested");
  g_autofree char *path = g_build_filename (dir, "identity", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GDir) listing = NULL;

  g_assert_no_error (error);
  g_assert_true (foctet_identity_save (identity, path, &error));
  g_assert_no_error (error);

  assert_mode (path, 0600);
  assert_mode (dir, 0700);
  assert_mode (top, 0700);

  /* Nothing else was left next to it (no temporary file). */
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_dir_read_name (listing), ==, "identity");
  g_assert_null (g_dir_read_name (listing));

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_str_has_prefix (contents, "-----BEGIN PRIVATE KEY-----\n"));

  loaded = foctet_identity_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                       foctet_identity_get_node_id (loaded)));

  /* The file is what OpenSSL calls a PKCS#8 Ed25519 key, with the same public key. */
  {
    g_autoptr(FoctetNodeId) from_openssl = openssl_public_key (path);
    g_assert_true (foctet_node_id_equal (from_openssl, foctet_identity_get_node_id (identity)));
  }
}

static void
test_save_replaces (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autofree char *path = tmp_path ("replaced");

  /* An old, readable file in the way: replaced by a private one. */
  write_file ("replaced", "old contents\n", 0644);
  g_assert_true (foctet_identity_save (identity, path, &error));
  g_assert_no_error (error);
  assert_mode (path, 0600);
  loaded = foctet_identity_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                       foctet_identity_get_node_id (loaded)));

  /* A directory that cannot be made is an I/O error. */
  {
    g_autofree char *below_file = tmp_path ("replaced/sub/identity");

    g_assert_false (foctet_identity_save (identity, below_file, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  }
}

static void
test_refuse_insecure (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autofree char *path = tmp_path ("open-key");
  /* 0644 as a careless copy makes it, then each group/other bit alone. */
  const guint modes[] = { 0644, 0640, 0620, 0610, 0604, 0602, 0601, 0777 };

  g_assert_true (foctet_identity_save (identity, path, &error));
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr(FoctetIdentity) loaded = NULL;
      g_autofree char *mode = g_strdup_printf ("%04o", modes[i]);

      g_assert_cmpint (g_chmod (path, modes[i]), ==, 0);
      loaded = foctet_identity_load (path, &error);
      g_assert_null (loaded);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INSECURE_KEY_FILE);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_nonnull (strstr (error->message, mode));
      g_assert_nonnull (strstr (error->message, "chmod 600"));
      g_assert_null (strchr (error->message, '\n'));
      g_clear_error (&error);

      /* load_or_create must not replace it either. */
      loaded = foctet_identity_load_or_create (path, &error);
      g_assert_null (loaded);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INSECURE_KEY_FILE);
      g_clear_error (&error);
    }

  /* Owner-only modes are fine, read-only too. */
  g_assert_cmpint (g_chmod (path, 0400), ==, 0);
  {
    g_autoptr(FoctetIdentity) loaded = foctet_identity_load (path, &error);

    g_assert_no_error (error);
    g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                         foctet_identity_get_node_id (loaded)));
  }
}

static void
expect_invalid_key (const char *name,
                    const char *words)
{
  g_autofree char *path = tmp_path (name);
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;

  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  loaded = foctet_identity_load (path, &error);
  g_assert_null (loaded);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY);
  g_test_message ("refused: %s", error->message);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” does not say “%s”", error->message, words);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_null (strchr (error->message, '\n'));
  g_clear_error (&error);

  /* load_or_create refuses it too, and leaves it alone. */
  {
    g_autoptr(GBytes) before = load_file (name);
    g_autoptr(GBytes) after = NULL;

    loaded = foctet_identity_load_or_create (path, &error);
    g_assert_null (loaded);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY);
    after = load_file (name);
    g_assert_true (g_bytes_equal (before, after));
  }
}

static void
test_refuse_bad_keys (void)
{
  g_autofree char *missing = tmp_path ("missing");
  g_autofree char *directory = tmp_path ("a-directory");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;

  write_file ("garbage", "not a key at all\n", 0600);
  expect_invalid_key ("garbage", "Not an unencrypted PEM private key: no PEM block found");
  write_file ("empty", "", 0600);
  expect_invalid_key ("empty", "Not an unencrypted PEM private key: no PEM block found");
  write_file ("broken", "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", 0600);
  expect_invalid_key ("broken", "the “PRIVATE KEY” block is unreadable");

  /* Keys of other types say what they are. */
  run ("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-out", "ecdsa.pem", NULL);
  expect_invalid_key ("ecdsa.pem", "The key is ECDSA-SECP256R1, not Ed25519");
  run ("certtool", "--generate-privkey", "--key-type=rsa", "--bits=2048", "--outfile", "rsa.pem", NULL);
  expect_invalid_key ("rsa.pem", "The key is RSA-2048, not Ed25519");
  run ("openssl", "genpkey", "-algorithm", "ed448", "-out", "ed448.pem", NULL);
  expect_invalid_key ("ed448.pem", "The key is Ed448, not Ed25519");

  /* A password-protected key cannot be used unattended. */
  run ("openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:secret",
       "-out", "encrypted.pem", NULL);
  expect_invalid_key ("encrypted.pem", "password");

  /* A certificate is not a key. */
  run ("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "cert.key",
       "-out", "cert.pem", "-days", "1", "-subj", "/CN=x", NULL);
  expect_invalid_key ("cert.pem", "found a PEM “CERTIFICATE” block instead");

  g_assert_cmpint (g_mkdir (directory, 0700), ==, 0);
  loaded = foctet_identity_load (directory, &error);
  g_assert_null (loaded);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_clear_error (&error);

  loaded = foctet_identity_load (missing, &error);
  g_assert_null (loaded);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  /* Far too large to be a key: refused before it is parsed. */
  {
    g_autofree char *big = g_strnfill (100 * 1024, 'A');

    write_file ("big", big, 0600);
    expect_invalid_key ("big", "too large");
  }
}

static void
test_foreign_ed25519_keys (void)
{
  g_autofree char *openssl_path = tmp_path ("openssl-ed25519.pem");
  g_autofree char *certtool_path = tmp_path ("certtool-ed25519.pem");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autoptr(FoctetNodeId) expected = NULL;

  run ("openssl", "genpkey", "-algorithm", "ed25519", "-out", "openssl-ed25519.pem", NULL);
  g_assert_cmpint (g_chmod (openssl_path, 0600), ==, 0);
  loaded = foctet_identity_load (openssl_path, &error);
  g_assert_no_error (error);
  expected = openssl_public_key ("openssl-ed25519.pem");
  g_assert_true (foctet_node_id_equal (expected, foctet_identity_get_node_id (loaded)));
  g_clear_object (&loaded);
  g_clear_pointer (&expected, foctet_node_id_free);

  /* certtool writes a text dump before the PEM block. */
  run ("certtool", "--generate-privkey", "--key-type=ed25519", "--outfile", "certtool-ed25519.pem", NULL);
  g_assert_cmpint (g_chmod (certtool_path, 0600), ==, 0);
  loaded = foctet_identity_load (certtool_path, &error);
  g_assert_no_error (error);
  expected = openssl_public_key ("certtool-ed25519.pem");
  g_assert_true (foctet_node_id_equal (expected, foctet_identity_get_node_id (loaded)));
}

static void
test_load_or_create (void)
{
  g_autofree char *dir = tmp_path ("fresh");
  g_autofree char *path = tmp_path ("fresh/identity");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) first = foctet_identity_load_or_create (path, &error);
  g_autoptr(FoctetIdentity) second = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autoptr(GDir) listing = NULL;

  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  assert_mode (path, 0600);
  assert_mode (dir, 0700);
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_dir_read_name (listing), ==, "identity");
  g_assert_null (g_dir_read_name (listing));

  second = foctet_identity_load_or_create (path, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (first),
                                       foctet_identity_get_node_id (second)));
  loaded = foctet_identity_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (first),
                                       foctet_identity_get_node_id (loaded)));
}

typedef struct {
  const char *path;
  FoctetIdentity *identity;
} RaceSlot;

static gpointer
race_thread (gpointer data)
{
  RaceSlot *slot = data;
  g_autoptr(GError) error = NULL;

  slot->identity = foctet_identity_load_or_create (slot->path, &error);
  g_assert_no_error (error);
  return NULL;
}

/* Processes started together on a fresh machine must not each make (and
 * then use) a different identity: all end up with the one on disk. */
static void
test_load_or_create_race (void)
{
  for (guint round = 0; round < 10; round++)
    {
      g_autofree char *name = g_strdup_printf ("race/%u/identity", round);
      g_autofree char *path = tmp_path (name);
      RaceSlot slots[4];
      GThread *threads[G_N_ELEMENTS (slots)];
      g_autoptr(FoctetIdentity) on_disk = NULL;
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < G_N_ELEMENTS (slots); i++)
        {
          slots[i].path = path;
          slots[i].identity = NULL;
          threads[i] = g_thread_new ("race", race_thread, &slots[i]);
        }
      for (guint i = 0; i < G_N_ELEMENTS (slots); i++)
        g_thread_join (threads[i]);

      on_disk = foctet_identity_load (path, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < G_N_ELEMENTS (slots); i++)
        {
          g_assert_nonnull (slots[i].identity);
          g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (slots[i].identity),
                                               foctet_identity_get_node_id (on_disk)));
          g_object_unref (slots[i].identity);
        }
    }
}

static void
test_pem_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autofree char *pem = foctet_identity_export_private_key_pem (identity);
  g_autoptr(FoctetIdentity) again = foctet_identity_new_from_pem (pem, -1, &error);
  g_autofree char *cert = foctet_identity_get_certificate_pem (identity);
  g_autoptr(FoctetIdentity) other = foctet_identity_generate (&error);

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PRIVATE KEY-----"));
  g_assert_true (g_str_has_prefix (cert, "-----BEGIN CERTIFICATE-----"));
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                       foctet_identity_get_node_id (again)));
  g_assert_false (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                        foctet_identity_get_node_id (other)));

  /* An explicit length: the text need not be nul-terminated. */
  {
    gsize len = strlen (pem);
    g_autofree char *unterminated = g_malloc (len + 8);
    g_autoptr(FoctetIdentity) from_prefix = NULL;

    memcpy (unterminated, pem, len);
    memset (unterminated + len, 'x', 8);
    from_prefix = foctet_identity_new_from_pem (unterminated, len, &error);
    g_assert_no_error (error);
    g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                         foctet_identity_get_node_id (from_prefix)));

    /* Cut short, it is no key. */
    g_clear_object (&from_prefix);
    from_prefix = foctet_identity_new_from_pem (unterminated, len / 2, &error);
    g_assert_null (from_prefix);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY);
  }
}

static void
test_own_certificate (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) other = foctet_identity_generate (&error);
  g_autoptr(GBytes) der = foctet_identity_get_certificate_der (identity);
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autofree char *text = foctet_node_id_to_string (foctet_identity_get_node_id (identity));
  g_autofree char *other_text = foctet_node_id_to_string (foctet_identity_get_node_id (other));
  g_autofree char *path = tmp_path ("own.der");
  g_autofree char *dump = NULL;
  g_autofree char *cn = NULL;

  peer = foctet_identity_verify_peer (&der, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (peer, foctet_identity_get_node_id (identity)));
  g_clear_pointer (&peer, foctet_node_id_free);

  peer = foctet_identity_verify_peer (&der, 1, foctet_identity_get_node_id (identity), &error);
  g_assert_no_error (error);
  g_clear_pointer (&peer, foctet_node_id_free);

  /* Another node expected: the message names both. */
  peer = foctet_identity_verify_peer (&der, 1, foctet_identity_get_node_id (other), &error);
  g_assert_null (peer);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  g_assert_nonnull (strstr (error->message, text));
  g_assert_nonnull (strstr (error->message, other_text));

  /* The PEM form is the same certificate. */
  {
    g_autofree char *pem = foctet_identity_get_certificate_pem (identity);
    gnutls_datum_t in = { (unsigned char *) pem, strlen (pem) }, out = { NULL, 0 };

    g_assert_cmpint (gnutls_pem_base64_decode2 ("CERTIFICATE", &in, &out), ==, 0);
    g_assert_cmpmem (out.data, out.size, g_bytes_get_data (der, NULL), g_bytes_get_size (der));
    gnutls_free (out.data);
  }

  /* What GnuTLS sees: v3, a positive serial, valid from about an hour ago
   * for about ten years. */
  {
    gnutls_x509_crt_t crt = parse_certificate (der);
    guint8 serial[40];
    size_t serial_size = sizeof serial;
    time_t now = time (NULL);
    time_t not_before = gnutls_x509_crt_get_activation_time (crt);
    time_t not_after = gnutls_x509_crt_get_expiration_time (crt);

    g_assert_cmpint (gnutls_x509_crt_get_version (crt), ==, 3);
    g_assert_cmpint (gnutls_x509_crt_get_serial (crt, serial, &serial_size), ==, 0);
    g_assert_cmpuint (serial_size, >=, 8);
    g_assert_cmpuint (serial[0] & 0x80, ==, 0);
    g_assert_cmpint (not_before, <=, now - 3500);
    g_assert_cmpint (not_before, >=, now - 3700);
    g_assert_cmpint ((gint64) not_after, >=, (gint64) now + (gint64) 9 * 365 * 24 * 3600);
    gnutls_x509_crt_deinit (crt);
  }

  /* Two identities do not share a serial. */
  {
    g_autoptr(GBytes) other_der = foctet_identity_get_certificate_der (other);
    gnutls_x509_crt_t a = parse_certificate (der), b = parse_certificate (other_der);
    guint8 serial_a[40], serial_b[40];
    size_t size_a = sizeof serial_a, size_b = sizeof serial_b;

    g_assert_cmpint (gnutls_x509_crt_get_serial (a, serial_a, &size_a), ==, 0);
    g_assert_cmpint (gnutls_x509_crt_get_serial (b, serial_b, &size_b), ==, 0);
    g_assert_false (size_a == size_b && memcmp (serial_a, serial_b, size_a) == 0);
    gnutls_x509_crt_deinit (a);
    gnutls_x509_crt_deinit (b);
  }

  /* What OpenSSL sees: v3, self-signed with Ed25519, CN = NodeId. */
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (der, NULL), g_bytes_get_size (der), NULL));
  run ("sh", "-c", "openssl x509 -inform DER -in own.der -noout -text > own.txt", NULL);
  g_clear_pointer (&path, g_free);
  path = tmp_path ("own.txt");
  g_assert_true (g_file_get_contents (path, &dump, NULL, NULL));
  g_assert_nonnull (strstr (dump, "Version: 3"));
  g_assert_nonnull (strstr (dump, "Signature Algorithm: ED25519"));
  g_assert_nonnull (strstr (dump, "Public Key Algorithm: ED25519"));
  cn = g_strdup_printf ("Subject: CN = %s\n", text);
  g_assert_nonnull (strstr (dump, cn));

  /* And OpenSSL agrees that it is validly self-signed. */
  run ("sh", "-c", "openssl x509 -inform DER -in own.der -out own.pem && "
       "openssl verify -CAfile own.pem -check_ss_sig own.pem", NULL);
}

static FoctetNodeId *
verify_file (const char  *name,
             GError     **error)
{
  g_autoptr(GBytes) der = load_file (name);

  return foctet_identity_verify_peer (&der, 1, NULL, error);
}

static void
expect_accepted (const char         *name,
                 const FoctetNodeId *key)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = verify_file (name, &error);

  if (error != NULL)
    g_error ("%s refused: %s", name, error->message);
  g_assert_nonnull (peer);
  if (key != NULL)
    g_assert_true (foctet_node_id_equal (peer, key));
}

static void
expect_bad_certificate (GBytes     *der,
                        const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = foctet_identity_verify_peer (&der, 1, NULL, &error);

  g_assert_null (peer);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
  g_test_message ("refused: %s", error->message);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” does not say “%s”", error->message, words);
  g_assert_null (strchr (error->message, '\n'));
}

static void
expect_bad_certificate_file (const char *name,
                             const char *words)
{
  g_autoptr(GBytes) der = load_file (name);

  expect_bad_certificate (der, words);
}

/* Ed25519 certificates that break the usual PKI rules but not PROTOCOL §2. */
static void
test_accept_odd_certificates (void)
{
  g_autoptr(FoctetNodeId) key = NULL;
  g_autoptr(FoctetNodeId) certtool_key = NULL;
  g_autofree char *expired_template = tmp_path ("expired.tmpl");
  g_autofree char *future_template = tmp_path ("future.tmpl");
  g_autofree char *ca_template = tmp_path ("ca.tmpl");

  /* OpenSSL's usual self-signed certificate: an arbitrary CN, CA:TRUE,
   * no key usage extension at all. */
  run ("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "good.key",
       "-outform", "DER", "-out", "good.der", "-days", "1", "-subj", "/CN=anything", NULL);
  key = openssl_public_key ("good.key");
  {
    g_autoptr(GBytes) der = load_file ("good.der");
    gnutls_x509_crt_t crt = parse_certificate (der);
    unsigned int usage = 0;

    g_assert_cmpint (gnutls_x509_crt_get_key_usage (crt, &usage, NULL), ==,
                     GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
    gnutls_x509_crt_deinit (crt);
  }
  expect_accepted ("good.der", key);

  /* X.509 version 1, no extensions at all. */
  run ("openssl", "req", "-new", "-key", "good.key", "-subj", "/CN=v1", "-out", "v1.csr", NULL);
  run ("openssl", "x509", "-req", "-in", "v1.csr", "-signkey", "good.key", "-days", "1",
       "-outform", "DER", "-out", "v1.der", NULL);
  {
    g_autoptr(GBytes) der = load_file ("v1.der");
    gnutls_x509_crt_t crt = parse_certificate (der);

    g_assert_cmpint (gnutls_x509_crt_get_version (crt), ==, 1);
    gnutls_x509_crt_deinit (crt);
  }
  expect_accepted ("v1.der", key);

  /* A critical key usage that does not allow signatures, CA:FALSE, an
   * unrelated extended key usage, an empty subject. */
  run ("openssl", "req", "-x509", "-key", "good.key", "-subj", "/", "-outform", "DER",
       "-out", "usage.der", "-days", "1",
       "-addext", "keyUsage=critical,keyCertSign",
       "-addext", "basicConstraints=critical,CA:FALSE",
       "-addext", "extendedKeyUsage=critical,codeSigning", NULL);
  expect_accepted ("usage.der", key);

  /* Expired long ago (certtool). */
  g_assert_true (g_file_set_contents (expired_template,
                                      "cn = \"expired\"\n"
                                      "serial = 1\n"
                                      "activation_date = \"2000-01-01 00:00:00\"\n"
                                      "expiration_date = \"2001-01-01 00:00:00\"\n", -1, NULL));
  run ("certtool", "--generate-privkey", "--key-type=ed25519", "--outfile", "certtool.key", NULL);
  run ("certtool", "--generate-self-signed", "--load-privkey", "certtool.key", "--template",
       "expired.tmpl", "--outder", "--outfile", "expired.der", NULL);
  certtool_key = openssl_public_key ("certtool.key");
  {
    g_autoptr(GBytes) der = load_file ("expired.der");
    gnutls_x509_crt_t crt = parse_certificate (der);

    g_assert_cmpint (gnutls_x509_crt_get_expiration_time (crt), <, time (NULL));
    gnutls_x509_crt_deinit (crt);
  }
  expect_accepted ("expired.der", certtool_key);

  /* Not valid before 2090. */
  g_assert_true (g_file_set_contents (future_template,
                                      "cn = \"future\"\n"
                                      "activation_date = \"2090-01-01 00:00:00\"\n"
                                      "expiration_date = \"2091-01-01 00:00:00\"\n", -1, NULL));
  run ("certtool", "--generate-self-signed", "--load-privkey", "certtool.key", "--template",
       "future.tmpl", "--outder", "--outfile", "future.der", NULL);
  expect_accepted ("future.der", certtool_key);

  /* A CA certificate with path length, name constraints and a SAN. */
  g_assert_true (g_file_set_contents (ca_template,
                                      "organization = \"Somewhere\"\n"
                                      "dns_name = \"peer.example\"\n"
                                      "ip_address = \"192.0.2.1\"\n"
                                      "ca\n"
                                      "path_len = 0\n"
                                      "cert_signing_key\n"
                                      "nc_permit_dns = \"example\"\n"
                                      "expiration_days = 1\n", -1, NULL));
  run ("certtool", "--generate-self-signed", "--load-privkey", "certtool.key", "--template",
       "ca.tmpl", "--outder", "--outfile", "ca.der", NULL);
  expect_accepted ("ca.der", certtool_key);
}

static void
test_refuse_certificates (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autoptr(FoctetNodeId) key = NULL;
  g_autoptr(GBytes) good = NULL;
  g_autofree char *rsa_template = tmp_path ("rsa.tmpl");

  run ("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "mine.key",
       "-outform", "DER", "-out", "mine.der", "-days", "1", "-subj", "/CN=anything", NULL);
  good = load_file ("mine.der");
  key = openssl_public_key ("mine.key");

  /* Pinned: the right NodeId passes, another is a mismatch naming both. */
  peer = foctet_identity_verify_peer (&good, 1, key, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (peer, key));
  g_clear_pointer (&peer, foctet_node_id_free);
  {
    guint8 other_key[FOCTET_NODE_ID_SIZE];
    g_autoptr(FoctetNodeId) other = NULL;
    g_autofree char *key_text = foctet_node_id_to_string (key);
    g_autofree char *other_text = NULL;

    memcpy (other_key, foctet_node_id_get_data (key, NULL), sizeof other_key);
    other_key[FOCTET_NODE_ID_SIZE - 1] ^= 0x80;
    other = foctet_node_id_new_from_data (other_key, sizeof other_key, NULL);
    other_text = foctet_node_id_to_string (other);
    peer = foctet_identity_verify_peer (&good, 1, other, &error);
    g_assert_null (peer);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
    g_assert_nonnull (strstr (error->message, key_text));
    g_assert_nonnull (strstr (error->message, other_text));
    g_clear_error (&error);
  }

  /* Other key types: refused, naming what they are. */
  run ("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", "ecdsa.key", "-out", "ecdsa.pem", "-days", "1", "-subj", "/CN=ecdsa", NULL);
  run ("openssl", "x509", "-in", "ecdsa.pem", "-outform", "DER", "-out", "ecdsa.der", NULL);
  expect_bad_certificate_file ("ecdsa.der", "key is ECDSA-SECP256R1, not Ed25519");

  run ("certtool", "--generate-privkey", "--key-type=rsa", "--bits=2048", "--outfile", "rsa.key", NULL);
  g_assert_true (g_file_set_contents (rsa_template, "cn = \"rsa\"\nexpiration_days = 1\n", -1, NULL));
  run ("certtool", "--generate-self-signed", "--load-privkey", "rsa.key", "--template", "rsa.tmpl",
       "--outder", "--outfile", "rsa.der", NULL);
  expect_bad_certificate_file ("rsa.der", "key is RSA-2048, not Ed25519");

  run ("openssl", "req", "-x509", "-newkey", "ed448", "-nodes", "-keyout", "ed448.key",
       "-outform", "DER", "-out", "ed448.der", "-days", "1", "-subj", "/CN=ed448", NULL);
  expect_bad_certificate_file ("ed448.der", "key is Ed448, not Ed25519");

  /* An Ed25519 key, but the certificate signed by someone else: with
   * ECDSA, and with another Ed25519 key. */
  run ("openssl", "req", "-new", "-key", "mine.key", "-subj", "/CN=mine", "-out", "mine.csr", NULL);
  run ("openssl", "x509", "-req", "-in", "mine.csr", "-CA", "ecdsa.pem", "-CAkey", "ecdsa.key",
       "-set_serial", "7", "-days", "1", "-outform", "DER", "-out", "ecdsa-signed.der", NULL);
  expect_bad_certificate_file ("ecdsa-signed.der", "signed with ECDSA-SHA256, not Ed25519");

  run ("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "issuer.key",
       "-out", "issuer.pem", "-days", "1", "-subj", "/CN=issuer", NULL);
  run ("openssl", "x509", "-req", "-in", "mine.csr", "-CA", "issuer.pem", "-CAkey", "issuer.key",
       "-set_serial", "8", "-days", "1", "-outform", "DER", "-out", "other-signer.der", NULL);
  expect_bad_certificate_file ("other-signer.der", "not validly self-signed");

  /* Two certificates (even the same one twice), or none. */
  {
    GBytes *two[] = { good, good };

    peer = foctet_identity_verify_peer (two, 2, NULL, &error);
    g_assert_null (peer);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    g_assert_nonnull (strstr (error->message, "sent 2 certificates, expected exactly one"));
    g_clear_error (&error);

    peer = foctet_identity_verify_peer (NULL, 0, NULL, &error);
    g_assert_null (peer);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    g_assert_nonnull (strstr (error->message, "sent 0 certificates"));
    g_clear_error (&error);
  }

  /* A bad signature: one byte flipped inside the signature BIT STRING,
   * which is the last element: 03 41 00 and 64 bytes. */
  {
    gsize len = 0;
    guint8 *bytes = g_memdup2 (g_bytes_get_data (good, &len), g_bytes_get_size (good));
    g_autoptr(GBytes) tampered = NULL;

    g_assert_cmpuint (len, >, 67);
    g_assert_cmpuint (bytes[len - 67], ==, 0x03);
    g_assert_cmpuint (bytes[len - 66], ==, 0x41);
    g_assert_cmpuint (bytes[len - 65], ==, 0x00);
    bytes[len - 30] ^= 0x01;
    tampered = g_bytes_new_take (bytes, len);
    expect_bad_certificate (tampered, "not validly self-signed");
  }

  /* A changed to-be-signed part fails the signature too. */
  {
    gsize len = 0;
    guint8 *bytes = g_memdup2 (g_bytes_get_data (good, &len), g_bytes_get_size (good));
    g_autoptr(GBytes) tampered = NULL;
    guint8 *cn = memmem (bytes, len, "anything", 8);

    g_assert_nonnull (cn);
    cn[0] = 'A';
    tampered = g_bytes_new_take (bytes, len);
    expect_bad_certificate (tampered, "not validly self-signed");
  }

  /* Garbage, PEM instead of DER, truncation, trailing bytes. */
  {
    g_autoptr(GBytes) garbage = g_bytes_new_static ("\x30\x03\x02\x01\x00", 5);
    g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
    g_autoptr(GBytes) text = g_bytes_new_static ("hello", 5);
    g_autoptr(GBytes) huge_length = g_bytes_new_static ("\x30\x84\xff\xff\xff\xff\x30\x00", 8);
    g_autoptr(GBytes) pem = load_file ("ecdsa.pem");
    g_autoptr(GBytes) truncated = g_bytes_new_from_bytes (good, 0, g_bytes_get_size (good) - 1);
    g_autoptr(GByteArray) trailing = g_byte_array_new ();
    g_autoptr(GBytes) trailing_bytes = NULL;

    expect_bad_certificate (garbage, "not a DER certificate");
    expect_bad_certificate (empty, "empty");
    expect_bad_certificate (text, "not a DER certificate");
    expect_bad_certificate (huge_length, "not a DER certificate");
    expect_bad_certificate (pem, "not a DER certificate");
    expect_bad_certificate (truncated, "not a DER certificate");

    g_byte_array_append (trailing, g_bytes_get_data (good, NULL), g_bytes_get_size (good));
    g_byte_array_append (trailing, (const guint8 *) "\0", 1);
    trailing_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&trailing));
    expect_bad_certificate (trailing_bytes, "not a DER certificate");
  }
}

/* Every byte of a certificate is covered: any single change, and any
 * truncation, is refused (and nothing crashes or reads out of bounds,
 * which the sanitizer build checks). */
static void
test_every_byte_matters (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(GBytes) der = foctet_identity_get_certificate_der (identity);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (der, &len);

  for (gsize i = 0; i < len; i++)
    {
      const guint8 flips[] = { 0x01, 0x80, 0xff };

      for (guint f = 0; f < G_N_ELEMENTS (flips); f++)
        {
          guint8 *copy = g_memdup2 (data, len);
          g_autoptr(GBytes) changed = NULL;
          g_autoptr(FoctetNodeId) peer = NULL;
          g_autoptr(GError) local_error = NULL;

          copy[i] ^= flips[f];
          changed = g_bytes_new_take (copy, len);
          peer = foctet_identity_verify_peer (&changed, 1, NULL, &local_error);
          if (peer != NULL)
            g_error ("certificate with byte %" G_GSIZE_FORMAT " ^ 0x%02x accepted", i, flips[f]);
          g_assert_error (local_error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
        }
    }

  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr(GBytes) prefix = g_bytes_new (data, cut);
      g_autoptr(FoctetNodeId) peer = NULL;
      g_autoptr(GError) local_error = NULL;

      peer = foctet_identity_verify_peer (&prefix, 1, NULL, &local_error);
      g_assert_null (peer);
      g_assert_error (local_error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    }
}

static void
test_signatures (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) other = foctet_identity_generate (&error);
  g_autoptr(GBytes) data = g_bytes_new_static ("attack at dawn", 14);
  g_autoptr(GBytes) changed = g_bytes_new_static ("attack at dusk", 14);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(GBytes) signature = foctet_identity_sign (identity, data, &error);
  g_autoptr(GBytes) empty_signature = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (signature), ==, 64);
  g_assert_true (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), data,
                                                   signature, &error));
  g_assert_no_error (error);
  g_assert_false (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), changed,
                                                    signature, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);
  g_assert_false (foctet_identity_verify_signature (foctet_identity_get_node_id (other), data,
                                                    signature, &error));
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);

  /* A truncated signature. */
  {
    g_autoptr(GBytes) short_signature = g_bytes_new_from_bytes (signature, 0, 63);

    g_assert_false (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), data,
                                                      short_signature, &error));
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    g_assert_nonnull (strstr (error->message, "got 63"));
    g_clear_error (&error);
  }

  /* Ed25519 is deterministic: the same data, the same signature. */
  {
    g_autoptr(GBytes) again = foctet_identity_sign (identity, data, &error);

    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (again, signature));
  }

  /* Empty data can be signed too. */
  empty_signature = foctet_identity_sign (identity, empty, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), empty,
                                                   empty_signature, &error));
  g_assert_no_error (error);

  /* OpenSSL agrees: it verifies our signature with the key we exported. */
  {
    g_autofree char *pem = foctet_identity_export_private_key_pem (identity);
    g_autofree char *key_path = tmp_path ("signer.pem");
    g_autofree char *data_path = tmp_path ("signed.bin");
    g_autofree char *sig_path = tmp_path ("signature.bin");

    g_assert_true (g_file_set_contents (key_path, pem, -1, NULL));
    g_assert_true (g_file_set_contents (data_path, "attack at dawn", 14, NULL));
    g_assert_true (g_file_set_contents (sig_path, g_bytes_get_data (signature, NULL), 64, NULL));
    run ("openssl", "pkeyutl", "-verify", "-rawin", "-inkey", "signer.pem", "-in", "signed.bin",
         "-sigfile", "signature.bin", NULL);
  }
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = foctet_test_make_tmpdir ();

  g_test_add_func ("/identity/generate-save-load", test_generate_save_load);
  g_test_add_func ("/identity/save-replaces", test_save_replaces);
  g_test_add_func ("/identity/refuse-insecure", test_refuse_insecure);
  g_test_add_func ("/identity/refuse-bad-keys", test_refuse_bad_keys);
  g_test_add_func ("/identity/foreign-ed25519-keys", test_foreign_ed25519_keys);
  g_test_add_func ("/identity/load-or-create", test_load_or_create);
  g_test_add_func ("/identity/load-or-create-race", test_load_or_create_race);
  g_test_add_func ("/identity/pem-round-trip", test_pem_round_trip);
  g_test_add_func ("/identity/own-certificate", test_own_certificate);
  g_test_add_func ("/identity/accept-odd-certificates", test_accept_odd_certificates);
  g_test_add_func ("/identity/refuse-certificates", test_refuse_certificates);
  g_test_add_func ("/identity/every-byte-matters", test_every_byte_matters);
  g_test_add_func ("/identity/signatures", test_signatures);

  ret = g_test_run ();
  foctet_test_remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}

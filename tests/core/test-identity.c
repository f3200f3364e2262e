/* test-identity.c: identities (keys on disk, certificates) and the one
 * peer-certificate check of PROTOCOL §2, against certificates made by
 * OpenSSL and GnuTLS's certtool during the test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

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

/* The raw Ed25519 public key of an OpenSSL key file, read by OpenSSL: the
 * last 32 bytes of its SubjectPublicKeyInfo. */
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

static void
test_generate_save_load (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autofree char *dir = tmp_path ("keys/nested");
  g_autofree char *path = g_build_filename (dir, "identity", NULL);
  GStatBuf st;

  g_assert_no_error (error);
  g_assert_true (foctet_identity_save (identity, path, &error));
  g_assert_no_error (error);

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

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
test_refuse_insecure (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autofree char *path = tmp_path ("open-key");
  const int modes[] = { 0640, 0604, 0660, 0601 };

  g_assert_true (foctet_identity_save (identity, path, &error));
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr(FoctetIdentity) loaded = NULL;

      g_assert_cmpint (g_chmod (path, modes[i]), ==, 0);
      loaded = foctet_identity_load (path, &error);
      g_assert_null (loaded);
      g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_INSECURE_KEY_FILE);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_nonnull (strstr (error->message, "chmod 600"));
      g_clear_error (&error);
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
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” does not say “%s”", error->message, words);
}

static void
test_refuse_bad_keys (void)
{
  g_autofree char *garbage = tmp_path ("garbage");
  g_autofree char *missing = tmp_path ("missing");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;

  g_assert_true (g_file_set_contents (garbage, "not a key at all\n", -1, NULL));
  expect_invalid_key ("garbage", "Not an unencrypted PEM private key");

  run ("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-out", "ecdsa.pem", NULL);
  expect_invalid_key ("ecdsa.pem", "not Ed25519");

  run ("certtool", "--generate-privkey", "--key-type=rsa", "--bits=2048", "--outfile", "rsa.pem", NULL);
  expect_invalid_key ("rsa.pem", "not Ed25519");

  loaded = foctet_identity_load (missing, &error);
  g_assert_null (loaded);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

static void
test_foreign_ed25519_key (void)
{
  g_autofree char *path = tmp_path ("openssl-ed25519.pem");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) loaded = NULL;
  g_autoptr(FoctetNodeId) expected = NULL;

  run ("openssl", "genpkey", "-algorithm", "ed25519", "-out", "openssl-ed25519.pem", NULL);
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  loaded = foctet_identity_load (path, &error);
  g_assert_no_error (error);
  expected = openssl_public_key ("openssl-ed25519.pem");
  g_assert_true (foctet_node_id_equal (expected, foctet_identity_get_node_id (loaded)));
}

static void
test_load_or_create (void)
{
  g_autofree char *path = tmp_path ("fresh/identity");
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) first = foctet_identity_load_or_create (path, &error);
  g_autoptr(FoctetIdentity) second = NULL;

  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  second = foctet_identity_load_or_create (path, &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (first),
                                       foctet_identity_get_node_id (second)));
}

static void
test_pem_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);
  g_autofree char *pem = foctet_identity_export_private_key_pem (identity);
  g_autoptr(FoctetIdentity) again = foctet_identity_new_from_pem (pem, -1, &error);
  g_autofree char *cert = foctet_identity_get_certificate_pem (identity);

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PRIVATE KEY-----"));
  g_assert_true (g_str_has_prefix (cert, "-----BEGIN CERTIFICATE-----"));
  g_assert_true (foctet_node_id_equal (foctet_identity_get_node_id (identity),
                                       foctet_identity_get_node_id (again)));
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

  peer = foctet_identity_verify_peer (&der, 1, foctet_identity_get_node_id (other), &error);
  g_assert_null (peer);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_NODE_ID_MISMATCH);
  g_assert_nonnull (strstr (error->message, text));

  /* What OpenSSL sees: v3, self-signed with Ed25519, CN = NodeId. */
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (der, NULL), g_bytes_get_size (der), NULL));
  run ("sh", "-c", "openssl x509 -inform DER -in own.der -noout -text > own.txt", NULL);
  g_clear_pointer (&path, g_free);
  path = tmp_path ("own.txt");
  g_assert_true (g_file_get_contents (path, &dump, NULL, NULL));
  g_assert_nonnull (strstr (dump, "Version: 3"));
  g_assert_nonnull (strstr (dump, "Signature Algorithm: ED25519"));
  cn = g_strdup_printf ("CN = %s", text);
  g_assert_nonnull (strstr (dump, cn));
}

static FoctetNodeId *
verify_file (const char  *name,
             GError     **error)
{
  g_autoptr(GBytes) der = load_file (name);

  return foctet_identity_verify_peer (&der, 1, NULL, error);
}

static void
expect_bad_certificate (GBytes     *der,
                        const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = foctet_identity_verify_peer (&der, 1, NULL, &error);

  g_assert_null (peer);
  g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” does not say “%s”", error->message, words);
}

static void
test_foreign_certificates (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetNodeId) peer = NULL;
  g_autoptr(FoctetNodeId) key = NULL;
  g_autoptr(GBytes) good = NULL;
  g_autoptr(GBytes) ecdsa = NULL;

  /* A good one: OpenSSL, Ed25519, self-signed, arbitrary CN. */
  run ("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "good.key",
       "-outform", "DER", "-out", "good.der", "-days", "1", "-subj", "/CN=anything", NULL);
  peer = verify_file ("good.der", &error);
  g_assert_no_error (error);
  key = openssl_public_key ("good.key");
  g_assert_true (foctet_node_id_equal (peer, key));
  g_clear_pointer (&peer, foctet_node_id_free);

  /* Expected NodeId pinned: match and mismatch. */
  good = load_file ("good.der");
  peer = foctet_identity_verify_peer (&good, 1, key, &error);
  g_assert_no_error (error);
  g_clear_pointer (&peer, foctet_node_id_free);

  /* Expired long ago (certtool): dates are ignored. */
  g_autofree char *template = tmp_path ("expired.tmpl");

  g_assert_true (g_file_set_contents (template,
                                      "cn = \"expired\"\n"
                                      "activation_date = \"2000-01-01 00:00:00\"\n"
                                      "expiration_date = \"2001-01-01 00:00:00\"\n", -1, NULL));
  run ("certtool", "--generate-privkey", "--key-type=ed25519", "--outfile", "expired.key", NULL);
  run ("certtool", "--generate-self-signed", "--load-privkey", "expired.key", "--template",
       "expired.tmpl", "--outder", "--outfile", "expired.der", NULL);
  peer = verify_file ("expired.der", &error);
  g_assert_no_error (error);
  g_clear_pointer (&peer, foctet_node_id_free);

  /* X.509 version 1, no extensions at all: accepted. */
  run ("openssl", "req", "-new", "-key", "good.key", "-subj", "/CN=v1", "-out", "v1.csr", NULL);
  run ("openssl", "x509", "-req", "-in", "v1.csr", "-signkey", "good.key", "-days", "1",
       "-outform", "DER", "-out", "v1.der", NULL);
  peer = verify_file ("v1.der", &error);
  g_assert_no_error (error);
  g_assert_true (foctet_node_id_equal (peer, key));
  g_clear_pointer (&peer, foctet_node_id_free);

  /* ECDSA: refused, naming what it is. */
  run ("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", "ecdsa.key", "-outform", "DER", "-out", "ecdsa.der", "-days", "1",
       "-subj", "/CN=ecdsa", NULL);
  ecdsa = load_file ("ecdsa.der");
  expect_bad_certificate (ecdsa, "Ed25519");

  /* Two certificates, or none. */
  {
    GBytes *two[] = { good, good };

    peer = foctet_identity_verify_peer (two, 2, NULL, &error);
    g_assert_null (peer);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    g_assert_nonnull (strstr (error->message, "2 certificates"));
    g_clear_error (&error);

    peer = foctet_identity_verify_peer (NULL, 0, NULL, &error);
    g_assert_null (peer);
    g_assert_error (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE);
    g_clear_error (&error);
  }

  /* A bad signature: the signature is the certificate's last bytes. */
  {
    gsize len = 0;
    guint8 *bytes = g_memdup2 (g_bytes_get_data (good, &len), g_bytes_get_size (good));
    g_autoptr(GBytes) tampered = NULL;

    bytes[len - 5] ^= 0x40;
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

  /* Garbage and truncation. */
  {
    g_autoptr(GBytes) garbage = g_bytes_new_static ("\x30\x03\x02\x01\x00", 5);
    g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
    g_autoptr(GBytes) truncated = g_bytes_new_from_bytes (good, 0, g_bytes_get_size (good) - 1);

    expect_bad_certificate (garbage, "malformed");
    expect_bad_certificate (empty, "certificate");
    expect_bad_certificate (truncated, "not a DER certificate");
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
  g_autoptr(GBytes) signature = foctet_identity_sign (identity, data, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (signature), ==, 64);
  g_assert_true (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), data,
                                                   signature, &error));
  g_assert_no_error (error);
  g_assert_false (foctet_identity_verify_signature (foctet_identity_get_node_id (identity), changed,
                                                    signature, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (foctet_identity_verify_signature (foctet_identity_get_node_id (other), data,
                                                    signature, &error));
  g_assert_nonnull (error);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = foctet_test_make_tmpdir ();

  g_test_add_func ("/identity/generate-save-load", test_generate_save_load);
  g_test_add_func ("/identity/refuse-insecure", test_refuse_insecure);
  g_test_add_func ("/identity/refuse-bad-keys", test_refuse_bad_keys);
  g_test_add_func ("/identity/foreign-ed25519-key", test_foreign_ed25519_key);
  g_test_add_func ("/identity/load-or-create", test_load_or_create);
  g_test_add_func ("/identity/pem-round-trip", test_pem_round_trip);
  g_test_add_func ("/identity/own-certificate", test_own_certificate);
  g_test_add_func ("/identity/foreign-certificates", test_foreign_certificates);
  g_test_add_func ("/identity/signatures", test_signatures);

  ret = g_test_run ();
  foctet_test_remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}

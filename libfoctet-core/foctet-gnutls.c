/* foctet-gnutls.c: the identity's GnuTLS credentials and the PROTOCOL §2
 * certificate check on a GnuTLS session, shared by every TLS stack.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-gnutls.h"

static void
credentials_free (gpointer data)
{
  gnutls_certificate_free_credentials (data);
}

/**
 * foctet_gnutls_get_credentials: (skip)
 * @identity: the node's identity
 * @error: return location for a #GError
 *
 * GnuTLS certificate credentials holding @identity's certificate and key.
 * They are made once and kept with @identity.
 *
 * Returns: (transfer none): the credentials, or %NULL with @error set
 */
gnutls_certificate_credentials_t
foctet_gnutls_get_credentials (FoctetIdentity  *identity,
                               GError         **error)
{
  gnutls_certificate_credentials_t cred = g_object_get_data (G_OBJECT (identity), "foctet-tls-credentials");
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;
  gnutls_datum_t cert, key;
  int ret;

  g_return_val_if_fail (FOCTET_IS_IDENTITY (identity), NULL);

  if (cred != NULL)
    return cred;

  cert_pem = foctet_identity_get_certificate_pem (identity);
  key_pem = foctet_identity_export_private_key_pem (identity);
  cert.data = (unsigned char *) cert_pem;
  cert.size = strlen (cert_pem);
  key.data = (unsigned char *) key_pem;
  key.size = strlen (key_pem);

  ret = gnutls_certificate_allocate_credentials (&cred);
  if (ret == 0)
    ret = gnutls_certificate_set_x509_key_mem2 (cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
  explicit_bzero (key_pem, strlen (key_pem));
  if (ret < 0)
    {
      if (cred != NULL)
        gnutls_certificate_free_credentials (cred);
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_KEY,
                   "Cannot use the identity for TLS: %s", gnutls_strerror (ret));
      return NULL;
    }
  g_object_set_data_full (G_OBJECT (identity), "foctet-tls-credentials", cred, credentials_free);
  return cred;
}

/**
 * foctet_gnutls_verify_peer: (skip)
 * @session: a GnuTLS session during its handshake (from its verify function)
 * @expected_peer: (nullable): the NodeId a dialer meant to reach, or %NULL
 *   on the listener
 * @error: return location for a #GError
 *
 * PROTOCOL §2 in place of the PKI check, on the certificates the peer of
 * @session sent: see [func@Foctet.Identity.verify_peer].
 *
 * Returns: (transfer full): the peer's NodeId, or %NULL with @error set
 */
FoctetNodeId *
foctet_gnutls_verify_peer (gnutls_session_t     session,
                           const FoctetNodeId  *expected_peer,
                           GError             **error)
{
  const gnutls_datum_t *list;
  unsigned int n = 0;
  g_autoptr(GPtrArray) certificates = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  list = gnutls_certificate_get_peers (session, &n);
  for (unsigned int i = 0; list != NULL && i < n; i++)
    g_ptr_array_add (certificates, g_bytes_new (list[i].data, list[i].size));

  return foctet_identity_verify_peer ((GBytes * const *) certificates->pdata, certificates->len,
                                      expected_peer, error);
}

/**
 * foctet_gnutls_alert_name: (skip)
 * @alert: a TLS alert description
 *
 * Returns: (transfer full): the alert as RFC 8446 spells it
 *   ("bad_certificate"), or its number when GnuTLS has no name for it
 */
char *
foctet_gnutls_alert_name (guint alert)
{
  const char *name = gnutls_alert_get_strname (alert);

  if (name == NULL)
    return g_strdup_printf ("%u", alert);
  if (g_str_has_prefix (name, "GNUTLS_A_"))
    name += strlen ("GNUTLS_A_");
  return g_ascii_strdown (name, -1);
}

/**
 * foctet_gnutls_peer_alert_error: (skip)
 * @alert: the fatal alert the peer sent
 * @alpn: the ALPN value this side offered or serves
 * @what: what the peer aborted ("TLS handshake", "QUIC handshake", ...)
 *
 * Returns: (transfer full): a %FOCTET_ERROR_HANDSHAKE_FAILED saying in
 *   words what the peer refused: our certificate, our ALPN value, or else
 *   which alert it sent
 */
GError *
foctet_gnutls_peer_alert_error (guint        alert,
                                const char  *alpn,
                                const char  *what)
{
  g_autofree char *name = foctet_gnutls_alert_name (alert);

  if (alert == GNUTLS_A_NO_APPLICATION_PROTOCOL)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer refused the ALPN value \"%s\" (alert no_application_protocol)", alpn);
  if (alert == GNUTLS_A_BAD_CERTIFICATE || alert == GNUTLS_A_CERTIFICATE_REQUIRED ||
      alert == GNUTLS_A_UNSUPPORTED_CERTIFICATE)
    return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                        "The peer refused our certificate (alert %s)", name);
  return g_error_new (FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED, "The peer aborted the %s (alert %s)", what, name);
}

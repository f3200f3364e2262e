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
 * foctet_gnutls_session_setup_checks: (skip)
 * @session: a GnuTLS session before its handshake, with a verify
 *   function that calls foctet_gnutls_verify_peer()
 * @is_server: whether @session is the listener's
 * @hook: the caller's handshake hook, which calls
 *   foctet_gnutls_handshake_check() (GnuTLS has one hook per session)
 *
 * What PROTOCOL §2 needs of a session beyond its verify function.  A
 * listener asks for the client's certificate, and only asks
 * (`GNUTLS_CERT_REQUEST`): asked to require it, GnuTLS would refuse a
 * client without one with alert `certificate_required` (116), where §2
 * wants `bad_certificate` (42) for anything but exactly one certificate;
 * foctet_gnutls_handshake_check() sends that.  @hook runs after every
 * handshake message (`GNUTLS_HANDSHAKE_ANY`, `GNUTLS_HOOK_POST`).
 */
void
foctet_gnutls_session_setup_checks (gnutls_session_t             session,
                                    gboolean                     is_server,
                                    gnutls_handshake_hook_func   hook)
{
  if (is_server)
    gnutls_certificate_server_set_request (session, GNUTLS_CERT_REQUEST);
  gnutls_handshake_set_hook_function (session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_POST, hook);
}

/**
 * foctet_gnutls_handshake_check: (skip)
 * @session: a GnuTLS session set up with
 *   foctet_gnutls_session_setup_checks()
 * @htype: the handshake message the hook was called after
 * @incoming: whether the peer sent it
 * @error: return location for a #GError
 *
 * The checks of PROTOCOL §2 that GnuTLS does not make, each once GnuTLS
 * has taken in what it looks at (a message is parsed after the hook
 * called after it, but for a ClientHello):
 *
 * - the listener, after the ClientHello: a common ALPN value was chosen
 *   (the dialer offers exactly one);
 * - the dialer, after the listener's Certificate (which follows its
 *   EncryptedExtensions): the listener chose an ALPN value;
 * - the listener, after the client's Finished: the client sent a
 *   certificate (which the verify function checked).  GnuTLS 3.7 already
 *   runs the verify function on an empty list, which refuses it; this
 *   keeps a GnuTLS that skips it from letting such a client in.
 *
 * Returns: 0, or the GnuTLS error to end the handshake with:
 *   `GNUTLS_E_NO_APPLICATION_PROTOCOL` (alert `no_application_protocol`)
 *   or `GNUTLS_E_CERTIFICATE_ERROR` (alert `bad_certificate`), @error set
 *   to say why (%FOCTET_ERROR_HANDSHAKE_FAILED or
 *   %FOCTET_ERROR_BAD_CERTIFICATE)
 */
int
foctet_gnutls_handshake_check (gnutls_session_t   session,
                               unsigned int       htype,
                               unsigned int       incoming,
                               GError           **error)
{
  gnutls_datum_t selected;
  unsigned int n = 0;

  if (!incoming)
    return 0;
  if ((htype == GNUTLS_HANDSHAKE_CLIENT_HELLO || htype == GNUTLS_HANDSHAKE_CERTIFICATE_PKT) &&
      gnutls_alpn_get_selected_protocol (session, &selected) < 0)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_HANDSHAKE_FAILED,
                           htype == GNUTLS_HANDSHAKE_CLIENT_HELLO
                             ? "The peer offered no ALPN value this node serves"
                             : "The peer did not accept the ALPN value");
      return GNUTLS_E_NO_APPLICATION_PROTOCOL;
    }
  if (htype == GNUTLS_HANDSHAKE_FINISHED && gnutls_certificate_get_peers (session, &n) == NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_BAD_CERTIFICATE, "The peer sent no certificate");
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  return 0;
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

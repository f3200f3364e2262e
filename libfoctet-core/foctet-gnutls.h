/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GnuTLS glue for transports that run the PROTOCOL §2 handshake with a TLS
 * stack of their own (QUIC through ngtcp2, ...).  Not part of <foctet.h>
 * and not introspected: include <foctet-gnutls.h> and link GnuTLS. */

#include <gnutls/gnutls.h>

#include "foctet.h"

G_BEGIN_DECLS

/**
 * FOCTET_GNUTLS_PRIORITY:
 *
 * The GnuTLS priority string of a dialer (PROTOCOL §2): TLS 1.3 only,
 * AES-128-GCM, then AES-256-GCM, then ChaCha20-Poly1305; X25519, then
 * secp256r1.  %COMPAT lets a certificate lack the digitalSignature key usage,
 * which §2 says must not matter.
 */
#define FOCTET_GNUTLS_PRIORITY \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:" \
  "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%COMPAT"

/**
 * FOCTET_GNUTLS_PRIORITY_SERVER:
 *
 * The listener's priority string: %FOCTET_GNUTLS_PRIORITY in the
 * listener's order of preference.
 */
#define FOCTET_GNUTLS_PRIORITY_SERVER FOCTET_GNUTLS_PRIORITY ":%SERVER_PRECEDENCE"

FOCTET_AVAILABLE_IN_ALL
gnutls_certificate_credentials_t foctet_gnutls_get_credentials (FoctetIdentity  *identity,
                                                                GError         **error);
FOCTET_AVAILABLE_IN_ALL
char *foctet_gnutls_alert_name (guint alert);
FOCTET_AVAILABLE_IN_ALL
GError *foctet_gnutls_peer_alert_error (guint        alert,
                                        const char  *alpn,
                                        const char  *what);
FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_gnutls_verify_peer (gnutls_session_t     session,
                                         const FoctetNodeId  *expected_peer,
                                         GError             **error);
FOCTET_AVAILABLE_IN_ALL
void foctet_gnutls_session_setup_checks (gnutls_session_t             session,
                                         gboolean                     is_server,
                                         gnutls_handshake_hook_func   hook);
FOCTET_AVAILABLE_IN_ALL
int foctet_gnutls_handshake_check (gnutls_session_t   session,
                                   unsigned int       htype,
                                   unsigned int       incoming,
                                   GError           **error);

G_END_DECLS

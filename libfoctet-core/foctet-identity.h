/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <gio/gio.h>
#include "foctet-macros.h"
#include "foctet-node-id.h"

G_BEGIN_DECLS

#define FOCTET_TYPE_IDENTITY (foctet_identity_get_type ())

FOCTET_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (FoctetIdentity, foctet_identity, FOCTET, IDENTITY, GObject)

FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_identity_generate (GError **error);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_identity_new_from_pem (const char *pem,
                                              gssize      length,
                                              GError    **error);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_identity_load (const char *path,
                                      GError    **error);
FOCTET_AVAILABLE_IN_ALL
FoctetIdentity *foctet_identity_load_or_create (const char *path,
                                                GError    **error);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_identity_save (FoctetIdentity *self,
                               const char     *path,
                               GError        **error);
FOCTET_AVAILABLE_IN_ALL
const FoctetNodeId *foctet_identity_get_node_id (FoctetIdentity *self);
FOCTET_AVAILABLE_IN_ALL
GBytes *foctet_identity_get_certificate_der (FoctetIdentity *self);
FOCTET_AVAILABLE_IN_ALL
char *foctet_identity_get_certificate_pem (FoctetIdentity *self);
FOCTET_AVAILABLE_IN_ALL
char *foctet_identity_export_private_key_pem (FoctetIdentity *self);
FOCTET_AVAILABLE_IN_ALL
GBytes *foctet_identity_sign (FoctetIdentity *self,
                              GBytes         *data,
                              GError        **error);

FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_identity_verify_peer (GBytes * const     *certificates,
                                           guint               n_certificates,
                                           const FoctetNodeId *expected,
                                           GError            **error);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_identity_verify_signature (const FoctetNodeId *signer,
                                           GBytes             *data,
                                           GBytes             *signature,
                                           GError            **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <glib-object.h>
#include "foctet-macros.h"

G_BEGIN_DECLS

/**
 * FOCTET_NODE_ID_SIZE:
 *
 * Size in bytes of a NodeId: a raw Ed25519 public key.
 */
#define FOCTET_NODE_ID_SIZE 32

/**
 * FOCTET_NODE_ID_TEXT_LENGTH:
 *
 * Length of the text form of a NodeId: unpadded base32 of 32 bytes.
 */
#define FOCTET_NODE_ID_TEXT_LENGTH 52

#define FOCTET_TYPE_NODE_ID (foctet_node_id_get_type ())

/**
 * FoctetNodeId:
 *
 * The identity of a node: its Ed25519 public key (PROTOCOL §1).
 * An immutable boxed value.
 */
typedef struct _FoctetNodeId FoctetNodeId;

FOCTET_AVAILABLE_IN_ALL
GType foctet_node_id_get_type (void) G_GNUC_CONST;

FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_node_id_new_from_data (const guint8 *data,
                                            gsize         len,
                                            GError      **error);
FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_node_id_new_from_bytes (GBytes  *bytes,
                                             GError **error);
FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_node_id_parse (const char *text,
                                    GError    **error);
FOCTET_AVAILABLE_IN_ALL
char *foctet_node_id_to_string (const FoctetNodeId *self);
FOCTET_AVAILABLE_IN_ALL
const guint8 *foctet_node_id_get_data (const FoctetNodeId *self,
                                       gsize              *len);
FOCTET_AVAILABLE_IN_ALL
GBytes *foctet_node_id_get_bytes (const FoctetNodeId *self);
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_node_id_equal (gconstpointer a,
                               gconstpointer b);
FOCTET_AVAILABLE_IN_ALL
guint foctet_node_id_hash (gconstpointer self);
FOCTET_AVAILABLE_IN_ALL
FoctetNodeId *foctet_node_id_copy (const FoctetNodeId *self);
FOCTET_AVAILABLE_IN_ALL
void foctet_node_id_free (FoctetNodeId *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetNodeId, foctet_node_id_free)

G_END_DECLS

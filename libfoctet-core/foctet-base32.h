/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 4648 base32, lower case, no padding: used by NodeIds and tickets. */
char *foctet_base32_encode (const guint8 *data,
                            gsize         len);

/* Decodes @len characters of @text (upper or lower case, no padding).
 * Rejects characters outside the alphabet, impossible lengths and
 * non-zero unused bits in the last character, naming the offending
 * position in @error (FOCTET_ERROR_INVALID_ARGUMENT; callers re-code it). */
guint8 *foctet_base32_decode (const char  *text,
                              gsize        len,
                              gsize       *out_len,
                              GError     **error);

G_END_DECLS

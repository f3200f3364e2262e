/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "foctet-error.h"

/**
 * foctet_error_quark:
 *
 * Gets the #GQuark of the #FOCTET_ERROR domain.  Use %FOCTET_ERROR
 * rather than calling this directly.
 *
 * Returns: the error domain of foctet, "foctet-error-quark"
 */
G_DEFINE_QUARK (foctet-error-quark, foctet_error)

/**
 * foctet_error_is_stream_refused:
 * @error: (nullable): an error met on a stream this side opened, before
 *   the peer answered anything on it
 *
 * Whether @error says the peer refused the stream: a peer that serves no
 * such protocol resets it on reading its header (PROTOCOL §5), which the
 * opener meets as %FOCTET_ERROR_STREAM_RESET wherever it is — reading the
 * answer, or still writing its first message — or as
 * %FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED once something has said so.
 *
 * Returns: %TRUE for a refused stream
 */
gboolean
foctet_error_is_stream_refused (const GError *error)
{
  return g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET) ||
         g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_NOT_SUPPORTED);
}

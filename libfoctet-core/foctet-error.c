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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "foctet-error.h"

G_DEFINE_QUARK (foctet-error-quark, foctet_error)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "foctet-connection.h"

G_BEGIN_DECLS

/* The acceptor halves of the built-in protocols; FoctetNode registers them
 * as protocol handlers on every node. */
void foctet_ping_serve (FoctetStream *stream);
void foctet_perf_serve (FoctetStream *stream);

G_END_DECLS

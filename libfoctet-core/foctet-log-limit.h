/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A bound on log lines a stranger can make at will (a port scan,
 * garbage, connections reset at once): every line while they are few;
 * under a flood @burst lines per window, then, at the window's end, one
 * line that says how many more there were and gives the last of them.
 * For a server's lines about what came from unauthenticated peers; not
 * for what a client it knows does (one line per circuit stays one line
 * per circuit).  foctet-shell serve's lines about failed incoming
 * connections and foctet-relay's about refused raw connections use it.
 * Not part of <foctet.h> and not introspected: include
 * <foctet-log-limit.h>.  Use it from one thread: the summary is said
 * from a timer on the thread-default main context of its creation. */

#include "foctet.h"

G_BEGIN_DECLS

/* What foctet's own programs use: 10 lines per 10 s. */
#define FOCTET_LOG_LIMIT_DEFAULT_BURST 10
#define FOCTET_LOG_LIMIT_DEFAULT_WINDOW_MS 10000

typedef struct _FoctetLogLimit FoctetLogLimit;

/* Writes one line, without its newline. */
typedef void (*FoctetLogLimitFunc) (const char *line,
                                    gpointer    user_data);

/* Lines go to @func; @what names them in the summary, a plural that
 * reads after a count: "incoming connections failed" makes "12 more
 * incoming connections failed in 10 s, the last: …". */
FOCTET_AVAILABLE_IN_ALL
FoctetLogLimit *foctet_log_limit_new (guint               burst,
                                      guint               window_ms,
                                      const char         *what,
                                      FoctetLogLimitFunc  func,
                                      gpointer            user_data);
/* One line: written at once, or counted for the window's summary. */
FOCTET_AVAILABLE_IN_ALL
void foctet_log_limit_log (FoctetLogLimit *self,
                           const char     *format,
                           ...) G_GNUC_PRINTF (2, 3);
/* Says the summary of the lines held back so far, if any (so that none
 * goes unreported when the program stops), and frees @self. */
FOCTET_AVAILABLE_IN_ALL
void foctet_log_limit_free (FoctetLogLimit *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FoctetLogLimit, foctet_log_limit_free)

G_END_DECLS

/* test-echo.h: an echo protocol for tests of transports and relays, and
 * a checked round trip over it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

#define FOCTET_TEST_ECHO_PROTOCOL "test/echo/1"

/* A FoctetProtocolHandler: echoes everything, then half-closes. */
void foctet_test_echo_handler (FoctetNode       *node,
                               FoctetConnection *connection,
                               FoctetStream     *stream,
                               gpointer          user_data);

typedef struct _FoctetTestEcho FoctetTestEcho;

/* Opens an echo stream on @connection, writes @size bytes made from
 * @seed, half-closes, and reads the echo to its end; adds one to *n_done
 * when finished, well or not. */
FoctetTestEcho *foctet_test_echo_start (FoctetConnection *connection,
                                        gsize             size,
                                        guint             seed,
                                        guint            *n_done);
/* Fails the test unless the echo came back whole and unchanged; frees
 * @echo. */
void foctet_test_echo_check (FoctetTestEcho *echo);

G_END_DECLS

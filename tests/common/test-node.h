/* test-node.h: nodes, connections and streams for tests, each async call
 * waited for boundedly (a test fails after @timeout_seconds instead of
 * hanging).  The helpers without a GError fail the test on an error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

/* A node with a fresh identity. */
FoctetNode *foctet_test_node_new (void);

/* Listens on @uri; returns the address bound (transfer full). */
char *foctet_test_node_listen (FoctetNode *node,
                               const char *uri,
                               guint       timeout_seconds);
char *foctet_test_node_listen_full (FoctetNode  *node,
                                    const char  *uri,
                                    GError     **error,
                                    guint        timeout_seconds);

void foctet_test_node_shutdown (FoctetNode *node,
                                guint       timeout_seconds);

FoctetConnection *foctet_test_node_dial (FoctetNode    *node,
                                         FoctetTicket  *ticket,
                                         const char    *transport,
                                         GCancellable  *cancellable,
                                         GError       **error,
                                         guint          timeout_seconds);
FoctetConnection *foctet_test_node_dial_uri (FoctetNode          *node,
                                             const FoctetNodeId  *peer,
                                             const char          *uri,
                                             GError             **error,
                                             guint                timeout_seconds);

FoctetStream *foctet_test_open_stream (FoctetConnection  *connection,
                                       const char        *protocol,
                                       GError           **error,
                                       guint              timeout_seconds);
FoctetStream *foctet_test_accept_stream (FoctetConnection  *connection,
                                         GError           **error,
                                         guint              timeout_seconds);

/* Closes @connection with @code and @reason. */
void foctet_test_close_connection (FoctetConnection *connection,
                                   guint32           code,
                                   const char       *reason,
                                   guint             timeout_seconds);

/* Writes all of @data: every byte is written. */
void foctet_test_stream_write_all (FoctetStream *stream,
                                   const void   *data,
                                   gsize         len,
                                   guint         timeout_seconds);
void foctet_test_stream_close_write (FoctetStream *stream,
                                     guint         timeout_seconds);
void foctet_test_stream_close (FoctetStream *stream,
                               guint         timeout_seconds);

/* One read of at most @count bytes: 0 at the end, -1 on an error. */
gssize foctet_test_stream_read_some (FoctetStream  *stream,
                                     void          *buffer,
                                     gsize          count,
                                     GError       **error,
                                     guint          timeout_seconds);
/* Reads until the end or an error; returns what came before the end, or
 * %NULL on an error. */
GBytes *foctet_test_stream_read_to_end (FoctetStream  *stream,
                                        GError       **error,
                                        guint          timeout_seconds);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-node.h"
#include "test-utils.h"

FoctetNode *
foctet_test_node_new (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FoctetIdentity) identity = foctet_identity_generate (&error);

  g_assert_no_error (error);
  return foctet_node_new (identity);
}

char *
foctet_test_node_listen_full (FoctetNode  *node,
                              const char  *uri,
                              GError     **error,
                              guint        timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_listen_async (node, uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return foctet_node_listen_finish (node, result, error);
}

char *
foctet_test_node_listen (FoctetNode *node,
                         const char *uri,
                         guint       timeout_seconds)
{
  g_autoptr(GError) error = NULL;
  char *bound = foctet_test_node_listen_full (node, uri, &error, timeout_seconds);

  g_assert_no_error (error);
  return bound;
}

void
foctet_test_node_shutdown (FoctetNode *node,
                           guint       timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_shutdown_async (node, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  g_assert_true (foctet_node_shutdown_finish (node, result, &error));
  g_assert_no_error (error);
}

FoctetConnection *
foctet_test_node_dial (FoctetNode    *node,
                       FoctetTicket  *ticket,
                       const char    *transport,
                       GCancellable  *cancellable,
                       GError       **error,
                       guint          timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_dial_async (node, ticket, transport, cancellable, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return foctet_node_dial_finish (node, result, error);
}

FoctetConnection *
foctet_test_node_dial_uri (FoctetNode          *node,
                           const FoctetNodeId  *peer,
                           const char          *uri,
                           GError             **error,
                           guint                timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_node_dial_uri_async (node, peer, uri, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return foctet_node_dial_uri_finish (node, result, error);
}

FoctetStream *
foctet_test_open_stream (FoctetConnection  *connection,
                         const char        *protocol,
                         GError           **error,
                         guint              timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_connection_open_stream_async (connection, protocol, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return foctet_connection_open_stream_finish (connection, result, error);
}

FoctetStream *
foctet_test_accept_stream (FoctetConnection  *connection,
                           GError           **error,
                           guint              timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  foctet_connection_accept_stream_async (connection, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return foctet_connection_accept_stream_finish (connection, result, error);
}

void
foctet_test_close_connection (FoctetConnection *connection,
                              guint32           code,
                              const char       *reason,
                              guint             timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_connection_close_async (connection, code, reason, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  g_assert_true (foctet_connection_close_finish (connection, result, &error));
  g_assert_no_error (error);
}

void
foctet_test_stream_write_all (FoctetStream *stream,
                              const void   *data,
                              gsize         len,
                              guint         timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  GAsyncResult *slot = NULL;
  gsize written = 0;

  g_output_stream_write_all_async (output, data, len, G_PRIORITY_DEFAULT, NULL,
                                   foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  g_assert_true (g_output_stream_write_all_finish (output, result, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, len);
}

void
foctet_test_stream_close_write (FoctetStream *stream,
                                guint         timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  foctet_stream_close_write_async (stream, G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  g_assert_true (foctet_stream_close_write_finish (stream, result, &error));
  g_assert_no_error (error);
}

void
foctet_test_stream_close (FoctetStream *stream,
                          guint         timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *slot = NULL;

  g_io_stream_close_async (G_IO_STREAM (stream), G_PRIORITY_DEFAULT, NULL, foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  g_assert_true (g_io_stream_close_finish (G_IO_STREAM (stream), result, &error));
  g_assert_no_error (error);
}

gssize
foctet_test_stream_read_some (FoctetStream  *stream,
                              void          *buffer,
                              gsize          count,
                              GError       **error,
                              guint          timeout_seconds)
{
  g_autoptr(GAsyncResult) result = NULL;
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  GAsyncResult *slot = NULL;

  g_input_stream_read_async (input, buffer, count, G_PRIORITY_DEFAULT, NULL,
                             foctet_test_store_result, &slot);
  result = foctet_test_wait_result (&slot, timeout_seconds);
  return g_input_stream_read_finish (input, result, error);
}

GBytes *
foctet_test_stream_read_to_end (FoctetStream  *stream,
                                GError       **error,
                                guint          timeout_seconds)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autofree guint8 *buffer = g_malloc (65536);

  for (;;)
    {
      gssize n = foctet_test_stream_read_some (stream, buffer, 65536, error, timeout_seconds);

      if (n < 0)
        return NULL;
      if (n == 0)
        return g_byte_array_free_to_bytes (g_steal_pointer (&data));
      g_byte_array_append (data, buffer, n);
    }
}

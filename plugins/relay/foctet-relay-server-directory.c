/* foctet-relay-server-directory.c: reservations, and the directory of
 * addresses published under them (the relay side of docs/protocol.md,
 * "Relay control": reserve/1, publish/1, lookup/1).
 *
 * A client's reserve stream holds its reservation, which circuits to the
 * client go through (foctet-relay-server-circuits.c).  A reserved
 * client's publish stream holds the addresses it published, which live
 * as long as its reservation; a lookup stream asks for them, one LOOKUP
 * each, within a per-client rate.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-server-private.h"
#include "foctet-relay-bucket.h"
#include "foctet-relay-message.h"

/* ------------------------------------------------------------------ */
/* Reservations                                                        */

typedef struct _Publication Publication;

/* One reserve stream; a reservation once RESERVE was granted. */
typedef struct {
  RelayServer *server;
  FoctetConnection *connection;
  FoctetStream *stream;
  char *key;                          /* the client's NodeId, as text */
  char *address;                      /* where the client connected from */
  GCancellable *cancellable;
  GSource *expiry;
  gboolean reserved;                  /* the table's entry for key is this */
  gboolean ended;
  Publication *publication;           /* what it published, if it did */
} Reservation;

static void publication_end (Publication *p,
                             const char  *why,
                             gboolean     close);

static void
reservation_free (Reservation *r)
{
  relay_clear_source (&r->expiry);
  g_clear_object (&r->connection);
  g_clear_object (&r->stream);
  g_clear_object (&r->cancellable);
  g_free (r->key);
  g_free (r->address);
  g_free (r);
}

/* Ends the reservation; unless the stream already failed (@close FALSE)
 * the relay half-closes it, which tells the client.  @r is freed by the
 * callback of the operation in flight, or by the caller. */
static void
reservation_end (Reservation *r,
                 const char  *why,
                 gboolean     close)
{
  RelayServer *self = r->server;

  if (r->ended)
    return;
  r->ended = TRUE;
  relay_clear_source (&r->expiry);
  if (r->publication != NULL)
    publication_end (r->publication, "the reservation ended", TRUE);
  if (r->reserved)
    {
      g_message ("reservation of %s (%s) ended: %s", r->key, r->address, why);
      g_hash_table_remove (self->reservations, r->key);
      r->reserved = FALSE;
      self->stats.reservations = g_hash_table_size (self->reservations);
    }
  if (close)
    foctet_stream_close_write_async (r->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_cancellable_cancel (r->cancellable);
}

static void reserve_read_next (Reservation *r);

/* No RESERVE in time: the first within the setup time, each renewal
 * within the ttl. */
static gboolean
reservation_expired_cb (gpointer user_data)
{
  Reservation *r = user_data;

  g_clear_pointer (&r->expiry, g_source_unref);
  if (r->reserved)
    reservation_end (r, "not renewed in time", TRUE);
  else
    {
      g_message ("reserve stream of %s (%s) reset: no RESERVE within %u s", r->key, r->address,
                 r->server->incoming_timeout);
      foctet_stream_reset (r->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      /* The read in flight fails and frees it. */
      reservation_end (r, "no RESERVE in time", FALSE);
    }
  return G_SOURCE_REMOVE;
}

static void
reserve_written_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Reservation *r = user_data;
  g_autoptr(RelayServer) self = r->server;     /* the operation's reference */
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      foctet_stream_reset (r->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      reservation_end (r, error->message, FALSE);
    }
  if (r->ended)
    {
      g_hash_table_remove (r->server->reserve_streams, r);
      return;
    }
  reserve_read_next (r);
}

static void
reserve_grant (Reservation *r)
{
  RelayServer *self = r->server;
  g_autoptr(FoctetRelayMessage) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (!r->reserved)
    {
      Reservation *old = g_hash_table_lookup (self->reservations, r->key);

      if (old != NULL)
        reservation_end (old, "replaced by a newer reservation", TRUE);
      else if (g_hash_table_size (self->reservations) >= self->max_reservations)
        {
          relay_server_refuse (self, r->stream, FOCTET_RELAY_ERROR_CODE_RESERVATION_LIMIT,
                               "The relay holds %u reservations, its limit", self->max_reservations);
          r->ended = TRUE;
          g_hash_table_remove (self->reserve_streams, r);
          return;
        }
      g_hash_table_insert (self->reservations, r->key, r);
      r->reserved = TRUE;
      self->stats.reservations = g_hash_table_size (self->reservations);
      g_message ("reservation of %s (%s)", r->key, r->address);
    }

  relay_clear_source (&r->expiry);
  r->expiry = relay_attach_timeout (self->context, self->reservation_ttl * 1000, reservation_expired_cb, r);

  reply = foctet_relay_message_new_reserve_ok (self->reservation_ttl, r->address, &error);
  if (reply == NULL)
    {
      /* The connection's address did not make a ticket address. */
      g_warning ("Cannot tell %s its address: %s", r->key, error->message);
      reply = foctet_relay_message_new_error (FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR,
                                              "The relay cannot describe your address");
      reservation_end (r, "no address to report", FALSE);
    }
  g_object_ref (self);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (r->stream)), reply,
                                    G_PRIORITY_DEFAULT, NULL, reserve_written_cb, r);
}

static void
reserve_read_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Reservation *r = user_data;
  g_autoptr(RelayServer) self = r->server;     /* the operation's reference */
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (r->ended)
    {
      g_hash_table_remove (r->server->reserve_streams, r);
      return;
    }
  if (message == NULL && g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
    {
      relay_server_refuse (r->server, r->stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST, "%s", error->message);
      reservation_end (r, "malformed message", FALSE);
      g_hash_table_remove (r->server->reserve_streams, r);
      return;
    }
  if (message == NULL)
    {
      /* The client half-closed (end of the reservation), or the stream failed. */
      reservation_end (r, error->message, g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED));
      g_hash_table_remove (r->server->reserve_streams, r);
      return;
    }
  if (message->type != FOCTET_RELAY_MESSAGE_RESERVE)
    {
      g_autofree char *what = foctet_relay_message_to_string (message);

      relay_server_refuse (r->server, r->stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE,
                           "Expected RESERVE on a reserve stream, got %s", what);
      reservation_end (r, "unexpected message", FALSE);
      g_hash_table_remove (r->server->reserve_streams, r);
      return;
    }
  reserve_grant (r);
}

static void
reserve_read_next (Reservation *r)
{
  g_object_ref (r->server);
  foctet_relay_message_read_async (g_io_stream_get_input_stream (G_IO_STREAM (r->stream)),
                                   G_PRIORITY_DEFAULT, r->cancellable, reserve_read_cb, r);
}

void
relay_server_handle_reserve (FoctetNode       *node,
                             FoctetConnection *connection,
                             FoctetStream     *stream,
                             gpointer          user_data)
{
  RelayServer *self = user_data;
  Reservation *r;

  if (!relay_server_admit (self, connection, stream))
    return;
  r = g_new0 (Reservation, 1);
  r->server = self;
  r->connection = g_object_ref (connection);
  r->stream = g_object_ref (stream);
  r->key = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  r->address = g_strdup (foctet_connection_get_remote_address (connection));
  r->cancellable = g_cancellable_new ();
  r->expiry = relay_attach_timeout (self->context, self->incoming_timeout * 1000, reservation_expired_cb, r);
  g_hash_table_add (self->reserve_streams, r);
  reserve_read_next (r);
}

/* ------------------------------------------------------------------ */
/* The directory: publish streams                                      */

/* One publish stream; once a PUBLISH was accepted, the entries of the
 * reservation it was sent under.  Exactly one operation is in flight on
 * it (a read, a write) until it ends; the callback of that operation
 * frees it once it has ended. */
struct _Publication {
  RelayServer *server;
  FoctetConnection *connection;
  FoctetStream *stream;
  char *key;                          /* the client's NodeId, as text */
  Reservation *reservation;           /* the one it publishes under, once it did */
  GPtrArray *entries;                 /* of FoctetRelayEntry, once it published */
  GCancellable *cancellable;
  GSource *timeout;                   /* for the first PUBLISH */
  gboolean ended;
};

static void
publication_free (Publication *p)
{
  relay_clear_source (&p->timeout);
  g_clear_object (&p->connection);
  g_clear_object (&p->stream);
  g_clear_object (&p->cancellable);
  g_clear_pointer (&p->entries, g_ptr_array_unref);
  g_free (p->key);
  g_free (p);
}

/* Ends the publication: the entries go; unless the stream failed
 * (@close FALSE) the relay half-closes it, which tells the client. */
static void
publication_end (Publication *p,
                 const char  *why,
                 gboolean     close)
{
  RelayServer *self = p->server;

  if (p->ended)
    return;
  p->ended = TRUE;
  relay_clear_source (&p->timeout);
  if (p->reservation != NULL)
    {
      g_debug ("addresses of %s withdrawn: %s", p->key, why);
      g_assert (p->reservation->publication == p);
      p->reservation->publication = NULL;
      p->reservation = NULL;
      self->stats.published--;
    }
  g_clear_pointer (&p->entries, g_ptr_array_unref);
  if (close)
    foctet_stream_close_write_async (p->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_cancellable_cancel (p->cancellable);
}

static void publish_read_next (Publication *p);

static void
publish_ok_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Publication *p = user_data;
  g_autoptr(RelayServer) self = p->server;     /* the operation's reference */
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    {
      foctet_stream_reset (p->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
      publication_end (p, error->message, FALSE);
    }
  if (p->ended)
    {
      g_hash_table_remove (self->publications, p);
      return;
    }
  publish_read_next (p);
}

static void
publish_read_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Publication *p = user_data;
  g_autoptr(RelayServer) self = p->server;     /* the operation's reference */
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(FoctetRelayMessage) ok = NULL;
  g_autoptr(GError) error = NULL;
  Reservation *r;

  message = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (p->ended)
    {
      g_hash_table_remove (self->publications, p);
      return;
    }
  if (message == NULL)
    {
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
        {
          relay_server_refuse (self, p->stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST, "%s", error->message);
          publication_end (p, "malformed message", FALSE);
        }
      else
        /* The client half-closed (it withdraws), or the stream failed. */
        publication_end (p, error->message, g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED));
      g_hash_table_remove (self->publications, p);
      return;
    }
  if (message->type != FOCTET_RELAY_MESSAGE_PUBLISH)
    {
      g_autofree char *what = foctet_relay_message_to_string (message);

      relay_server_refuse (self, p->stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE,
                           "Expected PUBLISH on a publish stream, got %s", what);
      publication_end (p, "unexpected message", FALSE);
      g_hash_table_remove (self->publications, p);
      return;
    }

  /* The entries live as long as the reservation of this very connection. */
  r = g_hash_table_lookup (self->reservations, p->key);
  if (r == NULL || r->connection != p->connection)
    {
      relay_server_refuse (self, p->stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE,
                           "PUBLISH needs a reservation on the same connection; %s holds none here", p->key);
      publication_end (p, "no reservation", FALSE);
      g_hash_table_remove (self->publications, p);
      return;
    }
  if (p->reservation == NULL)
    {
      relay_clear_source (&p->timeout);
      /* A newer publish stream replaces the older one. */
      if (r->publication != NULL)
        publication_end (r->publication, "replaced by a newer publish stream", TRUE);
      r->publication = p;
      p->reservation = r;
      self->stats.published++;
    }
  g_assert (p->reservation == r);
  g_clear_pointer (&p->entries, g_ptr_array_unref);
  p->entries = g_steal_pointer (&message->entries);
  g_debug ("%s published %u addresses", p->key, p->entries->len);

  ok = foctet_relay_message_new_ok ();
  g_object_ref (self);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (p->stream)), ok,
                                    G_PRIORITY_DEFAULT, p->cancellable, publish_ok_written_cb, p);
}

static void
publish_read_next (Publication *p)
{
  g_object_ref (p->server);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (p->stream)),
                                      FOCTET_RELAY_MESSAGES_DIRECTORY, G_PRIORITY_DEFAULT, p->cancellable,
                                      publish_read_cb, p);
}

static gboolean
publish_timeout_cb (gpointer user_data)
{
  Publication *p = user_data;

  g_clear_pointer (&p->timeout, g_source_unref);
  foctet_stream_reset (p->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  /* The read in flight fails and frees it. */
  publication_end (p, "no PUBLISH in time", FALSE);
  return G_SOURCE_REMOVE;
}

void
relay_server_handle_publish (FoctetNode       *node,
                             FoctetConnection *connection,
                             FoctetStream     *stream,
                             gpointer          user_data)
{
  RelayServer *self = user_data;
  Publication *p;

  if (!relay_server_admit (self, connection, stream))
    return;
  p = g_new0 (Publication, 1);
  p->server = self;
  p->connection = g_object_ref (connection);
  p->stream = g_object_ref (stream);
  p->key = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  p->cancellable = g_cancellable_new ();
  p->timeout = relay_attach_timeout (self->context, self->incoming_timeout * 1000, publish_timeout_cb, p);
  g_hash_table_add (self->publications, p);
  publish_read_next (p);
}

/* ------------------------------------------------------------------ */
/* The directory: lookups                                              */

/* Takes one LOOKUP from @key's bucket; FALSE if it is empty. */
static gboolean
lookup_allowed (RelayServer *self,
                const char  *key)
{
  double burst = (double) self->lookup_rate * RELAY_LOOKUP_BURST_FACTOR;
  gint64 now = g_get_monotonic_time ();
  RelayBucket *bucket;
  gint64 ready_at;

  if (self->lookup_rate == 0)
    return TRUE;

  /* Full buckets say nothing: drop them before the table grows large. */
  if (g_hash_table_size (self->lookup_buckets) >= 4096)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->lookup_buckets);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (relay_bucket_is_full (value, now))
          g_hash_table_iter_remove (&iter);
    }

  bucket = g_hash_table_lookup (self->lookup_buckets, key);
  if (bucket == NULL)
    {
      bucket = g_new (RelayBucket, 1);
      relay_bucket_init (bucket, self->lookup_rate, burst, now);
      g_hash_table_insert (self->lookup_buckets, g_strdup (key), bucket);
    }
  if (relay_buckets_allow (&bucket, 1, 1, now, &ready_at) == 0)
    return FALSE;
  relay_buckets_take (&bucket, 1, 1);
  return TRUE;
}

/* One lookup stream; its one read is the only operation, whose callback
 * frees it. */
typedef struct {
  RelayServer *server;
  FoctetStream *stream;
  char *key;                          /* the client's NodeId, as text */
  GCancellable *cancellable;
  GSource *timeout;
} Lookup;

static void
lookup_free (Lookup *l)
{
  relay_clear_source (&l->timeout);
  g_clear_object (&l->stream);
  g_clear_object (&l->cancellable);
  g_free (l->key);
  g_free (l);
}

/* Answers LOOKUP @target on @l's stream. */
static void
lookup_answer (RelayServer        *self,
               Lookup             *l,
               const FoctetNodeId *target)
{
  g_autofree char *target_key = foctet_node_id_to_string (target);
  g_autoptr(FoctetRelayMessage) found = NULL;
  g_autoptr(GError) error = NULL;
  Reservation *r;
  guint32 ttl = self->reservation_ttl;

  self->stats.lookups++;
  if (!lookup_allowed (self, l->key))
    {
      relay_server_refuse (self, l->stream, FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT,
                           "Too many lookups: at most %u a second", self->lookup_rate);
      return;
    }
  r = g_hash_table_lookup (self->reservations, target_key);
  if (r == NULL || r->publication == NULL)
    {
      relay_server_refuse (self, l->stream, FOCTET_RELAY_ERROR_CODE_NO_RESERVATION,
                           "%s is not reachable via this relay (%s)", target_key,
                           r == NULL ? "it holds no reservation" : "it published no addresses");
      return;
    }
  if (r->expiry != NULL)
    {
      gint64 left = g_source_get_ready_time (r->expiry) - g_get_monotonic_time ();

      ttl = (guint32) CLAMP ((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC, 1, G_MAXUINT32);
    }
  found = foctet_relay_message_new_found (ttl, r->address, r->publication->entries, &error);
  if (found == NULL)
    {
      g_warning ("Cannot describe the address of %s: %s", target_key, error->message);
      relay_server_refuse (self, l->stream, FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR,
                           "The relay cannot describe its address");
      return;
    }
  self->stats.lookups_found++;
  g_debug ("lookup by %s of %s: found %u addresses", l->key, target_key, r->publication->entries->len);
  relay_write_last_message (l->stream, found, NULL, "send FOUND");
}

static void
lookup_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Lookup *l = user_data;
  g_autoptr(RelayServer) self = l->server;     /* the operation's reference */
  g_autoptr(FoctetRelayMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (message == NULL)
    {
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
        relay_server_refuse (self, l->stream, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST, "%s", error->message);
      else if (l->timeout == NULL && !self->stopped)
        {
          relay_server_count_refusal (self, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
          foctet_stream_reset (l->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
        }
      else
        foctet_stream_reset (l->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
    }
  else if (self->stopped)
    foctet_stream_reset (l->stream, FOCTET_CLOSE_CODE_GOING_AWAY);
  else if (message->type != FOCTET_RELAY_MESSAGE_LOOKUP)
    {
      g_autofree char *what = foctet_relay_message_to_string (message);

      relay_server_refuse (self, l->stream, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE,
                           "Expected LOOKUP on a lookup stream, got %s", what);
    }
  else
    lookup_answer (self, l, message->node_id);
  g_hash_table_remove (self->lookups, l);
}

static gboolean
lookup_timeout_cb (gpointer user_data)
{
  Lookup *l = user_data;

  g_clear_pointer (&l->timeout, g_source_unref);
  /* The read fails, and its callback resets the stream. */
  g_cancellable_cancel (l->cancellable);
  return G_SOURCE_REMOVE;
}

void
relay_server_handle_lookup (FoctetNode       *node,
                            FoctetConnection *connection,
                            FoctetStream     *stream,
                            gpointer          user_data)
{
  RelayServer *self = user_data;
  Lookup *l;

  if (!relay_server_admit (self, connection, stream))
    return;
  l = g_new0 (Lookup, 1);
  l->server = self;
  l->stream = g_object_ref (stream);
  l->key = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  l->cancellable = g_cancellable_new ();
  l->timeout = relay_attach_timeout (self->context, self->incoming_timeout * 1000, lookup_timeout_cb, l);
  g_hash_table_add (self->lookups, l);
  g_object_ref (self);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                      FOCTET_RELAY_MESSAGES_DIRECTORY, G_PRIORITY_DEFAULT, l->cancellable,
                                      lookup_read_cb, l);
}

/* ------------------------------------------------------------------ */
/* For the rest of the server                                         */

/* The connection that holds @key's reservation, or %NULL if @key holds
 * none. */
FoctetConnection *
relay_server_get_reserved_connection (RelayServer *self,
                                      const char  *key)
{
  Reservation *r = g_hash_table_lookup (self->reservations, key);

  return r != NULL ? r->connection : NULL;
}

/* Ends the lookups and the publications; their entries go. */
void
relay_server_directory_stop (RelayServer *self)
{
  GHashTableIter iter;
  gpointer key;

  /* Lookups and publications end with the operation in flight, which the
   * cancellables fail. */
  g_hash_table_iter_init (&iter, self->lookups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_cancellable_cancel (((Lookup *) key)->cancellable);
  g_hash_table_iter_init (&iter, self->publications);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    publication_end (key, "the relay is shutting down", TRUE);
}

void
relay_server_reservations_stop (RelayServer *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->reserve_streams);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    reservation_end (key, "the relay is shutting down", TRUE);
}

void
relay_server_directory_init (RelayServer *self)
{
  self->reservations = g_hash_table_new (g_str_hash, g_str_equal);
  self->reserve_streams = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) reservation_free, NULL);
  self->publications = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) publication_free, NULL);
  self->lookups = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) lookup_free, NULL);
  self->lookup_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

void
relay_server_directory_finalize (RelayServer *self)
{
  g_hash_table_unref (self->reserve_streams);
  g_hash_table_unref (self->publications);
  g_hash_table_unref (self->lookups);
  g_hash_table_unref (self->lookup_buckets);
  g_hash_table_unref (self->reservations);
}

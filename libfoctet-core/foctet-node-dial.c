/* foctet-node-dial.c: a node's dials: the race over a peer's
 * addresses, dials by ticket and by URI, and the discovery lookup of a
 * ticket without direct addresses.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-node-private.h"
#include "foctet-source-private.h"
#include "foctet-cancellable-private.h"
#include "foctet-error.h"
#include "foctet-registry.h"

/* Dialing
 *
 * A dial is a race over the peer's addresses (PROTOCOL §3, "happy
 * eyeballs"): the attempts are started one by one, the first at once and
 * each next one a racing delay after the previous, or as soon as every
 * attempt started so far has failed.  The first connection to complete
 * its handshake wins; the other attempts are cancelled, and a loser that
 * completes all the same is closed with code 0, never kept nor announced.
 *
 * Every attempt in flight holds a reference on the dial's task, so the
 * race's state lives until the last transport answered, even after the
 * task returned.  The timer and the cancellation sources do not: they are
 * destroyed when the task returns. */

typedef struct {
  GTask *task;                 /* while the attempt's dial is in flight */
  char *uri;                   /* "transport/host:port" */
  GCancellable *cancellable;
  GError *error;               /* why it failed */
} DialAttempt;

typedef struct {
  FoctetNodeId *peer;
  GPtrArray *attempts;         /* DialAttempt, in the order they start */
  guint next;                  /* the next attempt to start */
  guint pending;               /* attempts in flight */
  guint delay_ms;              /* G_MAXUINT: one after the other, no race */
  gboolean starting;           /* inside race_start_next () */
  gboolean finished;           /* the task returned */
  gboolean discovered;         /* the addresses came from discovery */
  GSource *timer;              /* starts the next attempt */
  GSource *cancelled;          /* the caller's cancellable */
  GSource *shut_down;          /* the node's cancellable */
} DialRace;

static void
dial_attempt_free (DialAttempt *attempt)
{
  g_assert (attempt->task == NULL);
  g_free (attempt->uri);
  g_clear_object (&attempt->cancellable);
  g_clear_error (&attempt->error);
  g_free (attempt);
}

static void
dial_race_free (DialRace *race)
{
  foctet_source_clear (&race->timer);
  foctet_source_clear (&race->cancelled);
  foctet_source_clear (&race->shut_down);
  g_clear_pointer (&race->peer, foctet_node_id_free);
  g_clear_pointer (&race->attempts, g_ptr_array_unref);
  g_free (race);
}

/* How much an attempt's failure tells the caller: that the peer is not
 * who the ticket says beats a broken handshake, which beats "refused",
 * which beats a timeout, which beats an address no transport can use. */
static int
error_weight (const GError *error)
{
  if (error->domain == FOCTET_ERROR)
    switch ((FoctetError) error->code)
      {
      case FOCTET_ERROR_NODE_ID_MISMATCH:
        return 100;
      case FOCTET_ERROR_BAD_CERTIFICATE:
        return 90;
      case FOCTET_ERROR_HANDSHAKE_FAILED:
      case FOCTET_ERROR_PROTOCOL_ERROR:
        return 80;
      case FOCTET_ERROR_TIMED_OUT:
        return 30;
      case FOCTET_ERROR_UNREACHABLE:
        return 25;
      case FOCTET_ERROR_INVALID_ARGUMENT:
      case FOCTET_ERROR_PLUGIN_NOT_FOUND:
        return 20;
      default:
        return 60;
      }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return 30;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return 0;
  return 40;
}

static void
dial_race_finish (GTask *task)
{
  DialRace *race = g_task_get_task_data (task);

  race->finished = TRUE;
  foctet_source_clear (&race->timer);
  foctet_source_clear (&race->cancelled);
  foctet_source_clear (&race->shut_down);
  for (guint i = 0; i < race->attempts->len; i++)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, i);

      if (attempt->task != NULL)
        g_cancellable_cancel (attempt->cancellable);
    }
}

static void
dial_race_return_error (GTask *task)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  const GError *best = NULL;
  g_autofree char *peer = NULL;
  GString *message;

  dial_race_finish (task);
  if (race->discovered)
    foctet_discovery_set_forget (self->discoveries, race->peer);

  /* One address: its own error says it best. */
  if (race->attempts->len == 1)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, 0);

      g_task_return_error (task, g_steal_pointer (&attempt->error));
      g_object_unref (task);
      return;
    }

  /* Several: what happened to each, under the most telling code. */
  peer = foctet_node_id_to_string (race->peer);
  message = g_string_new (NULL);
  g_string_printf (message, "Cannot reach %s: ", peer);
  for (guint i = 0; i < race->attempts->len; i++)
    {
      DialAttempt *attempt = g_ptr_array_index (race->attempts, i);

      if (attempt->error == NULL)
        continue;
      if (best == NULL || error_weight (attempt->error) > error_weight (best))
        best = attempt->error;
      if (i > 0)
        g_string_append (message, "; ");
      g_string_append_printf (message, "%s — %s", attempt->uri, attempt->error->message);
    }
  g_assert (best != NULL);
  g_task_return_new_error (task, best->domain, best->code, "%s", message->str);
  g_string_free (message, TRUE);
  g_object_unref (task);
}

static void
dial_attempt_failed (DialAttempt *attempt,
                     GError      *error)
{
  g_debug ("Dialing %s failed: %s", attempt->uri, error->message);
  g_clear_error (&attempt->error);
  attempt->error = error;
}

static void race_start_next (GTask *task);

static void
dial_attempt_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  DialAttempt *attempt = user_data;
  GTask *task = g_steal_pointer (&attempt->task);
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  FoctetConnection *connection;
  GError *error = NULL;

  race->pending--;
  connection = foctet_transport_dial_finish (FOCTET_TRANSPORT (source), result, &error);

  if (race->finished)
    {
      /* Lost the race (or the dial was given up), but connected all the
       * same: end it politely; the peer forgets it too. */
      if (connection != NULL)
        {
          g_debug ("Closing %s: another address won the race", attempt->uri);
          foctet_connection_close_async (connection, FOCTET_CLOSE_CODE_NO_ERROR, "lost the race",
                                         NULL, NULL, NULL);
          g_object_unref (connection);
        }
      g_clear_error (&error);
    }
  else if (connection != NULL)
    {
      g_debug ("Connected to %s", attempt->uri);
      dial_race_finish (task);
      node_add_connection (self, connection);
      g_task_return_pointer (task, connection, foctet_connection_discard);
      g_object_unref (task);    /* the race's own reference */
    }
  else
    {
      dial_attempt_failed (attempt, error);
      /* Nothing else in flight: no reason to wait for the timer. */
      if (race->pending == 0 && !race->starting)
        race_start_next (task);
    }

  g_object_unref (task);        /* the attempt's */
}

/* Starts one attempt, or records why it cannot start. */
static void
dial_attempt_start (GTask       *task,
                    DialAttempt *attempt)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);
  g_autofree char *address = NULL;
  FoctetTransport *transport;
  GError *error = NULL;

  transport = node_resolve_uri (self, attempt->uri, &address, &error);
  if (transport == NULL)
    {
      dial_attempt_failed (attempt, error);
      return;
    }

  g_debug ("Dialing %s", attempt->uri);
  attempt->cancellable = g_cancellable_new ();
  attempt->task = g_object_ref (task);
  race->pending++;
  foctet_transport_dial_async (transport, address, race->peer, attempt->cancellable,
                               dial_attempt_cb, attempt);
}

static gboolean
race_timer_cb (gpointer user_data)
{
  GTask *task = user_data;
  DialRace *race = g_task_get_task_data (task);

  g_clear_pointer (&race->timer, g_source_unref);
  race_start_next (task);
  return G_SOURCE_REMOVE;
}

/* Starts the next attempt (and, while those fail at once with nothing
 * else in flight, the ones after it), then sets the timer for the one
 * after; returns the task's error when no attempt is left. */
static void
race_start_next (GTask *task)
{
  FoctetNode *self = g_task_get_source_object (task);
  DialRace *race = g_task_get_task_data (task);

  foctet_source_clear (&race->timer);
  race->starting = TRUE;
  while (race->next < race->attempts->len && !race->finished)
    {
      /* An attempt that failed at once leaves nothing in flight: on to
       * the next one. */
      dial_attempt_start (task, g_ptr_array_index (race->attempts, race->next++));
      if (race->pending > 0)
        break;
    }
  race->starting = FALSE;

  if (race->finished)
    return;
  if (race->pending == 0)
    {
      /* Every attempt was started and has failed. */
      dial_race_return_error (task);
      return;
    }
  if (race->next < race->attempts->len && race->delay_ms != G_MAXUINT)
    {
      race->timer = g_timeout_source_new (race->delay_ms);
      g_source_set_static_name (race->timer, "[foctet] dial race");
      g_source_set_callback (race->timer, race_timer_cb, task, NULL);
      g_source_attach (race->timer, self->context);
    }
}

static gboolean
race_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;

  dial_race_finish (task);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static gboolean
race_shut_down_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;

  dial_race_finish (task);
  g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                           "The node was shut down while dialing");
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static GSource *
watch_cancellable (FoctetNode             *self,
                   GCancellable           *cancellable,
                   GCancellableSourceFunc  func,
                   GTask                  *task)
{
  GSource *source = g_cancellable_source_new (cancellable);

  g_source_set_static_name (source, "[foctet] dial cancelled");
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) func, task, NULL);
  g_source_attach (source, self->context);
  return source;
}

/* Takes @uris (and the caller's reference on @task). */
static void
dial_start (FoctetNode         *self,
            const FoctetNodeId *peer,
            GPtrArray          *uris,
            guint               delay_ms,
            gboolean            discovered,
            GTask              *task)
{
  DialRace *race = g_new0 (DialRace, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);

  race->peer = foctet_node_id_copy (peer);
  race->delay_ms = delay_ms;
  race->discovered = discovered;
  race->attempts = g_ptr_array_new_with_free_func ((GDestroyNotify) dial_attempt_free);
  for (guint i = 0; i < uris->len; i++)
    {
      DialAttempt *attempt = g_new0 (DialAttempt, 1);

      attempt->uri = g_strdup (g_ptr_array_index (uris, i));
      g_ptr_array_add (race->attempts, attempt);
    }
  g_ptr_array_unref (uris);
  g_task_set_task_data (task, race, (GDestroyNotify) dial_race_free);

  if (self->shut_down)
    {
      race->finished = TRUE;
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The node is shut down");
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      race->finished = TRUE;
      g_object_unref (task);
      return;
    }

  if (cancellable != NULL)
    race->cancelled = watch_cancellable (self, cancellable, race_cancelled_cb, task);
  race->shut_down = watch_cancellable (self, self->cancellable, race_shut_down_cb, task);
  race_start_next (task);
}

/* The ticket's addresses a dial can use, as "transport/host:port" in the
 * order of foctet_ticket_get_uris() (QUIC, then TLS, then relay): those of
 * @transport if it is given, and of the transports loaded. */
static GPtrArray *
ticket_dial_uris (FoctetNode   *self,
                  FoctetTicket *ticket,
                  const char   *transport)
{
  g_auto(GStrv) loaded = NULL;
  g_auto(GStrv) all = NULL;
  GPtrArray *uris;

  loaded = foctet_registry_list_names (foctet_registry_get_default (), FOCTET_PLUGIN_KIND_TRANSPORT);
  all = foctet_ticket_get_uris (ticket);
  uris = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; all[i] != NULL; i++)
    {
      g_autofree char *name = g_strndup (all[i], strcspn (all[i], "/"));

      if (transport != NULL && g_strcmp0 (transport, name) != 0)
        continue;
      if (!g_strv_contains ((const char * const *) loaded, name) &&
          !g_hash_table_contains (self->transports, name))
        continue;
      g_ptr_array_add (uris, g_strdup (all[i]));
    }
  return uris;
}

/* Whether the ticket says where to reach the node itself, not only
 * through whom. */
static gboolean
ticket_has_direct_address (FoctetTicket *ticket)
{
  return foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_QUIC) ||
         foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_TLS);
}

/* Races the ticket's addresses; takes the caller's reference on @task.
 * @discovered: the addresses came from discovery, which forgets them if
 * none answers. */
static void
dial_ticket (FoctetNode   *self,
             FoctetTicket *ticket,
             const char   *transport,
             gboolean      discovered,
             GTask        *task)
{
  GPtrArray *uris = ticket_dial_uris (self, ticket, transport);

  if (uris->len == 0)
    {
      g_autofree char *peer = foctet_node_id_to_string (foctet_ticket_get_node_id (ticket));
      gboolean empty = transport == NULL && !ticket_has_direct_address (ticket) &&
                       !foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_RELAY);

      g_ptr_array_unref (uris);
      if (empty)
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                                 "The ticket of %s has no address, and no discovery mechanism "
                                 "is enabled to find one", peer);
      else
        g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE,
                                 transport != NULL
                                 ? "The ticket has no %s address, or no plugin provides that transport"
                                 : "The ticket has no address for any loaded transport%s",
                                 transport != NULL ? transport : "");
      g_object_unref (task);
      return;
    }

  dial_start (self, foctet_ticket_get_node_id (ticket), uris,
              transport != NULL ? G_MAXUINT : self->dial_race_delay, discovered, task);
}

/* A dial that first looks its NodeId up. */
typedef struct {
  FoctetTicket *ticket;
  char *transport;
  GCancellable *cancellable;     /* the lookup's: the caller's or the node's cancels it */
  FoctetCancellableChain node_chain;
  FoctetCancellableChain caller_chain;
} DialLookup;

static void
dial_lookup_free (DialLookup *lookup)
{
  foctet_cancellable_chain_clear (&lookup->node_chain);
  foctet_cancellable_chain_clear (&lookup->caller_chain);
  g_clear_object (&lookup->cancellable);
  g_clear_object (&lookup->ticket);
  g_free (lookup->transport);
  g_free (lookup);
}

static void
dial_resolved_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  FoctetNode *self = g_task_get_source_object (task);
  DialLookup *lookup = g_task_get_task_data (task);
  g_autoptr(FoctetTicket) found = NULL;
  g_autoptr(FoctetTicket) ticket = g_object_ref (lookup->ticket);
  g_autofree char *transport = g_strdup (lookup->transport);
  GError *error = NULL;

  found = foctet_discovery_set_resolve_finish (result, &error);
  if (self->shut_down)
    {
      g_clear_error (&error);
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                               "The node was shut down while dialing");
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      g_clear_error (&error);
      g_object_unref (task);
      return;
    }
  if (found == NULL)
    {
      /* A relay the ticket named still leads to the node. */
      if (foctet_ticket_has_address (ticket, FOCTET_ADDRESS_KIND_RELAY) &&
          (transport == NULL || g_strcmp0 (transport, "relay") == 0))
        {
          g_debug ("%s; dialing through the ticket's relay", error->message);
          g_clear_error (&error);
          dial_ticket (self, ticket, transport, FALSE, task);
          return;
        }
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  dial_ticket (self, found, transport, TRUE, task);
}

/**
 * foctet_node_dial_async:
 * @self: a [class@Foctet.Node]
 * @ticket: the peer's ticket
 * @transport: (nullable): force this transport ("quic", "tls", "relay"),
 *   or %NULL to use any the ticket and the loaded plugins allow
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when connected or failed
 * @user_data: data for @callback
 *
 * Connects to the node a ticket names and authenticates it as the
 * ticket's NodeId.  The connection is kept by the node, which serves the
 * peer's streams on it too.
 *
 * The addresses are raced (PROTOCOL §3): they are dialed in the order QUIC,
 * TLS, relay (each kind in the ticket's order), the first at once and each
 * next one [property@Foctet.Node:dial-race-delay] later, or at once when every address
 * dialed so far has failed.  The first connection that completes its
 * handshake wins; the other dials are cancelled, and one that connects all
 * the same is closed with %FOCTET_CLOSE_CODE_NO_ERROR.  Addresses of
 * transports no loaded plugin provides are skipped.
 *
 * With @transport, only that transport's addresses are dialed, one after
 * the other, each once the one before failed.
 *
 * A ticket without a direct (QUIC or TLS) address — a bare NodeId, or a
 * NodeId and a relay — is first looked up through every discovery the
 * node uses ([method@Foctet.Node.add_discovery]), all at once; the first answer
 * wins, and its addresses are raced before the ticket's relay.  When no
 * discovery finds the node, the ticket's relay is dialed all the same;
 * with no relay either, the dial fails with %FOCTET_ERROR_NOT_FOUND,
 * naming each discovery and why it found nothing.
 *
 * When every address fails, the error names each with its reason
 * ("Cannot reach NODEID: quic/HOST:PORT — why; tls/HOST:PORT — why"), and
 * carries the most telling of their codes: %FOCTET_ERROR_NODE_ID_MISMATCH
 * from any address before a handshake failure, before an I/O error, before
 * a timeout.  With a single address, its error is returned as it is.
 */
void
foctet_node_dial_async (FoctetNode          *self,
                        FoctetTicket        *ticket,
                        const char          *transport,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_dial_async);

  if (!ticket_has_direct_address (ticket) && g_strcmp0 (transport, "relay") != 0 &&
      !foctet_discovery_set_is_empty (self->discoveries) && !self->shut_down)
    {
      DialLookup *lookup = g_new0 (DialLookup, 1);

      lookup->ticket = g_object_ref (ticket);
      lookup->transport = g_strdup (transport);
      lookup->cancellable = g_cancellable_new ();
      foctet_cancellable_chain_init (&lookup->node_chain, self->cancellable, lookup->cancellable);
      foctet_cancellable_chain_init (&lookup->caller_chain, cancellable, lookup->cancellable);
      g_task_set_task_data (task, lookup, (GDestroyNotify) dial_lookup_free);
      foctet_discovery_set_resolve_async (self->discoveries, ticket, lookup->cancellable,
                                          dial_resolved_cb, task);
      return;
    }

  dial_ticket (self, ticket, transport, FALSE, task);
}

/**
 * foctet_node_dial_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.dial_async].  When every address failed, the error
 * is the one [method@Foctet.Node.dial_async] describes; it is
 * %FOCTET_ERROR_CONNECTION_CLOSED when the node is shut down and
 * %G_IO_ERROR_CANCELLED when the dial was cancelled.
 *
 * Returns: (transfer full): the authenticated connection, which the node
 *   keeps too, or %NULL with @error set
 */
FoctetConnection *
foctet_node_dial_finish (FoctetNode    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * foctet_node_dial_uri_async:
 * @self: a [class@Foctet.Node]
 * @peer: the NodeId the peer must prove
 * @uri: "transport/host:port" to dial, or "transport/address" for a
 *   transport of addresses of its own form (see [class@Foctet.Node])
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when connected or failed
 * @user_data: data for @callback
 *
 * Connects to @peer at one explicit address.
 */
void
foctet_node_dial_uri_async (FoctetNode          *self,
                            const FoctetNodeId  *peer,
                            const char          *uri,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GPtrArray *uris;
  GTask *task;

  g_return_if_fail (FOCTET_IS_NODE (self));
  g_return_if_fail (peer != NULL);
  g_return_if_fail (uri != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, foctet_node_dial_uri_async);

  uris = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (uris, g_strdup (uri));
  dial_start (self, peer, uris, G_MAXUINT, FALSE, task);
}

/**
 * foctet_node_dial_uri_finish:
 * @self: a [class@Foctet.Node]
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes [method@Foctet.Node.dial_uri_async].  It fails with the address's own
 * error: %FOCTET_ERROR_INVALID_ARGUMENT for a malformed URI,
 * %FOCTET_ERROR_PLUGIN_NOT_FOUND for an unknown transport,
 * %FOCTET_ERROR_NODE_ID_MISMATCH when the peer is not the NodeId asked
 * for, or the transport's I/O or handshake error; with
 * %FOCTET_ERROR_CONNECTION_CLOSED when the node is shut down and
 * %G_IO_ERROR_CANCELLED when the dial was cancelled.
 *
 * Returns: (transfer full): the authenticated connection, which the node
 *   keeps too, or %NULL with @error set
 */
FoctetConnection *
foctet_node_dial_uri_finish (FoctetNode    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

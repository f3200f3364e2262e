/* foctet-relay-directory.c: the "relay" discovery — a relay's directory
 * (docs/protocol.md, "The directory").
 *
 * Publishing: the node's own ticket names the relays where it holds a
 * reservation; its QUIC and TLS addresses (loopback and link-local ones
 * only when there is nothing else) are handed to the identity's relay
 * transports (foctet-relay-shared.h), which publish them on the very
 * connection that holds each reservation, so that they expire with it,
 * and publish them again when the reservation is made again.
 *
 * Resolving: a hint ticket names a NodeId and relays; each relay is asked
 * at once (LOOKUP), on the connection a relay transport of the identity
 * already has there or on a new one, and the first FOUND makes the
 * answer: a ticket with the QUIC and TLS addresses found, then the hint's
 * relays, so that a dial still falls back to a relay.  The observed
 * (reflexive) address the relay reports is only logged: it is the
 * target's NAT mapping towards the relay, not an address a dialer can use
 * before hole punching exists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <foctet-host-port.h>

#include "foctet-relay-directory.h"
#include "foctet-relay-common.h"
#include "foctet-relay-message.h"
#include "foctet-relay-shared.h"
#include "foctet-relay-transport.h"

struct _RelayDirectory {
  GObject parent_instance;

  FoctetIdentity *identity;
  GMainContext *context;              /* thread-default at construction */
  RelayShared *shared;
  RelayTransport *own_transport;      /* for lookups when the node has none */
  guint lookup_timeout;               /* milliseconds */
  gboolean publishing;
};

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_LOOKUP_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void relay_directory_iface_init (FoctetDiscoveryInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (RelayDirectory, relay_directory, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_DISCOVERY,
                                                               relay_directory_iface_init))

/* ------------------------------------------------------------------ */
/* Publishing                                                          */

/* Loopback and link-local addresses mean nothing to a dialer elsewhere
 * (and a link-local one is useless without its scope). */
static gboolean
address_is_local (const char *host_port)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;

  if (!foctet_parse_host_port (host_port, &host, NULL, NULL))
    return TRUE;
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  inet = g_inet_address_new_from_string (host);
  return inet != NULL && (g_inet_address_get_is_loopback (inet) || g_inet_address_get_is_link_local (inet));
}

/* The QUIC then TLS addresses of @ticket, each in the ticket's order,
 * without local ones unless there are only local ones, as many as a
 * PUBLISH holds. */
static GPtrArray *
entries_to_publish (FoctetTicket *ticket)
{
  static const FoctetAddressKind kinds[] = { FOCTET_ADDRESS_KIND_QUIC, FOCTET_ADDRESS_KIND_TLS };
  g_autoptr(GPtrArray) all = foctet_relay_entries_new ();
  GPtrArray *entries = foctet_relay_entries_new ();
  gboolean any_public = FALSE;

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_auto(GStrv) addresses = foctet_ticket_get_addresses (ticket, kinds[k]);

      for (guint i = 0; addresses[i] != NULL; i++)
        {
          g_ptr_array_add (all, foctet_relay_entry_new (kinds[k], addresses[i]));
          any_public |= !address_is_local (addresses[i]);
        }
    }
  for (guint i = 0; i < all->len; i++)
    {
      FoctetRelayEntry *entry = g_ptr_array_index (all, i);

      if (any_public && address_is_local (entry->address))
        continue;
      g_ptr_array_add (entries, foctet_relay_entry_new (entry->kind, entry->address));
      if (!foctet_relay_entries_check (entries, NULL))
        {
          /* Full: what fits goes. */
          g_ptr_array_remove_index (entries, entries->len - 1);
          break;
        }
    }
  return entries;
}

static void
relay_directory_publish (FoctetDiscovery *discovery,
                         FoctetTicket    *own)
{
  RelayDirectory *self = RELAY_DIRECTORY (discovery);
  g_autoptr(GPtrArray) entries = NULL;
  g_auto(GStrv) relays = NULL;

  if (own == NULL)
    {
      g_debug ("Withdrawing our addresses from the relays' directories");
      self->publishing = FALSE;
      relay_shared_set_published (self->shared, NULL, NULL);
      return;
    }
  g_return_if_fail (foctet_node_id_equal (foctet_ticket_get_node_id (own),
                                          foctet_identity_get_node_id (self->identity)));

  entries = entries_to_publish (own);
  relays = foctet_ticket_get_addresses (own, FOCTET_ADDRESS_KIND_RELAY);
  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN) == FALSE)
    {
      g_autofree char *at = g_strjoinv (", ", relays);

      g_debug ("Publishing %u addresses at relays: %s", entries->len, at[0] != '\0' ? at : "none");
    }
  self->publishing = TRUE;
  relay_shared_set_published (self->shared, entries, (const char * const *) relays);
}

/* ------------------------------------------------------------------ */
/* Resolving                                                           */

typedef struct {
  FoctetTicket *hint;
  GCancellable *cancellable;          /* of the lookups: the caller's, the timeout, the first answer */
  GCancellable *caller;
  gulong caller_id;
  GSource *timeout;
  guint pending;
  GString *why;                       /* each relay's answer, for the error */
  GError *connection_error;           /* the first relay that did not answer */
  gboolean answered;                  /* some relay answered (not found) */
  gboolean done;
} Resolve;

static void
resolve_free (Resolve *r)
{
  relay_clear_source (&r->timeout);
  if (r->caller_id != 0)
    g_cancellable_disconnect (r->caller, r->caller_id);
  g_clear_object (&r->caller);
  g_clear_object (&r->cancellable);
  g_clear_object (&r->hint);
  g_string_free (r->why, TRUE);
  g_clear_error (&r->connection_error);
  g_free (r);
}

typedef struct {
  GTask *task;
  char *relay;
} Ask;

static void
ask_free (Ask *ask)
{
  g_object_unref (ask->task);
  g_free (ask->relay);
  g_free (ask);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Ask, ask_free)

/* Ends the resolve: the lookups still under way are cancelled. */
static void
resolve_return (GTask        *task,
                FoctetTicket *found,
                GError       *error)
{
  Resolve *r = g_task_get_task_data (task);

  r->done = TRUE;
  g_cancellable_cancel (r->cancellable);
  if (found != NULL)
    g_task_return_pointer (task, found, g_object_unref);
  else
    g_task_return_error (task, error);
}

static FoctetTicket *
ticket_from_found (FoctetTicket             *hint,
                   const FoctetRelayMessage *found)
{
  FoctetTicket *ticket = foctet_ticket_new (foctet_ticket_get_node_id (hint));
  g_auto(GStrv) relays = foctet_ticket_get_addresses (hint, FOCTET_ADDRESS_KIND_RELAY);

  for (guint i = 0; i < found->entries->len; i++)
    {
      FoctetRelayEntry *entry = g_ptr_array_index (found->entries, i);
      g_autoptr(GError) error = NULL;

      /* The codec checked them as tickets do. */
      if (!foctet_ticket_add_address (ticket, entry->kind, entry->address, &error))
        g_debug ("Skipping a found address: %s", error->message);
    }
  for (guint i = 0; relays[i] != NULL; i++)
    foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_RELAY, relays[i], NULL);
  return ticket;
}

static void
ask_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(Ask) ask = user_data;
  Resolve *r = g_task_get_task_data (ask->task);
  g_autoptr(FoctetRelayMessage) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *node = NULL;

  answer = relay_transport_lookup_finish (RELAY_TRANSPORT (source), result, &error);
  r->pending--;
  if (r->done)
    return;

  node = foctet_node_id_to_string (foctet_ticket_get_node_id (r->hint));
  if (answer != NULL && answer->type == FOCTET_RELAY_MESSAGE_FOUND)
    {
      g_autofree char *what = foctet_relay_message_to_string (answer);

      g_debug ("Relay %s: %s is at: %s", ask->relay, node, what);
      resolve_return (ask->task, ticket_from_found (r->hint, answer), NULL);
      return;
    }

  if (r->why->len > 0)
    g_string_append (r->why, "; ");
  if (answer != NULL)
    {
      g_autofree char *what = foctet_relay_message_to_string (answer);

      r->answered = TRUE;
      g_string_append_printf (r->why, "relay %s: not reachable via relay (%s)", ask->relay, what);
    }
  else
    {
      /* Connection errors name the relay already. */
      if (strstr (error->message, ask->relay) != NULL)
        g_string_append (r->why, error->message);
      else
        g_string_append_printf (r->why, "relay %s: %s", ask->relay, error->message);
      if (r->connection_error == NULL)
        r->connection_error = g_steal_pointer (&error);
    }
  if (r->pending > 0)
    return;

  if (r->answered || r->connection_error == NULL)
    resolve_return (ask->task, NULL, g_error_new (FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                                                  "%s was not found in the relay directory: %s", node,
                                                  r->why->str));
  else
    resolve_return (ask->task, NULL, g_error_new (r->connection_error->domain, r->connection_error->code,
                                                  "Cannot look %s up: %s", node, r->why->str));
}

static gboolean
resolve_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  RelayDirectory *self = g_task_get_source_object (task);
  Resolve *r = g_task_get_task_data (task);
  g_autofree char *node = foctet_node_id_to_string (foctet_ticket_get_node_id (r->hint));

  g_clear_pointer (&r->timeout, g_source_unref);
  if (!r->done)
    resolve_return (task, NULL, g_error_new (FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                                             "%s was not found in the relay directory: no relay answered "
                                             "within %u ms%s%s", node, self->lookup_timeout,
                                             r->why->len > 0 ? "; " : "", r->why->str));
  return G_SOURCE_REMOVE;
}

static gboolean
resolve_caller_cancelled_idle (gpointer user_data)
{
  GTask *task = user_data;
  Resolve *r = g_task_get_task_data (task);

  if (!r->done)
    resolve_return (task, NULL, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "The lookup was cancelled"));
  return G_SOURCE_REMOVE;
}

/* The caller cancelled: the task returns at once (from an idle, since
 * the signal may fire in any thread and under GCancellable's lock). */
static void
resolve_caller_cancelled_cb (GCancellable *cancellable,
                             GTask        *task)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_callback (idle, resolve_caller_cancelled_idle, g_object_ref (task), g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
  g_source_unref (idle);
}

static void
relay_directory_resolve_async (FoctetDiscovery     *discovery,
                               FoctetTicket        *hint,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  RelayDirectory *self = RELAY_DIRECTORY (discovery);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_auto(GStrv) relays = foctet_ticket_get_addresses (hint, FOCTET_ADDRESS_KIND_RELAY);
  Resolve *r;

  g_task_set_source_tag (task, relay_directory_resolve_async);
  if (relays[0] == NULL)
    {
      g_autofree char *node = foctet_node_id_to_string (foctet_ticket_get_node_id (hint));

      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_NOT_FOUND,
                               "%s was not found in the relay directory: the ticket names no relay to ask", node);
      return;
    }

  r = g_new0 (Resolve, 1);
  r->hint = g_object_ref (hint);
  r->cancellable = g_cancellable_new ();
  r->why = g_string_new (NULL);
  g_task_set_task_data (task, r, (GDestroyNotify) resolve_free);
  /* The task holds the source, the source does not hold the task. */
  r->timeout = relay_attach_timeout (self->context, self->lookup_timeout, resolve_timeout_cb, task);
  if (cancellable != NULL)
    {
      r->caller = g_object_ref (cancellable);
      r->caller_id = g_cancellable_connect (cancellable, G_CALLBACK (resolve_caller_cancelled_cb), task, NULL);
    }

  for (guint i = 0; relays[i] != NULL; i++)
    {
      RelayTransport *transport = relay_shared_find_transport (self->shared, relays[i]);
      Ask *ask = g_new0 (Ask, 1);

      if (transport == NULL)
        {
          /* The node has no relay transport: the directory makes its own. */
          g_main_context_push_thread_default (self->context);
          self->own_transport = g_object_new (RELAY_TYPE_TRANSPORT, "identity", self->identity, NULL);
          g_main_context_pop_thread_default (self->context);
          transport = self->own_transport;
        }
      ask->task = g_object_ref (task);
      ask->relay = g_strdup (relays[i]);
      r->pending++;
      relay_transport_lookup_async (transport, relays[i], foctet_ticket_get_node_id (hint), r->cancellable,
                                    ask_cb, ask);
    }
}

static FoctetTicket *
relay_directory_resolve_finish (FoctetDiscovery  *discovery,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, discovery), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ */
/* The rest of the interface                                           */

static const char *
relay_directory_get_name (FoctetDiscovery *discovery)
{
  return RELAY_DIRECTORY_NAME;
}

static gboolean
relay_directory_start (FoctetDiscovery  *discovery,
                       GError          **error)
{
  /* Nothing to open: the relays are asked when there is a question. */
  return TRUE;
}

static void
relay_directory_stop (FoctetDiscovery *discovery)
{
  RelayDirectory *self = RELAY_DIRECTORY (discovery);

  if (self->publishing)
    relay_directory_publish (discovery, NULL);
  if (self->own_transport != NULL)
    foctet_transport_stop (FOCTET_TRANSPORT (self->own_transport));
}

static GListModel *
relay_directory_get_peers (FoctetDiscovery *discovery)
{
  /* A directory answers questions; it does not list. */
  return NULL;
}

static void
relay_directory_iface_init (FoctetDiscoveryInterface *iface)
{
  iface->get_name = relay_directory_get_name;
  iface->start = relay_directory_start;
  iface->stop = relay_directory_stop;
  iface->resolve_async = relay_directory_resolve_async;
  iface->resolve_finish = relay_directory_resolve_finish;
  iface->publish = relay_directory_publish;
  iface->get_peers = relay_directory_get_peers;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
relay_directory_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  RelayDirectory *self = RELAY_DIRECTORY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_LOOKUP_TIMEOUT:
      g_value_set_uint (value, self->lookup_timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_directory_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  RelayDirectory *self = RELAY_DIRECTORY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_LOOKUP_TIMEOUT:
      self->lookup_timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
relay_directory_constructed (GObject *object)
{
  RelayDirectory *self = RELAY_DIRECTORY (object);

  G_OBJECT_CLASS (relay_directory_parent_class)->constructed (object);
  g_assert (FOCTET_IS_IDENTITY (self->identity));
  self->shared = relay_shared_get (self->identity);
}

static void
relay_directory_dispose (GObject *object)
{
  RelayDirectory *self = RELAY_DIRECTORY (object);

  if (self->publishing)
    relay_directory_publish (FOCTET_DISCOVERY (self), NULL);
  if (self->own_transport != NULL)
    foctet_transport_stop (FOCTET_TRANSPORT (self->own_transport));
  g_clear_object (&self->own_transport);

  G_OBJECT_CLASS (relay_directory_parent_class)->dispose (object);
}

static void
relay_directory_finalize (GObject *object)
{
  RelayDirectory *self = RELAY_DIRECTORY (object);

  g_clear_object (&self->identity);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (relay_directory_parent_class)->finalize (object);
}

static void
relay_directory_class_init (RelayDirectoryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = relay_directory_get_property;
  object_class->set_property = relay_directory_set_property;
  object_class->constructed = relay_directory_constructed;
  object_class->dispose = relay_directory_dispose;
  object_class->finalize = relay_directory_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");

  /**
   * RelayDirectory:lookup-timeout:
   *
   * Milliseconds a resolve may take, connecting to the relays included;
   * then it fails with %FOCTET_ERROR_NOT_FOUND.
   */
  properties[PROP_LOOKUP_TIMEOUT] =
    g_param_spec_uint ("lookup-timeout", NULL, NULL, 1, 3600 * 1000, RELAY_DIRECTORY_LOOKUP_TIMEOUT_MS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_LOOKUP_TIMEOUT, properties[PROP_LOOKUP_TIMEOUT]);
}

static void
relay_directory_class_finalize (RelayDirectoryClass *klass)
{
}

static void
relay_directory_init (RelayDirectory *self)
{
  self->context = g_main_context_ref_thread_default ();
}

void
relay_directory_register (GTypeModule *module)
{
  relay_directory_register_type (module);
}

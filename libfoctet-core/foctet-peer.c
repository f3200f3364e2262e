/* foctet-peer.c: a node found by discovery.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-peer.h"

/**
 * FoctetPeer:
 *
 * A node a [iface@Foctet.Discovery] found: its NodeId, a ticket with the
 * addresses it announced, where it was found ("mdns", "relay"), when it
 * was last heard of and for how long that announcement holds.
 *
 * Peers are the items of the #GListModel of [method@Foctet.Discovery.get_peers]
 * and [method@Foctet.Node.get_peers].  A peer that announces itself again is
 * updated in place, with #GObject::notify on what changed.
 */

struct _FoctetPeer {
  GObject parent_instance;

  FoctetTicket *ticket;
  char *source;
  guint ttl;
  gint64 last_seen;          /* real time, µs */
  gint64 expires;            /* monotonic time, µs */
};

enum {
  PROP_0,
  PROP_NODE_ID,
  PROP_TICKET,
  PROP_ADDRESSES,
  PROP_SOURCE,
  PROP_LAST_SEEN,
  PROP_TTL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (FoctetPeer, foctet_peer, G_TYPE_OBJECT)

static void
foctet_peer_finalize (GObject *object)
{
  FoctetPeer *self = FOCTET_PEER (object);

  g_clear_object (&self->ticket);
  g_clear_pointer (&self->source, g_free);

  G_OBJECT_CLASS (foctet_peer_parent_class)->finalize (object);
}

static void
foctet_peer_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  FoctetPeer *self = FOCTET_PEER (object);

  switch (prop_id)
    {
    case PROP_NODE_ID:
      g_value_set_boxed (value, foctet_peer_get_node_id (self));
      break;
    case PROP_TICKET:
      g_value_set_object (value, self->ticket);
      break;
    case PROP_ADDRESSES:
      g_value_take_boxed (value, foctet_peer_get_addresses (self));
      break;
    case PROP_SOURCE:
      g_value_set_string (value, self->source);
      break;
    case PROP_LAST_SEEN:
      g_value_set_int64 (value, self->last_seen);
      break;
    case PROP_TTL:
      g_value_set_uint (value, self->ttl);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_peer_class_init (FoctetPeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = foctet_peer_finalize;
  object_class->get_property = foctet_peer_get_property;

  /**
   * FoctetPeer:node-id:
   *
   * The peer's NodeId.
   */
  properties[PROP_NODE_ID] =
    g_param_spec_boxed ("node-id", NULL, NULL, FOCTET_TYPE_NODE_ID,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPeer:ticket:
   *
   * A ticket with the addresses the peer announced.
   */
  properties[PROP_TICKET] =
    g_param_spec_object ("ticket", NULL, NULL, FOCTET_TYPE_TICKET,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPeer:addresses:
   *
   * The announced addresses as "transport/host:port".
   */
  properties[PROP_ADDRESSES] =
    g_param_spec_boxed ("addresses", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPeer:source:
   *
   * The discovery mechanism that found the peer ("mdns", "relay").
   */
  properties[PROP_SOURCE] =
    g_param_spec_string ("source", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPeer:last-seen:
   *
   * When the peer was last heard of, in microseconds of real time
   * (g_get_real_time()).
   */
  properties[PROP_LAST_SEEN] =
    g_param_spec_int64 ("last-seen", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * FoctetPeer:ttl:
   *
   * For how many seconds after [property@Foctet.Peer:last-seen] the announcement
   * holds.
   */
  properties[PROP_TTL] =
    g_param_spec_uint ("ttl", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_peer_init (FoctetPeer *self)
{
}

static void
foctet_peer_touch (FoctetPeer *self,
                   guint       ttl)
{
  self->last_seen = g_get_real_time ();
  self->expires = g_get_monotonic_time () + (gint64) ttl * G_USEC_PER_SEC;
}

/**
 * foctet_peer_new:
 * @ticket: the peer's ticket, with the addresses it announced
 * @source: the mechanism that found it ("mdns", "relay")
 * @ttl: for how many seconds from now the announcement holds
 *
 * Creates the record of a node a discovery found.  This is for
 * [iface@Foctet.Discovery] implementations; applications get their peers from
 * [method@Foctet.Discovery.get_peers] or [method@Foctet.Node.get_peers].
 *
 * Returns: (transfer full): a new [class@Foctet.Peer], last seen now
 */
FoctetPeer *
foctet_peer_new (FoctetTicket *ticket,
                 const char   *source,
                 guint         ttl)
{
  FoctetPeer *self;

  g_return_val_if_fail (FOCTET_IS_TICKET (ticket), NULL);
  g_return_val_if_fail (source != NULL, NULL);

  self = g_object_new (FOCTET_TYPE_PEER, NULL);
  self->ticket = g_object_ref (ticket);
  self->source = g_strdup (source);
  self->ttl = ttl;
  foctet_peer_touch (self, ttl);

  return self;
}

/**
 * foctet_peer_get_node_id:
 * @self: a [class@Foctet.Peer]
 *
 * Gets the peer's NodeId, the one its ticket names.  It stays the same
 * across [method@Foctet.Peer.update].
 *
 * Returns: (transfer none): the peer's NodeId, owned by @self
 */
const FoctetNodeId *
foctet_peer_get_node_id (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), NULL);

  return foctet_ticket_get_node_id (self->ticket);
}

/**
 * foctet_peer_get_ticket:
 * @self: a [class@Foctet.Peer]
 *
 * Gets the ticket of the peer's latest announcement.  A new announcement
 * replaces the ticket (see [property@Foctet.Peer:ticket]); take a reference to keep
 * this one longer.
 *
 * Returns: (transfer none): a ticket with the addresses the peer announced;
 *   dial it with [method@Foctet.Node.dial_async]
 */
FoctetTicket *
foctet_peer_get_ticket (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), NULL);

  return self->ticket;
}

/**
 * foctet_peer_get_addresses:
 * @self: a [class@Foctet.Peer]
 *
 * Lists the addresses of the peer's latest announcement.
 *
 * Returns: (transfer full) (array zero-terminated=1): the announced
 *   addresses as "transport/host:port": QUIC, then TLS, then relays, as
 *   [method@Foctet.Ticket.get_uris] gives those of the peer's ticket
 */
char **
foctet_peer_get_addresses (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), NULL);

  return foctet_ticket_get_uris (self->ticket);
}

/**
 * foctet_peer_get_source:
 * @self: a [class@Foctet.Peer]
 *
 * Gets the name of the discovery mechanism that found the peer, such as
 * "mdns" or "relay".
 *
 * Returns: the discovery mechanism that found the peer, owned by @self
 */
const char *
foctet_peer_get_source (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), NULL);

  return self->source;
}

/**
 * foctet_peer_get_last_seen:
 * @self: a [class@Foctet.Peer]
 *
 * Gets when the peer last announced itself: when it was found, or its
 * latest [method@Foctet.Peer.update].
 *
 * Returns: when the peer was last heard of, in microseconds of
 *   g_get_real_time()
 */
gint64
foctet_peer_get_last_seen (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), 0);

  return self->last_seen;
}

/**
 * foctet_peer_get_ttl:
 * @self: a [class@Foctet.Peer]
 *
 * Gets the time to live of the peer's latest announcement, in seconds.
 *
 * Returns: for how many seconds after the last announcement it holds
 */
guint
foctet_peer_get_ttl (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), 0);

  return self->ttl;
}

/**
 * foctet_peer_is_expired:
 * @self: a [class@Foctet.Peer]
 *
 * Tells whether the peer's latest announcement is too old to trust: its
 * time to live, counted on the monotonic clock from when it was heard,
 * has passed.
 *
 * Returns: whether the announcement's time to live has run out
 */
gboolean
foctet_peer_is_expired (FoctetPeer *self)
{
  g_return_val_if_fail (FOCTET_IS_PEER (self), TRUE);

  return g_get_monotonic_time () >= self->expires;
}

/**
 * foctet_peer_update:
 * @self: a [class@Foctet.Peer]
 * @ticket: the ticket of the new announcement, for the same NodeId
 * @ttl: its time to live in seconds
 *
 * Records a new announcement of the peer: it is last seen now, and
 * #GObject::notify is emitted for what changed.
 */
void
foctet_peer_update (FoctetPeer   *self,
                    FoctetTicket *ticket,
                    guint         ttl)
{
  g_autofree char *old_text = NULL;
  g_autofree char *new_text = NULL;

  g_return_if_fail (FOCTET_IS_PEER (self));
  g_return_if_fail (FOCTET_IS_TICKET (ticket));
  g_return_if_fail (foctet_node_id_equal (foctet_ticket_get_node_id (ticket),
                                          foctet_ticket_get_node_id (self->ticket)));

  g_object_freeze_notify (G_OBJECT (self));

  old_text = foctet_ticket_to_string (self->ticket);
  new_text = foctet_ticket_to_string (ticket);
  if (g_strcmp0 (old_text, new_text) != 0)
    {
      g_set_object (&self->ticket, ticket);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TICKET]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ADDRESSES]);
    }

  if (self->ttl != ttl)
    {
      self->ttl = ttl;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TTL]);
    }

  foctet_peer_touch (self, ttl);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_SEEN]);

  g_object_thaw_notify (G_OBJECT (self));
}

/* foctet-ticket.c: tickets, the one-token way to reach a node (PROTOCOL §6),
 * and the project's one parser of "host:port".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-ticket-private.h"
#include "foctet-host-port.h"
#include "foctet-base32.h"
#include "foctet-error.h"

/**
 * FoctetTicket:
 *
 * A ticket tells a peer how to reach a node: its NodeId, its QUIC, TLS
 * and relay addresses in order of preference, and opaque application
 * data.  Its text form is one shell-safe token, "foctet" followed by
 * lower-case base32 (PROTOCOL §6).
 *
 * A ticket is built with [ctor@Foctet.Ticket.new] and the add functions, or
 * read with [func@Foctet.Ticket.parse]; it keeps its entries in the order they
 * were added or read, so formatting a parsed ticket gives back the same
 * token (in lower case, and without entries of reserved types).
 */

#define TICKET_VERSION 1
#define APP_DATA_MIN 0x80
#define ENTRY_MAX 255
#define HOSTNAME_MAX 253
#define LABEL_MAX 63

typedef struct {
  guint8 type;
  GBytes *value;
} Entry;

struct _FoctetTicket {
  GObject parent_instance;

  FoctetNodeId *node_id;
  GArray *entries;   /* of Entry, in order: the order is the owner's preference */
};

G_DEFINE_FINAL_TYPE (FoctetTicket, foctet_ticket, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NODE_ID,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
entry_clear (Entry *entry)
{
  g_clear_pointer (&entry->value, g_bytes_unref);
}

static void
foctet_ticket_finalize (GObject *object)
{
  FoctetTicket *self = FOCTET_TICKET (object);

  g_clear_pointer (&self->node_id, foctet_node_id_free);
  g_clear_pointer (&self->entries, g_array_unref);

  G_OBJECT_CLASS (foctet_ticket_parent_class)->finalize (object);
}

static void
foctet_ticket_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  FoctetTicket *self = FOCTET_TICKET (object);

  switch (prop_id)
    {
    case PROP_NODE_ID:
      g_value_set_boxed (value, self->node_id);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_ticket_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  FoctetTicket *self = FOCTET_TICKET (object);

  switch (prop_id)
    {
    case PROP_NODE_ID:
      self->node_id = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
foctet_ticket_constructed (GObject *object)
{
  FoctetTicket *self = FOCTET_TICKET (object);

  G_OBJECT_CLASS (foctet_ticket_parent_class)->constructed (object);

  /* Every ticket names a node: without one it could not be formatted. */
  g_return_if_fail (self->node_id != NULL);
}

static void
foctet_ticket_class_init (FoctetTicketClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = foctet_ticket_finalize;
  object_class->get_property = foctet_ticket_get_property;
  object_class->set_property = foctet_ticket_set_property;
  object_class->constructed = foctet_ticket_constructed;

  /**
   * FoctetTicket:node-id:
   *
   * The node the ticket is for.  Required at construction.
   */
  properties[PROP_NODE_ID] =
    g_param_spec_boxed ("node-id", NULL, NULL, FOCTET_TYPE_NODE_ID,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
foctet_ticket_init (FoctetTicket *self)
{
  self->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  g_array_set_clear_func (self->entries, (GDestroyNotify) entry_clear);
}

/**
 * foctet_ticket_new:
 * @node_id: the node the ticket is for
 *
 * Creates a ticket for @node_id with no entries; add addresses with
 * [method@Foctet.Ticket.add_address] and application data with
 * [method@Foctet.Ticket.add_app_data].  A ticket without addresses is valid: the
 * peer then has to find the node by discovery.
 *
 * Returns: (transfer full): a new ticket
 */
FoctetTicket *
foctet_ticket_new (const FoctetNodeId *node_id)
{
  g_return_val_if_fail (node_id != NULL, NULL);

  return g_object_new (FOCTET_TYPE_TICKET, "node-id", node_id, NULL);
}

const FoctetAddressKind foctet_address_kinds[FOCTET_N_ADDRESS_KINDS] = {
  FOCTET_ADDRESS_KIND_QUIC, FOCTET_ADDRESS_KIND_TLS, FOCTET_ADDRESS_KIND_RELAY,
};

static gboolean
is_address_kind (guint type)
{
  return type == FOCTET_ADDRESS_KIND_QUIC || type == FOCTET_ADDRESS_KIND_TLS ||
         type == FOCTET_ADDRESS_KIND_RELAY;
}

/**
 * foctet_address_kind_to_transport:
 * @kind: a [enum@Foctet.AddressKind]
 *
 * Maps an address kind to the name of the transport that dials it, as
 * used by the registry and on the command line.
 *
 * Returns: (nullable): "quic", "tls" or "relay"; %NULL if @kind is not a
 *   [enum@Foctet.AddressKind]
 */
const char *
foctet_address_kind_to_transport (FoctetAddressKind kind)
{
  switch (kind)
    {
    case FOCTET_ADDRESS_KIND_QUIC:
      return "quic";
    case FOCTET_ADDRESS_KIND_TLS:
      return "tls";
    case FOCTET_ADDRESS_KIND_RELAY:
      return "relay";
    default:
      return NULL;
    }
}

/* Text from a ticket or a command line goes into error messages, which are
 * printed on one line and must be UTF-8: escape control characters and
 * non-ASCII bytes.  @text holds no NUL (checked before). */
static char *
printable (const char *text,
           gsize       len)
{
  g_autofree char *copy = g_strndup (text, len);

  return g_strescape (copy, NULL);
}

/* RFC 1123 hostnames: dot-separated labels of letters, digits and hyphens,
 * none empty, none starting or ending with a hyphen, each at most 63
 * characters and 253 in all.  A trailing dot (the DNS root) is refused,
 * so that one host has one spelling in tickets. */
static gboolean
validate_hostname (const char  *host,
                   gsize        len,
                   char       **reason)
{
  gsize start = 0;

  if (len > HOSTNAME_MAX)
    {
      *reason = g_strdup_printf ("it is %" G_GSIZE_FORMAT " characters long; the most is %d",
                                 len, HOSTNAME_MAX);
      return FALSE;
    }

  for (gsize i = 0; i < len; i++)
    {
      char c = host[i];

      if (!g_ascii_isalnum (c) && c != '-' && c != '.')
        {
          if (g_ascii_isgraph (c))
            *reason = g_strdup_printf ("“%c” at position %" G_GSIZE_FORMAT " is not allowed "
                                       "(only letters, digits, hyphens and dots are)",
                                       c, i + 1);
          else
            *reason = g_strdup_printf ("byte 0x%02x at position %" G_GSIZE_FORMAT " is not allowed "
                                       "(only letters, digits, hyphens and dots are)",
                                       (guint8) c, i + 1);
          return FALSE;
        }
    }

  while (start <= len)
    {
      const char *dot = memchr (host + start, '.', len - start);
      gsize end = dot != NULL ? (gsize) (dot - host) : len;
      gsize label_len = end - start;

      if (label_len == 0)
        {
          *reason = g_strdup ("it has an empty label");
          return FALSE;
        }
      if (label_len > LABEL_MAX)
        {
          *reason = g_strdup_printf ("a label is %" G_GSIZE_FORMAT " characters long; the most is %d",
                                     label_len, LABEL_MAX);
          return FALSE;
        }
      if (host[start] == '-' || host[end - 1] == '-')
        {
          *reason = g_strdup_printf ("label “%.*s” %s with a hyphen", (int) label_len, host + start,
                                     host[start] == '-' ? "starts" : "ends");
          return FALSE;
        }
      start = end + 1;
    }
  return TRUE;
}

/* Digits and dots only: meant as an IPv4 address, never as a hostname (an
 * all-numeric "hostname" would be read as an address by resolvers). */
static gboolean
looks_like_ipv4 (const char *host,
                 gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (host[i]) && host[i] != '.')
      return FALSE;
  return TRUE;
}

/* foctet_parse_host_port_len: see foctet-host-port.h.  Parses exactly
 * @len bytes of @text, which need not be NUL-terminated (ticket values
 * are not).  Port 0 is accepted only for listen addresses. */
gboolean
foctet_parse_host_port_len (const char  *text,
                            gsize        len,
                            gboolean     allow_port_zero,
                            char       **host_out,
                            guint16     *port_out,
                            GError     **error)
{
  const char *host, *colon, *end = text + len, *nul;
  g_autofree char *shown = NULL;
  gsize host_len;
  guint64 port = 0;
  guint min_port = allow_port_zero ? 0 : 1;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  nul = memchr (text, '\0', len);
  if (nul != NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Address contains a NUL byte (at position %" G_GSIZE_FORMAT ")",
                   (gsize) (nul - text) + 1);
      return FALSE;
    }
  shown = printable (text, len);

  if (len > 0 && text[0] == '[')
    {
      const char *close = memchr (text, ']', len);
      g_autofree char *addr = NULL;
      g_autoptr(GInetAddress) inet = NULL;

      if (close == NULL)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: “[” without a closing “]”", shown);
          return FALSE;
        }
      host = text + 1;
      host_len = close - host;
      addr = g_strndup (host, host_len);
      inet = g_inet_address_new_from_string (addr);
      if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV6)
        {
          g_autofree char *shown_addr = printable (host, host_len);

          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: “%s” in brackets is not an IPv6 address", shown, shown_addr);
          return FALSE;
        }
      colon = close + 1;
      if (colon >= end || *colon != ':')
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: missing “:port” after the IPv6 address", shown);
          return FALSE;
        }
    }
  else
    {
      const char *last = NULL;
      g_autofree char *reason = NULL;

      for (const char *p = text; p < end; p++)
        if (*p == ':')
          {
            if (last != NULL)
              {
                g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                             "“%s”: an IPv6 address must be written in brackets, as [addr]:port",
                             shown);
                return FALSE;
              }
            last = p;
          }
      if (last == NULL)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: missing “:port”", shown);
          return FALSE;
        }
      host = text;
      host_len = last - text;
      colon = last;
      if (host_len == 0)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: empty host before “:port”", shown);
          return FALSE;
        }
      if (looks_like_ipv4 (host, host_len))
        {
          g_autofree char *addr = g_strndup (host, host_len);
          g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (addr);

          if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV4)
            {
              g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "“%s”: “%s” is not an IPv4 address (four decimal numbers 0–255)",
                           shown, addr);
              return FALSE;
            }
        }
      else if (!validate_hostname (host, host_len, &reason))
        {
          g_autofree char *shown_host = printable (host, host_len);

          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: “%s” is not a valid hostname: %s", shown, shown_host, reason);
          return FALSE;
        }
    }

  /* colon points at the ':' before the port. */
  if (colon + 1 >= end)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s”: missing port number after “:”", shown);
      return FALSE;
    }
  for (const char *p = colon + 1; p < end; p++)
    {
      if (!g_ascii_isdigit (*p))
        {
          g_autofree char *shown_port = printable (colon + 1, end - colon - 1);

          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s”: port “%s” is not a decimal number", shown, shown_port);
          return FALSE;
        }
      /* Saturate instead of overflowing on absurdly long ports. */
      if (port <= G_MAXUINT16)
        port = port * 10 + (guint) (*p - '0');
    }
  if (port < min_port || port > G_MAXUINT16)
    {
      g_autofree char *shown_port = printable (colon + 1, end - colon - 1);

      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%s”: port %s is out of range (%u to 65535)", shown, shown_port, min_port);
      return FALSE;
    }

  if (host_out != NULL)
    *host_out = g_strndup (host, host_len);
  if (port_out != NULL)
    *port_out = (guint16) port;
  return TRUE;
}

/**
 * foctet_parse_host_port:
 * @host_port: "host:port": a hostname (RFC 1123), a dotted IPv4 address or
 *   a bracketed IPv6 address, a colon and a decimal port 0–65535
 * @host: (out) (optional) (transfer full): return location for the host,
 *   without brackets
 * @port: (out) (optional): return location for the port
 * @error: return location for a #GError
 *
 * The one parser of "host:port" in foctet, for ticket addresses, listen
 * and dial URIs and command-line arguments, so that they all accept the
 * same spellings.  Port 0 is accepted because it means "any port" when
 * listening; ticket addresses ([method@Foctet.Ticket.add_address]) refuse it.
 *
 * A malformed address fails with %FOCTET_ERROR_INVALID_ARGUMENT and a
 * message naming what is wrong: a missing port, a port that is not a
 * number or out of range, an empty host, an unbracketed IPv6 address, an
 * invalid IPv4 or IPv6 address, or a hostname with a bad character or
 * label.
 *
 * Returns: %TRUE if @host_port is valid
 */
gboolean
foctet_parse_host_port (const char  *host_port,
                        char       **host,
                        guint16     *port,
                        GError     **error)
{
  g_return_val_if_fail (host_port != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return foctet_parse_host_port_len (host_port, strlen (host_port), TRUE, host, port, error);
}

static void
add_entry (FoctetTicket *self,
           guint8        type,
           GBytes       *value)
{
  Entry entry = { type, g_bytes_ref (value) };

  g_array_append_val (self->entries, entry);
}

/**
 * foctet_ticket_add_address:
 * @self: a [class@Foctet.Ticket]
 * @kind: which transport the address is for
 * @host_port: the address, "host:port" as [func@Foctet.parse_host_port]
 *   accepts it but with a port 1–65535
 * @error: return location for a #GError
 *
 * Appends an address of @kind.  Addresses of one kind keep the order in
 * which they were added, earlier ones preferred.  An invalid address, or
 * one longer than the 255 bytes a ticket entry holds, fails with
 * %FOCTET_ERROR_INVALID_ARGUMENT and leaves the ticket unchanged.
 *
 * Returns: %TRUE if @host_port is valid and was added
 */
gboolean
foctet_ticket_add_address (FoctetTicket       *self,
                           FoctetAddressKind   kind,
                           const char         *host_port,
                           GError            **error)
{
  g_autoptr(GBytes) value = NULL;
  gsize len;

  g_return_val_if_fail (FOCTET_IS_TICKET (self), FALSE);
  g_return_val_if_fail (host_port != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!is_address_kind (kind))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "%d is not an address kind (1 QUIC, 2 TLS, 3 relay)", (int) kind);
      return FALSE;
    }
  len = strlen (host_port);
  if (len > ENTRY_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Address is %" G_GSIZE_FORMAT " bytes long; a ticket entry holds at most %d",
                   len, ENTRY_MAX);
      return FALSE;
    }
  if (!foctet_parse_host_port_len (host_port, len, FALSE, NULL, NULL, error))
    return FALSE;

  value = g_bytes_new (host_port, len);
  add_entry (self, kind, value);
  return TRUE;
}

/**
 * foctet_ticket_add_app_data:
 * @self: a [class@Foctet.Ticket]
 * @type: the entry type, 0x80 to 0xff; its meaning is the application's
 * @value: the data, at most 255 bytes
 * @error: return location for a #GError
 *
 * Appends opaque application data.  Several values of one type may be
 * added; [method@Foctet.Ticket.get_app_data] returns the first.  A type below
 * 0x80 (those belong to the protocol) or a value longer than 255 bytes
 * fails with %FOCTET_ERROR_INVALID_ARGUMENT.
 *
 * Returns: %TRUE if added
 */
gboolean
foctet_ticket_add_app_data (FoctetTicket  *self,
                            guint8         type,
                            GBytes        *value,
                            GError       **error)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (type < APP_DATA_MIN)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Entry type 0x%02x is not an application data type (0x80 to 0xff)", type);
      return FALSE;
    }
  if (g_bytes_get_size (value) > ENTRY_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Application data is %" G_GSIZE_FORMAT " bytes long; a ticket entry holds at most %d",
                   g_bytes_get_size (value), ENTRY_MAX);
      return FALSE;
    }
  add_entry (self, type, value);
  return TRUE;
}

/**
 * foctet_ticket_get_node_id:
 * @self: a [class@Foctet.Ticket]
 *
 * Gets the NodeId the ticket names: the node a dial of the ticket must
 * reach, whatever its addresses.  Every ticket has one.
 *
 * Returns: (transfer none): the node the ticket is for, owned by @self
 */
const FoctetNodeId *
foctet_ticket_get_node_id (FoctetTicket *self)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  return self->node_id;
}

/**
 * foctet_ticket_get_addresses:
 * @self: a [class@Foctet.Ticket]
 * @kind: which transport
 *
 * Gets the addresses of one kind, in the ticket's order of preference.
 *
 * Returns: (transfer full) (array zero-terminated=1): the "host:port"
 *   addresses of @kind, preferred first; an empty array if there are none
 */
char **
foctet_ticket_get_addresses (FoctetTicket      *self,
                             FoctetAddressKind  kind)
{
  GPtrArray *addresses;

  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  addresses = g_ptr_array_new ();
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = &g_array_index (self->entries, Entry, i);
      gsize len = 0;
      const char *data;

      if (entry->type != (guint) kind || !is_address_kind (entry->type))
        continue;
      data = g_bytes_get_data (entry->value, &len);
      g_ptr_array_add (addresses, g_strndup (data, len));
    }
  g_ptr_array_add (addresses, NULL);
  return (char **) g_ptr_array_free (addresses, FALSE);
}

/**
 * foctet_ticket_has_address:
 * @self: a [class@Foctet.Ticket]
 * @kind: which transport
 *
 * Tells whether the ticket holds an address of one kind, e.g. whether a
 * relay leads to the node, without copying the addresses.
 *
 * Returns: %TRUE if the ticket has at least one address of @kind
 */
gboolean
foctet_ticket_has_address (FoctetTicket      *self,
                           FoctetAddressKind  kind)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), FALSE);

  if (!is_address_kind (kind))
    return FALSE;
  for (guint i = 0; i < self->entries->len; i++)
    if (g_array_index (self->entries, Entry, i).type == (guint) kind)
      return TRUE;
  return FALSE;
}

/**
 * foctet_ticket_get_uris:
 * @self: a [class@Foctet.Ticket]
 *
 * Gets every address of the ticket in the form [method@Foctet.Node.dial_uri_async]
 * takes, "transport/host:port" (the transport named as
 * [func@Foctet.AddressKind.to_transport] names it): the QUIC addresses, then
 * the TLS ones, then the relays, each kind in the ticket's order.  That is
 * the order in which [method@Foctet.Node.dial_async] tries them.
 *
 * Returns: (transfer full) (array zero-terminated=1): the addresses as
 *   "transport/host:port", preferred first; an empty array if there are
 *   none
 */
char **
foctet_ticket_get_uris (FoctetTicket *self)
{
  GPtrArray *uris;

  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  uris = g_ptr_array_new ();
  for (guint k = 0; k < FOCTET_N_ADDRESS_KINDS; k++)
    {
      g_auto(GStrv) addresses = foctet_ticket_get_addresses (self, foctet_address_kinds[k]);
      const char *transport = foctet_address_kind_to_transport (foctet_address_kinds[k]);

      for (guint i = 0; addresses[i] != NULL; i++)
        g_ptr_array_add (uris, g_strconcat (transport, "/", addresses[i], NULL));
    }
  g_ptr_array_add (uris, NULL);
  return (char **) g_ptr_array_free (uris, FALSE);
}

/**
 * foctet_ticket_get_app_data:
 * @self: a [class@Foctet.Ticket]
 * @type: the entry type, 0x80 to 0xff
 *
 * Gets application data of one type.
 *
 * Returns: (transfer full) (nullable): the first value of @type, or %NULL
 *   if the ticket has none
 */
GBytes *
foctet_ticket_get_app_data (FoctetTicket *self,
                            guint8        type)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  if (type < APP_DATA_MIN)
    return NULL;
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = &g_array_index (self->entries, Entry, i);

      if (entry->type == type)
        return g_bytes_ref (entry->value);
    }
  return NULL;
}

/**
 * foctet_ticket_to_string:
 * @self: a [class@Foctet.Ticket]
 *
 * Formats the ticket as one token: "foctet" and the lower-case unpadded
 * base32 of the version, the NodeId and the entries in order.
 *
 * Returns: (transfer full): the ticket's text
 */
char *
foctet_ticket_to_string (FoctetTicket *self)
{
  g_autoptr(GByteArray) payload = NULL;
  g_autofree char *encoded = NULL;
  const guint8 version = TICKET_VERSION;
  gsize len = 0;
  const guint8 *key;

  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);
  g_return_val_if_fail (self->node_id != NULL, NULL);

  payload = g_byte_array_new ();
  g_byte_array_append (payload, &version, 1);
  key = foctet_node_id_get_data (self->node_id, &len);
  g_byte_array_append (payload, key, len);
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = &g_array_index (self->entries, Entry, i);
      gsize size = 0;
      const guint8 *data = g_bytes_get_data (entry->value, &size);
      guint8 header[2] = { entry->type, (guint8) size };

      /* Both add functions refuse longer values. */
      g_assert (size <= ENTRY_MAX);
      g_byte_array_append (payload, header, 2);
      if (size > 0)
        g_byte_array_append (payload, data, size);
    }

  encoded = foctet_base32_encode (payload->data, payload->len);
  return g_strconcat (FOCTET_TICKET_PREFIX, encoded, NULL);
}

/**
 * foctet_ticket_parse:
 * @text: a ticket
 * @error: return location for a #GError
 *
 * Parses a ticket (PROTOCOL §6).  The "foctet" prefix must be lower case;
 * the base32 after it may be in either case.  Entries of reserved types
 * (0, 4 to 0x7f) are skipped; all others are kept in order.
 *
 * A wrong prefix, bad base32, a payload too short for the version and
 * NodeId, a version other than 1, a truncated entry header, an entry
 * running past the end, or a malformed QUIC, TLS or relay address fails
 * with %FOCTET_ERROR_INVALID_TICKET and a message saying which (and
 * where).
 *
 * Returns: (transfer full): the ticket, or %NULL on error
 */
FoctetTicket *
foctet_ticket_parse (const char  *text,
                     GError     **error)
{
  g_autoptr(FoctetTicket) self = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(FoctetNodeId) node_id = NULL;
  g_autofree guint8 *payload = NULL;
  const gsize prefix_len = strlen (FOCTET_TICKET_PREFIX);
  const gsize header_len = 1 + FOCTET_NODE_ID_SIZE;
  gsize len = 0, offset;
  guint n_entry = 0;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (strncmp (text, FOCTET_TICKET_PREFIX, prefix_len) != 0)
    {
      /* Tickets are meant to be copied around; say plainly when only the
       * case is wrong, since the base32 part is case-insensitive. */
      if (g_ascii_strncasecmp (text, FOCTET_TICKET_PREFIX, prefix_len) == 0)
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                     "Not a ticket: the prefix must be lower-case “%s”, not “%.*s”",
                     FOCTET_TICKET_PREFIX, (int) prefix_len, text);
      else
        g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                     "Not a ticket: a ticket starts with the prefix “%s”", FOCTET_TICKET_PREFIX);
      return NULL;
    }

  payload = foctet_base32_decode (text + prefix_len, strlen (text + prefix_len), &len, &local_error);
  if (payload == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: bad base32 in the part after “%s”: %s",
                   FOCTET_TICKET_PREFIX, local_error->message);
      return NULL;
    }
  /* The version first: a later version may well be shorter. */
  if (len >= 1 && payload[0] != TICKET_VERSION)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: version %u is not supported (only version %d is)",
                   payload[0], TICKET_VERSION);
      return NULL;
    }
  if (len < header_len)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: too short: %" G_GSIZE_FORMAT " bytes, but the version and "
                   "NodeId alone take %" G_GSIZE_FORMAT,
                   len, header_len);
      return NULL;
    }

  node_id = foctet_node_id_new_from_data (payload + 1, FOCTET_NODE_ID_SIZE, error);
  if (node_id == NULL)
    return NULL;
  self = foctet_ticket_new (node_id);

  for (offset = header_len; offset < len; )
    {
      guint8 type, size;

      n_entry++;
      if (len - offset < 2)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                       "Invalid ticket: truncated entry header at byte %" G_GSIZE_FORMAT
                       " (entry %u): 1 byte left, an entry header takes 2",
                       offset, n_entry);
          return NULL;
        }
      type = payload[offset];
      size = payload[offset + 1];
      if (size > len - offset - 2)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                       "Invalid ticket: entry %u (type %u) at byte %" G_GSIZE_FORMAT
                       " has length %u, running past the end: only %" G_GSIZE_FORMAT
                       " bytes remain",
                       n_entry, type, offset, size, len - offset - 2);
          return NULL;
        }
      offset += 2;

      if (is_address_kind (type) &&
          !foctet_parse_host_port_len ((const char *) payload + offset, size, FALSE, NULL, NULL,
                                       &local_error))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                       "Invalid ticket: entry %u (%s address) at byte %" G_GSIZE_FORMAT ": %s",
                       n_entry, foctet_address_kind_to_transport (type), offset - 2,
                       local_error->message);
          return NULL;
        }
      if (is_address_kind (type) || type >= APP_DATA_MIN)
        {
          g_autoptr(GBytes) value = g_bytes_new (payload + offset, size);

          add_entry (self, type, value);
        }
      else
        {
          /* Reserved for later versions of the protocol: a parser MUST
           * skip them, so that old nodes read new tickets. */
          g_debug ("Skipping ticket entry %u of reserved type %u (%u bytes)", n_entry, type, size);
        }
      offset += size;
    }

  return g_steal_pointer (&self);
}

/* foctet-ticket.c: tickets, the one-token way to reach a node (PROTOCOL §6).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "foctet-ticket.h"
#include "foctet-base32.h"
#include "foctet-error.h"

/**
 * FoctetTicket:
 *
 * A ticket tells a peer how to reach a node: its NodeId, its QUIC,
 * TLS and relay addresses in order of preference, and opaque application
 * data.  Its text form is one shell-safe token, "foctet" followed by
 * lower-case base32.
 */

#define TICKET_VERSION 1
#define APP_DATA_MIN 0x80
#define ENTRY_MAX 255

typedef struct {
  guint8 type;
  GBytes *value;
} Entry;

struct _FoctetTicket {
  GObject parent_instance;

  FoctetNodeId *node_id;
  GArray *entries;   /* of Entry, in order */
};

G_DEFINE_FINAL_TYPE (FoctetTicket, foctet_ticket, G_TYPE_OBJECT)

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
foctet_ticket_class_init (FoctetTicketClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = foctet_ticket_finalize;
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
 * Returns: (transfer full): a ticket with no addresses yet
 */
FoctetTicket *
foctet_ticket_new (const FoctetNodeId *node_id)
{
  FoctetTicket *self;

  g_return_val_if_fail (node_id != NULL, NULL);

  self = g_object_new (FOCTET_TYPE_TICKET, NULL);
  self->node_id = foctet_node_id_copy (node_id);
  return self;
}

static gboolean
is_address_kind (guint type)
{
  return type == FOCTET_ADDRESS_KIND_QUIC || type == FOCTET_ADDRESS_KIND_TLS ||
         type == FOCTET_ADDRESS_KIND_RELAY;
}

/**
 * foctet_address_kind_to_transport:
 * @kind: a #FoctetAddressKind
 *
 * Returns: (nullable): the name of the transport for @kind: "quic",
 *   "tls" or "relay"
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

static gboolean
is_hostname (const char *host,
             gsize       len)
{
  gsize label = 0;

  if (len == 0 || len > 253)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = host[i];

      if (c == '.')
        {
          if (label == 0 || host[i - 1] == '-')
            return FALSE;
          label = 0;
          continue;
        }
      if (!g_ascii_isalnum (c) && c != '-')
        return FALSE;
      if (c == '-' && label == 0)
        return FALSE;
      if (++label > 63)
        return FALSE;
    }
  return label > 0 && host[len - 1] != '-';
}

static gboolean
looks_like_ipv4 (const char *host,
                 gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (host[i]) && host[i] != '.')
      return FALSE;
  return TRUE;
}

static gboolean
parse_host_port_len (const char  *text,
                     gsize        len,
                     gboolean     allow_port_zero,
                     char       **host_out,
                     guint16     *port_out,
                     GError     **error)
{
  const char *host, *colon, *end = text + len;
  gsize host_len;
  guint64 port = 0;

  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "address contains a NUL byte");
      return FALSE;
    }

  if (len > 0 && text[0] == '[')
    {
      const char *close = memchr (text, ']', len);
      g_autofree char *addr = NULL;
      g_autoptr(GInetAddress) inet = NULL;

      if (close == NULL)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s”: “[” without “]”", (int) len, text);
          return FALSE;
        }
      host = text + 1;
      host_len = close - host;
      addr = g_strndup (host, host_len);
      inet = g_inet_address_new_from_string (addr);
      if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV6)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%s” is not an IPv6 address", addr);
          return FALSE;
        }
      colon = close + 1;
      if (colon >= end || *colon != ':')
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s”: missing “:port” after the IPv6 address", (int) len, text);
          return FALSE;
        }
    }
  else
    {
      const char *last = NULL;

      for (const char *p = text; p < end; p++)
        if (*p == ':')
          {
            if (last != NULL)
              {
                g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                             "“%.*s”: an IPv6 address must be written in brackets, as [addr]:port",
                             (int) len, text);
                return FALSE;
              }
            last = p;
          }
      if (last == NULL)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s”: missing “:port”", (int) len, text);
          return FALSE;
        }
      host = text;
      host_len = last - text;
      colon = last;
      if (host_len == 0)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s”: empty host", (int) len, text);
          return FALSE;
        }
      if (looks_like_ipv4 (host, host_len))
        {
          g_autofree char *addr = g_strndup (host, host_len);
          g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (addr);

          if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV4)
            {
              g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                           "“%s” is not an IPv4 address", addr);
              return FALSE;
            }
        }
      else if (!is_hostname (host, host_len))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s” is not a valid hostname", (int) host_len, host);
          return FALSE;
        }
    }

  /* colon points at ':' */
  if (colon + 1 >= end)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%.*s”: missing port number", (int) len, text);
      return FALSE;
    }
  for (const char *p = colon + 1; p < end; p++)
    {
      if (!g_ascii_isdigit (*p))
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "“%.*s”: port “%.*s” is not a decimal number", (int) len, text,
                       (int) (end - colon - 1), colon + 1);
          return FALSE;
        }
      port = port * 10 + (*p - '0');
      if (port > 65535)
        break;
    }
  if (port > 65535 || (port == 0 && !allow_port_zero))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "“%.*s”: port must be 1 to 65535", (int) len, text);
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
 * @host_port: "host:port": a hostname, a dotted IPv4 address or a
 *   bracketed IPv6 address, and a port 0–65535 (0 means "any", for listening)
 * @host: (out) (optional) (transfer full): the host, without brackets
 * @port: (out) (optional): the port
 * @error: return location for a #GError
 *
 * The one parser of "host:port" in foctet, for tickets, addresses and
 * command-line arguments.  Fails with %FOCTET_ERROR_INVALID_ARGUMENT.
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

  return parse_host_port_len (host_port, strlen (host_port), TRUE, host, port, error);
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
 * @self: a #FoctetTicket
 * @kind: which transport the address is for
 * @host_port: the address, "host:port" with a port 1–65535
 * @error: return location for a #GError
 *
 * Appends an address; earlier ones are preferred.
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

  if (!is_address_kind (kind))
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "%d is not an address kind", kind);
      return FALSE;
    }
  len = strlen (host_port);
  if (len > ENTRY_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Address is %" G_GSIZE_FORMAT " bytes; a ticket entry holds at most %d",
                   len, ENTRY_MAX);
      return FALSE;
    }
  if (!parse_host_port_len (host_port, len, FALSE, NULL, NULL, error))
    return FALSE;

  value = g_bytes_new (host_port, len);
  add_entry (self, kind, value);
  return TRUE;
}

/**
 * foctet_ticket_add_app_data:
 * @self: a #FoctetTicket
 * @type: the entry type, 0x80 to 0xff
 * @value: the data, at most 255 bytes
 * @error: return location for a #GError
 *
 * Appends opaque application data.
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

  if (type < APP_DATA_MIN)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Entry type 0x%02x is not an application data type (0x80 to 0xff)", type);
      return FALSE;
    }
  if (g_bytes_get_size (value) > ENTRY_MAX)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                   "Application data is %" G_GSIZE_FORMAT " bytes; a ticket entry holds at most %d",
                   g_bytes_get_size (value), ENTRY_MAX);
      return FALSE;
    }
  add_entry (self, type, value);
  return TRUE;
}

/**
 * foctet_ticket_get_node_id:
 * @self: a #FoctetTicket
 *
 * Returns: (transfer none): the node the ticket is for
 */
const FoctetNodeId *
foctet_ticket_get_node_id (FoctetTicket *self)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  return self->node_id;
}

/**
 * foctet_ticket_get_addresses:
 * @self: a #FoctetTicket
 * @kind: which transport
 *
 * Returns: (transfer full) (array zero-terminated=1): the "host:port"
 *   addresses of that kind, preferred first; empty if none
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

      if (entry->type != (guint) kind)
        continue;
      data = g_bytes_get_data (entry->value, &len);
      g_ptr_array_add (addresses, g_strndup (data, len));
    }
  g_ptr_array_add (addresses, NULL);
  return (char **) g_ptr_array_free (addresses, FALSE);
}

/**
 * foctet_ticket_get_app_data:
 * @self: a #FoctetTicket
 * @type: the entry type, 0x80 to 0xff
 *
 * Returns: (transfer full) (nullable): the first value of that type
 */
GBytes *
foctet_ticket_get_app_data (FoctetTicket *self,
                            guint8        type)
{
  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

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
 * @self: a #FoctetTicket
 *
 * Returns: (transfer full): the ticket as one token
 */
char *
foctet_ticket_to_string (FoctetTicket *self)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *encoded = NULL;
  const guint8 version = TICKET_VERSION;
  gsize len = 0;
  const guint8 *key;

  g_return_val_if_fail (FOCTET_IS_TICKET (self), NULL);

  g_byte_array_append (payload, &version, 1);
  key = foctet_node_id_get_data (self->node_id, &len);
  g_byte_array_append (payload, key, len);
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = &g_array_index (self->entries, Entry, i);
      gsize size = 0;
      const guint8 *data = g_bytes_get_data (entry->value, &size);
      guint8 header[2] = { entry->type, (guint8) size };

      g_byte_array_append (payload, header, 2);
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
 * Parses a ticket, skipping entries of reserved types.  A wrong prefix,
 * bad base32, another version, a truncated entry or a malformed address
 * fails with %FOCTET_ERROR_INVALID_TICKET and a message saying which.
 *
 * Returns: (transfer full): the ticket, or %NULL
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
  gsize len = 0, offset;
  guint n_entry = 0;

  g_return_val_if_fail (text != NULL, NULL);

  if (strncmp (text, FOCTET_TICKET_PREFIX, prefix_len) != 0)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Not a ticket: it must start with “%s”", FOCTET_TICKET_PREFIX);
      return NULL;
    }

  payload = foctet_base32_decode (text + prefix_len, strlen (text + prefix_len), &len, &local_error);
  if (payload == NULL)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: %s", local_error->message);
      return NULL;
    }
  if (len < 1)
    {
      g_set_error_literal (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                           "Invalid ticket: it is empty");
      return NULL;
    }
  if (payload[0] != TICKET_VERSION)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Unsupported ticket version %u (this node reads version %d)",
                   payload[0], TICKET_VERSION);
      return NULL;
    }
  if (len < 1 + FOCTET_NODE_ID_SIZE)
    {
      g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                   "Invalid ticket: too short for a NodeId (%" G_GSIZE_FORMAT " bytes)", len);
      return NULL;
    }

  node_id = foctet_node_id_new_from_data (payload + 1, FOCTET_NODE_ID_SIZE, error);
  if (node_id == NULL)
    return NULL;
  self = foctet_ticket_new (node_id);

  for (offset = 1 + FOCTET_NODE_ID_SIZE; offset < len; n_entry++)
    {
      guint8 type, size;
      g_autoptr(GBytes) value = NULL;

      if (len - offset < 2)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                       "Invalid ticket: truncated entry header at byte %" G_GSIZE_FORMAT, offset);
          return NULL;
        }
      type = payload[offset];
      size = payload[offset + 1];
      if (size > len - offset - 2)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                       "Invalid ticket: entry %u (type %u) at byte %" G_GSIZE_FORMAT
                       " says %u bytes, but only %" G_GSIZE_FORMAT " remain",
                       n_entry + 1, type, offset, size, len - offset - 2);
          return NULL;
        }
      offset += 2;

      if (is_address_kind (type))
        {
          if (!parse_host_port_len ((const char *) payload + offset, size, FALSE, NULL, NULL,
                                    &local_error))
            {
              g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_TICKET,
                           "Invalid ticket: %s address in entry %u: %s",
                           foctet_address_kind_to_transport (type), n_entry + 1,
                           local_error->message);
              return NULL;
            }
        }
      if (is_address_kind (type) || type >= APP_DATA_MIN)
        {
          value = g_bytes_new (payload + offset, size);
          add_entry (self, type, value);
        }
      /* Other types are reserved: skipped, as the protocol says. */
      offset += size;
    }

  return g_steal_pointer (&self);
}

/* Fuzz target: tickets (PROTOCOL §6) and the host:port parser they use.
 *
 * Invariants: a rejected ticket has a FOCTET_ERROR_INVALID_TICKET error
 * whose message is one line of UTF-8; an accepted one formats to
 * lower-case text that parses again to the same entries and the same
 * text.  The same holds for the input read as "host:port".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-ticket.h"
#include "foctet-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const FoctetAddressKind kinds[] = {
  FOCTET_ADDRESS_KIND_QUIC, FOCTET_ADDRESS_KIND_TLS, FOCTET_ADDRESS_KIND_RELAY,
};

static void
check_error (const GError *error,
             int           code)
{
  if (error == NULL || !g_error_matches (error, FOCTET_ERROR, code) ||
      error->message[0] == '\0' || !g_utf8_validate (error->message, -1, NULL) ||
      strchr (error->message, '\n') != NULL)
    abort ();
}

static gboolean
same_strv (char **a,
           char **b)
{
  return a != NULL && b != NULL && g_strv_equal ((const char * const *) a, (const char * const *) b);
}

static void
fuzz_ticket (const char *text)
{
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(FoctetTicket) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *formatted = NULL;
  g_autofree char *formatted_again = NULL;

  ticket = foctet_ticket_parse (text, &error);
  if (ticket == NULL)
    {
      check_error (error, FOCTET_ERROR_INVALID_TICKET);
      return;
    }
  if (error != NULL || foctet_ticket_get_node_id (ticket) == NULL)
    abort ();

  formatted = foctet_ticket_to_string (ticket);
  if (!g_str_has_prefix (formatted, FOCTET_TICKET_PREFIX))
    abort ();
  for (const char *p = formatted; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !(*p >= '2' && *p <= '7'))
      abort ();

  again = foctet_ticket_parse (formatted, NULL);
  if (again == NULL)
    abort ();
  formatted_again = foctet_ticket_to_string (again);
  if (strcmp (formatted, formatted_again) != 0)
    abort ();
  if (!foctet_node_id_equal (foctet_ticket_get_node_id (ticket), foctet_ticket_get_node_id (again)))
    abort ();
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_auto(GStrv) before = foctet_ticket_get_addresses (ticket, kinds[i]);
      g_auto(GStrv) after = foctet_ticket_get_addresses (again, kinds[i]);

      if (!same_strv (before, after))
        abort ();
      /* Each address is one foctet_ticket_add_address() accepts. */
      for (guint j = 0; before[j] != NULL; j++)
        {
          g_autoptr(FoctetTicket) scratch = foctet_ticket_new (foctet_ticket_get_node_id (ticket));

          if (!foctet_ticket_add_address (scratch, kinds[i], before[j], NULL))
            abort ();
        }
    }
  for (guint type = 0x80; type <= 0xff; type++)
    {
      g_autoptr(GBytes) before = foctet_ticket_get_app_data (ticket, type);
      g_autoptr(GBytes) after = foctet_ticket_get_app_data (again, type);

      if ((before == NULL) != (after == NULL) ||
          (before != NULL && !g_bytes_equal (before, after)))
        abort ();
    }
}

static void
fuzz_host_port (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  g_autofree char *rebuilt = NULL;
  g_autofree char *host_again = NULL;
  guint16 port = 0, port_again = 0;

  if (!foctet_parse_host_port (text, &host, &port, &error))
    {
      check_error (error, FOCTET_ERROR_INVALID_ARGUMENT);
      if (host != NULL)
        abort ();
      return;
    }
  if (error != NULL || host == NULL || host[0] == '\0')
    abort ();

  /* The host and port put together again (canonical port, brackets
   * around IPv6) parse to the same. */
  rebuilt = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%u", host, port)
                                       : g_strdup_printf ("%s:%u", host, port);
  if (!foctet_parse_host_port (rebuilt, &host_again, &port_again, NULL) ||
      strcmp (host, host_again) != 0 || port != port_again)
    abort ();

  /* A ticket takes every valid address with a port and of at most 255
   * bytes, and refuses every other. */
  {
    g_autoptr(FoctetNodeId) id = foctet_node_id_new_from_data ((const guint8 *) "0123456789abcdef0123456789abcdef",
                                                              FOCTET_NODE_ID_SIZE, NULL);
    g_autoptr(FoctetTicket) ticket = foctet_ticket_new (id);
    gboolean fits = port != 0 && strlen (text) <= 255;

    if (foctet_ticket_add_address (ticket, FOCTET_ADDRESS_KIND_TLS, text, NULL) != fits)
      abort ();
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* The parsers take NUL-terminated text: stop at the first NUL, as a C
   * caller would. */
  g_autofree char *text = g_strndup ((const char *) data, size);

  fuzz_ticket (text);
  fuzz_host_port (text);
  return 0;
}

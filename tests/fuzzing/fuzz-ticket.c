/* Fuzz target: ticket parsing (PROTOCOL §6).  A ticket that parses must
 * format back to a ticket that parses to the same text.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foctet-ticket.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr(FoctetTicket) ticket = NULL;
  g_autoptr(GError) error = NULL;

  ticket = foctet_ticket_parse (text, &error);
  if (ticket == NULL)
    {
      if (error == NULL || error->message == NULL || error->message[0] == '\0')
        abort ();
      return 0;
    }

  {
    g_autofree char *formatted = foctet_ticket_to_string (ticket);
    g_autoptr(FoctetTicket) again = foctet_ticket_parse (formatted, NULL);
    g_autofree char *formatted_again = NULL;

    if (again == NULL)
      abort ();
    formatted_again = foctet_ticket_to_string (again);
    if (strcmp (formatted, formatted_again) != 0)
      abort ();
  }
  return 0;
}

/* foctet-relay-common.c: small helpers both sides of the relay use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "foctet-relay-common.h"

/* A timeout of @ms on @context that calls @func with @data, which it
 * does not hold; the caller owns the source. */
GSource *
relay_attach_timeout (GMainContext *context,
                      guint         ms,
                      GSourceFunc   func,
                      gpointer      data)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  return source;
}

/* Destroys *@source, if any, and clears it. */
void
relay_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

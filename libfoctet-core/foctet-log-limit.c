/* foctet-log-limit.c: a bound on log lines strangers can make
 * (foctet-log-limit.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-log-limit.h"

struct _FoctetLogLimit {
  guint burst;
  gint64 window;                        /* µs */
  char *what;
  FoctetLogLimitFunc func;
  gpointer user_data;
  GMainContext *context;

  gint64 window_start;                  /* monotonic µs; 0: no window yet */
  guint logged;                         /* in this window */
  guint suppressed;                     /* in this window, beyond the burst */
  char *last;                           /* the last of those */
  GSource *timer;                       /* says them at the window's end */
};

FoctetLogLimit *
foctet_log_limit_new (guint               burst,
                      guint               window_ms,
                      const char         *what,
                      FoctetLogLimitFunc  func,
                      gpointer            user_data)
{
  FoctetLogLimit *self;

  g_return_val_if_fail (window_ms > 0, NULL);
  g_return_val_if_fail (what != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  self = g_new0 (FoctetLogLimit, 1);
  self->burst = burst;
  self->window = (gint64) window_ms * 1000;
  self->what = g_strdup (what);
  self->func = func;
  self->user_data = user_data;
  self->context = g_main_context_ref_thread_default ();
  return self;
}

/* The summary of the lines held back in this window, if any.  It names
 * the window's length, also when said before its end (a program that
 * stops): "in 10 s" reads as "within", and scripts match one text. */
static void
say_suppressed (FoctetLogLimit *self)
{
  gint64 seconds = (self->window + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  g_autofree char *line = NULL;

  if (self->suppressed == 0)
    return;
  line = g_strdup_printf ("%u more %s in %" G_GINT64_FORMAT " s, the last: %s", self->suppressed, self->what,
                          seconds, self->last);
  self->suppressed = 0;
  g_clear_pointer (&self->last, g_free);
  self->func (line, self->user_data);
}

static gboolean
window_end_cb (gpointer user_data)
{
  FoctetLogLimit *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  say_suppressed (self);
  return G_SOURCE_REMOVE;
}

static void
clear_timer (FoctetLogLimit *self)
{
  if (self->timer == NULL)
    return;
  g_source_destroy (self->timer);
  g_clear_pointer (&self->timer, g_source_unref);
}

void
foctet_log_limit_log (FoctetLogLimit *self,
                      const char     *format,
                      ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *line = NULL;
  va_list args;

  g_return_if_fail (self != NULL);

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);

  if (self->window_start == 0 || now - self->window_start >= self->window)
    {
      /* The last window's summary first, should its timer not have run
       * yet: the lines stay in order. */
      clear_timer (self);
      say_suppressed (self);
      self->window_start = now;
      self->logged = 0;
    }
  if (self->logged < self->burst)
    {
      self->logged++;
      self->func (line, self->user_data);
      return;
    }
  self->suppressed++;
  g_free (self->last);
  self->last = g_steal_pointer (&line);
  if (self->timer == NULL)
    {
      /* In ms, rounded up: the summary comes after the window, never before. */
      self->timer = g_timeout_source_new ((guint) ((self->window_start + self->window - now + 999) / 1000));
      g_source_set_static_name (self->timer, "foctet log limit");
      g_source_set_callback (self->timer, window_end_cb, self, NULL);
      g_source_attach (self->timer, self->context);
    }
}

void
foctet_log_limit_free (FoctetLogLimit *self)
{
  if (self == NULL)
    return;
  clear_timer (self);
  say_suppressed (self);
  g_main_context_unref (self->context);
  g_free (self->what);
  g_free (self->last);
  g_free (self);
}

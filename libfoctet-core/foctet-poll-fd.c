/* foctet-poll-fd.c: a descriptor a GSource polls through its own GPollFD
 * (see foctet-poll-fd.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-poll-fd.h"

void
foctet_poll_fd_init (FoctetPollFd *self,
                     int           fd)
{
  self->pollfd.fd = fd;
  self->pollfd.events = 0;
  self->pollfd.revents = 0;
  self->polled = FALSE;
}

void
foctet_poll_fd_wait (FoctetPollFd *self,
                     GSource      *source,
                     GIOCondition  events)
{
  self->pollfd.events = events;
  if (events != 0 && !self->polled)
    {
      g_source_add_poll (source, &self->pollfd);
      self->polled = TRUE;
    }
}

void
foctet_poll_fd_remove (FoctetPollFd *self,
                       GSource      *source)
{
  self->pollfd.events = 0;
  /* The context no longer sets it. */
  self->pollfd.revents = 0;
  if (self->polled)
    g_source_remove_poll (source, &self->pollfd);
  self->polled = FALSE;
}

gboolean
foctet_poll_fd_reported (const FoctetPollFd *self)
{
  return self->polled && self->pollfd.revents != 0;
}

void
foctet_poll_fd_drop_if_hung_up (FoctetPollFd *self,
                                GSource      *source)
{
  if (self->pollfd.events == 0 && (self->pollfd.revents & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)))
    foctet_poll_fd_remove (self, source);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A descriptor a custom GSource polls, armed and disarmed by the events
 * of its own GPollFD, which the context reads afresh at every iteration.
 * Adding and removing a descriptor (g_source_add_unix_fd() and friends)
 * writes to the context's wake-up descriptor in GLib 2.74, even on the
 * context's own thread: two system calls and a wasted iteration each
 * time, thousands of times per GiB on a data path.  A descriptor polled
 * for nothing still reports an error or a hang-up, so one that does
 * leaves the poll set until it is waited for again, or every poll would
 * return at once.  For the TLS stream's flush and the relay's splice.
 * Not part of <foctet.h> and not introspected: include
 * <foctet-poll-fd.h>.  Use it from the thread that runs the source's
 * context only. */

#include "foctet.h"

G_BEGIN_DECLS

typedef struct {
  GPollFD pollfd;
  gboolean polled;                      /* pollfd is in the source */
} FoctetPollFd;

/* Starts @self for @fd, polled for nothing and not in any source. */
FOCTET_AVAILABLE_IN_ALL
void foctet_poll_fd_init (FoctetPollFd *self,
                          int           fd);
/* Polls @self in @source for @events; 0 disarms it. */
FOCTET_AVAILABLE_IN_ALL
void foctet_poll_fd_wait (FoctetPollFd *self,
                          GSource      *source,
                          GIOCondition  events);
/* Takes @self out of @source: for a descriptor about to be closed. */
FOCTET_AVAILABLE_IN_ALL
void foctet_poll_fd_remove (FoctetPollFd *self,
                            GSource      *source);
/* For the source's check: whether the last poll reported anything
 * (what it waits for, or an error or a hang-up). */
FOCTET_AVAILABLE_IN_ALL
gboolean foctet_poll_fd_reported (const FoctetPollFd *self);
/* For the source's dispatch: takes a disarmed @self that reported an
 * error or a hang-up out of @source. */
FOCTET_AVAILABLE_IN_ALL
void foctet_poll_fd_drop_if_hung_up (FoctetPollFd *self,
                                     GSource      *source);

G_END_DECLS

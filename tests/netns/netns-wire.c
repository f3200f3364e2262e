/* netns-wire.c: a point-to-point link between two network namespaces with
 * a fixed one-way delay and random loss, done in user space — for kernels
 * built without sch_netem.
 *
 *   netns-wire NS_A IF_A NS_B IF_B DELAY_MS LOSS_PERCENT SEED
 *
 * Creates the tun device IF_A in namespace NS_A and IF_B in NS_B (both
 * down, without addresses: the caller configures them), prints "ready" on
 * stdout, then copies every IP packet one device sends to the other after
 * DELAY_MS, dropping each with probability LOSS_PERCENT/100 (drawn from a
 * generator seeded with SEED, so a run can be repeated).  Like netem, a
 * direction holds at most QUEUE_SLOTS packets and drops at the tail
 * beyond.  The devices exist as long as this process: SIGTERM, SIGINT or
 * the death of its parent (it asks for SIGKILL then) removes them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_SLOTS 8192
#define SLOT_SIZE 1600          /* the devices' MTU is 1500 */

typedef struct {
  int64_t due;                  /* CLOCK_MONOTONIC, ns */
  uint16_t len;
  unsigned char data[SLOT_SIZE];
} Packet;

typedef struct {
  int in;                       /* read from this device... */
  int out;                      /* ...write to that one */
  Packet *slots;
  unsigned head, count;
  uint64_t sent, lost, overflow;
} Direction;

static volatile sig_atomic_t stop;
static uint64_t rng_state;

static void
on_signal (int sig)
{
  stop = 1;
}

/* splitmix64: small, good enough, the same on every machine. */
static uint64_t
rng_next (void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die (const char *what,
     const char *detail)
{
  fprintf (stderr, "netns-wire: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "",
           strerror (errno));
  exit (1);
}

/* A tun device named @ifname in the namespace /run/netns/@ns. */
static int
open_tun (const char *ns,
          const char *ifname)
{
  char path[256];
  struct ifreq ifr;
  int nsfd, fd;

  snprintf (path, sizeof path, "/run/netns/%s", ns);
  nsfd = open (path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    die ("open", path);
  if (setns (nsfd, CLONE_NEWNET) < 0)
    die ("setns", path);
  close (nsfd);

  fd = open ("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    die ("open", "/dev/net/tun");
  memset (&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    die ("TUNSETIFF", ifname);
  return fd;
}

static void
receive (Direction *d,
         int64_t    delay,
         uint64_t   loss_threshold)
{
  for (;;)
    {
      Packet *p;
      unsigned char discard[SLOT_SIZE];
      unsigned char *buf;
      ssize_t n;

      p = d->count < QUEUE_SLOTS ? &d->slots[(d->head + d->count) % QUEUE_SLOTS] : NULL;
      buf = p != NULL ? p->data : discard;
      n = read (d->in, buf, SLOT_SIZE);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n < 0)
        die ("read", NULL);
      if (p == NULL)
        {
          d->overflow++;
          continue;
        }
      if (loss_threshold != 0 && rng_next () < loss_threshold)
        {
          d->lost++;
          continue;
        }
      p->len = (uint16_t) n;
      p->due = now_ns () + delay;
      d->count++;
    }
}

/* Writes what is due; returns ns until the next packet is, or -1. */
static int64_t
transmit (Direction *d)
{
  int64_t now = now_ns ();

  while (d->count > 0)
    {
      Packet *p = &d->slots[d->head];

      if (p->due > now)
        return p->due - now;
      /* A full device queue drops, as a wire would. */
      if (write (d->out, p->data, p->len) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EIO)
        die ("write", NULL);
      d->sent++;
      d->head = (d->head + 1) % QUEUE_SLOTS;
      d->count--;
    }
  return -1;
}

int
main (int   argc,
      char *argv[])
{
  Direction dirs[2];
  struct sigaction sa;
  sigset_t blocked, unblocked;
  int64_t delay;
  double loss;
  uint64_t loss_threshold;
  int fd_a, fd_b;

  if (argc != 8)
    {
      fprintf (stderr, "usage: netns-wire NS_A IF_A NS_B IF_B DELAY_MS LOSS_PERCENT SEED\n");
      return 2;
    }
  delay = (int64_t) (strtod (argv[5], NULL) * 1e6);
  loss = strtod (argv[6], NULL);
  rng_state = strtoull (argv[7], NULL, 0);
  if (delay < 0 || loss < 0 || loss > 100)
    {
      fprintf (stderr, "netns-wire: bad delay or loss\n");
      return 2;
    }
  loss_threshold = loss >= 100 ? UINT64_MAX : (uint64_t) (loss / 100.0 * 18446744073709551616.0);

  /* Never outlive the fixture that started us. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () == 1)
    return 1;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  /* Signals arrive only inside ppoll(), so none is missed between the
   * check of stop and the wait. */
  sigemptyset (&blocked);
  sigaddset (&blocked, SIGTERM);
  sigaddset (&blocked, SIGINT);
  sigprocmask (SIG_BLOCK, &blocked, &unblocked);

  fd_a = open_tun (argv[1], argv[2]);
  fd_b = open_tun (argv[3], argv[4]);

  memset (dirs, 0, sizeof dirs);
  dirs[0].in = fd_a;
  dirs[0].out = fd_b;
  dirs[1].in = fd_b;
  dirs[1].out = fd_a;
  for (int i = 0; i < 2; i++)
    {
      dirs[i].slots = malloc (sizeof (Packet) * QUEUE_SLOTS);
      if (dirs[i].slots == NULL)
        die ("malloc", NULL);
    }

  printf ("ready\n");
  fflush (stdout);

  while (!stop)
    {
      struct pollfd fds[2] = { { fd_a, POLLIN, 0 }, { fd_b, POLLIN, 0 } };
      int64_t wait = -1;
      struct timespec ts, *tsp = NULL;

      for (int i = 0; i < 2; i++)
        {
          int64_t next = transmit (&dirs[i]);

          if (next >= 0 && (wait < 0 || next < wait))
            wait = next;
        }
      if (wait >= 0)
        {
          ts.tv_sec = wait / 1000000000;
          ts.tv_nsec = wait % 1000000000;
          tsp = &ts;
        }
      if (ppoll (fds, 2, tsp, &unblocked) < 0 && errno != EINTR)
        die ("poll", NULL);
      if (fds[0].revents & POLLIN)
        receive (&dirs[0], delay, loss_threshold);
      if (fds[1].revents & POLLIN)
        receive (&dirs[1], delay, loss_threshold);
    }

  fprintf (stderr, "netns-wire: a→b %" PRIu64 " sent %" PRIu64 " lost %" PRIu64 " overflowed; "
           "b→a %" PRIu64 " sent %" PRIu64 " lost %" PRIu64 " overflowed\n",
           dirs[0].sent, dirs[0].lost, dirs[0].overflow, dirs[1].sent, dirs[1].lost, dirs[1].overflow);
  for (int i = 0; i < 2; i++)
    free (dirs[i].slots);
  close (fd_a);
  close (fd_b);
  return 0;
}

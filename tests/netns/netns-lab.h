/* netns-lab.h: network namespaces for tests that run real programs over a
 * real network stack: two joined by one link with delay and loss, or two
 * nodes behind NATs with a public host between them; the programs the
 * tests run there (their stderr line by line, a daemon's first line); and
 * the fixture of the relay tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sys/types.h>

#include <gio/gio.h>

G_BEGIN_DECLS

/* A namespace of a lab.  A and B are the two nodes in every topology;
 * PUBLIC, NAT_A and NAT_B exist in the NAT lab only, C in the bridge lab
 * only, INTERNET (a bridge) in both. */
typedef enum {
  NETNS_SIDE_A,
  NETNS_SIDE_B,
  NETNS_SIDE_PUBLIC,             /* a host with a public address (a relay) */
  NETNS_SIDE_NAT_A,              /* A's router */
  NETNS_SIDE_NAT_B,              /* B's router */
  NETNS_SIDE_INTERNET,           /* the bridge the routers and PUBLIC share */
  NETNS_SIDE_C,                  /* a third node on the bridge lab's LAN */
  NETNS_N_SIDES
} NetnsSide;

typedef struct {
  guint delay_ms;                /* one way, each direction */
  double loss_percent;           /* each direction */
  guint64 seed;                  /* of the loss, where the lab draws it itself */
} NetnsLink;

typedef struct _NetnsLab NetnsLab;

/* Call once from main() after g_test_init(): fails the process with a
 * message unless it can make namespaces (root, ip netns add), removes
 * namespaces that runs of this fixture that died left behind (any test
 * program's), and makes
 * sure every lab is removed however the process ends — normal exit,
 * failed assertion (SIGABRT), g_error() (SIGTRAP), SIGTERM (a test
 * runner's timeout), SIGINT, SIGHUP, SIGQUIT; SIGKILL and crashes through
 * the sweep of the next run. */
void netns_init (void);

/* Namespaces "foctet-lab-PID-START-N-a" and "-b" (START: this process's
 * start time, which tells it from a later one with the same pid; other
 * test programs at work at the same time are left alone), loopback up,
 * one link between
 * them: IF_A 10.77.N.1/24 in a, IF_B 10.77.N.2/24 in b.  Without delay
 * and loss a veth pair; with them, a veth pair with tc netem on both ends
 * where the kernel has sch_netem, else a tun pair joined by netns-wire
 * (user space, same delay and loss).  FOCTET_NETNS_IMPAIRMENT=netem or
 * =wire forces one.  Fails the test on error. */
NetnsLab *netns_lab_new (const NetnsLink *link);

/* The NAT lab (nft masquerade, stateful: no port forwards):
 *
 *   A 10.0.1.2 -- 10.0.1.1 NAT_A 198.18.0.1 --+
 *                                              +-- br0 --- 198.18.0.100 PUBLIC
 *   B 10.0.2.2 -- 10.0.2.1 NAT_B 198.18.0.2 --+   (INTERNET, 198.18.0.254)
 *
 * A and B reach PUBLIC through their NATs, which it sees as 198.18.0.1 and
 * .2; nothing reaches A or B from outside unless they began it.  The
 * routers' and PUBLIC's default route is INTERNET's 198.18.0.254, which
 * forwards nothing: packets to a private address vanish as they do on the
 * internet.  Needs nft and sysctl; fails the run with a message without. */
NetnsLab *netns_lab_new_nat (void);

/* The bridge lab: @n_nodes (2 or 3) namespaces A, B (and C) on one LAN,
 * each with LAN0 at 10.78.N.1, .2 (and .3)/24 plugged into the bridge br0
 * of the namespace INTERNET (which has no address), and no route to
 * anything else.  Multicast goes to every port of the bridge (snooping is
 * off), so mDNS works as on a switch. */
NetnsLab *netns_lab_new_bridge (guint n_nodes);
void netns_lab_free (NetnsLab *lab);

/* NULL for a namespace not in the lab's topology. */
const char *netns_lab_get_namespace (NetnsLab *lab,
                                     NetnsSide side);
/* Where the rest of the lab reaches @side: a router's public address;
 * INTERNET's 198.18.0.254. */
const char *netns_lab_get_address (NetnsLab *lab,
                                   NetnsSide side);
/* The interface that holds that address ("br0" for INTERNET). */
const char *netns_lab_get_interface (NetnsLab *lab,
                                     NetnsSide side);
/* "none", "netem" or "wire" */
const char *netns_lab_get_impairment (NetnsLab *lab);

/* Starts @argv inside the namespace of @side (`ip netns exec`) with
 * @launcher's flags and environment (its child setup is replaced: the
 * child is killed when this process dies).  The lab kills what is still
 * running when it is freed. */
GSubprocess *netns_lab_spawn (NetnsLab            *lab,
                              NetnsSide            side,
                              GSubprocessLauncher *launcher,
                              const char * const  *argv,
                              GError             **error);

/* Runs @argv in @side to its end with stdout and stderr captured; fails
 * the test (killing it) after @timeout_seconds.  Returns the exit status,
 * or 128 + signal. */
int netns_lab_run (NetnsLab            *lab,
                   NetnsSide            side,
                   GSubprocessLauncher *launcher,
                   const char * const  *argv,
                   guint                timeout_seconds,
                   char               **out,
                   char               **err);

/* Fails the run with a message naming ./scripts/deps.sh unless every
 * program (NULL-terminated) is in PATH; @purpose says what needs them. */
void netns_require_programs (const char *purpose,
                             const char *first,
                             ...) G_GNUC_NULL_TERMINATED;

/* The sweep netns_init () does: removes every namespace whose name says
 * its owner is gone, and kills what runs in it. */
void netns_sweep (void);
/* "foctet-lab-PID-START", the beginning of the names of the namespaces of
 * process @pid; NULL if there is no such process. */
char *netns_owner_prefix (pid_t pid);

/* Bounded waits on the thread-default main context: FALSE on timeout. */
gboolean netns_wait_process (GSubprocess *process,
                             guint        timeout_seconds);
char *netns_read_line (GDataInputStream *in,
                       guint             timeout_seconds);

/* Seconds a program has to print its first line, or a line a test waits
 * for, or to exit once asked to. */
#define NETNS_START_TIMEOUT 15

/* The lines a program writes (to its stderr), kept in @lines and echoed to
 * the test log as they come, while the thread-default main context runs. */
typedef struct {
  char *name;
  GDataInputStream *in;
  GPtrArray *lines;              /* of char *: every line so far */
  GCancellable *cancellable;
  gboolean reading;
} NetnsLineLog;

NetnsLineLog *netns_line_log_new (const char   *name,
                                  GInputStream *stream);
/* Waits for the read in flight to end (the stream must end or be closed
 * meanwhile: the program exited or was killed). */
void netns_line_log_free (NetnsLineLog *log);
/* The first line from @from on that matches @pattern, waiting for it up
 * to NETNS_START_TIMEOUT; fails the test without one.  @match (may be
 * NULL) gets the groups. */
const char *netns_line_log_wait (NetnsLineLog  *log,
                                 guint          from,
                                 const char    *pattern,
                                 GMatchInfo   **match);

/* A program that runs while the test talks to it: the first line of its
 * stdout, its stderr. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  NetnsLineLog *err;
  char *first_line;
} NetnsDaemon;

/* Starts @argv in @side with @launcher (whose flags it sets to pipe
 * stdout and stderr) and reads its first line; fails the test without one
 * within NETNS_START_TIMEOUT.  @name prefixes its stderr in the log. */
void netns_daemon_start (NetnsDaemon         *daemon,
                         NetnsLab            *lab,
                         NetnsSide            side,
                         GSubprocessLauncher *launcher,
                         const char          *name,
                         const char * const  *argv);
/* Stops it with @signum and checks that it exits 0 in time. */
void netns_daemon_stop (NetnsDaemon *daemon,
                        int          signum);
/* After the process ended, or the lab killed it. */
void netns_daemon_clear (NetnsDaemon *daemon);

/* The fixture of the tests of the relay across the NAT lab: foctet-relay
 * ($FOCTET_RELAY) running in PUBLIC, and a server in A that the test
 * starts. */
typedef struct {
  NetnsLab *lab;
  char *tmpdir;
  GSubprocessLauncher *launcher;
  NetnsDaemon relay;
  char *relay_address;           /* host:port, on PUBLIC */
  NetnsDaemon server;            /* in A */
} NetnsRelayFixture;

/* Fixture functions for g_test_add ().  The setup makes the NAT lab and
 * starts the relay on a free port of PUBLIC's address; it fails the test
 * unless the relay's first line says where ("relay NODEID HOST:PORT").
 * @debug, the test's data, is NULL or a string: G_MESSAGES_DEBUG of the
 * programs the fixture's launcher starts, the relay's included.  The
 * teardown removes the lab (which kills what still runs) and the files. */
void netns_relay_fixture_setup (NetnsRelayFixture *fixture,
                                gconstpointer      debug);
void netns_relay_fixture_teardown (NetnsRelayFixture *fixture,
                                   gconstpointer      debug);

G_END_DECLS

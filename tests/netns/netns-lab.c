/* netns-lab.c: see netns-lab.h.
 *
 * Everything a lab creates lives in its namespaces, so removing those
 * (`ip netns del`, which is umount + unlink of /run/netns/NAME) and
 * killing the processes inside removes it all: the veth or tun devices go
 * with their namespace.  Every process a lab starts asks the kernel to
 * kill it when this process dies (PR_SET_PDEATHSIG), so a fatal signal
 * only has to unlink the names — which a signal handler can do — and a
 * SIGKILL leaves names whose owner is gone, which the next run's sweep
 * removes.  A name carries its owner's pid and start time: other tests
 * using the lab at the same time are alive, whatever their program.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "netns-lab.h"
#include "test-utils.h"

#define NETNS_RUN_DIR "/run/netns"
/* Not the "foctet-nt-" of old, whose sweep took a live owner running
 * another program for a dead one. */
#define NAME_PREFIX "foctet-lab-"
#define MAX_NAMESPACES 32
#define COMMAND_TIMEOUT 15

/* The NAT lab's addresses (netns-lab.h). */
#define NAT_INTERNET_ADDRESS "198.18.0.254"
#define NAT_PUBLIC_ADDRESS "198.18.0.100"

struct _NetnsLab {
  guint number;
  /* By NetnsSide; NULL where the topology has no such namespace. */
  char *namespaces[NETNS_N_SIDES];
  char *interfaces[NETNS_N_SIDES];
  char *addresses[NETNS_N_SIDES];
  int slots[NETNS_N_SIDES];
  const char *impairment;
  GSubprocess *wire;
  GPtrArray *processes;
};

/* The paths a signal handler removes; "" when free.  Written only outside
 * handlers, with the signals that run them blocked. */
static char ns_paths[MAX_NAMESPACES][128];
static guint lab_count;
/* NAME_PREFIX "PID-START" of this process: its namespaces' names begin
 * with it. */
static char *owner_prefix;
static int netem_available = -1;
/* SIGABRT: failed assertions; SIGTRAP: g_error() under G_DEBUG.  Crashes
 * (SIGSEGV...) are left to the sanitizers' reports and the next sweep. */
static const int fatal_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGTRAP };

static void
remove_namespace_paths (void)
{
  for (guint i = 0; i < MAX_NAMESPACES; i++)
    if (ns_paths[i][0] != '\0')
      {
        umount2 (ns_paths[i], MNT_DETACH);
        unlink (ns_paths[i]);
        ns_paths[i][0] = '\0';
      }
}

static void
fatal_signal_handler (int sig)
{
  static const char message[] = "netns-lab: fatal signal: removing the namespaces\n";

  if (write (STDERR_FILENO, message, sizeof message - 1) < 0)
    {
      /* nothing to do about it */
    }
  remove_namespace_paths ();
  /* SA_RESETHAND restored the default action; SA_NODEFER lets it in. */
  raise (sig);
}

static void
block_fatal_signals (sigset_t *old)
{
  sigset_t set;

  sigemptyset (&set);
  for (guint i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    sigaddset (&set, fatal_signals[i]);
  sigprocmask (SIG_BLOCK, &set, old);
}

static int
claim_slot (const char *name)
{
  sigset_t old;
  int slot = -1;

  block_fatal_signals (&old);
  for (int i = 0; i < MAX_NAMESPACES && slot < 0; i++)
    if (ns_paths[i][0] == '\0')
      {
        g_snprintf (ns_paths[i], sizeof ns_paths[i], NETNS_RUN_DIR "/%s", name);
        slot = i;
      }
  sigprocmask (SIG_SETMASK, &old, NULL);
  if (slot < 0)
    g_error ("netns-lab: more than %d namespaces at once", MAX_NAMESPACES);
  return slot;
}

static void
release_slot (int slot)
{
  sigset_t old;

  block_fatal_signals (&old);
  ns_paths[slot][0] = '\0';
  sigprocmask (SIG_SETMASK, &old, NULL);
}

static void
child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Bounded waits.  An operation given up on is cancelled, and its callback
 * still awaited, so that it never writes into a finished frame. */

typedef struct {
  GAsyncResult *result;
  gboolean timed_out;
} Wait;

static void
wait_result_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  g_main_context_wakeup (g_main_context_get_thread_default ());
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  Wait *wait = user_data;

  wait->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates until the result arrived; cancels @cancellable after
 * @timeout_seconds.  Returns the result (transfer full), whatever it says. */
static GAsyncResult *
wait_result (Wait         *wait,
             GCancellable *cancellable,
             guint         timeout_seconds)
{
  GMainContext *context = g_main_context_get_thread_default ();
  GSource *timeout = g_timeout_source_new_seconds (timeout_seconds);
  GAsyncResult *result;

  g_source_set_callback (timeout, wait_timeout_cb, wait, NULL);
  g_source_attach (timeout, context);
  while (wait->result == NULL)
    {
      if (wait->timed_out)
        g_cancellable_cancel (cancellable);
      g_main_context_iteration (context, TRUE);
    }
  g_source_destroy (timeout);
  g_source_unref (timeout);
  result = wait->result;
  wait->result = NULL;
  return result;
}

gboolean
netns_wait_process (GSubprocess *process,
                    guint        timeout_seconds)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  Wait wait = { 0 };

  g_subprocess_wait_async (process, cancellable, wait_result_cb, &wait);
  result = wait_result (&wait, cancellable, timeout_seconds);
  return g_subprocess_wait_finish (process, result, NULL);
}

char *
netns_read_line (GDataInputStream *in,
                 guint             timeout_seconds)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  Wait wait = { 0 };

  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, cancellable, wait_result_cb, &wait);
  result = wait_result (&wait, cancellable, timeout_seconds);
  return g_data_input_stream_read_line_finish_utf8 (in, result, NULL, NULL);
}

static int
exit_status_of (GSubprocess *process)
{
  if (g_subprocess_get_if_signaled (process))
    return 128 + g_subprocess_get_term_sig (process);
  return g_subprocess_get_exit_status (process);
}

/* Runs @argv in this namespace; returns the exit status, or -1 when it
 * could not start or timed out (then @out says why). */
static int
run_argv (GSubprocessLauncher *launcher,
          const char * const  *argv,
          guint                timeout_seconds,
          char               **out,
          char               **err)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  Wait wait = { 0 };

  g_subprocess_launcher_set_flags (launcher, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (process == NULL)
    {
      *out = g_strdup (error->message);
      *err = g_strdup ("");
      return -1;
    }
  g_subprocess_communicate_utf8_async (process, NULL, cancellable, wait_result_cb, &wait);
  result = wait_result (&wait, cancellable, timeout_seconds);
  if (!g_subprocess_communicate_utf8_finish (process, result, out, err, &error))
    {
      g_autofree char *command = g_strjoinv (" ", (char **) argv);

      g_subprocess_force_exit (process);
      netns_wait_process (process, 5);
      *out = g_strdup_printf ("“%s” did not finish within %u s (%s)", command, timeout_seconds,
                              error->message);
      *err = g_strdup ("");
      return -1;
    }
  return exit_status_of (process);
}

/* A set-up command: fails the test unless it succeeds. */
static void
run_checked (const char *first,
             ...)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL, *err = NULL, *command = NULL;
  va_list args;
  int status;

  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  status = run_argv (launcher, (const char * const *) argv->pdata, COMMAND_TIMEOUT, &out, &err);
  if (status != 0)
    {
      command = g_strjoinv (" ", (char **) argv->pdata);
      g_error ("netns-lab: “%s” failed (%d): %s%s", command, status, out, err);
    }
}

/* Like run_checked() but only says whether it worked. */
static gboolean
run_quietly (const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *out = NULL, *err = NULL;

  return run_argv (launcher, argv, COMMAND_TIMEOUT, &out, &err) == 0;
}

/* The namespaces of runs that died without removing them: named with our
 * prefix, and no process has the pid and start time in the name. */

/* Field 22 of /proc/PID/stat, in clock ticks since boot: with the pid, it
 * names one process for good. */
static gboolean
process_start_time (pid_t    pid,
                    guint64 *start)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after_comm;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (after_comm = strrchr (stat, ')')) == NULL)
    return FALSE;
  /* Fields 3 onwards: state is fields[0], the start time fields[19]. */
  fields = g_strsplit (after_comm + 2, " ", 21);
  if (g_strv_length (fields) < 21)
    return FALSE;
  *start = g_ascii_strtoull (fields[19], NULL, 10);
  return TRUE;
}

char *
netns_owner_prefix (pid_t pid)
{
  guint64 start;

  if (!process_start_time (pid, &start))
    return NULL;
  return g_strdup_printf (NAME_PREFIX "%d-%" G_GUINT64_FORMAT, (int) pid, start);
}

/* Whether @name ("PREFIX" "PID-START-...") belongs to a live process. */
static gboolean
owner_alive (const char *name)
{
  const char *tag = name + strlen (NAME_PREFIX);
  char *end = NULL;
  guint64 pid, start, actual;

  pid = g_ascii_strtoull (tag, &end, 10);
  if (pid == 0 || pid > G_MAXINT || *end != '-')
    return FALSE;
  start = g_ascii_strtoull (end + 1, &end, 10);
  if (*end != '-')
    return FALSE;
  return process_start_time ((pid_t) pid, &actual) && actual == start;
}

void
netns_sweep (void)
{
  g_autoptr(GDir) dir = g_dir_open (NETNS_RUN_DIR, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      const char *ip_pids[] = { "ip", "netns", "pids", name, NULL };
      const char *ip_del[] = { "ip", "netns", "del", name, NULL };
      g_autoptr(GSubprocessLauncher) launcher = NULL;
      g_autofree char *out = NULL, *err = NULL, *path = NULL;
      g_auto(GStrv) pids = NULL;
      int status;

      if (!g_str_has_prefix (name, NAME_PREFIX) || owner_alive (name))
        continue;

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
      if (run_argv (launcher, ip_pids, COMMAND_TIMEOUT, &out, &err) == 0)
        {
          pids = g_strsplit (out, "\n", -1);
          for (guint i = 0; pids[i] != NULL; i++)
            if (pids[i][0] != '\0')
              kill ((pid_t) g_ascii_strtoull (pids[i], NULL, 10), SIGKILL);
        }
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      /* Another test program's sweep, started at the same time, may have
       * removed it first. */
      status = run_argv (launcher, ip_del, COMMAND_TIMEOUT, &out, &err);
      path = g_build_filename (NETNS_RUN_DIR, name, NULL);
      if (status == 0)
        g_printerr ("netns-lab: removed stale namespace %s\n", name);
      else if (g_file_test (path, G_FILE_TEST_EXISTS))
        g_error ("netns-lab: “ip netns del %s” failed (%d): %s%s", name, status, out, err);
    }
}

static void
remove_at_exit (void)
{
  remove_namespace_paths ();
}

static G_NORETURN void
bail_out (const char *format,
          ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  /* TAP's way to fail a whole run, with the reason. */
  printf ("Bail out! %s\n", message);
  fflush (stdout);
  g_printerr ("%s\n", message);
  exit (1);
}

void
netns_require_programs (const char *purpose,
                        const char *first,
                        ...)
{
  g_autoptr(GString) missing = g_string_new (NULL);
  va_list args;

  va_start (args, first);
  for (const char *name = first; name != NULL; name = va_arg (args, const char *))
    {
      g_autofree char *path = g_find_program_in_path (name);

      if (path == NULL)
        g_string_append_printf (missing, "%s`%s`", missing->len > 0 ? ", " : "", name);
    }
  va_end (args);
  if (missing->len > 0)
    bail_out ("%s: %s not found in PATH (./scripts/deps.sh installs what the tests need)", purpose,
              missing->str);
}

void
netns_init (void)
{
  g_autofree char *probe = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *out = NULL, *err = NULL;
  struct sigaction sa;
  int slot;

  if (geteuid () != 0)
    bail_out ("netns tests need root to create network namespaces (CI runs them as root); "
              "run them with sudo, or leave out the suite: meson test --no-suite netns");
  netns_require_programs ("netns tests need `ip` (iproute2)", "ip", NULL);
  owner_prefix = netns_owner_prefix (getpid ());
  if (owner_prefix == NULL)
    bail_out ("netns tests: cannot read this process's start time in /proc/%d/stat", (int) getpid ());

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = fatal_signal_handler;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (guint i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    sigaction (fatal_signals[i], &sa, NULL);
  atexit (remove_at_exit);

  netns_sweep ();

  probe = g_strconcat (owner_prefix, "-probe", NULL);
  {
    const char *add[] = { "ip", "netns", "add", probe, NULL };
    const char *del[] = { "ip", "netns", "del", probe, NULL };

    slot = claim_slot (probe);
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
    if (run_argv (launcher, add, COMMAND_TIMEOUT, &out, &err) != 0)
      bail_out ("netns tests: `ip netns add %s` failed, this machine cannot make network namespaces: %s%s",
                probe, g_strchomp (out), g_strchomp (err));
    run_quietly (del);
    release_slot (slot);
  }
}

static gboolean
want_netem (NetnsLab *lab)
{
  const char *forced = g_getenv ("FOCTET_NETNS_IMPAIRMENT");

  if (forced != NULL && g_str_equal (forced, "wire"))
    return FALSE;
  if (netem_available < 0)
    {
      const char *add[] = { "tc", "-n", lab->namespaces[0], "qdisc", "add", "dev", "lo", "root",
                            "netem", "delay", "1ms", NULL };
      const char *del[] = { "tc", "-n", lab->namespaces[0], "qdisc", "del", "dev", "lo", "root", NULL };

      netem_available = run_quietly (add);
      if (netem_available)
        run_quietly (del);
      else
        g_test_message ("this kernel has no sch_netem: delay and loss come from netns-wire");
    }
  if (forced != NULL && g_str_equal (forced, "netem") && !netem_available)
    g_error ("netns-lab: FOCTET_NETNS_IMPAIRMENT=netem, but `tc qdisc add ... netem` fails here");
  return netem_available;
}

static void
start_wire (NetnsLab        *lab,
            const NetnsLink *link)
{
  const char *wire = g_getenv ("FOCTET_NETNS_WIRE");
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *delay = g_strdup_printf ("%u", link->delay_ms);
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, link->seed);
  g_autofree char *line = NULL;
  char loss[G_ASCII_DTOSTR_BUF_SIZE];

  if (wire == NULL)
    g_error ("netns-lab: FOCTET_NETNS_WIRE is not set (meson sets it to the netns-wire it built)");
  g_ascii_dtostr (loss, sizeof loss, link->loss_percent);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  lab->wire = g_subprocess_launcher_spawn (launcher, &error, wire,
                                           lab->namespaces[0], lab->interfaces[0],
                                           lab->namespaces[1], lab->interfaces[1],
                                           delay, loss, seed, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (lab->wire));
  line = netns_read_line (out, COMMAND_TIMEOUT);
  if (g_strcmp0 (line, "ready") != 0)
    g_error ("netns-lab: netns-wire did not start (it said “%s”)", line != NULL ? line : "nothing");
}

static NetnsLab *
lab_alloc (void)
{
  NetnsLab *lab = g_new0 (NetnsLab, 1);

  lab->number = lab_count++;
  lab->processes = g_ptr_array_new_with_free_func (g_object_unref);
  for (int i = 0; i < NETNS_N_SIDES; i++)
    lab->slots[i] = -1;
  return lab;
}

/* Namespace "PREFIX-PID-START-N-SUFFIX" for @side, loopback up. */
static void
lab_add_namespace (NetnsLab   *lab,
                   NetnsSide   side,
                   const char *suffix)
{
  char *name = g_strdup_printf ("%s-%u-%s", owner_prefix, lab->number, suffix);

  lab->namespaces[side] = name;
  lab->slots[side] = claim_slot (name);
  run_checked ("ip", "netns", "add", name, NULL);
  run_checked ("ip", "-n", name, "link", "set", "lo", "up", NULL);
}

/* What netns_lab_get_interface () and _get_address () say for @side. */
static void
lab_set_host (NetnsLab   *lab,
              NetnsSide   side,
              const char *interface,
              const char *address)
{
  lab->interfaces[side] = g_strdup (interface);
  lab->addresses[side] = g_strdup (address);
}

/* ADDRESS/24 on @interface of @side, the link up. */
static void
lab_add_address (NetnsLab   *lab,
                 NetnsSide   side,
                 const char *interface,
                 const char *address)
{
  g_autofree char *cidr = g_strdup_printf ("%s/24", address);

  run_checked ("ip", "-n", lab->namespaces[side], "addr", "add", cidr, "dev", interface, NULL);
  run_checked ("ip", "-n", lab->namespaces[side], "link", "set", interface, "up", NULL);
}

/* A veth pair, one end in each namespace. */
static void
lab_add_veth (NetnsLab   *lab,
              NetnsSide   side,
              const char *interface,
              NetnsSide   peer_side,
              const char *peer_interface)
{
  run_checked ("ip", "link", "add", interface, "netns", lab->namespaces[side], "type", "veth",
               "peer", "name", peer_interface, "netns", lab->namespaces[peer_side], NULL);
}

NetnsLab *
netns_lab_new (const NetnsLink *link)
{
  NetnsLab *lab = lab_alloc ();
  gboolean impaired = link->delay_ms > 0 || link->loss_percent > 0;

  for (int i = 0; i < 2; i++)
    {
      g_autofree char *suffix = g_strdup_printf ("%c", 'a' + i);
      g_autofree char *interface = g_strdup_printf ("f%c0", 'a' + i);
      g_autofree char *address = g_strdup_printf ("10.77.%u.%d", lab->number % 256, i + 1);

      lab_add_namespace (lab, i, suffix);
      lab_set_host (lab, i, interface, address);
    }

  if (!impaired || want_netem (lab))
    {
      lab->impairment = impaired ? "netem" : "none";
      lab_add_veth (lab, NETNS_SIDE_A, lab->interfaces[0], NETNS_SIDE_B, lab->interfaces[1]);
      for (int i = 0; impaired && i < 2; i++)
        {
          g_autofree char *delay = g_strdup_printf ("%ums", link->delay_ms);
          g_autofree char *loss = g_strdup_printf ("%g%%", link->loss_percent);

          run_checked ("tc", "-n", lab->namespaces[i], "qdisc", "add", "dev", lab->interfaces[i], "root",
                       "netem", "delay", delay, "loss", loss, "limit", "10000", NULL);
        }
    }
  else
    {
      lab->impairment = "wire";
      start_wire (lab, link);
    }

  for (int i = 0; i < 2; i++)
    lab_add_address (lab, i, lab->interfaces[i], lab->addresses[i]);
  g_test_message ("lab %s/%s: %s %s <-> %s %s, delay %u ms, loss %g%% each way (%s)",
                  lab->namespaces[0], lab->namespaces[1], lab->interfaces[0], lab->addresses[0],
                  lab->interfaces[1], lab->addresses[1], link->delay_ms, link->loss_percent, lab->impairment);
  return lab;
}

/* A router: LAN_PREFIX.1 towards @node (at LAN_PREFIX.2, routed through
 * it), @wan_address on the bridge; masquerades what leaves by the bridge,
 * forwards from the bridge only what answers the LAN. */
static void
lab_add_nat (NetnsLab   *lab,
             NetnsSide   node,
             NetnsSide   nat,
             const char *suffix,
             const char *lan_prefix,
             const char *wan_address)
{
  static const char ruleset[] =
    "table ip foctet-nat {\n"
    "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n"
    "    oifname \"wan0\" masquerade; };\n"
    "  chain forward { type filter hook forward priority filter; policy drop;\n"
    "    ct state established,related accept;\n"
    "    iifname \"lan0\" oifname \"wan0\" accept; };\n"
    "}\n";
  g_autofree char *node_address = g_strconcat (lan_prefix, ".2", NULL);
  g_autofree char *gateway = g_strconcat (lan_prefix, ".1", NULL);
  g_autofree char *bridge_port = g_strconcat ("to-", suffix, NULL);

  lab_add_namespace (lab, nat, suffix);
  lab_add_veth (lab, nat, "wan0", NETNS_SIDE_INTERNET, bridge_port);
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "set", bridge_port,
               "master", "br0", "up", NULL);
  lab_add_address (lab, nat, "wan0", wan_address);
  lab_set_host (lab, nat, "wan0", wan_address);
  run_checked ("ip", "-n", lab->namespaces[nat], "route", "add", "default", "via", NAT_INTERNET_ADDRESS, NULL);

  lab_add_veth (lab, node, "lan0", nat, "lan0");
  lab_add_address (lab, nat, "lan0", gateway);
  lab_add_address (lab, node, "lan0", node_address);
  lab_set_host (lab, node, "lan0", node_address);
  run_checked ("ip", "-n", lab->namespaces[node], "route", "add", "default", "via", gateway, NULL);

  run_checked ("ip", "netns", "exec", lab->namespaces[nat], "sysctl", "-qw", "net.ipv4.ip_forward=1", NULL);
  run_checked ("ip", "netns", "exec", lab->namespaces[nat], "nft", ruleset, NULL);
}

NetnsLab *
netns_lab_new_nat (void)
{
  NetnsLab *lab;

  netns_require_programs ("the NAT lab needs nftables and procps", "nft", "sysctl", NULL);
  lab = lab_alloc ();
  lab->impairment = "none";
  lab_add_namespace (lab, NETNS_SIDE_A, "a");
  lab_add_namespace (lab, NETNS_SIDE_B, "b");
  lab_add_namespace (lab, NETNS_SIDE_INTERNET, "inet");
  lab_add_namespace (lab, NETNS_SIDE_PUBLIC, "pub");

  /* The internet: a bridge, and an address that forwards nothing. */
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "add", "br0", "type", "bridge", NULL);
  lab_add_address (lab, NETNS_SIDE_INTERNET, "br0", NAT_INTERNET_ADDRESS);
  lab_set_host (lab, NETNS_SIDE_INTERNET, "br0", NAT_INTERNET_ADDRESS);

  lab_add_veth (lab, NETNS_SIDE_PUBLIC, "pub0", NETNS_SIDE_INTERNET, "to-pub");
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "set", "to-pub",
               "master", "br0", "up", NULL);
  lab_add_address (lab, NETNS_SIDE_PUBLIC, "pub0", NAT_PUBLIC_ADDRESS);
  lab_set_host (lab, NETNS_SIDE_PUBLIC, "pub0", NAT_PUBLIC_ADDRESS);
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_PUBLIC], "route", "add", "default",
               "via", NAT_INTERNET_ADDRESS, NULL);

  lab_add_nat (lab, NETNS_SIDE_A, NETNS_SIDE_NAT_A, "nat-a", "10.0.1", "198.18.0.1");
  lab_add_nat (lab, NETNS_SIDE_B, NETNS_SIDE_NAT_B, "nat-b", "10.0.2", "198.18.0.2");

  g_test_message ("NAT lab %s-%u-{a,b,nat-a,nat-b,inet,pub}: A %s behind %s, B %s behind %s, "
                  "public %s", owner_prefix, lab->number,
                  lab->addresses[NETNS_SIDE_A], lab->addresses[NETNS_SIDE_NAT_A],
                  lab->addresses[NETNS_SIDE_B], lab->addresses[NETNS_SIDE_NAT_B],
                  lab->addresses[NETNS_SIDE_PUBLIC]);
  return lab;
}

NetnsLab *
netns_lab_new_bridge (guint n_nodes)
{
  static const NetnsSide nodes[] = { NETNS_SIDE_A, NETNS_SIDE_B, NETNS_SIDE_C };
  NetnsLab *lab;

  g_assert (n_nodes >= 2 && n_nodes <= G_N_ELEMENTS (nodes));
  lab = lab_alloc ();
  lab->impairment = "none";
  lab_add_namespace (lab, NETNS_SIDE_INTERNET, "lan");
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "add", "br0", "type", "bridge",
               "mcast_snooping", "0", NULL);
  run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "set", "br0", "up", NULL);
  lab_set_host (lab, NETNS_SIDE_INTERNET, "br0", "");

  for (guint i = 0; i < n_nodes; i++)
    {
      g_autofree char *suffix = g_strdup_printf ("%c", 'a' + i);
      g_autofree char *port = g_strdup_printf ("to-%c", 'a' + i);
      g_autofree char *address = g_strdup_printf ("10.78.%u.%u", lab->number % 256, i + 1);

      lab_add_namespace (lab, nodes[i], suffix);
      lab_add_veth (lab, nodes[i], "lan0", NETNS_SIDE_INTERNET, port);
      run_checked ("ip", "-n", lab->namespaces[NETNS_SIDE_INTERNET], "link", "set", port, "master", "br0", "up", NULL);
      lab_add_address (lab, nodes[i], "lan0", address);
      lab_set_host (lab, nodes[i], "lan0", address);
    }

  g_test_message ("bridge lab %s-%u-{a,b%s,lan}: %u nodes on br0, 10.78.%u.0/24", owner_prefix, lab->number,
                  n_nodes > 2 ? ",c" : "", n_nodes, lab->number % 256);
  return lab;
}

void
netns_lab_free (NetnsLab *lab)
{
  for (guint i = 0; i < lab->processes->len; i++)
    {
      GSubprocess *process = g_ptr_array_index (lab->processes, i);

      g_subprocess_force_exit (process);
      if (!netns_wait_process (process, COMMAND_TIMEOUT))
        g_error ("netns-lab: a process did not end after SIGKILL");
    }
  if (lab->wire != NULL)
    {
      g_subprocess_send_signal (lab->wire, SIGTERM);
      if (!netns_wait_process (lab->wire, COMMAND_TIMEOUT))
        g_error ("netns-lab: netns-wire did not end after SIGTERM");
      g_clear_object (&lab->wire);
    }
  for (int i = 0; i < NETNS_N_SIDES; i++)
    {
      if (lab->namespaces[i] != NULL)
        {
          run_checked ("ip", "netns", "del", lab->namespaces[i], NULL);
          release_slot (lab->slots[i]);
        }
      g_free (lab->namespaces[i]);
      g_free (lab->interfaces[i]);
      g_free (lab->addresses[i]);
    }
  g_ptr_array_unref (lab->processes);
  g_free (lab);
}

const char *
netns_lab_get_namespace (NetnsLab *lab,
                         NetnsSide side)
{
  return lab->namespaces[side];
}

const char *
netns_lab_get_address (NetnsLab *lab,
                       NetnsSide side)
{
  return lab->addresses[side];
}

const char *
netns_lab_get_interface (NetnsLab *lab,
                         NetnsSide side)
{
  return lab->interfaces[side];
}

const char *
netns_lab_get_impairment (NetnsLab *lab)
{
  return lab->impairment;
}

static GPtrArray *
in_namespace (NetnsLab           *lab,
              NetnsSide           side,
              const char * const *argv)
{
  GPtrArray *full = g_ptr_array_new ();

  g_assert (lab->namespaces[side] != NULL);
  g_ptr_array_add (full, (char *) "ip");
  g_ptr_array_add (full, (char *) "netns");
  g_ptr_array_add (full, (char *) "exec");
  g_ptr_array_add (full, lab->namespaces[side]);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (char *) argv[i]);
  g_ptr_array_add (full, NULL);
  return full;
}

GSubprocess *
netns_lab_spawn (NetnsLab            *lab,
                 NetnsSide            side,
                 GSubprocessLauncher *launcher,
                 const char * const  *argv,
                 GError             **error)
{
  g_autoptr(GPtrArray) full = in_namespace (lab, side, argv);
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) full->pdata, error);
  if (process != NULL)
    g_ptr_array_add (lab->processes, g_object_ref (process));
  return process;
}

int
netns_lab_run (NetnsLab            *lab,
               NetnsSide            side,
               GSubprocessLauncher *launcher,
               const char * const  *argv,
               guint                timeout_seconds,
               char               **out,
               char               **err)
{
  g_autoptr(GPtrArray) full = in_namespace (lab, side, argv);
  int status = run_argv (launcher, (const char * const *) full->pdata, timeout_seconds, out, err);

  if (status < 0)
    g_error ("netns-lab: in %s: %s", lab->namespaces[side], *out);
  return status;
}

/* Programs' output */

static void line_log_read_next (NetnsLineLog *log);

static void
line_log_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  NetnsLineLog *log = user_data;
  char *line = g_data_input_stream_read_line_finish_utf8 (log->in, result, NULL, NULL);

  log->reading = FALSE;
  if (line == NULL)
    return;
  g_printerr ("[%s] %s\n", log->name, line);
  g_ptr_array_add (log->lines, line);
  line_log_read_next (log);
}

static void
line_log_read_next (NetnsLineLog *log)
{
  log->reading = TRUE;
  g_data_input_stream_read_line_async (log->in, G_PRIORITY_DEFAULT, log->cancellable, line_log_read_cb, log);
}

NetnsLineLog *
netns_line_log_new (const char   *name,
                    GInputStream *stream)
{
  NetnsLineLog *log = g_new0 (NetnsLineLog, 1);

  log->name = g_strdup (name);
  log->in = g_data_input_stream_new (stream);
  log->lines = g_ptr_array_new_with_free_func (g_free);
  log->cancellable = g_cancellable_new ();
  line_log_read_next (log);
  return log;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
netns_line_log_free (NetnsLineLog *log)
{
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (NETNS_START_TIMEOUT, set_flag_cb, &timed_out);

  /* The read in flight must end before its buffer goes. */
  g_cancellable_cancel (log->cancellable);
  while (log->reading && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (log->reading)
    g_error ("the read of %s's stderr did not end", log->name);
  g_source_remove (timeout);
  g_object_unref (log->cancellable);
  g_ptr_array_unref (log->lines);
  g_object_unref (log->in);
  g_free (log->name);
  g_free (log);
}

const char *
netns_line_log_wait (NetnsLineLog  *log,
                     guint          from,
                     const char    *pattern,
                     GMatchInfo   **match)
{
  g_autoptr(GRegex) regex = g_regex_new (pattern, 0, 0, NULL);
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (NETNS_START_TIMEOUT, set_flag_cb, &timed_out);

  g_assert_nonnull (regex);
  for (guint i = from;; i++)
    {
      while (i >= log->lines->len && log->reading && !timed_out)
        g_main_context_iteration (NULL, TRUE);
      if (i >= log->lines->len)
        break;
      if (g_regex_match (regex, g_ptr_array_index (log->lines, i), 0, match))
        {
          if (!timed_out)
            g_source_remove (timeout);
          return g_ptr_array_index (log->lines, i);
        }
      if (match != NULL)
        g_clear_pointer (match, g_match_info_free);
    }
  if (!timed_out)
    g_source_remove (timeout);
  g_error ("%s wrote no line matching “%s” within %d s", log->name, pattern, NETNS_START_TIMEOUT);
}

void
netns_daemon_start (NetnsDaemon         *daemon,
                    NetnsLab            *lab,
                    NetnsSide            side,
                    GSubprocessLauncher *launcher,
                    const char          *name,
                    const char * const  *argv)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_launcher_set_flags (launcher, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  daemon->process = netns_lab_spawn (lab, side, launcher, argv, &error);
  g_assert_no_error (error);
  daemon->err = netns_line_log_new (name, g_subprocess_get_stderr_pipe (daemon->process));
  daemon->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon->process));
  daemon->first_line = netns_read_line (daemon->out, NETNS_START_TIMEOUT);
  if (daemon->first_line == NULL)
    g_error ("%s printed nothing on stdout within %d s", name, NETNS_START_TIMEOUT);
}

void
netns_daemon_stop (NetnsDaemon *daemon,
                   int          signum)
{
  g_subprocess_send_signal (daemon->process, signum);
  g_assert_true (netns_wait_process (daemon->process, NETNS_START_TIMEOUT));
  g_assert_true (g_subprocess_get_if_exited (daemon->process));
  g_assert_cmpint (g_subprocess_get_exit_status (daemon->process), ==, 0);
}

void
netns_daemon_clear (NetnsDaemon *daemon)
{
  g_clear_pointer (&daemon->err, netns_line_log_free);
  g_clear_object (&daemon->out);
  g_clear_object (&daemon->process);
  g_clear_pointer (&daemon->first_line, g_free);
}

/* The relay tests' fixture */

void
netns_relay_fixture_setup (NetnsRelayFixture *fixture,
                           gconstpointer      debug)
{
  g_autofree char *identity = NULL, *public_prefix = NULL, *listen = NULL;
  g_auto(GStrv) words = NULL;

  fixture->lab = netns_lab_new_nat ();
  fixture->tmpdir = foctet_test_make_tmpdir ();
  fixture->launcher = foctet_test_launcher_new (fixture->tmpdir, G_SUBPROCESS_FLAGS_NONE);
  if (debug != NULL)
    g_subprocess_launcher_setenv (fixture->launcher, "G_MESSAGES_DEBUG", debug, TRUE);

  identity = g_build_filename (fixture->tmpdir, "relay", NULL);
  public_prefix = g_strconcat (netns_lab_get_address (fixture->lab, NETNS_SIDE_PUBLIC), ":", NULL);
  listen = g_strconcat (public_prefix, "0", NULL);
  {
    const char *argv[] = { g_getenv ("FOCTET_RELAY"), "--identity", identity, "--listen", listen, NULL };

    netns_daemon_start (&fixture->relay, fixture->lab, NETNS_SIDE_PUBLIC, fixture->launcher, "relay", argv);
  }
  /* "relay <NodeId> <host:port>" */
  words = g_strsplit (fixture->relay.first_line, " ", -1);
  g_assert_cmpuint (g_strv_length (words), ==, 3);
  g_assert_cmpstr (words[0], ==, "relay");
  g_assert_cmpuint (strlen (words[1]), ==, 52);
  g_assert_true (g_str_has_prefix (words[2], public_prefix));
  fixture->relay_address = g_strdup (words[2]);
}

void
netns_relay_fixture_teardown (NetnsRelayFixture *fixture,
                              gconstpointer      debug)
{
  /* The lab kills what still runs, which ends the stderr pipes. */
  g_clear_pointer (&fixture->lab, netns_lab_free);
  netns_daemon_clear (&fixture->server);
  netns_daemon_clear (&fixture->relay);
  g_free (fixture->relay_address);
  g_clear_object (&fixture->launcher);
  foctet_test_remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
}

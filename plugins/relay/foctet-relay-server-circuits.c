/* foctet-relay-server-circuits.c: circuits and splicing (the relay side
 * of docs/protocol.md, "Relay control": connect/1 and incoming/1,
 * connect-raw/1 and incoming-raw/1, the raw port).
 *
 * A dialer's connect stream becomes one half of a circuit, an incoming
 * stream the relay opens on the connection that holds the target's
 * reservation the other, and two pipes copy bytes between them.  A pipe
 * has one buffer and reads again only once what it read is written:
 * back-pressure from either end reaches the other, and a circuit holds
 * at most two buffers however fast its ends are.
 *
 * A raw circuit is set up the same way on connect-raw and incoming-raw
 * streams, but carries its bytes on two TCP connections to the raw port,
 * each claimed with a one-time token; foctet-relay-splice.c moves them
 * socket to socket.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <foctet-remote-address.h>

#include "foctet-relay-server-private.h"
#include "foctet-relay-message.h"
#include "foctet-relay-splice.h"
#include "foctet-relay-bucket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <foctet-host-port.h>

/* ------------------------------------------------------------------ */
/* Circuits                                                            */

/* A circuit of either kind is set up the same way: the dialer's CONNECT
 * on its stream (connect/1, connect-raw/1), checked against the limits;
 * an incoming stream (incoming/1, incoming-raw/1) opened on the target's
 * connection and its answer read; the answer passed on to the dialer.
 * Only then do the kinds part: a v1 circuit splices the two control
 * streams, a raw circuit two TCP connections to the raw port, each
 * claimed with a one-time token.  Either counts in the limits from the
 * moment its request passed them, and logs one line when it ends. */

typedef struct _Circuit Circuit;

/* What one node (NodeId) has in circuits, as dialer or target: how many,
 * and the rate limits (--rate-per-client) all of them share. */
typedef struct {
  guint circuits;
  RelayBucket send;                   /* bytes it sends through the relay */
  RelayBucket receive;                /* bytes the relay sends it */
} CircuitClient;

enum { CIRCUIT_DIALER, CIRCUIT_TARGET };

/* What a spliced circuit moved, as its kind counts it. */
typedef struct {
  guint64 up;                         /* bytes, dialer → target */
  guint64 down;                       /* bytes, target → dialer */
  gboolean up_done;                   /* that direction ended normally */
  gboolean down_done;
  gint64 last_activity;               /* monotonic µs */
} CircuitTraffic;

/* What sets a v1 circuit and a raw one apart. */
typedef struct {
  const char *name;                   /* of the circuit, in log lines */
  const char *stream;                 /* the dialer's stream, for messages */
  const char *incoming;               /* the protocol of the target's stream */
  FoctetRelayMessageSet messages;     /* what the dialer's and the target's streams carry */
  guint64 memory;                     /* the buffers the circuit holds */
  gsize size;                         /* of the structure that begins with its Circuit */
  /* The first message on the target's stream, INCOMING or INCOMING_RAW;
   * %NULL if the dialer's address does not make one. */
  FoctetRelayMessage *(*incoming_new) (Circuit *c, GError **error);
  /* The target's stream failed before its answer: while the relay wrote
   * to it (@answering FALSE) or read the answer.  Refuses @c. */
  void (*target_failed) (Circuit *c, gboolean answering, const GError *error);
  /* The target answered OK: tells the dialer, and goes on. */
  void (*accepted) (Circuit *c);
  void (*traffic) (Circuit *c, CircuitTraffic *traffic);
  /* @c ends (the server is @self no more): ends what its kind holds,
   * with resets if @abort. */
  void (*stop) (Circuit *c, RelayServer *self, gboolean abort);
  /* Frees what its kind holds, with @c. */
  void (*free) (Circuit *c);
} CircuitKind;

/* The part of a circuit its kind does not change; the first member of
 * a V1Circuit and of a RawCircuit. */
struct _Circuit {
  const CircuitKind *kind;
  grefcount refs;
  RelayServer *server;                /* NULL once the circuit is over */
  FoctetConnection *dialer_connection;
  FoctetStream *dialer;               /* the connect stream */
  FoctetStream *target;               /* the incoming stream */
  char *dialer_key;
  char *target_key;                   /* NULL until CONNECT was read */
  char *dialer_address;
  GCancellable *cancellable;
  GSource *timer;                     /* request/answer timeout (raw: then claim), then idle */
  gint64 started;                     /* monotonic µs, splicing began */
  CircuitClient *clients[2];          /* the dialer's, the target's; while counted */
  gboolean counted;                   /* holds slots of the limits */
  gboolean answered;                  /* raw: the dialer got RAW_CIRCUIT, its stream's last message */
  gboolean spliced;
  gboolean closed_by_end;             /* ended by a node closing its connection */
};

static Circuit *
circuit_ref (Circuit *c)
{
  g_ref_count_inc (&c->refs);
  return c;
}

static void
circuit_unref (Circuit *c)
{
  if (!g_ref_count_dec (&c->refs))
    return;
  g_assert (c->server == NULL);
  relay_clear_source (&c->timer);
  c->kind->free (c);
  g_clear_object (&c->dialer_connection);
  g_clear_object (&c->dialer);
  g_clear_object (&c->target);
  g_clear_object (&c->cancellable);
  g_free (c->dialer_key);
  g_free (c->target_key);
  g_free (c->dialer_address);
  g_free (c);
}

/* One more circuit of the node @key: its entry, made if it had none. */
static CircuitClient *
circuit_client_add (RelayServer *self,
                    const char  *key)
{
  CircuitClient *client = g_hash_table_lookup (self->client_circuits, key);

  if (client == NULL)
    {
      double rate = (double) self->rate_per_client;
      /* A burst of at most a tenth of a second, and at least 64 KiB. */
      double burst = MAX (rate / 10, 64.0 * 1024);
      gint64 now = g_get_monotonic_time ();

      client = g_new0 (CircuitClient, 1);
      relay_bucket_init (&client->send, rate, burst, now);
      relay_bucket_init (&client->receive, rate, burst, now);
      g_hash_table_insert (self->client_circuits, g_strdup (key), client);
    }
  client->circuits++;
  return client;
}

/* One circuit of @key less; the entry goes with the last. */
static void
circuit_client_remove (RelayServer *self,
                       const char  *key)
{
  CircuitClient *client = g_hash_table_lookup (self->client_circuits, key);

  if (--client->circuits == 0)
    g_hash_table_remove (self->client_circuits, key);
}

static guint
client_count (RelayServer *self,
              const char  *key)
{
  CircuitClient *client = g_hash_table_lookup (self->client_circuits, key);

  return client != NULL ? client->circuits : 0;
}

/* The rate limits of @c's direction from the dialer (@up) or to it, in
 * @limits: its own (@own: NULL if it has none of its own), the sending
 * node's and the receiving node's.  Returns how many it set. */
static guint
circuit_limits (Circuit      *c,
                gboolean      up,
                RelayBucket  *own,
                RelayBucket **limits)
{
  CircuitClient *from = c->clients[up ? CIRCUIT_DIALER : CIRCUIT_TARGET];
  CircuitClient *to = c->clients[up ? CIRCUIT_TARGET : CIRCUIT_DIALER];
  guint n = 0;

  if (own != NULL && own->rate > 0)
    limits[n++] = own;
  if (from->send.rate > 0)
    {
      limits[n++] = &from->send;
      limits[n++] = &to->receive;
    }
  return n;
}

/* Ends @c: @why NULL for a circuit both ends closed normally, else its
 * streams are reset (but for the dialer's of a raw circuit once it was
 * answered: RAW_CIRCUIT ended it).  Logs the circuit's line once it was
 * spliced. */
static void
circuit_end (Circuit    *c,
             const char *why)
{
  RelayServer *self = c->server;

  if (self == NULL)
    return;
  c->server = NULL;
  relay_clear_source (&c->timer);
  g_cancellable_cancel (c->cancellable);
  if (why != NULL)
    {
      if (!c->answered)
        foctet_stream_reset (c->dialer, FOCTET_CLOSE_CODE_GOING_AWAY);
      if (c->target != NULL)
        foctet_stream_reset (c->target, FOCTET_CLOSE_CODE_GOING_AWAY);
    }
  if (c->spliced)
    {
      double seconds = (g_get_monotonic_time () - c->started) / (double) G_USEC_PER_SEC;
      CircuitTraffic traffic;

      c->kind->traffic (c, &traffic);
      self->stats.circuits_active--;
      /* Another error after one side finished (it half-closed, then
       * something failed before the other side's end came back) ends a
       * circuit that did its job. */
      g_message ("%s %s (%s) -> %s: %" G_GUINT64_FORMAT " bytes up, %" G_GUINT64_FORMAT
                 " bytes down, %.3f s, %s%s",
                 c->kind->name, c->dialer_key, c->dialer_address, c->target_key, traffic.up, traffic.down,
                 seconds,
                 why == NULL ? "closed" : c->closed_by_end ? ""
                                        : traffic.up_done ? "closed by the dialer, then: "
                                        : traffic.down_done ? "closed by the target, then: " : "",
                 why != NULL ? why : "");
    }
  else if (why != NULL)
    g_message ("%s %s (%s) -> %s: ended before it was spliced: %s", c->kind->name, c->dialer_key,
               c->dialer_address, c->target_key != NULL ? c->target_key : "(no CONNECT yet)", why);
  c->kind->stop (c, self, why != NULL);
  if (c->counted)
    {
      circuit_client_remove (self, c->dialer_key);
      circuit_client_remove (self, c->target_key);
      c->clients[CIRCUIT_DIALER] = c->clients[CIRCUIT_TARGET] = NULL;
      self->buffer_memory -= c->kind->memory;
      c->counted = FALSE;
    }
  g_hash_table_remove (self->circuits, c);
}

/* Ends @c because the node at its end @side (CIRCUIT_DIALER or
 * CIRCUIT_TARGET) closed its connection: @detail is how the relay saw it
 * (a reset, a broken pipe, a closed yamux session).  That is how most
 * circuits end: an application that has what it wanted closes its
 * connection without waiting for the other end's close to come back. */
static void
circuit_end_closed_by (Circuit    *c,
                       guint       side,
                       const char *detail)
{
  g_autofree char *why = g_strdup_printf ("closed by the %s (%s)", side == CIRCUIT_DIALER ? "dialer" : "target",
                                          detail);

  c->closed_by_end = TRUE;
  circuit_end (c, why);
}

/* Refuses @c: ERROR @code with @text to the dialer, which is the answer
 * (no reset). */
static void
circuit_refuse (Circuit    *c,
                guint16     code,
                const char *text)
{
  if (c->server == NULL)
    return;
  relay_server_refuse (c->server, c->dialer, code, "%s", text);
  circuit_end (c, NULL);
}

static gboolean
circuit_idle_cb (gpointer user_data)
{
  Circuit *c = user_data;
  RelayServer *self = c->server;
  gint64 idle_us = (gint64) self->circuit_idle_timeout * G_USEC_PER_SEC;
  CircuitTraffic traffic;
  gint64 quiet;

  c->kind->traffic (c, &traffic);
  quiet = g_get_monotonic_time () - traffic.last_activity;
  g_clear_pointer (&c->timer, g_source_unref);
  if (quiet >= idle_us)
    {
      g_autofree char *why = g_strdup_printf ("idle for %u s", self->circuit_idle_timeout);

      circuit_end (c, why);
      return G_SOURCE_REMOVE;
    }
  c->timer = relay_attach_timeout (self->context, (guint) ((idle_us - quiet) / 1000) + 1, circuit_idle_cb, c);
  return G_SOURCE_REMOVE;
}

/* @c is spliced from now on: it counts as active, and idles out.  Its
 * kind then starts moving bytes. */
static void
circuit_spliced (Circuit *c)
{
  RelayServer *self = c->server;

  relay_clear_source (&c->timer);
  c->spliced = TRUE;
  c->started = g_get_monotonic_time ();
  self->stats.circuits_active++;
  self->stats.circuits_total++;
  c->timer = relay_attach_timeout (self->context, self->circuit_idle_timeout * 1000, circuit_idle_cb, c);
}

/* No CONNECT, or no answer from the target, in time. */
static gboolean
circuit_setup_timeout_cb (gpointer user_data)
{
  Circuit *c = user_data;
  g_autofree char *text = NULL;

  g_clear_pointer (&c->timer, g_source_unref);
  if (c->target_key == NULL)
    {
      /* The dialer sent no CONNECT. */
      relay_server_count_refusal (c->server, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST);
      circuit_end (c, "no CONNECT in time");
      return G_SOURCE_REMOVE;
    }
  text = g_strdup_printf ("%s did not answer within %u s", c->target_key, c->server->incoming_timeout);
  if (c->target != NULL)
    foctet_stream_reset (c->target, FOCTET_CLOSE_CODE_GOING_AWAY);
  circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE, text);
  return G_SOURCE_REMOVE;
}

static void
incoming_answer_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Circuit *c = user_data;
  g_autoptr(FoctetRelayMessage) answer = NULL;
  g_autoptr(GError) error = NULL;

  answer = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (c->server == NULL)
    ;
  else if (answer == NULL)
    c->kind->target_failed (c, TRUE, error);
  else if (answer->type == FOCTET_RELAY_MESSAGE_ERROR)
    {
      /* The target's own words, else what its code means (any code:
       * one this relay does not know reads "error code N"). */
      g_autofree char *meaning = foctet_relay_error_code_to_string (answer->error_code);
      g_autofree char *text = g_strdup_printf ("%s refused the circuit: %s", c->target_key,
                                               answer->error_text[0] != '\0' ? answer->error_text : meaning);

      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_REFUSED, text);
    }
  else if (answer->type != FOCTET_RELAY_MESSAGE_OK)
    {
      g_autofree char *what = foctet_relay_message_to_string (answer);
      g_autofree char *text = g_strdup_printf ("%s answered the circuit with %s", c->target_key, what);

      foctet_stream_reset (c->target, FOCTET_CLOSE_CODE_PROTOCOL_ERROR);
      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE, text);
    }
  else
    c->kind->accepted (c);
  circuit_unref (c);
}

static void
incoming_written_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Circuit *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    c->kind->target_failed (c, FALSE, error);
  else if (c->server != NULL)
    foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (c->target)),
                                        c->kind->messages, G_PRIORITY_DEFAULT, c->cancellable,
                                        incoming_answer_cb, circuit_ref (c));
  circuit_unref (c);
}

static void
incoming_opened_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Circuit *c = user_data;
  g_autoptr(FoctetRelayMessage) incoming = NULL;
  g_autoptr(GError) error = NULL;

  c->target = foctet_connection_open_stream_finish (FOCTET_CONNECTION (source), result, &error);
  if (c->target == NULL)
    {
      g_autofree char *text = g_strdup_printf ("Cannot reach %s: %s", c->target_key, error->message);

      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE, text);
    }
  else if (c->server != NULL)
    {
      incoming = c->kind->incoming_new (c, &error);
      if (incoming == NULL)
        {
          g_warning ("Cannot describe the caller's address %s: %s", c->dialer_address, error->message);
          foctet_stream_reset (c->target, FOCTET_CLOSE_CODE_INTERNAL_ERROR);
          circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_INTERNAL_ERROR, "The relay cannot describe your address");
        }
      else
        foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (c->target)), incoming,
                                          G_PRIORITY_DEFAULT, c->cancellable, incoming_written_cb,
                                          circuit_ref (c));
    }
  circuit_unref (c);
}

/* Whether a new circuit from @dialer_key to @target_key, which would hold
 * @memory bytes of buffers, is allowed: 0, and the connection that holds
 * the target's reservation in @target; or the ERROR code to refuse it
 * with, and why in @text. */
static guint16
circuit_check (RelayServer       *self,
               const char        *dialer_key,
               const char        *target_key,
               guint64            memory,
               FoctetConnection **target,
               char             **text)
{
  *target = relay_server_get_reserved_connection (self, target_key);
  if (g_str_equal (target_key, dialer_key))
    {
      *text = g_strdup ("A node cannot open a circuit to itself");
      return FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST;
    }
  if (*target == NULL)
    {
      *text = g_strdup_printf ("%s is not reachable via this relay (it holds no reservation)", target_key);
      return FOCTET_RELAY_ERROR_CODE_NO_RESERVATION;
    }
  if (self->stats.circuits_active >= self->max_circuits)
    {
      *text = g_strdup_printf ("The relay carries %u circuits, its limit", self->max_circuits);
      return FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT;
    }
  if (client_count (self, dialer_key) >= self->max_circuits_per_client ||
      client_count (self, target_key) >= self->max_circuits_per_client)
    {
      *text = g_strdup_printf ("%s has %u circuits, the limit per node",
                               client_count (self, dialer_key) >= self->max_circuits_per_client
                               ? dialer_key : target_key,
                               self->max_circuits_per_client);
      return FOCTET_RELAY_ERROR_CODE_CIRCUIT_LIMIT;
    }
  if (self->buffer_memory + memory > self->max_memory)
    {
      *text = g_strdup_printf ("The relay's circuit buffers reached its memory limit of %"
                               G_GUINT64_FORMAT " bytes", self->max_memory);
      return FOCTET_RELAY_ERROR_CODE_RESOURCE_LIMIT;
    }
  return 0;
}

/* Answers what the dialer of @c sent first on its stream: @request, or
 * @error if it could not be read.  A CONNECT to a node that holds a
 * reservation, within the limits, counts the circuit in them from now on,
 * starts its setup timer again and opens the incoming stream to the
 * target; anything else refuses @c with the ERROR that says why, or ends
 * it when its stream failed. */
static void
circuit_connect (Circuit                  *c,
                 const FoctetRelayMessage *request,
                 const GError             *error)
{
  RelayServer *self = c->server;
  g_autofree char *text = NULL;
  FoctetConnection *target = NULL;
  guint16 code;

  if (request == NULL)
    {
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR))
        circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_MALFORMED_REQUEST, error->message);
      else
        circuit_end (c, error->message);
      return;
    }
  if (request->type != FOCTET_RELAY_MESSAGE_CONNECT)
    {
      g_autofree char *what = foctet_relay_message_to_string (request);

      text = g_strdup_printf ("Expected CONNECT on a %s stream, got %s", c->kind->stream, what);
      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_UNEXPECTED_MESSAGE, text);
      return;
    }

  c->target_key = foctet_node_id_to_string (request->node_id);
  code = circuit_check (self, c->dialer_key, c->target_key, c->kind->memory, &target, &text);
  if (code != 0)
    {
      circuit_refuse (c, code, text);
      return;
    }
  c->counted = TRUE;
  c->clients[CIRCUIT_DIALER] = circuit_client_add (self, c->dialer_key);
  c->clients[CIRCUIT_TARGET] = circuit_client_add (self, c->target_key);
  self->buffer_memory += c->kind->memory;
  relay_clear_source (&c->timer);
  c->timer = relay_attach_timeout (self->context, self->incoming_timeout * 1000, circuit_setup_timeout_cb, c);
  foctet_connection_open_stream_async (target, c->kind->incoming, c->cancellable,
                                       incoming_opened_cb, circuit_ref (c));
}

static void
connect_request_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Circuit *c = user_data;
  g_autoptr(FoctetRelayMessage) request = NULL;
  g_autoptr(GError) error = NULL;

  request = foctet_relay_message_read_finish (G_INPUT_STREAM (source), result, &error);
  if (c->server != NULL)
    circuit_connect (c, request, error);
  circuit_unref (c);
}

/* A circuit of @kind on the dialer's @stream, which asks for it. */
static void
circuit_start (RelayServer       *self,
               const CircuitKind *kind,
               FoctetConnection  *connection,
               FoctetStream      *stream)
{
  Circuit *c;

  if (!relay_server_admit (self, connection, stream))
    return;
  c = g_malloc0 (kind->size);
  c->kind = kind;
  g_ref_count_init (&c->refs);
  c->server = self;
  c->dialer_connection = g_object_ref (connection);
  c->dialer = g_object_ref (stream);
  c->dialer_key = foctet_node_id_to_string (foctet_connection_get_peer_id (connection));
  c->dialer_address = g_strdup (foctet_connection_get_remote_address (connection));
  c->cancellable = g_cancellable_new ();
  /* The set holds the first reference. */
  g_hash_table_add (self->circuits, c);
  c->timer = relay_attach_timeout (self->context, self->incoming_timeout * 1000, circuit_setup_timeout_cb, c);
  foctet_relay_message_read_in_async (g_io_stream_get_input_stream (G_IO_STREAM (stream)), kind->messages,
                                      G_PRIORITY_DEFAULT, c->cancellable, connect_request_cb, circuit_ref (c));
}

/* ------------------------------------------------------------------ */
/* v1 circuits                                                         */

/* A v1 circuit's bytes go on its control streams: the dialer's connect
 * stream and the target's incoming stream, between which two pipes copy
 * them. */

typedef struct _V1Circuit V1Circuit;

/* One direction of a spliced circuit. */
typedef struct {
  V1Circuit *circuit;
  FoctetStream *from;
  FoctetStream *to;
  guint8 *buffer;
  guint64 bytes;
  RelayBucket rate;                   /* of this pipe alone, in bytes */
  RelayBucket *limits[3];             /* what limits it (circuit_limits ()) */
  guint n_limits;
  gsize granted;                      /* taken from them for the read in flight */
  GSource *wait;                      /* for tokens */
  gboolean done;
} Pipe;

struct _V1Circuit {
  Circuit circuit;
  gint64 last_activity;
  Pipe up;                            /* dialer → target */
  Pipe down;                          /* target → dialer */
};

static void pipe_read (Pipe *p);

/* @p failed with @error on @stream, its source or its destination. */
static void
pipe_fail (Pipe         *p,
           FoctetStream *stream,
           const GError *error)
{
  Circuit *c = &p->circuit->circuit;

  /* The node closed its connection to the relay, or reset its stream. */
  if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED) ||
      g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_STREAM_RESET) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
    circuit_end_closed_by (c, stream == c->dialer ? CIRCUIT_DIALER : CIRCUIT_TARGET, error->message);
  else
    circuit_end (c, error->message);
}

static void
pipe_closed_write_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Pipe *p = user_data;
  V1Circuit *c = p->circuit;
  g_autoptr(GError) error = NULL;

  if (!foctet_stream_close_write_finish (FOCTET_STREAM (source), result, &error))
    pipe_fail (p, p->to, error);
  else if (c->up.done && c->down.done)
    circuit_end (&c->circuit, NULL);
  circuit_unref (&c->circuit);
}

static void
pipe_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Pipe *p = user_data;
  V1Circuit *c = p->circuit;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    pipe_fail (p, p->to, error);
  else if (c->circuit.server != NULL)
    pipe_read (p);
  circuit_unref (&c->circuit);
}

static void
pipe_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pipe *p = user_data;
  V1Circuit *c = p->circuit;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  /* The read was granted its tokens when it started: what it did not
   * get goes back (the circuit's bucket, or a node's, lives on). */
  if (c->circuit.server != NULL && p->granted > (gsize) MAX (n, 0))
    relay_buckets_refund (p->limits, p->n_limits, p->granted - MAX (n, 0));
  p->granted = 0;
  if (n < 0)
    pipe_fail (p, p->from, error);
  else if (c->circuit.server == NULL)
    ;
  else if (n == 0)
    {
      p->done = TRUE;
      circuit_ref (&c->circuit);
      foctet_stream_close_write_async (p->to, G_PRIORITY_DEFAULT, c->circuit.cancellable, pipe_closed_write_cb, p);
    }
  else
    {
      p->bytes += n;
      c->circuit.server->stats.bytes_relayed += n;
      c->last_activity = g_get_monotonic_time ();
      circuit_ref (&c->circuit);
      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (p->to)), p->buffer, n,
                                       G_PRIORITY_DEFAULT, c->circuit.cancellable, pipe_written_cb, p);
    }
  circuit_unref (&c->circuit);
}

static gboolean
pipe_tokens_cb (gpointer user_data)
{
  Pipe *p = user_data;

  g_clear_pointer (&p->wait, g_source_unref);
  pipe_read (p);
  return G_SOURCE_REMOVE;
}

/* Reads the next piece, as big as the buffer and the rate limit allow. */
static void
pipe_read (Pipe *p)
{
  V1Circuit *c = p->circuit;
  RelayServer *self = c->circuit.server;
  gsize size = RELAY_CIRCUIT_BUFFER;

  if (p->n_limits > 0)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 ready_at;

      size = relay_buckets_allow (p->limits, p->n_limits, size, now, &ready_at);
      if (size == 0)
        {
          guint ms = (guint) MIN ((ready_at - now + 999) / 1000, 1000);

          p->wait = relay_attach_timeout (self->context, ms, pipe_tokens_cb, p);
          return;
        }
      /* Taken now, not when the read completes: reads of several
       * circuits waiting at once must not all be granted the same
       * tokens of a node's bucket. */
      relay_buckets_take (p->limits, p->n_limits, size);
      p->granted = size;
    }
  /* The callbacks get the pipe, inside the circuit they hold a reference on. */
  circuit_ref (&c->circuit);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (p->from)), p->buffer, size,
                             G_PRIORITY_DEFAULT, c->circuit.cancellable, pipe_read_cb, p);
}

static void
v1_circuit_splice (V1Circuit *c)
{
  Circuit *circuit = &c->circuit;

  circuit_spliced (circuit);
  c->last_activity = circuit->started;
  c->up = (Pipe) { c, circuit->dialer, circuit->target, g_malloc (RELAY_CIRCUIT_BUFFER) };
  c->down = (Pipe) { c, circuit->target, circuit->dialer, g_malloc (RELAY_CIRCUIT_BUFFER) };
  for (guint i = 0; i < 2; i++)
    {
      Pipe *p = i == 0 ? &c->up : &c->down;
      double rate = (double) circuit->server->rate;

      /* A burst of at most a tenth of a second, and at least one buffer. */
      relay_bucket_init (&p->rate, rate, MAX (rate / 10, (double) RELAY_CIRCUIT_BUFFER), circuit->started);
      p->n_limits = circuit_limits (circuit, i == 0, &p->rate, p->limits);
    }
  pipe_read (&c->up);
  pipe_read (&c->down);
}

static void
connect_ok_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  V1Circuit *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    circuit_end (&c->circuit, error->message);
  else if (c->circuit.server != NULL)
    v1_circuit_splice (c);
  circuit_unref (&c->circuit);
}

static void
v1_circuit_accepted (Circuit *c)
{
  g_autoptr(FoctetRelayMessage) ok = foctet_relay_message_new_ok ();

  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (c->dialer)), ok,
                                    G_PRIORITY_DEFAULT, c->cancellable, connect_ok_written_cb, circuit_ref (c));
}

static FoctetRelayMessage *
v1_circuit_incoming_new (Circuit  *c,
                         GError  **error)
{
  return foctet_relay_message_new_incoming (foctet_connection_get_peer_id (c->dialer_connection),
                                            c->dialer_address, error);
}

static void
v1_circuit_target_failed (Circuit      *c,
                          gboolean      answering,
                          const GError *error)
{
  g_autofree char *text = NULL;

  if (answering)
    {
      text = g_strdup_printf ("%s did not accept the circuit: %s", c->target_key, error->message);
      foctet_stream_reset (c->target, FOCTET_CLOSE_CODE_GOING_AWAY);
    }
  else
    text = g_strdup_printf ("Cannot reach %s: %s", c->target_key, error->message);
  circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE, text);
}

static void
v1_circuit_traffic (Circuit        *circuit,
                    CircuitTraffic *traffic)
{
  V1Circuit *c = (V1Circuit *) circuit;

  *traffic = (CircuitTraffic) { c->up.bytes, c->down.bytes, c->up.done, c->down.done, c->last_activity };
}

static void
v1_circuit_stop (Circuit     *circuit,
                 RelayServer *self,
                 gboolean     abort)
{
  V1Circuit *c = (V1Circuit *) circuit;

  /* The pipes' reads and writes fail with the circuit's cancellable;
   * those waiting for tokens wait no more. */
  relay_clear_source (&c->up.wait);
  relay_clear_source (&c->down.wait);
}

static void
v1_circuit_free (Circuit *circuit)
{
  V1Circuit *c = (V1Circuit *) circuit;

  relay_clear_source (&c->up.wait);
  relay_clear_source (&c->down.wait);
  g_free (c->up.buffer);
  g_free (c->down.buffer);
}

static const CircuitKind v1_circuit_kind = {
  .name = "circuit",
  .stream = "connect",
  .incoming = FOCTET_RELAY_PROTOCOL_INCOMING,
  .messages = FOCTET_RELAY_MESSAGES_CIRCUIT,
  .memory = 2 * RELAY_CIRCUIT_BUFFER,
  .size = sizeof (V1Circuit),
  .incoming_new = v1_circuit_incoming_new,
  .target_failed = v1_circuit_target_failed,
  .accepted = v1_circuit_accepted,
  .traffic = v1_circuit_traffic,
  .stop = v1_circuit_stop,
  .free = v1_circuit_free,
};

void
relay_server_handle_connect (FoctetNode       *node,
                             FoctetConnection *connection,
                             FoctetStream     *stream,
                             gpointer          user_data)
{
  circuit_start (user_data, &v1_circuit_kind, connection, stream);
}

/* ------------------------------------------------------------------ */
/* Raw circuits                                                        */

/* A raw circuit: set up on the control connections (a connect-raw stream
 * from the dialer, an incoming-raw stream to the target), then two plain
 * TCP connections to the raw port, each claimed with its one-time token,
 * spliced. */
typedef struct {
  Circuit circuit;
  guint8 tokens[2][FOCTET_RELAY_TOKEN_SIZE];  /* the dialer's, the target's */
  gboolean token_live[2];             /* in the table, not claimed yet */
  GSocketConnection *ends[2];         /* the dialer's, the target's */
  RelaySplice *splice;
} RawCircuit;

static guint
token_hash (gconstpointer token)
{
  guint h;

  /* Tokens are random: any four bytes make a hash. */
  memcpy (&h, token, sizeof h);
  return h;
}

static gboolean
token_equal (gconstpointer a,
             gconstpointer b)
{
  return memcmp (a, b, FOCTET_RELAY_TOKEN_SIZE) == 0;
}

/* Closes a raw end; @abort sends a TCP reset (the peer sees the
 * circuit fail, not end). */
static void
raw_end_close (GSocketConnection *end,
               gboolean           abort)
{
  GSocket *socket = g_socket_connection_get_socket (end);

  if (abort)
    {
      struct linger linger = { 1, 0 };

      setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
    }
  g_socket_close (socket, NULL);
}

static void
raw_splice_done_cb (gpointer    user_data,
                    int         gone,
                    const char *why)
{
  RawCircuit *c = user_data;

  /* The splice's sockets are the dialer's end (a), then the target's. */
  if (gone >= 0)
    circuit_end_closed_by (&c->circuit, gone == 0 ? CIRCUIT_DIALER : CIRCUIT_TARGET, why);
  else
    circuit_end (&c->circuit, why);
}

static void
raw_circuit_splice (RawCircuit *c)
{
  RelayServer *self = c->circuit.server;

  circuit_spliced (&c->circuit);
  self->stats.raw_circuits_total++;
  c->splice = relay_splice_new (g_socket_connection_get_socket (c->ends[CIRCUIT_DIALER]),
                                g_socket_connection_get_socket (c->ends[CIRCUIT_TARGET]),
                                self->rate, &self->stats.bytes_relayed, raw_splice_done_cb, c);
  for (guint i = 0; i < 2; i++)
    {
      RelayBucket *limits[2];
      guint n = circuit_limits (&c->circuit, i == 0, NULL, limits);

      for (guint j = 0; j < n; j++)
        relay_splice_add_limit (c->splice, i == 0, limits[j]);
    }
  if (!relay_splice_is_zero_copy (c->splice))
    g_debug ("raw circuit %s -> %s: copying, not splicing", c->circuit.dialer_key, c->circuit.target_key);
}

/* Makes @token fresh and claimable for @c. */
static void
raw_token_issue (RawCircuit *c,
                 guint       side)
{
  RelayServer *self = c->circuit.server;

  do
    {
      if (getrandom (c->tokens[side], FOCTET_RELAY_TOKEN_SIZE, 0) != FOCTET_RELAY_TOKEN_SIZE)
        g_error ("getrandom: %s", g_strerror (errno));
    }
  while (g_hash_table_contains (self->raw_tokens, c->tokens[side]));
  g_hash_table_insert (self->raw_tokens, c->tokens[side], c);
  c->token_live[side] = TRUE;
}

/* A token went unclaimed in time: it expires with the circuit. */
static gboolean
raw_circuit_claim_timeout_cb (gpointer user_data)
{
  RawCircuit *c = user_data;
  RelayServer *self = c->circuit.server;
  g_autofree char *text = NULL;

  g_clear_pointer (&c->circuit.timer, g_source_unref);
  self->stats.raw_refused++;
  text = g_strdup_printf ("the %s did not claim its end within %u s",
                          c->ends[CIRCUIT_DIALER] == NULL ? "dialer" : "target", self->incoming_timeout);
  g_message ("raw circuit %s (%s) -> %s: not set up: %s", c->circuit.dialer_key, c->circuit.dialer_address,
             c->circuit.target_key, text);
  circuit_end (&c->circuit, text);
  return G_SOURCE_REMOVE;
}

static void
raw_answer_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Circuit *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!foctet_relay_message_write_finish (G_OUTPUT_STREAM (source), result, &error))
    circuit_end (c, error->message);
  else if (c->server != NULL)
    /* Nothing more goes on the control stream: the circuit is on TCP now. */
    foctet_stream_close_write_async (c->dialer, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  circuit_unref (c);
}

/* Accepted: the target is on its way to the raw port; the dialer gets
 * its token, and both have until the timer to claim. */
static void
raw_circuit_accepted (Circuit *circuit)
{
  RawCircuit *c = (RawCircuit *) circuit;
  RelayServer *self = circuit->server;
  g_autoptr(FoctetRelayMessage) reply = NULL;

  foctet_stream_close_write_async (circuit->target, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  raw_token_issue (c, CIRCUIT_DIALER);
  circuit->answered = TRUE;
  relay_clear_source (&circuit->timer);
  circuit->timer = relay_attach_timeout (self->context, self->incoming_timeout * 1000, raw_circuit_claim_timeout_cb, c);
  reply = foctet_relay_message_new_raw_circuit (self->raw_port, c->tokens[CIRCUIT_DIALER]);
  foctet_relay_message_write_async (g_io_stream_get_output_stream (G_IO_STREAM (circuit->dialer)), reply,
                                    G_PRIORITY_DEFAULT, circuit->cancellable, raw_answer_written_cb,
                                    circuit_ref (circuit));
}

static FoctetRelayMessage *
raw_circuit_incoming_new (Circuit  *circuit,
                          GError  **error)
{
  RawCircuit *c = (RawCircuit *) circuit;

  raw_token_issue (c, CIRCUIT_TARGET);
  return foctet_relay_message_new_incoming_raw (foctet_connection_get_peer_id (circuit->dialer_connection),
                                                circuit->dialer_address, circuit->server->raw_port,
                                                c->tokens[CIRCUIT_TARGET], error);
}

/* The incoming-raw stream failed before an answer: a reset is a refusal
 * of the stream (a target of before raw circuits), for which the dialer
 * asks again with connect/1; anything else leaves the target
 * unreachable. */
static void
raw_circuit_target_failed (Circuit      *c,
                           gboolean      answering,
                           const GError *error)
{
  if (foctet_error_is_stream_refused (error))
    {
      g_autofree char *text = g_strdup_printf ("%s refused the incoming-raw stream: %s", c->target_key,
                                               error->message);

      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_RAW_UNSUPPORTED, text);
    }
  else
    {
      g_autofree char *text = g_strdup_printf ("%s %s: %s",
                                               answering ? "No answer to the circuit from" : "Cannot reach",
                                               c->target_key, error->message);

      circuit_refuse (c, FOCTET_RELAY_ERROR_CODE_TARGET_UNREACHABLE, text);
    }
}

static void
raw_circuit_traffic (Circuit        *circuit,
                     CircuitTraffic *traffic)
{
  RawCircuit *c = (RawCircuit *) circuit;

  traffic->up = relay_splice_get_bytes (c->splice, TRUE);
  traffic->down = relay_splice_get_bytes (c->splice, FALSE);
  traffic->up_done = relay_splice_get_done (c->splice, TRUE);
  traffic->down_done = relay_splice_get_done (c->splice, FALSE);
  traffic->last_activity = relay_splice_get_last_activity (c->splice);
}

/* Forgets the tokens not claimed yet, stops the splice and closes the
 * ends claimed. */
static void
raw_circuit_stop (Circuit     *circuit,
                  RelayServer *self,
                  gboolean     abort)
{
  RawCircuit *c = (RawCircuit *) circuit;

  for (guint i = 0; i < 2; i++)
    if (c->token_live[i])
      {
        g_hash_table_remove (self->raw_tokens, c->tokens[i]);
        c->token_live[i] = FALSE;
      }
  g_clear_pointer (&c->splice, relay_splice_free);
  for (guint i = 0; i < 2; i++)
    if (c->ends[i] != NULL)
      raw_end_close (c->ends[i], abort);
}

static void
raw_circuit_free (Circuit *circuit)
{
  RawCircuit *c = (RawCircuit *) circuit;

  g_clear_pointer (&c->splice, relay_splice_free);
  for (guint i = 0; i < 2; i++)
    g_clear_object (&c->ends[i]);
}

static const CircuitKind raw_circuit_kind = {
  .name = "raw circuit",
  .stream = "connect-raw",
  .incoming = FOCTET_RELAY_PROTOCOL_INCOMING_RAW,
  .messages = FOCTET_RELAY_MESSAGES_RAW,
  .memory = 2 * RELAY_SPLICE_PIPE_SIZE,
  .size = sizeof (RawCircuit),
  .incoming_new = raw_circuit_incoming_new,
  .target_failed = raw_circuit_target_failed,
  .accepted = raw_circuit_accepted,
  .traffic = raw_circuit_traffic,
  .stop = raw_circuit_stop,
  .free = raw_circuit_free,
};

static void
handle_connect_raw (FoctetNode       *node,
                    FoctetConnection *connection,
                    FoctetStream     *stream,
                    gpointer          user_data)
{
  circuit_start (user_data, &raw_circuit_kind, connection, stream);
}

/* ---- The raw port ---------------------------------------------------- */

/* A TCP connection to the raw port, until its preamble is read.  It is
 * read exactly, never beyond: what follows is the circuit's. */
typedef struct {
  RelayServer *server;                /* a reference: the read's callback may come after a stop */
  GSocketConnection *connection;
  guint8 preamble[FOCTET_RELAY_RAW_PREAMBLE_SIZE];
  GCancellable *cancellable;
  GSource *timeout;
  char *remote;
  char *host;                         /* counted in raw_pending_hosts */
} RawPending;

/* Connections to the raw port that have not yet said which token they
 * claim: from one host, and in all.  A legitimate one says so in its
 * first bytes, so these are never many; a stranger could otherwise hold
 * a descriptor for each connection it opens, for incoming_timeout. */
#define RAW_PENDING_MAX 1024
#define RAW_PENDING_MAX_PER_HOST 32

static void
raw_pending_free (RawPending *p)
{
  relay_clear_source (&p->timeout);
  g_clear_object (&p->connection);
  g_clear_object (&p->cancellable);
  g_free (p->remote);
  if (p->host != NULL)
    foctet_address_counts_add (p->server->raw_pending_hosts, p->host, -1);
  g_free (p->host);
  g_object_unref (p->server);
  g_free (p);
}

/* Forgets @p; the server may go with its reference, so nothing of it is
 * touched after this. */
static void
raw_pending_drop (RawPending *p)
{
  g_hash_table_steal (p->server->raw_pending, p);
  raw_pending_free (p);
}

static void
raw_pending_refuse (RawPending *p,
                    const char *why)
{
  RelayServer *self = p->server;

  self->stats.raw_refused++;
  /* Anyone can make these, as many as they like: bounded.  Once the
   * relay stopped (a read that ended as it did), only counted. */
  if (self->raw_log != NULL)
    foctet_log_limit_log (self->raw_log, "raw connection from %s refused: %s", p->remote, why);
  raw_end_close (p->connection, TRUE);
  raw_pending_drop (p);
}

static gboolean
raw_pending_timeout_cb (gpointer user_data)
{
  RawPending *p = user_data;

  g_clear_pointer (&p->timeout, g_source_unref);
  g_cancellable_cancel (p->cancellable);
  return G_SOURCE_REMOVE;
}

static void
raw_preamble_read_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  RawPending *p = user_data;
  RelayServer *self = p->server;
  g_autoptr(GError) error = NULL;
  guint8 token[FOCTET_RELAY_TOKEN_SIZE];
  gsize got = 0;
  RawCircuit *c;
  guint side;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &got, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->stopped)
        raw_pending_drop (p);
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *why = g_strdup_printf ("no token within %u s", self->incoming_timeout);

          raw_pending_refuse (p, why);
        }
      else
        raw_pending_refuse (p, error->message);
      return;
    }
  if (!foctet_relay_raw_preamble_parse (p->preamble, got, token, &error))
    {
      raw_pending_refuse (p, error->message);
      return;
    }
  c = g_hash_table_lookup (self->raw_tokens, token);
  if (c == NULL)
    {
      raw_pending_refuse (p, "unknown, expired or used token");
      return;
    }
  side = token_equal (token, c->tokens[CIRCUIT_DIALER]) ? CIRCUIT_DIALER : CIRCUIT_TARGET;
  /* Single use: the token is gone whatever happens next. */
  g_hash_table_remove (self->raw_tokens, token);
  c->token_live[side] = FALSE;
  g_assert (c->ends[side] == NULL);
  c->ends[side] = g_steal_pointer (&p->connection);
  g_debug ("raw circuit %s -> %s: the %s claimed its end", c->circuit.dialer_key, c->circuit.target_key,
           side == CIRCUIT_DIALER ? "dialer" : "target");
  if (c->ends[CIRCUIT_DIALER] != NULL && c->ends[CIRCUIT_TARGET] != NULL)
    raw_circuit_splice (c);
  raw_pending_drop (p);
}

static void
raw_incoming_cb (FoctetSocketService *service,
                 GSocketConnection   *connection,
                 GObject             *source_object,
                 gpointer             user_data)
{
  RelayServer *self = user_data;
  /* Also the address of a connection reset before it was accepted. */
  g_autoptr(GSocketAddress) remote = foctet_socket_connection_get_remote_address (connection, NULL);
  RawPending *p;
  guint from_host;

  if (self->stopped)
    return;
  p = g_new0 (RawPending, 1);
  p->server = g_object_ref (self);
  p->connection = g_object_ref (connection);
  p->cancellable = g_cancellable_new ();
  p->remote = remote != NULL ? foctet_relay_address_from_socket_address (remote) : NULL;
  if (p->remote == NULL)
    p->remote = g_strdup ("unknown");
  if (G_IS_INET_SOCKET_ADDRESS (remote))
    p->host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  else
    p->host = g_strdup ("unknown");
  from_host = foctet_address_counts_get (self->raw_pending_hosts, p->host);
  if (from_host >= RAW_PENDING_MAX_PER_HOST || g_hash_table_size (self->raw_pending) >= RAW_PENDING_MAX)
    {
      g_autofree char *why = from_host >= RAW_PENDING_MAX_PER_HOST
                             ? g_strdup_printf ("%u connections from %s wait for their token already", from_host,
                                                p->host)
                             : g_strdup_printf ("%u connections wait for their token already", RAW_PENDING_MAX);

      /* Never counted, so nothing to give back. */
      g_clear_pointer (&p->host, g_free);
      raw_pending_refuse (p, why);
      return;
    }
  foctet_address_counts_add (self->raw_pending_hosts, p->host, 1);
  foctet_tcp_socket_tune (g_socket_connection_get_socket (connection));
  p->timeout = relay_attach_timeout (self->context, self->incoming_timeout * 1000, raw_pending_timeout_cb, p);
  g_hash_table_add (self->raw_pending, p);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)), p->preamble,
                                 sizeof p->preamble, G_PRIORITY_DEFAULT, p->cancellable, raw_preamble_read_cb, p);
}

/**
 * relay_server_listen_raw:
 * @self: a #RelayServer
 * @addresses: (array zero-terminated=1): "host:port" each to accept
 *   raw-circuit connections on; port 0 for the first: any, for the
 *   others: the first one's
 * @error: return location for a #GError
 *
 * Offers raw circuits: serves foctet-relay/connect-raw/1 and accepts the
 * circuits' TCP connections on @addresses, which must be reachable at
 * the hosts the clients reach the relay's control listeners at.  A
 * RAW_CIRCUIT carries only a port, so a relay listening on several
 * addresses (IPv4 and IPv6, say) takes its raw circuits on one port
 * number on each of them.
 *
 * Returns: the port listened on, or 0 on error
 */
guint16
relay_server_listen_raw (RelayServer        *self,
                         const char * const *addresses,
                         GError            **error)
{
  g_autoptr(FoctetSocketService) service = NULL;
  guint16 first_port = 0;

  g_return_val_if_fail (RELAY_IS_SERVER (self), 0);
  g_return_val_if_fail (self->raw_service == NULL, 0);
  g_return_val_if_fail (addresses != NULL && addresses[0] != NULL, 0);

  service = foctet_socket_service_new ();
  for (guint i = 0; addresses[i] != NULL; i++)
    {
      g_autofree char *host = NULL;
      g_autoptr(GInetAddress) inet = NULL;
      g_autoptr(GSocketAddress) bind_address = NULL;
      g_autoptr(GSocketAddress) effective = NULL;
      g_autoptr(GSocket) socket = NULL;
      guint16 port = 0;

      if (!foctet_parse_host_port (addresses[i], &host, &port, error))
        return 0;
      inet = g_inet_address_new_from_string (host);
      if (inet == NULL)
        {
          g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                       "The raw-circuit listener needs an IP address, not %s", host);
          return 0;
        }
      bind_address = g_inet_socket_address_new (inet, i > 0 && port == 0 ? first_port : port);
      socket = foctet_tcp_listener_socket_new (G_INET_SOCKET_ADDRESS (bind_address), error);
      if (socket != NULL)
        effective = g_socket_get_local_address (socket, error);
      if (effective == NULL)
        {
          g_prefix_error (error, "Cannot listen on %s: ", addresses[i]);
          return 0;
        }
      foctet_socket_service_add_socket (service, socket, NULL);
      if (i == 0)
        first_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
    }
  g_signal_connect (service, "incoming", G_CALLBACK (raw_incoming_cb), self);
  self->raw_service = g_steal_pointer (&service);
  self->raw_port = first_port;
  foctet_socket_service_start (self->raw_service);
  foctet_node_set_protocol_handler (self->node, FOCTET_RELAY_PROTOCOL_CONNECT_RAW, handle_connect_raw, self, NULL);
  return self->raw_port;
}

/* ------------------------------------------------------------------ */
/* For the rest of the server                                         */

/* Stops the raw port and ends every circuit. */
void
relay_server_circuits_stop (RelayServer *self)
{
  GHashTableIter iter;
  gpointer key;

  if (self->raw_service != NULL)
    {
      foctet_socket_service_close (self->raw_service);
    }
  g_hash_table_iter_init (&iter, self->raw_pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_cancellable_cancel (((RawPending *) key)->cancellable);
  /* Says how many refusals it held back, should there be some. */
  g_clear_pointer (&self->raw_log, foctet_log_limit_free);

  /* circuit_end () removes from the set: take the circuits out first. */
  while (g_hash_table_size (self->circuits) > 0)
    {
      g_hash_table_iter_init (&iter, self->circuits);
      g_hash_table_iter_next (&iter, &key, NULL);
      circuit_end (key, "the relay is shutting down");
    }
}

static void
log_message (const char *line,
             gpointer    user_data)
{
  g_message ("%s", line);
}

void
relay_server_circuits_init (RelayServer *self)
{
  self->client_circuits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->circuits = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) circuit_unref, NULL);
  self->raw_tokens = g_hash_table_new (token_hash, token_equal);
  self->raw_pending = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) raw_pending_free, NULL);
  self->raw_pending_hosts = foctet_address_counts_new ();
  self->raw_log = foctet_log_limit_new (FOCTET_LOG_LIMIT_DEFAULT_BURST, FOCTET_LOG_LIMIT_DEFAULT_WINDOW_MS,
                                        "raw connections refused", log_message, NULL);
}

void
relay_server_circuits_finalize (RelayServer *self)
{
  g_hash_table_unref (self->circuits);
  g_hash_table_unref (self->raw_tokens);
  g_hash_table_unref (self->raw_pending);
  g_clear_pointer (&self->raw_pending_hosts, foctet_address_counts_unref);
  g_clear_object (&self->raw_service);
  g_hash_table_unref (self->client_circuits);
  g_clear_pointer (&self->raw_log, foctet_log_limit_free);
}

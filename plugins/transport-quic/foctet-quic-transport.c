/* foctet-quic-transport.c: the "quic" transport — UDP endpoints, routing of
 * datagrams to connections, listening and dialing (PROTOCOL §2, §3).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "foctet-quic.h"

#include <foctet-address-counts.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define DEFAULT_MAX_HANDSHAKES 64
#define DEFAULT_MAX_PER_ADDRESS 64
#define DEFAULT_MAX_HANDSHAKES_PER_ADDRESS 16
#define DEFAULT_IDLE_TIMEOUT 30000
#define DEFAULT_KEEPALIVE 15000
#define DEFAULT_MAX_STREAMS 256

/* Datagrams taken from the socket per system call, and calls per dispatch. */
#define RECV_BATCH 16
#define RECV_CALLS 8
#define RECV_BUFFER 65536
/* ICMP errors taken from a socket's error queue per dispatch. */
#define ERROR_BATCH 16
#define SOCKET_BUFFER (8 * 1024 * 1024)
/* A Retry token is good for this long. */
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)
/* The smallest datagram that may open a connection (RFC 9000 §14.1). */
#define QUIC_MIN_INITIAL_SIZE 1200
/* A Version Negotiation packet echoing two Connection IDs of the longest
 * length any version allows (RFC 8999 §5.1), listing two versions. */
#define VN_PACKET_MAX (1 + 4 + 1 + 255 + 1 + 255 + 2 * 4)

struct _QuicTransport {
  GObject parent_instance;

  QuicConfig config;
  guint max_handshakes;
  guint max_per_address;
  guint max_handshakes_per_address;
  GMainContext *context;

  GPtrArray *endpoints;              /* QuicEndpoint: listening ones, then dial-only ones */
  guint handshakes;                  /* incoming handshakes in progress */
  GHashTable *pending;               /* QuicConnection (owned) → GTask of a dial, or NULL */
  FoctetAddressCounts *per_address;  /* remote IP text → its incoming connections */
  FoctetAddressCounts *handshakes_per_address; /* remote IP text → its handshakes in progress */
  guint retries_sent;
  guint8 retry_secret[32];
};

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_MAX_HANDSHAKES,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_MAX_HANDSHAKES_PER_ADDRESS,
  PROP_IDLE_TIMEOUT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_MAX_STREAMS,
  PROP_RETRIES_SENT,
  PROP_CONGESTION_CONTROL,
  PROP_ALPN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* By ngtcp2_cc_algo value. */
static const char * const cc_names[] = { "reno", "cubic", "bbr", "bbr2" };

static void quic_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (QuicTransport, quic_transport, G_TYPE_OBJECT,
                                G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               quic_transport_iface_init))

static void transport_accept (QuicTransport       *self,
                              QuicEndpoint        *endpoint,
                              const ngtcp2_path   *path,
                              guint                ecn,
                              const guint8        *data,
                              gsize                len);

/* Whether @a and @b, IPv4 or IPv6, hold the same IP address (ports apart). */
static gboolean
sockaddr_same_ip (const struct sockaddr *a,
                  const struct sockaddr *b)
{
  if (a->sa_family != b->sa_family)
    return FALSE;
  if (a->sa_family == AF_INET6)
    return memcmp (&((const struct sockaddr_in6 *) a)->sin6_addr, &((const struct sockaddr_in6 *) b)->sin6_addr,
                   sizeof (struct in6_addr)) == 0;
  if (a->sa_family == AF_INET)
    return ((const struct sockaddr_in *) a)->sin_addr.s_addr == ((const struct sockaddr_in *) b)->sin_addr.s_addr;
  return FALSE;
}

/* The largest UDP payload for a path that never leaves this host, or 0
 * for one that does (there ngtcp2's path MTU discovery decides, up to
 * QUIC_MAX_UDP_PAYLOAD).  The kernel says which: a UDP socket connected
 * to @remote (nothing is sent) gets its source address and the route's
 * MTU; a peer at a loopback address, or at the very address this host
 * would send from, is this host, and the route's MTU is then the whole
 * path's. */
gsize
quic_local_path_max_payload (const struct sockaddr *remote,
                             socklen_t              remote_len)
{
  gboolean v6 = remote->sa_family == AF_INET6;
  gsize headers = v6 ? 40 + 8 : 20 + 8;           /* IP and UDP */
  struct sockaddr_storage source;
  socklen_t source_len = sizeof source;
  int mtu = 0;
  socklen_t mtu_len = sizeof mtu;
  gboolean local;
  gsize payload = 0;
  int fd;

  if (remote->sa_family != AF_INET && remote->sa_family != AF_INET6)
    return 0;
  fd = socket (remote->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  if (connect (fd, remote, remote_len) == 0 &&
      getsockname (fd, (struct sockaddr *) &source, &source_len) == 0 &&
      getsockopt (fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &mtu_len) == 0)
    {
      if (v6)
        local = IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *) remote)->sin6_addr);
      else
        local = (ntohl (((const struct sockaddr_in *) remote)->sin_addr.s_addr) >> 24) == 127;
      local = local || sockaddr_same_ip (remote, (const struct sockaddr *) &source);
      if (local && (gsize) mtu > headers)
        payload = MIN ((gsize) mtu - headers, QUIC_MAX_LOCAL_UDP_PAYLOAD);
    }
  close (fd);
  return payload > QUIC_MAX_UDP_PAYLOAD ? payload : 0;
}

char *
quic_sockaddr_to_string (const struct sockaddr *sa)
{
  gsize len = sa->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);
  g_autoptr(GSocketAddress) address = g_socket_address_new_from_native ((gpointer) sa, len);

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  return foctet_socket_address_to_string (address);
}

/* "192.0.2.1" of a socket address: what per-address limits count. */
static char *
sockaddr_host (const struct sockaddr *sa)
{
  char buf[INET6_ADDRSTRLEN] = "";

  if (sa->sa_family == AF_INET6)
    inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, sizeof buf);
  else
    inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, sizeof buf);
  return g_strdup (buf);
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */

struct _QuicEndpoint {
  grefcount ref_count;
  QuicTransport *transport;          /* NULL once the transport is gone */
  GSocket *socket;
  int fd;
  int family;
  struct sockaddr_storage local;
  socklen_t local_len;
  gboolean wildcard;                 /* bound to the any-address */
  gboolean listening;
  gboolean gso;                      /* the kernel takes UDP_SEGMENT */
  GSource *read_source;
  GSource *write_source;
  GHashTable *cids;                  /* ngtcp2_cid → QuicConnection, not owned */
  GPtrArray *blocked;                /* QuicConnection waiting for room, not owned */

  guint8 *rxbuf;
  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iov[RECV_BATCH];
  struct sockaddr_storage addrs[RECV_BATCH];
  guint8 control[RECV_BATCH][CMSG_SPACE (sizeof (int)) * 2 + CMSG_SPACE (sizeof (struct in6_pktinfo))];
};

static guint
cid_hash (gconstpointer key)
{
  const ngtcp2_cid *cid = key;
  guint h = 5381;

  for (gsize i = 0; i < cid->datalen; i++)
    h = h * 33 + cid->data[i];
  return h;
}

static gboolean
cid_equal (gconstpointer a,
           gconstpointer b)
{
  return ngtcp2_cid_eq (a, b);
}

QuicEndpoint *
quic_endpoint_ref (QuicEndpoint *endpoint)
{
  g_ref_count_inc (&endpoint->ref_count);
  return endpoint;
}

static void
endpoint_close (QuicEndpoint *endpoint)
{
  if (endpoint->read_source != NULL)
    {
      g_source_destroy (endpoint->read_source);
      g_clear_pointer (&endpoint->read_source, g_source_unref);
    }
  if (endpoint->write_source != NULL)
    {
      g_source_destroy (endpoint->write_source);
      g_clear_pointer (&endpoint->write_source, g_source_unref);
    }
}

void
quic_endpoint_unref (QuicEndpoint *endpoint)
{
  if (!g_ref_count_dec (&endpoint->ref_count))
    return;
  endpoint_close (endpoint);
  g_socket_close (endpoint->socket, NULL);
  g_object_unref (endpoint->socket);
  g_hash_table_unref (endpoint->cids);
  g_ptr_array_unref (endpoint->blocked);
  g_free (endpoint->rxbuf);
  g_free (endpoint);
}

const struct sockaddr *
quic_endpoint_get_local (QuicEndpoint *endpoint,
                         socklen_t    *len)
{
  *len = endpoint->local_len;
  return (const struct sockaddr *) &endpoint->local;
}

void
quic_endpoint_add_cid (QuicEndpoint     *endpoint,
                       const ngtcp2_cid *cid,
                       QuicConnection   *connection)
{
  g_hash_table_replace (endpoint->cids, g_memdup2 (cid, sizeof *cid), connection);
}

void
quic_endpoint_remove_cid (QuicEndpoint     *endpoint,
                          const ngtcp2_cid *cid)
{
  g_hash_table_remove (endpoint->cids, cid);
}

void
quic_endpoint_forget (QuicEndpoint   *endpoint,
                      QuicConnection *connection)
{
  g_ptr_array_remove (endpoint->blocked, connection);
}

static gboolean
endpoint_writable_cb (GSocket      *socket,
                      GIOCondition  condition,
                      gpointer      user_data)
{
  QuicEndpoint *endpoint = user_data;
  g_autoptr(GPtrArray) blocked = NULL;

  /* An ICMP error wakes every source of the socket; the read source takes
   * it from the error queue. */
  if (!(condition & G_IO_OUT))
    return G_SOURCE_CONTINUE;
  blocked = g_steal_pointer (&endpoint->blocked);
  endpoint->blocked = g_ptr_array_new ();
  g_clear_pointer (&endpoint->write_source, g_source_unref);
  /* Each may block again, which puts it back on the new list. */
  for (guint i = 0; i < blocked->len; i++)
    if (!g_ptr_array_find (endpoint->blocked, blocked->pdata[i], NULL))
      quic_connection_writable (blocked->pdata[i]);
  return G_SOURCE_REMOVE;
}

static void
endpoint_wait_writable (QuicEndpoint   *endpoint,
                        QuicConnection *connection)
{
  if (!g_ptr_array_find (endpoint->blocked, connection, NULL))
    g_ptr_array_add (endpoint->blocked, connection);
  if (endpoint->write_source == NULL && endpoint->transport != NULL)
    {
      endpoint->write_source = g_socket_create_source (endpoint->socket, G_IO_OUT, NULL);
      g_source_set_can_recurse (endpoint->write_source, TRUE);   /* as the read source */
      g_source_set_callback (endpoint->write_source, G_SOURCE_FUNC (endpoint_writable_cb), endpoint, NULL);
      g_source_attach (endpoint->write_source, endpoint->transport->context);
    }
}

/* One sendmsg: a datagram, or a GSO burst of @segment-byte datagrams. */
static ssize_t
endpoint_sendmsg (QuicEndpoint          *endpoint,
                  const ngtcp2_path     *path,
                  guint                  ecn,
                  const guint8          *data,
                  gsize                  len,
                  gsize                  segment)
{
  union {
    char buf[CMSG_SPACE (sizeof (guint16)) + CMSG_SPACE (sizeof (int)) + CMSG_SPACE (sizeof (struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { (void *) data, len };
  struct msghdr msg = { 0 };
  struct cmsghdr *cm;
  gsize controllen = 0;
  ssize_t n;

  memset (&control, 0, sizeof control);
  msg.msg_name = path->remote.addr;
  msg.msg_namelen = path->remote.addrlen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  cm = CMSG_FIRSTHDR (&msg);

  if (segment > 0 && len > segment)
    {
      guint16 size = segment;

      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN (sizeof size);
      memcpy (CMSG_DATA (cm), &size, sizeof size);
      controllen += CMSG_SPACE (sizeof size);
      cm = CMSG_NXTHDR (&msg, cm);
    }
  {
    int tos = ecn & 3;

    cm->cmsg_level = endpoint->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    cm->cmsg_type = endpoint->family == AF_INET6 ? IPV6_TCLASS : IP_TOS;
    cm->cmsg_len = CMSG_LEN (sizeof tos);
    memcpy (CMSG_DATA (cm), &tos, sizeof tos);
    controllen += CMSG_SPACE (sizeof tos);
    cm = CMSG_NXTHDR (&msg, cm);
  }
  if (endpoint->wildcard)
    {
      /* Answer from the address the peer wrote to. */
      if (endpoint->family == AF_INET6)
        {
          struct in6_pktinfo info = { 0 };

          info.ipi6_addr = ((const struct sockaddr_in6 *) path->local.addr)->sin6_addr;
          cm->cmsg_level = IPPROTO_IPV6;
          cm->cmsg_type = IPV6_PKTINFO;
          cm->cmsg_len = CMSG_LEN (sizeof info);
          memcpy (CMSG_DATA (cm), &info, sizeof info);
          controllen += CMSG_SPACE (sizeof info);
        }
      else
        {
          struct in_pktinfo info = { 0 };

          info.ipi_spec_dst = ((const struct sockaddr_in *) path->local.addr)->sin_addr;
          cm->cmsg_level = IPPROTO_IP;
          cm->cmsg_type = IP_PKTINFO;
          cm->cmsg_len = CMSG_LEN (sizeof info);
          memcpy (CMSG_DATA (cm), &info, sizeof info);
          controllen += CMSG_SPACE (sizeof info);
        }
    }
  msg.msg_controllen = controllen;

  do
    n = sendmsg (endpoint->fd, &msg, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

gboolean
quic_endpoint_send (QuicEndpoint      *endpoint,
                    QuicConnection    *connection,
                    const ngtcp2_path *path,
                    guint              ecn,
                    const guint8      *data,
                    gsize              len,
                    gsize              segment)
{
  ssize_t n;

  if (segment == 0 || len <= segment)
    segment = 0;
  if (segment > 0 && !endpoint->gso)
    {
      /* No GSO here: one datagram at a time. */
      for (gsize off = 0; off < len; off += segment)
        if (!quic_endpoint_send (endpoint, connection, path, ecn, data + off, MIN (segment, len - off), 0))
          {
            /* What is left waits for room; what went out is gone. */
            return off > 0;
          }
      return TRUE;
    }

  n = endpoint_sendmsg (endpoint, path, ecn, data, len, segment);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EIO && errno != EINVAL)
    {
      /* An ICMP error about an earlier datagram, to whichever peer, fails
       * the next send on the socket once (IP_RECVERR); the error itself
       * waits in the error queue.  Send again. */
      n = endpoint_sendmsg (endpoint, path, ecn, data, len, segment);
    }
  if (n < 0 && segment > 0 && (errno == EIO || errno == EINVAL))
    {
      g_debug ("UDP GSO unavailable (%s): sending datagrams one by one", g_strerror (errno));
      endpoint->gso = FALSE;
      return quic_endpoint_send (endpoint, connection, path, ecn, data, len, segment);
    }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
    {
      if (connection != NULL)
        endpoint_wait_writable (endpoint, connection);
      return FALSE;
    }
  if (n < 0)
    {
      /* ICMP errors, unreachable routes: QUIC's loss recovery and idle
       * timeout deal with a path that does not work. */
      g_debug ("sendmsg: %s", g_strerror (errno));
    }
  return TRUE;
}

/* The fields every QUIC version's long header starts with (RFC 8999
 * §5.1), whatever the version: Connection IDs of up to 255 bytes each. */
static gboolean
long_header_decode (const guint8       *data,
                    gsize               len,
                    ngtcp2_version_cid *vc)
{
  gsize pos = 5;

  if (len < 7 || !(data[0] & 0x80))
    return FALSE;
  vc->version = (guint32) data[1] << 24 | (guint32) data[2] << 16 | (guint32) data[3] << 8 | data[4];
  vc->dcidlen = data[pos++];
  vc->dcid = data + pos;
  pos += vc->dcidlen;
  if (pos >= len)
    return FALSE;
  vc->scidlen = data[pos++];
  vc->scid = data + pos;
  pos += vc->scidlen;
  return pos <= len;
}

/* Tells the sender of @vc's packet that this side speaks QUIC v1 only
 * (RFC 9000 §6.1), echoing its Connection IDs swapped.  The list also
 * holds a reserved version (§15) so that dialers do not come to rely on
 * its shape; never the one offered, which would make the dialer ignore
 * the packet (§6.2).  At most VN_PACKET_MAX bytes, so always less than
 * the Initial-sized datagram it answers. */
static void
send_version_negotiation (QuicEndpoint             *endpoint,
                          const ngtcp2_path        *path,
                          const ngtcp2_version_cid *vc)
{
  guint8 buf[VN_PACKET_MAX];
  uint32_t versions[2] = { NGTCP2_PROTO_VER_V1, 0 };
  guint8 unused;
  ngtcp2_ssize n;

  G_STATIC_ASSERT (VN_PACKET_MAX < QUIC_MIN_INITIAL_SIZE);
  gnutls_rnd (GNUTLS_RND_NONCE, &unused, sizeof unused);
  gnutls_rnd (GNUTLS_RND_NONCE, &versions[1], sizeof versions[1]);
  versions[1] = (versions[1] & 0xf0f0f0f0) | NGTCP2_RESERVED_VERSION_MASK;
  if (versions[1] == vc->version)
    versions[1] ^= 0x10000000;
  n = ngtcp2_pkt_write_version_negotiation (buf, sizeof buf, unused, vc->scid, vc->scidlen,
                                            vc->dcid, vc->dcidlen, versions, G_N_ELEMENTS (versions));
  if (n > 0)
    quic_endpoint_send (endpoint, NULL, path, 0, buf, n, 0);
}

void
quic_endpoint_receive (QuicEndpoint          *endpoint,
                       const struct sockaddr *local,
                       socklen_t              local_len,
                       const struct sockaddr *remote,
                       socklen_t              remote_len,
                       guint                  ecn,
                       const guint8          *data,
                       gsize                  len)
{
  ngtcp2_version_cid vc = { 0 };
  ngtcp2_cid dcid;
  QuicConnection *connection;
  ngtcp2_path path = {
    { (ngtcp2_sockaddr *) local, local_len },
    { (ngtcp2_sockaddr *) remote, remote_len },
    NULL,
  };

  if (len == 0)
    return;
  if (data[0] & 0x80)
    {
      if (!long_header_decode (data, len, &vc))
        return;
      if (vc.version != NGTCP2_PROTO_VER_V1 && vc.version != 0)
        {
          /* PROTOCOL §3: QUIC v1 only, even where ngtcp2 speaks more
           * (draft-29, v2).  A datagram big enough to open a connection
           * learns so; nothing else is answered, nothing is kept. */
          if (endpoint->listening && len >= QUIC_MIN_INITIAL_SIZE)
            send_version_negotiation (endpoint, &path, &vc);
          return;
        }
      /* Version 0 is a Version Negotiation: only a dial of ours wants it. */
      if (vc.dcidlen > NGTCP2_MAX_CIDLEN || vc.scidlen > NGTCP2_MAX_CIDLEN)
        return;
    }
  else
    {
      /* A short header carries one of our Connection IDs, all as long. */
      if (len < 1 + QUIC_CID_LEN)
        return;
      vc.dcid = data + 1;
      vc.dcidlen = QUIC_CID_LEN;
    }

  ngtcp2_cid_init (&dcid, vc.dcid, vc.dcidlen);
  connection = g_hash_table_lookup (endpoint->cids, &dcid);
  if (connection != NULL)
    {
      quic_connection_receive (connection, &path, ecn, data, len);
      return;
    }
  if (endpoint->listening && endpoint->transport != NULL && vc.version == NGTCP2_PROTO_VER_V1)
    transport_accept (endpoint->transport, endpoint, &path, ecn, data, len);
}

static void
parse_control (QuicEndpoint     *endpoint,
               struct msghdr    *msg,
               struct sockaddr_storage *local,
               guint            *ecn,
               gsize            *segment)
{
  for (struct cmsghdr *cm = CMSG_FIRSTHDR (msg); cm != NULL; cm = CMSG_NXTHDR (msg, cm))
    {
      if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS && cm->cmsg_len >= CMSG_LEN (1))
        *ecn = *(guint8 *) CMSG_DATA (cm) & 3;
      else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS &&
               cm->cmsg_len >= CMSG_LEN (sizeof (int)))
        {
          int tclass;

          memcpy (&tclass, CMSG_DATA (cm), sizeof tclass);
          *ecn = tclass & 3;
        }
      else if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO && cm->cmsg_len >= CMSG_LEN (sizeof (int)))
        {
          int size;

          memcpy (&size, CMSG_DATA (cm), sizeof size);
          if (size > 0)
            *segment = size;
        }
      else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO && endpoint->wildcard &&
               cm->cmsg_len >= CMSG_LEN (sizeof (struct in_pktinfo)))
        {
          struct in_pktinfo info;

          memcpy (&info, CMSG_DATA (cm), sizeof info);
          ((struct sockaddr_in *) local)->sin_addr = info.ipi_addr;
        }
      else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO && endpoint->wildcard &&
               cm->cmsg_len >= CMSG_LEN (sizeof (struct in6_pktinfo)))
        {
          struct in6_pktinfo info;

          memcpy (&info, CMSG_DATA (cm), sizeof info);
          ((struct sockaddr_in6 *) local)->sin6_addr = info.ipi6_addr;
        }
    }
}

/* ------------------------------------------------------------------ */
/* ICMP errors                                                         */

static gboolean
sockaddr_equal (const struct sockaddr *a,
                const struct sockaddr *b)
{
  if (!sockaddr_same_ip (a, b))
    return FALSE;
  if (a->sa_family == AF_INET6)
    return ((const struct sockaddr_in6 *) a)->sin6_port == ((const struct sockaddr_in6 *) b)->sin6_port;
  return ((const struct sockaddr_in *) a)->sin_port == ((const struct sockaddr_in *) b)->sin_port;
}

/* "port unreachable", "host unreachable", "network unreachable", or NULL
 * for any other error (packet too big, prohibited, local errors...). */
static const char *
unreachable_reason (const struct sock_extended_err *ee)
{
  if (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == ICMP_DEST_UNREACH)
    switch (ee->ee_code)
      {
      case ICMP_PORT_UNREACH:
        return "port unreachable";
      case ICMP_HOST_UNREACH:
        return "host unreachable";
      case ICMP_NET_UNREACH:
        return "network unreachable";
      default:
        return NULL;
      }
  if (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == ICMP6_DST_UNREACH)
    switch (ee->ee_code)
      {
      case ICMP6_DST_UNREACH_NOPORT:
        return "port unreachable";
      case ICMP6_DST_UNREACH_ADDR:
        return "host unreachable";
      case ICMP6_DST_UNREACH_NOROUTE:
        return "network unreachable";
      default:
        return NULL;
      }
  return NULL;
}

/* An ICMP error says that @remote, to which this endpoint sent the
 * datagram starting with @bounced, cannot be reached.  ICMP is not
 * authenticated, so it only ends what it cannot hurt: a dial of ours still
 * in its handshake, sending to @remote, fails at once instead of at its
 * handshake timeout.  When the bounced bytes reach the Source Connection
 * ID of our long header, they also name that dial; a short header, or a
 * router that returned only the UDP header, leaves the address alone to
 * go by.  Connections that are established (ngtcp2's loss recovery and
 * idle timeout judge their path) and incoming ones ignore ICMP. */
static void
endpoint_unreachable (QuicEndpoint          *endpoint,
                      const struct sockaddr *remote,
                      const guint8          *bounced,
                      gsize                  bounced_len,
                      const char            *reason)
{
  g_autoptr(QuicTransport) self = endpoint->transport != NULL ? g_object_ref (endpoint->transport) : NULL;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  QuicConnection *named = NULL;
  ngtcp2_version_cid vc;
  GHashTableIter iter;
  gpointer key, value;

  if (self == NULL)
    return;
  address = quic_sockaddr_to_string (remote);
  if (long_header_decode (bounced, bounced_len, &vc))
    {
      ngtcp2_cid scid;

      if (vc.scidlen == QUIC_CID_LEN)
        {
          ngtcp2_cid_init (&scid, vc.scid, vc.scidlen);
          named = g_hash_table_lookup (endpoint->cids, &scid);
        }
      if (named == NULL)
        {
          g_debug ("ICMP %s for %s, about none of our connections: ignored", reason, address);
          return;
        }
    }

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      QuicConnection *connection = key;
      socklen_t len;

      /* A pending connection with a task is a dial of ours. */
      if (value == NULL || (named != NULL && connection != named) ||
          quic_connection_get_endpoint (connection) != endpoint || quic_connection_is_established (connection) ||
          !sockaddr_equal (quic_connection_get_remote (connection, &len), remote))
        continue;
      g_ptr_array_add (doomed, g_object_ref (connection));
    }
  if (doomed->len == 0)
    {
      g_debug ("ICMP %s for %s, about no dial in its handshake: ignored", reason, address);
      return;
    }
  if (g_str_equal (reason, "port unreachable"))
    error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE, "No QUIC listener at %s (%s)", address, reason);
  else
    error = g_error_new (FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE, "Cannot reach %s over QUIC (%s)", address, reason);
  for (guint i = 0; i < doomed->len; i++)
    quic_connection_abort (doomed->pdata[i], error);
}

/* Takes up to ERROR_BATCH errors from the socket's error queue (what
 * IP_RECVERR / IPV6_RECVERR put there; poll() reports G_IO_ERR while it
 * is not empty).  More wait for the next dispatch. */
static void
endpoint_read_errors (QuicEndpoint *endpoint)
{
  for (guint i = 0; i < ERROR_BATCH; i++)
    {
      union {
        char buf[512];
        struct cmsghdr align;
      } control;
      struct sockaddr_storage remote;
      /* Enough of our datagram for a long header with two 20-byte IDs. */
      guint8 bounced[64];
      struct iovec iov = { bounced, sizeof bounced };
      struct msghdr msg = { 0 };
      const char *reason = NULL;
      ssize_t n;

      memset (&remote, 0, sizeof remote);
      msg.msg_name = &remote;
      msg.msg_namelen = sizeof remote;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      do
        n = recvmsg (endpoint->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        {
          int pending;
          socklen_t len = sizeof pending;

          /* The queue is empty.  An ICMP error that found it full set
           * only the socket's error, which keeps poll() reporting
           * G_IO_ERR until read: read it. */
          getsockopt (endpoint->fd, SOL_SOCKET, SO_ERROR, &pending, &len);
          return;
        }

      for (struct cmsghdr *cm = CMSG_FIRSTHDR (&msg); cm != NULL; cm = CMSG_NXTHDR (&msg, cm))
        if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
            (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR))
          {
            struct sock_extended_err ee;

            if (cm->cmsg_len < CMSG_LEN (sizeof ee))
              continue;
            memcpy (&ee, CMSG_DATA (cm), sizeof ee);
            reason = unreachable_reason (&ee);
          }
      if (reason != NULL && msg.msg_namelen >= sizeof (struct sockaddr_in) &&
          remote.ss_family == endpoint->family)
        endpoint_unreachable (endpoint, (const struct sockaddr *) &remote, bounced, n, reason);
    }
}

static gboolean
endpoint_readable_cb (GSocket      *socket,
                      GIOCondition  condition,
                      gpointer      user_data)
{
  QuicEndpoint *endpoint = quic_endpoint_ref (user_data);

  if (condition & G_IO_ERR)
    endpoint_read_errors (endpoint);
  for (guint call = 0; call < RECV_CALLS && endpoint->read_source != NULL; call++)
    {
      int n;

      for (guint i = 0; i < RECV_BATCH; i++)
        {
          struct msghdr *msg = &endpoint->msgs[i].msg_hdr;

          endpoint->iov[i].iov_base = endpoint->rxbuf + (gsize) i * RECV_BUFFER;
          endpoint->iov[i].iov_len = RECV_BUFFER;
          memset (msg, 0, sizeof *msg);
          msg->msg_name = &endpoint->addrs[i];
          msg->msg_namelen = sizeof endpoint->addrs[i];
          msg->msg_iov = &endpoint->iov[i];
          msg->msg_iovlen = 1;
          msg->msg_control = endpoint->control[i];
          msg->msg_controllen = sizeof endpoint->control[i];
        }
      do
        n = recvmmsg (endpoint->fd, endpoint->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
      while (n < 0 && errno == EINTR);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        {
          /* An ICMP error that came after the error queue was read fails
           * one read (IP_RECVERR); the datagrams are still there. */
          continue;
        }
      if (n <= 0)
        break;

      for (int i = 0; i < n && endpoint->read_source != NULL; i++)
        {
          struct msghdr *msg = &endpoint->msgs[i].msg_hdr;
          struct sockaddr_storage local = endpoint->local;
          gsize len = endpoint->msgs[i].msg_len;
          gsize segment = len;
          guint ecn = 0;
          const guint8 *data = endpoint->iov[i].iov_base;

          if (msg->msg_flags & MSG_TRUNC)
            continue;
          parse_control (endpoint, msg, &local, &ecn, &segment);
          for (gsize off = 0; off < len; off += segment)
            quic_endpoint_receive (endpoint, (struct sockaddr *) &local, endpoint->local_len,
                                   (struct sockaddr *) &endpoint->addrs[i], msg->msg_namelen,
                                   ecn, data + off, MIN (segment, len - off));
        }
      if (n < RECV_BATCH)
        break;
    }
  quic_endpoint_unref (endpoint);
  return G_SOURCE_CONTINUE;
}

static void
set_int_option (int         fd,
                int         level,
                int         name,
                int         value,
                const char *what)
{
  if (setsockopt (fd, level, name, &value, sizeof value) < 0)
    g_debug ("Cannot set %s on a UDP socket: %s", what, g_strerror (errno));
}

static QuicEndpoint *
endpoint_new (QuicTransport   *transport,
              GInetAddress    *address,
              guint16          port,
              gboolean         listening,
              GError         **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new (address, port);
  g_autoptr(GSocketAddress) bound = NULL;
  GSocketFamily family = g_inet_address_get_family (address);
  QuicEndpoint *endpoint;
  int fd;

  socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (socket == NULL)
    return NULL;
  fd = g_socket_get_fd (socket);
  if (family == G_SOCKET_FAMILY_IPV6)
    set_int_option (fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  if (!g_socket_bind (socket, bind_address, FALSE, error))
    return NULL;
  bound = g_socket_get_local_address (socket, error);
  if (bound == NULL)
    return NULL;

  endpoint = g_new0 (QuicEndpoint, 1);
  g_ref_count_init (&endpoint->ref_count);
  endpoint->transport = transport;
  endpoint->socket = g_steal_pointer (&socket);
  endpoint->fd = fd;
  endpoint->family = family == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET;
  endpoint->local_len = g_socket_address_get_native_size (bound);
  g_socket_address_to_native (bound, &endpoint->local, sizeof endpoint->local, NULL);
  endpoint->wildcard = g_inet_address_get_is_any (address);
  endpoint->listening = listening;
  endpoint->gso = TRUE;
  endpoint->cids = g_hash_table_new_full (cid_hash, cid_equal, g_free, NULL);
  endpoint->blocked = g_ptr_array_new ();
  endpoint->rxbuf = g_malloc ((gsize) RECV_BATCH * RECV_BUFFER);

  /* Buffers for a fast link; as root the kernel's caps do not apply. */
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int) { SOCKET_BUFFER }, sizeof (int)) < 0)
    set_int_option (fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER, "SO_RCVBUF");
  if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int) { SOCKET_BUFFER }, sizeof (int)) < 0)
    set_int_option (fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER, "SO_SNDBUF");
  set_int_option (fd, SOL_UDP, UDP_GRO, 1, "UDP_GRO");
  if (endpoint->family == AF_INET6)
    {
      set_int_option (fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS");
      set_int_option (fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
      set_int_option (fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE, "IPV6_MTU_DISCOVER");
      /* ICMP errors to the error queue: a dial to a closed port fails at
       * once (endpoint_read_errors). */
      set_int_option (fd, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR");
    }
  else
    {
      set_int_option (fd, IPPROTO_IP, IP_RECVTOS, 1, "IP_RECVTOS");
      set_int_option (fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
      /* Don't fragment: QUIC's path MTU discovery probes instead. */
      set_int_option (fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, "IP_MTU_DISCOVER");
      set_int_option (fd, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR");
    }

  endpoint->read_source = g_socket_create_source (endpoint->socket, G_IO_IN | G_IO_ERR, NULL);
  g_source_set_static_name (endpoint->read_source, "foctet QUIC endpoint");
  /* Not blocked while it dispatches: blocking takes a source's
   * descriptors out of the context's poll set and puts them back, and
   * GLib (2.74) writes to the context's wake-up descriptor both times.
   * Nothing iterates this context from inside the callback. */
  g_source_set_can_recurse (endpoint->read_source, TRUE);
  g_source_set_callback (endpoint->read_source, G_SOURCE_FUNC (endpoint_readable_cb), endpoint, NULL);
  g_source_attach (endpoint->read_source, transport->context);
  return endpoint;
}

/* ------------------------------------------------------------------ */
/* Incoming connections                                                */

static void
refuse_initial (QuicEndpoint      *endpoint,
                const ngtcp2_path *path,
                const ngtcp2_pkt_hd *hd,
                uint64_t           code,
                const char        *reason)
{
  guint8 buf[QUIC_MAX_UDP_PAYLOAD];
  ngtcp2_ssize n;

  n = ngtcp2_crypto_write_connection_close (buf, sizeof buf, hd->version, &hd->scid, &hd->dcid, code,
                                            (const uint8_t *) reason, strlen (reason));
  if (n > 0)
    quic_endpoint_send (endpoint, NULL, path, 0, buf, n, 0);
}

static void
send_retry (QuicTransport       *self,
            QuicEndpoint        *endpoint,
            const ngtcp2_path   *path,
            const ngtcp2_pkt_hd *hd)
{
  guint8 token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  guint8 buf[QUIC_MAX_UDP_PAYLOAD];
  ngtcp2_cid scid;
  ngtcp2_ssize token_len, n;

  scid.datalen = QUIC_CID_LEN;
  gnutls_rnd (GNUTLS_RND_NONCE, scid.data, scid.datalen);
  token_len = ngtcp2_crypto_generate_retry_token (token, self->retry_secret, sizeof self->retry_secret,
                                                  hd->version, path->remote.addr, path->remote.addrlen,
                                                  &scid, &hd->dcid, quic_timestamp ());
  if (token_len < 0)
    return;
  n = ngtcp2_crypto_write_retry (buf, sizeof buf, hd->version, &hd->scid, &scid, &hd->dcid, token, token_len);
  if (n > 0)
    {
      quic_endpoint_send (endpoint, NULL, path, 0, buf, n, 0);
      self->retries_sent++;
    }
}

static void
incoming_refused (QuicTransport     *self,
                  const ngtcp2_path *path,
                  GError            *error)
{
  g_autofree char *remote = quic_sockaddr_to_string ((const struct sockaddr *) path->remote.addr);

  g_debug ("Refused the QUIC connection from %s: %s", remote, error->message);
  foctet_transport_emit_incoming_failed (FOCTET_TRANSPORT (self), remote, error);
  g_error_free (error);
}

static void
transport_accept (QuicTransport     *self,
                  QuicEndpoint      *endpoint,
                  const ngtcp2_path *path,
                  guint              ecn,
                  const guint8      *data,
                  gsize              len)
{
  ngtcp2_pkt_hd hd;
  ngtcp2_cid original_dcid, retry_scid;
  gboolean retried = FALSE;
  const guint8 *token;
  gsize token_len;
  g_autofree char *host = NULL;
  g_autoptr(QuicConnection) connection = NULL;
  GError *error = NULL;

  if (ngtcp2_accept (&hd, data, len) != 0)
    return;
#if QUIC_NGTCP2_1
  token = hd.token;
  token_len = hd.tokenlen;
#else
  token = hd.token.base;
  token_len = hd.token.len;
#endif

  if (self->handshakes >= self->max_handshakes)
    {
      refuse_initial (endpoint, path, &hd, NGTCP2_CONNECTION_REFUSED, "too many handshakes in progress");
      incoming_refused (self, path, g_error_new (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                                                 "%u QUIC handshakes are already in progress", self->handshakes));
      return;
    }

  /* Under a flood of Initials (half the handshake budget in use), a
   * dialer proves its address with a Retry round trip first. */
  if (token_len > 0 && token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY)
    {
      if (ngtcp2_crypto_verify_retry_token (&original_dcid, token, token_len, self->retry_secret,
                                            sizeof self->retry_secret, hd.version, path->remote.addr,
                                            path->remote.addrlen, &hd.dcid, RETRY_TOKEN_TIMEOUT,
                                            quic_timestamp ()) != 0)
        {
          refuse_initial (endpoint, path, &hd, NGTCP2_INVALID_TOKEN, "invalid retry token");
          return;
        }
      retried = TRUE;
      retry_scid = hd.dcid;
    }
  else if (self->handshakes >= self->max_handshakes / 2)
    {
      send_retry (self, endpoint, path, &hd);
      return;
    }
  else
    original_dcid = hd.dcid;

  host = sockaddr_host ((const struct sockaddr *) path->remote.addr);
  if (foctet_address_counts_get (self->per_address, host) >= self->max_per_address)
    {
      refuse_initial (endpoint, path, &hd, NGTCP2_CONNECTION_REFUSED, "too many connections from this address");
      incoming_refused (self, path, g_error_new (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                                                 "%s already has %u QUIC connections", host, self->max_per_address));
      return;
    }
  /* Under pressure (half the handshake budget in use), one address,
   * proven by the Retry, may not hold more of it: a client that answers
   * the Retry and then never finishes its handshakes would otherwise keep
   * every other client out. */
  if (self->handshakes >= self->max_handshakes / 2 &&
      foctet_address_counts_get (self->handshakes_per_address, host) >= self->max_handshakes_per_address)
    {
      refuse_initial (endpoint, path, &hd, NGTCP2_CONNECTION_REFUSED, "too many handshakes from this address");
      incoming_refused (self, path, g_error_new (FOCTET_ERROR, FOCTET_ERROR_LIMIT_REACHED,
                                                 "%s already has %u QUIC handshakes in progress", host,
                                                 foctet_address_counts_get (self->handshakes_per_address, host)));
      return;
    }

  connection = quic_connection_new_server (self, &self->config, endpoint, path, &hd, &original_dcid,
                                           retried ? &retry_scid : NULL, &error);
  if (connection == NULL)
    {
      incoming_refused (self, path, error);
      return;
    }
  self->handshakes++;
  foctet_address_counts_add (self->handshakes_per_address, host, 1);
  foctet_address_counts_add (self->per_address, host, 1);
  g_object_set_data_full (G_OBJECT (connection), "foctet-quic-host",
                          sockaddr_host ((const struct sockaddr *) path->remote.addr), g_free);
  g_hash_table_insert (self->pending, g_object_ref (connection), NULL);
  quic_connection_receive (connection, path, ecn, data, len);
}

static void
per_address_release (QuicConnection *connection,
                     gpointer        user_data)
{
  QuicTransport *self = user_data;
  const char *host = g_object_get_data (G_OBJECT (connection), "foctet-quic-host");

  if (host != NULL)
    foctet_address_counts_add (self->per_address, host, -1);
}

/* An incoming handshake ended, one way or the other. */
static void
incoming_handshake_done (QuicTransport  *self,
                         QuicConnection *connection)
{
  const char *host = g_object_get_data (G_OBJECT (connection), "foctet-quic-host");

  self->handshakes--;
  if (host != NULL)
    foctet_address_counts_add (self->handshakes_per_address, host, -1);
}

void
quic_transport_connection_ready (QuicTransport  *self,
                                 QuicConnection *connection)
{
  GTask *task = NULL;

  if (!g_hash_table_steal_extended (self->pending, connection, NULL, (gpointer *) &task))
    return;
  if (quic_connection_is_server (connection))
    {
      incoming_handshake_done (self, connection);
      {
        /* Established, it counts until it closes or is freed. */
        g_autofree char *host = g_object_steal_data (G_OBJECT (connection), "foctet-quic-host");

        foctet_address_counts_release_with (self->per_address, FOCTET_CONNECTION (connection), host);
      }
      foctet_transport_emit_incoming (FOCTET_TRANSPORT (self), FOCTET_CONNECTION (connection));
      g_object_unref (connection);
      return;
    }
  g_cancellable_disconnect (g_task_get_cancellable (task),
                            GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (task), "foctet-cancel-id")));
  g_task_return_pointer (task, connection, foctet_connection_discard);
  g_object_unref (task);
}

typedef struct {
  char *address;
  guint16 port;
  FoctetNodeId *expected;
  GList *next;                       /* GInetAddress: a hostname's other addresses, to try in turn */
} DialData;

static void dial_start (GTask        *task,
                        GInetAddress *inet);

void
quic_transport_connection_failed (QuicTransport  *self,
                                  QuicConnection *connection,
                                  const GError   *error)
{
  GTask *task = NULL;

  if (!g_hash_table_steal_extended (self->pending, connection, NULL, (gpointer *) &task))
    return;
  if (quic_connection_is_server (connection))
    {
      g_autofree char *remote = g_strdup (foctet_connection_get_remote_address (FOCTET_CONNECTION (connection)));

      incoming_handshake_done (self, connection);
      per_address_release (connection, self);
      if (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_PROTOCOL_ERROR) &&
          !quic_connection_got_packet (connection))
        {
          /* Not a connection attempt: a datagram that only looked like an
           * Initial.  Nothing to report. */
          g_object_unref (connection);
          return;
        }
      g_debug ("Refused the QUIC connection from %s: %s", remote, error->message);
      foctet_transport_emit_incoming_failed (FOCTET_TRANSPORT (self), remote, error);
      g_object_unref (connection);
      return;
    }
  g_cancellable_disconnect (g_task_get_cancellable (task),
                            GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (task), "foctet-cancel-id")));
  if (g_task_get_cancellable (task) != NULL && g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    g_task_return_error_if_cancelled (task);
  else if (((DialData *) g_task_get_task_data (task))->next != NULL &&
           (g_error_matches (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE) ||
            g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)))
    {
      DialData *data = g_task_get_task_data (task);
      GList *first = data->next;
      g_autoptr(GInetAddress) inet = first->data;

      g_debug ("quic/%s: %s; trying the next address", data->address, error->message);
      data->next = g_list_delete_link (data->next, first);
      dial_start (task, inet);   /* takes the task's reference */
      g_object_unref (connection);
      return;
    }
  else
    g_task_return_error (task, g_error_copy (error));
  g_object_unref (task);
  g_object_unref (connection);
}

/* ------------------------------------------------------------------ */
/* FoctetTransport                                                     */

static const char *
quic_transport_get_name (FoctetTransport *transport)
{
  return QUIC_TRANSPORT_NAME;
}

static guint
quic_transport_get_address_kind (FoctetTransport *transport)
{
  return FOCTET_ADDRESS_KIND_QUIC;
}

static void
quic_transport_listen_async (FoctetTransport     *transport,
                             const char          *address,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  QuicTransport *self = QUIC_TRANSPORT (transport);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;
  QuicEndpoint *endpoint;

  g_task_set_source_tag (task, quic_transport_listen_async);
  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT,
                               "The quic transport listens on IP addresses, not on “%s”", host);
      return;
    }
  endpoint = endpoint_new (self, inet, port, TRUE, &error);
  if (endpoint == NULL)
    {
      g_prefix_error (&error, "Cannot listen on quic/%s: ", address);
      g_task_return_error (task, error);
      return;
    }
  /* Listening endpoints come first: dials use them, so that the address
   * a peer sees is the one it can reach us on. */
  g_ptr_array_insert (self->endpoints, 0, endpoint);
  g_debug ("Listening on quic/%s (port %u)", address, ntohs (((struct sockaddr_in *) &endpoint->local)->sin_port));
  g_task_return_pointer (task, quic_sockaddr_to_string ((struct sockaddr *) &endpoint->local), g_free);
}

static char *
quic_transport_listen_finish (FoctetTransport  *transport,
                              GAsyncResult     *result,
                              GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char **
quic_transport_get_listen_addresses (FoctetTransport *transport)
{
  QuicTransport *self = QUIC_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  /* Listening endpoints are inserted first, so backwards is the order
   * they were asked for in, as the tls transport lists its listeners. */
  for (guint i = self->endpoints->len; i-- > 0;)
    {
      QuicEndpoint *endpoint = self->endpoints->pdata[i];
      g_autoptr(GSocketAddress) bound = NULL;
      g_auto(GStrv) addresses = NULL;

      if (!endpoint->listening)
        continue;
      bound = g_socket_address_new_from_native (&endpoint->local, endpoint->local_len);
      addresses = foctet_transport_expand_listen_address (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (bound)),
                                                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
      g_strv_builder_addv (builder, (const char **) addresses);
    }
  return g_strv_builder_end (builder);
}

static void
endpoint_detach (QuicEndpoint *endpoint)
{
  endpoint->listening = FALSE;
  quic_endpoint_unref (endpoint);
}

QuicEndpoint *
quic_transport_get_listening_endpoint (QuicTransport *self)
{
  for (guint i = 0; i < self->endpoints->len; i++)
    if (((QuicEndpoint *) self->endpoints->pdata[i])->listening)
      return self->endpoints->pdata[i];
  return NULL;
}

/* No new connections; established ones go on over their endpoints. */
static void
quic_transport_stop (FoctetTransport *transport)
{
  QuicTransport *self = QUIC_TRANSPORT (transport);

  for (guint i = 0; i < self->endpoints->len;)
    {
      QuicEndpoint *endpoint = self->endpoints->pdata[i];

      if (endpoint->listening)
        g_ptr_array_remove_index (self->endpoints, i);
      else
        i++;
    }
}

/* The endpoint a dial to @family goes out from: a listening one when
 * there is one, else one bound to any port. */
static QuicEndpoint *
dial_endpoint (QuicTransport  *self,
               int             family,
               GError        **error)
{
  g_autoptr(GInetAddress) any = NULL;
  QuicEndpoint *endpoint;

  for (guint i = 0; i < self->endpoints->len; i++)
    {
      endpoint = self->endpoints->pdata[i];
      if (endpoint->family == family)
        return endpoint;
    }
  any = g_inet_address_new_any (family == AF_INET6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4);
  endpoint = endpoint_new (self, any, 0, FALSE, error);
  if (endpoint == NULL)
    return NULL;
  g_ptr_array_add (self->endpoints, endpoint);
  return endpoint;
}

/* The local address the kernel would send to @remote from, for the path
 * of a connection on a wildcard-bound endpoint. */
static gboolean
route_local_address (QuicEndpoint          *endpoint,
                     const struct sockaddr *remote,
                     socklen_t              remote_len,
                     struct sockaddr_storage *local,
                     GError               **error)
{
  int fd = socket (remote->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  socklen_t len = sizeof *local;
  g_autofree char *address = NULL;
  int saved;

  if (fd >= 0 && connect (fd, remote, remote_len) == 0 && getsockname (fd, (struct sockaddr *) local, &len) == 0)
    {
      close (fd);
      if (local->ss_family == AF_INET6)
        ((struct sockaddr_in6 *) local)->sin6_port = ((struct sockaddr_in6 *) &endpoint->local)->sin6_port;
      else
        ((struct sockaddr_in *) local)->sin_port = ((struct sockaddr_in *) &endpoint->local)->sin_port;
      return TRUE;
    }
  saved = errno;
  if (fd >= 0)
    close (fd);
  address = quic_sockaddr_to_string (remote);
  g_set_error (error, FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE, "No route to %s: %s", address, g_strerror (saved));
  return FALSE;
}

static void
dial_data_free (DialData *data)
{
  g_free (data->address);
  g_clear_pointer (&data->expected, foctet_node_id_free);
  g_list_free_full (data->next, g_object_unref);
  g_free (data);
}

static void
dial_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  QuicConnection *connection = user_data;
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");

  /* From the cancelling thread: finish in the connection's context. */
  quic_connection_abort (connection, error);
}

static gboolean
dial_cancel_idle (gpointer user_data)
{
  dial_cancelled_cb (NULL, user_data);
  return G_SOURCE_REMOVE;
}

static void
dial_cancelled_proxy (GCancellable *cancellable,
                      gpointer      user_data)
{
  QuicConnection *connection = user_data;
  QuicTransport *self = g_object_get_data (G_OBJECT (connection), "foctet-quic-transport");
  GSource *idle = g_idle_source_new ();

  g_source_set_callback (idle, dial_cancel_idle, g_object_ref (connection), g_object_unref);
  g_source_attach (idle, self->context);
  g_source_unref (idle);
}

static void
dial_start (GTask          *task,
            GInetAddress   *inet)
{
  QuicTransport *self = g_task_get_source_object (task);
  DialData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GSocketAddress) remote = g_inet_socket_address_new (inet, data->port);
  struct sockaddr_storage remote_sa, local;
  QuicEndpoint *endpoint;
  QuicConnection *connection;
  GError *error = NULL;
  gulong id;

  endpoint = dial_endpoint (self, g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET,
                            &error);
  if (endpoint == NULL)
    {
      g_prefix_error (&error, "Cannot dial quic/%s: ", data->address);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_socket_address_to_native (remote, &remote_sa, sizeof remote_sa, NULL);
  if (endpoint->wildcard)
    {
      /* The path's local address is the one replies arrive at. */
      if (!route_local_address (endpoint, (struct sockaddr *) &remote_sa, g_socket_address_get_native_size (remote),
                                &local, &error))
        {
          g_task_return_error (task, error);
          g_object_unref (task);
          return;
        }
    }
  else
    memcpy (&local, &endpoint->local, endpoint->local_len);
  connection = quic_connection_new_client (self, &self->config, endpoint, (struct sockaddr *) &local,
                                           remote, data->expected, &error);
  if (connection == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_object_set_data (G_OBJECT (connection), "foctet-quic-transport", self);
  g_hash_table_insert (self->pending, connection, task);
  if (cancellable != NULL)
    {
      id = g_cancellable_connect (cancellable, G_CALLBACK (dial_cancelled_proxy), connection, NULL);
      g_object_set_data (G_OBJECT (task), "foctet-cancel-id", GSIZE_TO_POINTER (id));
    }
}

static void
dial_resolved_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  DialData *data = g_task_get_task_data (task);
  GError *error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);

  if (addresses == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          GError *unreachable = g_error_new (FOCTET_ERROR, FOCTET_ERROR_UNREACHABLE, "Cannot reach quic/%s: %s",
                                             data->address, error->message);
          g_error_free (error);
          error = unreachable;
        }
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  /* The first address; the others if it has no listener or does not
   * answer (quic_transport_connection_failed ()), as tls's connect tries
   * every address of a name. */
  data->next = g_list_copy_deep (addresses->next, (GCopyFunc) g_object_ref, NULL);
  dial_start (task, addresses->data);
  g_resolver_free_addresses (addresses);
}

static void
quic_transport_dial_async (FoctetTransport     *transport,
                           const char          *address,
                           const FoctetNodeId  *expected_peer,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  QuicTransport *self = QUIC_TRANSPORT (transport);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *host = NULL;
  GError *error = NULL;
  guint16 port = 0;
  DialData *data;

  g_task_set_source_tag (task, quic_transport_dial_async);
  if (!foctet_parse_host_port (address, &host, &port, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  if (port == 0)
    {
      g_task_return_new_error (task, FOCTET_ERROR, FOCTET_ERROR_INVALID_ARGUMENT, "Cannot dial port 0 of %s", host);
      g_object_unref (task);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  data = g_new0 (DialData, 1);
  data->address = g_strdup (address);
  data->port = port;
  data->expected = expected_peer != NULL ? foctet_node_id_copy (expected_peer) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) dial_data_free);

  inet = g_inet_address_new_from_string (host);
  if (inet != NULL)
    dial_start (task, inet);
  else
    {
      g_autoptr(GResolver) resolver = g_resolver_get_default ();

      g_resolver_lookup_by_name_async (resolver, host, cancellable, dial_resolved_cb, task);
    }
}

static FoctetConnection *
quic_transport_dial_finish (FoctetTransport  *transport,
                            GAsyncResult     *result,
                            GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, transport), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
quic_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = quic_transport_get_name;
  iface->get_address_kind = quic_transport_get_address_kind;
  iface->listen_async = quic_transport_listen_async;
  iface->listen_finish = quic_transport_listen_finish;
  iface->dial_async = quic_transport_dial_async;
  iface->dial_finish = quic_transport_dial_finish;
  iface->get_listen_addresses = quic_transport_get_listen_addresses;
  iface->stop = quic_transport_stop;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
quic_transport_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  QuicTransport *self = QUIC_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->config.identity);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->config.handshake_timeout);
      break;
    case PROP_MAX_HANDSHAKES:
      g_value_set_uint (value, self->max_handshakes);
      break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS:
      g_value_set_uint (value, self->max_per_address);
      break;
    case PROP_MAX_HANDSHAKES_PER_ADDRESS:
      g_value_set_uint (value, self->max_handshakes_per_address);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->config.idle_timeout);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_uint (value, self->config.keepalive_interval);
      break;
    case PROP_MAX_STREAMS:
      g_value_set_uint (value, self->config.max_streams);
      break;
    case PROP_RETRIES_SENT:
      g_value_set_uint (value, self->retries_sent);
      break;
    case PROP_CONGESTION_CONTROL:
      g_value_set_string (value, cc_names[self->config.cc_algo]);
      break;
    case PROP_ALPN:
      g_value_set_string (value, self->config.alpn);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
quic_transport_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  QuicTransport *self = QUIC_TRANSPORT (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->config.identity = g_value_dup_object (value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      self->config.handshake_timeout = g_value_get_uint (value);
      break;
    case PROP_MAX_HANDSHAKES:
      self->max_handshakes = g_value_get_uint (value);
      break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS:
      self->max_per_address = g_value_get_uint (value);
      break;
    case PROP_MAX_HANDSHAKES_PER_ADDRESS:
      self->max_handshakes_per_address = g_value_get_uint (value);
      break;
    case PROP_IDLE_TIMEOUT:
      self->config.idle_timeout = g_value_get_uint (value);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      self->config.keepalive_interval = g_value_get_uint (value);
      break;
    case PROP_MAX_STREAMS:
      self->config.max_streams = g_value_get_uint (value);
      break;
    case PROP_ALPN:
      g_free (self->config.alpn);
      self->config.alpn = g_strdup (g_value_get_string (value) != NULL ? g_value_get_string (value)
                                                                      : FOCTET_TLS_ALPN);
      break;
    case PROP_CONGESTION_CONTROL:
      {
        const char *name = g_value_get_string (value);
        guint i;

        for (i = 0; i < G_N_ELEMENTS (cc_names) && g_strcmp0 (cc_names[i], name) != 0; i++)
          ;
        if (i == G_N_ELEMENTS (cc_names))
          g_warning ("Unknown congestion control “%s”: keeping %s", name, cc_names[self->config.cc_algo]);
        else
          self->config.cc_algo = i;
        break;
      }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
quic_transport_constructed (GObject *object)
{
  QuicTransport *self = QUIC_TRANSPORT (object);

  G_OBJECT_CLASS (quic_transport_parent_class)->constructed (object);
  g_assert (FOCTET_IS_IDENTITY (self->config.identity));
}

static void
quic_transport_dispose (GObject *object)
{
  QuicTransport *self = QUIC_TRANSPORT (object);
  GHashTableIter iter;
  gpointer key;
  g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = g_error_new_literal (FOCTET_ERROR, FOCTET_ERROR_CONNECTION_CLOSED,
                                                 "The QUIC transport was shut down");

  quic_transport_stop (FOCTET_TRANSPORT (self));
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (pending, g_object_ref (key));
  for (guint i = 0; i < pending->len; i++)
    quic_connection_abort (pending->pdata[i], error);
  for (guint i = 0; i < self->endpoints->len; i++)
    ((QuicEndpoint *) self->endpoints->pdata[i])->transport = NULL;
  g_ptr_array_set_size (self->endpoints, 0);

  G_OBJECT_CLASS (quic_transport_parent_class)->dispose (object);
}

static void
quic_transport_finalize (GObject *object)
{
  QuicTransport *self = QUIC_TRANSPORT (object);

  g_clear_object (&self->config.identity);
  g_free (self->config.alpn);
  g_clear_pointer (&self->endpoints, g_ptr_array_unref);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->per_address, foctet_address_counts_unref);
  g_clear_pointer (&self->handshakes_per_address, foctet_address_counts_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (quic_transport_parent_class)->finalize (object);
}

static void
quic_transport_class_init (QuicTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = quic_transport_get_property;
  object_class->set_property = quic_transport_set_property;
  object_class->constructed = quic_transport_constructed;
  object_class->dispose = quic_transport_dispose;
  object_class->finalize = quic_transport_finalize;

  g_object_class_override_property (object_class, PROP_IDENTITY, "identity");

  /**
   * QuicTransport:handshake-timeout:
   *
   * Milliseconds a QUIC handshake may take, in both directions.
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL, 1, 3600 * 1000, FOCTET_TLS_HANDSHAKE_TIMEOUT_DEFAULT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:max-handshakes:
   *
   * Incoming handshakes allowed in progress at once; Initials beyond are
   * refused with CONNECTION_REFUSED.  From half of it on, a dialer must
   * first prove its address with a Retry.
   */
  properties[PROP_MAX_HANDSHAKES] =
    g_param_spec_uint ("max-handshakes", NULL, NULL, 1, 65536, DEFAULT_MAX_HANDSHAKES,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:max-connections-per-address:
   *
   * Incoming connections (in handshake or established) allowed from one
   * IP address.
   */
  properties[PROP_MAX_CONNECTIONS_PER_ADDRESS] =
    g_param_spec_uint ("max-connections-per-address", NULL, NULL, 1, 65536, DEFAULT_MAX_PER_ADDRESS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:max-handshakes-per-address:
   *
   * Incoming handshakes one IP address may have in progress while half of
   * #QuicTransport:max-handshakes or more are; its further Initials are
   * then refused with CONNECTION_REFUSED.
   */
  properties[PROP_MAX_HANDSHAKES_PER_ADDRESS] =
    g_param_spec_uint ("max-handshakes-per-address", NULL, NULL, 1, 65536, DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:idle-timeout:
   *
   * Milliseconds without a packet after which a connection ends
   * (PROTOCOL §3: 30 s).
   */
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL, 1, 3600 * 1000, DEFAULT_IDLE_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:keepalive-interval:
   *
   * Milliseconds of quiet after which a PING keeps the connection open;
   * 0 sends none.
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_uint ("keepalive-interval", NULL, NULL, 0, 3600 * 1000, DEFAULT_KEEPALIVE,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:max-streams:
   *
   * Streams the peer may have open towards this side at once (PROTOCOL
   * §3: at least 256); raised again as they close.
   */
  properties[PROP_MAX_STREAMS] =
    g_param_spec_uint ("max-streams", NULL, NULL, 1, 1 << 20, DEFAULT_MAX_STREAMS,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:retries-sent:
   *
   * How many Retry packets the listener sent: a sign of a flood of
   * Initials.
   */
  properties[PROP_RETRIES_SENT] =
    g_param_spec_uint ("retries-sent", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:congestion-control:
   *
   * ngtcp2's congestion controller: "bbr" (the default: random loss on a
   * long path does not make it back off the way loss-based ones do),
   * "bbr2", "cubic" or "reno".
   */
  properties[PROP_CONGESTION_CONTROL] =
    g_param_spec_string ("congestion-control", NULL, NULL, "bbr",
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  /**
   * QuicTransport:alpn:
   *
   * The one ALPN protocol this transport offers and accepts:
   * %FOCTET_TLS_ALPN between nodes, %FOCTET_TLS_ALPN_RELAY between a relay
   * and its clients (PROTOCOL §7).  Applies to connections started after
   * it is set.
   */
  properties[PROP_ALPN] =
    g_param_spec_string ("alpn", NULL, NULL, FOCTET_TLS_ALPN,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  for (guint i = PROP_HANDSHAKE_TIMEOUT; i < N_PROPS; i++)
    g_object_class_install_property (object_class, i, properties[i]);
}

static void
quic_transport_class_finalize (QuicTransportClass *klass)
{
}

static void
quic_transport_init (QuicTransport *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->endpoints = g_ptr_array_new_with_free_func ((GDestroyNotify) endpoint_detach);
  self->pending = g_hash_table_new (NULL, NULL);
  self->per_address = foctet_address_counts_new ();
  self->handshakes_per_address = foctet_address_counts_new ();
  gnutls_rnd (GNUTLS_RND_KEY, self->retry_secret, sizeof self->retry_secret);
}

void
quic_transport_register (GTypeModule *module)
{
  quic_transport_register_type (module);
}

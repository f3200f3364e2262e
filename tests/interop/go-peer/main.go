// foctet-go-peer: an independent implementation of the foctet wire protocol
// (version 1: TLS 1.3 over TCP with hashicorp/yamux, and QUIC with
// quic-go), built from Go's crypto/tls, github.com/hashicorp/yamux and
// github.com/lucas-clemente/quic-go, used as the reference peer of the
// interop tests.
//
//	foctet-go-peer serve --listen [tls/|quic/]HOST:PORT... [--key FILE] [--present-other-key]
//	foctet-go-peer ping TICKET [--count N] [--interval MS] [DIAL OPTIONS]
//	foctet-go-peer perf TICKET [--download BYTES] [--upload BYTES] [--streams N] [--json] [DIAL OPTIONS]
//	foctet-go-peer open TICKET PROTOCOL [--no-fin] [DIAL OPTIONS]
//
// Results go to stdout, logs and errors to stderr.  Exit status: 0 success,
// 1 failure at run time, 2 bad command line.  See docs/interop.md.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

const (
	progName = "foctet-go-peer"

	alpnDirect = "foctet/1"
	protoPing  = "foctet/ping/1"
	protoPerf  = "foctet/perf/1"

	// PROTOCOL §5: an acceptor may refuse a perf download above its limit,
	// which must be at least 64 GiB.
	perfMaxDownload = uint64(1) << 40

	ioChunk         = 1 << 20  // bytes per Write/Read call of the bulk paths
	streamWindow    = 16 << 20 // yamux receive window per stream (PROTOCOL §4)
	acceptBacklog   = 256      // incoming streams a connection may have open at once (PROTOCOL §3)
	keepAliveTime   = 15 * time.Second
	handshakeTime   = 10 * time.Second
	headerReadTime  = 10 * time.Second
	pingReplyTime   = 10 * time.Second
	closeDrainTime  = 5 * time.Second
	refusalTime     = 2 * time.Second // `open --no-fin`: for the rest of a refusal
	goAwayWriteTime = 5 * time.Second
)

// Application error codes for closing a QUIC connection or resetting a
// QUIC stream (PROTOCOL §3); yamux has RST without a code and GoAway(0).
const (
	codeNoError   = 0
	codeProtocol  = 1
	codeInternal  = 2
	codeRefused   = 3 // unknown protocol, limit reached
	codeGoingAway = 4
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// zeros is the (read-only) payload of every perf upload and download.
var zeros = make([]byte, ioChunk)

// ---------------------------------------------------------------------------
// Errors and exit codes

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...interface{}) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// failure is a run-time error: "<what>: <why>".
func failure(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, progName+": "+format+"\n", args...)
}

// ---------------------------------------------------------------------------
// Identity (PROTOCOL §1)

func nodeIDText(pub ed25519.PublicKey) string {
	return strings.ToLower(b32.EncodeToString(pub))
}

func generateKey() ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return priv
}

// loadOrCreateKey reads an Ed25519 PKCS#8 PEM key, or creates the file
// (mode 0600) with a fresh key when it does not exist.  A key file that
// group or others may access is refused.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		priv := generateKey()
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0600)
		if errors.Is(err, os.ErrExist) {
			return loadOrCreateKey(path) // created meanwhile by someone else
		}
		if err != nil {
			return nil, err
		}
		werr := pem.Encode(out, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if cerr := out.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, werr
		}
		return priv, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode().Perm()&0077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: a key file must not be accessible by group or others (chmod 600)",
			path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM \"PRIVATE KEY\" block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is %T, not Ed25519", path, key)
	}
	return priv, nil
}

// ---------------------------------------------------------------------------
// Certificates and TLS (PROTOCOL §2)

// selfSignedCert makes the one X.509 v3 certificate a node presents:
// self-signed with its Ed25519 key, subject CN = NodeId text.
func selfSignedCert(priv ed25519.PrivateKey) (tls.Certificate, error) {
	pub := priv.Public().(ed25519.PublicKey)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeIDText(pub)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

type nodeIDMismatchError struct{ got, want ed25519.PublicKey }

func (e *nodeIDMismatchError) Error() string {
	return fmt.Sprintf("NodeId mismatch: the peer is %s, the ticket names %s", nodeIDText(e.got), nodeIDText(e.want))
}

// peerNodeID checks a peer's certificate list by the rules of PROTOCOL §2
// and returns its NodeId.  Dates, issuer, subject, version and key usage are
// deliberately not looked at.
func peerNodeID(rawCerts [][]byte) (ed25519.PublicKey, error) {
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("peer sent %d certificates, want exactly one", len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %v", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("peer certificate key is %T, not Ed25519", cert.PublicKey)
	}
	if cert.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(pub, cert.RawTBSCertificate, cert.Signature) {
		return nil, errors.New("peer certificate is not self-signed by its Ed25519 key")
	}
	return pub, nil
}

// verifyPeer returns the VerifyPeerCertificate hook; with want != nil (the
// dialer) it also requires that NodeId.  A returned error makes crypto/tls
// abort the handshake with alert bad_certificate.
func verifyPeer(want ed25519.PublicKey) func([][]byte, [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		got, err := peerNodeID(rawCerts)
		if err != nil {
			return err
		}
		if want != nil && !bytes.Equal(got, want) {
			return &nodeIDMismatchError{got: got, want: want}
		}
		return nil
	}
}

func baseTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		NextProtos:             []string{alpnDirect},
		CurvePreferences:       []tls.CurveID{tls.X25519, tls.CurveP256},
		SessionTicketsDisabled: true, // no resumption, no 0-RTT in version 1
		// crypto/tls orders the TLS 1.3 suites itself: AES-128-GCM first on
		// hardware with AES instructions, ChaCha20 first otherwise.
	}
}

// clientTLSConfig offers alpn (none when empty: a diagnostic) and requires
// the peer to be want.
func clientTLSConfig(cert tls.Certificate, want ed25519.PublicKey, alpn string) *tls.Config {
	cfg := baseTLSConfig()
	cfg.NextProtos = nil
	if alpn != "" {
		cfg.NextProtos = []string{alpn}
	}
	cfg.InsecureSkipVerify = true // the PKI check is replaced by verifyPeer
	cfg.VerifyPeerCertificate = verifyPeer(want)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	return cfg
}

func serverTLSConfig(cert tls.Certificate) *tls.Config {
	cfg := baseTLSConfig()
	cfg.Certificates = []tls.Certificate{cert}
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.VerifyPeerCertificate = verifyPeer(nil)
	// crypto/tls refuses a ClientHello whose ALPN list lacks foctet/1 with
	// no_application_protocol, but accepts one without the extension.
	// PROTOCOL §2 wants that refused the same way: over TCP, send the alert
	// ourselves (a plaintext record: nothing has been sent yet) and stop
	// crypto/tls from following it with an internal_error alert.  Over QUIC
	// the error becomes quic-go's CRYPTO_ERROR for internal_error (0x150):
	// its TLS stack (qtls) offers no way to send another alert here.
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 0 {
			if ac, ok := hello.Conn.(*alertConn); ok {
				ac.fatalAlert(120) // no_application_protocol
			}
			return nil, errors.New("client offered no ALPN (want " + alpnDirect + ")")
		}
		return nil, nil
	}
	return cfg
}

// alertConn lets the server write one raw TLS alert before the handshake
// and then silences every later write on the connection.
type alertConn struct {
	net.Conn
	mu   sync.Mutex
	dead bool
}

func (c *alertConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func (c *alertConn) fatalAlert(desc byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead {
		c.Conn.Write([]byte{21, 3, 3, 0, 2, 2, desc}) // alert record, TLS 1.2 legacy version, fatal
		c.dead = true
	}
}

// ---------------------------------------------------------------------------
// Tickets (PROTOCOL §6)

const ticketPrefix = "foctet"

type ticketEntry struct {
	typ   byte
	value []byte
}

type ticket struct {
	nodeID  ed25519.PublicKey
	entries []ticketEntry
}

func encodeTicket(t *ticket) string {
	payload := []byte{1}
	payload = append(payload, t.nodeID...)
	for _, e := range t.entries {
		payload = append(payload, e.typ, byte(len(e.value)))
		payload = append(payload, e.value...)
	}
	return ticketPrefix + strings.ToLower(b32.EncodeToString(payload))
}

func parseTicket(text string) (*ticket, error) {
	if !strings.HasPrefix(text, ticketPrefix) {
		return nil, fmt.Errorf("wrong prefix (a ticket starts with %q)", ticketPrefix)
	}
	body := strings.ToUpper(text[len(ticketPrefix):])
	payload, err := b32.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("bad base32: %v", err)
	}
	if b32.EncodeToString(payload) != body {
		return nil, errors.New("bad base32: non-zero unused bits in the last character")
	}
	if len(payload) < 1 {
		return nil, errors.New("empty payload")
	}
	if payload[0] != 1 {
		return nil, fmt.Errorf("version %d, only version 1 is known", payload[0])
	}
	if len(payload) < 33 {
		return nil, fmt.Errorf("truncated node id (%d of 32 bytes)", len(payload)-1)
	}
	t := &ticket{nodeID: ed25519.PublicKey(append([]byte(nil), payload[1:33]...))}
	for off := 33; off < len(payload); {
		if off+2 > len(payload) {
			return nil, fmt.Errorf("truncated entry at byte %d", off)
		}
		typ, n := payload[off], int(payload[off+1])
		if off+2+n > len(payload) {
			return nil, fmt.Errorf("entry of type %d at byte %d: length %d runs past the end", typ, off, n)
		}
		value := payload[off+2 : off+2+n]
		if typ >= 1 && typ <= 3 {
			if err := checkHostPort(string(value)); err != nil {
				return nil, fmt.Errorf("entry of type %d at byte %d: malformed address %q: %v", typ, off, value, err)
			}
		}
		t.entries = append(t.entries, ticketEntry{typ: typ, value: value})
		off += 2 + n
	}
	return t, nil
}

// checkHostPort accepts "host:port" with a hostname, an IPv4 address or a
// bracketed IPv6 address, and a port 1-65535.
func checkHostPort(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return errors.New("no port")
	}
	host, port := s[:i], s[i+1:]
	if len(port) == 0 || len(port) > 5 || strings.TrimLeft(port, "0123456789") != "" {
		return errors.New("bad port")
	}
	if p, _ := strconv.Atoi(port); p < 1 || p > 65535 {
		return errors.New("port out of range")
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return errors.New("unterminated '['")
		}
		ip := net.ParseIP(host[1 : len(host)-1])
		if ip == nil || ip.To4() != nil || strings.Contains(host, ".") {
			return errors.New("bad IPv6 address")
		}
		return nil
	}
	if net.ParseIP(host) != nil {
		if strings.Contains(host, ":") {
			return errors.New("IPv6 address without brackets")
		}
		return nil
	}
	return checkHostname(host)
}

func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if len(h) > 253 {
		return errors.New("host name too long")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("bad host name")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("bad host name")
			}
		}
	}
	return nil
}

// Ticket entry types of the two transports.
const (
	entryQUIC = 1
	entryTLS  = 2
)

// firstAddress returns the ticket's first address of that entry type.
func (t *ticket) firstAddress(typ byte) (string, bool) {
	for _, e := range t.entries {
		if e.typ == typ {
			return string(e.value), true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------
// Connections and streams, whatever the transport (PROTOCOL §3-§5)

var (
	errStreamReset = errors.New("stream reset by the peer")
	errReadTimeout = errors.New("read timed out")
)

// stream is one foctet stream: a yamux stream inside TLS, or a QUIC
// bidirectional stream.  Close half-closes (FIN); Read returns the peer's
// data until its FIN (io.EOF), also after a local Close.  Errors of a reset
// stream wrap errStreamReset, an expired read deadline is errReadTimeout.
type stream interface {
	io.ReadWriteCloser
	// Reset aborts both directions: yamux RST, or QUIC RESET_STREAM and
	// STOP_SENDING with the application error code.
	Reset(code uint64)
	SetReadDeadline(t time.Time) error
}

// session is one connection to a peer over either transport.
type session interface {
	transport() string // "tls" or "quic", as in listen URIs and outputs
	openStream() (stream, error)
	acceptStream() (stream, error) // fails once the connection has ended
	// close ends the connection normally: yamux GoAway(0) then close, or
	// QUIC CONNECTION_CLOSE with application code 0.
	close()
	// explain turns an error of a stream operation into what happened: a
	// reset stream, or why the whole connection ended.
	explain(err error) error
	// refusal is what `open` prints for a stream the peer reset, waiting
	// up to wait for what may still come.
	refusal(s stream, err error, wait time.Duration) string
}

func streamHeader(proto string) []byte {
	return append([]byte{byte(len(proto))}, proto...)
}

// ---------------------------------------------------------------------------
// yamux over TLS (PROTOCOL §4)

func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = acceptBacklog
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = keepAliveTime
	cfg.ConnectionWriteTimeout = 30 * time.Second
	cfg.MaxStreamWindowSize = streamWindow
	cfg.LogOutput = io.Discard
	if os.Getenv("FOCTET_GO_PEER_DEBUG") != "" {
		cfg.LogOutput = os.Stderr
	}
	return cfg
}

type yamuxSession struct{ sess *yamux.Session }

// yamuxStream reads with FoctetRead (readable after a local Close, see
// yamux-foctet.go.in); yamux's Close is already a half-close.
type yamuxStream struct{ *yamux.Stream }

func (s yamuxStream) Read(b []byte) (int, error) {
	n, err := s.Stream.FoctetRead(b)
	return n, yamuxStreamError(err)
}

func (s yamuxStream) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	return n, yamuxStreamError(err)
}

func (s yamuxStream) Reset(uint64) { s.Stream.FoctetReset() } // RST carries no code

func yamuxStreamError(err error) error {
	switch err {
	case yamux.ErrConnectionReset:
		return errStreamReset
	case yamux.ErrTimeout:
		return errReadTimeout
	}
	return err
}

func (y *yamuxSession) transport() string { return "tls" }

func (y *yamuxSession) openStream() (stream, error) {
	s, err := y.sess.OpenStream()
	if err != nil {
		return nil, err
	}
	return yamuxStream{s}, nil
}

func (y *yamuxSession) acceptStream() (stream, error) {
	s, err := y.sess.AcceptStream()
	if err != nil {
		return nil, err
	}
	return yamuxStream{s}, nil
}

func (y *yamuxSession) close() {
	done := make(chan struct{})
	go func() {
		y.sess.GoAway()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(goAwayWriteTime):
	}
	y.sess.Close()
}

func (y *yamuxSession) explain(err error) error {
	if errors.Is(err, errStreamReset) {
		return err
	}
	if cause := y.sess.FoctetShutdownErr(); cause != nil {
		switch {
		case cause == io.EOF:
			return errors.New("the peer closed the connection")
		case cause == yamux.ErrSessionShutdown:
			return errors.New("the connection was closed")
		default:
			return fmt.Errorf("connection lost: %v", cause)
		}
	}
	return err
}

func (y *yamuxSession) refusal(stream, error, time.Duration) string { return "refused" }

// ---------------------------------------------------------------------------
// The protocols every node serves (PROTOCOL §5)

// serveStream reads the header and routes the stream; an unknown or empty
// protocol name is refused.
func serveStream(s stream) {
	var l [1]byte
	s.SetReadDeadline(time.Now().Add(headerReadTime))
	if _, err := io.ReadFull(s, l[:]); err != nil || l[0] == 0 {
		s.Reset(codeRefused)
		return
	}
	name := make([]byte, l[0])
	if _, err := io.ReadFull(s, name); err != nil {
		s.Reset(codeRefused)
		return
	}
	s.SetReadDeadline(time.Time{})
	switch string(name) {
	case protoPing:
		servePing(s)
	case protoPerf:
		servePerf(s)
	default:
		s.Reset(codeRefused)
	}
}

// servePing echoes every byte until the opener's FIN, then half-closes.
func servePing(s stream) {
	buf := make([]byte, 4096)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				s.Reset(codeInternal)
				return
			}
		}
		if err == io.EOF {
			s.Close()
			return
		}
		if err != nil {
			s.Reset(codeInternal)
			return
		}
	}
}

// servePerf reads the u64 count N, discards the upload until the FIN, then
// sends N bytes and half-closes.  N above the limit is refused.
func servePerf(s stream) {
	var nbuf [8]byte
	if _, err := io.ReadFull(s, nbuf[:]); err != nil {
		s.Reset(codeInternal)
		return
	}
	n := binary.BigEndian.Uint64(nbuf[:])
	if n > perfMaxDownload {
		s.Reset(codeRefused)
		return
	}
	buf := make([]byte, ioChunk)
	for {
		_, err := s.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			s.Reset(codeInternal)
			return
		}
	}
	for n > 0 {
		c := uint64(len(zeros))
		if n < c {
			c = n
		}
		if _, err := s.Write(zeros[:c]); err != nil {
			s.Reset(codeInternal)
			return
		}
		n -= c
	}
	s.Close()
}

// ---------------------------------------------------------------------------
// serve

type sessionSet struct {
	mu       sync.Mutex
	sessions map[session]struct{}
	closing  bool
}

func (s *sessionSet) add(sess session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *sessionSet) remove(sess session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

func (s *sessionSet) closeAll() {
	s.mu.Lock()
	s.closing = true
	var all []session
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, sess := range all {
		wg.Add(1)
		go func(sess session) {
			defer wg.Done()
			sess.close()
		}(sess)
	}
	wg.Wait()
}

// addressesFor lists the "host:port" values a ticket gives for a listener:
// the address itself, or for a wildcard address the usable interface
// addresses, loopback last.
func addressesFor(host string, port int) []string {
	ip := net.ParseIP(host)
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{net.JoinHostPort(host, strconv.Itoa(port))}
	}
	want6 := host == "" || ip.To4() == nil
	var normal, loopback []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsMulticast() {
			continue
		}
		if ipn.IP.To4() == nil && !want6 {
			continue
		}
		hp := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port))
		if ipn.IP.IsLoopback() {
			loopback = append(loopback, hp)
		} else {
			normal = append(normal, hp)
		}
	}
	return append(normal, loopback...)
}

// listenURI is one --listen value: [tls/|quic/]HOST:PORT (no prefix: tls).
type listenURI struct {
	transport, host, port string
}

func parseListenURI(text string) (listenURI, error) {
	u := listenURI{transport: "tls"}
	hostPort := text
	if t, rest, ok := strings.Cut(text, "/"); ok {
		if t != "tls" && t != "quic" {
			return u, usagef("serve: --listen: unknown transport '%s' (tls or quic)", t)
		}
		u.transport, hostPort = t, rest
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return u, usagef("serve: --listen: '%s' is not [tls/|quic/]HOST:PORT", text)
	}
	u.host, u.port = host, port
	return u, nil
}

// node is what the connections of a serving node share.
type node struct {
	cert tls.Certificate
	set  *sessionSet
}

// serveSession serves the streams the peer opens until the connection ends.
func (n *node) serveSession(sess session, remote string, peer ed25519.PublicKey) {
	if !n.set.add(sess) {
		sess.close()
		return
	}
	defer n.set.remove(sess)
	fmt.Fprintf(os.Stderr, "connection from %s/%s, peer %s\n", sess.transport(), remote, nodeIDText(peer))
	for {
		s, err := sess.acceptStream()
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection from %s/%s closed: %v\n", sess.transport(), remote, sess.explain(err))
			break
		}
		go serveStream(s)
	}
	sess.close()
}

func cmdServe(args []string) error {
	var listens []string
	var keyPath string
	var otherKey bool
	pos, err := parseArgs("serve", args, []optSpec{
		{name: "listen", list: &listens},
		{name: "key", value: &keyPath},
		{name: "present-other-key", flag: &otherKey},
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve: unexpected argument '%s'", pos[0])
	}
	if len(listens) == 0 {
		return usagef("serve: --listen [tls/|quic/]HOST:PORT is required")
	}
	var uris []listenURI
	for _, l := range listens {
		u, err := parseListenURI(l)
		if err != nil {
			return err
		}
		uris = append(uris, u)
	}

	var identity ed25519.PrivateKey
	if keyPath != "" {
		if identity, err = loadOrCreateKey(keyPath); err != nil {
			return failure("key", err)
		}
	} else {
		identity = generateKey()
	}
	tlsKey := identity
	if otherKey {
		tlsKey = generateKey()
	}
	cert, err := selfSignedCert(tlsKey)
	if err != nil {
		return failure("certificate", err)
	}

	// Before the ticket is out: whoever read it may signal us at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	n := &node{cert: cert, set: &sessionSet{sessions: map[session]struct{}{}}}
	t := &ticket{nodeID: identity.Public().(ed25519.PublicKey)}
	acceptDone := make(chan error, len(uris))
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var listening []string
	for _, u := range uris {
		var port int
		var typ byte
		var ln io.Closer
		switch u.transport {
		case "tls":
			l, err := net.Listen("tcp", net.JoinHostPort(u.host, u.port))
			if err != nil {
				return failure("listen", err)
			}
			port, typ, ln = l.Addr().(*net.TCPAddr).Port, entryTLS, l
			go n.acceptTLS(l, acceptDone)
		case "quic":
			l, err := listenQUIC(net.JoinHostPort(u.host, u.port), serverTLSConfig(cert))
			if err != nil {
				return failure("listen", err)
			}
			port, typ, ln = l.Addr().(*net.UDPAddr).Port, entryQUIC, l
			go n.acceptQUIC(l, acceptDone)
		}
		closers = append(closers, ln)
		for _, a := range addressesFor(u.host, port) {
			if len(a) <= 255 {
				t.entries = append(t.entries, ticketEntry{typ: typ, value: []byte(a)})
			}
		}
		listening = append(listening, u.transport+"/"+net.JoinHostPort(u.host, strconv.Itoa(port)))
	}
	os.Stdout.WriteString(encodeTicket(t) + "\n") // unbuffered: reaches a pipe at once
	for _, l := range listening {
		fmt.Fprintf(os.Stderr, "listening on %s\n", l)
	}

	select {
	case <-sigs:
		n.set.closeAll()
		return nil
	case err := <-acceptDone:
		n.set.closeAll()
		return failure("accept", err)
	}
}

func (n *node) acceptTLS(ln net.Listener, done chan<- error) {
	cfg := serverTLSConfig(n.cert)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			done <- err
			return
		}
		go n.serveTLS(c, cfg)
	}
}

func (n *node) serveTLS(raw net.Conn, cfg *tls.Config) {
	remote := raw.RemoteAddr().String()
	conn := tls.Server(&alertConn{Conn: raw}, cfg)
	conn.SetDeadline(time.Now().Add(handshakeTime))
	if err := conn.Handshake(); err != nil {
		logf("handshake with tls/%s failed: %v", remote, err)
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	state := conn.ConnectionState()
	if state.NegotiatedProtocol != alpnDirect {
		logf("handshake with tls/%s: ALPN %q, not %s", remote, state.NegotiatedProtocol, alpnDirect)
		conn.Close()
		return
	}
	peer := state.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	sess, err := yamux.Server(conn, yamuxConfig())
	if err != nil {
		logf("yamux with %s: %v", remote, err)
		conn.Close()
		return
	}
	n.serveSession(&yamuxSession{sess}, remote, peer)
}

// ---------------------------------------------------------------------------
// Dialing

// dialOptions are the options of every command that dials a ticket.
type dialOptions struct {
	transport string // "tls", "quic", or "" for QUIC when the ticket has a QUIC address
	alpn      string // ALPN to offer (a diagnostic: the protocol wants foctet/1)
	nodeID    string // NodeId text to require instead of the ticket's (a diagnostic)
	noALPN    bool   // offer no ALPN at all (a diagnostic)
	noCert    bool   // send no certificate when asked for one (a diagnostic)
	// traceResets: record the STOP_SENDING frames the peer sends (QUIC),
	// for `open` to report them.
	traceResets bool
}

func (o *dialOptions) specs() []optSpec {
	return []optSpec{
		{name: "transport", value: &o.transport},
		{name: "alpn", value: &o.alpn},
		{name: "no-alpn", flag: &o.noALPN},
		{name: "no-certificate", flag: &o.noCert},
		{name: "node-id", value: &o.nodeID},
	}
}

type dialed struct {
	sess      session
	handshake time.Duration // TCP connect + TLS handshake, or QUIC handshake
}

func dialTicket(text string, o dialOptions) (*dialed, error) {
	t, err := parseTicket(text)
	if err != nil {
		return nil, usagef("ticket: %v", err)
	}
	want := t.nodeID
	if o.nodeID != "" {
		if want, err = parseNodeID(o.nodeID); err != nil {
			return nil, usagef("--node-id: %v", err)
		}
	}
	alpn := alpnDirect
	if o.alpn != "" {
		alpn = o.alpn
	}
	if o.noALPN {
		alpn = ""
	}
	quicAddr, hasQUIC := t.firstAddress(entryQUIC)
	tlsAddr, hasTLS := t.firstAddress(entryTLS)
	switch o.transport {
	case "":
		if hasQUIC {
			o.transport = "quic"
		} else {
			o.transport = "tls"
		}
	case "tls", "quic":
	default:
		return nil, usagef("--transport: '%s' is neither tls nor quic", o.transport)
	}
	if o.transport == "quic" && !hasQUIC {
		return nil, failure("ticket", errors.New("no QUIC (type 1) address"))
	}
	if o.transport == "tls" && !hasTLS {
		return nil, failure("ticket", errors.New("no TLS (type 2) address"))
	}
	cert, err := selfSignedCert(generateKey())
	if err != nil {
		return nil, failure("certificate", err)
	}
	tlsConf := clientTLSConfig(cert, want, alpn)
	if o.noCert {
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{}, nil
		}
	}
	if o.transport == "quic" {
		return dialQUIC(quicAddr, tlsConf, alpn, o.traceResets)
	}

	start := time.Now()
	raw, err := net.DialTimeout("tcp", tlsAddr, handshakeTime)
	if err != nil {
		return nil, failure("connect", err)
	}
	conn := tls.Client(raw, tlsConf)
	conn.SetDeadline(time.Now().Add(handshakeTime))
	if err := conn.Handshake(); err != nil {
		conn.Close()
		return nil, failure("connect", fmt.Errorf("TLS handshake with %s: %w", tlsAddr, err))
	}
	conn.SetDeadline(time.Time{})
	if p := conn.ConnectionState().NegotiatedProtocol; p != alpn {
		conn.Close()
		return nil, failure("connect", fmt.Errorf("%s selected ALPN %q, not %q", tlsAddr, p, alpn))
	}
	elapsed := time.Since(start)
	sess, err := yamux.Client(conn, yamuxConfig())
	if err != nil {
		conn.Close()
		return nil, failure("yamux", err)
	}
	return &dialed{sess: &yamuxSession{sess}, handshake: elapsed}, nil
}

// parseNodeID reads the text form of a NodeId (PROTOCOL §1).
func parseNodeID(text string) (ed25519.PublicKey, error) {
	if len(text) != 52 {
		return nil, fmt.Errorf("a NodeId has 52 characters, not %d", len(text))
	}
	upper := strings.ToUpper(text)
	key, err := b32.DecodeString(upper)
	if err != nil || len(key) != ed25519.PublicKeySize || b32.EncodeToString(key) != upper {
		return nil, fmt.Errorf("'%s' is not a base32 NodeId", text)
	}
	return ed25519.PublicKey(key), nil
}

// ---------------------------------------------------------------------------
// ping

func cmdPing(args []string) error {
	count, interval := 4, 1000
	var countText, intervalText string
	var dopts dialOptions
	pos, err := parseArgs("ping", args, append([]optSpec{
		{name: "count", value: &countText},
		{name: "interval", value: &intervalText},
	}, dopts.specs()...))
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("ping: missing TICKET")
	}
	if len(pos) > 1 {
		return usagef("ping: unexpected argument '%s'", pos[1])
	}
	if countText != "" {
		if count, err = strconv.Atoi(countText); err != nil || count < 1 {
			return usagef("ping: --count: '%s' is not a number of at least 1", countText)
		}
	}
	if intervalText != "" {
		if interval, err = strconv.Atoi(intervalText); err != nil || interval < 0 {
			return usagef("ping: --interval: '%s' is not a number of milliseconds", intervalText)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	d, err := dialTicket(pos[0], dopts)
	if err != nil {
		return err
	}
	defer d.sess.close()

	s, err := d.sess.openStream()
	if err != nil {
		return failure("ping", d.sess.explain(err))
	}
	if _, err := s.Write(streamHeader(protoPing)); err != nil {
		return failure("ping", d.sess.explain(err))
	}
	payload := make([]byte, 32)
	echo := make([]byte, 32)
	for seq := 1; seq <= count; seq++ {
		if seq > 1 {
			select {
			case <-time.After(time.Duration(interval) * time.Millisecond):
			case <-sigs: // like ping(8): stop early, no error
				seq = count + 1
				continue
			}
		}
		rand.Read(payload)
		s.SetReadDeadline(time.Now().Add(pingReplyTime))
		start := time.Now()
		if _, err := s.Write(payload); err != nil {
			return failure("ping", d.sess.explain(err))
		}
		if _, err := io.ReadFull(s, echo); err != nil {
			if err == errReadTimeout {
				err = fmt.Errorf("no reply within %v", pingReplyTime)
			} else if err = d.sess.explain(err); err == io.EOF || err == io.ErrUnexpectedEOF {
				err = errors.New("the peer closed the stream")
			}
			return failure("ping", err)
		}
		rtt := time.Since(start)
		if !bytes.Equal(echo, payload) {
			return failure("ping", errors.New("the echo differs from what was sent"))
		}
		fmt.Printf("seq=%d rtt=%.3fms via=%s\n", seq, float64(rtt.Nanoseconds())/1e6, d.sess.transport())
	}

	// Half-close, then wait for the acceptor's FIN (PROTOCOL §5).
	s.Close()
	s.SetReadDeadline(time.Now().Add(closeDrainTime))
	buf := make([]byte, 64)
	for {
		if _, err := s.Read(buf); err != nil {
			break
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// open: one stream with any protocol name, to see whether the peer refuses it

func cmdOpen(args []string) error {
	var dopts dialOptions
	var noFIN bool
	pos, err := parseArgs("open", args, append([]optSpec{{name: "no-fin", flag: &noFIN}}, dopts.specs()...))
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("open: want TICKET PROTOCOL")
	}
	name := pos[1]
	if len(name) > 255 {
		return usagef("open: the protocol name is longer than 255 bytes")
	}
	dopts.traceResets = true
	d, err := dialTicket(pos[0], dopts)
	if err != nil {
		return err
	}
	defer d.sess.close()

	s, err := d.sess.openStream()
	if err != nil {
		return failure("open", d.sess.explain(err))
	}
	if _, err := s.Write(streamHeader(name)); err != nil {
		return failure("open", d.sess.explain(err))
	}
	var wait time.Duration
	if noFIN {
		wait = refusalTime
	} else {
		s.Close()
	}
	s.SetReadDeadline(time.Now().Add(pingReplyTime))
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := s.Read(buf)
		total += n
		switch {
		case err == nil:
		case err == io.EOF:
			fmt.Printf("closed %d\n", total)
			return nil
		case errors.Is(err, errStreamReset):
			fmt.Println(d.sess.refusal(s, err, wait))
			return nil
		case err == errReadTimeout:
			return failure("open", fmt.Errorf("neither FIN nor reset within %v", pingReplyTime))
		default:
			return failure("open", d.sess.explain(err))
		}
	}
}

// ---------------------------------------------------------------------------
// perf

func parseBytes(text string) (uint64, bool) {
	mult := uint64(1)
	num := text
	if n := len(text); n > 0 {
		switch text[n-1] {
		case 'K', 'k':
			mult, num = 1<<10, text[:n-1]
		case 'M', 'm':
			mult, num = 1<<20, text[:n-1]
		case 'G', 'g':
			mult, num = 1<<30, text[:n-1]
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || v > ^uint64(0)/mult {
		return 0, false
	}
	return v * mult, true
}

type perfRun struct {
	up, down   uint64
	t0, t1, t2 time.Time // stream opened, first downloaded byte (or end), last byte
}

func perfStream(sess session, upload, download uint64) (perfRun, error) {
	var r perfRun
	r.t0 = time.Now()
	s, err := sess.openStream()
	if err != nil {
		return r, sess.explain(err)
	}
	hdr := streamHeader(protoPerf)
	hdr = binary.BigEndian.AppendUint64(hdr, download)
	if _, err := s.Write(hdr); err != nil {
		return r, sess.explain(err)
	}
	for rem := upload; rem > 0; {
		c := uint64(len(zeros))
		if rem < c {
			c = rem
		}
		if _, err := s.Write(zeros[:c]); err != nil {
			return r, sess.explain(err)
		}
		rem -= c
		r.up += c
	}
	if err := s.Close(); err != nil { // half-close: the upload is complete
		return r, sess.explain(err)
	}
	buf := make([]byte, ioChunk)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if r.down == 0 {
				r.t1 = time.Now()
			}
			r.down += uint64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, fmt.Errorf("%v after %d of %d bytes", sess.explain(err), r.down, download)
		}
	}
	r.t2 = time.Now()
	if r.down == 0 {
		r.t1 = r.t2
	}
	if r.down != download {
		if cause := sess.explain(io.EOF); cause != io.EOF {
			return r, fmt.Errorf("%v after %d of %d bytes", cause, r.down, download)
		}
		return r, fmt.Errorf("the peer sent %d bytes, %d were asked for", r.down, download)
	}
	return r, nil
}

func cmdPerf(args []string) error {
	var upText, downText, streamsText string
	var asJSON bool
	var dopts dialOptions
	pos, err := parseArgs("perf", args, append([]optSpec{
		{name: "upload", value: &upText},
		{name: "download", value: &downText},
		{name: "streams", value: &streamsText},
		{name: "json", flag: &asJSON},
	}, dopts.specs()...))
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("perf: missing TICKET")
	}
	if len(pos) > 1 {
		return usagef("perf: unexpected argument '%s'", pos[1])
	}
	upload, download := uint64(100<<20), uint64(100<<20)
	var ok bool
	if upText != "" {
		if upload, ok = parseBytes(upText); !ok {
			return usagef("perf: --upload: '%s' is not a byte count", upText)
		}
	}
	if downText != "" {
		if download, ok = parseBytes(downText); !ok {
			return usagef("perf: --download: '%s' is not a byte count", downText)
		}
	}
	streams := 1
	if streamsText != "" {
		if streams, err = strconv.Atoi(streamsText); err != nil || streams < 1 || streams > 1024 {
			return usagef("perf: --streams: '%s' is not a number from 1 to 1024", streamsText)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	d, err := dialTicket(pos[0], dopts)
	if err != nil {
		return err
	}
	defer d.sess.close()

	type result struct {
		run perfRun
		err error
	}
	results := make(chan result, streams)
	for i := 0; i < streams; i++ {
		go func() {
			r, err := perfStream(d.sess, upload, download)
			results <- result{r, err}
		}()
	}
	var runs []perfRun
	for len(runs) < streams {
		select {
		case res := <-results:
			if res.err != nil {
				return failure("perf", res.err)
			}
			runs = append(runs, res.run)
		case <-sigs:
			return failure("perf", errors.New("interrupted"))
		}
	}

	// Totals over all streams; times from the earliest start to the latest end.
	var up, down uint64
	t0, t1s, t1e, t2 := runs[0].t0, runs[0].t1, runs[0].t1, runs[0].t2
	for _, r := range runs {
		up += r.up
		down += r.down
		if r.t0.Before(t0) {
			t0 = r.t0
		}
		if r.t1.Before(t1s) {
			t1s = r.t1
		}
		if r.t1.After(t1e) {
			t1e = r.t1
		}
		if r.t2.After(t2) {
			t2 = r.t2
		}
	}
	upSecs := 0.0
	if up > 0 {
		upSecs = t1e.Sub(t0).Seconds()
	}
	downSecs := 0.0
	if down > 0 {
		downSecs = t2.Sub(t1s).Seconds()
	}
	if asJSON {
		fmt.Printf("{\"transport\": \"%s\", \"upload_bytes\": %d, \"download_bytes\": %d, "+
			"\"upload_seconds\": %.6f, \"download_seconds\": %.6f, \"handshake_seconds\": %.6f}\n",
			d.sess.transport(), up, down, upSecs, downSecs, d.handshake.Seconds())
	} else {
		fmt.Printf("upload %.2f Gbit/s download %.2f Gbit/s\n", gbits(up, upSecs), gbits(down, downSecs))
	}
	return nil
}

func gbits(bytes uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(bytes) * 8 / secs / 1e9
}

// ---------------------------------------------------------------------------
// Command line

type optSpec struct {
	name  string
	value *string   // option with a value: --name VALUE or --name=VALUE
	list  *[]string // the same, repeatable
	flag  *bool     // option without a value
}

// parseArgs takes options anywhere among the positional arguments.
func parseArgs(cmd string, args []string, specs []optSpec) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		if a == "-h" || a == "--help" {
			fmt.Print(usage)
			os.Exit(0)
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		var spec *optSpec
		for j := range specs {
			if strings.HasPrefix(a, "--") && specs[j].name == name {
				spec = &specs[j]
			}
		}
		if spec == nil {
			return nil, usagef("%s: unknown option '%s'", cmd, a)
		}
		if spec.flag != nil {
			if hasVal {
				return nil, usagef("%s: option '--%s' takes no value", cmd, name)
			}
			*spec.flag = true
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, usagef("%s: option '--%s' needs a value", cmd, name)
			}
			i++
			val = args[i]
		}
		if spec.list != nil {
			*spec.list = append(*spec.list, val)
		} else {
			*spec.value = val
		}
	}
	return pos, nil
}

const usage = `Usage:
  foctet-go-peer serve --listen [tls/|quic/]HOST:PORT... [--key FILE] [--present-other-key]
  foctet-go-peer ping TICKET [--count N] [--interval MS] [DIAL OPTIONS]
  foctet-go-peer perf TICKET [--download BYTES] [--upload BYTES] [--streams N] [--json] [DIAL OPTIONS]
  foctet-go-peer open TICKET PROTOCOL [--no-fin] [DIAL OPTIONS]
  foctet-go-peer stall TICKET [--count N] [--hold SECONDS] [--from IP]

An independent implementation of the foctet protocol (TLS 1.3 over TCP with
yamux, and QUIC) in Go, for interoperability tests.

serve   Listen on HOST:PORT (port 0: any; tls/ or no prefix: TLS over TCP,
        quic/: QUIC; --listen may be repeated), print the ticket as the first
        line of stdout and serve foctet/ping/1 and foctet/perf/1 until SIGINT
        or SIGTERM.  --key: Ed25519 PKCS#8 PEM key file (created, mode 0600,
        if missing; default: a fresh key).  --present-other-key: the
        certificate is of another key than the ticket's NodeId.
ping    Ping the node of TICKET (default 4 times, 1000 ms apart).
perf    Run the perf protocol on N streams (default 1) of one connection;
        BYTES per stream with K, M, G suffixes (powers of 1024; default 100M
        each way).  Prints totals over all streams.
open    Open one stream with the header for PROTOCOL (may be empty), send
        nothing more, half-close (not with --no-fin); print "refused" if the
        peer resets it (over QUIC with the codes of its RESET_STREAM and
        STOP_SENDING frames), or "closed N" when it half-closes after N bytes.
stall   Start N QUIC handshakes (default 32) from IP (default: any) that
        answer a Retry and then never finish, print "stalling N", hold them
        for SECONDS (default 5) and exit.

Dial options:
  --transport tls|quic   the address to dial (default: the ticket's first
                         QUIC address if it has one, else its first TLS one)
  --node-id NODEID       require this NodeId instead of the ticket's
  --alpn NAME            offer NAME instead of foctet/1
  --no-alpn              offer no ALPN at all
  --no-certificate       send an empty certificate list when asked for one

Exit status: 0 success, 1 failure, 2 bad command line.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "%s: missing command (serve, ping, perf or open; --help)\n", progName)
		os.Exit(2)
	}
	var err error
	switch cmd := os.Args[1]; cmd {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	case "serve":
		err = cmdServe(os.Args[2:])
	case "ping":
		err = cmdPing(os.Args[2:])
	case "perf":
		err = cmdPerf(os.Args[2:])
	case "open":
		err = cmdOpen(os.Args[2:])
	case "stall":
		err = cmdStall(os.Args[2:])
	default:
		err = usagef("unknown command '%s'", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", progName, strings.ReplaceAll(err.Error(), "\n", " "))
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// The quic transport of foctet-go-peer (PROTOCOL §2, §3, §5) on
// github.com/lucas-clemente/quic-go 0.29: QUIC version 1, the TLS rules of
// main.go, each foctet stream a bidirectional QUIC stream.

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/logging"
)

const (
	quicIdleTimeout = 30 * time.Second // PROTOCOL §3
	// Flow-control windows: quic-go starts each at 512 KiB and auto-tunes
	// them up to these, enough for one stream to fill a fast link.
	quicStreamWindow     = 32 << 20
	quicConnectionWindow = 64 << 20
)

func init() {
	// quic-go logs to the standard logger when it cannot get a 2.5 MB UDP
	// receive buffer; keep stderr to our own one-line messages.
	if os.Getenv("FOCTET_GO_PEER_DEBUG") == "" {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
}

func quicConfig(tracer logging.Tracer) *quic.Config {
	return &quic.Config{
		Versions:                   []quic.VersionNumber{quic.Version1},
		HandshakeIdleTimeout:       handshakeTime,
		MaxIdleTimeout:             quicIdleTimeout,
		KeepAlivePeriod:            keepAliveTime,
		MaxStreamReceiveWindow:     quicStreamWindow,
		MaxConnectionReceiveWindow: quicConnectionWindow,
		// quic-go raises the limit (MAX_STREAMS) as streams close.
		MaxIncomingStreams:    acceptBacklog,
		MaxIncomingUniStreams: -1, // unused in version 1
		Tracer:                tracer,
	}
}

// quicSession is a QUIC connection.  tracer is set when `open` asked for
// the peer's stream resets.
type quicSession struct {
	conn   quic.Connection
	tracer *resetTracer
}

type quicStream struct{ quic.Stream }

func (s quicStream) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	return n, quicStreamError(err)
}

func (s quicStream) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	return n, quicStreamError(err)
}

// Close half-closes the stream (FIN).  When the peer's STOP_SENDING has
// already cancelled the sending side, quic-go's Close says only "close called
// for canceled stream"; the error Write keeps carries the peer's code.
func (s quicStream) Close() error {
	err := s.Stream.Close()
	if err != nil {
		if _, werr := s.Stream.Write(nil); werr != nil {
			return quicStreamError(werr)
		}
	}
	return err
}

// Reset sends RESET_STREAM and STOP_SENDING with code.
func (s quicStream) Reset(code uint64) {
	s.Stream.CancelWrite(quic.StreamErrorCode(code))
	s.Stream.CancelRead(quic.StreamErrorCode(code))
}

// quicResetError is a stream error of the peer: on Read its RESET_STREAM,
// on Write its STOP_SENDING.
type quicResetError struct{ code uint64 }

func (e *quicResetError) Error() string { return fmt.Sprintf("%v (code %d)", errStreamReset, e.code) }

func (e *quicResetError) Unwrap() error { return errStreamReset }

func quicStreamError(err error) error {
	var se *quic.StreamError
	switch {
	case errors.As(err, &se):
		return &quicResetError{uint64(se.ErrorCode)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errReadTimeout
	}
	return err
}

func (q *quicSession) transport() string { return "quic" }

func (q *quicSession) openStream() (stream, error) {
	// Waits while the peer's stream limit is reached (perf --streams above
	// it); fails when the connection ends.
	s, err := q.conn.OpenStreamSync(context.Background())
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (q *quicSession) acceptStream() (stream, error) {
	s, err := q.conn.AcceptStream(context.Background())
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (q *quicSession) close() { q.conn.CloseWithError(codeNoError, "") }

func (q *quicSession) explain(err error) error {
	var app *quic.ApplicationError
	var idle *quic.IdleTimeoutError
	switch {
	case errors.Is(err, errStreamReset):
		return err
	case errors.As(err, &app) && app.Remote && app.ErrorCode == codeNoError:
		return errors.New("the peer closed the connection")
	case errors.As(err, &app) && app.Remote:
		return fmt.Errorf("the peer closed the connection with code %d%s", app.ErrorCode, codeName(uint64(app.ErrorCode)))
	case errors.As(err, &app):
		return errors.New("the connection was closed")
	case errors.As(err, &idle):
		return fmt.Errorf("connection lost: nothing received for %v", quicIdleTimeout)
	case errors.Is(err, net.ErrClosed): // a transport error
		return fmt.Errorf("connection lost: %v", err)
	}
	return err
}

func codeName(code uint64) string {
	switch code {
	case codeProtocol:
		return " (protocol error)"
	case codeInternal:
		return " (internal error)"
	case codeRefused:
		return " (refused)"
	case codeGoingAway:
		return " (going away)"
	}
	return ""
}

// refusal names the codes of the frames a refusal consists of (PROTOCOL
// §5): RESET_STREAM (err, from Read), and STOP_SENDING, which may come a
// little later, and only while the peer has not received the whole stream
// (RFC 9000 §3.5): it is waited for up to wait.
func (q *quicSession) refusal(s stream, err error, wait time.Duration) string {
	var reset *quicResetError
	if !errors.As(err, &reset) {
		return "refused"
	}
	if q.tracer != nil {
		if stop, ok := q.tracer.stopSending(s.(quicStream).StreamID(), wait); ok {
			return fmt.Sprintf("refused (RESET_STREAM %d, STOP_SENDING %d)", reset.code, stop)
		}
	}
	return fmt.Sprintf("refused (RESET_STREAM %d)", reset.code)
}

func listenQUIC(addr string, tlsConf *tls.Config) (quic.Listener, error) {
	return quic.ListenAddr(addr, tlsConf, quicConfig(handshakeLogger{}))
}

// acceptQUIC takes connections whose handshake completed (quic-go reports
// failed ones only to the tracer: handshakeLogger).
func (n *node) acceptQUIC(ln quic.Listener, done chan<- error) {
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			done <- err
			return
		}
		go n.serveQUIC(conn)
	}
}

func (n *node) serveQUIC(conn quic.Connection) {
	remote := conn.RemoteAddr().String()
	state := conn.ConnectionState().TLS.ConnectionState
	if state.NegotiatedProtocol != alpnDirect {
		logf("handshake with quic/%s: ALPN %q, not %s", remote, state.NegotiatedProtocol, alpnDirect)
		conn.CloseWithError(codeProtocol, "")
		return
	}
	peer := state.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	n.serveSession(&quicSession{conn: conn}, remote, peer)
}

func dialQUIC(addr string, tlsConf *tls.Config, alpn string, traceResets bool) (*dialed, error) {
	var tracer logging.Tracer
	var resets *resetTracer
	if traceResets {
		resets = newResetTracer()
		tracer = resets
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTime)
	defer cancel()
	conn, err := quic.DialAddrContext(ctx, addr, tlsConf, quicConfig(tracer))
	if err != nil {
		return nil, failure("connect", fmt.Errorf("QUIC handshake with %s: %w", addr, err))
	}
	elapsed := time.Since(start)
	if p := conn.ConnectionState().TLS.NegotiatedProtocol; p != alpn {
		conn.CloseWithError(codeProtocol, "")
		return nil, failure("connect", fmt.Errorf("%s selected ALPN %q, not %q", addr, p, alpn))
	}
	return &dialed{sess: &quicSession{conn: conn, tracer: resets}, handshake: elapsed}, nil
}

// ---------------------------------------------------------------------------
// Tracers: what quic-go reports only through its logging interface

// handshakeLogger logs the connections of a listener that end before their
// handshake completed: quic-go never hands those to Accept.
type handshakeLogger struct{ logging.NullTracer }

func (handshakeLogger) TracerForConnection(context.Context, logging.Perspective, logging.ConnectionID) logging.ConnectionTracer {
	return &handshakeTracer{}
}

type handshakeTracer struct {
	logging.NullConnectionTracer
	remote string
	done   bool
}

func (t *handshakeTracer) StartedConnection(_, remote net.Addr, _, _ logging.ConnectionID) {
	t.remote = remote.String()
}

// The server drops its Handshake keys when the handshake is complete.
func (t *handshakeTracer) DroppedEncryptionLevel(level logging.EncryptionLevel) {
	if level == logging.EncryptionHandshake {
		t.done = true
	}
}

func (t *handshakeTracer) ClosedConnection(err error) {
	var te *quic.TransportError
	switch {
	case t.done:
	case errors.As(err, &te) && te.Remote:
		logf("handshake with quic/%s failed, the peer aborted it: %v", t.remote, err)
	default:
		logf("handshake with quic/%s failed: %v", t.remote, err)
	}
}

// resetTracer records the STOP_SENDING frames a dialer receives.
type resetTracer struct {
	logging.NullTracer
	mu      sync.Mutex
	changed *sync.Cond
	stops   map[logging.StreamID]uint64
}

func newResetTracer() *resetTracer {
	t := &resetTracer{stops: map[logging.StreamID]uint64{}}
	t.changed = sync.NewCond(&t.mu)
	return t
}

func (t *resetTracer) TracerForConnection(context.Context, logging.Perspective, logging.ConnectionID) logging.ConnectionTracer {
	return &resetConnTracer{t: t}
}

type resetConnTracer struct {
	logging.NullConnectionTracer
	t *resetTracer
}

func (c *resetConnTracer) ReceivedPacket(_ *logging.ExtendedHeader, _ logging.ByteCount, frames []logging.Frame) {
	for _, f := range frames {
		if f, ok := f.(*logging.StopSendingFrame); ok {
			c.t.mu.Lock()
			c.t.stops[f.StreamID] = uint64(f.ErrorCode)
			c.t.changed.Broadcast()
			c.t.mu.Unlock()
		}
	}
}

// stopSending returns the code of the STOP_SENDING received for stream id,
// waiting for it up to limit.
func (t *resetTracer) stopSending(id logging.StreamID, limit time.Duration) (uint64, bool) {
	timer := time.AfterFunc(limit, func() {
		t.mu.Lock()
		t.changed.Broadcast()
		t.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(limit)
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if code, ok := t.stops[id]; ok {
			return code, true
		}
		if !time.Now().Before(deadline) {
			return 0, false
		}
		t.changed.Wait()
	}
}

// cmdStall: stall TICKET [--count N] [--hold SECONDS] [--from IP]: N QUIC
// handshakes at once that never finish: each answers the listener's Retry,
// if it sends one, then waits in its client-certificate callback until
// --hold is over (default 32 handshakes, 5 s, from any address).  Prints
// "stalling N" once all are under way.
func cmdStall(args []string) error {
	var countText, holdText, from string
	pos, err := parseArgs("stall", args, []optSpec{
		{name: "count", value: &countText},
		{name: "hold", value: &holdText},
		{name: "from", value: &from},
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("stall: want TICKET")
	}
	count, hold := 32, 5
	if countText != "" {
		if count, err = strconv.Atoi(countText); err != nil || count < 1 || count > 1000 {
			return usagef("--count: '%s' is not a count from 1 to 1000", countText)
		}
	}
	if holdText != "" {
		if hold, err = strconv.Atoi(holdText); err != nil || hold < 1 || hold > 600 {
			return usagef("--hold: '%s' is not a number of seconds from 1 to 600", holdText)
		}
	}
	local := &net.UDPAddr{}
	if from != "" {
		if local.IP = net.ParseIP(from); local.IP == nil {
			return usagef("--from: '%s' is not an IP address", from)
		}
	}
	t, err := parseTicket(pos[0])
	if err != nil {
		return usagef("ticket: %v", err)
	}
	quicAddr, ok := t.firstAddress(entryQUIC)
	if !ok {
		return failure("ticket", errors.New("no QUIC (type 1) address"))
	}
	remote, err := net.ResolveUDPAddr("udp", quicAddr)
	if err != nil {
		return failure("ticket", err)
	}
	cert, err := selfSignedCert(generateKey())
	if err != nil {
		return failure("certificate", err)
	}
	stop := make(chan struct{})
	tlsConf := clientTLSConfig(cert, t.nodeID, alpnDirect)
	tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		<-stop
		return nil, errors.New("stalled on purpose")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(hold)*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		pconn, err := net.ListenUDP("udp", local)
		if err != nil {
			close(stop)
			return failure("socket", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pconn.Close()
			quic.DialContext(ctx, pconn, remote, "foctet", tlsConf, quicConfig(nil))
		}()
	}
	fmt.Printf("stalling %d\n", count)
	<-ctx.Done()
	close(stop)
	wg.Wait()
	return nil
}

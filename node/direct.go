package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// The direct stream: a parent sends its child the broadcast's stream over TCP
// with TLS 1.3 rather than through its SSH connection to the child, which
// takes the child's sshd (decryption, a copy into the relay's socket) out of
// the data path. Both ends hold the run's one certificate and key, made by
// the root for the run and handed to every relay on its SSH session, in
// memory; each end accepts only a peer that presents exactly that
// certificate. The token line and the stream follow as over SSH.

// Stream paths, as a host's result reports them.
const (
	pathDirect = "direct"
	pathSSH    = "ssh"
)

// directTimeout bounds a parent's dial and TLS handshake to a child: past it
// the parent takes the SSH forward. Generous for a handshake (a few ms of
// CPU) because every relay of the run starts at once on loaded hosts. The
// TCP connect alone gets directConnect: the kernels answer it, not the
// relays, and a firewall that drops the packets (rather than refusing them)
// then costs a run that much, not the whole timeout.
const (
	directTimeout = 2 * time.Second
	directConnect = 500 * time.Millisecond
)

// directKeys is the run's TLS credential, as relayConfig carries it: the
// certificate and its PKCS #8 private key, DER. The key is a secret: it
// travels only on the relay's SSH session and is never logged or written.
type directKeys struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// newDirectKeys makes a self-signed ECDSA P-256 certificate for one run.
// Nothing checks its names or dates: the peers pin its bytes.
func newDirectKeys() (*directKeys, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "grifork broadcast"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &directKeys{Cert: cert, Key: der}, nil
}

// directTLS is the run's credential ready for use, as a server (a child's
// listener) and as a client (a parent's dial).
type directTLS struct {
	server, client *tls.Config
}

func (k *directKeys) tls() (*directTLS, error) {
	key, err := x509.ParsePKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("the run's TLS key: %w", err)
	}
	if _, err := x509.ParseCertificate(k.Cert); err != nil {
		return nil, fmt.Errorf("the run's TLS certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{k.Cert}, PrivateKey: key}
	pin := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) != 1 || subtle.ConstantTimeCompare(raw[0], k.Cert) != 1 {
			return errors.New("the peer's certificate is not the run's")
		}
		return nil
	}
	return &directTLS{
		server: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			// Any certificate gets past the handshake's own checks, and pin
			// then refuses all but the run's: no CA, no names, no dates.
			ClientAuth:            tls.RequireAnyClientCert,
			VerifyPeerCertificate: pin,
		},
		client: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			// Whole 16 KiB records from the first byte: the stream is bulk
			// data, and small records cost a seal and a write each.
			DynamicRecordSizingDisabled: true,
			// The chain and name checks are replaced by pin, which accepts
			// exactly the run's certificate.
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: pin,
		},
	}, nil
}

// dial opens a TLS stream to a child's relay at host:port and introduces it
// with the token, all within directTimeout; a host name is resolved first,
// so that a slow resolver does not eat the connect's own bound. unanswered,
// when set, is called should the TCP connect take half its bound: the
// caller may prepare its fallback meanwhile.
func (d *directTLS) dial(ctx context.Context, host string, port int, token string, unanswered func()) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, directTimeout)
	defer cancel()
	if _, err := netip.ParseAddr(host); err != nil {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		host = addrs[0]
	}
	var slow *time.Timer
	if unanswered != nil {
		slow = time.AfterFunc(directConnect/2, unanswered)
	}
	nd := net.Dialer{Timeout: directConnect}
	raw, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if slow != nil {
		slow.Stop()
	}
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, d.client)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	if _, err := io.WriteString(c, token+"\n"); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return &directConn{Conn: c}, nil
}

// listenDirect opens the relay's direct listener: every address, any free port.
func listenDirect() (net.Listener, int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, 0, err
	}
	return ln, ln.Addr().(*net.TCPAddr).Port, nil
}

// maxPendingDirect bounds the direct connections being checked at once: the
// port is open to the network, and the one client it is for (the parent)
// takes the SSH forward when its dial is closed unanswered.
const maxPendingDirect = 8

// acceptor takes the parent's stream from either of a relay's listeners: the
// first connection that presents the run's token (after the TLS handshake,
// on the direct one). Each connection is checked in its own goroutine under
// a deadline (the stall timeout; on the direct port, at most the parent's
// own directTimeout, and no more than maxPendingDirect at once), so a silent
// or bogus client holds up no one; both listeners close once the stream is
// taken, or at the stall timeout.
type acceptor struct {
	token  string
	stall  time.Duration
	tls    *tls.Config // for the direct listener
	log    *slog.Logger
	got    chan accepted
	closed chan struct{}

	mu      sync.Mutex
	lns     []net.Listener
	pending map[net.Conn]string // being checked: their path
	direct  int                 // of them, on the direct listener
	done    bool
	wg      sync.WaitGroup
}

type accepted struct {
	conn net.Conn
	path string // pathDirect or pathSSH
}

// startAcceptor starts accepting on sock (the SSH forward's end) and, when
// not nil, direct (TLS with cfg). It accepts from the start, so that a
// parent's handshake is answered while this relay still connects to its own
// children.
func startAcceptor(token string, stall time.Duration, sock, direct net.Listener, cfg *tls.Config, log *slog.Logger) *acceptor {
	a := &acceptor{token: token, stall: stall, tls: cfg, log: log, got: make(chan accepted),
		closed: make(chan struct{}), pending: map[net.Conn]string{}}
	a.serve(sock, pathSSH)
	if direct != nil {
		a.serve(direct, pathDirect)
	}
	return a
}

func (a *acceptor) serve(ln net.Listener, path string) {
	a.lns = append(a.lns, ln)
	a.wg.Go(func() {
		backoff := 5 * time.Millisecond
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// Out of file descriptors (a flood), say: the parent's
				// stream may get in once some are free, until close.
				select {
				case <-a.closed:
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			a.mu.Lock()
			if a.done {
				a.mu.Unlock()
				c.Close()
				return
			}
			if path == pathDirect {
				if a.direct == maxPendingDirect {
					a.mu.Unlock()
					c.Close()
					continue
				}
				a.direct++
			}
			a.pending[c] = path
			a.wg.Go(func() { a.check(c, path) })
			a.mu.Unlock()
		}
	})
}

// unpend takes c off the pending connections, and says whether it was
// there (close clears them all).
func (a *acceptor) unpend(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	path, ok := a.pending[c]
	if ok && path == pathDirect {
		a.direct--
	}
	delete(a.pending, c)
	return ok
}

// check hands c on when it is the parent's stream, and closes it otherwise.
func (a *acceptor) check(c net.Conn, path string) {
	raw := c
	deadline := a.stall
	if path == pathDirect {
		// The parent dials within directTimeout, then takes the SSH forward.
		deadline = min(deadline, directTimeout)
	}
	c.SetDeadline(time.Now().Add(deadline))
	if path == pathDirect {
		tc := tls.Server(c, a.tls)
		if err := tc.Handshake(); err != nil {
			a.refuse(raw, "relay: refused a direct connection: TLS handshake", "from", c.RemoteAddr().String(), "error", err)
			return
		}
		c = tc
	}
	// Exactly the token's bytes: what follows is the stream.
	line := make([]byte, len(a.token)+1)
	if _, err := io.ReadFull(c, line); err != nil {
		// Closed or silent before a whole token: a parent that gave up
		// (its dial's bound), or a stray client; not a wrong token.
		a.refuse(raw, "relay: refused a stream that sent no whole token", "path", path, "from", c.RemoteAddr().String(), "error", err)
		return
	}
	if subtle.ConstantTimeCompare(line, []byte(a.token+"\n")) != 1 {
		a.refuse(raw, "relay: refused a stream without the run's token", "path", path, "from", c.RemoteAddr().String())
		return
	}
	c.SetDeadline(time.Time{})
	a.unpend(raw)
	select {
	case a.got <- accepted{conn: c, path: path}:
	case <-a.closed:
		c.Close() // another won, or the wait is over
	}
}

func (a *acceptor) refuse(c net.Conn, msg string, args ...any) {
	gone := !a.unpend(c) // close closed it: not the client's doing
	c.Close()
	if !gone {
		a.log.Warn(msg, args...)
	}
}

// wait returns the parent's stream and the path it came over, or fails when
// none came within the stall timeout or ctx ended; either way both listeners
// are closed when it returns.
func (a *acceptor) wait(ctx context.Context, parent string) (net.Conn, string, error) {
	defer a.close()
	timer := time.NewTimer(a.stall)
	defer timer.Stop()
	select {
	case s := <-a.got:
		return s.conn, s.path, nil
	case <-timer.C:
		return nil, "", fmt.Errorf("no stream from %s within %s", parent, a.stall)
	case <-ctx.Done():
		return nil, "", context.Cause(ctx)
	}
}

// close closes the listeners and every connection still being checked, and
// waits for their goroutines.
func (a *acceptor) close() {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		return
	}
	a.done = true
	close(a.closed)
	for _, ln := range a.lns {
		ln.Close()
	}
	for c := range a.pending {
		c.Close()
	}
	clear(a.pending)
	a.direct = 0
	a.mu.Unlock()
	a.wg.Wait()
}

// directConn is a parent's direct stream to a child. Its Close drops the TCP
// connection without TLS's close alert, which could wait up to 5 s for room
// in the send buffer of a child that stopped reading (a frozen host, a child
// dropped): a stream that ended well sent the alert already (CloseWrite, see
// awaitClose), and one cut short is an error at the child either way.
type directConn struct {
	*tls.Conn
}

func (d *directConn) Close() error { return d.NetConn().Close() }

// endStream closes the parent's stream once the trailer is read, which tells
// the parent the whole stream arrived (see awaitClose). A direct stream is
// first read to its end, the parent's close_notify right after the trailer:
// a TCP socket closed with unread data resets the connection, and the reset
// could reach the parent as an error instead of the close it waits for.
func endStream(c net.Conn, wait time.Duration) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.SetReadDeadline(time.Now().Add(wait))
		io.Copy(io.Discard, tc)
	}
	c.Close()
}

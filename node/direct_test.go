package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

func runTLS(t *testing.T) *directTLS {
	t.Helper()
	k, err := newDirectKeys()
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.tls()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// relayListeners starts a relay's acceptor on a Unix socket and a direct
// TLS listener, as RunRelay does; it returns the acceptor, the socket's path
// and the direct listener's address on loopback.
func relayListeners(t *testing.T, d *directTLS, token string, stall time.Duration, log *slog.Logger) (*acceptor, string, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "data.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	tcp, port, err := listenDirect()
	if err != nil {
		t.Fatal(err)
	}
	a := startAcceptor(token, stall, ln, tcp, d.server, log)
	t.Cleanup(a.close)
	return a, sock, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// The parent's stream is taken whatever else knocks first on either
// listener: a client that sends nothing, one that speaks plaintext to the
// TLS port, one with the run's certificate but the wrong token, one with
// another certificate, one on the socket with the wrong token. Each is
// refused and logged; none holds up the parent or outlives the accept; both
// listeners close once the stream is taken.
func TestAcceptorTakesTheParentAmongBogusClients(t *testing.T) {
	t.Parallel()
	run, other := runTLS(t), runTLS(t)
	const token = "0123456789abcdef0123456789abcdef"
	var logs sshdtest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stall := 20 * time.Second // far longer than the test may take: nothing waits for it
	a, sock, addr := relayListeners(t, run, token, stall, log)

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	plain, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	io.WriteString(plain, token+"\n")
	wrong, err := tls.Dial("tcp", addr, run.client)
	if err != nil {
		t.Fatalf("a client with the run's certificate: %v", err)
	}
	defer wrong.Close()
	io.WriteString(wrong, strings.Repeat("x", len(token))+"\n")
	short, err := tls.Dial("tcp", addr, run.client)
	if err != nil {
		t.Fatalf("a client with the run's certificate: %v", err)
	}
	io.WriteString(short, token[:5])
	short.Close()
	if c, err := tls.Dial("tcp", addr, other.client); err == nil {
		// TLS 1.3: the server's refusal of the client's certificate comes
		// after the client's handshake; the first read sees it.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a client with another certificate was not refused")
		}
		c.Close()
	}
	defer sendOnSocket(t, sock, strings.Repeat("y", len(token))).Close()

	start := time.Now()
	parent, err := dialAt(run, addr, token)
	if err != nil {
		t.Fatalf("the parent's direct dial: %v", err)
	}
	defer parent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, path, err := a.wait(ctx, "parent")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if took := time.Since(start); took > 5*time.Second || path != pathDirect {
		t.Fatalf("took the stream after %v over %q; want direct, at once", took, path)
	}
	// What follows the token is the stream, both ways.
	go io.WriteString(parent, "frame")
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "frame" {
		t.Fatalf("read %q, %v", got, err)
	}

	// The listeners are closed, and so is the silent client.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the direct listener still accepts after the stream was taken")
	}
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Error("the socket still accepts after the stream was taken")
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errorsIsTimeout(err) {
		t.Errorf("the silent client's connection is still open: %v", err)
	}
	out := logs.String()
	for _, want := range []string{
		"refused a direct connection: TLS handshake",              // plaintext, another certificate
		"refused a stream without the run's token\" path=direct",  // the wrong token over TLS
		"refused a stream without the run's token\" path=ssh",     // the wrong token on the socket
		"refused a stream that sent no whole token\" path=direct", // part of it, then its close
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, token) {
		t.Errorf("the log holds the token:\n%s", out)
	}
}

func errorsIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The parent pins the run's certificate: a listener with another one (a
// relay of another run, or anyone on that port) gets no stream and no token.
func TestDirectDialRefusesAnotherCertificate(t *testing.T) {
	t.Parallel()
	run, other := runTLS(t), runTLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", other.server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	heard := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		heard <- b
	}()
	c, err := dialAt(run, ln.Addr().String(), "secret-token")
	if err == nil {
		c.Close()
		t.Fatal("the dial accepted a server with another certificate")
	}
	if !strings.Contains(err.Error(), "not the run's") {
		t.Errorf("dial: %v; want the pinning's refusal", err)
	}
	select {
	case b := <-heard:
		if bytes.Contains(b, []byte("secret-token")) {
			t.Error("the token reached a server with another certificate")
		}
	case <-time.After(10 * time.Second):
		t.Error("the refused connection was never closed")
	}
}

// No stream within the stall timeout is an error naming the parent, and the
// listeners close.
func TestAcceptorStall(t *testing.T) {
	t.Parallel()
	run := runTLS(t)
	a, _, addr := relayListeners(t, run, "token", 100*time.Millisecond, slog.New(slog.DiscardHandler))
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_, _, err = a.wait(context.Background(), "gen1")
	if err == nil || !strings.Contains(err.Error(), "no stream from gen1 within 100ms") {
		t.Fatalf("wait: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the direct listener still accepts after the wait failed")
	}
}

// A whole stream over the direct path: frames acknowledged, the sender's
// end, and the child's close once it read the trailer (endStream), which the
// sender waits for (awaitClose): the sender ends without error and the child
// verifies what it read, round after round.
func TestDirectStreamEnds(t *testing.T) {
	t.Parallel()
	run := runTLS(t)
	const token = "tok"
	a, _, addr := relayListeners(t, run, token, 10*time.Second, slog.New(slog.DiscardHandler))
	for round := range 5 {
		at := addr
		if round == 1 { // a host name, as ssh_config may give it, resolves
			_, port, _ := net.SplitHostPort(addr)
			at = net.JoinHostPort("localhost", port)
		}
		conn, err := dialAt(run, at, token)
		if err != nil {
			t.Fatal(err)
		}
		child, path, err := a.wait(context.Background(), "root")
		if err != nil || path != pathDirect {
			t.Fatalf("wait: %q, %v", path, err)
		}
		// The next round dials a new acceptor: this one closed.
		a, _, addr = relayListeners(t, run, token, 10*time.Second, slog.New(slog.DiscardHandler))

		ch := make(chan *chunk, poolChunks)
		pool := newChunkPool()
		f := &fanout{sinks: []chan *chunk{ch}}
		w := newFramer(context.Background(), pool, f)
		w.Write(bytes.Repeat([]byte{byte(round)}, 3*framePayload+17))
		w.Close()
		close(ch)
		sent := make(chan error, 1)
		go func() { sent <- writeSink(ch, conn, 10*time.Second) }()

		out := newFanout(1)
		var recv bytes.Buffer
		done := make(chan error, 1)
		go func() {
			cr := newChunkReader(out.sinks[0])
			io.Copy(&recv, cr)
			done <- cr.verified()
		}()
		_, err = readFrames(context.Background(), child, child, newChunkPool(), out, 10*time.Second, 0)
		out.close()
		if err != nil {
			t.Fatalf("round %d: read: %v", round, err)
		}
		endStream(child, 10*time.Second)
		if err := <-done; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("round %d: the sender: %v", round, err)
		}
		if recv.Len() != 3*framePayload+17 {
			t.Fatalf("round %d: received %d bytes", round, recv.Len())
		}
	}
}

// A parent killed mid-stream resets a direct stream (its socket held bytes
// it had not read) where an SSH forward ended it: both are a stream that
// ended before its end, which names the parent as the cause of the hosts
// below it and lets --heal send to them again.
func TestStreamResetIsTruncated(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Read(make([]byte, 1)) // the dial is done: the reset must reach a read, not the connect
		c.Write(phase("a frame, then no more")[:10])
		c.(*net.TCPConn).SetLinger(0) // a close that resets, as a killed process's with unread bytes
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{1})
	f := newFanout(1)
	go drain(f.sinks[0])
	defer f.close()
	_, err = readFrames(context.Background(), c, nil, newChunkPool(), f, 10*time.Second, 0)
	if !errors.Is(err, errTruncated) {
		t.Fatalf("readFrames: %v; want %v", err, errTruncated)
	}
}

// Anyone on the network can reach a relay's direct port: a flood of clients
// that connect and say nothing holds neither many connections (past
// maxPendingDirect they are closed at once) nor any for long (the parent's
// own budget, directTimeout, not the stall timeout), and the parent's stream
// still gets in over the SSH forward meanwhile.
func TestAcceptorBoundsSilentDirectClients(t *testing.T) {
	t.Parallel()
	run := runTLS(t)
	const token = "0123456789abcdef"
	a, sock, addr := relayListeners(t, run, token, time.Minute, slog.New(slog.DiscardHandler))
	var flood []net.Conn
	for range maxPendingDirect + 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		flood = append(flood, c)
	}
	closed := func(c net.Conn, within time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(within))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !errorsIsTimeout(err)
	}
	// Accepted in order: the last ones are past the bound.
	if !closed(flood[len(flood)-1], directTimeout/2) {
		t.Errorf("a client past the %d pending was not closed at once", maxPendingDirect)
	}
	if !closed(flood[0], 10*time.Second) {
		t.Errorf("a silent client was held past directTimeout (%s)", directTimeout)
	}
	defer sendOnSocket(t, sock, token).Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, path, err := a.wait(ctx, "parent")
	if err != nil || path != pathSSH {
		t.Fatalf("wait during the flood: %q, %v; want the SSH forward's stream", path, err)
	}
	c.Close()
}

// failingListener fails its first Accept calls as a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	fails int
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// An Accept that fails for want of a file descriptor (a flood on the direct
// port, say) does not stop the listener: the parent's stream still gets in
// once descriptors are free again.
func TestAcceptorRetriesFailedAccepts(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "data.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok"
	a := startAcceptor(token, 20*time.Second, &failingListener{Listener: ln, fails: 3}, nil, nil, slog.New(slog.DiscardHandler))
	defer a.close()
	defer sendOnSocket(t, sock, token).Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, path, err := a.wait(ctx, "parent")
	if err != nil {
		t.Fatalf("wait after failed accepts: %v", err)
	}
	c.Close()
	if path != pathSSH {
		t.Errorf("path %q", path)
	}
}

// dialAt dials addr (host:port) as openStream does.
func dialAt(run *directTLS, addr, token string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return run.dial(context.Background(), host, n, token, nil)
}

// sendOnSocket dials a relay's socket, as an SSH forward reaches it, and
// introduces the stream with token.
func sendOnSocket(t *testing.T, sock, token string) net.Conn {
	t.Helper()
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(uc, token+"\n"); err != nil {
		t.Fatal(err)
	}
	return uc
}

// A port whose connect goes unanswered (a full accept queue drops the SYN,
// as a firewall that drops does) makes dial call unanswered, so the parent
// prepares its SSH fallback meanwhile, and fail within directConnect; a port
// that answers at once does not.
func TestDirectDialUnanswered(t *testing.T) {
	t.Parallel()
	run := runTLS(t)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the accept queue, which nothing ever takes from.
	for range 2 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			break
		}
		defer c.Close()
	}
	var called atomic.Bool
	start := time.Now()
	c, err := run.dial(context.Background(), "127.0.0.1", port, "tok", func() { called.Store(true) })
	if err == nil {
		c.Close()
		t.Fatal("a dial to a port that never answers succeeded")
	}
	if took := time.Since(start); took > 10*directConnect || !called.Load() {
		t.Errorf("unanswered connect: failed after %v (%v), prepared the fallback: %v; want within about %v, and prepared", took, err, called.Load(), directConnect)
	}

	a, _, addr := relayListeners(t, run, "tok", 10*time.Second, slog.New(slog.DiscardHandler))
	defer a.close()
	called.Store(false)
	host, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	c, err = run.dial(context.Background(), host, n, "tok", func() { called.Store(true) })
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(directConnect) // past the moment a timer left running would fire
	if called.Load() {
		t.Error("a port that answered at once had the fallback prepared")
	}
}

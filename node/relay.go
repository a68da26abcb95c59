package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// RelayFlag starts a broadcast relay: grifork --relay, in the run directory
// that the root's Shipper made. It is not a user command.
const RelayFlag = "--relay"

// The control protocol between the root and each relay, JSON lines on the
// relay's session: the root writes a relayConfig, then (once every relay
// listens) a relayConnect; the relay writes relayEvents. Secrets travel here,
// in memory, never in a file on the node. EOF on the relay's standard input
// before it has reported its result means the root is gone: it aborts.
type relayConfig struct {
	Self     string         `json:"self"`
	Parent   string         `json:"parent"`
	SSH      core.SSHConfig `json:"ssh"`
	To       string         `json:"to"`
	Single   bool           `json:"single"`
	Name     string         `json:"name,omitempty"` // single: the file's name, for a to that is a directory
	Delete   bool           `json:"delete"`
	Excludes []string       `json:"excludes,omitempty"`
	Token    string         `json:"token"`
	// Direct is the run's TLS credential for the direct stream (a secret):
	// nil when broadcast { direct = false }.
	Direct  *directKeys   `json:"direct,omitempty"`
	Stall   time.Duration `json:"stall"`
	Origin  string        `json:"origin,omitempty"` // the root's host, for a run refused by this one
	Corrupt bool          `json:"corrupt,omitempty"`
	// SlowCommit is a test hook: the commit waits this long after each path.
	SlowCommit time.Duration `json:"slow_commit,omitempty"`
	// Children are the hosts it will most likely stream to (its children in the
	// planned tree), to connect to early when the stream goes over SSH;
	// relayConnect has the final word.
	Children []core.Host `json:"children,omitempty"`
	// Grifork is where it ships its own binary to the hosts it seeds.
	Grifork core.GriforkConfig `json:"grifork"`
}

// relayConnect tells a relay whom to stream to. Before it, the root may send
// seed requests (only Seed set): put this binary, compressed, into that file
// on that host.
type relayConnect struct {
	Parent   string      `json:"parent"`
	Children []relayPeer `json:"children,omitempty"`
	Seed     *relayPeer  `json:"seed,omitempty"`
}

// relayControl is what the root may say once the stream is set up: drop a
// child (the root found it frozen, so the relay goes on without it), or stop
// with a cause (Ctrl-C at the root).
type relayControl struct {
	Drop string `json:"drop,omitempty"`
	Stop string `json:"stop,omitempty"`
}

type relayPeer struct {
	Name   string    `json:"name"` // the node's name in the root's tree
	Host   core.Host `json:"host"`
	Socket string    `json:"socket"`
	Port   int       `json:"port,omitempty"` // its direct listener's TCP port: 0 for none
	File   string    `json:"file,omitempty"` // a seed request's: where the binary goes
}

type relayEvent struct {
	Type   string      `json:"type"` // listening, connected, needs, progress, child, commit, result
	Socket string      `json:"socket,omitempty"`
	Port   int         `json:"port,omitempty"` // listening: its direct listener's TCP port, 0 for none
	PID    int         `json:"pid,omitempty"`  // listening: the relay's, for the root to kill it when it froze
	Host   string      `json:"host,omitempty"` // child: the child it is about
	Bytes  int64       `json:"bytes,omitempty"`
	RSS    int64       `json:"rss_kib,omitempty"` // result: the relay's peak resident memory
	Status core.Status `json:"status,omitempty"`
	Err    string      `json:"err,omitempty"`
	// needs: the files its host lacks, as [first, last] index ranges of the
	// manifest, and those the root decides by hash (index: the host's SHA-256).
	Need  [][2]int       `json:"need,omitempty"`
	Check map[int]string `json:"check,omitempty"`
	// result: the content bytes it wrote, and full, update or current.
	Written int64  `json:"written,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Stream  string `json:"stream,omitempty"` // result: what its parent's stream came over (pathDirect, pathSSH)
}

const (
	evStarted   = "started" // the root's own note: the relay's session starts
	evListening = "listening"
	evConnected = "connected"
	evNeeds     = "needs"
	evSeeded    = "seeded" // Host has the binary cached now, or Err says why not
	evProgress  = "progress"
	evChild     = "child"
	evCommit    = "commit" // the stream verified: the relay starts replacing paths
	evResult    = "result"
	// heartbeat is how often a relay reports progress, also while it waits: a
	// relay that stops reporting is stalled or frozen.
	heartbeat = time.Second
)

// RunRelay is the relay on a node: it listens on a socket in its working
// directory, connects to its children's relays when told, receives the stream
// from its parent, forwards each frame to its children as it arrives and
// stages it to disk, and commits only when the whole stream matches the root's
// SHA-256. It reports on stdout and returns the process's exit code.
func RunRelay(ctx context.Context, stdin io.Reader, stdout io.Writer, log *slog.Logger) int {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(ev relayEvent) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
	}
	err := relay(ctx, bufio.NewReader(stdin), emit, log)
	if err != nil {
		emit(relayEvent{Type: evResult, Status: core.StatusFailed, Err: core.OneLine(err.Error())})
		return 1
	}
	return 0
}

type relayRun struct {
	cfg      relayConfig
	emit     func(relayEvent)
	log      *slog.Logger
	received atomic.Int64
	direct   *directTLS // nil: no direct streams
	path     string     // what the parent's stream came over

	mu      sync.Mutex
	streams map[string]net.Conn // to the children, by name
	dropped map[string]bool     // children the root said to drop

	claim      *claim
	committing bool // pump's: the commit started
	committed  bool
}

// drop closes the stream to the child name and keeps it closed: its sink then
// only releases chunks, and the others go on.
func (r *relayRun) drop(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped == nil {
		r.dropped = map[string]bool{}
	}
	r.dropped[name] = true
	if c := r.streams[name]; c != nil {
		c.Close()
	}
}

// keep records the stream to the child name, unless the root dropped it.
func (r *relayRun) keep(name string, c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped[name] {
		c.Close()
		return false
	}
	if r.streams == nil {
		r.streams = map[string]net.Conn{}
	}
	r.streams[name] = c
	return true
}

// streamStall bounds a stream's read or write that makes no progress. The
// root, which hears every relay each second, stops a frozen relay after the
// stall timeout and tells its parent to drop it; the streams wait a few
// heartbeats longer, so that the parent of a frozen relay (whose writes wait)
// and its own parent (whose writes then wait too) are never the ones failed.
func streamStall(stall time.Duration) time.Duration { return stall + 3*heartbeat }

func relay(ctx context.Context, in *bufio.Reader, emit func(relayEvent), log *slog.Logger) error {
	r := &relayRun{emit: emit, log: log}
	if err := readJSONLine(in, &r.cfg); err != nil {
		return fmt.Errorf("relay: read its settings: %w", err)
	}
	r.log = slog.New(r.cfg.SSH.Redactor().Handler(log.Handler())) // now that the secrets are known
	if r.cfg.Stall <= 0 {
		r.cfg.Stall = 10 * time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	// The run directory (the Shipper made it for this relay) goes with it; the
	// root removes it only when the relay ends in error.
	defer os.RemoveAll(wd)
	// Before anything else: a run into a place another run holds is refused
	// before it receives a byte.
	r.claim, err = claimHome(r.cfg.To, r.cfg.Single, r.cfg.Name, r.cfg.Token, r.cfg.Origin)
	if err != nil {
		return err
	}
	defer func() { r.claim.release(r.committed) }()
	sock := filepath.Join(wd, "data.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	var tcp net.Listener
	port := 0
	if r.cfg.Direct != nil {
		if r.direct, err = r.cfg.Direct.tls(); err != nil {
			ln.Close()
			return fmt.Errorf("relay: %w", err)
		}
		// Without a port, the parent takes the SSH forward.
		if tcp, port, err = listenDirect(); err != nil {
			r.log.Warn("relay: no direct listener: the stream comes over SSH", "error", err)
		}
	}
	var tlsCfg *tls.Config
	if r.direct != nil {
		tlsCfg = r.direct.server
	}
	acc := startAcceptor(r.cfg.Token, r.cfg.Stall, ln, tcp, tlsCfg, r.log)
	defer acc.close()
	emit(relayEvent{Type: evListening, Socket: sock, Port: port, PID: os.Getpid()})
	// From now on it reports each second, so the root tells a relay that is
	// busy (seeding, waiting for its stream) from one that froze.
	stop := r.heartbeat()
	defer stop()

	client, err := sshx.New(sshx.Options{SSH: r.cfg.SSH, Logger: r.log})
	if err != nil {
		return fmt.Errorf("relay: ssh settings: %w", err)
	}
	defer client.Close()
	// Without the direct stream, the handshakes with the children overlap the
	// root's readying of the other hosts: by the time the root says connect,
	// the connections are up. With it, a child costs an SSH connection (a
	// fork and exec of its sshd) only when its direct stream fails.
	if r.direct == nil {
		for _, h := range r.cfg.Children {
			go client.Connect(ctx, h)
		}
	}

	// Its own binary, as its host received it compressed, or compressed: read
	// once for every host it seeds (the root asks only for hosts of this
	// platform, and each verifies what it gets).
	stream := sync.OnceValues(func() ([][]byte, error) {
		return seedStream(&shipBinary{goos: runtime.GOOS, goarch: runtime.GOARCH}, seedFile)
	})
	conn, err := readConnect(in, func(p relayPeer) { go r.seed(ctx, client, stream, p) })
	if err != nil {
		return fmt.Errorf("relay: the root went away before the stream: %w", err)
	}
	// From here on, the end of standard input is the root going away; before
	// it, the root may drop a child or stop the relay.
	var finished atomic.Bool
	go func() {
		for {
			var c relayControl
			if err := readJSONLine(in, &c); err != nil {
				break // the end, or a root that says what it cannot: it has gone
			}
			switch {
			case c.Drop != "":
				r.log.Warn("relay: the root drops a child", "child", c.Drop)
				r.drop(c.Drop)
			case c.Stop != "":
				cancel(errors.New(c.Stop))
			}
		}
		if !finished.Load() {
			cancel(errors.New("the root grifork went away"))
		}
	}()

	children := r.connect(ctx, client, conn.Children)
	emit(relayEvent{Type: evConnected})

	st, err := r.pump(ctx, acc, children)
	finished.Store(true)
	if err != nil {
		// The cause of a stop, unless the commit had started: then its error
		// says which paths have their new content.
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil && !r.committing {
			return c
		}
		return err
	}
	emit(relayEvent{Type: evResult, Status: core.StatusOK, Bytes: r.received.Load(), RSS: peakRSS(),
		Written: st.written, Kind: st.kind(), Stream: r.path})
	return nil
}

// readConnect reads the root's control lines up to the relayConnect, handing
// each seed request before it to seed.
func readConnect(in *bufio.Reader, seed func(relayPeer)) (relayConnect, error) {
	for {
		var conn relayConnect
		if err := readJSONLine(in, &conn); err != nil || conn.Seed == nil {
			return conn, err
		}
		seed(*conn.Seed)
	}
}

// seed puts stream (this relay's binary, compressed: see seedStream; the
// relay runs in its run directory) into the file p names on p's host over
// SFTP, where the root's session on that host verifies it, so that the
// root's uplink need not carry it there; and says how it went.
func (r *relayRun) seed(ctx context.Context, client *sshx.Client, stream func() ([][]byte, error), p relayPeer) {
	parts, err := stream()
	if err == nil {
		err = putSFTP(ctx, client, p.Host, p.File, parts...)
	}
	ev := relayEvent{Type: evSeeded, Host: p.Name}
	if err != nil {
		ev.Err = core.OneLine(err.Error())
	}
	r.emit(ev)
}

type child struct {
	name string
	conn net.Conn
}

// connect opens a stream to every child's relay, concurrently; a child that
// cannot be reached is reported and left out.
func (r *relayRun) connect(ctx context.Context, client *sshx.Client, peers []relayPeer) []child {
	return openStreams(ctx, client, r.direct, peers, r.cfg.Token, r.log,
		func(p relayPeer, err error) {
			r.emit(relayEvent{Type: evChild, Host: p.Name, Err: core.OneLine(err.Error())})
		},
		func(p relayPeer, c net.Conn) bool { return r.keep(p.Name, c) })
}

// openStreams opens a stream to every peer at once (see openStream), as the
// root and every relay do: a direct dial without an answer then waits its
// timeout once for all. It returns the streams that keep took, in peers'
// order; failed hears of each peer that could not be reached, and keep,
// which may refuse a stream (and then closes it), of each that could.
func openStreams(ctx context.Context, client *sshx.Client, direct *directTLS, peers []relayPeer, token string, log *slog.Logger,
	failed func(relayPeer, error), keep func(relayPeer, net.Conn) bool) []child {
	out := make([]child, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			c, err := openStream(ctx, client, direct, p, token, log)
			if err != nil {
				failed(p, err)
				return
			}
			if keep(p, c) {
				out[i] = child{name: p.Name, conn: c}
			}
		})
	}
	wg.Wait()
	var live []child
	for _, c := range out {
		if c.conn != nil {
			live = append(live, c)
		}
	}
	return live
}

// openStream opens the data stream to a peer's relay and introduces it with
// the run's token, so a relay takes its stream from no one else: directly
// over TLS when the peer listens for it (direct set, p.Port) and client
// reaches its host without a jump host or ProxyCommand, at the address its
// SSH connection reaches (sshx's DirectAddr); else, or when that fails,
// through client's SSH connection, which it then opens.
func openStream(ctx context.Context, client *sshx.Client, direct *directTLS, p relayPeer, token string, log *slog.Logger) (net.Conn, error) {
	if direct != nil && p.Port != 0 {
		addr, err := client.DirectAddr(p.Host)
		switch {
		case err != nil:
			log.Warn("broadcast: no direct stream, using the SSH forward", "host", p.Name, "error", err)
		case addr == "":
			log.Debug("broadcast: no direct stream through a jump host or ProxyCommand, using the SSH forward", "host", p.Name)
		default:
			// Should the port not answer at once (a firewall that drops), the
			// SSH connection of the fallback is made meanwhile: the child
			// waits for its stream only so long (the stall timeout).
			c, err := direct.dial(ctx, addr, p.Port, token, func() { client.Connect(ctx, p.Host) })
			if err == nil {
				return c, nil
			}
			log.Warn("broadcast: no direct stream, using the SSH forward", "host", p.Name, "addr", net.JoinHostPort(addr, strconv.Itoa(p.Port)), "error", err)
		}
	}
	c, err := client.DialUnix(ctx, p.Host, p.Socket)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, token+"\n"); err != nil {
		c.Close()
		return nil, fmt.Errorf("host %s: %w", p.Host, err)
	}
	return c, nil
}

func (r *relayRun) heartbeat() func() {
	t := time.NewTicker(heartbeat)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				r.emit(relayEvent{Type: evProgress, Bytes: r.received.Load()})
			case <-done:
				return
			}
		}
	}()
	return func() { t.Stop(); close(done) }
}

// pump moves the stream from the parent to the children and the disk: first
// the manifest, which it compares with what it holds to tell the root what it
// lacks, then the contents that some host of the tree lacks.
func (r *relayRun) pump(ctx context.Context, acc *acceptor, children []child) (*stage, error) {
	closeChildren := func() {
		for _, c := range children {
			c.conn.Close()
		}
	}
	parent, path, err := acc.wait(ctx, r.cfg.Parent)
	if err != nil {
		closeChildren()
		return nil, err
	}
	r.path = path
	r.log.Debug("relay: the parent's stream", "parent", r.cfg.Parent, "path", path)
	defer parent.Close()
	stopRead := context.AfterFunc(ctx, func() { parent.Close() })
	defer stopRead()

	st, err := newStage(r.claim, r.cfg.Excludes, r.cfg.Delete)
	if err != nil {
		closeChildren()
		return nil, err
	}
	st.pause = r.cfg.SlowCommit
	pool := newChunkPool()
	fan := newFanout(1 + len(children))
	stall := streamStall(r.cfg.Stall)
	var wg sync.WaitGroup
	for i, c := range children {
		wg.Go(func() {
			if err := writeSink(fan.sinks[1+i], c.conn, stall); err != nil {
				r.emit(relayEvent{Type: evChild, Host: c.name, Err: "stream to it: " + core.OneLine(err.Error())})
			}
		})
	}
	var readErr error
	wg.Go(func() {
		defer fan.close()
		src := &countingConn{Conn: parent, n: &r.received}
		// The contents come once the root has heard from every relay, which
		// may take a while of hashing on the others.
		if _, readErr = readFrames(ctx, src, parent, pool, fan, stall, 0); readErr == nil {
			_, readErr = readFrames(ctx, src, parent, pool, fan, stall, contentWait*r.cfg.Stall)
		}
		if readErr == nil {
			endStream(parent, stall) // tells the parent the whole stream arrived (see awaitClose)
		} else {
			parent.Close()
		}
	})

	err = r.plan(st, fan.sinks[0])
	cr := newChunkReader(fan.sinks[0])
	cr.corrupt = r.cfg.Corrupt
	if err == nil {
		err = st.receive(cr)
	}
	cr.close()
	wg.Wait()
	switch {
	case readErr != nil:
		err = fmt.Errorf("stream from %s: %w", r.cfg.Parent, readErr)
	case err == nil:
		err = cr.verified()
	}
	if err == nil {
		r.committing = true
		r.emit(relayEvent{Type: evCommit})
		err = st.commit(ctx)
	}
	if err != nil {
		st.abort()
	}
	r.committed = err == nil
	return st, err
}

// contentWait is how many stall timeouts a relay waits between the manifest
// and the contents: more than the root waits for every relay's needs.
const contentWait = 4

// plan reads the manifest from ch, compares it with what st's destination
// holds and tells the root what this host lacks. It tells the root also when
// it fails (as lacking nothing: this host fails, its children still count).
func (r *relayRun) plan(st *stage, ch <-chan *chunk) error {
	cr := newChunkReader(ch)
	m, err := readManifest(cr, r.cfg.Single)
	if err == nil {
		_, err = io.Copy(io.Discard, cr) // up to the trailer
	}
	if err == nil {
		err = cr.verified()
	}
	var v *verdict
	if err == nil {
		v, err = st.plan(m)
	}
	ev := relayEvent{Type: evNeeds}
	if v != nil {
		ev.Need, ev.Check = v.ranges(needContent), v.checks
	}
	r.emit(ev)
	if err != nil {
		cr.close()
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// countingConn counts what is read, for progress reports.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// maxControlLine bounds a control message (a relay's children and settings).
const maxControlLine = 1 << 20

func readJSONLine(r *bufio.Reader, v any) error {
	var line []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, part...)
		if len(line) > maxControlLine {
			return errors.New("control message too long")
		}
		if !isPrefix {
			break
		}
	}
	return json.Unmarshal(line, v)
}

// peakRSS is this process's peak resident memory in KiB (Linux reports KiB).
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss
}

package node

import (
	"bufio"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// BroadcastOptions configures a Broadcaster.
type BroadcastOptions struct {
	Config  core.BroadcastConfig
	SSH     core.SSHConfig // handed to every relay (in memory) to reach its children
	Grifork core.GriforkConfig
	// Binary is the executable shipped as the relay: os.Executable() when "".
	Binary string
	// Heal re-plans the tree around relays that cannot be started, and sends
	// again, from the root, to the hosts whose source failed mid-stream.
	Heal   bool
	Logger *slog.Logger
	// Progress, when set, counts the broadcast as it goes, for a live line.
	Progress *core.Transfer
}

const slowCommit = 500 * time.Millisecond

// stopWait is how long a stopped run (Ctrl-C) waits for the relays to say how
// they ended: the process ends within 2 s of the signal, summary included.
const stopWait = time.Second

// Broadcaster is the root of a pipelined broadcast (core.Broadcaster). It
// starts a relay on every host at once (a flat control plane from the root,
// so no handshake waits for another), tells each relay the sockets of its
// children in the broadcast tree so that every node-to-node stream opens at
// once, then streams the manifest and the contents some host lacks in frames
// down the tree:
// each relay forwards every frame to its children as it arrives. Results come
// back over each relay's own session.
type Broadcaster struct {
	c    *sshx.Client
	ship *Shipper
	opts BroadcastOptions
	log  *slog.Logger
}

// NewBroadcaster returns a Broadcaster over c.
func NewBroadcaster(c *sshx.Client, opts BroadcastOptions) *Broadcaster {
	b := &Broadcaster{c: c, opts: opts, log: opts.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.ship = NewShipper(c, opts.Grifork, opts.Binary, b.log)
	return b
}

// PlanCmdline is the relay's command line, for the dry-run plan.
func (b *Broadcaster) PlanCmdline() string {
	_, dir := b.ship.PlanExe()
	exe := b.opts.Grifork.Exec
	if exe == "" {
		exe = dir + "/grifork-<sha256>"
	}
	return launchCmdline(Deployment{Run: dir + "/run-XXXXXXXXXX", Exe: exe}, relayArgs())
}

// relayArgs follow the executable on a relay's command line.
func relayArgs() []string { return protocolArgs("", RelayFlag)[1:] }

func (b *Broadcaster) stall() time.Duration {
	if b.opts.SSH.Timeout > 0 {
		return b.opts.SSH.Timeout
	}
	return core.DefaultSSHTimeout
}

// Broadcast implements core.Broadcaster.
func (b *Broadcaster) Broadcast(ctx context.Context, t *core.Tree) (map[string]core.BroadcastResult, error) {
	// Every relay holds its session from the root until the stream ends: with
	// fewer connections than hosts the first relays would wait for the others forever.
	if n, m := len(t.Nodes())-1, b.c.MaxConnections(); n > m {
		return nil, fmt.Errorf("broadcast: its %d hosts need %d connections from this machine at once, more than ssh { max_connections = %d }: raise it, or use grifork mode", n, n, m)
	}
	list, size, err := scanSource(b.opts.Config.From, b.opts.Config.Excludes)
	if err != nil {
		return nil, err
	}
	b.log.Info("broadcast start", "from", b.opts.Config.From, "to", b.opts.Config.To, "files", len(list), "bytes", size, "hosts", len(t.Nodes())-1)
	m, err := newManifest(list, b.opts.Config.Checksum)
	if err != nil {
		return nil, err
	}
	man, err := m.encode()
	if err != nil {
		return nil, fmt.Errorf("broadcast: manifest: %w", err)
	}
	results := map[string]core.BroadcastResult{}
	tree := t
	for round := 1; ; round++ {
		res, err := b.round(ctx, tree, list, man)
		for h, r := range res {
			results[h] = r
		}
		if err != nil {
			return results, err
		}
		if !b.opts.Heal || ctx.Err() != nil || round == 3 {
			break
		}
		// Hosts that failed only because their source did, or whose stream
		// broke on the way: send again from the root, along a tree of their own.
		var again []core.Host
		tree.Walk(func(n *core.Node) {
			if r, ok := res[n.Name()]; ok && r.Status != core.StatusOK && (upstream(n, res) || strings.Contains(r.Err, errTruncated.Error())) {
				again = append(again, n.Host)
			}
		})
		if len(again) == 0 {
			break
		}
		b.log.Info("broadcast: sending again to hosts whose source failed", "hosts", len(again))
		if tree, err = core.BuildTree(again, t.Branches); err != nil {
			return results, err
		}
	}
	return results, nil
}

// upstream reports whether n's failure came from an ancestor: some ancestor
// failed too.
func upstream(n *core.Node, res map[string]core.BroadcastResult) bool {
	for p := n.Parent; p != nil && !p.IsRoot(); p = p.Parent {
		if r, ok := res[p.Name()]; ok && r.Status != core.StatusOK {
			return true
		}
	}
	return false
}

// deployLimit bounds readying a host for its relay (the tmpdir, and shipping
// the binary when it is not cached there): a host that hangs there fails.
const deployLimit = 2 * time.Minute

// relayProc is the root's view of one relay.
type relayProc struct {
	node   *core.Node
	host   core.Host
	start  time.Time
	ctx    context.Context // the relay's session; cancel stops it
	cancel context.CancelFunc
	ctlR   *io.PipeReader
	ctl    *io.PipeWriter
	events chan relayEvent
	ended  chan struct{} // the session ended; err says how
	err    error
	stderr *sshx.TailWriter

	// Seeding: seeder is the relay that ships it the binary when its host's
	// cache lacks it (nil: the root does); its seeding turns open once its
	// own relay listens; seeded carries a seeding's outcome ("" when it worked).
	seeder   *relayProc
	seedTurn int       // its turn among the hosts its seeder ships to
	seeding  seedTurns // as a seeder: one host at a time
	peers    map[string]*relayProc
	seeded   chan string
	sendMu   sync.Mutex

	started   bool
	socket    string
	port      int // its direct listener's, 0 for none
	connected bool
	needs     *relayEvent // what its host lacks
	result    *relayEvent
	died      bool   // its session ended with an error before a result
	childErr  string // what its parent said about it
	stalled   bool   // the root's stream to it stalled: the cause, though the root's cut of the connection then ended its session

	// Kept by the goroutine that reads its events, for watch and halt.
	pid        atomic.Int64 // the relay's process on its host
	last       atomic.Int64 // when it last said anything (UnixNano): it reports each second
	reported   atomic.Bool  // it sent its result, or its session ended
	counted    atomic.Bool  // the progress line counts it done
	committing atomic.Bool  // its stream verified and its commit started
	// frozen is the root's own verdict (see watch), which outranks what the
	// relay's neighbours say about it.
	frozen atomic.Pointer[string]

	feedMu sync.Mutex
	feed   net.Conn // the root's stream to it, when the root is its parent
}

// countDone counts p's host done on t, once.
func (p *relayProc) countDone(t *core.Transfer) {
	if p.counted.CompareAndSwap(false, true) {
		t.HostDone()
	}
}

// setFeed records the root's stream to p; false when p was dropped already.
func (p *relayProc) setFeed(c net.Conn) bool {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	if p.frozen.Load() != nil {
		return false
	}
	p.feed = c
	return true
}

// dropFeed closes the root's stream to p.
func (p *relayProc) dropFeed() {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	if p.feed != nil {
		p.feed.Close()
	}
}

func (p *relayProc) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	_, err = p.ctl.Write(append(b, '\n'))
	return err
}

// round runs one broadcast along t; man is the source's manifest, encoded.
func (b *Broadcaster) round(ctx context.Context, t *core.Tree, list []entry, man []byte) (map[string]core.BroadcastResult, error) {
	token := randomToken()
	var keys *directKeys
	var direct *directTLS
	if b.opts.Config.Directs() {
		var err error
		if keys, err = newDirectKeys(); err == nil {
			direct, err = keys.tls()
		}
		if err != nil {
			return nil, fmt.Errorf("broadcast: the direct stream's TLS credential: %w", err)
		}
	}
	nodes := t.Nodes()[1:]
	b.opts.Progress.Start(len(nodes))
	defer b.opts.Progress.SetPhase(core.PhaseDone)
	procs := make(map[string]*relayProc, len(nodes))
	var wg sync.WaitGroup
	defer func() {
		for _, p := range procs {
			p.ctl.Close()
		}
		// A relay ends by itself after its result or when its control input
		// ends; only one that does not is stopped (soon after a Ctrl-C).
		wait := 5 * time.Second
		if ctx.Err() != nil {
			wait = stopWait / 2
		}
		grace := time.After(wait)
		for _, p := range procs {
			select {
			case <-p.ended:
			case <-grace:
			}
			p.cancel()
		}
		wg.Wait()
	}()
	corrupt, slow := corruptHost(), slowCommitHost()
	origin, _ := os.Hostname()
	for _, n := range nodes {
		procs[n.Name()] = b.newProc(ctx, n, procs)
	}
	for child, slot := range seedParents(t) {
		procs[child].seeder, procs[child].seedTurn = procs[slot.seeder], slot.turn
	}
	for _, n := range nodes {
		p := procs[n.Name()]
		cfg := relayConfig{Self: n.Name(), Parent: n.Parent.Name(), SSH: b.opts.SSH, To: b.opts.Config.To,
			Single: !list[0].info.IsDir(), Name: filepath.Base(list[0].abs), Delete: b.opts.Config.Deletes(), Excludes: b.opts.Config.Excludes,
			Token: token, Direct: keys, Stall: b.stall(), Origin: origin, Corrupt: corrupt != "" && corrupt == n.Name(), Grifork: b.opts.Grifork}
		if slow != "" && slow == n.Name() {
			cfg.SlowCommit = slowCommit
		}
		for _, c := range n.Children {
			cfg.Children = append(cfg.Children, b.loginHost(c))
		}
		wg.Go(func() { b.startRelay(ctx, p, cfg) })
	}

	// Phase 1: every relay listens. Readying a host may ship the binary over a
	// slow link, so it gets a generous bound; a started relay answers at once.
	stall := b.stall()
	for _, n := range nodes {
		p := procs[n.Name()]
		for p.socket == "" && p.result == nil {
			limit := 3 * stall
			if !p.started {
				limit = deployLimit
			}
			if !b.await(ctx, procs, p, limit) {
				break
			}
		}
	}
	b.log.Debug("broadcast: relays listening")
	live := func(n *core.Node) bool {
		p := procs[n.Name()]
		return p.socket != "" && p.result == nil
	}
	// Stopped (Ctrl-C): every relay told to stop says how it ended, and the
	// stream's own end, cut short, is no error of the broadcast's.
	told := false
	stopped := func(t *core.Tree, skipped map[string]string) map[string]core.BroadcastResult {
		b.halt(ctx, nodes, procs, told)
		return b.outcome(ctx, t, nodes, procs, skipped)
	}
	if ctx.Err() != nil {
		return stopped(t, nil), nil
	}
	// Phase 2: every relay opens the streams to its children, all at once.
	skipped := map[string]string{}
	if b.opts.Heal {
		var hosts []core.Host
		for _, n := range nodes {
			if live(n) {
				hosts = append(hosts, n.Host)
			}
		}
		if len(hosts) < len(nodes) {
			var err error
			if t, err = core.BuildTree(hosts, t.Branches); err != nil {
				return nil, err
			}
			b.log.Info("broadcast: tree re-planned around relays that did not start", "hosts", len(hosts))
		}
	} else {
		for _, n := range nodes {
			if !live(n) {
				continue // failed with its own error
			}
			for a := n.Parent; !a.IsRoot(); a = a.Parent {
				if !live(a) {
					skipped[n.Name()] = "relay " + a.Name() + " failed: " + b.failure(procs[a.Name()])
					break
				}
			}
		}
	}
	t.Walk(func(n *core.Node) {
		if n.IsRoot() || !live(n) {
			return
		}
		p := procs[n.Name()]
		if _, ok := skipped[n.Name()]; ok {
			p.ctl.Close()
			return
		}
		msg := relayConnect{Parent: n.Parent.Name()}
		for _, c := range n.Children {
			if live(c) {
				msg.Children = append(msg.Children, b.peer(c, procs))
			}
		}
		if err := p.send(msg); err != nil {
			p.childErr = "relay: " + err.Error()
		}
	})
	// A Ctrl-C from here on (each relay has its connect message) reaches every
	// relay at once: the streams then unwind from every hop together, rather
	// than drain down the tree.
	var listening []*relayProc
	for _, n := range nodes {
		if live(n) {
			listening = append(listening, procs[n.Name()])
		}
	}
	told = true
	stopRelays := context.AfterFunc(ctx, func() {
		for _, p := range listening {
			go p.send(relayControl{Stop: context.Cause(ctx).Error()}) // a closed input fails it, nothing waits
		}
	})
	defer stopRelays()
	var watched []*core.Node
	for _, n := range t.Nodes()[1:] {
		p := procs[n.Name()]
		if _, ok := skipped[n.Name()]; ok || !live(n) {
			continue
		}
		for !p.connected && p.result == nil {
			if !b.await(ctx, procs, p, 3*stall) {
				break
			}
		}
		if live(n) {
			watched = append(watched, n)
		}
	}
	if ctx.Err() != nil {
		return stopped(t, skipped), nil
	}

	b.log.Debug("broadcast: streams open")
	// Phase 3: stream, while watch looks for a relay that froze.
	stopWatch := b.watch(procs, watched)
	defer stopWatch()
	streamErr := b.stream(ctx, t, procs, list, man, token, direct, func(n *core.Node) bool {
		_, skip := skipped[n.Name()]
		return live(n) && !skip
	})

	b.log.Debug("broadcast: stream sent")
	// Results: every live relay reports, dies, or falls silent.
	for _, n := range t.Nodes()[1:] {
		p := procs[n.Name()]
		if _, ok := skipped[n.Name()]; ok || !live(n) {
			continue
		}
		for p.result == nil {
			if !b.await(ctx, procs, p, stall) {
				break
			}
		}
	}
	stopWatch()
	if ctx.Err() != nil {
		return stopped(t, skipped), nil
	}
	return b.outcome(ctx, t, nodes, procs, skipped), streamErr
}

// outcome is every host's result of a round along t; nodes are all the
// round's hosts, also those a re-planned t left out.
func (b *Broadcaster) outcome(ctx context.Context, t *core.Tree, nodes []*core.Node, procs map[string]*relayProc, skipped map[string]string) map[string]core.BroadcastResult {
	out := b.results(ctx, t, procs, skipped)
	// Relays that did not start are out of a re-planned tree: they failed.
	for _, n := range nodes {
		if _, ok := out[n.Name()]; !ok {
			p := procs[n.Name()]
			out[n.Name()] = core.BroadcastResult{Status: core.StatusFailed, Via: n.Parent.Name(),
				Duration: time.Since(p.start), Err: b.failure(p)}
		}
	}
	return out
}

// watch stops, from when the stream starts, every relay of nodes that falls
// silent for the stall timeout: a relay reports each second, also while its
// writes wait for a slow or frozen child, so the silent one is the one that
// stopped making progress (SIGSTOP, a hung host), not its parent. Its verdict
// is "no progress", it is killed with its session (the hosts below it then
// see their stream end), and its parent is told to drop it and go on: the
// streams' own watchdogs wait longer (streamStall), so that this comes first.
func (b *Broadcaster) watch(procs map[string]*relayProc, nodes []*core.Node) (stop func()) {
	stall := b.stall()
	start := time.Now().UnixNano()
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(heartbeat / 4)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, n := range nodes {
				p := procs[n.Name()]
				if p.reported.Load() || p.frozen.Load() != nil || time.Since(time.Unix(0, max(p.last.Load(), start))) < stall {
					continue
				}
				msg := fmt.Sprintf("%s for %s: its relay stopped answering (frozen?) and was killed", errStalled, stall)
				p.feedMu.Lock()
				p.frozen.Store(&msg)
				p.feedMu.Unlock()
				b.log.Warn("broadcast: relay frozen", "host", n.Name(), "silent", stall)
				go b.kill(p)
				p.cancel()
				if n.Parent.IsRoot() {
					p.dropFeed()
				} else if pp := procs[n.Parent.Name()]; pp != nil {
					go pp.send(relayControl{Drop: n.Name()}) // a closed input fails it, nothing waits
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-ended })
	}
}

// kill ends a frozen relay at once: a stopped process would get the TERM of
// its cancelled session only once continued, and outlive the root until the
// session's KILL 5 s later. The root removes what it staged (see startRelay).
func (b *Broadcaster) kill(p *relayProc) {
	pid := p.pid.Load()
	if pid <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.stall())
	defer cancel()
	if err := b.c.StartBounded(ctx, p.host, "kill -KILL "+strconv.FormatInt(pid, 10), nil, nil, nil); err != nil {
		b.log.Warn("broadcast: could not kill a frozen relay", "host", p.node.Name(), "pid", pid, "error", err)
	}
}

// halt settles every relay still running after a Ctrl-C. Those told why
// (see round) get a moment (stopWait) to say how they ended: one whose commit
// finished says ok; one stopped before its commit replaced nothing; one
// stopped during its commit says which paths have their new content. One that
// does not answer, or was stopped before the stream (nothing sent), is failed
// with the cause; the round's end stops it.
func (b *Broadcaster) halt(ctx context.Context, nodes []*core.Node, procs map[string]*relayProc, told bool) {
	cause := context.Cause(ctx).Error()
	var waiting []*relayProc
	for _, n := range nodes {
		p := procs[n.Name()]
		switch {
		case p.result != nil:
			continue
		case p.socket == "":
			p.cancel() // still being readied
		case told:
			waiting = append(waiting, p)
			continue
		}
		p.result = &relayEvent{Type: evResult, Status: core.StatusFailed, Err: cause}
	}
	deadline, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	for _, p := range waiting {
	wait:
		for p.result == nil {
			select {
			case ev, ok := <-p.events:
				if !ok {
					break wait
				}
				if ev.Type == evResult {
					p.result = &ev
					p.ctl.Close()
				}
			case <-deadline.Done():
				break wait
			}
		}
		if p.result == nil {
			msg := cause
			if p.committing.Load() {
				msg += " during its commit: each path under " + b.opts.Config.To + " holds its old or its new content"
			}
			p.result = &relayEvent{Type: evResult, Status: core.StatusFailed, Err: msg}
			p.cancel()
		}
	}
}

// await takes one event of p (or notes its end); false when p ended, fell
// silent for d (0: no limit), or ctx was cancelled.
func (b *Broadcaster) await(ctx context.Context, procs map[string]*relayProc, p *relayProc, d time.Duration) bool {
	var silent <-chan time.Time
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		silent = timer.C
	}
	ok, quiet := b.next(ctx, procs, p, silent)
	if !quiet {
		return ok
	}
	if time.Since(time.Unix(0, p.last.Load())) < d {
		return true // its heartbeat came meanwhile
	}
	msg := fmt.Sprintf("relay silent for %s: stopped", d)
	if !p.started {
		msg = fmt.Sprintf("readying the host for its relay took longer than %s: stopped", d)
	}
	p.result = &relayEvent{Type: evResult, Status: core.StatusFailed, Err: msg}
	p.cancel()
	return false
}

// next takes one event of p (or notes its end) unless timeout comes first
// (quiet); false when p ended, the timeout came, or ctx was cancelled.
func (b *Broadcaster) next(ctx context.Context, procs map[string]*relayProc, p *relayProc, timeout <-chan time.Time) (ok, quiet bool) {
	select {
	case ev, ok := <-p.events:
		if !ok {
			if p.result == nil {
				<-p.ended
				p.died = p.err != nil
				p.result = &relayEvent{Type: evResult, Status: core.StatusFailed, Err: b.failure(p)}
			}
			return false, false
		}
		switch ev.Type {
		case evStarted:
			p.started = true
		case evListening:
			p.socket, p.port = ev.Socket, ev.Port
		case evConnected:
			p.connected = true
		case evNeeds:
			p.needs = &ev
		case evResult:
			p.result = &ev
			p.ctl.Close()
			b.log.Debug("relay result", "host", p.node.Name(), "status", ev.Status, "bytes", ev.Bytes, "stream", ev.Stream, "err", ev.Err)
		case evChild:
			b.log.Warn("broadcast: relay reports a child failed", "relay", p.node.Name(), "child", ev.Host, "error", ev.Err)
			if c, ok := procs[ev.Host]; ok {
				c.childErr = ev.Err
				c.cancel() // a frozen relay must not hold the run
			}
		}
		return true, false
	case <-timeout:
		return false, true
	case <-ctx.Done():
		return false, false // halt asks it how it ended
	}
}

// failure is what ended p's relay without a result, in one line.
func (b *Broadcaster) failure(p *relayProc) string {
	if msg := p.frozen.Load(); msg != nil {
		return *msg
	}
	if p.result != nil && p.result.Err != "" {
		return p.result.Err
	}
	select {
	case <-p.ended:
	default:
		return "relay did not answer"
	}
	msg := "relay ended without a result"
	var ce *sshx.CommandError
	switch {
	case errors.As(p.err, &ce) && ce.ExitStatus > 128:
		msg = fmt.Sprintf("relay killed (exit status %d, signal %d)", ce.ExitStatus, ce.ExitStatus-128)
	case errors.As(p.err, &ce) && ce.Signal != "":
		msg = "relay killed by signal " + ce.Signal
	case p.err != nil:
		msg = "relay: " + p.err.Error()
	}
	if tail := p.stderr.Last(); tail != "" {
		msg += ": " + tail
	}
	return core.OneLine(msg)
}

// peer is how n's parent reaches n's relay.
func (b *Broadcaster) peer(n *core.Node, procs map[string]*relayProc) relayPeer {
	p := procs[n.Name()]
	port := p.port
	if slices.Contains(strings.Split(directClosedHosts(), ","), n.Name()) {
		port = closedPort
	}
	return relayPeer{Name: n.Name(), Host: b.loginHost(n), Socket: p.socket, Port: port}
}

func (b *Broadcaster) loginHost(n *core.Node) core.Host {
	h := n.Host
	if b.opts.Grifork.User != "" {
		h.User = b.opts.Grifork.User
	}
	return h
}

// startRelay ships grifork to p's host if needed and runs the relay there until
// it ends, feeding its events to p.events.
func (b *Broadcaster) startRelay(ctx context.Context, p *relayProc, cfg relayConfig) {
	first, err := json.Marshal(cfg)
	if err != nil {
		p.err = err
		close(p.events)
		close(p.ended)
		return
	}
	outR, outW := io.Pipe()
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), maxControlLine)
		defer p.reported.Store(true)
		for sc.Scan() {
			var ev relayEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Type == "" {
				b.log.Debug("relay stdout", "host", p.node.Name(), "line", sc.Text())
				continue
			}
			p.last.Store(time.Now().UnixNano())
			switch ev.Type {
			case evProgress:
				// A heartbeat: its time is all that counts (see await),
				// and the few events that say more are never queued
				// behind a long stream's worth of them.
				continue
			case evSeeded:
				// For the seeded host's own start, which does not wait on this
				// relay's events.
				if c, ok := p.peers[ev.Host]; ok {
					select {
					case c.seeded <- ev.Err:
					default:
					}
				}
				continue
			case evListening:
				p.pid.Store(int64(ev.PID))
				p.seeding.start()
			case evCommit:
				p.committing.Store(true)
			case evResult:
				p.reported.Store(true)
				p.countDone(b.opts.Progress)
			}
			p.events <- ev
		}
		io.Copy(io.Discard, outR)
	}()
	defer func() {
		outW.Close()
		// What is sent to it from now on (a seed request, a connect) fails at
		// once rather than wait for a reader that is gone.
		p.ctlR.CloseWithError(errRelayEnded)
		p.stderr.Close()
		// Here, not when the reader above ends (which may be after the round,
		// into a heal's next one): its session ended, result or not.
		p.countDone(b.opts.Progress)
		close(p.ended)
	}()
	stdin := io.MultiReader(strings.NewReader(string(first)+"\n"), p.ctlR)
	d, err := b.launch(p, stdin, outW)
	p.err = err
	if p.err != nil {
		// A relay that ended in error may not have removed its run directory and
		// what it staged (killed, it cannot): the root does. One that ended well
		// removed both itself, which saves a session per host.
		b.ship.Cleanup(ctx, p.host, d.Run, stageDirs(cfg.To, cfg.Single, cfg.Token)...)
	}
}

// A cold start's binary goes out as a binomial broadcast: each relay that
// holds it ships it to one host at a time, at its link's full rate, and every
// host that got it ships it on in turn once its relay listens. The plan
// assumes that readying a host (unpacking, checking, starting its relay)
// takes seedReady uploads' time: so a seeder ships a few hosts before the
// first of them helps, and a fleet of N is seeded in about log2(N) upload
// times plus a few readyings, where shipping to several hosts at once made
// each wait for the slowest of its wave.
const seedReady = 2

// seedSlot is who ships a host the binary on a cold start, and in which turn
// of that seeder's (0 first).
type seedSlot struct {
	seeder string
	turn   int
}

// seedParents plans, for every host of t below the root's children, the host
// whose relay ships it the binary when its cache lacks it, and in which
// turn: hosts in the tree's breadth-first order each go to the seeder that
// would be free first (the root's children from the start, a seeded host
// seedReady uploads after its own upload), so the binary crosses the root's
// uplink only as often as the root has children.
func seedParents(t *core.Tree) map[string]seedSlot {
	var order []*core.Node
	for _, g := range t.Generations() {
		order = append(order, g...)
	}
	first := len(t.Root.Children)
	out := map[string]seedSlot{}
	free := &seederHeap{}
	for i := range first {
		heap.Push(free, seederAt{free: 0, index: i})
	}
	turns := make([]int, len(order))
	for i := first; i < len(order); i++ {
		s := heap.Pop(free).(seederAt)
		out[order[i].Name()] = seedSlot{seeder: order[s.index].Name(), turn: turns[s.index]}
		turns[s.index]++
		done := s.free + 1
		heap.Push(free, seederAt{free: done, index: s.index})
		heap.Push(free, seederAt{free: done + seedReady, index: i})
	}
	return out
}

// seederAt is a seeder (its index in the breadth-first order) and when it is
// next free, in upload times.
type seederAt struct{ free, index int }

// seederHeap orders seeders by when they are free, then by the tree's order.
type seederHeap []seederAt

func (h seederHeap) Len() int { return len(h) }
func (h seederHeap) Less(i, j int) bool {
	return h[i].free < h[j].free || h[i].free == h[j].free && h[i].index < h[j].index
}
func (h seederHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *seederHeap) Push(x any)   { *h = append(*h, x.(seederAt)) }
func (h *seederHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// seedTurns lets a seeder ship to one host at a time, in the planned turns
// among the hosts that wait (a host whose session asks late does not hold up
// those after it).
type seedTurns struct {
	mu      sync.Mutex
	open    bool // the seeder listens: turns may go (see start)
	busy    bool
	waiting map[int]chan struct{} // by turn
	// broken is why the seeder takes no more turns: it did not answer one,
	// and the hosts after it should not each wait as long.
	broken error
}

// acquire waits until it is turn's go, or until stop is closed or ctx ends.
func (q *seedTurns) acquire(ctx context.Context, turn int, stop <-chan struct{}) error {
	select {
	case <-stop: // it ended after it listened: a send to it would wait for nobody
		return errSeederEnded
	default:
	}
	q.mu.Lock()
	if q.broken != nil {
		q.mu.Unlock()
		return q.broken
	}
	if q.open && !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	if q.waiting == nil {
		q.waiting = map[int]chan struct{}{}
	}
	turnCh := make(chan struct{})
	q.waiting[turn] = turnCh
	q.mu.Unlock()
	var err error
	select {
	case <-turnCh:
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.broken // woken by a break, or given the go
	case <-stop:
		err = errSeederEnded
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	q.mu.Lock()
	_, still := q.waiting[turn]
	delete(q.waiting, turn)
	q.mu.Unlock()
	if !still { // given the go meanwhile: pass it on
		q.release()
	}
	return err
}

// start opens the turns once the seeder listens (again: nothing): the hosts
// that asked before then (on a cold start, all of them) go in their planned
// order, not in the order they raced for the first.
func (q *seedTurns) start() {
	q.mu.Lock()
	if q.open {
		q.mu.Unlock()
		return
	}
	q.open, q.busy = true, true
	q.mu.Unlock()
	q.release()
}

// release gives the go to the earliest turn that waits.
func (q *seedTurns) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.broken != nil {
		return
	}
	next, found := 0, false
	for t := range q.waiting {
		if !found || t < next {
			next, found = t, true
		}
	}
	if !found {
		q.busy = false
		return
	}
	close(q.waiting[next])
	delete(q.waiting, next)
}

// breakOff refuses every turn from now on, those that wait included.
func (q *seedTurns) breakOff(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.broken = err
	for t, ch := range q.waiting {
		close(ch)
		delete(q.waiting, t)
	}
}

var (
	errSeederEnded = errors.New("its relay ended")
	errRelayEnded  = errors.New("the relay's session ended")
)

// launch readies p's host for its relay and runs the relay there until it
// ends, stdin feeding it and stdout taking its events. A host whose cache
// lacks the binary gets it from its seeder's relay once that one runs, not
// over the root's uplink: the relay puts it into the run directory of the
// root's session on the host, which verifies and caches it there; when that
// fails, the root ships it. A cached host costs one session, in which the
// relay runs (see Shipper.Launch).
func (b *Broadcaster) launch(p *relayProc, stdin io.Reader, stdout io.Writer) (Deployment, error) {
	var seed Seed
	if p.seeder != nil && b.opts.Grifork.Exec == "" {
		seed = func(ctx context.Context, file string) error { return b.seed(ctx, p, file) }
	}
	return b.ship.Launch(p.ctx, p.host, relayArgs(), seed, stdin, stdout, p.stderr, func(Deployment) {
		b.log.Debug("relay start", "host", p.node.Name())
		p.events <- relayEvent{Type: evStarted}
	})
}

// seed has p's seeder put the binary into file on p's host, once its relay
// listens and in p's turn.
func (b *Broadcaster) seed(ctx context.Context, p *relayProc, file string) error {
	s := p.seeder
	// Its turn comes once the seeder's relay listens.
	if err := s.seeding.acquire(ctx, p.seedTurn, s.ended); err != nil {
		return fmt.Errorf("seeder %s: %w", s.node.Name(), err)
	}
	defer s.seeding.release()
	if !b.ship.samePlatform(p.host, s.host) {
		// The seeder's relay has only its own binary, for its platform.
		return fmt.Errorf("seeder %s: its host is of another platform", s.node.Name())
	}
	if err := s.send(relayConnect{Seed: &relayPeer{Name: p.node.Name(), Host: p.host, File: file}}); err != nil {
		return fmt.Errorf("seeder %s: %w", s.node.Name(), err)
	}
	wait := time.NewTimer(deployLimit / 2)
	defer wait.Stop()
	select {
	case why := <-p.seeded:
		if why != "" {
			return fmt.Errorf("seeder %s: %s", s.node.Name(), why)
		}
		b.log.Info("broadcast: grifork seeded", "host", p.node.Name(), "seeder", s.node.Name())
		return nil
	case <-s.ended:
		return fmt.Errorf("seeder %s: %w", s.node.Name(), errSeederEnded)
	case <-wait.C:
		err := fmt.Errorf("no answer within %s", deployLimit/2)
		// A seeder whose relay went silent too gets no more turns, so the
		// hosts after this one do not each wait as long; one that still
		// reports was held up by this host, and goes on with the next.
		if time.Since(time.Unix(0, s.last.Load())) > 3*heartbeat {
			s.seeding.breakOff(err)
		}
		return fmt.Errorf("seeder %s: %w", s.node.Name(), err)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (b *Broadcaster) newProc(ctx context.Context, n *core.Node, peers map[string]*relayProc) *relayProc {
	p := &relayProc{node: n, host: b.loginHost(n), events: make(chan relayEvent, 64), ended: make(chan struct{}), start: time.Now(),
		peers: peers, seeded: make(chan string, 1)}
	// Not ended by ctx itself: on Ctrl-C the root first asks each relay to stop
	// and how it ended (see halt), so that a host whose commit finished is ok.
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.ctlR, p.ctl = io.Pipe()
	p.stderr = sshx.NewTailWriter(func(line string) {
		b.log.Debug("relay stderr", "host", n.Name(), "line", line)
	})
	return p
}

// stream sends the manifest man to the root's children in t, waits until
// every relay that streams (live) said what its host lacks, then sends the
// contents of the files that some host lacks.
func (b *Broadcaster) stream(ctx context.Context, t *core.Tree, procs map[string]*relayProc, list []entry, man []byte, token string, direct *directTLS, live func(*core.Node) bool) error {
	var peers []relayPeer
	for _, c := range t.Root.Children {
		if live(c) {
			peers = append(peers, b.peer(c, procs))
		}
	}
	var conns []net.Conn
	var names []string
	for _, c := range openStreams(ctx, b.c, direct, peers, token, b.log,
		func(p relayPeer, err error) { procs[p.Name].childErr = err.Error() },
		func(p relayPeer, c net.Conn) bool {
			if !procs[p.Name].setFeed(c) {
				c.Close()
				return false
			}
			return true
		}) {
		conns, names = append(conns, c.conn), append(names, c.name)
	}
	if len(conns) == 0 {
		return nil
	}
	pool := newChunkPool()
	fan := newFanout(len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			if err := writeSink(fan.sinks[i], c, streamStall(b.stall())); err != nil {
				procs[names[i]].childErr = "stream to it: " + core.OneLine(err.Error())
				procs[names[i]].stalled = errors.Is(err, errStalled)
			}
		})
	}
	mw := newFramer(ctx, pool, fan)
	_, err := mw.Write(man)
	if err == nil {
		err = mw.Close()
	}
	var send []bool
	if err == nil {
		b.opts.Progress.SetPhase(core.PhaseComparing)
		send, err = b.wanted(ctx, t, procs, list, live)
	}
	cw := newFramer(ctx, pool, fan)
	if b.opts.Progress != nil {
		cw.sent = b.opts.Progress.Sent
	}
	if err == nil {
		b.opts.Progress.Sending(contentsSize(list, send))
		err = writeContents(cw, list, send)
	}
	if err == nil {
		err = cw.Close()
	}
	fan.close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	files := 0
	for _, ok := range send {
		if ok {
			files++
		}
	}
	b.log.Info("broadcast sent", "manifest_bytes", mw.n, "files", files, "bytes", cw.n)
	return nil
}

// wanted waits until every relay of t that streams (live) said what its host
// lacks, and returns which entries of list the stream carries: the files that
// some host lacks or holds differently. A relay that has not said so after
// three stall timeouts gets every file, since the root cannot know what it
// lacks. (One that froze meanwhile is watch's: killed, it needs nothing.)
func (b *Broadcaster) wanted(ctx context.Context, t *core.Tree, procs map[string]*relayProc, list []entry, live func(*core.Node) bool) ([]bool, error) {
	send := make([]bool, len(list))
	sums := map[int]string{}
	expired := make(chan time.Time)
	deadline := time.AfterFunc(3*b.stall(), func() { close(expired) })
	defer deadline.Stop()
	all := false
	var err error
	t.Walk(func(n *core.Node) {
		if n.IsRoot() || !live(n) || err != nil {
			return
		}
		p := procs[n.Name()]
		for p.needs == nil && p.result == nil {
			ok, quiet := b.next(ctx, procs, p, expired)
			if quiet && len(p.events) > 0 {
				continue // what it said in time comes first
			}
			if !ok {
				break
			}
		}
		if p.needs == nil {
			all = all || p.result == nil
			return
		}
		err = addNeeds(list, send, p.needs.Need, p.needs.Check, sums)
	})
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if all {
		b.log.Info("broadcast: a relay did not say what it lacks: sending every file")
		for i := range send {
			send[i] = isFile(list, i)
		}
	}
	return send, err
}

func isFile(list []entry, i int) bool {
	return i >= 0 && i < len(list) && list[i].info.Mode().IsRegular()
}

// addNeeds marks in send the files of list that one host needs: those in need
// ([first, last] ranges), and those of checks (index: the host's SHA-256, hex)
// whose content differs from the source's (sums caches the source's).
func addNeeds(list []entry, send []bool, need [][2]int, checks map[int]string, sums map[int]string) error {
	for _, r := range need {
		for i := max(r[0], 0); i <= r[1] && i < len(list); i++ {
			send[i] = send[i] || isFile(list, i)
		}
	}
	for i, held := range checks {
		if !isFile(list, i) || send[i] {
			continue
		}
		sum, ok := sums[i]
		if !ok {
			s, err := fileSum(list[i].abs)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", s)
			sums[i] = sum
		}
		send[i] = sum != held
	}
	return nil
}

// results turns what the relays said into one result per host of t. After a
// Ctrl-C (ctx done) each relay speaks for itself: a stream cut short is the
// stop's doing, not its source's.
func (b *Broadcaster) results(ctx context.Context, t *core.Tree, procs map[string]*relayProc, skipped map[string]string) map[string]core.BroadcastResult {
	out := map[string]core.BroadcastResult{}
	t.Walk(func(n *core.Node) {
		if n.IsRoot() {
			return
		}
		p := procs[n.Name()]
		r := core.BroadcastResult{Via: n.Parent.Name(), Duration: time.Since(p.start)}
		switch why, ok := skipped[n.Name()]; {
		case ok:
			r.Status, r.Err = core.StatusSkipped, why
		case p.result != nil && p.result.Status == core.StatusOK:
			r.Status, r.Received, r.PeakRSS = core.StatusOK, p.result.Bytes, p.result.RSS
			r.Written, r.Kind, r.Stream = p.result.Written, p.result.Kind, p.result.Stream
		case ctx.Err() != nil:
			r.Status, r.Err = core.StatusFailed, b.failure(p)
			if strings.Contains(r.Err, errTruncated.Error()) {
				r.Err = context.Cause(ctx).Error()
			}
		default:
			r.Status, r.Err = core.StatusFailed, b.failure(p)
			if p.childErr != "" && (!p.died || p.stalled) && p.frozen.Load() == nil {
				r.Err = p.childErr
			}
			if pr, ok := out[n.Parent.Name()]; ok && pr.Status != core.StatusOK && p.frozen.Load() == nil &&
				(strings.Contains(r.Err, errTruncated.Error()) || strings.Contains(r.Err, errStalled.Error())) {
				r.Err = "its source " + n.Parent.Name() + " failed mid-stream: " + pr.Err
				if strings.HasPrefix(pr.Err, "its source ") {
					r.Err = pr.Err // the host where it began
				}
			}
		}
		out[n.Name()] = r
	})
	return out
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var _ core.Broadcaster = (*Broadcaster)(nil)

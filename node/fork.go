package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// ForkOptions configures a Forker.
type ForkOptions struct {
	// Grifork is the grifork { chdir, tmpdir, exec, user } directive.
	Grifork core.GriforkConfig
	// Griforkfile and Override are the file contents every child receives,
	// in memory (Hello); Override nil means none.
	Griforkfile []byte
	Override    []byte
	// Name and OverrideName are the files' names as the user gave them: a
	// child's errors cite these.
	Name, OverrideName string
	// Secrets go to each child in memory too.
	Secrets Secrets
	// Binary is the executable shipped to children when Grifork.Exec is empty:
	// os.Executable() when "".
	Binary string
	// Precluded, when set, is called at each fork for the hosts whose broadcast
	// failed (host -> reason), which the child must not serve.
	Precluded func() map[string]string
	// Logger logs each fork; nil discards.
	Logger *slog.Logger
	// CommandTimeout, when set, is the --command-timeout given to the root:
	// every child gets it too, since it beats the Griforkfile they load.
	CommandTimeout *time.Duration
	// Heal is --heal: every child heals its own subtree too.
	Heal bool
}

// OnRemoteFlag starts a node of a grifork-mode run: grifork --on-remote
// --protocol N --tree FILE --run DIR [...] (Forker.cmdline), the Hello on its
// standard input.
const OnRemoteFlag = "--on-remote"

// Forker is the real core.Forker: it starts grifork --on-remote on a child over
// the Client's connection to it, in a run directory that a Shipper prepared
// (holding the subtree; removed when the fork ends; the cached binary stays for
// the next run). The Griforkfile(s) and secrets go on the session (Hello).
//
// The remote grifork's standard output is the event stream; its standard error
// becomes output events of the child. Its standard input stays open while the
// fork runs, so the remote grifork can take EOF for a lost parent and stop.
type Forker struct {
	c    *sshx.Client
	opts ForkOptions
	log  *slog.Logger
	ship *Shipper
	// plan is PlanCmdline's answer, the same for every child: made once,
	// as a plan of 100,000 hosts has 25,000 forks.
	plan func() string
}

// NewForker returns a Forker on c.
func NewForker(c *sshx.Client, opts ForkOptions) *Forker {
	f := &Forker{c: c, opts: opts, log: opts.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.ship = NewShipper(c, opts.Grifork, opts.Binary, f.log)
	f.plan = sync.OnceValue(f.planCmdline)
	return f
}

const (
	treeFile = "tree.json"
	// precludedFile lists the hosts whose broadcast failed: their edges fail.
	precludedFile = "precluded.json"
	// cleanupTimeout bounds the removal of a run directory, which also runs after
	// a cancellation, when the user is waiting for grifork to exit.
	cleanupTimeout = 5 * time.Second
)

// Fork implements core.Forker.
func (f *Forker) Fork(ctx context.Context, parent, child *core.Node, sub *core.Tree, events func(core.Event)) error {
	host := f.loginHost(child)
	treeJSON, err := core.MarshalTree(sub)
	if err != nil {
		return fmt.Errorf("encode subtree: %w", err)
	}
	files := []File{{Name: treeFile, Data: treeJSON}}
	precluded := false
	if f.opts.Precluded != nil {
		if m := f.opts.Precluded(); len(m) > 0 {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			files, precluded = append(files, File{Name: precludedFile, Data: b}), true
		}
	}
	d, err := f.ship.Deploy(ctx, host, files)
	if err != nil {
		return err
	}
	defer f.ship.Cleanup(ctx, host, d.Run)
	cmdline := f.cmdline(d.Chdir, d.Exe, d.Run, precluded)
	f.log.Info("fork", "host", host.String(), "node", child.ID, "command", cmdline)
	return f.run(ctx, host, child, cmdline, events)
}

// loginHost is child's host with grifork { user } as the login when set.
func (f *Forker) loginHost(child *core.Node) core.Host {
	h := child.Host
	if f.opts.Grifork.User != "" {
		h.User = f.opts.Grifork.User
	}
	return h
}

// cmdline is the command that starts grifork --on-remote in run. The node
// removes run itself once it has read its files (--run).
func (f *Forker) cmdline(chdir, exe, run string, precluded bool) string {
	args := append(protocolArgs(exe, OnRemoteFlag), "--tree", path.Join(run, treeFile))
	if f.opts.CommandTimeout != nil {
		args = append(args, "--command-timeout", f.opts.CommandTimeout.String())
	}
	if f.opts.Heal {
		args = append(args, "--heal")
	}
	if precluded {
		args = append(args, "--precluded", path.Join(run, precludedFile))
	}
	args = append(args, "--run", run)
	return "cd -- " + core.ShellQuote(chdir) + " && exec " + core.ShellJoin(args)
}

// PlanCmdline is the command a fork to child would run, for the dry-run plan:
// the parts only the child can tell (its uid, the random run directory) are
// shown as placeholders.
func (f *Forker) PlanCmdline(*core.Node) string { return f.plan() }

func (f *Forker) planCmdline() string {
	exe, dir := f.ship.PlanExe()
	chdir := f.opts.Grifork.Chdir
	if chdir == "" {
		chdir = dir
	}
	cmd := f.cmdline(chdir, exe, path.Join(dir, "run-XXXXXXXXXX"), false)
	if u := f.opts.Grifork.User; u != "" {
		cmd += "  (as " + u + ")"
	}
	return cmd
}

// stopGrace is how long a stopped fork has to end by itself, after its stop
// line, before its session is killed.
const stopGrace = time.Second

// stop is a line a parent writes to a fork's input: Stop when it stops the
// fork, Halt when the run halted (core.Halt: no new task starts, running ones
// end normally), each with its reason.
type stop struct {
	Stop string `json:"stop,omitempty"`
	Halt string `json:"halt,omitempty"`
}

// line encodes s for a fork's input. A stop line goes ahead of the signal
// that stops the fork: the remote grifork fails what it was running with that
// cause, the one the root gives its own running tasks (core.RunGrifork),
// rather than the signal's.
func (s stop) line() []byte {
	s.Stop, s.Halt = core.OneLine(s.Stop), core.OneLine(s.Halt)
	b, _ := json.Marshal(s) // strings cannot fail to encode
	return append(b, '\n')
}

// ReadStop reads a node's standard input, after the Hello (ReadHello), until
// its parent's stop line, and returns the cause the line gives; or, when the
// input ends without one, that the parent is gone. A halt line on the way
// fires halt with its reason.
func ReadStop(r *bufio.Reader, halt *core.Halt) error {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return errors.New("parent grifork is gone")
		}
		var s stop
		if json.Unmarshal(line, &s) != nil {
			continue
		}
		if s.Halt != "" && halt != nil {
			halt.Fire(s.Halt)
		}
		if s.Stop != "" {
			return errors.New(s.Stop)
		}
	}
}

// run starts the remote grifork and relays its events until it ends.
func (f *Forker) run(ctx context.Context, host core.Host, child *core.Node, cmdline string, events func(core.Event)) error {
	var mu sync.Mutex // events is called one at a time
	deliver := func(ev core.Event) {
		mu.Lock()
		defer mu.Unlock()
		events(ev)
	}
	stderr := sshx.NewTailWriter(func(line string) {
		deliver(core.Event{Type: core.EventOutput, NodeID: child.ID, Host: child.Name(), Line: line, Stream: "stderr"})
	})
	outR, outW := io.Pipe()
	read := make(chan error, 1)
	go func() {
		err := core.ReadEvents(outR, child, deliver)
		io.Copy(io.Discard, outR) // a broken stream must not stall the session
		read <- err
	}()
	hello := Hello{Secrets: f.opts.Secrets, Griforkfile: File{Name: f.opts.Name, Data: f.opts.Griforkfile}}
	if f.opts.Override != nil {
		hello.Override = &File{Name: f.opts.OverrideName, Data: f.opts.Override}
	}
	first, err := hello.line()
	if err != nil {
		return fmt.Errorf("encode the Griforkfile and secrets: %w", err)
	}
	// The Hello is the first line, in memory only. The input is then kept
	// open until the fork ends: its EOF tells the remote grifork that its
	// parent is gone, a stop line that ctx ended, and why, a halt line that
	// the run halted (the halt ctx carries fired).
	inR, inW := io.Pipe()
	halted := core.HaltFrom(ctx).Done()
	// From here on the remote grifork must heartbeat (core.Forker).
	deliver(core.Event{Type: core.EventHeartbeat, NodeID: child.ID, Host: child.Name()})
	ended := make(chan struct{})
	// The session outlives ctx by up to stopGrace: a fork told why it is
	// stopped ends by itself with that cause; one that does not is killed.
	sctx, kill := context.WithCancelCause(context.WithoutCancel(ctx))
	defer kill(nil)
	go func() {
		if _, err := inW.Write(first); err != nil {
			return // inW is closed: the fork never read it
		}
		select {
		case <-halted:
			why, _ := core.HaltFrom(ctx).Reason()
			// Written apart, as the stop line: a fork that does not read its
			// input must not hold up its own stop. The pipe orders the lines.
			go inW.Write(stop{Halt: why}.line())
		case <-ctx.Done():
		case <-ended:
		}
		select {
		case <-ctx.Done():
			go func() {
				inW.Write(stop{Stop: context.Cause(ctx).Error()}.line())
				inW.Close()
			}()
			grace := time.NewTimer(stopGrace)
			defer grace.Stop()
			select {
			case <-grace.C:
				kill(context.Cause(ctx))
			case <-ended:
			}
		case <-ended:
		}
	}()
	err = f.c.Start(sctx, host, cmdline, inR, outW, stderr)
	close(ended)
	inW.Close()
	outW.Close()
	readErr := <-read
	stderr.Close()
	switch {
	case err != nil:
		var ce *sshx.CommandError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("remote grifork: %w", ctx.Err())
		case errors.As(err, &ce) && ce.Signal != "":
			return fmt.Errorf("remote grifork killed by signal %s%s", ce.Signal, sshx.StderrTail(stderr.Reason()))
		case errors.As(err, &ce) && ce.ExitStatus >= 0:
			if msg, ok := oldNode(stderr.Reason()); ok {
				return errors.New(msg)
			}
			return fmt.Errorf("remote grifork exited with status %d%s", ce.ExitStatus, sshx.StderrTail(stderr.Reason()))
		}
		return fmt.Errorf("remote grifork: %w%s", err, sshx.StderrTail(stderr.Reason()))
	case readErr != nil:
		return readErr
	}
	return nil
}

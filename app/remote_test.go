package app

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/node"
)

// nodeFiles writes what a parent hands a node in its run directory: the
// subtree of web1 (the only host). It returns the --on-remote arguments after
// the protocol version and web1's node.
func nodeFiles(t *testing.T) ([]string, *core.Node) {
	t.Helper()
	dir := t.TempDir()
	tr, err := core.BuildTree([]core.Host{{Name: "web1"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	n := tr.Root.Children[0]
	b, err := core.MarshalTree(tr.Subtree(n))
	if err != nil {
		t.Fatal(err)
	}
	treePath := filepath.Join(dir, "tree.json")
	if err := os.WriteFile(treePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--tree", treePath, "--run", dir}, n
}

// parentPipe is a node's standard input from a parent that has sent its hello
// (griforkfile, named name, and secrets) and stays connected until parent is
// closed.
func parentPipe(t *testing.T, griforkfile, name string, secrets node.Secrets) (stdin io.Reader, parent io.WriteCloser) {
	t.Helper()
	b, err := json.Marshal(node.Hello{Secrets: secrets, Griforkfile: node.File{Name: name, Data: []byte(griforkfile)}})
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	go w.Write(append(b, '\n'))
	return r, w
}

// remoteRun runs the --on-remote entry on griforkfile, with a parent that stays
// connected until it has ended.
func remoteRun(t *testing.T, griforkfile string, extra ...string) (code int, events []core.Event, stderr string) {
	t.Helper()
	args, n := nodeFiles(t)
	args = append(args, extra...)
	stdin, parent := parentPipe(t, griforkfile, "", node.Secrets{Password: "hunter2-pw"})
	defer parent.Close()
	var out, errOut bytes.Buffer
	code = Exit(runOnRemote(args, stdin, &out, &errOut), &errOut)
	if err := core.ReadEvents(&out, n, func(e core.Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	return code, events, errOut.String()
}

func TestOnRemoteRunsNodeBlocks(t *testing.T) {
	t.Parallel()
	code, events, stderr := remoteRun(t, `mode "grifork"
hosts { "web1" }
prepare(function() print("prepare must not run on a node") end)
prepare_remote(function() print("hello from prepare_remote") end)
finish_remote(function() print("bye") end)
`)
	if code != ExitOK || len(events) == 0 {
		t.Fatalf("exit %d, %d events, stderr %s", code, len(events), stderr)
	}
	var lines []string
	for _, e := range events[:len(events)-1] {
		if e.Type != core.EventOutput || e.Stream != core.StreamConsole || e.NodeID != "0.0-1.0" {
			t.Errorf("unexpected event %+v", e)
		}
		lines = append(lines, e.Line)
	}
	if got := strings.Join(lines, "|"); !strings.Contains(got, "hello from prepare_remote") || !strings.Contains(got, "bye") ||
		strings.Contains(got, "must not run") {
		t.Errorf("output lines %q", lines)
	}
	last := events[len(events)-1]
	if last.Type != core.EventDone || last.NodeID != "0.0-1.0" || last.Status != core.StatusOK {
		t.Errorf("last event %+v, want done ok", last)
	}
}

func TestOnRemoteBadGriforkfile(t *testing.T) {
	t.Parallel()
	code, events, _ := remoteRun(t, "mode \"grifork\"\nhosts { \"web1\" }\nbranches(\n")
	if code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
	if len(events) != 1 {
		t.Fatalf("events %+v, want one done event", events)
	}
	e := events[0]
	if e.Type != core.EventDone || e.Status != core.StatusFailed || e.Task != core.TaskFork || !strings.Contains(e.Err, "Griforkfile.lua:") {
		t.Errorf("event %+v, want a failed done naming the file and line", e)
	}
}

func TestOnRemoteUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--tree", "/nonexistent"}, {"--tree", "x", "extra"}, {"--bogus"}} {
		var errOut bytes.Buffer
		if code := Exit(runOnRemote(args, strings.NewReader(""), io.Discard, &errOut), &errOut); code != ExitUsage || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, errOut.String(), ExitUsage)
		}
	}
}

// A node whose parent goes away (its standard input ends) stops what it runs.
func TestOnRemoteStopsWhenParentIsGone(t *testing.T) {
	t.Parallel()
	args, _ := nodeFiles(t)
	stdin, parent := parentPipe(t, `mode "grifork"
hosts { "web1" }
prepare_remote(function() print("sleeping"); sh("sleep", { "30" }) end)
`, "", node.Secrets{})
	// The parent leaves once the node says its block runs (a fixed delay
	// flaked on a busy machine, the node not yet that far).
	out := &markWriter{mark: "sleeping", seen: make(chan struct{})}
	go func() {
		select {
		case <-out.seen:
		case <-time.After(20 * time.Second): // the node never said so: it fails below
		}
		parent.Close()
	}()
	start := time.Now()
	code := Exit(runOnRemote(args, stdin, out, io.Discard), io.Discard)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v to stop after the parent left", took)
	}
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d", code, ExitInterrupted)
	}
	if _, err := os.Stat(args[len(args)-1]); !os.IsNotExist(err) {
		t.Errorf("run directory left behind (%v)", err)
	}
	if !strings.Contains(out.String(), `"type":"done"`) || !strings.Contains(out.String(), "prepare_remote") {
		t.Errorf("output %s, want a done event with the prepare_remote failure", out.String())
	}
}

// markWriter is a buffer that closes seen once what was written holds mark.
type markWriter struct {
	mark string
	seen chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.mark) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A node takes its secrets from the parent's first line, not from the file
// (whose own may be computed differently on the node), redacts them from its
// events, removes its run directory, and cites the Griforkfile by the name the
// root knows.
func TestOnRemoteSecretsNamesAndRunDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, griforkfile string
		code              int
		want              string // in the events
	}{
		{"secrets from stdin", `mode "grifork"
hosts { "web1" }
ssh { password = os.getenv("NO_SUCH_VARIABLE") or "computed on the node" }
prepare_remote(function() print("pw is hunter2-pw") end)
`, ExitOK, "pw is [REDACTED]"},
		{"user's file name", "mode \"grifork\"\nhosts { \"web1\" }\nbranches(\n", ExitUsage, "deploy/Griforkfile.lua:3"},
		{"secret in an error", `mode "grifork"
hosts { "web1" }
error("bad hunter2-pw")
`, ExitUsage, "bad [REDACTED]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args, n := nodeFiles(t)
			run := args[len(args)-1]
			stdin, parent := parentPipe(t, tc.griforkfile, "deploy/Griforkfile.lua", node.Secrets{Password: "hunter2-pw"})
			defer parent.Close()
			var out bytes.Buffer
			code := Exit(runOnRemote(args, stdin, &out, io.Discard), io.Discard)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, out.String())
			}
			var all []string
			if err := core.ReadEvents(&out, n, func(e core.Event) { all = append(all, e.Line+e.Err) }); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(all, "\n")
			if !strings.Contains(got, tc.want) || strings.Contains(got, "hunter2-pw") || strings.Contains(got, run) {
				t.Errorf("events:\n%s\nwant %q, no secret and no temporary path", got, tc.want)
			}
			if _, err := os.Stat(run); !os.IsNotExist(err) {
				t.Errorf("run directory %s left behind (%v)", run, err)
			}
		})
	}
}

// A node's grifork checks the node protocol's version before anything else:
// another version is one line naming both and the fix, for both entries.
func TestNodeProtocolMismatch(t *testing.T) {
	t.Parallel()
	v := strconv.Itoa(node.ProtocolVersion)
	for _, tc := range []struct {
		args []string
		root string
	}{
		{[]string{node.OnRemoteFlag, node.ProtocolFlag, "99", "--tree", "/nonexistent"}, "99"},
		{[]string{node.OnRemoteFlag, "--tree", "/nonexistent"}, "1 (no --protocol)"},
		{[]string{node.RelayFlag, node.ProtocolFlag, "1"}, "1"},
		{[]string{node.RelayFlag}, "1 (no --protocol)"},
	} {
		var out, errOut bytes.Buffer
		code := Exit(RunNode(tc.args, strings.NewReader("{}\n"), &out, &errOut), &errOut)
		want := "grifork: node protocol mismatch: the root's grifork speaks version " + tc.root + ", this node's speaks version " + v + ": "
		if code != ExitUsage || !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d and one line starting %q", tc.args, code, out.String(), errOut.String(), ExitUsage, want)
		}
	}
}

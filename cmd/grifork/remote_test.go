package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// nodeFiles writes what a parent hands a node: the subtree of web1 (the only
// host, so a leaf) and a Griforkfile. It returns the --on-remote arguments and
// the node.
func nodeFiles(t *testing.T, griforkfile string) ([]string, *core.Node) {
	t.Helper()
	dir := t.TempDir()
	tr, err := core.BuildTree([]core.Host{{Name: "web1"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	node := tr.Root.Children[0]
	b, err := core.MarshalTree(tr.Subtree(node))
	if err != nil {
		t.Fatal(err)
	}
	treePath, gf := filepath.Join(dir, "tree.json"), filepath.Join(dir, "Griforkfile.lua")
	if err := os.WriteFile(treePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gf, []byte(griforkfile), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--tree", treePath, "-f", gf, "--run", dir}, node
}

// parentPipe is a node's standard input from a parent that has sent secrets
// (JSON) and stays connected until parent is closed.
func parentPipe(secrets string) (stdin io.Reader, parent io.WriteCloser) {
	r, w := io.Pipe()
	go io.WriteString(w, secrets+"\n")
	return r, w
}

// remoteRun runs the --on-remote entry on griforkfile, with a parent that stays
// connected until it has ended.
func remoteRun(t *testing.T, griforkfile string, extra ...string) (code int, events []core.Event, stderr string) {
	t.Helper()
	args, node := nodeFiles(t, griforkfile)
	args = append(args, extra...)
	stdin, parent := parentPipe(`{"password":"hunter2-pw"}`)
	defer parent.Close()
	var out, errOut bytes.Buffer
	code = runOnRemote(args, stdin, &out, &errOut)
	if err := core.ReadEvents(&out, node, func(e core.Event) { events = append(events, e) }); err != nil {
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
	if code != exitOK || len(events) == 0 {
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
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
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
	for _, args := range [][]string{nil, {"--tree", "x"}, {"--tree", "/nonexistent", "-f", "x"}, {"--bogus"}} {
		var errOut bytes.Buffer
		if code := runOnRemote(args, strings.NewReader(""), io.Discard, &errOut); code != exitUsage || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, errOut.String(), exitUsage)
		}
	}
}

// A node whose parent goes away (its standard input ends) stops what it runs.
func TestOnRemoteStopsWhenParentIsGone(t *testing.T) {
	t.Parallel()
	args, _ := nodeFiles(t, `mode "grifork"
hosts { "web1" }
prepare_remote(function() sh("sleep", { "30" }) end)
`)
	stdin, parent := parentPipe("{}")
	time.AfterFunc(300*time.Millisecond, func() { parent.Close() })
	start := time.Now()
	var out bytes.Buffer
	code := runOnRemote(args, stdin, &out, io.Discard)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v to stop after the parent left", took)
	}
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if _, err := os.Stat(args[len(args)-1]); !os.IsNotExist(err) {
		t.Errorf("run directory left behind (%v)", err)
	}
	if !strings.Contains(out.String(), `"type":"done"`) || !strings.Contains(out.String(), "prepare_remote") {
		t.Errorf("output %s, want a done event with the prepare_remote failure", out.String())
	}
}

// A node takes its secrets from the parent's first line, not from the file
// (which holds a placeholder), redacts them from its events, removes its run
// directory, and cites the Griforkfile by the name the root knows.
func TestOnRemoteSecretsNamesAndRunDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, griforkfile string
		code              int
		want              string // in the events
	}{
		{"secrets from stdin", `mode "grifork"
hosts { "web1" }
ssh { password = "(secret: sent to the node in memory)" }
prepare_remote(function() print("pw is hunter2-pw") end)
`, exitOK, "pw is [REDACTED]"},
		{"user's file name", "mode \"grifork\"\nhosts { \"web1\" }\nbranches(\n", exitUsage, "deploy/Griforkfile.lua:3"},
		{"secret in an error", `mode "grifork"
hosts { "web1" }
error("bad hunter2-pw")
`, exitUsage, "bad [REDACTED]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args, node := nodeFiles(t, tc.griforkfile)
			run := args[len(args)-1]
			stdin, parent := parentPipe(`{"password":"hunter2-pw"}`)
			defer parent.Close()
			var out bytes.Buffer
			code := runOnRemote(append(args, "--name", "deploy/Griforkfile.lua"), stdin, &out, io.Discard)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, out.String())
			}
			var all []string
			if err := core.ReadEvents(&out, node, func(e core.Event) { all = append(all, e.Line+e.Err) }); err != nil {
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

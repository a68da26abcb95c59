package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
)

func slogTo(w *sshdtest.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newLocalClient(t *testing.T) (*Client, *sshdtest.SyncBuffer) {
	t.Helper()
	out := &sshdtest.SyncBuffer{}
	c, err := New(Options{Output: output.NewPrinter(out, nil).Writer, Label: core.OutputLabel, ConfigFile: "none", Agent: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, out
}

func TestLocal(t *testing.T) {
	t.Parallel()
	root := &core.Node{ID: "0.0", Host: core.Host{Name: core.RootHost}}
	web1 := &core.Node{ID: "0.0-1.0", Level: 1, Host: core.Host{Name: "web1", User: "deploy"}, Parent: root}
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		argv       []string
		wantOut    string
		wantPrint  string
		wantStatus int // 0: success
	}{
		{"no edge", context.Background(), []string{"sh", "-c", "echo out; echo err >&2"}, "out\n", "localhost | out\nlocalhost | err\n", 0},
		{"edge task prefixes dst", core.WithEdge(context.Background(), core.Edge{Block: core.BlockLocally, Src: root, Dst: web1}),
			[]string{"printf", "%s\n", "a b", "$(x)"}, "a b\n$(x)\n", "deploy@web1 | a b\ndeploy@web1 | $(x)\n", 0},
		{"node task prefixes src", core.WithEdge(context.Background(), core.Edge{Block: core.BlockPrepare, Src: root}),
			[]string{"echo", "prep"}, "prep\n", "localhost | prep\n", 0},
		{"exit status", context.Background(), []string{"sh", "-c", "echo partial; echo why >&2; exit 4"}, "partial\n", "localhost | partial\nlocalhost | why\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, out := newLocalClient(t)
			got, err := c.Local(tc.ctx, tc.argv)
			if got != tc.wantOut {
				t.Errorf("stdout = %q, want %q", got, tc.wantOut)
			}
			if sortLines(out.String()) != sortLines(tc.wantPrint) { // stdout and stderr race
				t.Errorf("printed %q, want %q", out.String(), tc.wantPrint)
			}
			var ce *CommandError
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Errorf("err = %v", err)
			case tc.wantStatus != 0 && (!errors.As(err, &ce) || ce.ExitStatus != tc.wantStatus || ce.Host != "localhost"):
				t.Errorf("err = %#v, want CommandError with status %d on localhost", err, tc.wantStatus)
			case tc.wantStatus != 0 && ce.Command != core.ShellJoin(tc.argv):
				t.Errorf("command = %q, want %q", ce.Command, core.ShellJoin(tc.argv))
			case tc.wantStatus != 0 && (ce.Stderr != "why" || !strings.HasSuffix(err.Error(), ": why")):
				t.Errorf("err = %q (Stderr %q), want the last stderr line \"why\" in it", err, ce.Stderr)
			}
		})
	}
}

func TestLocalNotFound(t *testing.T) {
	t.Parallel()
	c, _ := newLocalClient(t)
	_, err := c.Local(context.Background(), []string{"/nonexistent/grifork-cmd", "x"})
	var ce *CommandError
	if !errors.As(err, &ce) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want a CommandError wrapping ErrNotExist", err)
	}
}

func TestLocalCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	c, _ := newLocalClient(t)
	marker := fmt.Sprintf("sleep 40.%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// The grandchild sleep must die too, not only sh.
		_, err := c.Local(ctx, []string{"sh", "-c", marker + " & wait"})
		done <- err
	}()
	waitRunning(t, "^"+marker)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Local did not return within 3s of cancel")
	}
	gone(t, marker)
}

func TestLocalSecretsRedacted(t *testing.T) {
	t.Parallel()
	logs := &sshdtest.SyncBuffer{}
	out := &sshdtest.SyncBuffer{}
	const secret = "pa55-phrase-xyz"
	sc := core.SSHConfig{Passphrase: secret}
	c, err := New(Options{SSH: sc, Output: output.NewPrinter(out, sc.Redactor()).Writer, Logger: slogTo(logs), ConfigFile: "none", Agent: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Local(context.Background(), []string{"sh", "-c", "echo " + secret + "; exit 1"})
	var all bytes.Buffer
	fmt.Fprint(&all, err, out.String(), logs.String())
	if strings.Contains(all.String(), secret) {
		t.Errorf("secret leaked: %s", all.String())
	}
}

// A command's stderr is printed as its stdout is: a line longer than
// output.MaxLine comes out in pieces marked " |+ ", cut where no secret spans
// the cut, so a secret across the 64 KiB mark is masked whole (stderr used to
// be cut at exactly 64 KiB, printing each half of such a secret).
func TestLocalLongStderrLine(t *testing.T) {
	t.Parallel()
	const secret = "pa55-phrase-xyz"
	sc := core.SSHConfig{Passphrase: secret}
	out := &sshdtest.SyncBuffer{}
	c, err := New(Options{SSH: sc, Output: output.NewPrinter(out, sc.Redactor()).Writer, ConfigFile: "none", Agent: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pad := output.MaxLine - 5 // the secret spans the 64 KiB mark
	script := fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; printf '%%s tail\\n' %s >&2", pad, secret)
	if _, err := c.Local(context.Background(), []string{"sh", "-c", "{ " + script + "; } 1>&2"}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, half := range []string{secret[:5], secret[5:]} {
		if strings.Contains(got, half) {
			t.Errorf("a piece of the secret (%q) is printed", half)
		}
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], core.RootHost+" | xxx") || !strings.HasPrefix(lines[1], core.RootHost+" |+ ") ||
		!strings.HasSuffix(got, "[REDACTED] tail\n") {
		t.Errorf("got %d lines, want a piece and its continuation ending in the masked secret: %.80q ... %q", len(lines), got, got[max(0, len(got)-80):])
	}
}

func sortLines(s string) string {
	l := strings.Split(s, "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// A process that exits right after a cancellation must not leave the commands it
// started: Close returns only once they are gone.
func TestCloseWaitsForCancelledLocal(t *testing.T) {
	t.Parallel()
	c, _ := newLocalClient(t)
	marker := fmt.Sprintf("sleep 41.%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		c.Local(ctx, []string{"sh", "-c", marker + " & wait"})
		close(returned)
	}()
	waitRunning(t, "^"+marker)
	cancel()
	c.Close() // at once, as a grifork does when its run is interrupted
	if out, err := exec.Command("pgrep", "-f", "^"+marker).Output(); err == nil {
		t.Errorf("Close returned while the cancelled command still runs: pids %s", out)
	}
	// Local's bookkeeping ends before Close returns, but the goroutine calling it
	// may not have been scheduled yet: allow it a moment.
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Error("Local did not return after Close")
	}
	if _, err := c.Local(context.Background(), []string{"true"}); !errors.Is(err, errClosed) {
		t.Errorf("Local after Close: err = %v, want errClosed", err)
	}
}

// The label of a command's output is the caller's (Options.Label), else the
// host as shown, or the root for a command on this machine.
func TestPrefix(t *testing.T) {
	t.Parallel()
	web1 := core.Host{Name: "web1"}
	label := func(_ context.Context, host *core.Host) string {
		if host != nil && host.Name == "web1" {
			return "the caller's"
		}
		return ""
	}
	for _, tc := range []struct {
		name  string
		label func(context.Context, *core.Host) string
		host  *core.Host
		want  string
	}{
		{"the caller's label", label, &web1, "the caller's"},
		{"none from the caller: as shown", label, &core.Host{Name: "db1"}, "as-shown"},
		{"no Label: as shown", nil, &web1, "as-shown"},
		{"this machine: the root", label, nil, core.RootHost},
	} {
		c := &Client{opts: Options{Label: tc.label}}
		if got := c.prefix(context.Background(), tc.host, "as-shown"); got != tc.want {
			t.Errorf("%s: prefix %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A command printing more than MaxCapture is printed whole, but returns only
// its first MaxCapture bytes, and says so once on the log.
func TestLocalCaptureBounded(t *testing.T) {
	t.Parallel()
	logs := &sshdtest.SyncBuffer{}
	out := &sshdtest.SyncBuffer{}
	c, err := New(Options{Output: output.NewPrinter(out, nil).Writer, Logger: slog.New(slog.NewTextHandler(logs, nil)), ConfigFile: "none", Agent: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const lines = 3 * MaxCapture / 8 // "xxxxxxx\n": three times MaxCapture
	for range 2 {
		got, err := c.Local(context.Background(), []string{"sh", "-c", fmt.Sprintf("yes xxxxxxx | head -n %d", lines)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != MaxCapture || got[:16] != "xxxxxxx\nxxxxxxx\n" {
			t.Errorf("returned %d bytes, want the first %d", len(got), MaxCapture)
		}
	}
	if n := strings.Count(out.String(), "localhost | xxxxxxx\n"); n != 2*lines {
		t.Errorf("printed %d lines, want %d", n, 2*lines)
	}
	if n := strings.Count(logs.String(), "printed more than 1 MiB"); n != 1 {
		t.Errorf("%d warnings, want one:\n%s", n, logs.String())
	}
}

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// slowFile is a run of about a second: six hosts, two generations, every task
// printing a line, so the status line is drawn and redrawn.
const slowFile = `branches(3)
hosts { "a", "b", "c", "d", "e", "f" }
local function copy(src, dst) sleep(0.4) print("copied") end
locally(copy)
remote(copy)
`

// onTerminal runs grifork with args and its stdout on a pseudo-terminal, and
// returns what the terminal received.
func onTerminal(t *testing.T, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(read) }()
	code := Main(args, nil, tty, io.Discard)
	tty.Close()
	<-read // the terminal's side ends (EIO) once the tty is closed
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, screen.String())
	}
	return screen.String()
}

// TestProgressOnTerminal: on a terminal the status line appears, is redrawn as
// hosts finish, and the host output is printed above it; redirected, or with
// --progress never, it is not there at all.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	gf := filepath.Join(t.TempDir(), "Griforkfile.lua")
	if err := os.WriteFile(gf, []byte(slowFile), 0o644); err != nil {
		t.Fatal(err)
	}

	screen := onTerminal(t, "-f", gf)
	for _, want := range []string{
		"generation 1/2  0 ok  0 failed  0 skipped  6 pending", // drawn at the start
		"generation 2/2  3 ok  0 failed  0 skipped  3 pending", // redrawn after generation 1
		"\x1b[",                    // in place, with escape sequences
		"a | copied", "f | copied", // output above the line
		"6 ok, 0 failed, 0 skipped",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("terminal lacks %q:\n%q", want, screen)
		}
	}
	if i, j := strings.LastIndex(screen, "generation"), strings.Index(screen, "standalone run:"); i > j {
		t.Errorf("the status line is drawn after the summary:\n%q", screen)
	}

	if screen := onTerminal(t, "--progress", "never", "-f", gf); strings.Contains(screen, "generation") || strings.Contains(screen, "\x1b[") {
		t.Errorf("--progress never drew on the terminal:\n%q", screen)
	}
	var out bytes.Buffer
	if code := Main([]string{"-f", gf}, nil, &out, io.Discard); code != 0 || strings.Contains(out.String(), "generation") || strings.Contains(out.String(), "\x1b") {
		t.Errorf("redirected output (exit %d) has the status line:\n%q", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"--progress", "always", "-f", gf}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "generation") {
		t.Errorf("--progress always (exit %d) did not draw on redirected output:\n%q", code, out.String())
	}
}

package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// The test binary is the relay's remote shell too, as grifork is.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == RshName {
		os.Exit(RshMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// relayed starts c's relay and returns the remote shell's argv for host, as
// rsync would exec it (the path of the link: this process's PATH lacks it).
func relayed(t *testing.T, c *Client, host core.Host) []string {
	t.Helper()
	rsh := strings.Fields(c.LocalRsh(host))
	r := c.relay.Load()
	if r == nil || rsh[0] != RshName {
		t.Fatalf("LocalRsh = %q: no relay", rsh)
	}
	return append([]string{filepath.Join(r.dir, RshName)}, rsh[1:]...)
}

func TestRelayRunsOnTheClientsConnection(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	rsh := relayed(t, c, local)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, tc := range []struct {
		args   []string // after the host, as rsync gives them
		status int      // -1: success
		stdout string
		stderr string // in the error's reason
	}{
		{[]string{"echo", "hello"}, -1, "hello\n", ""},
		// ssh joins the words with spaces and the remote shell splits them.
		{[]string{"printf", "'%s|'", "a b", "'c d'"}, -1, "a|b|c d|", ""},
		{[]string{"echo oops >&2; exit 7"}, 7, "", "oops"},
		{[]string{"ls /no/such/dir"}, 2, "", "No such file or directory"},
		{[]string{"cat"}, -1, "", ""}, // stdin is the relay's: /dev/null here
	} {
		argv := append(append(append([]string{}, rsh...), local.Name), tc.args...)
		out, err := c.Local(ctx, argv)
		var ce *CommandError
		switch {
		case tc.status < 0 && err != nil:
			t.Errorf("%d %q: %v", i, tc.args, err)
		case tc.status >= 0 && (!errors.As(err, &ce) || ce.ExitStatus != tc.status || !strings.Contains(ce.Stderr, tc.stderr)):
			t.Errorf("%d %q: err = %v, want exit status %d with %q", i, tc.args, err, tc.status, tc.stderr)
		case out != tc.stdout:
			t.Errorf("%d %q: stdout %q, want %q", i, tc.args, out, tc.stdout)
		}
	}
	if got := s.Connections(t); got != 1 {
		t.Errorf("sshd accepted %d connections, want 1: the relay dials no other", got)
	}
}

// The real thing: rsync over the relay, with its stdin and stdout the protocol.
func TestRelayWithRsync(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("needs rsync")
	}
	c, _ := newClient(t, s, nil)
	src, dst := t.TempDir(), t.TempDir()
	body := strings.Repeat("grifork\n", 100000)
	if err := os.WriteFile(filepath.Join(src, "a b.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 { // the second finds the connection open
		argv := []string{"rsync", "-a", "--rsh=" + c.LocalRsh(local), "--", src + "/", local.RsyncTarget() + ":" + dst + "/"}
		if _, err := c.Local(ctx, argv); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "a b.txt")); err != nil || string(b) != body {
		t.Errorf("copied %d bytes, %v; want %d", len(b), err, len(body))
	}
	// rsync's own failure reaches its error through the relay's stderr.
	argv := []string{"rsync", "-a", "--rsh=" + c.LocalRsh(local), "--", src + "/", local.RsyncTarget() + ":/proc/no/such/dir/"}
	_, err := c.Local(ctx, argv)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitStatus == 0 || !strings.Contains(ce.Stderr, "No such file or directory") {
		t.Errorf("rsync to a missing directory: %v", err)
	}
	if got := s.Connections(t); got != 1 {
		t.Errorf("sshd accepted %d connections for 3 rsyncs, want 1", got)
	}
}

// Killing the remote shell's process group (a cancelled task) ends the remote
// command.
func TestRelayCancelKillsRemoteCommand(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	marker := fmt.Sprintf("sleep 30.%d7", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Local(ctx, append(relayed(t, c, local), local.Name, marker+"; echo after"))
		done <- err
	}()
	waitRunning(t, "^"+marker)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(7 * time.Second):
		t.Fatal("Local did not return after the cancellation")
	}
	gone(t, marker)
}

func TestRelayFailures(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	rsh := relayed(t, c, local)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		{"refused", append(rsh, "-p", fmt.Sprint(sshdtest.FreePort(t)), "127.0.0.1", "true"), "connection refused"},
		{"unknown host key", append(rsh, "localhost", "true"), "unknown host key"},
		{"bad option", append(rsh, "-o", "x", "127.0.0.1", "true"), "unknown option -o"},
		{"no command", append(rsh, "127.0.0.1"), "usage: " + RshName},
	} {
		_, err := c.Local(ctx, tc.argv)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.ExitStatus != rshFailed || !strings.Contains(ce.Stderr, tc.want) {
			t.Errorf("%s: %v, want exit status %d with %q", tc.name, err, rshFailed, tc.want)
		}
	}
	// Started by anything but grifork, it says why it cannot work.
	out, err := exec.Command(rsh[0], "127.0.0.1", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), rshSocketEnv+" is not set") {
		t.Errorf("without the socket: %v: %s", err, out)
	}
}

// The dry run shows the relay in a stable form and starts nothing.
func TestLocalRshOffline(t *testing.T) {
	t.Parallel()
	c, err := New(Options{ConfigFile: "none", Agent: "none", Offline: true, SSH: core.SSHConfig{Port: 2222}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		host core.Host
		want string
	}{
		{core.Host{Name: "web1"}, "grifork-rsh"}, // ssh { port } is the relay's to apply
		{core.Host{Name: "web1", User: "deploy", Port: 22022}, "grifork-rsh -p 22022"},
	} {
		if got := c.LocalRsh(tc.host); got != tc.want {
			t.Errorf("LocalRsh(%v) = %q, want %q", tc.host, got, tc.want)
		}
	}
	if c.relay.Load() != nil {
		t.Error("an offline client started the relay")
	}
}

// A new relay removes the directories of relays killed with SIGKILL, and
// only those.
func TestSweepRelays(t *testing.T) {
	t.Parallel()
	tmp, old := t.TempDir(), time.Now().Add(-time.Hour)
	mk := func(name string) string {
		d := filepath.Join(tmp, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Its grifork died: the socket is there, nobody listens.
	stale := mk("grifork-rsh-stale")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(stale, "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	empty := mk("grifork-rsh-empty") // died before it listened
	live := mk("grifork-rsh-live")
	l, err = net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(live, "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	young := mk("grifork-rsh-young") // being set up
	other := mk("other")
	for _, d := range []string{stale, empty, live, young, other} {
		if err := os.Symlink("/bin/true", filepath.Join(d, RshName)); err != nil {
			t.Fatal(err)
		}
	}
	notOurs := mk("grifork-rsh-not-ours") // no link: not a relay's
	for _, d := range []string{stale, empty, live, other, notOurs} {
		os.Chtimes(d, old, old)
	}
	sweepRelays(tmp, time.Now().Add(-time.Minute))
	for d, want := range map[string]bool{stale: false, empty: false, live: true, young: true, other: true, notOurs: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// The relay's directory goes first on the PATH of Local's commands; an unset
// PATH must not become "dir:" (an empty element searches the cwd).
func TestRelayEnvPath(t *testing.T) {
	r := relay{dir: "/tmp/grifork-rsh-x"}
	for _, tc := range []struct{ path, want string }{
		{"/usr/bin:/bin", "PATH=/tmp/grifork-rsh-x:/usr/bin:/bin"},
		{"", "PATH=/tmp/grifork-rsh-x:/usr/local/bin:/usr/bin:/bin"},
	} {
		t.Setenv("PATH", tc.path)
		if got := r.env()[0]; got != tc.want {
			t.Errorf("PATH %q: %s, want %s", tc.path, got, tc.want)
		}
	}
}

// A relay asked for after Close starts nothing: no directory, no goroutine.
func TestNoRelayAfterClose(t *testing.T) {
	t.Parallel()
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := c.LocalRsh(core.Host{Name: "h"}); got == RshName {
		t.Errorf("LocalRsh after Close = %q, want OpenSSH's command line", got)
	}
	if c.relay.Load() != nil {
		t.Error("a relay started after Close")
	}
}

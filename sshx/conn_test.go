package sshx

import (
	"context"
	"errors"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// A server that accepts TCP but never speaks SSH is given up on after the
// connect timeout.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close()
		}
	}()
	c, err := New(Options{SSH: core.SSHConfig{Port: l.Addr().(*net.TCPAddr).Port, Timeout: 300 * time.Millisecond,
		KnownHosts: filepath.Join(t.TempDir(), "kh")}, ConfigFile: "none", Agent: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Remote(context.Background(), local, "true")
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("err = %v, want a timeout", err)
	}
	// It gives up after one attempt (counted, not timed: a loaded machine
	// stretches the time, not the number of dials).
	if n := accepted.Load(); n > 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if errors.Is(err, ErrAuth) || errors.Is(err, ErrUnknownHostKey) {
		t.Errorf("a timeout is not permanent: %v", err)
	}
}

func TestResolvePrecedence(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte(`Host web*
  HostName %h.example.net
  User cfguser
  Port 2200
  IdentityFile ~/.ssh/web_key
Host *
  User fallback
`), 0o600)
	for _, tc := range []struct {
		name     string
		ssh      core.SSHConfig
		host     string
		want     string // user@hostname:port
		wantKeys int
	}{
		{"ssh_config fills in", core.SSHConfig{}, "web1", "cfguser@web1.example.net:2200", 1},
		{"settings beat ssh_config", core.SSHConfig{User: "deploy", Port: 22}, "web1", "deploy@web1.example.net:22", 1},
		{"host entry beats settings", core.SSHConfig{User: "deploy", Port: 22}, "admin@web1:2022", "admin@web1.example.net:2022", 1},
		{"other host", core.SSHConfig{}, "db1", "fallback@db1:22", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Options{SSH: tc.ssh, ConfigFile: cfg, Agent: "none"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h, err := core.ParseHost(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := c.resolve(h)
			if err != nil {
				t.Fatal(err)
			}
			if tg.key() != tc.want || len(tg.idFiles) != tc.wantKeys || tg.display != tc.host {
				t.Errorf("resolved %s (%d identity files, shown as %q), want %s (%d)", tg.key(), len(tg.idFiles), tg.display, tc.want, tc.wantKeys)
			}
		})
	}
	if _, err := New(Options{ConfigFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("an explicit ssh_config file that is missing must be an error")
	}
}

// A connection whose server stops answering is closed after 3 missed
// keepalives; the command on it fails instead of hanging, the next one redials.
func TestKeepaliveClosesDeadConnection(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, func(o *Options) { o.Keepalive = 200 * time.Millisecond })
	// Long enough that a loaded machine's slow pgreps cannot see the command end
	// by itself before its server is frozen (a 4 s sleep did, at load 30).
	marker := "sleep 40.0" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { exec.Command("pkill", "-f", "^"+marker).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Remote(ctx, local, marker)
		done <- err
	}()
	waitRunning(t, "^"+marker)
	// Freeze the sshd processes serving the connection (not the listener).
	pid, err := os.ReadFile(filepath.Join(s.Dir, "sshd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("pgrep", "-P", strings.TrimSpace(string(pid))).Output()
	var frozen []int
	for _, f := range strings.Fields(string(out)) {
		p, _ := strconv.Atoi(f)
		frozen = append(frozen, p)
		if sub, err := exec.Command("pgrep", "-P", f).Output(); err == nil {
			for _, g := range strings.Fields(string(sub)) {
				q, _ := strconv.Atoi(g)
				frozen = append(frozen, q)
			}
		}
	}
	if len(frozen) == 0 {
		t.Fatal("no sshd connection process found")
	}
	for _, p := range frozen {
		syscall.Kill(p, syscall.SIGSTOP)
	}
	t.Cleanup(func() {
		for _, p := range frozen {
			syscall.Kill(p, syscall.SIGCONT)
		}
	})
	// The frozen server cannot end the command, so a CommandError before ctx's
	// deadline can only come from the keepalives closing the connection.
	err = <-done
	var ce *CommandError
	if !errors.As(err, &ce) || ctx.Err() != nil {
		t.Fatalf("err = %v, want the running command to fail with its connection", err)
	}
	for _, p := range frozen {
		syscall.Kill(p, syscall.SIGCONT)
	}
	if _, err := c.Remote(context.Background(), local, "true"); err != nil {
		t.Errorf("after the dead connection: %v", err)
	}
	if n := s.Connections(t); n != 2 {
		t.Errorf("%d connections, want 2 (the first, then one redial)", n)
	}
}

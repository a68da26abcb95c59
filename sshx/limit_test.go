package sshx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// watch samples, until stop, the descriptors of this process that are sockets
// to the fleet's ports (the forwarders learn of a close a moment late; the
// descriptors are exact), and returns their peak and the client's own.
func watch(t *testing.T, f *sshdtest.Fleet, c *Client) (stop func() (peakOpen, peakFDs int)) {
	t.Helper()
	ports := map[int]bool{}
	for _, h := range f.Hosts {
		ports[h.Port] = true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peakFDs int
	wg.Go(func() {
		for {
			peakFDs = max(peakFDs, socketsTo(t, ports))
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	return func() (int, int) {
		close(done)
		wg.Wait()
		return c.peakConns(), peakFDs
	}
}

// socketsTo counts this process's descriptors that are TCP sockets whose
// remote port is one of ports.
func socketsTo(t *testing.T, ports map[int]bool) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Error(err)
		return 0
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) < 10 {
			continue
		}
		_, rport, _ := strings.Cut(fs[2], ":")
		if p, err := strconv.ParseInt(rport, 16, 32); err == nil && ports[int(p)] {
			inodes[fs[9]] = true
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(ino, "]")] {
			n++
		}
	}
	return n
}

func fleetClient(t *testing.T, s *sshdtest.SSHD, f *sshdtest.Fleet, maxConns int) *Client {
	t.Helper()
	c, _ := newClient(t, s, func(o *Options) {
		o.SSH.KnownHosts = f.KnownHosts
		o.SSH.MaxConnections = maxConns
		o.SSH.Timeout = 30 * time.Second // handshakes of a loaded machine, in turn
	})
	return c
}

// Twelve hosts' commands at once through a bound of three connections: all
// run, never more than three connections are open, and each host is dialled.
func TestMaxConnectionsBound(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	f := sshdtest.Forward(t, s, 12)
	c := fleetClient(t, s, f, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(f.Hosts))
	stop := watch(t, f, c)
	for i, h := range f.Hosts {
		wg.Go(func() {
			// Two commands per host, the way a task runs ssh(dst) then rsync_remote.
			if _, errs[i] = c.Remote(ctx, h, "sleep 0.2"); errs[i] == nil {
				_, errs[i] = c.Remote(ctx, h, "true")
			}
		})
	}
	wg.Wait()
	peakOpen, peakFDs := stop()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
	if peakOpen > 3 || peakFDs > 3 || peakFDs == 0 {
		t.Errorf("%d connections open at once (%d descriptors), bound 3", peakOpen, peakFDs)
	}
	if n := f.Total(); n < 12 {
		t.Errorf("%d connections, want one per host at least", n)
	}
}

// Release closes an idle connection at once and a busy one when its command
// ends; the next command dials again.
func TestRelease(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	f := sshdtest.Forward(t, s, 2)
	c := fleetClient(t, s, f, 0)
	ctx := context.Background()
	idle, busy := f.Hosts[0], f.Hosts[1]
	if _, err := c.Remote(ctx, idle, "true"); err != nil {
		t.Fatal(err)
	}
	// The busy host's command runs until the test has looked (a sleep 1
	// could end first on a loaded machine, while the idle host's close was
	// awaited).
	end := filepath.Join(t.TempDir(), "end")
	cmd := "until [ -e " + core.ShellQuote(end) + " ]; do sleep 0.05; done"
	running := make(chan error, 1)
	go func() {
		_, err := c.Remote(ctx, busy, cmd)
		running <- err
	}()
	if n := f.OpenTo(busy, 1); n != 1 {
		t.Fatalf("%d connections to the busy host, want 1", n)
	}
	waitRunning(t, regexp.QuoteMeta(end)) // the command has its session
	c.Release(idle)
	c.Release(busy)
	if n := f.OpenTo(idle, 0); n != 0 {
		t.Errorf("released idle host: %d connections open", n)
	}
	if n := f.OpenTo(busy, 1); n != 1 {
		t.Errorf("released busy host: %d connections open during its command, want 1", n)
	}
	if err := os.WriteFile(end, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-running; err != nil {
		t.Errorf("the command of the released host: %v", err)
	}
	if n := f.OpenTo(busy, 0); n != 0 {
		t.Errorf("released busy host: %d connections open after its command", n)
	}
	c.mu.Lock()
	if c.open != 0 {
		t.Errorf("the client counts %d connections open", c.open)
	}
	c.mu.Unlock()
	if _, err := c.Remote(ctx, idle, "true"); err != nil {
		t.Errorf("after the release: %v", err)
	}
	if n := f.Total(); n != 3 {
		t.Errorf("%d connections, want 3 (one redial)", n)
	}
}

// A command waiting for a place gives up with its context, saying why; while
// every place is busy no idle connection is taken from under a command, and a
// task going from host to host under a bound of one never waits forever.
func TestMaxConnectionsWait(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	f := sshdtest.Forward(t, s, 4)
	c := fleetClient(t, s, f, 1)
	long := make(chan error, 1)
	go func() {
		_, err := c.Remote(context.Background(), f.Hosts[0], "sleep 1.5")
		long <- err
	}()
	if n := f.OpenTo(f.Hosts[0], 1); n != 1 {
		t.Fatalf("%d connections to host 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.Remote(ctx, f.Hosts[1], "true")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a free connection (ssh max_connections = 1)") {
		t.Errorf("err = %v, want a wait for a connection ended by the deadline", err)
	}
	if err := <-long; err != nil {
		t.Errorf("the command holding the connection: %v", err)
	}
	// Four tasks, each visiting every host in its own order.
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := watch(t, f, c)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range len(f.Hosts) {
				if _, err := c.Remote(ctx, f.Hosts[(i+j)%len(f.Hosts)], "true"); err != nil {
					t.Errorf("task %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if peakOpen, peakFDs := stop(); peakOpen > 1 || peakFDs > 1 {
		t.Errorf("%d connections open at once (%d descriptors), bound 1", peakOpen, peakFDs)
	}
}

func TestFitConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		want, nofile, n int
		warns           bool
	}{
		{0, 1 << 20, core.DefaultMaxConnections, false},
		{0, 1024, 768, false},
		{0, 64, 32, false},
		{5000, 1 << 20, 5000, false},
		{5000, 4096, 3072, true},
		{100, 40, 8, true},
		{10, 10, 1, true},
	} {
		n, warning := fitConnections(tc.want, tc.nofile)
		if n != tc.n || (warning != "") != tc.warns {
			t.Errorf("fitConnections(%d, %d) = %d, %q; want %d (warning: %v)", tc.want, tc.nofile, n, warning, tc.n, tc.warns)
		}
	}
}

// lowNofileEnv runs TestLowNofile's child: the forwarders' ports and how many
// descriptors to waste first.
const lowNofileEnv = "GRIFORK_TEST_LOW_NOFILE"

// Under a descriptor limit of 48, a client asked for 100 connections says it
// uses 16, and 40 hosts' commands at once all end: they wait for a place,
// or, when the process has spent its descriptors elsewhere, fail host by host
// with "too many open files". Never a crash, never a hang.
func TestLowNofile(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	s := sshdtest.Start(t, sshdtest.Opts{})
	f := sshdtest.Forward(t, s, 40)
	var ports []string
	for _, h := range f.Hosts {
		ports = append(ports, strconv.Itoa(h.Port))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		waste int // descriptors the child opens before the commands
		want  []string
	}{
		{"waits for a place", 0, []string{"using 16", "ok 40 failed 0"}},
		{"descriptors spent elsewhere", 30, []string{"using 16", "too many open files", "failed "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "prlimit", "--nofile=48:48", "--", exe, "-test.run=^TestLowNofileChild$", "-test.v")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s,%s,%s,%s", lowNofileEnv, tc.waste, strings.Join(ports, ":"), s.UserKey, f.KnownHosts, strconv.Itoa(s.Port)))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("child output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "ok 40 failed 0") == (tc.waste > 0) {
				t.Errorf("child output:\n%s", out)
			}
		})
	}
}

func TestLowNofileChild(t *testing.T) {
	env := os.Getenv(lowNofileEnv)
	if env == "" {
		t.Skip("run by TestLowNofile")
	}
	parts := strings.Split(env, ",")
	waste, _ := strconv.Atoi(parts[0])
	for range waste {
		if _, err := os.Open(os.DevNull); err != nil {
			t.Fatal(err)
		}
	}
	log := &sshdtest.SyncBuffer{}
	c, err := New(Options{SSH: core.SSHConfig{User: "root", Keys: []string{parts[2]}, KnownHosts: parts[3],
		Timeout: 20 * time.Second, MaxConnections: 100}, ConfigFile: "none", Agent: "none",
		Logger: slogTo(log)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Println(log.String())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	for _, p := range strings.Split(parts[1], ":") {
		port, _ := strconv.Atoi(p)
		wg.Go(func() {
			_, err := c.Remote(context.Background(), core.Host{Name: "127.0.0.1", Port: port}, "sleep 0.3")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				fmt.Println("error:", err)
				return
			}
			ok++
		})
	}
	wg.Wait()
	fmt.Printf("ok %d failed %d\n", ok, failed)
}

package fleet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets a test run this binary as a fleet owner that crashes (see
// TestReclaimAfterCrash), or as a listener on the main thread (see TestFleet).
func TestMain(m *testing.M) {
	if name := os.Getenv("FLEET_TEST_CRASH_OWNER"); name != "" {
		f, err := Start(context.Background(), Options{Name: name, Hosts: 2})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("up", f.anchorPIDs())
		time.Sleep(time.Hour) // killed by the test
	}
	if spec := os.Getenv("FLEET_TEST_LISTEN_ON_MAIN"); spec != "" {
		listenOnMain(spec)
	}
	os.Exit(m.Run())
}

// listenOnMain is a process for TestListenOnTheMainThread: on the main
// thread, it listens at spec ("NETNS HOST:PORT") and says whether the
// process's namespace, the one killNetns reads, stayed its own.
func listenOnMain(spec string) {
	runtime.LockOSThread() // the main goroutine is on the main thread until it blocks
	if unix.Gettid() != unix.Getpid() {
		fmt.Println("not on the main thread")
		os.Exit(1)
	}
	ns, hostport, _ := strings.Cut(spec, " ")
	before, _ := os.Readlink("/proc/self/ns/net")
	r := listenLocked(ns, hostport)
	after, _ := os.Readlink("/proc/self/ns/net")
	switch {
	case r.err != nil:
		fmt.Println("error:", r.err)
	case before != after:
		fmt.Printf("the process moved from %s to %s\n", before, after)
	default:
		fmt.Println("stayed")
	}
	os.Exit(0)
}

func (f *Fleet) anchorPIDs() []int {
	var out []int
	for _, h := range f.hosts {
		out = append(out, h.anchorPID)
	}
	return out
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no hosts", Options{}, "0 hosts, want 1..244"},
		{"too many hosts", Options{Hosts: 245}, "245 hosts"},
		{"bad name", Options{Hosts: 1, Name: "Web_1"}, `fleet name "Web_1"`},
		{"long name", Options{Hosts: 1, Name: "abcdefghi"}, "want 1-8 characters"},
		{"negative rate", Options{Hosts: 1, RateMbit: -1}, "negative rate"},
		{"negative host rate", Options{Hosts: 2, HostRateMbit: map[int]int{2: -5}}, "negative rate -5 Mbit/s for host 2"},
		{"rate for host 0", Options{Hosts: 2, HostRateMbit: map[int]int{0: 10}}, "rate for host 0 of 2"},
		{"rate for a host beyond the fleet", Options{Hosts: 2, HostRateMbit: map[int]int{3: 10}}, "rate for host 3 of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start(%+v) = %v, want error containing %q", tt.opts, err, tt.want)
			}
		})
	}
}

// sshArgs logs in with the fleet key and known_hosts given as options, the way a
// client without the fleet's ssh_config would.
func sshArgs(f *Fleet, host string, cmd ...string) []string {
	return append([]string{"-i", f.KeyFile(), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + f.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "root@" + host}, cmd...)
}

func sshOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestFleet(t *testing.T) {
	t.Parallel()
	// Host 2's link is slower than the others, host 3's override of 0 means the default.
	f := StartT(t, Options{Hosts: 3, RateMbit: 500, HostRateMbit: map[int]int{2: 100, 3: 0}})
	hosts := f.Hosts()
	if len(hosts) != 3 {
		t.Fatalf("Hosts() = %v, want 3", hosts)
	}
	ctx := context.Background()

	t.Run("ssh from the root", func(t *testing.T) {
		for i, h := range hosts {
			want := fmt.Sprintf("%s-%d", f.Name(), i+1)
			out, err := sshOut(t, sshArgs(f, h, "hostname")...)
			if err != nil || out != want {
				t.Errorf("ssh %s hostname = %q, %v; want %q", h, out, err, want)
			}
			out, err = sshOut(t, "-F", f.SSHConfigFile(), h, "hostname")
			if err != nil || out != want {
				t.Errorf("ssh -F cfg %s hostname = %q, %v; want %q", h, out, err, want)
			}
		}
	})

	t.Run("private srv and tmp", func(t *testing.T) {
		for _, dir := range []string{"/srv", "/tmp", "/root"} {
			p := filepath.Join(dir, "fleet-test-"+f.Name())
			if _, err := f.Exec(ctx, hosts[0], "sh", "-c", "echo host1 > "+p); err != nil {
				t.Fatal(err)
			}
			// Sessions of sshd live in the host's mount namespace too.
			if out, err := sshOut(t, "-F", f.SSHConfigFile(), hosts[0], "cat", p); err != nil || out != "host1" {
				t.Errorf("ssh %s cat %s = %q, %v; want host1", hosts[0], p, out, err)
			}
			if _, err := f.Exec(ctx, hosts[1], "test", "-e", p); err == nil {
				t.Errorf("%s exists on %s, want it only on %s", p, hosts[1], hosts[0])
			}
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s exists on the root machine, want it only on %s", p, hosts[0])
			}
			hp, err := f.HostPath(hosts[0], p)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(hp); err != nil || string(b) != "host1\n" {
				t.Errorf("HostPath(%s) = %s holds %q, %v; want host1", p, hp, b, err)
			}
		}
	})

	t.Run("host to host ssh", func(t *testing.T) {
		out, err := f.Exec(ctx, hosts[0], "ssh", "-F", f.SSHConfigFile(), hosts[1], "hostname")
		if want := f.Name() + "-2"; err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("on %s: ssh %s hostname = %q, %v; want %q", hosts[0], hosts[1], out, err, want)
		}
		acc, err := f.AcceptedConnections(hosts[1])
		if err != nil {
			t.Fatal(err)
		}
		if acc[hosts[0]] != 1 || acc[f.RootAddr()] < 1 {
			t.Errorf("accepted connections on %s = %v, want 1 from %s and some from the root %s", hosts[1], acc, hosts[0], f.RootAddr())
		}
	})

	t.Run("links are shaped", func(t *testing.T) {
		sw := nsName(f.Name(), 0)
		for _, tt := range []struct {
			argv []string
			rate string
		}{
			{[]string{"tc", "qdisc", "show", "dev", uplinkName(f.Name())}, "500Mbit"},
			{[]string{"tc", "-n", sw, "qdisc", "show", "dev", "uplink"}, "500Mbit"},
			{[]string{"tc", "-n", sw, "qdisc", "show", "dev", "h1"}, "500Mbit"},
			{[]string{"tc", "-n", nsName(f.Name(), 1), "qdisc", "show", "dev", "eth0"}, "500Mbit"},
			{[]string{"tc", "-n", sw, "qdisc", "show", "dev", "h2"}, "100Mbit"},
			{[]string{"tc", "-n", nsName(f.Name(), 2), "qdisc", "show", "dev", "eth0"}, "100Mbit"},
			{[]string{"tc", "-n", sw, "qdisc", "show", "dev", "h3"}, "500Mbit"},
			{[]string{"tc", "-n", nsName(f.Name(), 3), "qdisc", "show", "dev", "eth0"}, "500Mbit"},
		} {
			out, err := exec.Command(tt.argv[0], tt.argv[1:]...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate "+tt.rate+" ") {
				t.Errorf("%s = %s, %v; want a tbf qdisc at %s", strings.Join(tt.argv, " "), out, err, tt.rate)
			}
		}
	})

	t.Run("stop and start a host", func(t *testing.T) {
		h := hosts[2]
		if err := f.StopHost(h); err != nil {
			t.Fatal(err)
		}
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "true"); err == nil {
			t.Fatalf("ssh to stopped host %s worked: %s", h, out)
		}
		procs, err := f.Procs(h)
		if err != nil || len(procs) != 0 {
			t.Errorf("Procs(%s) after StopHost = %v, %v; want none", h, procs, err)
		}
		if _, err := f.Exec(ctx, h, "true"); err != nil {
			t.Errorf("Exec on a stopped host: %v", err)
		}
		if err := f.StartHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "true"); err != nil {
			t.Fatalf("ssh to restarted host %s: %v: %s", h, err, out)
		}
	})

	t.Run("changed host key", func(t *testing.T) {
		h := hosts[2]
		if err := f.RegenHostKey(h); err != nil {
			t.Fatal(err)
		}
		out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "true")
		if err == nil || !strings.Contains(out, "Host key verification failed") {
			t.Fatalf("ssh to %s with a changed key = %v: %s; want a host key verification failure", h, err, out)
		}
		// The other hosts are untouched.
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), hosts[0], "true"); err != nil {
			t.Fatalf("ssh %s: %v: %s", hosts[0], err, out)
		}
	})

	t.Run("trust and forget host keys", func(t *testing.T) {
		h := hosts[2] // its key changed above
		for _, step := range []struct {
			do   func(string) error
			fail string // what ssh says, "" = it logs in
		}{
			{f.TrustHostKey, ""},
			{f.ForgetHostKey, "No ED25519 host key is known for " + h},
			{f.TrustHostKey, ""},
		} {
			if err := step.do(h); err != nil {
				t.Fatal(err)
			}
			out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "true")
			if step.fail == "" && err != nil || step.fail != "" && !strings.Contains(out, step.fail) {
				t.Fatalf("ssh %s = %v: %s; want %q", h, err, out, step.fail)
			}
		}
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), hosts[0], "true"); err != nil {
			t.Fatalf("ssh %s: %v: %s", hosts[0], err, out)
		}
	})

	t.Run("silent listener", func(t *testing.T) {
		h := hosts[1]
		if err := f.StopHost(h); err != nil {
			t.Fatal(err)
		}
		l, err := f.ListenSilent(h)
		if err != nil {
			t.Fatal(err)
		}
		out, err := sshOut(t, "-F", f.SSHConfigFile(), "-o", "ConnectTimeout=1", h, "true")
		if err == nil || !strings.Contains(out, "banner exchange") {
			t.Errorf("ssh to a silent listener = %v: %s; want a timeout in the banner exchange", err, out)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.StartHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "true"); err != nil {
			t.Fatalf("ssh %s after the listener: %v: %s", h, err, out)
		}
	})

	// A listener made from the main thread leaves the process in its own
	// namespace: a host's teardown kills the processes in the host's.
	t.Run("listen from the main thread", func(t *testing.T) {
		h, err := f.host(hosts[2])
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "FLEET_TEST_LISTEN_ON_MAIN="+h.ns+" "+net.JoinHostPort(h.addr, "0"))
		if out, err := cmd.CombinedOutput(); err != nil || string(out) != "stayed\n" {
			t.Errorf("listening from the main thread: %v: %s", err, out)
		}
	})

	t.Run("tmpfs", func(t *testing.T) {
		h := hosts[0]
		for _, dir := range []string{"/srv", "/tmp"} {
			unmount, err := f.MountTmpfs(h, dir, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			// Over ssh: the sessions see it too; the mode is the directory's.
			out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "stat -c %A "+dir+"; head -c 128k /dev/zero > "+dir+"/fill")
			if err == nil || !strings.Contains(out, "No space left on device") {
				t.Errorf("%s: writing 128 KiB into a tmpfs of 64 KiB = %v: %s; want no space", dir, err, out)
			}
			if want := map[string]string{"/srv": "drwxr-xr-x", "/tmp": "drwxrwxrwt"}[dir]; !strings.HasPrefix(out, want) {
				t.Errorf("%s: mode %q, want %s", dir, out, want)
			}
			if err := unmount(); err != nil {
				t.Fatal(err)
			}
			if out, err := sshOut(t, "-F", f.SSHConfigFile(), h, "head -c 128k /dev/zero > "+dir+"/fill && rm "+dir+"/fill"); err != nil {
				t.Errorf("%s after unmounting: %v: %s", dir, err, out)
			}
		}
	})
}

// state lists what exists of fleet name on the machine.
func state(t *testing.T, name string) (netns, links []string, dir bool) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "gf-"+name+"-") {
			netns = append(netns, f[0])
		}
	}
	out, err = exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			n, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if n == "gf-"+name || strings.HasPrefix(n, "gf-"+name+"-") {
				links = append(links, n)
			}
		}
	}
	_, err = os.Stat(filepath.Join(stateDir, name))
	return netns, links, err == nil
}

func alive(pid int) bool {
	// Signal 0 fails once the process is gone; a zombie has no /proc/PID/ns/net.
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	_, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err == nil
}

func TestCloseRemovesEverything(t *testing.T) {
	Require(t)
	t.Parallel()
	f, err := Start(context.Background(), Options{Hosts: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	name := f.Name()
	netns, links, dir := state(t, name)
	if len(netns) != 3 || len(links) != 1 || !dir {
		t.Fatalf("after Start: netns %v, links %v, state dir %v; want 3 netns (switch, 2 hosts), 1 link, a dir", netns, links, dir)
	}
	// A session process too: Close must stop what sshd started, not only sshd.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := exec.CommandContext(ctx, "ssh", "-F", f.SSHConfigFile(), f.Hosts()[0], "sleep 300")
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	// The client may not notice its server vanish with the namespace: stop it first.
	defer func() { cancel(); _ = sess.Wait() }()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(pids, func(p int) bool { return strings.HasPrefix(cmdline(p), "sleep 300") }) {
		if time.Now().After(deadline) {
			t.Fatalf("the ssh session's sleep never appeared among %v", pids)
		}
		time.Sleep(20 * time.Millisecond)
		pids = pids[:0]
		for _, h := range f.Hosts() {
			procs, err := f.Procs(h)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range procs {
				pids = append(pids, p.PID)
			}
		}
	}
	pids = append(pids, f.anchorPIDs()...)

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	netns, links, dir = state(t, name)
	if len(netns)+len(links) > 0 || dir {
		t.Errorf("after Close: netns %v, links %v, state dir %v; want nothing", netns, links, dir)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("process %d (%s) survives Close", p, cmdline(p))
		}
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

func TestParallelFleetsDoNotCollide(t *testing.T) {
	Require(t)
	t.Parallel()
	a := StartT(t, Options{Hosts: 1})
	b := StartT(t, Options{Hosts: 1})
	if a.Name() == b.Name() || a.RootAddr() == b.RootAddr() {
		t.Fatalf("fleets share a name or subnet: %s %s, %s %s", a.Name(), a.RootAddr(), b.Name(), b.RootAddr())
	}
	if _, err := Start(context.Background(), Options{Name: a.Name(), Hosts: 1}); err == nil ||
		!strings.Contains(err.Error(), "in use by process") {
		t.Errorf("Start with a live fleet's name = %v, want in-use error", err)
	}
	for _, f := range []*Fleet{a, b} {
		if out, err := sshOut(t, "-F", f.SSHConfigFile(), f.Hosts()[0], "true"); err != nil {
			t.Errorf("ssh %s: %v: %s", f.Hosts()[0], err, out)
		}
	}
}

// TestReclaimAfterCrash kills a fleet's owner process with SIGKILL (no Close) and
// checks that starting a fleet of the same name removes what it left.
func TestReclaimAfterCrash(t *testing.T) {
	Require(t)
	t.Parallel()
	name := fmt.Sprintf("c%d", os.Getpid()%10000000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLEET_TEST_CRASH_OWNER="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.HasPrefix(line, "up ") {
		t.Fatalf("crashing owner: %q", line)
	}
	var orphans []int
	for _, s := range strings.Fields(strings.Trim(line[3:], "[]\n")) {
		var p int
		fmt.Sscan(s, &p)
		orphans = append(orphans, p)
	}
	if netns, _, _ := state(t, name); len(netns) != 3 {
		t.Fatalf("the crashed fleet left netns %v, want 3 (else this test proves nothing)", netns)
	}

	f := StartT(t, Options{Name: name, Hosts: 1})
	for _, p := range orphans {
		if alive(p) {
			t.Errorf("process %d of the crashed fleet survives", p)
		}
	}
	netns, links, _ := state(t, name)
	slices.Sort(netns)
	if !slices.Equal(netns, []string{nsName(name, 0), nsName(name, 1)}) || len(links) != 1 {
		t.Errorf("after restart: netns %v, links %v; want only the new fleet's", netns, links)
	}
	if out, err := sshOut(t, "-F", f.SSHConfigFile(), f.Hosts()[0], "true"); err != nil {
		t.Errorf("ssh %s: %v: %s", f.Hosts()[0], err, out)
	}
}

package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

const (
	sshdPath = "/usr/sbin/sshd"
	// MaxHosts is the number of hosts one /24 holds (.11 to .254).
	MaxHosts = 244
)

// Options configure a fleet. Only Hosts is required.
type Options struct {
	// Name is a short unique id (1-8 characters a-z, 0-9) that names the fleet's
	// namespaces, link and state dir; default random. Starting a fleet with the
	// name of a dead one reclaims its leftovers first.
	Name string
	// Hosts is the number of hosts, 1 to MaxHosts.
	Hosts int
	// Subnet picks the /24 inside 198.18.0.0/15 (1-511): 198.(18+S/256).(S%256).0/24.
	// Zero picks a free one, starting from a hash of the name.
	Subnet int
	// RateMbit shapes each host's link and the root's (both directions) with tc tbf; 0 = none.
	RateMbit int
	// HostRateMbit overrides RateMbit for single hosts' links, by 1-based host
	// index (the order of Hosts): a slow or fast host among equal ones. 0 or
	// absent = RateMbit. The root's link keeps RateMbit.
	HostRateMbit map[int]int
	// Logf receives progress messages; nil discards them.
	Logf func(string, ...any)
	// HostCA, when set, certifies every host key (sshd HostCertificate, the
	// host's address as principal).
	HostCA ssh.Signer
	// UserCA, when set, is every sshd's TrustedUserCAKeys and no authorized_keys
	// file is read: only a certificate it signed logs in (KeyFile does not).
	UserCA ssh.PublicKey
}

// Fleet is a running fleet. Its methods are safe for concurrent use.
type Fleet struct {
	name   string
	subnet int
	dir    string
	opts   Options
	logf   func(string, ...any)

	key, knownHosts, sshConfig, authKeys string
	sshdMajor, sshdMinor                 int

	hosts  []*host
	byAddr map[string]*host

	mu         sync.Mutex
	closed     bool
	prohibited []string // addresses unreachable from the root namespace (Prohibit)
}

type host struct {
	idx  int
	addr string
	ns   string
	dir  string

	anchorPID  int
	anchorDone chan struct{}

	mu       sync.Mutex
	sshdPID  int
	sshdDone chan struct{}
}

// Start creates the fleet and returns when every host's sshd listens. On error,
// everything created so far is removed again.
func Start(ctx context.Context, opts Options) (_ *Fleet, err error) {
	if opts.Hosts < 1 || opts.Hosts > MaxHosts {
		return nil, fmt.Errorf("fleet: %d hosts, want 1..%d", opts.Hosts, MaxHosts)
	}
	if opts.Name != "" && !validName.MatchString(opts.Name) {
		return nil, fmt.Errorf("fleet name %q: want 1-8 characters a-z 0-9", opts.Name)
	}
	if opts.RateMbit < 0 {
		return nil, fmt.Errorf("fleet: negative rate %d Mbit/s", opts.RateMbit)
	}
	for i, r := range opts.HostRateMbit {
		if i < 1 || i > opts.Hosts {
			return nil, fmt.Errorf("fleet: rate for host %d of %d", i, opts.Hosts)
		}
		if r < 0 {
			return nil, fmt.Errorf("fleet: negative rate %d Mbit/s for host %d", r, i)
		}
	}
	if reason := missing(); reason != "" {
		return nil, fmt.Errorf("fleet: %s", reason)
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	began := time.Now()
	name, subnet, err := register(opts.Name, opts.Subnet, logf)
	if err != nil {
		return nil, err
	}
	f := &Fleet{
		name: name, subnet: subnet, opts: opts, logf: logf,
		dir:    filepath.Join(stateDir, name),
		byAddr: map[string]*host{},
	}
	defer func() {
		if err != nil {
			if cerr := f.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
			}
		}
	}()
	// A dead fleet of this subnet may have left routes that Prohibit added.
	_ = run(ctx, "", "ip", "route", "flush", "root", subnetPrefix(subnet)+".0/24", "type", "prohibit")
	f.sshdMajor, f.sshdMinor = sshdVersion()
	if err := f.writeFiles(); err != nil {
		return nil, err
	}
	if err := f.setupSwitch(ctx); err != nil {
		return nil, err
	}
	if err := f.addNamespaces(ctx); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, h := range f.hosts {
		g.Go(func() error { return f.setupHost(gctx, h) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	logf("fleet %s: %d host(s) in %s.0/24 up in %s", name, opts.Hosts, subnetPrefix(subnet), time.Since(began).Round(time.Millisecond))
	return f, nil
}

// writeFiles creates the state dir: the fleet key, known_hosts, ssh_config, and
// per host its sshd_config, host key, log and the dirs that become /srv and /tmp.
func (f *Fleet) writeFiles() error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	if err := os.Mkdir(f.dir, 0o700); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	// sshd wants its privilege separation dir; hosts mount /srv over the real one.
	for _, d := range []string{"/run/sshd", "/srv"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("fleet %s: %w", f.name, err)
		}
	}
	f.key = filepath.Join(f.dir, "id_ed25519")
	f.knownHosts = filepath.Join(f.dir, "known_hosts")
	f.sshConfig = filepath.Join(f.dir, "ssh_config")
	f.authKeys = filepath.Join(f.dir, "authorized_keys")
	pub, err := writeKeyPair(f.key, "grifork-fleet-"+f.name)
	if err != nil {
		return err
	}
	if f.opts.UserCA != nil {
		if err := os.WriteFile(filepath.Join(f.dir, "user_ca.pub"), ssh.MarshalAuthorizedKey(f.opts.UserCA), 0o644); err != nil {
			return fmt.Errorf("fleet %s: %w", f.name, err)
		}
	}
	if err := os.WriteFile(f.authKeys, pub, 0o600); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	var known bytes.Buffer
	for i := 1; i <= f.opts.Hosts; i++ {
		h := &host{
			idx:  i,
			addr: fmt.Sprintf("%s.%d", subnetPrefix(f.subnet), 10+i),
			ns:   nsName(f.name, i),
			dir:  filepath.Join(f.dir, "hosts", strconv.Itoa(i)),
		}
		for _, d := range []string{"srv", "tmp", "root"} {
			if err := os.MkdirAll(filepath.Join(h.dir, d), 0o700); err != nil {
				return fmt.Errorf("fleet %s: %w", f.name, err)
			}
		}
		// Go spells the sticky bit os.ModeSticky: 0o1777 would drop it.
		for d, mode := range map[string]os.FileMode{"srv": 0o755, "tmp": 0o777 | os.ModeSticky} {
			if err := os.Chmod(filepath.Join(h.dir, d), mode); err != nil {
				return fmt.Errorf("fleet %s: %w", f.name, err)
			}
		}
		line, err := writeKeyPair(h.hostKey(), "host-"+h.addr)
		if err != nil {
			return err
		}
		known.WriteString(h.addr + " " + string(line))
		authKeys := f.authKeys
		if f.opts.UserCA != nil {
			authKeys = "none"
		}
		cfg := sshdConfig(h.addr, h.hostKey(), authKeys, f.sshdMajor, f.sshdMinor)
		if f.opts.HostCA != nil {
			if err := certifyHost(h.hostKey(), line, h.addr, f.opts.HostCA); err != nil {
				return err
			}
			cfg += "HostCertificate " + h.hostKey() + "-cert.pub\n"
		}
		if f.opts.UserCA != nil {
			cfg += "TrustedUserCAKeys " + filepath.Join(f.dir, "user_ca.pub") + "\n"
		}
		if err := os.WriteFile(filepath.Join(h.dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
			return fmt.Errorf("fleet %s: %w", f.name, err)
		}
		f.hosts = append(f.hosts, h)
		f.byAddr[h.addr] = h
	}
	if err := os.WriteFile(f.knownHosts, known.Bytes(), 0o644); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	if err := os.WriteFile(f.sshConfig, []byte(sshConfig(f.key, f.knownHosts)), 0o644); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	return nil
}

func (h *host) hostKey() string { return filepath.Join(h.dir, "ssh_host_ed25519_key") }
func (h *host) logFile() string { return filepath.Join(h.dir, "sshd.log") }

// setupSwitch creates the fleet's switch: a bridge in a namespace of its own
// (host 0), so that the machine's firewall (Docker's FORWARD policy DROP with
// br_netfilter) never sees traffic between hosts, and one veth from the root
// namespace to the bridge that carries RootAddr.
func (f *Fleet) setupSwitch(ctx context.Context) error {
	sw, up := nsName(f.name, 0), uplinkName(f.name)
	if err := run(ctx, fmt.Sprintf("netns add %s\nlink add %s type veth peer name uplink netns %s\naddr add %s/24 dev %s\nlink set %s up\n",
		sw, up, sw, f.RootAddr(), up, up), "ip", "-batch", "-"); err != nil {
		return fmt.Errorf("fleet %s: switch: %w", f.name, err)
	}
	if err := run(ctx, "link add br0 type bridge\nlink set br0 up\nlink set uplink master br0 up\nlink set lo up\n",
		"ip", "-n", sw, "-batch", "-"); err != nil {
		return fmt.Errorf("fleet %s: switch: %w", f.name, err)
	}
	// The root is one more server behind the switch: its link gets the same rate,
	// so a root that feeds every host itself is held to one link's worth.
	if err := shape(ctx, f.opts.RateMbit, sw, "uplink", "", up); err != nil {
		return fmt.Errorf("fleet %s: switch: %w", f.name, err)
	}
	return nil
}

// rate is the Mbit/s of host i's link (1-based), 0 = unshaped.
func (f *Fleet) rate(i int) int {
	if r := f.opts.HostRateMbit[i]; r > 0 {
		return r
	}
	return f.opts.RateMbit
}

// shape puts a tbf of r Mbit/s on both ends of a veth: swPort in the switch
// namespace (traffic toward the host) and hostLink in hostNS ("" = the root
// namespace; traffic from the host). No-op without a rate.
func shape(ctx context.Context, r int, sw, swPort, hostNS, hostLink string) error {
	if r <= 0 {
		return nil
	}
	// tbf stalls veth traffic with a burst below 64 KiB; allow 10 ms worth.
	burst := max(128*1024, r*1000*1000/8/100)
	tbf := []string{"root", "tbf", "rate", strconv.Itoa(r) + "mbit", "burst", strconv.Itoa(burst), "latency", "50ms"}
	if err := run(ctx, "", append([]string{"tc", "-n", sw, "qdisc", "add", "dev", swPort}, tbf...)...); err != nil {
		return err
	}
	argv := []string{"tc", "qdisc", "add", "dev", hostLink}
	if hostNS != "" {
		argv = []string{"tc", "-n", hostNS, "qdisc", "add", "dev", hostLink}
	}
	return run(ctx, "", append(argv, tbf...)...)
}

// addNamespaces creates every host's network namespace with one command,
// before any host's mount namespace exists: each `ip netns add` is a mount in
// /run/netns, which the kernel copies into every mount namespace that receives
// the root's mounts, so adding them one per host next to running anchors costs
// hosts² mount copies (half of the start of 200 hosts).
func (f *Fleet) addNamespaces(ctx context.Context) error {
	var b strings.Builder
	for _, h := range f.hosts {
		fmt.Fprintf(&b, "netns add %s\n", h.ns)
	}
	if err := run(ctx, b.String(), "ip", "-batch", "-"); err != nil {
		return fmt.Errorf("fleet %s: namespaces: %w", f.name, err)
	}
	return nil
}

// setupHost creates the host's link to the switch, its anchor process (which
// holds the mount and UTS namespaces) and starts its sshd.
func (f *Fleet) setupHost(ctx context.Context, h *host) error {
	sw, port := nsName(f.name, 0), "h"+strconv.Itoa(h.idx)
	if err := run(ctx, fmt.Sprintf("link add %s type veth peer name eth0 netns %s\nlink set %s master br0 up\n",
		port, h.ns, port), "ip", "-n", sw, "-batch", "-"); err != nil {
		return fmt.Errorf("host %s: %w", h.addr, err)
	}
	if err := run(ctx, fmt.Sprintf("addr add %s/24 dev eth0\nlink set eth0 up\nlink set lo up\n", h.addr),
		"ip", "-n", h.ns, "-batch", "-"); err != nil {
		return fmt.Errorf("host %s: %w", h.addr, err)
	}
	if err := shape(ctx, f.rate(h.idx), sw, port, h.ns, "eth0"); err != nil {
		return fmt.Errorf("host %s: %w", h.addr, err)
	}
	if err := f.startAnchor(ctx, h); err != nil {
		return err
	}
	return f.startSSHD(ctx, h)
}

// anchorScript runs in the host's new mount and UTS namespaces. Slave propagation
// keeps its mounts from the root while unmounts on the root (`ip netns del` of
// other fleets) still reach it, so it pins no other fleet's namespace.
const anchorScript = `set -e
mount --bind "$1" /srv
mount --bind "$2" /tmp
mount --bind "$4" /root
hostname "$3"
echo ready
exec sleep infinity </dev/null >/dev/null 2>&1`

func (f *Fleet) startAnchor(ctx context.Context, h *host) error {
	cmd := exec.Command("ip", "netns", "exec", h.ns, "unshare", "--mount", "--propagation", "slave", "--uts", "--",
		"/bin/sh", "-c", anchorScript, "anchor",
		filepath.Join(h.dir, "srv"), filepath.Join(h.dir, "tmp"), fmt.Sprintf("%s-%d", f.name, h.idx),
		filepath.Join(h.dir, "root"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("host %s: %w", h.addr, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host %s: anchor: %w", h.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	stop()
	h.anchorPID = cmd.Process.Pid
	h.anchorDone = make(chan struct{})
	go func() { _ = cmd.Wait(); close(h.anchorDone) }()
	if line != "ready\n" {
		<-h.anchorDone
		return fmt.Errorf("host %s: setting up namespaces failed: %s", h.addr, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// nsenter returns the command line that runs argv inside a host's namespaces.
func (h *host) nsenter(argv ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(h.anchorPID), "-n", "-m", "-u", "--"}, argv...)
}

func (f *Fleet) startSSHD(ctx context.Context, h *host) error {
	argv := h.nsenter(sshdPath, "-D", "-f", filepath.Join(h.dir, "sshd_config"), "-E", h.logFile())
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host %s: sshd: %w", h.addr, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	h.mu.Lock()
	h.sshdPID, h.sshdDone = cmd.Process.Pid, done
	h.mu.Unlock()

	// Poll the namespace's socket table instead of dialing: a probe connection
	// would show up in the sshd log that tests count connections in.
	ip := net.ParseIP(h.addr).To4()
	want := fmt.Sprintf("%08X:0016 00000000:0000 0A", binary.NativeEndian.Uint32(ip))
	tcp := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/net/tcp"
	// Generous: under load (a 200-host fleet beside other tests on 2 cores) an
	// sshd took more than 15 s to listen.
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(tcp); err == nil && bytes.Contains(b, []byte(want)) {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(h.logFile())
			return fmt.Errorf("host %s: sshd exited: %s", h.addr, bytes.TrimSpace(log))
		case <-ctx.Done():
			return fmt.Errorf("host %s: waiting for sshd: %w", h.addr, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("host %s: sshd does not listen after a minute", h.addr)
		}
	}
}

// Close stops every process on the fleet's hosts and removes its namespaces,
// links, state dir and registry entry. It is idempotent.
func (f *Fleet) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	prohibited := f.prohibited
	f.mu.Unlock()
	err := teardown(f.name)
	for _, a := range prohibited {
		if rerr := run(context.Background(), "", "ip", "route", "del", "prohibit", a+"/32"); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	// The killed processes are our children: reap them so none stays a zombie.
	for _, h := range f.hosts {
		h.mu.Lock()
		done := h.sshdDone
		h.mu.Unlock()
		for _, c := range []chan struct{}{h.anchorDone, done} {
			if c == nil {
				continue
			}
			select {
			case <-c:
			case <-time.After(5 * time.Second):
				err = errors.Join(err, fmt.Errorf("host %s: a process did not exit", h.addr))
			}
		}
	}
	if uerr := unregister(f.name); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		return fmt.Errorf("fleet %s: close: %w", f.name, err)
	}
	f.logf("fleet %s: removed", f.name)
	return nil
}

// Prohibit makes host to unreachable from host from (a prohibit route in
// from's network namespace), or from the root machine when from is "" (a
// prohibit route in the root namespace, removed by Close): a bastion set-up.
func (f *Fleet) Prohibit(from, to string) error {
	if _, err := f.host(to); err != nil {
		return err
	}
	if from == "" {
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := run(context.Background(), "", "ip", "route", "add", "prohibit", to+"/32"); err != nil {
			return fmt.Errorf("fleet %s: prohibit %s: %w", f.name, to, err)
		}
		f.prohibited = append(f.prohibited, to)
		return nil
	}
	h, err := f.host(from)
	if err != nil {
		return err
	}
	if err := run(context.Background(), "", "ip", "-n", h.ns, "route", "add", "prohibit", to+"/32"); err != nil {
		return fmt.Errorf("host %s: prohibit %s: %w", from, to, err)
	}
	return nil
}

// AllowOnlySSH makes host addr drop every TCP packet that reaches it but
// SSH's (to or from port 22), as a stateless firewall that lets only SSH
// through would: a connection to any other port of the host, or from the
// host to any other port, gets no answer at all. undo lifts it. (Policy
// routing in the host's namespace, rules before the local table's: the
// kernel may lack tc's action modules.)
func (f *Fleet) AllowOnlySSH(addr string) (undo func() error, err error) {
	h, err := f.host(addr)
	if err != nil {
		return nil, err
	}
	const on = `rule add pref 1000 lookup local
rule del pref 0
rule add pref 10 iif eth0 ipproto tcp dport 22 lookup local
rule add pref 11 iif eth0 ipproto tcp sport 22 lookup local
rule add pref 12 iif eth0 ipproto tcp blackhole
`
	const off = `rule add pref 0 lookup local
rule del pref 12
rule del pref 11
rule del pref 10
rule del pref 1000
`
	if err := run(context.Background(), on, "ip", "-n", h.ns, "-batch", "-"); err != nil {
		return nil, fmt.Errorf("host %s: firewall: %w", addr, err)
	}
	return sync.OnceValue(func() error {
		if err := run(context.Background(), off, "ip", "-n", h.ns, "-force", "-batch", "-"); err != nil {
			return fmt.Errorf("host %s: lift the firewall: %w", addr, err)
		}
		return nil
	}), nil
}

// Name returns the fleet's name.
func (f *Fleet) Name() string { return f.name }

// RootAddr returns the root machine's address on the fleet's switch: the source
// address of connections from the root to any host.
func (f *Fleet) RootAddr() string { return subnetPrefix(f.subnet) + ".1" }

// Hosts returns the hosts' addresses, in order, as they go into a Griforkfile.
func (f *Fleet) Hosts() []string {
	out := make([]string, len(f.hosts))
	for i, h := range f.hosts {
		out[i] = h.addr
	}
	return out
}

// KeyFile returns the private key that logs in as root on every host.
func (f *Fleet) KeyFile() string { return f.key }

// KnownHostsFile returns a known_hosts file with every host's key.
func (f *Fleet) KnownHostsFile() string { return f.knownHosts }

// SSHConfigFile returns an ssh_config for `ssh -F FILE HOST` (and rsync -e) with
// the fleet key and strict host key checking; it works from hosts too.
func (f *Fleet) SSHConfigFile() string { return f.sshConfig }

func (f *Fleet) host(addr string) (*host, error) {
	h, ok := f.byAddr[addr]
	if !ok {
		return nil, fmt.Errorf("fleet %s: no host %q", f.name, addr)
	}
	return h, nil
}

// Exec runs argv inside a host's namespaces (not over ssh), even when its sshd is
// stopped, and returns its standard output. The error carries standard error.
func (f *Fleet) Exec(ctx context.Context, addr string, argv ...string) ([]byte, error) {
	h, err := f.host(addr)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("host %s: exec: empty command", addr)
	}
	full := h.nsenter(argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("host %s: %s: %w: %s", addr, strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// HostPath returns where the root machine sees path p of a host's private /srv,
// /tmp or /root (for fast assertions without Exec).
func (f *Fleet) HostPath(addr, p string) (string, error) {
	h, err := f.host(addr)
	if err != nil {
		return "", err
	}
	p = filepath.Clean(p)
	for _, d := range []string{"/srv", "/tmp", "/root"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return filepath.Join(h.dir, p), nil
		}
	}
	return "", fmt.Errorf("host %s: %s is not under the private /srv, /tmp or /root", addr, p)
}

// SSHDLog returns the host's sshd log (LogLevel VERBOSE), across restarts.
func (f *Fleet) SSHDLog(addr string) (string, error) {
	h, err := f.host(addr)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(h.logFile())
	if err != nil {
		return "", fmt.Errorf("host %s: %w", addr, err)
	}
	return string(b), nil
}

var acceptedRE = regexp.MustCompile(`(?m)Accepted \S+ for \S+ from (\S+) port \d+`)

// AcceptedConnections counts the authenticated connections of a host's sshd by
// source address (RootAddr for the root, host addresses for hosts).
func (f *Fleet) AcceptedConnections(addr string) (map[string]int, error) {
	log, err := f.SSHDLog(addr)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range acceptedRE.FindAllStringSubmatch(log, -1) {
		out[m[1]]++
	}
	return out, nil
}

// Proc is a process running on a host.
type Proc struct {
	PID     int
	Cmdline string // argv joined by spaces
}

// Procs lists the processes running on a host (sshd, sessions and what they
// started), without the fleet's own namespace holder.
func (f *Fleet) Procs(addr string) ([]Proc, error) {
	h, err := f.host(addr)
	if err != nil {
		return nil, err
	}
	pids, err := netnsPids(h.ns)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", addr, err)
	}
	var out []Proc
	for _, p := range pids {
		if p == h.anchorPID {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		if err != nil || len(b) == 0 { // exited meanwhile, or a zombie
			continue
		}
		out = append(out, Proc{PID: p, Cmdline: strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))})
	}
	return out, nil
}

// StopHost kills a host's sshd and every process on the host, like a host that
// dies. Its files stay, and Exec still works.
func (f *Fleet) StopHost(addr string) error {
	h, err := f.host(addr)
	if err != nil {
		return err
	}
	if err := killNetns(h.ns, h.anchorPID); err != nil {
		return fmt.Errorf("host %s: stop: %w", addr, err)
	}
	h.mu.Lock()
	done := h.sshdDone
	h.sshdPID, h.sshdDone = 0, nil
	h.mu.Unlock()
	if done != nil {
		<-done
	}
	f.logf("fleet %s: host %s stopped", f.name, addr)
	return nil
}

// StartHost starts a stopped host's sshd again.
func (f *Fleet) StartHost(ctx context.Context, addr string) error {
	h, err := f.host(addr)
	if err != nil {
		return err
	}
	h.mu.Lock()
	running := h.sshdPID != 0
	h.mu.Unlock()
	if running {
		return fmt.Errorf("host %s: sshd is running", addr)
	}
	return f.startSSHD(ctx, h)
}

// RegenHostKey gives a host a new host key and restarts its sshd, leaving
// known_hosts as it was (so strict checking must refuse the host). Open
// connections stay up.
func (f *Fleet) RegenHostKey(addr string) error {
	h, err := f.host(addr)
	if err != nil {
		return err
	}
	if _, err := writeKeyPair(h.hostKey(), "host-"+h.addr); err != nil {
		return err
	}
	h.mu.Lock()
	pid, done := h.sshdPID, h.sshdDone
	h.sshdPID, h.sshdDone = 0, nil
	h.mu.Unlock()
	if pid != 0 {
		// Only the listener: its session processes keep serving open connections.
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.startSSHD(ctx, h); err != nil {
		return err
	}
	f.logf("fleet %s: host %s has a new host key", f.name, addr)
	return nil
}

// MountTmpfs mounts a tmpfs of size bytes over dir (/srv or /tmp) in a host's
// mount namespace, a small disk that fills up: every process on the host sees
// it, while HostPath still sees the files beneath. The returned func unmounts it
// again (lazily, so that a process still inside does not keep it).
func (f *Fleet) MountTmpfs(addr, dir string, size int64) (unmount func() error, err error) {
	p, err := f.HostPath(addr, dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("host %s: tmpfs: %w", addr, err)
	}
	// The mode of the directory it covers: /tmp keeps its sticky bit.
	mode := uint32(fi.Mode().Perm())
	if fi.Mode()&os.ModeSticky != 0 {
		mode |= syscall.S_ISVTX
	}
	opts := fmt.Sprintf("size=%d,mode=%o", size, mode)
	if _, err := f.Exec(context.Background(), addr, "mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir); err != nil {
		return nil, err
	}
	f.logf("fleet %s: host %s: a tmpfs of %d bytes on %s", f.name, addr, size, dir)
	return func() error {
		_, err := f.Exec(context.Background(), addr, "umount", "-l", dir)
		return err
	}, nil
}

// ListenSilent listens on a host's SSH port in place of its sshd (stop it
// first: StopHost) and accepts connections without ever saying anything, as a
// hung sshd or a black-holing middlebox does. Close stops listening and drops
// the connections; StartHost brings sshd back.
func (f *Fleet) ListenSilent(addr string) (io.Closer, error) {
	h, err := f.host(addr)
	if err != nil {
		return nil, err
	}
	l, err := listenIn(h.ns, net.JoinHostPort(h.addr, "22"))
	if err != nil {
		return nil, fmt.Errorf("host %s: silent listener: %w", addr, err)
	}
	s := &silent{l: l}
	go s.serve()
	f.logf("fleet %s: host %s: a silent listener on port 22", f.name, addr)
	return s, nil
}

// listenIn opens a TCP listener in a named network namespace: a socket stays in
// the namespace it was made in, whichever thread uses it later.
func listenIn(ns, hostport string) (net.Listener, error) {
	ch := make(chan listenResult, 1)
	go func() {
		// The thread changes namespace; it is never handed back to other
		// goroutines (no UnlockOSThread), so it ends with this goroutine.
		runtime.LockOSThread()
		ch <- listenLocked(ns, hostport)
	}()
	r := <-ch
	return r.l, r.err
}

type listenResult struct {
	l   net.Listener
	err error
}

// listenLocked listens in ns from the calling goroutine's thread, to which it
// is locked: the thread enters ns. Never the process's main thread, though:
// its namespace is the process's in /proc/PID/ns/net, where killNetns would
// find this process among the host's and kill it (the fleet tests were
// SIGKILLed at Close). The main thread, locked, runs no other goroutine
// while listenIn's gets another thread; then it is handed back.
func listenLocked(ns, hostport string) listenResult {
	if unix.Gettid() == unix.Getpid() {
		defer runtime.UnlockOSThread()
		l, err := listenIn(ns, hostport)
		return listenResult{l, err}
	}
	fd, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return listenResult{err: err}
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return listenResult{err: fmt.Errorf("setns %s: %w", ns, err)}
	}
	l, err := net.Listen("tcp", hostport)
	return listenResult{l, err}
}

// silent holds every connection it accepts open, reading nothing.
type silent struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (s *silent) serve() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

func (s *silent) Close() error {
	err := s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	return err
}

// ForgetHostKey removes a host's line from KnownHostsFile, so that strict
// checking finds its key unknown. TrustHostKey puts it back.
func (f *Fleet) ForgetHostKey(addr string) error {
	return f.editKnownHosts(addr, nil)
}

// TrustHostKey writes a host's current key into KnownHostsFile in place of its
// line: after RegenHostKey or ForgetHostKey, the host is trusted again.
func (f *Fleet) TrustHostKey(addr string) error {
	h, err := f.host(addr)
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(h.hostKey() + ".pub")
	if err != nil {
		return fmt.Errorf("host %s: %w", addr, err)
	}
	return f.editKnownHosts(addr, pub)
}

// editKnownHosts replaces addr's line in KnownHostsFile by one with the
// authorized_keys line pub, or removes it when pub is nil.
func (f *Fleet) editKnownHosts(addr string, pub []byte) error {
	if _, err := f.host(addr); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.knownHosts)
	if err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, addr+" ") {
			out.WriteString(line)
		}
	}
	if pub != nil {
		out.WriteString(addr + " " + strings.TrimSpace(string(pub)) + "\n")
	}
	// A rename: a reader never sees half a file.
	tmp := f.knownHosts + ".new"
	if err := os.WriteFile(tmp, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	if err := os.Rename(tmp, f.knownHosts); err != nil {
		return fmt.Errorf("fleet %s: %w", f.name, err)
	}
	return nil
}

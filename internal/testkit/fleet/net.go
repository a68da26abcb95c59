package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const netnsDir = "/run/netns" // where `ip netns add` pins namespaces

// nsName names host i's network namespace; namespace 0 is the fleet's switch.
func nsName(fleet string, i int) string { return "gf-" + fleet + "-" + strconv.Itoa(i) }

// uplinkName names the root namespace's only link to the fleet, the veth to the
// switch that carries RootAddr.
func uplinkName(fleet string) string { return "gf-" + fleet }

// run runs a command on the root machine and returns an error carrying its output.
func run(ctx context.Context, stdin string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// listNetns lists the named network namespaces.
func listNetns() ([]string, error) { return dirNames(netnsDir) }

// listLinks lists the network interfaces of the root namespace.
func listLinks() ([]string, error) { return dirNames("/sys/class/net") }

// dirNames lists the entries of dir; a missing dir has none.
func dirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// subnetsInUse returns the /24 blocks of 198.18.0.0/15 that have an address on
// this machine.
func subnetsInUse() (map[int]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	used := map[int]bool{}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP.To4()
		if ip != nil && ip[0] == 198 && (ip[1] == 18 || ip[1] == 19) {
			used[int(ip[1]-18)*256+int(ip[2])] = true
		}
	}
	return used, nil
}

// netnsPids lists the processes whose network namespace is the named one. With no
// PID namespace per host, this is how a host's processes are told apart.
func netnsPids(ns string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return nil, fmt.Errorf("netns %s: %w", ns, err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Exited processes and zombies have no namespace link: they do not count.
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killNetns kills every process in a namespace, again while new ones appear (an
// sshd forking a session while it is being killed).
func killNetns(ns string, except int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := netnsPids(ns)
		if err != nil {
			return err
		}
		left := 0
		for _, p := range pids {
			if p != except {
				left++
				_ = syscall.Kill(p, syscall.SIGKILL) // gone already is fine
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns %s: processes %v survive SIGKILL", ns, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// teardown removes every object of the fleet called name: the processes in its
// namespaces, the namespaces, its links and its state dir. It needs no memory of
// the fleet, so it also reclaims what a crashed run left.
func teardown(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	mine := func(obj string) bool {
		m := objName.FindStringSubmatch(obj)
		return m != nil && m[1] == name
	}
	nss, err := listNetns()
	if err != nil {
		errs = append(errs, err)
	}
	// Every process first, then every namespace: an anchor still running holds
	// a mount namespace that each `ip netns del` would have to reach too.
	var del strings.Builder
	for _, ns := range nss {
		if !mine(ns) {
			continue
		}
		if err := killNetns(ns, 0); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(&del, "netns del %s\n", ns)
	}
	if del.Len() > 0 {
		// -force: a namespace that cannot go must not keep the others.
		if err := run(ctx, del.String(), "ip", "-force", "-batch", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	links, err := listLinks()
	if err != nil {
		errs = append(errs, err)
	}
	for _, l := range links {
		if !mine(l) {
			continue
		}
		// A veth disappears with its peer's namespace; that is not an error.
		if err := run(ctx, "", "ip", "link", "del", l); err != nil {
			if _, serr := os.Stat("/sys/class/net/" + l); serr == nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(stateDir, name)); err != nil {
		errs = append(errs, fmt.Errorf("fleet %s: %w", name, err))
	}
	return errors.Join(errs...)
}

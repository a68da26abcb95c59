package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// The registry lets fleets of concurrent processes (go test runs packages in
// parallel) share one machine: each fleet holds a name and a /24 while its owner
// process lives, and anything whose owner is gone is reclaimed by the next Start.
var (
	runDir   = "/run/grifork-fleet"
	stateDir = "/var/lib/grifork-fleet"
)

// maxSubnet is the number of /24 blocks in 198.18.0.0/15; block 0 is never used so
// that the zero Options.Subnet can mean "pick one".
const maxSubnet = 512

var validName = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// objName matches every netns and root-namespace link a fleet creates: "gf-NAME"
// (the veth to its switch) and "gf-NAME-I" (netns of host I; 0 is the switch). Link names are limited to 15
// characters, hence the short prefix and the 8-character name.
var objName = regexp.MustCompile(`^gf-([a-z0-9]{1,8})(?:-[0-9]+)?$`)

type regEntry struct {
	Name   string `json:"name"`
	Subnet int    `json:"subnet"`
	PID    int    `json:"pid"`
	Start  uint64 `json:"start"` // process start time, so a reused PID is not taken for the owner
	Boot   string `json:"boot"`
}

type registry struct {
	Fleets []regEntry `json:"fleets"`
}

// withRegistry runs fn with the registry loaded and locked, and saves it after.
func withRegistry(fn func(r *registry) error) error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("fleet registry: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(runDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("fleet registry: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("fleet registry: lock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too

	path := filepath.Join(runDir, "registry.json")
	var r registry
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("fleet registry: %w", err)
	default:
		if err := json.Unmarshal(b, &r); err != nil {
			// A torn file must not block every later test run; its fleets become
			// leftovers that the sweep reclaims by name.
			r = registry{}
		}
	}
	if err := fn(&r); err != nil {
		return err
	}
	b, err = json.MarshalIndent(&r, "", "  ")
	if err != nil {
		return fmt.Errorf("fleet registry: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("fleet registry: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("fleet registry: %w", err)
	}
	return nil
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// procStart returns the start time of a process (field 22 of /proc/PID/stat).
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

func (e regEntry) alive(boot string) bool {
	if e.Boot != boot {
		return false
	}
	st, ok := procStart(e.PID)
	return ok && st == e.Start
}

// sweep removes every fleet object (registry entry, netns, link, state dir) whose
// owner process is gone. Called with the registry locked.
func sweep(r *registry, logf func(string, ...any)) error {
	boot := bootID()
	live := map[string]bool{}
	var keep []regEntry
	for _, e := range r.Fleets {
		if e.alive(boot) {
			live[e.Name] = true
			keep = append(keep, e)
		}
	}
	r.Fleets = keep

	stale := map[string]bool{}
	names, err := fleetObjects()
	if err != nil {
		return err
	}
	for _, n := range names {
		if !live[n] {
			stale[n] = true
		}
	}
	var errs []error
	for n := range stale {
		logf("fleet: reclaiming leftovers of fleet %q", n)
		if err := teardown(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fleetObjects lists the names of fleets that own a netns, a link or a state dir.
func fleetObjects() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(obj string) {
		if m := objName.FindStringSubmatch(obj); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	ns, err := listNetns()
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		add(n)
	}
	links, err := listLinks()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		add(l)
	}
	ents, err := os.ReadDir(stateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			add("gf-" + e.Name())
		}
	}
	return out, nil
}

// register reserves a name and a subnet for this process. A given name held by a
// live process is an error; a given name held by a dead one was swept already.
func register(name string, subnet int, logf func(string, ...any)) (string, int, error) {
	var gotName string
	var gotNet int
	err := withRegistry(func(r *registry) error {
		if err := sweep(r, logf); err != nil {
			return err
		}
		// Addresses configured outside the registry (another tool, a manual test)
		// also make a /24 unusable.
		nets, err := subnetsInUse()
		if err != nil {
			return err
		}
		names := map[string]int{}
		for _, e := range r.Fleets {
			names[e.Name] = e.PID
			nets[e.Subnet] = true
		}
		if name == "" {
			for {
				name = randomName()
				if _, taken := names[name]; !taken {
					break
				}
			}
		} else if pid, taken := names[name]; taken {
			return fmt.Errorf("fleet %q is in use by process %d", name, pid)
		}
		if subnet != 0 {
			if subnet < 1 || subnet >= maxSubnet {
				return fmt.Errorf("fleet %q: subnet %d out of range 1..%d", name, subnet, maxSubnet-1)
			}
			if nets[subnet] {
				return fmt.Errorf("fleet %q: subnet %d (%s.0/24) is in use", name, subnet, subnetPrefix(subnet))
			}
		} else {
			h := fnv.New32a()
			h.Write([]byte(name))
			first := int(h.Sum32()%(maxSubnet-1)) + 1
			for i := 0; i < maxSubnet-1; i++ {
				s := (first-1+i)%(maxSubnet-1) + 1
				if !nets[s] {
					subnet = s
					break
				}
			}
			if subnet == 0 {
				return fmt.Errorf("fleet %q: every /24 of 198.18.0.0/15 is in use", name)
			}
		}
		st, _ := procStart(os.Getpid())
		r.Fleets = append(r.Fleets, regEntry{Name: name, Subnet: subnet, PID: os.Getpid(), Start: st, Boot: bootID()})
		gotName, gotNet = name, subnet
		return nil
	})
	return gotName, gotNet, err
}

func unregister(name string) error {
	return withRegistry(func(r *registry) error {
		var keep []regEntry
		for _, e := range r.Fleets {
			if e.Name != name {
				keep = append(keep, e)
			}
		}
		r.Fleets = keep
		return nil
	})
}

// Reclaim removes what a fleet called name left behind when its owner died
// (processes, namespaces, links, state dir). It refuses while the owner lives.
func Reclaim(name string, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("fleet name %q: want 1-8 characters a-z 0-9", name)
	}
	return withRegistry(func(r *registry) error {
		boot := bootID()
		for _, e := range r.Fleets {
			if e.Name == name && e.alive(boot) {
				return fmt.Errorf("fleet %q is in use by process %d", name, e.PID)
			}
		}
		return sweep(r, logf)
	})
}

func randomName() string {
	const digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b)
}

func subnetPrefix(subnet int) string {
	return fmt.Sprintf("198.%d.%d", 18+subnet/256, subnet%256)
}

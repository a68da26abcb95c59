package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cpuSampler records where the CPU goes during one run: every process's user
// and system time, read from /proc every cpuPeriod (a process that ends loses
// at most its last period), and the machine's totals from /proc/stat. Classes:
// the root grifork, the relays, the fleet's sshd processes, the other
// processes of this benchmark (its own checks, shells the hosts run), the
// kernel's threads (softirq work, writeback) and everything else on the
// machine.
type cpuSampler struct {
	self  int
	stop  chan struct{}
	done  chan struct{}
	start time.Time
	wall  time.Duration
	stat0 []int64
	stat1 []int64
	mu    sync.Mutex
	first map[int]procCPU // at the first sample, for processes already running
	last  map[int]procCPU
}

type procCPU struct {
	class      string
	user, sys  int64 // clock ticks
	ppid       int
	comm       string
	descendant bool
}

const (
	cpuPeriod = 100 * time.Millisecond
	clkTck    = 100 // USER_HZ on Linux
)

// The classes, in the order the table prints them.
var cpuClasses = []string{"root grifork", "relays", "sshd (the fleet's)", "this benchmark and other processes it started", "kernel threads (softirq, writeback)", "other processes on the machine"}

func startCPUSampler() *cpuSampler {
	s := &cpuSampler{self: os.Getpid(), stop: make(chan struct{}), done: make(chan struct{}),
		first: map[int]procCPU{}, last: map[int]procCPU{}}
	s.stat0 = machineStat()
	s.start = time.Now()
	s.scan(true)
	go func() {
		defer close(s.done)
		t := time.NewTicker(cpuPeriod)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.scan(false)
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// finish takes the last sample and stops.
func (s *cpuSampler) finish() {
	close(s.stop)
	<-s.done
	s.scan(false)
	s.wall = time.Since(s.start)
	s.stat1 = machineStat()
}

// scan reads every process's times; a process descends from this benchmark
// when its parent does (the fleet's sshd, the root grifork and what they start).
func (s *cpuSampler) scan(first bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	now := map[int]procCPU{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProcCPU(pid); ok {
			now[pid] = p
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var isDesc func(pid int, depth int) bool
	isDesc = func(pid, depth int) bool {
		if pid == s.self {
			return true
		}
		if depth > 64 {
			return false
		}
		p, ok := now[pid]
		if !ok {
			prev, ok := s.last[pid]
			return ok && prev.descendant
		}
		return isDesc(p.ppid, depth+1)
	}
	for pid, p := range now {
		if prev, ok := s.last[pid]; ok && prev.comm == p.comm {
			p.descendant = prev.descendant || isDesc(p.ppid, 0)
		} else {
			p.descendant = isDesc(p.ppid, 0)
		}
		p.class = classify(pid, p)
		if first {
			s.first[pid] = p
		}
		s.last[pid] = p
	}
}

func classify(pid int, p procCPU) string {
	switch {
	case pid == 2 || p.ppid == 2:
		return cpuClasses[4]
	case !p.descendant:
		return cpuClasses[5]
	case p.comm == "grifork":
		return cpuClasses[0]
	case strings.HasPrefix(p.comm, "grifork-"): // the cached relay, grifork-<sha256>
		return cpuClasses[1]
	case p.comm == "sshd" || p.comm == "sshd-session":
		return cpuClasses[2]
	default:
		return cpuClasses[3]
	}
}

// readProcCPU reads pid's command name, parent and times from /proc/pid/stat.
func readProcCPU(pid int) (procCPU, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procCPU{}, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procCPU{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return procCPU{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return procCPU{comm: string(b[open+1 : end]), ppid: ppid, user: user, sys: sys}, true
}

// machineStat is /proc/stat's cpu line: user nice system idle iowait irq
// softirq steal, in ticks.
func machineStat() []int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nil
	}
	out := make([]int64, 8)
	for i := range out {
		out[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	return out
}

// classCPU is a class's CPU time in clock ticks and how many of its
// processes used some.
type classCPU struct {
	user, sys int64
	n         int
}

// sums adds up each class's CPU time since the first sample.
func (s *cpuSampler) sums() map[string]*classCPU {
	s.mu.Lock()
	defer s.mu.Unlock()
	sums := map[string]*classCPU{}
	for _, c := range cpuClasses {
		sums[c] = &classCPU{}
	}
	for pid, p := range s.last {
		u, y := p.user, p.sys
		if f, ok := s.first[pid]; ok {
			u, y = u-f.user, y-f.sys
		}
		if u+y <= 0 {
			continue
		}
		c := sums[p.class]
		c.user, c.sys, c.n = c.user+u, c.sys+y, c.n+1
	}
	return sums
}

// table prints the CPU seconds per class: user, system, their sum, and how
// many processes of the class ran.
func (s *cpuSampler) table(title string) string {
	sums := s.sums()
	sec := func(t int64) string { return fmt.Sprintf("%.1f", float64(t)/clkTck) }
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nCPU seconds during %s (%.1f s wall, %d CPUs: %.1f CPU-s available), per process class, from /proc every %s:\n",
		title, s.wall.Seconds(), runtime.NumCPU(), s.wall.Seconds()*float64(runtime.NumCPU()), cpuPeriod)
	width := 0
	for _, c := range cpuClasses {
		width = max(width, len(c))
	}
	fmt.Fprintf(&sb, "  %-*s  %9s  %6s  %6s  %6s\n", width, "class", "processes", "user", "sys", "total")
	for _, c := range cpuClasses {
		v := sums[c]
		fmt.Fprintf(&sb, "  %-*s  %9d  %6s  %6s  %6s\n", width, c, v.n, sec(v.user), sec(v.sys), sec(v.user+v.sys))
	}
	if len(s.stat0) == 8 && len(s.stat1) == 8 {
		d := make([]int64, 8)
		for i := range d {
			d[i] = s.stat1[i] - s.stat0[i]
		}
		fmt.Fprintf(&sb, "  machine (/proc/stat): user %s, system %s, softirq %s, irq %s, idle %s, iowait %s, steal %s\n",
			sec(d[0]+d[1]), sec(d[2]), sec(d[6]), sec(d[5]), sec(d[3]), sec(d[4]), sec(d[7]))
	}
	return sb.String()
}

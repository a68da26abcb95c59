package sshdtest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Fleet stands for n hosts: each a TCP port of this process forwarded to one
// SSHD, so a client sees n hosts (127.0.0.1:PORT), and a test counts the
// connections made and open to each.
type Fleet struct {
	Hosts      []core.Host
	KnownHosts string // a known_hosts file for every port

	mu    sync.Mutex
	open  map[int]int // port -> connections open now
	total int
}

// Forward starts n forwarders to s; they stop with the test.
func Forward(t *testing.T, s *SSHD, n int) *Fleet {
	t.Helper()
	f := &Fleet{open: map[int]int{}, KnownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	var lines strings.Builder
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		port := l.Addr().(*net.TCPAddr).Port
		f.Hosts = append(f.Hosts, core.Host{Name: "127.0.0.1", Port: port})
		lines.WriteString(knownhosts.Line([]string{knownhosts.Normalize(l.Addr().String())}, s.HostKey) + "\n")
		go f.serve(l, port, s.Addr())
	}
	if err := os.WriteFile(f.KnownHosts, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *Fleet) serve(l net.Listener, port int, to string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.open[port]++
		f.total++
		f.mu.Unlock()
		go func() {
			defer func() {
				f.mu.Lock()
				f.open[port]--
				f.mu.Unlock()
			}()
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				return
			}
			done := make(chan struct{}, 2)
			go func() { io.Copy(out, in); done <- struct{}{} }()
			go func() { io.Copy(in, out); done <- struct{}{} }()
			<-done // one side ended: end both
			in.Close()
			out.Close()
			<-done
		}()
	}
}

// Total is the number of connections accepted, all hosts.
func (f *Fleet) Total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// OpenTo waits up to 3s for the number of connections open to h to be want
// (a forwarder learns of a close a moment late) and returns it.
func (f *Fleet) OpenTo(h core.Host, want int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		f.mu.Lock()
		n := f.open[h.Port]
		f.mu.Unlock()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

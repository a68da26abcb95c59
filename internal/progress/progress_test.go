package progress

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t          core.Totals
		gen, depth int
		want       string
	}{
		{core.Totals{Hosts: 13, Pending: 13}, 1, 3, "generation 1/3  0 ok  0 failed  0 skipped  13 pending"},
		{core.Totals{Hosts: 13, OK: 3, Failed: 1, Skipped: 3, Pending: 6}, 2, 3, "generation 2/3  3 ok  1 failed  3 skipped  6 pending"},
		{core.Totals{Hosts: 13, OK: 13}, 0, 3, "generation 3/3  13 ok  0 failed  0 skipped  0 pending"},
	}
	for _, tt := range tests {
		if got := Status(tt.t, tt.gen, tt.depth); got != tt.want {
			t.Errorf("Status() = %q, want %q", got, tt.want)
		}
	}
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	for mode, want := range map[string]bool{Auto: false, Always: true, Never: false} {
		if got := Enabled(mode, &b); got != want {
			t.Errorf("Enabled(%s, buffer) = %v, want %v", mode, got, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// TestBroadcast renders the broadcast's line in each phase, with sizes from
// bytes to gibibytes, against testdata/broadcast.golden.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    core.TransferStatus
		rate float64
	}{
		{core.TransferStatus{Phase: core.PhaseStarting, Hosts: 16}, 0},
		{core.TransferStatus{Phase: core.PhaseComparing, Hosts: 16}, 0},
		{core.TransferStatus{Phase: core.PhaseStarting, Hosts: 1}, 0},
		{core.TransferStatus{Phase: core.PhaseComparing, Hosts: 1}, 0},
		{core.TransferStatus{Phase: core.PhaseSending, Hosts: 16, Total: 67108864 + 200}, 0},
		{core.TransferStatus{Phase: core.PhaseSending, Hosts: 16, Total: 67108864 + 200, Sent: 12 << 20}, 24.5 * (1 << 20)},
		{core.TransferStatus{Phase: core.PhaseSending, Hosts: 16, Done: 3, Total: 67108864 + 200, Sent: 67108864 + 200}, 512},
		{core.TransferStatus{Phase: core.PhaseSending, Hosts: 3, Done: 3}, 0}, // no file's content to send: hosts current, or lacking only directories, links, modes, deletions
		{core.TransferStatus{Phase: core.PhaseSending, Hosts: 200, Done: 1, Total: 3 << 30, Sent: 1536}, 1536},
	}
	var b strings.Builder
	for _, tt := range tests {
		fmt.Fprintf(&b, "%+v rate %.0f\n\t%s\n", tt.s, tt.rate, Broadcast(tt.s, tt.rate))
	}
	golden := filepath.Join("testdata", "broadcast.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("the broadcast's lines differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

// TestMeter: the rate is over the last two seconds, and a count that starts
// again (a heal's round) does not make it negative.
func TestMeter(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1700000000, 0)
	var m meter
	steps := []struct {
		after time.Duration
		n     int64
		want  float64
	}{
		{0, 0, 0},
		{500 * time.Millisecond, 1000, 2000},
		{time.Second, 2000, 2000},
		{2 * time.Second, 10000, 5000},    // over 0..2 s
		{3 * time.Second, 10000, 4000},    // over 1..3 s: (10000-2000)/2
		{5 * time.Second, 10000, 0},       // stalled for 2 s
		{5500 * time.Millisecond, 100, 0}, // a new round
		{6500 * time.Millisecond, 1100, 1000},
	}
	for _, s := range steps {
		if got := m.at(t0.Add(s.after), s.n); got != s.want {
			t.Errorf("at %s, %d: rate %.1f, want %.1f", s.after, s.n, got, s.want)
		}
	}
}

// TestPlain: --progress always on output that is not a terminal prints the
// line as whole lines, no escape codes, at most one a second and only when it
// changed, between whole lines of output; the broadcast's bytes and rate show
// while it sends, the generations after it.
func TestPlain(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	tr := &core.Transfer{}
	began := time.Now()
	l := Start(&out, 3, 1, true, tr)
	// waitFor waits until the output has a line that starts with prefix.
	waitFor := func(prefix string, meanwhile func()) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains("\n"+out.String(), "\n"+prefix); {
			if time.Now().After(deadline) {
				t.Fatalf("no line %q in 10 s:\n%s", prefix, out.String())
			}
			meanwhile()
			time.Sleep(50 * time.Millisecond)
		}
	}
	tr.Start(3)
	waitFor("broadcast  starting relays on 3 hosts", func() {})
	fmt.Fprintln(l, "a | a line of output")
	tr.Sending(3 << 20)
	waitFor("broadcast  sent ", func() { tr.Sent(16 << 10) })
	tr.HostDone()
	tr.SetPhase(core.PhaseDone)
	l.Observe(core.NewReport(core.Standalone, mustTree(t, 3)))
	waitFor("generation 1/1  0 ok  0 failed  0 skipped  3 pending", func() {})
	l.Stop()
	took := time.Since(began)

	got := out.String()
	if strings.ContainsAny(got, "\x1b\r") {
		t.Errorf("escape codes or carriage returns on a non-terminal:\n%q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	want := []string{
		"broadcast  starting relays on 3 hosts",
		"a | a line of output",
		"broadcast  sent ",
		"generation 1/1  0 ok  0 failed  0 skipped  3 pending",
	}
	i, status := 0, 0
	for _, line := range lines {
		if i < len(want) && strings.HasPrefix(line, want[i]) {
			i++
		}
		if !strings.HasPrefix(line, "a | ") {
			status++
		}
		if strings.HasPrefix(line, "broadcast  sent ") && !sentLine.MatchString(line) {
			t.Errorf("not a byte and rate line: %q", line)
		}
	}
	if i < len(want) {
		t.Errorf("lines lack %q (in this order: %q):\n%s", want[i], want, got)
	}
	if most := int(took/plainEvery) + 1; status > most {
		t.Errorf("%d status lines in %s, want one a second at most:\n%s", status, took, got)
	}
}

var sentLine = regexp.MustCompile(`^broadcast  sent [0-9.]+ (B|KiB|MiB) of 3\.0 MiB \([0-9]+%\)  [0-9.]+ (B|KiB|MiB)/s  0/3 hosts done$`)

func mustTree(t *testing.T, n int) *core.Tree {
	t.Helper()
	var hosts []core.Host
	for i := range n {
		h, err := core.ParseHost(fmt.Sprintf("h%d", i))
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	tr, err := core.BuildTree(hosts, n)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// syncBuffer is a bytes.Buffer that the line's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

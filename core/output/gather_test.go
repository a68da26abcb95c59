package output

import (
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/grifork/grifork/nodeset"
	"github.com/grifork/grifork/redact"
)

func TestGather(t *testing.T) {
	t.Parallel()
	var out, tee strings.Builder
	p := NewPrinter(&out, redact.New("s3cret"))
	p.Tee(&tee)
	p.Gather()
	var order []string
	for i := 1; i <= 24; i++ {
		h := fmt.Sprintf("web%02d", i)
		order = append(order, h)
		switch {
		case i == 7:
			p.Line(h, "Linux 6.1")
			p.Line(h, "disk s3cret full")
		case i > 20:
			p.Line(h, "Linux 5.10")
		default:
			p.Line(h, "Linux 6.1")
		}
	}
	p.Relay("db1 | relayed from grifork mode")
	p.Relay("not a host line")
	p.Line("", "plain")
	if got, want := out.String(), "not a host line\nplain\n"; got != want {
		t.Errorf("written at once: %q, want %q", got, want)
	}
	if !strings.Contains(tee.String(), "web07 | disk [REDACTED] full\n") {
		t.Errorf("tee lacks the gathered line:\n%s", tee.String())
	}
	out.Reset()
	if err := p.WriteGathered(&out, append(order, "db1")); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/gather/groups.txt", out.String())
}

// Gathered output beyond GatherMemory goes to a spill file, so the memory a
// run holds does not grow with what its hosts print; it comes out byte for
// byte (carriage returns and a line longer than MaxLine included), grouped by
// identical output. 70 hosts of 62 KiB each are over GatherMemory together,
// but under GatherChunk each; the long line fills a chunk alone.
func TestGatherSpills(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := NewPrinter(&out, nil)
	p.Gather()
	const hosts, lines = 70, 1400
	long := strings.Repeat("z", MaxLine+7) // one line, printed in two pieces
	var order []string
	var writers []io.WriteCloser
	wrote := map[string]*strings.Builder{}
	for i := range hosts {
		h := fmt.Sprintf("h%02d", i)
		order = append(order, h)
		writers = append(writers, p.Writer(h))
		wrote[h] = &strings.Builder{}
	}
	write := func(i int, s string) {
		writers[i].Write([]byte(s))
		wrote[order[i]].WriteString(s)
		if held := p.gather.mem; held > GatherMemory+GatherChunk {
			t.Fatalf("%d bytes held in memory", held)
		}
	}
	for l := range lines {
		for i := range hosts {
			line := fmt.Sprintf("line %04d of output, with a carriage return\r\n", l)
			if i == 5 && l == 7 {
				line = "h05 differs\n"
			}
			write(i, line)
		}
	}
	for i := range hosts {
		write(i, long+"\nno newline at the end")
		writers[i].Close()
	}
	if p.gather.spill == nil || p.gather.size < int64(hosts*lines*40) {
		t.Fatalf("spilled %d bytes", p.gather.size)
	}
	small := false // an extent shorter than a chunk: the GatherMemory bound flushed it
	for _, h := range p.gather.hosts {
		for _, e := range h.extents {
			small = small || e.n < GatherChunk
		}
	}
	if !small {
		t.Errorf("no host's output was flushed for the bound on all hosts")
	}
	if _, err := os.Stat(p.gather.spill.Name()); !os.IsNotExist(err) {
		t.Errorf("the spill file is in the directory: %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed before WriteGathered: %.100q", out.String())
	}
	var got strings.Builder
	if err := p.WriteGathered(&got, order); err != nil {
		t.Fatal(err)
	}
	head := func(h string) string {
		r := strings.Repeat("-", len(h))
		return r + "\n" + h + "\n" + r + "\n"
	}
	want := head(nodeset.Fold(except(order, "h05"))+" (69)") + wrote["h00"].String() + "\n" +
		head("h05 (1)") + wrote["h05"].String() + "\n"
	if got.String() != want {
		i := 0
		for i < min(got.Len(), len(want)) && got.String()[i] == want[i] {
			i++
		}
		t.Errorf("gathered output differs at byte %d: %.80q, want %.80q", i, got.String()[i:], want[i:])
	}
	if _, err := p.gather.spill.Stat(); err == nil {
		t.Errorf("the spill file is still open after WriteGathered")
	}
}

func except(all []string, drop ...string) []string {
	var r []string
	for _, s := range all {
		if !slices.Contains(drop, s) {
			r = append(r, s)
		}
	}
	return r
}

// A line relayed from grifork mode is parsed back into its host and text; a
// piece marked as a continuation joins the previous one.
func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line, prefix, text string
		cont, ok           bool
	}{
		{"web1 | hello | world", "web1", "hello | world", false, true},
		{"web1 |+ more", "web1", "more", true, true},
		{"web1 | + data", "web1", "+ data", false, true},
		{"not a host line", "", "", false, false},
		{" | empty host", "", "", false, false},
		{"web1 |x", "", "", false, false},
	}
	for _, tc := range tests {
		prefix, text, cont, ok := parseLine(tc.line)
		if prefix != tc.prefix || text != tc.text || cont != tc.cont || ok != tc.ok {
			t.Errorf("parseLine(%q) = %q, %q, %v, %v", tc.line, prefix, text, cont, ok)
		}
	}
}

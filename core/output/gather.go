package output

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/grifork/grifork/internal/number"
	"github.com/grifork/grifork/nodeset"
)

// Gather makes p collect the output of every prefix (host) instead of writing
// it; WriteGathered prints it at the end, grouped by identical output. Lines
// without a prefix are written at once, and tees still get every line as it
// comes. What is collected stays in memory up to GatherMemory in all (and
// GatherChunk per host); the rest goes to a temporary file in os.TempDir,
// removed from the directory as soon as it is created, so nothing is left
// behind whatever way the process ends.
func (p *Printer) Gather() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gather = &gatherStore{hosts: map[string]*gathered{}}
}

// How much of the gathered output stays in memory: each host's latest
// GatherChunk at most, and GatherMemory for all hosts together; the rest is in
// the spill file.
const (
	GatherChunk  = 64 << 10
	GatherMemory = 4 << 20
)

// gatherStore holds each host's output: its hash and length, which group
// hosts, and its bytes, in memory and in extents of the spill file.
type gatherStore struct {
	hosts map[string]*gathered
	spill *os.File // unlinked; nil until needed
	size  int64    // of spill
	mem   int      // bytes held in memory by all hosts
	err   error    // the first spill error; what it met is lost, and said so
}

type gathered struct {
	sum     hash.Hash
	n       int64
	extents []extent // the spilled output, in order, then buf
	buf     []byte
	open    bool // the last piece's line has not ended yet
}

type extent struct{ off, n int64 }

// add appends text, a line or a piece of one (cont: it continues the previous
// piece), to host's output.
func (g *gatherStore) add(host, text string, cont bool) {
	h := g.hosts[host]
	if h == nil {
		h = &gathered{sum: sha256.New()}
		g.hosts[host] = h
	}
	if h.open && !cont {
		g.append(h, "\n")
	}
	g.append(h, text)
	h.open = true
}

func (g *gatherStore) append(h *gathered, s string) {
	io.WriteString(h.sum, s)
	h.n += int64(len(s))
	h.buf = append(h.buf, s...)
	g.mem += len(s)
	if len(h.buf) >= GatherChunk {
		g.flush(h)
	}
	if g.mem > GatherMemory {
		for _, o := range g.hosts {
			g.flush(o)
		}
	}
}

// flush moves h's bytes in memory to the spill file.
func (g *gatherStore) flush(h *gathered) {
	if len(h.buf) == 0 {
		return
	}
	if g.spill == nil && g.err == nil {
		f, err := os.CreateTemp("", "grifork-gather-*")
		if err == nil {
			g.spill = f
			err = os.Remove(f.Name()) // the open file is all that is needed
		}
		if err != nil {
			g.err = fmt.Errorf("spill gathered output: %w", err)
		}
	}
	if g.err == nil {
		if _, err := g.spill.Write(h.buf); err != nil {
			g.err = fmt.Errorf("spill gathered output to %s: %w", os.TempDir(), err)
		}
	}
	if g.err == nil {
		h.extents = append(h.extents, extent{g.size, int64(len(h.buf))})
		g.size += int64(len(h.buf))
	}
	g.mem -= len(h.buf)
	h.buf = nil // its capacity too: a thousand hosts' idle buffers would add up
}

// writeTo writes h's output to w.
func (g *gatherStore) writeTo(w io.Writer, h *gathered) error {
	for _, e := range h.extents {
		if _, err := io.Copy(w, io.NewSectionReader(g.spill, e.off, e.n)); err != nil {
			return fmt.Errorf("read back gathered output: %w", err)
		}
	}
	_, err := w.Write(h.buf)
	return err
}

func (g *gatherStore) close() {
	if g.spill != nil {
		g.spill.Close()
	}
}

// Relay writes a line another grifork's Printer already formatted ("host |
// text", grifork mode): as it is, or, when gathering, collected under its host.
// The node that printed it cut it to MaxLine already.
func (p *Printer) Relay(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gather != nil {
		if host, text, cont, ok := parseLine(line); ok {
			p.piece(host, text, cont)
			return
		}
	}
	b := append(append(p.line[:0], p.red.String(line)...), '\n')
	for _, t := range p.tees {
		t.Write(b)
	}
	p.write(b)
}

// parseLine splits a line a Printer formatted into its prefix and text; cont:
// it continues the previous piece. A prefix (a host) has no space.
func parseLine(line string) (prefix, text string, cont, ok bool) {
	i := strings.IndexByte(line, ' ')
	if i <= 0 {
		return "", "", false, false
	}
	switch rest := line[i:]; {
	case strings.HasPrefix(rest, LineSep):
		return line[:i], rest[len(LineSep):], false, true
	case strings.HasPrefix(rest, ContinueSep):
		return line[:i], rest[len(ContinueSep):], true, true
	}
	return "", "", false, false
}

// WriteGathered writes what Gather collected, one group per distinct output,
// as clush -b does: a header with the folded node set of the hosts that printed
// exactly that and their count, then the output. Groups come in the order of
// their first host in order (the tree order); hosts not in order come last.
func (p *Printer) WriteGathered(w io.Writer, order []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.gather
	if g == nil {
		return nil
	}
	defer g.close()
	type key struct {
		sum [sha256.Size]byte
		n   int64
	}
	byOutput := map[key][]string{}
	for host, h := range g.hosts {
		if h.open {
			g.append(h, "\n")
			h.open = false
		}
		var k key
		h.sum.Sum(k.sum[:0])
		k.n = h.n
		byOutput[k] = append(byOutput[k], host)
	}
	rank := make(map[string]int, len(order))
	for i, h := range order {
		rank[h] = i
	}
	pos := func(h string) int {
		if r, ok := rank[h]; ok {
			return r
		}
		return len(order)
	}
	type group struct {
		out   *gathered
		hosts []string
		first int
	}
	var groups []group
	for _, hosts := range byOutput {
		g := group{out: g.hosts[hosts[0]], hosts: hosts, first: len(order) + 1}
		for _, h := range hosts {
			g.first = min(g.first, pos(h))
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(nodeset.Fold(a.hosts), nodeset.Fold(b.hosts)))
	})
	bw := bufio.NewWriterSize(w, GatherChunk)
	for _, gr := range groups {
		head := fmt.Sprintf("%s (%s)", nodeset.Fold(gr.hosts), number.Thousands(len(gr.hosts)))
		rule := strings.Repeat("-", min(len(head), 72))
		fmt.Fprintf(bw, "%s\n%s\n%s\n", rule, head, rule)
		if err := g.writeTo(bw, gr.out); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return g.err
}

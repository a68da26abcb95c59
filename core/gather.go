package core

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/grifork/grifork/nodeset"
)

// Gather makes p collect the lines of every prefix (host) instead of writing
// them; WriteGathered prints them at the end, grouped by identical output. Lines
// without a prefix are written at once, and tees still get every line as it comes.
func (p *Printer) Gather() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gather = map[string]*strings.Builder{}
}

// collect keeps line for prefix; p.mu is held.
func (p *Printer) collect(prefix, line string) {
	b := p.gather[prefix]
	if b == nil {
		b = &strings.Builder{}
		p.gather[prefix] = b
	}
	b.WriteString(line)
	b.WriteByte('\n')
	for _, t := range p.tees {
		io.WriteString(t, prefix+" | "+line+"\n")
	}
}

// Relay writes a line another grifork's Printer already formatted ("host |
// text", grifork mode): as it is, or, when gathering, collected under its host.
func (p *Printer) Relay(line string) {
	p.mu.Lock()
	gathering := p.gather != nil
	p.mu.Unlock()
	if host, text, ok := strings.Cut(line, " | "); gathering && ok {
		p.Line(host, text)
		return
	}
	p.Line("", line)
}

// WriteGathered writes what Gather collected, one group per distinct output,
// as clush -b does: a header with the folded node set of the hosts that printed
// exactly that and their count, then the output. Groups come in the order of
// their first host in order (the tree order); hosts not in order come last.
func (p *Printer) WriteGathered(w io.Writer, order []string) error {
	p.mu.Lock()
	byOutput := map[string][]string{}
	for host, b := range p.gather {
		byOutput[b.String()] = append(byOutput[b.String()], host)
	}
	p.mu.Unlock()
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
		out   string
		hosts []string
		first int
	}
	var groups []group
	for out, hosts := range byOutput {
		g := group{out: out, hosts: hosts, first: len(order) + 1}
		for _, h := range hosts {
			g.first = min(g.first, pos(h))
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(nodeset.Fold(a.hosts), nodeset.Fold(b.hosts)))
	})
	bw := bufio.NewWriter(w)
	for _, g := range groups {
		head := fmt.Sprintf("%s (%s)", nodeset.Fold(g.hosts), Thousands(len(g.hosts)))
		rule := strings.Repeat("-", min(len(head), 72))
		fmt.Fprintf(bw, "%s\n%s\n%s\n%s", rule, head, rule, g.out)
	}
	return bw.Flush()
}

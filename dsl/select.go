package dsl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/groups"
)

// Selection is the host selection of the command line (-H, -x, -b): it replaces
// or narrows what a Griforkfile set.
type Selection struct {
	Hosts    []string // node sets that replace the Griforkfile's hosts; none keeps them
	Exclude  []string // node sets of hosts to leave out
	Branches int      // replaces branches when > 0
}

// Apply changes c as the selection says, with the node groups of g (nil:
// groups are errors). An entry of Exclude matches a host by its name or by
// the host entry as written ("deploy@web1:2222"). With -H, the notes of the
// hosts it chose replace selected's.
func (s Selection) Apply(ctx context.Context, c *core.Config, g *groups.Resolver, selected map[string]string) error {
	if len(s.Hosts) > 0 {
		clear(selected)
		hosts, err := nodeSets(&expander{ctx: ctx, groups: g, notes: selected}, s.Hosts)
		if err != nil {
			return fmt.Errorf("-H: %w", err)
		}
		c.Hosts = hosts
	}
	if len(s.Exclude) > 0 {
		out, err := nodeSets(&expander{ctx: ctx, groups: g}, s.Exclude)
		if err != nil {
			return fmt.Errorf("-x: %w", err)
		}
		drop := map[string]bool{}
		for _, h := range out {
			drop[h.String()] = true
			drop[h.Name] = true
		}
		var kept []core.Host
		for _, h := range c.Hosts {
			if !drop[h.Name] && !drop[h.String()] {
				kept = append(kept, h)
			}
		}
		if len(kept) == 0 && len(c.Hosts) > 0 {
			return errors.New("-x leaves no host to run on")
		}
		c.Hosts = kept
	}
	if s.Branches < 0 {
		return fmt.Errorf("-b: branches must be >= 1, got %d", s.Branches)
	}
	if s.Branches > 0 {
		c.Branches = s.Branches
	}
	return nil
}

// nodeSets expands node sets given on the command line into hosts; it is the one
// place the CLI reaches the node-set parser.
func nodeSets(x *expander, sets []string) ([]core.Host, error) {
	hosts, err := x.hosts(sets)
	if err != nil {
		// On the command line the flag names the list, not the directive.
		return nil, errors.New(strings.TrimPrefix(err.Error(), "hosts: "))
	}
	return hosts, nil
}

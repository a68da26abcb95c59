package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/groups"
	"github.com/grifork/grifork/inventory"
)

// dslOptions are the options every Griforkfile of this process loads with:
// its node groups (ClusterShell's configuration and the inventories), or, on
// a grifork-mode node, none (its tree comes from its parent).
func (e *env) dslOptions(printer *output.Printer, logger *slog.Logger) dsl.Options {
	o := dsl.Options{Printer: printer, Logger: logger, SkipHosts: e.onNode, HostsGiven: e.hostsGiven}
	if !e.onNode {
		if e.sources == nil {
			e.sources = &groupSources{}
		}
		o.Groups = e.sources.resolver
	}
	return o
}

// groupSources builds the node group sources once per process for each set
// of inventory files: ClusterShell's configuration from its usual places,
// and the inventories of --inventory and of the Griforkfile's inventory
// directive, merged, as the default source "inventory". A dynamic inventory
// thus runs once, however many Griforkfiles a command loads.
type groupSources struct {
	flags []string // --inventory

	mu    sync.Mutex
	built map[string]*groups.Resolver
}

func (g *groupSources) resolver(ctx context.Context, directive []string) (*groups.Resolver, error) {
	files := append(slices.Clone(directive), g.flags...)
	key := fmt.Sprintf("%q", files)
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.built[key]; ok {
		return r, nil
	}
	home, _ := os.UserHomeDir()
	r := groups.New(groups.ConfigPaths(os.LookupEnv, home), groups.DefaultUpcallTimeout)
	if len(files) > 0 {
		inv, err := inventory.Load(ctx, files)
		if err != nil {
			return nil, err
		}
		r.Add(inventorySource, inv)
	}
	if g.built == nil {
		g.built = map[string]*groups.Resolver{}
	}
	g.built[key] = r
	return r, nil
}

// inventorySource is the name of the inventories' group source: @web is
// @inventory:web when an inventory is given.
const inventorySource = "inventory"

// writeSelected lists, after the tree or the plan, the hosts that a node
// group or an inventory chose or set up, and where their address, user and
// port came from.
func (s *loaded) writeSelected(w io.Writer, tree *core.Tree) error {
	if len(s.script.Selected) == 0 {
		return nil
	}
	var lines []string
	tree.Walk(func(n *core.Node) {
		if note, ok := s.script.Selected[n.Host.String()]; ok {
			lines = append(lines, fmt.Sprintf("  %s  <-  %s", n.Host.String(), note))
		}
	})
	if len(lines) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nhosts from node groups and inventories:"); err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// Package groups resolves node groups ("@web", "@source:group", "@*") from
// the places operators already keep them: ClusterShell's group sources
// (groups.conf, its upcalls and YAML files) and Ansible inventories, which
// another package reads and which plug in here as a source.
package groups

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/inventory"
	"github.com/grifork/grifork/nodeset"
)

// Source is one group source: a namespace of groups. Its methods may block
// (an upcall runs a command) and are called from one goroutine at a time.
type Source interface {
	// Nodes returns the node sets of group; an unknown group is an error
	// that names it.
	Nodes(ctx context.Context, group string) ([]string, error)
	// All returns every node of the source; errNoMethod when it cannot tell.
	All(ctx context.Context) ([]string, error)
	// Groups returns the group names; errNoMethod when it cannot tell.
	Groups(ctx context.Context) ([]string, error)
}

// errNoMethod says a source has no way to answer (ClusterShell's
// GroupSourceNoUpcall): "@*" then falls back on every group's nodes.
var errNoMethod = errors.New("no upcall for this")

// Connector is a source that knows how to reach its hosts (an inventory).
type Connector interface {
	Host(name string) (inventory.Conn, bool, error)
}

// Resolver resolves groups from its sources: ClusterShell's, read once when a
// group is first asked for, and the sources given (inventories), the first of
// which becomes the default.
type Resolver struct {
	paths   []string // groups.conf files, lowest precedence first
	extra   []named
	timeout Timeout

	once     sync.Once
	loadErr  error
	sources  map[string]Source
	order    []string // source names in the order they were defined
	def      string
	describe string // where the ClusterShell configuration was looked for
}

type named struct {
	name string
	src  Source
}

// Timeout bounds each upcall; zero means DefaultUpcallTimeout.
type Timeout time.Duration

// New returns a resolver over the groups.conf files at paths (see
// ConfigPaths), read when a group is first asked for, each upcall bounded by t.
func New(paths []string, t Timeout) *Resolver {
	return &Resolver{paths: paths, timeout: t}
}

// Add adds a source named name. The first source added becomes the default
// source; the others are reached as @name:group. Call it before any lookup.
func (r *Resolver) Add(name string, src Source) {
	r.extra = append(r.extra, named{name, src})
}

func (r *Resolver) load() error {
	r.once.Do(func() {
		r.sources = map[string]Source{}
		cs, err := loadClusterShell(r.paths, r.timeout)
		if err != nil {
			r.loadErr = err
			return
		}
		r.describe = cs.describe
		for _, n := range r.extra {
			if _, dup := r.sources[n.name]; dup {
				r.loadErr = fmt.Errorf("group source %q is given twice", n.name)
				return
			}
			r.sources[n.name] = n.src
			r.order = append(r.order, n.name)
		}
		for _, n := range cs.sources {
			if _, dup := r.sources[n.name]; dup {
				r.loadErr = fmt.Errorf("group source %q of %s has the name of an inventory source", n.name, cs.describe)
				return
			}
			r.sources[n.name] = n.src
			r.order = append(r.order, n.name)
		}
		switch {
		case len(r.extra) > 0:
			r.def = r.extra[0].name
		default:
			r.def = cs.def
		}
	})
	return r.loadErr
}

// Sources returns the names of the sources, the default first.
func (r *Resolver) Sources() ([]string, error) {
	if err := r.load(); err != nil {
		return nil, err
	}
	out := []string{}
	if r.def != "" {
		out = append(out, r.def)
	}
	for _, n := range r.order {
		if n != r.def {
			out = append(out, n)
		}
	}
	return out, nil
}

func (r *Resolver) source(name string) (string, Source, error) {
	if err := r.load(); err != nil {
		return "", nil, err
	}
	if name == "" {
		if r.def == "" {
			return "", nil, fmt.Errorf("no group source: give an inventory, or define groups in groups.conf (%s)", r.describe)
		}
		name = r.def
	}
	s, ok := r.sources[name]
	if !ok {
		names := slices.Clone(r.order)
		slices.Sort(names)
		known := "there is none"
		if len(names) > 0 {
			known = "known: " + strings.Join(names, ", ")
		}
		return "", nil, fmt.Errorf("unknown group source %q (%s)", name, known)
	}
	return name, s, nil
}

// Conn returns how to reach host name when an inventory among the given
// sources knows it (the default source first). It reads no ClusterShell
// configuration: a run that names no group never depends on one.
func (r *Resolver) Conn(name string) (inventory.Conn, bool, error) {
	for _, n := range r.extra {
		if c, ok := n.src.(Connector); ok {
			if conn, ok, err := c.Host(name); ok || err != nil {
				return conn, ok, err
			}
		}
	}
	return inventory.Conn{}, false, nil
}

// With returns the resolver as nodeset.ExpandWith wants it, its upcalls
// bound to ctx.
func (r *Resolver) With(ctx context.Context) nodeset.Resolver {
	return bound{r: r, ctx: ctx}
}

type bound struct {
	r   *Resolver
	ctx context.Context
}

func (b bound) Nodes(source, group string) ([]string, error) {
	name, s, err := b.r.source(source)
	if err != nil {
		return nil, err
	}
	nodes, err := s.Nodes(b.ctx, group)
	if err != nil {
		return nil, fmt.Errorf("group source %q: %w", name, err)
	}
	return nodes, nil
}

func (b bound) Groups(source string) ([]string, error) {
	name, s, err := b.r.source(source)
	if err != nil {
		return nil, err
	}
	list, err := s.Groups(b.ctx)
	if errors.Is(err, errNoMethod) {
		return nil, fmt.Errorf("group source %q cannot list its groups (no list upcall)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("group source %q: %w", name, err)
	}
	return list, nil
}

// All is "@*": the source's all method, or else the nodes of every group it
// lists, as ClusterShell falls back.
func (b bound) All(source string) ([]string, error) {
	name, s, err := b.r.source(source)
	if err != nil {
		return nil, err
	}
	all, err := s.All(b.ctx)
	if err == nil {
		return all, nil
	}
	if !errors.Is(err, errNoMethod) {
		return nil, fmt.Errorf("group source %q: %w", name, err)
	}
	list, err := s.Groups(b.ctx)
	if errors.Is(err, errNoMethod) {
		return nil, fmt.Errorf("group source %q cannot tell all its nodes (it has neither an all upcall nor a list upcall)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("group source %q: %w", name, err)
	}
	groups, err := nodeset.Expand(strings.Join(list, ","))
	if err != nil {
		return nil, fmt.Errorf("group source %q: its group list: %w", name, err)
	}
	var out []string
	for _, g := range groups {
		nodes, err := s.Nodes(b.ctx, g)
		if err != nil {
			return nil, fmt.Errorf("group source %q: %w", name, err)
		}
		out = append(out, nodes...)
	}
	return out, nil
}

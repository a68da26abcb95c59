// Package inventory reads Ansible inventories (INI, YAML, and dynamic ones:
// an executable printing JSON) into hosts, groups and the connection
// variables ansible_host, ansible_port and ansible_user, as Ansible's
// inventory plugins do. It answers as a node group source.
package inventory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
)

// value is one variable's value and where it was set ("hosts.ini:12").
type value struct {
	v      any
	origin string
}

type host struct {
	name string
	vars map[string]value
}

type group struct {
	name     string
	hosts    []string // in the order they were added
	has      map[string]bool
	children []string
	parents  []string
	vars     map[string]value
	depth    int
}

// Inventory is the hosts and groups of one or more inventory files, merged
// in order as ansible -i A -i B merges them.
type Inventory struct {
	// memberOf is each host's groups, its direct ones and their ancestors
	// (set by reconcile).
	memberOf   map[string][]*group
	hosts      map[string]*host
	hostOrder  []string
	groups     map[string]*group
	groupOrder []string
	files      []string
}

func newInventory() *Inventory {
	inv := &Inventory{hosts: map[string]*host{}, groups: map[string]*group{}}
	inv.group("all")
	inv.group("ungrouped")
	inv.addChild("all", "ungrouped")
	return inv
}

// Load reads the inventory files in order. An executable file is a dynamic
// inventory: it runs once, with --list, bounded by ctx.
func Load(ctx context.Context, files []string) (*Inventory, error) {
	inv := newInventory()
	for _, f := range files {
		if err := inv.read(ctx, f); err != nil {
			return nil, err
		}
		inv.files = append(inv.files, f)
	}
	inv.reconcile()
	return inv, nil
}

func (inv *Inventory) read(ctx context.Context, file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("inventory: %s is a directory: give its files", file)
	}
	if fi.Mode()&0o111 != 0 {
		return inv.readScript(ctx, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yml", ".yaml", ".json":
		return inv.readYAML(file, b)
	}
	return inv.readINI(file, bytes.NewReader(b))
}

func (inv *Inventory) group(name string) *group {
	g, ok := inv.groups[name]
	if !ok {
		g = &group{name: name, vars: map[string]value{}, has: map[string]bool{}}
		inv.groups[name] = g
		inv.groupOrder = append(inv.groupOrder, name)
	}
	return g
}

func (inv *Inventory) host(name string) *host {
	h, ok := inv.hosts[name]
	if !ok {
		h = &host{name: name, vars: map[string]value{}}
		inv.hosts[name] = h
		inv.hostOrder = append(inv.hostOrder, name)
	}
	return h
}

// addHost puts host name into group g (once).
func (inv *Inventory) addHost(g, name string) {
	inv.host(name)
	grp := inv.group(g)
	if !grp.has[name] {
		grp.has[name] = true
		grp.hosts = append(grp.hosts, name)
	}
}

func (inv *Inventory) addChild(parent, child string) error {
	if parent == child {
		return fmt.Errorf("group %q cannot be its own child", child)
	}
	p, c := inv.group(parent), inv.group(child)
	if inv.ancestors(parent)[child] {
		return fmt.Errorf("group %q cannot be a child of %q: it is already one of its parents", child, parent)
	}
	if !slices.Contains(p.children, child) {
		p.children = append(p.children, child)
		c.parents = append(c.parents, parent)
	}
	return nil
}

func (inv *Inventory) ancestors(name string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, p := range inv.groups[n].parents {
			if !out[p] {
				out[p] = true
				walk(p)
			}
		}
	}
	walk(name)
	return out
}

// reconcile does what Ansible's InventoryData.reconcile_inventory does: every
// group without a parent becomes a child of all, and the hosts of no group
// but all are ungrouped.
func (inv *Inventory) reconcile() {
	for _, name := range inv.groupOrder {
		if name != "all" && len(inv.groups[name].parents) == 0 {
			inv.addChild("all", name)
		}
	}
	inv.setDepth("all", 0)
	member := map[string]int{}
	for _, name := range inv.groupOrder {
		if name == "all" || name == "ungrouped" {
			continue
		}
		for _, h := range inv.groups[name].hosts {
			member[h]++
		}
	}
	ungrouped := inv.groups["ungrouped"]
	ungrouped.hosts = slices.DeleteFunc(ungrouped.hosts, func(h string) bool { return member[h] > 0 })
	listed := map[string]bool{}
	for _, h := range ungrouped.hosts {
		listed[h] = true
	}
	for _, h := range inv.hostOrder {
		if member[h] == 0 && !listed[h] {
			ungrouped.hosts = append(ungrouped.hosts, h)
		}
	}
	inv.memberOf = map[string][]*group{}
	for _, name := range inv.groupOrder {
		up := inv.ancestors(name)
		for _, h := range inv.groups[name].hosts {
			for a := range up {
				inv.memberOf[h] = appendOnce(inv.memberOf[h], inv.groups[a])
			}
			inv.memberOf[h] = appendOnce(inv.memberOf[h], inv.groups[name])
		}
	}
}

func appendOnce(gs []*group, g *group) []*group {
	if slices.Contains(gs, g) {
		return gs
	}
	return append(gs, g)
}

func (inv *Inventory) setDepth(name string, d int) {
	g := inv.groups[name]
	if d < g.depth {
		return
	}
	g.depth = d
	for _, c := range g.children {
		inv.setDepth(c, d+1)
	}
}

// members returns the hosts of group name and of its descendants, each once,
// in the order the group and then its children hold them.
func (inv *Inventory) members(name string) []string {
	if name == "all" {
		return slices.Clone(inv.hostOrder)
	}
	seen := map[string]bool{}
	var out []string
	var walk func(string)
	walk = func(n string) {
		g := inv.groups[n]
		for _, h := range g.hosts {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
		for _, c := range g.children {
			walk(c)
		}
	}
	walk(name)
	return out
}

// Nodes returns the hosts of group (with its child groups'): a node group.
func (inv *Inventory) Nodes(_ context.Context, grp string) ([]string, error) {
	if _, ok := inv.groups[grp]; !ok {
		return nil, fmt.Errorf("unknown group %q (not in the inventory %s)", grp, strings.Join(inv.files, ", "))
	}
	return inv.members(grp), nil
}

// All returns every host.
func (inv *Inventory) All(context.Context) ([]string, error) { return slices.Clone(inv.hostOrder), nil }

// Groups returns the group names, all and ungrouped included.
func (inv *Inventory) Groups(context.Context) ([]string, error) {
	return slices.Clone(inv.groupOrder), nil
}

// Graph writes the inventory as ansible-inventory --graph does.
func (inv *Inventory) Graph(w io.Writer) error {
	var b strings.Builder
	var walk func(name string, depth int)
	walk = func(name string, depth int) {
		indent := func(d int) string {
			if d == 0 {
				return ""
			}
			return strings.Repeat("  |", d) + "--"
		}
		b.WriteString(indent(depth) + "@" + name + ":\n")
		g := inv.groups[name]
		for _, c := range g.children {
			walk(c, depth+1)
		}
		if name != "all" {
			for _, h := range g.hosts {
				b.WriteString(indent(depth+1) + h + "\n")
			}
		}
	}
	walk("all", 0)
	_, err := io.WriteString(w, b.String())
	return err
}

// Connection variables: the ones grifork applies.
const (
	varHost = "ansible_host"
	varPort = "ansible_port"
	varUser = "ansible_user"
)

// Conn is how to reach one host: its address, port and user (zero when the
// inventory sets none) and a line per setting saying where it came from.
type Conn struct {
	Addr    string
	User    string
	Port    int
	Origins []string
}

// Host returns how to reach host name: its connection variables after
// Ansible's precedence (all's, then each group's by depth and name, then the
// host's own).
func (inv *Inventory) Host(name string) (Conn, bool, error) {
	h, ok := inv.hosts[name]
	if !ok {
		return Conn{}, false, nil
	}
	vars := inv.vars(h)
	var c Conn
	for _, k := range []string{varHost, varUser, varPort} {
		v, ok := vars[k]
		if !ok {
			continue
		}
		s := fmt.Sprint(v.v)
		if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
			return c, true, fmt.Errorf("host %s: %s %q (%s) is a template: grifork reads plain values only", name, k, s, v.origin)
		}
		switch k {
		case varHost:
			c.Addr = s
		case varUser:
			c.User = s
		case varPort:
			p, err := strconv.Atoi(s)
			if err != nil || !core.PortRange.Contains(p) {
				return c, true, fmt.Errorf("host %s: %s %q (%s) is not a port", name, k, s, v.origin)
			}
			c.Port = p
		}
		c.Origins = append(c.Origins, fmt.Sprintf("%s=%s from %s", k, s, v.origin))
	}
	return c, true, nil
}

// vars merges the variables of host h in Ansible's order.
func (inv *Inventory) vars(h *host) map[string]value {
	groups := slices.Clone(inv.memberOf[h.name])
	if !slices.Contains(groups, inv.groups["all"]) {
		groups = append(groups, inv.groups["all"])
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		return strings.Compare(a.name, b.name)
	})
	out := map[string]value{}
	for _, g := range groups {
		for k, v := range g.vars {
			out[k] = v
		}
	}
	for k, v := range h.vars {
		out[k] = v
	}
	return out
}

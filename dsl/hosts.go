package dsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/nodeset"
)

// expandHosts expands the entries of the hosts directive, entries in order,
// each entry a node set in ClusterShell's order, and parses each host. An
// entry with no host and a host listed twice (same name and port, whatever the
// user) are errors; an empty list is checked after the override merge (see
// Script.load).
func expandHosts(entries []string) ([]core.Host, error) {
	type origin struct {
		entry int
		name  string
	}
	seen := map[string]origin{}
	var hosts []core.Host
	for i, e := range entries {
		names, err := expandEntry(e)
		if err != nil {
			return nil, fmt.Errorf("hosts: entry %d %q: %w", i+1, e, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("hosts: entry %d %q holds no host", i+1, e)
		}
		for _, name := range names {
			h, err := core.ParseHost(name)
			if err != nil {
				return nil, fmt.Errorf("hosts: entry %d: %w", i+1, err)
			}
			key := h.Name + "#" + strconv.Itoa(h.Port)
			if o, dup := seen[key]; dup {
				if o.entry == i+1 {
					return nil, fmt.Errorf("hosts: %q and %q are the same host in entry %d %q", o.name, name, i+1, e)
				}
				return nil, fmt.Errorf("hosts: %q is listed twice: entry %d %q and entry %d %q",
					name, o.entry, entries[o.entry-1], i+1, e)
			}
			seen[key] = origin{entry: i + 1, name: name}
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// expandEntry expands one entry. An IPv6 address in brackets ("[fe80::1]:22",
// "deploy@[2001:db8::1]") is one host, kept as written: ClusterShell has no
// such syntax and would read the brackets as a range.
func expandEntry(e string) ([]string, error) {
	addr := strings.TrimSpace(e)
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		addr = addr[i+1:]
	}
	if inside, after, ok := strings.Cut(strings.TrimPrefix(addr, "["), "]"); ok &&
		strings.HasPrefix(addr, "[") && strings.Contains(inside, ":") && !strings.ContainsAny(after, "[],") {
		return []string{strings.TrimSpace(e)}, nil
	}
	return nodeset.Expand(e)
}

package dsl

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/groups"
	"github.com/grifork/grifork/nodeset"
)

// expandHosts expands entries with no node group source.
func expandHosts(entries []string) ([]core.Host, error) {
	return (&expander{}).hosts(entries)
}

// expander turns host entries into hosts: node sets, node groups of its
// resolver, and the connection settings an inventory gives a host.
type expander struct {
	ctx    context.Context
	groups *groups.Resolver // nil: node groups are errors
	// notes, when set, gets a line per host that a group or an inventory
	// chose or set up: where it came from.
	notes map[string]string
}

// hosts expands the entries of the hosts directive, entries in order,
// each entry a node set in ClusterShell's order, and parses each host. An
// entry with no host and a host listed twice (same name and port, whatever the
// user) are errors; an empty list is checked after the override merge (see
// Script.load).
func (x *expander) hosts(entries []string) ([]core.Host, error) {
	type origin struct {
		entry int
		name  string
	}
	var seen map[string]origin
	var hosts []core.Host
	for i, e := range entries {
		names, err := x.entry(e)
		if err != nil {
			return nil, fmt.Errorf("hosts: entry %d %q: %w", i+1, e, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("hosts: entry %d %q holds no host", i+1, e)
		}
		// Made at the first entry's size and grown an entry at a time: growing
		// them a host at a time was a tenth of a dry run of 100,000 hosts.
		if seen == nil {
			seen = make(map[string]origin, len(names))
		}
		hosts = slices.Grow(hosts, len(names))
		grouped := x.groups != nil && usesGroups.MatchString(e) // once per entry, not per host
		for _, name := range names {
			h, err := core.ParseHost(name)
			if err != nil {
				return nil, fmt.Errorf("hosts: entry %d: %w", i+1, err)
			}
			if h, err = x.connect(h, e, grouped); err != nil {
				return nil, fmt.Errorf("hosts: entry %d %q: %w", i+1, e, err)
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

// connect applies what an inventory says about reaching h (its address,
// user and port), except what the entry itself sets, and notes where h came
// from when a group or an inventory had a part in it (grouped: the entry
// names a group or a wildcard, see usesGroups).
func (x *expander) connect(h core.Host, entry string, grouped bool) (core.Host, error) {
	if x.groups == nil {
		return h, nil
	}
	conn, ok, err := x.groups.Conn(h.Name)
	if err != nil {
		return h, err
	}
	if !ok && !grouped {
		return h, nil
	}
	name := h.Name
	var how []string
	if ok {
		if conn.Addr != "" {
			h.Name = conn.Addr
		}
		if h.User == "" {
			h.User = conn.User
		}
		if h.Port == 0 {
			h.Port = conn.Port
		}
		how = conn.Origins
		// The inventory's values pass the checks of a host entry's own
		// (no "-" first, no shell characters): they reach ssh and rsync.
		checked, err := core.ParseHost(h.String())
		if err != nil || checked != h {
			return h, fmt.Errorf("%s: the inventory's settings make an invalid host (%s): %w", name, strings.Join(how, "; "), err)
		}
	}
	note := fmt.Sprintf("%s: selected by %q", name, strings.TrimSpace(entry))
	if ok {
		note += ", an inventory host"
	}
	if len(how) > 0 {
		note += "; " + strings.Join(how, "; ")
	}
	if x.notes != nil {
		x.notes[h.String()] = note
	}
	return h, nil
}

// usesGroups matches an entry that names a node group or a wildcard: "@" at
// the start of an operand ("deploy@web1" is a user), "*" or "?".
var usesGroups = regexp.MustCompile(`(?:^|[,!&^])\s*@|[*?]`)

// entry expands one entry. An IPv6 address in brackets ("[fe80::1]:22",
// "deploy@[2001:db8::1]") is one host, kept as written: ClusterShell has no
// such syntax and would read the brackets as a range.
func (x *expander) entry(e string) ([]string, error) {
	addr := strings.TrimSpace(e)
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		addr = addr[i+1:]
	}
	if inside, after, ok := strings.Cut(strings.TrimPrefix(addr, "["), "]"); ok &&
		strings.HasPrefix(addr, "[") && strings.Contains(inside, ":") && !strings.ContainsAny(after, "[],") {
		return []string{strings.TrimSpace(e)}, nil
	}
	if names, ok := simpleRange(e); ok {
		return names, nil
	}
	if x.groups == nil {
		return nodeset.Expand(e)
	}
	return nodeset.ExpandWith(e, x.groups.With(x.ctx))
}

// simpleRange expands the most common entry, "prefix[a-b]suffix" with plain
// names around one range of unpadded numbers, to prefix + each number +
// suffix in order: what nodeset.Expand gives, at a fraction of its cost for
// 100,000 hosts (it builds a set of the names and sorts them back). ok is
// false for any other entry.
func simpleRange(e string) (names []string, ok bool) {
	prefix, rest, ok := strings.Cut(e, "[")
	if !ok {
		return nil, false
	}
	inside, suffix, ok := strings.Cut(rest, "]")
	if !ok || prefix == "" || !plainName(prefix) || !plainName(suffix) || isDigit(prefix[len(prefix)-1]) ||
		(suffix != "" && isDigit(suffix[0])) {
		return nil, false
	}
	lo, hi, ok := strings.Cut(inside, "-")
	if !ok || !unpadded(lo) || !unpadded(hi) {
		return nil, false
	}
	a, errA := strconv.Atoi(lo)
	b, errB := strconv.Atoi(hi)
	if errA != nil || errB != nil || a > b || b-a >= nodeset.Limit {
		return nil, false
	}
	names = make([]string, 0, b-a+1)
	buf := []byte(prefix)
	for i := a; i <= b; i++ {
		buf = strconv.AppendInt(buf[:len(prefix)], int64(i), 10)
		names = append(names, string(append(buf, suffix...)))
	}
	return names, true
}

// plainName says s is letters, digits, '.', '-' and '_' only.
func plainName(s string) bool {
	for i := range len(s) {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// unpadded says s is a number without leading zeros, of at most 9 digits.
func unpadded(s string) bool {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

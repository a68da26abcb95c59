package dsl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
)

// maxExpansion bounds what one host entry may expand to, so that a typo such as
// "web[1-10000000]" is an error rather than an exhausted machine.
const maxExpansion = 100000

// expandHosts expands the entries of the hosts directive, in order, and parses
// each host. A host listed twice (same name and port, whatever the user) is an
// error; an empty list is checked after the override merge (see Script.load).
func expandHosts(entries []string) ([]core.Host, error) {
	type origin struct {
		entry int
		name  string
	}
	seen := map[string]origin{}
	var hosts []core.Host
	for i, e := range entries {
		names, err := expandNodeSet(e)
		if err != nil {
			return nil, fmt.Errorf("hosts: entry %d %q: %w", i+1, e, err)
		}
		for _, name := range names {
			h, err := core.ParseHost(name)
			if err != nil {
				return nil, fmt.Errorf("hosts: entry %d: %w", i+1, err)
			}
			key := h.Name + "#" + strconv.Itoa(h.Port)
			if o, dup := seen[key]; dup {
				if o.entry == i+1 {
					return nil, fmt.Errorf("hosts: %q appears twice in entry %d %q", name, i+1, e)
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

// expandNodeSet expands a node set as ClusterShell writes it: bracket groups of
// numbers and ranges ("web[01-12]" keeps the zero padding, "db[1-3,7]", a step
// as in "[1-9/2]"), several groups giving their product in order (the first
// group varies slowest), and comma-separated sets ("web[1-2],db1"). A bracket
// holding a ':' is an IPv6 address ("[fe80::1]:22") and stays as written.
func expandNodeSet(s string) ([]string, error) {
	var out []string
	for _, part := range splitTop(s) {
		if part == "" {
			return nil, errors.New("empty name between commas")
		}
		names := []string{""}
		rest := part
		for rest != "" {
			open := strings.IndexAny(rest, "[]")
			if open < 0 {
				names = product(names, []string{rest})
				break
			}
			if rest[open] == ']' {
				return nil, errors.New("] without [")
			}
			end := strings.IndexAny(rest[open+1:], "[]")
			if end < 0 || rest[open+1+end] == '[' {
				return nil, errors.New("[ without ]")
			}
			end += open + 1
			group := rest[open+1 : end]
			values := []string{rest[open : end+1]} // an IPv6 address, kept
			if !strings.Contains(group, ":") {
				var err error
				if values, err = expandRanges(group); err != nil {
					return nil, err
				}
			}
			names = product(names, []string{rest[:open]})
			names = product(names, values)
			if len(names) > maxExpansion {
				return nil, fmt.Errorf("expands to more than %d names", maxExpansion)
			}
			rest = rest[end+1:]
		}
		out = append(out, names...)
		if len(out) > maxExpansion {
			return nil, fmt.Errorf("expands to more than %d names", maxExpansion)
		}
	}
	return out, nil
}

// splitTop splits s at the commas outside brackets.
func splitTop(s string) []string {
	var parts []string
	depth, from := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[from:i])
				from = i + 1
			}
		}
	}
	return append(parts, s[from:])
}

func product(prefixes, suffixes []string) []string {
	out := make([]string, 0, len(prefixes)*len(suffixes))
	for _, p := range prefixes {
		for _, s := range suffixes {
			out = append(out, p+s)
		}
	}
	return out
}

// expandRanges expands the inside of one bracket group: "01-03,7,10-20/5".
func expandRanges(group string) ([]string, error) {
	if group == "" {
		return nil, errors.New("empty []")
	}
	var out []string
	for _, item := range strings.Split(group, ",") {
		bad := fmt.Errorf("invalid range %q in [%s]: write numbers and ranges such as [1-3,7] or [01-12/2]", item, group)
		rng, stepText, hasStep := strings.Cut(item, "/")
		loText, hiText, isRange := strings.Cut(rng, "-")
		if !isRange {
			hiText = loText
		}
		lo, err1 := strconv.Atoi(loText)
		hi, err2 := strconv.Atoi(hiText)
		step := 1
		var err3 error
		if hasStep {
			step, err3 = strconv.Atoi(stepText)
		}
		if err1 != nil || err2 != nil || err3 != nil || !digits(loText) || !digits(hiText) ||
			hasStep && (!isRange || step < 1) {
			return nil, bad
		}
		if hi < lo {
			return nil, fmt.Errorf("range %q in [%s] goes down", item, group)
		}
		if (hi-lo)/step >= maxExpansion {
			return nil, fmt.Errorf("expands to more than %d names", maxExpansion)
		}
		width := 0
		if len(loText) > 1 && loText[0] == '0' {
			width = len(loText)
		}
		for n := lo; n <= hi; n += step {
			out = append(out, fmt.Sprintf("%0*d", width, n))
		}
	}
	return out, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

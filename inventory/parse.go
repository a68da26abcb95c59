package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/proc"
	"github.com/grifork/grifork/internal/shlex"
	"go.yaml.in/yaml/v3"
)

// sectionRE is the INI plugin's section header: [group], [group:vars],
// [group:children], with an optional comment after it.
var sectionRE = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)

// readINI reads an INI inventory as Ansible's ini plugin does.
func (inv *Inventory) readINI(file string, r io.Reader) error {
	grp, state := "ungrouped", "hosts"
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, n)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("inventory: %s: %s", where, fmt.Sprintf(format, args...))
		}
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			grp, state = m[1], m[2]
			switch state {
			case "":
				state = "hosts"
			case "vars", "children":
			default:
				return fail("section suffix %q is not one of :vars, :children", state)
			}
			inv.group(grp)
			continue
		}
		if strings.HasPrefix(line, "[") {
			return fail("invalid section entry %q: group names hold no space or colon", line)
		}
		switch state {
		case "hosts":
			tokens, err := shlex.Split(line, true)
			if err != nil {
				return fail("%v", err)
			}
			if len(tokens) == 0 {
				continue
			}
			names, port, err := expandPattern(tokens[0])
			if err != nil {
				return fail("%v", err)
			}
			vars := map[string]value{}
			for _, t := range tokens[1:] {
				k, v, ok := strings.Cut(t, "=")
				if !ok {
					return fail("expected key=value host variable assignment, got: %s", t)
				}
				vars[k] = value{v, where + " (host var)"}
			}
			for _, name := range names {
				inv.addHost(grp, name)
				h := inv.hosts[name]
				if port != "" {
					h.vars[varPort] = value{port, where + " (host:port)"}
				}
				for k, v := range vars {
					h.vars[k] = v
				}
			}
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return fail("expected key=value, got: %s", line)
			}
			inv.groups[grp].vars[strings.TrimSpace(k)] = value{unquote(strings.TrimSpace(v)), fmt.Sprintf("%s ([%s:vars])", where, grp)}
		case "children":
			child := line
			if i := strings.Index(child, "#"); i >= 0 {
				child = strings.TrimSpace(child[:i])
			}
			if strings.ContainsAny(child, " \t[]:") {
				return fail("%q is not a group name", child)
			}
			if err := inv.addChild(grp, child); err != nil {
				return fail("%v", err)
			}
		}
	}
	return sc.Err()
}

// unquote reads a quoted value as Python's literal_eval does for a string.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// expandPattern reads a host pattern: "name", "name:port", "[v6]:port",
// and the ranges "web[01:50]", "db-[a:f]", "n[1:9:2]".
func expandPattern(p string) (names []string, port string, err error) {
	host := p
	if strings.HasPrefix(p, "[") && strings.Contains(p, "]:") {
		i := strings.LastIndex(p, "]:")
		host, port = p[1:i], p[i+2:]
	} else if i := strings.LastIndex(p, ":"); i >= 0 && !strings.Contains(p[i:], "]") && strings.Count(outsideBrackets(p), ":") == 1 {
		host, port = p[:i], p[i+1:]
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || !core.PortRange.Contains(n) {
			return nil, "", fmt.Errorf("host %q: invalid port %q", p, port)
		}
	}
	if host == "" {
		return nil, "", fmt.Errorf("host %q: empty name", p)
	}
	names, err = expandRange(host)
	return names, port, err
}

func outsideBrackets(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// maxRange bounds one host range, so a typo is an error, not a machine
// filled with names.
const maxRange = 100000

// expandRange expands the first [begin:end(:step)] of name, then the rest,
// as Ansible's expand_hostname_range does.
func expandRange(name string) ([]string, error) {
	open := strings.Index(name, "[")
	if open < 0 {
		return []string{name}, nil
	}
	end := strings.Index(name[open:], "]")
	if end < 0 {
		return nil, fmt.Errorf("host %q: [ without ]", name)
	}
	head, rng, tail := name[:open], name[open+1:open+end], name[open+end+1:]
	bounds := strings.Split(rng, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host %q: a host range must be begin:end or begin:end:step", name)
	}
	beg, last, step := bounds[0], bounds[1], 1
	if len(bounds) == 3 {
		s, err := strconv.Atoi(bounds[2])
		if err != nil || s < 1 {
			return nil, fmt.Errorf("host %q: step %q must be a number >= 1", name, bounds[2])
		}
		step = s
	}
	if beg == "" {
		beg = "0"
	}
	if last == "" {
		return nil, fmt.Errorf("host %q: a host range must give its end", name)
	}
	width := 0
	if beg[0] == '0' && len(beg) > 1 {
		width = len(beg)
		if len(last) != width {
			return nil, fmt.Errorf("host %q: a host range must give begin and end in the same width", name)
		}
	}
	var seq []string
	bi, ei := strings.Index(letters, beg), strings.Index(letters, last)
	if len(beg) == 1 && len(last) == 1 && bi >= 0 && ei >= 0 {
		if bi > ei {
			return nil, fmt.Errorf("host %q: a host range must have begin <= end", name)
		}
		for i := bi; i <= ei; i += step {
			seq = append(seq, letters[i:i+1])
		}
	} else {
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("host %q: range [%s] is neither numbers nor letters", name, rng)
		}
		if (e-b)/step >= maxRange {
			return nil, fmt.Errorf("host %q: range [%s] holds more than %d hosts", name, rng, maxRange)
		}
		for i := b; i <= e; i += step {
			s := strconv.Itoa(i)
			if width > len(s) {
				s = strings.Repeat("0", width-len(s)) + s
			}
			seq = append(seq, s)
		}
	}
	var out []string
	for _, s := range seq {
		more, err := expandRange(head + s + tail)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
		if len(out) > maxRange {
			return nil, fmt.Errorf("host %q holds more than %d hosts", name, maxRange)
		}
	}
	return out, nil
}

// readYAML reads a YAML inventory as Ansible's yaml plugin does: groups at
// the top, each with hosts, vars and children.
func (inv *Inventory) readYAML(file string, b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("inventory: %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("inventory: %s:%d: want a mapping of groups", file, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if err := inv.yamlGroup(file, root.Content[i].Value, root.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (inv *Inventory) yamlGroup(file, name string, n *yaml.Node) error {
	inv.group(name)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("inventory: %s:%d: group %q: want a mapping of hosts, vars and children", file, n.Line, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		where := fmt.Sprintf("%s:%d", file, k.Line)
		isNull := v.Kind == yaml.ScalarNode && v.Tag == "!!null"
		switch k.Value {
		case "vars":
			vars, err := yamlVars(file, v, fmt.Sprintf("(group %s vars)", name))
			if err != nil {
				return err
			}
			for key, val := range vars {
				inv.groups[name].vars[key] = val
			}
		case "children":
			if isNull {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("inventory: %s: group %q: children must be a mapping", where, name)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				child := v.Content[j].Value
				if err := inv.yamlGroup(file, child, v.Content[j+1]); err != nil {
					return err
				}
				if err := inv.addChild(name, child); err != nil {
					return fmt.Errorf("inventory: %s: %w", where, err)
				}
			}
		case "hosts":
			if isNull {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("inventory: %s: group %q: hosts must be a mapping (host: vars)", where, name)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				hk, hv := v.Content[j], v.Content[j+1]
				hwhere := fmt.Sprintf("%s:%d", file, hk.Line)
				names, port, err := expandPattern(hk.Value)
				if err != nil {
					return fmt.Errorf("inventory: %s: %w", hwhere, err)
				}
				vars, err := yamlVars(file, hv, "(host var)")
				if err != nil {
					return err
				}
				for _, h := range names {
					inv.addHost(name, h)
					if port != "" {
						inv.hosts[h].vars[varPort] = value{port, hwhere + " (host:port)"}
					}
					for key, val := range vars {
						inv.hosts[h].vars[key] = val
					}
				}
			}
		default:
			// Ansible warns and skips such keys.
		}
	}
	return nil
}

// yamlVars reads a mapping of variables; null is none.
func yamlVars(file string, n *yaml.Node, kind string) (map[string]value, error) {
	out := map[string]value{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("inventory: %s:%d: want a mapping of variables", file, n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var val any
		if v.Kind == yaml.ScalarNode {
			val = v.Value
		} else {
			val = fmt.Sprintf("<%s>", map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}[v.Kind])
		}
		out[k.Value] = value{val, fmt.Sprintf("%s:%d %s", file, k.Line, kind)}
	}
	return out, nil
}

// ScriptTimeout bounds a dynamic inventory's run.
const ScriptTimeout = 60 * time.Second

// readScript runs a dynamic inventory with --list and reads its JSON, as
// Ansible's script plugin does: once, and once per host with --host when
// the output has no _meta.
func (inv *Inventory) readScript(ctx context.Context, file string) error {
	out, err := runScript(ctx, file, "--list")
	if err != nil {
		return err
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(out, &data); err != nil {
		return fmt.Errorf("inventory: %s --list: its output is not a JSON object: %w", file, err)
	}
	var meta struct {
		Hostvars map[string]map[string]any `json:"hostvars"`
	}
	raw, hasMeta := data["_meta"]
	if hasMeta {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("inventory: %s --list: _meta: %w", file, err)
		}
	}
	origin := file + " --list"
	// Groups in the order the script printed them, as Python's json keeps it.
	dec := json.NewDecoder(bytes.NewReader(out))
	var order []string
	if _, err := dec.Token(); err == nil {
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			order = append(order, t.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				break
			}
		}
	}
	for _, name := range order {
		if name == "_meta" {
			continue
		}
		raw := data[name]
		var g struct {
			Hosts    []string       `json:"hosts"`
			Vars     map[string]any `json:"vars"`
			Children []string       `json:"children"`
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err == nil {
			g.Hosts = list
		} else if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("inventory: %s --list: group %q: %w", file, name, err)
		}
		inv.group(name)
		for _, h := range g.Hosts {
			inv.addHost(name, h)
			vars, how := meta.Hostvars[h], origin+" (_meta hostvars)"
			if !hasMeta {
				// Without _meta, Ansible asks the script for each host's vars.
				if vars, err = scriptHostVars(ctx, file, h); err != nil {
					return err
				}
				how = fmt.Sprintf("%s --host %s", file, h)
			}
			for k, v := range vars {
				inv.hosts[h].vars[k] = value{jsonScalar(v), how}
			}
		}
		for k, v := range g.Vars {
			inv.groups[name].vars[k] = value{jsonScalar(v), fmt.Sprintf("%s (group %s vars)", origin, name)}
		}
		for _, c := range g.Children {
			if err := inv.addChild(name, c); err != nil {
				return fmt.Errorf("inventory: %s --list: %w", file, err)
			}
		}
	}
	return nil
}

// scriptHostVars runs a dynamic inventory with --host name for its vars.
func scriptHostVars(ctx context.Context, file, name string) (map[string]any, error) {
	out, err := runScript(ctx, file, "--host", name)
	if err != nil {
		return nil, err
	}
	var vars map[string]any
	if err := json.Unmarshal(out, &vars); err != nil {
		return nil, fmt.Errorf("inventory: %s --host %s: its output is not a JSON object: %w", file, name, err)
	}
	return vars, nil
}

// runScript runs a dynamic inventory, bounded by ScriptTimeout.
func runScript(ctx context.Context, file string, args ...string) ([]byte, error) {
	out, err := proc.Output(ctx, ScriptTimeout, "", append([]string{file}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("inventory: %s: %w", file+" "+strings.Join(args, " "), err)
	}
	return out, nil
}

// jsonScalar gives a JSON number without a fraction as an integer.
func jsonScalar(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

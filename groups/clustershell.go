package groups

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/internal/proc"
	"github.com/grifork/grifork/internal/shlex"
	"github.com/grifork/grifork/nodeset"
	"go.yaml.in/yaml/v3"
)

// ConfigPaths returns the groups.conf files ClusterShell 1.9 reads, lowest
// precedence first (Defaults.config_paths): /etc/clustershell,
// ~/.local/etc/clustershell, /usr/etc/clustershell (Debian's Python prefix),
// $XDG_CONFIG_HOME/clustershell (~/.config/clustershell), then
// $CLUSTERSHELL_CFGDIR. Every file that exists is read, a later one's
// settings replacing an earlier one's, and $CFGDIR is the directory of the
// last one. lookupEnv is os.LookupEnv outside tests.
func ConfigPaths(lookupEnv func(string) (string, bool), home string) []string {
	xdg, ok := lookupEnv("XDG_CONFIG_HOME")
	if !ok {
		xdg = filepath.Join(home, ".config")
	}
	paths := []string{
		"/etc/clustershell/groups.conf",
		filepath.Join(home, ".local/etc/clustershell/groups.conf"),
		"/usr/etc/clustershell/groups.conf",
		filepath.Join(xdg, "clustershell/groups.conf"),
	}
	if d, ok := lookupEnv("CLUSTERSHELL_CFGDIR"); ok {
		paths = append(paths, filepath.Join(d, "groups.conf"))
	}
	return paths
}

// DefaultUpcallTimeout bounds an upcall that no one bounded otherwise: a
// group source that hangs must not hang the run.
const DefaultUpcallTimeout = Timeout(30 * time.Second)

type clusterShell struct {
	sources  []named
	def      string
	describe string
}

// loadClusterShell reads the groups.conf files that exist among paths and the
// sources they define, as GroupResolverConfig does.
func loadClusterShell(paths []string, t Timeout) (*clusterShell, error) {
	cs := &clusterShell{describe: "no groups.conf in " + strings.Join(paths, ", ")}
	conf := newINI()
	var read []string
	for _, p := range paths {
		// Upcalls run in $CFGDIR: it must not depend on the working directory.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue // ConfigParser.read skips what it cannot open
		}
		if err := conf.parse(p, b); err != nil {
			return nil, err
		}
		read = append(read, p)
	}
	if len(read) == 0 {
		return cs, nil
	}
	last := read[len(read)-1]
	cs.describe = strings.Join(read, ", ")
	cfgdir := filepath.Dir(last)
	seen := map[string]string{}
	add := func(name, where string, src Source) error {
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("group source %q is defined twice: in %s and in %s", name, prev, where)
		}
		seen[name] = where
		cs.sources = append(cs.sources, named{name, src})
		return nil
	}
	dirs := func(option string) ([]string, error) {
		v, ok := conf.get("Main", option)
		if !ok {
			return nil, nil
		}
		words, err := shlex.Split(v, false)
		if err != nil {
			return nil, fmt.Errorf("%s: [Main] %s: %w", last, option, err)
		}
		var out []string
		for _, w := range words {
			d := filepath.Clean(substitute(w, map[string]string{"CFGDIR": cfgdir}))
			if slices.Contains(out, d) {
				continue
			}
			fi, err := os.Stat(d)
			if err != nil {
				continue
			}
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s: [Main] %s: %s is not a directory", last, option, d)
			}
			out = append(out, d)
		}
		return out, nil
	}
	confOption := "confdir"
	if _, ok := conf.get("Main", "groupsdir"); ok {
		confOption = "groupsdir"
	}
	confdirs, err := dirs(confOption)
	if err != nil {
		return nil, err
	}
	for _, d := range confdirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.conf"))
		slices.Sort(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // as ClusterShell: a part it cannot read is skipped
			}
			part := newINI()
			if err := part.parse(f, b); err != nil {
				return nil, err
			}
			if err := upcallSources(part, d, f, t, add); err != nil {
				return nil, err
			}
		}
	}
	autodirs, err := dirs("autodir")
	if err != nil {
		return nil, err
	}
	for _, d := range autodirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.yaml"))
		slices.Sort(files)
		for _, f := range files {
			srcs, err := yamlSources(f)
			if errors.Is(err, os.ErrPermission) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, s := range srcs {
				if err := add(s.name, f, s.src); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := upcallSources(conf, cfgdir, strings.Join(read, ", "), t, add); err != nil {
		return nil, err
	}
	if def, ok := conf.get("Main", "default"); ok && def != "" {
		if _, known := seen[def]; !known {
			return nil, fmt.Errorf("%s: [Main] default: group source %q is not defined", last, def)
		}
		cs.def = def
	} else if len(cs.sources) > 0 {
		cs.def = cs.sources[0].name
	}
	return cs, nil
}

// upcallSources adds the sources of conf's sections (all but Main; "[a,b]"
// defines a and b), whose upcalls run in cfgdir.
func upcallSources(conf *ini, cfgdir, where string, t Timeout, add func(string, string, Source) error) error {
	for _, sec := range conf.order {
		for _, name := range strings.Split(sec, ",") {
			if name == "Main" {
				continue
			}
			opts := conf.sections[sec]
			if _, ok := opts["map"]; !ok {
				return fmt.Errorf("%s: [%s]: no map upcall (the one every source needs)", where, sec)
			}
			u := &upcallSource{name: name, cfgdir: cfgdir, upcalls: map[string]string{}, timeout: t,
				cache: map[string]upcallResult{}}
			for _, k := range []string{"map", "all", "list"} {
				if v, ok := opts[k]; ok {
					u.upcalls[k] = v
				}
			}
			if err := add(name, where, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// upcallSource is a [source] section: shell commands that print the nodes of
// a group (map), every node (all) and the group names (list).
type upcallSource struct {
	name    string
	cfgdir  string
	upcalls map[string]string
	timeout Timeout

	mu    sync.Mutex              // held over an upcall: a second caller waits for its result
	cache map[string]upcallResult // "map:GROUP", "all", "list"
}

type upcallResult struct {
	out []string
	err error
}

// run runs one upcall once per process, as ClusterShell's cache does for an
// hour: every reference to a group sees the same nodes.
func (u *upcallSource) run(ctx context.Context, kind, group string) ([]string, error) {
	key := kind + ":" + group
	u.mu.Lock()
	defer u.mu.Unlock()
	if r, ok := u.cache[key]; ok {
		return r.out, r.err
	}
	tmpl, ok := u.upcalls[kind]
	if !ok {
		return nil, errNoMethod
	}
	vars := map[string]string{"CFGDIR": u.cfgdir, "SOURCE": u.name}
	if kind == "map" {
		vars["GROUP"] = group
	}
	cmdline := substitute(tmpl, vars)
	out, err := runUpcall(ctx, cmdline, u.cfgdir, u.timeout)
	if err != nil {
		what := kind + " upcall"
		if kind == "map" {
			what = fmt.Sprintf("map upcall of group %q", group)
		}
		err = fmt.Errorf("%s failed: %w", what, err)
	}
	u.cache[key] = upcallResult{out, err}
	return out, err
}

func (u *upcallSource) Nodes(ctx context.Context, group string) ([]string, error) {
	// With a list upcall, a group it does not list is unknown; without one,
	// a map that prints nothing is the only sign. ClusterShell gives an empty
	// set for both, but a typo in a group name must not select no host.
	if _, ok := u.upcalls["list"]; ok {
		known, err := u.Groups(ctx)
		if err != nil {
			return nil, err
		}
		names, err := nodeset.Expand(strings.Join(known, ","))
		if err != nil {
			return nil, fmt.Errorf("list upcall: %w", err)
		}
		if !slices.Contains(names, group) {
			return nil, fmt.Errorf("unknown group %q (its list upcall does not name it)", group)
		}
	}
	nodes, err := u.run(ctx, "map", group)
	if err != nil {
		return nil, err
	}
	if _, ok := u.upcalls["list"]; !ok && len(nodes) == 0 {
		return nil, fmt.Errorf("unknown group %q (its map upcall printed nothing)", group)
	}
	return nodes, nil
}

func (u *upcallSource) All(ctx context.Context) ([]string, error) { return u.run(ctx, "all", "") }

func (u *upcallSource) Groups(ctx context.Context) ([]string, error) {
	list, err := u.run(ctx, "list", "")
	if err != nil {
		return nil, err
	}
	for _, g := range list {
		if strings.ContainsAny(g, "@,!&^*") {
			return nil, fmt.Errorf("list upcall: group %q holds a character a group name cannot hold (@,!&^*)", g)
		}
	}
	return list, nil
}

// runUpcall runs cmdline with /bin/sh in dir, as ClusterShell's Popen(shell=True)
// does, and returns its output split at blanks. A non-zero exit, or running
// longer than t, is an error that quotes the command and its error output.
func runUpcall(ctx context.Context, cmdline, dir string, t Timeout) ([]string, error) {
	if t <= 0 {
		t = DefaultUpcallTimeout
	}
	out, err := proc.Output(ctx, time.Duration(t), dir, "/bin/sh", "-c", cmdline)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", cmdline, err)
	}
	return strings.Fields(string(out)), nil
}

// templateRE is Python's string.Template pattern.
var templateRE = regexp.MustCompile(`\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})`)

// substitute replaces $NAME and ${NAME} of vars in s, and $$ with $, leaving
// anything else as written: Template.safe_substitute, which ClusterShell
// applies to an upcall before the shell sees it.
func substitute(s string, vars map[string]string) string {
	return templateRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := templateRE.FindStringSubmatch(m)
		if sub[1] != "" {
			return "$"
		}
		name := sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// ini is what Python's ConfigParser makes of the files it reads: sections of
// options (names lower-cased), a later file's options replacing an earlier's.
type ini struct {
	sections map[string]map[string]string
	order    []string
}

func newINI() *ini { return &ini{sections: map[string]map[string]string{}} }

func (c *ini) get(section, option string) (string, bool) {
	v, ok := c.sections[section][option]
	if !ok {
		return "", false
	}
	// Options read without raw=True are interpolated; "%%" is the one form a
	// groups.conf uses in practice.
	return strings.ReplaceAll(v, "%%", "%"), true
}

// parse reads one file: "[section]", "name: value" or "name = value",
// indented lines continuing a value, "#" and ";" comment lines.
func (c *ini) parse(file string, b []byte) error {
	var sec, opt string
	optIndent := -1
	inFile := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		indent := len(line) - len(trimmed)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			if trimmed == "" {
				optIndent = -1
			}
			continue
		}
		if opt != "" && optIndent >= 0 && indent > optIndent {
			c.sections[sec][opt] += "\n" + trimmed
			continue
		}
		opt, optIndent = "", -1
		if strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]") {
			sec = trimmed[1 : len(trimmed)-1]
			if inFile[sec] {
				return fmt.Errorf("%s:%d: section [%s] appears twice", file, n, sec)
			}
			inFile[sec] = true
			if _, ok := c.sections[sec]; !ok {
				c.sections[sec] = map[string]string{}
				c.order = append(c.order, sec)
			}
			continue
		}
		if sec == "" {
			return fmt.Errorf("%s:%d: an option before the first [section]", file, n)
		}
		i := strings.IndexAny(trimmed, ":=")
		if i <= 0 {
			return fmt.Errorf("%s:%d: want \"name: value\", got %q", file, n, trimmed)
		}
		opt = strings.ToLower(strings.TrimSpace(trimmed[:i]))
		optIndent = indent
		c.sections[sec][opt] = strings.TrimSpace(trimmed[i+1:])
	}
	return sc.Err()
}

// yamlSource is one source of a YAML file of autodir: group -> node sets.
type yamlSource struct {
	file   string
	name   string
	groups map[string][]string
	order  []string
}

// yamlSources reads a YAML group file: a mapping of source names to mappings
// of group names to a node set string or a list of them.
func yamlSources(file string) ([]named, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: invalid content (base is not a dict)", file)
	}
	root := doc.Content[0]
	var out []named
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, fmt.Errorf("%s:%d: group source %s not a string (add quotes?)", file, k.Line, k.Value)
		}
		if v.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: invalid content (group source '%s' is not a dict)", file, v.Line, k.Value)
		}
		src := &yamlSource{file: file, name: k.Value, groups: map[string][]string{}}
		for j := 0; j+1 < len(v.Content); j += 2 {
			gk, gv := v.Content[j], v.Content[j+1]
			if gk.Kind != yaml.ScalarNode || gk.Tag != "!!str" {
				return nil, fmt.Errorf("%s:%d: %s: group name %s not a string (add quotes?)", file, gk.Line, k.Value, gk.Value)
			}
			var nodes []string
			switch {
			case gv.Kind == yaml.ScalarNode && gv.Tag == "!!null":
				// GH#533: a null group is the empty set.
			case gv.Kind == yaml.ScalarNode:
				nodes = strings.Fields(gv.Value)
			case gv.Kind == yaml.SequenceNode:
				for _, item := range gv.Content {
					if item.Kind != yaml.ScalarNode {
						return nil, fmt.Errorf("%s:%d: %s: group %s: a list item must be a node set string", file, item.Line, k.Value, gk.Value)
					}
					nodes = append(nodes, strings.Fields(item.Value)...)
				}
			default:
				return nil, fmt.Errorf("%s:%d: %s: group %s: want a node set string or a list of them", file, gv.Line, k.Value, gk.Value)
			}
			if _, dup := src.groups[gk.Value]; !dup {
				src.order = append(src.order, gk.Value)
			}
			src.groups[gk.Value] = nodes
		}
		out = append(out, named{k.Value, src})
	}
	return out, nil
}

func (y *yamlSource) Nodes(_ context.Context, group string) ([]string, error) {
	nodes, ok := y.groups[group]
	if !ok {
		return nil, fmt.Errorf("unknown group %q (not in %s)", group, y.file)
	}
	return nodes, nil
}

// All is the group "all" when the file defines one.
func (y *yamlSource) All(_ context.Context) ([]string, error) {
	nodes, ok := y.groups["all"]
	if !ok {
		return nil, errNoMethod
	}
	return nodes, nil
}

func (y *yamlSource) Groups(_ context.Context) ([]string, error) { return y.order, nil }

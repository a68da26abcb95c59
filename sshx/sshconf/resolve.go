package sshconf

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// Params is what one resolution knows before reading the files: the host as
// given, the command-line user and port (they win over the files, as ssh -l
// and -p), the local user and home, and how to run Match exec.
type Params struct {
	Host      string
	User      string // "" unless set on the command line
	Port      string // "" unless set on the command line
	LocalUser string
	Home      string
	// Exec runs a Match exec command (tokens expanded) and reports whether it
	// exited 0; nil runs it with /bin/sh -c.
	Exec func(cmd string) (bool, error)
}

// Resolved holds the values that apply to one host: the first line of each
// keyword, or every line for the Multi ones.
type Resolved struct {
	vals map[string][]Line
	// Applied are the lines of keywords in Unhonoured that apply to the host.
	Applied []Line
}

// Get is the first value of key ("" and false when no line sets it).
func (r *Resolved) Get(key string) (Line, bool) {
	v := r.vals[key]
	if len(v) == 0 {
		return Line{}, false
	}
	return v[0], true
}

// Arg is the first argument of key's value.
func (r *Resolved) Arg(key string) string {
	l, ok := r.Get(key)
	if !ok || len(l.Args) == 0 {
		return ""
	}
	return l.Args[0]
}

// All is every value of a Multi key, in order.
func (r *Resolved) All(key string) []Line { return r.vals[key] }

// Resolve applies the files to p.Host as ssh does (ssh -G HOST).
func (c *Config) Resolve(p Params) (*Resolved, error) {
	r := resolvedPool.Get().(*Resolved)
	if p.User != "" {
		r.vals["user"] = []Line{{Key: "user", Args: []string{p.User}}}
	}
	if p.Port != "" {
		r.vals["port"] = []Line{{Key: "port", Args: []string{p.Port}}}
	}
	s := &pass{c: c, p: p, r: r, host: p.Host}
	for _, f := range c.roots {
		if err := s.walk(f, true); err != nil {
			r.Release()
			return nil, err
		}
	}
	if s.wantFinal {
		s.final, s.host = true, s.hostname()
		for _, f := range c.roots {
			if err := s.walk(f, true); err != nil {
				r.Release()
				return nil, err
			}
		}
	}
	return r, nil
}

// resolvedPool holds released Resolved values, their maps and slices kept:
// a plan of 100,000 hosts resolves every one, and a new map and slices for
// each were a tenth of its allocations.
var resolvedPool = sync.Pool{New: func() any { return &Resolved{vals: map[string][]Line{}} }}

// Release hands r back for a later Resolve to reuse: neither r nor what its
// methods returned may be used after (strings taken from its lines may).
func (r *Resolved) Release() {
	if r.vals == nil {
		return // not made by Resolve
	}
	for k, v := range r.vals {
		r.vals[k] = v[:0]
	}
	r.Applied = r.Applied[:0]
	resolvedPool.Put(r)
}

type pass struct {
	c         *Config
	p         Params
	r         *Resolved
	host      string // what Host lines match: the given name, then HostName in the final pass
	final     bool
	wantFinal bool
}

// hostname is HostName so far with %h expanded, or the host as given.
func (s *pass) hostname() string {
	if h := s.r.Arg("hostname"); h != "" {
		return strings.ToLower(ExpandHostName(h, s.p.Host))
	}
	return strings.ToLower(s.p.Host)
}

// ExpandHostName expands HostName's tokens (%h, %%).
func ExpandHostName(v, host string) string {
	return strings.NewReplacer("%%", "%", "%h", host).Replace(v)
}

func (s *pass) walk(f *file, active bool) error {
	for _, ln := range f.lines {
		switch ln.Key {
		case "host":
			active = matchHostLine(ln.Args, s.host)
		case "match":
			ok, err := s.match(ln)
			if err != nil {
				return fmt.Errorf("%s: %w", ln.Pos(), err)
			}
			active = ok
		case "include":
			if !active {
				continue
			}
			for _, inc := range ln.include {
				if err := s.walk(inc, true); err != nil {
					return err
				}
			}
		default:
			if active {
				s.set(ln)
			}
		}
	}
	return nil
}

func (s *pass) set(ln Line) {
	key := ln.Key
	if _, unh := Unhonoured[key]; unh {
		if len(s.r.vals[key]) == 0 && !strings.EqualFold(ln.Args[0], Unhonoured[key]) {
			s.r.Applied = append(s.r.Applied, ln)
		}
	}
	// ProxyCommand and ProxyJump share one slot, as in ssh: the first of
	// either wins, except that "ProxyJump none" leaves ProxyCommand free.
	switch key {
	case "proxyjump":
		if len(s.r.vals["proxycommand"]) > 0 {
			return
		}
	case "proxycommand":
		if j := s.r.vals["proxyjump"]; len(j) > 0 && !strings.EqualFold(j[0].Args[0], "none") {
			return
		}
	}
	if Multi[key] || len(s.r.vals[key]) == 0 {
		s.r.vals[key] = append(s.r.vals[key], ln)
	}
}

// matchHostLine: some pattern matches and no negated one does.
func matchHostLine(patterns []string, host string) bool {
	hit := false
	for _, p := range patterns {
		if neg := strings.HasPrefix(p, "!"); neg {
			if Wildcard(p[1:], host) {
				return false
			}
			continue
		}
		if Wildcard(p, host) {
			hit = true
		}
	}
	return hit
}

// MatchList matches s against a comma-separated pattern list with negation
// (ssh's match_pattern_list); lower compares case-insensitively.
func MatchList(list, s string, lower bool) bool {
	if lower {
		s = strings.ToLower(s)
	}
	hit := false
	for _, p := range strings.Split(list, ",") {
		if lower {
			p = strings.ToLower(p)
		}
		if neg := strings.HasPrefix(p, "!"); neg {
			if Wildcard(p[1:], s) {
				return false
			}
			continue
		}
		if Wildcard(p, s) {
			hit = true
		}
	}
	return hit
}

func (s *pass) match(ln Line) (bool, error) {
	result := true
	for _, c := range ln.match {
		var ok bool
		switch c.name {
		case "all":
			ok = true
		case "canonical", "final":
			if c.name == "final" && !s.final {
				s.wantFinal = true
			}
			ok = s.final
		case "host":
			ok = MatchList(c.arg, s.hostname(), true)
		case "originalhost":
			ok = MatchList(c.arg, s.p.Host, true)
		case "user":
			ok = MatchList(c.arg, s.user(), false)
		case "localuser":
			ok = MatchList(c.arg, s.p.LocalUser, false)
		case "exec":
			if !result {
				continue // ssh skips the command once the line has failed
			}
			cmd := s.Expand(c.arg)
			run := s.p.Exec
			if run == nil {
				run = shExec
			}
			var err error
			if ok, err = run(cmd); err != nil {
				//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
				return false, fmt.Errorf("Match exec %q: %w", cmd, err)
			}
		default: // localnetwork, tagged: not evaluated; such a block never applies
			ok = c.neg
		}
		if ok == c.neg {
			result = false
		}
	}
	return result, nil
}

func (s *pass) user() string {
	if u := s.r.Arg("user"); u != "" {
		return u
	}
	return s.p.LocalUser
}

func (s *pass) port() string {
	if p := s.r.Arg("port"); p != "" {
		return p
	}
	return "22"
}

// Expand expands the tokens of Match exec with what is resolved so far.
func (s *pass) Expand(v string) string {
	return Tokens{Host: s.hostname(), Original: s.p.Host, Port: s.port(), User: s.user(),
		LocalUser: s.p.LocalUser, Home: s.p.Home}.Expand(v)
}

// Tokens are the values of ssh_config's % tokens.
type Tokens struct {
	Host, Original, Port, User, LocalUser, Home string
}

// Expand replaces %h %n %p %r %u %d and %%.
func (t Tokens) Expand(v string) string {
	return strings.NewReplacer("%%", "%", "%h", t.Host, "%n", t.Original, "%p", t.Port,
		"%r", t.User, "%u", t.LocalUser, "%d", t.Home).Replace(v)
}

func shExec(cmd string) (bool, error) {
	err := exec.Command("/bin/sh", "-c", cmd).Run()
	if err == nil {
		return true, nil
	}
	if _, ok := err.(*exec.ExitError); ok {
		return false, nil
	}
	return false, err
}

// Wildcard matches s against a pattern with * and ?.
func Wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if Wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

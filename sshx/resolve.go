package sshx

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx/sshconf"
	"golang.org/x/crypto/ssh"
)

// maxHops bounds a chain of jump hosts (a ProxyJump loop in the config ends here).
const maxHops = 8

// target is a host with every setting resolved.
type target struct {
	display  string // the host as the user wrote it: prefixes and errors
	alias    string // the name the config was resolved for (%n)
	hostname string // after ssh_config HostName
	port     int
	user     string

	idFiles        []string // IdentityFile, expanded
	certFiles      []string // CertificateFile, expanded
	identitiesOnly bool
	agent          string // the agent socket: "" for none

	via      *target // ProxyJump: the connection runs over a channel of via's
	proxyCmd string  // ProxyCommand, expanded: its stdio is the connection

	timeout   time.Duration // connect timeout
	keepalive time.Duration // 0: none
	aliveMax  int
	retries   int

	check        string   // host key policy: strict | accept-new | off
	known        []string // user known_hosts files, expanded; accept-new appends to the first
	knownShown   string   // known[0] as configured, for messages
	global       []string // read-only known_hosts files
	hostKeyAlgos []string // HostKeyAlgorithms; nil: ordered by what known_hosts holds
}

func (t target) addr() string { return net.JoinHostPort(t.hostname, strconv.Itoa(t.port)) }

// key names the connection: the same host reached another way is another one.
func (t target) key() string {
	k := t.user + "@" + t.addr()
	switch {
	case t.via != nil:
		k += " via " + t.via.key()
	case t.proxyCmd != "":
		k += " | " + t.proxyCmd
	}
	return k
}

// hops counts the jump hosts on the way to t.
func (t target) hops() int {
	n := 0
	for v := t.via; v != nil; v = v.via {
		n++
	}
	return n
}

func (t target) knownFiles() []string { return append(append([]string(nil), t.known...), t.global...) }

// Route is how grifork reaches host: "" for directly, else "via HOP,HOP"
// (jump hosts, first first) or "via ProxyCommand CMD".
func (c *Client) Route(host core.Host) string {
	t, err := c.resolve(host)
	if err != nil {
		return ""
	}
	var hops []string
	for v := t.via; v != nil; v = v.via {
		hops = append([]string{v.display}, hops...)
	}
	switch {
	case len(hops) > 0:
		return "via " + strings.Join(hops, ",")
	case t.proxyCmd != "":
		return "via ProxyCommand " + t.proxyCmd
	}
	return ""
}

type resolved struct {
	t   target
	err error
}

// resolve applies the settings to host, once per host: exec's latency must
// not grow with the config (only Match exec starts processes).
func (c *Client) resolve(h core.Host) (target, error) {
	k := h.String()
	if v, ok := c.targets.Load(k); ok {
		r := v.(resolved)
		return r.t, r.err
	}
	t, err := c.resolveHost(h)
	c.targets.Store(k, resolved{t, err})
	return t, err
}

// peek is resolve for a host the Client only describes (Logins): a host
// resolved before is taken from the cache, else resolved without filling it,
// since a plan of 100,000 hosts dials none of them.
func (c *Client) peek(h core.Host) (target, error) {
	if v, ok := c.targets.Load(h.String()); ok {
		r := v.(resolved)
		return r.t, r.err
	}
	return c.resolveHost(h)
}

// resolveHost resolves h through the config, with the ssh settings' user and
// port unless h has its own.
func (c *Client) resolveHost(h core.Host) (target, error) {
	user, port := h.User, h.Port
	if user == "" {
		user = c.opts.SSH.User
	}
	if port == 0 {
		port = c.opts.SSH.Port
	}
	t, err := c.resolveName(h.Name, user, port, nil, 0)
	t.display = h.String()
	if err != nil {
		err = fmt.Errorf("host %s: %w", t.display, err)
	}
	return t, err
}

// resolveHop is resolveName for a jump host, once per hop and route: a
// bastion in front of every host is resolved (and its Match exec run) once.
func (c *Client) resolveHop(name, user string, port int, jumps []string, depth int) (target, error) {
	k := "\x00hop " + user + "@" + name + ":" + strconv.Itoa(port) + " via " + strings.Join(jumps, ",")
	if v, ok := c.targets.Load(k); ok {
		r := v.(resolved)
		return r.t, r.err
	}
	t, err := c.resolveName(name, user, port, jumps, depth)
	c.targets.Store(k, resolved{t, err})
	return t, err
}

// resolveName resolves name through the config with the user and port given
// on the command line (""/0: none). jumps, when not nil, replaces the
// config's proxy (as ssh -J does for each hop of a ProxyJump).
func (c *Client) resolveName(name, user string, port int, jumps []string, depth int) (target, error) {
	t := target{display: name, alias: name, hostname: strings.ToLower(name), user: user, port: port,
		timeout: c.opts.SSH.Timeout, keepalive: c.opts.Keepalive, aliveMax: keepaliveMax,
		retries: *c.opts.SSH.Retries, check: c.opts.SSH.HostKeyCheck}
	if depth > maxHops {
		return t, fmt.Errorf("ssh config: more than %d jump hosts (a ProxyJump loop?)", maxHops)
	}
	r := &sshconf.Resolved{}
	if c.conf != nil {
		var err error
		p := sshconf.Params{Host: name, User: user, LocalUser: c.me, Home: c.home}
		if port != 0 {
			p.Port = strconv.Itoa(port)
		}
		if r, err = c.conf.Resolve(p); err != nil {
			return t, fmt.Errorf("ssh config: %w", err)
		}
		defer r.Release() // nothing of r outlives this call but strings
		for _, l := range r.Applied {
			if _, seen := c.warned.LoadOrStore(l.Pos(), true); !seen {
				c.log.Warn("ssh config: grifork does not honour "+l.Key+", which applies to this host", "host", name, "at", l.Pos())
			}
		}
	}
	if hn := r.Arg("hostname"); hn != "" {
		t.hostname = strings.ToLower(sshconf.ExpandHostName(hn, name))
	}
	if l, ok := r.Get("port"); ok && port == 0 {
		p, err := strconv.Atoi(l.Args[0])
		if err != nil || !core.PortRange.Contains(p) {
			return t, fmt.Errorf("ssh config %s: invalid Port %q", l.Pos(), l.Args[0])
		}
		t.port = p
	}
	if t.port == 0 {
		t.port = 22
	}
	if t.user == "" {
		t.user = r.Arg("user")
	}
	if t.user == "" {
		t.user = c.me
	}
	tok := sshconf.Tokens{Host: t.hostname, Original: name, Port: strconv.Itoa(t.port), User: t.user, LocalUser: c.me, Home: c.home}
	path := func(v string) string { return c.expandPath(tok.Expand(v)) }
	for _, l := range r.All("identityfile") {
		if !strings.EqualFold(l.Args[0], "none") {
			t.idFiles = append(t.idFiles, path(l.Args[0]))
		}
	}
	for _, l := range r.All("certificatefile") {
		if !strings.EqualFold(l.Args[0], "none") {
			t.certFiles = append(t.certFiles, path(l.Args[0]))
		}
	}
	t.identitiesOnly = strings.EqualFold(r.Arg("identitiesonly"), "yes")
	t.agent = c.agentSocket
	if a := r.Arg("identityagent"); a != "" && c.opts.Agent != "none" {
		switch {
		case strings.EqualFold(a, "none"):
			t.agent = ""
		case a == "SSH_AUTH_SOCK":
			t.agent = os.Getenv("SSH_AUTH_SOCK")
		case strings.HasPrefix(a, "$"):
			t.agent = os.Getenv(strings.Trim(a[1:], "{}"))
		default:
			t.agent = path(a)
		}
	}

	if j := r.Arg("proxyjump"); jumps == nil && j != "" && !strings.EqualFold(j, "none") {
		jumps = strings.Split(j, ",")
	}
	if l, ok := r.Get("proxycommand"); ok && jumps == nil && !strings.EqualFold(l.Raw, "none") {
		t.proxyCmd = tok.Expand(l.Raw)
	}
	if len(jumps) > 0 {
		last := jumps[len(jumps)-1]
		hu, hh, hp, err := parseHop(last)
		if err != nil {
			return t, fmt.Errorf("ssh config: ProxyJump %s: %w", last, err)
		}
		var before []string // nil for the first hop: its own config applies
		if len(jumps) > 1 {
			before = jumps[:len(jumps)-1]
		}
		via, err := c.resolveHop(hh, hu, hp, before, depth+1)
		if err != nil {
			return t, fmt.Errorf("jump host %s: %w", last, err)
		}
		via.display = hh
		t.via = &via
	}

	if l, ok := r.Get("connecttimeout"); ok && !strings.EqualFold(l.Args[0], "none") {
		if n, _ := strconv.Atoi(l.Args[0]); n > 0 {
			t.timeout = min(t.timeout, time.Duration(n)*time.Second)
		}
	}
	if l, ok := r.Get("serveraliveinterval"); ok {
		n, _ := strconv.Atoi(l.Args[0])
		t.keepalive = time.Duration(n) * time.Second
	}
	if l, ok := r.Get("serveralivecountmax"); ok {
		if n, _ := strconv.Atoi(l.Args[0]); n > 0 {
			t.aliveMax = n
		}
	}
	if l, ok := r.Get("connectionattempts"); ok {
		if n, _ := strconv.Atoi(l.Args[0]); n > 1 {
			t.retries = max(t.retries, n-1)
		}
	}

	if kh := c.opts.SSH.KnownHosts; kh != "" {
		t.known, t.knownShown = c.known, kh
	} else {
		t.known, t.knownShown, t.global = c.known, c.knownShown, c.global
		if l, ok := r.Get("userknownhostsfile"); ok {
			t.known, t.knownShown = nil, l.Args[0]
			for _, f := range l.Args {
				if !strings.EqualFold(f, "none") {
					t.known = append(t.known, path(f))
				}
			}
		}
		if l, ok := r.Get("globalknownhostsfile"); ok {
			t.global = nil
			for _, f := range l.Args {
				if !strings.EqualFold(f, "none") {
					t.global = append(t.global, path(f))
				}
			}
		}
	}
	if s := r.Arg("stricthostkeychecking"); s != "" && !c.opts.SSH.HostKeyCheckSet {
		switch strings.ToLower(s) {
		case "yes", "ask": // no terminal to ask on: as BatchMode, an unknown key fails
			t.check = "strict"
		case "accept-new":
			t.check = "accept-new"
		case "no", "off":
			t.check = "off"
		}
	}
	if a := r.Arg("hostkeyalgorithms"); a != "" {
		t.hostKeyAlgos = algorithmList(a, ssh.SupportedAlgorithms().HostKeys)
	}
	return t, nil
}

// parseHop reads a ProxyJump element: [user@]host[:port] or ssh://[user@]host[:port].
func parseHop(s string) (user, host string, port int, err error) {
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	host = s
	if h, p, e := net.SplitHostPort(s); e == nil {
		n, err := strconv.Atoi(p)
		if err != nil || !core.PortRange.Contains(n) {
			return "", "", 0, fmt.Errorf("invalid port %q", p)
		}
		host, port = h, n
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("no host")
	}
	return user, host, port, nil
}

// algorithmList applies an ssh algorithm list to the defaults: "+" appends,
// "-" removes (patterns allowed), "^" puts first, otherwise it replaces them.
func algorithmList(v string, defaults []string) []string {
	if v == "" {
		return nil
	}
	op, list := v[0], strings.Split(strings.TrimLeft(v, "+-^"), ",")
	switch op {
	case '+':
		return append(slices.Clone(defaults), list...)
	case '^':
		return append(list, slices.DeleteFunc(slices.Clone(defaults), func(a string) bool { return slices.Contains(list, a) })...)
	case '-':
		return slices.DeleteFunc(slices.Clone(defaults), func(a string) bool {
			return slices.ContainsFunc(list, func(p string) bool { return sshconf.Wildcard(p, a) })
		})
	}
	return list
}

// expandPath expands a leading ~ to Options.Home (else $HOME): the one rule
// for ssh { keys, known_hosts } and ssh_config's paths alike.
func (c *Client) expandPath(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(c.home, p[1:])
	}
	return p
}

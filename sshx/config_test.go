package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"github.com/grifork/grifork/internal/testkit/golden"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx/sshconf"
	"golang.org/x/crypto/ssh"
)

// configCases are ssh_config files (the first is ~/.ssh/config, the others
// sit beside it) and the hosts to resolve with each.
var configCases = []struct {
	name  string
	files map[string]string
	hosts []core.Host
}{
	{
		name: "hosts",
		files: map[string]string{"config": `
# aliases, first value wins, negation
Host web* !web9
  HostName %h.internal
  User deploy
  IdentityFile ~/.ssh/id_%r_%h
  IdentityFile %d/keys/%u-%p
  CertificateFile ~/.ssh/ca/%n-cert.pub
  ProxyJump bastion,ops@b2:2200
  UserKnownHostsFile ~/.ssh/kh_fleet /tmp/kh2
  StrictHostKeyChecking accept-new
Host web1
  HostName ignored
  Port 2201
Host bastion
  HostName 198.18.0.2
  ProxyJump none
  IdentitiesOnly yes
  IdentityAgent ~/agent.sock
Host lone
  ProxyCommand nc -q0 %h %p # comment
  User "with space"
Host *
  Port 2222
  ProxyCommand ssh -W [%h]:%p %r@relay
  ConnectTimeout 7
  ServerAliveInterval 5
  ServerAliveCountMax 4
  ConnectionAttempts 5
  GlobalKnownHostsFile /etc/g1
  StrictHostKeyChecking yes
  HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp256
`},
		hosts: []core.Host{{Name: "web1"}, {Name: "web9"}, {Name: "WEB2"}, {Name: "web3", User: "root", Port: 22}, {Name: "bastion"}, {Name: "lone"}, {Name: "other"}},
	},
	{
		name: "include",
		files: map[string]string{
			"config": `
Include conf.d/*.conf
Host db*
  Include db.inc
Host *
  User fallback
`,
			"conf.d/10-a.conf": "Host a1\n  HostName alpha\nHost *\n  Port 2301\n",
			"conf.d/20-b.conf": "Host a1 db1\n  User from-b\n  Port 2302\n",
			"db.inc":           "User db-user\nIdentityFile ~/.ssh/db\nHost *\n  IdentityFile ~/.ssh/all\n",
		},
		hosts: []core.Host{{Name: "a1"}, {Name: "db1"}, {Name: "db2"}, {Name: "zz"}},
	},
	{
		name: "match",
		files: map[string]string{"config": `
Host short
  HostName long.example
Match host long.example user root
  Port 2401
Match originalhost short exec "test %h = long.example"
  User matched
Match host !*.example localuser root
  Port 2402
Match exec false
  User never
Match final host long.example
  IdentityFile ~/.ssh/final
Host long.example
  ConnectTimeout 3
Match canonical
  User canon
Match all
  ServerAliveInterval 9
`},
		hosts: []core.Host{{Name: "short"}, {Name: "long.example"}, {Name: "plain"}, {Name: "short", User: "alice"}},
	},
}

// TestConfigAgainstOpenSSH resolves each host as ssh -G does and compares
// every key grifork honours. ssh runs in a private mount namespace where the
// case's directory is /root, so ~, %d and relative Includes read the same
// files as grifork with Home set to that directory. Without ssh (or root),
// the answers recorded in testdata/sshg stand in.
func TestConfigAgainstOpenSSH(t *testing.T) {
	t.Parallel()
	_, lookErr := exec.LookPath("ssh")
	live := lookErr == nil && os.Geteuid() == 0
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(home, ".ssh", name)
				os.MkdirAll(filepath.Dir(p), 0o700)
				if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := New(Options{ConfigFile: filepath.Join(home, ".ssh", "config"), Home: home, Offline: true,
				SSH: core.SSHConfig{}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, h := range tc.hosts {
				goldenPath := filepath.Join("testdata", "sshg", tc.name+"_"+strings.NewReplacer("@", "_at_", ":", "_").Replace(h.String())+".txt")
				var want string
				if live {
					want = sshG(t, home, h)
					if *golden.Update {
						os.MkdirAll(filepath.Dir(goldenPath), 0o755)
						os.WriteFile(goldenPath, []byte(want), 0o644)
					}
				} else {
					b, err := os.ReadFile(goldenPath)
					if err != nil {
						t.Skipf("no ssh to ask and no recorded answer: %v", err)
					}
					want = string(b)
				}
				tg, err := c.resolve(h)
				if err != nil {
					t.Errorf("%s: %v", h, err)
					continue
				}
				compareG(t, h.String(), h.Name, parseG(want), tg, home, c.me)
			}
		})
	}
}

// sshG runs ssh -G for h with home as /root, keeping only the keys compared.
func sshG(t *testing.T, home string, h core.Host) string {
	t.Helper()
	args := []string{"ssh", "-G", "-F", "/root/.ssh/config"}
	if h.User != "" {
		args = append(args, "-l", h.User)
	}
	if h.Port != 0 {
		args = append(args, "-p", strconv.Itoa(h.Port))
	}
	args = append(args, h.Name)
	script := "mount --bind " + core.ShellQuote(home) + " /root && exec " + core.ShellJoin(args)
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G %s: %v\n%s", h, err, out)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		k, _, _ := strings.Cut(l, " ")
		if slices.Contains(honouredG, k) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n") + "\n"
}

// honouredG are the ssh -G keys of the ssh_config keywords grifork honours.
var honouredG = []string{"hostname", "user", "port", "identityfile", "certificatefile", "identitiesonly",
	"identityagent", "proxyjump", "proxycommand", "userknownhostsfile", "globalknownhostsfile",
	"stricthostkeychecking", "hostkeyalgorithms", "connecttimeout", "serveraliveinterval",
	"serveralivecountmax", "connectionattempts"}

func parseG(s string) map[string][]string {
	m := map[string][]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

func compareG(t *testing.T, host, name string, g map[string][]string, tg target, home, me string) {
	t.Helper()
	one := func(k string) string {
		if len(g[k]) == 0 {
			return ""
		}
		return g[k][0]
	}
	eq := func(key, got, want string) {
		if got != want {
			t.Errorf("%s: %s: grifork %q, ssh -G %q", host, key, got, want)
		}
	}
	// grifork reads the files from home; ssh from /root, the same directory.
	root := func(p string) string {
		if strings.HasPrefix(p, home) {
			return "/root" + p[len(home):]
		}
		return p
	}
	roots := func(ps []string) string {
		var out []string
		for _, p := range ps {
			out = append(out, root(p))
		}
		return strings.Join(out, " ")
	}
	// ssh -G shows IdentityFile, CertificateFile and ProxyCommand unexpanded.
	tok := sshconf.Tokens{Host: one("hostname"), Original: strings.ToLower(name),
		Port: one("port"), User: one("user"), LocalUser: me, Home: "/root"}
	expand := func(v string) string {
		v = tok.Expand(v)
		if strings.HasPrefix(v, "~/") {
			v = "/root" + v[1:]
		}
		return v
	}
	eq("hostname", tg.hostname, one("hostname"))
	eq("user", tg.user, one("user"))
	eq("port", strconv.Itoa(tg.port), one("port"))
	var ids []string
	for _, v := range g["identityfile"] {
		ids = append(ids, expand(v))
	}
	if len(tg.idFiles) == 0 {
		eq("identityfile (ssh's defaults)", strings.Join(ids, " "), "/root/.ssh/id_rsa /root/.ssh/id_ecdsa /root/.ssh/id_ecdsa_sk /root/.ssh/id_ed25519 /root/.ssh/id_ed25519_sk /root/.ssh/id_xmss /root/.ssh/id_dsa")
	} else {
		eq("identityfile", roots(tg.idFiles), strings.Join(ids, " "))
	}
	var certs []string
	for _, v := range g["certificatefile"] {
		certs = append(certs, expand(v))
	}
	eq("certificatefile", roots(tg.certFiles), strings.Join(certs, " "))
	eq("identitiesonly", map[bool]string{true: "yes", false: "no"}[tg.identitiesOnly], one("identitiesonly"))
	if one("identityagent") != "" { // else $SSH_AUTH_SOCK, which ssh -G does not show
		eq("identityagent", root(tg.agent), one("identityagent"))
	}
	var hops []string
	for v := tg.via; v != nil; v = v.via {
		hops = append([]string{v.display}, hops...)
	}
	var wantHops []string
	for _, h := range strings.Split(one("proxyjump"), ",") {
		if h != "" {
			_, hh, _, _ := parseHop(h)
			wantHops = append(wantHops, hh)
		}
	}
	eq("proxyjump", strings.Join(hops, ","), strings.Join(wantHops, ","))
	if one("proxycommand") != "" {
		eq("proxycommand", tg.proxyCmd, expand(one("proxycommand")))
	} else {
		eq("proxycommand", tg.proxyCmd, "")
	}
	eq("userknownhostsfile", roots(tg.known), one("userknownhostsfile"))
	eq("globalknownhostsfile", roots(tg.global), one("globalknownhostsfile"))
	check := map[string]string{"true": "strict", "ask": "strict", "false": "off", "accept-new": "accept-new"}[one("stricthostkeychecking")]
	eq("stricthostkeychecking", tg.check, check)
	if tg.hostKeyAlgos != nil {
		eq("hostkeyalgorithms", strings.Join(tg.hostKeyAlgos, ","), one("hostkeyalgorithms"))
	}
	wantTimeout := core.DefaultSSHTimeout
	if n, err := strconv.Atoi(one("connecttimeout")); err == nil {
		wantTimeout = min(wantTimeout, time.Duration(n)*time.Second)
	}
	eq("connecttimeout", tg.timeout.String(), wantTimeout.String())
	if n, _ := strconv.Atoi(one("serveraliveinterval")); n > 0 {
		eq("serveraliveinterval", tg.keepalive.String(), (time.Duration(n) * time.Second).String())
	} else if tg.keepalive != 0 {
		eq("serveraliveinterval (default)", tg.keepalive.String(), defaultKeepalive.String())
	}
	eq("serveralivecountmax", strconv.Itoa(tg.aliveMax), one("serveralivecountmax"))
	attempts, _ := strconv.Atoi(one("connectionattempts"))
	eq("connectionattempts", strconv.Itoa(tg.retries), strconv.Itoa(max(core.DefaultSSHRetries, attempts-1)))
}

// ~ in ssh { keys, known_hosts } is Options.Home, as in ssh_config's paths:
// one rule, not $HOME for some and Options.Home for others.
func TestHomeIsOptionsHome(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, ".ssh", "grifork_test_key")
	os.MkdirAll(filepath.Dir(key), 0o700)
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kh := range []string{"", "~/kh/known"} {
		c, err := New(Options{ConfigFile: "none", Home: home, Agent: "none",
			SSH: core.SSHConfig{Keys: []string{"~/.ssh/grifork_test_key"}, KnownHosts: kh}})
		if err != nil {
			t.Fatalf("known_hosts %q: %v", kh, err)
		}
		want := filepath.Join(home, ".ssh", "known_hosts")
		if kh != "" {
			want = filepath.Join(home, "kh", "known")
		}
		if c.known[0] != want {
			t.Errorf("known_hosts %q: reads %s, want %s", kh, c.known[0], want)
		}
		c.Close()
	}
}

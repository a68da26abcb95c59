package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"golang.org/x/crypto/ssh"
)

// TestBastion is a site as large fleets run it: the root reaches only a
// bastion (prohibit routes), one host only through two hops; logins use a
// certificate of a user CA (no authorized_keys anywhere); host keys are
// certified by a host CA and known_hosts holds only @cert-authority and one
// @revoked key; hosts are aliases of ~/.ssh/config with Include and Match.
// OpenSSH reaching each host with the same files checks the fixture; then
// exec, copy, a standalone run with rsync and rsync_remote edges, grifork mode
// and a broadcast go through it, and the revoked host is refused by name.
func TestBastion(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	hostCA, userCA := newCA(t), newCA(t)
	f := fleet.StartT(t, fleet.Options{Hosts: 5, HostCA: hostCA, UserCA: userCA.PublicKey()})
	a := f.Hosts()
	addr := map[string]string{"bastion": a[0], "web1": a[1], "web2": a[2], "far": a[3], "old": a[4]}
	for _, h := range a[1:] {
		if err := f.Prohibit("", h); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Prohibit(addr["bastion"], addr["far"]); err != nil {
		t.Fatal(err)
	}

	// The root's home: ~/.ssh as its operator keeps it.
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	key, cert := userKey(t, userCA)
	known := "@cert-authority " + strings.TrimSuffix(f.RootAddr(), ".1") + ".* " + string(ssh.MarshalAuthorizedKey(hostCA.PublicKey())) +
		"@revoked * " + hostKeyOf(t, f, addr["old"])
	writeFiles(t, sshDir, map[string]string{
		"id_user":          key,
		"id_user-cert.pub": cert,
		"known_hosts_ca":   known,
		"conf.d/fleet.conf": fmt.Sprintf("Host web1\n  HostName %s\nHost web2\n  HostName %s\nHost old\n  HostName %s\n",
			addr["web1"], addr["web2"], addr["old"]),
		"config": fmt.Sprintf(`Include conf.d/*.conf
Host bastion
  HostName %s
Host web* old
  ProxyJump bastion
Host far
  HostName %s
  ProxyJump bastion,web2
Match originalhost bastion,web*,far,old
  User root
  IdentityFile ~/.ssh/id_user
  IdentitiesOnly yes
Host *
  UserKnownHostsFile ~/.ssh/known_hosts_ca
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 30
`, addr["bastion"], addr["far"]),
	})
	// Each host's own ~/.ssh: what its grifork (grifork mode, broadcast relays)
	// and its OpenSSH (rsync_remote) use to reach its children, directly.
	for _, h := range a {
		p, err := f.HostPath(h, "/root/.ssh")
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, p, map[string]string{
			"id_user": key, "id_user-cert.pub": cert, "known_hosts": known,
			"config": fmt.Sprintf("Host bastion\n  HostName %s\nHost web1\n  HostName %s\nHost web2\n  HostName %s\nHost far\n  HostName %s\nHost *\n  User root\n  IdentityFile ~/.ssh/id_user\n",
				addr["bastion"], addr["web1"], addr["web2"], addr["far"]),
		})
	}
	names := []string{"web1", "bastion", "web2", "far"}

	// The fixture's own check: OpenSSH, reading the same files as its /root,
	// reaches every host and refuses the revoked one.
	for _, h := range names {
		out, err := openSSH(home, h, "hostname")
		if err != nil {
			t.Fatalf("fixture: ssh %s: %v\n%s", h, err, out)
		}
	}
	if out, err := openSSH(home, "old", "true"); err == nil || !strings.Contains(strings.ToLower(out), "revoked") {
		t.Fatalf("fixture: ssh old: %v\n%s", err, out)
	}
	for _, h := range a[1:] {
		if got, _ := f.AcceptedConnections(h); got[f.RootAddr()] > 0 {
			t.Fatalf("fixture: %s accepted a connection from the root: %v", h, got)
		}
	}
	bastionLog := func() map[string]int {
		got, err := f.AcceptedConnections(addr["bastion"])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	base := bastionLog()[f.RootAddr()] // OpenSSH's logins of the fixture check

	app := filepath.Join(home, "app")
	makeApp(t, app)
	want := localManifest(t, app)
	check := func(t *testing.T, dst string) {
		t.Helper()
		for _, h := range names {
			out, err := f.Exec(context.Background(), addr[h], "sh", "-c", manifestCmd, "sh", dst)
			if err != nil || string(out) != want {
				t.Errorf("%s: %s differs from the source (%v)", h, dst, err)
			}
		}
	}
	gf := func(body string) string {
		p := filepath.Join(home, fmt.Sprintf("Griforkfile-%d.lua", fileSeq.Add(1)))
		src := "hosts " + luaList(names) + "\nbranches(2)\n" + body
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("plan shows the routes", func(t *testing.T) {
		r := runGrifork(t, home, "-n", "-f", gf(`locally(function(src, dst) ssh(dst, "true") end)`))
		for _, w := range []string{"  far via bastion,web2\n", "  web1 via bastion\n", "  web2 via bastion\n"} {
			if r.code != 0 || !strings.Contains(r.stdout, w) {
				t.Fatalf("exit %d; plan lacks %q:\n%s%s", r.code, w, r.stdout, r.stderr)
			}
		}
	})
	t.Run("exec", func(t *testing.T) {
		before := bastionLog()[f.RootAddr()]
		r := runGrifork(t, home, "exec", "-H", strings.Join(names, ","), "--", "hostname")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		// Each alias reached its own host: the fleet names host i "<fleet>-i".
		got := map[string]string{}
		for _, l := range strings.Split(r.stdout, "\n") {
			if host, name, ok := strings.Cut(l, " | "); ok {
				got[host] = name
			}
		}
		for i, h := range []string{"bastion", "web1", "web2", "far"} {
			if want := fmt.Sprintf("%s-%d", f.Name(), i+1); got[h] != want {
				t.Errorf("%s answered %q, want %q", h, got[h], want)
			}
		}
		if n := bastionLog()[f.RootAddr()] - before; n != 1 {
			t.Errorf("the root logged into the bastion %d times, want once (shared by every host behind it)", n)
		}
	})
	t.Run("revoked host refused by name", func(t *testing.T) {
		r := runGrifork(t, home, "exec", "-H", "old", "--", "true")
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "host old: host key revoked") {
			t.Fatalf("exit %d, want a refusal naming old as revoked:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("copy", func(t *testing.T) {
		r := runGrifork(t, home, "copy", "-f", gf(""), app, "/srv/copy")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		check(t, "/srv/copy")
	})
	t.Run("standalone with rsync and rsync_remote", func(t *testing.T) {
		r := runGrifork(t, home, "-f", gf(fmt.Sprintf(`locally(function(src, dst) rsync(%q, "/srv/sa/") end)
remote(function(src, dst) rsync_remote("/srv/sa/") end)`, app+"/")))
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		check(t, "/srv/sa")
	})
	t.Run("grifork mode", func(t *testing.T) {
		r := runGrifork(t, home, "-f", gf(fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
locally(function(src, dst) rsync(%q, "/srv/gm/") end)
remote(function(src, dst) rsync("/srv/gm/") end)`, griforkTmp, app+"/")))
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		check(t, "/srv/gm")
	})
	t.Run("broadcast", func(t *testing.T) {
		report := filepath.Join(home, "broadcast.json")
		r := runGrifork(t, home, "-f", gf(fmt.Sprintf(`broadcast { from = %q, to = "/srv/bc/" }`, app+"/")), "--report", report)
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		check(t, "/srv/bc")
		// The chain web1, bastion, web2, far: the root reaches web1 only
		// through the bastion, so its stream takes the SSH forward; each
		// relay reaches its child over a TCP connection of its own, so
		// those streams are direct.
		for h, b := range bcReport(t, report) {
			if want := map[bool]string{true: "ssh", false: "direct"}[h == "web1"]; b.Stream != want {
				t.Errorf("%s: stream %q, want %q", h, b.Stream, want)
			}
		}
	})
	// However many runs, the root never reached a host but the bastion.
	for _, h := range a[1:] {
		if got, _ := f.AcceptedConnections(h); got[f.RootAddr()] > 0 {
			t.Errorf("%s accepted a connection from the root: %v", h, got)
		}
	}
	if bastionLog()[f.RootAddr()] == base {
		t.Error("the bastion saw no connection from the root")
	}
	noLeftovers(t, f, 10*time.Second)
}

func newCA(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userKey is a private key (OpenSSH PEM) and its certificate for root by ca.
func userKey(t *testing.T, ca ssh.Signer) (key, cert string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	c := &ssh.Certificate{Key: sp, CertType: ssh.UserCert, KeyId: "operator", ValidPrincipals: []string{"root"},
		ValidBefore: ssh.CertTimeInfinity, Permissions: ssh.Permissions{Extensions: map[string]string{
			// ssh-keygen's defaults: a jump host forwards only for a certificate
			// that permits it.
			"permit-pty": "", "permit-port-forwarding": "", "permit-agent-forwarding": "", "permit-user-rc": "", "permit-X11-forwarding": ""}}}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), string(ssh.MarshalAuthorizedKey(c))
}

// hostKeyOf is the host's plain key as an authorized_keys line.
func hostKeyOf(t *testing.T, f *fleet.Fleet, addr string) string {
	t.Helper()
	b, err := os.ReadFile(f.KnownHostsFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if h, k, ok := strings.Cut(l, " "); ok && h == addr {
			return k + "\n"
		}
	}
	t.Fatalf("no key for %s", addr)
	return ""
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// openSSHMu keeps the fixture checks one at a time: each mounts over /root.
// openSSH runs OpenSSH's ssh to host with home as /root (it reads the passwd
// entry's home, not $HOME), in a private mount namespace.
func openSSH(home, host, cmd string) (string, error) {
	script := "mount --bind " + core.ShellQuote(home) + " /root && exec ssh " + core.ShellQuote(host) + " " + core.ShellQuote(cmd)
	c := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

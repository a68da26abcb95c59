package sshx

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// proxyFleet is a jump sshd and two target sshds on loopback, with one key
// file list and one known_hosts for all of them.
func proxyFleet(t *testing.T, config string) (*Client, []*sshdtest.SSHD) {
	t.Helper()
	var ss []*sshdtest.SSHD
	var keys []string
	var known strings.Builder
	for range 3 {
		s := sshdtest.Start(t, sshdtest.Opts{})
		ss = append(ss, s)
		keys = append(keys, s.UserKey)
		b, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(b)
	}
	dir := t.TempDir()
	kh, cfg := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "config")
	os.WriteFile(kh, []byte(known.String()), 0o600)
	os.WriteFile(cfg, []byte(fmt.Sprintf(config, ss[0].Port, ss[1].Port, ss[2].Port)), 0o600)
	c, err := New(Options{ConfigFile: cfg, Agent: "none", SSH: core.SSHConfig{Keys: keys, KnownHosts: kh}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ss
}

// Targets behind a jump host share one connection to it; the route shows.
func TestProxyJump(t *testing.T) {
	t.Parallel()
	c, ss := proxyFleet(t, `Host jump
  HostName 127.0.0.1
  Port %d
Host t1
  HostName 127.0.0.1
  Port %d
  ProxyJump jump
Host t2
  HostName 127.0.0.1
  Port %d
  ProxyJump jump
`)
	for _, h := range []string{"t1", "t2", "t1"} {
		if got, err := c.Remote(context.Background(), core.Host{Name: h}, "echo ok"); err != nil || got != "ok\n" {
			t.Fatalf("%s: %q, %v", h, got, err)
		}
	}
	if r := c.Route(core.Host{Name: "t2"}); r != "via jump" {
		t.Errorf("route = %q", r)
	}
	for i, want := range []int{1, 1, 1} {
		if got := ss[i].Connections(t); got != want {
			t.Errorf("sshd %d: %d connections, want %d (one to the jump host, shared)", i, got, want)
		}
	}
}

// Two hops (each resolved through the config) and a ProxyCommand whose
// process group ends with the connection.
func TestProxyHopsAndCommand(t *testing.T) {
	t.Parallel()
	c, ss := proxyFleet(t, `Host j1
  HostName 127.0.0.1
  Port %d
Host j2
  HostName 127.0.0.1
  Port %d
Host far
  HostName 127.0.0.1
  Port %d
  ProxyJump j1,j2
Host piped
  HostName 127.0.0.1
  Port %[3]d
  ProxyCommand exec bash -c 'exec 3<>/dev/tcp/%%h/%%p; cat <&3 & exec cat >&3'
`)
	if got, err := c.Remote(context.Background(), core.Host{Name: "far"}, "echo far"); err != nil || got != "far\n" {
		t.Fatalf("far: %q, %v", got, err)
	}
	if r := c.Route(core.Host{Name: "far"}); r != "via j1,j2" {
		t.Errorf("route = %q", r)
	}
	for i := range ss {
		if got := ss[i].Connections(t); got != 1 {
			t.Errorf("sshd %d: %d connections, want 1", i, got)
		}
	}
	if got, err := c.Remote(context.Background(), core.Host{Name: "piped"}, "echo piped"); err != nil || got != "piped\n" {
		t.Fatalf("piped: %q, %v", got, err)
	}
	c.mu.Lock()
	var pc *proxyConn
	for _, e := range c.conns {
		if e.t.proxyCmd != "" && e.c != nil {
			pc, _ = e.c.nc.(*proxyConn)
		}
	}
	c.mu.Unlock()
	if pc == nil {
		t.Fatal("no ProxyCommand connection")
	}
	c.Close()
	select {
	case <-pc.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the ProxyCommand outlived the connection")
	}
}

func TestParseHop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, user, host string
		port           int
		err            bool
	}{
		{in: "bastion", host: "bastion"},
		{in: "ops@b2:2200", user: "ops", host: "b2", port: 2200},
		{in: "ssh://a@[2001:db8::1]:22", user: "a", host: "2001:db8::1", port: 22},
		{in: "x@h:99999", err: true},
		{in: "u@", err: true},
	} {
		u, h, p, err := parseHop(tc.in)
		if (err != nil) != tc.err || !tc.err && (u != tc.user || h != tc.host || p != tc.port) {
			t.Errorf("parseHop(%q) = %q %q %d %v", tc.in, u, h, p, err)
		}
	}
}

// A jump host that cannot be reached fails its targets with both names.
func TestProxyJumpDown(t *testing.T) {
	t.Parallel()
	port := sshdtest.FreePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host jump\n  HostName 127.0.0.1\n  Port %d\nHost t\n  ProxyJump jump\n", port)), 0o600)
	c, err := New(Options{ConfigFile: cfg, Agent: "none", SSH: core.SSHConfig{Retries: new(int)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Remote(context.Background(), core.Host{Name: "t"}, "true")
	if err == nil || !strings.Contains(err.Error(), "host t: jump host: host jump: connect to 127.0.0.1:") {
		t.Fatalf("err = %v", err)
	}
}

// DirectAddr names the host's own address, from ssh_config before any
// connection and from the open connection's TCP stream after, and nothing for
// a host reached through a jump host or a ProxyCommand: the broadcast's
// direct stream dials only the former.
func TestDirectAddr(t *testing.T) {
	t.Parallel()
	c, _ := proxyFleet(t, `Host direct
  HostName 127.0.0.1
  Port %d
Host jumped
  HostName 127.0.0.1
  Port %d
  ProxyJump direct
Host piped
  HostName 127.0.0.1
  Port %d
  ProxyCommand exec bash -c 'exec 3<>/dev/tcp/%%h/%%p; cat <&3 & exec cat >&3'
Host named
  HostName localhost
  Port 1
Host local
  HostName localhost
  Port %[1]d
  StrictHostKeyChecking accept-new
`)
	for _, tc := range []struct {
		host    string
		connect bool
		want    string // "": no address
	}{
		{"direct", false, "127.0.0.1"},
		{"direct", true, "127.0.0.1"},
		{"named", false, "localhost"},
		{"local", false, "localhost"},
		{"local", true, "loopback"}, // the address the open connection reached, not the name
		{"jumped", false, ""},
		{"jumped", true, ""},
		{"piped", true, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if tc.connect {
			if err := c.Connect(ctx, core.Host{Name: tc.host}); err != nil {
				t.Fatalf("%s: %v", tc.host, err)
			}
		}
		cancel()
		got, err := c.DirectAddr(core.Host{Name: tc.host})
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if tc.want == "loopback" {
			if a, err := netip.ParseAddr(got); err != nil || !a.IsLoopback() {
				t.Errorf("%s (connected): DirectAddr = %q, want a loopback address", tc.host, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s (connected %v): DirectAddr = %q, want %q", tc.host, tc.connect, got, tc.want)
		}
	}
}

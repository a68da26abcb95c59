package node

import (
	"context"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// A broadcast holds a connection to every host at once: with fewer allowed
// it fails before it starts, rather than wait forever with half its relays up.
func TestBroadcastNeedsAConnectionPerHost(t *testing.T) {
	t.Parallel()
	c, err := sshx.New(sshx.Options{SSH: core.SSHConfig{MaxConnections: 2}, ConfigFile: "none", Agent: "none", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tree, err := core.BuildTree([]core.Host{{Name: "web1"}, {Name: "web2"}, {Name: "web3"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBroadcaster(c, BroadcastOptions{Config: core.BroadcastConfig{From: t.TempDir() + "/", To: "/srv/app/"}})
	_, err = b.Broadcast(context.Background(), tree)
	if err == nil || !strings.Contains(err.Error(), "its 3 hosts need 3 connections from this machine at once, more than ssh { max_connections = 2 }") {
		t.Errorf("err = %v, want the bound named", err)
	}
}

package core

import (
	"context"
	"testing"
)

func TestOutputLabel(t *testing.T) {
	t.Parallel()
	root := &Node{ID: "0.0", Host: Host{Name: RootHost}}
	web1 := &Node{ID: "0.0-1.0", Level: 1, Host: Host{Name: "web1"}, Parent: root}
	web2 := &Node{ID: "0.0-1.0-2.0", Level: 2, Host: Host{Name: "web2", User: "deploy"}, Parent: web1}
	remote := WithEdge(context.Background(), Edge{Block: BlockRemote, Src: web1, Dst: web2})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		host *Host
		want string
	}{
		{"rsync_remote on the source: the destination", remote, &web1.Host, "deploy@web2"},
		{"ssh to the destination: as shown", remote, &web2.Host, ""},
		{"another host: as shown", remote, &Host{Name: "db1"}, ""},
		{"no edge: as shown", context.Background(), &web1.Host, ""},
		{"node task: as shown", WithEdge(context.Background(), Edge{Block: BlockPrepareRemote, Src: web1}), &web1.Host, ""},
		{"this machine, edge task: the destination", WithEdge(context.Background(), Edge{Block: BlockLocally, Src: root, Dst: web2}), nil, "deploy@web2"},
		{"this machine, node task: the source", WithEdge(context.Background(), Edge{Block: BlockPrepare, Src: root}), nil, RootHost},
		{"this machine, no edge: the transport's", context.Background(), nil, ""},
	} {
		if got := OutputLabel(tc.ctx, tc.host); got != tc.want {
			t.Errorf("%s: label %q, want %q", tc.name, got, tc.want)
		}
	}
}

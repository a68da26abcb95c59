package core

import (
	"bytes"
	"context"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"io"
	"strings"
	"testing"

	"github.com/grifork/grifork/redact"
)

// dslLike plays a Griforkfile through an Exec, the way the dsl helpers do:
// prepare runs sh, locally runs ssh and rsync, remote runs rsync_remote, finish
// runs sh with a secret in it; web3's edge runs nothing.
type dslLike struct{ x Exec }

func (d dslLike) Defined(Block) bool { return true }

func (d dslLike) rsyncArgv(dst Host) []string {
	return []string{"rsync", "-az", "--delete", "--exclude=.git", "--rsh=" + d.x.Rsh(dst), "/srv/app/", dst.RsyncTarget() + ":/srv/app/"}
}

func (d dslLike) Run(ctx context.Context, e Edge) error {
	switch {
	case e.Block == BlockPrepare:
		_, err := d.x.Local(ctx, []string{"mkdir", "-p", "tmp dir"})
		return err
	case e.Dst.Name() == "web3":
		return nil
	case e.Block == BlockLocally:
		if _, err := d.x.Remote(ctx, e.Dst.Host, ShellJoin([]string{"mkdir", "-p", "/srv/a b/$(touch /tmp/pwned);x"})); err != nil {
			return err
		}
		_, err := d.x.Local(ctx, d.rsyncArgv(e.Dst.Host))
		return err
	default:
		_, err := d.x.Remote(ctx, e.Src.Host, ShellJoin(d.rsyncArgv(e.Dst.Host)))
		return err
	}
}

func (d dslLike) Finish(ctx context.Context, r *Report) error {
	_, err := d.x.Local(ctx, []string{"/bin/sh", "-c", fmt.Sprintf("echo %d ok | mail -s pw=hunter2 ops", r.Count(StatusOK))})
	return err
}

func testRsh(h Host) string {
	if h.Port != 0 {
		return fmt.Sprintf("ssh -p %d -o BatchMode=yes", h.Port)
	}
	return "ssh -o BatchMode=yes"
}

func TestDryRunPlan(t *testing.T) {
	t.Parallel()
	hosts := append(webHosts(6), Host{Name: "db1", User: "deploy", Port: 2222})
	tr, err := BuildTree(hosts, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Branches: 3, Hosts: hosts, SSH: SSHConfig{Password: "hunter2", Passphrase: "s3cret"}}
	rec := NewRecorder(testRsh, cfg.SSH.Redactor())
	r := RunStandalone(context.Background(), tr, dslLike{rec}, RunOptions{Barrier: true, Concurrency: 1})
	if !r.OK() {
		t.Fatalf("dry run failed: %s", statuses(r))
	}
	var b bytes.Buffer
	if err := WritePlan(&b, tr, cfg, rec, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "[REDACTED]") {
		t.Error("secret not redacted from the plan")
	}
	golden.Check(t, "testdata/plan/standalone.txt", out)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 2, 3)
	web1 := find(tr, "0.0-1.0")
	e := Edge{Block: BlockLocally, Src: tr.Root, Dst: web1}
	rec := NewRecorder(nil, nil)
	ctx := WithEdge(context.Background(), e)
	argv := []string{"echo", "a b"}
	if out, err := rec.Local(ctx, argv); out != "" || err != nil {
		t.Errorf("Local = %q, %v", out, err)
	}
	argv[1] = "changed" // the recorder keeps its own copy
	if out, err := rec.Remote(ctx, web1.Host, "uptime"); out != "" || err != nil {
		t.Errorf("Remote = %q, %v", out, err)
	}
	rec.RecordFork(ctx, web1, "grifork --on-remote")
	if _, err := rec.Local(context.Background(), []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Rsh(web1.Host); got != "ssh" {
		t.Errorf("default Rsh = %q", got)
	}
	var got []string
	for _, s := range rec.Steps(e) {
		got = append(got, s.String())
	}
	want := "local: echo 'a b' | ssh web1: uptime | fork web1: grifork --on-remote"
	if strings.Join(got, " | ") != want {
		t.Errorf("steps %q, want %q", strings.Join(got, " | "), want)
	}
	// The plan keys edges by node ids, so a copy of the tree finds the same steps.
	sub := tr.Subtree(tr.Root)
	if n := len(rec.Steps(Edge{Block: BlockLocally, Src: sub.Root, Dst: find(sub, "0.0-1.0")})); n != 3 {
		t.Errorf("%d steps through a tree copy, want 3", n)
	}
	if s := rec.Steps(Edge{}); len(s) != 1 || s[0].Argv[0] != "true" {
		t.Errorf("steps outside any task: %v", s)
	}
	if s := rec.Steps(Edge{Block: BlockRemote, Src: tr.Root, Dst: web1}); len(s) != 0 {
		t.Errorf("steps of another block: %v", s)
	}
}

// Grow keeps the steps recorded before it.
func TestRecorderGrow(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 2, 3)
	e := Edge{Block: BlockLocally, Src: tr.Root, Dst: find(tr, "0.0-1.0")}
	ctx := WithEdge(context.Background(), e)
	rec := NewRecorder(nil, nil)
	for _, grow := range []int{0, 100, 0} {
		rec.Grow(grow)
		if _, err := rec.Local(ctx, []string{"true"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec.Steps(e)); n != 3 {
		t.Errorf("%d steps, want 3", n)
	}
}

// TestWritePlanEdges prints an edge list of grifork mode's shape, forks included,
// as its dry-run will.
func TestWritePlanEdges(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 4, 3)
	web1 := find(tr, "0.0-1.0")
	sub := tr.Subtree(web1)
	web4 := find(sub, "0.0-1.0-2.0")
	rec := NewRecorder(nil, redact.New("tok123"))
	edges := []Edge{
		{Block: BlockPrepare, Src: tr.Root},
		{Block: BlockLocally, Src: tr.Root, Dst: web1},
		{Block: BlockLocally, Src: tr.Root, Dst: find(tr, "0.0-1.1")},
		{Block: BlockPrepareRemote, Src: sub.Root},
		{Block: BlockRemote, Src: sub.Root, Dst: web4},
		{Block: BlockFinishRemote, Src: sub.Root},
		{Block: BlockFinish, Src: tr.Root},
	}
	ctx := WithEdge(context.Background(), edges[1])
	if _, err := rec.Local(ctx, []string{"rsync", "-a", "/srv/app/", "web1:/srv/app/"}); err != nil {
		t.Fatal(err)
	}
	rec.RecordFork(ctx, web1, "cd /tmp/grifork && ./grifork --on-remote --token=tok123")
	if _, err := rec.Remote(WithEdge(context.Background(), edges[4]), web1.Host, "rsync -a /srv/app/ web4:/srv/app/"); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WritePlanEdges(&b, edges, rec); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/plan/edges.txt", b.String())
}

func TestPlanEdges(t *testing.T) {
	t.Parallel()
	var got []string
	for _, e := range PlanEdges(mustTree(t, 5, 2)) {
		s := string(e.Block) + ":" + e.Src.Name()
		if e.Dst != nil {
			s += ">" + e.Dst.Name()
		}
		got = append(got, s)
	}
	want := "prepare:localhost locally:localhost>web1 locally:localhost>web2 remote:web1>web3 remote:web1>web4 remote:web2>web5 finish:localhost"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

// Both plans redact secrets from everything they print, the tree and the
// broadcast's part included (a password pasted into a host entry as its user,
// say), and print the broadcast's part where it runs: after prepare.
func TestPlansRedactTheTree(t *testing.T) {
	t.Parallel()
	hosts := []Host{{Name: "web1", User: "hunter2"}, {Name: "web2"}}
	tr, err := BuildTree(hosts, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Branches: 1, Hosts: hosts, SSH: SSHConfig{Password: "hunter2"}}
	broadcast := func(w io.Writer) error {
		_, err := io.WriteString(w, "broadcast as hunter2\n")
		return err
	}
	for name, write := range map[string]func(io.Writer, *Tree, Config, *Recorder, func(io.Writer) error) error{
		"standalone": WritePlan,
		"grifork":    WriteGriforkPlan,
	} {
		var b bytes.Buffer
		if err := write(&b, tr, cfg, NewRecorder(nil, cfg.SSH.Redactor()), broadcast); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, "hunter2") || !strings.HasPrefix(out, "localhost (0.0)\n") {
			t.Errorf("%s plan:\n%s", name, out)
		}
		if !strings.Contains(out, "\nprepare on localhost\n  (no commands)\n\nbroadcast as ") {
			t.Errorf("%s plan: the broadcast's part does not follow prepare:\n%s", name, out)
		}
	}
}

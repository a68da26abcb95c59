package adhoc

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func config() core.Config {
	retries := 0
	return core.Config{
		Mode: core.Grifork, Branches: 3,
		Hosts: []core.Host{{Name: "web1"}, {Name: "db1", User: "deploy", Port: 2222}},
		Log:   core.LogConfig{File: "g.log", Level: "debug"},
		SSH: core.SSHConfig{User: "ops", Keys: []string{"~/.ssh/id_ed25519"}, Passphrase: `p"w\d`, Port: 2200,
			KnownHosts: "/etc/kh", HostKeyCheck: "accept-new", Timeout: 2500 * time.Millisecond,
			CommandTimeout: 90 * time.Second, Retries: &retries},
		Grifork: core.GriforkConfig{Chdir: "/srv", Tmpdir: "/tmp/g", Exec: "/usr/bin/grifork", User: "deploy",
			HeartbeatTimeout: 45 * time.Second},
		MaxFailures: core.FailureBudget{Set: true, Max: 25, Percent: true},
	}
}

// load loads src and runs its locally and remote blocks for web1 and db1 on
// the dry-run Recorder; it returns the commands they ran, in order.
func load(t *testing.T, src []byte) (*dsl.Script, []string) {
	t.Helper()
	rec := core.NewRecorder(nil, nil)
	s, err := dsl.Load(context.Background(), dsl.Source{Name: "adhoc", Content: src}, nil,
		dsl.Options{Printer: output.NewPrinter(&strings.Builder{}, nil)})
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	s.Bind(rec, nil)
	t.Cleanup(s.Close)
	tree, err := core.BuildTree(s.Config.Hosts, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := tree.Root.Children[0], tree.Root.Children[0].Children[0]
	var calls []string
	for _, e := range []core.Edge{{Block: core.BlockLocally, Src: tree.Root, Dst: a}, {Block: core.BlockRemote, Src: a, Dst: b}} {
		if err := s.Run(ctx, e); err != nil {
			t.Fatal(err)
		}
		for _, st := range rec.Steps(e) {
			if st.Kind == core.StepLocal {
				calls = append(calls, fmt.Sprintf("local %q", st.Argv))
			} else {
				calls = append(calls, "remote "+st.Host.String()+" "+st.Cmdline)
			}
		}
	}
	return s, calls
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}

// TestSettingsRoundTrip: what the generated file sets is the Config it was made from.
func TestSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	c := config()
	src := Exec(c, []string{"true"})
	golden(t, "exec", src)
	s, _ := load(t, src)
	yes := true // exec writes no rsync directive: the default
	c.Rsync.Delete = &yes
	c.SSH.HostKeyCheckSet = c.SSH.HostKeyCheck != "" // the file writes it, so it is set there
	if !reflect.DeepEqual(s.Config, c) {
		t.Errorf("loaded config\n%+v\nwant\n%+v", s.Config, c)
	}
	// A budget in hosts, and none.
	for _, b := range []core.FailureBudget{{Set: true, Max: 0}, {Set: true, Max: 3}, {}} {
		c.MaxFailures = b
		s, _ := load(t, Exec(c, []string{"true"}))
		if s.Config.MaxFailures != b {
			t.Errorf("max_failures %+v came back as %+v", b, s.Config.MaxFailures)
		}
	}
}

func TestExecArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want string // the remote command line
	}{
		{[]string{"hostname"}, "hostname"},
		{[]string{"uptime; df -h"}, "uptime; df -h"},
		{[]string{"echo", "a b", `"q" \ $x`, "; rm", "tab\tnl\n"}, `echo 'a b' '"q" \ $x' '; rm' 'tab	nl` + "\n'"},
	}
	for _, tt := range tests {
		t.Run(tt.argv[0], func(t *testing.T) {
			t.Parallel()
			_, calls := load(t, Exec(core.Config{Hosts: []core.Host{{Name: "a"}, {Name: "b"}}}, tt.argv))
			want := []string{"remote a " + tt.want, "remote b " + tt.want}
			if !reflect.DeepEqual(calls, want) {
				t.Errorf("calls %q, want %q", calls, want)
			}
		})
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	hosts := []core.Host{{Name: "a"}, {Name: "b"}}
	yes, no := true, false
	tests := []struct {
		name     string
		src, dst string
		del      bool
		direct   bool
		branches int
		want     core.BroadcastConfig
	}{
		{"file", "/etc/motd", "/etc/motd", false, true, 1, core.BroadcastConfig{From: "/etc/motd", To: "/etc/motd", Delete: &no, Direct: &yes, Branches: 1}},
		{"dir with delete", "./app", "/srv/app", true, true, 2, core.BroadcastConfig{From: "./app", To: "/srv/app", Delete: &yes, Direct: &yes, Branches: 2}},
		{"odd name", `./a "b"`, `/srv/a "b"`, false, true, 3, core.BroadcastConfig{From: `./a "b"`, To: `/srv/a "b"`, Delete: &no, Direct: &yes, Branches: 3}},
		{"no direct", "./app", "/srv/app", false, false, 1, core.BroadcastConfig{From: "./app", To: "/srv/app", Delete: &no, Direct: &no, Branches: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := load(t, Copy(core.Config{Hosts: hosts}, tt.src, tt.dst, tt.del, tt.direct, tt.branches))
			if got := s.Config.Broadcast; got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("broadcast %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"`, `\`, "a\x00b", "\x7f\x01", "ünï", "]]", "--[["} {
		_, calls := load(t, Exec(core.Config{Hosts: []core.Host{{Name: "a"}, {Name: "b"}}}, []string{"x", s}))
		if want := "remote a x " + core.ShellJoin([]string{s}); calls[0] != want {
			t.Errorf("quote(%q): got %q, want %q", s, calls[0], want)
		}
	}
}

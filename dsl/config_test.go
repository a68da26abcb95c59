package dsl

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func boolp(b bool) *bool { return &b }
func intp(n int) *int    { return &n }

// defaults is the Config of a file that sets nothing.
func defaults() core.Config {
	return core.Config{
		Mode:     core.Standalone,
		Branches: 4,
		SSH:      core.SSHConfig{HostKeyCheck: "strict", Timeout: 10 * time.Second, Retries: intp(2)},
		Rsync:    core.RsyncConfig{Delete: boolp(true)},
	}
}

func TestDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want func(c *core.Config)
	}{
		{"nothing", ``, func(c *core.Config) {}},
		{"mode grifork", `mode "grifork"`, func(c *core.Config) { c.Mode = core.Grifork }},
		{"mode standalone", `mode "standalone"`, func(c *core.Config) {}},
		{"branches", `branches(3)`, func(c *core.Config) { c.Branches = 3 }},
		{"log", `log { file = "g.log", level = "debug" }`, func(c *core.Config) {
			c.Log = core.LogConfig{File: "g.log", Level: "debug"}
		}},
		{"hosts", `hosts { "web1", "deploy@db1:2222", "[fe80::1]:22", "web[08-10].x", "db[1-2,7]" }`, func(c *core.Config) {
			c.Hosts = []core.Host{{Name: "web1"}, {Name: "db1", User: "deploy", Port: 2222}, {Name: "fe80::1", Port: 22},
				{Name: "web08.x"}, {Name: "web09.x"}, {Name: "web10.x"}, {Name: "db1"}, {Name: "db2"}, {Name: "db7"}}
		}},
		{"hosts as one string", `hosts "web[1-2]"`, func(c *core.Config) {
			c.Hosts = []core.Host{{Name: "web1"}, {Name: "web2"}}
		}},
		{"ssh", `ssh { user = "deploy", keys = { "~/.ssh/a", "~/.ssh/b" }, passphrase = "pp", password = "pw",
			port = 2200, known_hosts = "/k", host_key_check = "accept-new", timeout = 2.5, command_timeout = 600, retries = 0 }`, func(c *core.Config) {
			c.SSH = core.SSHConfig{User: "deploy", Keys: []string{"~/.ssh/a", "~/.ssh/b"}, Passphrase: "pp", Password: "pw",
				Port: 2200, KnownHosts: "/k", HostKeyCheck: "accept-new", HostKeyCheckSet: true, Timeout: 2500 * time.Millisecond,
				CommandTimeout: 10 * time.Minute, Retries: intp(0)}
		}},
		{"ssh no command timeout, more retries", `ssh { command_timeout = 0, retries = 5 }`, func(c *core.Config) {
			c.SSH.Retries = intp(5)
		}},
		{"ssh max connections", `ssh { max_connections = 200 }`, func(c *core.Config) {
			c.SSH.MaxConnections = 200
		}},
		{"numbers from the environment are strings", `branches("3") ssh { port = " 2222", timeout = "1.5" } rsync { bwlimit = "100" }`, func(c *core.Config) {
			c.Branches = 3
			c.SSH.Port = 2222
			c.SSH.Timeout = 1500 * time.Millisecond
			c.Rsync.Bwlimit = 100
		}},
		{"ssh one key", `ssh { keys = "~/.ssh/a", host_key_check = "off" }`, func(c *core.Config) {
			c.SSH.Keys = []string{"~/.ssh/a"}
			c.SSH.HostKeyCheck = "off"
			c.SSH.HostKeyCheckSet = true
		}},
		{"rsync table", `rsync { delete = false, bwlimit = 4096, verbose = true, excludes = { ".git", "*.tmp" }, rsh = "ssh -q", dry_run = true }`, func(c *core.Config) {
			c.Rsync = core.RsyncConfig{Delete: boolp(false), Bwlimit: 4096, Verbose: true, Excludes: []string{".git", "*.tmp"}, Rsh: "ssh -q", DryRun: true}
		}},
		{"rsync empty table", `rsync {}`, func(c *core.Config) {}},
		{"rsync array", `rsync { "-az", "--delete", "--exclude=.git" }`, func(c *core.Config) {
			c.Rsync = core.RsyncConfig{Raw: []string{"-az", "--delete", "--exclude=.git"}}
		}},
		{"grifork implies its mode", `grifork { chdir = "/srv", tmpdir = "/tmp/g", exec = "/usr/local/bin/grifork", user = "deploy" }`, func(c *core.Config) {
			c.Mode = core.Grifork
			c.Grifork = core.GriforkConfig{Chdir: "/srv", Tmpdir: "/tmp/g", Exec: "/usr/local/bin/grifork", User: "deploy"}
		}},
		{"grifork heartbeat timeout", `grifork { heartbeat_timeout = 12.5 }`, func(c *core.Config) {
			c.Mode = core.Grifork
			c.Grifork.HeartbeatTimeout = 12500 * time.Millisecond
		}},
		{"grifork binaries, absolute", `grifork { binaries = "/opt/grifork" }`, func(c *core.Config) {
			c.Mode = core.Grifork
			c.Grifork.Binaries = "/opt/grifork"
		}},
		{"grifork binaries, relative to the Griforkfile", `grifork { binaries = "bin" }`, func(c *core.Config) {
			c.Mode = core.Grifork
			// load names the Griforkfile Griforkfile.lua, in the working directory.
			wd, err := os.Getwd()
			if err != nil {
				panic(err)
			}
			c.Grifork.Binaries = filepath.Join(wd, "bin")
		}},
		{"grifork after its mode", "mode \"grifork\"\ngrifork { chdir = \"/\" }", func(c *core.Config) {
			c.Mode = core.Grifork
			c.Grifork.Chdir = "/"
		}},
		{"parallel", `parallel "in_processes"`, func(c *core.Config) {}},
		{"max_failures none allowed", `max_failures(0)`, func(c *core.Config) {
			c.MaxFailures = core.FailureBudget{Set: true}
		}},
		{"max_failures hosts", `max_failures(2)`, func(c *core.Config) {
			c.MaxFailures = core.FailureBudget{Set: true, Max: 2}
		}},
		{"max_failures from the environment", `max_failures("3")`, func(c *core.Config) {
			c.MaxFailures = core.FailureBudget{Set: true, Max: 3}
		}},
		{"max_failures percentage", `max_failures("25%")`, func(c *core.Config) {
			c.MaxFailures = core.FailureBudget{Set: true, Max: 25, Percent: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := load(t, tt.src, nil)
			want := defaults()
			tt.want(&want)
			if got := h.script.Config; !reflect.DeepEqual(got, want) {
				t.Errorf("Config:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestBlocksDefined(t *testing.T) {
	t.Parallel()
	all := []core.Block{core.BlockPrepare, core.BlockLocally, core.BlockRemote,
		core.BlockPrepareRemote, core.BlockFinishRemote, core.BlockFinish}
	src := `
prepare(function() end)
locally(function(src, dst) end)
remote(function(src, dst) end)
prepare_remote(function() end)
finish_remote(function() end)
finish(function(report) end)
`
	h := load(t, src, nil)
	for _, b := range all {
		if !h.script.Defined(b) {
			t.Errorf("Defined(%s) = false", b)
		}
	}
	none := load(t, `locally(function() end)`, nil)
	if none.script.Defined(core.BlockRemote) {
		t.Error("Defined(remote) without a remote block")
	}
}

// Each block runs with the arguments the DSL documents, and an undefined block is
// a no-op.
func TestBlockArguments(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1", "deploy@web2:2222" }
branches(1)
prepare(function(...) print("prepare", select("#", ...), ...) end)
locally(function(src, dst) print("locally", src, dst) end)
remote(function(src, dst) print("remote", src, dst) end)
prepare_remote(function(node) print("prepare_remote", node) end)
finish_remote(function(node) print("finish_remote", node) end)
`, nil)
	for _, r := range []struct {
		block    core.Block
		src, dst string
	}{
		{core.BlockPrepare, "localhost", ""},
		{core.BlockLocally, "localhost", "web1"},
		{core.BlockRemote, "web1", "deploy@web2:2222"},
		{core.BlockPrepareRemote, "web1", ""},
		{core.BlockFinishRemote, "web1", ""},
	} {
		if err := h.run(r.block, r.src, r.dst); err != nil {
			t.Fatalf("%s: %v", r.block, err)
		}
	}
	if err := h.script.Finish(context.Background(), core.NewReport(core.Standalone, h.tree)); err != nil {
		t.Errorf("Finish without a finish block: %v", err)
	}
	want := "localhost | prepare\t1\tlocalhost\n" +
		"web1 | locally\tlocalhost\tweb1\n" +
		"deploy@web2:2222 | remote\tweb1\tdeploy@web2:2222\n" +
		"web1 | prepare_remote\tweb1\n" +
		"web1 | finish_remote\tweb1\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestOverride(t *testing.T) {
	t.Parallel()
	main := `
mode "standalone"
branches(3)
hosts { "web[1-4]" }
ssh { user = "deploy", port = 22 }
rsync { bwlimit = 100 }
locally(function(src, dst) print("main locally") end)
remote(function(src, dst) print("main remote") end)
`
	override := Source{Name: "override.lua", Content: []byte(`
branches(2)
hosts { "test1", "test2" }
ssh { user = "ci" }
locally(function(src, dst) print("override locally") end)
`)}
	h, err := tryLoad(t, main, &override, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Branches = 2
	want.Hosts = []core.Host{{Name: "test1"}, {Name: "test2"}}
	want.SSH.User = "ci" // the override's ssh replaces the main file's, port included
	want.Rsync.Bwlimit = 100
	want.Rsync.Delete = boolp(true)
	if got := h.script.Config; !reflect.DeepEqual(got, want) {
		t.Errorf("Config:\n got %+v\nwant %+v", got, want)
	}
	if err := h.run(core.BlockLocally, "localhost", "test1"); err != nil {
		t.Fatal(err)
	}
	if err := h.run(core.BlockRemote, "test1", "test2"); err != nil {
		t.Fatal(err)
	}
	if got, want := h.out.String(), "test1 | override locally\ntest2 | main remote\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	m, o := h.script.Sources()
	if m.Name != "Griforkfile.lua" || o == nil || o.Name != "override.lua" {
		t.Errorf("Sources() = %q, %v", m.Name, o)
	}
}

// TestMaxFailuresErrors: a bad budget is one error at its file and line, and
// the directive is set once per file (the override replaces it).
func TestMaxFailuresErrors(t *testing.T) {
	t.Parallel()
	const bad = `max_failures must be a number of hosts >= 0 or a percentage such as "10%", got `
	tests := []struct{ name, main, override, want string }{
		{"negative", "\nmax_failures(-1)", "", "Griforkfile.lua:2: " + bad + "-1"},
		{"fraction", "max_failures(1.5)", "", "Griforkfile.lua:1: " + bad + "1.5"},
		{"word", `max_failures("some")`, "", `Griforkfile.lua:1: ` + bad + `"some"`},
		{"percentage of nothing", `max_failures("x%")`, "", `Griforkfile.lua:1: ` + bad + `"x%"`},
		{"fractional percentage", `max_failures("2.5%")`, "", `Griforkfile.lua:1: ` + bad + `"2.5%"`},
		{"over 100%", `max_failures("150%")`, "", "Griforkfile.lua:1: max_failures must be a percentage from 0% to 100%, got 150%"},
		{"a table", `max_failures { 2 }`, "", "Griforkfile.lua:1: " + bad + "a table"},
		{"no value", `max_failures()`, "", `Griforkfile.lua:1: max_failures takes one value: max_failures(2) or max_failures("10%"), got nothing`},
		{"twice", "max_failures(1)\nmax_failures(2)", "", `Griforkfile.lua:2: "max_failures" is already set (first set at line 1)`},
		{"inside a block", `hosts { "web1" } locally(function() max_failures(1) end)`, "", ""},
		{"override replaces it", "max_failures(1)", `max_failures("10%")`, "10%"},
		{"override keeps it", "max_failures(1)", `branches(2)`, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o *Source
			if tt.override != "" {
				o = &Source{Name: "override.lua", Content: []byte(tt.override)}
			}
			h, err := tryLoad(t, tt.main, o, nil)
			got := ""
			switch {
			case err != nil:
				got = err.Error()
			case tt.name == "inside a block":
				got = fmt.Sprint(h.run(core.BlockLocally, core.RootHost, "web1"))
				if !strings.Contains(got, "max_failures is a directive: use it at the top level") {
					t.Errorf("run: %s", got)
				}
				return
			default:
				got = h.script.Config.MaxFailures.String()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOverrideRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, main, override, want string // want: Load error, or "mode=..." when it loads
	}{
		{"each file may set a directive once", `branches(2)`, "branches(3)\nbranches(4)",
			`override.lua:2: "branches" is already set (first set at line 1)`},
		{"override replaces mode", `grifork { chdir = "/" }`, `mode "standalone"`, "mode=standalone"},
		{"override's grifork implies grifork mode", `mode "standalone"`, `grifork { chdir = "/" }`, "mode=grifork"},
		{"errors name the override", `branches(2)`, "\n\nhosts {}", "override.lua:3: hosts: the list is empty"},
		{"override fills an empty host list", `hosts {}`, `hosts { "web1" }`, "mode=standalone"},
		{"override empties the host list", `hosts { "web1" }`, "\nhosts {}", "override.lua:2: hosts: the list is empty"},
		{"an empty list without override", "\nhosts {}", ``, "Griforkfile.lua:2: hosts: the list is empty"},
		{"syntax errors name the override", ``, "locally(", "override.lua:1: syntax error at end of file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := tryLoad(t, tt.main, &Source{Name: "override.lua", Content: []byte(tt.override)}, nil)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = "mode=" + string(h.script.Config.Mode)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParallelWarnsOnce(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	_, err := tryLoad(t, `parallel "in_threads"`, &Source{Name: "o.lua", Content: []byte(`parallel "in_threads"`)}, nil,
		func(o *Options) { o.Logger = logger })
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestReadSource(t *testing.T) {
	t.Parallel()
	src, err := ReadSource("testdata/errors/branches_twice.lua")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(context.Background(), src, nil, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/errors/branches_twice.lua:3: ") {
		t.Errorf("error %v does not name the file by its path", err)
	}
	if _, err := ReadSource("testdata/nonexistent.lua"); err == nil {
		t.Error("ReadSource of a missing file: no error")
	}
}

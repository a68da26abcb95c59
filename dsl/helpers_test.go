package dsl

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
)

// TestHelperCommands checks the exact commands that helpers hand to core.Exec.
func TestHelperCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		conf   string // top-level settings besides hosts
		block  core.Block
		src    string
		dst    string
		body   string
		want   []string
		output string
	}{
		{name: "sh argv", body: `sh("mkdir", { "-p", "a b", 7 })`,
			want: []string{`[locally] local "mkdir" "-p" "a b" "7"`}},
		{name: "sh empty args go through the shell", body: `sh("date >> tmp/log", {})`,
			want: []string{`[locally] local "/bin/sh" "-c" "date >> tmp/log"`}},
		{name: "sh string through the shell", body: `sh("date > tmp/last")`,
			want: []string{`[locally] local "/bin/sh" "-c" "date > tmp/last"`}},
		{name: "sh returns stdout", body: `print(sh("hostname"))`,
			want: []string{`[locally] local "/bin/sh" "-c" "hostname"`}, output: "web1 | out:/bin/sh -c hostname\n"},
		{name: "ssh command as written", body: `ssh(dst, "cd /srv && make")`,
			want: []string{`[locally] remote web1 cd /srv && make`}},
		{name: "ssh args are data", body: `ssh(dst, "echo", { "a b", "it's", "a;b", "$(rm -rf /)", "` + "`id`" + `", "", "plain" })`,
			want: []string{`[locally] remote web1 echo 'a b' 'it'\''s' 'a;b' '$(rm -rf /)' '` + "`id`" + `' '' plain`}},
		{name: "ssh returns stdout", body: `local up = ssh(dst, "uptime") print(up)`,
			want: []string{`[locally] remote web1 uptime`}, output: "web1 | out:uptime\n"},
		{name: "ssh to the node's host", block: core.BlockRemote, src: "web1", dst: "deploy@web2:2222",
			body: `ssh(dst, "uptime") ssh(src, "uptime")`,
			want: []string{`[remote] remote deploy@web2:2222 uptime`, `[remote] remote web1 uptime`}},
		{name: "ssh to another host", body: `ssh("ops@[fe80::1]:2200", "uptime")`,
			want: []string{`[locally] remote ops@[fe80::1]:2200 uptime`}},
		{name: "rsync defaults", body: `rsync("/srv/app/")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/srv/app/" "web1:/srv/app/"`}},
		{name: "rsync from to", body: `rsync("/srv/app/", "/opt/app/")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/srv/app/" "web1:/opt/app/"`}},
		{name: "rsync table options", dst: "deploy@web2:2222",
			conf: `rsync { delete = false, bwlimit = 4096, verbose = true, excludes = { ".git", "*.tmp" }, dry_run = true }`,
			body: `rsync("/srv/app/")`,
			want: []string{`[locally] local "rsync" "-az" "-v" "--bwlimit=4096" "--exclude=.git" "--exclude=*.tmp" "--dry-run" "--rsh=ssh -p 2222" "--" "/srv/app/" "deploy@web2:/srv/app/"`}},
		{name: "rsync rsh setting", conf: `rsync { rsh = "ssh -F /etc/grifork/ssh_config" }`, body: `rsync("/a")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh -F /etc/grifork/ssh_config" "--" "/a" "web1:/a"`}},
		{name: "rsync array form", conf: `rsync { "-rlt", "--partial" }`, body: `rsync("/a")`,
			want: []string{`[locally] local "rsync" "--rsh=ssh" "-rlt" "--partial" "--" "/a" "web1:/a"`}},
		{name: "rsync array form with -e", conf: `rsync { "-az", "-e", "ssh -q" }`, body: `rsync("/a")`,
			want: []string{`[locally] local "rsync" "--rsh=ssh" "-az" "-e" "ssh -q" "--" "/a" "web1:/a"`}},
		{name: "rsync array form with --rsh", conf: `rsync { "-az", "--rsh=rsh" }`, body: `rsync("/a")`,
			want: []string{`[locally] local "rsync" "--rsh=ssh" "-az" "--rsh=rsh" "--" "/a" "web1:/a"`}},
		{name: "rsync to IPv6", dst: "root@fe80::2", body: `rsync("/a")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/a" "root@[fe80::2]:/a"`}},
		{name: "rsync_remote runs on src", block: core.BlockRemote, src: "web1", dst: "deploy@web2:2222",
			body: `rsync_remote("/srv/my app/")`,
			want: []string{`[remote] remote web1 rsync -az --delete '--rsh=ssh -p 2222' -- '/srv/my app/' 'deploy@web2:/srv/my app/'`}},
		{name: "rsync_remote from to", block: core.BlockRemote, src: "web1", dst: "web3",
			body: `rsync_remote("/a/", "/b/")`,
			want: []string{`[remote] remote web1 rsync -az --delete --rsh=ssh -- /a/ web3:/b/`}},
		// Paths are data: an option-like or host-like path never changes what rsync does.
		{name: "rsync path that looks like -e", body: `rsync("-esh -c 'touch /tmp/x'", "/srv/x/")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "-esh -c 'touch /tmp/x'" "web1:/srv/x/"`}},
		{name: "rsync destination that looks like an option", body: `rsync("/a/", "--rsh=sh -c 'touch /tmp/x'")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/a/" "web1:./--rsh=sh -c 'touch /tmp/x'"`}},
		{name: "rsync source that looks like host:path", body: `rsync("evil:/etc/", "/b/") rsync("rsync://evil/m/", "/b/")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "./evil:/etc/" "web1:/b/"`,
				`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "./rsync://evil/m/" "web1:/b/"`}},
		{name: "rsync destination that looks like a daemon module", body: `rsync("/a/", ":module/x")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/a/" "web1:./:module/x"`}},
		{name: "rsync colon after a slash stays as written", body: `rsync("a/b:c", "/d:e")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "a/b:c" "web1:/d:e"`}},
		{name: "rsync array form paths", conf: `rsync { "-rlt" }`, body: `rsync("-x", "-y")`,
			want: []string{`[locally] local "rsync" "--rsh=ssh" "-rlt" "--" "-x" "web1:./-y"`}},
		{name: "rsync_remote path that looks like --rsh", block: core.BlockRemote, src: "web1", dst: "web3",
			body: `rsync_remote("--rsh=sh -c 'touch /tmp/x'", "-e sh")`,
			want: []string{`[remote] remote web1 rsync -az --delete --rsh=ssh -- '--rsh=sh -c '\''touch /tmp/x'\''' 'web3:./-e sh'`}},
		{name: "ssh option-like and shell args are data", body: `ssh(dst, "ls", { "-oProxyCommand=sh -c x", "--", "a'b", "\n" })`,
			want: []string{"[locally] remote web1 ls '-oProxyCommand=sh -c x' -- 'a'\\''b' '\n'"}},
		{name: "sh args are argv, never a shell", body: `sh("echo", { "$(touch /tmp/x)", "; id", "-n" })`,
			want: []string{`[locally] local "echo" "$(touch /tmp/x)" "; id" "-n"`}},
		{name: "rsync_remote from this machine is rsync", body: `rsync_remote("/a/", "/b/")`,
			want: []string{`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/a/" "web1:/b/"`}},
		{name: "sh in prepare", block: core.BlockPrepare, src: "localhost", body: `sh("mkdir", { "-p", "tmp" })`,
			want: []string{`[prepare] local "mkdir" "-p" "tmp"`}},
		{name: "helpers in order", body: `sh("a", {}) ssh(dst, "b") rsync("/c")`,
			want: []string{`[locally] local "/bin/sh" "-c" "a"`, `[locally] remote web1 b`,
				`[locally] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/c" "web1:/c"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.block == "" {
				tt.block, tt.src = core.BlockLocally, "localhost"
			}
			if tt.dst == "" && tt.block != core.BlockPrepare {
				tt.dst = "web1"
			}
			src := fmt.Sprintf("hosts { \"web1\", \"deploy@web2:2222\", \"web3\", \"root@[fe80::2]\" }\nbranches(1)\n%s\n%s(function(src, dst)\n%s\nend)\n",
				tt.conf, tt.block, tt.body)
			ex := &fakeExec{}
			h := load(t, src, ex)
			if err := h.run(tt.block, tt.src, tt.dst); err != nil {
				t.Fatal(err)
			}
			if got := ex.Calls(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("calls:\n got %q\nwant %q", got, tt.want)
			}
			if tt.output != "" && h.out.String() != tt.output {
				t.Errorf("output %q, want %q", h.out.String(), tt.output)
			}
		})
	}
}

var errExit = errors.New("exit status 3")

// A failed helper raises a Lua error that pcall catches; uncaught, it fails the
// task with an error that wraps what Exec returned.
func TestHelperErrors(t *testing.T) {
	t.Parallel()
	ex := &fakeExec{remote: func(_ context.Context, h core.Host, cmdline string) (string, error) {
		if strings.HasPrefix(cmdline, "false") {
			return "", fmt.Errorf("%s: command %s: %w", h, cmdline, errExit)
		}
		return "fine", nil
	}}
	h := load(t, `
hosts { "web1", "web2" }
locally(function(src, dst)
  local ok, err = pcall(function() ssh(dst, "false") end)
  print(ok, err)
  local ok2, err2 = pcall(ssh, dst, "false", { "x" })
  print(ok2, err2)
  print(xpcall(function() local out = ssh(dst, "false") return out end, function(e) return "handled: " .. e end))
  print(ssh(dst, "true"))
  if dst == "web2" then
    ssh(dst, "false", { "again" })
  end
end)
`, ex)
	if err := h.run(core.BlockLocally, "localhost", "web1"); err != nil {
		t.Fatalf("web1: %v", err)
	}
	want := "web1 | false\tGriforkfile.lua:4: ssh: web1: command false: exit status 3\n" +
		"web1 | false\tssh: web1: command false x: exit status 3\n" +
		"web1 | false\thandled: Griforkfile.lua:8: ssh: web1: command false: exit status 3\n" +
		"web1 | fine\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}

	err := h.run(core.BlockLocally, "localhost", "web2")
	const msg = "locally localhost -> web2: Griforkfile.lua:11: ssh: web2: command false again: exit status 3"
	if err == nil || err.Error() != msg {
		t.Fatalf("error %v, want %q", err, msg)
	}
	if !errors.Is(err, errExit) {
		t.Error("errors.Is(err, Exec's error) = false")
	}
	var te *TaskError
	if !errors.As(err, &te) || te.Block != core.BlockLocally || te.Src != "localhost" || te.Dst != "web2" {
		t.Errorf("errors.As TaskError: %+v", te)
	}
}

// Helpers work inside the script's own coroutines, and those coroutines keep
// their own yields.
func TestHelpersInCoroutines(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1" }
locally(function(src, dst)
  local gen = coroutine.wrap(function()
    for _, cmd in ipairs({ "a", "b" }) do
      coroutine.yield(ssh(dst, cmd))
    end
  end)
  print(gen(), gen())
  local co = coroutine.create(function(x)
    local y = coroutine.yield(x + 1)
    sleep(0)
    return y * 2
  end)
  print(coroutine.resume(co, 1))
  print(coroutine.resume(co, 5))
  print(coroutine.status(co))
  print(pcall(pcall, error, "nested", 0))
end)
`, nil)
	if err := h.run(core.BlockLocally, "localhost", "web1"); err != nil {
		t.Fatal(err)
	}
	want := "web1 | out:a\tout:b\nweb1 | true\t2\nweb1 | true\t10\nweb1 | dead\nweb1 | true\tfalse\tnested\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrint(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1" }
print("top", 1, nil, true)
locally(function(src, dst)
  print("two\nlines")
  p("s", 1.5, { 1, "x", key = { nested = true }, [10] = false }, nil)
end)
`, nil)
	if err := h.run(core.BlockLocally, "localhost", "web1"); err != nil {
		t.Fatal(err)
	}
	want := "top\t1\tnil\ttrue\n" +
		"web1 | two\nweb1 | lines\n" +
		"web1 | \"s\"\nweb1 | 1.5\nweb1 | { 1, \"x\", [10] = false, key = { nested = true } }\nweb1 | nil\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// The VM opens only what a task file needs.
func TestLibraries(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1" }
local names = { "io", "dofile", "loadfile", "require", "module", "debug", "package",
  "os.execute", "os.exit", "os.remove", "os.getenv", "os.date", "os.time", "os.clock",
  "string.format", "table.concat", "math.floor", "coroutine.create", "pcall", "xpcall", "trim" }
for _, n in ipairs(names) do
  local v = _G
  for part in n:gmatch("[^.]+") do v = v and v[part] end
  print(n, type(v))
end
print(trim("  up 3 days \n"))
`, nil)
	want := `io	nil
dofile	nil
loadfile	nil
require	nil
module	nil
debug	nil
package	nil
os.execute	nil
os.exit	nil
os.remove	nil
os.getenv	function
os.date	function
os.time	function
os.clock	function
string.format	function
table.concat	function
math.floor	function
coroutine.create	function
pcall	function
xpcall	function
trim	function
up 3 days
`
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// A helper cannot wait inside a Lua function that Go code calls; it says so
// instead of corrupting the task.
func TestHelperInsideGoCallback(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1" }
locally(function(src, dst)
  print(pcall(string.gsub, "a b", "%w", function(c) local out = sh("echo", { c }) return out end))
  local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b) sleep(0) return a < b end)
  print(ok, err)
  print(sh("after"))
end)
`, nil)
	if err := h.run(core.BlockLocally, "localhost", "web1"); err != nil {
		t.Fatal(err)
	}
	const why = "cannot wait inside a function that Go code calls (a string.gsub or table.sort callback, a metamethod): call it from the task's own code"
	want := "web1 | false\tGriforkfile.lua:4: sh " + why + "\n" +
		"web1 | false\tGriforkfile.lua:5: sleep " + why + "\n" +
		"web1 | out:/bin/sh -c after\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// In a grifork-mode remote block on a node, src is the node itself: rsync_remote
// runs rsync there rather than logging into itself, so a Griforkfile written for
// standalone mode works unchanged.
func TestRsyncRemoteOnNode(t *testing.T) {
	t.Parallel()
	h := load(t, "mode \"grifork\"\nhosts { \"web1\", \"web2\" }\nbranches(1)\nremote(function(src, dst) rsync_remote(\"/srv/app/\") end)\n", nil)
	sub := h.tree.Subtree(h.node("web1")) // what grifork mode hands to web1
	e := core.Edge{Block: core.BlockRemote, Src: sub.Root, Dst: sub.Root.Children[0]}
	if err := h.script.Run(core.WithEdge(context.Background(), e), e); err != nil {
		t.Fatal(err)
	}
	want := []string{`[remote] local "rsync" "-az" "--delete" "--rsh=ssh" "--" "/srv/app/" "web2:/srv/app/"`}
	if got := h.exec.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
}

package groups

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/nodeset"
)

var update = flag.Bool("update", false, "rewrite the golden files from nodeset and ansible-inventory")

// expandCase is one node set expanded with the groups of a configuration in
// testdata/clustershell.
type expandCase struct {
	conf    string
	expr    string
	wantErr string // a part of grifork's error; nodeset prints nothing or fails
	// noOracle: nodeset disagrees on purpose (it has no time limit).
	noOracle bool
	timeout  time.Duration // of each upcall; 0: DefaultUpcallTimeout
}

var expandCases = []expandCase{
	// YAML sources in autodir.
	{conf: "yaml", expr: "@adm"},
	{conf: "yaml", expr: "@io"},
	{conf: "yaml", expr: "@roles:compute"},
	{conf: "yaml", expr: "@racks:old"},
	{conf: "yaml", expr: "@racks:new,@racks:rack5"},
	{conf: "yaml", expr: "@cpu:hsw"},
	{conf: "yaml", expr: "@*"},
	{conf: "yaml", expr: "@racks:*"},
	{conf: "yaml", expr: "@cpu:*"},
	{conf: "yaml", expr: "@@racks"},
	{conf: "yaml", expr: "@racks:rack[1-2]"},
	{conf: "yaml", expr: "@compute!@gpu"},
	{conf: "yaml", expr: "@compute&@racks:rack4"},
	{conf: "yaml", expr: "@io^example[2-4]"},
	{conf: "yaml", expr: "example5*"},
	{conf: "yaml", expr: "@empty,example1"},
	{conf: "yaml", expr: "@nope", wantErr: `group source "roles": unknown group "nope"`},
	{conf: "yaml", expr: "@nosrc:x", wantErr: `unknown group source "nosrc"`},
	// Debian's groups.conf: a flat local.cfg through the map upcall.
	{conf: "local", expr: "@adm"},
	{conf: "local", expr: "@oss"},
	{conf: "local", expr: "@io,@mds"},
	{conf: "local", expr: "@web"},
	{conf: "local", expr: "@db"},
	{conf: "local", expr: "@local:compute!@gpu"},
	{conf: "local", expr: "@*"},
	{conf: "local", expr: "@@local"},
	{conf: "local", expr: "web0*.internal"},
	{conf: "local", expr: "@webs", wantErr: `group source "local": unknown group "webs" (its list upcall does not name it)`},
	// Two upcall sources, one from a confdir part; @rack:* from list + map.
	{conf: "two", expr: "@web"},
	{conf: "two", expr: "@db"},
	{conf: "two", expr: "@front"},
	{conf: "two", expr: "@svc:*"},
	{conf: "two", expr: "@rack:*"},
	{conf: "two", expr: "@rack:r2&@web"},
	{conf: "two", expr: "@rack:r[1-2]!db*"},
	{conf: "two", expr: "@rack:r9", wantErr: `group source "rack": unknown group "r9"`},
	// A failing upcall names the source and the group.
	{conf: "failing", expr: "@b", wantErr: `group source "broken": map upcall of group "b" failed: "echo \"no such table\" >&2; exit 3": exit status 3: no such table`},
	{conf: "failing", expr: "@x", wantErr: `group source "broken": unknown group "x" (its list upcall does not name it)`},
	// nodeset waits for it and prints late1.
	{conf: "failing", expr: "@slow:y", wantErr: `group source "slow": map upcall of group "y" failed: "sleep 2; echo late1": ran longer than 300ms`, noOracle: true, timeout: 300 * time.Millisecond},
}

func expand(t *testing.T, conf, expr string, timeout time.Duration) ([]string, error) {
	t.Helper()
	r := New([]string{filepath.Join("testdata/clustershell", conf, "groups.conf")}, Timeout(timeout))
	return nodeset.ExpandWith(expr, r.With(context.Background()))
}

// nodesetExpand runs ClusterShell's nodeset -e on the same file, in an
// environment that reads no configuration of this machine's user.
func nodesetExpand(t *testing.T, conf, expr string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata/clustershell", conf, "groups.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nodeset", "--groupsconf="+abs, "-e", expr)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home}
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// TestExpandMatchesNodeset expands every case with grifork and, when it is
// installed, with nodeset -e on the same files; the golden file keeps what
// nodeset printed for machines without it.
func TestExpandMatchesNodeset(t *testing.T) {
	t.Parallel()
	golden := filepath.Join("testdata", "clustershell.golden")
	want := readGolden(t, golden)
	_, lookErr := exec.LookPath("nodeset")
	haveOracle := lookErr == nil
	if !haveOracle {
		t.Log("nodeset is not installed: checking against " + golden)
	}
	var mu sync.Mutex
	lines := make([]string, len(expandCases))
	// The cases run in parallel inside this group, which ends when they all have.
	t.Run("cases", func(t *testing.T) {
		for i, tt := range expandCases {
			t.Run(tt.conf+" "+tt.expr, func(t *testing.T) {
				t.Parallel()
				line := checkExpand(t, tt, want, haveOracle)
				mu.Lock()
				lines[i] = tt.conf + "\t" + tt.expr + "\t" + line
				mu.Unlock()
			})
		}
	})
	if *update && haveOracle && !t.Failed() {
		writeGolden(t, golden, lines)
	}
}

// checkExpand checks one case against nodeset (or the golden file) and
// returns the result it stands for: the names, or "error".
func checkExpand(t *testing.T, tt expandCase, want map[string]string, haveOracle bool) string {
	key := tt.conf + "\t" + tt.expr
	names, err := expand(t, tt.conf, tt.expr, tt.timeout)
	if tt.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("err %v, want it to hold %q", err, tt.wantErr)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, " ")
	if tt.wantErr != "" {
		got = "error"
	}
	if tt.noOracle {
		return got
	}
	if haveOracle {
		oracle, oerr := nodesetExpand(t, tt.conf, tt.expr)
		switch {
		case tt.wantErr != "":
			// nodeset prints nothing for an unknown group and fails for a
			// failing upcall or an unknown source: grifork refuses both.
			if oerr == nil && oracle != "" {
				t.Errorf("nodeset gives %q where grifork refuses", oracle)
			}
			return "error"
		case oerr != nil:
			t.Errorf("nodeset: %v", oerr)
		case oracle != got:
			t.Errorf("\n grifork %s\n nodeset %s", got, oracle)
		}
		return oracle
	}
	if w, ok := want[key]; !ok {
		t.Errorf("not in the golden file (run with nodeset installed and -update)")
	} else if w != got {
		t.Errorf("\n grifork %s\n golden  %s", got, w)
	}
	return got
}

func readGolden(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !*update {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.LastIndex(l, "\t"); i >= 0 {
			out[l[:i]] = l[i+1:]
		}
	}
	return out
}

func writeGolden(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigPaths(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	tests := []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"defaults", nil, []string{"/etc/clustershell/groups.conf", "/home/u/.local/etc/clustershell/groups.conf",
			"/usr/etc/clustershell/groups.conf", "/home/u/.config/clustershell/groups.conf"}},
		{"xdg and cfgdir", map[string]string{"XDG_CONFIG_HOME": "/x", "CLUSTERSHELL_CFGDIR": "/c"},
			[]string{"/etc/clustershell/groups.conf", "/home/u/.local/etc/clustershell/groups.conf",
				"/usr/etc/clustershell/groups.conf", "/x/clustershell/groups.conf", "/c/groups.conf"}},
	}
	for _, tt := range tests {
		if got := ConfigPaths(env(tt.vars), "/home/u"); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestPrecedence merges two groups.conf as ClusterShell does: the later file's
// options win, the sections of both stay, and $CFGDIR is the later's directory.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	low, high := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(low, "groups.conf"), "[Main]\ndefault: a\n[a]\nmap: echo low-$GROUP\n[b]\nmap: cat $CFGDIR/b.txt\n")
	write(filepath.Join(high, "groups.conf"), "[Main]\ndefault: b\n")
	write(filepath.Join(high, "b.txt"), "high1 high2\n")
	r := New([]string{filepath.Join(low, "groups.conf"), "/nonexistent/groups.conf", filepath.Join(high, "groups.conf")}, 0)
	for expr, want := range map[string]string{"@g": "high1 high2", "@a:x": "low-x"} {
		got, err := nodeset.ExpandWith(expr, r.With(context.Background()))
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: got %q, %v; want %q", expr, got, err, want)
		}
	}
}

func TestNoConfiguration(t *testing.T) {
	t.Parallel()
	r := New([]string{"/nonexistent/groups.conf"}, 0)
	_, err := nodeset.ExpandWith("@web", r.With(context.Background()))
	if err == nil || !strings.Contains(err.Error(), "no group source") {
		t.Fatalf("err %v, want no group source", err)
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"GROUP": "web", "CFGDIR": "/c"}
	tests := map[string]string{
		"sed -n 's/^$GROUP:\\(.*\\)/\\1/p' $CFGDIR/f": "sed -n 's/^web:\\(.*\\)/\\1/p' /c/f",
		"${GROUP}x $SOURCE $$1 $f $1 $":               "webx $SOURCE $1 $f $1 $",
	}
	for in, want := range tests {
		if got := substitute(in, vars); got != want {
			t.Errorf("substitute(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigPlacesMatchNodeset puts groups.conf files in ~/.local/etc,
// $XDG_CONFIG_HOME and $CLUSTERSHELL_CFGDIR and compares what grifork and
// nodeset -e (no --groupsconf: it searches as grifork does) make of them. Both
// read /etc/clustershell too; every file here sets [Main] whole, so that only
// adds sources no expression names.
func TestConfigPlacesMatchNodeset(t *testing.T) {
	t.Parallel()
	home, xdg, cfgdir := t.TempDir(), t.TempDir(), t.TempDir()
	write := func(dir, name, s string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := "[Main]\ndefault: %s\nconfdir:\nautodir: $CFGDIR/groups.d\n"
	// Lowest: ~/.local/etc defines "low"; $XDG_CONFIG_HOME replaces the
	// default; $CLUSTERSHELL_CFGDIR is $CFGDIR, whose groups.d holds "top".
	write(home, ".local/etc/clustershell/groups.conf", fmt.Sprintf(main, "low")+"[low]\nmap: echo low-$GROUP-$SOURCE\n")
	write(xdg, "clustershell/groups.conf", fmt.Sprintf(main, "top"))
	write(cfgdir, "groups.conf", "[mid]\nmap: sed -n \"s/^$GROUP: //p\" mid.txt\nlist: sed -n 's/:.*//p' $CFGDIR/mid.txt\n")
	write(cfgdir, "mid.txt", "a: m[1-3]\nb: m9 @top:t\n")
	write(cfgdir, "groups.d/top.yaml", "top:\n  t: 't[1-2]'\n  all: '@t,t9'\n")
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg, "CLUSTERSHELL_CFGDIR": cfgdir}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	r := New(ConfigPaths(lookup, home), 0)
	_, lookErr := exec.LookPath("nodeset")
	for expr, want := range map[string]string{
		"@t":          "t1 t2",
		"@*":          "t1 t2 t9",
		"@low:x":      "low-x-low",
		"@mid:a":      "m1 m2 m3",
		"@mid:b!t2":   "m9 t1",
		"@@mid,@@top": "a all b t",
	} {
		got, err := nodeset.ExpandWith(expr, r.With(context.Background()))
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: grifork %q, %v; want %q", expr, got, err, want)
		}
		if lookErr != nil {
			continue
		}
		cmd := exec.Command("nodeset", "-e", expr)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: nodeset %q, %v; want %q", expr, out, err, want)
		}
	}
}

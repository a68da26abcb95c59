// Package adhoc writes the Griforkfiles of grifork's ad-hoc commands (exec and
// copy): the command line becomes the Lua source a user would have written, so
// it is loaded, planned, run and (in grifork mode) shipped to the nodes exactly
// as a Griforkfile is. There is one engine. Every field of core.Config is
// written (TestConfigRoundTrip checks each by reflection), every literal by
// lualit.
package adhoc

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/lualit"
)

// Exec is the Griforkfile that runs argv on every host of c: argv[0] is given
// to the host's shell as written (as ssh does, so "uptime; df -h" works), the
// other arguments reach it exactly. Every setting of c is written out,
// c.Broadcast included when set.
func Exec(c core.Config, argv []string) []byte {
	var b strings.Builder
	b.WriteString("-- grifork exec\n")
	settings(&b, c)
	fmt.Fprintf(&b, "local command = %s\n", lualit.String(argv[0]))
	if len(argv) > 1 {
		fmt.Fprintf(&b, "local args = %s\n", lualit.List(argv[1:]))
	} else {
		b.WriteString("local args = nil\n")
	}
	b.WriteString("local function run(src, dst) ssh(dst, command, args) end\n")
	b.WriteString("locally(run)\nremote(run)\n")
	return []byte(b.String())
}

// Copy is the Griforkfile that pushes src (a file, or the contents of a
// directory) to dst on every host of c with the pipelined broadcast, along a
// tree of branches children per node. delete removes what dst holds and src
// does not; direct streams host to host over TLS (see broadcast { direct }).
func Copy(c core.Config, src, dst string, delete, direct bool, branches int) []byte {
	c.Broadcast = &core.BroadcastConfig{From: src, To: dst, Delete: &delete, Direct: &direct, Branches: branches}
	var b strings.Builder
	b.WriteString("-- grifork copy\n")
	settings(&b, c)
	return []byte(b.String())
}

// settings writes every directive of c that is set.
func settings(b *strings.Builder, c core.Config) {
	if c.Mode != "" {
		fmt.Fprintf(b, "mode %s\n", lualit.String(string(c.Mode)))
	}
	if c.Branches > 0 {
		fmt.Fprintf(b, "branches(%d)\n", c.Branches)
	}
	if len(c.Hosts) > 0 {
		names := make([]string, len(c.Hosts))
		for i, h := range c.Hosts {
			names[i] = h.String()
		}
		fmt.Fprintf(b, "hosts %s\n", lualit.List(names))
	}
	if m := c.MaxFailures; m.Set {
		if m.Percent {
			fmt.Fprintf(b, "max_failures(%s)\n", lualit.String(m.String()))
		} else {
			fmt.Fprintf(b, "max_failures(%d)\n", m.Max)
		}
	}
	var t table
	t.str("file", c.Log.File)
	t.str("level", c.Log.Level)
	t.write(b, "log")

	s := c.SSH
	t.str("user", s.User)
	t.list("keys", s.Keys)
	t.str("passphrase", s.Passphrase)
	t.str("password", s.Password)
	t.int("port", s.Port)
	t.str("known_hosts", s.KnownHosts)
	t.str("host_key_check", s.HostKeyCheck)
	t.seconds("timeout", s.Timeout)
	t.seconds("command_timeout", s.CommandTimeout)
	t.setInt("retries", s.Retries)
	t.int("max_connections", s.MaxConnections)
	t.write(b, "ssh")

	if r := c.Rsync; r.Raw != nil {
		fmt.Fprintf(b, "rsync %s\n", lualit.List(r.Raw))
	} else {
		t.setBool("delete", r.Delete)
		t.int("bwlimit", r.Bwlimit)
		t.bool("verbose", r.Verbose)
		t.list("excludes", r.Excludes)
		t.str("rsh", r.Rsh)
		t.bool("dry_run", r.DryRun)
		t.write(b, "rsync")
	}

	g := c.Grifork
	t.str("chdir", g.Chdir)
	t.str("tmpdir", g.Tmpdir)
	t.str("exec", g.Exec)
	t.str("user", g.User)
	t.str("binaries", g.Binaries)
	t.seconds("heartbeat_timeout", g.HeartbeatTimeout)
	t.write(b, "grifork")

	if bc := c.Broadcast; bc != nil {
		t.str("from", bc.From)
		t.str("to", bc.To)
		t.setBool("delete", bc.Delete)
		t.setBool("direct", bc.Direct)
		t.list("excludes", bc.Excludes)
		t.bool("checksum", bc.Checksum)
		t.int("branches", bc.Branches)
		t.write(b, "broadcast")
	}
}

// table collects the set keys of a directive's table.
type table struct{ fields []string }

func (t *table) add(key, lit string) { t.fields = append(t.fields, key+" = "+lit) }

func (t *table) str(key, v string) {
	if v != "" {
		t.add(key, lualit.String(v))
	}
}

func (t *table) list(key string, v []string) {
	if len(v) > 0 {
		t.add(key, lualit.List(v))
	}
}

func (t *table) int(key string, n int) {
	if n != 0 {
		t.add(key, strconv.Itoa(n))
	}
}

func (t *table) bool(key string, v bool) {
	if v {
		t.add(key, "true")
	}
}

// setBool and setInt write a setting whose zero value differs from its
// default (delete, retries): set at all, it is written.
func (t *table) setBool(key string, v *bool) {
	if v != nil {
		t.add(key, strconv.FormatBool(*v))
	}
}

func (t *table) setInt(key string, v *int) {
	if v != nil {
		t.add(key, strconv.Itoa(*v))
	}
}

func (t *table) seconds(key string, d time.Duration) {
	if d > 0 {
		t.add(key, lualit.Seconds(d))
	}
}

// write writes the directive name { ... } when any key is set, and empties t.
func (t *table) write(b *strings.Builder, name string) {
	if len(t.fields) > 0 {
		fmt.Fprintf(b, "%s { %s }\n", name, strings.Join(t.fields, ", "))
	}
	t.fields = t.fields[:0]
}

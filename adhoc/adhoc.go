package adhoc

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
)

// Exec is the Griforkfile that runs argv on every host of c: argv[0] is given
// to the host's shell as written (as ssh does, so "uptime; df -h" works), the
// other arguments reach it exactly. The settings of c that nodes need (mode,
// branches, hosts, max_failures, log, ssh, grifork) are written out.
func Exec(c core.Config, argv []string) []byte {
	var b strings.Builder
	b.WriteString("-- grifork exec\n")
	settings(&b, c)
	fmt.Fprintf(&b, "local command = %s\n", quote(argv[0]))
	if len(argv) > 1 {
		fmt.Fprintf(&b, "local args = %s\n", list(argv[1:]))
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
// does not.
func Copy(c core.Config, src, dst string, delete bool, branches int) []byte {
	var b strings.Builder
	b.WriteString("-- grifork copy\n")
	settings(&b, c)
	fmt.Fprintf(&b, "broadcast { from = %s, to = %s, delete = %v, branches = %d }\n", quote(src), quote(dst), delete, branches)
	return []byte(b.String())
}

// settings writes the directives of c that an ad-hoc run uses.
func settings(b *strings.Builder, c core.Config) {
	if c.Mode != "" {
		fmt.Fprintf(b, "mode %s\n", quote(string(c.Mode)))
	}
	if c.Branches > 0 {
		fmt.Fprintf(b, "branches(%d)\n", c.Branches)
	}
	if len(c.Hosts) > 0 {
		names := make([]string, len(c.Hosts))
		for i, h := range c.Hosts {
			names[i] = h.String()
		}
		fmt.Fprintf(b, "hosts %s\n", list(names))
	}
	if m := c.MaxFailures; m.Set {
		if m.Percent {
			fmt.Fprintf(b, "max_failures(%s)\n", quote(m.String()))
		} else {
			fmt.Fprintf(b, "max_failures(%d)\n", m.Max)
		}
	}
	if c.Log != (core.LogConfig{}) {
		var f []string
		f = field(f, "file", c.Log.File)
		f = field(f, "level", c.Log.Level)
		fmt.Fprintf(b, "log { %s }\n", strings.Join(f, ", "))
	}
	s := c.SSH
	var f []string
	f = field(f, "user", s.User)
	if len(s.Keys) > 0 {
		f = append(f, "keys = "+list(s.Keys))
	}
	f = field(f, "passphrase", s.Passphrase)
	f = field(f, "password", s.Password)
	if s.Port > 0 {
		f = append(f, "port = "+strconv.Itoa(s.Port))
	}
	f = field(f, "known_hosts", s.KnownHosts)
	f = field(f, "host_key_check", s.HostKeyCheck)
	if s.Timeout > 0 {
		f = append(f, "timeout = "+seconds(s.Timeout))
	}
	if s.CommandTimeout > 0 {
		f = append(f, "command_timeout = "+seconds(s.CommandTimeout))
	}
	if s.Retries != nil {
		f = append(f, "retries = "+strconv.Itoa(*s.Retries))
	}
	if len(f) > 0 {
		fmt.Fprintf(b, "ssh { %s }\n", strings.Join(f, ", "))
	}
	if c.Mode == core.Grifork {
		g := c.Grifork
		var f []string
		f = field(f, "chdir", g.Chdir)
		f = field(f, "tmpdir", g.Tmpdir)
		f = field(f, "exec", g.Exec)
		f = field(f, "user", g.User)
		if g.HeartbeatTimeout > 0 {
			f = append(f, "heartbeat_timeout = "+seconds(g.HeartbeatTimeout))
		}
		if len(f) > 0 {
			fmt.Fprintf(b, "grifork { %s }\n", strings.Join(f, ", "))
		}
	}
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// rsync writes the rsync directive of r.
func rsync(b *strings.Builder, r core.RsyncConfig) {
	if r.Raw != nil {
		fmt.Fprintf(b, "rsync %s\n", list(r.Raw))
		return
	}
	var f []string
	if r.Delete != nil {
		f = append(f, "delete = "+strconv.FormatBool(*r.Delete))
	}
	if r.Bwlimit > 0 {
		f = append(f, "bwlimit = "+strconv.Itoa(r.Bwlimit))
	}
	if r.Verbose {
		f = append(f, "verbose = true")
	}
	if len(r.Excludes) > 0 {
		f = append(f, "excludes = "+list(r.Excludes))
	}
	f = field(f, "rsh", r.Rsh)
	if r.DryRun {
		f = append(f, "dry_run = true")
	}
	fmt.Fprintf(b, "rsync { %s }\n", strings.Join(f, ", "))
}

func field(f []string, key, v string) []string {
	if v == "" {
		return f
	}
	return append(f, key+" = "+quote(v))
}

func list(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

// quote writes s as a Lua string literal that holds exactly s: quotes and
// backslashes escaped, control bytes as decimal escapes.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

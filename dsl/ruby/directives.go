package ruby

import (
	"sort"
	"strings"
)

// directive converts a top-level directive call.
func (p *parser) directive(t token, args []*expr, closeLine int) frag {
	name := t.s
	one := func() *expr {
		if len(args) != 1 {
			p.unsupported(t.line, "%s with %d arguments", name, len(args))
		}
		return args[0]
	}
	call := func(e *expr) frag {
		f := append(frag{{t.line, name + "("}}, e.f...)
		return f.add(closeLine, ")")
	}
	switch name {
	case "mode", "parallel":
		e := one()
		if e.lit {
			return frag{{t.line, name + " " + luaQuote(e.str)}}
		}
		if e.t != tyStr && e.t != tyStrNil && e.t != tyUnknown {
			p.unsupported(t.line, "%s with a value that is not a symbol or a string", name)
		}
		return call(e)
	case "branches":
		e := one()
		if e.isArr || e.isHash {
			p.unsupported(t.line, "branches with an array or a hash")
		}
		return call(e)
	case "hosts":
		e := one()
		switch {
		case e.isArr:
			for _, h := range e.elems {
				if h.t != tyStr && h.t != tyStrNil && h.t != tyUnknown {
					p.unsupported(h.line, "a host that is not a string")
				}
			}
			return append(frag{{t.line, "hosts "}}, e.f...)
		case e.t == tyArr || e.t == tyUnknown:
			return call(e)
		}
		p.unsupported(t.line, "hosts with a value that is not an array")
	case "log":
		e := p.hashArg(t, args)
		return p.tableDirective(t, e, closeLine, func(kv hpair) frag {
			switch kv.key {
			case "file":
				return entry(kv, "file", kv.val.f)
			case "level":
				return entry(kv, "level", kv.val.f)
			}
			p.unsupported(kv.line, "log option %s (grifork knows file and level)", kv.key)
			return nil
		})
	case "ssh":
		return p.sshDirective(t, p.hashArg(t, args), closeLine)
	case "rsync":
		e := one()
		switch {
		case e.isHash:
			return p.tableDirective(t, e, closeLine, func(kv hpair) frag {
				switch kv.key {
				case "delete", "bwlimit", "verbose", "excludes", "rsh", "dry_run":
					v := kv.val
					if v.isHash {
						p.unsupported(kv.line, "rsync option %s with a hash value", kv.key)
					}
					return entry(kv, kv.key, v.f)
				}
				p.unsupported(kv.line, "rsync option %s (grifork knows delete, bwlimit, verbose, excludes, rsh and dry_run; use the array form for others)", kv.key)
				return nil
			})
		case e.isArr:
			return append(frag{{t.line, "rsync "}}, e.f...)
		case e.t == tyArr:
			return call(e)
		}
		p.unsupported(t.line, "rsync with a value that is not a hash literal or an array")
	}
	p.unsupported(t.line, "%s", name)
	return nil
}

func entry(kv hpair, key string, v frag) frag {
	return append(frag{{kv.line, luaKey(key) + " = "}}, v...)
}

// hashArg returns the single hash-literal argument of a directive.
func (p *parser) hashArg(t token, args []*expr) *expr {
	if len(args) != 1 || !args[0].isHash {
		p.unsupported(t.line, "%s with something other than key: value options", t.s)
	}
	seen := map[string]bool{}
	for _, kv := range args[0].pairs {
		if seen[kv.key] {
			p.unsupported(kv.line, "%s option %s given twice", t.s, kv.key)
		}
		seen[kv.key] = true
	}
	return args[0]
}

func (p *parser) tableDirective(t token, e *expr, closeLine int, conv func(hpair) frag) frag {
	var entries []frag
	for _, kv := range e.pairs {
		if f := conv(kv); f != nil {
			entries = append(entries, f)
		}
	}
	end := e.endLine
	if end == 0 {
		end = closeLine
	}
	if e.endLine != 0 && closeLine != 0 {
		// ssh({ ... }): the table closes where the hash did, the call on its line
		return append(append(frag{{t.line, t.s + "("}}, table(e.line, entries, e.endLine)...), piece{closeLine, ")"})
	}
	return append(frag{{t.line, t.s + " "}}, table(t.line, entries, end)...)
}

// net-ssh options that change nothing grifork's user would notice.
var harmlessSSH = map[string]bool{
	"compression": true, "compression_level": true, "keepalive": true, "keepalive_interval": true,
	"keepalive_maxcount": true, "verbose": true,
}

var sshOptions = []string{"user", "keys", "passphrase", "password", "port", "timeout", "paranoid", "verify_host_key", "user_known_hosts_file"}

func (p *parser) sshDirective(t token, e *expr, closeLine int) frag {
	var check *hpair
	for i, kv := range e.pairs {
		if kv.key == "paranoid" || kv.key == "verify_host_key" {
			if check != nil {
				p.unsupported(kv.line, "both paranoid and verify_host_key in ssh (keep verify_host_key)")
			}
			check = &e.pairs[i]
		}
	}
	return p.tableDirective(t, e, closeLine, func(kv hpair) frag {
		v := kv.val
		switch kv.key {
		case "user", "passphrase", "password", "port", "timeout":
			if v.isArr || v.isHash {
				p.unsupported(kv.line, "ssh option %s with an array or hash value", kv.key)
			}
			return entry(kv, kv.key, v.f)
		case "keys":
			if v.t == tyStr {
				return entry(kv, "keys", table(v.line, []frag{v.f}, 0))
			}
			if v.t != tyArr {
				p.unsupported(kv.line, "ssh option keys that is not an array")
			}
			return entry(kv, "keys", v.f)
		case "user_known_hosts_file":
			switch {
			case v.isArr && len(v.elems) == 1:
				return entry(kv, "known_hosts", v.elems[0].f)
			case v.isArr:
				p.unsupported(kv.line, "ssh option user_known_hosts_file with %d files (grifork takes one)", len(v.elems))
			case v.t == tyStr || v.t == tyStrNil:
				return entry(kv, "known_hosts", v.f)
			}
			p.unsupported(kv.line, "ssh option user_known_hosts_file that is not a string or a one-element array")
		case "paranoid", "verify_host_key":
			return entry(kv, "host_key_check", frag{{0, luaQuote(p.hostKeyCheck(kv))}})
		}
		if harmlessSSH[kv.key] {
			p.note(kv.line, "ssh option "+kv.key+" is ignored by grifork")
			return nil
		}
		known := append([]string(nil), sshOptions...)
		sort.Strings(known)
		p.unsupported(kv.line, "ssh option %s (grifork knows %s)", kv.key, strings.Join(known, ", "))
		return nil
	})
}

// hostKeyCheck maps net-ssh's verify_host_key (and the older paranoid) values.
// net-ssh's `true` is :accept_new_or_local_tunnel, which accepts unknown hosts.
func (p *parser) hostKeyCheck(kv hpair) string {
	v := kv.val
	switch {
	case v.bool && !v.bval:
		return "off"
	case v.bool && v.bval:
		return "accept-new"
	case v.lit && v.sym:
		switch v.str {
		case "never":
			return "off"
		case "accept_new", "accept_new_or_local_tunnel", "very":
			return "accept-new"
		case "always", "secure":
			return "strict"
		}
	}
	p.unsupported(kv.line, "ssh option %s with this value (grifork knows false/:never, true/:accept_new/:accept_new_or_local_tunnel/:very, :always/:secure)", kv.key)
	return ""
}

// griforkBlock converts `grifork do chdir '/x'; ... end` to a table.
func (p *parser) griforkBlock(t token, args []*expr) frag {
	if len(args) > 0 {
		p.unsupported(t.line, "arguments to grifork (it takes a block)")
	}
	b, ok := p.parseBlockOpen()
	if !ok {
		p.unsupported(t.line, "grifork without a block")
	}
	if len(b.params) > 0 {
		p.unsupported(b.open.line, "block parameters for grifork")
	}
	var entries []frag
	for {
		p.skipNL()
		n := p.peek()
		if atBodyEnd(n, b.brace) {
			break
		}
		if n.k != tIdent || keywords[n.s] || p.lookup(n.s) != nil {
			p.unsupported(n.line, "%s inside the grifork block (only chdir, tmpdir, exec and user belong there)", describe(n))
		}
		f, _ := p.parseCommand(ctxGrifork)
		entries = append(entries, f)
		if m := p.peek(); m.k != tNL && !atBodyEnd(m, b.brace) {
			p.unsupported(m.line, "%s after a grifork setting", describe(m))
		}
	}
	end := p.parseBlockClose(b)
	return append(frag{{t.line, "grifork "}}, table(t.line, entries, end.line)...)
}

func (p *parser) griforkKey(t token, args []*expr) frag {
	p.noBlock(t)
	if len(args) != 1 || args[0].isArr || args[0].isHash {
		p.unsupported(t.line, "%s in the grifork block takes one value", t.s)
	}
	return append(frag{{t.line, t.s + " = "}}, args[0].f...)
}

// helper converts sh/ssh/rsync/rsync_remote inside a task block.
func (p *parser) helper(t token, args []*expr) frag {
	lo, hi := 1, 2
	if t.s == "ssh" {
		lo, hi = 2, 3
	}
	if len(args) < lo || len(args) > hi {
		p.unsupported(t.line, "%s with %d arguments", t.s, len(args))
	}
	f := frag{{t.line, t.s + "("}}
	for i, a := range args {
		if a.isHash {
			p.unsupported(a.line, "hash argument to %s", t.s)
		}
		if t.s == "sh" && i == 1 && a.isArr && len(a.elems) == 0 {
			// sh "cmd >> f", []: Ruby hands a command with no arguments to the
			// shell, and so does sh("cmd >> f"). Its pieces stay, empty, to keep
			// the lines.
			for _, pc := range a.f {
				f = f.add(pc.line, "")
			}
			continue
		}
		if i > 0 {
			f = f.add(0, ", ")
		}
		f = append(f, a.f...)
	}
	return f.add(0, ")")
}

// print converts p and puts.
func (p *parser) print(t token, args []*expr) frag {
	if len(args) == 0 {
		if t.s == "puts" {
			return frag{{t.line, `print("")`}}
		}
		return frag{{t.line, ""}} // p with no argument prints nothing
	}
	var f frag
	for i, a := range args {
		if i > 0 {
			f = f.add(0, " ")
		}
		if a.isHash {
			p.unsupported(a.line, "%s of a hash", t.s)
		}
		var v frag
		switch {
		case a.t == tyArr && t.s == "puts" && (a.elem == tyStr || a.elem == tyNum):
			v = append(frag{{a.line, "table.concat("}}, a.f...)
			v = v.add(0, `, "\n")`)
		case a.t == tyArr || a.t == tyHash:
			p.unsupported(a.line, "%s of an array or hash", t.s)
		case t.s == "p" && a.t == tyStr:
			v = append(frag{{a.line, `string.format("%q", `}}, a.f...)
			v = v.add(0, ")")
		case t.s == "p" && a.t == tyNil:
			v = frag{{a.line, `"nil"`}}
		case t.s == "p" && a.t != tyNum && a.t != tyBool:
			p.unsupported(a.line, "p of a value of unknown type (use puts)")
		case a.t == tyNil:
			v = frag{{a.line, `""`}}
		case a.t == tyStrNil || a.t == tyUnknown:
			v = append(operand(a), piece{0, ` == nil and "" or `})
			v = append(v, operand(a)...)
		default:
			v = a.f
		}
		f = f.add(a.line, "print(")
		f = append(f, v...)
		f = f.add(0, ")")
	}
	if len(f) > 0 {
		f[0].line = t.line
	}
	return f
}

// Package sshconf resolves OpenSSH client configuration as ssh does: the
// user's file then the system's, Include (globs, ~, relative to ~/.ssh or
// /etc/ssh), Host patterns with ! negation, Match (all, host, originalhost,
// user, localuser, exec, canonical, final) and the first value of a keyword
// winning. It answers with raw values and where each was set; what a keyword
// means is left to its user.
//
// kevinburke/ssh_config, used before, was dropped: it rejects Match, which
// distributions ship in /etc/ssh/ssh_config.d, and has no Include semantics
// inside a Host block.
package sshconf

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxDepth bounds Include nesting, as ssh's READCONF_MAX_DEPTH.
const maxDepth = 16

// Line is one keyword line of a file, where it was written.
type Line struct {
	Key  string // lowercase keyword
	Args []string
	Raw  string // the text after the keyword, as written (ProxyCommand runs it)
	File string
	Num  int

	include []*file // Include: the files its patterns named when loaded
	match   []criterion
}

// Pos is file:line.
func (l Line) Pos() string { return fmt.Sprintf("%s:%d", l.File, l.Num) }

type file struct {
	path  string
	lines []Line
}

type criterion struct {
	name string // all, host, originalhost, user, localuser, exec, canonical, final, localnetwork, tagged
	neg  bool
	arg  string
}

// Config is the parsed files of one ssh invocation's view.
type Config struct {
	roots   []*file
	Unknown []Line // keywords ssh does not know (a newer ssh's, or a typo): ignored
}

// Load reads the user's config (absent is fine unless it was explicitly
// named) and, when system is not empty, the system's. home is the user's
// home (for ~ and relative Includes).
func Load(user string, userExplicit bool, system, home string) (*Config, error) {
	c := &Config{}
	l := loader{home: home, c: c}
	if user != "" {
		f, err := l.read(user, true, 0)
		if err != nil && !(os.IsNotExist(err) && !userExplicit) {
			return nil, err
		}
		if f != nil {
			c.roots = append(c.roots, f)
		}
	}
	if system != "" {
		f, err := l.read(system, false, 0)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		if f != nil {
			c.roots = append(c.roots, f)
		}
	}
	return c, nil
}

type loader struct {
	home string
	c    *Config
}

func (l *loader) read(path string, user bool, depth int) (*file, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &file{path: path}
	for n, text := range strings.Split(string(b), "\n") {
		words, err := split(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		if len(words) == 0 {
			continue
		}
		key, args := words[0], words[1:]
		if i := strings.IndexByte(key, '='); i >= 0 {
			if rest := key[i+1:]; rest != "" {
				args = append([]string{rest}, args...)
			}
			key = key[:i]
		} else if len(args) > 0 && strings.HasPrefix(args[0], "=") {
			if args[0] == "=" {
				args = args[1:]
			} else {
				args[0] = args[0][1:]
			}
		}
		ln := Line{Key: strings.ToLower(key), Args: args, Raw: rawArgs(text), File: path, Num: n + 1}
		if err := l.check(&ln, user, depth); err != nil {
			return nil, fmt.Errorf("%s: %v", ln.Pos(), err)
		}
		f.lines = append(f.lines, ln)
	}
	return f, nil
}

// check validates a line as ssh does when it reads the file (in a block that
// applies or not) and loads what an Include names.
func (l *loader) check(ln *Line, user bool, depth int) error {
	switch kind, known := keywords[ln.Key]; {
	case !known:
		l.c.Unknown = append(l.c.Unknown, *ln)
		return nil
	case len(ln.Args) == 0 && kind != multi:
		return fmt.Errorf("%s: missing argument", ln.Key)
	case kind == single && len(ln.Args) > 1:
		return fmt.Errorf("%s: extra arguments at end of line", ln.Key)
	}
	switch ln.Key {
	case "host":
		if len(ln.Args) == 0 {
			//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
			return fmt.Errorf("Host: missing pattern")
		}
	case "match":
		crit, err := parseMatch(ln.Args)
		if err != nil {
			return err
		}
		ln.match = crit
	case "include":
		if depth+1 > maxDepth {
			//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
			return fmt.Errorf("Include: nested more than %d deep", maxDepth)
		}
		for _, arg := range ln.Args {
			p := arg
			switch {
			case p == "~" || strings.HasPrefix(p, "~/"):
				p = filepath.Join(l.home, p[1:])
			case !filepath.IsAbs(p) && user:
				p = filepath.Join(l.home, ".ssh", p)
			case !filepath.IsAbs(p):
				p = filepath.Join("/etc/ssh", p)
			}
			paths, err := filepath.Glob(p)
			if err != nil {
				//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
				return fmt.Errorf("Include %s: %v", arg, err)
			}
			sort.Strings(paths)
			for _, path := range paths {
				if st, err := os.Stat(path); err == nil && st.IsDir() {
					continue
				}
				f, err := l.read(path, user, depth+1)
				if err != nil {
					//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
					return fmt.Errorf("Include %s: %w", arg, err)
				}
				ln.include = append(ln.include, f)
			}
		}
	case "port", "connecttimeout", "serveraliveinterval", "serveralivecountmax", "connectionattempts":
		if _, err := number(ln.Args[0]); err != nil && !(ln.Key == "connecttimeout" && ln.Args[0] == "none") {
			return fmt.Errorf("%s: bad number %q", ln.Key, ln.Args[0])
		}
	case "stricthostkeychecking":
		switch strings.ToLower(ln.Args[0]) {
		case "yes", "no", "off", "accept-new", "ask":
		default:
			return fmt.Errorf("StrictHostKeyChecking: unsupported value %q", ln.Args[0])
		}
	case "identitiesonly":
		if !yesNo(ln.Args[0]) {
			return fmt.Errorf("IdentitiesOnly: unsupported value %q", ln.Args[0])
		}
	}
	return nil
}

func yesNo(s string) bool {
	s = strings.ToLower(s)
	return s == "yes" || s == "no"
}

func number(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 0 {
		return 0, fmt.Errorf("bad number")
	}
	return n, nil
}

func parseMatch(args []string) ([]criterion, error) {
	var out []criterion
	for i := 0; i < len(args); i++ {
		a := args[i]
		c := criterion{}
		if strings.HasPrefix(a, "!") {
			c.neg, a = true, a[1:]
		}
		c.name = strings.ToLower(a)
		switch c.name {
		case "all":
			if c.neg || len(args) > 1 && !(len(args) == 2 && isCanonFinal(args[1-i])) {
				//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
				return nil, fmt.Errorf("Match all: must appear alone or with canonical or final")
			}
		case "canonical", "final":
		case "host", "originalhost", "user", "localuser", "exec", "localnetwork", "tagged":
			if i+1 >= len(args) {
				//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
				return nil, fmt.Errorf("Match %s: missing argument", c.name)
			}
			i++
			c.arg = args[i]
		default:
			//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
			return nil, fmt.Errorf("Match: unsupported attribute %q", a)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		//lint:ignore ST1005 the keyword is quoted as ssh_config spells it
		return nil, fmt.Errorf("Match: missing criteria")
	}
	return out, nil
}

func isCanonFinal(s string) bool {
	s = strings.ToLower(s)
	return s == "canonical" || s == "final"
}

// rawArgs is what follows the keyword (and its "=") on a line.
func rawArgs(text string) string {
	s := strings.TrimLeft(text, " \t")
	i := strings.IndexAny(s, " \t=")
	if i < 0 {
		return ""
	}
	s = strings.TrimLeft(s[i:], " \t")
	s = strings.TrimPrefix(s, "=")
	return strings.TrimSpace(s)
}

// split breaks a line into words as ssh's argv_split: blanks separate,
// double or single quotes group, a backslash escapes, # at a word's start
// ends the line.
func split(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else if ch == '\\' && i+1 < len(s) && (s[i+1] == quote || s[i+1] == '\\') {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(ch)
			}
		case ch == ' ' || ch == '\t' || ch == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			return out, nil
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

package ruby

import (
	"bytes"
	"strings"

	"github.com/yuin/gopher-lua/parse"
)

// Detect reports whether src looks like a Ruby Griforkfile rather than a Lua one.
// Anything the Lua parser accepts is Lua (so Detect is false for every valid
// Griforkfile.lua); otherwise a line has to look like the Ruby DSL, so that a
// broken Lua file still gets Lua's own error message.
func Detect(src []byte) bool {
	if parsesAsLua(src) {
		return false
	}
	for _, line := range strings.Split(string(src), "\n") {
		if rubyLine(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}

func parsesAsLua(src []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if bytes.HasPrefix(src, []byte("#!")) {
		// a shebang line is not Lua, but Lua loaders skip it
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			src = append([]byte("--"), src[i:]...)
		} else {
			src = nil
		}
	}
	_, err := parse.Parse(bytes.NewReader(src), "Griforkfile")
	return err == nil
}

var dslNames = map[string]bool{
	"mode": true, "branches": true, "log": true, "hosts": true, "ssh": true, "rsync": true, "parallel": true,
	"sh": true, "rsync_remote": true, "p": true,
}

var rubyBlocks = []string{"local", "remote", "prepare", "finish", "prepare_remote", "finish_remote", "grifork"}

// rubyLine reports whether one trimmed line has a shape only the Ruby DSL has.
func rubyLine(l string) bool {
	if strings.HasPrefix(l, "#") {
		return true // Lua's comments start with --, its # is the length operator
	}
	word, rest, _ := strings.Cut(l, " ")
	rest = strings.TrimSpace(rest)
	for _, b := range rubyBlocks {
		if word == b && (rest == "do" || strings.HasPrefix(rest, "do ") || strings.HasPrefix(rest, "do|") ||
			strings.HasPrefix(rest, "{")) {
			return true
		}
	}
	switch word {
	case "mode", "parallel":
		if strings.HasPrefix(rest, ":") {
			return true
		}
	case "hosts", "rsync":
		if strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, "%w") || strings.HasPrefix(rest, "%W") {
			return true
		}
	}
	switch word {
	case "log", "ssh", "rsync":
		key, _, found := strings.Cut(rest, ":")
		if found && isRubyName(key) && !strings.HasPrefix(rest, key+"::") {
			return true
		}
	}
	// A DSL name followed by a bare argument: Lua only calls without
	// parentheses with a string or a table.
	if dslNames[word] && rest != "" && strings.IndexByte("({\"'[-=.:,;)", rest[0]) < 0 {
		return true
	}
	switch word {
	case "elsif", "unless", "def", "class", "module", "begin", "rescue", "ensure", "case", "when", "require", "puts":
		return true
	case "while", "until":
		return !strings.HasSuffix(l, " do")
	}
	if strings.HasSuffix(l, " do") || strings.Contains(l, " do |") || strings.Contains(l, "%w(") || strings.Contains(l, "%W(") {
		return true
	}
	return false
}

func isRubyName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

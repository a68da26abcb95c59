package lualit

import (
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// eval runs "return EXPR" in a fresh VM: Lua itself is the oracle.
func eval(t *testing.T, expr string) lua.LValue {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString("return " + expr); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return L.Get(-1)
}

func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"`, `\`, "'", "a\x00b", "\x7f\x01", "tab\tx", "pw\x009x", "\t9",
		"line\nnext\r\n", "ünï", "\xff\xfe", "]]", "--[[", "\\009", "${x} $(y) `z`"} {
		lit := String(s)
		if got := eval(t, lit); got.Type() != lua.LTString || string(got.(lua.LString)) != s {
			t.Errorf("String(%q) = %s reads back as %q", s, lit, got)
		}
		for _, c := range lit {
			if c == '\n' || c == '\r' {
				t.Errorf("String(%q) = %q spans lines", s, lit)
			}
		}
	}
}

func TestStringEveryByte(t *testing.T) {
	t.Parallel()
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	if got := eval(t, String(string(b))); string(got.(lua.LString)) != string(b) {
		t.Errorf("every byte: got %q", got)
	}
}

func TestListAndSeconds(t *testing.T) {
	t.Parallel()
	if got := List([]string{"a", `b"`}); got != `{ "a", "b\"" }` {
		t.Errorf("List = %s", got)
	}
	for d, want := range map[time.Duration]string{2500 * time.Millisecond: "2.5", time.Minute: "60", time.Millisecond: "0.001"} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%s) = %s, want %s", d, got, want)
		}
	}
}

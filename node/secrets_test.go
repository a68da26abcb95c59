package node

import (
	"bufio"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	t.Parallel()
	s := Secrets{Password: "hunter2", Passphrase: `q"uo\te`}
	for _, tc := range []struct{ name, in, want string }{
		{"double quotes", `ssh { password = "hunter2" }`, `ssh { password = "` + scrubbed + `" }`},
		{"single quotes", `local PW = 'hunter2'`, `local PW = "` + scrubbed + `"`},
		{"long bracket", `local PW = [[hunter2]]`, `local PW = "` + scrubbed + `"`},
		{"escapes", `ssh { passphrase = "q\"uo\\te" }`, `ssh { passphrase = "` + scrubbed + `" }`},
		// Only whole literals: code that merely contains the text is kept.
		{"not a literal", `hunter2 = 1`, `hunter2 = 1`},
		{"computed", `ssh { password = os.getenv("PW") }`, `ssh { password = os.getenv("PW") }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(s.Scrub([]byte(tc.in))); got != tc.want {
				t.Errorf("Scrub(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSecretsLine(t *testing.T) {
	t.Parallel()
	s := Secrets{Password: "pw\nwith newline", Passphrase: "ph"}
	line, err := s.line()
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(strings.NewReader(string(line) + "rest"))
	got, err := ReadSecrets(r)
	if err != nil || got != s {
		t.Fatalf("ReadSecrets = %+v, %v; want %+v", got, err, s)
	}
	if rest, _ := r.ReadString(0); rest != "rest" {
		t.Errorf("the input after the line is %q, want rest", rest)
	}
	if _, err := ReadSecrets(bufio.NewReader(strings.NewReader(""))); err == nil {
		t.Error("no line: want an error")
	}
}

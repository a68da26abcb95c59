package sshx

import (
	"strings"
	"testing"
)

func TestTailWriterReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stderr, want string
	}{
		{"nothing", "", ""},
		{"one line", "fatal: boom\n", "fatal: boom"},
		{"the cause, not the last line", `rsync: [receiver] write failed on "/srv/app/big": No space left on device (28)
rsync error: error in file IO (code 11) at receiver.c(378) [receiver=3.2.7]
rsync: [sender] write error: Broken pipe (32)
rsync error: unexplained error (code 255) at io.c(848) [sender=3.2.7]
`, `rsync: [receiver] write failed on "/srv/app/big": No space left on device (28)`},
		{"ssh's cause", "Host key verification failed.\r\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255)\n",
			"Host key verification failed."},
		{"ssh's unknown host key", "No ED25519 host key is known for 198.18.0.12 and you have requested strict checking.\r\nHost key verification failed.\r\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\n",
			"No ED25519 host key is known for 198.18.0.12 and you have requested strict checking."},
		{"a connection closed by the host", "Connection to 198.18.0.13 closed by remote host.\r\nrsync: [sender] write error: Broken pipe (32)\nrsync error: error in socket IO (code 10) at io.c(849) [sender=3.2.7]\n",
			"Connection to 198.18.0.13 closed by remote host."},
		{"a connection lost on the way", "client_loop: send disconnect: Broken pipe\r\nrsync: [sender] write error: Broken pipe (32)\nrsync error: unexplained error (code 255) at io.c(849) [sender=3.2.7]\n",
			"client_loop: send disconnect: Broken pipe"},
		{"the relay's cause", "rsync: [sender] some warning\ngrifork-rsh: host web5: HOST KEY CHANGED: ssh-ed25519 key\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255) at io.c(232) [sender=3.2.7]\n",
			"grifork-rsh: host web5: HOST KEY CHANGED: ssh-ed25519 key"},
		{"no cause: the last lines", "a\nb\n\nc\nd\n", "b; c; d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var emitted []string
			w := NewTailWriter(func(l string) { emitted = append(emitted, l) })
			w.Write([]byte(tc.stderr))
			w.Close()
			if got := w.Reason(); got != tc.want {
				t.Errorf("Reason() = %q, want %q", got, tc.want)
			}
			if want := StderrTail(tc.stderr); want != "" && want != ": "+tc.want || want == "" && tc.want != "" {
				t.Errorf("StderrTail = %q, want %q", want, ": "+tc.want)
			}
			if got := strings.Join(emitted, "\n"); got != strings.TrimRight(tc.stderr, "\n") {
				t.Errorf("emitted %q", emitted)
			}
		})
	}
}

package app

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"github.com/grifork/grifork/node"
)

// The secrets of this test's Griforkfiles: no output channel may show them.
const (
	testPassword   = "pw-Secr3t-1"
	testPassphrase = "ph-Secr3t-2"
)

// A run with a password and a passphrase set, against a real sshd, through
// every output channel: the console (stdout and stderr), the log file at debug
// level, the JSON report, the dry-run plan, and a grifork-mode node's events
// and log. The blocks print the secrets, send them to remote commands and fail
// with them in a command's stderr; none may come out.
func TestSecretsReachNoOutput(t *testing.T) {
	sshdtest.NeedRoot(t)
	s := sshdtest.Start(t, sshdtest.Opts{})
	dir := t.TempDir()
	t.Setenv("HOME", dir) // no real ~/.ssh leaks in
	logFile, reportFile := filepath.Join(dir, "grifork.log"), filepath.Join(dir, "report.json")
	gf := filepath.Join(dir, "Griforkfile.lua")
	blocks := `
prepare(function() sh("echo", { "prepare " .. PW }) end)
locally(function(src, dst)
  print("print " .. PW .. " " .. PH)
  ssh(dst, "echo", { "remote " .. PW })
  ssh(dst, "sh", { "-c", "echo cause " .. PH .. " >&2; exit 3" })
end)
finish(function(report)
  for _, r in ipairs(report.results) do print("finish saw " .. (r.err or "")) end
end)
`
	write(t, gf, fmt.Sprintf(`local PW, PH = %q, %q
hosts { "root@%s" }
log { file = %q, level = "debug" }
ssh { keys = { %q }, known_hosts = %q, password = PW, passphrase = PH }
`, testPassword, testPassphrase, s.Addr(), logFile, s.UserKey, s.KnownHosts)+blocks)

	outputs := map[string]string{}
	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"-f", gf, "--report", reportFile}, strings.NewReader(""), &stdout, &stderr); code != ExitFailed {
		t.Errorf("run: exit %d, want %d (the failing command); stderr %s", code, ExitFailed, stderr.String())
	}
	outputs["stdout"], outputs["stderr"] = stdout.String(), stderr.String()
	outputs["log file"], outputs["report"] = read(t, logFile), read(t, reportFile)
	stdout.Reset()
	if code := runCLI([]string{"-n", "-f", gf}, strings.NewReader(""), &stdout, io.Discard); code != ExitOK {
		t.Errorf("-n: exit %d", code)
	}
	outputs["-n"] = stdout.String()

	// A node: the secrets come on its standard input, as from a parent.
	nodeLog := filepath.Join(dir, "node.log")
	args, _ := nodeFiles(t)
	in, parent := parentPipe(t, fmt.Sprintf(`local PW, PH = "placeholder", "placeholder"
mode "grifork"
hosts { "web1" }
log { file = %q, level = "debug" }
prepare_remote(function()
  PW, PH = %q, %q -- what the blocks of the real file would use
  sh("echo", { "prepare_remote " .. PW })
  print("print " .. PW .. " " .. PH)
end)
finish_remote(function() sh("sh", { "-c", "echo cause " .. PH .. " >&2; exit 3" }) end)
`, nodeLog, testPassword, testPassphrase), "", node.Secrets{Password: testPassword, Passphrase: testPassphrase})
	defer parent.Close()
	var events bytes.Buffer
	runOnRemote(args, in, &events, io.Discard)
	outputs["node events"], outputs["node log"] = events.String(), read(t, nodeLog)

	for name, out := range outputs {
		if strings.Contains(out, testPassword) || strings.Contains(out, testPassphrase) {
			t.Errorf("a secret reached %s:\n%s", name, out)
		}
		if name != "stderr" && !strings.Contains(out, "[REDACTED]") { // stderr: only the headline
			t.Errorf("%s shows no redacted line; did it carry the output?\n%s", name, out)
		}
	}
	if !strings.Contains(outputs["log file"], "level=DEBUG") {
		t.Errorf("the log file is not at debug level:\n%s", outputs["log file"])
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

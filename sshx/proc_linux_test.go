package sshx

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
)

// pdeathHelper, set in the environment, makes the test binary a grifork that
// runs one long local command (printing its pid) and waits to be killed.
const pdeathHelper = "GRIFORK_TEST_PDEATH_HELPER"

func init() {
	if os.Getenv(pdeathHelper) == "" {
		return
	}
	if c, err := New(Options{Output: output.NewPrinter(os.Stdout, nil).Writer, ConfigFile: "none", Agent: "none"}); err == nil {
		c.Local(context.Background(), []string{"sh", "-c", "echo $$; exec sleep 60"})
	}
	os.Exit(3)
}

// A local command dies with grifork, even when grifork is SIGKILLed and can
// stop nothing itself.
func TestLocalDiesWithGrifork(t *testing.T) {
	t.Parallel()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), pdeathHelper+"=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		helper.Process.Kill()
		t.Fatalf("helper printed no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "localhost | ")))
	if err != nil {
		t.Fatalf("helper printed %q", line)
	}
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("local command %d still runs after grifork was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

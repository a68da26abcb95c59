package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles cmd/grifork into dir and returns the binary's path. It is
// static (CGO_ENABLED=0) because grifork mode ships it to the fleet's hosts,
// and has the test hooks (the grifork_testhooks tag: node.CorruptEnv). Built
// as make build does (stripped), so that what a cold start ships weighs what
// it weighs for users.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "grifork")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-tags", "grifork_testhooks", "-o", bin, "github.com/grifork/grifork/cmd/grifork")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building grifork: %w\n%s", err, out)
	}
	return bin, nil
}

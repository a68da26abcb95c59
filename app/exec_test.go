package app

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/grifork/grifork/core"
)

// TestAdhocConfig: the ssh flags of exec and copy replace the -f file's settings.
func TestAdhocConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "g.lua")
	if err := os.WriteFile(file, []byte(`hosts { "a" }
ssh { user = "filer", port = 2200, keys = { "/k/file" } }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags adhocFlags
		want  core.SSHConfig
	}{
		{"file only", adhocFlags{File: file}, core.SSHConfig{User: "filer", Port: 2200, Keys: []string{"/k/file"}}},
		{"flags win", adhocFlags{File: file, User: "ops", Port: 22, Identity: []string{"/k/1", "/k/2"}},
			core.SSHConfig{User: "ops", Port: 22, Keys: []string{"/k/1", "/k/2", "/k/file"}}},
		{"no file", adhocFlags{User: "ops", Identity: []string{"/k/1"}}, core.SSHConfig{User: "ops", Keys: []string{"/k/1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// An env each: its group sources are built lazily, once per process.
			e := &env{ctx: context.Background(), stdout: os.Stdout, stderr: os.Stderr}
			c, err := tt.flags.config(e, hostFlags{Hosts: []string{"h"}}, false)
			if err != nil {
				t.Fatal(err)
			}
			got := core.SSHConfig{User: c.SSH.User, Port: c.SSH.Port, Keys: c.SSH.Keys}
			if len(got.Keys) == 0 {
				got.Keys = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ssh %+v, want %+v", got, tt.want)
			}
		})
	}
}

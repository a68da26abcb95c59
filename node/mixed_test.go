package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

func TestBinaryFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	own := filepath.Join(dir, "grifork")
	bins := filepath.Join(dir, "bins")
	for _, p := range []string{own, filepath.Join(dir, "grifork-linux-arm64"), filepath.Join(bins, "grifork-linux-riscv64"),
		filepath.Join(bins, "grifork-linux-arm64")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A directory of the right name is no binary.
	if err := os.Mkdir(filepath.Join(dir, "grifork-linux-ppc64le"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		uname    string
		binaries string
		want     string // the path shipped; "" when an error
		wantErr  []string
	}{
		{name: "same platform", uname: "Linux x86_64", want: own},
		{name: "same platform, binaries set", uname: "Linux x86_64", binaries: bins, want: own},
		{name: "beside the running binary", uname: "Linux aarch64", want: filepath.Join(dir, "grifork-linux-arm64")},
		{name: "binaries beats beside", uname: "Linux aarch64", binaries: bins, want: filepath.Join(bins, "grifork-linux-arm64")},
		{name: "in binaries only", uname: "Linux riscv64", binaries: bins, want: filepath.Join(bins, "grifork-linux-riscv64")},
		{name: "missing", uname: "Linux riscv64", wantErr: []string{`host is "Linux riscv64"`, "built for linux/amd64",
			`set grifork { exec = "/path/to/grifork" }`, "put grifork-linux-riscv64", "make build-all", "grifork { binaries }"}},
		{name: "a directory is no binary", uname: "Linux ppc64le", wantErr: []string{"put grifork-linux-ppc64le"}},
		{name: "unreadable uname", uname: "", wantErr: []string{`host is ""`, "put grifork-GOOS-GOARCH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewShipper(nil, core.GriforkConfig{Binaries: tc.binaries}, own, nil)
			s.own.goos, s.own.goarch = "linux", "amd64"
			b, err := s.binaryFor(tc.uname)
			if tc.want != "" {
				if err != nil {
					t.Fatalf("binaryFor(%q): %v", tc.uname, err)
				}
				if b.path != tc.want {
					t.Errorf("binaryFor(%q) ships %s, want %s", tc.uname, b.path, tc.want)
				}
				if tc.want != own && !b.runsOn(tc.uname) {
					t.Errorf("binaryFor(%q) is for %s/%s", tc.uname, b.goos, b.goarch)
				}
				return
			}
			if err == nil {
				t.Fatalf("binaryFor(%q) ships %s, want an error", tc.uname, b.path)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestForkForeignPlatform plays a root of another platform than the host
// (a real sshd on this machine): the host gets the grifork built for it, from
// beside the running one or from grifork { binaries }, and keeps it cached.
func TestForkForeignPlatform(t *testing.T) {
	fx := newForkFixture(t)
	fake := "riscv64"
	if runtime.GOARCH == fake {
		fake = "s390x"
	}
	body := readFile(t, fx.script) + "# for this machine\n"
	h := sha256.Sum256([]byte(body))
	sum := hex.EncodeToString(h[:])
	name := "grifork-" + runtime.GOOS + "-" + runtime.GOARCH
	bins := t.TempDir()
	for _, tc := range []struct {
		name string
		dir  string // where the host's grifork is
		mod  func(*ForkOptions)
	}{
		{"beside the running binary", filepath.Dir(fx.script), nil},
		{"in grifork { binaries }", bins, func(o *ForkOptions) { o.Grifork.Binaries = bins }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(tc.dir, name)
			if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(p)
			os.RemoveAll(fx.tmpdir)
			f := fx.forker(tc.mod)
			f.ship.own.goarch = fake
			cached := filepath.Join(fx.tmpdir, "grifork-"+sum[:12])
			var ino uint64
			for i := range 2 { // the second finds it cached
				if _, err := fx.fork(context.Background(), f); err != nil {
					t.Fatalf("Fork %d: %v", i, err)
				}
				if i == 0 {
					ino = inode(t, cached)
				}
			}
			if got := readFile(t, cached); got != body {
				t.Errorf("cached grifork is %q, want the host's platform's", got)
			}
			if inode(t, cached) != ino {
				t.Errorf("the second fork shipped the cached grifork again")
			}
			if _, err := os.Stat(fx.cached()); err == nil {
				t.Errorf("the running grifork (of another platform) was shipped too")
			}
		})
	}
}

func TestSamePlatform(t *testing.T) {
	t.Parallel()
	s := NewShipper(nil, core.GriforkConfig{}, "", nil)
	arm := &shipBinary{goos: "linux", goarch: "arm64"}
	a1, a2, x1, x2 := core.Host{Name: "a1"}, core.Host{Name: "a2"}, core.Host{Name: "x1"}, core.Host{Name: "x2"}
	s.platform.Store(a1.String(), arm)
	s.platform.Store(a2.String(), arm)
	tests := []struct {
		a, b core.Host
		want bool
	}{{a1, a2, true}, {x1, x2, true}, {a1, x1, false}, {x2, a2, false}}
	for _, tc := range tests {
		if got := s.samePlatform(tc.a, tc.b); got != tc.want {
			t.Errorf("samePlatform(%s, %s) = %v, want %v", tc.a.Name, tc.b.Name, got, tc.want)
		}
	}
}

// A host of another platform than the root's is never seeded (a relay has only
// the root's binary): the root ships it the grifork built for it.
func TestDeploySeededForeignPlatform(t *testing.T) {
	fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	fake := "riscv64"
	if runtime.GOARCH == fake {
		fake = "s390x"
	}
	body := readFile(t, fx.script) + "# for this machine\n"
	h := sha256.Sum256([]byte(body))
	sum := hex.EncodeToString(h[:])
	p := filepath.Join(filepath.Dir(fx.script), "grifork-"+runtime.GOOS+"-"+runtime.GOARCH)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	f := fx.forker(nil)
	f.ship.own.goarch = fake
	d, err := launched(f.ship, fx.child.Host, func(context.Context, string) error {
		t.Error("a host of another platform was to be seeded")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.ship.Cleanup(context.Background(), fx.child.Host, d.Run)
	cached := filepath.Join(fx.tmpdir, "grifork-"+sum[:12])
	if d.Exe != cached || readFile(t, cached) != body {
		t.Errorf("exe %s, want %s holding the host's platform's grifork", d.Exe, cached)
	}
}

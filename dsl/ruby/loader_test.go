package ruby_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/dsl/ruby"
)

func load(t *testing.T, name string, src []byte) *dsl.Script {
	t.Helper()
	s, err := dsl.Load(context.Background(), dsl.Source{Name: name, Content: src}, nil,
		dsl.Options{Printer: output.NewPrinter(io.Discard, nil)})
	if err != nil {
		t.Fatalf("load %s: %v\n%s", name, err, src)
	}
	t.Cleanup(s.Close)
	return s
}

var blocks = []core.Block{core.BlockPrepare, core.BlockLocally, core.BlockRemote,
	core.BlockPrepareRemote, core.BlockFinishRemote, core.BlockFinish}

// TestLoads loads every converted corpus file with the real Lua loader and, where
// a hand-written equivalent exists, compares the settings and defined blocks.
// (The dry-run plans are compared by the CLI's tests.)
func TestLoads(t *testing.T) {
	t.Setenv("HOME", "/home/deploy")
	t.Setenv("PWD", "/work")
	t.Setenv("APP_DIR", "/srv/app") // env.rb fetches it without a default
	paths, err := filepath.Glob("testdata/corpus/*.rb")
	if err != nil || len(paths) == 0 {
		t.Fatal("no corpus", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lua, err := ruby.Convert(path, src)
			if err != nil {
				t.Fatal(err)
			}
			conv := load(t, path, lua)
			equiv := strings.Replace(strings.TrimSuffix(path, ".rb")+".lua", "corpus", "equiv", 1)
			hand, err := os.ReadFile(equiv)
			if os.IsNotExist(err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := load(t, equiv, hand)
			if !reflect.DeepEqual(conv.Config, want.Config) {
				t.Errorf("settings differ from %s:\nconverted %+v\nby hand   %+v", equiv, conv.Config, want.Config)
			}
			for _, b := range blocks {
				if conv.Defined(b) != want.Defined(b) {
					t.Errorf("block %s: defined %v, by hand %v", b, conv.Defined(b), want.Defined(b))
				}
			}
		})
	}
}

// A Ruby host list and exclude list longer than gopher-lua's OP_SETLIST can
// address converts to Lua literals that the loader compiles whole.
func TestLongListsLoad(t *testing.T) {
	t.Parallel()
	const n = 26000
	// Values repeat, which keeps gopher-lua's O(n²) constant lookup short (26,000
	// distinct names take minutes under -race); the dsl tests cover 26,000
	// distinct hosts.
	src := "hosts ['h1', 'h2']\nrsync delete: true, excludes: %w(" + strings.Repeat(" x", n-1) + " last)\n" +
		"ssh keys: [" + strings.Repeat("'k', ", n-1) + "'last']\n"
	lua, err := ruby.Convert("Griforkfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, "Griforkfile", lua).Config
	if ex := cfg.Rsync.Excludes; len(ex) != n || ex[0] != "x" || ex[n-1] != "last" {
		t.Errorf("%d excludes", len(ex))
	}
	if k := cfg.SSH.Keys; len(k) != n || k[0] != "k" || k[n-1] != "last" {
		t.Errorf("%d keys", len(k))
	}
}

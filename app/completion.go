package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	posener "github.com/posener/complete"
	"github.com/willabides/kongplete"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// The shells ask grifork itself for the completions (kongplete answers when
// COMP_LINE is set), so the scripts only hook it in.
var completionScripts = map[string]string{
	"bash": "complete -C {bin} grifork\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -C {bin} grifork\n",
	"fish": `function __complete_grifork
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    {bin}
end
complete -f -c grifork -a "(__complete_grifork)"
`,
}

func (c *completionCmd) Run(e *env) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	_, err = fmt.Fprint(e.stdout, strings.ReplaceAll(completionScripts[c.Shell], "{bin}", bin))
	return err
}

// Complete answers a shell's completion request (COMP_LINE set), then calls
// p's Exit; it returns when there was none to answer.
func Complete(p *kong.Kong) {
	if os.Getenv("COMP_LINE") == "" {
		return
	}
	kongplete.Complete(p,
		kongplete.WithPredictor("file", posener.PredictFiles("*")),
		kongplete.WithPredictor("groups", posener.PredictFunc(predictGroups)))
}

// predictGroups offers the node groups -H and -x can name: "@group" of the
// default source, "@source:group" of the others, with the inventories that
// the command line gives so far.
func predictGroups(a posener.Args) []string {
	var files []string
	for i, w := range a.Completed {
		if v, ok := strings.CutPrefix(w, "--inventory="); ok {
			files = append(files, v)
		} else if w == "--inventory" && i+1 < len(a.Completed) {
			files = append(files, a.Completed[i+1])
		}
	}
	ctx := context.Background()
	r, err := (&groupSources{flags: files}).resolver(ctx, nil)
	if err != nil {
		return nil
	}
	sources, err := r.Sources()
	if err != nil {
		return nil
	}
	var out []string
	for i, src := range sources {
		names, err := r.With(ctx).Groups(src)
		if err != nil {
			continue
		}
		for _, g := range names {
			if i == 0 {
				out = append(out, "@"+g)
			}
			out = append(out, "@"+src+":"+g)
		}
	}
	return out
}

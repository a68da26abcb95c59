package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// repoRoot is the repository's top level, seen from this package's directory
// (where go test runs it).
const repoRoot = "../.."

// fragmentTag, in a code block's info string after the language (```lua
// fragment), marks a block that is a part of a Griforkfile, not a whole one.
const fragmentTag = "fragment"

// mdDoc is one Markdown file of the documentation, parsed.
type mdDoc struct {
	path    string // relative to repoRoot
	anchors map[string]bool
	links   []string // every link destination, as written
	lua     []luaBlock
}

// luaBlock is a ```lua code block: its first line in the file, its source and
// whether it is marked a fragment.
type luaBlock struct {
	line     int
	src      string
	fragment bool
}

// docFiles lists what the docs test reads: the README and every docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("docs/*.md: %v, %v", files, err)
	}
	files = append([]string{filepath.Join(repoRoot, "README.md")}, files...)
	for i, f := range files {
		files[i], _ = filepath.Rel(repoRoot, f)
	}
	return files
}

// parseDoc reads one Markdown file as GitHub renders it (GFM tables included, so
// links inside tables are links and pipes inside code spans are text).
func parseDoc(t *testing.T, rel string) *mdDoc {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	root := md.Parser().Parse(text.NewReader(src))
	d := &mdDoc{path: rel, anchors: map[string]bool{}}
	seen := map[string]int{}
	err = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			d.anchors[githubAnchor(inlineText(n, src), seen)] = true
		case *ast.Link:
			d.links = append(d.links, string(n.Destination))
		case *ast.Image:
			d.links = append(d.links, string(n.Destination))
		case *ast.FencedCodeBlock:
			if string(n.Language(src)) != "lua" {
				return ast.WalkSkipChildren, nil
			}
			info := strings.Fields(string(n.Info.Value(src)))
			var body strings.Builder
			lines := n.Lines()
			for i := range lines.Len() {
				seg := lines.At(i)
				body.Write(seg.Value(src))
			}
			line := 1
			if lines.Len() > 0 {
				line = bytes.Count(src[:lines.At(0).Start], []byte("\n")) + 1
			}
			d.lua = append(d.lua, luaBlock{line: line, src: body.String(), fragment: slices.Contains(info[1:], fragmentTag)})
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// inlineText is the text of a heading as rendered: code spans and emphasis
// contribute their text, markup none.
func inlineText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(src))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// githubAnchor is the id GitHub gives a heading (github-slugger): lower case,
// everything but letters, digits, marks, '_', '-' and spaces dropped, each space
// a '-'; the second heading of the same text gets "-1", the third "-2".
func githubAnchor(heading string, seen map[string]int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	slug := b.String()
	n := seen[slug]
	seen[slug] = n + 1
	if n > 0 {
		slug = fmt.Sprintf("%s-%d", slug, n)
	}
	return slug
}

func TestGithubAnchor(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for _, c := range []struct{ heading, want string }{
		{"Choosing branches", "choosing-branches"},
		{"Healing: --heal", "healing---heal"},
		{"The report's schema", "the-reports-schema"},
		{"Running make bench", "running-make-bench"},
		{"× bound", "-bound"},
		{"Choosing branches", "choosing-branches-1"},
		{"Choosing branches", "choosing-branches-2"},
	} {
		if got := githubAnchor(c.heading, seen); got != c.want {
			t.Errorf("githubAnchor(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}

// TestDocs checks what a reader of README.md and docs/*.md follows: every
// relative link names a file of the repository and, with a #fragment, a heading
// of that file; a link with a URL scheme (https:, mailto:) leaves the repository
// and is not fetched. And every ```lua block plans with grifork -n, except the
// blocks marked ```lua fragment (parts of a Griforkfile), which must not: a
// block that plans is a whole file and is checked as one.
func TestDocs(t *testing.T) {
	docs := map[string]*mdDoc{}
	files := docFiles(t)
	for _, f := range files {
		docs[f] = parseDoc(t, f)
	}
	for _, f := range files {
		d := docs[f]
		for _, link := range d.links {
			if err := checkLink(d, link, docs); err != nil {
				t.Errorf("%s: link %q: %v", f, link, err)
			}
		}
	}

	setExampleEnv(t)
	t.Setenv("HOME", t.TempDir()) // a plan needs no keys; no real ~/.ssh leaks in
	whole, fragments := 0, 0
	for _, f := range files {
		for _, b := range docs[f].lua {
			if b.fragment {
				fragments++
			} else {
				whole++
			}
			t.Run(fmt.Sprintf("%s:%d", f, b.line), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "Griforkfile.lua")
				if err := os.WriteFile(path, []byte(b.src), 0o644); err != nil {
					t.Fatal(err)
				}
				code, _, stderr := runMain(t, "-n", "-f", path)
				switch {
				case !b.fragment && code != 0:
					t.Errorf("grifork -n of the block at %s:%d: exit %d (mark a part of a Griforkfile ```lua %s):\n%s", f, b.line, code, fragmentTag, stderr)
				case b.fragment && code == 0:
					// The mark must stay honest: a whole file is checked.
					t.Errorf("the block at %s:%d is marked %s but plans as a whole Griforkfile: drop the mark", f, b.line, fragmentTag)
				}
			})
		}
	}
	// The docs hold whole Griforkfiles: a parser that lost them all would pass.
	if whole < 3 {
		t.Errorf("found %d whole ```lua Griforkfiles (and %d fragments) in the docs, want at least 3", whole, fragments)
	}

	examples, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.lua"))
	if err != nil || len(examples) < 3 {
		t.Fatalf("examples: %v, %v", examples, err)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			if code, _, stderr := runMain(t, "-n", "-f", ex); code != 0 {
				t.Errorf("grifork -n -f %s: exit %d:\n%s", ex, code, stderr)
			}
		})
	}
}

// checkLink resolves one link of d: a file (or directory) of the repository,
// and a heading of a Markdown file for a #fragment.
func checkLink(d *mdDoc, link string, docs map[string]*mdDoc) error {
	u, err := url.Parse(link)
	if err != nil {
		return err
	}
	if u.Scheme != "" || u.Host != "" {
		return nil // outside the repository
	}
	target := d.path
	if u.Path != "" {
		if strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("an absolute path does not resolve on GitHub or in a checkout; make it relative")
		}
		target = filepath.Clean(filepath.Join(filepath.Dir(d.path), u.Path))
		if strings.HasPrefix(target, "..") {
			return fmt.Errorf("leaves the repository")
		}
		if _, err := os.Stat(filepath.Join(repoRoot, target)); err != nil {
			return fmt.Errorf("no such file: %s", target)
		}
	}
	if u.Fragment == "" {
		return nil
	}
	td, ok := docs[target]
	if !ok {
		return fmt.Errorf("#%s in %s, which is not one of the checked Markdown files", u.Fragment, target)
	}
	if !td.anchors[u.Fragment] {
		return fmt.Errorf("%s has no heading with the anchor #%s", target, u.Fragment)
	}
	return nil
}

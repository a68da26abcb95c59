package redact

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Mask replaces each secret.
const Mask = "[REDACTED]"

// Redactor replaces secrets with Mask. A nil *Redactor redacts nothing. Safe for
// concurrent use.
type Redactor struct {
	r       *strings.Replacer
	secrets []string // longest first
}

// New returns a Redactor for secrets; empty ones are ignored.
func New(secrets ...string) *Redactor {
	var s []string
	for _, sec := range secrets {
		if sec != "" {
			s = append(s, sec)
		}
	}
	if len(s) == 0 {
		return nil
	}
	// Longest first: of two secrets where one contains the other, the longer
	// must be matched first or its remainder would leak.
	slices.SortFunc(s, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(s))
	for _, sec := range s {
		pairs = append(pairs, sec, Mask)
	}
	return &Redactor{r: strings.NewReplacer(pairs...), secrets: s}
}

// Lookahead is how many bytes past a cut Cut needs to see: a secret that
// starts before the cut ends within them.
func (r *Redactor) Lookahead() int {
	if r == nil {
		return 0
	}
	return len(r.secrets[0]) - 1
}

// Cut is the largest cut point <= n of b such that no secret in b spans it, so
// that b[:cut] and b[cut:] redacted on their own hide every secret that b does
// (a long line printed in pieces). b must hold Lookahead bytes past n, or end
// there. A cut that would leave nothing before it is n: a secret can be that
// long only when n is tiny.
func (r *Redactor) Cut(b string, n int) int {
	if r == nil {
		return n
	}
	cut := n
	for moved := true; moved; {
		moved = false
		for _, sec := range r.secrets {
			// Any occurrence that starts in this window spans cut.
			lo, hi := max(0, cut-len(sec)+1), min(len(b), cut+len(sec)-1)
			if lo >= hi {
				continue
			}
			if i := strings.Index(b[lo:hi], sec); i >= 0 {
				cut, moved = lo+i, true
			}
		}
	}
	if cut == 0 {
		return n
	}
	return cut
}

// String is s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Writer wraps w so that every Write is redacted. Each Write is redacted on its
// own: a secret split across two writes is not seen, so callers write whole
// lines (the printer and the plan writers do).
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if r == nil {
		return w
	}
	return &writer{r: r, w: w}
}

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(b []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.String(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Handler wraps h so that every message and text attribute is redacted.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if r == nil {
		return h
	}
	return &handler{Handler: h, r: r}
}

type handler struct {
	slog.Handler
	r *Redactor
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		red := make([]any, len(attrs))
		for i, g := range attrs {
			red[i] = h.attr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindString, slog.KindAny: // strings, errors, Stringers: where text can hide
		return slog.String(a.Key, h.r.String(v.String()))
	default: // numbers, times, durations keep their type
		return a
	}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &handler{Handler: h.Handler.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), r: h.r}
}

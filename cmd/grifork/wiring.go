package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
)

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// consoleHandler logs warnings and errors to the console, without timestamps:
// the lines appear as things happen.
func consoleHandler(w io.Writer) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
}

// redactingHandler removes secrets from every message and text attribute.
type redactingHandler struct {
	slog.Handler
	secrets []string
}

func newRedactingHandler(h slog.Handler, secrets []string) slog.Handler {
	if len(secrets) == 0 {
		return h
	}
	return &redactingHandler{Handler: h, secrets: secrets}
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, core.Redact(r.Message, h.secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h *redactingHandler) redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		red := make([]any, len(attrs))
		for i, g := range attrs {
			red[i] = h.redact(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindString, slog.KindAny: // strings, errors, Stringers: where text can hide
		return slog.String(a.Key, core.Redact(v.String(), h.secrets))
	default: // numbers, times, durations keep their type
		return a
	}
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.redact(a)
	}
	return &redactingHandler{Handler: h.Handler.WithAttrs(red), secrets: h.secrets}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{Handler: h.Handler.WithGroup(name), secrets: h.secrets}
}

// timestamped prefixes each line written to w with the time, for the log file.
type timestamped struct {
	w   io.Writer
	now func() time.Time
}

func (t *timestamped) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(t.w, "%s %s", t.now().Format(time.RFC3339Nano), b); err != nil {
		return 0, err
	}
	return len(b), nil
}

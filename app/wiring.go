package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
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

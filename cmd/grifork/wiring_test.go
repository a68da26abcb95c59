package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRedactingHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(newRedactingHandler(slog.NewJSONHandler(&buf, nil), []string{"hunter2"}))
	log = log.With("login", "ops:hunter2")
	log.Info("password hunter2 refused",
		"err", errors.New("auth hunter2 failed"),
		"attempts", 3,
		"took", 1500*time.Millisecond,
		slog.Group("ssh", "password", "hunter2"))
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("a secret reached the log: %s", out)
	}
	for _, want := range []string{
		`"msg":"password [REDACTED] refused"`,
		`"login":"ops:[REDACTED]"`,
		`"err":"auth [REDACTED] failed"`,
		`"attempts":3`,      // numbers stay numbers
		`"took":1500000000`, // durations too
		`"ssh":{"password":"[REDACTED]"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

package node

import (
	"bufio"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestCheckProtocol(t *testing.T) {
	t.Parallel()
	v := strconv.Itoa(ProtocolVersion)
	tests := []struct {
		args     []string
		rest     []string
		mismatch string // in the error; "" when none
	}{
		{[]string{ProtocolFlag, v, "--tree", "t.json"}, []string{"--tree", "t.json"}, ""},
		{[]string{ProtocolFlag, v}, []string{}, ""},
		{[]string{ProtocolFlag, "99", "--tree", "t.json"}, nil, "the root's grifork speaks version 99, this node's speaks version " + v},
		{[]string{"--tree", "t.json"}, nil, "the root's grifork speaks version 1 (no --protocol), this node's speaks version " + v},
		{nil, nil, "version 1"},
	}
	for _, tt := range tests {
		rest, err := CheckProtocol(tt.args)
		switch {
		case tt.mismatch == "" && (err != nil || !reflect.DeepEqual(rest, tt.rest)):
			t.Errorf("CheckProtocol(%q) = %q, %v; want %q", tt.args, rest, err, tt.rest)
		case tt.mismatch != "" && (err == nil || !strings.Contains(err.Error(), tt.mismatch) || !strings.Contains(err.Error(), "grifork { exec }")):
			t.Errorf("CheckProtocol(%q) = %v; want an error with %q and the fix", tt.args, err, tt.mismatch)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("CheckProtocol(%q): the error is not one line: %q", tt.args, err)
		}
	}
	// What the root makes of a node's grifork from before versions.
	msg, ok := oldNode("flag provided but not defined: -protocol\nusage: ...")
	if !ok || !strings.Contains(msg, "the root's grifork speaks version "+v+", the node's speaks version 1") {
		t.Errorf("oldNode = %q, %v", msg, ok)
	}
	// The node's line and the root's give the same fix, each from its side.
	fix := func(s string) string { _, f, _ := strings.Cut(s, ": install"); return f }
	if nodeSide := mismatch("99").Error(); fix(nodeSide) == "" || fix(strings.Replace(msg, " there ", " here ", 1)) != fix(nodeSide) {
		t.Errorf("the fix differs:\n  node: %q\n  root: %q", nodeSide, msg)
	}
	if _, ok := oldNode("fatal: boom"); ok {
		t.Error("oldNode took any failure for an old node")
	}
}

func TestHelloLine(t *testing.T) {
	t.Parallel()
	h := Hello{Secrets: Secrets{Password: "pw\nwith newline", Passphrase: "ph"},
		Griforkfile: File{Name: "deploy.lua", Data: []byte("ssh { password = \"pw\\009x\" }\n\xff\x00")},
		Override:    &File{Name: "o.lua", Data: []byte("branches(2)")}}
	line, err := h.line()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(line), "\n") != 1 {
		t.Fatalf("the hello spans lines: %q", line)
	}
	r := bufio.NewReader(strings.NewReader(string(line) + "rest"))
	got, err := ReadHello(r)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("ReadHello = %+v, %v; want %+v", got, err, h)
	}
	if rest, _ := r.ReadString(0); rest != "rest" {
		t.Errorf("the input after the line is %q, want rest", rest)
	}
	for _, in := range []string{"", "not json\n"} {
		if _, err := ReadHello(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("ReadHello(%q): want an error", in)
		}
	}
}

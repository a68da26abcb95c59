package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ProtocolVersion is the version of the node protocol: the command lines that
// start a node's grifork (grifork mode's --on-remote, the broadcast's --relay)
// and every message on their sessions. Bump it with any change that the other
// end would misread. A grifork shipped by the root always speaks the root's;
// one installed on a node (grifork { exec }) may not.
//
// Version 1 is every grifork before versions: it takes no --protocol.
// Version 3: a relay acknowledges every frame of the broadcast's stream (a
// sender waits for the acknowledgements, which a version 2 relay never sends).
// Version 4: the direct stream (relayConfig's TLS credential, the relay's
// port in its listening event and in relayPeer).
const ProtocolVersion = 4

// ProtocolFlag follows the mode flag on every command line the root starts on
// a node: grifork --on-remote --protocol N ..., grifork --relay --protocol N.
const ProtocolFlag = "--protocol"

// protocolArgs is the front of a command line that starts a node's grifork in
// mode (OnRemoteFlag, RelayFlag).
func protocolArgs(exe, mode string) []string {
	return []string{exe, mode, ProtocolFlag, strconv.Itoa(ProtocolVersion)}
}

// CheckProtocol is the first thing a node's grifork does: args are its
// arguments after the mode flag. It returns the rest of them, or an error
// naming both versions and the fix when the root speaks another version.
func CheckProtocol(args []string) ([]string, error) {
	if len(args) < 2 || args[0] != ProtocolFlag {
		return nil, mismatch("1 (no " + ProtocolFlag + ")")
	}
	if args[1] != strconv.Itoa(ProtocolVersion) {
		return nil, mismatch(args[1])
	}
	return args[2:], nil
}

func mismatch(root string) error {
	return errors.New(mismatchText(root, "this node's", strconv.Itoa(ProtocolVersion), "here"))
}

// oldNode recognises, in the standard error of a node's grifork that failed
// to start, one from before protocol versions refusing --protocol, and says so
// as the node would have.
func oldNode(stderr string) (string, bool) {
	if !strings.Contains(stderr, "-protocol") {
		return "", false
	}
	return mismatchText(strconv.Itoa(ProtocolVersion), "the node's", "1 (it takes no "+ProtocolFlag+")", "there"), true
}

// mismatchText is the one line of a protocol mismatch, as the node (node
// "this node's", where "here") or the root ("the node's", "there") sees it:
// both versions and the fix.
func mismatchText(root, node, nodeVersion, where string) string {
	return "node protocol mismatch: the root's grifork speaks version " + root + ", " + node + " speaks version " + nodeVersion +
		": install the root's grifork " + where + " (grifork { exec }), or leave grifork { exec } unset so that the root ships its own"
}

// Hello is the first line (JSON) of a forked node's standard input: what the
// node must have and no disk may hold. The Griforkfile(s) travel here, not in
// the run directory, so a secret they hold (however it is written: a literal,
// escapes, a concatenation) never reaches a node's disk; Secrets are the
// root's final ssh secrets, which the node applies after loading the
// Griforkfile, so a secret it computes (from the root's environment, say) is
// the same value on every node.
type Hello struct {
	Secrets     Secrets `json:"secrets"`
	Griforkfile File    `json:"griforkfile"`
	Override    *File   `json:"override,omitempty"`
}

// line is h as the first line of a node's standard input.
func (h Hello) line() ([]byte, error) {
	b, err := json.Marshal(h)
	return append(b, '\n'), err
}

// ReadHello reads the hello line from the start of a node's standard input.
// r must be the reader the rest of the input is read from as well (it is
// buffered).
func ReadHello(r *bufio.Reader) (Hello, error) {
	var h Hello
	line, err := r.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	if err != nil {
		return Hello{}, fmt.Errorf("read the Griforkfile and secrets from the parent: %w", err)
	}
	return h, nil
}

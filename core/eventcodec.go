package core

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The grifork-mode relay decodes every event of a subtree at every level of the
// tree, and the root every event of the run: encoding/json's reflection was most
// of a relay's cost. appendEvent and decodeEvent handle the lines that
// encoding/json itself writes for an Event, byte for byte the same, and hand
// anything else to encoding/json, so both ends keep its exact semantics
// (FuzzDecodeEvent checks it).

// appendEvent appends the JSON encoding of ev to b, as json.Marshal would
// write it; ok is false for what it leaves to json.Marshal (a Start outside
// years 0-9999, which json.Marshal refuses). It knows every field of Event
// (TestEventCodecKnowsEveryField holds it to them).
func appendEvent(b []byte, ev Event) (_ []byte, ok bool) {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, string(ev.Type))
	b = appendField(b, "node", ev.NodeID)
	b = appendField(b, "host", ev.Host)
	b = appendField(b, "task", string(ev.Task))
	b = appendField(b, "status", string(ev.Status))
	b = appendField(b, "via", ev.Via)
	b = appendField(b, "err", ev.Err)
	if !ev.Start.IsZero() {
		b = append(b, `,"start":"`...)
		var err error
		if b, err = ev.Start.AppendText(b); err != nil {
			return b, false
		}
		b = append(b, '"')
	}
	if ev.Duration != 0 {
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(ev.Duration), 10)
	}
	b = appendField(b, "line", ev.Line)
	b = appendField(b, "stream", ev.Stream)
	return append(b, '}'), true
}

// appendField appends ,"key":"value" unless value is empty (omitempty).
func appendField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s quoted as encoding/json quotes it: printable
// ASCII other than " \ < > & as it is, anything else through json.Marshal
// (escapes, HTML escaping, invalid UTF-8).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeEvent decodes one line as json.Unmarshal into an Event would. Fields
// that are strings are substrings of line, Type, Task and Status constants
// where they are known ones.
func decodeEvent(line string) (Event, error) {
	if ev, ok := decodeEventFast(line); ok {
		return ev, nil
	}
	var ev Event
	err := json.Unmarshal([]byte(line), &ev)
	return ev, err
}

// decodeEventFast decodes the form appendEvent writes: one object, no
// whitespace, known keys, strings without escapes, an integer duration. ok is
// false for anything else.
func decodeEventFast(line string) (ev Event, ok bool) {
	s, ok := strings.CutPrefix(line, "{")
	if !ok {
		return ev, false
	}
	if s == "}" {
		return ev, true
	}
	for {
		var key, val string
		if key, s, ok = cutString(s); !ok || len(s) == 0 || s[0] != ':' {
			return ev, false
		}
		s = s[1:]
		if key == "duration" {
			i := 0
			if i < len(s) && s[i] == '-' {
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			d, err := strconv.ParseInt(s[:i], 10, 64)
			// JSON has no leading zeros ("01", "-0" aside, which is 0 either way).
			if err != nil || (i > 1 && s[0] == '0') || (i > 2 && s[:2] == "-0") {
				return ev, false
			}
			ev.Duration, s = time.Duration(d), s[i:]
		} else {
			if val, s, ok = cutString(s); !ok {
				return ev, false
			}
			switch key {
			case "type":
				ev.Type = EventType(known(val))
			case "node":
				ev.NodeID = val
			case "host":
				ev.Host = val
			case "task":
				ev.Task = Block(known(val))
			case "status":
				ev.Status = Status(known(val))
			case "via":
				ev.Via = val
			case "err":
				ev.Err = val
			case "start":
				if err := ev.Start.UnmarshalText([]byte(val)); err != nil {
					return ev, false
				}
			case "line":
				ev.Line = val
			case "stream":
				ev.Stream = known(val)
			default: // json.Unmarshal matches keys without regard to case
				return ev, false
			}
		}
		switch {
		case s == "}":
			return ev, true
		case len(s) > 0 && s[0] == ',':
			s = s[1:]
		default:
			return ev, false
		}
	}
}

// cutString takes a JSON string without escapes or control characters off the
// start of s and returns its contents and the rest.
func cutString(s string) (val, rest string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], s[i+1:], true
		case c == '\\' || c < 0x20:
			return "", s, false
		case c >= 0x80:
			// json.Unmarshal replaces invalid UTF-8: valid, it stays as it is.
			j := i + 1
			for j < len(s) && s[j] != '"' && s[j] != '\\' {
				j++
			}
			if j == len(s) || s[j] != '"' || !utf8.ValidString(s[1:j]) || strings.ContainsFunc(s[1:j], isControl) {
				return "", s, false
			}
			return s[1:j], s[j+1:], true
		}
	}
	return "", s, false
}

// knownValues are the values of the enumerated fields (type, task, status,
// stream): decoded as these constants, they hold no reference to the line.
var knownValues = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		string(EventStarted), string(EventOutput), string(EventResult), string(EventDone), string(EventHeartbeat),
		string(BlockPrepare), string(BlockLocally), string(BlockRemote), string(BlockPrepareRemote),
		string(BlockFinishRemote), string(BlockFinish), string(BlockBroadcast), string(TaskFork),
		string(StatusPending), string(StatusOK), string(StatusFailed), string(StatusSkipped),
		"stdout", "stderr", "log", StreamConsole,
	} {
		m[v] = v
	}
	return m
}()

func isControl(r rune) bool { return r < 0x20 }

func known(v string) string {
	if k, ok := knownValues[v]; ok {
		return k
	}
	return strings.Clone(v)
}

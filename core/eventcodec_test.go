package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sameEvent compares events as json.Unmarshal's result is compared: Start by
// instant and offset (a fixed zone is a new *Location each time), raw aside.
func sameEvent(a, b Event) bool {
	_, oa := a.Start.Zone()
	_, ob := b.Start.Zone()
	ta, tb := a.Start, b.Start
	a.Start, b.Start, a.raw, b.raw = time.Time{}, time.Time{}, "", ""
	return a == b && ta.Equal(tb) && oa == ob
}

// A field added to Event must be added to the codec too (appendEvent,
// decodeEventFast, then here): they would lose it.
func TestEventCodecKnowsEveryField(t *testing.T) {
	t.Parallel()
	coded := []string{"type", "node", "host", "task", "status", "via", "err", "start", "duration", "line", "stream"}
	var names []string
	typ := reflect.TypeFor[Event]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
	}
	if !slices.Equal(names, coded) {
		t.Errorf("Event's JSON fields are %q, the codec knows %q: add the new ones to appendEvent, decodeEventFast and here", names, coded)
	}
}

// decodeEvent gives what json.Unmarshal gives, for any line: both ends of the
// wire keep encoding/json's semantics.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"started","node":"0.0-1.0","host":"web1","task":"locally","start":"2025-01-02T03:04:05.000000006Z"}`,
		`{"type":"result","node":"0.0-1.0-2.1","host":"deploy@web5:2222","task":"remote","status":"failed","via":"web2","err":"exit status 1","start":"2025-01-02T03:04:05.000000006+02:00","duration":1500000000}`,
		`{"type":"output","node":"n","line":"web1 | \"quoted\" \u003c ü","stream":"console"}`,
		`{"type":"output","line":"ü\xff"}`, `{"type":"done","duration":-0}`, `{"type":"done","duration":01}`,
		`{"type":"done","duration":1.5}`, `{"Type":"done"}`, `{"type":"done","extra":1}`, `{"type":"done"} `,
		`{"type":"done","start":""}`, `{"type":null}`, `{}`, `{"type":"done",}`, `{"type":"a\tb"}`, `not json`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var want Event
		werr := json.Unmarshal([]byte(line), &want)
		got, err := decodeEvent(line)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeEvent(%q) err %v, json.Unmarshal err %v", line, err, werr)
		}
		if err == nil && !sameEvent(got, want) {
			t.Fatalf("decodeEvent(%q)\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// appendEvent writes what json.Marshal writes.
func FuzzAppendEvent(f *testing.F) {
	f.Add("output", "0.0-1.0", "web1", "locally", "ok", "", int64(1735787045), int64(6), 3600, int64(1500), "a line", "stdout")
	f.Add("result", "n", "deploy@h:22", "remote", "failed", "exit \"1\" <&>\n", int64(0), int64(0), 0, int64(-1), "\xffü\u2028", "")
	f.Add("", "", "", "", "", "", int64(-62135596800), int64(0), 0, int64(0), "", "")
	f.Add("done", "", "", "", "", "", int64(253402300800), int64(0), 0, int64(0), "", "")
	f.Fuzz(func(t *testing.T, typ, node, host, task, status, errs string, sec, nsec int64, offset int, dur int64, line, stream string) {
		ev := Event{Type: EventType(typ), NodeID: node, Host: host, Task: Block(task), Status: Status(status), Err: errs,
			Duration: time.Duration(dur), Line: line, Stream: stream}
		if sec != 0 || nsec != 0 {
			ev.Start = time.Unix(sec, nsec).In(time.FixedZone("", offset%86400))
		}
		want, werr := json.Marshal(ev)
		got, ok := appendEvent(nil, ev)
		if ok != (werr == nil) {
			t.Fatalf("appendEvent(%+v) ok %v, json.Marshal err %v", ev, ok, werr)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("appendEvent(%+v)\n got %s\nwant %s", ev, got, want)
		}
	})
}

// A relayed event goes up as the line it came in, whatever its form: a node
// does not encode its children's events again.
func TestEmitRelaysTheLine(t *testing.T) {
	t.Parallel()
	in := `{ "type": "output", "node": "0.0-1.0-2.0", "host": "web5", "line": "hi" }` + "\n" +
		`{"type":"started","node":"0.0-1.0-2.1","host":"web6","task":"remote","start":"2025-01-02T03:04:05+02:00"}` + "\n"
	var out bytes.Buffer
	ew := NewEventWriter(&out, nil)
	if err := ReadEvents(strings.NewReader(in), &Node{ID: "0.0-1.0"}, ew.Emit); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("relayed\n%s\nwant the lines as they came\n%s", out.String(), in)
	}
}

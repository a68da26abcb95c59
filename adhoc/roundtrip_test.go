package adhoc

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// valid are the fields whose values a filler cannot make up: a value of the
// right type that Validate accepts, distinct from the field's default.
var valid = map[string]any{
	"Mode":               core.Grifork,
	"Log.Level":          "warn",
	"SSH.HostKeyCheck":   "accept-new",
	"SSH.Retries":        new(5),
	"Hosts":              []core.Host{{Name: "web1"}, {Name: "db1", User: "deploy", Port: 2222}, {Name: "::1", Port: 22}},
	"Broadcast.To":       "/srv/app/",
	"Broadcast.Branches": 2,
	"Rsync.Raw":          []string(nil), // the array form excludes the table form: TestConfigRoundTripRawRsync
	"Grifork.Binaries":   "",            // exec excludes binaries: TestConfigRoundTripBinaries
}

// fill sets every field of v (a struct), recursively, to a value other than
// its zero value and its default: the valid one when path has one, else one
// made up from its kind. A kind it cannot fill fails the test, so a field of a
// new kind cannot slip through unchecked.
func fill(t *testing.T, v reflect.Value, path string, n *int) {
	t.Helper()
	if val, ok := valid[path]; ok {
		v.Set(reflect.ValueOf(val))
		return
	}
	*n++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			p := v.Type().Field(i).Name
			if path != "" {
				p = path + "." + p
			}
			fill(t, v.Field(i), p, n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path, n)
	case reflect.String:
		v.SetString("s" + strconv.Itoa(*n) + "\t\"\\009\n")
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			v.SetInt(int64(*n)*int64(time.Second) + int64(250*time.Millisecond))
			return
		}
		v.SetInt(int64(*n))
	case reflect.Bool:
		// Not the default: true for the plain ones; the pointers (delete,
		// direct) default to true, and notDefault checks that fill found them.
		v.SetBool(!path2ptr[path])
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			t.Fatalf("%s: fill cannot make up a %s; give it a value in valid", path, v.Type())
		}
		v.Set(reflect.ValueOf([]string{"a" + strconv.Itoa(*n), "b c"}))
	default:
		t.Fatalf("%s: fill cannot make up a %s; give it a value in valid", path, v.Type())
	}
}

// path2ptr are the *bool fields whose default is true.
var path2ptr = map[string]bool{"Rsync.Delete": true, "Broadcast.Delete": true, "Broadcast.Direct": true}

// notDefault fails the test for each leaf field of got (a filled Config,
// walked with def, the defaults) that holds its default: the round trip
// cannot tell whether a writer that leaves it out loses it. So a new field
// whose default fill happens to make (a *bool that defaults to true) is
// caught here, not silently passed.
func notDefault(t *testing.T, got, def reflect.Value, path string) {
	t.Helper()
	if _, ok := valid[path]; ok {
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			p := got.Type().Field(i).Name
			if path != "" {
				p = path + "." + p
			}
			notDefault(t, got.Field(i), def.Field(i), p)
		}
	case reflect.Pointer:
		if !def.IsNil() {
			notDefault(t, got.Elem(), def.Elem(), path)
		}
	default:
		if reflect.DeepEqual(got.Interface(), def.Interface()) {
			t.Errorf("%s: fill made its default %v; give it another in valid or path2ptr", path, got.Interface())
		}
	}
}

// TestConfigRoundTrip: the Griforkfile an ad-hoc command writes sets every
// field of the Config it was made from, exactly, whatever the field.
func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	var c core.Config
	fill(t, reflect.ValueOf(&c).Elem(), "", new(0))
	if err := c.Validate(); err != nil {
		t.Fatalf("filled Config is not valid (adjust valid): %v", err)
	}
	def := core.Config{Broadcast: &core.BroadcastConfig{}}
	def.SetDefaults()
	notDefault(t, reflect.ValueOf(c), reflect.ValueOf(def), "")
	src := Exec(c, []string{"true"})
	s, _ := load(t, src)
	want := c
	want.SetDefaults()
	if !reflect.DeepEqual(s.Config, want) {
		t.Errorf("lost in the round trip through\n%s\nloaded %+v\nwant   %+v", src, s.Config, want)
	}
}

// TestConfigRoundTripBinaries: grifork { binaries }, which exec excludes.
func TestConfigRoundTripBinaries(t *testing.T) {
	t.Parallel()
	c := core.Config{Mode: core.Grifork, Hosts: []core.Host{{Name: "a"}, {Name: "b"}},
		Grifork: core.GriforkConfig{Binaries: "/opt/grifork/bin", Tmpdir: "/var/tmp/g"}}
	s, _ := load(t, Exec(c, []string{"true"}))
	if s.Config.Grifork != c.Grifork {
		t.Errorf("grifork %+v, want %+v", s.Config.Grifork, c.Grifork)
	}
}

// TestConfigRoundTripRawRsync: the array form of rsync.
func TestConfigRoundTripRawRsync(t *testing.T) {
	t.Parallel()
	c := core.Config{Hosts: []core.Host{{Name: "a"}, {Name: "b"}},
		Rsync: core.RsyncConfig{Raw: []string{"-az", "--exclude=a b", "tab\there"}}}
	s, _ := load(t, Exec(c, []string{"true"}))
	if !reflect.DeepEqual(s.Config.Rsync, c.Rsync) {
		t.Errorf("rsync %+v, want %+v", s.Config.Rsync, c.Rsync)
	}
}

package core

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Host
		str     string // String(); "" means in
		rsync   string // RsyncTarget()
		wantErr string
	}{
		{in: "web1", want: Host{Name: "web1"}, rsync: "web1"},
		{in: "deploy@web1", want: Host{Name: "web1", User: "deploy"}, rsync: "deploy@web1"},
		{in: "web1:2222", want: Host{Name: "web1", Port: 2222}, rsync: "web1"},
		{in: "deploy@[2001:db8::7]:22", want: Host{Name: "2001:db8::7", User: "deploy", Port: 22}, rsync: "deploy@[2001:db8::7]"},
		{in: "2001:db8::7", want: Host{Name: "2001:db8::7"}, rsync: "[2001:db8::7]"},
		{in: " web1 ", want: Host{Name: "web1"}, str: "web1", rsync: "web1"},
		{in: "", wantErr: "empty host name"},
		{in: "@web1", wantErr: "empty user"},
		{in: "web1:0", wantErr: "invalid port"},
		{in: "web1:x", wantErr: "invalid port"},
		{in: "[::1", wantErr: "missing ]"},
		{in: "[::1]x", wantErr: "unexpected"},
		{in: "a;b", wantErr: "invalid character"},
		{in: "-oProxyCommand=touch", wantErr: `must not start with "-"`},
		{in: "-oProxyCommand=x@web1", wantErr: `must not start with "-"`},
		{in: "[-x]:22", wantErr: `must not start with "-"`},
	}
	for _, tc := range tests {
		h, err := ParseHost(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseHost(%q) = %+v, %v; want error containing %q", tc.in, h, err, tc.wantErr)
			}
			continue
		}
		if err != nil || h != tc.want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", tc.in, h, err, tc.want)
			continue
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if h.String() != str || h.RsyncTarget() != tc.rsync {
			t.Errorf("ParseHost(%q): String %q RsyncTarget %q; want %q %q", tc.in, h.String(), h.RsyncTarget(), str, tc.rsync)
		}
	}
}

package lb

import (
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"
)

const stateHeader = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"

func TestParseServersState(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    map[string]fleet.LBServer
		wantErr string
	}{
		{name: "ready up, drained, in maintenance",
			out:  stateHeader + "3 web 1 s1 127.0.0.1 2 0\n3 web 2 s2 127.0.0.1 2 8\n3 web 3 s3 127.0.0.1 0 1\n",
			want: map[string]fleet.LBServer{"s1": {Admin: fleet.LBReady, Up: true}, "s2": {Admin: fleet.LBDrain, Up: true}, "s3": {Admin: fleet.LBMaint}}},
		{name: "an operational state that is not a number", out: stateHeader + "3 web 1 s1 127.0.0.1 up 0\n", wantErr: `server s1: srv_op_state "up" is not a number`},
		{name: "an admin state that is not a number", out: stateHeader + "3 web 1 s1 127.0.0.1 2 x\n", wantErr: `server s1: srv_admin_state "x" is not a number`},
		{name: "an error instead of the table", out: "Can't find backend.\n", wantErr: "Can't find backend."},
	}
	for _, tt := range tests {
		got, err := parseServersState(tt.out, "web")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s is %+v, want %+v", tt.name, k, got[k], v)
			}
		}
	}
}

func TestParseStatSessionsRefusesANonNumber(t *testing.T) {
	out := "# pxname,svname,scur\nweb,s1,3\nweb,s2,lots\n"
	if _, err := parseStatSessions(out, "web"); err == nil || !strings.Contains(err.Error(), `server s2: scur "lots" is not a number`) {
		t.Errorf("got %v, want an error naming s2 and its scur", err)
	}
	got, err := parseStatSessions("# pxname,svname,scur\nweb,s1,3\nweb,BACKEND,9\nother,s1,7\n", "web")
	if err != nil || len(got) != 1 || got["s1"] != 3 {
		t.Errorf("got %v, %v; want s1 with 3 sessions", got, err)
	}
}

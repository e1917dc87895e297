package plan

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

const (
	rev   = "rev2"
	oldID = "v1-aaaaaaaaaaaa"
	newID = "v2-bbbbbbbbbbbb"
	// sameVersionID is v2 with other content.
	sameVersionID = "v2-cccccccccccc"
)

var planNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// testDesired is one environment "prod" with servers s1..s3 (s3 in group
// "db"), app "web" on group "web" at version v2.
func testDesired(t testing.TB) *Desired {
	t.Helper()
	sd, err := spec.Load([]spec.File{{Path: "fleet.yaml", Data: []byte(`
kind: Environment
name: prod
servers:
  - {name: s1, groups: [web]}
  - {name: s2, groups: [web]}
  - {name: s3, groups: [db]}
---
kind: App
name: web
artifact: {path: artifacts/web}
deployTo: /srv/web
groups: [web]
---
kind: Release
app: web
environment: prod
version: v2
`)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return &Desired{
		Revision: rev, Origin: "test", Spec: sd,
		Releases: map[spec.Key]fleet.Release{{Environment: "prod", App: "web"}: {ID: newID, Version: "v2", Commit: "2222222222222222222222222222222222222222"}},
	}
}

func app(st *fleet.AppState) fleet.ServerState {
	return fleet.ServerState{Apps: map[string]*fleet.AppState{"web": st}}
}

func observed(s1, s2 fleet.ServerState) *Observed {
	s1.Server, s2.Server = "s1", "s2"
	return &Observed{Servers: map[string]*fleet.ServerState{"s1": &s1, "s2": &s2}}
}

var inSync = app(&fleet.AppState{Current: newID, Staged: []string{oldID, newID}})

func TestMakePlan(t *testing.T) {
	tests := []struct {
		name       string
		s1         fleet.ServerState
		wantChange *ServerChange // for s1; nil means no change
		wantState  SyncState
		wantHeld   bool
	}{
		{
			name:       "not deployed: stage and activate",
			s1:         app(&fleet.AppState{}),
			wantChange: &ServerChange{Server: "s1", Stage: true, Activate: true, Reason: "not deployed"},
			wantState:  OutOfSync,
		},
		{
			name:      "in sync: nothing",
			s1:        inSync,
			wantState: InSync,
		},
		{
			name:       "older version active",
			s1:         app(&fleet.AppState{Current: oldID, Staged: []string{oldID}}),
			wantChange: &ServerChange{Server: "s1", From: oldID, Stage: true, Activate: true, Reason: "version v1 → v2"},
			wantState:  OutOfSync,
		},
		{
			name:       "already staged: activate only",
			s1:         app(&fleet.AppState{Current: oldID, Staged: []string{oldID, newID}}),
			wantChange: &ServerChange{Server: "s1", From: oldID, Activate: true, Reason: "version v1 → v2"},
			wantState:  OutOfSync,
		},
		{
			name:       "same version, other content",
			s1:         app(&fleet.AppState{Current: sameVersionID, Staged: []string{sameVersionID}}),
			wantChange: &ServerChange{Server: "s1", From: sameVersionID, Stage: true, Activate: true, Reason: "content of v2 changed"},
			wantState:  OutOfSync,
		},
		{
			name:      "unreachable: reported, not planned",
			s1:        fleet.ServerState{Err: fmt.Errorf("connection refused")},
			wantState: Unreachable,
		},
		{
			name: "interrupted activation is run again",
			s1: app(&fleet.AppState{Current: newID, Staged: []string{oldID, newID},
				Marker: &fleet.Marker{Pending: &fleet.Attempt{Release: newID, Previous: oldID, Revision: rev}}}),
			wantChange: &ServerChange{Server: "s1", From: newID, Activate: true, Reason: "activation was interrupted"},
			wantState:  OutOfSync,
		},
		{
			name: "failed at this revision: held",
			s1: app(&fleet.AppState{Current: oldID, Staged: []string{oldID, newID},
				Marker: &fleet.Marker{Failed: &fleet.Attempt{Release: newID, Revision: rev, Error: "boom"}}}),
			wantState: OutOfSync,
			wantHeld:  true,
		},
		{
			name: "failed at an older revision: retried",
			s1: app(&fleet.AppState{Current: oldID, Staged: []string{oldID, newID},
				Marker: &fleet.Marker{Failed: &fleet.Attempt{Release: newID, Revision: "rev1", Error: "boom"}}}),
			wantChange: &ServerChange{Server: "s1", From: oldID, Activate: true, Reason: "version v1 → v2"},
			wantState:  OutOfSync,
		},
		{
			name: "tag moved after deployment: held, not redeployed",
			s1: app(&fleet.AppState{Current: sameVersionID, Staged: []string{sameVersionID},
				Marker: &fleet.Marker{Release: sameVersionID, Commit: "1111111111111111111111111111111111111111"}}),
			wantState: OutOfSync,
			wantHeld:  true,
		},
		{
			name: "same version, other content, from a directory artifact: redeployed",
			s1: app(&fleet.AppState{Current: sameVersionID, Staged: []string{sameVersionID},
				Marker: &fleet.Marker{Release: sameVersionID}}),
			wantChange: &ServerChange{Server: "s1", From: sameVersionID, Stage: true, Activate: true, Reason: "content of v2 changed"},
			wantState:  OutOfSync,
		},
		{
			name:       "current changed by hand",
			s1:         app(&fleet.AppState{CurrentTarget: "/tmp/hotfix", Staged: []string{newID}}),
			wantChange: &ServerChange{Server: "s1", From: "/tmp/hotfix", Activate: true, Reason: "current points to /tmp/hotfix, not to a release"},
			wantState:  OutOfSync,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDesired(t)
			p := MakePlan(d, observed(tt.s1, inSync), planNow)
			if len(p.Status) != 1 {
				t.Fatalf("got %d statuses, want 1", len(p.Status))
			}
			st := p.Status[0]
			if len(st.Servers) != 2 {
				t.Fatalf("got %d servers in status, want 2 (s3 is not in the app's group)", len(st.Servers))
			}
			if got := st.Servers[0]; got.State != tt.wantState || got.Held != tt.wantHeld {
				t.Errorf("s1: got state %s held %v, want %s held %v (%s)", got.State, got.Held, tt.wantState, tt.wantHeld, got.Reason)
			}
			if st.Servers[1].State != InSync {
				t.Errorf("s2: got %s, want in_sync", st.Servers[1].State)
			}
			if tt.wantChange == nil {
				if len(p.Changes) != 0 {
					t.Fatalf("got %d changes, want none: %+v", len(p.Changes), p.Changes[0].Servers[0])
				}
				return
			}
			if len(p.Changes) != 1 {
				t.Fatalf("got %d changes, want 1", len(p.Changes))
			}
			c := p.Changes[0]
			if c.Lane != LaneFiles || c.Environment != "prod" || c.App != "web" || c.To != newID || c.Strategy != spec.Live {
				t.Errorf("change header: got %s %s/%s → %s (%s)", c.Lane, c.Environment, c.App, c.To, c.Strategy)
			}
			if len(c.Servers) != 1 {
				t.Fatalf("got %d server changes, want 1 (s2 is in sync)", len(c.Servers))
			}
			if !reflect.DeepEqual(c.Servers[0], tt.wantChange) {
				t.Errorf("server change:\n got %+v\nwant %+v", c.Servers[0], tt.wantChange)
			}
			if !strings.HasPrefix(c.Reason, "1 of 2 servers: ") {
				t.Errorf("change reason %q, want it to start with %q", c.Reason, "1 of 2 servers: ")
			}
		})
	}
}

func TestMakePlanIsPure(t *testing.T) {
	d := testDesired(t)
	o := observed(app(&fleet.AppState{Current: oldID, Staged: []string{oldID}}), app(&fleet.AppState{}))
	a, b := MakePlan(d, o, planNow), MakePlan(d, o, planNow)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two plans of the same inputs differ")
	}
	if a.Pending() != 2 || !a.Time.Equal(planNow) || a.Revision != rev {
		t.Errorf("got pending %d time %s revision %s, want 2, %s, %s", a.Pending(), a.Time, a.Revision, planNow, rev)
	}
}

func TestMakePlanUnobservedServerIsUnreachable(t *testing.T) {
	p := MakePlan(testDesired(t), &Observed{Servers: map[string]*fleet.ServerState{}}, planNow)
	if got := p.Status[0].Counts[Unreachable]; got != 2 {
		t.Fatalf("got %d unreachable, want 2", got)
	}
	if len(p.Changes) != 0 {
		t.Fatalf("got %d changes for servers never observed, want 0", len(p.Changes))
	}
}

func TestWriteText(t *testing.T) {
	d := testDesired(t)
	o := observed(app(&fleet.AppState{Current: oldID, Staged: []string{oldID}}), fleet.ServerState{Err: fmt.Errorf("no route to host")})
	var b strings.Builder
	if err := MakePlan(d, o, planNow).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prod/web v2: live rollout of " + newID + " (lane files) (1 unreachable)",
		"s1  " + oldID + " → " + newID + "  stage, activate  version v1 → v2",
		"prod/web  s2  unreachable: no route to host",
		"1 change pending, 1 server step",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, b.String())
		}
	}
}

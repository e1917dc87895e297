package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// lbDesired is environment prod with servers a1, a2 (blue) and b1, b2
// (green) behind an HAProxy, and app web released at v2 with the release
// options given.
func lbDesired(t *testing.T, release string) *Desired {
	t.Helper()
	sd, err := spec.Load([]spec.File{{Path: "fleet.yaml", Data: []byte(`
kind: Environment
name: prod
loadBalancer: {type: haproxy, address: /run/haproxy.sock, backend: web}
servers:
  - {name: a1, groups: [blue]}
  - {name: a2, groups: [blue], lbName: a2-lb}
  - {name: b1, groups: [green]}
  - {name: b2, groups: [green]}
---
kind: App
name: web
artifact: {path: artifacts/web}
deployTo: /srv/web
---
kind: Release
app: web
environment: prod
version: v2
` + release + "\n")}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return &Desired{Revision: rev, Origin: "test", Spec: sd,
		Releases: map[spec.Key]fleet.Release{{Environment: "prod", App: "web"}: {ID: newID, Version: "v2"}}}
}

// fleet builds an observation: current release per server ("" for none,
// "x" unreachable) and the HAProxy admin state per server ("r" ready, "r-"
// ready but down, "d" drain, "m" maint).
func observedLB(current map[string]string, lb map[string]string) *Observed {
	o := &Observed{Servers: map[string]*fleet.ServerState{}, LB: map[string]*LBObservation{"prod": {Servers: map[string]fleet.LBServer{}}}}
	for name, cur := range current {
		st := &fleet.ServerState{Server: name}
		if cur == "x" {
			st.Err = errUnreachable
		} else {
			as := &fleet.AppState{Current: cur, Staged: []string{oldID}}
			if cur == newID {
				as.Staged = append(as.Staged, newID)
			}
			st.Apps = map[string]*fleet.AppState{"web": as}
		}
		o.Servers[name] = st
	}
	for name, s := range lb {
		ls := fleet.LBServer{Admin: fleet.LBReady, Up: true}
		switch s {
		case "r-":
			ls.Up = false
		case "d":
			ls.Admin = fleet.LBDrain
		case "m":
			ls.Admin, ls.Up = fleet.LBMaint, false
		}
		if name == "a2" {
			name = "a2-lb"
		}
		o.LB["prod"].Servers[name] = ls
	}
	return o
}

type unreachableErr struct{}

func (unreachableErr) Error() string { return "connection refused" }

var errUnreachable error = unreachableErr{}

func allOn(id string) map[string]string {
	return map[string]string{"a1": id, "a2": id, "b1": id, "b2": id}
}

func lbAll(s string) map[string]string {
	return map[string]string{"a1": s, "a2": s, "b1": s, "b2": s}
}

func TestPlanRolling(t *testing.T) {
	tests := []struct {
		name        string
		release     string
		current, lb map[string]string
		wantBatches [][]string
		wantRestore []string
		wantNote    string
	}{
		{
			name:        "batches of a count",
			release:     "strategy: rolling\nrolling: {batch: 3}",
			current:     allOn(oldID),
			lb:          lbAll("r"),
			wantBatches: [][]string{{"a1", "a2", "b1"}, {"b2"}},
		},
		{
			name:        "a percentage rounds up",
			release:     "strategy: rolling\nrolling: {batch: 30%, maxUnavailable: 50%}",
			current:     allOn(oldID),
			lb:          lbAll("r"),
			wantBatches: [][]string{{"a1", "a2"}, {"b1", "b2"}},
		},
		{
			name:        "a server down in the load balancer takes room from maxUnavailable",
			release:     "strategy: rolling\nrolling: {batch: 2, maxUnavailable: 2}",
			current:     map[string]string{"a1": newID, "a2": oldID, "b1": oldID, "b2": oldID},
			lb:          map[string]string{"a1": "r-", "a2": "r", "b1": "r", "b2": "r"},
			wantBatches: [][]string{{"a2"}, {"b1"}, {"b2"}},
		},
		{
			name:     "no room at all: held",
			release:  "strategy: rolling\nrolling: {batch: 1}",
			current:  map[string]string{"a1": "x", "a2": oldID, "b1": oldID, "b2": oldID},
			lb:       map[string]string{"a1": "r-", "a2": "r", "b1": "r", "b2": "r"},
			wantNote: "no room for a batch",
		},
		{
			name:        "a batch cut short comes first, a server left in maint on the release goes back",
			release:     "strategy: rolling\nrolling: {batch: 1}",
			current:     map[string]string{"a1": newID, "a2": oldID, "b1": oldID, "b2": oldID},
			lb:          map[string]string{"a1": "m", "a2": "r", "b1": "d", "b2": "r"},
			wantRestore: []string{"a1"},
			// a1 is restored first; b1 (drained) is the batch that was
			// under way and continues before a2 and b2.
			wantBatches: [][]string{{"b1"}, {"a2"}, {"b2"}},
		},
		{
			name:     "the load balancer cannot be read: held",
			release:  "strategy: rolling",
			current:  allOn(oldID),
			lb:       nil,
			wantNote: "haproxy: no answer",
		},
		{
			name:    "in sync and in the load balancer: nothing",
			release: "strategy: rolling",
			current: allOn(newID),
			lb:      lbAll("r"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := lbDesired(t, tt.release)
			o := observedLB(tt.current, tt.lb)
			if tt.lb == nil {
				o.LB["prod"].Err = errString("haproxy: no answer")
			}
			p := MakePlan(d, o, planNow)
			st := p.Status[0]
			if tt.wantNote != "" {
				if len(p.Changes) != 0 || !strings.Contains(st.Note, tt.wantNote) {
					t.Fatalf("got %d changes, note %q; want held with %q", len(p.Changes), st.Note, tt.wantNote)
				}
				return
			}
			if tt.wantBatches == nil && tt.wantRestore == nil {
				if len(p.Changes) != 0 {
					t.Fatalf("got %+v, want no change", p.Changes[0])
				}
				return
			}
			if len(p.Changes) != 1 {
				t.Fatalf("got %d changes (note %q), want 1", len(p.Changes), st.Note)
			}
			c := p.Changes[0]
			if !reflect.DeepEqual(c.Batches, tt.wantBatches) {
				t.Errorf("batches %v, want %v", c.Batches, tt.wantBatches)
			}
			var restore []string
			for _, s := range c.Servers {
				if s.Restore {
					restore = append(restore, s.Server)
				}
			}
			if !reflect.DeepEqual(restore, tt.wantRestore) {
				t.Errorf("restore %v, want %v", restore, tt.wantRestore)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestPlanRollingHeldAfterFailure(t *testing.T) {
	d := lbDesired(t, "strategy: rolling")
	o := observedLB(allOn(oldID), lbAll("r"))
	o.Servers["a1"].Apps["web"].Marker = &fleet.Marker{Failed: &fleet.Attempt{Release: newID, Revision: rev, Error: "unhealthy", StopsRollout: true}}
	p := MakePlan(d, o, planNow)
	if len(p.Changes) != 0 || !strings.Contains(p.Status[0].Note, "sync --retry prod web") {
		t.Fatalf("got %d changes, note %q; want the release held", len(p.Changes), p.Status[0].Note)
	}
	// A new commit tries again.
	d.Revision = "rev3"
	if p := MakePlan(d, o, planNow); len(p.Changes) != 1 {
		t.Fatalf("at a new revision: %d changes, want 1", len(p.Changes))
	}
}

func TestPlanParallel(t *testing.T) {
	const release = "strategy: parallel"
	tests := []struct {
		name        string
		current, lb map[string]string
		wantSwitch  *Switch
		wantSteps   []string // servers to stage and activate
		wantRestore []string
		wantTakeOut []string
		wantInSync  int
		wantNote    string
	}{
		{
			name:       "blue live on v1: deliver to green, switch",
			current:    allOn(oldID),
			lb:         map[string]string{"a1": "r", "a2": "r", "b1": "m", "b2": "m"},
			wantSwitch: &Switch{From: "blue", To: "green", Servers: []string{"b1", "b2"}, Old: []string{"a1", "a2"}},
			wantSteps:  []string{"b1", "b2"},
		},
		{
			name:       "green already holds the release (a crash before the switch): switch only",
			current:    map[string]string{"a1": oldID, "a2": oldID, "b1": newID, "b2": newID},
			lb:         map[string]string{"a1": "r", "a2": "r", "b1": "m", "b2": "m"},
			wantSwitch: &Switch{From: "blue", To: "green", Servers: []string{"b1", "b2"}, Old: []string{"a1", "a2"}},
			wantInSync: 2,
		},
		{
			name:       "done: green live on the release, blue idle on the previous one",
			current:    map[string]string{"a1": oldID, "a2": oldID, "b1": newID, "b2": newID},
			lb:         map[string]string{"a1": "m", "a2": "m", "b1": "r", "b2": "r"},
			wantInSync: 4,
		},
		{
			name:        "a crash in the middle of the switch: both groups ready, blue goes out",
			current:     map[string]string{"a1": oldID, "a2": oldID, "b1": newID, "b2": newID},
			lb:          lbAll("r"),
			wantTakeOut: []string{"a1", "a2"},
			wantInSync:  2,
		},
		{
			name:        "a live server left in maint goes back",
			current:     map[string]string{"a1": oldID, "a2": oldID, "b1": newID, "b2": newID},
			lb:          map[string]string{"a1": "m", "a2": "m", "b1": "r", "b2": "m"},
			wantRestore: []string{"b2"},
			wantInSync:  3,
		},
		{
			name:     "a server of the idle group is unreachable: held",
			current:  map[string]string{"a1": oldID, "a2": oldID, "b1": "x", "b2": oldID},
			lb:       map[string]string{"a1": "r", "a2": "r", "b1": "m", "b2": "m"},
			wantNote: "b1 of the idle group green is unreachable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MakePlan(lbDesired(t, release), observedLB(tt.current, tt.lb), planNow)
			st := p.Status[0]
			if tt.wantNote != "" {
				if len(p.Changes) != 0 || !strings.Contains(st.Note, tt.wantNote) {
					t.Fatalf("got %d changes, note %q; want held with %q", len(p.Changes), st.Note, tt.wantNote)
				}
				return
			}
			if st.Counts[InSync] != tt.wantInSync {
				t.Errorf("in sync: %d, want %d (%+v)", st.Counts[InSync], tt.wantInSync, st.Servers)
			}
			if tt.wantSwitch == nil && tt.wantRestore == nil && tt.wantTakeOut == nil {
				if len(p.Changes) != 0 {
					t.Fatalf("got %+v, want no change", p.Changes[0])
				}
				return
			}
			if len(p.Changes) != 1 {
				t.Fatalf("got %d changes (note %q), want 1", len(p.Changes), st.Note)
			}
			c := p.Changes[0]
			if !reflect.DeepEqual(c.Switch, tt.wantSwitch) {
				t.Errorf("switch %+v, want %+v", c.Switch, tt.wantSwitch)
			}
			var steps, restore, takeOut []string
			for _, s := range c.Servers {
				switch {
				case s.Restore:
					restore = append(restore, s.Server)
				case s.TakeOut:
					takeOut = append(takeOut, s.Server)
				case s.Activate:
					steps = append(steps, s.Server)
				}
			}
			if !reflect.DeepEqual(steps, tt.wantSteps) || !reflect.DeepEqual(restore, tt.wantRestore) || !reflect.DeepEqual(takeOut, tt.wantTakeOut) {
				t.Errorf("steps %v restore %v take out %v; want %v %v %v", steps, restore, takeOut, tt.wantSteps, tt.wantRestore, tt.wantTakeOut)
			}
		})
	}
}

func TestPlanTextShowsBatchesAndSwitch(t *testing.T) {
	var b strings.Builder
	p := MakePlan(lbDesired(t, "strategy: rolling\nrolling: {batch: 2}"), observedLB(allOn(oldID), lbAll("r")), planNow)
	p.WriteText(&b)
	p = MakePlan(lbDesired(t, "strategy: parallel"), observedLB(allOn(oldID), map[string]string{"a1": "r", "a2": "r", "b1": "m", "b2": "m"}), planNow)
	p.WriteText(&b)
	out := b.String()
	for _, want := range []string{"rolling rollout of " + newID, "batch 1: a1, a2\n", "batch 2: b1, b2\n",
		"parallel rollout of " + newID, "switch blue → green: b1, b2 in, a1, a2 out"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q:\n%s", want, out)
		}
	}
}

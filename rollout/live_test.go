package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

const (
	rev   = "rev2"
	oldID = "v1-aaaaaaaaaaaa"
	newID = "v2-bbbbbbbbbbbb"
)

// desired loads a desired state from YAML, with the release of app "web"
// in every environment at v2 (newID).
func desired(t *testing.T, yaml string) *plan.Desired {
	t.Helper()
	sd, err := spec.Load([]spec.File{{Path: "f.yaml", Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	d := &plan.Desired{Revision: rev, Spec: sd, Releases: map[spec.Key]fleet.Release{}}
	for _, r := range sd.Releases {
		d.Releases[r.Key()] = fleet.Release{ID: newID, Version: "v2"}
	}
	return d
}

// fleetOn observes every server on the release current (staged: the
// releases staged there), and the load balancer of prod as lb says.
func fleetOn(d *plan.Desired, current func(server string) string, staged []string, lb *fakeLB) *plan.Observed {
	o := &plan.Observed{Servers: map[string]*fleet.ServerState{}, LB: map[string]*plan.LBObservation{}}
	for _, e := range d.Spec.Environments {
		for _, s := range e.Servers {
			cur := current(s.Name)
			o.Servers[s.Name] = &fleet.ServerState{Server: s.Name, Apps: map[string]*fleet.AppState{
				"web": {Current: cur, Staged: append([]string{cur}, staged...)}}}
		}
	}
	if lb != nil {
		st, _ := lb.Servers(context.Background())
		o.LB["prod"] = &plan.LBObservation{Servers: st}
	}
	return o
}

// change is the only change of the plan of d against o.
func change(t *testing.T, d *plan.Desired, o *plan.Observed, now time.Time) *plan.Change {
	t.Helper()
	p := plan.MakePlan(d, o, now)
	if len(p.Changes) != 1 {
		var b strings.Builder
		p.WriteText(&b)
		t.Fatalf("got %d changes, want 1:\n%s", len(p.Changes), b.String())
	}
	return p.Changes[0]
}

// liveDesired is environment "prod" with n servers and app "web" at v2,
// rolled out live with the given parallelism.
func liveDesired(t *testing.T, n, parallelism int) *plan.Desired {
	t.Helper()
	var y strings.Builder
	y.WriteString("kind: Environment\nname: prod\nservers:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&y, "  - {name: s%d}\n", i)
	}
	fmt.Fprintf(&y, "---\nkind: App\nname: web\nartifact: {path: a}\ndeployTo: /srv/web\n---\nkind: Release\napp: web\nenvironment: prod\nversion: v2\nlive: {parallelism: %d}\n", parallelism)
	return desired(t, y.String())
}

// liveChange is the change of liveDesired from v1, staging the release
// first when stage is set.
func liveChange(t *testing.T, d *plan.Desired, stage bool) *plan.Change {
	var staged []string
	if !stage {
		staged = []string{newID}
	}
	return change(t, d, fleetOn(d, func(string) string { return oldID }, staged, nil), time.Now())
}

func TestLiveStagesEverywhereBeforeActivating(t *testing.T) {
	rec := &recorder{}
	res := exec(t, rec, liveDesired(t, 5, 2), true, context.Background())
	calls := rec.Calls()
	if len(calls) != 10 {
		t.Fatalf("got %d calls, want 10: %v", len(calls), calls)
	}
	for i, c := range calls {
		if want := i < 5; strings.HasPrefix(c, "stage") != want {
			t.Fatalf("call %d is %q: every stage must come before any activate: %v", i, c, calls)
		}
	}
	if res.Outcome() != "success" || res.Failed() != 0 {
		t.Errorf("got outcome %s with %d failed, want success", res.Outcome(), res.Failed())
	}
	for _, s := range res.Servers {
		if !s.Done || s.Step != plan.StepActivate || !s.Staged {
			t.Errorf("%s: got done=%v step=%s staged=%v, want staged and done after activate", s.Server, s.Done, s.Step, s.Staged)
		}
	}
}

func TestLiveRespectsParallelism(t *testing.T) {
	rec := &recorder{hook: func(string) { time.Sleep(2 * time.Millisecond) }}
	exec(t, rec, liveDesired(t, 12, 2), true, context.Background())
	if rec.maxIn > 3 {
		t.Errorf("got %d steps at once, want at most 3 (stage parallelism 3, live parallelism 2)", rec.maxIn)
	}
	rec = &recorder{hook: func(string) { time.Sleep(2 * time.Millisecond) }}
	exec(t, rec, liveDesired(t, 12, 2), false, context.Background())
	if rec.maxIn > 2 {
		t.Errorf("got %d activations at once, want at most 2", rec.maxIn)
	}
}

func TestLiveFailingServerDoesNotStopOthers(t *testing.T) {
	rec := &recorder{fail: map[string]error{
		"stage s2":    errors.New("disk full"),
		"activate s4": errors.New("health check failed"),
	}}
	res := exec(t, rec, liveDesired(t, 5, 5), true, context.Background())
	for _, c := range rec.Calls() {
		if c == "activate s2" {
			t.Fatal("s2 was activated although its stage failed")
		}
	}
	want := map[string]string{"s1": "", "s2": "disk full", "s3": "", "s4": "health check failed", "s5": ""}
	for _, s := range res.Servers {
		if w := want[s.Server]; (w == "") != (s.Err == "") || !strings.Contains(s.Err, w) {
			t.Errorf("%s: got error %q, want %q", s.Server, s.Err, w)
		}
		if s.Done != (want[s.Server] == "") {
			t.Errorf("%s: got done=%v", s.Server, s.Done)
		}
	}
	if res.Failed() != 2 || res.Outcome() != "failure" {
		t.Errorf("got %d failed, outcome %s; want 2, failure", res.Failed(), res.Outcome())
	}
}

func TestLiveStopFinishesStepsUnderWayAndStartsNoMore(t *testing.T) {
	stop, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	started := make(chan struct{})
	rec := &recorder{hook: func(call string) {
		if call == "activate s1" {
			close(started)
			// Stop arrives while s1 is being activated.
			stopNow()
			time.Sleep(10 * time.Millisecond)
		}
	}}
	res := exec(t, rec, liveDesired(t, 4, 1), false, stop)
	<-started
	calls := rec.Calls()
	if len(calls) != 1 || calls[0] != "activate s1" {
		t.Fatalf("got calls %v, want only the activation under way", calls)
	}
	if !res.Servers[0].Done {
		t.Errorf("the step under way was not finished: %+v", res.Servers[0])
	}
	if !res.Stopped || res.Outcome() != "stopped" {
		t.Errorf("got stopped=%v outcome=%s, want a stopped rollout", res.Stopped, res.Outcome())
	}
}

// exec carries out the live change of d on rec.
func exec(t *testing.T, rec *recorder, d *plan.Desired, stage bool, stop context.Context) *Result {
	ro, _ := testRollout(t, rec, nil)
	return ro.Execute(context.Background(), stop, liveChange(t, d, stage))
}

// TestPanicInAStepReachesTheCaller: a panic in one server's step does not
// kill the process from its goroutine: it is raised again where the
// rollout was called, after the other steps finished.
func TestPanicInAStepReachesTheCaller(t *testing.T) {
	rec := &recorder{hook: func(call string) {
		if call == "activate s2" {
			panic("boom")
		}
	}}
	var got any
	func() {
		defer func() { got = recover() }()
		exec(t, rec, liveDesired(t, 3, 3), false, context.Background())
	}()
	p, ok := got.(*Panic)
	if !ok || p.Value != "boom" || len(p.Stack) == 0 {
		t.Fatalf("recovered %v, want the step's panic with its stack", got)
	}
	if calls := rec.Calls(); len(calls) != 3 {
		t.Errorf("calls %v, want the three activations to have run", calls)
	}
}

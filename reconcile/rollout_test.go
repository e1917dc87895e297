package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/spec"
)

// liveDesired is environment "prod" with n servers and app "web" at v2,
// rolled out live with the given parallelism.
func liveDesired(t *testing.T, n, parallelism int) *Desired {
	t.Helper()
	var y strings.Builder
	y.WriteString("kind: Environment\nname: prod\nservers:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&y, "  - {name: s%d}\n", i)
	}
	fmt.Fprintf(&y, "---\nkind: App\nname: web\nartifact: {path: a}\ndeployTo: /srv/web\n---\nkind: Release\napp: web\nenvironment: prod\nversion: v2\nlive: {parallelism: %d}\n", parallelism)
	sd, err := spec.Load([]spec.File{{Path: "f.yaml", Data: []byte(y.String())}})
	if err != nil {
		t.Fatal(err)
	}
	return &Desired{Revision: rev, Spec: sd, Releases: map[spec.Key]fleet.Release{{Environment: "prod", App: "web"}: {ID: newID, Version: "v2"}}}
}

func liveChange(n int, stage bool) *Change {
	c := &Change{Lane: LaneFiles, Environment: "prod", App: "web", Strategy: spec.Live, Version: "v2", To: newID}
	for i := 1; i <= n; i++ {
		c.Servers = append(c.Servers, &ServerChange{Server: fmt.Sprintf("s%d", i), Stage: stage, Activate: true})
	}
	return c
}

func testRollout(x Executor) *Rollout {
	return &Rollout{Exec: x, Log: slog.New(slog.DiscardHandler), StageParallelism: 3, Now: time.Now}
}

func TestLiveStagesEverywhereBeforeActivating(t *testing.T) {
	rec := &recorder{}
	res := testRollout(rec).Execute(context.Background(), context.Background(), liveDesired(t, 5, 2), liveChange(5, true))
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
		if !s.Done || s.Step != StepActivate || !s.Staged {
			t.Errorf("%s: got done=%v step=%s staged=%v, want staged and done after activate", s.Server, s.Done, s.Step, s.Staged)
		}
	}
}

func TestLiveRespectsParallelism(t *testing.T) {
	rec := &recorder{hook: func(string) { time.Sleep(2 * time.Millisecond) }}
	testRollout(rec).Execute(context.Background(), context.Background(), liveDesired(t, 12, 2), liveChange(12, true))
	if rec.maxIn > 3 {
		t.Errorf("got %d steps at once, want at most 3 (stage parallelism 3, live parallelism 2)", rec.maxIn)
	}
	rec = &recorder{hook: func(string) { time.Sleep(2 * time.Millisecond) }}
	testRollout(rec).Execute(context.Background(), context.Background(), liveDesired(t, 12, 2), liveChange(12, false))
	if rec.maxIn > 2 {
		t.Errorf("got %d activations at once, want at most 2", rec.maxIn)
	}
}

func TestLiveFailingServerDoesNotStopOthers(t *testing.T) {
	rec := &recorder{fail: map[string]error{
		"stage s2":    errors.New("disk full"),
		"activate s4": errors.New("health check failed"),
	}}
	res := testRollout(rec).Execute(context.Background(), context.Background(), liveDesired(t, 5, 5), liveChange(5, true))
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
	res := testRollout(rec).Execute(context.Background(), stop, liveDesired(t, 4, 1), liveChange(4, false))
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

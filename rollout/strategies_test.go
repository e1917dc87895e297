package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
)

// lbDesired is environment prod with servers a1, a2 (blue) and b1, b2
// (green) behind a load balancer, and app web released at v2 with the
// release options given.
func lbDesired(t *testing.T, release string) *plan.Desired {
	return desired(t, `
kind: Environment
name: prod
loadBalancer: {type: haproxy, address: /run/haproxy.sock, backend: web}
servers:
  - {name: a1, groups: [blue]}
  - {name: a2, groups: [blue]}
  - {name: b1, groups: [green]}
  - {name: b2, groups: [green]}
---
kind: App
name: web
artifact: {path: a}
deployTo: /srv/web
---
kind: Release
app: web
environment: prod
version: v2
`+release+"\n")
}

func allReady() map[string]fleet.LBAdmin {
	return map[string]fleet.LBAdmin{"a1": fleet.LBReady, "a2": fleet.LBReady, "b1": fleet.LBReady, "b2": fleet.LBReady}
}

func onOld(string) string { return oldID }

func resultOf(res *Result, server string) ServerResult {
	for _, s := range res.Servers {
		if s.Server == server {
			return s
		}
	}
	return ServerResult{}
}

func TestRollingBatchesTakeOutActivatePutBack(t *testing.T) {
	d := lbDesired(t, "strategy: rolling\nrolling: {batch: 2, drainTimeout: 1s}")
	lb := newFakeLB(allReady())
	ch := change(t, d, fleetOn(d, onOld, []string{newID}, lb), time.Now())
	rec := &recorder{}
	ro, m := testRollout(t, rec, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	if res.Outcome() != "success" || res.Done() != 4 {
		t.Fatalf("outcome %s with %d done, want success on 4: %+v", res.Outcome(), res.Done(), res.Servers)
	}
	// Each batch is out before any of it is activated, and back in
	// before the next batch goes out.
	calls := strings.Join(lb.calls, ",")
	first, second := ch.Batches[0], ch.Batches[1]
	for _, n := range first {
		if strings.Index(calls, "ready "+n) > strings.Index(calls, "drain "+second[0]) {
			t.Errorf("%s went back after the second batch went out: %s", n, calls)
		}
	}
	if got := lb.states(); got != "a1=ready a2=ready b1=ready b2=ready" {
		t.Errorf("load balancer after the rollout: %s, want every server ready", got)
	}
	if m.count("prod drain")+m.count("prod ready")+m.count("prod read") != 0 {
		t.Errorf("load-balancer errors counted: %v", m.errors)
	}
}

// TestRollingFailureBudgetReturnsTheBatch: with no failure budget, a
// failed activation in the first batch stops the rollout: the batch goes
// back to the previous release (the activated server is rolled back, the
// failed one is held) and into the load balancer; the second batch is
// never touched.
func TestRollingFailureBudgetReturnsTheBatch(t *testing.T) {
	d := lbDesired(t, "strategy: rolling\nrolling: {batch: 2, drainTimeout: 1s}")
	lb := newFakeLB(allReady())
	ch := change(t, d, fleetOn(d, onOld, []string{newID}, lb), time.Now())
	bad, good := ch.Batches[0][0], ch.Batches[0][1]
	rec := &recorder{fail: map[string]error{"activate " + bad: errors.New("health check failed")}}
	ro, _ := testRollout(t, rec, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	calls := rec.Calls()
	for _, n := range ch.Batches[1] {
		if slices.Contains(calls, "activate "+n) || slices.Contains(lb.calls, "drain "+n) {
			t.Errorf("%s of the second batch was touched: %v, %v", n, calls, lb.calls)
		}
	}
	if !slices.Contains(calls, "rollback "+good) || !slices.Contains(calls, "markfailed "+bad) {
		t.Errorf("calls %v: want %s rolled back and the release held on %s", calls, good, bad)
	}
	if r := resultOf(res, good); r.Step != plan.StepRollback || !strings.Contains(r.Err, "maxFailures 0") {
		t.Errorf("%s: %+v, want rolled back for the failure budget", good, r)
	}
	if res.Outcome() != "failure" || res.Failed() != 2 {
		t.Errorf("outcome %s, %d failed; want failure on the whole batch", res.Outcome(), res.Failed())
	}
	if got := lb.states(); got != "a1=ready a2=ready b1=ready b2=ready" {
		t.Errorf("load balancer after the stopped rollout: %s, want every server back", got)
	}
}

// TestRollingWithinBudgetGoesOn: a failure within maxFailures is put back
// on its previous release and the rollout goes on.
func TestRollingWithinBudgetGoesOn(t *testing.T) {
	d := lbDesired(t, "strategy: rolling\nrolling: {batch: 1, maxFailures: 1, drainTimeout: 1s}")
	lb := newFakeLB(allReady())
	ch := change(t, d, fleetOn(d, onOld, []string{newID}, lb), time.Now())
	bad := ch.Batches[0][0]
	rec := &recorder{fail: map[string]error{"activate " + bad: errors.New("boom")}}
	ro, _ := testRollout(t, rec, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	if res.Done() != 3 || res.Failed() != 1 || !slices.Contains(rec.Calls(), "check "+bad) {
		t.Errorf("done %d, failed %d, calls %v; want 3 done and %s checked and put back", res.Done(), res.Failed(), rec.Calls(), bad)
	}
	if got := lb.states(); got != "a1=ready a2=ready b1=ready b2=ready" {
		t.Errorf("load balancer: %s, want every server ready", got)
	}
}

// TestRollingFailedPutBackIsNotIgnored: the drain of a server fails, and
// so does putting it back: the server's result says it takes no traffic,
// and both failures are counted.
func TestRollingFailedPutBackIsNotIgnored(t *testing.T) {
	d := lbDesired(t, "strategy: rolling\nrolling: {batch: 1, maxFailures: 4, drainTimeout: 1s}")
	lb := newFakeLB(allReady())
	ch := change(t, d, fleetOn(d, onOld, []string{newID}, lb), time.Now())
	n := ch.Batches[0][0]
	lb.fail["drain "+n] = errors.New("socket gone")
	lb.fail["ready "+n] = errors.New("socket still gone")
	ro, m := testRollout(t, &recorder{}, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	r := resultOf(res, n)
	if r.Step != plan.StepDrain || !strings.Contains(r.Err, "socket gone") || !strings.Contains(r.Err, "could not be put back into the load balancer") {
		t.Errorf("%s: %+v, want the failed drain and the failed put-back", n, r)
	}
	// The put-back after the failed drain, and the one after the batch
	// for a failed server within the budget: each counted.
	if m.count("prod drain") != 1 || m.count("prod ready") != 2 {
		t.Errorf("load-balancer errors counted %v, want one drain and two ready", m.errors)
	}
}

// TestParallelSwitches: the idle group gets the release and the traffic;
// the live group goes out, keeping its release.
func TestParallelSwitches(t *testing.T) {
	d := lbDesired(t, "strategy: parallel\nparallel: {drainTimeout: 1s}")
	lb := newFakeLB(map[string]fleet.LBAdmin{"a1": fleet.LBReady, "a2": fleet.LBReady, "b1": fleet.LBMaint, "b2": fleet.LBMaint})
	ch := change(t, d, fleetOn(d, onOld, nil, lb), time.Now())
	if ch.Switch == nil || ch.Switch.To != "green" {
		t.Fatalf("switch %+v, want blue → green", ch.Switch)
	}
	rec := &recorder{}
	ro, _ := testRollout(t, rec, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	if res.Outcome() != "success" || res.Done() != 2 {
		t.Fatalf("outcome %s, %d done: %+v", res.Outcome(), res.Done(), res.Servers)
	}
	if got := lb.states(); got != "a1=maint a2=maint b1=ready b2=ready" {
		t.Errorf("load balancer after the switch: %s, want green in, blue out", got)
	}
	for _, c := range rec.Calls() {
		if strings.HasSuffix(c, " a1") || strings.HasSuffix(c, " a2") {
			t.Errorf("the live group was changed: %s", c)
		}
	}
}

// TestParallelIdleGroupFailureHoldsTheRelease: an activation on the idle
// group fails: no switch, the live group keeps the traffic, and the
// release is held on the failed server.
func TestParallelIdleGroupFailureHoldsTheRelease(t *testing.T) {
	d := lbDesired(t, "strategy: parallel\nparallel: {drainTimeout: 1s}")
	lb := newFakeLB(map[string]fleet.LBAdmin{"a1": fleet.LBReady, "a2": fleet.LBReady, "b1": fleet.LBMaint, "b2": fleet.LBMaint})
	ch := change(t, d, fleetOn(d, onOld, nil, lb), time.Now())
	rec := &recorder{fail: map[string]error{"activate b2": errors.New("unhealthy")}}
	ro, _ := testRollout(t, rec, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	if got := lb.states(); got != "a1=ready a2=ready b1=maint b2=maint" {
		t.Errorf("load balancer: %s, want blue still live", got)
	}
	if !slices.Contains(rec.Calls(), "markfailed b2") || res.Done() != 0 {
		t.Errorf("calls %v, %d done; want the release held on b2 and nothing done", rec.Calls(), res.Done())
	}
}

// TestParallelAbandonedSwitch: the new group does not come up in the load
// balancer: the switch is abandoned, the new group goes out again, and
// when taking one of it out fails too, that is in its result and counted.
func TestParallelAbandonedSwitch(t *testing.T) {
	d := lbDesired(t, "strategy: parallel\nparallel: {drainTimeout: 300ms}")
	lb := newFakeLB(map[string]fleet.LBAdmin{"a1": fleet.LBReady, "a2": fleet.LBReady, "b1": fleet.LBMaint, "b2": fleet.LBMaint})
	ch := change(t, d, fleetOn(d, onOld, nil, lb), time.Now())
	lb.down["b1"] = true
	ro, m := testRollout(t, &recorder{hook: func(call string) {
		if call == "activate b2" {
			// Once the idle group is out, b2 can no longer be drained.
			lb.mu.Lock()
			lb.fail["drain b2"] = errors.New("admin socket refused")
			lb.mu.Unlock()
		}
	}}, lb)
	res := ro.Execute(context.Background(), context.Background(), ch)
	b1, b2 := resultOf(res, "b1"), resultOf(res, "b2")
	if b1.Step != plan.StepSwitch || !strings.Contains(b1.Err, "not reached") || b1.Done {
		t.Errorf("b1: %+v, want the abandoned switch", b1)
	}
	if !strings.Contains(b2.Err, "could not be taken out of the load balancer") {
		t.Errorf("b2: %+v, want the failed take-out in its error", b2)
	}
	if m.count("prod drain") != 1 {
		t.Errorf("load-balancer errors %v, want the failed drain counted", m.errors)
	}
	if st := lb.states(); !strings.HasPrefix(st, "a1=ready a2=ready b1=maint") {
		t.Errorf("load balancer: %s, want blue live and b1 out again", st)
	}
}

// rolledOut is the observation of a parallel release switched to green:
// green on v2 and live, blue on v1 and out.
func rolledOut(t *testing.T) (*plan.Desired, *plan.Observed, *fakeLB) {
	d := lbDesired(t, "strategy: parallel\nparallel: {drainTimeout: 1s}")
	lb := newFakeLB(map[string]fleet.LBAdmin{"a1": fleet.LBMaint, "a2": fleet.LBMaint, "b1": fleet.LBReady, "b2": fleet.LBReady})
	o := fleetOn(d, func(s string) string {
		if strings.HasPrefix(s, "b") {
			return newID
		}
		return oldID
	}, nil, lb)
	return d, o, lb
}

func TestRollbackSwitchesBackAndHolds(t *testing.T) {
	d, o, lb := rolledOut(t)
	rb, err := plan.PlanRollback(d, o, "prod", "web", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ro, _ := testRollout(t, rec, lb)
	if err := ro.Rollback(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	if got := lb.states(); got != "a1=ready a2=ready b1=maint b2=maint" {
		t.Errorf("load balancer after the rollback: %s, want blue back and green out", got)
	}
	calls := rec.Calls()
	for _, want := range []string{"check a1", "check a2", "markfailed b1", "markfailed b2"} {
		if !slices.Contains(calls, want) {
			t.Errorf("calls %v: want %s", calls, want)
		}
	}
}

// TestRollbackRefusedGroupGoesOutAgain: the idle group fails its health
// check: nothing is switched, the group goes out again; a failure to take
// it out is in the error.
func TestRollbackRefusedGroupGoesOutAgain(t *testing.T) {
	d, o, lb := rolledOut(t)
	rb, err := plan.PlanRollback(d, o, "prod", "web", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lb.fail["drain a1"] = errors.New("admin socket refused")
	ro, m := testRollout(t, &recorder{fail: map[string]error{"check a2": errors.New("unhealthy")}}, lb)
	err = ro.Rollback(context.Background(), rb)
	if err == nil || !strings.Contains(err.Error(), "nothing switched") || !strings.Contains(err.Error(), "a1 could not be taken out again") {
		t.Fatalf("got %v, want the refusal and the failed take-out", err)
	}
	if st := lb.states(); !strings.Contains(st, "b1=ready b2=ready") {
		t.Errorf("load balancer: %s, want green still live", st)
	}
	if m.count("prod drain") != 1 {
		t.Errorf("load-balancer errors %v, want the failed drain counted", m.errors)
	}
}

func TestRollbackRefusals(t *testing.T) {
	d, o, _ := rolledOut(t)
	if _, err := plan.PlanRollback(d, o, "prod", "nope", time.Now()); err == nil || !strings.Contains(err.Error(), `no Release of app "nope"`) {
		t.Errorf("unknown app: %v", err)
	}
	o.Servers["a2"].Err = errors.New("connection refused")
	if _, err := plan.PlanRollback(d, o, "prod", "web", time.Now()); err == nil || !strings.Contains(err.Error(), "a2 of group blue is unreachable") {
		t.Errorf("unreachable idle server: %v", err)
	}
	rolling := lbDesired(t, "strategy: rolling")
	if _, err := plan.PlanRollback(rolling, o, "prod", "web", time.Now()); err == nil || !strings.Contains(err.Error(), "strategy rolling") {
		t.Errorf("rolling release: %v", err)
	}
}

// TestOutsideTheWindowOnlyStages: a change outside its window stages the
// release and activates nothing.
func TestOutsideTheWindowOnlyStages(t *testing.T) {
	d := desired(t, `
kind: Environment
name: prod
servers: [{name: s1}, {name: s2}]
windows:
  files:
    allow: [{cron: "0 9 * * MON-FRI", duration: 8h, timezone: Europe/Berlin}]
---
kind: App
name: web
artifact: {path: a}
deployTo: /srv/web
---
kind: Release
app: web
environment: prod
version: v2
`)
	now, _ := time.Parse(time.RFC3339, "2026-11-28T10:00:00Z") // a Saturday
	ch := change(t, d, fleetOn(d, func(string) string { return "" }, nil, nil), now)
	rec := &recorder{}
	ro, _ := testRollout(t, rec, nil)
	res := ro.Execute(context.Background(), context.Background(), ch)
	calls := rec.Calls()
	slices.Sort(calls)
	if strings.Join(calls, ",") != "stage s1,stage s2" {
		t.Errorf("calls %v, want the two stages and no activation", calls)
	}
	if res.Outcome() != "staged" || !res.Waiting {
		t.Errorf("outcome %s, want staged", res.Outcome())
	}
}

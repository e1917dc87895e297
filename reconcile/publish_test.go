package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/transport/local"
)

// TestStatusReadWhilePassesPublish reads the status as GET /api/v1/status
// does (JSON of the published plan) while passes run, on a fleet where
// one server's staging fails every time, so that every plan carries the
// server's last failure. Under -race this finds any write to a published
// plan; without it, a status read before a pass must encode the same
// after it: a published plan is never changed.
func TestStatusReadWhilePassesPublish(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	x := &hooked{Executor: &executor.Executor{T: &local.Local{Root: fleet}}, hook: func(call string) error {
		if call == "stage a" {
			return errors.New("No space left on device")
		}
		return nil
	}}
	c, _ := newController(t, fleet, withServers(x))
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())

	before, err := json.Marshal(c.Status())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(before), `"lastFailure"`) || !strings.Contains(string(before), "No space left on device") {
		t.Fatalf("status after a failed stage does not carry the failure:\n%s", before)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := json.Marshal(c.Status()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	old := c.Status()
	for range 5 {
		c.Pass(ctx, ctx, c.Desired())
	}
	close(done)
	wg.Wait()
	after, _ := json.Marshal(old)
	if !bytes.Equal(before, after) {
		t.Errorf("a published plan changed after it was published:\nbefore %s\nafter  %s", before, after)
	}
}

// TestPanicInOneEnvironmentIsAnErrorOfThatEnvironment: an activation that
// panics in one environment fails that environment's rollout (recorded,
// counted) and the other environment converges; the daemon lives on.
func TestPanicInOneEnvironmentIsAnErrorOfThatEnvironment(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	writeFile(t, dir+"/env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}]\n---\nkind: Environment\nname: staging\nservers: [{name: s1}]\n")
	writeFile(t, dir+"/release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v1\n---\nkind: Release\napp: web\nenvironment: staging\nversion: v1\n")
	x := &hooked{Executor: &executor.Executor{T: &local.Local{Root: fleet}}, hook: func(call string) error {
		if call == "activate b" {
			panic("a bug")
		}
		return nil
	}}
	h := &memHistory{}
	c, reg := newController(t, fleet, withServers(x), withHistory(h))
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	pr := c.Pass(ctx, ctx, c.Desired())
	if running(t, fleet, "s1") != "v1" {
		t.Error("staging did not converge beside the panicking environment")
	}
	var prod string
	for _, r := range pr.Results {
		if r.Change.Environment == "prod" {
			prod = r.Outcome()
		}
	}
	if prod != "failure" {
		t.Errorf("prod rollout: %q, want a failure", prod)
	}
	var recorded bool
	for _, e := range h.Events() {
		if e.Environment == "prod" && e.Result == "failure" && strings.Contains(e.Error, "internal error: a bug") {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("history %+v: want the prod rollout recorded as failed with the panic", h.Events())
	}
	if v := counterValue(reg, "gitfleet_reconcile_errors_total", "panic"); v != 1 {
		t.Errorf("gitfleet_reconcile_errors_total{reason=panic} = %v, want 1", v)
	}
	if st := c.Status(); st.Unavailable != "" || len(st.Releases) != 2 {
		t.Errorf("status after the panic: %+v, want both releases published", st)
	}
	for _, st := range c.Status().Releases {
		if st.Environment == "staging" && st.Counts[plan.InSync] != 1 {
			t.Errorf("staging: %v, want in sync", st.Counts)
		}
	}
}

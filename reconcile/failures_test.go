package reconcile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
)

func TestFailuresRecordForgetAnnotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.json")
	f, err := OpenFailures(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ch := &plan.Change{Environment: "prod", App: "web", To: "v2-abc"}
	res := &rollout.Result{Change: ch, Servers: []rollout.ServerResult{
		{Server: "a", Step: plan.StepStage, Err: "No space left on device"},
		{Server: "b", Step: plan.StepActivate, Done: true},
		{Server: "c", Step: plan.StepActivate, Err: "exit status 7"},
	}}
	if err := f.Record(res, at); err != nil {
		t.Fatal(err)
	}

	// A reader of the file sees them: the plan of the same release gets
	// them, a plan of another release does not.
	planOf := func(to string) *plan.Plan {
		return &plan.Plan{Changes: []*plan.Change{{Environment: "prod", App: "web", To: to,
			Servers: []*plan.ServerChange{{Server: "a"}, {Server: "b"}, {Server: "c"}}}}}
	}
	reader, err := OpenFailures(path)
	if err != nil {
		t.Fatal(err)
	}
	p := planOf("v2-abc")
	plan.Annotate(p, reader.Snapshot())
	got := p.Changes[0].Servers
	if got[0].LastFailure == nil || got[0].LastFailure.Step != plan.StepStage || !strings.Contains(got[0].LastFailure.Err, "No space") || !got[0].LastFailure.At.Equal(at) {
		t.Errorf("a: %+v, want the stage failure", got[0].LastFailure)
	}
	if got[1].LastFailure != nil {
		t.Errorf("b succeeded but carries %+v", got[1].LastFailure)
	}
	if got[2].LastFailure == nil || got[2].LastFailure.Step != plan.StepActivate {
		t.Errorf("c: %+v, want the activate failure", got[2].LastFailure)
	}
	p = planOf("v3-def")
	plan.Annotate(p, reader.Snapshot())
	for _, s := range p.Changes[0].Servers {
		if s.LastFailure != nil {
			t.Errorf("%s: a failure of v2 shown for v3", s.Server)
		}
	}

	// a is in sync now, c is still behind: only c is kept, also after
	// the file is opened again.
	status := &plan.Plan{Status: []*plan.AppStatus{{Environment: "prod", App: "web", Release: "v2-abc", Servers: []*plan.ServerStatus{
		{Server: "a", State: plan.InSync}, {Server: "b", State: plan.InSync}, {Server: "c", State: plan.OutOfSync}}}}}
	if err := f.Forget(status); err != nil {
		t.Fatal(err)
	}
	f2, err := OpenFailures(path)
	if err != nil {
		t.Fatal(err)
	}
	p = planOf("v2-abc")
	plan.Annotate(p, f2.Snapshot())
	if p.Changes[0].Servers[0].LastFailure != nil || p.Changes[0].Servers[2].LastFailure == nil {
		t.Errorf("after a converged: a %+v, c %+v; want only c", p.Changes[0].Servers[0].LastFailure, p.Changes[0].Servers[2].LastFailure)
	}

	// The app leaves the desired state: everything goes.
	if err := f2.Forget(&plan.Plan{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"format": 1`) || !strings.Contains(string(b), `"failures": []`) {
		t.Errorf("file after the app left: %s, want format 1 and no failures", b)
	}
}

func TestFailuresUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	f, err := OpenFailures(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming %s", err, path)
	}
	// It is replaced by the next write.
	res := &rollout.Result{Change: &plan.Change{Environment: "e", App: "a", To: "r"}, Servers: []rollout.ServerResult{{Server: "s", Step: plan.StepStage, Err: "boom"}}}
	if err := f.Record(res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFailures(path); err != nil {
		t.Errorf("after a write: %v", err)
	}
	if _, err := OpenFailures(filepath.Join(t.TempDir(), "missing.json")); err != nil {
		t.Errorf("a missing file: %v, want none", err)
	}
}

// TestFailuresFormats: a file of format 0 (a bare list) is read; one of a
// newer format than this gitfleet knows is refused with a reason.
func TestFailuresFormats(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.json")
	os.WriteFile(old, []byte(`[{"environment":"prod","app":"web","server":"a","release":"v2-abc","step":"stage","error":"full","at":"2026-11-28T12:00:00Z"}]`), 0o600)
	f, err := OpenFailures(old)
	if err != nil || f.Snapshot()[plan.FailureKey("prod", "web", "a")] == nil {
		t.Errorf("format 0: %v, %v; want the failure of a", f.Snapshot(), err)
	}
	newer := filepath.Join(dir, "newer.json")
	os.WriteFile(newer, []byte(`{"format": 9, "failures": []}`), 0o600)
	if _, err := OpenFailures(newer); err == nil || !strings.Contains(err.Error(), "format 9, newer than this gitfleet reads (up to 1)") {
		t.Errorf("format 9: %v, want it refused", err)
	}
}

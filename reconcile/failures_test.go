package reconcile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFailuresRecordForgetAnnotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.json")
	f, err := OpenFailures(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ch := &Change{Environment: "prod", App: "web", To: "v2-abc"}
	res := &Result{Change: ch, Servers: []ServerResult{
		{Server: "a", Step: StepStage, Err: "No space left on device"},
		{Server: "b", Step: StepActivate, Done: true},
		{Server: "c", Step: StepActivate, Err: "exit status 7"},
	}}
	if err := f.Record(res, at); err != nil {
		t.Fatal(err)
	}

	// A reader of the file sees them: the plan of the same release gets
	// them, a plan of another release does not.
	plan := func(to string) *Plan {
		return &Plan{Changes: []*Change{{Environment: "prod", App: "web", To: to,
			Servers: []*ServerChange{{Server: "a"}, {Server: "b"}, {Server: "c"}}}}}
	}
	p := plan("v2-abc")
	if err := AnnotateFromFile(p, path); err != nil {
		t.Fatal(err)
	}
	got := p.Changes[0].Servers
	if got[0].LastFailure == nil || got[0].LastFailure.Step != StepStage || !strings.Contains(got[0].LastFailure.Err, "No space") || !got[0].LastFailure.At.Equal(at) {
		t.Errorf("a: %+v, want the stage failure", got[0].LastFailure)
	}
	if got[1].LastFailure != nil {
		t.Errorf("b succeeded but carries %+v", got[1].LastFailure)
	}
	if got[2].LastFailure == nil || got[2].LastFailure.Step != StepActivate {
		t.Errorf("c: %+v, want the activate failure", got[2].LastFailure)
	}
	p = plan("v3-def")
	AnnotateFromFile(p, path)
	for _, s := range p.Changes[0].Servers {
		if s.LastFailure != nil {
			t.Errorf("%s: a failure of v2 shown for v3", s.Server)
		}
	}

	// a is in sync now, c is still behind: only c is kept, also after
	// the file is opened again.
	status := &Plan{Status: []*AppStatus{{Environment: "prod", App: "web", Release: "v2-abc", Servers: []*ServerStatus{
		{Server: "a", State: InSync}, {Server: "b", State: InSync}, {Server: "c", State: OutOfSync}}}}}
	if err := f.Forget(status); err != nil {
		t.Fatal(err)
	}
	f2, err := OpenFailures(path)
	if err != nil {
		t.Fatal(err)
	}
	p = plan("v2-abc")
	f2.Annotate(p)
	if p.Changes[0].Servers[0].LastFailure != nil || p.Changes[0].Servers[2].LastFailure == nil {
		t.Errorf("after a converged: a %+v, c %+v; want only c", p.Changes[0].Servers[0].LastFailure, p.Changes[0].Servers[2].LastFailure)
	}

	// The app leaves the desired state: everything goes.
	if err := f2.Forget(&Plan{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("file after the app left: %s, want []", b)
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
	res := &Result{Change: &Change{Environment: "e", App: "a", To: "r"}, Servers: []ServerResult{{Server: "s", Step: StepStage, Err: "boom"}}}
	if err := f.Record(res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFailures(path); err != nil {
		t.Errorf("after a write: %v", err)
	}
	if err := AnnotateFromFile(&Plan{}, filepath.Join(t.TempDir(), "missing.json")); err != nil {
		t.Errorf("a missing file: %v, want none", err)
	}
}

package reconcile

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is a log shared by the goroutines of a controller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Unmanaging servers is a change: the daemon logs which servers a new
// desired state leaves, remembers its servers across restarts, and
// refuses a desired state without Environments unless allowEmpty is set.
func TestDaemonSaysWhichServersItUnmanages(t *testing.T) {
	dir, fleet, state := t.TempDir(), t.TempDir(), t.TempDir()
	record := filepath.Join(state, "managed.json")
	repo(t, dir, "v1")
	var log syncBuffer
	c, reg := newController(t, fleet, withLog(slog.New(slog.NewTextHandler(&log, nil))), withManagedFile(record))

	c.Update(snapshot(t, dir))
	first := c.Desired()
	if first == nil {
		t.Fatalf("first desired state rejected:\n%s", log.String())
	}
	writeFile(t, filepath.Join(dir, "env.yaml"), "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}]\n")
	c.Update(snapshot(t, dir))
	if c.Desired() == first {
		t.Fatalf("second desired state rejected:\n%s", log.String())
	}
	if want := `msg="servers no longer managed: left as they are, no longer observed or deployed to" count=1 servers=[prod/c]`; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	rec, err := ReadManaged(record)
	if err != nil || rec == nil || len(rec.Servers) != 2 || rec.Servers[0].Server != "a" || rec.Servers[1].Server != "b" {
		t.Fatalf("record %+v, %v; want servers a and b", rec, err)
	}

	// Every Environment removed: refused, the last good state stays.
	kept := c.Desired()
	for _, f := range []string{"env.yaml", "release.yaml"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	c.Update(snapshot(t, dir))
	if c.Desired() != kept {
		t.Fatal("a desired state without Environments was accepted without allowEmpty")
	}
	if v := testutil.ToFloat64(gather(reg, "gitfleet_desired_state_valid")); v != 0 {
		t.Errorf("gitfleet_desired_state_valid %v, want 0", v)
	}
	if want := "the desired state has no Environment: every server would be left unmanaged"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}

	// A restarted daemon with allowEmpty compares with the record.
	var log2 syncBuffer
	c2, _ := newController(t, fleet, withLog(slog.New(slog.NewTextHandler(&log2, nil))), withManagedFile(record), withAllowEmpty())
	c2.Update(snapshot(t, dir))
	if c2.Desired() == nil {
		t.Fatalf("allowEmpty: the empty desired state was rejected:\n%s", log2.String())
	}
	for _, want := range []string{
		`msg="the desired state has no Environment (allowEmpty): no server is managed"`,
		`msg="servers no longer managed: left as they are, no longer observed or deployed to" count=2 servers="[prod/a prod/b]"`,
	} {
		if !strings.Contains(log2.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log2.String())
		}
	}
	if rec, _ := ReadManaged(record); rec == nil || len(rec.Servers) != 0 {
		t.Errorf("record after the empty state: %+v, want no servers", rec)
	}
}

func TestPlanSaysWhichServersAreUnmanaged(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	record := filepath.Join(state, "managed.json")
	repo(t, dir, "v1")
	writeFile(t, filepath.Join(dir, "env.yaml"), "kind: Environment\nname: prod\nservers: [{name: a}]\n")
	d, err := resolve.Resolve(context.Background(), snapshot(t, dir).Snapshot, nil, spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteManaged(record, &plan.Managed{Revision: strings.Repeat("ab", 20), Servers: []plan.ManagedServer{{Environment: "prod", Server: "a"}, {Environment: "prod", Server: "b"}, {Environment: "staging", Server: "s1"}}}); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Revision: d.Revision, Origin: d.Origin}
	if err := NoteUnmanaged(p, d, record); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"no longer managed (named by the daemon's desired state at abababababab, not by this one; left as they are, no longer observed or deployed to):\n  prod     b\n  staging  s1\n",
		"\n2 servers no longer managed\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}

	// Without a record, an empty desired state is all a plan can tell.
	empty := &plan.Desired{Revision: d.Revision, Spec: mustEmpty(t)}
	p = &plan.Plan{Revision: d.Revision}
	if err := NoteUnmanaged(p, empty, filepath.Join(state, "none.json")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	p.WriteText(&out)
	if want := "no Environment: this desired state manages no server; which servers the daemon manages now is not known here (no " + filepath.Join(state, "none.json") + ")"; !strings.Contains(out.String(), want) {
		t.Errorf("plan lacks %q:\n%s", want, out.String())
	}
}

func mustEmpty(t *testing.T) *spec.Desired {
	t.Helper()
	d, err := spec.Options{AllowEmpty: true}.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

package executor_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/fleettest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport/local"
	"github.com/gitfleet/gitfleet/tree"
)

// harness is one server of the local transport with one app, and a scratch
// directory outside the server where commands leave traces.
type harness struct {
	t       *testing.T
	local   *local.Local
	x       *executor.Executor
	srv     *spec.Server
	app     *spec.App
	logs    *logRecorder
	scratch string
	now     time.Time
}

func newHarness(t *testing.T) *harness {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	local := fleettest.NewLocal(t)
	return &harness{
		t:     t,
		local: local,
		x:     &executor.Executor{T: local, Now: func() time.Time { return now }},
		srv:   &spec.Server{Name: "web-1"},
		app: &spec.App{
			Name:            "web",
			DeployTo:        "/srv/web",
			ActivateTimeout: 10 * time.Second,
			KeepReleases:    5,
		},
		logs:    &logRecorder{t: t},
		scratch: t.TempDir(),
		now:     now,
	}
}

// traceActivate makes the activate command append "<release> prev=<previous>"
// to activate.log, then run more (which may fail).
func (h *harness) traceActivate(more string) {
	h.app.Activate = `echo "$GITFLEET_RELEASE prev=$GITFLEET_PREVIOUS_RELEASE" >> ` + h.path("activate.log")
	if more != "" {
		h.app.Activate += "\n" + more
	}
}

// path is a scratch file in double quotes for sh, so that a variable in
// name is expanded (t.TempDir names need no escaping).
func (h *harness) path(name string) string {
	return `"` + filepath.Join(h.scratch, name) + `"`
}

// lines returns the lines of a scratch file, none when it does not exist.
func (h *harness) lines(name string) []string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.scratch, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (h *harness) request(rel fleet.Release) fleet.Request {
	return fleet.Request{
		Environment: "production",
		App:         h.app,
		Server:      h.srv,
		Release:     rel,
		Revision:    "rev-" + rel.Version,
		Log:         slog.New(h.logs),
	}
}

// stage stages a new release of version.
func (h *harness) stage(version string) fleet.Release {
	h.t.Helper()
	rel := fleet.NewRelease(version, fleettest.AppTree(h.t, version))
	if err := h.x.Stage(context.Background(), h.request(rel)); err != nil {
		h.t.Fatalf("stage %s: %v", version, err)
	}
	return rel
}

func (h *harness) activate(rel fleet.Release) error {
	return h.x.Activate(context.Background(), h.request(rel))
}

func (h *harness) deployDir() string { return h.local.Path(h.srv, h.app.DeployTo) }

func (h *harness) state() *fleet.AppState {
	h.t.Helper()
	return inspect(h.t, h.local, h.srv, h.app.DeployTo)
}

// current is the target of the current link, "" when there is none.
func (h *harness) current() string {
	h.t.Helper()
	target, err := os.Readlink(filepath.Join(h.deployDir(), "current"))
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		h.t.Fatalf("readlink current: %v", err)
	}
	return target
}

func (h *harness) wantCurrent(rel fleet.Release) {
	h.t.Helper()
	if got, want := h.current(), "releases/"+rel.ID; got != want {
		h.t.Errorf("got current -> %q, want %q", got, want)
	}
}

func (h *harness) marker() *fleet.Marker {
	h.t.Helper()
	st := h.state()
	if st.MarkerErr != "" || st.Marker == nil {
		h.t.Fatalf("got marker %+v (%s), want one", st.Marker, st.MarkerErr)
	}
	return st.Marker
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %d lines %q, want %d %q", what, len(got), got, len(want), want)
	}
}

// logRecorder is a slog handler that keeps every record and shows it in
// the test's log.
type logRecorder struct {
	t    *testing.T
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.t.Logf("%s %s%s", r.Level, r.Message, b.String())
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}

// attr returns the value of key in the first record with message msg.
func (l *logRecorder) attr(msg, key string) (slog.Value, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Message != msg {
			continue
		}
		var v slog.Value
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, found = a.Value, true
				return false
			}
			return true
		})
		return v, found
	}
	return slog.Value{}, false
}

func TestActivateSuccess(t *testing.T) {
	h := newHarness(t)
	h.traceActivate(`env | grep '^GITFLEET_' | sort > ` + h.path("env-$GITFLEET_VERSION") + `
pwd > ` + h.path("pwd-$GITFLEET_VERSION"))
	h.app.Health = &spec.Health{
		Command:  `grep -qx "$GITFLEET_VERSION" VERSION && echo "$GITFLEET_RELEASE" >> ` + h.path("health.log"),
		Attempts: 3, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second,
	}
	v1, v2 := h.stage("v1"), h.stage("v2")

	if err := h.activate(v1); err != nil {
		t.Fatalf("activate v1: %v", err)
	}
	h.wantCurrent(v1)
	if err := h.activate(v2); err != nil {
		t.Fatalf("activate v2: %v", err)
	}
	h.wantCurrent(v2)

	wantLines(t, "activate.log", h.lines("activate.log"), []string{v1.ID + " prev=", v2.ID + " prev=" + v1.ID})
	wantLines(t, "health.log", h.lines("health.log"), []string{v1.ID, v2.ID})

	releaseDir := filepath.Join(h.deployDir(), "releases", v2.ID)
	wantLines(t, "pwd of the activate command", h.lines("pwd-v2"), []string{releaseDir})
	wantLines(t, "environment of the activate command", h.lines("env-v2"), []string{
		"GITFLEET_APP=web",
		"GITFLEET_DEPLOY_TO=" + h.deployDir(),
		"GITFLEET_ENVIRONMENT=production",
		"GITFLEET_PREVIOUS_RELEASE=" + v1.ID,
		"GITFLEET_RELEASE=" + v2.ID,
		"GITFLEET_RELEASE_DIR=" + releaseDir,
		"GITFLEET_REVISION=rev-v2",
		"GITFLEET_SERVER=web-1",
		"GITFLEET_VERSION=v2",
	})

	want := &fleet.Marker{
		Format: fleet.MarkerFormat, App: "web", Environment: "production",
		Release: v2.ID, Revision: "rev-v2", ActivatedAt: h.now, Previous: v1.ID,
	}
	if got := h.marker(); !reflect.DeepEqual(got, want) {
		t.Errorf("got marker %+v, want %+v", got, want)
	}
	if st := h.state(); !slices.Equal(st.Staged, []string{v1.ID, v2.ID}) {
		t.Errorf("got staged %q, want both releases kept", st.Staged)
	}
	fleettest.NoTemporaries(t, h.deployDir())
	fleettest.NoTemporaries(t, filepath.Join(h.deployDir(), "releases"))
}

func TestActivateWithoutCommands(t *testing.T) {
	h := newHarness(t)
	v1 := h.stage("v1")
	if err := h.activate(v1); err != nil {
		t.Fatalf("activate: %v", err)
	}
	h.wantCurrent(v1)
	if m := h.marker(); m.Release != v1.ID || m.Previous != "" || m.Pending != nil {
		t.Errorf("got marker %+v, want release %s with no previous and nothing pending", m, v1.ID)
	}
}

func TestActivateFailureRevertsToPrevious(t *testing.T) {
	tests := []struct {
		name        string
		activate    string // run after the trace line, for every release
		health      string
		wantErr     string
		wantHealth  int // lines in health.log
		wantExit    int
		wantRevertV string
	}{
		{
			name:     "activate command fails",
			activate: `if [ "$GITFLEET_VERSION" = v2 ]; then echo boom; exit 3; fi`,
			wantErr:  "activate web v2 on web-1: activate command: exit status 3: boom",
			wantExit: 3,
		},
		{
			name:       "unhealthy",
			health:     `echo "$GITFLEET_RELEASE" >> HEALTHLOG; if [ "$GITFLEET_VERSION" = v2 ]; then echo sick; exit 1; fi`,
			wantErr:    "activate web v2 on web-1: health check: unhealthy after 3 attempts: exit status 1: sick",
			wantHealth: 1 + 3,
			wantExit:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.traceActivate(tt.activate)
			if tt.health != "" {
				h.app.Health = &spec.Health{
					Command:  strings.ReplaceAll(tt.health, "HEALTHLOG", h.path("health.log")),
					Attempts: 3, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second,
				}
			}
			v1, v2 := h.stage("v1"), h.stage("v2")
			if err := h.activate(v1); err != nil {
				t.Fatalf("activate v1: %v", err)
			}

			err := h.activate(v2)
			if err == nil {
				t.Fatal("activate v2 succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want %q", err, tt.wantErr)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.wantExit {
				t.Errorf("got error %v, want it to wrap exit status %d", err, tt.wantExit)
			}

			h.wantCurrent(v1)
			// v1 is brought up again after v2 failed, told which release
			// failed.
			wantLines(t, "activate.log", h.lines("activate.log"), []string{
				v1.ID + " prev=",
				v2.ID + " prev=" + v1.ID,
				v1.ID + " prev=" + v2.ID,
			})
			if got := len(h.lines("health.log")); got != tt.wantHealth {
				t.Errorf("got %d health checks, want %d", got, tt.wantHealth)
			}
			want := &fleet.Marker{
				Format: fleet.MarkerFormat, App: "web", Environment: "production",
				Release: v1.ID, Revision: "rev-v1", ActivatedAt: h.now,
				Failed: &fleet.Attempt{Release: v2.ID, Revision: "rev-v2", At: h.now, Error: err.Error()},
			}
			if got := h.marker(); !reflect.DeepEqual(got, want) {
				t.Errorf("got marker %+v (failed %+v), want %+v (failed %+v)", got, got.Failed, want, want.Failed)
			}
			if st := h.state(); !st.IsStaged(v2.ID) {
				t.Errorf("the failed release was removed: staged %q", st.Staged)
			}

			// The next success clears the failure.
			v3 := h.stage("v3")
			if err := h.activate(v3); err != nil {
				t.Fatalf("activate v3: %v", err)
			}
			if m := h.marker(); m.Failed != nil || m.Release != v3.ID || m.Previous != v1.ID {
				t.Errorf("got marker %+v after a success, want release %s, previous %s and no failure", m, v3.ID, v1.ID)
			}
		})
	}
}

func TestActivateFirstFailureRemovesCurrent(t *testing.T) {
	h := newHarness(t)
	h.traceActivate("exit 1")
	v1 := h.stage("v1")

	err := h.activate(v1)
	if err == nil || !strings.Contains(err.Error(), "activate web v1 on web-1: activate command: exit status 1") {
		t.Fatalf("got error %v, want the activate command's failure", err)
	}
	if got := h.current(); got != "" {
		t.Errorf("got current -> %q, want no current after a failed first activation", got)
	}
	wantLines(t, "activate.log", h.lines("activate.log"), []string{v1.ID + " prev="})
	want := &fleet.Marker{
		Format: fleet.MarkerFormat, App: "web", Environment: "production",
		Failed: &fleet.Attempt{Release: v1.ID, Revision: "rev-v1", At: h.now, Error: err.Error()},
	}
	if got := h.marker(); !reflect.DeepEqual(got, want) {
		t.Errorf("got marker %+v, want %+v", got, want)
	}
	if st := h.state(); !st.IsStaged(v1.ID) {
		t.Errorf("the failed release was removed: staged %q", st.Staged)
	}
}

func TestActivateHealthPassesOnLaterAttempt(t *testing.T) {
	h := newHarness(t)
	// Fails until it has been run twice.
	h.app.Health = &spec.Health{
		Command:  `echo x >> ` + h.path("health.log") + `; [ "$(wc -l < ` + h.path("health.log") + `)" -ge 3 ]`,
		Attempts: 5, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second,
	}
	v1 := h.stage("v1")
	if err := h.activate(v1); err != nil {
		t.Fatalf("activate: %v", err)
	}
	h.wantCurrent(v1)
	if got := len(h.lines("health.log")); got != 3 {
		t.Errorf("got %d health checks, want 3: it must stop at the first pass", got)
	}
}

func TestActivateCommandTimeout(t *testing.T) {
	h := newHarness(t)
	h.traceActivate("exec sleep 30")
	h.app.ActivateTimeout = 500 * time.Millisecond
	v1 := h.stage("v1")

	err := h.activate(v1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "activate web v1 on web-1: activate command: ") {
		t.Errorf("got error %q, want it to name the app, version, server and step", err)
	}
	if got := h.current(); got != "" {
		t.Errorf("got current -> %q, want none", got)
	}
	if m := h.marker(); m.Failed == nil || m.Failed.Release != v1.ID {
		t.Errorf("got marker %+v, want the failure recorded", m)
	}
}

func TestActivateHealthTimeout(t *testing.T) {
	h := newHarness(t)
	h.app.Health = &spec.Health{
		Command:  `echo x >> ` + h.path("health.log") + `; exec sleep 30`,
		Attempts: 2, Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond,
	}
	v1 := h.stage("v1")
	err := h.activate(v1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "health check: unhealthy after 2 attempts") {
		t.Errorf("got error %q, want it to count the attempts", err)
	}
	if got := len(h.lines("health.log")); got != 2 {
		t.Errorf("got %d health checks, want 2", got)
	}
}

func TestActivateBoundsTheCommandForThePreviousRelease(t *testing.T) {
	// The release to go back to hangs too when brought up again: going back
	// must still end after ActivateTimeout, not wait for it.
	h := newHarness(t)
	hang := filepath.Join(h.scratch, "hang")
	h.traceActivate(`if [ -e '` + hang + `' ]; then exec sleep 30; fi`)
	h.app.ActivateTimeout = 500 * time.Millisecond
	v1, v2 := h.stage("v1"), h.stage("v2")
	if err := h.activate(v1); err != nil {
		t.Fatalf("activate v1: %v", err)
	}
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	err := h.activate(v2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	h.wantCurrent(v1)
	wantLines(t, "activate.log", h.lines("activate.log"), []string{
		v1.ID + " prev=", v2.ID + " prev=" + v1.ID, v1.ID + " prev=" + v2.ID,
	})
	v, ok := h.logs.attr("activate command for previous release failed", "err")
	if !ok {
		t.Fatalf("no log of the previous release's activate command failing")
	}
	if err, _ := v.Any().(error); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v from the previous release's activate command, want context.DeadlineExceeded", v)
	}
}

func TestActivateResumesInterruptedActivation(t *testing.T) {
	// current already points at v2 and the marker says an activation of v2
	// was under way: the daemon died in the middle of it.
	tests := []struct {
		name string
		// marker is written by hand; ids maps v0..v2 to release IDs.
		marker       func(ids map[string]string) *fleet.Marker
		failV2       bool
		wantPrevious string // version
		wantCurrent  string // version
	}{
		{
			name: "previous comes from the pending attempt",
			marker: func(ids map[string]string) *fleet.Marker {
				return &fleet.Marker{App: "web", Environment: "production", Release: ids["v1"], Revision: "rev-v1",
					Pending: &fleet.Attempt{Release: ids["v2"], Previous: ids["v0"], Revision: "rev-v2", At: time.Unix(1, 0).UTC()}}
			},
			wantPrevious: "v0", wantCurrent: "v2",
		},
		{
			name: "without a pending attempt the last release is the previous",
			marker: func(ids map[string]string) *fleet.Marker {
				return &fleet.Marker{App: "web", Environment: "production", Release: ids["v1"], Revision: "rev-v1"}
			},
			wantPrevious: "v1", wantCurrent: "v2",
		},
		{
			name: "a pending previous that is gone is not gone back to",
			marker: func(ids map[string]string) *fleet.Marker {
				return &fleet.Marker{App: "web", Environment: "production", Release: ids["v1"],
					Pending: &fleet.Attempt{Release: ids["v2"], Previous: "v-1-000000000000", Revision: "rev-v2"}}
			},
			wantPrevious: "", wantCurrent: "v2",
		},
		{
			name: "failing again goes back to the pending previous",
			marker: func(ids map[string]string) *fleet.Marker {
				return &fleet.Marker{App: "web", Environment: "production", Release: ids["v1"], Revision: "rev-v1",
					Pending: &fleet.Attempt{Release: ids["v2"], Previous: ids["v0"], Revision: "rev-v2"}}
			},
			failV2:       true,
			wantPrevious: "v0", wantCurrent: "v0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			fail := ""
			if tt.failV2 {
				fail = `[ "$GITFLEET_VERSION" != v2 ]`
			}
			h.traceActivate(fail)
			rels := map[string]fleet.Release{}
			ids := map[string]string{}
			for _, v := range []string{"v0", "v1", "v2"} {
				rels[v] = h.stage(v)
				ids[v] = rels[v].ID
			}
			ctx := context.Background()
			if err := h.local.Switch(ctx, h.srv, h.app.DeployTo, ids["v2"]); err != nil {
				t.Fatal(err)
			}
			if err := h.local.WriteMarker(ctx, h.srv, h.app.DeployTo, tt.marker(ids)); err != nil {
				t.Fatal(err)
			}

			err := h.activate(rels["v2"])
			if tt.failV2 != (err != nil) {
				t.Fatalf("got error %v, want failure %v", err, tt.failV2)
			}
			h.wantCurrent(rels[tt.wantCurrent])
			prev := ids[tt.wantPrevious]
			want := []string{ids["v2"] + " prev=" + prev}
			if tt.failV2 {
				want = append(want, prev+" prev="+ids["v2"])
			}
			wantLines(t, "activate.log", h.lines("activate.log"), want)

			m := h.marker()
			if m.Pending != nil {
				t.Errorf("got pending %+v, want none", m.Pending)
			}
			if tt.failV2 {
				if m.Failed == nil || m.Failed.Release != ids["v2"] || m.Release != ids["v1"] {
					t.Errorf("got marker %+v (failed %+v), want v2 failed and release left at v1", m, m.Failed)
				}
				return
			}
			if m.Release != ids["v2"] || m.Revision != "rev-v2" || m.Previous != prev || m.Failed != nil {
				t.Errorf("got marker release %q revision %q previous %q failed %+v, want %q, rev-v2, %q, none",
					m.Release, m.Revision, m.Previous, m.Failed, ids["v2"], prev)
			}
		})
	}
}

func TestActivateNotStaged(t *testing.T) {
	h := newHarness(t)
	h.traceActivate("")
	v1 := h.stage("v1")
	if err := h.activate(v1); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(h.deployDir(), ".gitfleet", "state.json")
	before, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	filesBefore := fleettest.Walk(t, h.deployDir())

	v2 := fleet.NewRelease("v2", fleettest.AppTree(t, "v2")) // never staged
	err = h.activate(v2)
	if !errors.Is(err, executor.ErrNotStaged) {
		t.Fatalf("got error %v, want one wrapping ErrNotStaged", err)
	}
	if want := "activate web v2 on web-1: check: " + v2.ID + ": release is not staged"; err.Error() != want {
		t.Errorf("got error %q, want %q", err, want)
	}
	h.wantCurrent(v1)
	if after, _ := os.ReadFile(statePath); string(after) != string(before) {
		t.Errorf("the marker changed:\n%s\nwant\n%s", after, before)
	}
	if got := fleettest.Walk(t, h.deployDir()); !slices.Equal(got, filesBefore) {
		t.Errorf("got files %q, want them unchanged: %q", got, filesBefore)
	}
	wantLines(t, "activate.log", h.lines("activate.log"), []string{v1.ID + " prev="})
}

func TestActivatePrunesOldReleases(t *testing.T) {
	h := newHarness(t)
	h.app.KeepReleases = 3
	var rels []fleet.Release
	for i := 1; i <= 6; i++ {
		rel := h.stage(fmt.Sprintf("v%d", i))
		rels = append(rels, rel)
		if err := h.activate(rel); err != nil {
			t.Fatalf("activate v%d: %v", i, err)
		}
		st := h.state()
		if want := min(i, 3); len(st.Staged) != want {
			t.Errorf("after v%d: got %d releases %q, want %d", i, len(st.Staged), st.Staged, want)
		}
		if !st.IsStaged(rel.ID) || (i > 1 && !st.IsStaged(rels[i-2].ID)) {
			t.Errorf("after v%d: got releases %q, want the current and the previous kept", i, st.Staged)
		}
	}
	// The ones made current last are the ones kept.
	want := []string{rels[3].ID, rels[4].ID, rels[5].ID}
	if got := h.state().Staged; !slices.Equal(got, want) {
		t.Errorf("got releases %q, want %q", got, want)
	}
}

func TestActivateCannotWriteState(t *testing.T) {
	h := newHarness(t)
	h.traceActivate("")
	v1, v2 := h.stage("v1"), h.stage("v2")
	if err := h.activate(v1); err != nil {
		t.Fatal(err)
	}
	// A file where the marker's directory must be makes every write fail.
	dir := filepath.Join(h.deployDir(), ".gitfleet")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}

	err := h.activate(v2)
	if err == nil || !strings.Contains(err.Error(), "activate web v2 on web-1: write state: ") {
		t.Fatalf("got error %v, want the state write to fail", err)
	}
	h.wantCurrent(v1)
	wantLines(t, "activate.log", h.lines("activate.log"), []string{v1.ID + " prev="})
}

func TestActivateCanceled(t *testing.T) {
	h := newHarness(t)
	v1 := h.stage("v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.x.Activate(ctx, h.request(v1))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "activate web v1 on web-1: inspect: ") {
		t.Fatalf("got error %v, want the inspect step canceled", err)
	}
	if got := h.current(); got != "" {
		t.Errorf("got current -> %q, want none", got)
	}
	if st := h.state(); st.Marker != nil {
		t.Errorf("got marker %+v, want none", st.Marker)
	}
}

func TestObserve(t *testing.T) {
	h := newHarness(t)
	api := &spec.App{Name: "api", DeployTo: "/srv/api"}
	apps := []*spec.App{h.app, api}
	ctx := context.Background()

	st := h.x.Observe(ctx, h.srv, apps)
	if st.Err != nil || st.Server != "web-1" {
		t.Fatalf("got %+v, want server web-1 observed without error", st)
	}
	for _, name := range []string{"web", "api"} {
		if a := st.Apps[name]; a == nil || !reflect.DeepEqual(*a, fleet.AppState{}) {
			t.Errorf("%s: got %+v on an empty server, want an empty state", name, a)
		}
	}

	v1 := h.stage("v1")
	if err := h.activate(v1); err != nil {
		t.Fatal(err)
	}
	st = h.x.Observe(ctx, h.srv, apps)
	if got := st.Apps["web"]; got == nil || got.Current != v1.ID || got.Marker == nil || got.Marker.Release != v1.ID {
		t.Errorf("web: got %+v, want current and marker at %s", got, v1.ID)
	}
	if got := st.Apps["api"]; got == nil || got.Current != "" || len(got.Staged) != 0 {
		t.Errorf("api: got %+v, want empty", got)
	}

	other := &spec.Server{Name: "web-2"}
	if err := os.WriteFile(filepath.Join(h.local.Root, "web-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st = h.x.Observe(ctx, other, apps)
	if st.Err == nil || st.Apps != nil {
		t.Errorf("got %+v for a server that cannot be read, want an error and no apps", st)
	}
}

func TestReleaseID(t *testing.T) {
	digest := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name        string
		version     string
		digest      string
		wantID      string
		wantVersion string
	}{
		{name: "full digest", version: "v1.4.2", digest: digest, wantID: "v1.4.2-0123456789ab", wantVersion: "v1.4.2"},
		{name: "version with dashes", version: "v2.0.0-rc-1", digest: digest, wantID: "v2.0.0-rc-1-0123456789ab", wantVersion: "v2.0.0-rc-1"},
		{name: "short digest", version: "v1", digest: "abc", wantID: "v1-abc", wantVersion: "v1-abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fleet.ReleaseID(tt.version, tt.digest)
			if id != tt.wantID {
				t.Errorf("got ID %q, want %q", id, tt.wantID)
			}
			if got := fleet.VersionOf(id); got != tt.wantVersion {
				t.Errorf("got version %q of %q, want %q", got, id, tt.wantVersion)
			}
		})
	}
	tr, err := tree.New([]*tree.Entry{{Path: "f", Kind: tree.File, Perm: 0o644, Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	rel := fleet.NewRelease("v3", tr)
	if rel.Digest != tr.Digest() || rel.ID != "v3-"+tr.Digest()[:fleet.DigestLen] || rel.Version != "v3" || rel.Tree != tr {
		t.Errorf("got release %+v, want it named after the tree's digest", rel)
	}
}

// TestActivateCancelledMidwayIsNotAFailure cancels the context while the
// activate command runs (a second signal to the daemon): the server goes
// back to the previous release, and the attempt is not recorded as failed,
// so the next pass tries again instead of holding the release.
func TestActivateCancelledMidwayIsNotAFailure(t *testing.T) {
	h := newHarness(t)
	h.traceActivate(`if [ "$GITFLEET_VERSION" = v2 ]; then touch ` + h.path("started") + `; sleep 30; fi`)
	v1, v2 := h.stage("v1"), h.stage("v2")
	if err := h.activate(v1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for h.lines("started") == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := h.x.Activate(ctx, h.request(v2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want an error wrapping context.Canceled", err)
	}
	h.wantCurrent(v1)
	m := h.marker()
	if m.Failed != nil || m.Pending != nil {
		t.Errorf("marker failed=%+v pending=%+v, want neither after a cancellation", m.Failed, m.Pending)
	}
	if m.Release != v1.ID {
		t.Errorf("marker release %s, want %s", m.Release, v1.ID)
	}
}

func TestPruneRemovesSwitchAndStateLeftovers(t *testing.T) {
	h := newHarness(t)
	v1 := h.stage("v1")
	if err := h.activate(v1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".tmp-current-abc", ".gitfleet/.tmp-state.json-def"} {
		if err := os.WriteFile(filepath.Join(h.deployDir(), p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.local.Prune(context.Background(), h.srv, h.app.DeployTo, []string{v1.ID}, 5); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".tmp-current-abc", ".gitfleet/.tmp-state.json-def"} {
		if _, err := os.Lstat(filepath.Join(h.deployDir(), p)); err == nil {
			t.Errorf("%s was not removed", p)
		}
	}
	h.wantCurrent(v1)
}

func inspect(t *testing.T, l *local.Local, srv *spec.Server, deployTo string) *fleet.AppState {
	t.Helper()
	states, err := l.Inspect(context.Background(), srv, []string{deployTo})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	st := states[deployTo]
	if st == nil {
		t.Fatalf("Inspect returned no state for %s", deployTo)
	}
	return st
}

// TestActivateRefusesAMarkerOfANewerFormat: a state.json written by a newer
// gitfleet is not written over: activation, rollback and retry refuse,
// naming the format, and the file stays as it was.
func TestActivateRefusesAMarkerOfANewerFormat(t *testing.T) {
	h := newHarness(t)
	v1 := h.stage("v1")
	state := filepath.Join(h.deployDir(), ".gitfleet", "state.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	newer := []byte(`{"format": 2, "app": "web", "something": "new"}`)
	if err := os.WriteFile(state, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	err := h.activate(v1)
	if err == nil || !strings.Contains(err.Error(), "format 2, newer than this gitfleet reads") {
		t.Errorf("activate: %v, want a refusal naming the format", err)
	}
	if _, err := h.x.ClearFailed(context.Background(), h.srv, h.app); err == nil {
		t.Error("ClearFailed wrote over a marker of a newer format")
	}
	if b, _ := os.ReadFile(state); string(b) != string(newer) {
		t.Errorf("state.json changed: %s", b)
	}
	if h.current() != "" {
		t.Errorf("current switched to %s", h.current())
	}
}

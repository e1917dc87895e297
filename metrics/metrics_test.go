package metrics

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

var states = []string{"in-sync", "staged", "out-of-sync", "unreachable"}

// sample is one series as gathered: its labels and its value (the sample
// count for histograms).
type sample struct {
	labels map[string]string
	value  float64
}

// key writes the labels as {a="1",b="2"} in name order, for messages and
// comparisons.
func (s sample) key() string {
	names := make([]string, 0, len(s.labels))
	for n := range s.labels {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%q", n, s.labels[n])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// gather returns every series of every family on reg, by family name.
func gather(t *testing.T, reg *prometheus.Registry) map[string][]sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string][]sample{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// keys lists the label sets of a family's series, sorted.
func keys(ss []sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.key()
	}
	sort.Strings(out)
	return out
}

// value returns the value of the series of family name whose labels are
// exactly labels, and whether it exists.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	want := sample{labels: labels}.key()
	for _, s := range gather(t, reg)[name] {
		if s.key() == want {
			return s.value, true
		}
	}
	return 0, false
}

// wantValue fails unless the series exists with value want.
func wantValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(t, reg, name, labels)
	if !ok {
		t.Errorf("%s%s: no such series, want value %v; have %v", name, sample{labels: labels}.key(), want, keys(gather(t, reg)[name]))
		return
	}
	if got != want {
		t.Errorf("%s%s = %v, want %v", name, sample{labels: labels}.key(), got, want)
	}
}

func l(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// exercise calls every method so that every family has samples.
func exercise(m *Metrics, now time.Time) {
	m.DesiredAccepted("0123456789abcdef", "directory /srv/fleet", now)
	m.SourceFailed(ReasonInvalid)
	m.ReconcileDone(1500*time.Millisecond, now)
	m.ReconcileDone(2*time.Second, now, ReasonUnreachable)
	m.SetServers(states, []AppServers{{Environment: "prod", App: "web", Counts: map[string]int{"in-sync": 3, "staged": 1}}})
	m.RolloutStarted()
	m.ServerStep("prod", "web", "stage", true)
	m.ServerStep("prod", "web", "activate", false)
	m.RolloutDone("prod", "web", "failure")
	m.FetchDone(300*time.Millisecond, "")
	m.FetchDone(time.Second, "timeout")
	m.ForcePush()
	m.TagMoved()
	m.ArtifactTagMoved()
	m.SourceRevision("https://git.example.com/fleet.git", "main", "0123456789abcdef0123456789abcdef01234567", now)
	m.WebhookRequest("github", "triggered")
	m.SetDrift(now, []DriftServer{{Environment: "prod", App: "web", Server: "web-1", Kind: "content", Since: now.Add(-time.Minute)}},
		[]PendingLane{{Environment: "prod", Lane: "files", N: 2}})
	m.EnvironmentReconciled("prod", now)
	m.DeploymentDone("rolling", "success", 42*time.Second)
	m.ContentChecked(now)
}

var families = []string{
	"gitfleet_artifact_tag_moved_total",
	"gitfleet_build_info",
	"gitfleet_content_check_last_timestamp_seconds",
	"gitfleet_deployment_duration_seconds",
	"gitfleet_deployments_total",
	"gitfleet_desired_revision_info",
	"gitfleet_desired_state_valid",
	"gitfleet_drift_age_seconds",
	"gitfleet_drift_info",
	"gitfleet_drift_servers",
	"gitfleet_environment_last_reconcile_success_timestamp_seconds",
	"gitfleet_pending_changes",
	"gitfleet_reconcile_duration_seconds",
	"gitfleet_reconcile_errors_total",
	"gitfleet_reconcile_last_success_timestamp_seconds",
	"gitfleet_rollouts_in_progress",
	"gitfleet_server_steps_total",
	"gitfleet_servers",
	"gitfleet_source_errors_total",
	"gitfleet_source_fetch_duration_seconds",
	"gitfleet_source_fetch_errors_total",
	"gitfleet_source_force_pushes_total",
	"gitfleet_source_last_success_timestamp_seconds",
	"gitfleet_source_revision_info",
	"gitfleet_source_tag_moved_total",
	"gitfleet_webhook_requests_total",
}

func TestEveryFamilyIsExposedAndPassesPromlint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1.2.3")
	exercise(m, time.Unix(1_700_000_000, 0))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
		if len(mf.GetMetric()) == 0 {
			t.Errorf("%s has no samples after every method was called", mf.GetName())
		}
	}
	if !slices.Equal(got, families) {
		t.Errorf("families %v, want %v", got, families)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "v1.2.3")
	wantValue(t, reg, "gitfleet_build_info", l("version", "v1.2.3", "goversion", runtime.Version()), 1)
	if n := testutil.CollectAndCount(reg, "gitfleet_build_info"); n != 1 {
		t.Errorf("%d gitfleet_build_info series, want 1", n)
	}
}

// TestNewStartsFromZero checks the state before anything happened: error
// counters exist at 0 for every reason (so rate() works from the first
// error), and no per-app or revision series exist yet.
func TestNewStartsFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "dev")
	for _, r := range []string{ReasonRead, ReasonInvalid} {
		wantValue(t, reg, "gitfleet_source_errors_total", l("reason", r), 0)
	}
	for _, r := range []string{ReasonUnreachable, ReasonRollout} {
		wantValue(t, reg, "gitfleet_reconcile_errors_total", l("reason", r), 0)
	}
	wantValue(t, reg, "gitfleet_desired_state_valid", nil, 0)
	wantValue(t, reg, "gitfleet_rollouts_in_progress", nil, 0)
	for _, name := range []string{"gitfleet_desired_revision_info", "gitfleet_servers", "gitfleet_deployments_total", "gitfleet_server_steps_total"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s: %d series before anything happened, want 0", name, n)
		}
	}
}

func TestDesiredAccepted(t *testing.T) {
	type accept struct{ revision, origin string }
	tests := []struct {
		name    string
		accepts []accept
		want    accept // the only series left
	}{
		{"first revision", []accept{{"aaa", "directory /d"}}, accept{"aaa", "directory /d"}},
		{"new revision replaces the old", []accept{{"aaa", "directory /d"}, {"bbb", "directory /d"}}, accept{"bbb", "directory /d"}},
		{"same revision twice", []accept{{"aaa", "directory /d"}, {"aaa", "directory /d"}}, accept{"aaa", "directory /d"}},
		{"new origin replaces the old", []accept{{"aaa", "directory /d"}, {"aaa", "directory /e"}}, accept{"aaa", "directory /e"}},
		{"back to an earlier revision", []accept{{"aaa", "o"}, {"bbb", "o"}, {"aaa", "o"}}, accept{"aaa", "o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := New(reg, "dev")
			now := time.Unix(1_700_000_000, 0)
			for i, a := range tt.accepts {
				m.DesiredAccepted(a.revision, a.origin, now.Add(time.Duration(i)*time.Minute))
			}
			got := keys(gather(t, reg)["gitfleet_desired_revision_info"])
			want := []string{sample{labels: l("revision", tt.want.revision, "origin", tt.want.origin)}.key()}
			if !slices.Equal(got, want) {
				t.Errorf("gitfleet_desired_revision_info series %v, want only %v", got, want)
			}
			wantValue(t, reg, "gitfleet_desired_revision_info", l("revision", tt.want.revision, "origin", tt.want.origin), 1)
			wantValue(t, reg, "gitfleet_desired_state_valid", nil, 1)
			last := now.Add(time.Duration(len(tt.accepts)-1) * time.Minute)
			wantValue(t, reg, "gitfleet_source_last_success_timestamp_seconds", nil, float64(last.Unix()))
		})
	}
}

func TestSourceFailed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	t0 := time.Unix(1_700_000_000, 0)
	m.DesiredAccepted("aaa", "o", t0)

	m.SourceFailed(ReasonRead)
	m.SourceFailed(ReasonInvalid)
	m.SourceFailed(ReasonInvalid)
	wantValue(t, reg, "gitfleet_desired_state_valid", nil, 0)
	wantValue(t, reg, "gitfleet_source_errors_total", l("reason", ReasonRead), 1)
	wantValue(t, reg, "gitfleet_source_errors_total", l("reason", ReasonInvalid), 2)
	// The last good state stays in force, and says so.
	wantValue(t, reg, "gitfleet_desired_revision_info", l("revision", "aaa", "origin", "o"), 1)
	wantValue(t, reg, "gitfleet_source_last_success_timestamp_seconds", nil, float64(t0.Unix()))

	m.DesiredAccepted("bbb", "o", t0.Add(time.Minute))
	wantValue(t, reg, "gitfleet_desired_state_valid", nil, 1)
	wantValue(t, reg, "gitfleet_source_errors_total", l("reason", ReasonInvalid), 2)
}

func TestReconcileDone(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	t0 := time.Unix(1_700_000_000, 0)

	m.ReconcileDone(200*time.Millisecond, t0)
	m.ReconcileDone(3*time.Second, t0.Add(time.Minute), ReasonUnreachable, ReasonRollout)
	m.ReconcileDone(time.Second, t0.Add(2*time.Minute), ReasonUnreachable)

	wantValue(t, reg, "gitfleet_reconcile_duration_seconds", nil, 3) // sample count
	if got, want := testutil.ToFloat64(m.reconcileErrors.WithLabelValues(ReasonUnreachable)), 2.0; got != want {
		t.Errorf("unreachable errors %v, want %v", got, want)
	}
	wantValue(t, reg, "gitfleet_reconcile_errors_total", l("reason", ReasonRollout), 1)
	// Only the pass without errors counts as a success.
	wantValue(t, reg, "gitfleet_reconcile_last_success_timestamp_seconds", nil, float64(t0.Unix()))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gitfleet_reconcile_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if got, want := h.GetSampleSum(), 4.2; got < want-1e-9 || got > want+1e-9 {
			t.Errorf("duration sum %v s, want %v s", got, want)
		}
	}
}

func TestRolloutsInProgress(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	steps := []struct {
		name string
		do   func()
		want float64
	}{
		{"first started", m.RolloutStarted, 1},
		{"second started", m.RolloutStarted, 2},
		{"first done", func() { m.RolloutDone("prod", "web", "success") }, 1},
		{"second done", func() { m.RolloutDone("staging", "web", "failure") }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := testutil.ToFloat64(m.rolloutsInProgress); got != s.want {
			t.Errorf("after %s: gitfleet_rollouts_in_progress = %v, want %v", s.name, got, s.want)
		}
	}
	wantValue(t, reg, "gitfleet_deployments_total", l("environment", "prod", "app", "web", "result", "success"), 1)
	wantValue(t, reg, "gitfleet_deployments_total", l("environment", "staging", "app", "web", "result", "failure"), 1)
}

func TestServerStep(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	m.ServerStep("prod", "web", "stage", true)
	m.ServerStep("prod", "web", "stage", true)
	m.ServerStep("prod", "web", "activate", false)
	wantValue(t, reg, "gitfleet_server_steps_total", l("environment", "prod", "app", "web", "step", "stage", "result", "success"), 2)
	wantValue(t, reg, "gitfleet_server_steps_total", l("environment", "prod", "app", "web", "step", "activate", "result", "failure"), 1)
	if n := testutil.CollectAndCount(reg, "gitfleet_server_steps_total"); n != 2 {
		t.Errorf("%d server step series, want 2", n)
	}
}

// pairs lists the environment/app pairs that have series in family name.
func pairs(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range gather(t, reg)[name] {
		seen[s.labels["environment"]+"/"+s.labels["app"]] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestSetServersDeletesPairsNoLongerListed(t *testing.T) {
	app := func(env, name string, inSync int) AppServers {
		return AppServers{Environment: env, App: name, Counts: map[string]int{"in-sync": inSync, "out-of-sync": 1}}
	}
	all := []AppServers{app("prod", "web", 4), app("prod", "api", 2), app("staging", "api", 1), app("staging", "web", 1)}
	tests := []struct {
		name string
		next []AppServers
		want []string // pairs left, in every per-app family
	}{
		{"all kept", all, []string{"prod/api", "prod/web", "staging/api", "staging/web"}},
		{"one app of one environment goes", []AppServers{all[0], all[2], all[3]}, []string{"prod/web", "staging/api", "staging/web"}},
		{"an environment goes", []AppServers{all[0], all[1]}, []string{"prod/api", "prod/web"}},
		{"an app goes everywhere", []AppServers{all[0], all[3]}, []string{"prod/web", "staging/web"}},
		{"everything goes", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := New(reg, "dev")
			m.SetServers(states, all)
			for _, a := range all {
				m.RolloutStarted()
				m.RolloutDone(a.Environment, a.App, "success")
				m.ServerStep(a.Environment, a.App, "activate", true)
			}
			m.SetServers(states, tt.next)

			for _, name := range []string{"gitfleet_servers", "gitfleet_deployments_total", "gitfleet_server_steps_total"} {
				if got := pairs(t, reg, name); !slices.Equal(got, tt.want) {
					t.Errorf("%s: series for %v, want %v", name, got, tt.want)
				}
			}
			if got, want := testutil.CollectAndCount(reg, "gitfleet_servers"), len(tt.want)*len(states); got != want {
				t.Errorf("gitfleet_servers: %d series, want %d (%d pairs × %d states)", got, want, len(tt.want), len(states))
			}
			// What is kept keeps its value: counters are not reset.
			for _, a := range tt.next {
				wantValue(t, reg, "gitfleet_deployments_total", l("environment", a.Environment, "app", a.App, "result", "success"), 1)
				wantValue(t, reg, "gitfleet_servers", l("environment", a.Environment, "app", a.App, "state", "in-sync"), float64(a.Counts["in-sync"]))
			}
		})
	}
}

func TestSetServersSetsEveryState(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	m.SetServers(states, []AppServers{{Environment: "prod", App: "web", Counts: map[string]int{"in-sync": 3, "unreachable": 1}}})
	want := map[string]float64{"in-sync": 3, "staged": 0, "out-of-sync": 0, "unreachable": 1}
	for s, v := range want {
		wantValue(t, reg, "gitfleet_servers", l("environment", "prod", "app", "web", "state", s), v)
	}

	// Counts go down as well as up; a state missing from Counts is 0.
	m.SetServers(states, []AppServers{{Environment: "prod", App: "web", Counts: map[string]int{"in-sync": 4}}})
	wantValue(t, reg, "gitfleet_servers", l("environment", "prod", "app", "web", "state", "in-sync"), 4)
	wantValue(t, reg, "gitfleet_servers", l("environment", "prod", "app", "web", "state", "unreachable"), 0)
}

// TestSetServersPairComesBack checks that a pair that left and came back
// starts its counters afresh instead of resurrecting old values.
func TestSetServersPairComesBack(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	web := AppServers{Environment: "prod", App: "web", Counts: map[string]int{"in-sync": 1}}
	m.SetServers(states, []AppServers{web})
	m.RolloutStarted()
	m.RolloutDone("prod", "web", "success")
	m.SetServers(states, nil)
	m.SetServers(states, []AppServers{web})
	if _, ok := value(t, reg, "gitfleet_deployments_total", l("environment", "prod", "app", "web", "result", "success")); ok {
		t.Errorf("gitfleet_deployments_total for prod/web survived the app leaving and coming back")
	}
	m.RolloutStarted()
	m.RolloutDone("prod", "web", "success")
	wantValue(t, reg, "gitfleet_deployments_total", l("environment", "prod", "app", "web", "result", "success"), 1)
}

// TestTwoInstancesDoNotConflict checks that nothing is global: two daemons'
// worth of metrics live side by side on their own registries.
func TestTwoInstancesDoNotConflict(t *testing.T) {
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	var a, b *Metrics
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("New on a second registry panicked: %v", r)
			}
		}()
		a = New(regA, "a")
		b = New(regB, "b")
	}()
	a.DesiredAccepted("aaa", "o", time.Unix(1, 0))
	a.RolloutStarted()
	b.SourceFailed(ReasonRead)

	wantValue(t, regA, "gitfleet_desired_state_valid", nil, 1)
	wantValue(t, regB, "gitfleet_desired_state_valid", nil, 0)
	wantValue(t, regA, "gitfleet_rollouts_in_progress", nil, 1)
	wantValue(t, regB, "gitfleet_rollouts_in_progress", nil, 0)
	wantValue(t, regA, "gitfleet_source_errors_total", l("reason", ReasonRead), 0)
	wantValue(t, regB, "gitfleet_source_errors_total", l("reason", ReasonRead), 1)
	if n := testutil.CollectAndCount(regB, "gitfleet_desired_revision_info"); n != 0 {
		t.Errorf("registry B has %d revision series from A's DesiredAccepted, want 0", n)
	}
	wantValue(t, regB, "gitfleet_build_info", l("version", "b", "goversion", runtime.Version()), 1)

	// The same registry twice is a programming error, and says so.
	defer func() {
		if recover() == nil {
			t.Error("New twice on one registry did not panic")
		}
	}()
	New(regA, "again")
}

// TestConcurrentUse runs every method from many goroutines, as the control
// loop does with one goroutine per environment; run with -race.
func TestConcurrentUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "dev")
	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		env := fmt.Sprintf("env-%d", i%4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				m.RolloutStarted()
				m.ServerStep(env, "web", "stage", j%2 == 0)
				m.RolloutDone(env, "web", "success")
				m.DesiredAccepted(fmt.Sprintf("rev-%d", j%3), "o", now)
				m.SetServers(states, []AppServers{{Environment: env, App: "web", Counts: map[string]int{"in-sync": j}}})
				m.ReconcileDone(time.Millisecond, now)
			}
		}()
	}
	wg.Wait()
	wantValue(t, reg, "gitfleet_rollouts_in_progress", nil, 0)
	if n := testutil.CollectAndCount(reg, "gitfleet_desired_revision_info"); n != 1 {
		t.Errorf("%d gitfleet_desired_revision_info series after concurrent accepts, want 1", n)
	}
}

func TestSourceRevisionKeepsOneSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.SourceRevision("https://h/f.git", "main", "aaaa", time.Unix(100, 0))
	m.SourceRevision("https://h/f.git", "main", "bbbb", time.Unix(200, 0))
	if n := testutil.CollectAndCount(m.sourceRevision); n != 1 {
		t.Fatalf("got %d gitfleet_source_revision_info series, want 1", n)
	}
	if got := testutil.ToFloat64(m.sourceRevision.WithLabelValues("https://h/f.git", "main", "bbbb")); got != 1 {
		t.Errorf("latest revision series = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.sourceLastSuccess); got != 200 {
		t.Errorf("last success = %v, want 200 (moves with every successful poll)", got)
	}
}

func TestSetDriftDeletesWhatIsGone(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1")
	now := time.Unix(1_700_000_000, 0)
	m.SetDrift(now, []DriftServer{
		{Environment: "prod", App: "web", Server: "a", Kind: "content", Since: now.Add(-time.Hour)},
		{Environment: "prod", App: "web", Server: "b", Kind: "version", Since: now.Add(-time.Minute)},
	}, []PendingLane{{Environment: "prod", Lane: "files", N: 2}})
	if n := testutil.CollectAndCount(reg, "gitfleet_drift_info"); n != 2 {
		t.Fatalf("%d info series, want 2", n)
	}
	if v := testutil.ToFloat64(m.driftAge.WithLabelValues("prod", "web")); v != 3600 {
		t.Errorf("drift age %v, want 3600 (the oldest)", v)
	}
	m.SetDrift(now, []DriftServer{{Environment: "prod", App: "web", Server: "b", Kind: "version", Since: now.Add(-time.Minute)}}, nil)
	if n := testutil.CollectAndCount(reg, "gitfleet_drift_info"); n != 1 {
		t.Errorf("%d info series after a healed, want 1", n)
	}
	if n := testutil.CollectAndCount(reg, "gitfleet_pending_changes"); n != 0 {
		t.Errorf("%d pending series after nothing is pending, want 0", n)
	}
	m.SetDrift(now, nil, nil)
	for _, name := range []string{"gitfleet_drift_info", "gitfleet_drift_servers", "gitfleet_drift_age_seconds"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s: %d series with no drift, want 0", name, n)
		}
	}
}

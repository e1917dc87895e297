package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/lb"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/store"
	"github.com/gitfleet/gitfleet/transport/local"
	"github.com/gitfleet/gitfleet/tree"
	"github.com/prometheus/client_golang/prometheus"
)

// option changes what a test controller is built with.
type option func(*Config, *Deps)

func withResync(d time.Duration) option { return func(c *Config, _ *Deps) { c.Resync = d } }

func withContentInterval(d time.Duration) option {
	return func(c *Config, _ *Deps) { c.ContentInterval = d }
}

func withManagedFile(p string) option { return func(c *Config, _ *Deps) { c.ManagedFile = p } }

func withAllowEmpty() option { return func(c *Config, _ *Deps) { c.Spec.AllowEmpty = true } }

func withArtifacts(a resolve.ArtifactFetcher) option {
	return func(_ *Config, d *Deps) { d.Artifacts = a }
}

func withDB(db Database) option {
	return func(_ *Config, d *Deps) { d.DBs = func(string) (Database, error) { return db, nil } }
}

func withLog(log *slog.Logger) option { return func(_ *Config, d *Deps) { d.Log = log } }

func withServers(x Executor) option { return func(_ *Config, d *Deps) { d.Servers = x } }

func withHistory(h History) option { return func(_ *Config, d *Deps) { d.History = h } }

func withFailures(f *Failures) option { return func(_ *Config, d *Deps) { d.Failures = f } }

// newController is a daemon over a local fleet directory, with managed
// files allowed below /srv/etc.
func newController(t testing.TB, fleet string, opts ...option) (*Controller, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	failures, _ := OpenFailures("")
	cfg := Config{
		Resync: time.Hour, ObserveParallelism: 4, ObserveTimeout: 5 * time.Second, StageParallelism: 2, StageTimeout: time.Minute,
		Spec: spec.Options{Roots: []string{"/srv/etc"}},
	}
	deps := Deps{
		Servers:   &executor.Executor{T: &local.Local{Root: fleet}, ConfigRoots: []string{"/srv/etc"}},
		LBs:       func(env *spec.Environment) (rollout.Balancer, error) { return lb.New(env.LoadBalancer) },
		DBs:       func(target string) (Database, error) { return nil, errors.New("no databases configured") },
		Artifacts: noArtifacts{},
		Metrics:   metrics.New(reg, "test"),
		History:   &memHistory{},
		Notifier:  &notify.Notifier{},
		Failures:  failures,
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Now:       time.Now,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	c, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// preview is the plan the controller's next pass would carry out.
func preview(c *Controller) *plan.Plan {
	return c.Preview(context.Background(), c.Desired())
}

// noArtifacts fetches no Git artifact.
type noArtifacts struct{}

func (noArtifacts) Artifact(context.Context, string, string, string) (*tree.Tree, string, error) {
	return nil, "", errors.New("no Git artifacts in this test")
}

// memHistory keeps the events recorded.
type memHistory struct {
	mu     sync.Mutex
	events []store.Event
}

func (h *memHistory) Record(e store.Event) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
	return uint64(len(h.events)), nil
}

func (h *memHistory) Events() []store.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]store.Event(nil), h.events...)
}

// hooked passes every server step to Executor after hook, which may fail
// it (or panic in it).
type hooked struct {
	Executor
	hook func(call string) error
}

func (h *hooked) call(call string) error {
	if h.hook == nil {
		return nil
	}
	return h.hook(call)
}

func (h *hooked) Stage(ctx context.Context, r fleet.Request) error {
	if err := h.call("stage " + r.Server.Name); err != nil {
		return err
	}
	return h.Executor.Stage(ctx, r)
}

func (h *hooked) Activate(ctx context.Context, r fleet.Request) error {
	if err := h.call("activate " + r.Server.Name); err != nil {
		return err
	}
	return h.Executor.Activate(ctx, r)
}

// counterValue is the value of a counter with the given reason label.
func counterValue(reg *prometheus.Registry, name, reason string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// TestNewRefusesMissingDependencies: a controller without one of its
// dependencies is refused when it is made, naming what is missing, instead
// of a nil that panics in the middle of a pass.
func TestNewRefusesMissingDependencies(t *testing.T) {
	c, _ := newController(t, t.TempDir())
	deps := c.deps
	deps.LBs, deps.History, deps.Now = nil, nil, nil
	if _, err := New(c.cfg, deps); err == nil || !strings.Contains(err.Error(), "missing dependencies: [History LBs Now]") {
		t.Errorf("got %v, want the missing dependencies named", err)
	}
	cfg := c.cfg
	cfg.StageTimeout = 0
	if _, err := New(cfg, c.deps); err == nil || !strings.Contains(err.Error(), "StageTimeout") {
		t.Errorf("zero stage timeout: got %v, want it refused", err)
	}
}

package rollout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// executor is everything a rollout calls on servers.
type executor interface {
	Servers
	ConfigApplier
	CommandRunner
}

// recorder is an executor that records every call and passes it to next
// when next is set; otherwise every step succeeds after hook.
type recorder struct {
	next executor

	mu       sync.Mutex
	calls    []string // "stage s1", "activate s2"
	inFlight int
	maxIn    int
	// fail makes a step fail: key "stage s1".
	fail map[string]error
	// hook runs inside every call, outside the lock.
	hook func(call string)
}

func (r *recorder) step(ctx context.Context, call string, real func() error) error {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.inFlight++
	r.maxIn = max(r.maxIn, r.inFlight)
	err := r.fail[call]
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if r.hook != nil {
		r.hook(call)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if r.next != nil {
		return real()
	}
	return nil
}

// Calls returns the calls so far.
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Stage(ctx context.Context, req fleet.Request) error {
	return r.step(ctx, "stage "+req.Server.Name, func() error { return r.next.Stage(ctx, req) })
}

func (r *recorder) Activate(ctx context.Context, req fleet.Request) error {
	return r.step(ctx, "activate "+req.Server.Name, func() error { return r.next.Activate(ctx, req) })
}

func (r *recorder) Heal(ctx context.Context, req fleet.Request, paths []string) error {
	return r.step(ctx, "heal "+req.Server.Name, func() error { return r.next.Heal(ctx, req, paths) })
}

func (r *recorder) Check(ctx context.Context, req fleet.Request) error {
	return r.step(ctx, "check "+req.Server.Name, func() error { return r.next.Check(ctx, req) })
}

func (r *recorder) RollBack(ctx context.Context, req fleet.Request, to, reason string) error {
	return r.step(ctx, "rollback "+req.Server.Name, func() error { return r.next.RollBack(ctx, req, to, reason) })
}

func (r *recorder) MarkRolloutFailed(ctx context.Context, req fleet.Request, reason string) error {
	return r.step(ctx, "markfailed "+req.Server.Name, func() error { return r.next.MarkRolloutFailed(ctx, req, reason) })
}

func (r *recorder) ApplyConfig(ctx context.Context, req fleet.ConfigRequest) error {
	return r.step(ctx, "apply "+req.Server.Name, func() error { return r.next.ApplyConfig(ctx, req) })
}

func (r *recorder) RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error) {
	var out []byte
	err := r.step(ctx, "command "+srv.Name, func() error {
		var err error
		out, err = r.next.RunCommand(ctx, srv, env, command)
		return err
	})
	return out, err
}

// fakeLB is a load balancer in memory: servers set ready come up unless
// they are down; fail makes a call fail ("read", "drain a1", "ready b2").
type fakeLB struct {
	mu      sync.Mutex
	servers map[string]fleet.LBServer
	down    map[string]bool
	fail    map[string]error
	calls   []string
}

func newFakeLB(admin map[string]fleet.LBAdmin) *fakeLB {
	lb := &fakeLB{servers: map[string]fleet.LBServer{}, down: map[string]bool{}, fail: map[string]error{}}
	for name, a := range admin {
		lb.servers[name] = fleet.LBServer{Admin: a, Up: a == fleet.LBReady}
	}
	return lb
}

func (l *fakeLB) Servers(context.Context) (map[string]fleet.LBServer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.fail["read"]; err != nil {
		return nil, err
	}
	out := make(map[string]fleet.LBServer, len(l.servers))
	for k, v := range l.servers {
		out[k] = v
	}
	return out, nil
}

func (l *fakeLB) Set(_ context.Context, server string, state fleet.LBAdmin) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	call := string(state) + " " + server
	l.calls = append(l.calls, call)
	if err := l.fail[call]; err != nil {
		return err
	}
	l.servers[server] = fleet.LBServer{Admin: state, Up: state == fleet.LBReady && !l.down[server]}
	return nil
}

// states is the admin state of every server, "a1=ready ...", sorted.
func (l *fakeLB) states() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, v := range l.servers {
		out = append(out, k+"="+string(v.Admin))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// lbMetrics counts load-balancer errors by environment and operation.
type lbMetrics struct {
	mu     sync.Mutex
	errors map[string]int
}

func (m *lbMetrics) LBError(env, op string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.errors == nil {
		m.errors = map[string]int{}
	}
	m.errors[env+" "+op]++
}

func (m *lbMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.errors[key]
}

// testRollout is a rollout over x, with lb as every environment's load
// balancer (none when nil).
func testRollout(t testing.TB, x executor, lb *fakeLB) (*Rollout, *lbMetrics) {
	m := &lbMetrics{}
	var w io.Writer = io.Discard
	if t != nil {
		w = testWriter{t}
	}
	ro := &Rollout{Servers: x, Config: x, Commands: x, Metrics: m, Log: slog.New(slog.NewTextHandler(w, nil)),
		StageParallelism: 3, StageTimeout: time.Minute, Now: time.Now,
		LBs: func(*spec.Environment) (Balancer, error) {
			if lb == nil {
				return nil, fmt.Errorf("no load balancer in this test")
			}
			return lb, nil
		},
		DBs: func(string) (Database, error) { return nil, fmt.Errorf("no database in this test") },
	}
	if err := ro.Check(); err != nil {
		panic(err)
	}
	return ro, m
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

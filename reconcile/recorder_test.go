package reconcile

import (
	"context"
	"fmt"
	"sync"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/spec"
)

// recorder is an Executor that records every call and passes it to next
// when next is set; otherwise stage and activate succeed after hook.
type recorder struct {
	next Executor

	mu       sync.Mutex
	calls    []string // "stage s1", "activate s2"
	inFlight int
	maxIn    int
	// fail makes a step fail: key "stage s1".
	fail map[string]error
	// hook runs inside every stage or activate call, outside the lock.
	hook func(call string)
}

func (r *recorder) Observe(ctx context.Context, srv *spec.Server, apps []*spec.App) fleet.ServerState {
	if r.next != nil {
		return r.next.Observe(ctx, srv, apps)
	}
	return fleet.ServerState{Server: srv.Name, Apps: map[string]*fleet.AppState{}}
}

func (r *recorder) step(ctx context.Context, kind string, req fleet.Request, real func(context.Context, fleet.Request) error) error {
	call := kind + " " + req.Server.Name
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.inFlight++
	if r.inFlight > r.maxIn {
		r.maxIn = r.inFlight
	}
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
		return real(ctx, req)
	}
	return nil
}

func (r *recorder) Stage(ctx context.Context, req fleet.Request) error {
	var real func(context.Context, fleet.Request) error
	if r.next != nil {
		real = r.next.Stage
	}
	return r.step(ctx, "stage", req, real)
}

func (r *recorder) Activate(ctx context.Context, req fleet.Request) error {
	var real func(context.Context, fleet.Request) error
	if r.next != nil {
		real = r.next.Activate
	}
	return r.step(ctx, "activate", req, real)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Check(ctx context.Context, req fleet.Request) error {
	var real func(context.Context, fleet.Request) error
	if r.next != nil {
		real = r.next.Check
	}
	return r.step(ctx, "check", req, real)
}

func (r *recorder) RollBack(ctx context.Context, req fleet.Request, to, reason string) error {
	real := func(ctx context.Context, req fleet.Request) error { return r.next.RollBack(ctx, req, to, reason) }
	if r.next == nil {
		real = nil
	}
	return r.step(ctx, "rollback", req, real)
}

func (r *recorder) MarkRolloutFailed(ctx context.Context, req fleet.Request, reason string) error {
	real := func(ctx context.Context, req fleet.Request) error {
		return r.next.MarkRolloutFailed(ctx, req, reason)
	}
	if r.next == nil {
		real = nil
	}
	return r.step(ctx, "markfailed", req, real)
}

func (r *recorder) ObserveConfig(ctx context.Context, srv *spec.Server, paths []string) (map[string]fleet.FileState, error) {
	if r.next != nil {
		return r.next.ObserveConfig(ctx, srv, paths)
	}
	return map[string]fleet.FileState{}, nil
}

func (r *recorder) ApplyConfig(ctx context.Context, req fleet.ConfigRequest) error {
	real := func(ctx context.Context, _ fleet.Request) error { return r.next.ApplyConfig(ctx, req) }
	if r.next == nil {
		real = nil
	}
	return r.step(ctx, "apply", fleet.Request{Server: req.Server}, real)
}

func (r *recorder) RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error) {
	if r.next != nil {
		return r.next.RunCommand(ctx, srv, env, command)
	}
	return nil, nil
}

func (r *recorder) Verify(ctx context.Context, srv *spec.Server, app *spec.App, rel fleet.Release) ([]string, error) {
	if r.next != nil {
		return r.next.Verify(ctx, srv, app, rel)
	}
	return nil, nil
}

func (r *recorder) Heal(ctx context.Context, req fleet.Request, paths []string) error {
	real := func(ctx context.Context, req fleet.Request) error { return r.next.Heal(ctx, req, paths) }
	if r.next == nil {
		real = nil
	}
	return r.step(ctx, "heal", req, real)
}

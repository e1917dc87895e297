package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/store"
)

// The kinds of operation.
const (
	// OpRollback switches a parallel release back to its idle group.
	OpRollback = "rollback"
	// OpRetry forgets the failures recorded on the servers of a release,
	// so that the next pass tries it again.
	OpRetry = "retry"
)

// Operation is a change to the fleet someone asked for (through the API,
// or a one-shot command holding the daemon's lock). It is carried out by
// the controller between passes: one writer at a time.
type Operation struct {
	ID          uint64 `json:"id"`
	Kind        string `json:"kind"`
	Environment string `json:"environment"`
	App         string `json:"app"`
	// By names who asked: the API token's name, or "local" for a
	// one-shot command.
	By        string    `json:"by"`
	Requested time.Time `json:"requested"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// State is queued, running, done or failed.
	State  string `json:"state"`
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// The states of an operation.
const (
	OpQueued  = "queued"
	OpRunning = "running"
	OpDone    = "done"
	OpFailed  = "failed"
)

// Bounds of the operations kept: waiting, and remembered once over.
const (
	maxQueuedOps = 16
	maxKeptOps   = 100
)

// ErrBusy is returned when too many operations wait already.
var ErrBusy = errors.New("too many operations are waiting; try again later")

type opsState struct {
	opMu  sync.Mutex
	next  uint64
	byID  map[uint64]*Operation
	order []uint64
}

// Submit queues an operation for the running controller and returns it as
// queued. An unknown kind, environment or app is refused at once.
func (c *Controller) Submit(kind, env, app, by string) (Operation, error) {
	if err := c.checkOp(kind, env, app); err != nil {
		return Operation{}, err
	}
	op := c.newOp(kind, env, app, by)
	select {
	case c.ops <- op:
	default:
		c.setOp(op, func(o *Operation) { o.State, o.Error = OpFailed, ErrBusy.Error() })
		return Operation{}, ErrBusy
	}
	return c.Operation(op.ID)
}

// Do carries out an operation at once, serialized with passes, and
// returns it done or failed: the one-shot mode of a command that holds
// the daemon's lock.
func (c *Controller) Do(ctx context.Context, kind, env, app, by string) (Operation, error) {
	if err := c.checkOp(kind, env, app); err != nil {
		return Operation{}, err
	}
	op := c.newOp(kind, env, app, by)
	c.runOp(ctx, ctx, op)
	return c.Operation(op.ID)
}

// Operation returns a copy of an operation kept, by ID.
func (c *Controller) Operation(id uint64) (Operation, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	op, ok := c.byID[id]
	if !ok {
		return Operation{}, fmt.Errorf("no operation %d (at most %d are kept)", id, maxKeptOps)
	}
	return *op, nil
}

func (c *Controller) checkOp(kind, env, app string) error {
	if kind != OpRollback && kind != OpRetry {
		return fmt.Errorf("unknown operation %q", kind)
	}
	d := c.Desired()
	if d == nil {
		return errors.New("no desired state is in force yet")
	}
	if d.Spec.Environment(env) == nil || d.Spec.App(app) == nil {
		return fmt.Errorf("no Release of app %q in environment %q", app, env)
	}
	if _, ok := d.Releases[spec.Key{Environment: env, App: app}]; !ok {
		return fmt.Errorf("no Release of app %q in environment %q", app, env)
	}
	return nil
}

func (c *Controller) newOp(kind, env, app, by string) *Operation {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.byID == nil {
		c.byID = map[uint64]*Operation{}
	}
	c.next++
	op := &Operation{ID: c.next, Kind: kind, Environment: env, App: app, By: by, Requested: c.deps.Now(), State: OpQueued}
	c.byID[op.ID] = op
	c.order = append(c.order, op.ID)
	if len(c.order) > maxKeptOps {
		delete(c.byID, c.order[0])
		c.order = c.order[1:]
	}
	return op
}

func (c *Controller) setOp(op *Operation, f func(o *Operation)) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	f(op)
}

// drainOps fails the operations still queued.
func (c *Controller) drainOps(why error) {
	for {
		select {
		case op := <-c.ops:
			c.setOp(op, func(o *Operation) { o.State, o.Error, o.Finished = OpFailed, why.Error(), c.deps.Now() })
		default:
			return
		}
	}
}

// runOp carries out an operation, holding the lock passes hold, and
// records it in the log and the history with who asked for it.
func (c *Controller) runOp(ctx, stop context.Context, op *Operation) {
	c.work.Lock()
	defer c.work.Unlock()
	c.setOp(op, func(o *Operation) { o.State, o.Started = OpRunning, c.deps.Now() })
	log := c.log.With("operation", op.Kind, "id", op.ID, "environment", op.Environment, "app", op.App, "token", op.By)
	log.Info("operation started")
	var result string
	var err error
	var servers []string
	switch op.Kind {
	case OpRollback:
		result, servers, err = c.rollback(ctx, op)
	case OpRetry:
		result, servers, err = c.retry(ctx, op)
	}
	now := c.deps.Now()
	c.setOp(op, func(o *Operation) {
		o.Finished, o.Result, o.State = now, result, OpDone
		if err != nil {
			o.State, o.Error = OpFailed, err.Error()
		}
	})
	e := store.Event{Kind: op.Kind, Environment: op.Environment, App: op.App, What: result, By: op.By,
		Servers: servers, Start: op.Started, End: now, Result: "success"}
	if d := c.Desired(); d != nil {
		e.Revision = d.Revision
	}
	if err != nil {
		e.Result, e.Error = "failure", err.Error()
		log.Error("operation failed", "err", err)
	} else {
		log.Info("operation done", "result", result)
	}
	c.deps.Metrics.OperationDone(op.Kind, err == nil)
	if _, herr := c.deps.History.Record(e); herr != nil {
		c.log.Warn("cannot record the history", "err", herr)
	}
	if stop.Err() == nil {
		c.Trigger()
	}
}

// rollback observes the release's servers and load balancer and switches
// it back (plan.PlanRollback, rollout.Rollback).
func (c *Controller) rollback(ctx context.Context, op *Operation) (string, []string, error) {
	d := c.Desired()
	obs := &plan.Observed{Servers: c.observeServers(ctx, d.Spec), LB: c.observeLBs(ctx, d.Spec)}
	rb, err := plan.PlanRollback(d, obs, op.Environment, op.App, c.deps.Now())
	if err != nil {
		return "", nil, err
	}
	rb.Reason += " (asked by " + op.By + ")"
	if err := c.ro.Rollback(ctx, rb); err != nil {
		return "", rb.Back, err
	}
	return fmt.Sprintf("group %s live on %s, group %s out and held", rb.To, rb.Holds, rb.From), rb.Back, nil
}

// retry forgets the failures recorded on the servers of the release, so
// that the next pass tries it again.
func (c *Controller) retry(ctx context.Context, op *Operation) (string, []string, error) {
	d := c.Desired()
	env, app := d.Spec.Environment(op.Environment), d.Spec.App(op.App)
	cleared := 0
	var errs []error
	var servers []string
	for _, srv := range spec.Targets(env, app) {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
		ok, err := c.deps.Servers.ClearFailed(sctx, srv, app)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", srv.Name, err))
		case ok:
			cleared++
			servers = append(servers, srv.Name)
		}
	}
	result := fmt.Sprintf("recorded failures cleared on %d servers", cleared)
	if len(errs) > 0 {
		return result, servers, fmt.Errorf("%d servers could not be cleared: %w", len(errs), errors.Join(errs...))
	}
	return result, servers, nil
}

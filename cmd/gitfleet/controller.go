package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/lb"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/store"
)

// controllerParts are what a controller is built with beyond gitfleet.yaml:
// what differs between the daemon, a one-shot command and `gitfleet plan`.
type controllerParts struct {
	log      *slog.Logger
	metrics  *metrics.Metrics
	history  reconcile.History
	notifier reconcile.Notifier
	failures *reconcile.Failures
	// artifacts is where Git artifacts are fetched to; readOnly keeps
	// known_hosts of Git remotes unwritten.
	artifacts string
	readOnly  bool
}

// newController builds the controller of gitfleet.yaml: the same for the
// daemon, a one-shot command and `gitfleet plan`, so that they plan alike.
func newController(c *config.Config, p controllerParts) (*reconcile.Controller, error) {
	x, err := newExecutor(c)
	if err != nil {
		return nil, err
	}
	dbs, err := databases(c)
	if err != nil {
		return nil, err
	}
	cfg := reconcile.Config{
		Resync:             c.Resync,
		ObserveParallelism: c.Observe.Parallelism,
		ObserveTimeout:     c.Observe.Timeout,
		StageParallelism:   c.Distribution.Parallelism,
		StageTimeout:       c.Distribution.Timeout,
		ContentInterval:    c.Drift.ContentInterval,
		Spec:               specOptions(c),
		ManagedFile:        filepath.Join(c.StateDir, managedFile),
	}
	deps := reconcile.Deps{
		Servers:   x,
		LBs:       func(env *spec.Environment) (rollout.Balancer, error) { return lb.New(env.LoadBalancer) },
		DBs:       dbs,
		Artifacts: gitArtifacts(c, p.artifacts, p.readOnly),
		Metrics:   p.metrics,
		History:   p.history,
		Notifier:  p.notifier,
		Failures:  p.failures,
		Log:       p.log,
		Now:       func() time.Time { return time.Now().UTC() },
	}
	ctl, err := reconcile.New(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.File, err)
	}
	return ctl, nil
}

// noHistory records nothing: `gitfleet plan` changes nothing to record.
type noHistory struct{}

func (noHistory) Record(store.Event) (uint64, error) { return 0, nil }

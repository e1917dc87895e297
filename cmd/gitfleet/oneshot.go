package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// localOperation carries out an operation here, as the daemon would,
// while no daemon runs: it holds the daemon's state directory lock (and
// is refused while a daemon holds it), reads the desired state the way
// the daemon does, and records the operation in the daemon's history,
// named "local".
func localOperation(ctx context.Context, cmd *cobra.Command, g *globalFlags, cfgFile, kind, env, app string) (reconcile.Operation, error) {
	log, err := g.logger(cmd.ErrOrStderr())
	if err != nil {
		return reconcile.Operation{}, err
	}
	c, err := config.Load(cfgFile)
	if err != nil {
		return reconcile.Operation{}, err
	}
	if err := os.MkdirAll(c.StateDir, 0o750); err != nil {
		return reconcile.Operation{}, fmt.Errorf("state directory: %w", err)
	}
	unlock, err := lockStateDir(c.StateDir)
	if err != nil {
		return reconcile.Operation{}, fmt.Errorf("--local: %w; without --local the running daemon is asked", err)
	}
	defer unlock()
	history, err := store.Open(filepath.Join(c.StateDir, "history.db"), store.Retention{MaxEvents: c.History.MaxEvents, MaxAge: c.History.MaxAge})
	if err != nil {
		return reconcile.Operation{}, err
	}
	defer history.Close()
	failures, err := reconcile.OpenFailures(filepath.Join(c.StateDir, failuresFile))
	if err != nil {
		log.Warn("the record of failed steps is unreadable; starting a new one", "err", err)
	}
	ctl, err := newController(c, controllerParts{log: log, metrics: metrics.New(prometheus.NewRegistry(), version), history: history,
		notifier: &notify.Notifier{Log: log}, failures: failures, artifacts: filepath.Join(c.StateDir, "artifacts")})
	if err != nil {
		return reconcile.Operation{}, err
	}
	src, git, err := newSource(c, "", nil, log, false)
	if err != nil {
		return reconcile.Operation{}, err
	}
	if git != nil {
		git.Dir = gitCacheDir(c) // the daemon's own: its lock is held here
	}
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return reconcile.Operation{}, err
	}
	if err := ctl.Accept(snap); err != nil {
		return reconcile.Operation{}, fmt.Errorf("desired state at %s cannot be put in force:\n%w", snap.Short(), err)
	}
	op, err := ctl.Do(ctx, kind, env, app, localTokenName)
	if err == nil && op.State == reconcile.OpFailed {
		err = fmt.Errorf("%s", op.Error)
	}
	return op, err
}

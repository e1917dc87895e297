package cluster

import (
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Hooks let the metrics package follow the replica without this package
// knowing Prometheus. A nil hook is a no-op. Hooks are called from the
// replica's goroutine and from callers of Check, State and Close: they
// must be safe for concurrent use, must not block and must not call back
// into the Replica.
type Hooks struct {
	// Owned is called with the number of environments this replica owns
	// each time it changes (gitfleet_cluster_environments_owned).
	Owned func(n int)
	// LeaseLost is called once for each lease this replica lost without
	// resigning it (gitfleet_cluster_lease_losses_total).
	LeaseLost func()
	// Refused is called when Check or a fenced write in etcd refuses a
	// stale token. Refusals by servers are counted by their caller.
	Refused func(env string)
	// Owners is called with every desired environment and the replica
	// that owns it ("" for none) each time one of them changes, as this
	// replica sees it: the owner info series, without ghosts.
	Owners func(owners map[string]string)
}

// Options are the optional parts of a Replica.
type Options struct {
	Logger *slog.Logger
	Hooks  Hooks
	// Now is the clock (default time.Now); timers use the real clock.
	Now func() time.Time
	// Client is an etcd client the caller owns and closes (tests, or
	// sharing one connection); nil makes one from the configuration.
	Client *clientv3.Client
	// HistoryLimit is the number of history entries kept per environment
	// (default 1000).
	HistoryLimit int
}

// Defaults of the options and bounds of the shared state.
const (
	DefaultHistoryLimit = 1000
	// MaxValue bounds one record (state, history entry, request).
	MaxValue = 64 << 10
	// MaxPending bounds the requests waiting for one environment's owner.
	MaxPending = 100
	// MaxEntries bounds the entries of one kind of state per environment.
	MaxEntries = 1000
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	h := &o.Hooks
	if h.Owned == nil {
		h.Owned = func(int) {}
	}
	if h.LeaseLost == nil {
		h.LeaseLost = func() {}
	}
	if h.Refused == nil {
		h.Refused = func(string) {}
	}
	if h.Owners == nil {
		h.Owners = func(map[string]string) {}
	}
	return o
}

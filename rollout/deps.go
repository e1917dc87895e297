package rollout

import (
	"context"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Servers carries out the server steps of the files lane;
// executor.Executor is the real one.
type Servers interface {
	// Stage distributes a release to a server.
	Stage(ctx context.Context, r fleet.Request) error
	// Activate switches a server to a staged release, runs its activation
	// and health check, and goes back to the previous release on failure.
	Activate(ctx context.Context, r fleet.Request) error
	// Heal puts the drifted files of the release back, then activates
	// it again.
	Heal(ctx context.Context, r fleet.Request, paths []string) error
	// Check health-checks the release a server is on, before it goes back
	// into its load balancer.
	Check(ctx context.Context, r fleet.Request) error
	// RollBack returns a server to the release to and holds r.Release.
	RollBack(ctx context.Context, r fleet.Request, to, reason string) error
	// MarkRolloutFailed holds r.Release at this revision on the server.
	MarkRolloutFailed(ctx context.Context, r fleet.Request, reason string) error
}

// ConfigApplier writes the managed files of the environment lane on a
// server and runs its onChange; executor.Executor is the real one.
type ConfigApplier interface {
	ApplyConfig(ctx context.Context, r fleet.ConfigRequest) error
}

// CommandRunner runs a command of the database lane on a server.
type CommandRunner interface {
	RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error)
}

// Balancer is an environment's load balancer; names are the servers'
// names there. The drivers of package lb are the real ones.
type Balancer interface {
	Servers(ctx context.Context) (map[string]fleet.LBServer, error)
	Set(ctx context.Context, server string, state fleet.LBAdmin) error
}

// BalancerFunc returns the load balancer of an environment.
type BalancerFunc func(env *spec.Environment) (Balancer, error)

// Database is a target of the database lane; db.Postgres is the real one.
type Database interface {
	Apply(ctx context.Context, ch fleet.DBChange) (skipped bool, err error)
	// ChangeTimeout bounds one change on it: its SQL, or its command on
	// a server.
	ChangeTimeout() time.Duration
}

// DatabaseFunc returns the database a Release names.
type DatabaseFunc func(target string) (Database, error)

// Metrics counts what the rollout cannot leave to its results.
type Metrics interface {
	// LBError counts a failed call to an environment's load balancer;
	// op is read, drain, maint or ready.
	LBError(environment, op string)
}

package plan

import (
	"time"

	"github.com/gitfleet/gitfleet/fleet"
)

// Observed is what the fleet held when it was looked at, by server name.
type Observed struct {
	Servers map[string]*fleet.ServerState
	// LB is what the load balancers said, by environment.
	LB map[string]*LBObservation
	// Config is what the managed files of the environment lane hold, by
	// server.
	Config map[string]*ConfigObservation
	// DB is what the databases of the database lane have applied, by
	// target name.
	DB map[string]*DBObservation
	// Content is the last content check of the active releases, by server
	// and app.
	Content map[string]map[string]*ContentCheck
}

// LBObservation is what an environment's load balancer said, by the
// servers' names there.
type LBObservation struct {
	Servers map[string]fleet.LBServer
	Err     error
}

// ConfigObservation is what the managed files of one server hold, and
// what the environment lane's records there say it applied
// (fleet.ConfigState).
type ConfigObservation struct {
	fleet.ConfigState
	Err error
}

// DBObservation is what a database says is applied: id → checksum.
type DBObservation struct {
	Applied map[string]string
	Err     error
}

// ContentCheck is the result of comparing a release's files on a server
// with the release.
type ContentCheck struct {
	Release string    `json:"release"`
	Differ  []string  `json:"differ,omitempty"`
	At      time.Time `json:"at"`
}

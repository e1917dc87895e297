package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/schedule"
	"go.yaml.in/yaml/v3"
)

// The kinds of document.
const (
	KindEnvironment = "Environment"
	KindApp         = "App"
	KindRelease     = "Release"
)

// Environment is a named set of servers that releases are deployed to.
type Environment struct {
	Kind        string   `yaml:"kind"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Servers     []Server `yaml:"servers"`
	// SSH holds defaults for the servers of the environment.
	SSH SSHDefaults `yaml:"ssh,omitempty"`
	// LoadBalancer takes servers out of traffic and puts them back, for
	// the rolling and parallel strategies.
	LoadBalancer *LoadBalancer `yaml:"loadBalancer,omitempty"`
	// Windows says when each lane may act: allow windows and freezes.
	Windows Windows `yaml:"windows,omitempty"`
	// Config is the environment lane: managed files and variables.
	Config *EnvConfig `yaml:"config,omitempty"`
	// OnDrift is what a server that drifted from the desired state gets:
	// heal (the default: the desired state is applied again) or alert
	// (reported only).
	OnDrift string `yaml:"onDrift,omitempty"`

	src    source
	render renderLimits // bounds of RenderConfig, from Load's Options
}

// SSHDefaults are the SSH user and port of an environment's servers, where
// a server does not say otherwise.
type SSHDefaults struct {
	User string `yaml:"user,omitempty"`
	Port int    `yaml:"port,omitempty"`
}

// Server is one machine of an Environment.
type Server struct {
	// Name identifies the server everywhere: plans, logs, metrics. It is
	// unique across the whole desired state.
	Name string `yaml:"name"`
	// Address is how the transport reaches it (host or host:port for SSH;
	// the name when empty); the local transport ignores it.
	Address string `yaml:"address,omitempty"`
	// User is the SSH user (default: the environment's, then the
	// transport's).
	User string `yaml:"user,omitempty"`
	// Groups select which apps run on the server (see App.Groups); the
	// groups blue and green are the two sets of the parallel strategy.
	Groups []string `yaml:"groups,omitempty"`
	// LBName is the server's name in the environment's load balancer
	// (default: Name).
	LBName string `yaml:"lbName,omitempty"`

	// Host and Port are Address resolved by Load: Port is 0 when neither
	// the address nor the environment names one.
	Host string `yaml:"-"`
	Port int    `yaml:"-"`
}

// Windows are the environment's deployment windows and freezes, per lane;
// a lane without any may act at any time. Outside its windows a lane
// still distributes (stages releases); it does not activate.
type Windows struct {
	Files       *schedule.Policy `yaml:"files,omitempty"`
	Database    *schedule.Policy `yaml:"database,omitempty"`
	Environment *schedule.Policy `yaml:"environment,omitempty"`
}

// For returns the policy of a lane ("files", "database", "environment");
// nil means any time.
func (w Windows) For(lane string) *schedule.Policy {
	switch lane {
	case "files":
		return w.Files
	case "database":
		return w.Database
	case "environment":
		return w.Environment
	}
	return nil
}

// The onDrift values.
const (
	DriftHeal  = "heal"
	DriftAlert = "alert"
)

// LB is the server's name in the load balancer.
func (s *Server) LB() string {
	if s.LBName != "" {
		return s.LBName
	}
	return s.Name
}

// The load balancer types.
const (
	LBHAProxy = "haproxy"
	LBCommand = "command"
)

// LoadBalancer is how an environment's servers are taken out of traffic
// and put back.
type LoadBalancer struct {
	// Type is haproxy or command.
	Type string `yaml:"type"`
	// Address is HAProxy's runtime API: a unix socket path or host:port.
	Address string `yaml:"address,omitempty"`
	// Backend is the HAProxy backend holding the servers.
	Backend string `yaml:"backend,omitempty"`
	// Timeout bounds each call to the load balancer (default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Drain, Ready and Maint are shell commands (type command) run on the
	// daemon's machine with GITFLEET_LB_SERVER set to the server's name in
	// the load balancer; Maint defaults to Drain.
	Drain string `yaml:"drain,omitempty"`
	Ready string `yaml:"ready,omitempty"`
	Maint string `yaml:"maint,omitempty"`
	// State prints one line per server: name, ready|drain|maint, and
	// optionally up|down and the current session count.
	State string `yaml:"state,omitempty"`
}

// InGroups reports whether the server belongs to any of groups; an empty
// list selects every server.
func (s *Server) InGroups(groups []string) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		for _, sg := range s.Groups {
			if g == sg {
				return true
			}
		}
	}
	return false
}

// App is something deployable: where its files come from, where they go on a
// server and how a new release is brought to life.
type App struct {
	Kind     string   `yaml:"kind"`
	Name     string   `yaml:"name"`
	Artifact Artifact `yaml:"artifact"`
	// DeployTo is the absolute directory on each server that holds
	// releases/, current and .gitfleet/.
	DeployTo string `yaml:"deployTo"`
	// Groups limits the app to servers of these groups; empty means all.
	Groups []string `yaml:"groups,omitempty"`
	// Activate is a shell command run on the server after current has been
	// switched, in the new release's directory.
	Activate string `yaml:"activate,omitempty"`
	// ActivateTimeout bounds Activate (default 60s).
	ActivateTimeout time.Duration `yaml:"activateTimeout,omitempty"`
	Health          *Health       `yaml:"health,omitempty"`
	// KeepReleases is how many releases stay on a server (default 5).
	KeepReleases int `yaml:"keepReleases,omitempty"`

	src source
}

// Artifact says where an App's releases come from: either a directory of
// the desired-state repository holding one sub-directory per version
// (Path), or a Git repository whose tags are the versions (Git, with Path
// the sub-directory of the tagged tree to deploy, if not all of it).
type Artifact struct {
	Path string `yaml:"path,omitempty"`
	Git  string `yaml:"git,omitempty"`
}

// Dir is the repository directory holding the given version of a
// directory artifact.
func (a Artifact) Dir(version string) string { return a.Path + "/" + version }

// Health is the check that decides whether an activated release is good.
type Health struct {
	// Exactly one of Command, HTTP and TCP is set. In HTTP and TCP,
	// {host} stands for the server's host.
	//
	// Command runs on the server in the release directory; exit 0 is
	// healthy.
	Command string `yaml:"command,omitempty"`
	// HTTP is a URL the daemon gets; a 2xx answer is healthy.
	HTTP string `yaml:"http,omitempty"`
	// TCP is a host:port the daemon connects to; a connection is healthy.
	TCP string `yaml:"tcp,omitempty"`
	// Attempts before the release is declared unhealthy (default 3).
	Attempts int `yaml:"attempts,omitempty"`
	// Interval between attempts (default 2s).
	Interval time.Duration `yaml:"interval,omitempty"`
	// Timeout of one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// HostPlaceholder stands for the server's host in Health.HTTP and TCP.
const HostPlaceholder = "{host}"

// Strategy is how a release is rolled out.
type Strategy string

// The strategies.
const (
	Live     Strategy = "live"
	Rolling  Strategy = "rolling"
	Parallel Strategy = "parallel"
)

// The groups of servers of the parallel strategy.
const (
	GroupBlue  = "blue"
	GroupGreen = "green"
)

// Release pins the version of an App in an Environment.
type Release struct {
	Kind        string       `yaml:"kind"`
	App         string       `yaml:"app"`
	Environment string       `yaml:"environment"`
	Version     string       `yaml:"version"`
	Strategy    Strategy     `yaml:"strategy,omitempty"`
	Live        LiveOpts     `yaml:"live,omitempty"`
	Rolling     RollingOpts  `yaml:"rolling,omitempty"`
	Parallel    ParallelOpts `yaml:"parallel,omitempty"`
	// Database is the database lane of the release.
	Database *ReleaseDB `yaml:"database,omitempty"`

	src source
}

// LiveOpts tunes the live strategy.
type LiveOpts struct {
	// Parallelism is how many servers are activated at once (default 10).
	Parallelism int `yaml:"parallelism,omitempty"`
}

// ReleaseDB lists a release's database changes, in order, and the
// database (by its name in gitfleet.yaml) they apply to.
type ReleaseDB struct {
	Target string `yaml:"target"`
	// AllowIrreversible lets an irreversible change go in the same step
	// as the files of the release.
	AllowIrreversible bool       `yaml:"allowIrreversible,omitempty"`
	Changes           []DBChange `yaml:"changes"`
}

// DBChange is one database change: a SQL file of the repository, or a
// command run on a named server of the environment.
type DBChange struct {
	ID      string `yaml:"id"`
	SQL     string `yaml:"sql,omitempty"`
	Command string `yaml:"command,omitempty"`
	Server  string `yaml:"server,omitempty"`
	// Irreversible changes are never undone, and called out in plans.
	Irreversible bool `yaml:"irreversible,omitempty"`
	// NoTransaction runs SQL that cannot run in a transaction (CREATE
	// INDEX CONCURRENTLY) outside one.
	NoTransaction bool `yaml:"noTransaction,omitempty"`
}

// RollingOpts tunes the rolling strategy.
type RollingOpts struct {
	// Batch is how many servers are taken out at a time: a count or a
	// percentage of the release's servers, rounded up (default 1).
	Batch Amount `yaml:"batch,omitempty"`
	// MaxUnavailable bounds the servers out of the load balancer at once,
	// those already out for any reason included (default: the batch).
	MaxUnavailable Amount `yaml:"maxUnavailable,omitempty"`
	// Pause is the wait between batches.
	Pause time.Duration `yaml:"pause,omitempty"`
	// DrainTimeout bounds the wait for a drained server's sessions to end
	// (default 30s).
	DrainTimeout time.Duration `yaml:"drainTimeout,omitempty"`
	// MaxFailures is how many servers may fail before the rollout stops
	// and the failed batch goes back (default 0).
	MaxFailures int `yaml:"maxFailures,omitempty"`
}

// ParallelOpts tunes the parallel (blue/green) strategy.
type ParallelOpts struct {
	// DrainTimeout bounds the wait for the old group's sessions to end
	// after the switch (default 30s).
	DrainTimeout time.Duration `yaml:"drainTimeout,omitempty"`
	// Parallelism is how many servers of the idle group are activated at
	// once (default 10).
	Parallelism int `yaml:"parallelism,omitempty"`
}

// Amount is a count or a percentage ("25%").
type Amount struct {
	N       int
	Percent bool
}

// Of is the amount of total, a percentage rounded up; at least 1 when the
// amount is not zero.
func (a Amount) Of(total int) int {
	if !a.Percent {
		return a.N
	}
	n := (a.N*total + 99) / 100
	if n < 1 && a.N > 0 {
		n = 1
	}
	return n
}

func (a Amount) IsZero() bool { return a.N == 0 && !a.Percent }

func (a Amount) String() string {
	if a.Percent {
		return strconv.Itoa(a.N) + "%"
	}
	return strconv.Itoa(a.N)
}

// UnmarshalYAML takes 3 or "25%".
func (a *Amount) UnmarshalYAML(n *yaml.Node) error {
	bad := func() error {
		// A TypeError keeps the line for the error message.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q: want a count or a percentage such as 25%%", n.Line, n.Value)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	v := strings.TrimSpace(n.Value)
	pct := strings.HasSuffix(v, "%")
	num, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
	if err != nil {
		return bad()
	}
	*a = Amount{N: num, Percent: pct}
	return nil
}

// Key identifies a Release: one per app and environment.
type Key struct {
	Environment string `json:"environment"`
	App         string `json:"app"`
}

func (k Key) String() string { return k.Environment + "/" + k.App }

// Key returns the release's identity.
func (r *Release) Key() Key { return Key{Environment: r.Environment, App: r.App} }

// Pos is where the document starts; PosOf is where a field is set.
func (e *Environment) Pos() Pos               { return e.src.pos }
func (a *App) Pos() Pos                       { return a.src.pos }
func (r *Release) Pos() Pos                   { return r.src.pos }
func (r *Release) PosOf(field string) Pos     { return r.src.at(field) }
func (a *App) PosOf(field string) Pos         { return a.src.at(field) }
func (e *Environment) PosOf(field string) Pos { return e.src.at(field) }

// source remembers where a document and each of its fields came from.
type source struct {
	pos   Pos
	lines map[string]int // field path ("servers.2.name") to line
}

func (s source) at(field string) Pos {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := s.lines[f]; ok {
			return Pos{File: s.pos.File, Line: l}
		}
	}
	return s.pos
}

func parentField(f string) string {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i] == '.' {
			return f[:i]
		}
	}
	return ""
}

// Desired is the whole validated desired state.
type Desired struct {
	Environments []*Environment // sorted by name
	Apps         []*App         // sorted by name
	Releases     []*Release     // sorted by environment, then app

	envs map[string]*Environment
	apps map[string]*App
}

// Environment returns the named environment, or nil.
func (d *Desired) Environment(name string) *Environment { return d.envs[name] }

// App returns the named app, or nil.
func (d *Desired) App(name string) *App { return d.apps[name] }

// Targets returns the servers of env that run app, in spec order.
func Targets(env *Environment, app *App) []*Server {
	var out []*Server
	for i := range env.Servers {
		if env.Servers[i].InGroups(app.Groups) {
			out = append(out, &env.Servers[i])
		}
	}
	return out
}

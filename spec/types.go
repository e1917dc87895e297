package spec

import (
	"time"
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

	src source
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
	// Groups select which apps run on the server (see App.Groups).
	Groups []string `yaml:"groups,omitempty"`

	// Host and Port are Address resolved by Load: Port is 0 when neither
	// the address nor the environment names one.
	Host string `yaml:"-"`
	Port int    `yaml:"-"`
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
	Live Strategy = "live"
)

// Release pins the version of an App in an Environment.
type Release struct {
	Kind        string   `yaml:"kind"`
	App         string   `yaml:"app"`
	Environment string   `yaml:"environment"`
	Version     string   `yaml:"version"`
	Strategy    Strategy `yaml:"strategy,omitempty"`
	Live        LiveOpts `yaml:"live,omitempty"`

	src source
}

// LiveOpts tunes the live strategy.
type LiveOpts struct {
	// Parallelism is how many servers are activated at once (default 10).
	Parallelism int `yaml:"parallelism,omitempty"`
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

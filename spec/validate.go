package spec

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/schedule"
)

// Defaults filled in by Load.
const (
	DefaultKeepReleases    = 5
	DefaultActivateTimeout = 60 * time.Second
	DefaultHealthAttempts  = 3
	DefaultHealthInterval  = 2 * time.Second
	DefaultHealthTimeout   = 10 * time.Second
	DefaultLiveParallelism = 10
	DefaultDrainTimeout    = 30 * time.Second
	DefaultLBTimeout       = 5 * time.Second
)

var (
	// nameRE is a DNS label: environments, apps and groups.
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// serverRE is a host name; it becomes a directory name for the local
	// transport, so no slash and no leading dot.
	serverRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	// versionRE is a Git tag or directory name that is safe in a path.
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
)

func validate(d *Desired, o Options, errs *errorList) {
	servers := map[string]Pos{}
	lim := renderLimits{maxBytes: o.MaxRenderedBytes, timeout: o.RenderTimeout}
	for _, e := range d.Environments {
		validateEnvironment(e, servers, lim, errs)
		if prev, dup := d.envs[e.Name]; dup {
			errs.add(e.PosOf("name"), "duplicate Environment %q (first defined at %s)", e.Name, prev.Pos())
			continue
		}
		d.envs[e.Name] = e
	}
	deployTos := map[string]*App{}
	for _, a := range d.Apps {
		validateApp(a, deployTos, errs)
		if prev, dup := d.apps[a.Name]; dup {
			errs.add(a.PosOf("name"), "duplicate App %q (first defined at %s)", a.Name, prev.Pos())
			continue
		}
		d.apps[a.Name] = a
	}
	releases := map[Key]*Release{}
	for _, r := range d.Releases {
		validateRelease(d, r, errs)
		if prev, dup := releases[r.Key()]; dup {
			errs.add(r.Pos(), "duplicate Release of app %q in environment %q (first defined at %s)", r.App, r.Environment, prev.Pos())
			continue
		}
		releases[r.Key()] = r
	}
	checkMachines(d, o, errs)
	if o.Roots != nil {
		checkRoots(d, o.Roots, errs)
	}
	if o.Databases != nil {
		checkDatabases(d, o.Databases, errs)
	}
}

func validateEnvironment(e *Environment, servers map[string]Pos, lim renderLimits, errs *errorList) {
	checkName(e.PosOf("name"), "environment name", e.Name, errs)
	checkUser(e.PosOf("ssh.user"), "ssh.user", e.SSH.User, errs)
	if e.SSH.Port < 0 || e.SSH.Port > 65535 {
		errs.add(e.PosOf("ssh.port"), "ssh.port %d out of range 1..65535", e.SSH.Port)
	}
	if len(e.Servers) == 0 {
		errs.add(e.PosOf("servers"), "environment %q has no servers", e.Name)
	}
	for i, s := range e.Servers {
		field := "servers." + strconv.Itoa(i)
		switch {
		case s.Name == "":
			errs.add(e.PosOf(field), "server has no name")
		case !serverRE.MatchString(s.Name):
			errs.add(e.PosOf(field+".name"), "invalid server name %q: use lower-case letters, digits, '.' and '-'", s.Name)
		default:
			if prev, dup := servers[s.Name]; dup {
				errs.add(e.PosOf(field+".name"), "duplicate server %q (first defined at %s)", s.Name, prev)
			} else {
				servers[s.Name] = e.PosOf(field + ".name")
			}
		}
		checkUser(e.PosOf(field+".user"), "user", s.User, errs)
		if host, port, ok := splitAddress(s.Address); !ok || (host != "" && !validHost(host)) {
			errs.add(e.PosOf(field+".address"), "invalid address %q for server %q: want host or host:port, the host an IP address or a DNS name", s.Address, s.Name)
		} else {
			srv := &e.Servers[i]
			srv.Host, srv.Port = host, port
			if srv.Host == "" {
				srv.Host = s.Name
			}
			if srv.Port == 0 {
				srv.Port = e.SSH.Port
			}
			if srv.User == "" {
				srv.User = e.SSH.User
			}
		}
		for j, g := range s.Groups {
			checkName(e.PosOf(field+".groups."+strconv.Itoa(j)), "group name", g, errs)
		}
		if s.LBName != "" && !haproxyNameRE.MatchString(s.LBName) {
			errs.add(e.PosOf(field+".lbName"), "invalid lbName %q for server %q: use letters, digits, '.', '_', ':' and '-'", s.LBName, s.Name)
		}
	}
	if lb := e.LoadBalancer; lb != nil {
		validateLB(e, lb, errs)
	}
	if e.Config != nil {
		validateConfig(e, lim, errs)
	}
	switch e.OnDrift {
	case "":
		e.OnDrift = DriftHeal
	case DriftHeal, DriftAlert:
	default:
		errs.add(e.PosOf("onDrift"), "onDrift %q: want heal or alert", e.OnDrift)
	}
	for _, lane := range []string{"files", "database", "environment"} {
		p := e.Windows.For(lane)
		if p == nil {
			continue
		}
		for kind, ws := range map[string][]*schedule.Window{"allow": p.Allow, "deny": p.Deny} {
			for i, w := range ws {
				if err := w.Compile(); err != nil {
					field := fmt.Sprintf("windows.%s.%s.%d", lane, kind, i)
					errs.add(e.PosOf(field), "%s: %v", field, err)
				}
			}
		}
	}
}

func validateLB(e *Environment, lb *LoadBalancer, errs *errorList) {
	const f = "loadBalancer"
	switch lb.Type {
	case LBHAProxy:
		if lb.Address == "" {
			errs.add(e.PosOf(f), "loadBalancer.address is required for haproxy: its runtime API socket (a path) or host:port")
		} else {
			checkLBAddress(e.PosOf(f+".address"), lb.Address, errs)
		}
		if lb.Backend == "" {
			errs.add(e.PosOf(f), "loadBalancer.backend is required for haproxy")
		} else if !haproxyNameRE.MatchString(lb.Backend) {
			errs.add(e.PosOf(f+".backend"), "invalid loadBalancer.backend %q: use letters, digits, '.', '_', ':' and '-'", lb.Backend)
		}
		for _, k := range []string{"drain", "ready", "maint", "state"} {
			if e.src.lines[f+"."+k] != 0 {
				errs.add(e.PosOf(f+"."+k), "loadBalancer.%s is for type command, not haproxy", k)
			}
		}
	case LBCommand:
		if strings.TrimSpace(lb.Drain) == "" || strings.TrimSpace(lb.Ready) == "" || strings.TrimSpace(lb.State) == "" {
			errs.add(e.PosOf(f), "loadBalancer of type command needs drain, ready and state commands")
		}
		if lb.Address != "" || lb.Backend != "" {
			errs.add(e.PosOf(f), "loadBalancer.address and backend are for type haproxy, not command")
		}
	case "":
		errs.add(e.PosOf(f), "loadBalancer.type is required (haproxy or command)")
	default:
		errs.add(e.PosOf(f+".type"), "unknown loadBalancer.type %q (want haproxy or command)", lb.Type)
	}
	if lb.Timeout == 0 {
		lb.Timeout = DefaultLBTimeout
	}
	checkDuration(e.PosOf(f+".timeout"), "loadBalancer.timeout", lb.Timeout, 10*time.Millisecond, 5*time.Minute, errs)
	names := map[string]string{}
	for i, s := range e.Servers {
		if other, dup := names[s.LB()]; dup {
			errs.add(e.PosOf("servers."+strconv.Itoa(i)), "servers %q and %q have the same name %q in the load balancer", other, s.Name, s.LB())
		}
		names[s.LB()] = s.Name
	}
}

func validateApp(a *App, deployTos map[string]*App, errs *errorList) {
	checkName(a.PosOf("name"), "app name", a.Name, errs)
	for j, g := range a.Groups {
		checkName(a.PosOf("groups."+strconv.Itoa(j)), "group name", g, errs)
	}
	if g := a.Artifact.Git; g != "" {
		checkGitURL(a.PosOf("artifact.git"), g, errs)
		if a.Artifact.Path != "" {
			checkRepoPath(a.PosOf("artifact.path"), "artifact.path", a.Artifact.Path, errs)
		}
	} else {
		checkRepoPath(a.PosOf("artifact.path"), "artifact.path", a.Artifact.Path, errs)
	}

	switch dt := a.DeployTo; {
	case dt == "":
		errs.add(a.PosOf("deployTo"), "app %q has no deployTo", a.Name)
	case !path.IsAbs(dt) || path.Clean(dt) != dt || dt == "/":
		errs.add(a.PosOf("deployTo"), "deployTo %q must be a clean absolute path other than /", dt)
	case hasControl(dt):
		errs.add(a.PosOf("deployTo"), "deployTo %q must not hold control characters", dt)
	default:
		for other, o := range deployTos {
			if other == dt || strings.HasPrefix(dt, other+"/") || strings.HasPrefix(other, dt+"/") {
				errs.add(a.PosOf("deployTo"), "deployTo %q of app %q overlaps deployTo %q of app %q (%s)", dt, a.Name, other, o.Name, o.PosOf("deployTo"))
			}
		}
		deployTos[dt] = a
	}

	if a.KeepReleases == 0 {
		a.KeepReleases = DefaultKeepReleases
	}
	if a.KeepReleases < 1 || a.KeepReleases > 100 {
		errs.add(a.PosOf("keepReleases"), "keepReleases %d out of range 1..100", a.KeepReleases)
	}
	if a.ActivateTimeout == 0 {
		a.ActivateTimeout = DefaultActivateTimeout
	}
	checkDuration(a.PosOf("activateTimeout"), "activateTimeout", a.ActivateTimeout, time.Second, time.Hour, errs)

	if h := a.Health; h != nil {
		n := 0
		for _, v := range []string{h.Command, h.HTTP, h.TCP} {
			if strings.TrimSpace(v) != "" {
				n++
			}
		}
		if n != 1 {
			errs.add(a.PosOf("health"), "health needs exactly one of command, http and tcp")
		}
		if h.HTTP != "" {
			u, err := url.Parse(strings.ReplaceAll(h.HTTP, HostPlaceholder, "host"))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs.add(a.PosOf("health.http"), "health.http %q: want an http or https URL, {host} for the server's host", h.HTTP)
			}
		}
		if h.TCP != "" {
			if _, _, err := net.SplitHostPort(strings.ReplaceAll(h.TCP, HostPlaceholder, "host")); err != nil {
				errs.add(a.PosOf("health.tcp"), "health.tcp %q: want host:port, {host} for the server's host", h.TCP)
			}
		}
		if h.Attempts == 0 {
			h.Attempts = DefaultHealthAttempts
		}
		if h.Attempts < 1 || h.Attempts > 100 {
			errs.add(a.PosOf("health.attempts"), "health.attempts %d out of range 1..100", h.Attempts)
		}
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		checkDuration(a.PosOf("health.interval"), "health.interval", h.Interval, time.Millisecond, 10*time.Minute, errs)
		if h.Timeout == 0 {
			h.Timeout = DefaultHealthTimeout
		}
		checkDuration(a.PosOf("health.timeout"), "health.timeout", h.Timeout, time.Millisecond, time.Hour, errs)
	}
}

func validateRelease(d *Desired, r *Release, errs *errorList) {
	env, app := d.envs[r.Environment], d.apps[r.App]
	switch {
	case r.App == "":
		errs.add(r.Pos(), "release has no app")
	case app == nil:
		errs.add(r.PosOf("app"), "release names unknown App %q", r.App)
	}
	switch {
	case r.Environment == "":
		errs.add(r.Pos(), "release has no environment")
	case env == nil:
		errs.add(r.PosOf("environment"), "release names unknown Environment %q", r.Environment)
	}
	switch {
	case r.Version == "":
		errs.add(r.Pos(), "release of %q in %q has no version", r.App, r.Environment)
	case !versionRE.MatchString(r.Version):
		errs.add(r.PosOf("version"), "invalid version %q: use letters, digits, '.', '_', '+' and '-', starting with a letter or digit", r.Version)
	}
	if r.Strategy == "" {
		r.Strategy = Live
	}
	switch r.Strategy {
	case Live, Rolling, Parallel:
		if r.Strategy != Live && env != nil && env.LoadBalancer == nil {
			errs.add(r.PosOf("strategy"), "strategy %s needs a loadBalancer in environment %q (%s)", r.Strategy, env.Name, env.Pos())
		}
	default:
		errs.add(r.PosOf("strategy"), "unknown strategy %q (want live, rolling or parallel)", r.Strategy)
	}
	for _, o := range []Strategy{Live, Rolling, Parallel} {
		if o != r.Strategy && r.src.lines[string(o)] != 0 {
			errs.add(r.PosOf(string(o)), "%s options set, but the strategy is %s", o, r.Strategy)
		}
	}
	if r.Database != nil {
		validateDB(r, env, errs)
	}
	validateRolling(r, errs)
	validateParallel(r, env, app, errs)
	if r.Live.Parallelism == 0 {
		r.Live.Parallelism = DefaultLiveParallelism
	}
	if r.Live.Parallelism < 1 || r.Live.Parallelism > 10000 {
		errs.add(r.PosOf("live.parallelism"), "live.parallelism %d out of range 1..10000", r.Live.Parallelism)
	}
	if env != nil && app != nil && len(Targets(env, app)) == 0 {
		errs.add(r.Pos(), "no server of environment %q is in the groups %v of app %q", env.Name, app.Groups, app.Name)
	}
}

var changeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validateDB(r *Release, env *Environment, errs *errorList) {
	db := r.Database
	if db.Target == "" || !nameRE.MatchString(db.Target) {
		errs.add(r.PosOf("database.target"), "database.target %q: name a database of gitfleet.yaml", db.Target)
	}
	if len(db.Changes) == 0 {
		errs.add(r.PosOf("database"), "database has no changes")
	}
	ids := map[string]bool{}
	for i, c := range db.Changes {
		f := "database.changes." + strconv.Itoa(i)
		if !changeIDRE.MatchString(c.ID) {
			errs.add(r.PosOf(f+".id"), "%s.id %q: use letters, digits, '.', '_' and '-'", f, c.ID)
		} else if ids[c.ID] {
			errs.add(r.PosOf(f+".id"), "%s.id %q is used twice", f, c.ID)
		}
		ids[c.ID] = true
		switch {
		case (c.SQL == "") == (c.Command == ""):
			errs.add(r.PosOf(f), "%s: set exactly one of sql and command", f)
		case c.SQL != "":
			checkRepoPath(r.PosOf(f+".sql"), f+".sql", c.SQL, errs)
			if c.Server != "" {
				errs.add(r.PosOf(f+".server"), "%s.server is for command changes", f)
			}
		case c.Server == "":
			errs.add(r.PosOf(f), "%s: a command change needs the server it runs on", f)
		case env != nil:
			found := false
			for _, s := range env.Servers {
				found = found || s.Name == c.Server
			}
			if !found {
				errs.add(r.PosOf(f+".server"), "%s.server %q is not a server of environment %q", f, c.Server, env.Name)
			}
		}
	}
}

func validateRolling(r *Release, errs *errorList) {
	o := &r.Rolling
	if o.Batch.IsZero() {
		o.Batch = Amount{N: 1}
	}
	checkAmount(r.PosOf("rolling.batch"), "rolling.batch", o.Batch, errs)
	if o.MaxUnavailable.IsZero() {
		o.MaxUnavailable = o.Batch
	}
	checkAmount(r.PosOf("rolling.maxUnavailable"), "rolling.maxUnavailable", o.MaxUnavailable, errs)
	if o.Pause != 0 {
		checkDuration(r.PosOf("rolling.pause"), "rolling.pause", o.Pause, time.Millisecond, time.Hour, errs)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	checkDuration(r.PosOf("rolling.drainTimeout"), "rolling.drainTimeout", o.DrainTimeout, time.Millisecond, time.Hour, errs)
	if o.MaxFailures < 0 || o.MaxFailures > 10000 {
		errs.add(r.PosOf("rolling.maxFailures"), "rolling.maxFailures %d out of range 0..10000", o.MaxFailures)
	}
}

func validateParallel(r *Release, env *Environment, app *App, errs *errorList) {
	o := &r.Parallel
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	checkDuration(r.PosOf("parallel.drainTimeout"), "parallel.drainTimeout", o.DrainTimeout, time.Millisecond, time.Hour, errs)
	if o.Parallelism == 0 {
		o.Parallelism = DefaultLiveParallelism
	}
	if o.Parallelism < 1 || o.Parallelism > 10000 {
		errs.add(r.PosOf("parallel.parallelism"), "parallel.parallelism %d out of range 1..10000", o.Parallelism)
	}
	if r.Strategy != Parallel || env == nil || app == nil {
		return
	}
	var blue, green int
	for _, s := range Targets(env, app) {
		b, g := s.InGroups([]string{GroupBlue}), s.InGroups([]string{GroupGreen})
		switch {
		case b && g:
			errs.add(r.PosOf("strategy"), "strategy parallel: server %q is in both groups blue and green", s.Name)
		case b:
			blue++
		case g:
			green++
		default:
			errs.add(r.PosOf("strategy"), "strategy parallel: server %q is in neither group blue nor green", s.Name)
		}
	}
	if blue == 0 || green == 0 {
		errs.add(r.PosOf("strategy"), "strategy parallel needs servers in both groups blue and green (has %d blue, %d green)", blue, green)
	}
}

func checkAmount(p Pos, field string, a Amount, errs *errorList) {
	switch {
	case a.Percent && (a.N < 1 || a.N > 100):
		errs.add(p, "%s %s out of range 1%%..100%%", field, a)
	case !a.Percent && (a.N < 1 || a.N > 10000):
		errs.add(p, "%s %s out of range 1..10000", field, a)
	}
}

// splitAddress splits host[:port] (an IPv6 host in brackets when it has a
// port).
func splitAddress(a string) (host string, port int, ok bool) {
	if a == "" {
		return "", 0, true
	}
	if strings.ContainsAny(a, " \t\n/@") {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		if strings.Count(a, ":") == 1 {
			return "", 0, false // host: with a bad port
		}
		return strings.Trim(a, "[]"), 0, true
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || h == "" {
		return "", 0, false
	}
	return h, n, true
}

func checkName(p Pos, what, name string, errs *errorList) {
	if !nameRE.MatchString(name) {
		errs.add(p, "invalid %s %q: use 1-63 lower-case letters, digits and '-'", what, name)
	}
}

// checkRepoPath accepts a clean relative path that stays inside the
// repository.
func checkRepoPath(p Pos, field, v string, errs *errorList) {
	switch {
	case v == "":
		errs.add(p, "%s is required", field)
	case path.IsAbs(v):
		errs.add(p, "%s %q must be relative to the repository root", field, v)
	case v == ".." || strings.HasPrefix(path.Clean(v), "../"):
		errs.add(p, "%s %q escapes the repository", field, v)
	case path.Clean(v) != v || v == ".":
		errs.add(p, "%s %q must be a clean path below the repository root (try %q)", field, v, path.Clean(v))
	}
}

// checkGitURL accepts https, ssh (URL or scp-like) and file URLs without
// credentials: those belong in the daemon's configuration.
func checkGitURL(p Pos, v string, errs *errorList) {
	if !strings.Contains(v, "://") {
		if strings.Contains(v, "@") && strings.Contains(v, ":") {
			return // scp-like git@host:path
		}
		errs.add(p, "artifact.git %q: want an https, http, ssh or file URL", v)
		return
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		errs.add(p, "artifact.git: %v", err)
	case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "file":
		errs.add(p, "artifact.git %q: unsupported scheme %q (want https, http, ssh or file)", v, u.Scheme)
	case u.User != nil && (u.Scheme == "https" || u.Scheme == "http"):
		errs.add(p, "artifact.git must not hold credentials: configure them in gitfleet.yaml (credentials)")
	case u.User != nil:
		if _, has := u.User.Password(); has {
			errs.add(p, "artifact.git must not hold a password: configure credentials in gitfleet.yaml")
		}
	}
}

func checkDuration(p Pos, field string, d, lo, hi time.Duration, errs *errorList) {
	if d < lo || d > hi {
		errs.add(p, "%s %s out of range %s..%s", field, d, lo, hi)
	}
}

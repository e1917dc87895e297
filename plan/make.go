package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// MakePlan compares the desired state with the observed fleet. It is pure:
// the same inputs give the same plan. The lanes are ordered: the
// environment lane first, then the database lane, then the files that
// need them, each within its windows.
func MakePlan(d *Desired, o *Observed, now time.Time) *Plan {
	p := &Plan{Revision: d.Revision, Origin: d.Origin, Time: now}
	envChanges, configDrift, configHeld := planEnvironmentLane(d, o)
	p.ConfigDrift, p.ConfigHeld = configDrift, configHeld
	envPending := map[string]*Change{}
	for _, ch := range envChanges {
		inWindow(d, ch, now)
		envPending[ch.Environment] = ch
		p.Changes = append(p.Changes, ch)
	}
	var fileChanges []*Change
	for _, r := range d.Spec.Releases {
		st, ch := planRelease(d, o, r)
		if st == nil {
			continue // artifact not resolved: nothing to compare with
		}
		p.Status = append(p.Status, st)
		if ch == nil {
			continue
		}
		if inWindow(d, ch, now) {
			waitFor(ch, envPending[ch.Environment], fmt.Sprintf("the environment lane of %s goes first (%d servers)", ch.Environment, len(envPending[ch.Environment].safeServers())))
		}
		fileChanges = append(fileChanges, ch)
	}
	filesPending := map[spec.Key]bool{}
	for _, ch := range fileChanges {
		filesPending[ch.Key()] = true
	}
	// Files wait until the database lane of their environment converged.
	dbPending := map[string]*Change{}
	for _, ch := range planDatabaseLane(d, o, filesPending) {
		inWindow(d, ch, now)
		if dbPending[ch.Environment] == nil {
			dbPending[ch.Environment] = ch
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, ch := range fileChanges {
		if dc := dbPending[ch.Environment]; dc != nil && (ch.Wait == nil || ch.Wait.Order) {
			why := fmt.Sprintf("the database lane of %s goes first (%s: %s)", ch.Environment, dc.Key(), dc.Reason)
			if dc.Blocked != "" {
				why = fmt.Sprintf("the database lane of %s is blocked (%s): %s", ch.Environment, dc.Key(), dc.Blocked)
			}
			waitFor(ch, dc, why)
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, ch := range p.Changes {
		resolveChange(d, ch)
	}
	return p
}

// inWindow makes a change outside the windows of its lane wait, and
// reports whether it is inside.
func inWindow(d *Desired, ch *Change, now time.Time) bool {
	v := d.Spec.Environment(ch.Environment).Windows.For(string(ch.Lane)).At(now)
	if !v.Open {
		ch.Wait = &Wait{Why: v.Why, Next: v.Next}
	}
	return v.Open
}

// waitFor makes ch wait for first, a change of another lane that goes
// before it; nothing when first is nil.
func waitFor(ch, first *Change, why string) {
	if first == nil {
		return
	}
	ch.Wait = &Wait{Why: why, Order: true}
	if first.Wait != nil {
		ch.Wait.Next = first.Wait.Next
	}
}

func (c *Change) safeServers() []*ServerChange {
	if c == nil {
		return nil
	}
	return c.Servers
}

// planRelease finds the standing of every server of a Release and the
// change of the files lane, shaped by its strategy; a nil standing when
// its artifact is not resolved.
func planRelease(d *Desired, o *Observed, r *spec.Release) (*AppStatus, *Change) {
	env, app := d.Spec.Environment(r.Environment), d.Spec.App(r.App)
	rel, ok := d.Releases[r.Key()]
	if !ok {
		return nil, nil
	}
	x := &releasePlan{d: d, o: o, r: r, env: env, app: app, rel: rel, targets: spec.Targets(env, app)}
	x.st = &AppStatus{
		Environment: env.Name, App: app.Name, Version: rel.Version, Release: rel.ID,
		Counts:  make(map[SyncState]int, len(SyncStates)),
		Servers: make([]*ServerStatus, 0, len(x.targets)),
	}
	var steps []*ServerChange
	for _, srv := range x.targets {
		ss, sc := planServer(d, o, app, rel, srv)
		sc = pinServer(d, r.Key(), ss, sc)
		x.st.Servers = append(x.st.Servers, ss)
		if sc != nil {
			steps = append(steps, sc)
		}
	}
	var ch *Change
	if len(steps) > 0 {
		ch = x.change(steps)
	}
	switch r.Strategy {
	case spec.Rolling:
		ch = x.rolling(ch)
	case spec.Parallel:
		ch = x.parallel(ch)
	}
	recount(x.st)
	return x.st, ch
}

// releasePlan is the planning of one Release: what it resolves to, its
// servers' standing, and its observation.
type releasePlan struct {
	d       *Desired
	o       *Observed
	r       *spec.Release
	env     *spec.Environment
	app     *spec.App
	rel     fleet.Release
	targets []*spec.Server
	st      *AppStatus
	lbo     *LBObservation // rolling and parallel
}

// change is the change of the files lane with the given server steps.
func (x *releasePlan) change(steps []*ServerChange) *Change {
	ch := &Change{Lane: LaneFiles, Environment: x.env.Name, App: x.app.Name, Strategy: x.r.Strategy,
		Version: x.rel.Version, To: x.rel.ID, Servers: steps}
	ch.Reason = summarize(ch, len(x.targets))
	return ch
}

// hold drops the release's change and records why on its standing.
func (x *releasePlan) hold(why string) *Change {
	x.st.Note = why
	return nil
}

// status is the standing of every target by server name.
func (x *releasePlan) status() map[string]*ServerStatus {
	out := make(map[string]*ServerStatus, len(x.st.Servers))
	for _, ss := range x.st.Servers {
		out[ss.Server] = ss
	}
	return out
}

// observeLB takes the environment's load balancer from the observation,
// or says why the release is held: unreadable, or a target missing there.
func (x *releasePlan) observeLB(what string) (held string) {
	x.lbo = x.o.LB[x.env.Name]
	switch {
	case x.lbo == nil:
		return "load balancer not observed"
	case x.lbo.Err != nil:
		return x.lbo.Err.Error()
	}
	for _, srv := range x.targets {
		if _, ok := lbOf(x.lbo, srv); !ok {
			return fmt.Sprintf("server %s (%q) is not in %s of %s", srv.Name, srv.LB(), what, x.env.Name)
		}
	}
	return ""
}

// resolveChange finds what the change needs of the desired state, once,
// for the rollout.
func resolveChange(d *Desired, ch *Change) {
	env := d.Spec.Environment(ch.Environment)
	r := &ch.Spec
	r.Revision, r.Author, r.Env = d.Revision, d.Author, env
	r.Servers = make(map[string]*spec.Server, len(env.Servers))
	for i := range env.Servers {
		r.Servers[env.Servers[i].Name] = &env.Servers[i]
	}
	if ch.Lane == LaneEnvironment {
		if r.Config == nil {
			r.Config = map[string][]spec.RenderedFile{}
			for _, s := range ch.Servers {
				r.Config[s.Server], _ = env.RenderConfig(r.Servers[s.Server])
			}
		}
		return
	}
	r.App = d.Spec.App(ch.App)
	for _, rel := range d.Spec.Releases {
		if rel.Key() == ch.Key() {
			r.Release = rel
		}
	}
	r.Artifact = d.Releases[ch.Key()]
	r.DB = d.DB[ch.Key()]
}

// planServer decides one server's standing and what to do there.
func planServer(d *Desired, o *Observed, app *spec.App, rel fleet.Release, srv *spec.Server) (*ServerStatus, *ServerChange) {
	ss := &ServerStatus{Server: srv.Name}
	state := o.Servers[srv.Name]
	if state == nil || state.Err != nil {
		ss.State = Unreachable
		if state != nil {
			ss.Reason = state.Err.Error()
		} else {
			ss.Reason = "not observed"
		}
		return ss, nil
	}
	as := state.Apps[app.Name]
	if as == nil {
		as = &fleet.AppState{}
	}
	ss.Current = as.Current
	if as.MarkerNewer {
		// Written by a newer gitfleet: not changed here.
		ss.State, ss.Held, ss.Reason = OutOfSync, true, as.MarkerErr
		return ss, nil
	}
	m := as.Marker
	if as.Current == rel.ID {
		if m != nil && m.Pending != nil && m.Pending.Release == rel.ID {
			ss.State, ss.Reason = OutOfSync, "activation was interrupted"
			return ss, &ServerChange{Server: srv.Name, From: as.Current, Activate: true, Reason: ss.Reason}
		}
		ss.State = InSync
		if cc := o.Content[srv.Name][app.Name]; cc != nil && cc.Release == rel.ID && len(cc.Differ) > 0 {
			ss.State, ss.Drift = Drifted, DriftContent
			ss.Reason = fmt.Sprintf("content drift: %d %s of the release changed on the server: %s", len(cc.Differ), plural(len(cc.Differ), "file", "files"), FirstFew(cc.Differ))
			if onDrift(d, srv) == spec.DriftHeal {
				return ss, &ServerChange{Server: srv.Name, From: as.Current, Heal: true, Files: cc.Differ, Reason: ss.Reason}
			}
		}
		return ss, nil
	}
	if m != nil && m.Release == rel.ID && m.Pending == nil && as.Current != "" {
		// gitfleet activated the desired release here; something else
		// switched current since.
		ss.State, ss.Drift = Drifted, DriftVersion
		ss.Reason = fmt.Sprintf("version drift: current was switched to %s outside gitfleet (desired %s)", as.Current, rel.ID)
		if onDrift(d, srv) != spec.DriftHeal {
			return ss, nil
		}
		return ss, &ServerChange{Server: srv.Name, From: as.Current, Stage: !as.IsStaged(rel.ID), Activate: true, Reason: ss.Reason}
	}
	ss.State = OutOfSync
	if m != nil && m.Failed != nil && m.Failed.Release == rel.ID && m.Failed.Revision == d.Revision {
		ss.Held = true
		ss.Reason = "activation failed at this revision, not retried until the revision changes: " + m.Failed.Error
		return ss, nil
	}
	if m != nil && m.Release == as.Current && m.Commit != "" && rel.Commit != "" && m.Commit != rel.Commit &&
		fleet.VersionOf(as.Current) == rel.Version {
		// Same tag, other commit: the tag was moved after deployment.
		ss.Held = true
		ss.Reason = fmt.Sprintf("tag %s moved after deployment (deployed from commit %.12s, now at %.12s): not redeployed; release it under a new tag",
			rel.Version, m.Commit, rel.Commit)
		return ss, nil
	}
	from := as.Current
	switch {
	case as.Current == "" && as.CurrentTarget != "":
		from = as.CurrentTarget
		ss.Reason = fmt.Sprintf("current points to %s, not to a release", as.CurrentTarget)
	case as.Current == "":
		ss.Reason = "not deployed"
	case fleet.VersionOf(as.Current) == rel.Version:
		ss.Reason = fmt.Sprintf("content of %s changed", rel.Version)
	default:
		ss.Reason = fmt.Sprintf("version %s → %s", fleet.VersionOf(as.Current), rel.Version)
	}
	return ss, &ServerChange{Server: srv.Name, From: from, Stage: !as.IsStaged(rel.ID), Activate: true, Reason: ss.Reason}
}

func summarize(c *Change, targets int) string {
	reasons := map[string]int{}
	var order []string
	for _, s := range c.Servers {
		if reasons[s.Reason] == 0 {
			order = append(order, s.Reason)
		}
		reasons[s.Reason]++
	}
	out := fmt.Sprintf("%d of %d servers: ", len(c.Servers), targets)
	for i, r := range order {
		if i > 0 {
			out += "; "
		}
		if len(order) > 1 {
			out += fmt.Sprintf("%s (%d)", r, reasons[r])
		} else {
			out += r
		}
	}
	return out
}

// onDrift is the policy of the server's environment.
func onDrift(d *Desired, srv *spec.Server) string {
	for _, e := range d.Spec.Environments {
		for i := range e.Servers {
			if e.Servers[i].Name == srv.Name {
				return e.OnDrift
			}
		}
	}
	return spec.DriftHeal
}

// FirstFew names at most five paths, and how many more there are.
func FirstFew(paths []string) string {
	if len(paths) > 5 {
		return strings.Join(paths[:5], ", ") + fmt.Sprintf(" and %d more", len(paths)-5)
	}
	return strings.Join(paths, ", ")
}

package discovery

import (
	"reflect"
	"slices"
	"sort"
	"strings"
)

// recompute merges the lists of the Environments that may have changed,
// applies or holds each result, and publishes their views; m.mu is held.
// After Update or Confirm (m.ix is nil) every Environment is merged
// against an index built anew; after a source's report, the Environments
// it marked dirty, then those with conflicts (a name or machine they
// wanted may have been freed), against the index kept since. Either way
// each Environment is checked against the servers in force of all the
// others, so that a name or machine in force is never taken by a
// newcomer; Environments go in name order.
func (m *Manager) recompute() {
	names := sortedNames(m.envs)
	full := m.ix == nil
	if full {
		list := make([]*envState, len(names))
		for i, n := range names {
			list[i] = m.envs[n]
		}
		m.ix = newIndex(list, m.opts.LocalTransport)
	}
	var todo []*envState
	for _, n := range names {
		if full || m.dirty[n] {
			todo = append(todo, m.envs[n])
		}
	}
	for _, n := range names {
		if e := m.envs[n]; !full && !m.dirty[n] && len(e.conflicts) > 0 {
			todo = append(todo, e)
		}
	}
	clear(m.dirty)
	for _, e := range todo {
		m.mergeOne(e)
	}
	m.publish(todo)
}

// mergeOne merges e's lists against m.ix, decides, and puts e's servers
// in force back into the index.
func (m *Manager) mergeOne(e *envState) {
	m.ix.drop(e)
	if e.cfg == nil {
		// A commit removed the discovery section: an explicit change,
		// like removing static servers.
		e.apply(nil, e.gen)
		e.conflicts = nil
	} else {
		cand, conflicts := merge(e, m.ix)
		e.conflicts = conflicts
		m.decide(e, cand)
	}
	for i := range e.applied {
		s := &e.applied[i]
		m.ix.add(owner{env: e, name: s.Name, origin: s.Origin, groups: s.Groups}, s.Host, s.Port)
	}
}

// decide applies cand to e, or holds it when it removes more servers than
// maxRemove allows and an operator did not confirm those removals.
func (m *Manager) decide(e *envState, cand []Server) {
	if sameServers(cand, e.applied) {
		e.applied = cand // the same servers, maybe at new positions
		e.held, e.pending, e.removed, e.confirmed = nil, nil, nil, nil
		return
	}
	if e.held != nil && sameServers(cand, e.pending) {
		e.pending = cand
		return
	}
	e.gen++
	in := map[string]bool{}
	for _, s := range cand {
		in[s.Name] = true
	}
	var removed []string
	unconfirmed := 0
	for _, s := range e.applied {
		if !in[s.Name] {
			removed = append(removed, s.Name)
			if !e.confirmed[s.Name] {
				unconfirmed++
			}
		}
	}
	total := len(e.static) + len(e.applied)
	limit := e.cfg.MaxRemove.Of(total)
	if unconfirmed <= limit {
		e.apply(cand, e.gen)
		return
	}
	added := len(cand) - (len(e.applied) - len(removed))
	shown := removed
	if len(shown) > maxReported {
		shown = shown[:maxReported]
	}
	e.held = &Held{Generation: e.gen, Removed: shown, RemovedCount: len(removed), Added: added,
		Servers: total, Limit: limit, MaxRemove: e.cfg.MaxRemove.String(), Since: m.opts.Now()}
	e.pending, e.removed = cand, removed
	m.opts.Log.Warn("discovery: new list held", "environment", e.name, "generation", e.gen, "reason", e.held.Reason())
}

// apply puts list in force as generation gen.
func (e *envState) apply(list []Server, gen uint64) {
	e.applied, e.appliedGen = list, gen
	e.held, e.pending, e.removed = nil, nil, nil
	e.confirmed = nil
}

// sameServers compares two lists sorted by name, origins aside.
func sameServers(a, b []Server) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(&b[i]) {
			return false
		}
	}
	return true
}

// publish rebuilds the views and signals Changes when one changed in what
// the controller acts on (times of good reads aside).
func (m *Manager) publish(list []*envState) {
	changed := false
	for _, e := range list {
		v := e.view()
		if old, ok := m.views[e.name]; !ok || !sameView(old, v) {
			changed = true
		}
		m.views[e.name] = v
	}
	if changed {
		select {
		case m.changes <- struct{}{}:
		default:
		}
	}
}

func (e *envState) view() View {
	v := View{Environment: e.name, Generation: e.appliedGen, Held: e.held}
	v.Servers = make([]Server, 0, len(e.static)+len(e.applied))
	for _, s := range e.static {
		v.Servers = append(v.Servers, Server{Name: s.Name, Address: s.Address, Groups: s.Groups, Host: s.Host, Port: s.Port, Source: KindStatic, Origin: s.Pos})
	}
	v.Servers = append(v.Servers, e.applied...)
	for _, s := range e.sources {
		v.Rejected = append(v.Rejected, s.rejected...)
		v.Sources = append(v.Sources, SourceStatus{Kind: s.kind, Target: s.target, Servers: len(s.good), Rejected: len(s.rejected),
			Answered: s.answered, LastGood: s.lastGood, Err: s.err, ErrSince: s.errSince, Failures: s.failures})
	}
	v.Rejected = append(v.Rejected, e.conflicts...)
	return v
}

// sameView compares what a controller acts on.
func sameView(a, b View) bool {
	if a.Generation != b.Generation || len(a.Servers) != len(b.Servers) || (a.Held == nil) != (b.Held == nil) ||
		(a.Held != nil && a.Held.Generation != b.Held.Generation) || !reflect.DeepEqual(a.Rejected, b.Rejected) || len(a.Sources) != len(b.Sources) {
		return false
	}
	for i := range a.Servers {
		if !a.Servers[i].equal(&b.Servers[i]) {
			return false
		}
	}
	for i := range a.Sources {
		x, y := a.Sources[i], b.Sources[i]
		if x.Kind != y.Kind || x.Err != y.Err || x.Servers != y.Servers || x.Answered != y.Answered {
			return false
		}
	}
	return true
}

func sortedNames(envs map[string]*envState) []string {
	out := make([]string, 0, len(envs))
	for n := range envs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func sortByName(l []Server) {
	slices.SortFunc(l, func(a, b Server) int { return strings.Compare(a.Name, b.Name) })
}

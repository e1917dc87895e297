package discovery

import (
	"reflect"
	"sort"
)

// recompute merges every Environment's lists again, applies or holds the
// result, and publishes the views; m.mu is held. Environments go in name
// order, each checked against the servers in force of all the others, so
// that a name or machine already in force is never taken by a newcomer.
func (m *Manager) recompute() {
	names := sortedNames(m.envs)
	list := make([]*envState, len(names))
	for i, n := range names {
		list[i] = m.envs[n]
	}
	ix := newIndex(list, m.opts.LocalTransport)
	for _, e := range list {
		if e.cfg == nil {
			// A commit removed the discovery section: an explicit
			// change, like removing static servers.
			e.apply(nil, e.gen)
			e.conflicts = nil
			continue
		}
		ix.drop(e)
		cand, conflicts := merge(e, ix)
		e.conflicts = conflicts
		m.decide(e, cand)
		for _, s := range e.applied {
			ix.add(owner{env: e, name: s.Name, origin: s.Origin, groups: s.Groups}, s.Host, s.Port)
		}
	}
	m.publish(list)
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

func sortByName(l []Server) { sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name }) }

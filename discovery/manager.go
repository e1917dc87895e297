package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"
)

// Options tune a Manager. The zero value works: no logs, the real clock.
type Options struct {
	Log *slog.Logger
	// Now is the clock of status times.
	Now func() time.Time
	// LocalTransport says servers are directories named after them:
	// addresses are then not compared (spec.Options.LocalTransport).
	LocalTransport bool
}

// Manager runs the discovery sources of every Environment and keeps each
// Environment's View: its static servers and the discovered ones in
// force. It is safe for concurrent use. Memory is bounded by the
// Environments' maxServers and the bounds on what is reported.
type Manager struct {
	opts    Options
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	changes chan struct{}

	mu     sync.Mutex
	closed bool
	envs   map[string]*envState
	views  map[string]View
	nextID uint64
	// ix holds every name and machine in force; nil makes recompute
	// build it anew and merge every Environment.
	ix *index
	// dirty are the Environments whose sources reported since the last
	// recompute.
	dirty map[string]bool
}

// envState is one Environment as the Manager keeps it.
type envState struct {
	name    string
	cfg     *Config // defaults set; nil: no discovery
	static  []Static
	claims  []Claim
	port    int
	sources []*sourceState

	applied    []Server // discovered servers in force, by name
	appliedGen uint64
	gen        uint64          // the last generation handed out
	pending    []Server        // the held list
	held       *Held           // nil when nothing is held
	removed    []string        // every name the held list removes
	confirmed  map[string]bool // removals an operator confirmed
	conflicts  []Rejection
}

// sourceState is one running source and its last good list.
type sourceState struct {
	id       uint64
	kind     string
	target   string
	conf     any // the configuration it runs with
	cancel   context.CancelFunc
	good     []Server
	answered bool
	rejected []Rejection
	lastGood time.Time
	err      string
	errSince time.Time
	failures int
}

// NewManager returns a Manager without Environments; Update gives it
// some, Close stops it.
func NewManager(opts Options) *Manager {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, ctx: ctx, cancel: cancel, changes: make(chan struct{}, 1),
		envs: map[string]*envState{}, views: map[string]View{}, dirty: map[string]bool{}}
}

// Changes receives a value after any View changed (servers, rejections,
// a held list, a source's error); it does not queue: read every View
// after each receive.
func (m *Manager) Changes() <-chan struct{} { return m.changes }

// Update sets the Environments of a new desired state: sources whose
// configuration did not change keep running and keep their lists; a
// changed source keeps its predecessor's list until it answers; an
// Environment that left stops. An Environment whose discovery section is
// invalid keeps its running sources, and its errors are returned (they
// also fail spec validation, so this happens only when Update is called
// with a state spec refused).
func (m *Manager) Update(envs []Environment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("discovery: the manager is closed")
	}
	var errs []error
	seen := map[string]bool{}
	for _, ne := range envs {
		if seen[ne.Name] {
			errs = append(errs, fmt.Errorf("environment %q passed twice", ne.Name))
			continue
		}
		seen[ne.Name] = true
		e, known := m.envs[ne.Name]
		if !known {
			e = &envState{name: ne.Name}
			m.envs[ne.Name] = e
		}
		e.static, e.claims, e.port = slices.Clone(ne.Static), slices.Clone(ne.Claims), ne.DefaultPort
		if ne.Discovery == nil {
			m.setSources(e, nil, nil)
			continue
		}
		c := ne.Discovery.WithDefaults()
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", ne.Name, err))
			continue
		}
		var seed map[string][]Server
		if !known {
			seed = e.plant(ne.Seed)
		}
		m.setSources(e, &c, seed)
	}
	for name, e := range m.envs {
		if !seen[name] {
			m.setSources(e, nil, nil)
			delete(m.envs, name)
			delete(m.views, name)
		}
	}
	m.ix = nil // static servers and claims may have changed
	m.recompute()
	return errors.Join(errs...)
}

// plant takes the valid entries of a seed as the servers in force, and
// returns them by source kind.
func (e *envState) plant(seed []Server) map[string][]Server {
	out := map[string][]Server{}
	names := map[string]bool{}
	for _, s := range seed {
		switch s.Source {
		case KindFile, KindCommand, KindDNS, KindEtcd:
		default:
			continue
		}
		if s.check() != nil || names[s.Name] {
			continue
		}
		names[s.Name] = true
		out[s.Source] = append(out[s.Source], s)
		e.applied = append(e.applied, s)
	}
	sortByName(e.applied)
	return out
}

// setSources starts, keeps or stops e's sources to match c (nil: none).
func (m *Manager) setSources(e *envState, c *Config, seed map[string][]Server) {
	e.cfg = c
	old := map[string]*sourceState{}
	for _, s := range e.sources {
		old[s.kind] = s
	}
	e.sources = nil
	if c != nil {
		for _, kind := range kinds(*c) {
			conf := struct {
				C   any
				Max int
			}{configOf(kind, *c), c.MaxServers}
			prev := old[kind]
			delete(old, kind)
			if prev != nil && reflect.DeepEqual(prev.conf, conf) {
				e.sources = append(e.sources, prev)
				continue
			}
			s := &sourceState{kind: kind, target: target(kind, *c), conf: conf}
			if prev != nil {
				prev.cancel()
				s.good, s.answered, s.rejected, s.lastGood = prev.good, prev.answered, prev.rejected, prev.lastGood
			} else if list, ok := seed[kind]; ok {
				s.good, s.answered = list, true
			}
			m.start(e, s, newSource(kind, *c, sourceEnv{environment: e.name, maxServers: c.MaxServers, log: m.opts.Log}))
			e.sources = append(e.sources, s)
		}
	}
	for _, s := range old {
		s.cancel()
	}
}

// start runs src for s until s.cancel.
func (m *Manager) start(e *envState, s *sourceState, src source) {
	m.nextID++
	s.id = m.nextID
	ctx, cancel := context.WithCancel(m.ctx)
	s.cancel = cancel
	env, id := e.name, s.id
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		src.run(ctx, func(r result) { m.report(env, id, r) })
	}()
}

// report takes one read of a source.
func (m *Manager) report(env string, id uint64, r result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.envs[env]
	if e == nil || m.closed {
		return
	}
	var s *sourceState
	for _, x := range e.sources {
		if x.id == id {
			s = x
		}
	}
	if s == nil {
		return // a source stopped by Update
	}
	now := m.opts.Now()
	log := m.opts.Log.With("environment", env, "source", s.kind, "target", s.target)
	if r.err != nil {
		msg := clipMsg(r.err.Error())
		if s.err == "" {
			s.errSince = now
			log.Warn("discovery source failed; its last good list stays", "err", msg)
		}
		s.err = msg
		s.failures++
	} else {
		if s.err != "" {
			log.Info("discovery source answers again", "servers", len(r.answer.servers))
		}
		s.good = keepPrevious(s.good, r.answer)
		s.rejected = r.answer.rejected
		s.answered, s.lastGood, s.err, s.errSince, s.failures = true, now, "", time.Time{}, 0
	}
	m.dirty[env] = true
	m.recompute()
}

// keepPrevious returns the new answer's servers, plus the previous entry of
// every server whose new entry was rejected: a typo in an inventory
// changes nothing rather than removing the server.
func keepPrevious(prev []Server, a answer) []Server {
	if len(a.rejected) == 0 {
		return a.servers
	}
	have := map[string]bool{}
	for _, s := range a.servers {
		have[s.Name] = true
	}
	byName := map[string]Server{}
	for _, s := range prev {
		byName[s.Name] = s
	}
	out := a.servers
	for i, r := range a.rejected {
		if p, ok := byName[r.Name]; ok && r.Name != "" && !have[r.Name] {
			out = append(out, p)
			have[r.Name] = true
			a.rejected[i].Reason += "; its previous entry stays"
		}
	}
	return out
}

// Confirm applies the held list of generation gen of env: the operator's
// word that its removals are meant. It fails when that generation is not
// the one held (a newer list replaced it, or nothing is held).
func (m *Manager) Confirm(env string, gen uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.envs[env]
	switch {
	case e == nil:
		return fmt.Errorf("discovery: no environment %q", env)
	case e.held == nil:
		return fmt.Errorf("discovery of %s: nothing is held", env)
	case e.held.Generation != gen:
		return fmt.Errorf("discovery of %s: generation %d is not held; generation %d is (%s)", env, gen, e.held.Generation, e.held.Reason())
	}
	e.confirmed = map[string]bool{}
	for _, n := range e.removed {
		e.confirmed[n] = true
	}
	m.opts.Log.Info("discovery: held list confirmed", "environment", env, "generation", gen, "removed", len(e.removed))
	e.apply(e.pending, gen)
	m.ix = nil // e's servers in force changed outside recompute
	m.recompute()
	return nil
}

// View returns env's current view; ok is false for an unknown
// Environment. The view's slices must not be modified.
func (m *Manager) View(env string) (View, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.views[env]
	return v, ok
}

// Views returns every Environment's view, sorted by name.
func (m *Manager) Views() []View {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]View, 0, len(m.views))
	for _, name := range sortedNames(m.envs) {
		out = append(out, m.views[name])
	}
	return out
}

// Close stops every source and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

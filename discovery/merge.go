package discovery

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// owner is a server entry that holds a name and a machine: a static
// server, or a discovered one in force.
type owner struct {
	env    *envState
	name   string
	origin string // file:line of a static server, origin of a discovered one
	static bool
	groups []string
}

func (o owner) describe() string {
	kind := "discovered"
	if o.static {
		kind = "static"
	}
	return fmt.Sprintf("server %q of environment %q (%s, %s)", o.name, o.env.name, kind, o.origin)
}

// index is every name and machine held, across Environments.
type index struct {
	names    map[string]owner
	machines map[machine][]owner
	noHosts  bool // the local transport: machines are not compared
}

func newIndex(envs []*envState, local bool) *index {
	n := 0
	for _, e := range envs {
		n += len(e.static) + len(e.applied)
	}
	ix := &index{names: make(map[string]owner, n), machines: make(map[machine][]owner, n), noHosts: local}
	for _, e := range envs {
		for _, s := range e.static {
			ix.add(owner{env: e, name: s.Name, origin: s.Pos, static: true, groups: s.Groups}, s.Host, s.Port)
		}
		for _, s := range e.applied {
			ix.add(owner{env: e, name: s.Name, origin: s.Origin, groups: s.Groups}, s.Host, s.Port)
		}
	}
	return ix
}

func (ix *index) add(o owner, host string, port int) {
	if _, dup := ix.names[o.name]; !dup {
		ix.names[o.name] = o
	}
	if !ix.noHosts && host != "" {
		m := machineOf(host, port, o.env.port)
		ix.machines[m] = append(ix.machines[m], o)
	}
}

// drop forgets the discovered servers in force of e.
func (ix *index) drop(e *envState) {
	for _, s := range e.applied {
		if o, ok := ix.names[s.Name]; ok && o.env == e && !o.static {
			delete(ix.names, s.Name)
		}
		if ix.noHosts {
			continue
		}
		m := machineOf(s.Host, s.Port, e.port)
		kept := ix.machines[m][:0]
		for _, o := range ix.machines[m] {
			if o.env != e || o.static {
				kept = append(kept, o)
			}
		}
		if len(kept) == 0 {
			delete(ix.machines, m)
		} else {
			ix.machines[m] = kept
		}
	}
}

// merge picks the discovered servers of e that may be applied, from the
// good lists of its sources: each must have a name no other entry holds
// (static servers and the servers in force of every Environment come
// first, then the entries of e in force, then the others in source
// order), a name that is not another server's name in the load balancer,
// and a machine no other entry claims the same paths on. ix must not hold
// e's servers in force; it is not changed. merge returns the servers
// sorted by name, and the conflicts.
func merge(e *envState, ix *index) ([]Server, []Rejection) {
	var cands []Server
	for _, s := range e.sources {
		cands = append(cands, s.good...)
	}
	// An entry in force is one of the same name from the same source.
	inForce := map[[2]string]bool{}
	for _, s := range e.applied {
		inForce[[2]string{s.Name, s.Source}] = true
	}
	ordered := make([]Server, 0, len(cands))
	for _, c := range cands {
		if inForce[[2]string{c.Name, c.Source}] {
			ordered = append(ordered, c)
		}
	}
	for _, c := range cands {
		if !inForce[[2]string{c.Name, c.Source}] {
			ordered = append(ordered, c)
		}
	}
	cands = ordered
	lbNames := map[string]string{}
	for _, s := range e.static {
		if s.LBName != "" && s.LBName != s.Name {
			lbNames[s.LBName] = s.Name
		}
	}
	mine := &index{names: make(map[string]owner, len(cands)), machines: make(map[machine][]owner, len(cands)), noHosts: ix.noHosts}
	var out []Server
	var rej rejections
	for _, c := range cands {
		o, taken := ix.names[c.Name]
		if !taken {
			o, taken = mine.names[c.Name]
		}
		switch {
		case taken:
			rej.add(c, fmt.Sprintf("server %q is already %s", c.Name, o.describe()))
			continue
		case lbNames[c.Name] != "":
			rej.add(c, fmt.Sprintf("server %q is the load balancer's name of static server %q of this environment", c.Name, lbNames[c.Name]))
			continue
		}
		if msg := machineConflict(e, c, ix, mine); msg != "" {
			rej.add(c, msg)
			continue
		}
		mine.add(owner{env: e, name: c.Name, origin: c.Origin, groups: c.Groups}, c.Host, c.Port)
		out = append(out, c)
	}
	sortByName(out)
	return out, rej.list
}

// rejections is a bounded list of conflicts.
type rejections struct{ list []Rejection }

func (r *rejections) add(s Server, reason string) {
	switch n := len(r.list); {
	case n < maxRejections:
		r.list = append(r.list, Rejection{Origin: s.Origin, Name: s.Name, Reason: clipMsg(reason)})
	case n == maxRejections:
		r.list = append(r.list, Rejection{Origin: s.Origin, Reason: "and more entries rejected (the first 100 are reported)"})
	}
}

// machine is where the SSH transport reaches a server (spec's rule in
// spec/machines.go: host in lower case without a trailing dot, an IP in
// its canonical form, the default port when none is named).
type machine struct {
	host string
	port int
}

func (m machine) String() string { return net.JoinHostPort(m.host, strconv.Itoa(m.port)) }

func machineOf(host string, port, defaultPort int) machine {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	}
	if port == 0 {
		port = defaultPort
	}
	return machine{h, port}
}

// machineConflict says why c may not be added: another entry, in ix or
// mine, is the same machine and both write one path (spec's message); or
// "".
func machineConflict(e *envState, c Server, ix, mine *index) string {
	if ix.noHosts {
		return ""
	}
	m := machineOf(c.Host, c.Port, e.port)
	var claims []Claim
	for _, owners := range [][]owner{ix.machines[m], mine.machines[m]} {
		for _, o := range owners {
			if claims == nil {
				claims = claimsOf(e, c.Groups)
			}
			a, b, ok := overlap(claimsOf(o.env, o.groups), claims)
			if !ok {
				continue
			}
			return fmt.Sprintf("server %q of environment %q is the machine %s of %s, and both write %s: %s there and %s here; one machine can be two servers only if what they write is disjoint",
				c.Name, e.name, m, o.describe(), deeper(a.Path, b.Path), a.What, b.What)
		}
	}
	return ""
}

// claimsOf is what e writes on a server of groups.
func claimsOf(e *envState, groups []string) []Claim {
	var out []Claim
	for _, c := range e.claims {
		if inGroups(groups, c.Groups) {
			out = append(out, c)
		}
	}
	return out
}

// inGroups is spec's Server.InGroups: an empty want selects every server.
func inGroups(have, want []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

// overlap finds a claim of a and one of b where one path is the other or
// inside it (spec's rule).
func overlap(a, b []Claim) (Claim, Claim, bool) {
	for _, x := range a {
		for _, y := range b {
			if x.Path == y.Path || strings.HasPrefix(x.Path, y.Path+"/") || strings.HasPrefix(y.Path, x.Path+"/") {
				return x, y, true
			}
		}
	}
	return Claim{}, Claim{}, false
}

// deeper is the inner of two overlapping paths.
func deeper(a, b string) string {
	if len(a) >= len(b) {
		return a
	}
	return b
}

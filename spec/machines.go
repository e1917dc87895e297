package spec

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Two server entries are one machine when the transport reaches them at
// the same place: over SSH the same host and port (the local transport
// makes every server name its own directory, and names are unique). Two
// entries of one machine would have gitfleet write the same directories
// with two desired states, flipping the machine between them at every
// pass; they are allowed only when what each entry writes there is
// disjoint from what the other writes.

// machine is where the SSH transport reaches a server.
type machine struct {
	host string
	port int
}

func (m machine) String() string { return net.JoinHostPort(m.host, strconv.Itoa(m.port)) }

// machineOf normalizes a server's host (case, IP notation) and port.
func machineOf(s *Server, defaultPort int) machine {
	host := strings.ToLower(strings.TrimSuffix(s.Host, "."))
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	port := s.Port
	if port == 0 {
		port = defaultPort
	}
	return machine{host, port}
}

// claim is a directory or file one server entry has gitfleet write.
type claim struct {
	path string
	what string // "deployTo of app web", "managed file"
}

// entry is one server of one Environment, with what it claims.
type entry struct {
	env    *Environment
	index  int
	claims []claim
}

func (en entry) server() *Server { return &en.env.Servers[en.index] }
func (en entry) pos() Pos {
	return en.env.PosOf("servers." + strconv.Itoa(en.index))
}

// checkMachines reports two server entries of one machine whose claims
// overlap, with the places of both.
func checkMachines(d *Desired, o Options, errs *errorList) {
	if o.LocalTransport {
		return
	}
	// Sorting by machine finds the entries of one machine without a map
	// of every server.
	type ref struct {
		m     machine
		entry entry
	}
	var refs []ref
	for _, e := range d.Environments {
		for i := range e.Servers {
			if e.Servers[i].Host == "" {
				continue // an invalid address, reported already
			}
			refs = append(refs, ref{machineOf(&e.Servers[i], o.SSHPort), entry{env: e, index: i}})
		}
	}
	sort.SliceStable(refs, func(i, j int) bool {
		if refs[i].m.host != refs[j].m.host {
			return refs[i].m.host < refs[j].m.host
		}
		return refs[i].m.port < refs[j].m.port
	})
	byMachine := map[machine][]entry{}
	var machines []machine
	for i := 0; i < len(refs); {
		j := i + 1
		for j < len(refs) && refs[j].m == refs[i].m {
			j++
		}
		if j-i > 1 {
			machines = append(machines, refs[i].m)
			for _, r := range refs[i:j] {
				byMachine[r.m] = append(byMachine[r.m], r.entry)
			}
		}
		i = j
	}
	for _, m := range machines {
		es := byMachine[m]
		// The later entry, by file and line, gets the error.
		sort.SliceStable(es, func(i, j int) bool {
			a, b := es[i].pos(), es[j].pos()
			if a.File != b.File {
				return a.File < b.File
			}
			return a.Line < b.Line
		})
		for k := range es {
			es[k].claims = claimsOf(d, es[k])
		}
		for j := 1; j < len(es); j++ {
			for i := 0; i < j; i++ {
				if es[i].server().Name == es[j].server().Name {
					continue // a duplicate server, reported already
				}
				a, b, ok := overlap(es[i].claims, es[j].claims)
				if !ok {
					continue
				}
				errs.add(es[j].pos(), "server %q of environment %q is the machine %s of server %q of environment %q (%s), and both write %s: %s there and %s here; one machine can be two servers only if what they write is disjoint",
					es[j].server().Name, es[j].env.Name, m, es[i].server().Name, es[i].env.Name, es[i].pos(), overlapPath(a.path, b.path), a.what, b.what)
				break
			}
		}
	}
}

// claimsOf lists what gitfleet writes on a server entry: the deployTo of
// every app its Environment releases to it, and the Environment's managed
// files.
func claimsOf(d *Desired, en entry) []claim {
	var out []claim
	srv := en.server()
	for _, r := range d.Releases {
		if r.Environment != en.env.Name {
			continue
		}
		app := d.App(r.App)
		if app == nil || app.DeployTo == "" || !srv.InGroups(app.Groups) {
			continue
		}
		out = append(out, claim{app.DeployTo, fmt.Sprintf("deployTo of app %q", app.Name)})
	}
	if c := en.env.Config; c != nil {
		for _, f := range c.Files {
			out = append(out, claim{f.Path, "a managed file"})
		}
		if c.EnvFile != "" {
			out = append(out, claim{c.EnvFile, "the managed envFile"})
		}
	}
	return out
}

// overlap finds a claim of a and one of b where one path is the other or
// inside it.
func overlap(a, b []claim) (claim, claim, bool) {
	for _, x := range a {
		for _, y := range b {
			if x.path == y.path || strings.HasPrefix(x.path, y.path+"/") || strings.HasPrefix(y.path, x.path+"/") {
				return x, y, true
			}
		}
	}
	return claim{}, claim{}, false
}

// overlapPath is the inner of two overlapping paths.
func overlapPath(a, b string) string {
	if len(a) >= len(b) {
		return a
	}
	return b
}

// Package discovery finds an Environment's servers besides the static list
// of the desired state: a JSON or YAML file (watched), a command printing
// JSON (run every interval), DNS SRV or A/AAAA records (asked again when
// their TTL runs out), and servers that register themselves in etcd under
// a lease.
//
// Every entry is checked with spec's rules for a static server (name,
// address, groups) and against every other server: static ones of any
// Environment, discovered ones in force, the names of the load balancer,
// and spec's rule for one machine named twice. A bad entry is rejected
// with its source and position (file:line, index, etcd key) and the
// others stay; a rejected entry whose server was in force keeps its
// previous entry. A source that fails keeps its last good list and
// reports why.
//
// A new list that removes more than maxRemove of an Environment's servers
// is held, not applied, until an operator calls Manager.Confirm with its
// generation, so that an inventory answering nothing or a tenth of the
// fleet never unmanages it. Manager runs the sources of every
// Environment, keeps each one's View and signals Changes; the controller
// reads the Views and merges them into the desired state before
// validation and planning (docs/discovery.md).
package discovery

// Package cluster lets several gitfleet replicas share a fleet through
// etcd. Each replica keeps one lease alive and registers under
// <prefix>/replicas/<name>. Each environment is owned by one replica at a
// time: the owner key <prefix>/owners/<env> is created in a transaction
// only if absent, attached to the owner's lease, and its CreateRevision is
// the fencing token that every write on a server carries.
//
// Replicas share the environments with rendezvous weights and capacities
// (Assign): at most ceil(E/R) each, and a replica joining or leaving moves
// few environments. A replica takes a free environment of its share at
// once; one that owns more than its share lists them in Surplus and hands
// them over only when the controller calls Release, between steps. Close
// revokes the lease, so the others take over without waiting for the TTL.
//
// A replica owns an environment only while its lease is valid by its own
// conservative clock (Owned); a lease that expires or is lost drops every
// ownership at once, is counted, and a new lease is made when etcd answers
// again. Check confirms ownership in an etcd transaction before a
// load-balancer or database change; the servers refuse stale tokens
// themselves (FenceScript).
//
// State keeps what replicas share in etcd, bounded, with a format version
// in every record: history, holds, failures, suspensions, approvals, and
// requests that any replica writes and the owner consumes.
package cluster

package cluster

import (
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// applyReplicas follows registrations.
func (r *Replica) applyReplicas(evs []*clientv3.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		name := strings.TrimPrefix(string(ev.Kv.Key), r.keys.replicas())
		if checkName(name) != nil {
			continue
		}
		if ev.Type == mvccpb.PUT {
			r.replicas[name] = true
		} else {
			delete(r.replicas, name)
		}
		r.dirty = true
	}
}

// applyOwners follows owner keys. An event older than what is known (a
// claim's answer can come before the watch shows an earlier delete) is
// ignored; an owner key of this replica deleted by anyone else ends the
// ownership at once.
func (r *Replica) applyOwners(evs []*clientv3.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		env := strings.TrimPrefix(string(ev.Kv.Key), r.keys.owners())
		if checkName(env) != nil || ev.Kv.ModRevision <= r.keyRev[env] {
			continue
		}
		r.keyRev[env] = ev.Kv.ModRevision
		if ev.Type == mvccpb.DELETE {
			delete(r.owners, env)
			r.ownersDirty = true
			if t, ok := r.mine[env]; ok {
				delete(r.mine, env)
				r.log.Warn("owner key deleted in etcd: ownership ends", "environment", env, "token", t)
			}
			continue
		}
		o := r.ownerOf(ev.Kv)
		r.owners[env] = o
		r.ownersDirty = true
		if t, ok := r.mine[env]; ok && t != o.token {
			delete(r.mine, env)
			r.log.Warn("owner key replaced in etcd: ownership ends", "environment", env, "token", t)
		}
	}
}

// applyRequests follows the requests of every environment, keeping at
// most 2*MaxPending per environment in memory (Submit keeps to MaxPending;
// a writer that bypasses it cannot make the replica grow without bound).
func (r *Replica) applyRequests(evs []*clientv3.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		key := string(ev.Kv.Key)
		env, _, ok := strings.Cut(strings.TrimPrefix(key, r.keys.requests()), "/")
		if !ok || checkName(env) != nil {
			continue
		}
		if ev.Type == mvccpb.DELETE {
			delete(r.requests[env], key)
			if len(r.requests[env]) == 0 {
				delete(r.requests, env)
			}
			continue
		}
		if len(ev.Kv.Value) > MaxRequest || len(r.requests[env]) >= 2*MaxPending {
			r.log.Warn("request ignored: too large, or too many waiting", "environment", env, "key", clip(key))
			continue
		}
		req, err := requestOf(env, ev.Kv)
		if err != nil {
			r.log.Warn("unreadable request", "environment", env, "err", err)
			continue
		}
		if r.requests[env] == nil {
			r.requests[env] = map[string]Request{}
		}
		r.requests[env][key] = req
	}
}

// ownerOf reads an owner key; an unreadable value still counts as owned.
func (r *Replica) ownerOf(kv *mvccpb.KeyValue) owner {
	o := owner{replica: "?", lease: clientv3.LeaseID(kv.Lease), token: kv.CreateRevision}
	rec, err := decode(string(kv.Key), kv.Value)
	if err != nil {
		r.log.Warn("unreadable owner key", "key", string(kv.Key), "err", err)
	} else if rec.Replica != "" {
		o.replica = rec.Replica
	}
	return o
}

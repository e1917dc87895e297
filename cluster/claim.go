package cluster

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// balance claims the free environments this replica should own and
// deletes owner keys of its lease it no longer tracks (a Release whose
// delete failed). It returns when it should run again for an environment
// left free by the replica meant to take it, or the zero time.
func (r *Replica) balance(ctx context.Context, s *session) time.Time {
	claims, orphans, next := r.plan()
	for _, o := range orphans {
		r.deleteOwner(ctx, o.env, o.token)
	}
	for _, env := range claims {
		if err := r.claim(ctx, s, env); err != nil {
			r.log.Warn("claim failed", "environment", env, "err", err)
			break // etcd is not answering: the next change or kick retries
		}
	}
	r.publish()
	return next
}

type ownerRef struct {
	env   string
	token int64
}

// plan decides, under the lock, which free environments to claim: those
// Assign gives this replica while it owns fewer than its quota, then any
// left free longer than the TTL while it owns fewer than ceil(E/R).
func (r *Replica) plan() (claims []string, orphans []ownerRef, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil {
		return nil, nil, time.Time{}
	}
	if r.dirty {
		r.recompute()
	}
	for env, o := range r.owners {
		if _, ok := r.mine[env]; !ok && o.lease == r.sess.id {
			orphans = append(orphans, ownerRef{env, o.token})
		}
	}
	now := r.opts.Now()
	n := len(r.mine)
	var late []string
	for _, env := range r.envs {
		if _, taken := r.owners[env]; taken {
			delete(r.freeSince, env)
			continue
		}
		since, ok := r.freeSince[env]
		if !ok {
			since = now
			r.freeSince[env] = now
		}
		switch {
		case r.target[env] && n < r.quota:
			claims = append(claims, env)
			n++
		case now.Sub(since) >= r.ttl:
			late = append(late, env)
		case next.IsZero() || since.Add(r.ttl).Before(next):
			next = since.Add(r.ttl)
		}
	}
	sort.Slice(late, func(i, j int) bool { return score(late[i], r.name) > score(late[j], r.name) })
	for _, env := range late {
		if n >= r.ceiling {
			break
		}
		claims = append(claims, env)
		n++
	}
	for env := range r.freeSince {
		if _, ok := r.owners[env]; ok {
			delete(r.freeSince, env)
		}
	}
	return claims, orphans, next
}

// recompute derives this replica's target, quota and the ceiling from the
// desired environments and the registered replicas.
func (r *Replica) recompute() {
	r.dirty = false
	live := make([]string, 0, len(r.replicas))
	for n := range r.replicas {
		live = append(live, n)
	}
	clear(r.target)
	for _, e := range Assign(r.envs, live)[r.name] {
		r.target[e] = true
	}
	r.quota = Quotas(len(r.envs), live)[r.name]
	r.ceiling = 0
	if len(live) > 0 {
		r.ceiling = (len(r.envs) + len(live) - 1) / len(live)
	}
	for env := range r.freeSince {
		if !contains(r.envs, env) {
			delete(r.freeSince, env)
		}
	}
}

func contains(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

// claim creates the owner key of env with the lease if there is none. Its
// revision is the fencing token.
func (r *Replica) claim(ctx context.Context, s *session, env string) error {
	key := r.keys.owner(env)
	val, err := encode(Record{Replica: r.name, Time: r.opts.Now()}, nil)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.ttl/3)
	defer cancel()
	resp, err := r.client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(s.id))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("claim %s: %w", env, err)
	}
	rev := resp.Header.Revision
	r.mu.Lock()
	defer r.mu.Unlock()
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			r.applyOwnerLocked(env, kvs[0].ModRevision, r.ownerOf(kvs[0]))
		}
		return nil
	}
	if r.sess != s || rev <= r.keyRev[env] {
		return nil // the session ended meanwhile; the lease takes the key away
	}
	r.keyRev[env] = rev
	r.owners[env] = owner{replica: r.name, lease: s.id, token: rev}
	r.ownersDirty = true
	r.mine[env] = rev
	r.log.Info("environment owned", "environment", env, "token", rev)
	return nil
}

// applyOwnerLocked records an owner key seen at revision rev, unless a
// newer revision of it is known.
func (r *Replica) applyOwnerLocked(env string, rev int64, o owner) {
	if rev <= r.keyRev[env] {
		return
	}
	r.keyRev[env] = rev
	r.owners[env] = o
	r.ownersDirty = true
}

// deleteOwner deletes env's owner key if it is still the incarnation of
// token.
func (r *Replica) deleteOwner(ctx context.Context, env string, token int64) error {
	key := r.keys.owner(env)
	cctx, cancel := context.WithTimeout(ctx, r.ttl/3)
	defer cancel()
	_, err := r.client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", token)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("release %s: %w", env, err)
	}
	return nil
}

// Release hands env over: this replica stops owning it at once and
// deletes its owner key, so the replica meant to own it takes it. The
// controller calls it between steps, for each environment of Surplus.
func (r *Replica) Release(ctx context.Context, env string) error {
	r.mu.Lock()
	t, ok := r.mine[env]
	delete(r.mine, env)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	r.log.Info("environment released", "environment", env, "token", t)
	err := r.deleteOwner(ctx, env, t)
	r.poke(r.kick) // publish, and retry the delete if it failed
	return err
}

// Check confirms in an etcd transaction that this replica still owns env
// with token, for the moments before a load-balancer or database change.
// A refusal wraps ErrNotOwner; an unreachable etcd is an error too.
func (r *Replica) Check(ctx context.Context, env string, token int64) error {
	if t, ok := r.Owned(env); !ok || t != token {
		r.opts.Hooks.Refused(env)
		return fmt.Errorf("check %s token %d: lease not held here: %w", env, token, ErrNotOwner)
	}
	return r.checkEtcd(ctx, env, token)
}

// checkEtcd is the transaction of Check.
func (r *Replica) checkEtcd(ctx context.Context, env string, token int64) error {
	key := r.keys.owner(env)
	cctx, cancel := context.WithTimeout(ctx, r.ttl/3)
	defer cancel()
	resp, err := r.client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", token)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("check %s token %d: %w", env, token, err)
	}
	if !resp.Succeeded {
		r.opts.Hooks.Refused(env)
		return fmt.Errorf("check %s token %d: %s: %w", env, token, describeOwner(resp), ErrNotOwner)
	}
	return nil
}

func describeOwner(resp *clientv3.TxnResponse) string {
	for _, op := range resp.Responses {
		if rr := op.GetResponseRange(); rr != nil && len(rr.Kvs) == 1 {
			who := "another replica"
			if rec, err := decode(string(rr.Kvs[0].Key), rr.Kvs[0].Value); err == nil && rec.Replica != "" {
				who = rec.Replica
			}
			return fmt.Sprintf("owned by %s with token %d", clip(who), rr.Kvs[0].CreateRevision)
		}
	}
	return "no owner"
}

// publish calls the hooks whose values changed and signals Changed.
func (r *Replica) publish() {
	r.mu.Lock()
	n := len(r.mine)
	var owners map[string]string
	ownersChanged := false
	if r.ownersDirty {
		r.ownersDirty = false
		owners = r.ownersLocked()
		ownersChanged = !maps.Equal(owners, r.published.owners)
		r.published.owners = owners
	}
	var fp strings.Builder
	envs := make([]string, 0, n)
	for e := range r.mine {
		envs = append(envs, e)
	}
	sort.Strings(envs)
	for _, e := range envs {
		newest := int64(0)
		for _, q := range r.requests[e] {
			newest = max(newest, q.Revision)
		}
		fmt.Fprintf(&fp, "%s=%d,%t,%d,%d;", e, r.mine[e], r.target[e], len(r.requests[e]), newest)
	}
	owned := n != r.published.owned
	r.published.owned = n
	changed := fp.String() != r.published.fingerprint
	r.published.fingerprint = fp.String()
	r.mu.Unlock()
	if owned {
		r.opts.Hooks.Owned(n)
	}
	if ownersChanged {
		r.opts.Hooks.Owners(maps.Clone(owners))
	}
	if changed {
		r.poke(r.changed)
	}
}

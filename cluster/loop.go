package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errNameInUse is a registration refused because another live process
// has this replica's name (or this one's previous life, until its TTL).
var errNameInUse = errors.New("replica name in use by another lease")

// run keeps a session until ctx ends: a lost lease drops every ownership,
// and a new session (a new lease) is made with capped, jittered backoff.
func (r *Replica) run(ctx context.Context) {
	defer close(r.done)
	select {
	case <-ctx.Done():
		return
	case <-r.ready:
	}
	delay := 200 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := r.epoch(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > r.ttl {
			delay = 200 * time.Millisecond
		}
		r.log.Warn("cluster session ended; starting a new one", "err", err, "retry", delay)
		sleep(ctx, jitter(delay))
		delay = min(2*delay, r.ttl)
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// epoch is one session: revoke the earlier leases, grant a new one,
// register, then follow etcd until the lease is lost.
func (r *Replica) epoch(ctx context.Context) error {
	r.revokeOld(ctx)
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := grant(ectx, r.client, r.ttl, r.opts.Now)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.old = append(r.old, s.id)
	if len(r.old) > maxOldLeases {
		r.old = r.old[len(r.old)-maxOldLeases:]
	}
	r.mu.Unlock()
	if err := r.register(ectx, s); err != nil {
		return err
	}
	r.mu.Lock()
	r.sess = s
	r.mu.Unlock()
	r.log.Info("cluster session started", "lease", fmt.Sprintf("%x", int64(s.id)))
	defer r.endSession(s)
	delay := 200 * time.Millisecond
	for {
		err := r.follow(ectx, s)
		select {
		case <-s.lost:
			return s.err()
		case <-ectx.Done():
			return ectx.Err()
		default:
		}
		r.log.Warn("cluster watch ended; listing again", "err", err, "retry", delay)
		select {
		case <-s.lost:
			return s.err()
		case <-ectx.Done():
			return ectx.Err()
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, r.ttl)
	}
}

// endSession drops every ownership of the session; a lease that ended
// without Close is counted as lost.
func (r *Replica) endSession(s *session) {
	r.mu.Lock()
	lost := !r.closing
	n := len(r.mine)
	clear(r.mine)
	r.sess = nil
	if lost {
		r.losses++
	}
	r.mu.Unlock()
	if lost {
		r.opts.Hooks.LeaseLost()
		r.log.Warn("cluster lease lost: every environment dropped", "owned", n, "err", s.err())
	}
	r.publish()
}

// maxOldLeases bounds the leases remembered for revocation; older ones
// are left to expire.
const maxOldLeases = 8

// revokeOld revokes the leases of earlier sessions: a lost renewal
// answer, or a leader change that extended them, can keep their keys, and
// this replica's registration, alive after this replica stopped trusting
// them.
func (r *Replica) revokeOld(ctx context.Context) {
	r.mu.Lock()
	old := append([]clientv3.LeaseID(nil), r.old...)
	r.mu.Unlock()
	var keep []clientv3.LeaseID
	for _, id := range old {
		cctx, cancel := context.WithTimeout(ctx, r.ttl/3)
		_, err := r.client.Revoke(cctx, id)
		cancel()
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			keep = append(keep, id) // it expires anyway; try again next time
		}
	}
	r.mu.Lock()
	r.old = append(keep, r.old[len(old):]...)
	r.mu.Unlock()
}

// register claims <prefix>/replicas/<name> with the lease.
func (r *Replica) register(ctx context.Context, s *session) error {
	key := r.keys.replica(r.name)
	val, err := encode(Record{Replica: r.name, Time: r.opts.Now()}, nil)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.ttl/2)
	defer cancel()
	resp, err := r.client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(s.id))).
		Commit()
	if err != nil {
		return fmt.Errorf("register %s: %w", r.name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("register %s: %w", r.name, errNameInUse)
	}
	return nil
}

// follow lists the replicas, owners and requests at one revision, then
// watches them from there, balancing after each change, until a watch
// fails or the lease is lost.
func (r *Replica) follow(ctx context.Context, s *session) error {
	rev, err := r.list(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	from := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(rev + 1)}
	wReplicas := r.client.Watch(wctx, r.keys.replicas(), from...)
	wOwners := r.client.Watch(wctx, r.keys.owners(), from...)
	wRequests := r.client.Watch(wctx, r.keys.requests(), from...)
	for {
		next := r.balance(ctx, s)
		grace := time.NewTimer(time.Hour)
		if !next.IsZero() {
			grace.Reset(max(next.Sub(r.opts.Now()), 10*time.Millisecond))
		}
		err := r.wait(ctx, s, grace.C, wReplicas, wOwners, wRequests)
		grace.Stop()
		if err != nil || ctx.Err() != nil || isClosed(s.lost) {
			return err
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// wait applies the next change from etcd, or returns at a kick, a grace
// timer, the end of the lease or a failed watch.
func (r *Replica) wait(ctx context.Context, s *session, grace <-chan time.Time, wReplicas, wOwners, wRequests clientv3.WatchChan) error {
	select {
	case <-s.lost:
	case <-ctx.Done():
	case <-r.kick:
	case <-grace:
	case wr, ok := <-wReplicas:
		if err := watchErr(wr, ok); err != nil {
			return err
		}
		r.applyReplicas(wr.Events)
	case wr, ok := <-wOwners:
		if err := watchErr(wr, ok); err != nil {
			return err
		}
		r.applyOwners(wr.Events)
	case wr, ok := <-wRequests:
		if err := watchErr(wr, ok); err != nil {
			return err
		}
		r.applyRequests(wr.Events)
	}
	return nil
}

func watchErr(wr clientv3.WatchResponse, ok bool) error {
	if !ok {
		return errors.New("watch closed")
	}
	return wr.Err()
}

// list loads the replicas, owners and requests at one revision.
func (r *Replica) list(ctx context.Context) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, r.ttl/2)
	defer cancel()
	resp, err := r.client.Txn(cctx).Then(
		clientv3.OpGet(r.keys.replicas(), clientv3.WithPrefix()),
		clientv3.OpGet(r.keys.owners(), clientv3.WithPrefix()),
		clientv3.OpGet(r.keys.requests(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", r.keys.prefix, err)
	}
	rs := resp.Responses
	r.mu.Lock()
	clear(r.replicas)
	clear(r.owners)
	r.ownersDirty = true
	clear(r.keyRev)
	clear(r.requests)
	r.dirty = true
	r.mu.Unlock()
	put := func(kvs []*mvccpb.KeyValue) []*clientv3.Event {
		evs := make([]*clientv3.Event, len(kvs))
		for i, kv := range kvs {
			evs[i] = &clientv3.Event{Type: mvccpb.PUT, Kv: kv}
		}
		return evs
	}
	r.applyReplicas(put(rs[0].GetResponseRange().Kvs))
	r.applyOwners(put(rs[1].GetResponseRange().Kvs))
	r.applyRequests(put(rs[2].GetResponseRange().Kvs))
	// An ownership etcd no longer shows is gone.
	r.mu.Lock()
	for e, t := range r.mine {
		if o, ok := r.owners[e]; !ok || o.token != t {
			delete(r.mine, e)
			r.log.Warn("ownership gone from etcd", "environment", e, "token", t)
		}
	}
	r.mu.Unlock()
	return resp.Header.Revision, nil
}

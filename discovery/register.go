package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Registration is a server registered under an etcd prefix, kept alive by
// its lease.
type Registration struct {
	client *clientv3.Client
	key    string
	lease  clientv3.LeaseID
	cancel context.CancelFunc
	lost   chan struct{}
}

// Register writes s as JSON at <prefix>/<s.Name> under a new lease of ttl
// (whole seconds, at least 2s) and keeps the lease alive until ctx ends or
// Close. The server leaves discovery when the lease ends: at once with
// Close, after ttl when the process stops or loses etcd. It is what a
// server's boot script does with etcdctl (docs/discovery.md).
func Register(ctx context.Context, client *clientv3.Client, prefix string, s Server, ttl time.Duration) (*Registration, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("register %s: %w", s.Name, err)
	}
	if ttl < 2*time.Second || ttl%time.Second != 0 || ttl > math.MaxInt32*time.Second {
		return nil, fmt.Errorf("register %s: ttl %s: want whole seconds, at least 2s", s.Name, ttl)
	}
	value, err := json.Marshal(entry{Name: s.Name, Address: s.Address, Groups: s.Groups, Site: s.Site, Labels: s.Labels})
	if err != nil {
		return nil, err
	}
	g, err := client.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("register %s: grant a lease: %w", s.Name, err)
	}
	r := &Registration{client: client, key: prefix + "/" + s.Name, lease: g.ID, lost: make(chan struct{})}
	if _, err := client.Put(ctx, r.key, string(value), clientv3.WithLease(g.ID)); err != nil {
		client.Revoke(context.WithoutCancel(ctx), g.ID)
		return nil, fmt.Errorf("register %s: put %s: %w", s.Name, r.key, err)
	}
	kctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	ch, err := client.KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("register %s: keep the lease alive: %w", s.Name, err)
	}
	go func() {
		for range ch {
		}
		close(r.lost)
	}()
	return r, nil
}

// Key is where the server is registered.
func (r *Registration) Key() string { return r.key }

// Lease is the registration's lease.
func (r *Registration) Lease() clientv3.LeaseID { return r.lease }

// Lost is closed when the lease is no longer kept alive: ctx ended,
// Close, or etcd let it expire. A server that should stay registered then
// registers again.
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Close stops keeping the lease alive and revokes it: the server leaves
// at once.
func (r *Registration) Close(ctx context.Context) error {
	r.cancel()
	<-r.lost
	if _, err := r.client.Revoke(ctx, r.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("deregister %s: %w", r.key, err)
	}
	return nil
}

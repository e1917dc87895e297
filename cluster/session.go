package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// session is one lease of a replica, kept alive by KeepAliveOnce calls. It
// is the concurrency.Session idea with one difference that matters for
// fencing: the lease is valid locally until the *send* time of the last
// renewal that etcd acknowledged plus the TTL (less a margin), which is
// never later than etcd's own expiry. concurrency.Session counts from the
// receipt of the answer and checks twice a second, so it can believe in a
// lease etcd already expired.
type session struct {
	client *clientv3.Client
	id     clientv3.LeaseID
	ttl    time.Duration
	now    func() time.Time

	mu         sync.Mutex
	validUntil time.Time
	lost       chan struct{} // closed when the lease is no longer held
	lostOnce   sync.Once
	why        error
}

// leaseMargin is taken off every validity: clocks of the replica and the
// etcd leader run at slightly different rates.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 20 }

// grant makes a lease of ttl and starts keeping it alive until ctx ends or
// the lease is lost.
func grant(ctx context.Context, client *clientv3.Client, ttl time.Duration, now func() time.Time) (*session, error) {
	sent := now()
	cctx, cancel := context.WithTimeout(ctx, ttl)
	resp, err := client.Grant(cctx, int64(ttl/time.Second))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("grant a lease: %w", err)
	}
	s := &session{client: client, id: resp.ID, ttl: ttl, now: now, lost: make(chan struct{})}
	s.validUntil = sent.Add(time.Duration(resp.TTL)*time.Second - leaseMargin(ttl))
	go s.keepAlive(ctx)
	return s, nil
}

// valid says the lease is held at t.
func (s *session) valid(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.Before(s.validUntil)
}

// until is the end of the lease's validity as known now.
func (s *session) until() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validUntil
}

// fail marks the lease lost, once.
func (s *session) fail(why error) {
	s.lostOnce.Do(func() {
		s.mu.Lock()
		s.why = why
		s.validUntil = time.Time{}
		s.mu.Unlock()
		close(s.lost)
	})
}

// err says why the lease was lost.
func (s *session) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

// keepAlive renews the lease every TTL/3, retries a failed renewal every
// few hundred milliseconds, and marks the lease lost as soon as its
// validity ends without a renewal or etcd says it is gone.
func (s *session) keepAlive(ctx context.Context) {
	interval := s.ttl / 3
	retry := min(interval, 300*time.Millisecond)
	next := interval
	for {
		left := s.until().Sub(s.now())
		if left <= 0 {
			s.fail(errors.New("lease expired: no renewal acknowledged within its TTL"))
			return
		}
		wait := time.NewTimer(min(next, left))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-s.lost:
			wait.Stop()
			return
		case <-wait.C:
		}
		if s.until().Sub(s.now()) <= 0 {
			continue // expired while waiting: fail above
		}
		sent := s.now()
		cctx, cancel := context.WithDeadline(ctx, s.until())
		resp, err := s.client.KeepAliveOnce(cctx, s.id)
		cancel()
		switch {
		case err == nil:
			s.mu.Lock()
			if v := sent.Add(time.Duration(resp.TTL)*time.Second - leaseMargin(s.ttl)); v.After(s.validUntil) && !s.validUntil.IsZero() {
				s.validUntil = v
			}
			s.mu.Unlock()
			next = interval
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			s.fail(errors.New("lease expired in etcd"))
			return
		case ctx.Err() != nil:
			return
		default:
			next = retry
		}
	}
}

// revoke ends the lease in etcd: every key attached to it goes at once.
func (s *session) revoke(ctx context.Context) error {
	s.fail(errors.New("lease revoked"))
	cctx, cancel := context.WithTimeout(ctx, s.ttl)
	defer cancel()
	_, err := s.client.Revoke(cctx, s.id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil
	}
	return err
}

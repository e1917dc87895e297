package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxRequest bounds one request's record: requests are small (a kind and
// a revision), and every replica keeps the pending ones in memory.
const MaxRequest = 4 << 10

// Request asks the owner of an environment to do something (a sync, a
// rollback): any replica writes it, the owner sees it through its watch
// and consumes it.
type Request struct {
	Environment string
	Key         string // its etcd key
	Revision    int64  // the key's ModRevision: Consume deletes only this write
	Record
}

func requestOf(env string, kv *mvccpb.KeyValue) (Request, error) {
	rec, err := decode(string(kv.Key), kv.Value)
	if err != nil {
		return Request{}, err
	}
	return Request{Environment: env, Key: string(kv.Key), Revision: kv.ModRevision, Record: rec}, nil
}

func checkKind(kind string) error {
	if kind == "" || len(kind) > 64 {
		return fmt.Errorf("request kind %q: want 1..64 of a-z, 0-9, -", clip(kind))
	}
	for _, r := range kind {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("request kind %q: want 1..64 of a-z, 0-9, -", clip(kind))
		}
	}
	return nil
}

// Submit writes a request of kind (with data as JSON) for the owner of
// env. At most MaxPending requests wait per environment; the bound is
// checked before the write, so concurrent submitters may pass it by one
// each.
func (s *State) Submit(ctx context.Context, env, kind string, data any) (Request, error) {
	what := fmt.Sprintf("request %s for %s", kind, env)
	if err := checkName(env); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkKind(kind); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	val, err := encode(Record{Replica: s.replica, Time: s.now(), Kind: kind}, data)
	if err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if len(val) > MaxRequest {
		return Request{}, fmt.Errorf("%s: %d bytes, at most %d", what, len(val), MaxRequest)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	dir := s.keys.requestsOf(env)
	count, err := s.client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if count.Count >= MaxPending {
		return Request{}, fmt.Errorf("%s: %d requests already wait, at most %d", what, count.Count, MaxPending)
	}
	var id [8]byte
	rand.Read(id[:])
	key := fmt.Sprintf("%s%019d-%s", dir, s.now().UnixNano(), hex.EncodeToString(id[:]))
	resp, err := s.client.Put(ctx, key, string(val))
	if err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	rec, _ := decode(key, val)
	return Request{Environment: env, Key: key, Revision: resp.Header.Revision, Record: rec}, nil
}

// Consume deletes req if token still owns its environment and the request
// was not consumed or rewritten meanwhile: exactly one owner consumes a
// request. The controller consumes it, then acts (a sync or rollback is
// idempotent, and a new owner re-observes the fleet anyway).
func (s *State) Consume(ctx context.Context, req Request, token int64) error {
	what := fmt.Sprintf("consume request %s of %s", req.Kind, req.Environment)
	if err := checkName(req.Environment); err != nil || token == 0 {
		return fmt.Errorf("%s: want an environment and a token", what)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cmps := append(s.fence(req.Environment, token), clientv3.Compare(clientv3.ModRevision(req.Key), "=", req.Revision))
	resp, err := s.client.Txn(ctx).If(cmps...).Then(clientv3.OpDelete(req.Key)).
		Else(clientv3.OpGet(s.keys.owner(req.Environment))).Commit()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != token {
		return s.refusal(what, req.Environment, token, resp, false)
	}
	return fmt.Errorf("%s: %w", what, ErrConsumed)
}

// ErrConsumed is a request already consumed (or rewritten).
var ErrConsumed = errors.New("already consumed")

// Pending is the requests waiting for env, oldest first, while this
// replica owns it (none otherwise). It reads the replica's watch, not etcd.
func (r *Replica) Pending(env string) []Request {
	if _, ok := r.Owned(env); !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, 0, len(r.requests[env]))
	for _, q := range r.requests[env] {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kinds of shared state kept per environment.
const (
	KindHold       = "holds"
	KindFailure    = "failures"
	KindSuspension = "suspensions"
	KindApproval   = "approvals"
)

func isKind(k string) bool {
	switch k {
	case KindHold, KindFailure, KindSuspension, KindApproval:
		return true
	}
	return false
}

// callTimeout bounds one etcd call of the shared state when the caller's
// context has no earlier deadline.
const callTimeout = 10 * time.Second

// State is the shared state in etcd, readable by every replica: history
// (the newest entries per environment), holds, failures, suspensions and
// approvals, and requests for the owner of an environment. A write with a
// token is fenced: it happens only while the token is the owner key's.
// Every value is a Record with a format version.
type State struct {
	client       *clientv3.Client
	keys         keys
	replica      string
	now          func() time.Time
	historyLimit int
	refused      func(env string)
}

// NewState is the shared state for a process that reads and writes it
// without being a replica (a one-shot command).
func NewState(client *clientv3.Client, prefix, replica string, opts Options) (*State, error) {
	if msg := checkPrefix(prefix); msg != "" {
		return nil, fmt.Errorf("cluster: prefix: %s", msg)
	}
	if err := checkName(replica); err != nil {
		return nil, fmt.Errorf("cluster: replica: %w", err)
	}
	return newState(client, keys{prefix}, replica, opts.withDefaults()), nil
}

func newState(client *clientv3.Client, k keys, replica string, opts Options) *State {
	return &State{client: client, keys: k, replica: replica, now: opts.Now,
		historyLimit: opts.HistoryLimit, refused: opts.Hooks.Refused}
}

// Entry is one named value of a kind of state.
type Entry struct {
	Name string
	Record
}

func checkState(kind, env, name string) error {
	if !isKind(kind) {
		return fmt.Errorf("unknown kind %q", clip(kind))
	}
	if err := checkName(env); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	if name != "" {
		if err := checkName(name); err != nil {
			return err
		}
	}
	return nil
}

// fence is the condition of a write with token: the owner key of env is
// the incarnation the token names. Token 0 writes without a fence.
func (s *State) fence(env string, token int64) []clientv3.Cmp {
	if token == 0 {
		return nil
	}
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.keys.owner(env)), "=", token)}
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// Put stores v (as JSON) under kind/env/name. With a token it is fenced.
// A new name beyond MaxEntries per kind and environment is refused.
func (s *State) Put(ctx context.Context, kind, env, name string, token int64, v any) error {
	what := fmt.Sprintf("put %s %s/%s", kind, env, name)
	if err := checkState(kind, env, name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	val, err := encode(Record{Replica: s.replica, Time: s.now()}, v)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(val) > MaxValue {
		return fmt.Errorf("%s: %d bytes, at most %d", what, len(val), MaxValue)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	dir, key := s.keys.state(kind, env), s.keys.state(kind, env)+name
	count, err := s.client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	cmps := s.fence(env, token)
	if count.Count >= MaxEntries {
		// Only a name that exists may be written (an update).
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(s.keys.owner(env))).Commit()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !resp.Succeeded {
		return s.refusal(what, env, token, resp, count.Count >= MaxEntries)
	}
	return nil
}

// refusal explains a failed conditional write: a stale token, or a full
// kind of state.
func (s *State) refusal(what, env string, token int64, resp *clientv3.TxnResponse, full bool) error {
	if token != 0 {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 || kvs[0].CreateRevision != token {
			s.refused(env)
			return fmt.Errorf("%s with token %d: %s: %w", what, token, describeOwner(resp), ErrNotOwner)
		}
	}
	if full {
		return fmt.Errorf("%s: %d entries already, at most %d", what, MaxEntries, MaxEntries)
	}
	return fmt.Errorf("%s: refused", what)
}

// Get reads kind/env/name into v; found is false when it does not exist.
func (s *State) Get(ctx context.Context, kind, env, name string, v any) (found bool, err error) {
	if err := checkState(kind, env, name); err != nil {
		return false, fmt.Errorf("get %s %s/%s: %w", kind, env, name, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	key := s.keys.state(kind, env) + name
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	rec, err := decode(key, resp.Kvs[0].Value)
	if err != nil {
		return true, err
	}
	if v != nil {
		if err := json.Unmarshal(rec.Data, v); err != nil {
			return true, fmt.Errorf("get %s: %w", key, err)
		}
	}
	return true, nil
}

// List is every entry of a kind for env, sorted by name. An entry a newer
// gitfleet wrote is an error, not skipped silently.
func (s *State) List(ctx context.Context, kind, env string) ([]Entry, error) {
	if err := checkState(kind, env, ""); err != nil {
		return nil, fmt.Errorf("list %s %s: %w", kind, env, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	dir := s.keys.state(kind, env)
	resp, err := s.client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := make([]Entry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, err := decode(string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Name: strings.TrimPrefix(string(kv.Key), dir), Record: rec})
	}
	return out, nil
}

// Delete removes kind/env/name. With a token it is fenced.
func (s *State) Delete(ctx context.Context, kind, env, name string, token int64) error {
	what := fmt.Sprintf("delete %s %s/%s", kind, env, name)
	if err := checkState(kind, env, name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := s.client.Txn(ctx).If(s.fence(env, token)...).
		Then(clientv3.OpDelete(s.keys.state(kind, env) + name)).
		Else(clientv3.OpGet(s.keys.owner(env))).Commit()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !resp.Succeeded {
		return s.refusal(what, env, token, resp, false)
	}
	return nil
}

// HistoryEntry is one entry of an environment's history.
type HistoryEntry struct {
	Environment string
	Seq         int64
	Record
}

// Append adds v to env's history and deletes the entries beyond the
// newest HistoryLimit, in one transaction fenced by token (0: none). It
// returns the entry's number.
func (s *State) Append(ctx context.Context, env string, token int64, v any) (int64, error) {
	what := "history of " + env
	if err := checkName(env); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	val, err := encode(Record{Replica: s.replica, Time: s.now()}, v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if len(val) > MaxValue {
		return 0, fmt.Errorf("%s: entry of %d bytes, at most %d", what, len(val), MaxValue)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	seqKey := s.keys.historySeq(env)
	for {
		cur, err := s.client.Get(ctx, seqKey)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		var n, modRev int64
		if len(cur.Kvs) == 1 {
			n, _ = strconv.ParseInt(string(cur.Kvs[0].Value), 10, 64)
			modRev = cur.Kvs[0].ModRevision
		}
		n++
		ops := []clientv3.Op{
			clientv3.OpPut(seqKey, strconv.FormatInt(n, 10)),
			clientv3.OpPut(s.keys.historyEntry(env, n), string(val)),
		}
		if keep := int64(s.historyLimit); n > keep {
			ops = append(ops, clientv3.OpDelete(s.keys.historyEntry(env, 0), clientv3.WithRange(s.keys.historyEntry(env, n-keep+1))))
		}
		cmps := append(s.fence(env, token), clientv3.Compare(clientv3.ModRevision(seqKey), "=", modRev))
		resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(s.keys.owner(env))).Commit()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if resp.Succeeded {
			return n, nil
		}
		if token != 0 {
			if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != token {
				return 0, s.refusal("append to "+what, env, token, resp, false)
			}
		}
		// Another writer appended meanwhile: read the number again.
	}
}

// History is the newest entries of env (every environment when env is
// ""), newest first, at most limit (0: all kept).
func (s *State) History(ctx context.Context, env string, limit int) ([]HistoryEntry, error) {
	dir := s.keys.prefix + "/state/history/"
	if env != "" {
		if err := checkName(env); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		dir = s.keys.historyEntries(env)
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if env != "" && limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := s.client.Get(ctx, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", dir, err)
	}
	var out []HistoryEntry
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), s.keys.prefix+"/state/history/")
		e, num, ok := strings.Cut(rest, "/e/")
		if !ok {
			continue // a seq key
		}
		seq, _ := strconv.ParseInt(num, 10, 64)
		rec, err := decode(string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, HistoryEntry{Environment: e, Seq: seq, Record: rec})
	}
	if env == "" {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
	}
	return out, nil
}

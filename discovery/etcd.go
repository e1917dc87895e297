package discovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdSource follows the keys under a prefix of an etcd cluster: each
// <prefix>/<name> holds a server as JSON, under the lease of the server
// that registered itself.
type etcdSource struct {
	cfg EtcdConfig
	env sourceEnv
	// probe overrides etcdProbe (tests).
	probe time.Duration
}

// Bounds and periods of the etcd source.
const (
	// maxValueBytes bounds one registration.
	maxValueBytes = 64 << 10
	// etcdCoalesce gathers the events of a burst (a hundred servers
	// booting) into one report.
	etcdCoalesce = 100 * time.Millisecond
	// etcdProbe is how often a quiet watch checks that etcd answers, so
	// that a dead etcd is reported rather than taken for a quiet fleet.
	etcdProbe = 30 * time.Second
	// etcdResync re-reads the whole prefix in case anything was missed.
	etcdResync = 10 * time.Minute
)

func (s *etcdSource) run(ctx context.Context, report func(result)) {
	failures := 0
	fail := func(err error) bool {
		failures++
		report(result{err: err})
		return sleep(ctx, backoff(failures, time.Second, time.Minute))
	}
	var client *clientv3.Client
	for client == nil {
		cc, err := clientConfig(s.cfg)
		if err == nil {
			client, err = clientv3.New(cc)
		}
		if err != nil && !fail(fmt.Errorf("etcd client: %w", err)) {
			return
		}
	}
	defer client.Close()
	for ctx.Err() == nil {
		rev, kvs, err := s.list(ctx, client)
		if err != nil {
			if !fail(err) {
				return
			}
			continue
		}
		failures = 0
		report(result{answer: s.answer(kvs)})
		if err := s.follow(ctx, client, rev, kvs, report); err != nil && ctx.Err() == nil {
			if !fail(err) {
				return
			}
		}
	}
}

// list reads every key under the prefix, at most maxServers.
func (s *etcdSource) list(ctx context.Context, client *clientv3.Client) (int64, map[string][]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := client.Get(cctx, s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithLimit(int64(s.env.maxServers)+1))
	if err != nil {
		return 0, nil, fmt.Errorf("list %s/: %w", s.cfg.Prefix, err)
	}
	if resp.Count > int64(s.env.maxServers) {
		return 0, nil, fmt.Errorf("list %s/: %d keys, more than maxServers (%d)", s.cfg.Prefix, resp.Count, s.env.maxServers)
	}
	kvs := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs[string(kv.Key)] = kv.Value
	}
	return resp.Header.Revision, kvs, nil
}

// follow watches the prefix from rev+1, reporting the list after each
// burst of changes, until the watch fails, etcd stops answering a probe,
// or it is time to read the prefix again (nil).
func (s *etcdSource) follow(ctx context.Context, client *clientv3.Client, rev int64, kvs map[string][]byte, report func(result)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := client.Watch(wctx, s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	every := etcdProbe
	if s.probe > 0 {
		every = s.probe
	}
	probe := time.NewTicker(every)
	defer probe.Stop()
	resync := time.NewTimer(etcdResync)
	defer resync.Stop()
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
			return nil
		case <-probe.C:
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.Timeout)
			_, err := client.Get(pctx, s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			pcancel()
			if err != nil {
				return fmt.Errorf("etcd does not answer: %w", err)
			}
		case <-flush.C:
			dirty = false
			report(result{answer: s.answer(kvs)})
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch ended")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch %s/: %w", s.cfg.Prefix, err)
			}
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				if ev.Type == clientv3.EventTypeDelete {
					delete(kvs, key)
				} else {
					kvs[key] = ev.Kv.Value
				}
			}
			if len(kvs) > s.env.maxServers {
				return fmt.Errorf("%s/: more than maxServers (%d) keys", s.cfg.Prefix, s.env.maxServers)
			}
			if !dirty {
				dirty = true
				flush.Reset(etcdCoalesce)
			}
		}
	}
}

// answer turns the keys into servers, in key order; an entry is at its
// key.
func (s *etcdSource) answer(kvs map[string][]byte) answer {
	keys := make([]string, 0, len(kvs))
	for k := range kvs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var a answer
	seen := map[string]string{}
	for _, key := range keys {
		origin := "etcd " + clip(key)
		name := strings.TrimPrefix(key, s.cfg.Prefix+"/")
		value := kvs[key]
		switch {
		case strings.Contains(name, "/"):
			a.reject(origin, "", "a key below a sub-prefix: want <prefix>/<server name>")
			continue
		case len(value) > maxValueBytes:
			a.reject(origin, name, fmt.Sprintf("a value of %d bytes, at most %d", len(value), maxValueBytes))
			continue
		}
		srv, err := decodeEntry(value)
		switch {
		case err != nil:
			a.reject(origin, srv.Name, err.Error())
		case srv.Name != name:
			a.reject(origin, "", fmt.Sprintf("the key names server %q, the value %q", clip(name), clip(srv.Name)))
		default:
			a.add(srv, KindEtcd, origin, seen)
		}
	}
	return a
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Replica is this daemon's membership in the cluster: one lease kept alive
// in etcd, a registration under <prefix>/replicas/<name>, and the
// environments it owns. It owns an environment while Owned says so; the
// token Owned returns goes with every write on a server.
type Replica struct {
	name   string
	keys   keys
	ttl    time.Duration
	client *clientv3.Client
	own    bool // the client is ours to close
	opts   Options
	log    *slog.Logger
	state  *State

	mu          sync.Mutex
	envs        []string         // the desired environments, sorted
	replicas    map[string]bool  // registered replicas
	owners      map[string]owner // every owner key, as last seen
	keyRev      map[string]int64 // the newest revision applied per owner key
	mine        map[string]int64 // owned environments and their tokens
	target      map[string]bool  // what Assign gives this replica
	quota       int              // how many it should own
	ceiling     int              // ceil(E/R)
	dirty       bool             // envs or replicas changed: recompute target
	ownersDirty bool             // owners or envs changed: publish owners
	freeSince   map[string]time.Time
	requests    map[string]map[string]Request // environment, key
	sess        *session
	lease       clientv3.LeaseID   // the newest lease granted, for Close
	old         []clientv3.LeaseID // leases granted and maybe not yet gone
	losses      int
	closing     bool
	started     bool // SetEnvironments was called
	published   struct {
		owned       int
		owners      map[string]string
		fingerprint string
	}

	ready   chan struct{} // closed by the first SetEnvironments
	kick    chan struct{}
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// owner is what an owner key says.
type owner struct {
	replica string
	lease   clientv3.LeaseID
	token   int64 // the key's CreateRevision
}

// ErrNotOwner is wrapped by every refusal of a stale or absent ownership.
var ErrNotOwner = errors.New("not the owner")

// Start validates cfg (with defaults set), connects to etcd and starts the
// replica in the background. At the first SetEnvironments it registers
// (so the others count it only once it knows the desired state), follows
// the other replicas and takes its share. Errors reaching etcd after
// Start are retried with backoff, never returned.
func Start(ctx context.Context, cfg Config, opts Options) (*Replica, error) {
	cfg = cfg.WithDefaults(os.Hostname)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	client, own := opts.Client, false
	if client == nil {
		cc, err := cfg.clientConfig()
		if err != nil {
			return nil, err
		}
		if client, err = clientv3.New(cc); err != nil {
			return nil, fmt.Errorf("cluster: etcd client: %w", err)
		}
		own = true
	}
	r := &Replica{
		name: cfg.Replica, keys: keys{cfg.Etcd.Prefix}, ttl: cfg.Etcd.LeaseTTL,
		client: client, own: own, opts: opts,
		log:      opts.Logger.With("replica", cfg.Replica),
		replicas: map[string]bool{}, owners: map[string]owner{}, keyRev: map[string]int64{},
		mine: map[string]int64{}, target: map[string]bool{}, freeSince: map[string]time.Time{},
		requests: map[string]map[string]Request{},
		ready:    make(chan struct{}), kick: make(chan struct{}, 1), changed: make(chan struct{}, 1), done: make(chan struct{}),
	}
	r.state = newState(client, r.keys, r.name, opts)
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go r.run(ctx)
	return r, nil
}

// Name is the replica's name.
func (r *Replica) Name() string { return r.name }

// State is the shared state (history, holds, requests) this replica uses.
func (r *Replica) State() *State { return r.state }

// SetEnvironments gives the desired environments; the replica then owns
// its share of them. A bad name is refused and changes nothing.
func (r *Replica) SetEnvironments(envs []string) error {
	for _, e := range envs {
		if err := checkName(e); err != nil {
			return fmt.Errorf("cluster: environment: %w", err)
		}
	}
	sorted := uniqueSorted(envs)
	r.mu.Lock()
	r.envs, r.dirty, r.ownersDirty = sorted, true, true
	if !r.started {
		r.started = true
		close(r.ready)
	}
	r.mu.Unlock()
	r.poke(r.kick)
	return nil
}

// Owned says whether this replica owns env now, and with which token. It
// turns false as soon as the lease could have expired in etcd.
func (r *Replica) Owned(env string) (token int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.mine[env]
	if !ok || r.sess == nil || !r.sess.valid(r.opts.Now()) {
		return 0, false
	}
	return t, true
}

// Tokens is every environment this replica owns now, with its token.
func (r *Replica) Tokens() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.mine))
	if r.sess == nil || !r.sess.valid(r.opts.Now()) {
		return out
	}
	for e, t := range r.mine {
		out[e] = t
	}
	return out
}

// Surplus is what this replica owns beyond its share, sorted: the
// controller calls Release for each at its next step boundary.
func (r *Replica) Surplus() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for e := range r.mine {
		if !r.target[e] {
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out
}

// Replicas is the sorted names of the registered replicas.
func (r *Replica) Replicas() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.replicas))
	for n := range r.replicas {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Owners maps every desired environment to its owner ("" for none) as
// this replica last saw it, for `gitfleet status`.
func (r *Replica) Owners() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ownersLocked()
}

func (r *Replica) ownersLocked() map[string]string {
	out := make(map[string]string, len(r.envs))
	for _, e := range r.envs {
		out[e] = r.owners[e].replica
	}
	return out
}

// LeaseLosses counts the leases this replica lost without resigning them.
func (r *Replica) LeaseLosses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.losses
}

// Changed is signalled (coalesced) when what the replica owns, its
// surplus or the pending requests of its environments may have changed.
func (r *Replica) Changed() <-chan struct{} { return r.changed }

func (r *Replica) poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Close resigns: it stops following etcd and revokes the lease, which
// deletes every owner key and the registration at once, so the other
// replicas take over without waiting for the TTL. Call it after the step
// under way ends. A second Close does nothing.
func (r *Replica) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	clear(r.mine)
	r.mu.Unlock()
	r.cancel()
	<-r.done
	r.mu.Lock()
	leases := append([]clientv3.LeaseID(nil), r.old...)
	r.mu.Unlock()
	var err error
	for i := len(leases) - 1; i >= 0; i-- { // the newest holds the owner keys
		cctx, cancel := context.WithTimeout(ctx, r.ttl)
		_, rerr := r.client.Revoke(cctx, leases[i])
		cancel()
		if rerr != nil && !errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
			// etcd does not answer: the leases expire after the TTL.
			err = fmt.Errorf("cluster: resign %s: lease %x: %w", r.name, int64(leases[i]), rerr)
			break
		}
	}
	r.opts.Hooks.Owned(0)
	if r.own {
		r.client.Close()
	}
	return err
}

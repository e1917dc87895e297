// Package ssh is the transport that reaches servers over SSH: one kept
// connection per server, one round trip per step (a POSIX sh script), and
// staging as one tar stream per release built on a hard-linked copy of the
// release current points to. Host keys are checked against known_hosts.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// SSH is the transport that reaches servers over SSH. One connection per
// server is kept and reused across reconciles while it is healthy
// (keepalives tell); connection attempts are bounded, so that a large
// fleet does not see resets from a burst of handshakes.
type SSH struct {
	User string // default user (default root)
	Port int    // default port (default 22)
	// Auth are the client's methods: a key, the ssh-agent.
	Auth []ssh.AuthMethod
	// KnownHosts is the known_hosts file host keys are checked against.
	KnownHosts     string
	ConnectTimeout time.Duration // default 10s
	Keepalive      time.Duration // default 15s; a connection that misses two is dropped
	MaxConnects    int           // connection attempts at once (default 30)

	once      sync.Once
	initErr   error
	hosts     *knownhosts.HostKeyDB
	sem       chan struct{}
	mu        sync.Mutex
	slots     map[string]*slot // by server name
	dials     atomic.Int64     // connections dialled, for tests
	sent      atomic.Int64     // bytes of release content streamed by Stage
	manifests manifestCache    // release ID → *Manifest: content-addressed, so never stale
	currents  sync.Map         // server + "\x00" + deployTo → the release current pointed to at the last Inspect
}

// slot is one server's kept connection. Its lock (a channel, so that a
// waiter can give up with its context) is held while the connection is
// looked at or dialled: one dial per server at a time, and no connection
// dialled in vain and left open.
type slot struct {
	lock chan struct{}
	conn *sshConn
}

type sshConn struct {
	client *ssh.Client
	done   chan struct{} // closed when the connection is gone
}

func (c *sshConn) alive() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (s *SSH) init() error {
	s.once.Do(func() {
		if s.KnownHosts == "" {
			s.initErr = errors.New("ssh transport: knownHosts is required")
			return
		}
		s.hosts, s.initErr = knownhosts.NewDB(s.KnownHosts)
		if s.initErr != nil {
			s.initErr = fmt.Errorf("known_hosts %s: %w", s.KnownHosts, s.initErr)
		}
		n := s.MaxConnects
		if n <= 0 {
			n = 30
		}
		s.sem = make(chan struct{}, n)
		s.slots = map[string]*slot{}
	})
	return s.initErr
}

// target is where and as whom a server is reached.
func (s *SSH) target(srv *spec.Server) (addr, user string) {
	host := srv.Host
	if host == "" {
		host = srv.Name
	}
	port := srv.Port
	if port == 0 {
		port = s.Port
	}
	if port == 0 {
		port = 22
	}
	user = srv.User
	if user == "" {
		user = s.User
	}
	if user == "" {
		user = "root"
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), user
}

// slot returns the server's slot, made when new.
func (s *SSH) slot(name string) *slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[name]
	if sl == nil {
		sl = &slot{lock: make(chan struct{}, 1)}
		s.slots[name] = sl
	}
	return sl
}

// client returns a healthy connection to the server, dialling when needed.
// Callers for the same server wait for one dial and share its connection.
func (s *SSH) client(ctx context.Context, srv *spec.Server) (*ssh.Client, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	sl := s.slot(srv.Name)
	select {
	case sl.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sl.lock }()
	if sl.conn.alive() {
		return sl.conn.client, nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c, err := s.dial(ctx, srv)
	<-s.sem
	if err != nil {
		return nil, err
	}
	sl.conn = c
	return c.client, nil
}

func (s *SSH) dial(ctx context.Context, srv *spec.Server) (*sshConn, error) {
	addr, user := s.target(srv)
	timeout := s.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cfg := &ssh.ClientConfig{
		User:              user,
		Auth:              s.Auth,
		HostKeyCallback:   s.checkHostKey(srv.Name),
		HostKeyAlgorithms: s.hosts.HostKeyAlgorithms(addr),
		Timeout:           timeout,
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s@%s: %w", user, addr, err)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ssh %s@%s: %w", user, addr, err)
	}
	nc.SetDeadline(time.Time{})
	s.dials.Add(1)
	c := &sshConn{client: ssh.NewClient(cc, chans, reqs), done: make(chan struct{})}
	go func() { c.client.Wait(); close(c.done) }()
	go s.keepalive(c)
	return c, nil
}

// keepalive probes the connection and closes it when the server stops
// answering, so that the next use dials afresh.
func (s *SSH) keepalive(c *sshConn) {
	every := s.Keepalive
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err == nil {
				continue
			}
		case <-time.After(2 * every):
		case <-c.done:
			return
		}
		c.client.Close()
		return
	}
}

// checkHostKey checks against known_hosts, with errors that tell the
// operator what to do.
func (s *SSH) checkHostKey(server string) ssh.HostKeyCallback {
	check := s.hosts.HostKeyCallback()
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *xknownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return fmt.Errorf("host key of %s (%s) has CHANGED: it is now %s %s, which %s does not list for it. "+
				"This may be an attack; if the server was reinstalled, check the new fingerprint and replace its line in %s",
				server, hostname, key.Type(), ssh.FingerprintSHA256(key), s.KnownHosts, s.KnownHosts)
		case errors.As(err, &ke):
			return fmt.Errorf("host %s (%s) is unknown: its key %s %s is not in %s; check the fingerprint and add it (ssh-keyscan -p PORT HOST >> %s)",
				server, hostname, key.Type(), ssh.FingerprintSHA256(key), s.KnownHosts, s.KnownHosts)
		}
		return err
	}
}

// Close closes every connection; a later call dials again.
func (s *SSH) Close() error {
	s.mu.Lock()
	slots := make([]*slot, 0, len(s.slots))
	for _, sl := range s.slots {
		slots = append(slots, sl)
	}
	s.mu.Unlock()
	for _, sl := range slots {
		sl.lock <- struct{}{}
		if sl.conn != nil {
			sl.conn.client.Close()
			sl.conn = nil
		}
		<-sl.lock
	}
	return nil
}

// drop closes a server's connection cl after an error that may have
// broken it, and forgets it, so that the next call dials afresh.
func (s *SSH) drop(srv *spec.Server, cl *ssh.Client) {
	cl.Close()
	sl := s.slot(srv.Name)
	sl.lock <- struct{}{}
	if sl.conn != nil && sl.conn.client == cl {
		sl.conn = nil
	}
	<-sl.lock
}

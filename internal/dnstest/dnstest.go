// Package dnstest runs a real DNS server for tests: Debian's dnsmasq
// (package dnsmasq-base, /usr/sbin/dnsmasq) on a free loopback port,
// answering SRV and A/AAAA records of a Zone that a test can change.
// dnsmasq re-reads its hosts file (A/AAAA) on SIGHUP, but SRV records
// live in its configuration, so a change of them restarts it on the same
// port. Without dnsmasq the tests skip, unless CI=true.
package dnstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's dnsmasq-base puts dnsmasq.
const Binary = "/usr/sbin/dnsmasq"

// SRV is one SRV record.
type SRV struct {
	Name     string // _ssh._tcp.web.fleet.test
	Target   string // web-1.fleet.test
	Port     int
	Priority int
	Weight   int
}

// Host is one A (IPv4) or AAAA (IPv6) record.
type Host struct {
	Name string
	IP   string
}

// Zone is what the server answers. Domain is answered locally: a name of
// it without records is NXDOMAIN, never asked upstream (there is none).
type Zone struct {
	Domain string // fleet.test
	SRV    []SRV
	Hosts  []Host
	// TTL of every answer (dnsmasq's local-ttl; 0 by default).
	TTL int
}

// Server is a running dnsmasq.
type Server struct {
	t    testing.TB
	Addr string // 127.0.0.1:port, UDP and TCP
	port int
	dir  string

	mu       sync.Mutex
	zone     Zone
	cmd      *exec.Cmd
	done     chan struct{}
	log      *bytes.Buffer
	restarts int
}

// Available says why dnsmasq cannot run here, or "".
func Available() string {
	if _, err := os.Stat(Binary); err != nil {
		return Binary + " is needed for the DNS tests (Debian: apt-get install dnsmasq-base)"
	}
	return ""
}

// skip skips (or, with CI=true, fails) a test that cannot run here.
func skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Start runs dnsmasq answering z, and stops it when the test ends.
func Start(t testing.TB, z Zone) *Server {
	t.Helper()
	if why := Available(); why != "" {
		skip(t, why)
	}
	s := &Server{t: t, dir: t.TempDir(), port: freePort(t), zone: z}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	t.Cleanup(s.stop)
	if err := s.write(); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("dnstest: start dnsmasq: %v", err)
	}
	s.waitFor(z)
	return s
}

// Set makes the server answer z: A/AAAA changes are reloaded with SIGHUP,
// SRV, domain or TTL changes restart dnsmasq on the same port (as does
// any change after Stop). It returns when the server answers z.
func (s *Server) Set(z Zone) {
	s.t.Helper()
	s.mu.Lock()
	old := s.zone
	s.zone = z
	s.mu.Unlock()
	if err := s.write(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running && reflect.DeepEqual(old.SRV, z.SRV) && old.Domain == z.Domain && old.TTL == z.TTL {
		s.mu.Lock()
		err := s.cmd.Process.Signal(syscall.SIGHUP)
		s.mu.Unlock()
		if err != nil {
			s.t.Fatalf("dnstest: SIGHUP: %v", err)
		}
	} else {
		s.stop()
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		if err := s.start(); err != nil {
			s.t.Fatalf("dnstest: restart dnsmasq: %v", err)
		}
	}
	s.waitFor(z)
}

// Restarts counts the restarts Set needed.
func (s *Server) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// write writes dnsmasq.conf and the hosts file of the zone.
func (s *Server) write() error {
	s.mu.Lock()
	z := s.zone
	s.mu.Unlock()
	var conf strings.Builder
	fmt.Fprintf(&conf, "port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nno-poll\n", s.port)
	fmt.Fprintf(&conf, "keep-in-foreground\nlog-facility=-\nuser=root\npid-file=\nlocal-ttl=%d\n", z.TTL)
	fmt.Fprintf(&conf, "addn-hosts=%s\n", filepath.Join(s.dir, "hosts"))
	if z.Domain != "" {
		fmt.Fprintf(&conf, "local=/%s/\n", z.Domain)
	}
	for _, r := range z.SRV {
		fmt.Fprintf(&conf, "srv-host=%s,%s,%d,%d,%d\n", r.Name, r.Target, r.Port, r.Priority, r.Weight)
	}
	var hosts strings.Builder
	for _, h := range z.Hosts {
		fmt.Fprintf(&hosts, "%s %s\n", h.IP, h.Name)
	}
	// Written then renamed, so that a reload never reads half a file.
	for name, data := range map[string]string{"dnsmasq.conf": conf.String(), "hosts": hosts.String()} {
		tmp := filepath.Join(s.dir, name+".tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) start() error {
	log := &bytes.Buffer{}
	cmd := exec.Command(Binary, "--conf-file="+filepath.Join(s.dir, "dnsmasq.conf"))
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &s.mu, w: log}, &lockedWriter{mu: &s.mu, w: log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, log
	s.mu.Unlock()
	return nil
}

// Stop kills dnsmasq, so that queries fail; Set starts it again.
func (s *Server) Stop() { s.stop() }

// stop kills dnsmasq and waits for it.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// waitFor waits until the server answers z, and fails the test after 10s.
func (s *Server) waitFor(z Zone) {
	s.t.Helper()
	r := s.Resolver()
	deadline := time.Now().Add(10 * time.Second)
	for {
		why := s.answers(r, z)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			log := s.log.String()
			s.mu.Unlock()
			s.t.Fatalf("dnstest: dnsmasq does not answer the zone after 10s: %s\nlog:\n%s", why, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers says how the server's answers differ from z, or "".
func (s *Server) answers(r *net.Resolver, z Zone) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	wantSRV := map[string][]string{}
	for _, rec := range z.SRV {
		wantSRV[rec.Name] = append(wantSRV[rec.Name], fmt.Sprintf("%s:%d", strings.TrimSuffix(rec.Target, "."), rec.Port))
	}
	for name, want := range wantSRV {
		_, srvs, err := r.LookupSRV(ctx, "", "", name+".")
		var got []string
		for _, x := range srvs {
			got = append(got, fmt.Sprintf("%s:%d", strings.TrimSuffix(x.Target, "."), x.Port))
		}
		sort.Strings(got)
		sort.Strings(want)
		if err != nil || !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("SRV %s: got %v (%v), want %v", name, got, err, want)
		}
	}
	wantIP := map[string][]string{}
	for _, h := range z.Hosts {
		wantIP[h.Name] = append(wantIP[h.Name], net.ParseIP(h.IP).String())
	}
	for name, want := range wantIP {
		got, err := r.LookupHost(ctx, name+".")
		sort.Strings(got)
		sort.Strings(want)
		if err != nil || !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("host %s: got %v (%v), want %v", name, got, err, want)
		}
	}
	return ""
}

// Resolver is a Go resolver that asks this server only.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr)
	}}
}

// freePort finds a loopback port free for both TCP and UDP.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("dnstest: no port free for both TCP and UDP")
	return 0
}

// lockedWriter writes to w under mu (dnsmasq's log, read by waitFor).
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		return len(p), nil // enough log for a failing test
	}
	return l.w.Write(p)
}

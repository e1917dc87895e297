// Package sshtest runs a fleet of real OpenSSH servers for tests: each sshd
// listens on its own loopback address (127.0.0.11, 127.0.0.12, ...) with its
// own host key, and runs in a mount namespace of its own where a directory
// of the test is bind-mounted on /srv, so that the same absolute deployTo
// (/srv/web) is a different directory on every server. It needs root,
// unshare and sshd; without them tests skip, unless CI=true.
package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

// Fleet is N running sshd servers sharing one client key.
type Fleet struct {
	t       testing.TB
	Dir     string
	Servers []*Server
	// User is the login name on every server: an unprivileged deploy
	// user with /bin/sh as its shell, so that no shell start-up file of
	// the machine's root runs in its sessions.
	User string
	// Key is the client's private key file; it is authorized everywhere.
	Key string
	// KnownHosts lists every server's host key.
	KnownHosts string
	Port       int
}

// Server is one sshd.
type Server struct {
	Name    string
	Host    string // 127.0.0.1x
	Port    int
	Root    string // what the server sees as /srv
	HostKey string // private host key file
	config  string
	fleet   *Fleet

	mu      sync.Mutex
	limited bool // Root is a tmpfs of a given size
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	done    chan struct{}
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Skip skips (or, with CI=true, fails) a test that cannot run here.
func Skip(t testing.TB, why string) {
	t.Helper()
	testenv.Skip(t, why)
}

// Available says why a fleet cannot run here, or "".
func Available() string {
	if os.Geteuid() != 0 {
		return "an sshd fleet needs root (mount namespaces, /srv)"
	}
	for _, tool := range []string{"/usr/sbin/sshd", "unshare", "ssh-keygen", "mount", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is needed for the sshd fleet (Debian: openssh-server, util-linux)"
		}
	}
	return ""
}

// Start runs n servers named prefix-1..prefix-n and stops them when the
// test ends.
func Start(t testing.TB, n int, prefix string) *Fleet {
	t.Helper()
	if why := Available(); why != "" {
		Skip(t, why)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	user, uid, gid, err := deployUser()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root, and sshd reads
	// authorized_keys as the user.
	dir, err := os.MkdirTemp("", "gitfleet-sshtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &Fleet{t: t, Dir: dir, User: user, Key: filepath.Join(dir, "client_key"), KnownHosts: filepath.Join(dir, "known_hosts"), Port: freePort(t)}
	keygen(t, f.Key)
	pub, err := os.ReadFile(f.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	var known strings.Builder
	for i := 1; i <= n; i++ {
		s := &Server{
			Name:  fmt.Sprintf("%s-%d", prefix, i),
			Host:  fmt.Sprintf("127.0.0.%d", 10+i),
			Port:  f.Port,
			fleet: f,
		}
		sdir := filepath.Join(dir, s.Name)
		s.Root = filepath.Join(sdir, "srv")
		s.HostKey = filepath.Join(sdir, "host_key")
		s.config = filepath.Join(sdir, "sshd_config")
		if err := os.MkdirAll(s.Root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s.Root, uid, gid); err != nil {
			t.Fatal(err)
		}
		keygen(t, s.HostKey)
		hostPub, err := os.ReadFile(s.HostKey + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(hostPub))
		fmt.Fprintf(&known, "[%s]:%d %s %s\n", s.Host, s.Port, fields[0], fields[1])
		cfg := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
PidFile %s
PermitRootLogin no
AllowUsers %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile %s
Subsystem sftp internal-sftp
MaxStartups 200
MaxSessions 200
LogLevel ERROR
`, s.Port, s.Host, s.HostKey, filepath.Join(sdir, "sshd.pid"), user, authorized)
		if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		f.Servers = append(f.Servers, s)
	}
	if err := os.WriteFile(f.KnownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Servers {
		s.Start()
	}
	t.Cleanup(func() {
		for _, s := range f.Servers {
			s.Stop()
		}
	})
	return f
}

// Start runs the server's sshd (again) and waits until it accepts
// connections.
func (s *Server) Start() {
	t := s.fleet.t
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.logs = &bytes.Buffer{}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /srv && exec /usr/sbin/sshd -D -e -f "$1"`, s.Root, s.config)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	// Sessions inherit sshd's stderr: Wait must not wait for the last of
	// them to close it.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd %s: %v", s.Name, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("sshd %s exited: %s", s.Name, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd %s does not accept connections: %v\n%s", s.Name, err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LimitDisk gives the server a file system of size bytes for /srv (a
// tmpfs mounted on Root, so the test still sees its files), restarting
// its sshd. A disk already limited is resized, which is how a test frees
// space again.
func (s *Server) LimitDisk(size int64) {
	t := s.fleet.t
	t.Helper()
	s.mu.Lock()
	limited := s.limited
	s.mu.Unlock()
	if limited {
		if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), s.Root).CombinedOutput(); err != nil {
			t.Fatalf("resize the disk of %s: %v: %s", s.Name, err, out)
		}
		return
	}
	s.Stop()
	u, err := user.Lookup(s.fleet.User)
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=0755,uid=%s,gid=%s", size, u.Uid, u.Gid)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "gitfleet-test", s.Root).CombinedOutput(); err != nil {
		t.Fatalf("limit the disk of %s: %v: %s", s.Name, err, out)
	}
	s.mu.Lock()
	s.limited = true
	s.mu.Unlock()
	t.Cleanup(func() {
		s.Stop()
		exec.Command("umount", "-l", s.Root).Run()
	})
	s.Start()
}

// Logs is what sshd printed since its last start.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// Stop kills the server's sshd and every session it runs.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// sshd's sessions are its children in the same namespace: killing the
	// listener alone would leave them, so the listener goes first (no new
	// sessions are forked after that), then every process that shares its
	// mount namespace, until none is left.
	pid := s.cmd.Process.Pid
	ns, nsErr := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	s.cmd.Process.Kill()
	if nsErr == nil {
		for i := 0; i < 100 && killNamespace(ns, pid) > 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	<-s.done
	s.cmd = nil
}

// killNamespace kills every process but skip in the mount namespace ns and
// returns how many it found.
func killNamespace(ns string, skip int) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == skip {
			continue
		}
		if other, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p)); err == nil && other == ns {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie: dead already
			}
			if proc, err := os.FindProcess(p); err == nil {
				proc.Kill()
				n++
			}
		}
	}
	return n
}

// DeployUserName is the fleet's login user, made by the harness when the
// machine lacks it.
const DeployUserName = "gitfleet-deploy"

// deployUser returns the deploy user, adding it (home /srv, shell
// /bin/sh, no password but not locked, so key logins work without PAM)
// when it does not exist yet. Test packages run in parallel, so a failed
// useradd is checked against a second lookup.
func deployUser() (name string, uid, gid int, err error) {
	lookup := func() (*user.User, error) { return user.Lookup(DeployUserName) }
	u, err := lookup()
	if err != nil {
		out, addErr := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/srv",
			"--shell", "/bin/sh", "--password", "*", DeployUserName).CombinedOutput()
		if u, err = lookup(); err != nil {
			return "", 0, 0, fmt.Errorf("add the deploy user %s: %v: %s", DeployUserName, addErr, out)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return u.Username, uid, gid, nil
}

func keygen(t testing.TB, file string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gitfleet-test", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

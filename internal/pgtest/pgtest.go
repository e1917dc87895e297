// Package pgtest runs a real PostgreSQL for tests: Debian's server
// binaries, as the postgres user (PostgreSQL refuses to run as root), on a
// temporary data directory and a free loopback port. Without them tests
// skip, unless CI=true.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

// Server is a running PostgreSQL.
type Server struct {
	Dir  string
	Port int
	// DSN connects as the superuser postgres, without a password (trust
	// on the loopback address only).
	DSN string
}

func binDir() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

// Start runs a PostgreSQL until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir()
	why := ""
	switch {
	case bin == "":
		why = "PostgreSQL server binaries are needed (Debian: apt-get install postgresql)"
	case os.Geteuid() != 0:
		why = "PostgreSQL is started as the postgres user: the tests need root"
	}
	if why == "" {
		if _, err := user.Lookup("postgres"); err != nil {
			why = "the postgres user is needed (Debian's postgresql package makes it)"
		}
	}
	if why != "" {
		testenv.Skip(t, why)
	}
	dir, err := os.MkdirTemp("", "gitfleet-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	os.Mkdir(sock, 0o755)
	if out, err := exec.Command("chown", "-R", "postgres:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	asPostgres := func(args ...string) {
		t.Helper()
		cmd := exec.Command("su", "postgres", "-s", "/bin/sh", "-c", strings.Join(args, " "))
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", ">/dev/null")
	opts := fmt.Sprintf(`"-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"`, port, sock)
	asPostgres(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start", ">/dev/null")
	t.Cleanup(func() {
		exec.Command("su", "postgres", "-s", "/bin/sh", "-c", filepath.Join(bin, "pg_ctl")+" -D "+data+" -m immediate stop").Run()
	})
	s := &Server{Dir: dir, Port: port, DSN: "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("PostgreSQL does not listen on %d:\n%s", port, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package sshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFleetServersHaveTheirOwnSrv logs in with the OpenSSH client and
// checks that each server sees its own /srv.
func TestFleetServersHaveTheirOwnSrv(t *testing.T) {
	f := Start(t, 3, "web")
	for _, s := range f.Servers {
		out, err := exec.Command("ssh", "-i", f.Key, "-p", strconv.Itoa(s.Port), "-o", "UserKnownHostsFile="+f.KnownHosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f.User+"@"+s.Host,
			"echo "+s.Name+" > /srv/who && ls /srv").CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %s: %v\n%s\nsshd:\n%s", s.Name, err, out, s.Logs())
		}
		b, err := os.ReadFile(filepath.Join(s.Root, "who"))
		if err != nil || strings.TrimSpace(string(b)) != s.Name {
			t.Errorf("%s: /srv/who on the host is %q (%v), want %s", s.Name, b, err, s.Name)
		}
	}
	if _, err := os.Stat("/srv/who"); err == nil {
		t.Error("a server wrote to the host's /srv")
	}
	s := f.Servers[0]
	s.Stop()
	if err := exec.Command("ssh", "-i", f.Key, "-p", strconv.Itoa(s.Port), "-o", "UserKnownHostsFile="+f.KnownHosts, "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", f.User+"@"+s.Host, "true").Run(); err == nil {
		t.Error("a stopped server still answers")
	}
	s.Start()
}

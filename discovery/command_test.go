package discovery

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func commandConfig(run ...string) CommandConfig {
	c := Config{Command: &CommandConfig{Run: run}}.WithDefaults()
	return *c.Command
}

func TestCommandPrintsJSONInACleanEnvironmentWithoutAShell(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GITFLEET_TEST_SECRET", "s3cret")
	t.Setenv("GITFLEET_TEST_REGION", "eu-1")
	inv := script(t, dir, "inventory", `printf '[{"name": "web-1", "address": "10.0.0.1:22", "groups": ["web"], "site": "fra",
  "labels": {"env": "%s", "region": "%s", "secret": "%s", "extra": "%s", "arg": "%s", "cwd": "%s"}},
 {"name": "web-2", "address": "[fd00::2]:2222"}]' "$GITFLEET_ENVIRONMENT" "$GITFLEET_TEST_REGION" "${GITFLEET_TEST_SECRET:-unset}" "$EXTRA" "$1" "$(pwd)"
`)
	c := commandConfig(inv, "$HOME *")
	c.PassEnv = []string{"GITFLEET_TEST_REGION"}
	c.Env = map[string]string{"EXTRA": "x"}
	servers, rejected, err := RunCommand(context.Background(), c, "production", 100)
	if err != nil || len(rejected) != 0 {
		t.Fatalf("got error %v, rejections %v", err, rejected)
	}
	if len(servers) != 2 || servers[1].Host != "fd00::2" || servers[1].Port != 2222 || servers[0].Site != "fra" || servers[0].Groups[0] != "web" {
		t.Fatalf("servers %+v", servers)
	}
	want := map[string]string{"env": "production", "region": "eu-1", "secret": "unset", "extra": "x", "arg": "$HOME *", "cwd": "/"}
	for k, v := range want {
		if got := servers[0].Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q (clean environment, passEnv, env, no shell, working directory /)", k, got, v)
		}
	}
	if servers[0].Origin != "command "+inv+" [0]" || servers[0].Source != KindCommand {
		t.Errorf("origin %q source %q", servers[0].Origin, servers[0].Source)
	}
}

func TestCommandIsLookedUpInItsOwnPath(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "gitfleet-test-inventory", "echo '[]'\n")
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	c := commandConfig("gitfleet-test-inventory")
	if _, _, err := RunCommand(context.Background(), c, "production", 100); err == nil || !strings.Contains(err.Error(), "not found in PATH "+DefaultPath) {
		t.Errorf("a program found only in the daemon's PATH: got %v, want not found in the default PATH", err)
	}
	c.Env = map[string]string{"PATH": dir}
	if servers, _, err := RunCommand(context.Background(), c, "production", 100); err != nil || len(servers) != 0 {
		t.Errorf("with env PATH: got %v, %v; want an empty list", servers, err)
	}
}

func TestCommandTimeoutKillsItsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	inv := script(t, dir, "slow", "sleep 300 &\necho $! > "+pidFile+"\necho 'working on it' >&2\nwait\n")
	c := commandConfig(inv)
	c.Timeout = 300 * time.Millisecond
	_, _, err := RunCommand(context.Background(), c, "production", 100)
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms: killed: stderr: working on it") {
		t.Fatalf("got %v, want a timeout quoting stderr", err)
	}
	data, _ := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if perr != nil {
		t.Fatalf("child pid %q: %v", data, perr)
	}
	// The child was killed with its group; it may take a moment to be
	// reaped by init.
	for i := 0; ; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			break
		}
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if strings.Contains(string(stat), ") Z ") {
			break // a zombie: dead, not yet reaped
		}
		if i == 100 {
			t.Fatalf("the command's child %d still runs after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommandOutputLargerThanTheCapIsRefused(t *testing.T) {
	dir := t.TempDir()
	inv := script(t, dir, "big", "printf '['\nhead -c 3000000 /dev/zero | tr '\\0' ' '\nprintf ']'\n")
	c := commandConfig(inv)
	c.MaxOutputBytes = 1 << 20
	_, _, err := RunCommand(context.Background(), c, "production", 100)
	if err == nil || !strings.Contains(err.Error(), "output larger than maxOutputBytes (1048576 bytes): refused") {
		t.Fatalf("got %v, want the output refused", err)
	}
	c.MaxOutputBytes = 4 << 20
	if _, _, err := RunCommand(context.Background(), c, "production", 100); err != nil {
		t.Errorf("the same output under a larger cap: %v", err)
	}
}

func TestCommandErrorsSayWhy(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct{ name, body, want string }{
		{"exit status", "echo 'credentials expired' >&2\nexit 3\n", "exit status 3: stderr: credentials expired"},
		{"no output", "exit 0\n", "no output: want a JSON list"},
		{"an object", "echo '{\"servers\": []}'\n", "want a JSON list of servers"},
		{"trailing data", "echo '[] []'\n", "data after the list"},
		{"long stderr", "echo " + long + " >&2\nexit 1\n", "stderr: …xxx"},
		{"too many", "echo '[" + strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, 4), ",") + "]'\n", "4 servers, more than maxServers (3)"},
	} {
		_, _, err := RunCommand(context.Background(), commandConfig(script(t, dir, "inv", tc.body)), "production", 3)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		} else if len(err.Error()) > 800 {
			t.Errorf("%s: an error of %d bytes", tc.name, len(err.Error()))
		}
	}
}

func TestCommandRejectsBadEntriesAtTheirIndex(t *testing.T) {
	dir := t.TempDir()
	inv := script(t, dir, "inv", `echo '[{"name": "web-1"}, {"name": "web-2", "zone": "a"}, "web-3", {"name": "web-1"}, {"name": "web-4", "groups": ["Web"]}]'`+"\n")
	servers, rejected, err := RunCommand(context.Background(), commandConfig(inv), "production", 100)
	if err != nil || len(servers) != 1 || servers[0].Name != "web-1" {
		t.Fatalf("got %v, %+v; want web-1 only", err, servers)
	}
	want := []string{
		`command ` + inv + ` [1]: unknown field "zone"`,
		`command ` + inv + ` [2]: want an object`,
		`command ` + inv + ` [3]: duplicate server "web-1" (first at command ` + inv + ` [0])`,
		`command ` + inv + ` [4]: server "web-4": groups.0: invalid group name "Web"`,
	}
	if len(rejected) != len(want) {
		t.Fatalf("rejections %v, want %d", rejected, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(rejected[i].Error(), w) {
			t.Errorf("rejection %d:\n got %s\nwant %s...", i, rejected[i].Error(), w)
		}
	}
	if rejected[0].Name != "web-2" {
		t.Errorf("the rejection of an entry with a readable name does not name it: %+v", rejected[0])
	}
}

func TestCommandFailingKeepsTheLastGoodList(t *testing.T) {
	dir := t.TempDir()
	out, code := filepath.Join(dir, "out.json"), filepath.Join(dir, "code")
	os.WriteFile(out, []byte(serversJSON(1, 3)), 0o644)
	os.WriteFile(code, []byte("0"), 0o644)
	inv := script(t, dir, "inv", "cat "+out+"\necho 'inventory says no' >&2\nexit $(cat "+code+")\n")
	m := startManager(t, Options{})
	env := Environment{Name: "production", Discovery: &Config{Command: &CommandConfig{Run: Argv{inv}, Interval: time.Second}}}
	update(t, m, env)
	waitView(t, m, "production", 10*time.Second, "three servers", hasNames(webNames(1, 3)))

	os.WriteFile(out, []byte("[]"), 0o644)
	os.WriteFile(code, []byte("3"), 0o644)
	v := waitView(t, m, "production", 10*time.Second, "the failure reported", func(v View) bool { return v.Sources[0].Err != "" })
	if names(v) != webNames(1, 3) || !strings.Contains(v.Sources[0].Err, "exit status 3: stderr: inventory says no") {
		t.Errorf("after a failing run: %s; want the last good list and the reason", describe(v))
	}
	os.WriteFile(out, []byte(serversJSON(1, 4)), 0o644)
	os.WriteFile(code, []byte("0"), 0o644)
	v = waitView(t, m, "production", 10*time.Second, "four servers", hasNames(webNames(1, 4)))
	if v.Sources[0].Err != "" {
		t.Errorf("error %q after a good run", v.Sources[0].Err)
	}
}

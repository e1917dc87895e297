package discovery

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startManager returns a Manager stopped when the test ends.
func startManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	m := NewManager(opts)
	t.Cleanup(m.Close)
	return m
}

// update calls m.Update and fails the test on an error.
func update(t *testing.T, m *Manager, envs ...Environment) {
	t.Helper()
	if err := m.Update(envs); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// waitView waits until env's view satisfies ok, and fails the test after
// timeout with the last view and what was awaited.
func waitView(t *testing.T, m *Manager, env string, timeout time.Duration, what string, ok func(View) bool) View {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		v, _ := m.View(env)
		if ok(v) {
			return v
		}
		select {
		case <-m.Changes():
		case <-tick.C:
		case <-deadline.C:
			v, _ := m.View(env)
			t.Fatalf("after %s, still waiting for %s; view: %s", timeout, what, describe(v))
		}
	}
}

// names lists the names of the view's servers (static and discovered), sorted.
func names(v View) string {
	var out []string
	for _, s := range v.Servers {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// hasNames is a condition on the view's server names.
func hasNames(want string) func(View) bool {
	return func(v View) bool { return names(v) == want }
}

func describe(v View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d, servers [%s]", v.Generation, names(v))
	for _, r := range v.Rejected {
		fmt.Fprintf(&b, "\n  rejected: %s", r.Error())
	}
	for _, s := range v.Sources {
		fmt.Fprintf(&b, "\n  source %s %s: %d servers, answered %v, err %q", s.Kind, s.Target, s.Servers, s.Answered, s.Err)
	}
	if v.Held != nil {
		fmt.Fprintf(&b, "\n  %s", v.Held.Reason())
	}
	return b.String()
}

// writeFile writes path atomically, by a temporary file renamed over it, as
// editors and Terraform do.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serversJSON is a JSON list of n servers web-1..web-n at 10.0.0.i:22.
func serversJSON(from, to int) string {
	var items []string
	for i := from; i <= to; i++ {
		items = append(items, fmt.Sprintf(`{"name": "web-%d", "address": "10.0.0.%d:22", "groups": ["web"]}`, i, i))
	}
	return "[\n" + strings.Join(items, ",\n") + "\n]\n"
}

// webNames is "web-from,...,web-to" sorted as names sorts.
func webNames(from, to int, extra ...string) string {
	out := append([]string(nil), extra...)
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("web-%d", i))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// fileEnv is an Environment discovering servers from path.
func fileEnv(name, path string, maxRemove string, static ...Static) Environment {
	c := &Config{File: &FileConfig{Path: path, Debounce: 20 * time.Millisecond}}
	if maxRemove != "" {
		a, err := ParseAmount(maxRemove)
		if err != nil {
			panic(err)
		}
		c.MaxRemove = &a
	}
	return Environment{Name: name, Discovery: c, Static: static, DefaultPort: 22}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// checkIndex fails the test when the index the Manager kept across
// reports differs from one built anew.
func checkIndex(t *testing.T, m *Manager) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var list []*envState
	for _, n := range sortedNames(m.envs) {
		list = append(list, m.envs[n])
	}
	fresh := newIndex(list, m.opts.LocalTransport)
	if m.ix == nil {
		return
	}
	for name, o := range fresh.names {
		if k, ok := m.ix.names[name]; !ok || k.env != o.env || k.static != o.static {
			t.Errorf("index: name %s held by %+v, want %+v", name, k, o)
		}
	}
	if len(fresh.names) != len(m.ix.names) || len(fresh.machines) != len(m.ix.machines) {
		t.Errorf("index: %d names and %d machines kept, %d and %d anew", len(m.ix.names), len(m.ix.machines), len(fresh.names), len(fresh.machines))
	}
	for mach, owners := range fresh.machines {
		if len(m.ix.machines[mach]) != len(owners) {
			t.Errorf("index: machine %s has %d owners kept, %d anew", mach, len(m.ix.machines[mach]), len(owners))
		}
	}
}

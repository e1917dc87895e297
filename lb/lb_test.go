package lb_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/lbtest"
	"github.com/gitfleet/gitfleet/lb"
	"github.com/gitfleet/gitfleet/spec"
)

// startApps runs n version apps on 127.0.0.3x and returns them as backends.
func startApps(t *testing.T, n int) []lbtest.Backend {
	bin := lbtest.BuildApp(t)
	port := lbtest.FreePort(t)
	var bs []lbtest.Backend
	for i := 1; i <= n; i++ {
		addr := fmt.Sprintf("127.0.0.%d:%d", 30+i, port)
		cmd := exec.Command(bin, "-addr", addr, "-version", "v1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		bs = append(bs, lbtest.Backend{Name: fmt.Sprintf("s%d", i), Addr: addr})
	}
	return bs
}

func TestHAProxyDriver(t *testing.T) {
	h := lbtest.Start(t, startApps(t, 2))
	d, err := lb.New(&spec.LoadBalancer{Type: spec.LBHAProxy, Address: h.Socket, Backend: h.Backend, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wait := func(what string, ok func(map[string]fleet.LBServer) bool) map[string]fleet.LBServer {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := d.Servers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %+v", what, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("both ready and up", func(st map[string]fleet.LBServer) bool {
		return len(st) == 2 && st["s1"] == fleet.LBServer{Admin: fleet.LBReady, Up: true} && st["s2"].Admin == fleet.LBReady && st["s2"].Up
	})
	for _, state := range []fleet.LBAdmin{fleet.LBDrain, fleet.LBMaint, fleet.LBReady} {
		if err := d.Set(ctx, "s1", state); err != nil {
			t.Fatal(err)
		}
		st := wait("s1 "+string(state), func(st map[string]fleet.LBServer) bool { return st["s1"].Admin == state })
		if st["s2"].Admin != fleet.LBReady {
			t.Errorf("s2 is %s after s1 was set %s", st["s2"].Admin, state)
		}
		if out := h.Command(t, "show servers state web"); state == fleet.LBMaint && !strings.Contains(out, " s1 ") {
			t.Errorf("show servers state: %s", out)
		}
	}
	err = d.Set(ctx, "nope", fleet.LBDrain)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown server: %v, want HAProxy's refusal naming it", err)
	}
	bad, _ := lb.New(&spec.LoadBalancer{Type: spec.LBHAProxy, Address: h.Socket, Backend: "nosuch", Timeout: time.Second})
	if _, err := bad.Servers(ctx); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown backend: %v, want an error naming it", err)
	}
}

func TestCommandLB(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.WriteFile(state, []byte("# name state\nweb-1 ready up 3\nweb-2 maint down\n"), 0o644)
	d, _ := lb.New(&spec.LoadBalancer{Type: spec.LBCommand, Timeout: 2 * time.Second,
		State: "cat " + state,
		Drain: `echo "drain $GITFLEET_LB_SERVER" >> ` + filepath.Join(dir, "log"),
		Ready: `echo "$GITFLEET_LB_STATE $GITFLEET_LB_SERVER" >> ` + filepath.Join(dir, "log"),
	})
	ctx := context.Background()
	st, err := d.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st["web-1"] != (fleet.LBServer{Admin: fleet.LBReady, Up: true, Sessions: 3}) || st["web-2"] != (fleet.LBServer{Admin: fleet.LBMaint}) {
		t.Errorf("state: %+v", st)
	}
	d.Set(ctx, "web-1", fleet.LBDrain)
	d.Set(ctx, "web-1", fleet.LBMaint) // no maint command: drain
	d.Set(ctx, "web-2", fleet.LBReady)
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "drain web-1\ndrain web-1\nready web-2\n" {
		t.Errorf("commands ran: %q", b)
	}
	os.WriteFile(state, []byte("web-1 halfway\n"), 0o644)
	if _, err := d.Servers(ctx); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad state line: %v, want an error naming the line", err)
	}
	failing, _ := lb.New(&spec.LoadBalancer{Type: spec.LBCommand, State: "echo oops >&2; exit 3", Drain: "true", Ready: "true"})
	if _, err := failing.Servers(ctx); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing state command: %v, want its stderr", err)
	}
}

package discovery

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heldView waits for a held list and returns the view.
func heldView(t *testing.T, m *Manager, env string) View {
	t.Helper()
	return waitView(t, m, env, 5*time.Second, "a held list", func(v View) bool { return v.Held != nil })
}

func TestMaxRemoveHoldsAnEmptyInventoryUntilConfirmed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 10))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, ""))
	before := waitView(t, m, "production", 5*time.Second, "ten servers", hasNames(webNames(1, 10)))

	writeFile(t, path, "[]")
	v := heldView(t, m, "production")
	if names(v) != webNames(1, 10) || v.Generation != before.Generation {
		t.Errorf("with a held list the view changed: %s", describe(v))
	}
	h := v.Held
	if h.RemovedCount != 10 || len(h.Removed) != 10 || h.Servers != 10 || h.Limit != 5 || h.MaxRemove != "50%" || h.Added != 0 {
		t.Errorf("held %+v, want 10 of 10 removed, limit 5 of 50%%", h)
	}
	want := "held: the new list removes 10 of 10 servers (web-1, web-10, web-2"
	if !strings.HasPrefix(h.Reason(), want) || !strings.HasSuffix(h.Reason(), "more than maxRemove 50% allows (5); confirm generation "+itoa(h.Generation)+" to apply it") {
		t.Errorf("reason %q", h.Reason())
	}
	if err := m.Confirm("production", h.Generation+1); err == nil || !strings.Contains(err.Error(), "generation "+itoa(h.Generation+1)+" is not held; generation "+itoa(h.Generation)+" is") {
		t.Errorf("confirming another generation: %v", err)
	}
	if err := m.Confirm("production", h.Generation); err != nil {
		t.Fatal(err)
	}
	v, _ = m.View("production")
	if names(v) != "" || v.Held != nil || v.Generation != h.Generation {
		t.Errorf("after Confirm: %s; want no servers at generation %d", describe(v), h.Generation)
	}
	if err := m.Confirm("production", h.Generation); err == nil || !strings.Contains(err.Error(), "nothing is held") {
		t.Errorf("a second Confirm: %v", err)
	}
}

func TestMaxRemoveHoldsTenPercentAndLetsTheFullListBackWithoutConfirm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 10))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, ""))
	waitView(t, m, "production", 5*time.Second, "ten servers", hasNames(webNames(1, 10)))

	writeFile(t, path, serversJSON(1, 1))
	if h := heldView(t, m, "production").Held; h.RemovedCount != 9 {
		t.Errorf("removed %d, want 9", h.RemovedCount)
	}
	// The inventory recovers: nothing to confirm any more.
	writeFile(t, path, serversJSON(1, 10))
	waitView(t, m, "production", 5*time.Second, "the held list dropped", func(v View) bool { return v.Held == nil })
	// Removing half is within 50%.
	writeFile(t, path, serversJSON(6, 10))
	waitView(t, m, "production", 5*time.Second, "half the servers removed", hasNames(webNames(6, 10)))
}

func TestMaxRemoveHundredPercentAllowsScalingToZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 10))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, "100%"))
	waitView(t, m, "production", 5*time.Second, "ten servers", hasNames(webNames(1, 10)))
	writeFile(t, path, "[]")
	v := waitView(t, m, "production", 5*time.Second, "no servers", hasNames(""))
	if v.Held != nil {
		t.Errorf("held with maxRemove 100%%: %s", v.Held.Reason())
	}
}

func TestMaxRemoveCountsStaticServersAndTakesACount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 8))
	static := []Static{{Name: "db-1", Host: "10.0.1.1", Pos: "p.yaml:4"}, {Name: "db-2", Host: "10.0.1.2", Pos: "p.yaml:5"}}
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, "", static...))
	waitView(t, m, "production", 5*time.Second, "ten servers", hasNames(webNames(1, 8, "db-1", "db-2")))
	writeFile(t, path, serversJSON(1, 3))
	// 5 of 8 discovered servers, but 5 of 10 servers: within 50%.
	waitView(t, m, "production", 5*time.Second, "five removed", hasNames(webNames(1, 3, "db-1", "db-2")))
	writeFile(t, path, serversJSON(1, 8))
	waitView(t, m, "production", 5*time.Second, "back to eight", hasNames(webNames(1, 8, "db-1", "db-2")))
	writeFile(t, path, "[]")
	if h := heldView(t, m, "production").Held; h.RemovedCount != 8 || h.Servers != 10 || h.Limit != 5 {
		t.Errorf("held %+v; want 8 of 10 removed, limit 5", h)
	}
	writeFile(t, path, serversJSON(1, 8))
	waitView(t, m, "production", 5*time.Second, "back to eight", func(v View) bool { return v.Held == nil })

	update(t, m, fileEnv("production", path, "2", static...))
	writeFile(t, path, serversJSON(1, 5))
	if h := heldView(t, m, "production").Held; h.RemovedCount != 3 || h.Limit != 2 || h.MaxRemove != "2" {
		t.Errorf("held %+v; want 3 removed, limit 2", h)
	}
	writeFile(t, path, serversJSON(1, 6))
	waitView(t, m, "production", 5*time.Second, "two removed, within the count", hasNames(webNames(1, 6, "db-1", "db-2")))
	checkIndex(t, m)
}

func TestMaxRemoveANewerListReplacesTheHeldOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 10))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, ""))
	waitView(t, m, "production", 5*time.Second, "ten servers", hasNames(webNames(1, 10)))
	writeFile(t, path, serversJSON(1, 2))
	first := heldView(t, m, "production").Held
	writeFile(t, path, serversJSON(1, 1))
	v := waitView(t, m, "production", 5*time.Second, "the newer list held", func(v View) bool { return v.Held != nil && v.Held.Generation != first.Generation })
	if err := m.Confirm("production", first.Generation); err == nil {
		t.Error("the replaced generation could be confirmed")
	}
	if err := m.Confirm("production", v.Held.Generation); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.View("production"); names(v) != "web-1" {
		t.Errorf("after Confirm: %s", describe(v))
	}
}

func TestSeedSurvivesARestartWithABrokenInventory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 4))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, ""))
	before := waitView(t, m, "production", 5*time.Second, "four servers", hasNames(webNames(1, 4)))
	m.Close()

	// The daemon restarts while the inventory is broken.
	writeFile(t, path, "[{")
	m2 := startManager(t, Options{})
	env := fileEnv("production", path, "")
	env.Seed = before.Discovered()
	update(t, m2, env)
	v := waitView(t, m2, "production", 5*time.Second, "the broken file reported", func(v View) bool { return v.Sources[0].Err != "" })
	if names(v) != webNames(1, 4) {
		t.Errorf("after a restart with a broken inventory: %s; want the seeded servers", describe(v))
	}
	// And an empty answer is held against the seeded servers.
	writeFile(t, path, "[]")
	if h := heldView(t, m2, "production").Held; h.RemovedCount != 4 {
		t.Errorf("held %+v, want 4 removed", h)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestAmountOfRoundsDown(t *testing.T) {
	for _, tc := range []struct {
		a     string
		total int
		want  int
	}{
		{"50%", 10, 5}, {"50%", 5, 2}, {"50%", 1, 0}, {"100%", 7, 7}, {"0%", 9, 0}, {"3", 2, 3}, {"0", 10, 0},
	} {
		a, err := ParseAmount(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Of(tc.total); got != tc.want {
			t.Errorf("%s of %d = %d, want %d", tc.a, tc.total, got, tc.want)
		}
	}
	for _, bad := range []string{"", "-1", "101%", "5x", "%"} {
		if _, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) accepted", bad)
		}
	}
}

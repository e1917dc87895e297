package discovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileSourceAddsAndRemovesServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 4))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, "", Static{Name: "db-1", Host: "10.0.1.1", Pos: "p.yaml:4"}))
	v := waitView(t, m, "production", 5*time.Second, "the file's four servers and the static one", hasNames(webNames(1, 4, "db-1")))
	if v.Servers[0].Source != KindStatic || v.Servers[0].Name != "db-1" {
		t.Errorf("first server %+v, want the static db-1 first", v.Servers[0])
	}
	if d := v.Discovered(); len(d) != 4 || d[0].Host != "10.0.0.1" || d[0].Port != 22 || d[0].Source != KindFile {
		t.Errorf("discovered %+v, want web-1..4 from the file with host and port resolved", d)
	}
	gen := v.Generation

	writeFile(t, path, serversJSON(1, 5))
	v = waitView(t, m, "production", 5*time.Second, "web-5 added", hasNames(webNames(1, 5, "db-1")))
	if v.Generation <= gen {
		t.Errorf("generation %d after a change, want more than %d", v.Generation, gen)
	}
	writeFile(t, path, serversJSON(2, 5))
	waitView(t, m, "production", 5*time.Second, "web-1 removed", hasNames(webNames(2, 5, "db-1")))
}

func TestFileSourceSurvivesReplaceByRenameAndInPlaceWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servers.yaml")
	writeFile(t, path, "- {name: web-1, address: 10.0.0.1}\n")
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, "100%"))
	waitView(t, m, "production", 5*time.Second, "web-1", hasNames("web-1"))

	// Three replacements by rename in a row: a watch on the file itself
	// would have ended with the first.
	for i := 2; i <= 4; i++ {
		writeFile(t, path, serversJSON(1, i))
		waitView(t, m, "production", 5*time.Second, "the replaced file's servers", hasNames(webNames(1, i)))
	}
	// Moved away and another file moved in, as Terraform's local_file does.
	other := filepath.Join(dir, "next.yaml")
	os.WriteFile(other, []byte(serversJSON(1, 2)), 0o644)
	os.Rename(path, filepath.Join(dir, "old.yaml"))
	os.Rename(other, path)
	waitView(t, m, "production", 5*time.Second, "the moved-in file's servers", hasNames(webNames(1, 2)))
	// Written in place, truncated first.
	if err := os.WriteFile(path, []byte(serversJSON(1, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitView(t, m, "production", 5*time.Second, "the rewritten file's servers", hasNames(webNames(1, 3)))
}

func TestFileSourceRejectsABadEntryAtItsLineAndKeepsTheOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.yaml")
	writeFile(t, path, "- name: web-1\n  address: 10.0.0.1\n- name: web-2\n  address: 10.0.0.2\n")
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, ""))
	waitView(t, m, "production", 5*time.Second, "web-1 and web-2", hasNames("web-1,web-2"))

	writeFile(t, path, "- name: web-1\n  address: 10.0.0.1\n- name: web-2\n  address: '10.0.0.2:99999'\n- name: web-3\n  adress: 10.0.0.3\n- name: Web_4\n- name: web-5\n")
	v := waitView(t, m, "production", 5*time.Second, "web-5 added", func(v View) bool { return strings.Contains(names(v), "web-5") })
	if got := names(v); got != "web-1,web-2,web-5" {
		t.Errorf("servers %s, want web-1, web-2 (its previous entry) and web-5", got)
	}
	want := []string{
		`file ` + path + `:4 [1]: server "web-2": address: invalid address "10.0.0.2:99999"`,
		`file ` + path + `:6 [2]: unknown field "adress"`,
		`file ` + path + `:7 [3]: server "Web_4": name: invalid server name`,
	}
	if len(v.Rejected) != len(want) {
		t.Fatalf("%d rejections, want %d: %s", len(v.Rejected), len(want), describe(v))
	}
	for i, w := range want {
		if !strings.HasPrefix(v.Rejected[i].Error(), w) {
			t.Errorf("rejection %d:\n got %s\nwant %s...", i, v.Rejected[i].Error(), w)
		}
	}
	if !strings.Contains(v.Rejected[0].Reason, "its previous entry stays") {
		t.Errorf("the rejection of web-2 does not say its previous entry stays: %s", v.Rejected[0].Reason)
	}
	for _, s := range v.Servers {
		if s.Name == "web-2" && s.Address != "10.0.0.2" {
			t.Errorf("web-2 is at %q, want its previous address 10.0.0.2", s.Address)
		}
	}
}

func TestFileSourceKeepsTheLastGoodListWhenTheFileBreaks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.json")
	writeFile(t, path, serversJSON(1, 3))
	m := startManager(t, Options{})
	update(t, m, fileEnv("production", path, "100%"))
	waitView(t, m, "production", 5*time.Second, "three servers", hasNames(webNames(1, 3)))

	for _, tc := range []struct{ name, data, err string }{
		{"syntax error", "[{\"name\": \"web-1\",\n", path + ":2:"},
		{"empty file", "", "the file is empty"},
		{"not a list", "{\"servers\": []}\n", "want a list of servers"},
		{"removed", "", "no such file"},
	} {
		if tc.name == "removed" {
			os.Remove(path)
		} else {
			writeFile(t, path, tc.data)
		}
		v := waitView(t, m, "production", 5*time.Second, tc.name+" reported", func(v View) bool {
			return len(v.Sources) == 1 && strings.Contains(v.Sources[0].Err, tc.err)
		})
		if got := names(v); got != webNames(1, 3) {
			t.Errorf("%s: servers %s, want the last good list %s", tc.name, got, webNames(1, 3))
		}
	}
	writeFile(t, path, serversJSON(1, 2))
	v := waitView(t, m, "production", 5*time.Second, "the repaired file", hasNames(webNames(1, 2)))
	if v.Sources[0].Err != "" || v.Sources[0].Failures != 0 {
		t.Errorf("source status after repair: %+v, want no error", v.Sources[0])
	}
}

func TestFileSourceStartsOnAMissingFileAndPicksItUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inventory")
	path := filepath.Join(dir, "servers.json")
	m := startManager(t, Options{})
	env := fileEnv("production", path, "")
	env.Discovery.File.Rescan = 200 * time.Millisecond
	update(t, m, env)
	waitView(t, m, "production", 5*time.Second, "the missing file reported", func(v View) bool {
		return len(v.Sources) == 1 && strings.Contains(v.Sources[0].Err, "no such file")
	})
	os.MkdirAll(dir, 0o755)
	writeFile(t, path, serversJSON(1, 2))
	waitView(t, m, "production", 5*time.Second, "the servers of the new file", hasNames(webNames(1, 2)))
}

func TestReadFileRefusesAFIFOAndAHugeFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFile(fifo, 10); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: got %v, want not a regular file", err)
	}
	big := filepath.Join(dir, "big.json")
	f, _ := os.Create(big)
	f.Truncate(MaxFileBytes + 1)
	f.Close()
	if _, _, err := ReadFile(big, 10); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: got %v, want larger than", err)
	}
}

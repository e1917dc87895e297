// Package specgen writes large or hostile desired-state directories for
// measurements and tests: an alias bomb, a fleet of many servers, many apps
// and releases. Nothing it writes is committed; the figures of
// docs/security.md are measured on its output (see cmd/main.go).
package specgen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AliasBomb is a small file whose one big anchor is used many times: a
// 100 KB anchor used 2,000 times, as the issue that asked for alias limits
// reported, is AliasBomb(100<<10, 2000). Every use is an invalid server
// name, so a loader that quotes values in errors quotes it each time.
func AliasBomb(anchorBytes, uses int) []byte {
	var b strings.Builder
	b.Grow(anchorBytes + uses*32 + 128)
	b.WriteString("kind: Environment\nname: bomb\ndescription: &a ")
	b.WriteString(strings.Repeat("X", anchorBytes))
	b.WriteString("\nservers:\n")
	for i := 0; i < uses; i++ {
		b.WriteString("  - {name: *a, address: *a}\n")
	}
	return []byte(b.String())
}

// Servers is one Environment of n servers, an App and a Release of it that
// targets them all; about 50 bytes a server. The App's artifact is written
// by WriteServers.
func Servers(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: Environment\nname: big\nservers:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: s%06d.prod, address: 10.%d.%d.%d:22}\n", i, i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("---\nkind: App\nname: web\nartifact: {path: artifacts/web}\ndeployTo: /srv/web\n")
	b.WriteString("---\nkind: Release\napp: web\nenvironment: big\nversion: v1\n")
	return []byte(b.String())
}

// WriteAliasBomb writes AliasBomb as dir/bomb.yaml.
func WriteAliasBomb(dir string, anchorBytes, uses int) error {
	return write(dir, "bomb.yaml", AliasBomb(anchorBytes, uses))
}

// WriteServers writes Servers(n) as dir/fleet.yaml with the App's artifact.
func WriteServers(dir string, n int) error {
	if err := write(dir, "fleet.yaml", Servers(n)); err != nil {
		return err
	}
	return write(dir, "artifacts/web/v1/index.html", []byte("hello\n"))
}

// WriteAppsReleases writes n Apps, each with its own artifact directory and
// deployTo, and a Release of each in one Environment of 10 servers:
// environments.yaml, apps.yaml, releases.yaml and artifacts/app-N/v1.
func WriteAppsReleases(dir string, n int) error {
	var env strings.Builder
	env.WriteString("kind: Environment\nname: prod\nservers:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&env, "  - {name: web-%d, address: 10.0.0.%d}\n", i, i+1)
	}
	if err := write(dir, "environments.yaml", []byte(env.String())); err != nil {
		return err
	}
	var apps, rels strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&apps, "---\nkind: App\nname: app-%d\nartifact: {path: artifacts/app-%d}\ndeployTo: /srv/app-%d\nactivate: ./restart\n", i, i, i)
		fmt.Fprintf(&rels, "---\nkind: Release\napp: app-%d\nenvironment: prod\nversion: v1\n", i)
		if err := write(dir, fmt.Sprintf("artifacts/app-%d/v1/index.html", i), []byte(fmt.Sprintf("app %d\n", i))); err != nil {
			return err
		}
	}
	if err := write(dir, "apps.yaml", []byte(apps.String())); err != nil {
		return err
	}
	return write(dir, "releases.yaml", []byte(rels.String()))
}

func write(dir, name string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if _, err := w.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

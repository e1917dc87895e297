package source

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/go-git/go-git/v5/plumbing"
)

type recordingMetrics struct {
	mu         sync.Mutex
	fetches    []string // reasons; "" for success
	forcePushs int
	tagMoves   int
	revisions  []string
}

func (m *recordingMetrics) FetchDone(_ time.Duration, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetches = append(m.fetches, reason)
}
func (m *recordingMetrics) ForcePush() { m.mu.Lock(); m.forcePushs++; m.mu.Unlock() }
func (m *recordingMetrics) TagMoved()  { m.mu.Lock(); m.tagMoves++; m.mu.Unlock() }
func (m *recordingMetrics) SourceRevision(_, ref, commit string, _ time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revisions = append(m.revisions, ref+"@"+commit)
}

func newGit(t *testing.T, url string, ref GitRef) (*Git, *recordingMetrics) {
	m := &recordingMetrics{}
	return &Git{URL: url, Ref: ref, Dir: filepath.Join(t.TempDir(), "src"), Interval: time.Hour, Timeout: 20 * time.Second, Metrics: m}, m
}

func content(t *testing.T, s *Snapshot, path string) string {
	t.Helper()
	e := s.Tree.Get(path)
	if e == nil {
		return ""
	}
	return string(e.Data)
}

func pollGit(t *testing.T, g *Git) *Snapshot {
	t.Helper()
	s, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("poll %s: %v", g.Ref, err)
	}
	return s
}

func TestGitBranchOverHTTP(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"fleet/env.yaml": "a: 1\n", "README.md": "hi\n"})
	c1 := r.Commit("first")
	r.Push()
	srv := gittest.Serve(t, root, "", "")

	g, m := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	g.Path = "fleet"
	s := pollGit(t, g)
	if s.Revision != c1 || content(t, s, "env.yaml") != "a: 1\n" || s.Tree.Get("README.md") != nil {
		t.Fatalf("got revision %s with env.yaml %q, want %s with only the fleet/ sub-directory", s.Revision, content(t, s, "env.yaml"), c1)
	}
	if !strings.Contains(s.Origin, "branch main path fleet") || s.Author != "Ada <ada@example.com>" || s.Message != "first" {
		t.Errorf("origin %q author %q message %q", s.Origin, s.Author, s.Message)
	}

	// Unchanged remote: one request (the reference list), no fetch.
	before := srv.Requests()
	if s2 := pollGit(t, g); s2.Revision != c1 {
		t.Fatalf("second poll at %s, want %s", s2.Revision, c1)
	}
	if got := srv.Requests() - before; got != 1 {
		t.Errorf("poll of an unchanged remote made %d requests, want 1 (list only)", got)
	}

	r.Write(map[string]string{"fleet/env.yaml": "a: 2\n"})
	c2 := r.Commit("second")
	r.Push()
	s = pollGit(t, g)
	if s.Revision != c2 || content(t, s, "env.yaml") != "a: 2\n" {
		t.Fatalf("after a push: got %s %q, want %s a: 2", s.Revision, content(t, s, "env.yaml"), c2)
	}
	if m.forcePushs != 0 {
		t.Errorf("a fast-forward was counted as %d force pushes", m.forcePushs)
	}
	// The repository lives in the source's directory and has no work tree.
	if _, err := filepath.Glob(filepath.Join(g.Dir, "fleet", "*")); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(g.Dir, "fleet")); len(matches) != 0 {
		t.Errorf("a work tree was checked out in %s", g.Dir)
	}
}

func TestGitTagSemverAndCommit(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"v": "1.4.0"})
	c140 := r.Commit("1.4.0")
	r.Run("tag", "-a", "v1.4.0", "-m", "release 1.4.0")
	r.Write(map[string]string{"v": "1.5.0-rc.1"})
	cRC := r.Commit("rc")
	r.Run("tag", "v1.5.0-rc.1")
	r.Write(map[string]string{"v": "1.9.2"})
	c192 := r.Commit("1.9.2")
	r.Run("tag", "v1.9.2")
	r.Write(map[string]string{"v": "2.0.0"})
	r.Commit("2.0.0")
	r.Run("tag", "v2.0.0")
	r.Write(map[string]string{"v": "head"})
	head := r.Commit("head")
	r.Push()
	srv := gittest.Serve(t, root, "", "")
	url := srv.URL + "/fleet.git"

	tests := []struct {
		name string
		ref  GitRef
		want string
	}{
		{"annotated tag", GitRef{Tag: "v1.4.0"}, c140},
		{"semver range, highest wins", GitRef{Semver: ">=1.4.0 <2.0.0"}, c192},
		{"semver naming a pre-release", GitRef{Semver: ">=1.5.0-0 <1.6.0"}, cRC},
		{"semver skips pre-releases", GitRef{Semver: ">=1.4.0 <1.6.0"}, c140},
		{"semver with pre-releases asked", GitRef{Semver: ">=1.4.0 <1.6.0", Prereleases: true}, cRC},
		{"commit", GitRef{Commit: c192}, c192},
		{"branch", GitRef{Branch: "main"}, head},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGit(t, url, tt.ref)
			if s := pollGit(t, g); s.Revision != tt.want {
				t.Fatalf("%s: got %s, want %s", tt.ref, s.Revision, tt.want)
			}
		})
	}

	g, _ := newGit(t, url, GitRef{Semver: ">=3.0.0"})
	_, err := g.Snapshot(context.Background())
	var pe *PollError
	if !errors.As(err, &pe) || pe.Reason != ReasonNotFound {
		t.Fatalf("semver with no match: got %v, want a not_found poll error", err)
	}
	g, _ = newGit(t, url, GitRef{Tag: "v9.9.9"})
	if _, err := g.Snapshot(context.Background()); err == nil || !strings.Contains(err.Error(), "tag v9.9.9 not found") {
		t.Fatalf("missing tag: got %v", err)
	}
}

func TestGitForcePush(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"f": "1"})
	c1 := r.Commit("one")
	r.Write(map[string]string{"f": "2"})
	r.Commit("two")
	r.Push()
	url := "file://" + r.Bare

	g, m := newGit(t, url, GitRef{Branch: "main"})
	pollGit(t, g)
	// Rewind the branch to an older commit: a shallow repository cannot
	// fetch it and must clone afresh; the move is a rewrite.
	r.Run("reset", "-q", "--hard", c1)
	r.Push()
	if s := pollGit(t, g); s.Revision != c1 {
		t.Fatalf("after a force push to an older commit: got %s, want %s", s.Revision, c1)
	}
	if m.forcePushs != 1 {
		t.Errorf("got %d force pushes counted, want 1", m.forcePushs)
	}

	// A rewritten branch with requireFastForward is refused.
	r.Write(map[string]string{"f": "3"})
	r.Commit("three")
	r.Push()
	pollGit(t, g)
	r.Run("reset", "-q", "--hard", c1)
	r.Write(map[string]string{"f": "other"})
	r.Commit("other history")
	r.Push()
	g.RequireFastForward = true
	_, err := g.Snapshot(context.Background())
	var pe *PollError
	if !errors.As(err, &pe) || pe.Reason != ReasonNonFastForward || !strings.Contains(err.Error(), "requireFastForward refuses it") {
		t.Fatalf("got %v, want a non_fast_forward refusal", err)
	}
}

func TestGitAuthAndFailures(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"f": "1"})
	c1 := r.Commit("one")
	r.Push()
	srv := gittest.Serve(t, root, "deploy", "s3cret-token")

	g, _ := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	g.Auth = &GitAuth{Username: "deploy", Password: "s3cret-token"}
	if s := pollGit(t, g); s.Revision != c1 {
		t.Fatalf("with basic auth: got %s, want %s", s.Revision, c1)
	}

	g, m := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	g.Auth = &GitAuth{Username: "deploy", Password: "wrong-password"}
	_, err := g.Snapshot(context.Background())
	if err == nil || classify(err) != ReasonAuth {
		t.Fatalf("wrong password: got %v (reason %s), want an auth error", err, classify(err))
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error shows the password: %v", err)
	}
	if len(m.fetches) != 1 || m.fetches[0] != ReasonAuth {
		t.Errorf("metrics got %v, want one auth failure", m.fetches)
	}

	// A password in the URL never shows in errors or the origin.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	g, _ = newGit(t, "http://user:hunter2@"+addr+"/fleet.git", GitRef{Branch: "main"})
	_, err = g.Snapshot(context.Background())
	if err == nil || classify(err) != ReasonNetwork {
		t.Fatalf("unreachable remote: got %v (reason %s), want a network error", err, classify(err))
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(g.Origin(), "hunter2") {
		t.Errorf("password shown: %v / %s", err, g.Origin())
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://user:pw@example.com/a.git": "https://REDACTED@example.com/a.git",
		"https://token@example.com/a.git":   "https://REDACTED@example.com/a.git",
		"https://example.com/a.git":         "https://example.com/a.git",
		"ssh://git@example.com:2222/a.git":  "ssh://git@example.com:2222/a.git",
		"ssh://git:pw@example.com/a.git":    "ssh://REDACTED@example.com/a.git",
		"git@example.com:acme/fleet.git":    "git@example.com:acme/fleet.git",
		"file:///srv/git/fleet.git":         "file:///srv/git/fleet.git",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func plumbingHash(s string) plumbing.Hash { return plumbing.NewHash(s) }

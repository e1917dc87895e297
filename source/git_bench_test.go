package source

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/testenv"
	"github.com/go-git/go-git/v5/plumbing"
)

// benchRemote is a repository of 10,000 files and 2,000 commits served over
// smart HTTP by git http-backend.
func benchRemote(b *testing.B) (bare, url string) {
	b.Helper()
	testenv.NeedTools(b, "for the Git benchmarks (Debian: git)", "git")
	root := b.TempDir()
	bare = gittest.BigRemote(b, root, "big", 10000, 2000)
	srv := gittest.Serve(b, root, "", "")
	return bare, srv.URL + "/big.git"
}

// BenchmarkGitPoll measures gitfleet's poll of a large remote: unchanged
// (one reference list, no fetch), and with one new commit (list, fetch,
// and the read of the 10,000-file tree that becomes the snapshot); beside
// them the fetch alone, and `git fetch` of the git CLI on a clone of the
// same shape (shallow, single branch).
func BenchmarkGitPoll(b *testing.B) {
	bare, url := benchRemote(b)
	n := 0
	b.Run("unchanged", func(b *testing.B) {
		g := &Git{URL: url, Ref: GitRef{Branch: "main"}, Dir: b.TempDir(), Timeout: time.Minute}
		if _, err := g.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := g.Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-new-commit", func(b *testing.B) {
		g := &Git{URL: url, Ref: GitRef{Branch: "main"}, Dir: b.TempDir(), Timeout: time.Minute}
		if _, err := g.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			n++
			want := gittest.AddCommit(b, bare, n)
			b.StartTimer()
			s, err := g.Snapshot(context.Background())
			if err != nil || s.Revision != want {
				b.Fatalf("got %v %v, want %s", s, err, want)
			}
		}
	})
	b.Run("first-clone", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			g := &Git{URL: url, Ref: GitRef{Branch: "main"}, Dir: filepath.Join(b.TempDir(), "src"), Timeout: time.Minute}
			if _, err := g.Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-clone-git-cli", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(b.TempDir(), "clone")
			gittest.Git(b, filepath.Dir(dir), "clone", "-q", "--bare", "--depth", "1", "--single-branch", "--branch", "main", url, dir)
		}
	})
	b.Run("one-new-commit-fetch-only", func(b *testing.B) {
		g := &Git{URL: url, Ref: GitRef{Branch: "main"}, Dir: b.TempDir(), Timeout: time.Minute}
		if _, err := g.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			n++
			want := gittest.AddCommit(b, bare, n)
			b.StartTimer()
			refs, err := g.repo.list(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			w, err := g.pick(refs)
			if err != nil {
				b.Fatal(err)
			}
			if err := g.fetch(context.Background(), w); err != nil || w.hash != plumbing.NewHash(want) {
				b.Fatalf("fetch: %v (%s, want %s)", err, w.hash, want)
			}
		}
	})
	b.Run("one-new-commit-git-cli", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "clone")
		gittest.Git(b, filepath.Dir(dir), "clone", "-q", "--bare", "--depth", "1", "--single-branch", "--branch", "main", url, dir)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			n++
			want := gittest.AddCommit(b, bare, n)
			b.StartTimer()
			gittest.Git(b, dir, "fetch", "-q", "--no-tags", "origin", "+refs/heads/main:refs/heads/main")
			b.StopTimer()
			if got := gittest.Git(b, dir, "rev-parse", "main"); got != want {
				b.Fatalf("git fetch got %s, want %s", got, want)
			}
			b.StartTimer()
		}
	})
}

package executor

import (
	"strings"

	"github.com/gitfleet/gitfleet/tree"
)

// DigestLen is how many hex digits of the content digest name a release.
const DigestLen = 12

// Release is one version of an app's files, content-addressed.
type Release struct {
	ID      string // <version>-<digest>, the directory name under releases/
	Version string
	Digest  string // full hex sha256 of the tree
	// Commit is the Git commit the version's tag pointed to when the
	// release was cut from a Git artifact; "" for directory artifacts.
	Commit string
	Tree   *tree.Tree
}

// NewRelease names the tree's content as a release of version.
func NewRelease(version string, t *tree.Tree) Release {
	d := t.Digest()
	return Release{ID: ReleaseID(version, d), Version: version, Digest: d, Tree: t}
}

// ReleaseID is the directory name of a release.
func ReleaseID(version, digest string) string {
	if len(digest) > DigestLen {
		digest = digest[:DigestLen]
	}
	return version + "-" + digest
}

// VersionOf returns the version part of a release ID.
func VersionOf(id string) string {
	if i := strings.LastIndexByte(id, '-'); i > 0 && len(id)-i-1 == DigestLen {
		return id[:i]
	}
	return id
}

// tmpPrefix starts the names of entries being written; they are never taken
// for releases and are removed when found stale.
const tmpPrefix = ".tmp-"

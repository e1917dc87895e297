// Package source yields snapshots of the desired state: a complete,
// immutable file tree and the revision it was read at. A source never hands
// out a half-read tree; what a snapshot holds is exactly what is validated
// and deployed.
package source

import (
	"time"

	"github.com/gitfleet/gitfleet/tree"
)

// Snapshot is the desired-state repository at one revision.
type Snapshot struct {
	// Revision identifies the content: a commit for Git, the tree's digest
	// for a directory.
	Revision string
	// Origin says where it came from, for logs and plans (no credentials).
	Origin string
	Tree   *tree.Tree
	// Read is when the snapshot was taken.
	Read time.Time
	// Author and Message describe the commit, for Git sources.
	Author  string
	Message string
}

// Short is the revision shortened for display.
func (s *Snapshot) Short() string { return ShortRevision(s.Revision) }

// ShortRevision shortens a revision to 12 characters for display.
func ShortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// Update is what a watching source reports: a new snapshot, or the error that
// kept it from reading one.
type Update struct {
	Snapshot *Snapshot
	Err      error
}

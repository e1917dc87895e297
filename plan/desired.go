package plan

import (
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Desired is the validated desired state at one revision, with the artifact
// of every Release cut out of the snapshot, checked and named by digest
// (package resolve makes it).
type Desired struct {
	Revision string
	Origin   string
	// Author is the revision's commit author (Git sources).
	Author   string
	Spec     *spec.Desired
	Releases map[spec.Key]fleet.Release
	// DB are the releases' database changes with their SQL read from the
	// repository and their checksums.
	DB map[spec.Key][]DBChange
	// Pins are the moved Git tags of artifacts, pinned to the commit of
	// their first activation (resolve.PinMovedTags); nil when none moved.
	Pins *Pins
}

// DBChange is a database change of a release, ready to apply.
type DBChange struct {
	spec.DBChange
	SQLText  string
	Checksum string
}

// Pins is what pinning moved tags adds to a desired state for MakePlan.
type Pins struct {
	// Hold says why servers not yet on a release are held, by release.
	Hold map[spec.Key]string
	// Note names a move, shown with the servers' standing, by release.
	Note map[spec.Key]string
}

// pinServer applies the pin of a release to one server's standing and
// step: with the pin unreadable, a server that would get the release is
// held; with the release pinned, the move is named in the reasons.
func pinServer(d *Desired, k spec.Key, ss *ServerStatus, sc *ServerChange) *ServerChange {
	if d.Pins == nil {
		return sc
	}
	if why := d.Pins.Hold[k]; why != "" && sc != nil && ss.State == OutOfSync {
		ss.Held, ss.Reason = true, why
		return nil
	}
	note := d.Pins.Note[k]
	switch {
	case note == "":
	case sc != nil:
		sc.Reason += "; " + note
		ss.Reason = sc.Reason
	case ss.Reason == "":
		ss.Reason = note
	}
	return sc
}

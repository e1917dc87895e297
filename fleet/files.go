package fleet

import (
	"encoding/json"
	"fmt"
	"time"
)

// FileState is a managed file as found on a server.
type FileState struct {
	Exists bool   `json:"exists"`
	Digest string `json:"digest,omitempty"` // hex sha256
	Mode   uint32 `json:"mode,omitempty"`
}

// FileSum is a regular file of a release on a server.
type FileSum struct {
	Sum  string // hex sha256
	Mode uint32
}

// EnvRecordFormat is the format of the environment lane's record this
// gitfleet writes.
const EnvRecordFormat = 1

// EnvRecordDir is the directory, in an environmentFiles root, where the
// environment lane keeps its records; EnvRecordPath names one.
const EnvRecordDir = ".gitfleet"

// EnvRecordPath is where the environment lane records, in root, what it
// applied there for environment env.
func EnvRecordPath(root, env string) string {
	if root == "/" {
		root = ""
	}
	return root + "/" + EnvRecordDir + "/environment-" + env + ".json"
}

// EnvRecord is what the environment lane applied below one
// environmentFiles root of a server: the digest and mode of every managed
// file there, as written. It makes drift a fact read from the server: a
// file that differs from what was applied drifted; a file whose desired
// content differs from what was applied is a change to make.
type EnvRecord struct {
	Format      int                  `json:"format"`
	Environment string               `json:"environment"`
	Revision    string               `json:"revision"`
	AppliedAt   time.Time            `json:"appliedAt"`
	Files       map[string]FileState `json:"files"`
}

// MaxEnvRecordBytes bounds a record read from a server.
const MaxEnvRecordBytes = 1 << 20

// DecodeEnvRecord reads a record; one of a newer format is an error
// (*NewerFormatError).
func DecodeEnvRecord(data []byte) (*EnvRecord, error) {
	r := &EnvRecord{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("environment record: %w", err)
	}
	if r.Format > EnvRecordFormat {
		return nil, &NewerFormatError{What: "environment record", Format: r.Format, Known: EnvRecordFormat}
	}
	return r, nil
}

// ConfigState is what the environment lane found on one server: the
// managed files as they are, and as the records say they were applied.
type ConfigState struct {
	Files map[string]FileState
	// Applied is what the records below the roots say was applied, by
	// path; a path the record of its root does not name is missing.
	Applied map[string]FileState
	// NoRecord holds the paths whose root holds no record for the
	// environment (nothing applied there yet, or by a gitfleet before
	// the records).
	NoRecord map[string]bool
}

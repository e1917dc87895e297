package fleet

import (
	"log/slog"

	"github.com/gitfleet/gitfleet/spec"
)

// Request is one server step of a rollout.
type Request struct {
	Environment string
	App         *spec.App
	Server      *spec.Server
	Release     Release
	Revision    string
	Log         *slog.Logger // carries environment, app, revision, server
}

// ConfigRequest is the environment lane's step on one server: the files
// to write (only those that differ), every managed file of the server
// (for the record of what was applied), and the command to run afterwards.
type ConfigRequest struct {
	Environment string
	Server      *spec.Server
	Files       []spec.RenderedFile
	All         []spec.RenderedFile
	OnChange    string
	Revision    string
	Log         *slog.Logger
}

// DBChange is one database change to apply: SQL, run in a transaction
// unless it cannot be, or nothing to run here (a command change, run on a
// server by the caller, only recorded).
type DBChange struct {
	ID          string
	SQL         string
	Checksum    string // hex sha256 of what the change runs
	Transaction bool
	Revision    string
	App         string
	Environment string
}

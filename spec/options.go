package spec

import "time"

// Default limits of Options.
const (
	// DefaultMaxFileBytes bounds one desired-state file, and what one of
	// its documents may grow to when its aliases are expanded.
	DefaultMaxFileBytes = 8 << 20
	// DefaultMaxRenderedBytes bounds one managed file rendered for one
	// server.
	DefaultMaxRenderedBytes = 1 << 20
	// DefaultRenderTimeout bounds the rendering of an Environment's
	// templates for all its servers at load time, and for one server at
	// every pass.
	DefaultRenderTimeout = 2 * time.Second
	// DefaultSSHPort is the port of a server whose address and
	// Environment name none, when Options.SSHPort is zero.
	DefaultSSHPort = 22
)

// Bounds of what an error quotes and how many errors are reported.
const (
	// MaxQuoted is the length beyond which a value quoted in an error is
	// cut (its length is said instead).
	MaxQuoted = 200
	// MaxMessage bounds one error message.
	MaxMessage = 1000
	// MaxErrorsPerFile bounds the problems reported for one file; the
	// rest are counted in one "and N more" line.
	MaxErrorsPerFile = 100
	// MaxErrors bounds the problems reported for a whole desired state.
	MaxErrors = 1000
)

// Options are what the daemon's configuration (gitfleet.yaml) tells
// loading: limits, and what can be checked only against the
// configuration. The zero value takes every default and checks nothing
// that needs the configuration.
type Options struct {
	// MaxFileBytes bounds each file read as desired state, and the size
	// of each of its documents with its aliases expanded
	// (limits.maxFileBytes; 0: DefaultMaxFileBytes).
	MaxFileBytes int64
	// MaxRenderedBytes bounds a managed file rendered for one server
	// (limits.maxRenderedBytes; 0: DefaultMaxRenderedBytes).
	MaxRenderedBytes int64
	// RenderTimeout bounds template rendering (limits.renderTimeout; 0:
	// DefaultRenderTimeout).
	RenderTimeout time.Duration
	// AllowEmpty accepts a desired state without any Environment, which
	// leaves every server unmanaged (allowEmpty).
	AllowEmpty bool
	// Roots, when not nil, are the only server directories managed files
	// of the environment lane may be in (environmentFiles.roots).
	Roots []string
	// Databases, when not nil, are the names a Release's database.target
	// may name (the keys of databases).
	Databases []string
	// SSHPort is the port of servers whose address and Environment name
	// none (transport.ssh.port; 0: DefaultSSHPort). Two servers at the
	// same host and port are one machine.
	SSHPort int
	// LocalTransport says servers are directories named after them
	// (transport local): addresses are then not compared.
	LocalTransport bool
}

func (o Options) withDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxRenderedBytes <= 0 {
		o.MaxRenderedBytes = DefaultMaxRenderedBytes
	}
	if o.RenderTimeout <= 0 {
		o.RenderTimeout = DefaultRenderTimeout
	}
	if o.SSHPort <= 0 {
		o.SSHPort = DefaultSSHPort
	}
	return o
}

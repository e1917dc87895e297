package archive

import "errors"

// Limits bound what an archive may expand to. Zero fields take defaults.
type Limits struct {
	// MaxEntries bounds the entries of any kind (default 200,000, as for a
	// directory of the desired state).
	MaxEntries int
	// MaxBytes bounds the total size of the files (default 4 GiB).
	MaxBytes int64
	// MaxFileBytes bounds one file (default: MaxBytes).
	MaxFileBytes int64
}

// The defaults of Limits.
const (
	DefaultMaxEntries = 200_000
	DefaultMaxBytes   = 4 << 30
)

// WithDefaults fills in the fields left at zero.
func (l Limits) WithDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFileBytes <= 0 || l.MaxFileBytes > l.MaxBytes {
		l.MaxFileBytes = l.MaxBytes
	}
	return l
}

// Errors wrapped by every refusal, by kind.
var (
	// ErrUnsafe: the archive holds an entry gitfleet never deploys.
	ErrUnsafe = errors.New("unsafe archive")
	// ErrLimit: the archive expands beyond Limits.
	ErrLimit = errors.New("archive limit exceeded")
)

package artifact

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/source"
)

// Kinds of failure, by what a retry would do.
var (
	// ErrNotFound: the version (archive, checksums, tag) is not in the
	// store. Retry later: CI may not have published it yet.
	ErrNotFound = errors.New("not found")
	// ErrIntegrity: the content does not match its digest, or a signature
	// is missing or wrong. Never retried for the same digest.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrAuth: the store refused the credentials (401, 403).
	ErrAuth = errors.New("access denied")
	// ErrConfig: the App's artifact settings are wrong (a bad template, a
	// missing digest). Not retried until the desired state changes.
	ErrConfig = errors.New("bad artifact configuration")
)

// Retryable reports whether trying again, unchanged, may succeed: false
// for content refused (integrity, unsafe or oversized archives) and bad
// configuration; true for the rest (not found yet, network, timeouts,
// server errors, auth that may be fixed by rotating a secret).
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrConfig),
		errors.Is(err, archive.ErrUnsafe), errors.Is(err, archive.ErrLimit),
		errors.Is(err, blobcache.ErrTooLarge), errors.Is(err, blobcache.ErrMismatch),
		errors.Is(err, source.ErrVerify):
		return false
	}
	return true
}

// statusError is an HTTP answer other than 2xx. Its message is the URL and
// the status with the standard text (never the server's reason phrase).
type statusError struct {
	url  string // redacted
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.url, e.code, http.StatusText(e.code))
}

func (e *statusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.code == http.StatusNotFound || e.code == http.StatusGone
	case ErrAuth:
		return e.code == http.StatusUnauthorized || e.code == http.StatusForbidden
	}
	return false
}

// integrity wraps an error as ErrIntegrity, keeping its message.
type integrityError struct{ err error }

func (e integrityError) Error() string   { return e.err.Error() }
func (e integrityError) Unwrap() []error { return []error{e.err, ErrIntegrity} }

func configErr(format string, args ...any) error {
	return configError{fmt.Errorf(format, args...)}
}

type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

func errorsIsMismatch(err error) bool {
	return errors.Is(err, blobcache.ErrMismatch) || errors.Is(err, blobcache.ErrTooLarge)
}

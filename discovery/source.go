package discovery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// source is one running discovery source of an Environment.
type source interface {
	// run reads the source at once and again whenever it may have
	// changed, until ctx ends, handing every read to report. A read that
	// fails reports its error; the caller keeps the last good list.
	run(ctx context.Context, report func(result))
}

// result is one read of a source.
type result struct {
	answer answer
	err    error
}

// sourceEnv is what every source is given besides its configuration.
type sourceEnv struct {
	environment string
	maxServers  int
	log         *slog.Logger
}

// newSource makes the source of one kind of c (defaults set).
func newSource(kind string, c Config, se sourceEnv) source {
	switch kind {
	case KindFile:
		return &fileSource{cfg: *c.File, env: se}
	case KindCommand:
		return &commandSource{cfg: *c.Command, env: se}
	case KindDNS:
		return &dnsSource{cfg: *c.DNS, env: se}
	case KindEtcd:
		return &etcdSource{cfg: *c.Etcd, env: se}
	}
	return nil
}

// target names what a source of kind reads, for status and origins.
func target(kind string, c Config) string {
	switch kind {
	case KindFile:
		return c.File.Path
	case KindCommand:
		return c.Command.Run[0]
	case KindDNS:
		return c.DNS.Name
	case KindEtcd:
		return c.Etcd.Prefix
	}
	return ""
}

// configOf is the part of c a source of kind depends on: a source whose
// part did not change keeps running across Update.
func configOf(kind string, c Config) any {
	switch kind {
	case KindFile:
		return c.File
	case KindCommand:
		return c.Command
	case KindDNS:
		return c.DNS
	case KindEtcd:
		return c.Etcd
	}
	return nil
}

// kinds lists the sources c configures, in a fixed order.
func kinds(c Config) []string {
	var out []string
	for _, k := range []string{KindFile, KindCommand, KindDNS, KindEtcd} {
		if !isNilConfig(k, c) {
			out = append(out, k)
		}
	}
	return out
}

func isNilConfig(kind string, c Config) bool {
	switch kind {
	case KindFile:
		return c.File == nil
	case KindCommand:
		return c.Command == nil
	case KindDNS:
		return c.DNS == nil
	case KindEtcd:
		return c.Etcd == nil
	}
	return true
}

// backoff is the wait after the n-th failure in a row (n >= 1): from lo,
// doubling, at most hi, with up to 20% jitter off.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	if d > hi {
		d = hi
	}
	return d - time.Duration(randN(int64(d)/5+1))
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// randN is a random number in [0, n), n > 0.
func randN(n int64) int64 { return rand.Int64N(n) }

// Command dist builds gitfleet's release artifacts into a directory: for
// every architecture a tar.gz archive, a .deb and an .rpm, and SHA256SUMS
// over them (see package packaging). make dist runs it:
//
//	go run ./tools/dist -version v1.4.2 -commit $(git rev-parse HEAD) -date 2026-05-01T12:00:00Z -out dist
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/packaging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	version := fs.String("version", "", "version: a tag (v1.4.2) or git describe --tags --always --dirty")
	commit := fs.String("commit", "unknown", "the commit built")
	date := fs.String("date", "", "build date, RFC 3339 (default: SOURCE_DATE_EPOCH, else now)")
	out := fs.String("out", "dist", "output directory")
	arches := fs.String("arch", "amd64,arm64", "comma-separated Go architectures (linux)")
	maintainer := fs.String("maintainer", "gitfleet maintainers <maintainers@gitfleet.invalid>", "Maintainer of the packages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return fmt.Errorf("-version is required")
	}
	built, err := buildDate(*date)
	if err != nil {
		return err
	}
	module, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(module, "go.mod")); err != nil {
		return fmt.Errorf("run it from the repository root: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	arts, err := packaging.Dist(ctx, packaging.Options{
		Module:     module,
		Out:        *out,
		Arches:     strings.Split(*arches, ","),
		Build:      packaging.Build{Version: *version, Commit: *commit, Date: built},
		Maintainer: *maintainer,
	})
	if err != nil {
		return err
	}
	for _, a := range arts {
		fmt.Printf("%10d  %s\n", a.Size, a.Path)
	}
	return nil
}

// buildDate reads -date, or SOURCE_DATE_EPOCH, or takes the time now.
func buildDate(s string) (time.Time, error) {
	if s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("-date %q: want RFC 3339, e.g. 2026-05-01T12:00:00Z", s)
		}
		return t.UTC(), nil
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		var sec int64
		if _, err := fmt.Sscan(e, &sec); err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", e)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Now().UTC().Truncate(time.Second), nil
}

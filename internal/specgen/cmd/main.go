// Command specgen writes the desired-state directories that the figures of
// docs/security.md are measured on:
//
//	go run ./internal/specgen/cmd -kind alias   /tmp/gf-alias     # 165 KB, a 100 KB anchor used 2,000 times
//	go run ./internal/specgen/cmd -kind servers /tmp/gf-servers   # 5 MB, 100,000 servers
//	go run ./internal/specgen/cmd -kind apps    /tmp/gf-apps      # 5,000 apps, 5,000 releases
//	/usr/bin/time -v gitfleet validate /tmp/gf-alias
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gitfleet/gitfleet/internal/specgen"
)

func main() {
	kind := flag.String("kind", "", "alias, servers or apps")
	n := flag.Int("n", 0, "uses of the anchor, servers, or apps (default 2000, 100000, 5000)")
	anchor := flag.Int("anchor", 100<<10, "bytes of the anchor (alias)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: specgen -kind alias|servers|apps [-n N] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	var err error
	switch *kind {
	case "alias":
		err = specgen.WriteAliasBomb(dir, *anchor, or(*n, 2000))
	case "servers":
		err = specgen.WriteServers(dir, or(*n, 100_000))
	case "apps":
		err = specgen.WriteAppsReleases(dir, or(*n, 5000))
	default:
		err = fmt.Errorf("-kind %q: want alias, servers or apps", *kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

func or(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

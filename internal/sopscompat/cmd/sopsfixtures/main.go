// Command sopsfixtures encrypts the fixtures of package secrets with the
// sops library: `make sops-fixtures`, or from internal/sopscompat
// `go run ./cmd/sopsfixtures -dir ../../secrets/testdata/sops`. Commit
// what it writes; `make test-sops` then checks it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gitfleet/gitfleet/internal/sopscompat"
)

func main() {
	dir := flag.String("dir", "../../secrets/testdata/sops", "the fixture directory, with the plaintexts under plain/")
	flag.Parse()
	m, err := sopscompat.Generate(*dir, func(k, v string) { os.Setenv(k, v) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "sopsfixtures:", err)
		os.Exit(1)
	}
	fmt.Printf("sopsfixtures: %d files encrypted by sops %s for %d test keys in %s\n", len(m.Files), m.SopsVersion, len(m.Keys), *dir)
}

package spec

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoad decodes and validates a desired state of 10 environments,
// 5 apps and 10,000 servers: what every new revision costs before planning.
func BenchmarkLoad(b *testing.B) {
	var y strings.Builder
	for e := 0; e < 10; e++ {
		fmt.Fprintf(&y, "---\nkind: Environment\nname: env-%d\nservers:\n", e)
		for s := e; s < 10000; s += 10 {
			fmt.Fprintf(&y, "  - {name: srv-%d, address: 10.0.%d.%d:22, groups: [web]}\n", s, s/250, s%250)
		}
	}
	for a := 0; a < 5; a++ {
		fmt.Fprintf(&y, "---\nkind: App\nname: app-%d\nartifact: {path: artifacts/app-%d}\ndeployTo: /srv/app-%d\n", a, a, a)
		for e := 0; e < 10; e++ {
			fmt.Fprintf(&y, "---\nkind: Release\napp: app-%d\nenvironment: env-%d\nversion: v2\n", a, e)
		}
	}
	files := []File{{Path: "fleet.yaml", Data: []byte(y.String())}}
	b.SetBytes(int64(y.Len()))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := Load(files)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Releases) != 50 {
			b.Fatalf("got %d releases, want 50", len(d.Releases))
		}
	}
}

package secrets

// The files of testdata/sops were encrypted by the sops library (the
// version fixtures.json names) with internal/sopscompat, a module of its
// own so that these tests do not fetch nor build the library and its
// cloud SDKs: `make sops-fixtures` writes them, `make test-sops` checks
// that sops decrypts them and tests the other direction (sops decrypts
// what gitfleet encrypts). fixtures.json says how sops made each file,
// with which test keys (under keys/) and from which plaintext (under
// plain/).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
)

const fixtureDir = "testdata/sops"

// The plaintexts of the fixtures.
var (
	plainYAML   = string(mustReadPlain("prod.yaml"))
	plainJSON   = string(mustReadPlain("prod.json"))
	plainDotenv = string(mustReadPlain("app.env"))
	plainBinary = mustReadPlain("blob.bin")
	plainRules  = string(mustReadPlain("rules.yaml"))
)

func mustReadPlain(name string) []byte {
	b, err := os.ReadFile(filepath.Join(fixtureDir, "plain", name))
	if err != nil {
		panic("the plaintexts of the sops fixtures: " + err.Error())
	}
	return b
}

// sopsManifest is fixtures.json (see internal/sopscompat.Manifest).
type sopsManifest struct {
	SopsVersion string `json:"sops_version"`
	Keys        []struct {
		Name, Type, File, Recipient string
	} `json:"keys"`
	Files []sopsFixture `json:"files"`
}

// sopsFixture is how sops made one file of testdata/sops.
type sopsFixture struct {
	File, Format, Plain string
	Groups              [][]string // names of keys
	Threshold           int        // groups needed
	Rule                struct{ Kind, Value string }
	MACOnlyEncrypted    bool   `json:"mac_only_encrypted"`
	MadeBy              string `json:"made_by"`
	From                string
}

var loadManifest = sync.OnceValues(func() (*sopsManifest, error) {
	b, err := os.ReadFile(filepath.Join(fixtureDir, "fixtures.json"))
	if err != nil {
		return nil, err
	}
	m := &sopsManifest{}
	return m, json.Unmarshal(b, m)
})

func manifest(t testing.TB) *sopsManifest {
	t.Helper()
	m, err := loadManifest()
	if err != nil {
		t.Fatalf("the manifest of the sops fixtures: %v", err)
	}
	return m
}

// fromSops returns a file that sops encrypted, by its name in the
// manifest.
func fromSops(t testing.TB, name string) []byte {
	t.Helper()
	for _, f := range manifest(t).Files {
		if f.File == name {
			b, err := os.ReadFile(filepath.Join(fixtureDir, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no sops fixture %s in the manifest", name)
	return nil
}

// fixturePath is the identity file of a test key of the fixtures.
func fixturePath(t testing.TB, name string) string {
	t.Helper()
	for _, k := range manifest(t).Keys {
		if k.Name == name {
			return filepath.Join(fixtureDir, k.File)
		}
	}
	t.Fatalf("no test key %s in the manifest", name)
	return ""
}

// fixtureKeys loads test keys of the fixtures by name (x0, x1, x2, pq,
// ssh) from their files.
func fixtureKeys(t testing.TB, names ...string) *Keys {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, fixturePath(t, n))
	}
	k, err := LoadKeys(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixtureRecipients returns the public keys of test keys by name.
func fixtureRecipients(t testing.TB, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		found := false
		for _, k := range manifest(t).Keys {
			if k.Name == n {
				out, found = append(out, k.Recipient), true
			}
		}
		if !found {
			t.Fatalf("no test key %s in the manifest", n)
		}
	}
	return out
}

// fixtureSecretKey returns the text of an age test key, to look for it in
// output.
func fixtureSecretKey(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(fixturePath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return line
		}
	}
	t.Fatalf("no age identity in the test key %s", name)
	return ""
}

// ids makes n X25519 identities, for tests that encrypt with gitfleet.
func ids(t testing.TB, n int) []*age.X25519Identity {
	t.Helper()
	out := make([]*age.X25519Identity, n)
	for i := range out {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func recipientsOf(list ...*age.X25519Identity) []string {
	var out []string
	for _, id := range list {
		out = append(out, id.Recipient().String())
	}
	return out
}

func keysOf(list ...*age.X25519Identity) *Keys {
	var out []age.Identity
	for _, id := range list {
		out = append(out, id)
	}
	return NewKeys(out...)
}

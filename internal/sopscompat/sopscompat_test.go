package sopscompat

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gitfleet/gitfleet/secrets"
	"go.yaml.in/yaml/v3"
)

// fixtureDir holds the committed fixtures of package secrets.
const fixtureDir = "../../secrets/testdata/sops"

func committed(t *testing.T) *Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// useKeys lets the sops library find exactly the named test keys of m
// (files under dir), for the rest of the test.
func useKeys(t *testing.T, m *Manifest, dir string, names ...string) {
	t.Helper()
	var ids []string
	ssh := ""
	for _, n := range names {
		k := m.Key(n)
		if k.Name == "" {
			t.Fatalf("no test key %s", n)
		}
		path := filepath.Join(dir, k.File)
		if k.Type == "ssh-ed25519" {
			ssh = path
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
				ids = append(ids, line)
			}
		}
	}
	KeyEnv(t.Setenv, os.Unsetenv, strings.Join(ids, "\n"), ssh, t.TempDir())
}

// keyFiles loads named test keys with gitfleet.
func keyFiles(t *testing.T, m *Manifest, dir string, names ...string) *secrets.Keys {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(dir, m.Key(n).File))
	}
	k, err := secrets.LoadKeys(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// enough names the last key of each of the first Threshold groups.
func enough(f Fixture) []string {
	var out []string
	for _, g := range f.Groups[:f.Threshold] {
		out = append(out, g[len(g)-1])
	}
	return out
}

// sameContent compares plaintexts as data: YAML and JSON parsed, dotenv
// by lines without comments (gitfleet does not keep them), binary byte
// for byte.
func sameContent(t *testing.T, format string, got, want []byte) {
	t.Helper()
	switch format {
	case "yaml", "json":
		var g, w any
		if err := yaml.Unmarshal(got, &g); err != nil {
			t.Fatalf("plaintext does not parse: %v\n%s", err, got)
		}
		if err := yaml.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("plaintext differs:\ngot  %#v\nwant %#v", g, w)
		}
	case "dotenv":
		lines := func(b []byte) []string {
			var out []string
			for _, l := range strings.Split(string(b), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					out = append(out, l)
				}
			}
			return out
		}
		if g, w := lines(got), lines(want); !reflect.DeepEqual(g, w) {
			t.Errorf("dotenv lines %q, want %q", g, w)
		}
	default:
		if !bytes.Equal(got, want) {
			t.Errorf("plaintext %q, want %q", got, want)
		}
	}
}

// TestCommittedFixturesAreWhatSopsDecrypts checks the files the tests of
// package secrets read: the generator's list, made by this sops version,
// and each decrypts with sops (the keys of enough groups) to its
// plaintext, and not with the other keys.
func TestCommittedFixturesAreWhatSopsDecrypts(t *testing.T) {
	m := committed(t)
	if m.SopsVersion != SopsVersion {
		t.Errorf("fixtures of sops %s, this module has %s: make sops-fixtures", m.SopsVersion, SopsVersion)
	}
	want, err := normalized(Fixtures())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Files, want) {
		t.Errorf("the committed manifest is not the generator's list: make sops-fixtures")
	}
	for _, f := range m.Files {
		t.Run(f.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtureDir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := os.ReadFile(filepath.Join(fixtureDir, f.Plain))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("version: "+SopsVersion)) && !bytes.Contains(data, []byte(`"version": "`+SopsVersion)) && !bytes.Contains(data, []byte("sops_version="+SopsVersion)) {
				t.Errorf("the file does not say sops %s made it", SopsVersion)
			}
			useKeys(t, m, fixtureDir, enough(f)...)
			got, err := Decrypt(f.Format, data)
			if err != nil {
				t.Fatalf("sops decrypt with %v: %v", enough(f), err)
			}
			sameContent(t, f.Format, got, plain)
			var others []string
			for _, k := range m.Keys {
				if !slices.Contains(slices.Concat(f.Groups...), k.Name) {
					others = append(others, k.Name)
				}
			}
			useKeys(t, m, fixtureDir, others...)
			if _, err := Decrypt(f.Format, data); err == nil {
				t.Errorf("sops decrypts it with keys it is not encrypted for (%v)", others)
			}
		})
	}
}

// TestGenerateWritesWhatTheManifestSays runs the generator into a
// directory of its own: its files decrypt with gitfleet.
func TestGenerateWritesWhatTheManifestSays(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "plain"), os.DirFS(filepath.Join(fixtureDir, "plain"))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "stale.sops.yaml"), []byte("x"), 0o644)
	m, err := Generate(dir, t.Setenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.sops.yaml")); err == nil {
		t.Error("the file of an earlier list was kept")
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var written Manifest
	if err := json.Unmarshal(b, &written); err != nil || !reflect.DeepEqual(&written, m) {
		t.Fatalf("the manifest written is not the one returned: %v", err)
	}
	if len(m.Files) != len(Fixtures()) || len(m.Keys) != len(keyNames) {
		t.Fatalf("%d files and %d keys", len(m.Files), len(m.Keys))
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.File))
		if err != nil {
			t.Fatal(err)
		}
		file, err := keyFiles(t, m, dir, enough(f)...).Decrypt(f.File, data, secrets.FormatAuto)
		if err != nil {
			t.Errorf("%s: gitfleet: %v", f.File, err)
			continue
		}
		if got := file.Recipients(); !reflect.DeepEqual(got, slices.Concat(m.Recipients(f.Groups)...)) {
			t.Errorf("%s: recipients %v", f.File, got)
		}
	}
}

func TestSopsDecryptsWhatGitfleetEncrypts(t *testing.T) {
	m := committed(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipients := []string{id.Recipient().String(), m.Key("x1").Recipient, m.Key("pq").Recipient, m.Key("ssh").Recipient}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dotenv, err := os.ReadFile(filepath.Join(fixtureDir, "plain/app.env"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		plain []byte
	}{
		{"p.yaml", nil},
		{"p.json", nil},
		{"p.env", bytes.TrimPrefix(dotenv, []byte("# comment\n"))}, // Encrypt keeps no comment
		{"p.bin", nil},
		{"empty.bin", []byte{}},
	}
	plainOf := map[string]string{"p.yaml": "prod.yaml", "p.json": "prod.json", "p.bin": "blob.bin"}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			plain := c.plain
			if plain == nil {
				if plain, err = os.ReadFile(filepath.Join(fixtureDir, "plain", plainOf[c.path])); err != nil {
					t.Fatal(err)
				}
			}
			format := secrets.FormatOf(c.path)
			data, err := secrets.Encrypt(plain, format, recipients, now)
			if err != nil {
				t.Fatalf("encrypt: %v", err)
			}
			for _, key := range []string{"x1", "pq", "ssh"} {
				useKeys(t, m, fixtureDir, key)
				got, err := Decrypt(format.String(), data)
				if err != nil {
					t.Fatalf("sops decrypt with %s: %v\n%s", key, err, data)
				}
				if format == secrets.FormatDotenv && !bytes.Equal(got, plain) {
					t.Errorf("sops decrypts %q, want %q", got, plain)
				}
				sameContent(t, format.String(), got, plain)
			}
			useKeys(t, m, fixtureDir, "x0", "x2")
			if _, err := Decrypt(format.String(), data); err == nil {
				t.Error("sops decrypts it with keys it is not encrypted for")
			}
		})
	}
}

// TestSopsDecryptsWhatGitfleetRotates rotates every fixture with gitfleet
// (its rules, mac_only_encrypted and formats kept; key groups become one)
// and decrypts the result with sops.
func TestSopsDecryptsWhatGitfleetRotates(t *testing.T) {
	m := committed(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipients := []string{m.Key("x2").Recipient, id.Recipient().String()}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, f := range m.Files {
		t.Run(f.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtureDir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := os.ReadFile(filepath.Join(fixtureDir, f.Plain))
			if err != nil {
				t.Fatal(err)
			}
			rotated, err := keyFiles(t, m, fixtureDir, enough(f)...).Rotate(f.File, data, secrets.FormatAuto, recipients, now)
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			if f.Rule != DefaultRule && !bytes.Contains(rotated, []byte(f.Rule.Value)) {
				t.Errorf("rotation lost the rule %s %s", f.Rule.Kind, f.Rule.Value)
			}
			useKeys(t, m, fixtureDir, "x2")
			got, err := Decrypt(f.Format, rotated)
			if err != nil {
				t.Fatalf("sops decrypt: %v\n%s", err, rotated)
			}
			sameContent(t, f.Format, got, plain)
			useKeys(t, m, fixtureDir, "x0", "x1")
			if _, err := Decrypt(f.Format, rotated); err == nil {
				t.Error("sops decrypts the rotated file with keys rotated out")
			}
		})
	}
}

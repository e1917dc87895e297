package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// lookups checks the values of a decrypted file.
func lookups(t *testing.T, f *File, want map[string]string) {
	t.Helper()
	for name, w := range want {
		v, ok := f.Lookup(name)
		if !ok {
			t.Errorf("%s: no value %q (names %v)", f.Path(), name, f.Names())
			continue
		}
		if got := v.Reveal(); got != w {
			t.Errorf("%s: value %q is %q, want %q", f.Path(), name, got, w)
		}
	}
}

func TestDecryptsWhatTheSopsLibraryEncrypts(t *testing.T) {
	keys := fixtureKeys(t, "x0")
	cases := []struct {
		path, fixture string
		want          map[string]string
		wantNames     []string
	}{
		{"secrets/prod.sops.yaml", "yaml.sops.yaml", map[string]string{
			"db.password": "hunter2-Very-Secret", "db.port": "5432", "db.ratio": "1.5", "db.enabled": "true",
			"db.hosts.0": "db1.internal", "db.hosts.1": "db2.internal", "db.empty": "",
			"db.when": "2001-12-14T21:59:43.1-05:00", "api_token": "tok-9f8e7d6c5b4a", "note_unencrypted": "visible in clear",
		}, []string{"db.password", "db.port", "db.ratio", "db.enabled", "db.hosts.0", "db.hosts.1", "db.empty", "db.when", "api_token", "note_unencrypted"}},
		{"secrets/prod.json", "json.sops.json", map[string]string{
			"db.password": "hunter2-Very-Secret", "db.port": "5432", "db.big": "1000000000000000000000000000000",
			"db.list.0": "1", "db.list.1": "a", "db.list.2.x": "y-secret", "flag": "false", "uni": "grüße <&>",
		}, []string{"db.password", "db.port", "db.big", "db.list.0", "db.list.1", "db.list.2.x", "flag", "uni"}},
		{"secrets/app.env", "dotenv.sops.env", map[string]string{
			"DB_PASSWORD": "hunter2-Very-Secret", "MULTI": "line1\nline2", "EMPTY": "", "URL": "postgres://u:p@h/db?x=1",
		}, []string{"DB_PASSWORD", "MULTI", "EMPTY", "URL"}},
		{"secrets/blob.bin", "binary.sops.bin", map[string]string{"": string(plainBinary)}, nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			got, err := keys.Decrypt(c.path, fromSops(t, c.fixture), FormatAuto)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			lookups(t, got, c.want)
			if !reflect.DeepEqual(got.Names(), c.wantNames) {
				t.Errorf("names %q, want %q (file order)", got.Names(), c.wantNames)
			}
			if r := got.Recipients(); !reflect.DeepEqual(r, fixtureRecipients(t, "x0")) {
				t.Errorf("recipients %v, want %v", r, fixtureRecipients(t, "x0"))
			}
		})
	}
}

// TestDecryptsEverySopsFixture opens every file of the manifest with the
// keys of as many key groups as it needs, and with fewer: the content is
// the plaintext sops encrypted, and too few keys are a wrong key.
func TestDecryptsEverySopsFixture(t *testing.T) {
	m := manifest(t)
	for _, fx := range m.Files {
		t.Run(fx.File, func(t *testing.T) {
			data := fromSops(t, fx.File)
			plain, err := os.ReadFile(filepath.Join(fixtureDir, fx.Plain))
			if err != nil {
				t.Fatal(err)
			}
			format, err := ParseFormat(fx.Format)
			if err != nil || FormatOf(fx.File) != format {
				t.Fatalf("format %q of %s: %v", fx.Format, fx.File, err)
			}
			info, err := Inspect(fx.File, data, FormatAuto)
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if want := fixtureRecipients(t, slices.Concat(fx.Groups...)...); !reflect.DeepEqual(info.Recipients, want) {
				t.Errorf("inspect: recipients %v, want %v", info.Recipients, want)
			}
			// The last key of each of the first Threshold groups.
			var enough []string
			for _, g := range fx.Groups[:fx.Threshold] {
				enough = append(enough, g[len(g)-1])
			}
			f, err := fixtureKeys(t, enough...).Decrypt(fx.File, data, FormatAuto)
			if err != nil {
				t.Fatalf("decrypt with %v: %v", enough, err)
			}
			content, err := f.Content()
			if err != nil {
				t.Fatal(err)
			}
			sameContent(t, format, content.RevealBytes(), plain)
			if len(enough) > 1 {
				few := enough[:len(enough)-1]
				if _, err := fixtureKeys(t, few...).Decrypt(fx.File, data, FormatAuto); !errors.Is(err, ErrWrongKey) {
					t.Errorf("decrypt with %v of %d groups needed: %v, want a wrong key", few, fx.Threshold, err)
				}
			}
			var others []string
			for _, k := range m.Keys {
				if !slices.Contains(slices.Concat(fx.Groups...), k.Name) {
					others = append(others, k.Name)
				}
			}
			if _, err := fixtureKeys(t, others...).Decrypt(fx.File, data, FormatAuto); !errors.Is(err, ErrWrongKey) {
				t.Errorf("decrypt with the keys it is not encrypted for (%v): %v, want a wrong key", others, err)
			}
		})
	}
}

// TestSopsFixturesCoverEveryLayout keeps the fixtures from losing a case
// gitfleet promises to read (docs/secrets.md) when they are made again.
func TestSopsFixturesCoverEveryLayout(t *testing.T) {
	m := manifest(t)
	if m.SopsVersion != "3.13.3" {
		t.Errorf("fixtures of sops %q; the tests and docs/secrets.md name 3.13.3", m.SopsVersion)
	}
	seen := map[string]bool{}
	keyType := map[string]string{}
	for _, k := range m.Keys {
		keyType[k.Name] = k.Type
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.File] = true
		recipients := slices.Concat(f.Groups...)
		seen["format "+f.Format] = true
		if len(recipients) > 1 {
			seen["several recipients, "+f.Format] = true
		}
		seen["rule "+f.Rule.Kind] = true
		if f.Rule.Kind != "unencrypted_suffix" || f.Rule.Value != "_unencrypted" {
			seen["a rule other than the default, "+f.Format] = true
		}
		if f.MACOnlyEncrypted {
			seen["mac_only_encrypted"] = true
		}
		if len(f.Groups) > 1 && f.Threshold < len(f.Groups) {
			seen["Shamir, fewer groups than all"] = true
		}
		if len(f.Groups) > 1 && f.Threshold == len(f.Groups) {
			seen["Shamir, all groups"] = true
		}
		for _, g := range f.Groups {
			if len(f.Groups) > 1 && len(g) > 1 {
				seen["Shamir, a group of several recipients"] = true
			}
		}
		for _, r := range recipients {
			seen["key type "+keyType[r]] = true
		}
		seen[f.MadeBy] = true
	}
	for _, want := range []string{
		"format yaml", "format json", "format dotenv", "format binary",
		"several recipients, yaml", "several recipients, json", "several recipients, dotenv", "several recipients, binary",
		"rule unencrypted_suffix", "rule encrypted_suffix", "rule unencrypted_regex", "rule encrypted_regex", "mac_only_encrypted",
		"a rule other than the default, yaml", "a rule other than the default, json", "a rule other than the default, dotenv",
		"Shamir, fewer groups than all", "Shamir, all groups", "Shamir, a group of several recipients",
		"key type x25519", "key type pq", "key type ssh-ed25519",
		"sops encrypt", "sops rotate", "sops updatekeys",
	} {
		if !seen[want] {
			t.Errorf("no sops fixture has %s", want)
		}
	}
	// Every encrypted file of the directory is in the manifest, and
	// the other way round.
	onDisk, err := filepath.Glob(filepath.Join(fixtureDir, "*.sops.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if !listed[filepath.Base(p)] {
			t.Errorf("%s is not in the manifest", p)
		}
		delete(listed, filepath.Base(p))
	}
	for f := range listed {
		t.Errorf("the manifest lists %s, which is missing", f)
	}
}

func TestTemplateDataRendersNestedValues(t *testing.T) {
	f, err := fixtureKeys(t, "x0").Decrypt("s.yaml", fromSops(t, "yaml.sops.yaml"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet()
	if err := s.Add("db", f); err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("x").Option("missingkey=error").Parse(
		`pw={{ .Secrets.db.db.password }} port={{ .Secrets.db.db.port }} first={{ index .Secrets.db.db.hosts 0 }}{{ range .Secrets.db.db.hosts }} {{ . }}{{ end }}`))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Secrets": s.TemplateData()}); err != nil {
		t.Fatal(err)
	}
	if want := "pw=hunter2-Very-Secret port=5432 first=db1.internal db1.internal db2.internal"; b.String() != want {
		t.Errorf("rendered %q, want %q", b.String(), want)
	}
}

func TestDecryptsEveryRuleAndKeyLayoutOfSops(t *testing.T) {
	rulesWant := map[string]string{"password": "p4ssw0rd-xyz", "public_name": "web", "nested.token_secret": "t0ken-abc", "nested.list.1": "b", "flag": "true"}
	jsonWant := map[string]string{"db.password": "hunter2-Very-Secret", "db.list.2.x": "y-secret", "uni": "grüße <&>"}
	envWant := map[string]string{"DB_PASSWORD": "hunter2-Very-Secret", "URL": "postgres://u:p@h/db?x=1", "MULTI": "line1\nline2"}
	cases := []struct {
		name, fixture string
		keys          []string
		want          map[string]string
		names         int
		secret        string   // a value the rule encrypts
		clear         []string // values sops leaves in clear
	}{
		{"default rule", "rules-default.sops.yaml", []string{"x0"}, rulesWant, 6, "p4ssw0rd-xyz", nil},
		{"second of three recipients", "rules-default.sops.yaml", []string{"x1"}, rulesWant, 6, "p4ssw0rd-xyz", nil},
		{"encrypted_regex", "rules-encrypted-regex.sops.yaml", []string{"x2"}, rulesWant, 6, "p4ssw0rd-xyz", []string{"web", "true"}},
		{"unencrypted_regex", "rules-unencrypted-regex.sops.yaml", []string{"x0"}, rulesWant, 6, "p4ssw0rd-xyz", []string{"web"}},
		{"encrypted_suffix", "rules-encrypted-suffix.sops.yaml", []string{"x0"}, rulesWant, 6, "t0ken-abc", []string{"p4ssw0rd-xyz", "web"}},
		{"unencrypted_suffix", "rules-unencrypted-suffix.sops.yaml", []string{"x0"}, rulesWant, 6, "p4ssw0rd-xyz", []string{"web"}},
		{"mac_only_encrypted", "rules-mac-only.sops.yaml", []string{"x0"}, rulesWant, 6, "p4ssw0rd-xyz", []string{"web", "t0ken-abc"}},
		{"encrypted_regex, JSON", "rules-encrypted-regex.sops.json", []string{"x1"}, jsonWant, 8, "hunter2-Very-Secret", []string{"y-secret", "5432"}},
		{"mac_only_encrypted, dotenv", "rules-mac-only.sops.env", []string{"x2"}, envWant, 4, "hunter2-Very-Secret", []string{"postgres://u:p@h/db?x=1"}},
		{"shamir 2 of 3, keys of groups 1 and 3", "shamir-2-of-3.sops.yaml", []string{"x0", "x2"}, rulesWant, 6, "p4ssw0rd-xyz", nil},
		{"shamir 3 of 3", "shamir-3-of-3.sops.yaml", []string{"x0", "x1", "x2"}, rulesWant, 6, "p4ssw0rd-xyz", nil},
		{"shamir, a group of two and a group of one", "shamir-groups.sops.json", []string{"x1", "x2"}, jsonWant, 8, "hunter2-Very-Secret", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := fromSops(t, c.fixture)
			for _, v := range c.clear {
				if !bytes.Contains(data, []byte(v)) {
					t.Errorf("sops was expected to leave %q in clear", v)
				}
			}
			if bytes.Contains(data, []byte(c.secret)) {
				t.Errorf("sops was expected to encrypt %q", c.secret)
			}
			f, err := fixtureKeys(t, c.keys...).Decrypt(c.fixture, data, FormatAuto)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			lookups(t, f, c.want)
			info, err := Inspect(c.fixture, data, FormatAuto)
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if len(info.Names) != c.names {
				t.Errorf("inspect names %v, want %d", info.Names, c.names)
			}
		})
	}
}

// TestDecryptsWhatGitfleetEncrypts reads back what Encrypt writes; that
// the sops library reads it too is tested by internal/sopscompat (make
// test-sops).
func TestDecryptsWhatGitfleetEncrypts(t *testing.T) {
	id := ids(t, 2)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		path  string
		plain []byte
	}{
		{"p.yaml", []byte(plainYAML)},
		{"p.json", []byte(plainJSON)},
		{"p.env", []byte(strings.TrimPrefix(plainDotenv, "# comment\n"))},
		{"p.bin", plainBinary},
		{"empty.bin", nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			f := FormatOf(c.path)
			data, err := Encrypt(c.plain, f, recipientsOf(id...), now)
			if err != nil {
				t.Fatalf("encrypt: %v", err)
			}
			if bytes.Contains(data, []byte("hunter2")) {
				t.Fatalf("the encrypted file holds the plaintext:\n%s", data)
			}
			for _, key := range id {
				back, err := keysOf(key).Decrypt(c.path, data, FormatAuto)
				if err != nil {
					t.Fatalf("decrypt: %v", err)
				}
				content, err := back.Content()
				if err != nil {
					t.Fatal(err)
				}
				sameContent(t, f, content.RevealBytes(), c.plain)
			}
			if info, err := Inspect(c.path, data, FormatAuto); err != nil || !info.LastModified.Equal(now) {
				t.Errorf("inspect: %v, lastmodified %v, want %v", err, info, now)
			}
		})
	}
}

// sameContent compares plaintexts as data: YAML and JSON parsed, dotenv
// line by line without comments (gitfleet does not keep them), binary
// byte for byte.
func sameContent(t *testing.T, f Format, got, want []byte) {
	t.Helper()
	switch f {
	case FormatYAML, FormatJSON:
		var g, w any
		unmarshal := yaml.Unmarshal
		if f == FormatJSON {
			unmarshal = json.Unmarshal
		}
		if err := unmarshal(got, &g); err != nil {
			t.Fatalf("plaintext does not parse: %v\n%s", err, got)
		}
		if err := unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("plaintext differs:\ngot  %#v\nwant %#v", g, w)
		}
	case FormatDotenv:
		if g, w := dotenvLines(got), dotenvLines(want); !reflect.DeepEqual(g, w) {
			t.Errorf("dotenv lines %q, want %q", g, w)
		}
	default:
		if !bytes.Equal(got, want) {
			t.Errorf("plaintext %q, want %q", got, want)
		}
	}
}

func dotenvLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestRotateReencryptsForNewRecipients(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	orig := fromSops(t, "rotate-from.sops.yaml")
	rotated, err := fixtureKeys(t, "x0").Rotate("s.yaml", orig, FormatAuto, fixtureRecipients(t, "x1", "x2"), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := fixtureKeys(t, "x0").Decrypt("s.yaml", rotated, FormatAuto); !errorsIs(err, ErrWrongKey) {
		t.Errorf("the old key still decrypts the rotated file: %v", err)
	}
	a, err := fixtureKeys(t, "x0").Decrypt("s.yaml", orig, FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x1", "x2"} {
		b, err := fixtureKeys(t, k).Decrypt("s.yaml", rotated, FormatAuto)
		if err != nil {
			t.Fatalf("decrypt rotated with %s: %v", k, err)
		}
		if !reflect.DeepEqual(a.TemplateData(), b.TemplateData()) {
			t.Errorf("rotation changed the values")
		}
	}
	if !bytes.Contains(rotated, []byte("encrypted_regex: ^(password|api_token)$")) || !bytes.Contains(rotated, []byte("visible in clear")) {
		t.Errorf("rotation did not keep the file's rule:\n%s", rotated)
	}
	if info, err := Inspect("s.yaml", rotated, FormatAuto); err != nil || !info.LastModified.Equal(now.Add(time.Hour)) {
		t.Errorf("inspect rotated: %v, %+v", err, info)
	}
}

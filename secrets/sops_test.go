package secrets

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

const plainYAML = `# a comment, which sops encrypts too
db:
  password: "hunter2-Very-Secret"   # inline comment
  port: 5432
  ratio: 1.5
  enabled: true
  hosts: [db1.internal, db2.internal]
  empty: ""
  nothing: null
  when: 2001-12-14t21:59:43.10-05:00
api_token: tok-9f8e7d6c5b4a
note_unencrypted: visible in clear
`

const plainJSON = `{"db": {"password": "hunter2-Very-Secret", "port": 5432, "big": 1e30, "list": [1, "a", {"x": "y-secret"}], "n": null}, "flag": false, "uni": "grüße <&>"}`

const plainDotenv = "# comment\nDB_PASSWORD=hunter2-Very-Secret\nMULTI=line1\\nline2\nEMPTY=\nURL=postgres://u:p@h/db?x=1\n"

var plainBinary = []byte("\x00\x01binary \xff\xfe secret-blob\n")

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
	id := ids(t, 1)
	keys := keysOf(id...)
	one := sopsOpts{groups: [][]string{recipientsOf(id...)}}
	cases := []struct {
		path      string
		plain     []byte
		want      map[string]string
		wantNames []string
	}{
		{"secrets/prod.sops.yaml", []byte(plainYAML), map[string]string{
			"db.password": "hunter2-Very-Secret", "db.port": "5432", "db.ratio": "1.5", "db.enabled": "true",
			"db.hosts.0": "db1.internal", "db.hosts.1": "db2.internal", "db.empty": "",
			"db.when": "2001-12-14T21:59:43.1-05:00", "api_token": "tok-9f8e7d6c5b4a", "note_unencrypted": "visible in clear",
		}, []string{"db.password", "db.port", "db.ratio", "db.enabled", "db.hosts.0", "db.hosts.1", "db.empty", "db.when", "api_token", "note_unencrypted"}},
		{"secrets/prod.json", []byte(plainJSON), map[string]string{
			"db.password": "hunter2-Very-Secret", "db.port": "5432", "db.big": "1000000000000000000000000000000",
			"db.list.0": "1", "db.list.1": "a", "db.list.2.x": "y-secret", "flag": "false", "uni": "grüße <&>",
		}, []string{"db.password", "db.port", "db.big", "db.list.0", "db.list.1", "db.list.2.x", "flag", "uni"}},
		{"secrets/app.env", []byte(plainDotenv), map[string]string{
			"DB_PASSWORD": "hunter2-Very-Secret", "MULTI": "line1\nline2", "EMPTY": "", "URL": "postgres://u:p@h/db?x=1",
		}, []string{"DB_PASSWORD", "MULTI", "EMPTY", "URL"}},
		{"secrets/blob.bin", plainBinary, map[string]string{"": string(plainBinary)}, nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			f := FormatOf(c.path)
			data := sopsEncrypt(t, f, c.plain, one)
			got, err := keys.Decrypt(c.path, data, FormatAuto)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			lookups(t, got, c.want)
			if !reflect.DeepEqual(got.Names(), c.wantNames) {
				t.Errorf("names %q, want %q (file order)", got.Names(), c.wantNames)
			}
			if r := got.Recipients(); !reflect.DeepEqual(r, recipientsOf(id...)) {
				t.Errorf("recipients %v, want %v", r, recipientsOf(id...))
			}
		})
	}
}

func TestTemplateDataRendersNestedValues(t *testing.T) {
	id := ids(t, 1)
	data := sopsEncrypt(t, FormatYAML, []byte(plainYAML), sopsOpts{groups: [][]string{recipientsOf(id...)}})
	f, err := keysOf(id...).Decrypt("s.yaml", data, FormatAuto)
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
	id := ids(t, 3)
	plain := []byte("password: p4ssw0rd-xyz\npublic_name: web\nnested:\n  token_secret: t0ken-abc\n  list: [a, b]\nflag: true\n")
	want := map[string]string{"password": "p4ssw0rd-xyz", "public_name": "web", "nested.token_secret": "t0ken-abc", "nested.list.1": "b", "flag": "true"}
	all := [][]string{recipientsOf(id...)}
	cases := []struct {
		name  string
		opts  sopsOpts
		keys  *Keys
		clear []string // values sops leaves in clear
	}{
		{"default rule", sopsOpts{groups: all}, keysOf(id[0]), nil},
		{"second of three recipients", sopsOpts{groups: all}, keysOf(id[1]), nil},
		{"encrypted_regex", sopsOpts{groups: all, encryptedRegex: "^(password|token_secret)$"}, keysOf(id[2]), []string{"web", "true"}},
		{"unencrypted_regex", sopsOpts{groups: all, unencryptedRegex: "^public_"}, keysOf(id[0]), []string{"web"}},
		{"encrypted_suffix", sopsOpts{groups: all, encryptedSuffix: "_secret"}, keysOf(id[0]), []string{"p4ssw0rd-xyz", "web"}},
		{"unencrypted_suffix", sopsOpts{groups: all, unencryptedSuffix: "_name"}, keysOf(id[0]), []string{"web"}},
		{"mac_only_encrypted", sopsOpts{groups: all, encryptedRegex: "^password$", macOnly: true}, keysOf(id[0]), []string{"web", "t0ken-abc"}},
		{"shamir 2 of 3, keys of groups 1 and 3", sopsOpts{groups: [][]string{recipientsOf(id[0]), recipientsOf(id[1]), recipientsOf(id[2])}, threshold: 2}, keysOf(id[0], id[2]), nil},
		{"shamir 3 of 3", sopsOpts{groups: [][]string{recipientsOf(id[0]), recipientsOf(id[1]), recipientsOf(id[2])}}, keysOf(id...), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := sopsEncrypt(t, FormatYAML, plain, c.opts)
			for _, v := range c.clear {
				if !bytes.Contains(data, []byte(v)) {
					t.Errorf("sops was expected to leave %q in clear", v)
				}
			}
			if bytes.Contains(data, []byte("p4ssw0rd-xyz")) != contains(c.clear, "p4ssw0rd-xyz") {
				t.Errorf("the password's clearness is not what the rule says")
			}
			f, err := c.keys.Decrypt("s.yaml", data, FormatAuto)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			lookups(t, f, want)
			info, err := Inspect("s.yaml", data, FormatAuto)
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if len(info.Names) != 6 {
				t.Errorf("inspect names %v, want 6", info.Names)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestSopsDecryptsWhatGitfleetEncrypts(t *testing.T) {
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
			got, err := sopsDecrypt(t, f, data, id[1])
			if err != nil {
				t.Fatalf("sops decrypt: %v\n%s", err, data)
			}
			sameContent(t, f, got, c.plain)
			// And gitfleet reads its own files, and writes their content
			// back as sops does.
			back, err := keysOf(id[0]).Decrypt(c.path, data, FormatAuto)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			content, err := back.Content()
			if err != nil {
				t.Fatal(err)
			}
			sameContent(t, f, content.RevealBytes(), c.plain)
			if info, err := Inspect(c.path, data, FormatAuto); err != nil || !info.LastModified.Equal(now) {
				t.Errorf("inspect: %v, lastmodified %v, want %v", err, info, now)
			}
		})
	}
}

// sameContent compares plaintexts as data: YAML and JSON parsed,
// dotenv and binary byte for byte.
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
	default:
		if !bytes.Equal(got, want) {
			t.Errorf("plaintext %q, want %q", got, want)
		}
	}
}

func TestRotateReencryptsForNewRecipients(t *testing.T) {
	id := ids(t, 3)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	orig := sopsEncrypt(t, FormatYAML, []byte(plainYAML), sopsOpts{groups: [][]string{recipientsOf(id[0])}, encryptedRegex: "^(password|api_token)$"})
	rotated, err := keysOf(id[0]).Rotate("s.yaml", orig, FormatAuto, recipientsOf(id[1], id[2]), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := keysOf(id[0]).Decrypt("s.yaml", rotated, FormatAuto); !errorsIs(err, ErrWrongKey) {
		t.Errorf("the old key still decrypts the rotated file: %v", err)
	}
	a, err := keysOf(id[0]).Decrypt("s.yaml", orig, FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keysOf(id[2]).Decrypt("s.yaml", rotated, FormatAuto)
	if err != nil {
		t.Fatalf("decrypt rotated: %v", err)
	}
	if !reflect.DeepEqual(a.TemplateData(), b.TemplateData()) {
		t.Errorf("rotation changed the values")
	}
	if !bytes.Contains(rotated, []byte("encrypted_regex: ^(password|api_token)$")) || !bytes.Contains(rotated, []byte("visible in clear")) {
		t.Errorf("rotation did not keep the file's rule:\n%s", rotated)
	}
	plain, err := sopsDecrypt(t, FormatYAML, rotated, id[1])
	if err != nil {
		t.Fatalf("sops cannot decrypt the rotated file: %v", err)
	}
	sameContent(t, FormatYAML, plain, []byte(plainYAML))
}

package secrets

import (
	"strings"
	"testing"
)

func TestSetNamesAndReferences(t *testing.T) {
	keys := fixtureKeys(t, "x0")
	open := func(path, fixture string) *File {
		t.Helper()
		file, err := keys.Decrypt(path, fromSops(t, fixture), FormatAuto)
		if err != nil {
			t.Fatal(err)
		}
		return file
	}
	db := open("db.yaml", "yaml.sops.yaml")
	app := open("app.env", "dotenv.sops.env")
	blob := open("tls.key", "binary.sops.bin")
	other := open("other.env", "other.sops.env") // DB_PASSWORD=x

	s := NewSet()
	for _, c := range []struct {
		name string
		f    *File
		err  string
	}{
		{"db", db, ""},
		{"", app, ""},
		{"tls", blob, ""},
		{"db", app, `db.yaml: the secret name "db" is already taken`},
		{"", other, `other.env: the secret name "DB_PASSWORD" is already taken by app.env`},
		{"", blob, "a binary or age file needs a name"},
		{"has-dash", app, `secret name "has-dash": want letters, digits and '_'`},
		{"1st", app, "not starting with a digit"},
	} {
		err := s.Add(c.name, c.f)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("add %q %s: %v", c.name, c.f.Path(), err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.err, "db.yaml: "))):
			t.Errorf("add %q %s: error %v, want %q", c.name, c.f.Path(), err, c.err)
		}
	}
	for ref, want := range map[string]string{"db.db.password": "hunter2-Very-Secret", "DB_PASSWORD": "hunter2-Very-Secret", "MULTI": "line1\nline2", "tls": string(plainBinary)} {
		v, ok := s.Lookup(ref)
		if !ok || v.Reveal() != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", ref, v.Reveal(), ok, want)
		}
	}
	if n := len(s.Refs()); n != 10+4+1 {
		t.Errorf("%d references, want 15: %v", n, s.Refs())
	}
	data := s.TemplateData()
	if _, ok := data["db"].(map[string]any); !ok || data["tls"] != string(plainBinary) || data["URL"] != "postgres://u:p@h/db?x=1" {
		t.Errorf("template data has the wrong shape: keys %v", keysOfMap(data))
	}
}

func keysOfMap(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRedactReplacesValuesInForeignText(t *testing.T) {
	s := NewSet()
	f := &File{path: "x.env", format: FormatDotenv, tree: newMap(), values: map[string]Value{}}
	for _, kv := range [][2]string{{"LONG", "hunter2-Very-Secret"}, {"INNER", "hunter2"}, {"SHORT", "on"}, {"TOKEN", "tok-9f8e7d6c5b4a"}} {
		f.tree.add(kv[0], leaf(kv[1]))
		f.names = append(f.names, kv[0])
		f.values[kv[0]] = newValue([]byte(kv[1]))
	}
	if err := s.Add("", f); err != nil {
		t.Fatal(err)
	}
	in := "psql: password hunter2-Very-Secret rejected; retry with hunter2 and tok-9f8e7d6c5b4a, turn it on"
	want := "psql: password (secret) rejected; retry with (secret) and (secret), turn it on"
	if got := s.Redact(in); got != want {
		t.Errorf("Redact:\n got %q\nwant %q", got, want)
	}
}

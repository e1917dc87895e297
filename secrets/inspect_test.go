package secrets

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"text/template"
)

func TestInspectWithoutKeys(t *testing.T) {
	cases := []struct {
		path  string
		data  []byte
		names []string
	}{
		{"s.yaml", fromSops(t, "two.sops.yaml"), []string{"db.password", "db.port", "db.ratio", "db.enabled", "db.hosts.0", "db.hosts.1", "db.empty", "db.when", "api_token", "note_unencrypted"}},
		{"s.json", fromSops(t, "two.sops.json"), []string{"db.password", "db.port", "db.big", "db.list.0", "db.list.1", "db.list.2.x", "flag", "uni"}},
		{"s.env", fromSops(t, "two.sops.env"), []string{"DB_PASSWORD", "MULTI", "EMPTY", "URL"}},
		{"s.bin", fromSops(t, "two.sops.bin"), nil},
	}
	for _, c := range cases {
		info, err := Inspect(c.path, c.data, FormatAuto)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if !reflect.DeepEqual(info.Names, c.names) {
			t.Errorf("%s: names %q, want %q", c.path, info.Names, c.names)
		}
		if !reflect.DeepEqual(info.Recipients, fixtureRecipients(t, "x0", "x1")) {
			t.Errorf("%s: recipients %q", c.path, info.Recipients)
		}
		if info.LastModified.IsZero() {
			t.Errorf("%s: no lastmodified", c.path)
		}
	}
}

func TestInspectRefusesWhatIsNotWellFormed(t *testing.T) {
	yml := string(fromSops(t, "yaml.sops.yaml"))
	for name, c := range map[string]struct {
		data string
		kind error
		says string
	}{
		"no mac":                  {strings.Replace(yml, "    mac: ", "    notmac: ", 1), ErrMalformed, "sops.mac is missing"},
		"mac not encrypted":       {regexp1(yml, `mac: ENC\[[^\]]*\]`, "mac: 0A1B2C"), ErrMalformed, "sops.mac is not an encrypted value"},
		"no lastmodified":         {strings.Replace(yml, "lastmodified:", "lastmod:", 1), ErrMalformed, "sops.lastmodified is missing"},
		"bad lastmodified":        {regexp1(yml, `lastmodified: "[^"]*"`, `lastmodified: "yesterday"`), ErrMalformed, "RFC 3339"},
		"data key not age":        {regexp1(yml, `(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----`, "not an age file"), ErrMalformed, "is not a well-formed armored age file"},
		"value in clear":          {strings.Replace(yml, "sops:\n", "extra: hunter2\nsops:\n", 1), ErrIntegrity, `the value of "extra" is in clear`},
		"no age recipient":        {regexp1(yml, `(?s)    age:.*?recipient: \S+\n`, ""), ErrUnsupported, "has no age recipient"},
		"not encrypted":           {plainYAML, ErrNotEncrypted, "not encrypted"},
		"key defined twice":       {strings.Replace(yml, "api_token:", "db: x\napi_token:", 1), ErrMalformed, `"db" at line`},
		"a list as the document":  {"- a\n- b\n", ErrMalformed, "is not a mapping"},
		"names that collide":      {strings.Replace(yml, "api_token:", "db.password: ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\napi_token:", 1), ErrUnsupported, `two values have the name "db.password"`},
		"an alias bomb":           {"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n", ErrMalformed, "expands (aliases) to more than"},
		"deep nesting":            {strings.Repeat("[", 300) + strings.Repeat("]", 300), ErrMalformed, "is not a mapping"},
		"deep nesting in a value": {"a: " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n", ErrMalformed, "nested more than"},
	} {
		_, err := Inspect("s.yaml", []byte(c.data), FormatAuto)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want %v saying %q", name, err, c.kind, c.says)
		}
		if err != nil {
			noPlaintext(t, name, err.Error())
		}
	}
}

func regexp1(s, re, repl string) string {
	return mustCompile(re).ReplaceAllLiteralString(s, repl)
}

func TestTemplatesAreCheckedAgainstNamesWithoutKeys(t *testing.T) {
	yml, err := Inspect("secrets/db.yaml", fromSops(t, "yaml.sops.yaml"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Inspect("secrets/app.env", fromSops(t, "dotenv.sops.env"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Inspect("secrets/tls.key", fromSops(t, "binary.sops.bin"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet()
	for name, i := range map[string]*Info{"db": yml, "": env, "tls": bin} {
		if err := s.AddInfo(name, i); err != nil {
			t.Fatalf("add %q: %v", name, err)
		}
	}
	render := func(text string) (string, error) {
		var b bytes.Buffer
		err := template.Must(template.New("t").Option("missingkey=error").Parse(text)).Execute(&b, map[string]any{"Secrets": s.TemplateData()})
		return b.String(), err
	}
	got, err := render("{{ .Secrets.db.db.password }} {{ index .Secrets.db.db.hosts 1 }} {{ .Secrets.DB_PASSWORD }} {{ .Secrets.tls }}")
	if err != nil || got != "(secret) (secret) (secret) (secret)" {
		t.Errorf("a template of existing names: %q, %v", got, err)
	}
	for _, bad := range []string{"{{ .Secrets.db.db.passwort }}", "{{ .Secrets.DB_PASS }}", "{{ .Secrets.nothing }}"} {
		if _, err := render(bad); err == nil || !strings.Contains(err.Error(), "map has no entry") {
			t.Errorf("%s: error %v, want a missing name", bad, err)
		}
	}
	if _, ok := s.Lookup("db.db.password"); !ok {
		t.Error("Lookup of an existing reference failed")
	}
	if _, ok := s.Lookup("DB_PASSWORD"); !ok {
		t.Error("Lookup of a top-level reference failed")
	}
	if _, ok := s.Lookup("db.nope"); ok {
		t.Error("Lookup of a missing reference succeeded")
	}
}

func mustCompile(re string) *regexp.Regexp { return regexp.MustCompile(re) }

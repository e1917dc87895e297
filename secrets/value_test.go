package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// shown collects every way gitfleet or a careless caller could print x.
func shown(t *testing.T, x any) string {
	t.Helper()
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-8v"} {
		out = append(out, fmt.Sprintf(verb, x))
	}
	out = append(out, fmt.Sprint(x), fmt.Sprintln(x), fmt.Errorf("wrapped: %w", fmt.Errorf("%v", x)).Error())
	if b, err := json.Marshal(x); err == nil {
		out = append(out, string(b))
	}
	if b, err := json.MarshalIndent(map[string]any{"x": x}, "", " "); err == nil {
		out = append(out, string(b))
	}
	if b, err := yaml.Marshal(map[string]any{"x": x}); err == nil {
		out = append(out, string(b))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("pass", "secret", x, slog.Any("any", x), slog.Group("g", "v", x))
		log.With("with", x).Error("failed", "err", fmt.Errorf("stage: %v", x))
		out = append(out, b.String())
	}
	var b bytes.Buffer
	template.Must(template.New("t").Parse("{{ . }} {{ printf \"%v\" . }}")).Execute(&b, x)
	return strings.Join(append(out, b.String()), "\n")
}

func TestDecryptedValuesAreNeverShown(t *testing.T) {
	keys := fixtureKeys(t, "x0")
	yml, err := keys.Decrypt("s.yaml", fromSops(t, "yaml.sops.yaml"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := keys.Decrypt("b.bin", fromSops(t, "binary.sops.bin"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet()
	if err := set.Add("db", yml); err != nil {
		t.Fatal(err)
	}
	if err := set.Add("blob", bin); err != nil {
		t.Fatal(err)
	}
	pw, _ := yml.Lookup("db.password")
	blob, _ := bin.Lookup("")
	d, err := NewDigester([]byte(strings.Repeat("k", 40)))
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Exported Value
		hidden   Value
		list     []Value
		byName   map[string]Value
		file     *File
	}
	h := holder{Exported: pw, hidden: pw, list: []Value{pw, blob}, byName: map[string]Value{"pw": pw}, file: yml}
	things := map[string]any{
		"a value": pw, "a pointer to a value": &pw, "binary content": blob, "a file": yml, "a binary file": bin,
		"a set": set, "a struct of values": h, "a pointer to a struct of values": &h, "a slice of values": []Value{pw, blob},
		"a map of values": map[string]Value{"pw": pw}, "values as any": []any{pw, &pw}, "keys": keys, "a digester": d,
		"digests": d.Values(set),
	}
	for what, x := range things {
		out := shown(t, x)
		noPlaintext(t, what, out)
		for _, s := range []string{fixtureSecretKey(t, "x0"), "AGE-SECRET-KEY", strings.Repeat("k", 40)} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows key material %q", what, s)
			}
		}
	}
	// The redacted forms, exactly.
	for got, want := range map[string]string{
		fmt.Sprintf("%v|%q|%#v", pw, pw, pw): "(secret)|(secret)|(secret)",
		mustJSON(t, pw):                      `"(secret)"`,
		fmt.Sprint(yml):                      "(secret file s.yaml)",
		fmt.Sprint(set):                      "(secrets: 11 values)",
		fmt.Sprint(keys):                     "(1 age keys)",
		fmt.Sprint(d):                        "(digest key)",
	} {
		if got != want {
			t.Errorf("shown as %q, want %q", got, want)
		}
	}
	// Reveal is the way to the plaintext.
	if pw.Reveal() != "hunter2-Very-Secret" || !bytes.Equal(blob.RevealBytes(), plainBinary) {
		t.Error("Reveal does not return the plaintext")
	}
}

func mustJSON(t *testing.T, x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInspectShowsNoPlaintext(t *testing.T) {
	info, err := Inspect("s.yaml", fromSops(t, "yaml.sops.yaml"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, "inspect", shown(t, info))
	noPlaintext(t, "inspect's template data", fmt.Sprint(info.TemplateData()))
}

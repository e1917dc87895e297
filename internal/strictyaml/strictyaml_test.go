package strictyaml

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestProblemsLines checks that parse errors point at the right line,
// whether yaml.v3's scanner or its parser found them.
func TestProblemsLines(t *testing.T) {
	tests := []struct {
		name, doc string
		line      int
	}{
		{"unclosed flow sequence", "kind: Release\napp: [hello\n", 2},
		{"unclosed flow mapping", "a: 1\nb: 2\nc: {x: 1\n", 3},
		{"mapping value in scalar (scanner)", "a: 1\nb: c: d\n", 2},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", 3},
		{"tab indentation (scanner)", "a:\n\tb: 1\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.doc), &n)
			if err == nil {
				t.Fatal("no error")
			}
			ps := Problems(err)
			if len(ps) != 1 || ps[0].Line != tt.line {
				t.Fatalf("got %+v from %q, want one problem at line %d", ps, err, tt.line)
			}
		})
	}
}

func TestDecodeReportsUnknownFieldsWithLines(t *testing.T) {
	type inner struct {
		B int `yaml:"b"`
	}
	type outer struct {
		A     string  `yaml:"a"`
		In    inner   `yaml:"in"`
		Items []inner `yaml:"items"`
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("a: x\nin:\n  b: 1\n  c: 2\nitems:\n  - b: 1\n  - d: 1\nz: 1\n"), &n); err != nil {
		t.Fatal(err)
	}
	var o outer
	lines, ps := Decode(n.Content[0], &o)
	want := []Problem{
		{4, `unknown field "c" in in (known: b)`},
		{7, `unknown field "d" in items.1 (known: b)`},
		{8, `unknown field "z" (known: a, in, items)`},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems %+v, want %d", len(ps), ps, len(want))
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("problem %d: got %+v, want %+v", i, ps[i], want[i])
		}
	}
	if lines["in.b"] != 3 || lines["items.1"] != 7 {
		t.Errorf("field lines: got in.b=%d items.1=%d, want 3 and 7", lines["in.b"], lines["items.1"])
	}
}

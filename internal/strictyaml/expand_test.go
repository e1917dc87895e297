package strictyaml

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestExpandedSize(t *testing.T) {
	// Nine levels of ten aliases each: a billion nodes expanded.
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	tests := []struct {
		name  string
		doc   string
		limit int64
		want  int64
		ok    bool
	}{
		{"no alias", "a: bc\nd: [e, f]\n", 100, 1 + (1 + 2) + (1 + 3) + (1 + 2 + 2), true},
		{"no alias is at most its text", "key: value\nlist: [1, 2, 3]\n", 28, 0, true},
		{"an alias counts what it names", "a: &x hello\nb: *x\n", 100, 1 + 2 + 6 + 2 + 7, true},
		{"at the limit", "a: &x hello\nb: *x\n", 18, 18, true},
		{"over the limit", "a: &x hello\nb: *x\n", 17, 18, false},
		{"a billion laughs", b.String(), 1 << 20, 1<<20 + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.doc), &n); err != nil {
				t.Fatal(err)
			}
			got, ok := ExpandedSize(n.Content[0], tt.limit)
			if ok != tt.ok || (tt.want != 0 && got != tt.want) {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
			if ok && int(got) > len(tt.doc) && !strings.Contains(tt.doc, "*") {
				t.Errorf("size %d of a document without aliases exceeds its %d bytes", got, len(tt.doc))
			}
		})
	}
}

func TestClip(t *testing.T) {
	if got := Clip("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	if got := Clip(strings.Repeat("é", 10), 5); got != "éé… (20 bytes)" {
		t.Errorf("got %q, want the cut at a character boundary", got)
	}
}

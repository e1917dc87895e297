package discovery

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseYAMLPositionsAndValues(t *testing.T) {
	a, err := parseYAML([]byte(`[{"name": "web-1", "labels": {"canary": true, "weight": 3}}, {"name": "web-2", "site": "FRA"}, 7]`), "/inv.json", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.servers) != 1 || a.servers[0].Labels["canary"] != "true" || a.servers[0].Labels["weight"] != "3" {
		t.Errorf("servers %+v: scalar label values are read as strings", a.servers)
	}
	want := []string{
		`file /inv.json:1 [1]: server "web-2": site: invalid site "FRA"`,
		`file /inv.json:1 [2]: a scalar: want a mapping {name, address, groups, site, labels}`,
	}
	for i, w := range want {
		if i >= len(a.rejected) || !strings.HasPrefix(a.rejected[i].Error(), w) {
			t.Errorf("rejection %d: got %v, want %s", i, a.rejected, w)
		}
	}
	a, err = parseYAML([]byte("- name: web-1\n  name: web-2\n- name: web-3\n  labels:\n    '-bad': x\n"), "/inv.yaml", 100)
	if err != nil || len(a.servers) != 0 || len(a.rejected) != 2 {
		t.Fatalf("got %v, %+v", err, a)
	}
	if got := a.rejected[0].Error(); !strings.Contains(got, `mapping key "name" already defined`) {
		t.Errorf("a duplicate key: %s", got)
	}
	if got := a.rejected[1].Error(); !strings.HasPrefix(got, `file /inv.yaml:4 [1]: server "web-3": labels: invalid key "-bad"`) {
		t.Errorf("a bad label at the line of labels: %s", got)
	}
}

func TestParseYAMLRefusesWholeFiles(t *testing.T) {
	bomb := "- name: a\n  labels: &l0 {k: xxxxxxxxxxxxxxxx}\n"
	for i := 1; i <= 8; i++ {
		bomb += fmt.Sprintf("- &l%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	for _, tc := range []struct{ name, data, want string }{
		{"two documents", "- {name: a}\n---\n- {name: b}\n", "more than one YAML document"},
		{"a mapping", "servers: []\n", "/f:1: a mapping: want a list of servers"},
		{"too many", strings.Repeat("- {name: a}\n", 11), "11 servers, more than maxServers (10)"},
		{"tab indentation", "- name: a\n\t- b\n", "/f:2:"},
		{"comments only", "# nothing\n", "holds no list"},
		{"an alias bomb", bomb, "aliases expand the list to more than"},
	} {
		_, err := parseYAML([]byte(tc.data), "/f", 10)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRejectionsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 500; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name": "BAD-%d-%s"}`, i, strings.Repeat("x", 5000))
	}
	b.WriteString("]")
	a, err := parseJSON([]byte(b.String()), KindCommand, "command inv", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.rejected) != maxRejections+1 || !strings.Contains(a.rejected[maxRejections].Reason, "and more entries rejected") {
		t.Errorf("%d rejections kept, want %d and a count", len(a.rejected), maxRejections+1)
	}
	if l := len(a.rejected[0].Reason); l > 400 {
		t.Errorf("a rejection of %d bytes for a 5000-byte name", l)
	}
}

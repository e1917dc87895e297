package artifact

import "testing"

func TestLongestPrefixWins(t *testing.T) {
	rules := map[string]string{
		"https://ci.example/":                "all",
		"https://ci.example/acme":            "acme",
		"https://ci.example/acme/web/":       "web",
		"oci://registry.example:5000/team":   "team",
		"oci://registry.example:5000/team/x": "x",
	}
	for url, want := range map[string]string{
		"https://ci.example/acme/web/v1/web.tar.gz": "web",
		"https://ci.example/acme/api/v1/api.tar.gz": "acme",
		"https://ci.example/acme-tools/t.tar.gz":    "all",
		"oci://registry.example:5000/team/web":      "team",
		"oci://registry.example:5000/team/x":        "x",
		"oci://registry.example:5000/teamster/web":  "",
		"https://other.example/web.tar.gz":          "",
	} {
		got, ok := Longest(url, rules)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q (%v), want %q", url, got, ok, want)
		}
	}
}

package artifact

import "strings"

// MatchPrefix reports whether prefix matches url at a boundary, by the rule
// of gitfleet.yaml's credentials: the whole URL, or a prefix ending in, or
// followed by, "/" or ":". So https://ci.example/acme matches
// https://ci.example/acme/web/v1/web.tar.gz but not
// https://ci.example/acme-tools/…; oci://registry.example:5000/team matches
// oci://registry.example:5000/team/web.
func MatchPrefix(url, prefix string) bool {
	if prefix == "" || !strings.HasPrefix(url, prefix) {
		return false
	}
	if len(url) == len(prefix) || strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, ":") {
		return true
	}
	next := url[len(prefix)]
	return next == '/' || next == ':'
}

// Longest returns the value of the longest prefix in rules matching url
// (MatchPrefix), and whether one did: how the daemon picks credentials and
// signature requirements per URL.
func Longest[T any](url string, rules map[string]T) (T, bool) {
	var best T
	bestLen, found := -1, false
	for p, v := range rules {
		if MatchPrefix(url, p) && len(p) > bestLen {
			best, bestLen, found = v, len(p), true
		}
	}
	return best, found
}

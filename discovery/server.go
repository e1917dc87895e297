package discovery

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The kinds of source, and the Source of a static server.
const (
	KindStatic  = "static"
	KindFile    = "file"
	KindCommand = "command"
	KindDNS     = "dns"
	KindEtcd    = "etcd"
)

// Server is one server of an Environment as discovery sees it: a static
// one the caller passed in, or one a source found. A discovered server
// has passed the same checks as a static server of the spec package.
type Server struct {
	// Name identifies the server everywhere; unique across every
	// Environment.
	Name string `json:"name" yaml:"name"`
	// Address is host or host:port; empty means the name is the host.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Groups select the apps the server runs.
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty"`
	// Site is where the server is (a relay per site distributes to it).
	Site string `json:"site,omitempty" yaml:"site,omitempty"`
	// Labels are free key/value pairs (a fresh Parallel stack names its
	// release in one); they never become metric labels.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`

	// Host and Port are Address resolved the way spec resolves a static
	// server's: Host is the name when the address has none, Port 0 when
	// the address names none (the Environment's port applies).
	Host string `json:"host,omitempty" yaml:"-"`
	Port int    `json:"port,omitempty" yaml:"-"`
	// Source is the kind of source that found it (KindFile ...), or
	// KindStatic.
	Source string `json:"source,omitempty" yaml:"-"`
	// Origin is where it came from, for errors and status: the source and
	// the position in its answer ("file /etc/inv.json:12 (entry 3)").
	Origin string `json:"origin,omitempty" yaml:"-"`
}

// entry is one item of a source's answer: exactly the fields a source
// may set, so that strict decoding refuses any other.
type entry struct {
	Name    string            `json:"name" yaml:"name"`
	Address string            `json:"address,omitempty" yaml:"address,omitempty"`
	Groups  []string          `json:"groups,omitempty" yaml:"groups,omitempty"`
	Site    string            `json:"site,omitempty" yaml:"site,omitempty"`
	Labels  map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

func (e entry) server() Server {
	return Server{Name: e.Name, Address: e.Address, Groups: e.Groups, Site: e.Site, Labels: e.Labels}
}

// The rules below must match the spec package's rules for a static server
// (spec/validate.go and spec/syntax.go: serverRE, nameRE, hostRE,
// validHost, splitAddress), which spec does not export. rules_test.go
// compares the two on a table of names and addresses through spec.Load.
var (
	// serverRE is spec's server name: a host name that is also a safe
	// directory name (no slash, no leading dot).
	serverRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	// nameRE is spec's group name: a DNS label. Sites follow it too.
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// hostRE is spec's DNS host name.
	hostRE = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$`)
	// labelKeyRE is a label key: letters, digits, '.', '_', '/' and '-'.
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$`)
)

// Bounds of a server's labels.
const (
	MaxLabels          = 32
	MaxLabelValueBytes = 253
	// maxQuoted bounds a value quoted in an error.
	maxQuoted = 100
)

// ValidServerName reports whether name is a valid server name (spec's
// rule: lower-case letters, digits, '.' and '-').
func ValidServerName(name string) bool { return serverRE.MatchString(name) }

// ValidGroupName reports whether name is a valid group (or site) name:
// a DNS label of lower-case letters, digits and '-'.
func ValidGroupName(name string) bool { return nameRE.MatchString(name) }

// SplitAddress splits host[:port] the way spec does for a static server
// (an IPv6 host in brackets when it has a port); ok is false for an
// address spec refuses. An empty address is valid (the name is the host).
func SplitAddress(a string) (host string, port int, ok bool) {
	if a == "" {
		return "", 0, true
	}
	if strings.ContainsAny(a, " \t\n/@") {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		if strings.Count(a, ":") == 1 {
			return "", 0, false // host: with a bad port
		}
		h = strings.Trim(a, "[]")
		return h, 0, h == "" || validHost(h) // spec checks only a host that is not empty
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || h == "" {
		return "", 0, false
	}
	return h, n, validHost(h)
}

// validHost accepts an IP address or a DNS host name (spec's rule).
func validHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return true
	}
	return len(h) <= 253 && hostRE.MatchString(h)
}

// check validates a server from a source and resolves its Host and Port;
// the error is a *fieldError naming the field.
func (s *Server) check() error {
	switch {
	case s.Name == "":
		return &fieldError{"name", "server has no name"}
	case !serverRE.MatchString(s.Name):
		return &fieldError{"name", fmt.Sprintf("invalid server name %q: use lower-case letters, digits, '.' and '-'", clip(s.Name))}
	}
	host, port, ok := SplitAddress(s.Address)
	if !ok {
		return &fieldError{"address", fmt.Sprintf("invalid address %q: want host or host:port, the host an IP address or a DNS name", clip(s.Address))}
	}
	if host == "" {
		host = s.Name
	}
	s.Host, s.Port = host, port
	for i, g := range s.Groups {
		if !nameRE.MatchString(g) {
			return &fieldError{"groups." + strconv.Itoa(i), fmt.Sprintf("invalid group name %q: use 1-63 lower-case letters, digits and '-'", clip(g))}
		}
	}
	if s.Site != "" && !nameRE.MatchString(s.Site) {
		return &fieldError{"site", fmt.Sprintf("invalid site %q: use 1-63 lower-case letters, digits and '-'", clip(s.Site))}
	}
	return checkLabels(s.Labels)
}

func checkLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return &fieldError{"labels", fmt.Sprintf("%d labels, at most %d", len(labels), MaxLabels)}
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := labels[k]
		switch {
		case !labelKeyRE.MatchString(k):
			return &fieldError{"labels", fmt.Sprintf("invalid key %q: 1-63 letters, digits, '.', '_', '/' and '-'", clip(k))}
		case len(v) > MaxLabelValueBytes:
			return &fieldError{"labels." + k, fmt.Sprintf("value of %d bytes, at most %d", len(v), MaxLabelValueBytes)}
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			return &fieldError{"labels." + k, "the value holds a control character"}
		}
	}
	return nil
}

// clip cuts a value quoted in an error to maxQuoted bytes.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// equal reports whether two servers are the same as far as the fleet is
// concerned (origin aside).
func (s *Server) equal(o *Server) bool {
	if s.Name != o.Name || s.Address != o.Address || s.Site != o.Site || len(s.Groups) != len(o.Groups) || len(s.Labels) != len(o.Labels) {
		return false
	}
	for i := range s.Groups {
		if s.Groups[i] != o.Groups[i] {
			return false
		}
	}
	for k, v := range s.Labels {
		if w, ok := o.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

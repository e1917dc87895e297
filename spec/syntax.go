package spec

import (
	"net"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// Values that reach another program's command language are held to that
// language's rules here, so that no value can end one command and start
// another: HAProxy's runtime API reads ';' and newlines as command
// separators and spaces as word separators; an SSH user or host could be
// read as an option or a second host.
var (
	// haproxyNameRE is what HAProxy accepts as a backend or server name.
	haproxyNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,253}$`)
	// userRE is a portable login name (useradd's rule, plus upper case
	// and '.'): no leading '-', no '@', ':', whitespace or quote.
	userRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	// hostRE is a DNS host name: dot-separated labels of letters, digits,
	// '-' and '_'.
	hostRE = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$`)
)

// validHost accepts an IP address or a DNS host name.
func validHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return true
	}
	return len(h) <= 253 && hostRE.MatchString(h)
}

// hasControl reports whether s holds a control character (newline, NUL,
// escape, DEL ...).
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func checkUser(p Pos, field, u string, errs *errorList) {
	if u != "" && !userRE.MatchString(u) {
		errs.add(p, "invalid %s %q: a login name of letters, digits, '_', '.' and '-', not starting with '-' (at most 32)", field, u)
	}
}

// checkLBAddress accepts HAProxy's runtime API address: a unix socket path
// or host:port.
func checkLBAddress(p Pos, a string, errs *errorList) {
	switch {
	case strings.HasPrefix(a, "unix:"):
		if rest := strings.TrimPrefix(a, "unix:"); rest == "" || hasControl(rest) {
			errs.add(p, "invalid loadBalancer.address %q: want a socket path after unix:", a)
		}
	case strings.HasPrefix(a, "/"):
		if path.Clean(a) != a || hasControl(a) {
			errs.add(p, "invalid loadBalancer.address %q: want a clean socket path or host:port", a)
		}
	default:
		h, port, ok := splitAddress(a)
		if !ok || port == 0 || !validHost(h) {
			errs.add(p, "invalid loadBalancer.address %q: want a socket path (absolute) or host:port", a)
		}
	}
}

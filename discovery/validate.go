package discovery

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gitfleet/gitfleet/cluster"
)

// The DNS record types.
const (
	DNSTypeSRV = "srv"
	DNSTypeA   = "a"
)

// Bounds of the configuration.
const (
	maxArgs        = 64
	maxArgBytes    = 4096
	maxEnv         = 64
	maxServersCap  = 100000
	maxOutputCap   = 64 << 20
	minOutputBytes = 1 << 10
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate checks a configuration whose defaults are set (WithDefaults),
// without reading any file; it returns FieldErrors, or nil.
func (c Config) Validate() error {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.File == nil && c.Command == nil && c.DNS == nil && c.Etcd == nil {
		add("file", "discovery needs at least one source: file, command, dns or etcd")
	}
	if m := c.MaxRemove; m != nil && (m.N < 0 || (m.Percent && m.N > 100) || (!m.Percent && m.N > maxServersCap)) {
		add("maxRemove", "%s out of range 0..%d or 0%%..100%%", m, maxServersCap)
	}
	if c.MaxServers < 1 || c.MaxServers > maxServersCap {
		add("maxServers", "%d out of range 1..%d", c.MaxServers, maxServersCap)
	}
	if f := c.File; f != nil {
		checkPath("file.path", f.Path, add)
		checkRange("file.debounce", f.Debounce, 10*time.Millisecond, time.Minute, add)
		checkRange("file.rescan", f.Rescan, 100*time.Millisecond, 24*time.Hour, add)
	}
	if cmd := c.Command; cmd != nil {
		validateCommand(cmd, add)
	}
	if d := c.DNS; d != nil {
		validateDNS(d, add)
	}
	if e := c.Etcd; e != nil {
		validateEtcd(e, add)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

type addFunc func(field, format string, args ...any)

func checkRange(field string, d, lo, hi time.Duration, add addFunc) {
	if d < lo || d > hi {
		add(field, "%s out of range %s..%s", d, lo, hi)
	}
}

func checkPath(field, p string, add addFunc) {
	switch {
	case p == "":
		add(field, "is required")
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		add(field, "%q: want a clean absolute path on the daemon's machine", clip(p))
	case hasControl(p):
		add(field, "holds a control character")
	}
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

func validateCommand(c *CommandConfig, add addFunc) {
	switch {
	case len(c.Run) == 0:
		add("command.run", "is required: the program and its arguments")
	case len(c.Run) > maxArgs:
		add("command.run", "%d arguments, at most %d", len(c.Run), maxArgs)
	default:
		if p := c.Run[0]; p == "" || (strings.Contains(p, "/") && !filepath.IsAbs(p)) {
			add("command.run.0", "%q: want an absolute path or a program name looked up in PATH", clip(p))
		}
		for i, a := range c.Run {
			if len(a) > maxArgBytes || strings.ContainsRune(a, 0) {
				add("command.run."+strconv.Itoa(i), "an argument holds a NUL byte or is longer than %d bytes", maxArgBytes)
			}
		}
	}
	checkRange("command.interval", c.Interval, time.Second, 24*time.Hour, add)
	checkRange("command.timeout", c.Timeout, 100*time.Millisecond, time.Hour, add)
	if c.MaxOutputBytes < minOutputBytes || c.MaxOutputBytes > maxOutputCap {
		add("command.maxOutputBytes", "%d out of range %d..%d", c.MaxOutputBytes, minOutputBytes, maxOutputCap)
	}
	if len(c.Env)+len(c.PassEnv) > maxEnv {
		add("command.env", "%d variables, at most %d", len(c.Env)+len(c.PassEnv), maxEnv)
	}
	for k, v := range c.Env {
		if !envNameRE.MatchString(k) {
			add("command.env."+k, "invalid variable name %q", clip(k))
		} else if strings.ContainsRune(v, 0) || len(v) > maxArgBytes {
			add("command.env."+k, "the value holds a NUL byte or is longer than %d bytes", maxArgBytes)
		}
	}
	for i, k := range c.PassEnv {
		if !envNameRE.MatchString(k) {
			add("command.passEnv."+strconv.Itoa(i), "invalid variable name %q", clip(k))
		}
	}
}

func validateDNS(d *DNSConfig, add addFunc) {
	name := strings.TrimSuffix(d.Name, ".")
	switch {
	case name == "":
		add("dns.name", "is required")
	case len(name) > 253 || !hostRE.MatchString(name):
		add("dns.name", "%q is not a DNS name", clip(d.Name))
	}
	switch d.Type {
	case DNSTypeSRV:
		if d.Port != 0 {
			add("dns.port", "is for type a; SRV records carry their port")
		}
	case DNSTypeA:
		if d.Port < 0 || d.Port > 65535 {
			add("dns.port", "%d out of range 1..65535", d.Port)
		}
		if d.TrimSuffix != "" {
			add("dns.trimSuffix", "is for type srv; servers found by A/AAAA records are named after their address")
		}
	default:
		add("dns.type", "%q: want srv or a", clip(d.Type))
	}
	if d.Resolver != "" {
		host, port, err := net.SplitHostPort(d.Resolver)
		if n, perr := strconv.Atoi(port); err != nil || net.ParseIP(host) == nil || perr != nil || n < 1 || n > 65535 {
			add("dns.resolver", "%q: want an IP address and a port, such as 127.0.0.1:53 or [::1]:53", clip(d.Resolver))
		}
	}
	checkRange("dns.timeout", d.Timeout, 10*time.Millisecond, time.Minute, add)
	checkRange("dns.minRefresh", d.MinRefresh, 100*time.Millisecond, time.Hour, add)
	checkRange("dns.maxRefresh", d.MaxRefresh, d.MinRefresh, 24*time.Hour, add)
	if d.TrimSuffix != "" && (!strings.HasPrefix(d.TrimSuffix, ".") || !hostRE.MatchString(strings.Trim(d.TrimSuffix, "."))) {
		add("dns.trimSuffix", "%q: want a domain starting with '.', such as .web.example.com", clip(d.TrimSuffix))
	}
	for i, g := range d.Groups {
		if !nameRE.MatchString(g) {
			add("dns.groups."+strconv.Itoa(i), "invalid group name %q: use 1-63 lower-case letters, digits and '-'", clip(g))
		}
	}
	if d.Site != "" && !nameRE.MatchString(d.Site) {
		add("dns.site", "invalid site %q: use 1-63 lower-case letters, digits and '-'", clip(d.Site))
	}
	if err := checkLabels(d.Labels); err != nil {
		add("dns."+err.(*fieldError).field, "%s", err.(*fieldError).msg)
	}
}

// validateEtcd checks endpoints, TLS, credentials and prefix with the
// cluster package's own rules (cluster.Config.Validate), so that both etcd
// clients of the daemon accept the same settings.
func validateEtcd(e *EtcdConfig, add addFunc) {
	if e.Prefix == "" {
		add("etcd.prefix", "is required: the key prefix servers register under")
	}
	cc := cluster.Config{Replica: "discovery", Etcd: cluster.Etcd{
		Endpoints: e.Endpoints, TLS: e.TLS, Username: e.Username, PasswordFile: e.PasswordFile,
		Prefix: e.Prefix, LeaseTTL: cluster.DefaultLeaseTTL,
	}}
	if e.Prefix == "" {
		cc.Etcd.Prefix = cluster.DefaultPrefix
	}
	if err := cc.Validate(); err != nil {
		for _, fe := range err.(cluster.FieldErrors) {
			add(fe.Field, "%s", fe.Msg)
		}
	}
	checkRange("etcd.timeout", e.Timeout, 100*time.Millisecond, time.Minute, add)
}

// CheckCluster refuses a discovery etcd configuration that shares
// credentials with the daemon's own cluster (the one of its leases,
// fencing and approvals), or a prefix of the same etcd that overlaps the
// cluster's: a server able to register itself must not be able to touch
// what fences the fleet. cl is the cluster section with its defaults set,
// or nil when the daemon runs alone.
func (c Config) CheckCluster(cl *cluster.Config) error {
	e := c.Etcd
	if e == nil || cl == nil {
		return nil
	}
	var errs FieldErrors
	add := func(field, msg string) { errs = append(errs, FieldError{Field: field, Msg: msg}) }
	ce := cl.Etcd
	if e.Username != "" && e.Username == ce.Username {
		add("etcd.username", fmt.Sprintf("%q is the cluster's user: give discovery its own user, whose role may only read the prefix", e.Username))
	}
	if e.PasswordFile != "" && samePath(e.PasswordFile, ce.PasswordFile) {
		add("etcd.passwordFile", "is the cluster's password file: give discovery its own user and password")
	}
	if e.TLS != nil && ce.TLS != nil && e.TLS.CertFile != "" && samePath(e.TLS.CertFile, ce.TLS.CertFile) {
		add("etcd.tls.certFile", "is the cluster's client certificate: give discovery its own")
	}
	if sharesEndpoint(e.Endpoints, ce.Endpoints) && prefixesOverlap(e.Prefix, ce.Prefix) {
		add("etcd.prefix", fmt.Sprintf("%q overlaps the cluster's prefix %q on the same etcd", e.Prefix, ce.Prefix))
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func samePath(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	if errA == nil && errB == nil {
		return ra == rb
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

func sharesEndpoint(a, b []string) bool {
	norm := func(ep string) string {
		ep = strings.ToLower(strings.TrimSuffix(ep, "/"))
		if i := strings.Index(ep, "://"); i >= 0 {
			ep = ep[i+3:]
		}
		return ep
	}
	seen := map[string]bool{}
	for _, ep := range b {
		seen[norm(ep)] = true
	}
	for _, ep := range a {
		if seen[norm(ep)] {
			return true
		}
	}
	return false
}

func prefixesOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") || a == "/" || b == "/"
}

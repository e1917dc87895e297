package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Config is the `cluster` section of gitfleet.yaml: where the etcd cluster
// is and what this replica is called. Without it gitfleet runs alone.
type Config struct {
	Etcd Etcd `yaml:"etcd"`
	// Replica names this daemon among the replicas (default: the host
	// name). Two running replicas must not share a name.
	Replica string `yaml:"replica,omitempty"`
}

// Etcd says how to reach the etcd cluster.
type Etcd struct {
	// Endpoints are client URLs (http://host:port, https://host:port)
	// or host:port pairs of the etcd members.
	Endpoints []string `yaml:"endpoints"`
	TLS       *TLS     `yaml:"tls,omitempty"`
	// Username and PasswordFile turn on etcd's authentication; the file
	// holds the password (a trailing newline is ignored).
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"passwordFile,omitempty"`
	// Prefix is where every gitfleet key lives (default /gitfleet).
	Prefix string `yaml:"prefix,omitempty"`
	// LeaseTTL is how long an environment stays owned by a replica that
	// stopped answering (default 15s, whole seconds, 2s..5m).
	LeaseTTL time.Duration `yaml:"leaseTTL,omitempty"`
}

// TLS is the client side of etcd's TLS: the CA that signed the members'
// certificates, and a client certificate when etcd asks for one.
type TLS struct {
	CAFile   string `yaml:"caFile,omitempty"`
	CertFile string `yaml:"certFile,omitempty"`
	KeyFile  string `yaml:"keyFile,omitempty"`
}

// Defaults of the configuration.
const (
	DefaultPrefix   = "/gitfleet"
	DefaultLeaseTTL = 15 * time.Second
	MinLeaseTTL     = 2 * time.Second
	MaxLeaseTTL     = 5 * time.Minute
	maxEndpoints    = 32
)

// FieldError is one problem of the configuration; Field is the path below
// `cluster` (etcd.endpoints.1), so the config package can add file:line.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return "cluster." + e.Field + ": " + e.Msg }

// FieldErrors is every problem Validate found.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// WithDefaults returns the configuration with empty fields set to their
// defaults; hostname gives the default replica name (os.Hostname).
func (c Config) WithDefaults(hostname func() (string, error)) Config {
	if c.Etcd.Prefix == "" {
		c.Etcd.Prefix = DefaultPrefix
	}
	if c.Etcd.LeaseTTL == 0 {
		c.Etcd.LeaseTTL = DefaultLeaseTTL
	}
	if c.Replica == "" && hostname != nil {
		if h, err := hostname(); err == nil {
			c.Replica = h
		}
	}
	return c
}

// Validate checks a configuration whose defaults are set, without reading
// any file; it returns FieldErrors, or nil.
func (c Config) Validate() error {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	e := c.Etcd
	if len(e.Endpoints) == 0 {
		add("etcd.endpoints", "at least one endpoint is required")
	}
	if len(e.Endpoints) > maxEndpoints {
		add("etcd.endpoints", "%d endpoints: at most %d", len(e.Endpoints), maxEndpoints)
	}
	for i, ep := range e.Endpoints {
		if msg := checkEndpoint(ep, e.TLS != nil); msg != "" {
			add("etcd.endpoints."+strconv.Itoa(i), "%s", msg)
		}
	}
	if t := e.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			add("etcd.tls", "set both certFile and keyFile, or neither")
		}
	}
	if (e.Username == "") != (e.PasswordFile == "") {
		add("etcd.username", "set both username and passwordFile, or neither")
	}
	if msg := checkPrefix(e.Prefix); msg != "" {
		add("etcd.prefix", "%s", msg)
	}
	switch {
	case e.LeaseTTL < MinLeaseTTL || e.LeaseTTL > MaxLeaseTTL:
		add("etcd.leaseTTL", "%s out of range %s..%s", e.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	case e.LeaseTTL%time.Second != 0:
		add("etcd.leaseTTL", "%s: etcd leases are whole seconds", e.LeaseTTL)
	}
	if err := checkName(c.Replica); err != nil {
		add("replica", "%v", err)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkEndpoint(ep string, withTLS bool) string {
	if !strings.Contains(ep, "://") {
		if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
			return fmt.Sprintf("%q: want http://host:port, https://host:port or host:port", ep)
		}
		return ""
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Sprintf("%q: want http://host:port or https://host:port", ep)
	}
	switch {
	case u.Scheme == "http" && withTLS:
		return fmt.Sprintf("%q: http with tls set; use https", ep)
	case u.Scheme == "https" && !withTLS:
		return fmt.Sprintf("%q: https needs tls (at least caFile)", ep)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q: scheme %q, want http or https", ep, u.Scheme)
	}
	return ""
}

func checkPrefix(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q must start with /", p)
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return fmt.Sprintf("%q must not end with /", p)
	case strings.Contains(p, "//"):
		return fmt.Sprintf("%q has an empty segment", p)
	case len(p) > 128:
		return "longer than 128 bytes"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "has a control character"
		}
	}
	return ""
}

// clientConfig is the etcd client configuration; it reads the TLS and
// password files and says which one failed.
func (c Config) clientConfig() (clientv3.Config, error) {
	e := c.Etcd
	cc := clientv3.Config{
		Endpoints:            e.Endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    e.LeaseTTL / 3,
		DialKeepAliveTimeout: e.LeaseTTL / 3,
		Username:             e.Username,
		Logger:               zap.NewNop(),
	}
	if e.PasswordFile != "" {
		data, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			return cc, fmt.Errorf("cluster.etcd.passwordFile: %w", err)
		}
		cc.Password = strings.TrimRight(string(data), "\r\n")
	}
	if t := e.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return cc, fmt.Errorf("cluster.etcd.tls.caFile: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return cc, fmt.Errorf("cluster.etcd.tls.caFile %s: no PEM certificate", t.CAFile)
			}
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return cc, fmt.Errorf("cluster.etcd.tls.certFile: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cc.TLS = tc
	}
	return cc, nil
}

package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
)

// API secures the daemon's HTTP API on listen: bearer tokens for every
// endpoint that changes something, and TLS so that the tokens never cross
// a network in clear text. Read-only endpoints (/metrics, /healthz, status,
// history) stay open.
type API struct {
	// TokenFile is shorthand for Tokens: [{name: default, file: TokenFile}].
	TokenFile string `yaml:"tokenFile,omitempty"`
	// Tokens are the named bearer tokens the API accepts; the name is the
	// identity the daemon logs for what a token did.
	Tokens []APIToken `yaml:"tokens,omitempty"`
	TLS    *APITLS    `yaml:"tls,omitempty"`
}

// APIToken is one named token, read from a file or an environment variable
// when the daemon starts; never written in gitfleet.yaml.
type APIToken struct {
	Name string `yaml:"name"`
	File string `yaml:"file,omitempty"`
	Env  string `yaml:"env,omitempty"`
}

// APITLS makes the daemon serve HTTPS on listen (TLS 1.2 or later).
type APITLS struct {
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// DefaultAPITokenName is the name of the token of api.tokenFile.
const DefaultAPITokenName = "default"

// MinAPITokenLength is the shortest token accepted: a token must not be
// guessable (openssl rand -hex 32 makes a good one).
const MinAPITokenLength = 16

var (
	tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// check validates the api section and turns tokenFile into its token.
func (a *API) check(ck *checker) {
	if a.TokenFile != "" && len(a.Tokens) > 0 {
		ck.add(ck.at("api.tokenFile"), "api: set tokenFile or tokens, not both (tokenFile is shorthand for tokens: [{name: default, file: ...}])")
	}
	if a.TokenFile != "" && len(a.Tokens) == 0 {
		a.Tokens = []APIToken{{Name: DefaultAPITokenName, File: a.TokenFile}}
	}
	a.TokenFile = ck.abs(a.TokenFile)
	seen := map[string]bool{}
	for i := range a.Tokens {
		t := &a.Tokens[i]
		f := fmt.Sprintf("api.tokens.%d", i)
		if a.TokenFile != "" {
			f = "api.tokenFile"
		}
		switch {
		case t.Name == "":
			ck.add(ck.at(f), "api.tokens[%d].name is required: it names who used the token in the daemon's log", i)
		case !tokenNameRE.MatchString(t.Name):
			ck.add(ck.at(f+".name"), "api.tokens[%d].name %q: want letters, digits, '.', '_' or '-' (at most 64)", i, t.Name)
		case seen[t.Name]:
			ck.add(ck.at(f+".name"), "api.tokens[%d].name %q is used twice", i, t.Name)
		}
		seen[t.Name] = true
		if (t.File == "") == (t.Env == "") {
			ck.add(ck.at(f), "api.tokens[%d]: set exactly one of file and env (the token never goes in gitfleet.yaml)", i)
		}
		if t.Env != "" && !envNameRE.MatchString(t.Env) {
			ck.add(ck.at(f+".env"), "api.tokens[%d].env %q is not an environment variable name", i, t.Env)
		}
		t.File = ck.abs(t.File)
	}
	if tl := a.TLS; tl != nil {
		if tl.CertFile == "" || tl.KeyFile == "" {
			ck.add(ck.at("api.tls"), "api.tls: set certFile and keyFile")
		}
		tl.CertFile, tl.KeyFile = ck.abs(tl.CertFile), ck.abs(tl.KeyFile)
	}
}

// Secret reads the token, without surrounding white space. An empty or
// short token is an error that names where it was read, never its value.
func (t APIToken) Secret() (string, error) {
	where := "file " + t.File
	var v string
	if t.File != "" {
		b, err := os.ReadFile(t.File)
		if err != nil {
			return "", fmt.Errorf("api token %s: %w", t.Name, err)
		}
		v = string(b)
	} else {
		where = "environment variable " + t.Env
		v = os.Getenv(t.Env)
	}
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fmt.Errorf("api token %s: %s is empty", t.Name, where)
	case len(v) < MinAPITokenLength:
		return "", fmt.Errorf("api token %s: the token in %s has %d characters; use at least %d (openssl rand -hex 32)", t.Name, where, len(v), MinAPITokenLength)
	case strings.ContainsAny(v, " \t\r\n"):
		return "", fmt.Errorf("api token %s: the token in %s holds white space; want one line", t.Name, where)
	}
	return v, nil
}

// IsLoopback reports whether a listen address (host:port) can only be
// reached from this machine: localhost or a loopback IP. An empty host,
// 0.0.0.0, :: and every other name are reachable from elsewhere.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// SetListen overrides the listen address of the file (run --listen).
func (c *Config) SetListen(addr string) {
	c.Listen, c.listenLine = addr, 0
}

// CheckListen refuses to serve the API on an address reachable from other
// machines without a token: listen is the address the daemon will use
// (the configuration's, or the one of run --listen).
func (c *Config) CheckListen(listen string) error {
	if IsLoopback(listen) || len(c.API.Tokens) > 0 {
		return nil
	}
	e := &Error{File: c.File, Msg: fmt.Sprintf("listen %s is not a loopback address, and the API has no token: "+
		"anyone who reaches it could start passes. Set api.tokenFile (a secret file, at least %d characters) or api.tokens, "+
		"or listen on 127.0.0.1", listen, MinAPITokenLength)}
	if listen == c.Listen {
		e.Line = c.listenLine
	}
	return e
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/config"
	"github.com/spf13/cobra"
)

// tokenEnv is the environment variable the CLI takes the API token from.
const tokenEnv = "GITFLEET_TOKEN"

// daemonFlags say how a command reaches the running daemon.
type daemonFlags struct {
	cfgFile   string
	addr      string
	tokenFile string
	caFile    string
	// cfgSet is whether --config was given (not its default).
	cfgSet func() bool
}

// register adds the flags to cmd; withToken adds --token-file, for
// commands that change something.
func (f *daemonFlags) register(cmd *cobra.Command, cfgUsage string, withToken bool) {
	cmd.Flags().StringVar(&f.cfgFile, "config", "gitfleet.yaml", cfgUsage)
	cmd.Flags().StringVar(&f.addr, "addr", "", "the daemon's address: host:port (HTTP), https://host:port or http://host:port (default: listen and api.tls of --config)")
	if withToken {
		cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the API token (default: $"+tokenEnv+", else the token of --config)")
	}
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM file of the CA (or self-signed certificate) to trust for https (default: the system's, and api.tls.certFile of --config)")
	f.cfgSet = func() bool { return cmd.Flags().Changed("config") }
}

// daemonClient talks to the running daemon's API.
type daemonClient struct {
	base string // scheme://host:port
	http *http.Client
	// token finds the bearer token of mutating requests and says where it
	// came from; read-only requests never read it.
	token func() (token, from string, err error)
}

// client builds a client from the flags. c is the configuration when the
// command has read it already; otherwise it is read when the flags leave
// the address to it, or when --config was given.
func (f *daemonFlags) client(c *config.Config, timeout time.Duration) (*daemonClient, error) {
	if c == nil && (f.addr == "" || f.cfgSet()) {
		var err error
		if c, err = config.Load(f.cfgFile); err != nil {
			return nil, err
		}
	}
	base, err := baseURL(f.addr, c)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(base, "https://") {
		pool, err := trustedRoots(f.caFile, c)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &daemonClient{
		base:  base,
		http:  &http.Client{Timeout: timeout, Transport: tr},
		token: func() (string, string, error) { return f.findToken(c) },
	}, nil
}

// baseURL is the daemon's URL: --addr; else the URL the daemon running
// with the configuration wrote to its state directory; else the
// configuration's listen, with https when it has api.tls. An unspecified
// host (0.0.0.0, ::) is this machine.
func baseURL(addr string, c *config.Config) (string, error) {
	scheme := "http"
	if addr == "" {
		if b, err := os.ReadFile(filepath.Join(c.StateDir, apiURLFile)); err == nil && len(b) < 1024 {
			addr = strings.TrimSpace(string(b))
		}
	}
	if addr == "" {
		addr = c.Listen
		if c.API.TLS != nil {
			scheme = "https"
		}
	} else if s, rest, ok := strings.Cut(addr, "://"); ok {
		if s != "http" && s != "https" {
			return "", fmt.Errorf("--addr %s: want host:port, http://host:port or https://host:port", addr)
		}
		scheme, addr = s, strings.TrimSuffix(rest, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("daemon address %s: want host:port (%v)", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if err == nil && ip.Is6() && !ip.Is4In6() {
			host = "::1"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// trustedRoots are the system's roots plus caFile, or else the daemon's
// own certificate when the configuration names one (a self-signed
// certificate is then trusted on the daemon's machine).
func trustedRoots(caFile string, c *config.Config) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	file, what := caFile, "--ca-file"
	if file == "" && c != nil && c.API.TLS != nil {
		file, what = c.API.TLS.CertFile, "api.tls.certFile of "+c.File
	}
	if file == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", what, file)
	}
	return pool, nil
}

// findToken takes the token from --token-file, $GITFLEET_TOKEN, or the
// configuration: its token named default, else its first, else the token
// the daemon made in its state directory.
func (f *daemonFlags) findToken(c *config.Config) (token, from string, err error) {
	if f.tokenFile != "" {
		t := config.APIToken{Name: "of --token-file", File: f.tokenFile}
		v, err := t.Secret()
		return v, "--token-file " + f.tokenFile, err
	}
	if _, ok := os.LookupEnv(tokenEnv); ok {
		v, err := config.APIToken{Name: "of $" + tokenEnv, Env: tokenEnv}.Secret()
		return v, "$" + tokenEnv, err
	}
	if c == nil {
		return "", "", fmt.Errorf("no API token: give --token-file, set %s, or --config", tokenEnv)
	}
	if len(c.API.Tokens) == 0 {
		file := filepath.Join(c.StateDir, localTokenFile)
		t := config.APIToken{Name: localTokenName, File: file}
		v, err := t.Secret()
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %s names no API token, and no daemon running with it has written %s", errNoLocalToken, c.File, file)
		}
		return v, file, err
	}
	t := c.API.Tokens[0]
	for _, o := range c.API.Tokens {
		if o.Name == config.DefaultAPITokenName {
			t = o
		}
	}
	v, err := t.Secret()
	return v, "api token " + t.Name + " of " + c.File, err
}

// errNoLocalToken says that the token the daemon writes in its state
// directory is not there: no daemon runs with that configuration.
var errNoLocalToken = errors.New("no daemon token")

// noTokenError is a request that was not sent for want of a usable
// token.
type noTokenError struct{ err error }

func (e *noTokenError) Error() string { return e.err.Error() }
func (e *noTokenError) Unwrap() error { return e.err }

// post sends a mutating request with the token; from says where the token
// came from. A token never goes in clear text to another machine: over
// http it is sent to loopback addresses only.
func (d *daemonClient) post(ctx context.Context, path string) (resp *http.Response, from string, err error) {
	return d.send(ctx, path, nil)
}

// send posts body (nil: none) with the token, as post says.
func (d *daemonClient) send(ctx context.Context, path string, body io.Reader) (resp *http.Response, from string, err error) {
	token, from, err := d.token()
	if err != nil {
		return nil, from, &noTokenError{err}
	}
	if strings.HasPrefix(d.base, "http://") && !config.IsLoopback(strings.TrimPrefix(d.base, "http://")) {
		return nil, from, &noTokenError{fmt.Errorf("refusing to send the API token in clear text to %s: use https (api.tls, or a TLS proxy: --addr https://...)", d.base)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+path, body)
	if err != nil {
		return nil, from, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err = d.http.Do(req)
	return resp, from, err
}

// get reads a read-only endpoint; it sends no token.
func (d *daemonClient) get(path string) (*http.Response, error) {
	return d.http.Get(d.base + path)
}

// answerError describes an answer other than the one wanted, quoting at
// most 4 KiB of its body.
func answerError(base, path string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Errorf("%s%s: %s: %s", base, path, resp.Status, strings.TrimSpace(string(b)))
}

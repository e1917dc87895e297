package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gitfleet/gitfleet/config"
)

// localTokenFile, in the state directory, holds the token the daemon makes
// at every start when gitfleet.yaml names none: the CLI on this machine
// reads it; no other user can (mode 0600).
const localTokenFile = "api.token"

// localTokenName is the identity of the daemon's own token.
const localTokenName = "local"

// Bounds of the HTTP server: a client must send its headers within
// headerTimeout and its request within readTimeout (webhooks bound their
// bodies more tightly), and take an answer within writeTimeout.
const (
	headerTimeout  = 10 * time.Second
	readTimeout    = 30 * time.Second
	writeTimeout   = 60 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
)

// apiTokens reads the tokens of api.tokens by name. Without any, it makes
// one, named local, and writes it to <stateDir>/api.token; with some, it
// removes a token file left by an earlier start.
func apiTokens(c *config.Config) (map[string]string, error) {
	local := filepath.Join(c.StateDir, localTokenFile)
	if len(c.API.Tokens) == 0 {
		b := make([]byte, 32)
		rand.Read(b)
		v := hex.EncodeToString(b)
		if err := writeSecret(local, v+"\n"); err != nil {
			return nil, fmt.Errorf("api token file: %w", err)
		}
		return map[string]string{localTokenName: v}, nil
	}
	if err := os.Remove(local); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api token file: %w", err)
	}
	out := map[string]string{}
	seen := map[string]string{}
	for _, t := range c.API.Tokens {
		v, err := t.Secret()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.File, err)
		}
		if other, ok := seen[v]; ok {
			return nil, fmt.Errorf("%s: api tokens %s and %s are the same token: give each its own", c.File, other, t.Name)
		}
		seen[v] = t.Name
		out[t.Name] = v
	}
	return out, nil
}

// forgetLocalToken removes the token the daemon made, when it stops.
func forgetLocalToken(c *config.Config) {
	if len(c.API.Tokens) == 0 {
		os.Remove(filepath.Join(c.StateDir, localTokenFile))
	}
}

// writeSecret replaces file with content, readable by its owner only.
func writeSecret(file, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".api-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// httpServer is the daemon's listener, plain or TLS, and its server.
type httpServer struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// listenHTTP opens listen for h, with TLS (1.2 or later) when api.tls is
// set. On an address reachable from other machines without TLS it warns:
// tokens would cross the network in clear text unless a TLS proxy is in
// front.
func listenHTTP(c *config.Config, listen string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	s := &httpServer{srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	if t := c.API.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: api.tls: %w", c.File, err)
		}
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		s.tls = true
	} else if !config.IsLoopback(listen) {
		log.Warn("the API is served over plain HTTP on an address other machines reach: tokens cross the network in clear text unless a TLS proxy is in front (api.tls serves HTTPS)", "listen", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	return s, nil
}

// serve serves until the server is shut down.
func (s *httpServer) serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// url is the base URL the server answers at.
func (s *httpServer) url() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

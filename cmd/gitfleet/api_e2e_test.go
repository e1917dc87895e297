package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tokens of the API tests: long enough, and easy to find in logs.
const (
	ciToken    = "ci-token-5b0e9c1d7a2f48e6"
	wrongToken = "wrong-token-93a1f07c2d5e"
)

// apiQuickstart is the quickstart with an API token named ci, and extra
// configuration appended.
func apiQuickstart(t *testing.T, extra string) (qs, cfg string) {
	t.Helper()
	qs = quickstart(t)
	write(t, filepath.Join(qs, "ci.token"), ciToken+"\n")
	cfg = filepath.Join(qs, "gitfleet.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, cfg, string(b)+"api:\n  tokens:\n    - {name: ci, file: ci.token}\n"+extra)
	return qs, cfg
}

// post sends POST path to the daemon with an Authorization header (none
// when empty).
func (d *daemon) post(path, authorization string) *http.Response {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.url+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestAPISyncNeedsToken: POST /api/v1/sync without a token, with a wrong
// one or with another scheme is refused with 401 and WWW-Authenticate:
// Bearer; the right token is accepted, by curl-like clients and by
// gitfleet sync; no token value reaches the log.
func TestAPISyncNeedsToken(t *testing.T) {
	_, cfg := apiQuickstart(t, "")
	d := startDaemon(t, cfg)
	for _, tt := range []struct {
		name, authorization, challenge string
	}{
		{"no token", "", `Bearer realm="gitfleet"`},
		{"wrong token", "Bearer " + wrongToken, `Bearer realm="gitfleet", error="invalid_token"`},
		{"basic auth", "Basic Y2k6" + ciToken, `Bearer realm="gitfleet"`},
		{"the token without a scheme", ciToken, `Bearer realm="gitfleet"`},
	} {
		resp := d.post("/api/v1/sync", tt.authorization)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 401, %q", tt.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.challenge)
		}
	}
	if resp := d.post("/api/v1/sync", "Bearer "+ciToken); resp.StatusCode != http.StatusAccepted {
		t.Errorf("right token: status %d, want 202", resp.StatusCode)
	}
	if resp := d.post("/api/v1/sync", "bearer  "+ciToken); resp.StatusCode != http.StatusAccepted {
		t.Errorf("right token, scheme in lower case: status %d, want 202", resp.StatusCode)
	}
	// Read-only endpoints stay open.
	for _, path := range []string{"/metrics", "/healthz", "/api/v1/status", "/api/v1/history"} {
		resp, err := d.client.Get(d.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: status %d, want 200", path, resp.StatusCode)
		}
	}

	// gitfleet sync takes the token from the configuration, $GITFLEET_TOKEN
	// or --token-file, and says when the daemon refuses it. (It clears
	// failures on the servers first: not while a rollout writes there.)
	d.waitFor("production and staging in sync", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3 &&
			d.metric("gitfleet_servers", `environment="staging"`, `state="in_sync"`) == 2
	})
	syncArgs := []string{"sync", "--retry", "--config", cfg, "--addr", d.addr, "production", "hello"}
	if code, out, errOut := run(syncArgs...); code != 0 || !strings.Contains(out, "the daemon is reconciling now") {
		t.Errorf("sync with the token of the configuration: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(tokenEnv, wrongToken)
	code, out, errOut := run(syncArgs...)
	if code != 1 || !strings.Contains(errOut, "refused the token of $GITFLEET_TOKEN") || !strings.Contains(errOut, "401 Unauthorized") {
		t.Errorf("sync with a wrong $GITFLEET_TOKEN: exit %d, want 1 and the refusal\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, wrongToken) {
		t.Errorf("sync printed the token:\n%s%s", out, errOut)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	write(t, tokenFile, ciToken+"\n")
	if code, out, errOut := run(append([]string{"sync", "--token-file", tokenFile}, syncArgs[1:]...)...); code != 0 || !strings.Contains(out, "reconciling now") {
		t.Errorf("sync --token-file (over a wrong $GITFLEET_TOKEN): exit %d\n%s%s", code, out, errOut)
	}
	logs := d.logs.String()
	if strings.Contains(logs, ciToken) || strings.Contains(logs, wrongToken) {
		t.Errorf("a token value is in the daemon's log:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"sync requested","token":"ci"`) || !strings.Contains(logs, `"msg":"api request refused"`) {
		t.Errorf("the log does not name the token of accepted requests and the refused ones:\n%s", logs)
	}
	d.stop()
}

// TestAPISyncBurstCoalesced: 1,000 authenticated sync requests start a
// couple of passes, not hundreds.
func TestAPISyncBurstCoalesced(t *testing.T) {
	_, cfg := apiQuickstart(t, "")
	d := startDaemon(t, cfg)
	passes := func() float64 { return d.metric("gitfleet_reconcile_duration_seconds_count") }
	d.waitFor("the first pass", func() bool { return passes() >= 1 })
	before := settle(d, passes)

	const requests, workers = 1000, 16
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= requests {
				req, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/sync", nil)
				req.Header.Set("Authorization", "Bearer "+ciToken)
				resp, err := d.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	started := settle(d, passes) - before
	t.Logf("%d sync requests in %s (%d workers) started %v passes", requests, took.Round(time.Millisecond), workers, started)
	if accepted.Load() != requests {
		t.Fatalf("%d of %d requests accepted, want all", accepted.Load(), requests)
	}
	if started < 1 || started > 10 {
		t.Errorf("%d sync requests started %v passes, want between 1 and 10", requests, started)
	}
	d.stop()
}

// settle waits until value has not changed for longer than the gap
// between API-triggered passes (at most 30 s) and returns it.
func settle(d *daemon, value func() float64) float64 {
	d.t.Helper()
	v, since := value(), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n := value(); n != v {
			v, since = n, time.Now()
		} else if time.Since(since) > syncGap+time.Second {
			return v
		}
	}
	d.t.Fatalf("still changing after 30s: %v", v)
	return v
}

// testCert writes a self-signed certificate for 127.0.0.1 and localhost.
func testCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gitfleet test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// TestAPIOverTLS: with api.tls the daemon serves HTTPS only; the CLI
// trusts the daemon's certificate through --config or --ca-file, and sends
// its token over TLS.
func TestAPIOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, roots := testCert(t, dir)
	_, cfg := apiQuickstart(t, "  tls: {certFile: "+certFile+", keyFile: "+keyFile+"}\n")
	d := startDaemonWith(t, cfg, roots)
	if resp := d.post("/api/v1/sync", "Bearer "+ciToken); resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /api/v1/sync over TLS: status %d, want 202", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + d.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP on the TLS listener: 200, want a refusal")
		}
	}
	https := "https://" + d.addr
	d.waitFor("production in sync", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"status trusts the certificate of --config", []string{"status", "--config", cfg, "--addr", https}, 0, "production/hello"},
		{"status with --ca-file", []string{"status", "--addr", https, "--ca-file", certFile}, 0, "production/hello"},
		{"status without the CA", []string{"status", "--addr", https}, 1, "certificate"},
		{"history with --ca-file", []string{"history", "--addr", https, "--ca-file", certFile}, 0, "START"},
		{"sync over https", []string{"sync", "--retry", "--config", cfg, "--addr", https, "production", "hello"}, 0, "the daemon is reconciling now"},
		{"sync refuses to send the token in clear text", []string{"sync", "--retry", "--config", cfg, "--addr", "http://192.0.2.1:9", "production", "hello"}, 1, "refusing to send the API token in clear text"},
	} {
		code, out, errOut := run(tt.args...)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("%s: exit %d, want %d and %q\n%s%s", tt.name, code, tt.code, tt.want, out, errOut)
		}
	}
	d.stop()
}

// TestNonLoopbackListenNeedsToken: a daemon asked to listen where other
// machines reach it, without an API token, refuses to start and says why.
// (192.0.2.1 is a documentation address: nothing is ever bound.)
func TestNonLoopbackListenNeedsToken(t *testing.T) {
	bin := gitfleetBinary(t)
	qs := quickstart(t)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	b, _ := os.ReadFile(cfg)
	fromFile := filepath.Join(qs, "other.yaml")
	write(t, fromFile, strings.Replace(string(b), "listen: 127.0.0.1:9090", "listen: 192.0.2.1:9090", 1))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"run --listen", []string{"run", "--config", cfg, "--listen", "192.0.2.1:9090"}, cfg + ": listen 192.0.2.1:9090 is not a loopback address, and the API has no token"},
		{"listen of the file", []string{"run", "--config", fromFile}, fromFile + ":12: listen 192.0.2.1:9090 is not a loopback address, and the API has no token"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, tt.args...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: %v, want exit 1 and %q:\n%s", tt.name, err, tt.want, out)
		}
		if _, err := os.Stat(filepath.Join(qs, "state", "fleet")); err == nil {
			t.Errorf("%s: the daemon deployed before refusing", tt.name)
		}
	}
}

// TestAPILocalToken: without api.tokens the daemon makes a token of its
// own, readable by its user only, that gitfleet sync --config finds; it is
// gone when the daemon stops.
func TestAPILocalToken(t *testing.T) {
	qs := quickstart(t)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	d := startDaemon(t, cfg)
	file := filepath.Join(qs, "state", localTokenFile)
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want a file of mode 0600", file, err, fi.Mode())
	}
	if resp := d.post("/api/v1/sync", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sync without a token: status %d, want 401", resp.StatusCode)
	}
	b, _ := os.ReadFile(file)
	if resp := d.post("/api/v1/sync", "Bearer "+strings.TrimSpace(string(b))); resp.StatusCode != http.StatusAccepted {
		t.Errorf("sync with the token of %s: status %d, want 202", file, resp.StatusCode)
	}
	d.waitFor("production in sync", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3 &&
			d.metric("gitfleet_servers", `environment="staging"`, `state="in_sync"`) == 2
	})
	if code, out, errOut := run("sync", "--retry", "--config", cfg, "--addr", d.addr, "production", "hello"); code != 0 || !strings.Contains(out, "the daemon is reconciling now") {
		t.Errorf("sync with the daemon's own token: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(d.logs.String(), `"msg":"sync requested","token":"local"`) {
		t.Error("the log does not name the local token")
	}
	// The retry is the daemon's own operation, attributed to the token.
	if !regexp.MustCompile(`"msg":"operation done","operation":"retry","id":\d+,"environment":"production","app":"hello","token":"local"`).MatchString(d.logs.String()) {
		t.Error("the log does not show the retry done for the local token")
	}
	if code, out, _ := run("history", "--addr", d.addr, "-o", "json"); code != 0 || !strings.Contains(out, `"kind": "retry"`) || !strings.Contains(out, `"by": "local"`) {
		t.Errorf("history does not record the retry by the local token: exit %d\n%s", code, out)
	}
	d.stop()
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the daemon stopped: %v, want it removed", file, err)
	}
	// Without a daemon nothing is changed, and the command says so.
	if code, out, errOut := run("sync", "--retry", "--config", cfg, "production", "hello"); code != 1 || !strings.Contains(errOut, "no daemon answered") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("sync without a daemon: exit %d, want 1: no daemon, nothing changed\n%s%s", code, out, errOut)
	}
}

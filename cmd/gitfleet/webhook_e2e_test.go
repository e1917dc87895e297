package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowWebhooks opens n connections to addr that send the headers of a
// GitHub push with a wrong signature and then their 4 KiB bodies one byte
// a second. They stop when stop is closed or the server answers (at most
// after 30 s); open counts those still connected.
func slowWebhooks(t *testing.T, addr string, n int, stop <-chan struct{}) (open *atomic.Int64) {
	t.Helper()
	open = &atomic.Int64{}
	for range n {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: %s\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: 4096\r\n\r\n{", addr, strings.Repeat("00", 32))
		open.Add(1)
		answered := make(chan struct{})
		go func() {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				resp.Body.Close()
			}
			close(answered)
		}()
		go func() {
			defer open.Add(-1)
			defer conn.Close()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-answered:
					return
				case <-tick.C:
					conn.Write([]byte(" "))
				}
			}
		}()
	}
	return open
}

// TestWebhookSlowBodiesDoNotStarveSignedPush runs the daemon with a Git
// source and a GitHub webhook, and 24 connections from the forge's own
// address that trickle bodies with a wrong signature. A signed push is
// accepted while they do, and the Git source starts its fetch.
func TestWebhookSlowBodiesDoNotStarveSignedPush(t *testing.T) {
	qs, _, srv, secret := gitQuickstartServer(t, "1h")
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("production on v1.0.0 from the Git source", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	fetches := srv.Requests()

	const attackers = 24
	stop := make(chan struct{})
	defer close(stop)
	open := slowWebhooks(t, d.addr, attackers, stop)
	time.Sleep(time.Second) // every attacker is in its body

	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest("POST", d.url+"/webhooks/github", strings.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	accepted := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed push with %d slow bodies in flight: status %d after %s, want 202", open.Load(), resp.StatusCode, accepted)
	}
	for srv.Requests() == fetches && time.Since(start) < 20*time.Second {
		time.Sleep(2 * time.Millisecond)
	}
	fetched := time.Since(start)
	if srv.Requests() == fetches {
		t.Fatalf("the Git source did not fetch within %s of the signed push", fetched)
	}
	still := open.Load()
	t.Logf("signed push: 202 after %s, Git fetch started after %s, with %d of %d slow bodies still being sent",
		accepted.Round(time.Millisecond), fetched.Round(time.Millisecond), still, attackers)
	if still < attackers {
		t.Errorf("only %d of %d slow connections were open when the fetch started: not measured under attack", still, attackers)
	}
}

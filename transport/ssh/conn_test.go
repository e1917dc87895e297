package ssh

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/sshtest"
	"github.com/gitfleet/gitfleet/spec"
	"golang.org/x/crypto/ssh"
)

// TestOneDialPerServer: many steps that need the same server at once,
// with no connection yet, share one dial; none is dialled in vain and
// left open.
func TestOneDialPerServer(t *testing.T) {
	f := sshtest.Start(t, 1, "dial")
	key, err := os.ReadFile(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &SSH{User: f.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, KnownHosts: f.KnownHosts, ConnectTimeout: 5 * time.Second}
	defer tr.Close()
	srv := &spec.Server{Name: f.Servers[0].Name, Host: f.Servers[0].Host, Port: f.Servers[0].Port}
	const callers = 16
	clients := make([]*ssh.Client, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			clients[i], errs[i] = tr.client(context.Background(), srv)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if clients[i] != clients[0] {
			t.Errorf("caller %d got another connection than caller 0", i)
		}
	}
	if n := tr.dials.Load(); n != 1 {
		t.Errorf("got %d dials for %d callers at once, want 1", n, callers)
	}
	// A connection dropped after an error is dialled again, once.
	tr.drop(srv, clients[0])
	if _, err := tr.client(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if n := tr.dials.Load(); n != 2 {
		t.Errorf("got %d dials after a drop, want 2", n)
	}
}

func TestManifestCacheIsBounded(t *testing.T) {
	c := manifestCache{max: 3}
	for i := range 5 {
		c.Store(fmt.Sprintf("v%d", i), &Manifest{})
	}
	if c.Len() != 3 {
		t.Fatalf("got %d manifests kept, want 3", c.Len())
	}
	if _, ok := c.Load("v0"); ok {
		t.Error("v0, the least recently used, is still kept")
	}
	// A manifest used is kept over those not used since.
	c.Load("v2")
	c.Store("v5", &Manifest{})
	if _, ok := c.Load("v2"); !ok {
		t.Error("v2 was used last but was dropped")
	}
	if _, ok := c.Load("v3"); ok {
		t.Error("v3, the least recently used, is still kept")
	}
	var d manifestCache
	for i := range maxManifests + 10 {
		d.Store(fmt.Sprintf("r%d", i), &Manifest{})
	}
	if d.Len() != maxManifests {
		t.Errorf("default bound: got %d, want %d", d.Len(), maxManifests)
	}
}

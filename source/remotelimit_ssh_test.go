package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshFakeRemote is a Git remote over SSH whose reference list never ends:
// a real SSH server (x/crypto/ssh) on loopback that answers every exec
// request (git-upload-pack '/fleet.git') with an endless advertisement.
type sshFakeRemote struct {
	url        string
	auth       *GitAuth
	served     atomic.Int64
	unexpected atomic.Int64 // requests other than exec
}

func startSSHFakeRemote(t *testing.T) *sshFakeRemote {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))}, hostSigner.PublicKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &sshFakeRemote{
		url:  fmt.Sprintf("ssh://git@127.0.0.1:%d/fleet.git", port),
		auth: &GitAuth{SSHUser: "git", SSHKey: pem.EncodeToMemory(block), KnownHosts: kh},
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, cfg)
		}
	}()
	return f
}

func (f *sshFakeRemote) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range reqs {
				if req.Type != "exec" {
					f.unexpected.Add(1)
					req.Reply(req.Type == "env", nil)
					continue
				}
				req.Reply(true, nil)
				head := pkt(fakeHash+" HEAD\x00"+fakeCaps+"\n") + pkt(fakeHash+" refs/tags/v1\n")
				chunk := refChunk()
				n, err := io.WriteString(ch, head)
				f.served.Add(int64(n))
				for err == nil && f.served.Load() < fakeStopAfter {
					n, err = ch.Write(chunk)
					f.served.Add(int64(n))
				}
				return
			}
		}()
	}
}

// TestGitEndlessRefListIsBoundedOverSSH: over SSH the connection is bounded,
// since the reference list and the pack come down one stream.
func TestGitEndlessRefListIsBoundedOverSSH(t *testing.T) {
	f := startSSHFakeRemote(t)
	const maxBytes = 1 << 20
	refs, _ := remoteBounds(maxBytes)
	err, alloc := pollBounded(t, f.url, maxBytes, f.auth)
	bound := refs + sshSlackBytes
	checkBounded(t, err, fmt.Sprintf("list %s: reference list larger than %d bytes", f.url, bound), f.served.Load(), bound, alloc)
}

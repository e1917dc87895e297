package source

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// GitAuth is how gitfleet authenticates to a Git remote. Secrets are read
// by the caller (from files or environment variables) and never printed.
type GitAuth struct {
	// HTTPS: basic auth, or a bearer token.
	Username    string
	Password    string
	BearerToken string

	// SSH: a private key (PEM) or the ssh-agent, checked against
	// known_hosts. With TrustOnFirstUse the key of a host not yet in
	// KnownHosts is added to it; a changed key is always refused.
	SSHUser         string
	SSHKey          []byte
	SSHPassphrase   string
	SSHAgent        bool
	KnownHosts      string
	TrustOnFirstUse bool
}

// String never shows secrets.
func (a *GitAuth) String() string {
	if a == nil {
		return "none"
	}
	switch {
	case a.BearerToken != "":
		return "bearer token"
	case a.Password != "":
		return "basic auth as " + a.Username
	case a.SSHKey != nil:
		return "ssh key as " + a.SSHUser
	case a.SSHAgent:
		return "ssh agent as " + a.SSHUser
	}
	return "none"
}

// method builds the go-git auth method for rawURL.
func (a *GitAuth) method(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url %s: %w", RedactURL(rawURL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		switch {
		case a == nil:
			return nil, nil
		case a.BearerToken != "":
			return &githttp.TokenAuth{Token: a.BearerToken}, nil
		case a.Password != "" || a.Username != "":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case "ssh":
		if a == nil || a.KnownHosts == "" {
			return nil, fmt.Errorf("url %s: ssh needs a known_hosts file (credentials ssh.knownHosts)", RedactURL(rawURL))
		}
		user := a.SSHUser
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		helper, err := hostKeyHelper(a.KnownHosts, a.TrustOnFirstUse, net.JoinHostPort(ep.Host, strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		if a.SSHKey != nil {
			pk, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHPassphrase)
			if err != nil {
				return nil, fmt.Errorf("ssh key: %w", err)
			}
			pk.HostKeyCallbackHelper = helper
			return pk, nil
		}
		if a.SSHAgent {
			ag, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh agent: %w", err)
			}
			ag.HostKeyCallbackHelper = helper
			return ag, nil
		}
		return nil, fmt.Errorf("url %s: ssh needs a key file or the ssh agent", RedactURL(rawURL))
	case "file":
		return nil, nil
	}
	return nil, fmt.Errorf("url %s: unsupported protocol %q (want https, ssh or file)", RedactURL(rawURL), ep.Protocol)
}

// knownHostsMu serialises trust-on-first-use writes to known_hosts files.
var knownHostsMu sync.Mutex

// hostKeyHelper checks host keys against the known_hosts file and offers
// only the key algorithms known for the host, so that a known key of one
// type is not reported as a mismatch because the server offered another.
func hostKeyHelper(file string, tofu bool, hostPort string) (gitssh.HostKeyCallbackHelper, error) {
	if tofu {
		if f, err := os.OpenFile(file, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
			f.Close()
		}
	}
	db, err := gitssh.NewKnownHostsDb(file)
	if err != nil {
		return gitssh.HostKeyCallbackHelper{}, fmt.Errorf("known_hosts %s: %w", file, err)
	}
	check := db.HostKeyCallback()
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return fmt.Errorf("host key of %s CHANGED (now %s %s): refusing to connect; if the change is expected, replace its line in %s", hostname, key.Type(), ssh.FingerprintSHA256(key), file)
		case errors.As(err, &ke) && tofu:
			knownHostsMu.Lock()
			defer knownHostsMu.Unlock()
			line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
			f, ferr := os.OpenFile(file, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
			if ferr != nil {
				return fmt.Errorf("trust on first use: %w", ferr)
			}
			defer f.Close()
			if _, ferr := f.WriteString(line + "\n"); ferr != nil {
				return fmt.Errorf("trust on first use: %w", ferr)
			}
			return nil
		case errors.As(err, &ke):
			return fmt.Errorf("host %s is not in %s (its key is %s %s): add it, e.g. with ssh-keyscan, after checking the fingerprint", hostname, file, key.Type(), ssh.FingerprintSHA256(key))
		}
		return err
	}
	h := gitssh.HostKeyCallbackHelper{HostKeyCallback: cb}
	if algos := db.HostKeyAlgorithms(hostPort); len(algos) > 0 {
		h.HostKeyAlgorithms = algos
	}
	return h, nil
}

var scpLike = regexp.MustCompile(`^([^@/:]+)@([^/:]+):`)

// RedactURL hides any password or token in a URL. User names of scp-like
// SSH URLs (git@host:path) are kept: they are not secret.
func RedactURL(raw string) string {
	if scpLike.MatchString(raw) && !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not parseable: hide everything between scheme and host.
		if i := strings.Index(raw, "://"); i >= 0 {
			if j := strings.LastIndex(raw[i+3:], "@"); j >= 0 {
				return raw[:i+3] + "REDACTED@" + raw[i+3+j+1:]
			}
		}
		return raw
	}
	if u.User != nil {
		if _, has := u.User.Password(); has || u.Scheme == "http" || u.Scheme == "https" {
			u.User = url.User("REDACTED")
		}
	}
	return u.String()
}

// redactErr hides the raw URL's credentials and every secret in an
// error's message, keeping the error chain for errors.Is.
func redactErr(err error, raw string, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := RedactURL(raw); red != raw {
		msg = strings.ReplaceAll(msg, raw, red)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// secrets lists the secret values of the auth, for redaction.
func (a *GitAuth) secrets() []string {
	if a == nil {
		return nil
	}
	return []string{a.Password, a.BearerToken, a.SSHPassphrase}
}

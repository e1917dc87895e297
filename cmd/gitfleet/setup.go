package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/db"
	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/transport/local"
	sshtr "github.com/gitfleet/gitfleet/transport/ssh"
	"github.com/gitfleet/gitfleet/tree"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// newExecutor builds the executor for the configured transport.
func newExecutor(c *config.Config) (*executor.Executor, error) {
	switch c.Transport.Type {
	case "local":
		return &executor.Executor{T: &local.Local{Root: c.Transport.Local.Root}, ConfigRoots: c.EnvironmentFiles.Roots}, nil
	case "ssh":
		t, err := sshTransport(c.Transport.SSH)
		if err != nil {
			return nil, fmt.Errorf("%s: transport.ssh: %w", c.File, err)
		}
		return &executor.Executor{T: t, ConfigRoots: c.EnvironmentFiles.Roots}, nil
	}
	return nil, fmt.Errorf("%s: unknown transport %q", c.File, c.Transport.Type)
}

// desiredSource is a directory or Git source.
type desiredSource interface {
	Snapshot(ctx context.Context) (*source.Snapshot, error)
	Watch(ctx context.Context, report func(source.Update)) error
}

// dirSource rescans the directory every resync interval.
type dirSource struct {
	*source.Dir
	rescan time.Duration
}

func (d dirSource) Watch(ctx context.Context, report func(source.Update)) error {
	return d.Dir.Watch(ctx, d.rescan, report)
}

// newSource builds the configured source. gitDir is where a Git source
// keeps its repository.
func newSource(c *config.Config, gitDir string, m source.Metrics, log *slog.Logger, readOnly bool) (desiredSource, *source.Git, error) {
	if d := c.Source.Directory; d != nil {
		return dirSource{&source.Dir{Path: d.Path, Debounce: d.Debounce, Limits: tree.Limits{MaxBytes: d.MaxBytes}, Log: log}, c.Resync}, nil, nil
	}
	gc := c.Source.Git
	auth, err := credentialsFor(c, gc.URL, readOnly)
	if err != nil {
		return nil, nil, err
	}
	g := &source.Git{
		URL:  gc.URL,
		Ref:  source.GitRef{Branch: gc.Branch, Tag: gc.Tag, Semver: gc.Semver, Prereleases: gc.Prereleases, Commit: gc.Commit},
		Path: gc.Path, Dir: gitDir, Auth: auth,
		Interval: gc.Interval, Timeout: gc.Timeout,
		RequireFastForward: gc.RequireFastForward,
		RefuseMovedTags:    gc.RefuseMovedTags,
		Limits:             tree.Limits{MaxBytes: gc.MaxBytes},
		Log:                log,
		Metrics:            m,
	}
	if !readOnly {
		// Refused credentials are read again when gitfleet.yaml or a
		// credential file changes.
		g.Reauth = func() (*source.GitAuth, error) { return credentialsFor(c, gc.URL, readOnly) }
		g.Inputs = func() string { return inputsOf(c) }
	}
	if v := gc.Verify; v != nil {
		if g.Verify, err = verifier(v); err != nil {
			return nil, nil, fmt.Errorf("%s: source.git.verify: %w", c.File, err)
		}
	}
	return g, g, nil
}

// gitCacheDir is the state directory's place for the repository of a Git
// source: one per URL, reference and path.
func gitCacheDir(c *config.Config) string {
	gc := c.Source.Git
	sum := sha256.Sum256([]byte(strings.Join([]string{gc.URL, gc.Branch, gc.Tag, gc.Semver, gc.Commit, gc.Path}, "\x00")))
	return filepath.Join(c.StateDir, "sources", hex.EncodeToString(sum[:8]))
}

func verifier(v *config.GitVerify) (*source.Verifier, error) {
	ver := &source.Verifier{Mode: source.VerifyMode(v.Mode)}
	var rings []string
	for _, f := range v.OpenPGPKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rings = append(rings, string(b))
	}
	ver.OpenPGPKeyRing = strings.Join(rings, "\n")
	for _, f := range v.SSHAllowedSigners {
		signers, err := source.ParseAllowedSigners(f)
		if err != nil {
			return nil, err
		}
		ver.SSHSigners = append(ver.SSHSigners, signers...)
	}
	return ver, nil
}

// credentialsFor picks the credential with the longest URL prefix matching
// url and reads its secrets. No match means no credentials.
// With readOnly, trust on first use is off: known_hosts is not written.
func credentialsFor(c *config.Config, url string, readOnly bool) (*source.GitAuth, error) {
	var best *config.Credential
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		if prefixMatch(url, cr.URL) && (best == nil || len(cr.URL) > len(best.URL)) {
			best = cr
		}
	}
	if best == nil {
		return nil, nil
	}
	a := &source.GitAuth{}
	where := fmt.Sprintf("%s: credentials for %s", c.File, best.URL)
	if h := best.HTTPS; h != nil {
		a.Username = h.Username
		var err error
		switch {
		case h.PasswordFile != "" || h.PasswordEnv != "":
			a.Password, err = secret(h.PasswordFile, h.PasswordEnv)
		default:
			a.BearerToken, err = secret(h.TokenFile, h.TokenEnv)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	if s := best.SSH; s != nil {
		a.SSHUser, a.SSHAgent, a.KnownHosts, a.TrustOnFirstUse = s.User, s.Agent, s.KnownHosts, s.TrustOnFirstUse && !readOnly
		if s.KeyFile != "" {
			key, err := os.ReadFile(s.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			a.SSHKey = key
		}
		if s.PassphraseFile != "" {
			p, err := secret(s.PassphraseFile, "")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			a.SSHPassphrase = p
		}
	}
	return a, nil
}

// prefixMatch reports whether prefix matches url at a boundary: the whole
// URL, or a prefix ending in, or followed by, "/" or ":". So
// https://git.example.com/acme matches .../acme/fleet.git but not
// .../acme-tools/fleet.git.
func prefixMatch(url, prefix string) bool {
	if prefix == "" || !strings.HasPrefix(url, prefix) {
		return false
	}
	if len(url) == len(prefix) || strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, ":") {
		return true
	}
	next := url[len(prefix)]
	return next == '/' || next == ':' || strings.HasPrefix(url[len(prefix):], ".git")
}

// secret reads a secret from a file or an environment variable, without
// a trailing newline.
func secret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return "", fmt.Errorf("environment variable %s is not set", env)
	}
	return v, nil
}

// webhookSecrets reads the secrets of the configured webhook receivers.
func webhookSecrets(c *config.Config) (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, w := range map[string]*config.WebhookSecret{
		source.GitHub: c.Webhooks.GitHub, source.GitLab: c.Webhooks.GitLab,
		source.Gitea: c.Webhooks.Gitea, source.Generic: c.Webhooks.Generic,
	} {
		if w == nil {
			continue
		}
		s, err := secret(w.SecretFile, "")
		if err != nil {
			return nil, fmt.Errorf("%s: webhooks.%s: %w", c.File, name, err)
		}
		if s == "" {
			return nil, fmt.Errorf("%s: webhooks.%s: secret file %s is empty", c.File, name, w.SecretFile)
		}
		out[name] = []byte(s)
	}
	return out, nil
}

// gitArtifacts fetches Git artifacts into dir with the configured
// credentials.
func gitArtifacts(c *config.Config, dir string, readOnly bool) *source.GitArtifacts {
	timeout := config.DefaultGitTimeout
	if c.Source.Git != nil {
		timeout = c.Source.Git.Timeout
	}
	return &source.GitArtifacts{
		Dir:     dir,
		Auth:    func(url string) (*source.GitAuth, error) { return credentialsFor(c, url, readOnly) },
		Timeout: timeout,
	}
}

// sshTransport builds the SSH transport, reading its key.
func sshTransport(c *config.SSHTransport) (*sshtr.SSH, error) {
	t := &sshtr.SSH{
		User: c.User, Port: c.Port, KnownHosts: c.KnownHosts,
		ConnectTimeout: c.ConnectTimeout, Keepalive: c.Keepalive, MaxConnects: c.MaxConnects,
	}
	if c.KeyFile != "" {
		pem, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, err
		}
		var signer ssh.Signer
		if c.PassphraseFile != "" {
			pass, err := secret(c.PassphraseFile, "")
			if err != nil {
				return nil, err
			}
			signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(pass))
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", c.KeyFile, err)
			}
		} else if signer, err = ssh.ParsePrivateKey(pem); err != nil {
			return nil, fmt.Errorf("key %s: %w", c.KeyFile, err)
		}
		t.Auth = append(t.Auth, ssh.PublicKeys(signer))
	}
	if c.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, fmt.Errorf("agent: SSH_AUTH_SOCK is not set")
		}
		t.Auth = append(t.Auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			return agent.NewClient(conn).Signers()
		}))
	}
	if _, err := os.Stat(c.KnownHosts); err != nil {
		return nil, fmt.Errorf("knownHosts: %w", err)
	}
	return t, nil
}

// databases opens the database lane's targets of gitfleet.yaml; their DSNs
// are read once, at start. A target that is not configured is an error of
// the change that names it.
func databases(c *config.Config) (func(string) (reconcile.Database, error), error) {
	dbs := map[string]*db.Postgres{}
	for name, d := range c.Databases {
		dsn, err := d.DSN()
		if err != nil {
			return nil, fmt.Errorf("%s: databases.%s: %w", c.File, name, err)
		}
		dbs[name] = &db.Postgres{DSN: dsn, Timeout: d.Timeout}
	}
	return func(target string) (reconcile.Database, error) {
		if len(dbs) == 0 {
			return nil, fmt.Errorf("database %q: no databases configured in %s", target, c.File)
		}
		if d := dbs[target]; d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("database %q is not in the databases of %s", target, c.File)
	}, nil
}

// notifier builds the notification targets of gitfleet.yaml; secrets
// (URLs, HMAC secrets, tokens) are read once, at start.
func notifier(c *config.Config, log *slog.Logger) (*notify.Notifier, error) {
	n := &notify.Notifier{Log: log}
	read := func(f, file string) (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", c.File, f, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	for i, h := range c.Notifications.Webhooks {
		u := h.URL
		if h.URLFile != "" {
			var err error
			if u, err = read(fmt.Sprintf("notifications.webhooks.%d.urlFile", i), h.URLFile); err != nil {
				return nil, err
			}
		}
		w := &notify.Webhook{URL: u, Events: h.Events}
		if h.SecretFile != "" {
			secret, err := read(fmt.Sprintf("notifications.webhooks.%d.secretFile", i), h.SecretFile)
			if err != nil {
				return nil, err
			}
			w.Secret = []byte(secret)
		}
		n.Targets = append(n.Targets, w)
	}
	for i, h := range c.Notifications.Slack {
		u := h.URL
		if h.URLFile != "" {
			var err error
			if u, err = read(fmt.Sprintf("notifications.slack.%d.urlFile", i), h.URLFile); err != nil {
				return nil, err
			}
		}
		n.Targets = append(n.Targets, &notify.Slack{URL: u, Events: h.Events})
	}
	if cs := c.Notifications.CommitStatus; cs != nil {
		token := strings.TrimSpace(os.Getenv(cs.TokenEnv))
		if cs.TokenFile != "" {
			var err error
			if token, err = read("notifications.commitStatus.tokenFile", cs.TokenFile); err != nil {
				return nil, err
			}
		}
		if token == "" {
			return nil, fmt.Errorf("%s: notifications.commitStatus: the token is empty", c.File)
		}
		n.Targets = append(n.Targets, &notify.CommitStatus{Provider: cs.Provider, APIURL: cs.APIURL, Repository: cs.Repository, Token: token})
	}
	return n, nil
}

// inputsOf names the state of the files a Git source depends on beyond its
// remote: gitfleet.yaml and the files of the credentials. A stalled source
// polls again when it changes.
func inputsOf(c *config.Config) string {
	files := []string{c.File}
	for _, cr := range c.Credentials {
		if h := cr.HTTPS; h != nil {
			files = append(files, h.PasswordFile, h.TokenFile)
		}
		if s := cr.SSH; s != nil {
			files = append(files, s.KeyFile, s.PassphraseFile, s.KnownHosts)
		}
	}
	sum := sha256.New()
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(sum, "%s: %v\n", f, err)
			continue
		}
		fmt.Fprintf(sum, "%s: %x\n", f, sha256.Sum256(b))
	}
	return hex.EncodeToString(sum.Sum(nil))
}

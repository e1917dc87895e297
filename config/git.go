package config

import (
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// GitSource follows a Git repository. Exactly one of Branch, Tag, Semver
// and Commit is set.
type GitSource struct {
	URL    string `yaml:"url"`
	Branch string `yaml:"branch,omitempty"`
	Tag    string `yaml:"tag,omitempty"`
	// Semver is a constraint such as ">=1.4.0 <2.0.0" over the remote's
	// tags; the highest match wins.
	Semver string `yaml:"semver,omitempty"`
	// Prereleases lets Semver match pre-release tags.
	Prereleases bool   `yaml:"prereleases,omitempty"`
	Commit      string `yaml:"commit,omitempty"`
	// Path is the sub-directory holding the desired state.
	Path string `yaml:"path,omitempty"`
	// Interval between polls (default 1m, jittered).
	Interval Duration `yaml:"interval,omitempty"`
	// Timeout of one Git operation (default 60s).
	Timeout Duration `yaml:"timeout,omitempty"`
	// RequireFastForward refuses a branch whose history was rewritten.
	RequireFastForward bool `yaml:"requireFastForward,omitempty"`
	// RefuseMovedTags refuses a tag (tag or semver) that was moved to
	// another commit after it was taken.
	RefuseMovedTags bool       `yaml:"refuseMovedTags,omitempty"`
	Verify          *GitVerify `yaml:"verify,omitempty"`
	// MaxBytes bounds the size of the desired-state tree (default 1 GiB).
	MaxBytes int64 `yaml:"maxBytes,omitempty"`
}

// GitVerify asks for signed revisions.
type GitVerify struct {
	// Mode is head (the commit) or tag (the annotated tag; tag and semver
	// sources only).
	Mode string `yaml:"mode,omitempty"`
	// OpenPGPKeys are armored public key ring files.
	OpenPGPKeys []string `yaml:"openpgpKeys,omitempty"`
	// SSHAllowedSigners are allowed-signers files (ssh-keygen format).
	SSHAllowedSigners []string `yaml:"sshAllowedSigners,omitempty"`
}

// Credential authenticates to the Git remotes whose URLs start with URL.
type Credential struct {
	URL   string     `yaml:"url"`
	HTTPS *HTTPSAuth `yaml:"https,omitempty"`
	SSH   *SSHAuth   `yaml:"ssh,omitempty"`
}

// HTTPSAuth is basic auth or a bearer token. Secrets come from a file or an
// environment variable, never from this file.
type HTTPSAuth struct {
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"passwordFile,omitempty"`
	PasswordEnv  string `yaml:"passwordEnv,omitempty"`
	TokenFile    string `yaml:"tokenFile,omitempty"`
	TokenEnv     string `yaml:"tokenEnv,omitempty"`
}

// SSHAuth is a private key or the ssh-agent, with known_hosts checking.
type SSHAuth struct {
	User           string `yaml:"user,omitempty"`
	KeyFile        string `yaml:"keyFile,omitempty"`
	PassphraseFile string `yaml:"passphraseFile,omitempty"`
	Agent          bool   `yaml:"agent,omitempty"`
	KnownHosts     string `yaml:"knownHosts"`
	// TrustOnFirstUse adds the key of a host not yet in KnownHosts; a
	// changed key is still refused.
	TrustOnFirstUse bool `yaml:"trustOnFirstUse,omitempty"`
}

// Webhooks are the receivers on the listen address; each is enabled by its
// secret.
type Webhooks struct {
	GitHub  *WebhookSecret `yaml:"github,omitempty"`
	GitLab  *WebhookSecret `yaml:"gitlab,omitempty"`
	Gitea   *WebhookSecret `yaml:"gitea,omitempty"`
	Generic *WebhookSecret `yaml:"generic,omitempty"`
}

// WebhookSecret is the HMAC secret (GitHub, Gitea, generic) or the token
// (GitLab) of a receiver, read from a file.
type WebhookSecret struct {
	SecretFile string `yaml:"secretFile"`
}

// Defaults of the Git source.
const (
	DefaultGitInterval = time.Minute
	DefaultGitTimeout  = 60 * time.Second
)

func (g *GitSource) check(ck *checker) {
	const f = "source.git"
	switch u, err := url.Parse(g.URL); {
	case g.URL == "":
		ck.add(ck.at(f), "source.git.url is required")
	case strings.Contains(g.URL, "://") && err != nil:
		ck.add(ck.at(f+".url"), "source.git.url: %v", err)
	case err == nil && u.User != nil && hasPassword(u):
		ck.add(ck.at(f+".url"), "source.git.url must not hold a password or token: put it in a file named by credentials")
	case err == nil && u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "file":
		ck.add(ck.at(f+".url"), "source.git.url: unsupported scheme %q (want https, http, ssh or file)", u.Scheme)
	case !strings.Contains(g.URL, "://") && !scpLike(g.URL):
		// A local path: relative to the configuration file, like every
		// other path in it.
		g.URL = ck.abs(g.URL)
	}
	set := 0
	for _, v := range []string{g.Branch, g.Tag, g.Semver, g.Commit} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		ck.add(ck.at(f), "source.git: set exactly one of branch, tag, semver and commit")
	}
	if g.Semver != "" {
		if _, err := semver.NewConstraint(g.Semver); err != nil {
			ck.add(ck.at(f+".semver"), "source.git.semver %q: %v", g.Semver, err)
		}
	}
	if g.Prereleases && g.Semver == "" {
		ck.add(ck.at(f+".prereleases"), "source.git.prereleases needs semver")
	}
	if g.RefuseMovedTags && g.Tag == "" && g.Semver == "" {
		ck.add(ck.at(f+".refuseMovedTags"), "source.git.refuseMovedTags needs a tag or semver source")
	}
	if g.Commit != "" && !isHex(g.Commit, 40) {
		ck.add(ck.at(f+".commit"), "source.git.commit %q: want a full 40-character commit hash", g.Commit)
	}
	if g.Path != "" {
		if p := path.Clean(g.Path); path.IsAbs(g.Path) || p == ".." || strings.HasPrefix(p, "../") {
			ck.add(ck.at(f+".path"), "source.git.path %q must be a sub-directory of the repository", g.Path)
		}
	}
	if g.Interval == 0 {
		g.Interval = DefaultGitInterval
	}
	if g.Interval < time.Second || g.Interval > 24*time.Hour {
		ck.add(ck.at(f+".interval"), "source.git.interval %s out of range 1s..24h", g.Interval)
	}
	if g.Timeout == 0 {
		g.Timeout = DefaultGitTimeout
	}
	if g.Timeout < time.Second || g.Timeout > time.Hour {
		ck.add(ck.at(f+".timeout"), "source.git.timeout %s out of range 1s..1h", g.Timeout)
	}
	if g.MaxBytes < 0 {
		ck.add(ck.at(f+".maxBytes"), "source.git.maxBytes must not be negative")
	}
	if v := g.Verify; v != nil {
		switch v.Mode {
		case "":
			v.Mode = "head"
		case "head":
		case "tag":
			if g.Tag == "" && g.Semver == "" {
				ck.add(ck.at(f+".verify.mode"), "source.git.verify.mode tag needs a tag or semver source")
			}
		default:
			ck.add(ck.at(f+".verify.mode"), "source.git.verify.mode %q: want head or tag", v.Mode)
		}
		if len(v.OpenPGPKeys) == 0 && len(v.SSHAllowedSigners) == 0 {
			ck.add(ck.at(f+".verify"), "source.git.verify needs openpgpKeys or sshAllowedSigners")
		}
		for i := range v.OpenPGPKeys {
			v.OpenPGPKeys[i] = ck.abs(v.OpenPGPKeys[i])
		}
		for i := range v.SSHAllowedSigners {
			v.SSHAllowedSigners[i] = ck.abs(v.SSHAllowedSigners[i])
		}
	}
}

func (c *Credential) check(ck *checker, i int) {
	f := "credentials." + strconv.Itoa(i)
	if c.URL == "" {
		ck.add(ck.at(f), "credentials[%d].url is required (a URL prefix)", i)
	}
	if (c.HTTPS == nil) == (c.SSH == nil) {
		ck.add(ck.at(f), "credentials[%d]: set https or ssh", i)
	}
	if h := c.HTTPS; h != nil {
		n := 0
		for _, v := range []string{h.PasswordFile, h.PasswordEnv, h.TokenFile, h.TokenEnv} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			ck.add(ck.at(f+".https"), "credentials[%d].https: set exactly one of passwordFile, passwordEnv, tokenFile and tokenEnv", i)
		}
		if (h.PasswordFile != "" || h.PasswordEnv != "") && h.Username == "" {
			ck.add(ck.at(f+".https"), "credentials[%d].https: a password needs a username", i)
		}
		h.PasswordFile, h.TokenFile = ck.abs(h.PasswordFile), ck.abs(h.TokenFile)
	}
	if s := c.SSH; s != nil {
		if s.KnownHosts == "" {
			ck.add(ck.at(f+".ssh"), "credentials[%d].ssh.knownHosts is required: host keys are always checked", i)
		}
		if (s.KeyFile == "") == !s.Agent {
			ck.add(ck.at(f+".ssh"), "credentials[%d].ssh: set keyFile or agent: true", i)
		}
		s.KeyFile, s.PassphraseFile, s.KnownHosts = ck.abs(s.KeyFile), ck.abs(s.PassphraseFile), ck.abs(s.KnownHosts)
	}
}

func (w *Webhooks) check(ck *checker) {
	for name, s := range map[string]*WebhookSecret{"github": w.GitHub, "gitlab": w.GitLab, "gitea": w.Gitea, "generic": w.Generic} {
		if s == nil {
			continue
		}
		if s.SecretFile == "" {
			ck.add(ck.at("webhooks."+name), "webhooks.%s.secretFile is required", name)
		}
		s.SecretFile = ck.abs(s.SecretFile)
	}
}

func hasPassword(u *url.URL) bool {
	_, has := u.User.Password()
	return has || u.Scheme == "https" || u.Scheme == "http"
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// scpLike reports whether u is an scp-like SSH address (git@host:path).
func scpLike(u string) bool {
	at, colon := strings.Index(u, "@"), strings.Index(u, ":")
	return at > 0 && colon > at && !strings.Contains(u[:colon], "/")
}

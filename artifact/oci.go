package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/tree"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// OCIConfig is an App's artifact.oci.
type OCIConfig struct {
	// App names the App in errors.
	App string
	// Repository is registry[:port]/path, without tag or digest; its tags
	// are the versions.
	Repository string
	// Path is the sub-directory of the artifact's files to deploy.
	Path string
}

// OCISource is an artifact.oci source.
type OCISource struct {
	f     *Fetcher
	c     OCIConfig
	ref   registry.Reference
	plain bool
	auth  auth.Cache
}

// maxManifestBytes bounds an image manifest, as oras-go does by default.
const maxManifestBytes = 4 << 20

// tagRE is the OCI distribution spec's tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// OCI checks an artifact.oci configuration and makes its source. No
// network access.
func (f *Fetcher) OCI(c OCIConfig) (*OCISource, error) {
	ref, err := registry.ParseReference(c.Repository)
	if err != nil {
		return nil, configErr("repository %s: %v", clip(c.Repository), err)
	}
	if ref.Reference != "" {
		return nil, configErr("repository %s: name the repository without a tag or digest: the versions are its tags", clip(c.Repository))
	}
	return &OCISource{f: f, c: c, ref: ref, plain: f.plain[strings.ToLower(ref.Registry)], auth: auth.NewCache()}, nil
}

func (s *OCISource) String() string { return "oci://" + s.ref.String() }

func (s *OCISource) where(ref Ref) string { return s.c.App + " " + clip(ref.Version) }

// repository is a client of the registry with the source's credentials.
func (s *OCISource) repository() *remote.Repository {
	return &remote.Repository{
		Client: &auth.Client{
			Client:     s.f.get.client,
			Cache:      s.auth,
			Credential: s.credential,
			Header:     http.Header{"User-Agent": {"gitfleet"}},
		},
		Reference:       s.ref,
		PlainHTTP:       s.plain,
		SkipReferrersGC: true,
	}
}

// credential answers the registry's challenge: the Docker config's entry
// for the registry if there is one, else the credentials of the URL prefix
// of oci://registry/repository.
func (s *OCISource) credential(ctx context.Context, hostport string) (auth.Credential, error) {
	if s.f.docker.store != nil {
		c, err := credentials.Credential(s.f.docker.store)(ctx, hostport)
		if err != nil {
			return auth.EmptyCredential, fmt.Errorf("docker config %s: %w", s.f.docker.path, err)
		}
		if c != auth.EmptyCredential {
			return c, nil
		}
	}
	if s.f.o.Auth == nil {
		return auth.EmptyCredential, nil
	}
	a, err := s.f.o.Auth(s.String())
	if err != nil || a == nil {
		return auth.EmptyCredential, err
	}
	if a.BearerToken != "" {
		return auth.Credential{AccessToken: a.BearerToken}, nil
	}
	return auth.Credential{Username: a.Username, Password: a.Password}, nil
}

// Resolve gives the digest of the version's manifest: the Release's
// digest, the version itself when it is a digest, else what the tag points
// to now. Called again later, a different answer is a moved tag.
func (s *OCISource) Resolve(ctx context.Context, ref Ref) (blobcache.Digest, error) {
	d, err := s.resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.where(ref), err)
	}
	return d, nil
}

func (s *OCISource) resolve(ctx context.Context, ref Ref) (blobcache.Digest, error) {
	if err := checkOCIVersion(ref); err != nil {
		return "", err
	}
	if ref.Digest != "" {
		return blobcache.Digest(ref.Digest), nil
	}
	if strings.HasPrefix(ref.Version, "sha256:") {
		return blobcache.Digest(ref.Version), nil
	}
	ctx, cancel := deadline(ctx, s.f.o.Timeout)
	defer cancel()
	desc, err := s.repository().Resolve(ctx, ref.Version)
	if err != nil {
		return "", s.registryError(s.ref.String()+":"+ref.Version, err)
	}
	d, err := blobcache.ParseDigest(desc.Digest.String())
	if err != nil {
		return "", fmt.Errorf("%s:%s: the registry answered the digest %w", s.ref, ref.Version, err)
	}
	return d, nil
}

// checkOCIVersion: a tag or a sha256 digest; a Release digest, if given,
// must be a sha256 digest.
func checkOCIVersion(ref Ref) error {
	if strings.Contains(ref.Version, ":") {
		if _, err := blobcache.ParseDigest(ref.Version); err != nil {
			return configErr("version: %v", err)
		}
	} else if !tagRE.MatchString(ref.Version) {
		return configErr("version %q: not a valid OCI tag", clip(ref.Version))
	}
	if ref.Digest != "" {
		if _, err := blobcache.ParseDigest(ref.Digest); err != nil {
			return configErr("digest: %v", err)
		}
	}
	return nil
}

// registryError names what was asked and what a retry would do.
func (s *OCISource) registryError(what string, err error) error {
	var er *errcode.ErrorResponse
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s: %d %s: %w", what, http.StatusNotFound, http.StatusText(http.StatusNotFound), ErrNotFound)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: the registry asks for credentials and none are configured for %s: %w", what, s, ErrAuth)
	case errors.As(err, &er):
		msg := ""
		if len(er.Errors) > 0 {
			msg = ": " + tree.Escape(clip(er.Errors[0].Code+" "+er.Errors[0].Message))
		}
		return fmt.Errorf("%w%s", &statusError{url: what, code: er.StatusCode}, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: no complete answer before the deadline: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Validate checks the version without network access.
func (s *OCISource) Validate(ref Ref) (Validation, error) {
	if err := checkOCIVersion(ref); err != nil {
		return Validation{}, fmt.Errorf("%s: %w", s.where(ref), err)
	}
	what := s.ref.String() + ":" + ref.Version + " (tag, resolved to a digest)"
	switch {
	case ref.Digest != "":
		what = s.ref.String() + "@" + ref.Digest + " (manifest and layers)"
	case strings.Contains(ref.Version, ":"):
		what = s.ref.String() + "@" + ref.Version + " (manifest and layers)"
	}
	return Validation{NotFetched: []string{what}}, nil
}

// dockerCreds is the Docker config.json credential store, if configured.
type dockerCreds struct {
	path  string
	store credentials.Store
}

func newDockerCreds(path string) (dockerCreds, error) {
	if _, err := os.Stat(path); err != nil {
		return dockerCreds{}, fmt.Errorf("docker config: %w", err)
	}
	st, err := credentials.NewStore(path, credentials.StoreOptions{})
	if err != nil {
		return dockerCreds{}, fmt.Errorf("docker config %s: %w", path, err)
	}
	return dockerCreds{path: path, store: st}, nil
}

// readManifest reads a manifest of at most maxManifestBytes.
func readManifest(rc io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("manifest of more than %d bytes: %w", maxManifestBytes, blobcache.ErrTooLarge)
	}
	return data, nil
}

// imageManifest is the part of an OCI image manifest, a Docker v2
// manifest or an index that tells them apart and lists the layers.
type imageManifest struct {
	MediaType string               `json:"mediaType"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

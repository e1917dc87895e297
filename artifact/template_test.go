package artifact

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/blobcache"
)

func offlineFetcher(t *testing.T) *Fetcher {
	t.Helper()
	c, err := blobcache.Open(t.TempDir(), blobcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestURLTemplatesAreRestricted(t *testing.T) {
	f := offlineFetcher(t)
	for _, tc := range []struct {
		url, version string
		want         string // "" = accepted
	}{
		{"https://ci.example/web/{{.Version}}/web.tar.gz", "v1.4.2", ""},
		{"https://ci.example/web/{{ .Version }}/web-{{.Version}}.zip", "1.0.0+build.7", ""},
		{"http://127.0.0.1:8080/web/{{.Version}}.tgz", "v1", ""},
		{"https://ci.example/web/{{printf \"%s\" .Version}}.tar.gz", "v1", "only {{.Version}} may be used"},
		{"https://ci.example/web/{{.Other}}.tar.gz", "v1", "only {{.Version}} may be used"},
		{"https://ci.example/{{if .Version}}x{{end}}.tar.gz", "v1", "only {{.Version}} may be used"},
		{"https://ci.example/{{$x := .Version}}{{$x}}.tar.gz", "v1", "only {{.Version}} may be used"},
		{"https://ci.example/{{.Version", "v1", "url: template"},
		{"https://ci.example/web/{{.Version}}/web.tar.gz", "../../etc", "version \"../../etc\""},
		{"https://ci.example/web/{{.Version}}/web.tar.gz", "v1?x=y", "version"},
		{"https://ci.example/web/{{.Version}}/web.tar.gz", "", "version"},
		{"http://ci.example/web/{{.Version}}.tar.gz", "v1", "http is only allowed to a loopback host"},
		{"https://user:pw@ci.example/web/{{.Version}}.tar.gz", "v1", "holds user info"},
		{"ftp://ci.example/web/{{.Version}}.tar.gz", "v1", "want an absolute https URL"},
		{"https://ci.example/web/{{.Version}}.rar", "v1", "the extension names no archive format"},
	} {
		s, err := f.HTTP(HTTPConfig{App: "web", URL: tc.url})
		if err == nil {
			_, err = s.Validate(Ref{Version: tc.version, Digest: "sha256:" + strings.Repeat("0", 64)})
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s with %q: %v", tc.url, tc.version, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s with %q: error %v, want %q", tc.url, tc.version, err, tc.want)
		case tc.want != "" && !errors.Is(err, ErrConfig):
			t.Errorf("%s with %q: error %v is not ErrConfig", tc.url, tc.version, err)
		}
	}
}

func TestValidateSaysWhatItDidNotFetch(t *testing.T) {
	f := offlineFetcher(t)
	s, err := f.HTTP(HTTPConfig{App: "web", URL: "https://ci.example/web/{{.Version}}/web.tar.gz", Checksums: "SHA256SUMS", Signature: "SHA256SUMS.asc"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Validate(Ref{Version: "v1.4.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://ci.example/web/v1.4.3/web.tar.gz (archive)|https://ci.example/web/v1.4.3/SHA256SUMS (checksums)|https://ci.example/web/v1.4.3/SHA256SUMS.asc (signature, if required)"
	if got := strings.Join(v.NotFetched, "|"); got != want {
		t.Fatalf("not fetched:\n%s\nwant\n%s", got, want)
	}
	bare, _ := f.HTTP(HTTPConfig{App: "web", URL: "https://ci.example/web/{{.Version}}/web.tar.gz"})
	if _, err := bare.Validate(Ref{Version: "v1"}); err == nil || !strings.Contains(err.Error(), "web v1: no digest: give digest: sha256:… in the Release, or checksums on the App") {
		t.Fatalf("no digest and no checksums: %v", err)
	}
	if _, err := bare.Validate(Ref{Version: "v1", Digest: "sha256:beef"}); err == nil || !strings.Contains(err.Error(), "web v1: digest:") {
		t.Fatalf("bad digest: %v", err)
	}

	o, err := f.OCI(OCIConfig{App: "api", Repository: "registry.example:5000/team/api"})
	if err != nil {
		t.Fatal(err)
	}
	v, err = o.Validate(Ref{Version: "v2.0.0"})
	if err != nil || strings.Join(v.NotFetched, "|") != "registry.example:5000/team/api:v2.0.0 (tag, resolved to a digest)" {
		t.Fatalf("oci validate: %v %v", v, err)
	}
	d := "sha256:" + strings.Repeat("a", 64)
	v, err = o.Validate(Ref{Version: d})
	if err != nil || strings.Join(v.NotFetched, "|") != "registry.example:5000/team/api@"+d+" (manifest and layers)" {
		t.Fatalf("oci validate of a digest: %v %v", v, err)
	}
	for _, bad := range []string{"v1/x", "-v1", "sha256:abc", strings.Repeat("v", 129)} {
		if _, err := o.Validate(Ref{Version: bad}); err == nil || !errors.Is(err, ErrConfig) {
			t.Errorf("oci version %q: %v, want ErrConfig", bad, err)
		}
	}
	for _, repo := range []string{"registry.example:5000/team/api:v1", "not a reference", "registry.example/Team/API"} {
		if _, err := f.OCI(OCIConfig{App: "api", Repository: repo}); err == nil {
			t.Errorf("repository %q accepted", repo)
		}
	}
}

func TestPlainHTTPOnlyForLoopbackRegistries(t *testing.T) {
	c, _ := blobcache.Open(t.TempDir(), blobcache.Options{})
	if _, err := New(Options{Cache: c, PlainHTTP: []string{"registry.example:5000"}}); err == nil || !strings.Contains(err.Error(), "only a loopback registry") {
		t.Fatalf("plain HTTP to a remote registry: %v", err)
	}
	if _, err := New(Options{Cache: c, PlainHTTP: []string{"127.0.0.1:5000", "localhost:5001", "[::1]:5002"}}); err != nil {
		t.Fatal(err)
	}
}

func TestFindSum(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, tc := range []struct {
		sums, want, err string
	}{
		{a + "  web.tar.gz\n" + b + "  api.tar.gz\n", "sha256:" + a, ""},
		{b + " *web.tar.gz\r\n", "sha256:" + b, ""},
		{a + "  ./web.tar.gz\n", "sha256:" + a, ""},
		{"SHA256 (web.tar.gz) = " + b + "\n", "sha256:" + b, ""},
		{strings.ToUpper(a) + "  web.tar.gz\n", "sha256:" + a, ""},
		{a + "  web.tar.gz\n" + a + "  web.tar.gz\n", "sha256:" + a, ""},
		{a + "  web.tar.gz\n" + b + "  web.tar.gz\n", "", "a second, different digest"},
		{a + "  web.tar.gz.sig\n", "", "no line for web.tar.gz"},
		{"\\" + a + "  web\\ntar.gz\n", "", "no line for web.tar.gz"},
		{"zz" + a[2:] + "  web.tar.gz\n", "", "bad digest"},
	} {
		d, err := findSum([]byte(tc.sums), "web.tar.gz")
		switch {
		case tc.err == "" && (err != nil || string(d) != tc.want):
			t.Errorf("%q: %s, %v; want %s", tc.sums, d, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.sums, err, tc.err)
		}
	}
}

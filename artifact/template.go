package artifact

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
)

// urlTemplate is a URL with {{.Version}} in it, and nothing else of
// text/template: no functions, conditions, loops or other fields, so a
// template from the desired state can compute nothing.
type urlTemplate struct {
	raw string
	t   *template.Template
}

// parseURLTemplate checks a template: only text and {{.Version}}.
func parseURLTemplate(field, raw string) (*urlTemplate, error) {
	if raw == "" {
		return nil, configErr("%s is empty", field)
	}
	t, err := template.New(field).Option("missingkey=error").Parse(raw)
	if err != nil {
		return nil, configErr("%s: %v", field, err)
	}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			if !isVersionField(n.Pipe) {
				return nil, configErr("%s: %s: only {{.Version}} may be used in the template", field, clip(n.String()))
			}
		default:
			return nil, configErr("%s: %s: only {{.Version}} may be used in the template", field, clip(n.String()))
		}
	}
	return &urlTemplate{raw: raw, t: t}, nil
}

func isVersionField(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && f.Ident[0] == "Version"
}

// versionRE is what a version may look like in a URL: a tag's characters,
// no "/" and nothing a URL would read as structure (?, #, %, @).
var versionRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$`)

// render fills in the version and checks the URL: absolute https (http
// only to a loopback host), no user info.
func (u *urlTemplate) render(version string) (*url.URL, error) {
	s, err := u.renderRaw(version)
	if err != nil {
		return nil, err
	}
	return checkURL(u.t.Name(), s)
}

// renderRaw fills in the version, which must look like one.
func (u *urlTemplate) renderRaw(version string) (string, error) {
	if !versionRE.MatchString(version) {
		return "", configErr("version %q: want letters, digits, '.', '_', '+' or '-' (at most 128)", clip(version))
	}
	var b strings.Builder
	if err := u.t.Execute(&b, struct{ Version string }{version}); err != nil {
		return "", configErr("%s: %v", u.t.Name(), err)
	}
	return b.String(), nil
}

func checkURL(field, raw string) (*url.URL, error) {
	p, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, configErr("%s: %v", field, err)
	case p.User != nil:
		return nil, configErr("%s: %s holds user info: put credentials in a file named by credentials", field, redact(p))
	case p.Scheme == "https" && p.Host != "":
	case p.Scheme == "http" && p.Host != "" && isLoopback(p.Host):
	case p.Scheme == "http" && p.Host != "":
		return nil, configErr("%s: %s: http is only allowed to a loopback host; use https", field, redact(p))
	default:
		return nil, configErr("%s: %s: want an absolute https URL", field, clip(raw))
	}
	return p, nil
}

// isLoopback reports whether host (host or host:port) is a loopback name
// or address.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact shows a URL for messages: without user info and query (a
// presigned URL's query is a credential), clipped.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "REDACTED"
	}
	c.Fragment = ""
	return clip(c.String())
}

// clip bounds what an error message quotes.
func clip(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}

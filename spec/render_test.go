package spec

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// templateEnv is an Environment of two servers with 20 vars and one
// managed file rendered from tmpl (line 11 of e.yaml).
func templateEnv(tmpl string) string {
	var vars []string
	for i := 0; i < 20; i++ {
		vars = append(vars, fmt.Sprintf("V%02d: x", i))
	}
	return "kind: Environment\nname: production\nservers:\n  - {name: web-1}\n  - {name: web-2}\nconfig:\n  envFile: /etc/web/env\n  vars: {" + strings.Join(vars, ", ") + "}\n  files:\n    - path: /etc/web/app.conf\n      template: '" + tmpl + "'\n"
}

func TestTemplateRenderingIsBounded(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		tmpl string
		want string
	}{
		{
			name: "nested range renders too much",
			tmpl: `{{range .Vars}}{{range $.Vars}}{{range $.Vars}}{{range $.Vars}}` + strings.Repeat("0123456789", 10) + `{{end}}{{end}}{{end}}{{end}}`,
			want: `e.yaml:11: config.files.0.template for server "web-1": renders more than limits.maxRenderedBytes (1048576 bytes)`,
		},
		{
			name: "a smaller maxRenderedBytes",
			opts: Options{MaxRenderedBytes: 100},
			tmpl: `{{range .Vars}}0123456789{{end}}`,
			want: `e.yaml:11: config.files.0.template for server "web-1": renders more than limits.maxRenderedBytes (100 bytes)`,
		},
		{
			name: "nested range without output takes too long",
			opts: Options{RenderTimeout: 20 * time.Millisecond},
			tmpl: `{{range .Vars}}{{range $.Vars}}{{range $.Vars}}{{range $.Vars}}{{range $.Vars}}{{end}}{{end}}{{end}}{{end}}{{end}}`,
			want: `e.yaml:11: config.files.0.template for server "web-1": rendering takes longer than limits.renderTimeout (20ms)`,
		},
		{
			name: "a range over a large integer takes too long",
			opts: Options{RenderTimeout: 20 * time.Millisecond},
			tmpl: `{{range 100000000}}{{end}}`,
			want: `rendering takes longer than limits.renderTimeout (20ms)`,
		},
		{
			name: "a printf width builds a huge string",
			tmpl: `{{printf "%0100000000d" 1}}`,
			want: `e.yaml:11: config.files.0.template for server "web-1": renders more than limits.maxRenderedBytes (1048576 bytes)`,
		},
		{
			name: "a string doubled in a variable",
			tmpl: `{{$x := "0123456789"}}{{range .Vars}}{{$x = printf "%s%s" $x $x}}{{end}}{{len $x}}`,
			want: `renders more than limits.maxRenderedBytes (1048576 bytes)`,
		},
		{
			name: "a template that calls itself",
			tmpl: `{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`,
			want: `e.yaml:11: config.files.0.template: template "r" calls itself: recursive templates are not allowed`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := loadErrors(t, tt.opts, files("e.yaml", templateEnv(tt.tmpl), "a.yaml", validApp, "r.yaml", validRelease))
			if !strings.Contains(errs.Error(), tt.want) {
				t.Errorf("got %v, want %q", errs, tt.want)
			}
		})
	}
}

// Bounds do not get in the way of an ordinary template, at load time or
// when a pass renders a server's files.
func TestTemplateWithinBoundsRenders(t *testing.T) {
	tmpl := `name = {{.Server.Name}}{{range $k, $v := .Vars}} {{$k}}={{printf "%q" $v}}{{end}} {{print "*" (len .Vars)}}`
	d, err := Options{MaxRenderedBytes: 1000}.Load(files("e.yaml", templateEnv(tmpl), "a.yaml", validApp, "r.yaml", validRelease))
	if err != nil {
		t.Fatal(err)
	}
	env := d.Environment("production")
	out, err := env.RenderConfig(&env.Servers[1])
	if err != nil {
		t.Fatal(err)
	}
	got := string(out[0].Data)
	if !strings.HasPrefix(got, `name = web-2 V00="x" V01="x"`) || !strings.HasSuffix(got, " *20") {
		t.Errorf("rendered %q", got)
	}
}

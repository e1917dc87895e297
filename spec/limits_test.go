package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/specgen"
)

// loadErrors loads files with o and returns the problems, failing the test
// when there are none.
func loadErrors(t *testing.T, o Options, fs []File) Errors {
	t.Helper()
	d, err := o.Load(fs)
	if err == nil {
		t.Fatalf("Load succeeded with %d environments, want errors", len(d.Environments))
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want spec.Errors", err, err)
	}
	return errs
}

// The alias bomb of issue 10: a 100 KB anchor used 2,000 times made 200 MB
// of errors. Its expansion is refused before anything walks it.
func TestAliasBombIsRefusedCheaply(t *testing.T) {
	bomb := specgen.AliasBomb(100<<10, 2000)
	errs := loadErrors(t, Options{}, files("bomb.yaml", string(bomb)))
	text := errs.Error()
	if len(text) > 4096 {
		t.Fatalf("error text is %d bytes for a %d-byte file, want at most 4096; starts %.300q", len(text), len(bomb), text)
	}
	if want := "bomb.yaml:1: the document's aliases expand it to more than limits.maxFileBytes"; !strings.Contains(text, want) {
		t.Errorf("error text lacks %q; got %.500q", want, text)
	}
}

// Aliases within the limit still expand, but each error quotes a value cut
// to MaxQuoted, and a file reports at most MaxErrorsPerFile problems.
func TestErrorsAreClippedAndCappedPerFile(t *testing.T) {
	bomb := specgen.AliasBomb(1<<10, 2000) // 1 KB anchor: 2 MB expanded, under the limit
	errs := loadErrors(t, Options{}, files("bomb.yaml", string(bomb)))
	if len(errs) != MaxErrorsPerFile+1 {
		t.Fatalf("got %d errors, want %d and one line for the rest", len(errs), MaxErrorsPerFile+1)
	}
	last := errs[len(errs)-1].Error()
	// Each server has two problems: its name and its address.
	if want := fmt.Sprintf("bomb.yaml: and 3900 more problems in this file (the first %d are reported)", MaxErrorsPerFile); last != want {
		t.Errorf("last error %q, want %q", last, want)
	}
	for _, e := range errs {
		if len(e.Msg) > MaxMessage+100 {
			t.Fatalf("message of %d bytes, want at most about %d: %.200q", len(e.Msg), MaxMessage, e.Msg)
		}
	}
	if !strings.Contains(errs[0].Msg, "… (1024 bytes)") {
		t.Errorf("a clipped value should say its length; got %.400q", errs[0].Msg)
	}
}

func TestLongValueIsClippedInErrors(t *testing.T) {
	long := strings.Repeat("Y", 50_000)
	errs := loadErrors(t, Options{}, files("e.yaml", "kind: Environment\nname: prod\nservers: [{name: "+long+"}]\n"))
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %.500v", len(errs), errs)
	}
	if got := errs[0].Error(); len(got) > 400 || !strings.Contains(got, `e.yaml:3: invalid server name "YYYY`) || !strings.Contains(got, "… (50000 bytes)") {
		t.Errorf("got %d bytes %.400q, want the value clipped with its length", len(got), got)
	}
}

func TestErrorsAreCappedInAll(t *testing.T) {
	var fs []File
	for i := 0; i < 15; i++ {
		var b strings.Builder
		b.WriteString("kind: Environment\nname: e" + fmt.Sprint(i) + "\nservers:\n")
		for j := 0; j < 100; j++ {
			b.WriteString("  - {name: BAD}\n")
		}
		fs = append(fs, File{Path: fmt.Sprintf("f%02d.yaml", i), Data: []byte(b.String())})
	}
	errs := loadErrors(t, Options{}, fs)
	if len(errs) != MaxErrors+1 {
		t.Fatalf("got %d errors, want %d and a last line", len(errs), MaxErrors+1)
	}
	if got, want := errs[len(errs)-1].Error(), "and 500 more problems in 5 more files (the first 1000 are reported)"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
}

func TestMaxFileBytes(t *testing.T) {
	env := validEnv + "# " + strings.Repeat("x", 2000) + "\n"
	errs := loadErrors(t, Options{MaxFileBytes: 1000}, files("e.yaml", env, "a.yaml", validApp, "r.yaml", validRelease))
	want := fmt.Sprintf("e.yaml: file is %d bytes, more than limits.maxFileBytes (1000)", len(env))
	if errs[0].Error() != want {
		t.Fatalf("got %v, want first the error %q", errs, want)
	}
	if _, err := (Options{MaxFileBytes: int64(len(env))}).Load(files("e.yaml", env, "a.yaml", validApp, "r.yaml", validRelease)); err != nil {
		t.Errorf("a file of exactly maxFileBytes: %v", err)
	}
}

func TestMaxFileBytesDefault(t *testing.T) {
	big := validEnv + "# " + strings.Repeat("x", DefaultMaxFileBytes) + "\n"
	errs := loadErrors(t, Options{}, files("big.yaml", big, "a.yaml", validApp, "r.yaml", validRelease))
	if want := fmt.Sprintf("big.yaml: file is %d bytes, more than limits.maxFileBytes (8388608)", len(big)); errs[0].Error() != want {
		t.Errorf("got %v", errs)
	}
}

// A large YAML file of an artifact is the artifact's, not desired state.
func TestMaxFileBytesIgnoresArtifacts(t *testing.T) {
	big := "# " + strings.Repeat("x", 3000) + "\n"
	_, err := Options{MaxFileBytes: 1000}.Load(files("e.yaml", validEnv, "a.yaml", validApp, "r.yaml", validRelease, "artifacts/web/v1.2.0/openapi.yaml", big))
	if err != nil {
		t.Fatalf("a large YAML file inside an artifact: %v", err)
	}
}

func TestEmptyDesiredStateIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		files []File
	}{
		{"no files", nil},
		{"comments only", files("e.yaml", "# every Environment removed\n")},
		{"apps without environments", files("a.yaml", validApp)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := loadErrors(t, Options{}, tt.files)
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "the desired state has no Environment: every server would be left unmanaged; set allowEmpty: true") {
				t.Fatalf("got %v, want the one error about an empty desired state", errs)
			}
			d, err := Options{AllowEmpty: true}.Load(tt.files)
			if err != nil || len(d.Environments) != 0 {
				t.Fatalf("allowEmpty: got %v, %v; want an empty desired state", d, err)
			}
		})
	}
}

func TestRootsAndDatabasesOfTheConfiguration(t *testing.T) {
	env := validEnv + "config:\n  files: [{path: /etc/passwd, content: x}]\n"
	rel := validRelease + "database: {target: orders, changes: [{id: '1', sql: db/1.sql}]}\n"
	fs := files("e.yaml", env, "a.yaml", validApp, "r.yaml", rel)
	if _, err := Load(fs); err != nil {
		t.Fatalf("without the configuration's roots and databases nothing is checked against them: %v", err)
	}
	errs := loadErrors(t, Options{Roots: []string{"/etc/web"}, Databases: []string{"main"}}, fs)
	want := []string{
		`e.yaml:10: config.files.0.path "/etc/passwd" is outside the roots of environmentFiles in gitfleet.yaml (/etc/web)`,
		`r.yaml:5: database.target "orders" is not a database of gitfleet.yaml (databases: main)`,
	}
	if got := errs.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// BenchmarkLoadServers loads the 5 MB file of 100,000 servers that
// docs/security.md measures; -benchmem shows what it allocates.
func BenchmarkLoadServers(b *testing.B) {
	data := specgen.Servers(100_000)
	fs := []File{{Path: "fleet.yaml", Data: data}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Load(fs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadAliasBomb is the cost of refusing the alias bomb.
func BenchmarkLoadAliasBomb(b *testing.B) {
	fs := []File{{Path: "bomb.yaml", Data: specgen.AliasBomb(100<<10, 2000)}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Load(fs); err == nil {
			b.Fatal("alias bomb accepted")
		}
	}
}

// Capped bounds errors made outside Load (artifacts) the same way, keeping
// their messages up to MaxMessage.
func TestCapped(t *testing.T) {
	var es Errors
	long := strings.Repeat("m", 500)
	for i := 0; i < 150; i++ {
		es = append(es, &Error{Pos: Pos{"r.yaml", 150 - i}, Msg: long})
	}
	got := Capped(es)
	if len(got) != MaxErrorsPerFile+1 || got[0].Msg != long || got[len(got)-1].Msg != "and 50 more problems in this file (the first 100 are reported)" {
		t.Fatalf("got %d errors, first %.40q, last %q", len(got), got[0].Msg, got[len(got)-1].Msg)
	}
}

package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/sshtest"
)

// testBuild is what the packages of the tests are stamped with.
var testBuild = Build{
	Version: "v9.8.7",
	Commit:  "0123456789abcdef0123456789abcdef01234567",
	Date:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

// built is what make dist makes for this machine's architecture only
// (tools/dist -arch GOARCH): the binary (without -race, -trimpath) and the
// archive, .deb, .rpm and SHA256SUMS made from it. The tool runs as its
// own process, built without -race: compressing 20 MB three times under
// the race detector takes minutes.
type built struct {
	out      string
	archive  string
	deb, rpm string
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureVal  *built
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// fixture runs tools/dist once for every test of the package.
func fixture(t *testing.T) *built {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "gitfleet-packaging-test-")
		if fixtureErr != nil {
			return
		}
		fixtureVal, fixtureErr = buildFixture(fixtureDir)
	})
	if fixtureErr != nil {
		t.Fatalf("building the packages: %v", fixtureErr)
	}
	return fixtureVal
}

func buildFixture(dir string) (*built, error) {
	module, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tool := filepath.Join(dir, "dist")
	build := exec.CommandContext(ctx, "go", "build", "-o", tool, "./tools/dist")
	build.Dir = module
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./tools/dist: %v\n%s", err, out)
	}
	b := &built{out: filepath.Join(dir, "out")}
	run := exec.CommandContext(ctx, tool, "-version", testBuild.Version, "-commit", testBuild.Commit,
		"-date", testBuild.Date.Format(time.RFC3339), "-arch", runtime.GOARCH, "-out", b.out)
	run.Dir = module
	if out, err := run.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("tools/dist: %v\n%s", err, out)
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	b.archive = filepath.Join(b.out, "gitfleet_9.8.7_linux_"+runtime.GOARCH+".tar.gz")
	b.deb = filepath.Join(b.out, "gitfleet_9.8.7_"+runtime.GOARCH+".deb")
	b.rpm = filepath.Join(b.out, "gitfleet-9.8.7-1."+rpmArch+".rpm")
	entries, err := os.ReadDir(b.out)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(b.rpm), SumsFile, filepath.Base(b.deb), filepath.Base(b.archive)}
	sort.Strings(want)
	if strings.Join(names, " ") != strings.Join(want, " ") {
		return nil, fmt.Errorf("tools/dist wrote %v, want %v", names, want)
	}
	return b, nil
}

// need skips (or with CI=true fails) a test whose tool is missing.
func need(t *testing.T, tool, debian string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		sshtest.Skip(t, fmt.Sprintf("%s is needed for this test (Debian: %s)", tool, debian))
	}
	return p
}

// output runs a command and returns its stdout; stderr goes into the error.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
	}
	return string(out)
}

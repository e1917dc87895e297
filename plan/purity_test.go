package plan_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

// TestPlanIsPure: planning imports no transport, no process runner and no
// network, directly or through what it imports; so MakePlan can only
// compute, and `gitfleet plan` and the daemon plan alike.
func TestPlanIsPure(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goBin); err != nil {
		testenv.Skip(t, "the go tool is needed to list the imports of package plan")
	}
	list := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command(goBin, append([]string{"list"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	forbidden := []string{
		"os/exec", "net/http", "net/rpc", "net/smtp", "crypto/tls",
		"golang.org/x/crypto/ssh", "github.com/go-git/", "github.com/jackc/pgx", "go.etcd.io/",
		"github.com/gitfleet/gitfleet/executor", "github.com/gitfleet/gitfleet/transport",
		"github.com/gitfleet/gitfleet/lb", "github.com/gitfleet/gitfleet/db",
		"github.com/gitfleet/gitfleet/source", "github.com/gitfleet/gitfleet/rollout",
		"github.com/gitfleet/gitfleet/reconcile", "github.com/gitfleet/gitfleet/notify",
		"github.com/gitfleet/gitfleet/store", "github.com/gitfleet/gitfleet/resolve",
	}
	for _, dep := range list("-deps", "github.com/gitfleet/gitfleet/plan") {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
				t.Errorf("package plan depends on %s (through its imports): planning must stay pure", dep)
			}
		}
	}
	// Its own imports: no file system, no network, no randomness.
	for _, imp := range list("-f", `{{join .Imports " "}}`, "github.com/gitfleet/gitfleet/plan") {
		switch imp {
		case "os", "net", "io/fs", "path/filepath", "math/rand", "math/rand/v2":
			t.Errorf("package plan imports %s: planning must stay pure", imp)
		}
	}
}

// TestPlanTakesTheTimeAsAnArgument: no file of package plan reads the
// clock; the time of a plan comes in as MakePlan's now.
func TestPlanTakesTheTimeAsAnArgument(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "time.Now()") || strings.Contains(string(b), "time.Since(") {
			t.Errorf("%s reads the clock: pass the time in", f)
		}
	}
}

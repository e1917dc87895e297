package packaging

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// debFiles lists the regular files of a .deb (dpkg-deb -c): path without
// the leading ".", with its mode and owner.
func debFiles(t *testing.T, deb string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, line := range strings.Split(output(t, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		files[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
	}
	return files
}

func TestDebHoldsTheExpectedFiles(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	b := fixture(t)
	files := debFiles(t, b.deb)
	want := map[string]string{
		BinaryPath:                         "-rwxr-xr-x root/root",
		UnitPath:                           "-rw-r--r-- root/root",
		SysusersPath:                       "-rw-r--r-- root/root",
		ConfigPath:                         "-rw-r--r-- root/root",
		DocDir + "/README.md":              "-rw-r--r-- root/root",
		DocDir + "/install.md":             "-rw-r--r-- root/root",
		ManDir + "/gitfleet.1.gz":          "-rw-r--r-- root/root",
		ManDir + "/gitfleet-run.1.gz":      "-rw-r--r-- root/root",
		ManDir + "/gitfleet-plan.1.gz":     "-rw-r--r-- root/root",
		ManDir + "/gitfleet-validate.1.gz": "-rw-r--r-- root/root",
		ManDir + "/gitfleet-version.1.gz":  "-rw-r--r-- root/root",
		ManDir + "/gitfleet-status.1.gz":   "-rw-r--r-- root/root",
		ManDir + "/gitfleet-history.1.gz":  "-rw-r--r-- root/root",
		ManDir + "/gitfleet-rollback.1.gz": "-rw-r--r-- root/root",
		ManDir + "/gitfleet-sync.1.gz":     "-rw-r--r-- root/root",
	}
	for name, mode := range want {
		if got, ok := files[name]; !ok {
			t.Errorf("the .deb has no %s", name)
		} else if got != mode {
			t.Errorf("%s: %s, want %s", name, got, mode)
		}
	}
	manPage := regexp.MustCompile(`^` + ManDir + `/gitfleet(-[a-z]+)*\.1\.gz$`)
	var extra []string
	for name := range files {
		if _, ok := want[name]; !ok && !manPage.MatchString(name) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("the .deb holds files nobody asked for: %v", extra)
	}
	if _, ok := files[ManDir+"/gitfleet-man.1.gz"]; ok {
		t.Errorf("the hidden man command got a man page")
	}
	t.Logf("dpkg-deb -c %s:\n%s", filepath.Base(b.deb), output(t, "dpkg-deb", "-c", b.deb))
}

func TestDebControlConffileAndScripts(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	b := fixture(t)
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	for field, want := range map[string]string{"Package": "gitfleet", "Version": "9.8.7", "Architecture": arch, "Section": "admin"} {
		if got := strings.TrimSpace(output(t, "dpkg-deb", "-f", b.deb, field)); got != want {
			t.Errorf("control field %s: %q, want %q", field, got, want)
		}
	}
	ctrl := t.TempDir()
	output(t, "dpkg-deb", "-e", b.deb, ctrl)
	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil || string(conffiles) != ConfigPath+"\n" {
		t.Errorf("conffiles: %q (%v), want %q", conffiles, err, ConfigPath+"\n")
	}
	for script, source := range map[string]string{"postinst": PostInstallFile, "prerm": PreRemoveFile, "postrm": PostRemoveFile} {
		got, err := os.ReadFile(filepath.Join(ctrl, script))
		if err != nil {
			t.Errorf("maintainer script %s: %v", script, err)
			continue
		}
		if string(got) != string(shippedFile(t, source)) {
			t.Errorf("maintainer script %s is not files/%s", script, source)
		}
		if fi, _ := os.Stat(filepath.Join(ctrl, script)); fi == nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("maintainer script %s is not mode 0755", script)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(ctrl, script)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", script, err, out)
		}
	}
}

// TestDebBinaryReportsTheVersion extracts the .deb and runs its gitfleet.
func TestDebBinaryReportsTheVersion(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	b := fixture(t)
	root := t.TempDir()
	output(t, "dpkg-deb", "-x", b.deb, root)
	bin := filepath.Join(root, BinaryPath)

	lines := strings.Split(output(t, bin, "version"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "gitfleet v9.8.7 (go") ||
		lines[1] != "commit: "+testBuild.Commit || lines[2] != "built: 2026-01-02T03:04:05Z" {
		t.Errorf("gitfleet version:\n%s\nwant gitfleet v9.8.7 (go…), commit: %s, built: 2026-01-02T03:04:05Z", strings.Join(lines, "\n"), testBuild.Commit)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(output(t, bin, "version", "-o", "json")), &got); err != nil {
		t.Fatalf("gitfleet version -o json: %v", err)
	}
	want := map[string]string{"version": "v9.8.7", "commit": testBuild.Commit, "buildDate": "2026-01-02T03:04:05Z", "platform": "linux/" + runtime.GOARCH}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("gitfleet version -o json: %s = %q, want %q", k, got[k], v)
		}
	}

	f, err := os.Open(filepath.Join(root, ManDir, "gitfleet-run.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("gitfleet-run.1.gz: %v", err)
	}
	page, _ := io.ReadAll(zr)
	for _, s := range []string{`.TH "GITFLEET-RUN" "1" "Jan 2026" "gitfleet v9.8.7" "gitfleet manual"`, "<stateDir>/api.token", "SIGINT or SIGTERM"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("man page gitfleet-run(1) has no %q", s)
		}
	}
}

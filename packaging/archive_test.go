package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestArchiveHoldsBinaryUnitConfigAndManPages(t *testing.T) {
	b := fixture(t)
	f, err := os.Open(b.archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	top := "gitfleet_9.8.7_linux_" + runtime.GOARCH + "/"
	if filepath.Base(b.archive) != strings.TrimSuffix(top, "/")+".tar.gz" {
		t.Errorf("archive name %s, want %s.tar.gz", filepath.Base(b.archive), strings.TrimSuffix(top, "/"))
	}
	modes := map[string]int64{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, top) || strings.Contains(h.Name, "..") {
			t.Errorf("entry %q is not under %s", h.Name, top)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(testBuild.Date) {
			t.Errorf("entry %s: uid %d, gid %d, mtime %v; want root and the build date", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if h.Typeflag == tar.TypeReg {
			modes[strings.TrimPrefix(h.Name, top)] = h.Mode
		}
	}
	want := map[string]int64{
		"gitfleet": 0o755, "gitfleet.yaml": 0o644, "systemd/gitfleet.service": 0o644,
		"systemd/gitfleet.sysusers.conf": 0o644, "man/man1/gitfleet.1.gz": 0o644,
		"man/man1/gitfleet-run.1.gz": 0o644, "README.md": 0o644, "install.md": 0o644,
	}
	for name, mode := range want {
		if got, ok := modes[name]; !ok || got != mode {
			t.Errorf("%s%s: mode %o (present %v), want %o", top, name, got, ok, mode)
		}
	}
}

// TestPackagesAreReproducible assembles the same small payload twice:
// the archive, the .deb and the .rpm come out byte for byte the same.
func TestPackagesAreReproducible(t *testing.T) {
	src := t.TempDir()
	for _, d := range []string{"files", "man"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeShipped(filepath.Join(src, "files")); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"gitfleet": "#!/bin/sh\necho gitfleet\n", "man/gitfleet.1.gz": "not really gzip", "README.md": "# gitfleet\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &payload{
		Arch: runtime.GOARCH, Version: "9.8.7", Maintainer: "gitfleet tests <tests@gitfleet.invalid>",
		Binary: filepath.Join(src, "gitfleet"), Shipped: filepath.Join(src, "files"),
		ManDir: filepath.Join(src, "man"), ManPages: []string{"gitfleet.1.gz"},
		Docs: []string{filepath.Join(src, "README.md")}, MTime: testBuild.Date,
	}
	first, err := assemble(p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	again, err := assemble(p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		x, _ := os.ReadFile(first[i])
		y, _ := os.ReadFile(again[i])
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs when built again (%d and %d bytes)", filepath.Base(first[i]), len(x), len(y))
		}
	}
}

func TestSumsCheckWithSha256sum(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"a.tar.gz": "a", "b.deb": "bb"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeSums(dir, []string{"b.deb", "a.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, SumsFile))
	want := "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.tar.gz\n" +
		"3b64db95cb55c763391c707108489ae18b4112d783300de38e033b4c98c3deaf  b.deb\n"
	if string(sums) != want {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, want)
	}
	need(t, "sha256sum", "coreutils")
	check := func() error {
		cmd := exec.Command("sha256sum", "--check", "--strict", SumsFile)
		cmd.Dir = dir
		return cmd.Run()
	}
	if err := check(); err != nil {
		t.Errorf("sha256sum --check: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "b.deb"), []byte("bB"), 0o644)
	if err := check(); err == nil {
		t.Errorf("sha256sum --check passes a changed file")
	}

	// The SHA256SUMS of tools/dist covers each of its artifacts.
	b := fixture(t)
	cmd := exec.Command("sha256sum", "--check", "--strict", SumsFile)
	cmd.Dir = b.out
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), ": OK\n") != 3 {
		t.Errorf("sha256sum --check of tools/dist's SHA256SUMS: %v\n%s", err, out)
	}
}

func TestRPMPackage(t *testing.T) {
	b := fixture(t)
	data, err := os.ReadFile(b.rpm)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 1<<20 || !bytes.HasPrefix(data, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Fatalf("%s: %d bytes, lead % x; want an RPM holding the binary", b.rpm, len(data), data[:min(4, len(data))])
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if want := "gitfleet-9.8.7-1." + rpmArch + ".rpm"; filepath.Base(b.rpm) != want {
		t.Errorf("rpm file name %s, want %s", filepath.Base(b.rpm), want)
	}
	need(t, "rpm", "rpm")
	if got := output(t, "rpm", "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", b.rpm); got != "gitfleet 9.8.7 1 "+rpmArch {
		t.Errorf("rpm -qp: %q", got)
	}
	list := output(t, "rpm", "-qlp", b.rpm)
	for _, f := range []string{BinaryPath, UnitPath, SysusersPath, ConfigPath, ManDir + "/gitfleet-run.1.gz"} {
		if !strings.Contains(list, f+"\n") {
			t.Errorf("rpm -qlp has no %s:\n%s", f, list)
		}
	}
	if got := output(t, "rpm", "-qcp", b.rpm); got != ConfigPath+"\n" {
		t.Errorf("rpm config files: %q, want %s", got, ConfigPath)
	}
	if got := output(t, "rpm", "-qp", "--queryformat", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", b.rpm); !strings.Contains(got, ConfigPath+" cn\n") {
		t.Errorf("%s is not %%config(noreplace):\n%s", ConfigPath, got)
	}
	scripts := output(t, "rpm", "-qp", "--scripts", b.rpm)
	for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemd-sysusers"} {
		if !strings.Contains(scripts, s) {
			t.Errorf("rpm --scripts has no %q", s)
		}
	}
	if out, err := exec.Command("rpm", "-K", b.rpm).CombinedOutput(); err != nil {
		t.Errorf("rpm -K: %v\n%s", err, out)
	}
}

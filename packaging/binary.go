package packaging

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// BuildBinary builds the gitfleet binary of module (the repository root)
// for linux/arch into out: static (CGO_ENABLED=0), -trimpath, stamped with
// b. goTool is the go command ("go" if empty).
func BuildBinary(ctx context.Context, goTool, module, arch string, b Build, out string) error {
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags", b.LDFlags(), "-o", out, "./cmd/gitfleet")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build gitfleet for linux/%s: %w\n%s", arch, err, clip(msg))
	}
	return nil
}

// ManPages runs "binary man" (a binary this machine can run) and writes the
// man pages it generates into dir, gzipped (gitfleet.1.gz,
// gitfleet-run.1.gz ...) without a time stamp in the gzip header, so that
// the same build gives the same bytes. It returns their names, sorted.
func ManPages(ctx context.Context, binary, dir string) ([]string, error) {
	raw, err := os.MkdirTemp("", "gitfleet-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(raw)
	cmd := exec.CommandContext(ctx, binary, "man", raw)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("man pages from %s: %w\n%s", binary, err, clip(msg))
	}
	entries, err := os.ReadDir(raw)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".1") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(raw, e.Name()))
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		name := e.Name() + ".gz"
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("man pages from %s: it wrote none", binary)
	}
	sort.Strings(names)
	return names, nil
}

// clip bounds command output quoted in an error.
func clip(b []byte) string {
	const max = 4096
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + " …"
	}
	return s
}

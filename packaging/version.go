package packaging

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Build is what a release build stamps into the binary with -ldflags -X
// (main.version, main.commit, main.buildDate) and what the packages are
// versioned by.
type Build struct {
	Version string // git describe --tags --always --dirty: v1.4.2, v1.4.2-3-gca8318b, ca8318b-dirty
	Commit  string // the full commit hash
	Date    time.Time
}

// LDFlags are the linker flags that stamp b into the gitfleet binary.
func (b Build) LDFlags() string {
	return fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.buildDate=%s",
		b.Version, b.Commit, b.Date.UTC().Format(time.RFC3339))
}

var (
	releaseTag  = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(-[0-9A-Za-z.]+)?$`)
	describeTag = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?)-([0-9]+)-g([0-9a-f]+)(-dirty)?$`)
	bareCommit  = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
	commitHash  = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// PackageVersion turns the output of git describe into a version that .deb
// and .rpm order correctly: a tag keeps its numbers (v1.4.2 is 1.4.2, a
// pre-release v1.5.0-rc.1 is 1.5.0-rc.1, which nfpm writes 1.5.0~rc.1), a
// build after a tag sorts after it (v1.4.2-3-gca8318b is 1.4.2+git.3.gca8318b),
// and a commit without any tag is 0.0.0+git.<hash>. It refuses anything else
// rather than guess.
func PackageVersion(describe string) (string, error) {
	if m := describeTag.FindStringSubmatch(describe); m != nil {
		return m[1] + "+git." + m[2] + ".g" + m[3] + strings.ReplaceAll(m[4], "-", "."), nil
	}
	if strings.HasSuffix(describe, "-dirty") && releaseTag.MatchString(strings.TrimSuffix(describe, "-dirty")) {
		m := releaseTag.FindStringSubmatch(strings.TrimSuffix(describe, "-dirty"))
		return m[1] + m[2] + "+dirty", nil
	}
	if m := releaseTag.FindStringSubmatch(describe); m != nil {
		return m[1] + m[2], nil
	}
	if m := bareCommit.FindStringSubmatch(describe); m != nil {
		return "0.0.0+git." + m[1] + strings.ReplaceAll(m[2], "-", "."), nil
	}
	return "", fmt.Errorf("version %q: want a tag like v1.4.2 or the output of git describe --tags --always --dirty", describe)
}

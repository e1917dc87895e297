package packaging

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPackageVersion(t *testing.T) {
	tests := []struct {
		describe string
		want     string
		wantErr  bool
	}{
		{describe: "v1.4.2", want: "1.4.2"},
		{describe: "1.4.2", want: "1.4.2"},
		{describe: "v1.5.0-rc.1", want: "1.5.0-rc.1"},
		{describe: "v1.4.2-dirty", want: "1.4.2+dirty"},
		{describe: "v1.4.2-3-gca8318b", want: "1.4.2+git.3.gca8318b"},
		{describe: "v1.4.2-3-gca8318b-dirty", want: "1.4.2+git.3.gca8318b.dirty"},
		{describe: "v1.5.0-rc.1-12-g0123abc", want: "1.5.0-rc.1+git.12.g0123abc"},
		{describe: "ca8318b", want: "0.0.0+git.ca8318b"},
		{describe: "ca8318b-dirty", want: "0.0.0+git.ca8318b.dirty"},
		{describe: "", wantErr: true},
		{describe: "dev", wantErr: true},
		{describe: "v1.4", wantErr: true},
		{describe: "v1.4.2; rm -rf /", wantErr: true},
	}
	for _, tt := range tests {
		got, err := PackageVersion(tt.describe)
		if tt.wantErr {
			if err == nil {
				t.Errorf("PackageVersion(%q) = %q, want an error", tt.describe, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PackageVersion(%q) = %q, %v; want %q", tt.describe, got, err, tt.want)
		}
	}
}

func TestLDFlagsStampVersionCommitAndDate(t *testing.T) {
	b := Build{Version: "v1.4.2", Commit: "0123abc", Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))}
	got := b.LDFlags()
	for _, want := range []string{"-X main.version=v1.4.2", "-X main.commit=0123abc", "-X main.buildDate=2026-01-02T02:04:05Z"} {
		if !strings.Contains(got, want) {
			t.Errorf("LDFlags() = %q, missing %q", got, want)
		}
	}
}

// TestDistRefusesWhatWouldGoIntoLDFlagsUnchecked: the version and the
// commit reach the linker's command line; Dist refuses them before
// building anything.
func TestDistRefusesWhatWouldGoIntoLDFlagsUnchecked(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no arch", Options{Build: Build{Version: "v1.0.0", Commit: "unknown"}}, "no architecture"},
		{"version", Options{Arches: []string{"amd64"}, Build: Build{Version: "v1.0.0 -X main.commit=x", Commit: "unknown"}}, `version "v1.0.0 -X main.commit=x"`},
		{"commit", Options{Arches: []string{"amd64"}, Build: Build{Version: "v1.0.0", Commit: "abc -X main.version=x"}}, `commit "abc -X main.version=x"`},
	}
	for _, tt := range tests {
		tt.o.Out = t.TempDir()
		_, err := Dist(context.Background(), tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Dist: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}

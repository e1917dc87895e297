package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimitsAndAllowEmpty(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gitfleet.yaml")
	c, err := Parse(file, []byte(minimal+"allowEmpty: true\nlimits: {maxFileBytes: 1048576, maxRenderedBytes: 65536, renderTimeout: 500ms}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AllowEmpty || c.Limits != (Limits{MaxFileBytes: 1 << 20, MaxRenderedBytes: 64 << 10, RenderTimeout: 500 * time.Millisecond}) {
		t.Errorf("got allowEmpty %v, limits %+v", c.AllowEmpty, c.Limits)
	}
	c, err = Parse(file, []byte(minimal))
	if err != nil || c.AllowEmpty || c.Limits != (Limits{}) {
		t.Errorf("defaults: got %+v, %v; want allowEmpty false and zero limits (the spec package's defaults)", c, err)
	}
	_, err = Parse(file, []byte(minimal+"limits:\n  maxFileBytes: 10\n  maxRenderedBytes: 1073741824\n  renderTimeout: 1h\n  maxFiles: 3\n"))
	if err == nil || !strings.Contains(err.Error(), `:13: unknown field "maxFiles" in limits`) {
		t.Fatalf("got %v, want the unknown field", err)
	}
	_, err = Parse(file, []byte(minimal+"limits:\n  maxFileBytes: 10\n  maxRenderedBytes: 1073741824\n  renderTimeout: 1h\n"))
	for _, want := range []string{
		":10: limits.maxFileBytes 10 out of range 1024..1073741824",
		":11: limits.maxRenderedBytes 1073741824 out of range 1024..268435456",
		":12: limits.renderTimeout 1h0m0s out of range 10ms..1m",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestExamplesUseRealMetrics checks that the alert rules and the Grafana
// dashboard of examples/prometheus name only metrics the daemon exports.
func TestExamplesUseRealMetrics(t *testing.T) {
	name := regexp.MustCompile(`\bgitfleet_[a-z_]+`)
	check := func(file, text string) {
		for _, n := range name.FindAllString(text, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !slices.Contains(families, base) {
				t.Errorf("%s names %s, which the daemon does not export", file, n)
			}
		}
	}
	rules, err := os.ReadFile("../examples/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Recording rules' own names (level:metric:operation) are not metrics
	// of the daemon.
	check("rules.yml", regexp.MustCompile(`[a-z_]+:gitfleet_[a-z_]+:[a-z]+`).ReplaceAllString(string(rules), ""))
	b, err := os.ReadFile("../examples/prometheus/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Errorf("the dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("grafana-dashboard.json", tg.Expr)
		}
	}
}

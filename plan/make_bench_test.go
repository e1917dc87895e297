package plan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/plantest"
	"github.com/gitfleet/gitfleet/plan"
)

// BenchmarkPlan plans fleets of 100, 1,000 and 10,000 servers with 5 apps
// each. Goal: 10,000 servers in under 100 ms and 200 MB allocated.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			d, o := plantest.BenchFleet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			var p *plan.Plan
			for i := 0; i < b.N; i++ {
				p = plan.MakePlan(d, o, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
			}
			b.StopTimer()
			if got, want := p.Pending(), n*5/5; got != want {
				b.Fatalf("got %d pending server steps, want %d", got, want)
			}
		})
	}
}

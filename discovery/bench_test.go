package discovery

import (
	"fmt"
	"testing"
)

// BenchmarkRecompute measures what the Manager pays, with 10 Environments
// of 1000 discovered servers each (two apps and a managed file each, on
// distinct machines): "report" for one source's answer (its Environment
// merged and checked again), "update" for a new desired state (all of
// them, with the index built anew).
func BenchmarkRecompute(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "report"
		if full {
			name = "update"
		}
		b.Run(name, func(b *testing.B) { benchRecompute(b, full) })
	}
}

func benchRecompute(b *testing.B, full bool) {
	m := NewManager(Options{})
	defer m.Close()
	const envs, per = 10, 1000
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env-%02d", e)
		c := Config{File: &FileConfig{Path: "/nonexistent"}}.WithDefaults()
		st := &envState{name: name, cfg: &c, port: 22,
			claims: []Claim{{Path: "/srv/web", Groups: []string{"web"}}, {Path: "/srv/api", Groups: []string{"api"}}, {Path: "/etc/app.conf"}},
			static: []Static{{Name: name + "-db", Host: fmt.Sprintf("10.%d.255.1", e), Pos: "envs.yaml:1"}}}
		src := &sourceState{kind: KindFile, answered: true}
		for i := 0; i < per; i++ {
			s := Server{Name: fmt.Sprintf("%s-web-%d", name, i), Address: fmt.Sprintf("10.%d.%d.%d:22", e, i/250, i%250), Groups: []string{"web"}, Source: KindFile}
			if err := s.check(); err != nil {
				b.Fatal(err)
			}
			src.good = append(src.good, s)
		}
		st.sources = []*sourceState{src}
		m.envs[name] = st
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recompute()
	if v := m.views["env-00"]; len(v.Servers) != per+1 {
		b.Fatalf("%d servers in env-00, want %d", len(v.Servers), per+1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if full {
			m.ix = nil
		} else {
			m.dirty["env-05"] = true
		}
		m.recompute()
	}
	b.ReportMetric(float64(envs*per), "servers")
}

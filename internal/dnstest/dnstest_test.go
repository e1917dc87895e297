package dnstest

import (
	"context"
	"testing"
	"time"
)

func TestZoneIsAnsweredAndChanged(t *testing.T) {
	z := Zone{Domain: "fleet.test", TTL: 7,
		SRV:   []SRV{{Name: "_ssh._tcp.web.fleet.test", Target: "web-1.fleet.test", Port: 2222}},
		Hosts: []Host{{Name: "web.fleet.test", IP: "127.0.0.11"}, {Name: "web.fleet.test", IP: "::1"}},
	}
	s := Start(t, z) // Start waits until the zone is answered
	z.Hosts = z.Hosts[:1]
	s.Set(z)
	if n := s.Restarts(); n != 0 {
		t.Errorf("an A/AAAA change restarted dnsmasq %d times, want a reload", n)
	}
	z.SRV = append(z.SRV, SRV{Name: "_ssh._tcp.web.fleet.test", Target: "web-2.fleet.test", Port: 2223})
	s.Set(z) // Set waits until the new records are answered
	if n := s.Restarts(); n != 1 {
		t.Errorf("an SRV change restarted dnsmasq %d times, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.Resolver().LookupHost(ctx, "nothing.fleet.test."); err == nil {
		t.Error("a name of the domain without records was answered")
	}
}

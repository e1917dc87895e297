package discovery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/dnstest"
)

const srvName = "_ssh._tcp.web.fleet.test"

func srvZone(ttl int, targets ...int) dnstest.Zone {
	z := dnstest.Zone{Domain: "fleet.test", TTL: ttl}
	for _, i := range targets {
		z.SRV = append(z.SRV, dnstest.SRV{Name: srvName, Target: fmt.Sprintf("web-%d.fleet.test", i), Port: 2200 + i, Weight: 10})
	}
	return z
}

func dnsEnv(resolver string) Environment {
	return Environment{Name: "production", DefaultPort: 22, Discovery: &Config{DNS: &DNSConfig{
		Name: srvName, Resolver: resolver, TrimSuffix: ".fleet.test", Groups: []string{"web"}, Site: "fra",
		MinRefresh: 200 * time.Millisecond, MaxRefresh: time.Second,
	}}}
}

func TestDNSSourceFollowsSRVRecordsChangedBetweenRefreshes(t *testing.T) {
	dns := dnstest.Start(t, srvZone(1, 1, 2, 3))
	m := startManager(t, Options{})
	update(t, m, dnsEnv(dns.Addr))
	v := waitView(t, m, "production", 10*time.Second, "web-1..3 from SRV records", hasNames(webNames(1, 3)))
	s := v.Servers[0]
	if s.Address != "web-1.fleet.test:2201" || s.Host != "web-1.fleet.test" || s.Port != 2201 || s.Groups[0] != "web" || s.Site != "fra" || s.Source != KindDNS {
		t.Errorf("web-1 is %+v, want the SRV target and port, the configured group and site", s)
	}
	if !strings.HasPrefix(s.Origin, "dns SRV "+srvName+" [") {
		t.Errorf("origin %q", s.Origin)
	}

	dns.Set(srvZone(1, 2, 3, 4)) // a restart of dnsmasq: new SRV records
	waitView(t, m, "production", 10*time.Second, "web-1 gone, web-4 new", hasNames(webNames(2, 4)))
	dns.Set(srvZone(1, 2, 3, 4, 5))
	waitView(t, m, "production", 10*time.Second, "web-5 new", hasNames(webNames(2, 5)))

	dns.Stop()
	v = waitView(t, m, "production", 10*time.Second, "the dead DNS server reported", func(v View) bool { return v.Sources[0].Err != "" })
	if names(v) != webNames(2, 5) || !strings.Contains(v.Sources[0].Err, "ask "+dns.Addr+" for "+srvName+" SRV") {
		t.Errorf("with the DNS server down: %s; want the last good list and the error", describe(v))
	}
	dns.Set(srvZone(1, 2, 3, 4))
	waitView(t, m, "production", 10*time.Second, "the answer after the server is back", hasNames(webNames(2, 4)))
}

func TestLookupDNSReturnsTheTTLAndRefreshIsBounded(t *testing.T) {
	dns := dnstest.Start(t, srvZone(7, 1))
	c := *Config{DNS: &DNSConfig{Name: srvName, Resolver: dns.Addr}}.WithDefaults().DNS
	servers, _, ttl, err := LookupDNS(context.Background(), c, 100)
	if err != nil || len(servers) != 1 || ttl != 7*time.Second {
		t.Fatalf("got %v, ttl %s, %v; want web-1 with a TTL of 7s", servers, ttl, err)
	}
	if servers[0].Name != "web-1.fleet.test" {
		t.Errorf("name %q: without trimSuffix the name is the SRV target without its dot", servers[0].Name)
	}
	for _, tc := range []struct{ ttl, want time.Duration }{
		{0, 5 * time.Second}, {7 * time.Second, 7 * time.Second}, {time.Hour, 5 * time.Minute},
	} {
		if got := refreshAfter(tc.ttl, DefaultMinRefresh, DefaultMaxRefresh); got != tc.want {
			t.Errorf("refresh after a TTL of %s: %s, want %s", tc.ttl, got, tc.want)
		}
	}
}

func TestDNSARecordsNameServersAfterTheirAddress(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Zone{Domain: "fleet.test", TTL: 3, Hosts: []dnstest.Host{
		{Name: "web.fleet.test", IP: "127.0.0.11"}, {Name: "web.fleet.test", IP: "127.0.0.12"}, {Name: "web.fleet.test", IP: "fd00::11"},
	}})
	c := *Config{DNS: &DNSConfig{Name: "web.fleet.test", Resolver: dns.Addr, Port: 2222}}.WithDefaults().DNS
	if c.Type != DNSTypeA {
		t.Fatalf("type %q for a name without '_', want a", c.Type)
	}
	servers, rejected, ttl, err := LookupDNS(context.Background(), c, 100)
	if err != nil || len(rejected) != 0 || ttl != 3*time.Second {
		t.Fatalf("got %v, %v, ttl %s", err, rejected, ttl)
	}
	var got []string
	for _, s := range servers {
		got = append(got, s.Name+"="+s.Address)
	}
	want := "127.0.0.11=127.0.0.11:2222 127.0.0.12=127.0.0.12:2222 fd00-0-0-0-0-0-0-11=[fd00::11]:2222"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

func TestDNSNoSuchNameIsAnEmptyList(t *testing.T) {
	dns := dnstest.Start(t, srvZone(1, 1))
	for _, name := range []string{"_ssh._tcp.none.fleet.test", "web-1.fleet.test"} { // NXDOMAIN; a name without SRV records
		c := *Config{DNS: &DNSConfig{Name: name, Type: DNSTypeSRV, Resolver: dns.Addr}}.WithDefaults().DNS
		servers, _, _, err := LookupDNS(context.Background(), c, 100)
		if err != nil || len(servers) != 0 {
			t.Errorf("%s: got %v, %v; want an empty list (maxRemove judges it)", name, servers, err)
		}
	}
	c := *Config{DNS: &DNSConfig{Name: "_ssh._tcp.example.org", Resolver: dns.Addr}}.WithDefaults().DNS
	if _, _, _, err := LookupDNS(context.Background(), c, 100); err == nil || !strings.Contains(err.Error(), "Refused") {
		t.Errorf("a name the server refuses: got %v, want an error", err)
	}
}

func TestDNSLargeAnswerIsReadOverTCP(t *testing.T) {
	var targets []int
	for i := 1; i <= 200; i++ {
		targets = append(targets, i)
	}
	dns := dnstest.Start(t, srvZone(1, targets...)) // about 9 KB: truncated over UDP
	c := *Config{DNS: &DNSConfig{Name: srvName, Resolver: dns.Addr}}.WithDefaults().DNS
	servers, _, _, err := LookupDNS(context.Background(), c, 1000)
	if err != nil || len(servers) != 200 {
		t.Fatalf("got %d servers, %v; want 200", len(servers), err)
	}
	if _, _, _, err := LookupDNS(context.Background(), c, 100); err == nil || !strings.Contains(err.Error(), "200 records, more than maxServers (100)") {
		t.Errorf("more records than maxServers: got %v", err)
	}
}

func TestIPNameIsAValidServerName(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"10.0.0.11", "10.0.0.11"}, {"::1", "0-0-0-0-0-0-0-1"}, {"fd00::", "fd00-0-0-0-0-0-0-0"}, {"2001:db8::ff00:42:8329", "2001-db8-0-0-0-ff00-42-8329"},
	} {
		got := ipName(net.ParseIP(tc.ip))
		if got != tc.want || !ValidServerName(got) {
			t.Errorf("ipName(%s) = %q (valid %v), want %q", tc.ip, got, ValidServerName(got), tc.want)
		}
	}
}

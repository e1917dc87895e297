package discovery

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsSource asks a DNS server for a name's SRV, or A and AAAA, records
// and asks again when their TTL runs out.
type dnsSource struct {
	cfg DNSConfig
	env sourceEnv
}

// LookupDNS asks once, as the dns source does: the servers found, the
// records rejected (each at its index in the answer), and the TTL after
// which the answer should be asked for again (0 when it gave none).
// NXDOMAIN and an answer without records are an empty list, which
// maxRemove then judges; SERVFAIL, REFUSED and timeouts are errors.
func LookupDNS(ctx context.Context, c DNSConfig, maxServers int) ([]Server, []Rejection, time.Duration, error) {
	a, ttl, err := (&dnsSource{cfg: c, env: sourceEnv{maxServers: maxServers}}).once(ctx)
	return a.servers, a.rejected, ttl, err
}

func (s *dnsSource) run(ctx context.Context, report func(result)) {
	failures := 0
	for {
		a, ttl, err := s.once(ctx)
		if ctx.Err() != nil {
			return
		}
		report(result{answer: a, err: err})
		wait := refreshAfter(ttl, s.cfg.MinRefresh, s.cfg.MaxRefresh)
		if err != nil {
			failures++
			wait = backoff(failures, s.cfg.MinRefresh, s.cfg.MaxRefresh)
		} else {
			failures = 0
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// refreshAfter is the wait before the next query: the TTL, at least lo and
// at most hi.
func refreshAfter(ttl, lo, hi time.Duration) time.Duration {
	return min(max(ttl, lo), hi)
}

// once asks for the records of the configured type.
func (s *dnsSource) once(ctx context.Context) (answer, time.Duration, error) {
	server := s.cfg.Resolver
	if server == "" {
		var err error
		if server, err = systemResolver(); err != nil {
			return answer{}, 0, err
		}
	}
	types := []dnsmessage.Type{dnsmessage.TypeSRV}
	if s.cfg.Type == DNSTypeA {
		types = []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
	}
	var records []dnsmessage.Resource
	ttl := int64(-1)
	for _, t := range types {
		qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		a, err := ask(qctx, server, s.cfg.Name, t)
		cancel()
		if err != nil {
			return answer{}, 0, fmt.Errorf("ask %s for %s %s: %w", server, s.cfg.Name, strings.TrimPrefix(t.String(), "Type"), err)
		}
		switch a.rcode {
		case dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError:
		default:
			return answer{}, 0, fmt.Errorf("ask %s for %s %s: %s", server, s.cfg.Name, strings.TrimPrefix(t.String(), "Type"), strings.TrimPrefix(a.rcode.String(), "RCode"))
		}
		records = append(records, a.records...)
		if a.ttl >= 0 && (ttl < 0 || a.ttl < ttl) {
			ttl = a.ttl
		}
	}
	if len(records) > s.env.maxServers {
		return answer{}, 0, fmt.Errorf("%s: %d records, more than maxServers (%d)", s.cfg.Name, len(records), s.env.maxServers)
	}
	return s.servers(records), time.Duration(max(ttl, 0)) * time.Second, nil
}

// servers turns records into servers: an SRV record's target (without
// the trailing dot, TrimSuffix cut off) is the name and target:port the
// address; an A or AAAA record's address is both the address and, in
// the form ipName gives it, the name.
func (s *dnsSource) servers(records []dnsmessage.Resource) answer {
	var a answer
	seen := map[string]string{}
	kind := "SRV"
	if s.cfg.Type == DNSTypeA {
		kind = "A"
	}
	origin := "dns " + kind + " " + strings.TrimSuffix(s.cfg.Name, ".")
	for i, rr := range records {
		var srv Server
		switch b := rr.Body.(type) {
		case *dnsmessage.SRVResource:
			host := strings.ToLower(strings.TrimSuffix(b.Target.String(), "."))
			if host == "" {
				continue // "." : the service is not offered here
			}
			name := host
			if cut, ok := strings.CutSuffix(host, s.cfg.TrimSuffix); ok && cut != "" && s.cfg.TrimSuffix != "" {
				name = cut
			}
			srv = Server{Name: name, Address: net.JoinHostPort(host, strconv.Itoa(int(b.Port)))}
		case *dnsmessage.AResource:
			srv = s.byAddress(net.IP(b.A[:]))
		case *dnsmessage.AAAAResource:
			srv = s.byAddress(net.IP(b.AAAA[:]))
		default:
			continue
		}
		srv.Groups = append([]string(nil), s.cfg.Groups...)
		srv.Site = s.cfg.Site
		if len(s.cfg.Labels) > 0 {
			srv.Labels = make(map[string]string, len(s.cfg.Labels))
			for k, v := range s.cfg.Labels {
				srv.Labels[k] = v
			}
		}
		a.add(srv, KindDNS, origin+" ["+strconv.Itoa(i)+"]", seen)
	}
	sortByName(a.servers)
	return a
}

func (s *dnsSource) byAddress(ip net.IP) Server {
	addr := ip.String()
	if s.cfg.Port != 0 {
		addr = net.JoinHostPort(addr, strconv.Itoa(s.cfg.Port))
	}
	return Server{Name: ipName(ip), Address: addr}
}

// ipName is the server name of an address found by A or AAAA records: an
// IPv4 address as it is written (10.0.0.11); an IPv6 address as its eight
// groups in hex without leading zeros, joined by '-' (fd00-0-0-0-0-0-0-11),
// so that the name never starts or ends with a '-'.
func ipName(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(ip[2*i])<<8|uint64(ip[2*i+1]), 16)
	}
	return strings.Join(groups, "-")
}

package discovery

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsAnswer is what a DNS server said about a name and type.
type dnsAnswer struct {
	rcode dnsmessage.RCode
	// records are the answers of the asked type, for the name or a CNAME
	// of it.
	records []dnsmessage.Resource
	// ttl is the smallest TTL of records, or of the SOA of a negative
	// answer; -1 when the answer gave none.
	ttl int64
}

// ask sends one query to server (ip:port) over UDP, and again over TCP
// when the answer was truncated. Go's resolver does not return TTLs,
// which refresh needs, so the query is made here with x/net's dnsmessage.
func ask(ctx context.Context, server, name string, qtype dnsmessage.Type) (dnsAnswer, error) {
	fqdn := strings.TrimSuffix(name, ".") + "."
	qname, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return dnsAnswer{}, fmt.Errorf("%s: %w", name, err)
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	opt.SetEDNS0(4096, dnsmessage.RCodeSuccess, false)
	b.OPTResource(opt, dnsmessage.OPTResource{})
	msg, err := b.Finish()
	if err != nil {
		return dnsAnswer{}, fmt.Errorf("build query: %w", err)
	}
	// msg[:2] is room for the TCP length prefix.
	resp, err := exchange(ctx, "udp", server, msg[2:])
	if err != nil {
		return dnsAnswer{}, err
	}
	a, truncated, err := parseAnswer(resp, id, q)
	if err == nil && truncated {
		binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
		if resp, err = exchange(ctx, "tcp", server, msg); err == nil {
			a, _, err = parseAnswer(resp, id, q)
		}
	}
	return a, err
}

// exchange sends msg and reads one message back (TCP: length-prefixed).
func exchange(ctx context.Context, network, server string, msg []byte) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	if network == "udp" {
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(conn, buf)
	return buf, err
}

// parseAnswer checks that resp answers q with id and collects the records.
func parseAnswer(resp []byte, id uint16, q dnsmessage.Question) (dnsAnswer, bool, error) {
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return dnsAnswer{}, false, fmt.Errorf("unreadable answer: %w", err)
	}
	if !h.Response || h.ID != id {
		return dnsAnswer{}, false, errors.New("an answer that does not match the query")
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type != q.Type || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return dnsAnswer{}, false, errors.New("an answer to another question")
	}
	if h.Truncated {
		return dnsAnswer{}, true, nil
	}
	a := dnsAnswer{rcode: h.RCode, ttl: -1}
	rrs, err := p.AllAnswers()
	if err != nil {
		return dnsAnswer{}, false, fmt.Errorf("unreadable answer: %w", err)
	}
	names := map[string]bool{strings.ToLower(q.Name.String()): true}
	for _, rr := range rrs {
		owner := strings.ToLower(rr.Header.Name.String())
		if c, ok := rr.Body.(*dnsmessage.CNAMEResource); ok && names[owner] {
			names[strings.ToLower(c.CNAME.String())] = true
			a.minTTL(rr.Header.TTL)
		}
	}
	for _, rr := range rrs {
		if rr.Header.Type == q.Type && names[strings.ToLower(rr.Header.Name.String())] {
			a.records = append(a.records, rr)
			a.minTTL(rr.Header.TTL)
		}
	}
	if len(a.records) == 0 {
		// A negative answer is cached for the SOA's minimum (RFC 2308).
		if auth, err := p.AllAuthorities(); err == nil {
			for _, rr := range auth {
				if soa, ok := rr.Body.(*dnsmessage.SOAResource); ok {
					a.minTTL(min(rr.Header.TTL, soa.MinTTL))
				}
			}
		}
	}
	return a, false, nil
}

func (a *dnsAnswer) minTTL(ttl uint32) {
	if a.ttl < 0 || int64(ttl) < a.ttl {
		a.ttl = int64(ttl)
	}
}

// systemResolver is the first nameserver of /etc/resolv.conf, port 53.
func systemResolver() (string, error) {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no dns.resolver set and %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(strings.SplitN(fields[1], "%", 2)[0]); ip != nil {
				return net.JoinHostPort(fields[1], "53"), nil
			}
		}
	}
	return "", errors.New("no dns.resolver set and no nameserver in /etc/resolv.conf")
}

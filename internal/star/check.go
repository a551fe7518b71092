package star

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Target forms understood by Check:
//
//	http://host:port/path   resolve host, connect, GET path: allowed on HTTP 200
//	tcp://host:port         resolve host, connect: allowed when the connection opens
//	dns+udp://name          look name up (IPv4) through the system's DNS servers over UDP
//	dns+tcp://name          the same over TCP
//
// "+ipv6" after the scheme (http+ipv6://, tcp+ipv6://, dns+udp+ipv6://) resolves names to
// IPv6 addresses only (AAAA lookups), so a dual-stack target is probed over each family.
//
// A connect that times out is "blocked" (a policy drops the packets); once connected, an
// http target's answer may take AnswerTimeout; a refused connect is
// "refused"; a name that does not resolve is "dns-failure" (for dns+ targets a lookup that
// times out is "blocked", since then the DNS traffic itself is what is dropped).

// Checker probes targets.
type Checker struct {
	// Timeout bounds the connection and the answer of each target: a connection not made
	// by then is blocked.
	Timeout time.Duration
	// DNSTimeout bounds name resolution (and is the verdict timeout of dns+ targets).
	// Lookups are retried within it, as a real resolver retransmits, so one lost UDP
	// packet is not mistaken for a policy. Zero means DefaultDNSTimeout.
	DNSTimeout time.Duration
	// DNSServer ("host:port"), when set, replaces the servers of /etc/resolv.conf.
	DNSServer string
}

// DefaultDNSTimeout is the name resolution budget when none is set: what a standard
// resolver waits for one try (resolv.conf's default timeout), retried here every
// dnsAttempt within it. A name not resolved by then is a dns-failure (or, for a dns+
// target, blocked).
const DefaultDNSTimeout = 5 * time.Second

// dnsAttempt is how long one lookup attempt may take before it is retried.
const dnsAttempt = 400 * time.Millisecond

// Check probes every target concurrently, each bounded by timeout, and returns the results
// in the order of targets.
func Check(ctx context.Context, targets []string, timeout time.Duration) []matrix.Result {
	return Checker{Timeout: timeout}.Check(ctx, targets)
}

// Check probes every target concurrently and returns the results in the order of targets.
func (c Checker) Check(ctx context.Context, targets []string) []matrix.Result {
	if c.DNSTimeout <= 0 {
		c.DNSTimeout = DefaultDNSTimeout
	}
	out := make([]matrix.Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			start := time.Now()
			v, detail := c.checkOne(ctx, t)
			out[i] = matrix.Result{URL: t, Verdict: v, Millis: time.Since(start).Milliseconds(), Detail: detail}
		})
	}
	wg.Wait()
	return out
}

// WriteResults prints one JSON object per line.
func WriteResults(w io.Writer, rs []matrix.Result) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// ParseResults reads what WriteResults printed.
func ParseResults(r io.Reader) ([]matrix.Result, error) {
	var out []matrix.Result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res matrix.Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("bad check output line %q: %w", line, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

func (c Checker) checkOne(ctx context.Context, target string) (matrix.Verdict, string) {
	u, family, err := parseTarget(target)
	if err != nil {
		return matrix.Error, err.Error()
	}
	switch u.Scheme {
	case "dns+udp", "dns+tcp":
		return c.lookup(ctx, u.Host, strings.TrimPrefix(u.Scheme, "dns+"), family)
	case "http", "tcp":
		addr, v, detail := c.resolve(ctx, u.Host, family)
		if addr == "" {
			return v, detail
		}
		return c.connect(ctx, u, addr)
	default:
		return matrix.Error, fmt.Sprintf("unknown scheme %q", u.Scheme)
	}
}

// parseTarget reads a target and its family suffix: "+ipv6" after the scheme resolves
// names to IPv6 addresses only (AAAA), "+ipv4" or none to IPv4 ones (A). The URL comes
// back with the plain scheme, and the family as Go's resolver names it ("ip4", "ip6").
func parseTarget(target string) (*url.URL, string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("bad target %q: want http://host:port/path, tcp://host:port or dns+udp://name (+ipv6 after the scheme for IPv6)", target)
	}
	family := "ip4"
	if s, ok := strings.CutSuffix(u.Scheme, "+ipv6"); ok {
		u.Scheme, family = s, "ip6"
	}
	u.Scheme = strings.TrimSuffix(u.Scheme, "+ipv4")
	return u, family, nil
}

// connect opens a connection to addr ("ip:port", u's resolved host) and, for http
// targets, asks for u. Its budget starts once the name is resolved.
func (c Checker) connect(ctx context.Context, u *url.URL, addr string) (matrix.Verdict, string) {
	cctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, v, detail := dial(cctx, addr)
	if conn == nil {
		return v, detail
	}
	defer conn.Close()
	if u.Scheme == "tcp" {
		return matrix.Allowed, "connected"
	}
	// Connected: the policy let the flow through. The answer gets its own budget, so a
	// server slowed down by a busy node is not mistaken for a broken one.
	actx, acancel := context.WithTimeout(ctx, AnswerTimeout)
	defer acancel()
	return get(actx, conn, u)
}

// AnswerTimeout bounds the HTTP answer once a connection is open.
const AnswerTimeout = 3 * time.Second

// resolver returns a pure-Go resolver; network "" keeps the resolver's own choice, "udp"
// or "tcp" forces it (Go frames queries by connection type, so a TCP conn means DNS over TCP).
func (c Checker) resolver(network string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, netw, addr string) (net.Conn, error) {
		if network != "" {
			netw = network
		}
		if c.DNSServer != "" {
			addr = c.DNSServer
		}
		var d net.Dialer
		return d.DialContext(ctx, netw, addr)
	}}
}

// lookupIP resolves name to addresses of one family ("ip4" or "ip6") within the DNS
// budget, retrying attempts that time out; a name that does not exist is answered at once.
func (c Checker) lookupIP(ctx context.Context, name, network, family string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.DNSTimeout)
	defer cancel()
	r := c.resolver(network)
	for {
		actx, acancel := context.WithTimeout(ctx, dnsAttempt)
		ips, err := r.LookupIP(actx, family, name)
		acancel()
		if err == nil {
			out := make([]string, len(ips))
			for i, ip := range ips {
				out[i] = ip.String()
			}
			return out, nil
		}
		var dnsErr *net.DNSError
		if ctx.Err() != nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
			return nil, err
		}
	}
}

func (c Checker) lookup(ctx context.Context, name, network, family string) (matrix.Verdict, string) {
	addrs, err := c.lookupIP(ctx, name, network, family)
	if err == nil {
		return matrix.Allowed, strings.Join(addrs, ",")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return matrix.Error, err.Error()
	}
	if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return matrix.Blocked, fmt.Sprintf("lookup timed out after %s: %v", c.DNSTimeout, err)
	}
	return matrix.Error, err.Error()
}

// resolve returns the address to connect to ("ip:port"), or a dns-failure verdict.
func (c Checker) resolve(ctx context.Context, hostport, family string) (string, matrix.Verdict, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", matrix.Error, err.Error()
	}
	if net.ParseIP(host) != nil {
		return hostport, matrix.Allowed, ""
	}
	addrs, err := c.lookupIP(ctx, host, "", family)
	if err != nil || len(addrs) == 0 {
		return "", matrix.DNSFailure, fmt.Sprintf("lookup %s: %v", host, err)
	}
	return net.JoinHostPort(addrs[0], port), matrix.Allowed, ""
}

func dial(ctx context.Context, addr string) (net.Conn, matrix.Verdict, string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		return conn, matrix.Allowed, ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, matrix.Refused, err.Error()
	case ctx.Err() != nil || isTimeout(err):
		return nil, matrix.Blocked, "connect timed out: " + err.Error()
	default:
		return nil, matrix.Error, err.Error()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func get(ctx context.Context, conn net.Conn, u *url.URL) (matrix.Verdict, string) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return matrix.Error, err.Error()
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return matrix.Error, "write request: " + err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		// Connected, then silence: the policy let the SYN through but not the rest, or the
		// server hung. Either way it is not a clean "blocked".
		return matrix.Error, "read response: " + err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return matrix.Error, "HTTP " + resp.Status
	}
	return matrix.Allowed, "HTTP 200"
}

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
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Result is one line of `star check` output.
type Result struct {
	Target  string         `json:"target"`
	Verdict matrix.Verdict `json:"verdict"`
	Millis  int64          `json:"ms"`
	Detail  string         `json:"detail,omitempty"`
}

// Target forms understood by Check:
//
//	http://host:port/path   resolve host, connect, GET path: allowed on HTTP 200
//	tcp://host:port         resolve host, connect: allowed when the connection opens
//	dns+udp://name          look name up through the system's DNS servers over UDP
//	dns+tcp://name          the same over TCP
//
// A connect that times out is "blocked" (a policy drops the packets); a refused one is
// "refused"; a name that does not resolve is "dns-failure" (for dns+ targets a lookup that
// times out is "blocked", since then the DNS traffic itself is what is dropped).

// Checker probes targets.
type Checker struct {
	// Timeout bounds each target (lookup, connect and answer together).
	Timeout time.Duration
	// DNSServer ("host:port"), when set, replaces the servers of /etc/resolv.conf.
	DNSServer string
}

// Check probes every target concurrently, each bounded by timeout, and returns the results
// in the order of targets.
func Check(ctx context.Context, targets []string, timeout time.Duration) []Result {
	return Checker{Timeout: timeout}.Check(ctx, targets)
}

// Check probes every target concurrently and returns the results in the order of targets.
func (c Checker) Check(ctx context.Context, targets []string) []Result {
	timeout := c.Timeout
	out := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			start := time.Now()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			v, detail := c.checkOne(cctx, t)
			out[i] = Result{Target: t, Verdict: v, Millis: time.Since(start).Milliseconds(), Detail: detail}
		})
	}
	wg.Wait()
	return out
}

// WriteResults prints one JSON object per line.
func WriteResults(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// ParseResults reads what WriteResults printed.
func ParseResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("bad check output line %q: %w", line, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

func (c Checker) checkOne(ctx context.Context, target string) (matrix.Verdict, string) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return matrix.Error, fmt.Sprintf("bad target %q: want http://host:port/path, tcp://host:port or dns+udp://name", target)
	}
	switch u.Scheme {
	case "dns+udp", "dns+tcp":
		return c.lookup(ctx, u.Host, strings.TrimPrefix(u.Scheme, "dns+"))
	case "http", "tcp":
		conn, v, detail := c.dial(ctx, u.Host)
		if conn == nil {
			return v, detail
		}
		defer conn.Close()
		if u.Scheme == "tcp" {
			return matrix.Allowed, "connected"
		}
		return get(ctx, conn, u)
	default:
		return matrix.Error, fmt.Sprintf("unknown scheme %q", u.Scheme)
	}
}

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

func (c Checker) lookup(ctx context.Context, name, network string) (matrix.Verdict, string) {
	addrs, err := c.resolver(network).LookupHost(ctx, name)
	if err == nil {
		return matrix.Allowed, strings.Join(addrs, ",")
	}
	var dnsErr *net.DNSError
	if ctx.Err() != nil || (errors.As(err, &dnsErr) && dnsErr.IsTimeout) {
		return matrix.Blocked, "lookup timed out: " + err.Error()
	}
	return matrix.Error, err.Error()
}

func (c Checker) dial(ctx context.Context, hostport string) (net.Conn, matrix.Verdict, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, matrix.Error, err.Error()
	}
	ip := host
	if net.ParseIP(host) == nil {
		addrs, err := c.resolver("").LookupHost(ctx, host)
		if err != nil || len(addrs) == 0 {
			return nil, matrix.DNSFailure, fmt.Sprintf("lookup %s: %v", host, err)
		}
		ip = addrs[0]
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
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

// RunCheck is `star check`: it prints the results and returns an error only for bad usage.
func (c Checker) RunCheck(ctx context.Context, targets []string) error {
	if len(targets) == 0 {
		return errors.New("check needs at least one target")
	}
	return WriteResults(os.Stdout, c.Check(ctx, targets))
}

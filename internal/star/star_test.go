package star

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// fakeDNS answers A 127.0.0.1 (except for names starting with v6) and AAAA ::1 for names
// under .test, NXDOMAIN for the rest, over UDP and TCP on one loopback port. Tests never
// ask the machine's real DNS servers.
func fakeDNS(t *testing.T) string {
	t.Helper()
	// One port number for both: a free UDP port whose TCP twin is free too (another
	// program may hold it; a few tries find one).
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	require.NoError(t, err, "no loopback port free for both UDP and TCP")
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(dnsAnswer(buf[:n]), addr)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var l uint16
				if binary.Read(c, binary.BigEndian, &l) != nil {
					return
				}
				q := make([]byte, l)
				if _, err := c.Read(q); err != nil {
					return
				}
				a := dnsAnswer(q)
				_ = binary.Write(c, binary.BigEndian, uint16(len(a)))
				_, _ = c.Write(a)
			}()
		}
	}()
	return pc.LocalAddr().String()
}

func dnsAnswer(q []byte) []byte {
	// Question name ends at the first zero byte after the 12-byte header; then type+class.
	end := 12 + bytes.IndexByte(q[12:], 0) + 5
	name, qtype := q[12:end-4], binary.BigEndian.Uint16(q[end-4:])
	resp := append([]byte{}, q[:end]...)
	resp[2] |= 0x84 // QR, AA
	resp[3] = 0x80  // RA
	if !bytes.HasSuffix(name, []byte("\x04test\x00")) {
		resp[3] |= 3 // NXDOMAIN
		return resp
	}
	switch {
	case qtype == 1 && !bytes.HasPrefix(name[1:], []byte("v6")):
		binary.BigEndian.PutUint16(resp[6:], 1)
		return append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1)
	case qtype == 28:
		binary.BigEndian.PutUint16(resp[6:], 1)
		return append(resp, append([]byte{0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16}, net.IPv6loopback...)...)
	}
	return resp // no record of that type: an empty answer
}

// blackhole returns a loopback address whose SYNs are dropped: a listener with a backlog
// of 0 whose queue is already full, so the kernel ignores further connection attempts and
// the client times out, as it does against a Calico drop.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	t.Cleanup(func() { syscall.Close(fd) })
	// Fill the accept queue; these connections are never accepted.
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// silentUDP is a DNS server that never answers.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestCheckVerdicts(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
		}
	}))
	defer ok.Close()
	_, okPort, _ := net.SplitHostPort(strings.TrimPrefix(ok.URL, "http://"))
	dns := fakeDNS(t)
	c := Checker{Timeout: 700 * time.Millisecond, DNSServer: dns}
	cases := []struct {
		target string
		want   matrix.Verdict
	}{
		{ok.URL + "/status", matrix.Allowed},
		{"http://app.test:" + okPort + "/status", matrix.Allowed},
		{"tcp://app.test:" + okPort, matrix.Allowed},
		{ok.URL + "/missing", matrix.Error},
		{"http://" + blackhole(t) + "/status", matrix.Blocked},
		{"tcp://" + blackhole(t), matrix.Blocked},
		{"tcp://" + blackhole(t), matrix.Blocked},
		{"tcp://" + blackhole(t), matrix.Blocked},
		{"http://" + closedPort(t) + "/status", matrix.Refused},
		{"http://no-such-name.invalid:80/status", matrix.DNSFailure},
		{"dns+udp://app.test", matrix.Allowed},
		{"dns+tcp://app.test", matrix.Allowed},
		{"dns+udp://no-such-name.invalid", matrix.Error},
		{"ftp://x:1", matrix.Error},
		{"::bad", matrix.Error},
	}
	targets := make([]string, len(cases))
	for i, tc := range cases {
		targets[i] = tc.target
	}
	start := time.Now()
	results := c.Check(context.Background(), targets)
	elapsed := time.Since(start)
	for i, tc := range cases {
		require.Equal(t, tc.target, results[i].URL)
		require.Equal(t, tc.want.String(), results[i].Verdict.String(), "%s: %s", tc.target, results[i].Detail)
	}
	// Concurrent: four timeouts and everything else take about one timeout, not the sum.
	require.Less(t, elapsed, 5*c.Timeout/2, "targets must be probed concurrently")
}

// "+ipv6" resolves names to IPv6 addresses only and connects over IPv6: a server that
// listens on IPv4 alone is refused there, one on ::1 answers; plain targets stay IPv4.
func TestCheckPerFamily(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	require.NoError(t, err)
	v6 := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second}}
	v6.Start()
	defer v6.Close()
	_, v6Port, _ := net.SplitHostPort(ln.Addr().String())
	v4 := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer v4.Close()
	_, v4Port, _ := net.SplitHostPort(strings.TrimPrefix(v4.URL, "http://"))
	c := Checker{Timeout: 700 * time.Millisecond, DNSServer: fakeDNS(t)}
	for _, tc := range []struct {
		target, detail string
		want           matrix.Verdict
	}{
		{"http+ipv6://app.test:" + v6Port + "/status", "HTTP 200", matrix.Allowed},
		{"http+ipv6://[::1]:" + v6Port + "/status", "HTTP 200", matrix.Allowed},
		{"tcp+ipv6://app.test:" + v4Port, "[::1]:" + v4Port, matrix.Refused},
		{"http+ipv4://app.test:" + v4Port + "/status", "HTTP 200", matrix.Allowed},
		{"http://v6only.test:" + v6Port + "/status", "lookup v6only.test", matrix.DNSFailure},
		{"http+ipv6://v6only.test:" + v6Port + "/status", "HTTP 200", matrix.Allowed},
		{"dns+udp+ipv6://app.test", "::1", matrix.Allowed},
		{"dns+tcp+ipv6://app.test", "::1", matrix.Allowed},
		{"dns+udp://app.test", "127.0.0.1", matrix.Allowed},
	} {
		r := c.Check(context.Background(), []string{tc.target})[0]
		require.Equal(t, tc.want, r.Verdict, "%s: %s", tc.target, r.Detail)
		require.Contains(t, r.Detail, tc.detail, tc.target)
	}
}

func TestCheckDNSBlockedIsATimeout(t *testing.T) {
	c := Checker{Timeout: 500 * time.Millisecond, DNSTimeout: 500 * time.Millisecond, DNSServer: silentUDP(t)}
	rs := c.Check(context.Background(), []string{"dns+udp://app.test", "http://app.test:80/status"})
	require.Equal(t, matrix.Blocked, rs[0].Verdict, rs[0].Detail)
	// A service probe whose name cannot be resolved is a DNS failure, never "blocked".
	require.Equal(t, matrix.DNSFailure, rs[1].Verdict, rs[1].Detail)
}

// lossyDNS answers like fakeDNS over UDP but drops the first query it gets.
func lossyDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for n := 0; ; n++ {
			k, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n > 0 {
				_, _ = pc.WriteTo(dnsAnswer(buf[:k]), addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestCheckRetriesALostDNSQuery(t *testing.T) {
	c := Checker{Timeout: 500 * time.Millisecond, DNSTimeout: 2 * time.Second, DNSServer: lossyDNS(t)}
	rs := c.Check(context.Background(), []string{"dns+udp://app.test"})
	require.Equal(t, matrix.Allowed, rs[0].Verdict, rs[0].Detail)
	require.GreaterOrEqual(t, rs[0].Millis, dnsAttempt.Milliseconds(), "the first attempt was lost and retried")
}

func TestResultsRoundTrip(t *testing.T) {
	in := []matrix.Result{{URL: "a", Verdict: matrix.Blocked, Millis: 1000, Detail: "x"}, {URL: "b", Verdict: matrix.Allowed}}
	var buf bytes.Buffer
	require.NoError(t, WriteResults(&buf, in))
	require.Contains(t, buf.String(), `"verdict":"blocked"`)
	out, err := ParseResults(&buf)
	require.NoError(t, err)
	require.Equal(t, in, out)
	_, err = ParseResults(strings.NewReader("exec failed: star not found\n"))
	require.Error(t, err)
}

func TestProbeAndCollectorDrawTheGraph(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Two probes: a reaches b; b tries a closed port.
	srvB := httptest.NewServer(nil)
	pa := &Prober{Name: "a", URLs: []string{srvB.URL + "/status"}, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	srvA := httptest.NewServer(pa.Handler())
	defer srvA.Close()
	pb := &Prober{Name: "b", URLs: []string{srvA.URL + "/status", "http://" + closedPort(t) + "/status"}, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	srvB.Config.Handler = pb.Handler()
	defer srvB.Close()
	go pa.Run(ctx)
	go pb.Run(ctx)

	col := &Collector{
		Version: "v2", Probes: []NamedURL{{"a", srvA.URL + "/status"}, {"b", srvB.URL + "/status"}, {"gone", "http://" + closedPort(t) + "/status"}},
		Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Client: &http.Client{},
	}
	ui := httptest.NewServer(col.Handler("management-ui"))
	defer ui.Close()
	go col.Run(ctx)

	require.Eventually(t, func() bool {
		g := col.Graph()
		return len(g.Edges) == 2
	}, 5*time.Second, 50*time.Millisecond)
	resp, err := http.Get(ui.URL + "/graph.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var g Graph
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&g))
	require.Equal(t, "v2", g.Version)
	require.ElementsMatch(t, []Edge{{"a", "b"}, {"b", "a"}}, g.Edges)
	require.Equal(t, []Node{{"a", true}, {"b", true}, {"gone", false}}, g.Nodes)

	page, err := http.Get(ui.URL + "/")
	require.NoError(t, err)
	defer page.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(page.Body)
	require.Contains(t, body.String(), "graph.json")

	st := pb.Status()
	require.Equal(t, "b", st.Name)
	require.Len(t, st.Reaches, 2)
	require.True(t, st.Reaches[0].Reachable)
	require.Equal(t, matrix.Refused, st.Reaches[1].Verdict)
}

func TestParseNamedURLs(t *testing.T) {
	got, err := ParseNamedURLs("a=http://x:1/status, b=http://y:2/status")
	require.NoError(t, err)
	require.Equal(t, []NamedURL{{"a", "http://x:1/status"}, {"b", "http://y:2/status"}}, got)
	_, err = ParseNamedURLs("a")
	require.Error(t, err)
	_, err = ParseNamedURLs("")
	require.Error(t, err)
}

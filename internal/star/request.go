package star

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Request is one `star check` invocation: the one definition of its command line. The
// harness builds the argv with Argv (rounds, watches, holds, repro commands); star parses
// it with ParseRequest; fakes and in-process twins parse it the same way.
type Request struct {
	// Timeout bounds each connection (default 1s); DNSTimeout name resolution (0: star's default).
	Timeout, DNSTimeout time.Duration
	// DNSServer ("host:port") replaces /etc/resolv.conf's servers.
	DNSServer string
	// Watch, when set, probes every target on that fixed schedule (one JSON Result line per probe).
	Watch time.Duration
	// Hold, when set, keeps a connection per target open, one exchange every Hold
	// (HoldEvent lines); ReplyBudget is the longest a reply may take.
	Hold, ReplyBudget time.Duration
	// Session, when set, answers rounds read on stdin (RoundRequest lines) until stdin
	// closes: one long-lived exec per source instead of one per round.
	Session bool
	// Max bounds a watch or hold; StdinStop ends it when stdin closes.
	Max       time.Duration
	StdinStop bool
	Targets   []string
}

// Argv is the command line that runs the request with the star binary at path binary.
func (r Request) Argv(binary string) []string {
	cmd := []string{binary, "check", "--timeout", orDefault(r.Timeout, time.Second).String()}
	if r.DNSTimeout > 0 {
		cmd = append(cmd, "--dns-timeout", r.DNSTimeout.String())
	}
	if r.DNSServer != "" {
		cmd = append(cmd, "--dns-server", r.DNSServer)
	}
	switch {
	case r.Session:
		cmd = append(cmd, "--session")
	case r.Watch > 0:
		cmd = append(cmd, "--watch", r.Watch.String())
	case r.Hold > 0:
		cmd = append(cmd, "--hold", r.Hold.String(), "--reply-budget", orDefault(r.ReplyBudget, time.Second).String())
	}
	if r.Watch > 0 || r.Hold > 0 {
		cmd = append(cmd, "--max", orDefault(r.Max, 30*time.Minute).String())
		if r.StdinStop {
			cmd = append(cmd, "--stdin-stop")
		}
	}
	return append(cmd, r.Targets...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ParseRequest reads the arguments after "check".
func ParseRequest(args []string) (Request, error) {
	var r Request
	fs := flag.NewFlagSet("star check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&r.Timeout, "timeout", time.Second, "timeout per target")
	fs.DurationVar(&r.DNSTimeout, "dns-timeout", DefaultDNSTimeout, "name resolution budget per target (lookups are retried within it)")
	fs.StringVar(&r.DNSServer, "dns-server", "", "DNS server host:port (default: /etc/resolv.conf)")
	fs.DurationVar(&r.Watch, "watch", 0, "probe continuously on this schedule")
	fs.DurationVar(&r.Hold, "hold", 0, "hold one connection per target open, one exchange every interval")
	fs.DurationVar(&r.ReplyBudget, "reply-budget", time.Second, "--hold: a reply later than this is a disruption")
	fs.DurationVar(&r.Max, "max", 30*time.Minute, "--watch/--hold: stop after this long at the latest")
	fs.BoolVar(&r.StdinStop, "stdin-stop", false, "--watch/--hold: stop when stdin is closed")
	fs.BoolVar(&r.Session, "session", false, "answer rounds read on stdin until it closes")
	if err := fs.Parse(args); err != nil {
		return r, fmt.Errorf("check: %w", err)
	}
	r.Targets = fs.Args()
	switch {
	case r.Session && (len(r.Targets) > 0 || r.Watch > 0 || r.Hold > 0):
		return r, errors.New("--session takes its targets from stdin, and no --watch or --hold")
	case r.Session:
	case len(r.Targets) == 0:
		return r, errors.New("check needs at least one target")
	case r.Watch > 0 && r.Hold > 0:
		return r, errors.New("--watch and --hold exclude each other")
	case r.Timeout <= 0:
		return r, errors.New("--timeout must be above 0")
	}
	return r, nil
}

// Run executes the request, writing its lines to w. stdin, when the request says
// StdinStop, ends a watch or hold when it closes.
func (r Request) Run(ctx context.Context, stdin io.Reader, w io.Writer) error {
	c := Checker{Timeout: r.Timeout, DNSTimeout: r.DNSTimeout, DNSServer: r.DNSServer}
	if r.Session {
		if stdin == nil {
			return errors.New("--session needs stdin")
		}
		return c.Session(ctx, stdin, w)
	}
	if r.Watch == 0 && r.Hold == 0 {
		return WriteResults(w, c.Check(ctx, r.Targets))
	}
	ctx, cancel := context.WithTimeout(ctx, r.Max)
	defer cancel()
	if r.StdinStop && stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	if r.Hold > 0 {
		return c.Hold(ctx, r.Targets, r.Hold, r.ReplyBudget, w)
	}
	return c.Watch(ctx, r.Targets, r.Watch, w)
}

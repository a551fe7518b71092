// Command star is the workshop's demo app: `star probe`, `star collect` (the management UI)
// and `star check` (what the harness execs inside pods). See internal/star.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/star"
)

const usage = `usage:
  star probe   --name NAME --listen :PORT --urls URL,URL... [--interval 2s] [--timeout 1s]
  star collect --name NAME --listen :PORT --probes name=URL,... [--ui-version v1] [--interval 2s]
  star check   [--timeout 1s] [--dns-timeout 5s] [--dns-server host:port] [--watch 250ms | --hold 100ms [--reply-budget 1s]] [--max 30m] [--stdin-stop] TARGET...
               --watch: probe each target on a fixed schedule, one JSON line per probe
               --hold: keep one connection per http target open, a request and its reply
               every interval; JSON lines for opens, disruptions and counters
               both run until --max passes, a signal arrives or (--stdin-stop) stdin closes
               TARGET: http://host:port/path | tcp://host:port | dns+udp://name | dns+tcp://name
  star restart-server
               make this container's star (PID 1) restart its HTTP server, cutting every
               open connection
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "star: %v\n", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
		}
		os.Exit(2)
	}
}

// errUsage marks errors after which the usage is printed.
var errUsage = errors.New("see usage")

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no mode given: %w", errUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if args[0] == "check" {
		req, err := star.ParseRequest(args[1:])
		if err != nil {
			return fmt.Errorf("%w: %w", err, errUsage)
		}
		return req.Run(ctx, os.Stdin, os.Stdout)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	fs := flag.NewFlagSet("star "+args[0], flag.ContinueOnError)
	name := fs.String("name", "", "this app's name")
	listen := fs.String("listen", "", "address to serve HTTP on")
	interval := fs.Duration("interval", 2*time.Second, "poll interval")
	timeout := fs.Duration("timeout", time.Second, "timeout per target")
	urls := fs.String("urls", "", "comma-separated URLs this probe tries to reach")
	probes := fs.String("probes", "", "comma-separated name=URL of every probe's /status")
	uiVersion := fs.String("ui-version", "v1", "UI version shown on the page")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "restart-server":
		// star serves as its container's first process.
		return syscall.Kill(1, syscall.SIGHUP)
	case "probe":
		if *name == "" || *listen == "" {
			return fmt.Errorf("probe needs --name and --listen: %w", errUsage)
		}
		p := &star.Prober{Name: *name, URLs: splitList(*urls), Interval: *interval, Timeout: *timeout}
		go p.Run(ctx)
		return star.Serve(ctx, *listen, p.Handler(), hup)
	case "collect":
		list, err := star.ParseNamedURLs(*probes)
		if err != nil {
			return err
		}
		if *name == "" || *listen == "" {
			return fmt.Errorf("collect needs --name and --listen: %w", errUsage)
		}
		// A fresh connection per poll, as `star check` makes: what the page shows is what
		// a new connection finds now, not what a kept-alive one found before a policy
		// changed (one run saw an app "not answering" the UI for 90 s while every new
		// connection from the same pod reached it).
		c := &star.Collector{Version: *uiVersion, Probes: list, Interval: *interval, Timeout: *timeout, Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
		go c.Run(ctx)
		return star.Serve(ctx, *listen, c.Handler(*name), hup)
	default:
		return fmt.Errorf("unknown mode %q: %w", args[0], errUsage)
	}
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/versions"
)

// NetpolFocus selects the upstream Netpol specs (as Calico's CI focuses them).
const NetpolFocus = `\[sig-network\] Netpol`

// sctpSkip leaves out the Netpol specs that need SCTP connectivity.
const sctpSkip = `\[Feature:SCTPConnectivity\]`

// Env is what a suite runs against.
type Env struct {
	Kubeconfig string
	// Dir receives each suite's log and report (a folder per suite).
	Dir string
	// SCTP says whether this kernel opens SCTP sockets (SCTPSupport), and if not why.
	SCTP       bool
	SCTPReason string
}

// SCTPSupport reports whether the kernel the nodes share opens an SCTP socket; if not,
// why (the specs and conformance tests that need it cannot pass here).
func SCTPSupport() (bool, string) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_SCTP)
	if err != nil {
		return false, fmt.Sprintf("this kernel opens no SCTP socket (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): %v); the kind nodes share it", err)
	}
	syscall.Close(fd)
	return true, ""
}

// Netpol runs the upstream Netpol specs (every one the focus selects, SCTP connectivity
// left out when the kernel lacks SCTP).
func Netpol(ctx context.Context, e Env) (*report.PeerSuite, error) {
	dir := filepath.Join(e.Dir, "kubernetes-netpol")
	s := &report.PeerSuite{Suite: "kubernetes-netpol", Version: versions.Kubernetes}
	args := NetpolArgs(e.Kubeconfig, dir, !e.SCTP)
	if !e.SCTP {
		s.Skips = []report.PeerSkip{{Specs: sctpSkip, Reason: e.SCTPReason}}
	}
	out, exit, err := runSuite(ctx, s, dir, versions.NetpolE2EBinary(), args, nil)
	if err != nil {
		return s, err
	}
	s.Probes = strings.Count(out, "Starting probe from pod ")
	junit, err := os.ReadFile(filepath.Join(dir, "junit_01.xml"))
	if err != nil {
		return s, fmt.Errorf("the suite wrote no JUnit report: %w", err)
	}
	if s.Specs, err = ParseJUnit(junit); err != nil {
		return s, err
	}
	explainSkips(s)
	return s, exitWithoutFailure(s, exit, dir)
}

// exitWithoutFailure is an error when the suite's binary failed (a non-zero exit) while
// none of its specs did: something outside the specs went wrong, and passing specs must
// not hide it.
func exitWithoutFailure(s *report.PeerSuite, exit int, dir string) error {
	if exit == 0 || len(s.Failed()) > 0 {
		return nil
	}
	return fmt.Errorf("the suite exited with status %d although no spec failed: see %s", exit, filepath.Join(dir, "output.log"))
}

// explainSkips gives each skipped spec the reason of the skip expression that left it
// out; a spec skipped for no reason of ours keeps the suite's message.
func explainSkips(s *report.PeerSuite) {
	for i, spec := range s.Specs {
		if spec.Verdict != report.PeerSkipped {
			continue
		}
		for _, k := range s.Skips {
			if regexp.MustCompile(k.Specs).MatchString(spec.Name) {
				s.Specs[i].Message = k.Reason
			}
		}
	}
}

// NetpolArgs are the Netpol suite binary's arguments.
func NetpolArgs(kubeconfig, reportDir string, skipSCTP bool) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig, "--provider=skeleton", "--report-dir=" + reportDir,
		"--ginkgo.focus=" + NetpolFocus, "--ginkgo.v", "--ginkgo.no-color", "--ginkgo.timeout=2h",
	}
	if skipSCTP {
		args = append(args, "--ginkgo.skip="+sctpSkip)
	}
	return args
}

// Conformance runs the network-policy-api conformance profiles of the API a Calico
// version enforces.
func Conformance(ctx context.Context, e Env, api versions.NetworkPolicyAPI, calicoVersion string) (*report.PeerSuite, error) {
	dir := filepath.Join(e.Dir, "network-policy-api")
	s := &report.PeerSuite{Suite: "network-policy-api", Version: api.Module, Profiles: api.Profiles}
	skip := ""
	var skipped []string
	if !e.SCTP {
		// Every subtest that probes over SCTP (its code says so), each listed as skipped:
		// a probe the kernel cannot make would fail it at that probe.
		subs, err := readSubtests(versions.ConformanceSubtestsFile(api.Module))
		if err != nil {
			return s, err
		}
		if skip, skipped, err = SCTPSkip(subs); err != nil {
			return s, err
		}
		why := e.SCTPReason + "; the base manifests' SCTP servers log that and serve nothing (agnhost 2.45's porter, patched here not to exit)"
		s.Skips = []report.PeerSkip{{Specs: fmt.Sprintf("the %d subtests that probe over SCTP", len(skipped)), Reason: why}}
		for _, p := range skipped {
			s.Specs = append(s.Specs, report.PeerSpec{Name: "TestConformanceProfiles/" + p, Verdict: report.PeerSkipped, Message: "probes over SCTP: " + e.SCTPReason})
		}
	}
	args := ConformanceArgs(api, calicoVersion, filepath.Join(dir, "conformance-report.yaml"), skip)
	out, exit, err := runSuite(ctx, s, dir, versions.ConformanceBinary(api.Module), args, []string{"KUBECONFIG=" + e.Kubeconfig})
	if err != nil {
		return s, err
	}
	ran := ParseGoTest(out)
	if len(ran) == 0 {
		return s, fmt.Errorf("the conformance suite reported no test (exit status %d): see %s", exit, filepath.Join(dir, "output.log"))
	}
	s.Specs = append(ran, s.Specs...)
	return s, exitWithoutFailure(s, exit, dir)
}

func readSubtests(path string) ([]Subtest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: run `make images PEERS=1`", err)
	}
	var subs []Subtest
	if err := json.Unmarshal(data, &subs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return subs, nil
}

// ConformanceArgs are the conformance binary's arguments: its profiles' tests (the
// standard features), a report naming the implementation, and a -test.skip expression
// when there is one.
func ConformanceArgs(api versions.NetworkPolicyAPI, calicoVersion, reportFile, skip string) []string {
	args := []string{
		"-test.v", "-test.run=TestConformanceProfiles", "-test.timeout=90m",
		"-conformance-profiles=" + strings.Join(api.Profiles, ","),
		"-organization=projectcalico", "-project=calico", "-url=https://github.com/projectcalico/calico",
		"-version=" + calicoVersion, "-contact=netpol-e2e", "-additional-info=netpol-e2e make peers (this machine)", "-report-output=" + reportFile,
	}
	if skip != "" {
		args = append(args, "-test.skip="+skip)
	}
	return args
}

// runSuite runs a suite binary in dir, its output into dir/output.log, and sets the
// suite's command and wall time. It returns the output and the exit status (a failing
// spec exits non-zero: the caller decides from what it parses); an error only when the
// binary could not run.
func runSuite(ctx context.Context, s *report.PeerSuite, dir, bin string, args, env []string) (string, int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	s.Command = strings.Join(append(append(append([]string{}, env...), bin), quoteAll(args)...), " ")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// The output goes to dir/output.log as it comes (tail it while the suite runs).
	log, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		return "", 0, err
	}
	defer log.Close()
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	err = cmd.Run()
	s.Wall = time.Since(start)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return out.String(), 0, fmt.Errorf("%s: %w", bin, err)
	}
	return out.String(), 0, nil
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, ` \[]()*$`) {
			out[i] = "'" + a + "'"
		}
	}
	return out
}

type junitReport struct {
	Suites []struct {
		Cases []struct {
			Name    string  `xml:"name,attr"`
			Time    float64 `xml:"time,attr"`
			Status  string  `xml:"status,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ParseJUnit reads the specs of ginkgo's JUnit report (the e2e framework's --report-dir,
// which lists the specs the focus selects; those the skip expression leaves out are
// "skipped"). The suite's own before/after-suite nodes are dropped unless they failed.
func ParseJUnit(data []byte) ([]report.PeerSpec, error) {
	var r junitReport
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("JUnit report: %w", err)
	}
	var out []report.PeerSpec
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			if strings.HasPrefix(c.Name, "[SynchronizedBeforeSuite]") || strings.HasPrefix(c.Name, "[SynchronizedAfterSuite]") ||
				strings.HasPrefix(c.Name, "[BeforeSuite]") || strings.HasPrefix(c.Name, "[AfterSuite]") || strings.HasPrefix(c.Name, "[ReportAfterSuite]") {
				if c.Failure == nil && c.Error == nil {
					continue
				}
			}
			spec := report.PeerSpec{Name: c.Name, Verdict: report.PeerPassed, Duration: time.Duration(c.Time * float64(time.Second))}
			switch {
			case c.Failure != nil:
				spec.Verdict, spec.Message = report.PeerFailed, failureText(c.Failure.Message, c.Failure.Text)
			case c.Error != nil:
				spec.Verdict, spec.Message = report.PeerFailed, failureText(c.Error.Message, c.Error.Text)
			case c.Skipped != nil:
				spec.Verdict, spec.Message = report.PeerSkipped, c.Skipped.Message
			}
			out = append(out, spec)
		}
	}
	return out, nil
}

// failureText is a JUnit failure's message and text, the message once when the text
// repeats it.
func failureText(msg, text string) string {
	msg, text = strings.TrimSpace(msg), strings.TrimSpace(text)
	if strings.Contains(text, msg) {
		return text
	}
	return strings.TrimSpace(msg + "\n" + text)
}

var (
	goTestResult = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)$`)
	goTestHeader = regexp.MustCompile(`^=== (RUN|NAME|CONT|PAUSE)\s+(\S+)$`)
)

// maxMessageLines bounds a failed or skipped subtest's message (its last log lines).
const maxMessageLines = 12

// ParseGoTest reads `go test -v` output: every innermost subtest's verdict and duration
// (a test that holds subtests is their sum, and the test function is left out), a failed
// or skipped one's message the last of the log lines go printed under its "=== RUN"
// header (-v streams them there, before the results).
func ParseGoTest(out string) []report.PeerSpec {
	logs := map[string][]string{}
	current := ""
	var specs []report.PeerSpec
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if m := goTestHeader.FindStringSubmatch(l); m != nil {
			current = m[2]
			continue
		}
		m := goTestResult.FindStringSubmatch(l)
		if m == nil {
			if current != "" && strings.HasPrefix(l, " ") {
				logs[current] = append(logs[current], strings.TrimSpace(l))
			}
			continue
		}
		current = ""
		if !strings.Contains(m[2], "/") {
			continue
		}
		secs, _ := strconv.ParseFloat(m[3], 64)
		spec := report.PeerSpec{Name: m[2], Duration: time.Duration(secs * float64(time.Second))}
		switch m[1] {
		case "PASS":
			spec.Verdict = report.PeerPassed
		case "SKIP":
			spec.Verdict = report.PeerSkipped
		default:
			spec.Verdict = report.PeerFailed
		}
		if spec.Verdict != report.PeerPassed {
			lines := logs[m[2]]
			spec.Message = strings.Join(lines[max(0, len(lines)-maxMessageLines):], "\n")
		}
		specs = append(specs, spec)
	}
	return slices.DeleteFunc(specs, func(s report.PeerSpec) bool {
		return slices.ContainsFunc(specs, func(o report.PeerSpec) bool { return strings.HasPrefix(o.Name, s.Name+"/") })
	})
}

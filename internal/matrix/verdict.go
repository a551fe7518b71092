package matrix

import "fmt"

// Verdict is the outcome of one probe (or the expectation for one cell). It is an enum,
// never a bool: only a timeout is "blocked"; a refused connection or a failed name lookup
// where blocked is expected means the test itself is broken, and must say so.
type Verdict byte

const (
	// NotProbed marks self cells and cells nobody probed.
	NotProbed Verdict = iota
	// Allowed means the connection was made and the target answered.
	Allowed
	// Blocked means the connection timed out (Calico drops denied packets).
	Blocked
	// Refused means nothing listened on the port; the topology is wrong, not the policy.
	Refused
	// DNSFailure means the target's name did not resolve.
	DNSFailure
	// Error means anything else (exec failed, bad HTTP answer...).
	Error
)

var verdictSymbols = [...]string{
	NotProbed:  "-",
	Allowed:    ".",
	Blocked:    "X",
	Refused:    "R",
	DNSFailure: "D",
	Error:      "!",
}

var verdictNames = [...]string{
	NotProbed:  "not-probed",
	Allowed:    "allowed",
	Blocked:    "blocked",
	Refused:    "refused",
	DNSFailure: "dns-failure",
	Error:      "error",
}

// Symbol is the one-character form used in truth tables.
func (v Verdict) Symbol() string {
	if int(v) < len(verdictSymbols) {
		return verdictSymbols[v]
	}
	return "?"
}

// String is the long name, as `star check` prints it.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", byte(v))
}

// MarshalText makes verdicts readable in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText accepts the long name or the symbol.
func (v *Verdict) UnmarshalText(b []byte) error {
	p, err := ParseVerdict(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// ParseVerdict accepts a symbol (".", "X", ...) or a long name ("allowed", ...).
func ParseVerdict(s string) (Verdict, error) {
	for i := range verdictSymbols {
		if s == verdictSymbols[i] || s == verdictNames[i] {
			return Verdict(i), nil
		}
	}
	return NotProbed, fmt.Errorf("unknown verdict %q (want one of . X R D ! - or allowed, blocked, refused, dns-failure, error, not-probed)", s)
}

// Legend explains the symbols; printed under every table.
const Legend = ". allowed  X blocked (timeout)  R refused  D dns-failure  ! error  - not probed"

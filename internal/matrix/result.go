package matrix

import "time"

// Result is what one probe of one cell found: the one per-cell result type, from the probe
// to the report. `star check` writes it (URL set, the cell left empty: star knows targets,
// not columns); the probe engine and the rollout watcher name the cell and add the exec's
// wall time and a repro command; the report renders it. It is never parsed back from text.
type Result struct {
	Cell
	// URL is the target as star probed it (http://host:port/path, dns+udp://name, ...).
	URL     string  `json:"url"`
	Verdict Verdict `json:"verdict"`
	// Millis is star's own timing of the probe.
	Millis int64  `json:"ms"`
	Detail string `json:"detail,omitempty"`
	// At is when the probe started (set by watches, which judge time lines).
	At time.Time `json:"at,omitzero"`
	// ExecMillis is the wall time of the exec or session round that carried the probe
	// (API round trip included).
	ExecMillis int64 `json:"execMs,omitempty"`
	// Repro is a command a person can paste to probe this cell again (wrong cells only).
	Repro string `json:"repro,omitempty"`
}

// Took is how long the probe took, by star's clock.
func (r Result) Took() time.Duration { return time.Duration(r.Millis) * time.Millisecond }

// Package report writes what a run observed: per step the expected and observed matrices,
// the diff with a repro command per wrong cell, and the enforcement latency; as terminal
// text, JSON (every cell) and JUnit XML (one case per step).
package report

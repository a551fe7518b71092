// Package matrix owns the truth table of a step: which source reaches which target, as a
// verdict per cell. It parses and prints the fixture text format, compares an expected
// matrix with an observed one and renders the difference. It imports nothing of ours.
package matrix

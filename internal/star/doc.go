// Package star is the demo app, our own replacement for the workshop's star-probe and
// star-collect images: probe mode serves /status and polls its URLs, collect mode (the
// management UI) polls every probe and draws who reaches whom, and check mode (what the
// harness execs inside pods) probes many targets concurrently and prints one JSON verdict
// per target.
package star

// Package uicheck is the workshop's visual checked: the management UI opened in headless
// Chromium (internal/browser) must draw exactly the arrows the harness observes between the
// UI's apps, at a step whose fixture a full round matched first; its screenshot goes into
// the report.
package uicheck

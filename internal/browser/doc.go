// Package browser opens the management UI (`star collect`) in a real browser: Debian's
// Chromium, headless, driven through the DevTools protocol (chromedp). It reads the graph
// the page drew (its SVG, not graph.json) and takes a screenshot. The browser may reach
// only the address it is given: every host name resolves to nothing.
package browser

package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateFlagTable = flag.Bool("update-flag-table", false, "rewrite docs/flags.md from the flag definitions (make flags)")

// flagTablePath is the generated reference of every flag.
const flagTablePath = "docs/flags.md"

// flagTable renders every flag of the suite (those of the test binary and of ginkgo, which
// a dependency links, have a dot in their names and are not ours): name,
// environment variable, default as written in flags_test.go, and its usage text.
func flagTable() (string, error) {
	var b strings.Builder
	b.WriteString("# Flags of the live suite\n\n" +
		"Generated from `e2e/flags_test.go` by `make flags`; `make test` fails when this file\n" +
		"and the definitions differ. Pass flags after `-args` (`make e2e E2E_FLAGS=\"-keep-cluster\"`)\n" +
		"or set the environment variable (`NETPOL_KEEP_CLUSTER=true`); a flag given wins over its\n" +
		"variable, and the report's environment says so.\n\n" +
		"| flag | environment | default | meaning |\n|---|---|---|---|\n")
	var missing []string
	flag.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Name, ".") || f.Name == "update-flag-table" {
			return
		}
		env := "NETPOL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		def, ok := envDefaults[env]
		if !ok {
			missing = append(missing, "-"+f.Name)
			return
		}
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | `%s` | %s |\n", f.Name, env, def, strings.ReplaceAll(f.Usage, "|", "\\|"))
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("flags without an environment variable of their name (NETPOL_ + upper-case name, read with env*() in flags_test.go): %s", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

// TestFlagTable: docs/flags.md is what the flag definitions say (make flags rewrites it).
func TestFlagTable(t *testing.T) {
	want, err := flagTable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot, flagTablePath)
	if *updateFlagTable {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v: run `make flags`", flagTablePath, err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the flag definitions in e2e/flags_test.go: run `make flags` and commit it", flagTablePath)
	}
}

package calico

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// Both shapes of a calico binary's version output: one line (up to v3.30), pkg/buildinfo's
// three (from v3.31); an empty version string stays empty (a build without its ldflags).
func TestReportedVersion(t *testing.T) {
	require.Equal(t, "v3.29.7", reportedVersion("v3.29.7\n"))
	require.Equal(t, "v3.31.7", reportedVersion("Version:      v3.31.7\nBuild date:   \nGit commit:   94bd1d5b\n"))
	require.Empty(t, reportedVersion("Version:      \nBuild date:   \nGit commit:   \n"))
}

// The v3.33 line has no calico-node or kube-controllers binary: both pods run `calico`.
func TestVersionCommandsFollowTheLayout(t *testing.T) {
	require.Equal(t, []string{"calico-node", "-v"}, versionCommands("v3.32.1")["calico-node"])
	require.Equal(t, []string{"/usr/bin/kube-controllers", "-version"}, versionCommands("v3.31.7")["calico-kube-controllers"])
	require.Equal(t, []string{"calico", "version"}, versionCommands("release-v3.33")["calico-node"])
	require.Equal(t, []string{"/usr/bin/calico", "version"}, versionCommands("release-v3.33")["calico-kube-controllers"])
}

// Where conntrack is missing, the listing fails instead of printing nothing (which would
// read as "no flow tracked" and let a DNS control judge without knowing).
func TestConntrackDNSCommandFailsWithoutConntrack(t *testing.T) {
	cmd := exec.Command(ConntrackDNSCommand[0], ConntrackDNSCommand[1:]...)
	cmd.Env = []string{"PATH=" + t.TempDir()}
	cmd.Path = "/bin/sh"
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out))
	require.Equal(t, 127, exit.ExitCode())
	require.Contains(t, string(out), "conntrack: not found")
}

// Package scripts holds the host's shell scripts; this test runs bootstrap-host.sh against
// stubbed host commands, so what it would change is checked without changing this host.
package scripts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// host is a stubbed host: a directory of commands put first on PATH. Each stub appends its
// arguments to calls, so a test sees what the script ran.
type host struct {
	bin, calls, status string
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{bin: t.TempDir()}
	h.calls = filepath.Join(h.bin, "calls")
	h.caps(t, "000001ffffffffff")
	return h
}

// caps sets the bounding set (CapBnd, hex) the script reads.
func (h *host) caps(t *testing.T, capbnd string) {
	t.Helper()
	h.status = filepath.Join(h.bin, "status")
	require.NoError(t, os.WriteFile(h.status, []byte("Name:\tbash\nCapBnd:\t"+capbnd+"\n"), 0o644))
}

// stub makes a command that records its call and runs body (sh).
func (h *host) stub(t *testing.T, name, body string) {
	t.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >> " + h.calls + "\n" + body + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(h.bin, name), []byte(script), 0o755))
}

func (h *host) run(t *testing.T, args ...string) (string, int, []string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"bootstrap-host.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+h.bin+":"+os.Getenv("PATH"), "BOOTSTRAP_PROC_STATUS="+h.status)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	calls, _ := os.ReadFile(h.calls)
	return string(out), code, strings.Split(strings.TrimSpace(string(calls)), "\n")
}

// base stubs a host whose engine answers, whose packages are all installed and whose
// inotify limits are as high as wanted, and whose bounding set holds every capability
// (not this machine's, which may lack CAP_SYS_RESOURCE); each test changes one thing.
func base(t *testing.T) *host {
	h := newHost(t)
	h.stub(t, "dpkg-query", "printf 'install ok installed'")
	h.stub(t, "apt-get", "exit 0")
	h.stub(t, "docker", `case "$1" in info|version) echo x;; ps) ;; esac; exit 0`)
	h.stub(t, "sysctl", `[ "$1" = -n ] && echo 1048576; exit 0`)
	h.stub(t, "df", `echo x; echo "/dev/x 1 1 104857600 1% /"`)
	return h
}

func called(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// A host that needs nothing passes without the flag and changes nothing: limits higher
// than the script's are never lowered.
func TestBootstrapNeedsNothing(t *testing.T) {
	h := base(t)
	out, code, calls := h.run(t)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "host ready")
	require.False(t, called(calls, "sysctl -q -w"), "no limit written: %v", calls)
	require.False(t, called(calls, "apt-get"), "%v", calls)
}

// Without --allow-host-changes, every change is listed and none is made: not the
// packages (installed before the consent check on the old script), not the limits.
func TestBootstrapListsChangesAndMakesNoneWithoutTheFlag(t *testing.T) {
	h := base(t)
	h.stub(t, "dpkg-query", `case "$*" in *" jq"*) exit 1;; esac; printf 'install ok installed'`)
	h.stub(t, "sysctl", `[ "$1" = -n ] && echo 8192; exit 0`)
	out, code, calls := h.run(t)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "nothing was changed")
	require.Contains(t, out, "install Debian packages: jq")
	require.Contains(t, out, "raise fs.inotify.max_user_watches from 8192 to 524288")
	require.False(t, called(calls, "apt-get"), "%v", calls)
	require.False(t, called(calls, "sysctl -q -w"), "%v", calls)

	out, code, calls = h.run(t, "--allow-host-changes")
	require.Equal(t, 0, code, out)
	require.True(t, called(calls, "apt-get install -y -qq jq"), "%v", calls)
	// Only the lower limit is raised (the stub says 8192 for both: above 512, below 524288).
	require.True(t, called(calls, "sysctl -q -w fs.inotify.max_user_watches=524288"), "%v", calls)
	require.False(t, called(calls, "sysctl -q -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances"), "%v", calls)
}

// An engine that is installed but stopped is started, not replaced by Debian's docker.io.
func TestBootstrapStartsAStoppedEngineAndInstallsNoOther(t *testing.T) {
	h := base(t)
	h.stub(t, "docker", "exit 1") // no engine answers
	h.stub(t, "dockerd", "exit 0")
	h.stub(t, "dpkg-query", `case "$*" in *docker.io*) exit 1;; esac; printf 'install ok installed'`)
	out, code, _ := h.run(t)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "start a Docker engine")
	require.NotContains(t, out, "docker.io")
}

package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// A failure keeps each problem apart, with its phase and evidence, in JSON and in text;
// a wrapped Problems is one problem, as its wrapper reads.
func TestFailureIsStructured(t *testing.T) {
	s := &Step{Name: "control", Kind: "check"}
	require.False(t, s.Failed())
	s.Evidence("dropped: nothing failed yet")
	require.Nil(t, s.Failure)

	s.Fail(Problems{"LEAK: a -> b", "DOWN: c -> d"})
	s.Evidence("conntrack: udp 10.0.0.1 -> 10.0.0.2:53")
	s.FailIn("restore", errors.New("apply: forbidden"))
	s.Fail(fmt.Errorf("calico unhealthy: %w", Problems{"x", "y"}))
	require.True(t, s.Failed())
	require.Equal(t, []Problem{
		{What: "LEAK: a -> b"},
		{What: "DOWN: c -> d", Evidence: []string{"conntrack: udp 10.0.0.1 -> 10.0.0.2:53"}},
		{Phase: "restore", What: "apply: forbidden"},
		{What: "calico unhealthy: x\ny"},
	}, s.Failure.Problems)
	require.Equal(t, "LEAK: a -> b\nDOWN: c -> d\nconntrack: udp 10.0.0.1 -> 10.0.0.2:53\nrestore: apply: forbidden\ncalico unhealthy: x\ny", s.Failure.String())
	require.Equal(t, "LEAK: a -> b", s.Failure.First())

	js, err := json.Marshal(s.Failure)
	require.NoError(t, err)
	require.JSONEq(t, `{"problems":[{"what":"LEAK: a -> b"},{"what":"DOWN: c -> d","evidence":["conntrack: udp 10.0.0.1 -> 10.0.0.2:53"]},{"phase":"restore","what":"apply: forbidden"},{"what":"calico unhealthy: x\ny"}]}`, string(js))

	outer := &Step{Name: "replay"}
	outer.FailFrom("02-deny", &Step{})
	require.False(t, outer.Failed())
	sub := &Step{}
	sub.FailIn("apply again", errors.New("timeout"))
	sub.Fail(errors.New("1 cells differ"))
	outer.FailFrom("02-deny", sub)
	require.Equal(t, []Problem{{Phase: "02-deny apply again", What: "timeout"}, {Phase: "02-deny", What: "1 cells differ"}}, outer.Failure.Problems)
	require.Equal(t, "upgrade-check", Failing("upgrade-check", "check", errors.New("no manifest")).Name)
}

//go:build ignore

// The shape of network-policy-api's conformance tests (tests/*.go), cut down: a
// ConformanceTest with a ShortName whose Test function runs subtests that poke servers.
package tests

var CNPAdminTierGress = suite.ConformanceTest{
	ShortName: "CNPAdminTierGress",
	Test: func(t *testing.T, s *suite.ConformanceTestSuite) {
		t.Run("Should support an 'allow-gress' policy across different protocols", func(t *testing.T) {
			kubernetes.PokeServer(t, s.ClientSet, &s.KubeConfig, "ns", "pod", "tcp", ip, int32(80), s.TimeoutConfig, true)
			kubernetes.PokeServer(t, s.ClientSet, &s.KubeConfig, "ns", "pod", "sctp", ip, int32(9003), s.TimeoutConfig, true)
		})
		t.Run("Should support a 'deny-gress' policy for TCP only", func(t *testing.T) {
			kubernetes.PokeServer(t, s.ClientSet, &s.KubeConfig, "ns", "pod", "tcp", ip, int32(80), s.TimeoutConfig, false)
		})
	},
}

var CNPAdminTierEgressSCTP = suite.ConformanceTest{
	ShortName: "CNPAdminTierEgressSCTP",
	Test: func(t *testing.T, s *suite.ConformanceTestSuite) {
		t.Run("Should support an 'allow-egress' policy for SCTP protocol", func(t *testing.T) {
			kubernetes.PokeServer(t, s.ClientSet, &s.KubeConfig, "ns", "pod", "sctp", ip, int32(9003), s.TimeoutConfig, true)
		})
	},
}

package check

import (
	"context"
	"time"

	"github.com/netpol-e2e/harness/internal/report"
)

// Check is one check (or workshop step) in the three phases of an e2e-framework feature:
// Setup prepares what it needs, Assess judges, Teardown undoes what Setup did (also after
// a failed Setup or Assess). All three record into one report step. The step-result
// boilerplate lives here only: the step named and timed, a phase's error recorded as a
// problem, no assessment after a failed setup.
type Check struct {
	Name, Kind string
	// The phases; nil: nothing to do in it.
	Setup, Assess, Teardown func(ctx context.Context, rs *report.Step) error

	rs *report.Step
	t0 time.Time
}

// New is a check with only an assessment.
func New(name string, assess func(ctx context.Context, rs *report.Step) error) *Check {
	return &Check{Name: name, Kind: "check", Assess: assess}
}

// step is the check's report step, begun by the first phase.
func (c *Check) step() *report.Step {
	if c.rs == nil {
		c.rs, c.t0 = &report.Step{Name: c.Name, Kind: c.Kind}, time.Now()
	}
	return c.rs
}

// Report is the check's step as the phases run so far have left it.
func (c *Check) Report() *report.Step { return c.step() }

// RunSetup runs Setup.
func (c *Check) RunSetup(ctx context.Context) {
	rs := c.step()
	if c.Setup != nil {
		if err := c.Setup(ctx, rs); err != nil {
			rs.Fail(err)
		}
	}
}

// RunAssess runs Assess, unless Setup failed.
func (c *Check) RunAssess(ctx context.Context) {
	rs := c.step()
	if c.Assess != nil && !rs.Failed() {
		if err := c.Assess(ctx, rs); err != nil {
			rs.Fail(err)
		}
	}
}

// RunTeardown runs Teardown and returns the check's step, complete and timed.
func (c *Check) RunTeardown(ctx context.Context) *report.Step {
	rs := c.step()
	if c.Teardown != nil {
		if err := c.Teardown(ctx, rs); err != nil {
			rs.FailIn("teardown", err)
		}
	}
	rs.Duration = time.Since(c.t0)
	return rs
}

// Run runs the three phases in order, as a feature does.
func (c *Check) Run(ctx context.Context) *report.Step {
	c.RunSetup(ctx)
	c.RunAssess(ctx)
	return c.RunTeardown(ctx)
}

// Later is a check made only when its setup runs, from what earlier checks prepared (a
// rollout needs the manifest an earlier check loaded): build's error fails the setup, and
// the check made then lends its phases.
func Later(name, kind string, build func() (*Check, error)) *Check {
	c := &Check{Name: name, Kind: kind}
	c.Setup = func(ctx context.Context, rs *report.Step) error {
		inner, err := build()
		if err != nil {
			return err
		}
		c.Assess, c.Teardown = inner.Assess, inner.Teardown
		if inner.Setup == nil {
			return nil
		}
		return inner.Setup(ctx, rs)
	}
	return c
}

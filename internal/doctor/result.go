// Package doctor runs the checks of `wgu doctor`: what the hub-and-spoke
// tutorial's troubleshooting section asks users to try by hand, done with
// what wgu knows (the config, the device's state, the host).
//
// Checks never change the host and never print a private key. Each check
// says what it found in the user's terms and, when something is wrong,
// the config line to change or the command to run.
package doctor

// Status is the verdict of one check.
type Status string

const (
	OK   Status = "ok"   // nothing to do
	Warn Status = "warn" // probably wrong, or could not be decided
	Fail Status = "fail" // wrong: the tunnel cannot work this way
)

// Symbol is the one-character mark of s in human output.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✔"
	case Fail:
		return "✘"
	}
	return "!"
}

// Result is what one check found.
type Result struct {
	Status Status `json:"status"`
	// ID names the check ("config.own-key", "reach.handshake", ...): stable,
	// for scripts and tests.
	ID string `json:"id"`
	// Subject is what the finding is about: a peer, an address, a service;
	// "" for the interface as a whole.
	Subject string `json:"subject,omitempty"`
	Finding string `json:"finding"`
	// Fix is the config line to change or the command to run; "" when
	// nothing is wrong.
	Fix string `json:"fix,omitempty"`
}

func ok(id, subject, finding string) Result {
	return Result{Status: OK, ID: id, Subject: subject, Finding: finding}
}

func fail(id, subject, finding, fix string) Result {
	return Result{Status: Fail, ID: id, Subject: subject, Finding: finding, Fix: fix}
}

func warn(id, subject, finding, fix string) Result {
	return Result{Status: Warn, ID: id, Subject: subject, Finding: finding, Fix: fix}
}

// Worst returns the most serious status among results (OK when empty).
func Worst(results []Result) Status {
	worst := OK
	for _, r := range results {
		switch {
		case r.Status == Fail:
			return Fail
		case r.Status == Warn:
			worst = Warn
		}
	}
	return worst
}

//go:build !unix

package hooks

import "os/exec"

// killGroupOnCancel leaves cmd as it is where there are no process groups.
func killGroupOnCancel(*exec.Cmd) {}

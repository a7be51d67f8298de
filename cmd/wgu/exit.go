package main

import "github.com/urfave/cli/v2"

// exitSilently ends the command with code and no further message, for
// failures that were already reported.
func exitSilently(code int) error { return cli.Exit("", code) }

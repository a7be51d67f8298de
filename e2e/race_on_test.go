//go:build race

package e2e

// raceBuild: this test binary was built with -race, so the wgu it builds is too (see runTests).
const raceBuild = true

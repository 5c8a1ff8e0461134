// Package setting holds the test that keeps the configuration the docs
// describe and the configuration the code reads the same: every variable
// a service, the dev stack or the simulator reads is in the README's
// configuration tables or a page they link (docs/configuration.md), with
// the code's default, and every documented variable is read by the code;
// and every service variable compose and Kubernetes set is one the code
// reads.
package setting

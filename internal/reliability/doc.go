// Package reliability is labelwatch's fault-injection suite: its tests drive
// the real watch cycle, and the real Lambda bootstrap under the Runtime
// Interface Emulator, against the SageMaker emulator, dynalite behind a
// fault-injecting proxy and a Slack server that misbehaves on demand, and
// check after every case that each transition into an alerting status is
// posted exactly once. docs/RELIABILITY.md maps each fault to its test.
package reliability

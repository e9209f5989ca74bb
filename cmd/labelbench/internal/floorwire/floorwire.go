// Package floorwire is what cmd/labelbench/floor reports to labelbench: one
// JSON line, written by one and read by the other.
package floorwire

import "time"

// Result is what one floor run did.
type Result struct {
	ListCalls int   `json:"listCalls"`
	Reads     int   `json:"reads"`
	Writes    int   `json:"writes"`
	Posts     int   `json:"posts"`
	WallNS    int64 `json:"wallNs"`
	CPUNS     int64 `json:"cpuNs"`
}

// Wall is the run's wall time.
func (r Result) Wall() time.Duration { return time.Duration(r.WallNS) }

// CPU is the run's CPU time.
func (r Result) CPU() time.Duration { return time.Duration(r.CPUNS) }

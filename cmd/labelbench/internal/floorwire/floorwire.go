// Package floorwire is what cmd/labelbench/floor reports to labelbench: one
// JSON line, written by one and read by the other.
package floorwire

// Result is the calls one floor run made. labelbench measures its CPU and
// wall time from outside, as it measures the function's.
type Result struct {
	ListCalls int `json:"listCalls"`
	Reads     int `json:"reads"`
	Writes    int `json:"writes"`
	Posts     int `json:"posts"`
}

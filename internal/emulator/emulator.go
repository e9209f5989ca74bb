// Package emulator is a wire-level SageMaker API for tests and the demo: an
// http.Handler that answers ListLabelingJobs and DescribeLabelingJob in AWS
// JSON 1.1 exactly as the Go SDK sends and expects them, serves the jobs its
// caller puts in, and misbehaves on demand.
package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

const (
	opList            = "ListLabelingJobs"
	opDescribe        = "DescribeLabelingJob"
	targetPrefix      = "SageMaker."
	jsonContentType   = "application/x-amz-json-1.1"
	defaultMaxResults = 10
	maxMaxResults     = 100
	maxBodyBytes      = 1 << 20
)

// Fault is a misbehaviour the emulator shows in place of a normal answer; see
// Emulator.FailNext.
type Fault int

// The faults the emulator can inject.
const (
	// Throttle answers HTTP 400 ThrottlingException, which the SDK's
	// standard retryer retries.
	Throttle Fault = iota + 1
	// InternalFailure answers HTTP 500 InternalFailure.
	InternalFailure
	// ServiceUnavailable answers HTTP 503 ServiceUnavailable.
	ServiceUnavailable
	// RepeatToken answers a ListLabelingJobs page whose NextToken is the one
	// the request carried (or, for a first page, one that starts the listing
	// over), the loop a paginator's StopOnDuplicateToken guards against.
	RepeatToken
	// EmptyPageWithToken answers a ListLabelingJobs page with no jobs but a
	// fresh NextToken that continues where the request started, which AWS
	// may do and a client must keep paging through.
	EmptyPageWithToken
	// ResourceNotFound answers a DescribeLabelingJob with HTTP 400
	// ResourceNotFound, whether the job exists or not: the error botocore's
	// model declares for a missing labeling job. SageMaker itself answers a
	// missing job with a ValidationException, as the emulator does; this
	// shows a client the model's answer too.
	ResourceNotFound
)

// op is the only operation f makes sense for, or "" when it fits any. Such a
// fault waits in the queue for a request of its operation.
func (f Fault) op() string {
	switch f {
	case RepeatToken, EmptyPageWithToken:
		return opList
	case ResourceNotFound:
		return opDescribe
	}
	return ""
}

// Option configures an Emulator built by New.
type Option func(*Emulator)

// WithRegion sets the region in the ARNs the emulator makes (default us-east-1).
func WithRegion(region string) Option { return func(e *Emulator) { e.region = region } }

// WithAccount sets the account in the ARNs the emulator makes (default 123456789012).
func WithAccount(account string) Option { return func(e *Emulator) { e.account = account } }

// WithClock sets the clock that stamps jobs put or updated without a
// modification time (default clock.System{}). Its Now is called with the
// emulator's lock held, so it must not call back into the emulator.
func WithClock(c clock.Clock) Option { return func(e *Emulator) { e.clock = c } }

// Emulator is an in-memory SageMaker labeling-job API. Its methods are safe
// to call while it serves requests. Times are kept at millisecond precision,
// as the API keeps them.
type Emulator struct {
	region, account string
	clock           clock.Clock

	mu   sync.Mutex
	jobs map[string]labeling.Job // by key(Name)
	gen  uint64                  // counts changes to jobs, so a cached listing knows it is stale
	// listings are the listings matching made since the jobs last
	// changed, by filter: a cycle pages two listings at once (the jobs
	// modified and those in progress), and one cached listing would be
	// made anew for every page of each.
	listings map[string]listing
	faults   []Fault
	latency  time.Duration
	calls    map[string]int
}

// listing is the sorted result of one ListLabelingJobs filter as of one
// generation of the jobs. Paging through a listing of many jobs then filters
// and sorts them once, not once a page: a benchmark pages 10,000 jobs out of
// 100,000, and the emulator's own cost should not drown the client's.
type listing struct {
	gen  uint64
	jobs []labeling.Job // shared by every page; never written after it is made
}

// maxListings bounds the listings kept: a few filters at a time are paged.
const maxListings = 8

var _ http.Handler = (*Emulator)(nil)

// New returns an Emulator with no jobs.
func New(opts ...Option) *Emulator {
	e := &Emulator{
		region:  "us-east-1",
		account: "123456789012",
		clock:   clock.System{},
		jobs:    make(map[string]labeling.Job),
		calls:   make(map[string]int),
	}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// key is the identity of a job's name. SageMaker does not tell labeling job
// names apart by case ("Example-job and example-job are considered the same
// labeling job name", CreateLabelingJob's LabelingJobName), and the ARN
// lower-cases the name.
func key(name string) string { return strings.ToLower(name) }

// Put adds j, or replaces the job of the same name in any case. An empty ARN
// is made from the name, a zero ModifiedAt is the clock's now, a zero
// CreatedAt is ModifiedAt, and an empty Status is Initializing.
func (e *Emulator) Put(j labeling.Job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.jobs[key(j.Name)] = e.complete(j)
	e.gen++
}

// Update applies change to the named job (the name in any case) and reports
// whether the job exists. ModifiedAt becomes the clock's now unless change
// set it. A job renamed by change keeps its ARN only if change set that too.
func (e *Emulator) Update(name string, change func(*labeling.Job)) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[key(name)]
	if !ok {
		return false
	}
	old, modified, arn := j.Name, j.ModifiedAt, j.ARN
	change(&j)
	if j.ModifiedAt.Equal(modified) {
		j.ModifiedAt = e.clock.Now()
	}
	if j.Name != old {
		delete(e.jobs, key(old))
		if j.ARN == arn {
			j.ARN = ""
		}
	}
	e.jobs[key(j.Name)] = e.complete(j)
	e.gen++
	return true
}

// Job returns the named job (the name in any case) and whether it exists.
func (e *Emulator) Job(name string) (labeling.Job, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[key(name)]
	return j, ok
}

// Jobs returns every job, ordered by name.
func (e *Emulator) Jobs() []labeling.Job {
	e.mu.Lock()
	jobs := make([]labeling.Job, 0, len(e.jobs))
	for _, j := range e.jobs {
		jobs = append(jobs, j)
	}
	e.mu.Unlock()
	slices.SortFunc(jobs, func(a, b labeling.Job) int { return strings.Compare(a.Name, b.Name) })
	return jobs
}

// FailNext makes the next n requests answer with fault instead of their
// normal answer. Faults queue up in the order given. A fault for one
// operation only (a ListLabelingJobs page, a DescribeLabelingJob answer)
// waits in the queue for the next request of that operation.
func (e *Emulator) FailNext(n int, fault Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.faults = append(e.faults, fault)
	}
}

// SetLatency delays every later answer by d. A request whose context ends
// during the delay gets no answer.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// Calls is how many requests named operation op (such as "ListLabelingJobs")
// the emulator has received, faulted and rejected ones included.
func (e *Emulator) Calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[op]
}

// ServeHTTP answers one AWS JSON 1.1 request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		op = target
	}
	// Reading the body first lets the server notice a client that hangs up
	// during the delay, which cancels r.Context().
	body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	fault, latency := e.begin(op)
	if !sleep(r.Context(), latency) {
		return
	}
	switch fault {
	case Throttle:
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case InternalFailure:
		writeError(w, http.StatusInternalServerError, "InternalFailure", "An internal error occurred")
		return
	case ServiceUnavailable:
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "only POST / is served")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != jsonContentType {
		writeError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be "+jsonContentType)
		return
	}
	if bodyErr != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "cannot read request body")
		return
	}
	switch op {
	case opList:
		e.listLabelingJobs(w, body, fault)
	case opDescribe:
		e.describeLabelingJob(w, body, fault)
	default:
		writeError(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %q is not supported", target))
	}
}

// begin counts a request and takes the fault it is to show, if any.
func (e *Emulator) begin(op string) (Fault, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[op]++
	var f Fault
	if len(e.faults) > 0 && (e.faults[0].op() == "" || e.faults[0].op() == op) {
		f, e.faults = e.faults[0], e.faults[1:]
	}
	return f, e.latency
}

// sleep waits d and reports whether ctx is still live, without outliving ctx.
func sleep(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// listRequest is the ListLabelingJobs input as the SDK serializes it.
type listRequest struct {
	CreationTimeAfter      *epoch  `json:",omitempty"`
	CreationTimeBefore     *epoch  `json:",omitempty"`
	LastModifiedTimeAfter  *epoch  `json:",omitempty"`
	LastModifiedTimeBefore *epoch  `json:",omitempty"`
	NameContains           *string `json:",omitempty"`
	StatusEquals           string  `json:",omitempty"`
	SortBy                 string  `json:",omitempty"`
	SortOrder              string  `json:",omitempty"`
	MaxResults             *int    `json:",omitempty"`
	NextToken              *string `json:",omitempty"`
}

func (e *Emulator) listLabelingJobs(w http.ResponseWriter, body []byte, fault Fault) {
	var req listRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "cannot parse request: "+err.Error())
		return
	}
	if msg := req.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	filter := req.filterHash()
	offset, page := 0, 0
	if req.NextToken != nil && *req.NextToken != "" {
		var ok bool
		if offset, page, ok = decodeToken(*req.NextToken, filter); !ok {
			writeError(w, http.StatusBadRequest, "ValidationException", "invalid pagination token")
			return
		}
	}
	limit := defaultMaxResults
	if req.MaxResults != nil {
		limit = *req.MaxResults
	}

	jobs := e.matching(&req, filter)
	offset = min(offset, len(jobs))
	end := min(offset+limit, len(jobs))
	resp := struct {
		LabelingJobSummaryList []summary
		NextToken              string `json:",omitempty"`
	}{LabelingJobSummaryList: make([]summary, 0, end-offset)}
	for _, j := range jobs[offset:end] {
		resp.LabelingJobSummaryList = append(resp.LabelingJobSummaryList, e.summary(j))
	}
	if end < len(jobs) {
		resp.NextToken = encodeToken(end, page+1, filter)
	}
	switch fault {
	case RepeatToken:
		resp.NextToken = encodeToken(0, 0, filter)
		if req.NextToken != nil && *req.NextToken != "" {
			resp.NextToken = *req.NextToken
		}
	case EmptyPageWithToken:
		resp.LabelingJobSummaryList = resp.LabelingJobSummaryList[:0]
		resp.NextToken = encodeToken(offset, page+1, filter)
	}
	writeJSON(w, resp)
}

// validation collects what is wrong with a request, in the API's words.
type validation []string

// bad records that member's value breaks constraint.
func (v *validation) bad(value any, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: Member must %s", value, member, constraint))
}

// missing records that the required member is absent.
func (v *validation) missing(member string) {
	*v = append(*v, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// message is the ValidationException message, or "" when nothing is wrong.
func (v validation) message() string {
	switch len(v) {
	case 0:
		return ""
	case 1:
		return "1 validation error detected: " + v[0]
	default:
		return fmt.Sprintf("%d validation errors detected: %s", len(v), strings.Join(v, "; "))
	}
}

// validate applies the API's defaults and says what is wrong with the
// request in the API's words, or "" when nothing is.
func (q *listRequest) validate() string {
	var errs validation
	bad := errs.bad
	if q.MaxResults != nil && (*q.MaxResults < 1 || *q.MaxResults > maxMaxResults) {
		bad(*q.MaxResults, "maxResults", fmt.Sprintf("have value between 1 and %d", maxMaxResults))
	}
	if q.NameContains != nil && !validNameContains(*q.NameContains) {
		bad(*q.NameContains, "nameContains", "satisfy regular expression pattern: [a-zA-Z0-9\\-]+ and have length between 1 and 63")
	}
	if q.StatusEquals != "" && !labeling.Status(q.StatusEquals).Known() {
		bad(q.StatusEquals, "statusEquals", "satisfy enum value set: [Initializing, InProgress, Completed, Failed, Stopping, Stopped]")
	}
	if q.SortBy == "" {
		q.SortBy = "CreationTime"
	} else if q.SortBy != "Name" && q.SortBy != "CreationTime" && q.SortBy != "Status" {
		bad(q.SortBy, "sortBy", "satisfy enum value set: [Name, CreationTime, Status]")
	}
	if q.SortOrder == "" {
		q.SortOrder = "Ascending"
	} else if q.SortOrder != "Ascending" && q.SortOrder != "Descending" {
		bad(q.SortOrder, "sortOrder", "satisfy enum value set: [Ascending, Descending]")
	}
	return errs.message()
}

// validNameContains applies the API's constraint on NameContains:
// [a-zA-Z0-9\-]+, 1 to 63 characters.
func validNameContains(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// filterHash identifies the listing a request asks for, so that a token
// from one listing is refused by another. Page size is not part of it: AWS
// lets a client change MaxResults between pages.
func (q listRequest) filterHash() string {
	q.MaxResults, q.NextToken = nil, nil
	b, _ := json.Marshal(q) // cannot fail: plain strings, numbers and times
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// matching returns the jobs the request selects, in the order it asks for.
// Ties are broken by name, and Descending is the exact reverse of Ascending.
// filter is the request's filterHash; a listing of the same filter made
// since the last change to the jobs is reused.
func (e *Emulator) matching(q *listRequest, filter string) []labeling.Job {
	e.mu.Lock()
	if c, ok := e.listings[filter]; ok && c.gen == e.gen {
		e.mu.Unlock()
		return c.jobs
	}
	gen := e.gen
	var jobs []labeling.Job
	for _, j := range e.jobs {
		if q.match(j) {
			jobs = append(jobs, j)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(jobs, func(a, b labeling.Job) int {
		c := 0
		switch q.SortBy {
		case "Status":
			c = strings.Compare(string(a.Status), string(b.Status))
		case "CreationTime":
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if q.SortOrder == "Descending" {
			return -c
		}
		return c
	})
	e.mu.Lock()
	if e.gen == gen {
		for f, c := range e.listings {
			if c.gen != gen || len(e.listings) >= maxListings {
				delete(e.listings, f)
			}
		}
		if e.listings == nil {
			e.listings = map[string]listing{}
		}
		e.listings[filter] = listing{gen: gen, jobs: jobs}
	}
	e.mu.Unlock()
	return jobs
}

// match applies the filters, with "after" and "before" strict as AWS has them.
func (q *listRequest) match(j labeling.Job) bool {
	after := func(t time.Time, bound *epoch) bool { return bound == nil || t.After(bound.Time) }
	before := func(t time.Time, bound *epoch) bool { return bound == nil || t.Before(bound.Time) }
	return after(j.CreatedAt, q.CreationTimeAfter) && before(j.CreatedAt, q.CreationTimeBefore) &&
		after(j.ModifiedAt, q.LastModifiedTimeAfter) && before(j.ModifiedAt, q.LastModifiedTimeBefore) &&
		(q.NameContains == nil || strings.Contains(strings.ToLower(j.Name), strings.ToLower(*q.NameContains))) &&
		(q.StatusEquals == "" || j.Status == labeling.Status(q.StatusEquals))
}

// encodeToken makes an opaque NextToken. The page number keeps the token of
// an empty page distinct from the request's even when the offset is the same.
func encodeToken(offset, page int, filter string) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%s", offset, page, filter))
}

// decodeToken reads a token made by encodeToken for the listing filter.
func decodeToken(token, filter string) (offset, page int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[2] != filter {
		return 0, 0, false
	}
	offset, err1 := strconv.Atoi(parts[0])
	page, err2 := strconv.Atoi(parts[1])
	return offset, page, err1 == nil && err2 == nil && offset >= 0 && page >= 0
}

// missingJobMessage starts the message of SageMaker's ValidationException for
// a job that does not exist; the job's name follows.
const missingJobMessage = "Could not find requested job with name "

// describeRequest is the DescribeLabelingJob input as the SDK serializes it.
type describeRequest struct {
	LabelingJobName *string
}

func (e *Emulator) describeLabelingJob(w http.ResponseWriter, body []byte, fault Fault) {
	var req describeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "cannot parse request: "+err.Error())
		return
	}
	if msg := req.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	name := *req.LabelingJobName
	if fault == ResourceNotFound {
		writeError(w, http.StatusBadRequest, "ResourceNotFound", fmt.Sprintf("Could not find labeling job '%s'.", name))
		return
	}
	j, ok := e.Job(name)
	if !ok {
		// As SageMaker answers, not as botocore's model says (ResourceNotFound):
		// its Describe calls for jobs answer a missing job with this
		// ValidationException (AWS's controller for Kubernetes relies on the
		// message for processing and transform jobs).
		writeError(w, http.StatusBadRequest, "ValidationException", missingJobMessage+name)
		return
	}
	writeJSON(w, e.description(j))
}

// validate says what is wrong with the request in the API's words, or ""
// when nothing is.
func (q describeRequest) validate() string {
	var errs validation
	switch name := q.LabelingJobName; {
	case name == nil:
		errs.missing("labelingJobName")
	default:
		if !matchesNamePattern(*name) {
			errs.bad(*name, "labelingJobName", "satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
		}
		if len(*name) < 1 {
			errs.bad(*name, "labelingJobName", "have length greater than or equal to 1")
		}
		if len(*name) > 63 {
			errs.bad(*name, "labelingJobName", "have length less than or equal to 63")
		}
	}
	return errs.message()
}

// matchesNamePattern reports whether s matches the whole of LabelingJobName's
// pattern, [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}: letters, digits and hyphens,
// starting and ending with a letter or digit, at most 63 letters and
// digits. The length limit is a constraint of its own.
func matchesNamePattern(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	alnum := 0
	for _, r := range s {
		switch {
		case r == '-':
		case '0' <= r && r <= '9', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			alnum++
		default:
			return false
		}
	}
	return alnum <= 63
}

// epoch is a timestamp on the wire: seconds since 1970 as a JSON number with
// up to millisecond fractions, formatted as the SDK formats it.
type epoch struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1e3, 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	t.Time = time.UnixMilli(int64(math.Round(f * 1e3))).UTC()
	return nil
}

type labelCounters struct {
	TotalLabeled, HumanLabeled, MachineLabeled, FailedNonRetryableError, Unlabeled int
}

type jobOutput struct{ OutputDatasetS3Uri string }

type inputConfig struct{ DataSource dataSource }

type dataSource struct {
	S3DataSource *s3DataSource `json:",omitempty"`
}

type s3DataSource struct{ ManifestS3Uri string }

// jobFields are the members LabelingJobSummary and DescribeLabelingJob
// share; embedded, they sit at the top level of either JSON object.
type jobFields struct {
	LabelingJobName   string
	LabelingJobArn    string
	LabelingJobStatus labeling.Status
	CreationTime      epoch
	LastModifiedTime  epoch
	LabelCounters     labelCounters
	FailureReason     string     `json:",omitempty"`
	LabelingJobOutput *jobOutput `json:",omitempty"`
}

// summary is a LabelingJobSummary. The model requires WorkteamArn; it is
// left out only for a job put without a workteam.
type summary struct {
	jobFields
	InputConfig                      *inputConfig `json:",omitempty"`
	WorkteamArn                      string       `json:",omitempty"`
	PreHumanTaskLambdaArn            string
	AnnotationConsolidationLambdaArn string
}

// description is a DescribeLabelingJobResponse: the job's own members, and
// stand-ins for the members the model requires that Job does not carry.
type description struct {
	jobFields
	InputConfig      inputConfig // required: an empty DataSource for a job put without a manifest
	JobReferenceCode string
	OutputConfig     outputConfig
	RoleArn          string
	HumanTaskConfig  humanTaskConfig
}

type outputConfig struct{ S3OutputPath string }

// humanTaskConfig is a HumanTaskConfig. The model requires WorkteamArn; it
// is left out only for a job put without a workteam.
type humanTaskConfig struct {
	WorkteamArn                       string `json:",omitempty"`
	UiConfig                          uiConfig
	PreHumanTaskLambdaArn             string
	TaskTitle                         string
	TaskDescription                   string
	NumberOfHumanWorkersPerDataObject int
	TaskTimeLimitInSeconds            int
	AnnotationConsolidationConfig     consolidation
}

type uiConfig struct{ UiTemplateS3Uri string }

type consolidation struct{ AnnotationConsolidationLambdaArn string }

func fields(j labeling.Job) jobFields {
	f := jobFields{
		LabelingJobName:   j.Name,
		LabelingJobArn:    j.ARN,
		LabelingJobStatus: j.Status,
		CreationTime:      epoch{j.CreatedAt},
		LastModifiedTime:  epoch{j.ModifiedAt},
		LabelCounters: labelCounters{
			TotalLabeled:            j.Counters.Total,
			HumanLabeled:            j.Counters.Human,
			MachineLabeled:          j.Counters.Machine,
			FailedNonRetryableError: j.Counters.Failed,
			Unlabeled:               j.Counters.Unlabeled,
		},
		FailureReason: j.FailureReason,
	}
	if j.OutputManifest != "" {
		f.LabelingJobOutput = &jobOutput{OutputDatasetS3Uri: j.OutputManifest}
	}
	return f
}

func input(j labeling.Job) inputConfig {
	if j.InputManifest == "" {
		return inputConfig{}
	}
	return inputConfig{dataSource{&s3DataSource{j.InputManifest}}}
}

func (e *Emulator) summary(j labeling.Job) summary {
	s := summary{
		jobFields:                        fields(j),
		WorkteamArn:                      j.Workteam,
		PreHumanTaskLambdaArn:            e.lambdaARN("PRE"),
		AnnotationConsolidationLambdaArn: e.lambdaARN("ACS"),
	}
	if j.InputManifest != "" {
		in := input(j)
		s.InputConfig = &in
	}
	return s
}

func (e *Emulator) description(j labeling.Job) description {
	code := sha256.Sum256([]byte(key(j.Name)))
	bucket := fmt.Sprintf("s3://sagemaker-%s-%s/ground-truth", e.region, e.account)
	return description{
		jobFields:        fields(j),
		InputConfig:      input(j),
		JobReferenceCode: e.account + base64.RawURLEncoding.EncodeToString(code[:12]),
		OutputConfig:     outputConfig{S3OutputPath: bucket + "/output/"},
		RoleArn:          fmt.Sprintf("arn:aws:iam::%s:role/service-role/AmazonSageMaker-ExecutionRole-labelwatch", e.account),
		HumanTaskConfig: humanTaskConfig{
			WorkteamArn:                       j.Workteam,
			UiConfig:                          uiConfig{UiTemplateS3Uri: bucket + "/template.liquid"},
			PreHumanTaskLambdaArn:             e.lambdaARN("PRE"),
			TaskTitle:                         "Draw a box around each object",
			TaskDescription:                   "Draw a tight box around each object in the image.",
			NumberOfHumanWorkersPerDataObject: 1,
			TaskTimeLimitInSeconds:            300,
			AnnotationConsolidationConfig:     consolidation{e.lambdaARN("ACS")},
		},
	}
}

// lambdaARN names one of AWS's built-in bounding-box task functions; Job
// does not carry them, and AWS's summaries and descriptions always do.
func (e *Emulator) lambdaARN(kind string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:432418664414:function:%s-BoundingBox", e.region, kind)
}

// complete fills what Put and Update leave to the emulator. Callers hold mu.
func (e *Emulator) complete(j labeling.Job) labeling.Job {
	if j.ARN == "" {
		j.ARN = fmt.Sprintf("arn:aws:sagemaker:%s:%s:labeling-job/%s", e.region, e.account, strings.ToLower(j.Name))
	}
	if j.ModifiedAt.IsZero() {
		j.ModifiedAt = e.clock.Now()
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = j.ModifiedAt
	}
	if j.Status == "" {
		j.Status = labeling.StatusInitializing
	}
	j.CreatedAt = j.CreatedAt.Truncate(time.Millisecond)
	j.ModifiedAt = j.ModifiedAt.Truncate(time.Millisecond)
	return j
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	_ = json.NewEncoder(w).Encode(v) // the client hanging up is its own business
}

// writeError answers as AWS JSON 1.1 errors look: the code in both the
// X-Amzn-ErrorType header and the body's __type.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, messageMember(code): message})
}

// messageMember names the body's message member. The SageMaker model
// declares ResourceNotFound (and its other exceptions) with a member
// "Message"; errors the model does not declare, such as ValidationException
// and ThrottlingException, come from AWS's front end as "message".
func messageMember(code string) string {
	switch code {
	case "ResourceNotFound", "ResourceInUse", "ResourceLimitExceeded", "ConflictException":
		return "Message"
	}
	return "message"
}

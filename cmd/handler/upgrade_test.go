package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestUpgrade runs this release over a table the release before issue 18
// left (testdata/upgrade: made by that release, 0285e8c, as the README
// there says), with REGIONS naming another region, and in turn with another
// account (ACCOUNT_ROLES) and with ROUTES. The table's times are moved so
// that the old release's last invocation ended a minute before this one's
// first, and SageMaker lists the jobs as the old release last saw them,
// moved alike, but for "running", which has failed since. Then:
//
//   - the function's own source is no first run: its cursor and origin are
//     the old ones, and it keeps the table's keys as they were;
//   - no job the old release alerted is alerted again, by a poll or by a
//     repeated event, and none of its records changes;
//   - "running", in progress when the old release last polled, is alerted
//     once;
//   - each new source's first run is silent, its state under its own keys;
//   - the next poll is quiet.
//
// "without the old table" runs the same over an empty table: the first run
// alerts again what the old release alerted, so the table is what keeps
// this from happening above, and the moved times are live.
func TestUpgrade(t *testing.T) {
	fx := readUpgrade(t)
	cases := []struct {
		name    string
		env     []string
		member  bool   // ACCOUNT_ROLES names upgradeMember, watched in both regions
		channel string // where the failure goes: ROUTES's channel, or "" for the webhook
	}{
		{name: "regions"},
		{name: "regions and accounts", member: true},
		{name: "routes", channel: "C0ONCALL01", env: []string{
			"SLACK_BOT_TOKEN=" + testenv.SlackToken, "SLACK_CHANNEL=" + testenv.SlackChannel, "SLACK_API_URL={slack}/api/",
			"SLACK_CARDS=off", // as the old release ran: no cards
			`ROUTES=[{"region": "us-east-1", "status": "Failed", "channel": "C0ONCALL01"}]`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := startUpgrade(t, fx, true, tc.member, tc.env...)
			s := u.s
			if tc.channel != "" {
				s.slack.Open(tc.channel)
			}
			if r := s.ok(); r.Alerted != 1 || r.Pending != 0 {
				t.Errorf("first poll after the upgrade = %+v, want 1 alerted, none pending", r)
			}
			polls := u.pollLines(1)
			if l := polls[""]; l["first_run"] != false || l["alerted"] != 1.0 {
				t.Errorf("the function's own source: %v, want no first run, 1 alerted", l)
			}
			for _, key := range u.others {
				if l := polls[key]; l["first_run"] != true || l["alerted"] != 0.0 {
					t.Errorf("source %s: %v, want a silent first run", key, l)
				}
			}

			// The one message: running's failure, of the function's own
			// region and account, where the route sends it.
			msgs := s.slack.Messages()
			if len(msgs) != 1 {
				t.Fatalf("Slack got %d messages, want running's failure only:\n%s", len(msgs), strings.Join(s.texts(), "\n"))
			}
			if m := msgs[0]; !strings.Contains(m.Text, "running failed") || !strings.Contains(m.Text, fx.Region) || strings.Contains(m.Text, upgradeMember) || m.Channel != tc.channel {
				t.Errorf("message %q to channel %q, want running's failure in %s of %s, to %q", m.Text, m.Channel, fx.Region, fx.Account, tc.channel)
			}
			s.wantAlerted("running", labeling.StatusFailed)
			u.wantOldState()
			for _, key := range u.others {
				store, err := s.store.Scope(key)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, ok, err := store.Cursor(ctx)
				cancel()
				if err != nil || !ok {
					t.Errorf("source %s has no cursor after its first run (%v)", key, err)
				}
			}

			// A repeated event of a job the old release alerted.
			if r := s.send(s.stateChange("alerted-failed", labeling.StatusFailed)); r.Alerted != 0 || r.Transitions != 0 {
				t.Errorf("repeated event of alerted-failed = %+v, want nothing done", r)
			}

			if r := s.ok(); r.Alerted != 0 || r.Transitions != 0 || r.Pending != 0 || r.FirstRun {
				t.Errorf("second poll = %+v, want a quiet one", r)
			}
			for key, l := range u.pollLines(2) {
				if l["first_run"] != false {
					t.Errorf("second poll of source %q: %v, want no first run", key, l)
				}
			}
			if n := len(s.slack.Messages()); n != 1 {
				t.Errorf("Slack got %d messages in all, want 1:\n%s", n, strings.Join(s.texts(), "\n"))
			}
			u.wantOldState()
		})
	}

	t.Run("without the old table", func(t *testing.T) {
		u := startUpgrade(t, fx, false, false)
		u.s.ok()
		if l := u.pollLines(1)[""]; l["first_run"] != true {
			t.Errorf("the function's own source: %v, want a first run", l)
		}
		// Every job the old release alerted ended within LOOKBACK, as
		// running did.
		named := func(texts []string) []string {
			var names []string
			for _, text := range texts {
				for _, j := range fx.Jobs {
					if strings.Contains(text, " "+j.Name+" ") {
						names = append(names, j.Name)
					}
				}
			}
			slices.Sort(names)
			return names
		}
		want := named(append(slices.Clone(fx.Alerted), "❌ running failed"))
		if got := named(u.s.texts()); len(want) != 5 || !slices.Equal(got, want) {
			t.Errorf("first run over an empty table alerted %q, want %q: what the old release alerted, and running", got, want)
		}
	})
}

// upgradeMember is the other account of TestUpgrade's "regions and accounts".
const upgradeMember = "222222222222"

// upgradeFixture is testdata/upgrade/jobs.json: what the release before
// issue 18 saw when it left testdata/upgrade/table.json.
type upgradeFixture struct {
	RecordedAt time.Time    `json:"recordedAt"` // just after its last invocation
	Region     string       `json:"region"`     // the function's
	Account    string       `json:"account"`    // the function's
	Alerted    []string     `json:"alerted"`    // the text of each message it sent
	Jobs       []upgradeJob `json:"jobs"`       // as SageMaker last listed them
	// Items is table.json: every item of the table.
	Items []map[string]types.AttributeValue `json:"-"`
}

type upgradeJob struct {
	Name          string            `json:"name"`
	Status        labeling.Status   `json:"status"`
	CreatedAt     time.Time         `json:"createdAt"`
	ModifiedAt    time.Time         `json:"modifiedAt"`
	Counters      labeling.Counters `json:"counters"`
	FailureReason string            `json:"failureReason"`
}

func readUpgrade(t *testing.T) upgradeFixture {
	t.Helper()
	var fx upgradeFixture
	b, err := os.ReadFile(filepath.Join("testdata", "upgrade", "jobs.json"))
	if err == nil {
		err = json.Unmarshal(b, &fx)
	}
	if err != nil {
		t.Fatalf("read jobs.json: %v", err)
	}
	var items []map[string]json.RawMessage
	b, err = os.ReadFile(filepath.Join("testdata", "upgrade", "table.json"))
	if err == nil {
		err = json.Unmarshal(b, &items)
	}
	if err != nil {
		t.Fatalf("read table.json: %v", err)
	}
	for _, raw := range items {
		item := map[string]types.AttributeValue{}
		for name, v := range raw {
			if item[name], err = wireValue(v); err != nil {
				t.Fatalf("table.json, attribute %s: %v", name, err)
			}
		}
		fx.Items = append(fx.Items, item)
	}
	if fx.RecordedAt.IsZero() || len(fx.Items) == 0 || len(fx.Jobs) == 0 {
		t.Fatal("testdata/upgrade holds no time, items or jobs")
	}
	// newStack's function runs in us-east-1 of testenv.LambdaAccount.
	if fx.Region != "us-east-1" || fx.Account != testenv.LambdaAccount {
		t.Fatalf("the fixture's function ran in %s of %s, not in us-east-1 of %s", fx.Region, fx.Account, testenv.LambdaAccount)
	}
	return fx
}

// wireValue reads one attribute value in DynamoDB's JSON, such as
// {"S": "Failed"} or {"M": {"t": {"N": "1796538819177"}}}.
func wireValue(raw json.RawMessage) (types.AttributeValue, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 {
		return nil, fmt.Errorf("not one typed value: %s", raw)
	}
	for typ, val := range v {
		var err error
		switch typ {
		case "S", "N":
			var s string
			if err = json.Unmarshal(val, &s); typ == "S" {
				return &types.AttributeValueMemberS{Value: s}, err
			}
			return &types.AttributeValueMemberN{Value: s}, err
		case "BOOL":
			var b bool
			err = json.Unmarshal(val, &b)
			return &types.AttributeValueMemberBOOL{Value: b}, err
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "SS", "NS":
			var ss []string
			if err = json.Unmarshal(val, &ss); typ == "SS" {
				return &types.AttributeValueMemberSS{Value: ss}, err
			}
			return &types.AttributeValueMemberNS{Value: ss}, err
		case "L":
			var list []json.RawMessage
			if err = json.Unmarshal(val, &list); err != nil {
				return nil, err
			}
			out := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(list))}
			for i, e := range list {
				if out.Value[i], err = wireValue(e); err != nil {
					return nil, err
				}
			}
			return out, nil
		case "M":
			var m map[string]json.RawMessage
			if err = json.Unmarshal(val, &m); err != nil {
				return nil, err
			}
			out := &types.AttributeValueMemberM{Value: make(map[string]types.AttributeValue, len(m))}
			for k, e := range m {
				if out.Value[k], err = wireValue(e); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("type %q is not read here", typ)
	}
	return nil, nil // unreachable: v has one member
}

// oldTimes are the attributes of the old release's items that hold times
// (state/dynamo_item.go and dynamo_cursor.go at 0285e8c), as paths from the
// item ("*" is any key of a map), with each one's unit.
var oldTimes = map[string]time.Duration{
	"modifiedAt": time.Millisecond, "alertedAt": time.Millisecond, "leaseUntil": time.Millisecond,
	"progress/mv": time.Millisecond, "expiresAt": time.Second,
	"cursor": time.Millisecond, "origin": time.Millisecond,
	"baselineBegan": time.Millisecond, "baselineCreated": time.Millisecond,
	"seen/*/t": time.Millisecond, "idle/*/t": time.Millisecond, "idle/*/u": time.Millisecond,
}

// moved is v, the value at path at in an item of fx, with every time
// oldTimes names moved by offset (whole seconds). A number elsewhere that
// reads as a time within a year of fx.RecordedAt fails the test: it would
// be a time this test leaves behind.
func (fx upgradeFixture) moved(t *testing.T, at string, v types.AttributeValue, offset time.Duration) types.AttributeValue {
	t.Helper()
	switch v := v.(type) {
	case *types.AttributeValueMemberM:
		out := &types.AttributeValueMemberM{Value: make(map[string]types.AttributeValue, len(v.Value))}
		for k, e := range v.Value {
			out.Value[k] = fx.moved(t, path.Join(at, k), e, offset)
		}
		return out
	case *types.AttributeValueMemberL:
		out := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(v.Value))}
		for i, e := range v.Value {
			out.Value[i] = fx.moved(t, path.Join(at, strconv.Itoa(i)), e, offset)
		}
		return out
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			t.Fatalf("table.json %s: %v", at, err)
		}
		for pattern, unit := range oldTimes {
			if ok, _ := path.Match(pattern, at); ok {
				return &types.AttributeValueMemberN{Value: strconv.FormatInt(n+int64(offset/unit), 10)}
			}
		}
		for _, unit := range []time.Duration{time.Millisecond, time.Second} {
			if d := time.Unix(0, n*int64(unit)).Sub(fx.RecordedAt); d.Abs() < 365*24*time.Hour {
				t.Fatalf("table.json %s = %d reads as a time (recordedAt %+v), which oldTimes does not name", at, n, d)
			}
		}
	}
	return v
}

// upgrade is a function started over the old release's table.
type upgrade struct {
	s      *stack
	fx     upgradeFixture
	items  map[string]map[string]types.AttributeValue // the table as loaded, by pk; nil when not loaded
	others []string                                   // the keys of the sources other than the function's own
}

// startUpgrade starts a function watching REGIONS=us-east-1,eu-west-1 (and
// with member, ACCOUNT_ROLES naming upgradeMember's role), with env beside, over
// a table holding fx's items when load is true, their times moved so that
// the old release's last invocation ended a minute ago. SageMaker lists
// fx's jobs in the function's own region, moved alike, but for "running",
// which failed just now; each other source lists a job in progress and one
// that failed two hours ago (before LOOKBACK), named as two of fx's.
func startUpgrade(t *testing.T, fx upgradeFixture, load, member bool, env ...string) *upgrade {
	t.Helper()
	env = append([]string{"REGIONS=us-east-1,eu-west-1"}, env...)
	var estate *emulator.Estate
	if member {
		sts := stsProxy(t, testenv.Moto(t), func(key, account string) { estate.Credentials(key, account) })
		env = append(env, "ACCOUNT_ROLES=arn:aws:iam::"+upgradeMember+":role/labelwatch-read", "EXTERNAL_ID=lw-test", "AWS_ENDPOINT_URL_STS="+sts)
	}
	s := newStack(t, env...)
	estate = s.estate
	u := &upgrade{s: s, fx: fx, others: []string{"eu-west-1"}}
	places := []emulator.Place{{Account: testenv.LambdaAccount, Region: "eu-west-1"}}
	if member {
		u.others = append(u.others, upgradeMember+"/us-east-1", upgradeMember+"/eu-west-1")
		places = append(places, emulator.Place{Account: upgradeMember, Region: "us-east-1"}, emulator.Place{Account: upgradeMember, Region: "eu-west-1"})
	}

	// Whole seconds, so that times kept in seconds and in milliseconds
	// move alike and stay exact.
	offset := time.Since(fx.RecordedAt.Add(time.Minute)).Truncate(time.Second)
	if load {
		u.items = map[string]map[string]types.AttributeValue{}
		ddb := dynamodb.NewFromConfig(testenv.AWSConfig(dynaliteURL))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, item := range fx.Items {
			moved := map[string]types.AttributeValue{}
			for name, v := range item {
				moved[name] = fx.moved(t, name, v, offset)
			}
			pk := moved["pk"].(*types.AttributeValueMemberS).Value
			u.items[pk] = moved
			if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: moved}); err != nil {
				t.Fatalf("load %s: %v", pk, err)
			}
		}
	}
	for _, j := range fx.Jobs {
		s.emu.Put(labeling.Job{Name: j.Name, Status: j.Status, CreatedAt: j.CreatedAt.Add(offset), ModifiedAt: j.ModifiedAt.Add(offset),
			Counters: j.Counters, FailureReason: j.FailureReason})
	}
	if !s.emu.Update("running", func(j *labeling.Job) {
		j.Status, j.FailureReason, j.ModifiedAt = labeling.StatusFailed, "ClientError: worker task timed out", time.Time{}
	}) {
		t.Fatal("the fixture has no job running")
	}
	now := time.Now()
	for _, p := range places {
		emu := estate.Add(p)
		emu.Put(labeling.Job{Name: "running", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-30 * time.Minute)})
		emu.Put(labeling.Job{Name: "alerted-failed", Status: labeling.StatusFailed, CreatedAt: now.Add(-3 * time.Hour), ModifiedAt: now.Add(-2 * time.Hour),
			FailureReason: "ClientError: bad manifest"})
	}
	return u
}

// pollLines waits until the function has logged the summary lines of polls
// polls of every source, and returns each source's last, by its key ("" for
// the function's own source).
func (u *upgrade) pollLines(polls int) map[string]logLine {
	u.s.t.Helper()
	want := polls * (1 + len(u.others))
	deadline := time.Now().Add(time.Minute)
	for {
		out := u.s.lambda.Output()
		lines := append(logs(out, "poll complete"), logs(out, "poll incomplete")...)
		if len(lines) > want {
			u.s.t.Fatalf("%d poll summary lines, more than %d polls of %d sources make:\n%s", len(lines), polls, 1+len(u.others), out)
		}
		if len(lines) == want {
			last := map[string]logLine{}
			for _, l := range logs(out, "poll complete") {
				region, _ := l["region"].(string)
				key := region
				if account, ok := l["account"].(string); ok {
					key = account + "/" + region
				} else if region == u.fx.Region {
					key = ""
				}
				last[key] = l
			}
			return last
		}
		if time.Now().After(deadline) {
			u.s.t.Fatalf("after a minute, %d of %d poll summary lines:\n%s", len(lines), want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantOldState fails the test unless the table still holds every item the
// old release left, under its key, each job's record but running's as it
// was, and the cursor of the function's own source no older and with the
// same origin; and unless every key the function added is a tally's or
// belongs to another source.
func (u *upgrade) wantOldState() {
	s := u.s
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := dynamodb.NewFromConfig(testenv.AWSConfig(dynaliteURL)).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		s.t.Fatal(err)
	}
	if out.LastEvaluatedKey != nil {
		s.t.Fatal("the table is more than one Scan page")
	}
	found := map[string]bool{}
	for _, item := range out.Items {
		pk := item["pk"].(*types.AttributeValueMemberS).Value
		found[pk] = true
		if u.items[pk] != nil || strings.HasPrefix(pk, "#tally-") {
			continue
		}
		other := false
		for _, key := range u.others {
			other = other || strings.HasPrefix(pk, key+"/") || pk == "#cursor/"+key
		}
		if !other {
			s.t.Errorf("the table holds %q, which is neither the old release's nor another source's", pk)
		}
	}

	type old struct {
		Status     string `dynamodbav:"status"`
		ModifiedAt int64  `dynamodbav:"modifiedAt"`
		AlertedAt  int64  `dynamodbav:"alertedAt"`
		Version    int64  `dynamodbav:"version"`
		Cursor     int64  `dynamodbav:"cursor"`
		Origin     int64  `dynamodbav:"origin"`
	}
	for pk, item := range u.items {
		if !found[pk] {
			s.t.Errorf("the old release's item %q is gone", pk)
			continue
		}
		var was old
		if err := attributevalue.UnmarshalMap(item, &was); err != nil {
			s.t.Fatal(err)
		}
		switch {
		case pk == "#cursor":
			c, ok := s.cursor()
			if !ok || c.At.UnixMilli() < was.Cursor || c.Origin.UnixMilli() != was.Origin {
				s.t.Errorf("cursor of the function's own source = %v, origin %v (found %v); want at or after %v, origin %v",
					c.At, c.Origin, ok, time.UnixMilli(was.Cursor).UTC(), time.UnixMilli(was.Origin).UTC())
			}
		case strings.HasPrefix(pk, "#"), pk == "running":
		default:
			r, ok := s.record(pk)
			if !ok || string(r.Status) != was.Status || r.ModifiedAt.UnixMilli() != was.ModifiedAt || r.AlertedAt.UnixMilli() != was.AlertedAt || r.Version != was.Version {
				s.t.Errorf("record of %s = %+v (found %v); want it as the old release left it: %+v", pk, r, ok, was)
			}
		}
	}
}

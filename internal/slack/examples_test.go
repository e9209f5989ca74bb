package slack

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// updateDoc rewrites docs/MESSAGES.md from the renderers instead of
// comparing it with them.
var updateDoc = flag.Bool("update", false, "rewrite docs/MESSAGES.md from the example messages")

// messagesDoc is the page TestMessagesDoc keeps, relative to this package.
const messagesDoc = "../../docs/MESSAGES.md"

// regenerate is the command that rewrites messagesDoc.
const regenerate = "go test ./internal/slack -run TestMessagesDoc -update"

// TestMessagesDoc holds docs/MESSAGES.md to what the renderers make of a
// fixed set of example jobs, so that the page never drifts from the code.
// With -update it rewrites the page instead.
func TestMessagesDoc(t *testing.T) {
	got := messagesPage()
	if *updateDoc {
		if err := os.WriteFile(messagesDoc, []byte(got), 0o644); err != nil {
			t.Fatalf("write %s: %v", messagesDoc, err)
		}
		return
	}
	b, err := os.ReadFile(messagesDoc)
	if err != nil {
		t.Fatalf("read %s: %v (create it with: %s)", messagesDoc, err, regenerate)
	}
	if want := string(b); got != want {
		t.Errorf("docs/MESSAGES.md is out of date with the renderers; %s\nrewrite it with: %s\nand review the diff (git diff docs/MESSAGES.md)", firstDiff(want, got), regenerate)
	}
}

// firstDiff says where want and got first differ, line by line.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if i >= len(w) || i >= len(g) || wl != gl {
			return fmt.Sprintf("first difference at line %d:\n  the file has:      %q\n  the renderers say: %q", i+1, wl, gl)
		}
	}
	return "they differ"
}

// The example jobs: one account, one region, fixed times.
const (
	docAccount = "123456789012"
	docRegion  = "us-east-1"
	docTeam    = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/acme-annotators"
	docReason  = "ClientError: Unable to read input manifest s3://acme-ml-datasets/street-scenes/input.manifest: Access Denied (Service: Amazon S3; Status Code: 403)"
)

// docStart is when the example jobs start.
var docStart = time.Date(2025, 6, 3, 8, 0, 0, 0, time.UTC)

// docMentions is MENTION_ON_FAILURE in the examples, and docHandles what
// Slack shows for each mention: a user group's handle, not its ID.
var (
	docMentions = []string{"S0614TZR7", "here"}
	docHandles  = map[string]string{"S0614TZR7": "@labeling-oncall"}
)

// docJob is an example job named name in status s, created docStart plus
// start and last modified ran later.
func docJob(name string, s labeling.Status, start, ran time.Duration, c labeling.Counters) labeling.Job {
	return labeling.Job{
		Name:          name,
		ARN:           "arn:aws:sagemaker:" + docRegion + ":" + docAccount + ":labeling-job/" + strings.ToLower(name),
		Status:        s,
		CreatedAt:     docStart.Add(start),
		ModifiedAt:    docStart.Add(start + ran),
		Counters:      c,
		InputManifest: "s3://acme-ml-datasets/" + name + "/input.manifest",
		Workteam:      docTeam,
	}
}

// birds is the job whose card the page follows from start to end, at
// stage s.
func birds(s labeling.Status) labeling.Job {
	switch s {
	case labeling.StatusInitializing:
		return docJob("bird-species-v3", s, 0, 0, labeling.Counters{})
	case labeling.StatusInProgress:
		return docJob("bird-species-v3", s, 0, 95*time.Minute,
			labeling.Counters{Total: 1988, Human: 1400, Machine: 588, Failed: 12, Unlabeled: 1992})
	}
	j := docJob("bird-species-v3", labeling.StatusCompleted, 0, 4*time.Hour+12*time.Minute,
		labeling.Counters{Total: 3980, Human: 2400, Machine: 1580, Failed: 12})
	j.OutputManifest = "s3://acme-ml-datasets/bird-species-v3/output/bird-species-v3/manifests/output/output.manifest"
	return j
}

// streetScenes is the failed job of the examples.
func streetScenes() labeling.Job {
	j := docJob("street-scenes-seg", labeling.StatusFailed, time.Hour, 5*time.Minute+12*time.Second, labeling.Counters{})
	j.FailureReason = docReason
	return j
}

// parkingLot is the stopped job of the examples.
func parkingLot() labeling.Job {
	return docJob("parking-lot-boxes", labeling.StatusStopped, 30*time.Minute, 90*time.Minute,
		labeling.Counters{Total: 640, Human: 640, Unlabeled: 1360})
}

// docStorm is a cycle with more alerts than DIGEST_THRESHOLD (10): fifteen
// jobs finished at once, four of them failed for two reasons.
func docStorm() []Alert {
	var alerts []Alert
	add := func(j labeling.Job) {
		alerts = append(alerts, Alert{Job: j, Previous: labeling.StatusInProgress})
	}
	for _, side := range []string{"front", "rear", "left"} {
		j := docJob("dashcam-lanes-"+side, labeling.StatusFailed, 2*time.Hour, 3*time.Minute, labeling.Counters{})
		j.FailureReason = "ClientError: Unable to read input manifest s3://acme-ml-datasets/dashcam/input.manifest: Access Denied (Service: Amazon S3; Status Code: 403)"
		add(j)
	}
	add(streetScenes())
	for i, name := range []string{"bird-species-v3", "retail-shelf-skus", "invoice-fields", "x-ray-findings", "forklift-detect", "pallet-boxes", "crop-rows-seg", "sign-language-clips", "wind-turbine-cracks"} {
		add(docJob(name, labeling.StatusCompleted, time.Duration(i)*time.Minute, 3*time.Hour,
			labeling.Counters{Total: 500 + 100*i, Human: 500 + 100*i}))
	}
	add(parkingLot())
	add(docJob("drone-roofs", labeling.StatusStopped, 0, 2*time.Hour, labeling.Counters{Total: 75, Human: 75, Unlabeled: 925}))
	return alerts
}

// docExample is one message on the page: a heading, when it is sent, and
// the message.
type docExample struct {
	heading, when string
	msg           Message
}

// docSection is a group of examples under a second-level heading.
type docSection struct {
	heading, intro string
	examples       []docExample
}

// docSections renders every kind of message labelwatch sends from the
// example jobs.
func docSections() []docSection {
	failed := Alert{Job: streetScenes(), Previous: labeling.StatusInProgress}
	digest := RenderDigest(docStorm())
	var digestExamples []docExample
	for k, p := range digest {
		heading := "Fifteen alerts in one cycle"
		if len(digest) > 1 {
			heading = fmt.Sprintf("Digest, part %d of %d", k+1, len(digest))
		}
		digestExamples = append(digestExamples, docExample{
			heading: heading,
			when:    "Sent instead of one alert per job when a cycle has more alerts than `DIGEST_THRESHOLD` (default 10), here fifteen. Failed jobs come first, grouped by identical reason, each name a link to the job in the SageMaker console; other statuses are summed up by name. A digest too big for one Slack message is split into parts, each titled \"(part k/n)\".",
			msg:     p.Message,
		})
	}
	if len(digest) > 0 {
		last := digest[len(digest)-1].Message
		digestExamples = append(digestExamples, docExample{
			heading: "Digest, with MENTION_ON_FAILURE",
			when:    "A digest message that names a failed job pages as a failed job's alert does (see Failed, with MENTION_ON_FAILURE): the mentions start its notification, and its last line says whom it paged. A digest split into parts pages from each part that names a failed job; a part of other statuses only pages nobody. Its minimal form pages too.",
			msg:     last.WithMentions(docMentions),
		})
	}
	stuck := docJob("pedestrian-keypoints", labeling.StatusInProgress, 0, 2*time.Hour,
		labeling.Counters{Total: 1260, Human: 1260, Unlabeled: 1740})
	failing := docJob("receipt-fields-ocr", labeling.StatusInProgress, 0, time.Hour,
		labeling.Counters{Total: 920, Human: 920, Failed: 81, Unlabeled: 999})
	midway := birds(labeling.StatusInProgress)
	return []docSection{
		{
			heading: "Alerts",
			intro:   "One message per job when it reaches a status in `ALERT_ON` (default `Failed,Completed,Stopped`). With living cards on, the same message goes as a reply in the job's card thread instead (see below).",
			examples: []docExample{
				{heading: "Completed", when: "Sent when a job completes.", msg: RenderAlert(Alert{Job: birds(labeling.StatusCompleted), Previous: labeling.StatusInProgress})},
				{heading: "Failed", when: "Sent when a job fails; the failure reason from SageMaker is quoted under the header.", msg: RenderAlert(failed)},
				{heading: "Stopped", when: "Sent when a job is stopped.", msg: RenderAlert(Alert{Job: parkingLot(), Previous: labeling.StatusStopping})},
				{
					heading: "Failed, with MENTION_ON_FAILURE",
					when:    "With `MENTION_ON_FAILURE=" + strings.Join(docMentions, ",") + "`, the alert of a failed job starts its notification line with the mentions, so they page people. Slack does not show that line in the channel when a message has blocks, so a last line says whom the message paged, each mention shown as a name (at most 500 characters of them; any more are counted, \"and 3 more\", and paged all the same). The alert pages the same when it goes as a reply under the job's card; the card itself, progress news and the alerts of other statuses never page. A digest that names a failed job pages too (see Digest).",
					msg:     RenderAlert(failed).WithMentions(docMentions),
				},
			},
		},
		{heading: "Digest", examples: digestExamples},
		{
			heading: "Living card (bot mode)",
			intro:   "With a bot token (and `SLACK_CARDS` not `off`), each job that a cycle sees starting gets one message, its card, that is edited in place as the job moves, without a new notification; its outcome and its news are replies in the card's thread.",
			examples: []docExample{
				{heading: "Posted: initializing", when: "Posted when a cycle first sees a job starting.", msg: RenderCard(birds(labeling.StatusInitializing))},
				{heading: "Edited: in progress", when: "The same message, edited whenever the job's counters or status change. An edit notifies nobody: the text below replaces the card's text, which search and screen readers use.", msg: RenderCard(midway)},
				{heading: "Final: completed", when: "The last edit, when the job ends; the alert (see Completed above) is then posted as a reply in the card's thread, and for a failed job also sent to the channel.", msg: RenderCard(birds(labeling.StatusCompleted))},
			},
		},
		{
			heading: "Progress news",
			intro:   "Short messages about a running job: a reply in its card's thread when it has a card, a message of its own otherwise. The warnings are also sent to the channel.",
			examples: []docExample{
				{heading: "Milestone crossed", when: "Sent when a job crosses one of `PROGRESS_MILESTONES` (unset by default; here `50`); it stays in the card's thread.", msg: RenderNotice(midway, Notice{Milestone: 50})},
				{heading: "Stuck", when: "Sent once when a job's counters have not moved for `STUCK_AFTER` (default `6h`).", msg: RenderNotice(stuck, Notice{StuckFor: 6 * time.Hour})},
				{heading: "Failed objects", when: "Sent once when the share of processed data objects that failed for good exceeds `FAILED_OBJECTS_WARN` (default `1%`).", msg: RenderNotice(failing, Notice{FailedShare: 81.0 / 1001})},
			},
		},
		{
			heading: "Minimal form",
			intro:   "When Slack refuses a message itself (invalid blocks, too long), a text-only form of it goes out instead, so that no alert is blocked for ever. Cards, news and digests have theirs too.",
			examples: []docExample{
				{heading: "Failed, minimal", when: "Sent in place of the Failed alert above if Slack refused it.", msg: AlertFallback(failed)},
				{heading: "Failed, minimal, with MENTION_ON_FAILURE", when: "When Slack refuses a message that pages, its minimal form pages in its place; being text only, it shows the mentions in its text.", msg: AlertFallback(failed).WithMentions(docMentions)},
			},
		},
	}
}

// messagesPage is the whole of docs/MESSAGES.md.
func messagesPage() string {
	var b strings.Builder
	b.WriteString(`# Slack messages

This page shows every kind of message labelwatch sends to Slack, rendered from example labeling
jobs (account ` + docAccount + `, region ` + docRegion + `) by the code that renders the real ones. It is generated by
` + "`TestMessagesDoc`" + ` in ` + "`internal/slack/examples_test.go`" + `, which fails when this page and the code
differ: do not edit it by hand, change the code or the examples and regenerate it with

    ` + regenerate + `

How to read the examples. **Notification** is the message's text: what a phone or desktop
notification shows, and what Slack shows where it cannot show the blocks. **Message** is what the
channel shows: ` + "`*bold*`" + ` is bold as in Slack's own markup, a link shows its text only (` + "`Logs`" + `,
` + "`Job in SageMaker`" + `), ` + "`▌`" + ` is the bar of a quote, fields (two columns in Slack) are one a line, and
the last line of a job message is Slack's small grey context line. Times show here as the UTC fallback
that Slack's date markup carries; Slack shows each reader the time in their own time zone, e.g.
"Jun 3, 2025 8:12 AM" (or "Today 8:12 AM") for a reader in New York.
`)
	for _, s := range docSections() {
		b.WriteString("\n## " + s.heading + "\n")
		if s.intro != "" {
			b.WriteString("\n" + s.intro + "\n")
		}
		for _, e := range s.examples {
			if len(s.examples) > 1 || e.heading != s.heading {
				b.WriteString("\n### " + e.heading + "\n")
			}
			b.WriteString("\n" + e.when + "\n")
			if len(e.msg.Blocks) == 0 {
				// Text only: the text is the message.
				b.WriteString("\n**Message** (also its notification):\n\n" + fenced(docMrkdwn(e.msg.Text)))
				continue
			}
			b.WriteString("\n**Notification:**\n\n" + fenced(docMrkdwn(strings.ReplaceAll(e.msg.Text, "\n", " "))))
			b.WriteString("\n**Message:**\n\n" + fenced(docBlocks(e.msg.Blocks)))
		}
	}
	b.WriteString(`
## In the terminal

The local CLI (` + "`labelwatch run`" + ` and ` + "`labelwatch demo`" + ` without Slack) prints each message instead of
posting it, with every link's address written out; the Failed alert above prints as:

`)
	b.WriteString(fenced(strings.TrimSuffix(Format(RenderAlert(Alert{Job: streetScenes(), Previous: labeling.StatusInProgress})), "\n")))
	return b.String()
}

// fenced is s in a fenced code block.
func fenced(s string) string { return "```text\n" + s + "\n```\n" }

// docBlocks is blocks as Slack shows them, one block after another with a
// blank line between.
func docBlocks(blocks []slackapi.Block) string {
	var out []string
	for _, blk := range blocks {
		switch blk := blk.(type) {
		case *slackapi.HeaderBlock:
			out = append(out, "*"+blk.Text.Text+"*")
		case *slackapi.SectionBlock:
			var lines []string
			if blk.Text != nil {
				lines = append(lines, docText(blk.Text))
			}
			for _, f := range blk.Fields {
				// A field is "*Label*\nvalue": Slack shows the label above the value.
				lines = append(lines, strings.Replace(docText(f), "\n", " ", 1))
			}
			out = append(out, strings.Join(lines, "\n"))
		case *slackapi.ContextBlock:
			var parts []string
			for _, e := range blk.ContextElements.Elements {
				if t, ok := e.(*slackapi.TextBlockObject); ok {
					parts = append(parts, docText(t))
				}
			}
			out = append(out, strings.Join(parts, "   "))
		case *slackapi.DividerBlock:
			out = append(out, "────────────────")
		default:
			out = append(out, "("+string(blk.BlockType())+" block)")
		}
	}
	return strings.Join(out, "\n\n")
}

// docText is a text object as Slack shows it.
func docText(t *slackapi.TextBlockObject) string {
	if t.Type == slackapi.PlainTextType {
		return t.Text
	}
	return docMrkdwn(t.Text)
}

// docMrkdwn is mrkdwn as Slack shows it, bold and italic marks aside: a
// link as its text, a date as its fallback, a mention as its handle, a
// quote with its bar, code without its backticks, entities decoded.
func docMrkdwn(s string) string {
	s = markup.ReplaceAllStringFunc(s, func(m string) string {
		sub := markup.FindStringSubmatch(m)
		target, label := sub[1], sub[2]
		switch {
		case strings.HasPrefix(target, "!date^"):
			return label
		case strings.HasPrefix(target, "@"), strings.HasPrefix(target, "!subteam^"):
			id := strings.TrimPrefix(strings.TrimPrefix(target, "@"), "!subteam^")
			if h, ok := docHandles[id]; ok {
				return h
			}
			return "@" + id
		case strings.HasPrefix(target, "!"):
			return "@" + target[1:]
		case label != "":
			return label
		}
		return target
	})
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if q, ok := strings.CutPrefix(l, ">"); ok {
			lines[i] = "▌ " + q
		}
	}
	s = strings.Join(lines, "\n")
	s = strings.ReplaceAll(s, "`", "")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

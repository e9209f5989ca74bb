package slack

// This file is what an alert and a card, both messages about one job, show
// alike: the failure reason, fields, how long the job ran, its work team and
// the line of links and place under the message.

import (
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// maxDetailLine bounds one detail of a job, such as its work team's name.
const maxDetailLine = 950

// reasonBlock is the section that quotes job j's failure reason, for a
// failed job "no reason given" when it has none; nil for a job with no
// reason that has not failed.
func reasonBlock(j labeling.Job) slackapi.Block {
	reason := cleanReason(j.FailureReason)
	if reason == "" && j.Status != labeling.StatusFailed {
		return nil
	}
	head := "*Failure reason*\n>"
	body := "_no reason given_"
	if reason != "" {
		body = fit(reason, maxSectionText-runes(head), quoteRune)
	}
	return slackapi.NewSectionBlock(verbatim(head+body), nil, nil)
}

// field is a section field: a bold label over a value that is already
// mrkdwn (escaped, or markup of ours).
func field(label, value string) *slackapi.TextBlockObject {
	return verbatim("*" + label + "*\n" + value)
}

// ranFor is how long job j ran, or "" when its timestamps do not say.
func ranFor(j labeling.Job) string {
	if j.CreatedAt.IsZero() || j.ModifiedAt.IsZero() || j.ModifiedAt.Before(j.CreatedAt) {
		return ""
	}
	return shortDuration(j.ModifiedAt.Sub(j.CreatedAt))
}

// workteam is the name of job j's work team, escaped for mrkdwn, or "" for
// a job without one.
func workteam(j labeling.Job) string {
	return fit(WorkteamName(j.Workteam), maxDetailLine, inlineRune)
}

// WorkteamName is the last path part of a work team ARN
// ("arn:aws:sagemaker:…:workteam/private-crowd/NAME" -> "NAME"), or the
// whole value when it has no path.
func WorkteamName(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && i < len(arn)-1 {
		return arn[i+1:]
	}
	return arn
}

// linksBlock is the context line under a message about job j: its links
// (linksLine) and its region and account; nil when it has neither.
func linksBlock(j labeling.Job) slackapi.Block {
	var context []slackapi.MixedElement
	if l := linksLine(j); l != "" {
		context = append(context, verbatim(l))
	}
	if w := regionAndAccount(j); w != "" {
		context = append(context, verbatim(w))
	}
	if len(context) == 0 {
		return nil
	}
	return slackapi.NewContextBlock("", context...)
}

// linksLine is the line of links under a message about job j: the job in
// the SageMaker console, its log stream, and a completed job's output
// manifest. They are mrkdwn links, not buttons: a button is interactive,
// and Slack marks it with a warning where the app has interactivity on and
// nobody answers.
func linksLine(j labeling.Job) string {
	candidates := []string{link(ConsoleURL(j), "Job in SageMaker"), link(LogStreamURL(j), "Logs")}
	if j.Status == labeling.StatusCompleted {
		candidates = append(candidates, link(OutputManifestURL(j), "Output manifest"))
	}
	var links []string
	n := 0
	for _, l := range candidates {
		// A link is never cut; one that does not fit is left out.
		if l == "" || n+runes(l)+3 > maxSectionText {
			continue
		}
		links = append(links, l)
		n += runes(l) + 3
	}
	return strings.Join(links, " · ")
}

// regionAndAccount is "REGION · ACCOUNT" from job j's ARN, or what of it
// there is; ACCOUNT is "NAME (ID)" when the job carries its account's
// display name.
func regionAndAccount(j labeling.Job) string {
	p := placeOf(j)
	account := p.account
	if j.AccountName != "" && account != "" {
		account = fit(j.AccountName, 64, inlineRune) + " (" + account + ")"
	}
	var parts []string
	for _, s := range []string{p.region, account} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

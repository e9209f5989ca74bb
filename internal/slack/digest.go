package slack

import (
	"cmp"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Digest sizes. Slack refuses a message whose blocks hold about 12,000
// characters of text (digestTextBudget; msg_blocks_too_long, measured
// between 11,300 and 13,200), so a digest message stays under digestBudget,
// and its content under that less what the header and the closing context
// take. A part that carries a failed job keeps one block and maxPagedLine
// characters more free, for the "Paged …" line WithMentions adds to it.
const (
	digestTextBudget      = 12000
	digestBudget          = digestTextBudget - 1000
	digestContent         = digestBudget - maxHeaderText - 400
	maxDigestBlocks       = maxBlocks - 2 // content, besides the header and the closing context
	maxDigestLink         = 600           // a job link longer than this is shown as the bare name
	maxDigestName         = 100           // a job name in a digest (the API allows 63)
	maxDigestNotification = 1000          // a digest message's notification text
	maxDigestFallback     = 3900          // a digest message's minimal form
	maxReasonDigest       = 500           // the failure reason a group of failed jobs quotes
	digestContinuation    = "same reason, continued:*\n"
)

// DigestPart is one message of a digest and the alerts it carries: once
// Slack took the message (or its Fallback), those alerts are delivered.
type DigestPart struct {
	Message Message
	Alerts  []Alert
}

// statusGroup is the alerts of a digest that are in one status.
type statusGroup struct {
	status labeling.Status
	alerts []Alert // sorted by job name
}

// groupByStatus groups alerts by status, the most urgent status first
// (labeling.Status.Urgency), each group sorted by name.
func groupByStatus(alerts []Alert) []statusGroup {
	by := map[labeling.Status][]Alert{}
	for _, a := range alerts {
		by[a.Job.Status] = append(by[a.Job.Status], a)
	}
	var out []statusGroup
	for s, as := range by {
		slices.SortStableFunc(as, func(a, b Alert) int { return cmp.Compare(a.Job.Name, b.Job.Name) })
		out = append(out, statusGroup{status: s, alerts: as})
	}
	slices.SortFunc(out, func(a, b statusGroup) int {
		return cmp.Or(cmp.Compare(a.status.Urgency(), b.status.Urgency()), cmp.Compare(a.status, b.status))
	})
	return out
}

// digestTitle is the neutral title of a digest of n alerts:
// "412 labeling jobs finished: 100 failed, 300 completed, 12 stopped".
func digestTitle(n int, groups []statusGroup) string {
	verb := "finished"
	var counts []string
	for _, g := range groups {
		if !g.status.Terminal() {
			verb = "changed status"
		}
		counts = append(counts, count(len(g.alerts))+" "+statusPhrase(g.status))
	}
	return count(n) + " labeling " + plural(n, "job", "jobs") + " " + verb + ": " + strings.Join(counts, ", ")
}

// failureGroup is the failed alerts of a digest that share one reason.
type failureGroup struct {
	reason string // cleaned; "" for none given
	alerts []Alert
}

// failureGroups groups failed alerts by identical reason, the largest group
// first, then by reason.
func failureGroups(failed []Alert) []failureGroup {
	index := map[string]int{}
	var groups []failureGroup
	for _, a := range failed {
		r := cleanReason(a.Job.FailureReason)
		i, ok := index[r]
		if !ok {
			i = len(groups)
			index[r] = i
			groups = append(groups, failureGroup{reason: r})
		}
		groups[i].alerts = append(groups[i].alerts, a)
	}
	slices.SortStableFunc(groups, func(a, b failureGroup) int {
		return cmp.Or(cmp.Compare(len(b.alerts), len(a.alerts)), cmp.Compare(a.reason, b.reason))
	})
	return groups
}

// jobLink is a job's name linked to its console page, for mrkdwn.
func jobLink(j labeling.Job) string {
	name := fit(j.Name, maxDigestName, inlineRune)
	if u := ConsoleURL(j); u != "" && runes(u)+runes(name) < maxDigestLink && !strings.ContainsAny(u, "<>|") {
		return "<" + u + "|" + name + ">"
	}
	return name
}

// digestDraft is one digest message being filled.
type digestDraft struct {
	blocks []slackapi.Block // content
	size   int              // text runes of the content
	alerts []Alert
	pages  bool // it carries a failed job, so it pages and keeps room for that
}

// blockRoom is how many blocks of content d takes in all, or would take if
// it paged: a part that pages keeps a block for its paged line.
func (d *digestDraft) blockRoom(pages bool) int {
	if d.pages || pages {
		return maxDigestBlocks - 1
	}
	return maxDigestBlocks
}

// textRoom is how many characters of content d takes in all, or would take
// if it paged: a part that pages keeps room for its paged line.
func (d *digestDraft) textRoom(pages bool) int {
	if d.pages || pages {
		return digestContent - maxPagedLine
	}
	return digestContent
}

// digestPacker fills digest messages in order, opening a new one when the
// current one has no room.
type digestPacker struct {
	drafts []*digestDraft
	where  bool // the jobs are of several accounts or regions: name each one's
}

// draftWithRoom returns the current draft if it takes one more block of
// size runes, of failed jobs (which page) or not, and otherwise a new one.
func (p *digestPacker) draftWithRoom(size int, pages bool) (d *digestDraft, fresh bool) {
	if n := len(p.drafts); n > 0 {
		d = p.drafts[n-1]
		if len(d.blocks) < d.blockRoom(pages) && d.size+size <= d.textRoom(pages) {
			d.pages = d.pages || pages
			return d, false
		}
	}
	d = &digestDraft{pages: pages}
	p.drafts = append(p.drafts, d)
	return d, true
}

// RenderDigest renders many alerts as one or more messages, each within
// Slack's limits whatever their number: at most 50 blocks, sections of at
// most 3000 characters and, in all, digestBudget characters of block text,
// below the roughly 12,000 at which Slack refuses a message
// (msg_blocks_too_long), with room left in a part that carries a failed
// job for the line WithMentions adds. Each message has a neutral title from
// the counts, "412 labeling jobs finished: 100 failed, 300 completed, 12
// stopped" (with "part k/n" when split). Failed jobs come first, grouped by identical
// failure reason, each named and linked to its console page; the reason is
// shown once per group and message, escaped and cut. Other statuses are
// summed up with as many names as fit and "and N more". Every alert is
// carried by exactly one part, and every failed job is named in its part.
// A part that carries a failed job pages, it and its Fallback (see
// WithMentions); a part of other statuses only never does. Every text from
// the API is escaped and never auto-linked. Each part has a text-only
// Fallback. No alerts render no parts.
func RenderDigest(alerts []Alert) []DigestPart {
	if len(alerts) == 0 {
		return nil
	}
	byStatus := groupByStatus(alerts)
	title := digestTitle(len(alerts), byStatus)
	regions := map[string]bool{}
	for _, a := range alerts {
		regions[a.Job.Region()] = true
	}
	listURL := ""
	if len(regions) == 1 {
		for r := range regions {
			listURL = consoleListURL(r)
		}
	}

	// A digest of jobs of several accounts or regions names each job's:
	// one job name may stand for two jobs.
	places := map[arnPlace]bool{}
	for _, a := range alerts {
		places[placeOf(a.Job)] = true
	}
	p := digestPacker{where: len(places) > 1}
	// A digest of one place names it once, beside the console's link, as
	// an alert does: where several sources are watched, each posts
	// digests of its own.
	here := ""
	if len(places) == 1 {
		here = regionAndAccount(alerts[0].Job)
	}
	for _, g := range byStatus {
		if g.status == labeling.StatusFailed {
			for _, f := range failureGroups(g.alerts) {
				p.addFailures(f)
			}
			continue
		}
		p.addSummary(g)
	}

	parts := make([]DigestPart, len(p.drafts))
	for k, d := range p.drafts {
		suffix := ""
		if len(p.drafts) > 1 {
			suffix = " (part " + count(k+1) + "/" + count(len(p.drafts)) + ")"
		}
		head := plainFit(title, maxHeaderText-runes(suffix)) + suffix
		blocks := append([]slackapi.Block{slackapi.NewHeaderBlock(plain(head))}, d.blocks...)
		var notes []string
		if suffix != "" {
			notes = append(notes, "Part "+count(k+1)+" of "+count(len(p.drafts))+" of one digest")
		}
		if here != "" {
			notes = append(notes, here)
		}
		if listURL != "" {
			notes = append(notes, "<"+listURL+"|All labeling jobs in the SageMaker console>")
		}
		if len(notes) > 0 {
			blocks = append(blocks, slackapi.NewContextBlock("", verbatim(strings.Join(notes, " · "))))
		}
		parts[k] = DigestPart{
			Message: Message{Text: digestNotification(head, d.alerts), Blocks: blocks, Fallback: digestFallback(head, d.alerts), pages: carriesFailure(d.alerts)},
			Alerts:  d.alerts,
		}
	}
	return parts
}

// whereOf is " (REGION · ACCOUNT)" after job j's name in a digest whose jobs
// are of several places, else "".
func (p *digestPacker) whereOf(j labeling.Job) string {
	if !p.where {
		return ""
	}
	if w := regionAndAccount(j); w != "" {
		return " (" + w + ")"
	}
	return ""
}

// addFailures adds a group of failed jobs: a section that quotes the reason
// once and names each job, continued in more sections, and in the next
// message (which quotes the reason again), as limits require.
func (p *digestPacker) addFailures(g failureGroup) {
	reason := "_no reason given_"
	if g.reason != "" {
		reason = fit(g.reason, maxReasonDigest, quoteRune)
	}
	head := "❌ *Failed · " + count(len(g.alerts)) + " " + plural(len(g.alerts), "job", "jobs") + " with this reason:*\n>" + reason + "\n"
	var (
		sec   *slackapi.SectionBlock
		draft *digestDraft
	)
	for _, a := range g.alerts {
		link := jobLink(a.Job) + p.whereOf(a.Job)
		n := runes(link)
		if sec != nil && runes(sec.Text.Text)+2+n <= maxSectionText && draft.size+2+n <= draft.textRoom(true) {
			sec.Text.Text += ", " + link
			draft.size += 2 + n
			draft.alerts = append(draft.alerts, a)
			continue
		}
		// A new section: in the same message without the reason, or in
		// the next one with it.
		h := head
		if sec != nil && draft == p.drafts[len(p.drafts)-1] {
			h = "❌ *Failed · " + digestContinuation
		}
		d, fresh := p.draftWithRoom(runes(h)+n, true)
		if fresh {
			h = head
		}
		sec = slackapi.NewSectionBlock(verbatim(h+link), nil, nil)
		d.blocks = append(d.blocks, sec)
		d.size += runes(h) + n
		d.alerts = append(d.alerts, a)
		draft = d
	}
}

// addSummary adds the jobs of one status other than Failed as one section:
// "✅ *300 completed:* a, b, c and 297 more". The message that holds the
// section carries every job of the status.
func (p *digestPacker) addSummary(g statusGroup) {
	total := len(g.alerts)
	head := StatusEmoji(g.status) + " *" + count(total) + " " + fit(statusPhrase(g.status), 60, inlineRune) + ":* "
	tail := " and " + count(total) + " more"
	names := make([]string, total)
	for i, a := range g.alerts {
		names[i] = fit(a.Job.Name, maxDigestName, inlineRune) + p.whereOf(a.Job)
	}
	first := runes(names[0])
	if total > 1 {
		first += runes(tail)
	}
	d, _ := p.draftWithRoom(runes(head)+first, false)
	text := head + namesFit(names, min(maxSectionText, d.textRoom(false)-d.size)-runes(head))
	d.blocks = append(d.blocks, slackapi.NewSectionBlock(verbatim(text), nil, nil))
	d.size += runes(text)
	d.alerts = append(d.alerts, g.alerts...)
}

// digestNotification is the notification text of a digest message: its
// title and the failed jobs it names.
func digestNotification(title string, alerts []Alert) string {
	var failed []string
	for _, a := range alerts {
		if a.Job.Status == labeling.StatusFailed {
			failed = append(failed, fit(a.Job.Name, maxDigestName, inlineRune))
		}
	}
	text := fit(title, maxHeaderText, inlineRune)
	slices.Sort(failed)
	if len(failed) > 0 {
		text += ". Failed: " + joinFit(failed, ", ", maxDigestNotification)
	}
	return text
}

// digestFallback is the minimal form of a digest message: text only, its
// title and a line per status naming the jobs it carries, failed jobs first
// and all of them (a message holds too few for their names to overflow), in
// at most maxDigestFallback characters.
func digestFallback(title string, alerts []Alert) *Message {
	text := fit(title, maxHeaderText, inlineRune)
	groups := groupByStatus(alerts)
	for i, g := range groups {
		names := make([]string, len(g.alerts))
		for k, a := range g.alerts {
			names[k] = fit(a.Job.Name, maxDigestName, inlineRune)
		}
		head := "\n" + StatusEmoji(g.status) + " " + fit(statusName(g.status), 40, inlineRune) + ": "
		room := maxDigestFallback - runes(text) - runes(head) - 40 // 40: the closing count
		if g.status != labeling.StatusFailed {
			room = min(room, maxDigestFallback/4)
		}
		if room < 3*maxDigestName/2 {
			rest := 0
			for _, u := range groups[i:] {
				rest += len(u.alerts)
			}
			text += "\n… and " + count(rest) + " more " + plural(rest, "job", "jobs") + " in other statuses"
			break
		}
		text += head + namesFit(names, room)
	}
	return &Message{Text: text, pages: carriesFailure(alerts)}
}

// carriesFailure reports whether alerts hold a failed job's: a message that
// carries one pages (WithMentions).
func carriesFailure(alerts []Alert) bool {
	return slices.ContainsFunc(alerts, func(a Alert) bool { return a.Job.Status == labeling.StatusFailed })
}

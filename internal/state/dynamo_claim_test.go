package state

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestClaimOfAsBuilt holds claimOf, written out by hand, to the write the
// SDK's expression builder makes of the same claim: the same update and
// condition once each placeholder is replaced by what it stands for, and
// grouping and spacing set aside.
func TestClaimOfAsBuilt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lease := Lease{Owner: "run-a", Target: labeling.StatusFailed, Until: now.Add(time.Minute)}
	for _, version := range []int64{0, 1, 41} {
		prev := Record{Job: "job-1", Version: version}
		cond := expression.Name(AttrPK).AttributeNotExists()
		if version > 0 {
			cond = expression.Name(attrVersion).Equal(expression.Value(version))
		}
		cond = expression.And(cond, expression.Or(
			expression.AttributeNotExists(expression.Name(attrLeaseUntil)),
			expression.Name(attrLeaseUntil).LessThanEqual(expression.Value(millis(now))),
		))
		update := expression.Set(expression.Name(attrLeaseOwner), expression.Value(lease.Owner)).
			Set(expression.Name(attrLeaseTarget), expression.Value(string(lease.Target))).
			Set(expression.Name(attrLeaseUntil), expression.Value(millis(lease.Until))).
			Set(expression.Name(attrVersion), expression.Value(version+1))
		want, err := built(update, cond)
		if err != nil {
			t.Fatal(err)
		}
		got := claimOf(prev, lease, now)
		for _, part := range []struct {
			name      string
			got, want string
		}{
			{"update", spelled(t, got.update, got), spelled(t, want.update, want)},
			{"condition", spelled(t, got.cond, got), spelled(t, want.cond, want)},
		} {
			if part.got != part.want {
				t.Errorf("version %d: claimOf's %s reads %q, the builder's %q", version, part.name, part.got, part.want)
			}
		}
	}
}

// placeholder matches an expression's attribute name or value placeholder.
var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// spelled is expr with each placeholder replaced by the name or value w
// gives it, without parentheses or spaces; a placeholder w does not define,
// or one w defines that expr does not use, fails t.
func spelled(t *testing.T, expr string, w write) string {
	t.Helper()
	used := map[string]bool{}
	out := placeholder.ReplaceAllStringFunc(expr, func(p string) string {
		used[p] = true
		if p[0] == '#' {
			if name, ok := w.names[p]; ok {
				return "«" + name + "»"
			}
		} else if v, ok := w.values[p]; ok {
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				return fmt.Sprintf("S(%s)", v.Value)
			case *types.AttributeValueMemberN:
				return fmt.Sprintf("N(%s)", v.Value)
			}
		}
		t.Errorf("%q: placeholder %s undefined", expr, p)
		return p
	})
	return strings.NewReplacer("(", "", ")", "", " ", "", "\n", "").Replace(strings.ReplaceAll(out, "attribute_not_exists ", "attribute_not_exists"))
}

package watch_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestSummaryPlusTakesEveryField checks that Plus takes in every field of a
// summary: a field added to Summary and forgotten in Plus fails here.
func TestSummaryPlusTakesEveryField(t *testing.T) {
	typ := reflect.TypeFor[watch.Summary]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var o watch.Summary
		v := reflect.ValueOf(&o).Elem().Field(i)
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(3)
		case reflect.String:
			v.SetString("job")
		case reflect.Struct: // time.Time
			v.Set(reflect.ValueOf(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
		default:
			t.Fatalf("field %s of kind %s: teach this test about it", f.Name, v.Kind())
		}
		if got := reflect.ValueOf(watch.Summary{}.Plus(o)).Field(i); got.IsZero() {
			t.Errorf("Plus drops %s", f.Name)
		}
		if got := reflect.ValueOf(o.Plus(o)).Field(i); v.Kind() == reflect.Int && got.Int() != 6 {
			t.Errorf("Plus of %s 3 and 3 = %d, want 6", f.Name, got.Int())
		}
	}
	a := watch.Summary{Cursor: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), DurationMS: 5}
	b := watch.Summary{Cursor: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), DurationMS: 9}
	if got := a.Plus(b); !got.Cursor.Equal(b.Cursor) || got.DurationMS != 9 {
		t.Errorf("Plus = cursor %v, %d ms; want the older cursor and the longer duration", got.Cursor, got.DurationMS)
	}
}

package handlers

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// exportColumns are the fields of an exported audit event, in order (CSV header, JSON
// keys).
var exportColumns = []string{"id", "at", "actor_id", "subject_user_id", "action", "outcome", "device_id",
	"device_name", "account_name", "action_attempt_id", "detail", "remote_addr", "user_agent"}

func exportRecord(e store.AuditEvent) []string {
	return []string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), e.ActorID, e.SubjectUserID,
		e.Action, e.Outcome, e.DeviceID, e.DeviceName, e.AccountName, e.ActionAttemptID, e.Detail, e.RemoteAddr, e.UserAgent}
}

// AdminExportActivityCSV is a user's whole audit trail as CSV, oldest first, streamed.
// Cells a spreadsheet would run as a formula are neutralised.
func (h *Handlers) AdminExportActivityCSV(w http.ResponseWriter, r *http.Request) error {
	return h.exportActivity(w, r, "csv", "text/csv; charset=utf-8", func(out io.Writer) (func(store.AuditEvent) error, func() error) {
		write, flush := csvRows(out, exportColumns)
		return func(e store.AuditEvent) error { return write(exportRecord(e)) }, flush
	})
}

// csvRows writes a CSV with header to out; cells a spreadsheet would run as a formula
// are neutralised.
func csvRows(out io.Writer, header []string) (write func([]string) error, flush func() error) {
	cw := csv.NewWriter(out)
	_ = cw.Write(header)
	return func(rec []string) error {
			for i, cell := range rec {
				rec[i] = csvSafe(cell)
			}
			return cw.Write(rec)
		}, func() error {
			cw.Flush()
			return cw.Error()
		}
}

// ownExportColumns are the columns of a customer's own activity export: the trail as
// the activity page tells it, one row an entry, times in UTC.
var ownExportColumns = []string{"id", "time_utc", "what", "device", "account", "result", "reason"}

// ExportActivityCSV is the signed-in user's own trail as CSV, oldest first, streamed:
// one row per entry (one per action, with its outcome), as /activity tells it.
func (h *Handlers) ExportActivityCSV(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditExportActivity, Outcome: store.OutcomeSuccess,
		Detail: "csv export"})
	startDownload(w, "text/csv; charset=utf-8", "latchkey-activity.csv")
	write, flush := csvRows(w, ownExportColumns)
	err := streamExport(w, func(each func(store.TrailEntry) error) error { return h.Store.EachTrail(ctx, user.ID, each) },
		func(e store.TrailEntry) error {
			v := trailEntry(e, user.ID, nil, views.Clock{})
			return write([]string{strconv.FormatInt(e.ID, 10), views.ISO(e.At), v.What, v.Device, v.Account, v.Result, v.Detail})
		}, flush)
	if err != nil {
		h.Log.ErrorContext(ctx, "activity export cut short", "format", "csv", "own", true, "error", err)
	}
	return nil
}

// exportFlushEvery is how many rows an export writes between flushes to the client.
const exportFlushEvery = 500

// streamExport writes every row each yields, flushing to the client every
// exportFlushEvery rows; the first error ends it (the response is under way by then).
func streamExport[T any](w http.ResponseWriter, each func(func(T) error) error, write func(T) error, flush func() error) error {
	rc := http.NewResponseController(w)
	n := 0
	err := each(func(row T) error {
		if err := write(row); err != nil {
			return err
		}
		if n++; n%exportFlushEvery == 0 {
			if err := flush(); err != nil {
				return err
			}
			_ = rc.Flush()
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}

// startDownload sends the headers of an attachment that no cache keeps.
func startDownload(w http.ResponseWriter, contentType, filename string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
}

// AdminExportActivityJSONL is a user's whole audit trail as JSON Lines (one object an
// event, keys as the CSV's header), oldest first, streamed.
func (h *Handlers) AdminExportActivityJSONL(w http.ResponseWriter, r *http.Request) error {
	return h.exportActivity(w, r, "jsonl", "application/jsonl; charset=utf-8", func(out io.Writer) (func(store.AuditEvent) error, func() error) {
		enc := json.NewEncoder(out)
		return func(e store.AuditEvent) error {
			rec := exportRecord(e)
			obj := make(orderedObject, len(rec))
			for i, v := range rec {
				obj[i] = [2]string{exportColumns[i], v}
			}
			return enc.Encode(obj)
		}, func() error { return nil }
	})
}

// exportActivity checks the user, audits the export, then streams the trail through
// the writer newWriter makes. Once the first byte is out an error can only be logged.
func (h *Handlers) exportActivity(w http.ResponseWriter, r *http.Request, ext, contentType string,
	newWriter func(io.Writer) (write func(store.AuditEvent) error, flush func() error)) error {
	ctx := r.Context()
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	h.audit(r, store.AuditEvent{SubjectUserID: target.ID, Action: store.AuditAdminExportActivity,
		Outcome: store.OutcomeSuccess, Detail: ext + " export"})

	startDownload(w, contentType, "latchkey-activity-"+target.ID+"."+ext)
	write, flush := newWriter(w)
	err = streamExport(w, func(each func(store.AuditEvent) error) error { return h.Store.EachAudit(ctx, target.ID, each) },
		write, flush)
	if err != nil {
		h.Log.ErrorContext(ctx, "activity export cut short", "format", ext, "error", err)
	}
	return nil
}

// csvSafe keeps a spreadsheet from running a cell as a formula: a cell that starts
// with = + - @ (or a tab or carriage return, which some read past) gets a leading '.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// orderedObject is a JSON object whose keys keep their order.
type orderedObject [][2]string

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv[0])
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv[1])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is the type a request field must have. Seam validates bodies with zod; the
// sandbox reproduces zod's messages and its validation_errors tree so that a client
// sees the same 400s from both.
type kind uint8

const (
	kindString kind = iota
	kindNonEmpty
	kindUUID
	kindStrings
	kindUUIDs
	kindBool
	kindLimit
	kindDate
	kindBetween
	kindMetadata
	kindProviders
)

type field struct {
	name     string
	kind     kind
	required bool
	nullable bool
}

// params holds validated request values: string, []string, bool, int, time.Time,
// [2]time.Time or map[string]any, by field name. Absent and null fields are missing.
type params map[string]any

func (p params) has(name string) bool { _, ok := p[name]; return ok }

func (p params) str(name string) string { s, _ := p[name].(string); return s }

func (p params) strs(name string) []string { s, _ := p[name].([]string); return s }

func (p params) boolean(name string) bool { b, _ := p[name].(bool); return b }

func (p params) integer(name string, def int) int {
	if n, ok := p[name].(int); ok {
		return n
	}
	return def
}

func (p params) time(name string) (time.Time, bool) { t, ok := p[name].(time.Time); return t, ok }

func (p params) meta(name string) map[string]any { m, _ := p[name].(map[string]any); return m }

// issue is one validation failure at a path such as ["device_ids", "0"].
type issue struct {
	path []string
	msg  string
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// acceptedProviders is the provider enum of connect_webviews/create in Seam's OpenAPI.
func acceptedProviders() []string {
	return []string{"hotek", "dormakaba_community", "legic_connect", "akuvox", "august", "avigilon_alta", "brivo",
		"butterflymx", "schlage", "smartthings", "yale", "genie", "doorking", "salto", "salto_ks", "salto_ks_accept",
		"lockly", "ttlock", "linear", "noiseaware", "nuki", "igloo", "kwikset", "minut", "my_2n", "controlbyweb",
		"nest", "igloohome", "ecobee", "four_suites", "dormakaba_oracode", "pti", "wyze", "seam_passport",
		"visionline", "assa_abloy_credential_service", "tedee", "honeywell_resideo", "first_alert", "latch",
		"akiles", "assa_abloy_vostio", "assa_abloy_vostio_credential_service", "tado", "salto_space", "sensi",
		"keynest", "korelock", "keyincode", "dormakaba_ambiance", "ultraloq", "dusaw", "sifely",
		"thirty_three_lock", "ring", "ical", "lodgify", "hostaway", "guesty", "acuity_scheduling", "omnitec",
		"kisi", "yale_access", "hid_cm", "google_nest", "slack"}
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// parseDate accepts what JavaScript's Date would reasonably parse from Seam's docs:
// RFC 3339 with or without fractions, and plain dates.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// validate checks raw (a decoded JSON object) against fields. fromQuery relaxes
// types the way Seam does for GET requests, whose values all arrive as strings.
func validate(raw map[string]any, fields []field, fromQuery bool) (params, []issue) {
	out := params{}
	var issues []issue
	bad := func(msg string, path ...string) { issues = append(issues, issue{path: path, msg: msg}) }
	for _, f := range fields {
		v, present := raw[f.name]
		if !present || (v == nil && f.nullable) {
			if f.required {
				bad("Required", f.name)
			}
			continue
		}
		if fromQuery {
			v = coerceQuery(f.kind, v)
		}
		expected := func(want string) { bad(fmt.Sprintf("Expected %s, received %s", want, typeName(v)), f.name) }
		switch f.kind {
		case kindString, kindNonEmpty, kindUUID:
			s, ok := v.(string)
			switch {
			case !ok:
				expected("string")
			case f.kind == kindNonEmpty && s == "":
				bad("String must contain at least 1 character(s)", f.name)
			case f.kind == kindUUID && !uuidPattern.MatchString(s):
				bad("Invalid uuid", f.name)
			default:
				out[f.name] = s
			}
		case kindStrings, kindUUIDs, kindProviders:
			list, ok := v.([]any)
			if !ok {
				expected("array")
				continue
			}
			vals := make([]string, 0, len(list))
			okAll := true
			for i, item := range list {
				idx := strconv.Itoa(i)
				s, isStr := item.(string)
				switch {
				case !isStr:
					bad(fmt.Sprintf("Expected string, received %s", typeName(item)), f.name, idx)
				case f.kind == kindUUIDs && !uuidPattern.MatchString(s):
					bad("Invalid uuid", f.name, idx)
				case f.kind == kindProviders && !slices.Contains(acceptedProviders(), s):
					bad(fmt.Sprintf("Invalid enum value. Expected one of Seam's provider keys, received '%s'", s), f.name, idx)
				default:
					vals = append(vals, s)
					continue
				}
				okAll = false
			}
			if okAll {
				out[f.name] = vals
			}
		case kindBool:
			if b, ok := v.(bool); ok {
				out[f.name] = b
			} else {
				expected("boolean")
			}
		case kindLimit:
			n, ok := v.(json.Number)
			if !ok {
				expected("number")
				continue
			}
			fl, err := n.Float64()
			switch {
			case err != nil:
				expected("number")
			case fl != math.Trunc(fl):
				bad("Expected integer, received float", f.name)
			case fl <= 0:
				bad("Number must be greater than 0", f.name)
			default:
				out[f.name] = int(math.Min(fl, math.MaxInt32))
			}
		case kindDate:
			s, ok := v.(string)
			if !ok {
				expected("string")
				continue
			}
			t, ok := parseDate(s)
			if !ok {
				bad("Must be parsable date string if defined", f.name)
				continue
			}
			out[f.name] = t
		case kindBetween:
			list, ok := v.([]any)
			if !ok {
				expected("array")
				continue
			}
			if len(list) != 2 {
				bad("Array must contain exactly 2 element(s)", f.name)
				continue
			}
			var pair [2]time.Time
			okAll := true
			for i, item := range list {
				s, _ := item.(string)
				t, ok := parseDate(s)
				if !ok {
					bad("Must be parsable date string", f.name, strconv.Itoa(i))
					okAll = false
				}
				pair[i] = t
			}
			if okAll {
				out[f.name] = pair
			}
		case kindMetadata:
			m, ok := v.(map[string]any)
			if !ok {
				expected("object")
				continue
			}
			clean := make(map[string]any, len(m))
			for k, item := range m {
				switch x := item.(type) {
				case string:
					if len(x) > 500 {
						bad("String must contain at most 500 character(s)", f.name, k)
					}
					clean[k] = x
				case bool, nil:
					clean[k] = x
				default:
					bad(fmt.Sprintf("Expected string | boolean, received %s", typeName(item)), f.name, k)
				}
			}
			out[f.name] = clean
		}
	}
	return out, issues
}

// coerceQuery turns a query-string value into the JSON type a field expects.
func coerceQuery(k kind, v any) any {
	s, isStr := v.(string)
	switch k {
	case kindStrings, kindUUIDs, kindProviders, kindBetween:
		if isStr {
			return []any{s}
		}
	case kindBool:
		if b, err := strconv.ParseBool(s); isStr && err == nil {
			return b
		}
	case kindLimit:
		if _, err := strconv.ParseFloat(s, 64); isStr && err == nil {
			return json.Number(s)
		}
	}
	return v
}

// invalidInput builds Seam's 400 invalid_input error from issues: a zod "format()"
// tree under validation_errors, and a message naming each failure.
func invalidInput(issues []issue) *apiError {
	tree := map[string]any{"_errors": []string{}}
	parts := make([]string, 0, len(issues))
	for _, is := range issues {
		node := tree
		for _, seg := range is.path {
			child, ok := node[seg].(map[string]any)
			if !ok {
				child = map[string]any{"_errors": []string{}}
				node[seg] = child
			}
			node = child
		}
		node["_errors"] = append(node["_errors"].([]string), is.msg)
		if len(is.path) == 0 {
			parts = append(parts, is.msg)
		} else {
			parts = append(parts, fmt.Sprintf("%s for %q", is.msg, strings.Join(is.path, ".")))
		}
	}
	msg := parts[0]
	if len(parts) > 1 {
		msg = fmt.Sprintf("%d Input Errors: %s", len(parts), strings.Join(parts, ", "))
	}
	return &apiError{status: 400, body: errorJSON{Type: "invalid_input", Message: msg, ValidationErrors: tree}}
}

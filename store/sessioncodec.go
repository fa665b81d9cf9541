package store

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionCodec encodes session data for the store. scs's default, gob, compiles a
// decoder for every session it reads (a fresh gob stream carries its types): the
// largest single cost of a page view in the CPU profile of BenchmarkDevicesPage3 (16 %
// of it). A signed-in session holds only strings and integers, so this codec writes
// them in a small tagged binary form, with the keys in order (the same values give the
// same bytes). A session holding any other type is written with gob, as before, and
// sessions written with gob — by an older release — are still read.
type SessionCodec struct{}

var _ scs.Codec = SessionCodec{}

// codecMagic starts every session this codec writes. A gob stream never starts with
// a zero byte (its first message has a non-zero length), so the two cannot be confused.
const codecMagic = "\x00LKS1"

// Value tags.
const (
	tagString = 's'
	tagInt64  = 'i'
	tagInt    = 'n'
	tagBool   = 'b'
)

var errCorruptSession = errors.New("session data: corrupt")

// Encode writes deadline and values, or falls back to gob for types it does not know.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	size := len(codecMagic) + 2*binary.MaxVarintLen64
	for k, v := range values {
		switch v := v.(type) {
		case string:
			size += len(v)
		case int64, int, bool:
		default:
			return scs.GobCodec{}.Encode(deadline, values)
		}
		keys = append(keys, k)
		size += len(k) + 1 + 2*binary.MaxVarintLen64
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, codecMagic...)
	b = binary.AppendVarint(b, deadline.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		switch v := values[k].(type) {
		case string:
			b = appendString(append(b, tagString), v)
		case int64:
			b = binary.AppendVarint(append(b, tagInt64), v)
		case int:
			b = binary.AppendVarint(append(b, tagInt), int64(v))
		case bool:
			t := byte(0)
			if v {
				t = 1
			}
			b = append(b, tagBool, t)
		}
	}
	return b, nil
}

// Decode reads what Encode wrote, or a gob-encoded session.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) < len(codecMagic) || string(b[:len(codecMagic)]) != codecMagic {
		return scs.GobCodec{}.Decode(b)
	}
	r := reader{b: b[len(codecMagic):]}
	deadline := time.Unix(0, r.varint())
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return time.Time{}, nil, errCorruptSession
	}
	values := make(map[string]any, n)
	for range n {
		k := r.string()
		switch r.byte() {
		case tagString:
			values[k] = r.string()
		case tagInt64:
			values[k] = r.varint()
		case tagInt:
			values[k] = int(r.varint())
		case tagBool:
			values[k] = r.byte() == 1
		default:
			r.err = errCorruptSession
		}
		if r.err != nil {
			return time.Time{}, nil, errCorruptSession
		}
	}
	if len(r.b) != 0 {
		return time.Time{}, nil, errCorruptSession
	}
	return deadline, values, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reader consumes b; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = errCorruptSession, nil }

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

package store

import (
	"bytes"
	"encoding/gob"
	"maps"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 30, 6, 30, 0, 123456789, time.UTC)
	values := map[string]any{
		SessionUserKey: "2b0c6f7e-9d1a-4c51-8f67-0a4f3c2b1d00",
		"id_token":     "eyJhbGciOi.J9eyJzdWIi.OiIxMjM0",
		"last_seen":    int64(1796020200),
		"count":        42,
		"flag":         true,
		"empty":        "",
	}
	b, err := SessionCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(codecMagic)) {
		t.Fatalf("encoded without the codec's own form: %q", b)
	}
	again, _ := SessionCodec{}.Encode(deadline, maps.Clone(values))
	if !bytes.Equal(b, again) {
		t.Error("the same values encode to different bytes")
	}
	gotDeadline, got, err := SessionCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !gotDeadline.Equal(deadline) {
		t.Errorf("deadline %v, want %v", gotDeadline, deadline)
	}
	if !maps.Equal(got, values) {
		t.Errorf("values %#v, want %#v", got, values)
	}
}

// Sessions saved by the previous release (gob) stay signed in, and a value the codec
// does not know is kept through gob rather than dropped.
func TestSessionCodecReadsAndWritesGob(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Round(0)
	old, err := scs.GobCodec{}.Encode(deadline, map[string]any{SessionUserKey: "u1", "last_seen": int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	d, v, err := SessionCodec{}.Decode(old)
	if err != nil || !d.Equal(deadline) || v[SessionUserKey] != "u1" || v["last_seen"] != int64(7) {
		t.Fatalf("gob session read as %v %#v %v", d, v, err)
	}

	gob.Register(time.Time{}) // what a caller storing a time must do with gob
	odd := map[string]any{"when": deadline, SessionUserKey: "u1"}
	b, err := SessionCodec{}.Encode(deadline, odd)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte(codecMagic)) {
		t.Fatal("a time.Time value was written in the codec's own form, which has no tag for it")
	}
	_, v, err = SessionCodec{}.Decode(b)
	if err != nil || !v["when"].(time.Time).Equal(deadline) || v[SessionUserKey] != "u1" {
		t.Fatalf("gob fallback read as %#v %v", v, err)
	}
}

// Corrupt data — truncated anywhere, or with trailing bytes or an unknown tag — is an
// error, never a panic or a half-read session.
func TestSessionCodecRejectsCorruptData(t *testing.T) {
	b, err := SessionCodec{}.Encode(time.Now(), map[string]any{"a": "hello", "b": int64(-5), "c": true})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(codecMagic); i < len(b); i++ {
		if _, v, err := (SessionCodec{}).Decode(b[:i]); err == nil {
			t.Errorf("truncated to %d bytes: decoded %#v", i, v)
		}
	}
	if _, _, err := (SessionCodec{}).Decode(append(bytes.Clone(b), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := bytes.Clone(b)
	bad[bytes.IndexByte(bad, tagString)] = 'z'
	if _, _, err := (SessionCodec{}).Decode(bad); err == nil {
		t.Error("unknown tag accepted")
	}
	huge := append([]byte(codecMagic), 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, _, err := (SessionCodec{}).Decode(huge); err == nil {
		t.Error("a count larger than the data accepted")
	}
}

func BenchmarkSessionDecode(b *testing.B) {
	values := map[string]any{SessionUserKey: "2b0c6f7e-9d1a-4c51-8f67-0a4f3c2b1d00",
		"id_token": string(bytes.Repeat([]byte("x"), 900)), "last_seen": int64(1796020200)}
	for _, c := range []struct {
		name  string
		codec scs.Codec
	}{{"gob", scs.GobCodec{}}, {"latchkey", SessionCodec{}}} {
		data, err := c.codec.Encode(time.Now(), values)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.codec.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

func slot(start string, hours int) window.Slot {
	s, err := time.Parse(time.RFC3339, start)
	if err != nil {
		panic(err)
	}
	return window.Slot{Start: s, End: s.Add(time.Duration(hours) * time.Hour)}
}

// TestStateRecordsDaysAndOpenSlots: the first length of a day stays; a
// claimed slot stays open until a manifest with no pending session closes
// it; slots that left the horizon are dropped and returned.
func TestStateRecordsDaysAndOpenSlots(t *testing.T) {
	k, _ := store.NewKeys("audit", "111122223333", "eu-west-1")
	st := store.NewState(k)
	if !st.Record([]window.Slot{slot("2026-11-22T00:00:00Z", 24)}) || st.Record([]window.Slot{slot("2026-11-22T00:00:00Z", 12)}) {
		t.Fatal("Record: a day's first length must be recorded once, and a second length never")
	}
	if l := st.DayLength(slot("2026-11-22T13:00:00Z", 1).Start); l != 24*time.Hour {
		t.Fatalf("DayLength = %s; want 24h", l)
	}
	if l := st.DayLength(slot("2026-11-23T00:00:00Z", 1).Start); l != 0 {
		t.Fatalf("DayLength of an unrecorded day = %s; want 0", l)
	}
	a, b := slot("2026-11-22T00:00:00Z", 24), slot("2026-10-01T00:00:00Z", 24)
	if !st.Claim([]window.Slot{a, b}) || st.Claim([]window.Slot{a}) {
		t.Fatal("Claim: claims once")
	}
	if !st.SetOpen(a, 2) || st.SetOpen(a, 2) || st.Open[1].Pending != 2 {
		t.Fatalf("SetOpen(2): %+v", st.Open)
	}
	dropped := st.Prune(slot("2026-11-26T06:00:00Z", 1).Start)
	if len(dropped) != 1 || !dropped[0].Start.Equal(b.Start) || len(st.Open) != 1 {
		t.Fatalf("Prune dropped %+v, kept %+v; want the October slot dropped", dropped, st.Open)
	}
	if !st.SetOpen(a, 0) || len(st.Open) != 0 {
		t.Fatalf("SetOpen(0) left %+v", st.Open)
	}
}

// TestStateConditionalWritesAndBadObjects: a write on a stale read loses
// with ErrConflict; a state object that is not one names what is wrong.
func TestStateConditionalWritesAndBadObjects(t *testing.T) {
	c := s3Client(t)
	ctx := context.Background()
	k, _ := store.NewKeys("audit", "111122223333", "eu-west-1")
	if st, err := store.GetState(ctx, c, testBucket, k); st != nil || err != nil {
		t.Fatalf("GetState of none = %v, %v; want nil, nil", st, err)
	}
	first := store.NewState(k)
	if err := store.PutState(ctx, c, testBucket, k, first); err != nil {
		t.Fatal(err)
	}
	again := store.NewState(k) // read before the first write: no ETag
	if err := store.PutState(ctx, c, testBucket, k, again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second creation: %v; want ErrConflict", err)
	}
	read, err := store.GetState(ctx, c, testBucket, k)
	if err != nil || read.ETag == "" {
		t.Fatalf("GetState = %+v, %v", read, err)
	}
	read.Record([]window.Slot{slot("2026-11-22T00:00:00Z", 24)})
	if err := store.PutState(ctx, c, testBucket, k, read); err != nil {
		t.Fatal(err)
	}
	if err := store.PutState(ctx, c, testBucket, k, first); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write on a stale read: %v; want ErrConflict", err)
	}

	for _, tt := range []struct{ body, want string }{
		{`{"version":2,"account":"111122223333","region":"eu-west-1"}`, "version 2"},
		{`{"version":1,"account":"999988887777","region":"eu-west-1"}`, "not of 111122223333/eu-west-1"},
		{`{"version":1,"account":"111122223333","region":"eu-west-1","days":{"2026-11-22":"5h"}}`, "day 2026-11-22"},
		{`{"version":1,"account":"111122223333","region":"eu-west-1","open":[{"start":"2026-11-22T00:00:00Z","end":"2026-11-21T00:00:00Z"}]}`, "is not a slot"},
		{`not json`, "decode state"},
	} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(k.StateKey()), Body: bytes.NewReader([]byte(tt.body))}); err != nil {
			t.Fatal(err)
		}
		_, err := store.GetState(ctx, c, testBucket, k)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), k.StateKey()) {
			t.Errorf("state %s: error %v; want one naming the object and %q", tt.body, err, tt.want)
		}
	}
}

package localmap_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/localmap"
)

func TestRunWritesTheResultWriterLayout(t *testing.T) {
	emu, err := emulators.Start(emulators.Options{Bucket: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	c := emu.Clients().S3
	ctx := context.Background()
	items := `[{"account":"111111111111","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},{"account":"222222222222","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},{"account":"333333333333","region":"eu-west-1","time":"2026-11-25T00:15:00Z"}]`
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String("p/runs/r/items.json"), Body: strings.NewReader(items)}); err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int32
	invoke := func(_ context.Context, input []byte) ([]byte, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		ev, err := localmap.Event(input)
		if err != nil {
			return nil, err
		}
		if strings.Contains(string(ev), "333333333333") {
			return nil, errors.New("target 333333333333/eu-west-1: boom")
		}
		return []byte(`{"status":"exported"}`), nil
	}
	now := time.Date(2026, 11, 25, 0, 16, 0, 0, time.UTC)
	r := &localmap.Runner{S3: c, Bucket: "audit", Prefix: "p", Concurrency: 2, MapRunID: "m1", Account: "123456789012", Region: "us-east-1", Now: func() time.Time { return now }}
	det, err := r.Run(ctx, "p/runs/r/items.json", invoke)
	if err != nil {
		t.Fatal(err)
	}
	if det.Bucket != "audit" || det.Key != "p/runs/m1/manifest.json" {
		t.Fatalf("details %+v", det)
	}
	if peak.Load() > 2 {
		t.Errorf("%d children at once, concurrency 2", peak.Load())
	}
	get := func(key string) []byte {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(get(det.Key), &m); err != nil {
		t.Fatal(err)
	}
	files := m["ResultFiles"].(map[string]any)
	if m["DestinationBucket"] != "audit" || !strings.HasPrefix(m["MapRunArn"].(string), "arn:aws:states:us-east-1:123456789012:mapRun:") ||
		len(files["SUCCEEDED"].([]any)) != 1 || len(files["FAILED"].([]any)) != 1 || len(files["PENDING"].([]any)) != 0 {
		t.Fatalf("manifest %v", m)
	}
	var ok, failed []map[string]any
	if err := json.Unmarshal(get(files["SUCCEEDED"].([]any)[0].(map[string]any)["Key"].(string)), &ok); err != nil {
		t.Fatalf("SUCCEEDED file: %v", err)
	}
	if err := json.Unmarshal(get(files["FAILED"].([]any)[0].(map[string]any)["Key"].(string)), &failed); err != nil {
		t.Fatalf("FAILED file: %v", err)
	}
	if len(ok) != 2 || len(failed) != 1 {
		t.Fatalf("%d succeeded, %d failed", len(ok), len(failed))
	}
	var keys []string
	for k := range ok[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"ExecutionArn", "Input", "InputDetails", "Name", "Output", "OutputDetails", "RedriveCount", "RedriveStatus", "StartDate", "StateMachineArn", "Status", "StopDate"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("result entry fields %v, want %v", keys, want)
	}
	// Input and Output are JSON documents in strings, as the ResultWriter writes them.
	if in, _ := ok[0]["Input"].(string); !strings.HasPrefix(in, `{"event":{"account":"111111111111"`) || ok[0]["Output"] != `{"status":"exported"}` {
		t.Errorf("entry %v", ok[0])
	}
	if failed[0]["Status"] != "FAILED" || !strings.Contains(failed[0]["Cause"].(string), "boom") || failed[0]["Output"] != nil {
		t.Errorf("failed entry %v", failed[0])
	}
}

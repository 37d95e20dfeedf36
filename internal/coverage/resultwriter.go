package coverage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ResultWriterDetails is where a Distributed Map with a ResultWriter left
// its results: the Map state's output carries it as
// {"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ..., "Key": ".../manifest.json"}}.
type ResultWriterDetails struct {
	Bucket string `json:"Bucket"`
	Key    string `json:"Key"`
}

// Manifest is the ResultWriter's manifest.json: the result files, by the
// status of the child executions they hold.
type Manifest struct {
	DestinationBucket string `json:"DestinationBucket"`
	MapRunArn         string `json:"MapRunArn"`
	ResultFiles       struct {
		Failed    []ResultFile `json:"FAILED"`
		Pending   []ResultFile `json:"PENDING"`
		Succeeded []ResultFile `json:"SUCCEEDED"`
	} `json:"ResultFiles"`
}

// ResultFile is one result file of the manifest (SUCCEEDED_n.json,
// FAILED_n.json, PENDING_n.json).
type ResultFile struct {
	Key  string `json:"Key"`
	Size int64  `json:"Size"`
}

// Execution is one child execution in a result file (Transformation NONE,
// OutputType JSON, the ResultWriter's defaults). Input and Output are the
// execution's JSON as strings; Error and Cause are set for failures. The
// service may leave the input out: then Input is "" and
// InputDetails.Included is false.
type Execution struct {
	ExecutionArn string   `json:"ExecutionArn"`
	Name         string   `json:"Name"`
	Input        Document `json:"Input"`
	Output       Document `json:"Output"`
	Error        string   `json:"Error"`
	Cause        string   `json:"Cause"`
	Status       string   `json:"Status"`
	StartDate    string   `json:"StartDate"`
	StopDate     string   `json:"StopDate"`
}

// HasInput reports whether the entry carries its input: a result file may
// hold entries with "Input": "" and InputDetails.Included false, which
// name no target.
func (e Execution) HasInput() bool {
	return e.Input != ""
}

// GetAPI is the S3 call that reads the results.
type GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// maxResultBytes bounds what one result object may hold; the service cuts
// result files at 5 GB, far above what a run of exporter responses writes.
const maxResultBytes = 1 << 30

func getJSON(ctx context.Context, api GetAPI, bucket, key string, v any) error {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxResultBytes))
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Document is a JSON document held in a result file. The ResultWriter
// writes a child's input and output as JSON strings; Document also takes
// them written inline as objects, so either form reads the same.
type Document string

// UnmarshalJSON takes a JSON string's content, or any other JSON value's
// text.
func (d *Document) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Document(s)
		return nil
	}
	if string(b) == "null" {
		*d = ""
		return nil
	}
	*d = Document(b)
	return nil
}

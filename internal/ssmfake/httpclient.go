package ssmfake

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/session-audit/session-audit/internal/awsclients"
)

// HTTPClient returns the HTTP client for AWS SDK clients of local servers
// such as this one (for example ssm.Options.HTTPClient): the SDK's own,
// with the production workaround for the SDK's closed-body race
// (awsclients.ReadOnlyBodies; aws/aws-sdk-go-v2#2737), which fast local
// servers hit often.
func HTTPClient() aws.HTTPClient {
	return awsclients.ReadOnlyBodies(awshttp.NewBuildableClient())
}

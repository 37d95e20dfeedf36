// Package stack holds the tests of template.yaml, the AWS SAM stack that
// deploys the function: its structure and least-privilege policy, the Glue
// table against the Parquet schema the code writes, every Athena named query
// run on DuckDB over a real emulated export, and the `sam build` target of
// the Makefile. The package has no code of its own.
package stack

//go:build !linux

package miniotest

import "syscall"

// procAttr has nothing to add where the kernel cannot kill a child with its
// parent; the test's clean-up stops the server.
func procAttr() *syscall.SysProcAttr { return nil }

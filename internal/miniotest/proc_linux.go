package miniotest

import "syscall"

// procAttr makes the kernel kill the server if the test binary dies
// without running its clean-up (a panic, a timeout, SIGKILL), so no MinIO
// outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

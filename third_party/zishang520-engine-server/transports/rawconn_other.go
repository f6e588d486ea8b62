//go:build !linux

package transports

import "net"

// Elsewhere connections keep their ordinary syscalls.
func rawSyscallConn(c net.Conn) net.Conn { return c }

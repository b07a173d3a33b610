//go:build !linux

package dnslb

import (
	"context"
	"net"
)

func (s *Server) serveUDP(ctx context.Context, c *net.UDPConn) { s.serveUDPSimple(ctx, c) }

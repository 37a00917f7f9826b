package main

import (
	"io"
	"log/slog"
	"net"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func netListenPacket() (net.PacketConn, error) { return net.ListenPacket("udp", "127.0.0.1:0") }

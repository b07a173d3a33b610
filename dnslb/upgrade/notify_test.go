package upgrade

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNotifySystemd: the message reaches NOTIFY_SOCKET as one datagram,
// for a socket file and for the abstract namespace ("@name"); without
// NOTIFY_SOCKET nothing is sent and nothing fails.
func TestNotifySystemd(t *testing.T) {
	for _, tt := range []struct{ name, env, listen string }{
		{"file", "", ""},
		{"abstract", fmt.Sprintf("@dnslb-notify-test-%d", os.Getpid()), fmt.Sprintf("\x00dnslb-notify-test-%d", os.Getpid())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == "" {
				tt.env = filepath.Join(t.TempDir(), "notify")
				tt.listen = tt.env
			}
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: tt.listen, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv("NOTIFY_SOCKET", tt.env)
			if err := notifySystemd("MAINPID=42\nREADY=1"); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 256)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != "MAINPID=42\nREADY=1" {
				t.Fatalf("got %q, %v", buf[:n], err)
			}
		})
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifySystemd("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}

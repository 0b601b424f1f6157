package rocketmqpubsub

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// frame encodes a remoting frame with a JSON header (serialisation type typ) and body.
func frame(t *testing.T, typ byte, h remotingHeader, body string) []byte {
	t.Helper()
	header, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[0:4], uint32(4+len(header)+len(body)))
	binary.BigEndian.PutUint32(b[4:8], uint32(typ)<<24|uint32(len(header)))
	return append(append(b, header...), body...)
}

// answering is a probe connected to a scripted peer (not a broker: the real one is in heartbeat_test.go): the
// peer reads one request and writes the frames reply returns for it.
func answering(t *testing.T, reply func(req remotingHeader) [][]byte) *brokerProbe {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { _ = server.Close() })
	go func() {
		var prefix [8]byte
		if _, err := io.ReadFull(server, prefix[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint32(prefix[0:4])-4)
		if _, err := io.ReadFull(server, buf); err != nil {
			return
		}
		var req remotingHeader
		_ = json.Unmarshal(buf[:binary.BigEndian.Uint32(prefix[4:8])&0xFFFFFF], &req)
		for _, f := range reply(req) {
			if _, err := server.Write(f); err != nil {
				return
			}
		}
	}()
	return &brokerProbe{addr: "peer", timeout: 5 * time.Second, conn: client}
}

func TestBrokerProbeReadsTheAnswerToItsOwnRequest(t *testing.T) {
	var asked remotingHeader
	p := answering(t, func(req remotingHeader) [][]byte {
		asked = req
		return [][]byte{
			// A request from the broker and an answer to another opaque come first: both are passed over.
			frame(t, 0, remotingHeader{Code: 40, Opaque: 99}, ""),
			frame(t, 0, remotingHeader{Code: resSuccess, Flag: responseFlag, Opaque: req.Opaque + 1}, `{"consumerIdList":["x@other"]}`),
			frame(t, 0, remotingHeader{Code: resSuccess, Flag: responseFlag, Opaque: req.Opaque}, `{"consumerIdList":["127.0.0.1@wm-sub-1"]}`),
		}
	})
	ids, err := p.groupClients("g1")
	if err != nil || len(ids) != 1 || ids[0] != "127.0.0.1@wm-sub-1" {
		t.Fatalf("clients %v, err %v", ids, err)
	}
	if asked.Code != reqGetConsumerListByGroup || asked.ExtFields["consumerGroup"] != "g1" || asked.Language != "GO" {
		t.Fatalf("request %+v", asked)
	}
}

func TestBrokerProbeAnswers(t *testing.T) {
	cases := map[string]struct {
		frame   func(t *testing.T, opaque int32) []byte
		ids     int
		errText string
		drops   bool // the stream cannot be trusted after it: the connection is closed, to be redialled
	}{
		"no consumer of the group": {frame: func(t *testing.T, o int32) []byte {
			return frame(t, 0, remotingHeader{Code: resSystemError, Flag: responseFlag, Opaque: o, Remark: "no consumer for this group, g"}, "")
		}},
		"another code is an error": {errText: "code 3", frame: func(t *testing.T, o int32) []byte {
			return frame(t, 0, remotingHeader{Code: 3, Flag: responseFlag, Opaque: o}, "")
		}},
		"not JSON": {errText: "serialisation type 1", drops: true, frame: func(t *testing.T, o int32) []byte {
			return frame(t, 1, remotingHeader{Code: resSuccess, Flag: responseFlag, Opaque: o}, "")
		}},
		"undecodable body": {errText: "decode consumer list", frame: func(t *testing.T, o int32) []byte {
			return frame(t, 0, remotingHeader{Code: resSuccess, Flag: responseFlag, Opaque: o}, "{")
		}},
		"oversized frame": {errText: "malformed frame", drops: true, frame: func(t *testing.T, o int32) []byte {
			b := make([]byte, 8)
			binary.BigEndian.PutUint32(b[0:4], maxRemotingFrame+1)
			return b
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := answering(t, func(req remotingHeader) [][]byte { return [][]byte{c.frame(t, req.Opaque)} })
			ids, err := p.groupClients("g")
			if len(ids) != c.ids || (c.errText == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.errText)) {
				t.Fatalf("clients %v, err %v; want %d clients and an error containing %q", ids, err, c.ids, c.errText)
			}
			if dropped := p.conn == nil; dropped != c.drops {
				t.Fatalf("connection dropped %v, want %v", dropped, c.drops)
			}
		})
	}
}

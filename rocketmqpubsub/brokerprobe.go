package rocketmqpubsub

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"
)

// Remoting protocol constants (org.apache.rocketmq.remoting.protocol.RequestCode and ResponseCode).
const (
	reqGetConsumerListByGroup = 38
	resSuccess                = 0
	// resSystemError is the broker's answer to reqGetConsumerListByGroup when no client of the group is registered.
	resSystemError = 1

	remotingVersion  = 317 // the version rocketmq-client-go/v2 announces
	responseFlag     = 1   // the flag bit that marks a response
	maxRemotingFrame = 16 << 20
)

// brokerProbe is a minimal remoting-protocol connection to one broker, for the one request the client library
// does not expose: which clients the broker lists in a consumer group. It dials lazily and redials after any
// error. Not safe for concurrent use.
type brokerProbe struct {
	addr    string
	timeout time.Duration
	conn    net.Conn
	opaque  int32
}

// remotingHeader is the JSON header of a remoting command (RemotingCommand with SerializeType.JSON).
type remotingHeader struct {
	Code      int               `json:"code"`
	Language  string            `json:"language"`
	Version   int               `json:"version"`
	Opaque    int32             `json:"opaque"`
	Flag      int               `json:"flag"`
	Remark    string            `json:"remark,omitempty"`
	ExtFields map[string]string `json:"extFields,omitempty"`
}

// groupClients returns the client ids (ip@instance) the broker has registered in group; none when the broker
// answers that it has no consumer of the group. Any other answer, and any network error, is an error.
func (p *brokerProbe) groupClients(group string) ([]string, error) {
	res, body, err := p.call(remotingHeader{Code: reqGetConsumerListByGroup,
		ExtFields: map[string]string{"consumerGroup": group}})
	if err != nil {
		return nil, err
	}
	switch res.Code {
	case resSuccess:
		var list struct {
			ConsumerIDList []string `json:"consumerIdList"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("decode consumer list of group %s: %w", group, err)
		}
		return list.ConsumerIDList, nil
	case resSystemError:
		return nil, nil
	default:
		return nil, fmt.Errorf("consumer list of group %s: broker %s answered code %d: %s", group, p.addr, res.Code, res.Remark)
	}
}

// call sends one request and reads frames until its response arrives.
func (p *brokerProbe) call(req remotingHeader) (remotingHeader, []byte, error) {
	if p.conn == nil {
		c, err := net.DialTimeout("tcp", p.addr, p.timeout)
		if err != nil {
			return remotingHeader{}, nil, err
		}
		p.conn = c
	}
	p.opaque++
	req.Language, req.Version, req.Opaque = "GO", remotingVersion, p.opaque
	res, body, err := p.roundTrip(req)
	if err != nil {
		p.close()
	}
	return res, body, err
}

func (p *brokerProbe) roundTrip(req remotingHeader) (remotingHeader, []byte, error) {
	if err := p.conn.SetDeadline(time.Now().Add(p.timeout)); err != nil {
		return remotingHeader{}, nil, err
	}
	header, err := json.Marshal(req)
	if err != nil {
		return remotingHeader{}, nil, err
	}
	// Frame: total length (everything after this field), header length (the top byte is the serialisation
	// type, 0 for JSON), header, body (none here).
	frame := make([]byte, 8, 8+len(header))
	binary.BigEndian.PutUint32(frame[0:4], uint32(4+len(header)))
	binary.BigEndian.PutUint32(frame[4:8], uint32(len(header)))
	if _, err := p.conn.Write(append(frame, header...)); err != nil {
		return remotingHeader{}, nil, fmt.Errorf("send to broker %s: %w", p.addr, err)
	}
	for {
		res, body, err := p.readFrame()
		if err != nil {
			return remotingHeader{}, nil, err
		}
		if res.Flag&responseFlag != 0 && res.Opaque == req.Opaque {
			return res, body, nil
		}
	}
}

func (p *brokerProbe) readFrame() (remotingHeader, []byte, error) {
	var prefix [8]byte
	if _, err := io.ReadFull(p.conn, prefix[:]); err != nil {
		return remotingHeader{}, nil, fmt.Errorf("read from broker %s: %w", p.addr, err)
	}
	total := binary.BigEndian.Uint32(prefix[0:4])
	headerField := binary.BigEndian.Uint32(prefix[4:8])
	headerLen := headerField & 0xFFFFFF
	if headerField>>24 != 0 {
		return remotingHeader{}, nil, fmt.Errorf("broker %s answered in serialisation type %d, not JSON", p.addr, headerField>>24)
	}
	if total > maxRemotingFrame || headerLen > total-4 {
		return remotingHeader{}, nil, fmt.Errorf("broker %s sent a malformed frame (length %d, header %d)", p.addr, total, headerLen)
	}
	buf := make([]byte, total-4)
	if _, err := io.ReadFull(p.conn, buf); err != nil {
		return remotingHeader{}, nil, fmt.Errorf("read from broker %s: %w", p.addr, err)
	}
	var res remotingHeader
	if err := json.Unmarshal(buf[:headerLen], &res); err != nil {
		return remotingHeader{}, nil, fmt.Errorf("decode header from broker %s: %w", p.addr, err)
	}
	return res, buf[headerLen:], nil
}

func (p *brokerProbe) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

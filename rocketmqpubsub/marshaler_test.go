package rocketmqpubsub_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/seckill/seckill/rocketmqpubsub"
)

// overTheWire encodes m's properties as the client does on the wire and decodes them into a received message.
func overTheWire(m *primitive.Message) *primitive.MessageExt {
	ext := &primitive.MessageExt{}
	ext.Topic = m.Topic
	ext.Body = m.Body
	ext.UnmarshalProperties([]byte(m.MarshallProperties()))
	ext.WithProperty(primitive.PropertyUniqueClientMessageIdKeyIndex, "AC11000100002A9F0000000000000001")
	ext.WithProperty(primitive.PropertyMaxOffset, "42")
	return ext
}

func TestDefaultMarshalerRoundTrip(t *testing.T) {
	cases := map[string]struct {
		uuid     string
		metadata message.Metadata
		payload  []byte
		tag      string
	}{
		"plain": {uuid: "8b0e2b8e-1d0c-4c5a-9d43-0a7c0f0d1a11", metadata: message.Metadata{"a": "1"}, payload: []byte("x")},
		"reserved property names as keys": {uuid: "u1", metadata: message.Metadata{
			"KEYS": "k", "TAGS": "t", "UNIQ_KEY": "q", "DELAY": "3", "WAIT": "false", "TIMER_DELIVER_MS": "1",
			"RECONSUME_TIME": "9", "WM_UUID": "not-the-uuid", "wm_": "prefix", "": "empty key",
		}},
		"empty values": {uuid: "u2", metadata: message.Metadata{"empty": "", "also": ""}, payload: []byte{}},
		"values starting with the empty marker": {uuid: "u3", metadata: message.Metadata{
			"nul": "\x00", "nulnul": "\x00\x00", "nulx": "\x00x",
		}},
		"uuid in metadata":  {uuid: "u4", metadata: message.Metadata{"_watermill_message_uuid": "other", "uuid": "u4"}},
		"empty uuid":        {uuid: "", metadata: message.Metadata{}},
		"name becomes tag":  {uuid: "u5", metadata: message.Metadata{"name": "SeckillReserved"}, tag: "SeckillReserved"},
		"name with a space": {uuid: "u6", metadata: message.Metadata{"name": "two words"}},
		"unicode and separators the client allows": {uuid: "ü-7", metadata: message.Metadata{
			"ключ": "значение 🚀", "sep": "a=b;c:d|e\tf\ng",
		}, payload: []byte{0, 1, 2, 255}},
		"large payload": {uuid: "u8", payload: []byte(strings.Repeat("p", 5<<20))},
		"nil payload":   {uuid: "u9", payload: nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			in := message.NewMessage(c.uuid, c.payload)
			for k, v := range c.metadata {
				in.Metadata.Set(k, v)
			}
			m, err := rocketmqpubsub.DefaultMarshaler{}.Marshal("topic", in)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.GetTags(); got != c.tag {
				t.Errorf("tag = %q, want %q", got, c.tag)
			}
			if c.uuid != "" && m.GetKeys() != c.uuid {
				t.Errorf("keys = %q, want the uuid %q", m.GetKeys(), c.uuid)
			}
			out, err := rocketmqpubsub.DefaultMarshaler{}.Unmarshal(overTheWire(m))
			if err != nil {
				t.Fatal(err)
			}
			if out.UUID != in.UUID {
				t.Errorf("uuid = %q, want %q", out.UUID, in.UUID)
			}
			if !reflect.DeepEqual(out.Metadata, in.Metadata) {
				t.Errorf("metadata = %q, want %q", out.Metadata, in.Metadata)
			}
			if string(out.Payload) != string(in.Payload) {
				t.Errorf("payload differs (%d bytes, want %d)", len(out.Payload), len(in.Payload))
			}
		})
	}
}

func TestDefaultMarshalerRejects(t *testing.T) {
	big := strings.Repeat("v", rocketmqpubsub.MaxPropertiesBytes)
	cases := map[string]struct {
		uuid     string
		metadata message.Metadata
	}{
		"key with \\x01":          {uuid: "u", metadata: message.Metadata{"a\x01b": "v"}},
		"key with \\x02":          {uuid: "u", metadata: message.Metadata{"a\x02b": "v"}},
		"value with \\x01":        {uuid: "u", metadata: message.Metadata{"k": "a\x01b"}},
		"value with \\x02":        {uuid: "u", metadata: message.Metadata{"k": "a\x02b"}},
		"uuid with a separator":   {uuid: "u\x02", metadata: message.Metadata{}},
		"invalid utf-8 value":     {uuid: "u", metadata: message.Metadata{"k": "\xff\xfe"}},
		"too large value":         {uuid: "u", metadata: message.Metadata{"k": big}},
		"too large in total":      {uuid: "u", metadata: message.Metadata{"a": big[:20000], "b": big[:20000]}},
		"too large key":           {uuid: "u", metadata: message.Metadata{big: "v"}},
		"too large uuid":          {uuid: big, metadata: message.Metadata{}},
		"invalid utf-8 key":       {uuid: "u", metadata: message.Metadata{"\xc3": "v"}},
		"separator in name (tag)": {uuid: "u", metadata: message.Metadata{"name": "x\x01"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			in := message.NewMessage(c.uuid, nil)
			in.Metadata = c.metadata
			_, err := rocketmqpubsub.DefaultMarshaler{}.Marshal("topic", in)
			if !errors.Is(err, rocketmqpubsub.ErrInvalidProperty) {
				t.Fatalf("err = %v, want ErrInvalidProperty", err)
			}
		})
	}
}

func TestDefaultMarshalerIgnoresSystemProperties(t *testing.T) {
	ext := &primitive.MessageExt{}
	ext.WithProperty(primitive.PropertyKeys, "k")
	ext.WithProperty(primitive.PropertyTags, "t")
	ext.WithProperty(rocketmqpubsub.UUIDProperty, "u")
	ext.WithProperty(rocketmqpubsub.MetadataPrefix+"kept", "v")
	out, err := rocketmqpubsub.DefaultMarshaler{}.Unmarshal(ext)
	if err != nil {
		t.Fatal(err)
	}
	if out.UUID != "u" || !reflect.DeepEqual(out.Metadata, message.Metadata{"kept": "v"}) {
		t.Fatalf("got uuid %q metadata %q", out.UUID, out.Metadata)
	}
}

package handlers

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/seckill/seckill/eventmsg"
)

// The DLQ is a topic plus a table. A message that failed after every retry is published to Config.DLQTopic by
// the PoisonQueue middleware; the DLQ handler (group Config.DLQTopic) parks it as one row of tb_dlq, keyed by
// event id. ListDLQ and Redrive (the CLI's `seckill dlq list` and `seckill dlq redrive`) work on that table, so
// they need no broker offsets and a redrive is remembered: a second one does not resend.

// Parked is one message parked in tb_dlq.
type Parked struct {
	EventID       string
	EventType     string
	Reason        string // the last error
	Handler       string // the router handler that gave up
	OriginalTopic string // where Redrive publishes it
	Retries       int    // broker-delayed retries made before parking
	ParkedAt      time.Time
}

// parker is the DLQ handler. It is safe for concurrent use.
type parker struct {
	db  *sql.DB
	m   *consumerMetrics
	now func() time.Time
}

// park writes a DLQ message to tb_dlq. Parking the same message twice is a no-op; an event redriven and parked
// again (a later parked time) is parked again in place.
func (p *parker) park(msg *message.Message) error {
	md, err := json.Marshal(msg.Metadata)
	if err != nil {
		return fmt.Errorf("park message %s: %w", msg.UUID, err)
	}
	retries, _ := strconv.Atoi(msg.Metadata.Get(MetadataRetries))
	parkedAt, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetadataParkedAt))
	if err != nil {
		parkedAt = p.now()
	}
	original := msg.Metadata.Get(MetadataOriginalTopic)
	if original == "" {
		original = msg.Metadata.Get(middleware.PoisonedTopicKey)
	}
	handler := msg.Metadata.Get(middleware.PoisonedHandlerKey)
	const newer = `VALUES(parked_at) > parked_at`
	_, err = p.db.ExecContext(msg.Context(), `INSERT INTO tb_dlq
		(event_id, event_type, payload, metadata, reason, handler, original_topic, retries, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE
		event_type = IF(`+newer+`, VALUES(event_type), event_type), payload = IF(`+newer+`, VALUES(payload), payload),
		metadata = IF(`+newer+`, VALUES(metadata), metadata), reason = IF(`+newer+`, VALUES(reason), reason),
		handler = IF(`+newer+`, VALUES(handler), handler),
		original_topic = IF(`+newer+`, VALUES(original_topic), original_topic),
		retries = IF(`+newer+`, VALUES(retries), retries), redriven_at = IF(`+newer+`, NULL, redriven_at),
		parked_at = GREATEST(parked_at, VALUES(parked_at))`,
		msg.UUID, msg.Metadata.Get(eventmsg.MetadataType), msg.Payload, md,
		msg.Metadata.Get(middleware.ReasonForPoisonedKey), handler, original, retries,
		parkedAt.UTC().Truncate(time.Millisecond))
	if err != nil {
		return fmt.Errorf("park message %s: %w", msg.UUID, err)
	}
	p.m.parked.WithLabelValues(handler).Inc()
	return nil
}

// ListDLQ returns the messages parked and not redriven, oldest first. It only reads.
func ListDLQ(ctx context.Context, db *sql.DB) ([]Parked, error) {
	rows, err := db.QueryContext(ctx, `SELECT event_id, event_type, reason, handler, original_topic, retries, parked_at
		FROM tb_dlq WHERE redriven_at IS NULL ORDER BY parked_at, event_id`)
	if err != nil {
		return nil, fmt.Errorf("list dlq: %w", err)
	}
	defer rows.Close()
	var out []Parked
	for rows.Next() {
		var p Parked
		if err := rows.Scan(&p.EventID, &p.EventType, &p.Reason, &p.Handler, &p.OriginalTopic, &p.Retries,
			&p.ParkedAt); err != nil {
			return nil, fmt.Errorf("list dlq: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dlq: %w", err)
	}
	return out, nil
}

// strippedOnRedrive are the metadata keys a redriven message loses: it starts over with no retry, no delay and
// no poison marks.
var strippedOnRedrive = []string{MetadataRetries, MetadataOriginalTopic, MetadataParkedAt, delay.DelayedForKey,
	delay.DelayedUntilKey, middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey,
	middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey}

// Redrive publishes parked messages to their original topic, with their event id as message UUID and their retry
// count reset, and marks them redriven; with no eventIDs it redrives every parked message. It returns how many it
// published. Each message is claimed in tb_dlq before it is published, so concurrent or repeated redrives send
// each parked message once; a failed publish releases the claim and stops the redrive. Consumers are idempotent
// by event id, so a message published but not marked (a crash) is harmless when redriven again.
func Redrive(ctx context.Context, db *sql.DB, pub message.Publisher, eventIDs ...string) (int, error) {
	q := `SELECT event_id, payload, metadata, original_topic, parked_at FROM tb_dlq WHERE redriven_at IS NULL`
	args := make([]any, len(eventIDs))
	for i, id := range eventIDs {
		args[i] = id
	}
	if len(eventIDs) > 0 {
		q += ` AND event_id IN (?` + strings.Repeat(", ?", len(eventIDs)-1) + `)`
	}
	type row struct {
		id, topic string
		payload   []byte
		md        message.Metadata
		parkedAt  time.Time
	}
	var parked []row
	rows, err := db.QueryContext(ctx, q+` ORDER BY parked_at, event_id`, args...)
	if err != nil {
		return 0, fmt.Errorf("redrive: %w", err)
	}
	for rows.Next() {
		var r row
		var md []byte
		if err := rows.Scan(&r.id, &r.payload, &md, &r.topic, &r.parkedAt); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("redrive: %w", err)
		}
		if err := json.Unmarshal(md, &r.md); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("redrive %s: metadata: %w", r.id, err)
		}
		parked = append(parked, r)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("redrive: %w", err)
	}
	n := 0
	for _, r := range parked {
		res, err := db.ExecContext(ctx, `UPDATE tb_dlq SET redriven_at = CURRENT_TIMESTAMP(3)
			WHERE event_id = ? AND redriven_at IS NULL AND parked_at = ?`, r.id, r.parkedAt)
		if err != nil {
			return n, fmt.Errorf("redrive %s: claim: %w", r.id, err)
		}
		if claimed, err := res.RowsAffected(); err != nil || claimed == 0 {
			continue
		}
		msg := message.NewMessage(r.id, r.payload)
		for k, v := range r.md {
			msg.Metadata.Set(k, v)
		}
		for _, k := range strippedOnRedrive {
			delete(msg.Metadata, k)
		}
		if err := pub.Publish(r.topic, msg); err != nil {
			if _, uerr := db.ExecContext(ctx, `UPDATE tb_dlq SET redriven_at = NULL WHERE event_id = ?`, r.id); uerr != nil {
				err = fmt.Errorf("%w (and release claim: %v)", err, uerr)
			}
			return n, fmt.Errorf("redrive %s to %s: %w", r.id, r.topic, err)
		}
		n++
	}
	return n, nil
}

package schema

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Heartbeat records that a consumer process is alive. Consumers call it every few seconds; it is idempotent.
func Heartbeat(ctx context.Context, db *sql.DB, instance string, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO tb_consumer_heartbeat (instance, seen_at) VALUES (?, ?)
		ON DUPLICATE KEY UPDATE seen_at = VALUES(seen_at)`, instance, now.UTC())
	if err != nil {
		return fmt.Errorf("heartbeat of %s: %w", instance, err)
	}
	return nil
}

// ForgetConsumer removes a consumer's heartbeat when it stops cleanly.
func ForgetConsumer(ctx context.Context, db *sql.DB, instance string) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM tb_consumer_heartbeat WHERE instance = ?`, instance); err != nil {
		return fmt.Errorf("forget consumer %s: %w", instance, err)
	}
	return nil
}

// LiveConsumers returns the consumer instances seen since now - within.
func LiveConsumers(ctx context.Context, db *sql.DB, now time.Time, within time.Duration) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT instance FROM tb_consumer_heartbeat WHERE seen_at >= ? ORDER BY instance`,
		now.Add(-within).UTC())
	if err != nil {
		return nil, fmt.Errorf("list live consumers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list live consumers: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

package replay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/seckill/seckill/schema"
)

// CheckpointTable holds, in the target database, how far the replay of each source got. Replay owns it (the
// server never reads it), so it is created here rather than by schema.Migrate. The projection tables hold one
// rebuild at a time: starting over deletes every row.
const CheckpointTable = "replay_checkpoint"

const createCheckpointTable = `CREATE TABLE IF NOT EXISTS ` + CheckpointTable + ` (
	source         VARCHAR(64) NOT NULL COMMENT 'source database name',
	last_seq       BIGINT      NOT NULL COMMENT 'last tb_event.seq applied, in the same transaction',
	end_seq        BIGINT      NOT NULL COMMENT 'seq the replay goes up to',
	source_max_seq BIGINT      NOT NULL COMMENT 'last seq of the source when the replay started over',
	started_at     DATETIME(3) NOT NULL,
	updated_at     DATETIME(3) NOT NULL,
	finished_at    DATETIME(3) NULL COMMENT 'NULL while the replay can resume',
	PRIMARY KEY (source)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

type checkpoint struct {
	lastSeq, sourceMaxSeq int64
	finished              bool
}

// prepareTarget returns the seq to resume after: the checkpoint of an interrupted replay of source, or 0 after
// starting over. It resumes only an unfinished replay that did not go past endSeq and, in place, only when no
// event was recorded since it started (a consumer may then have applied events to the tables it left).
func prepareTarget(ctx context.Context, target *sql.DB, source string, cfg Config, maxSeq, endSeq int64) (int64, error) {
	if _, err := target.ExecContext(ctx, createCheckpointTable); err != nil {
		return 0, fmt.Errorf("replay: create %s: %w", CheckpointTable, err)
	}
	var cp checkpoint
	err := target.QueryRowContext(ctx, `SELECT last_seq, source_max_seq, finished_at IS NOT NULL FROM `+
		CheckpointTable+` WHERE source = ?`, source).Scan(&cp.lastSeq, &cp.sourceMaxSeq, &cp.finished)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("replay: read checkpoint of %s: %w", source, err)
	}
	now := cfg.Now().UTC()
	if found && !cp.finished && !cfg.Fresh && cp.lastSeq <= endSeq && (!cfg.InPlace || cp.sourceMaxSeq == maxSeq) {
		if _, err := target.ExecContext(ctx, `UPDATE `+CheckpointTable+` SET end_seq = ?, updated_at = ? WHERE source = ?`,
			endSeq, now, source); err != nil {
			return 0, fmt.Errorf("replay: resume checkpoint of %s: %w", source, err)
		}
		return cp.lastSeq, nil
	}
	// The checkpoints go first: an interruption between the two steps then leaves no checkpoint, and the next
	// run starts over instead of resuming over tables that no longer match it.
	if _, err := target.ExecContext(ctx, `DELETE FROM `+CheckpointTable); err != nil {
		return 0, fmt.Errorf("replay: reset checkpoints: %w", err)
	}
	for _, t := range schema.Tables {
		if _, err := target.ExecContext(ctx, `TRUNCATE TABLE `+t); err != nil {
			return 0, fmt.Errorf("replay: truncate %s: %w", t, err)
		}
	}
	if _, err := target.ExecContext(ctx, `INSERT INTO `+CheckpointTable+`
		(source, last_seq, end_seq, source_max_seq, started_at, updated_at) VALUES (?, 0, ?, ?, ?, ?)`,
		source, endSeq, maxSeq, now, now); err != nil {
		return 0, fmt.Errorf("replay: create checkpoint of %s: %w", source, err)
	}
	return 0, nil
}

// saveCheckpoint moves the checkpoint inside the batch's transaction.
func saveCheckpoint(ctx context.Context, tx *sql.Tx, source string, lastSeq int64, now time.Time) error {
	r, err := tx.ExecContext(ctx, `UPDATE `+CheckpointTable+` SET last_seq = ?, updated_at = ? WHERE source = ?`,
		lastSeq, now.UTC(), source)
	if err != nil {
		return fmt.Errorf("replay seq %d: save checkpoint: %w", lastSeq, err)
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("replay seq %d: checkpoint of %s is gone: another replay into this target started over",
			lastSeq, source)
	}
	return nil
}

// finishCheckpoint marks the replay of source finished: the next one starts over.
func finishCheckpoint(ctx context.Context, target *sql.DB, source string, now time.Time) error {
	if _, err := target.ExecContext(ctx, `UPDATE `+CheckpointTable+` SET finished_at = ?, updated_at = ? WHERE source = ?`,
		now.UTC(), now.UTC(), source); err != nil {
		return fmt.Errorf("replay: finish checkpoint of %s: %w", source, err)
	}
	return nil
}

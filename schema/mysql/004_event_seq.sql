-- Order-independent projections (projections package doc): each reservation, payment and cancellation carries
-- the per-product sequence number its Redis script stamped, and the rows keep the highest one they applied.
ALTER TABLE tb_seckill_product
  ADD COLUMN IF NOT EXISTS stock_seq BIGINT NOT NULL DEFAULT 0
    COMMENT 'highest event seq whose stockAfter is the stock; 0: none yet (stock follows legacy_stock)',
  ADD COLUMN IF NOT EXISTS legacy_stock BIGINT NOT NULL DEFAULT 0
    COMMENT 'listed stock plus the deltas of events without seq (first release), in any order; may go below 0',
  ADD COLUMN IF NOT EXISTS events_applied BIGINT NOT NULL DEFAULT 0
    COMMENT 'events with a seq applied (reservations, payments, cancellations): the audit compares it with Redis';
UPDATE tb_seckill_product SET legacy_stock = stock WHERE stock_seq = 0 AND events_applied = 0;
ALTER TABLE tb_seckill_order
  ADD COLUMN IF NOT EXISTS status_seq BIGINT NOT NULL DEFAULT 0
    COMMENT 'seq of the event that set status (0: an event without seq)';
ALTER TABLE tb_user_seckill
  ADD COLUMN IF NOT EXISTS order_seq BIGINT NOT NULL DEFAULT 0
    COMMENT 'the counter part of order_no: Redis numbers a product''s orders in the order it reserves them';
UPDATE tb_user_seckill SET order_seq = CAST(SUBSTRING_INDEX(order_no, '-', -1) AS UNSIGNED) WHERE order_seq = 0;

package sale

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

// stockCollector exports, at each scrape, the live Redis stock and the MySQL stock of every listed product, so a
// dashboard shows them side by side and an alert fires when they stay apart after the pipeline drained.
type stockCollector struct {
	rdb  redis.UniversalClient
	db   *sql.DB
	desc *prometheus.Desc
}

func newStockCollector(rdb redis.UniversalClient, db *sql.DB) *stockCollector {
	return &stockCollector{rdb: rdb, db: db, desc: prometheus.NewDesc("seckill_stock",
		"Stock of each listed product, live in Redis and projected in MySQL.", []string{"product_id", "source"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *stockCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A store that does not answer within a second is left out.
func (c *stockCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ids, err := c.rdb.SMembers(ctx, schema.ProductsKey).Result(); err == nil {
		pipe := c.rdb.Pipeline()
		gets := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			n, _ := strconv.ParseInt(id, 10, 64)
			gets[i] = pipe.Get(ctx, schema.KeysFor(n).Stock)
		}
		_, _ = pipe.Exec(ctx)
		for i, id := range ids {
			if v, err := gets[i].Float64(); err == nil {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, id, "redis")
			}
		}
	}
	rows, err := c.db.QueryContext(ctx, `SELECT id, stock FROM tb_seckill_product`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var stock float64
		if rows.Scan(&id, &stock) == nil {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, stock, id, "mysql")
		}
	}
}

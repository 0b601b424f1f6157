package schematest

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
)

// WidenOrderNo is the operator's fix that lets a PoisonPayment apply: tb_seckill_order.order_no takes the 64
// characters tb_event.aggregate_id already holds.
const WidenOrderNo = `ALTER TABLE tb_seckill_order MODIFY order_no VARCHAR(64) NOT NULL`

// PoisonPayment returns a payment of a listed product that the projection fails to apply on every attempt with
// an error no retry fixes but nothing classifies as permanent: its order number (42 to 54 characters) is longer
// than tb_seckill_order.order_no (VARCHAR(32)), so under the strict SQL mode of the services (MariaDB's default,
// STRICT_TRANS_TABLES) the upsert of its order row fails with "Data too long" and the whole transaction,
// tb_event included, rolls back. It decodes (decode errors are permanent) and its product has a row (else it would
// be rejected), so it goes through the retries into tb_dlq; once WidenOrderNo has run, a redrive writes its order
// row, paid. It carries no seq, so it leaves the product's events_applied alone.
func PoisonPayment(productID int64) *events.SeckillOrderPaid {
	return &events.SeckillOrderPaid{EventID: uuid.NewString(), OrderNo: fmt.Sprintf("SK%d-%032d", productID, 1),
		UserID: 424242, ProductID: productID, PaidAt: time.Now().UTC().Truncate(time.Millisecond),
		ProductName: "poison", Price: 100, Quantity: 1}
}

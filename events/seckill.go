package events

import (
	"strconv"
	"time"
)

// ProductListed is recorded when an operator lists a product for a sale through POST /admin/products. It creates
// the product row; the stock it states is the listed (initial) stock.
type ProductListed struct {
	EventID   string     `json:"eventId"`
	ProductID int64      `json:"productId"`
	Name      string     `json:"name"`
	Price     Money      `json:"price"`
	Stock     int64      `json:"stock"`
	StartTime *time.Time `json:"startTime,omitempty"` // nil: the sale is open from the listing on
	EndTime   *time.Time `json:"endTime,omitempty"`   // nil: the sale never closes
	ListedAt  time.Time  `json:"listedAt"`
}

// SeckillReserved is recorded once the Redis script has taken stock for a buyer; it is the fact every order
// projection starts from. StockBefore and StockAfter are the Redis stock around this reservation.
//
// Seq (from the second release on) is the product's event sequence number, taken by the same Redis script that
// decided the event (seckill:{id}:evseq): the reservations, payments and cancellations of one product are numbered
// 1, 2, 3 ... in the order Redis decided them. 0 means a payload of the first release, which had no sequence.
type SeckillReserved struct {
	EventID     string    `json:"eventId"`
	OrderNo     string    `json:"orderNo"`
	UserID      int64     `json:"userId"`
	ProductID   int64     `json:"productId"`
	ProductName string    `json:"productName"`
	Price       Money     `json:"price"`
	Quantity    int64     `json:"quantity"`
	StockBefore int64     `json:"stockBefore"`
	StockAfter  int64     `json:"stockAfter"`
	ReservedAt  time.Time `json:"reservedAt"`
	Seq         int64     `json:"seq,omitempty"` // 0: first release, no sequence
}

// SeckillOrderPaid is recorded when the buyer pays an order awaiting payment; the order's stock is then sold for good.
//
// Seq is the product's event sequence number (see SeckillReserved). ProductName, Price and Quantity repeat the
// order's, so that a payment that reaches MySQL before its reservation already writes the whole order row. All
// four are absent (zero) in payloads of the first release.
type SeckillOrderPaid struct {
	EventID     string    `json:"eventId"`
	OrderNo     string    `json:"orderNo"`
	UserID      int64     `json:"userId"`
	ProductID   int64     `json:"productId"`
	PaidAt      time.Time `json:"paidAt"`
	Seq         int64     `json:"seq,omitempty"`         // 0: first release, no sequence
	ProductName string    `json:"productName,omitempty"` // "": first release
	Price       Money     `json:"price,omitempty"`       // 0: first release
	Quantity    int64     `json:"quantity,omitempty"`    // 0: first release
}

// SeckillOrderCancelled is recorded when an order awaiting payment is cancelled by the buyer (ReasonUser) or by the
// payment timeout (ReasonPaymentTimeout); ReasonRejected was the first release's compensation of a reservation its
// projection refused, and is no longer raised. Its quantity has already gone back to the Redis stock and the buyer
// may buy again.
//
// Seq is the product's event sequence number (see SeckillReserved); StockBefore and StockAfter are the Redis stock
// around the return of the quantity; ProductName and Price repeat the order's (with Quantity they let a
// cancellation that reaches MySQL before its reservation write the whole order row). All five are absent (zero)
// in payloads of the first release.
type SeckillOrderCancelled struct {
	EventID     string    `json:"eventId"`
	OrderNo     string    `json:"orderNo"`
	UserID      int64     `json:"userId"`
	ProductID   int64     `json:"productId"`
	Quantity    int64     `json:"quantity"`
	Reason      string    `json:"reason"`
	CancelledAt time.Time `json:"cancelledAt"`
	Seq         int64     `json:"seq,omitempty"`         // 0: first release, no sequence
	StockBefore int64     `json:"stockBefore,omitempty"` // with Seq 0: unknown
	StockAfter  int64     `json:"stockAfter,omitempty"`  // with Seq 0: unknown
	ProductName string    `json:"productName,omitempty"` // "": first release
	Price       Money     `json:"price,omitempty"`       // 0: first release
}

func (*ProductListed) EventType() string         { return TypeProductListed }
func (*SeckillReserved) EventType() string       { return TypeSeckillReserved }
func (*SeckillOrderPaid) EventType() string      { return TypeSeckillOrderPaid }
func (*SeckillOrderCancelled) EventType() string { return TypeSeckillOrderCancelled }

func (e *ProductListed) ID() string         { return e.EventID }
func (e *SeckillReserved) ID() string       { return e.EventID }
func (e *SeckillOrderPaid) ID() string      { return e.EventID }
func (e *SeckillOrderCancelled) ID() string { return e.EventID }

func (e *ProductListed) Aggregate() string         { return strconv.FormatInt(e.ProductID, 10) }
func (e *SeckillReserved) Aggregate() string       { return e.OrderNo }
func (e *SeckillOrderPaid) Aggregate() string      { return e.OrderNo }
func (e *SeckillOrderCancelled) Aggregate() string { return e.OrderNo }

func (e *ProductListed) Time() time.Time         { return e.ListedAt }
func (e *SeckillReserved) Time() time.Time       { return e.ReservedAt }
func (e *SeckillOrderPaid) Time() time.Time      { return e.PaidAt }
func (e *SeckillOrderCancelled) Time() time.Time { return e.CancelledAt }

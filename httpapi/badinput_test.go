package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// snapshot is everything a request could change: every Redis key of the sale and the stack's MySQL tables.
type snapshot struct {
	redis map[string]string
	mysql map[string]int64
}

// snapshot waits until the sale's outbox is empty (the relay changes it on its own) and reads the sale's Redis
// keys byte for byte and the checksum of every table the API writes.
func (s *stack) snapshot(productID int64) snapshot {
	s.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _, err := schema.OutboxStats(ctx, s.rdb, productID)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("outbox of product %d not drained: %d entries (%v)", productID, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	k := schema.KeysFor(productID)
	snap := snapshot{redis: map[string]string{}, mysql: map[string]int64{}}
	for _, key := range []string{k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, k.EvSeq} {
		v, _ := s.rdb.Dump(ctx, key).Result() // a missing key dumps as "" (redis.Nil): part of the state too
		snap.redis[key] = v
	}
	members, err := s.rdb.SMembers(ctx, schema.ProductsKey).Result()
	if err != nil {
		s.t.Fatal(err)
	}
	snap.redis[schema.ProductsKey] = fmt.Sprint(len(members))
	rows, err := s.db.DB.QueryContext(ctx, `CHECKSUM TABLE tb_event, tb_seckill_order, tb_seckill_product, tb_stock_log`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var sum int64
		if err := rows.Scan(&table, &sum); err != nil {
			s.t.Fatal(err)
		}
		snap.mysql[table] = sum
	}
	if err := rows.Err(); err != nil || len(snap.mysql) != 4 {
		s.t.Fatalf("checksum tables: %v (%d tables)", err, len(snap.mysql))
	}
	return snap
}

// unchanged fails the test when the state moved since before.
func (s *stack) unchanged(productID int64, before snapshot) {
	s.t.Helper()
	after := s.snapshot(productID)
	for key, v := range before.redis {
		if after.redis[key] != v {
			s.t.Errorf("redis key %s changed", key)
		}
	}
	if !reflect.DeepEqual(before.mysql, after.mysql) {
		s.t.Errorf("mysql tables changed: %v, then %v", before.mysql, after.mysql)
	}
}

type badCase struct {
	method, path, body string
	admin              bool
	status             int
	// field is what the message must start with (400 only).
	field string
}

// TestBadInputOnEveryRoute sends bad ids, order numbers, listings and bodies to every route but kill (its own test
// above) over the real router, the real Redis and MySQL: each answers 400 naming the field, or 404 where the
// contract says so, and neither the sale's Redis keys nor a MySQL row changes.
func TestBadInputOnEveryRoute(t *testing.T) {
	s := newStack(t, projectNow)
	id := s.list(10)
	r := s.kill(1, id)
	if r.Status != http.StatusOK {
		t.Fatalf("kill: %d %s", r.Status, r.Message)
	}
	var reserved struct{ OrderNo string }
	if err := json.Unmarshal(r.Data, &reserved); err != nil || reserved.OrderNo == "" {
		t.Fatalf("kill data %s: %v", r.Data, err)
	}
	orderNo := reserved.OrderNo
	const overflow = "9223372036854775808" // MaxInt64 + 1
	long := strings.Repeat("n", 129)
	pad := strings.Repeat("x", 5000)
	listing := func(fields string) string { return "{" + fields + "}" }
	cases := map[string]badCase{
		// GET /seckill/result
		"result: no productId":       {method: "GET", path: "/seckill/result", status: 400, field: "productId"},
		"result: zero productId":     {method: "GET", path: "/seckill/result?productId=0", status: 400, field: "productId"},
		"result: negative productId": {method: "GET", path: "/seckill/result?productId=-1", status: 400, field: "productId"},
		"result: text productId":     {method: "GET", path: "/seckill/result?productId=abc", status: 400, field: "productId"},
		"result: fraction productId": {method: "GET", path: "/seckill/result?productId=1.5", status: 400, field: "productId"},
		"result: overflow productId": {method: "GET", path: "/seckill/result?productId=" + overflow, status: 400, field: "productId"},
		// GET /seckill/products/{id}
		"product: text id":     {method: "GET", path: "/seckill/products/abc", status: 400, field: "id"},
		"product: zero id":     {method: "GET", path: "/seckill/products/0", status: 400, field: "id"},
		"product: negative id": {method: "GET", path: "/seckill/products/-7", status: 400, field: "id"},
		"product: overflow id": {method: "GET", path: "/seckill/products/" + overflow, status: 400, field: "id"},
		"product: max int64":   {method: "GET", path: "/seckill/products/9223372036854775807", status: 404},
		// GET /seckill/orders/{orderNo}: anything but a projected order of the buyer is 404
		"order: garbage":          {method: "GET", path: "/seckill/orders/garbage", status: 404},
		"order: no sequence":      {method: "GET", path: fmt.Sprintf("/seckill/orders/SK%d", id), status: 404},
		"order: overflow product": {method: "GET", path: "/seckill/orders/SK" + overflow + "-1", status: 404},
		"order: overlong":         {method: "GET", path: "/seckill/orders/" + orderNo + strings.Repeat("9", 300), status: 404},
		// POST /seckill/orders/{orderNo}/pay and /cancel
		"pay: garbage":             {method: "POST", path: "/seckill/orders/garbage/pay", status: 404},
		"pay: no SK":               {method: "POST", path: fmt.Sprintf("/seckill/orders/%d-1/pay", id), status: 404},
		"pay: no sequence":         {method: "POST", path: fmt.Sprintf("/seckill/orders/SK%d/pay", id), status: 404},
		"pay: zero product":        {method: "POST", path: "/seckill/orders/SK0-1/pay", status: 404},
		"pay: negative product":    {method: "POST", path: "/seckill/orders/SK-5-1/pay", status: 404},
		"pay: overflow product":    {method: "POST", path: "/seckill/orders/SK" + overflow + "-1/pay", status: 404},
		"pay: unknown sequence":    {method: "POST", path: fmt.Sprintf("/seckill/orders/SK%d-999999/pay", id), status: 404},
		"pay: overlong":            {method: "POST", path: "/seckill/orders/" + orderNo + strings.Repeat("9", 300) + "/pay", status: 404},
		"cancel: garbage":          {method: "POST", path: "/seckill/orders/garbage/cancel", status: 404},
		"cancel: overflow product": {method: "POST", path: "/seckill/orders/SK" + overflow + "-1/cancel", status: 404},
		"cancel: unknown product":  {method: "POST", path: "/seckill/orders/SK999999999999-1/cancel", status: 404},
		"cancel: unknown sequence": {method: "POST", path: fmt.Sprintf("/seckill/orders/SK%d-0/cancel", id), status: 404},
		// GET /admin/products/{id}/audit
		"audit: text id":     {method: "GET", path: "/admin/products/abc/audit", admin: true, status: 400, field: "id"},
		"audit: zero id":     {method: "GET", path: "/admin/products/0/audit", admin: true, status: 400, field: "id"},
		"audit: overflow id": {method: "GET", path: "/admin/products/" + overflow + "/audit", admin: true, status: 400, field: "id"},
		"audit: unknown id":  {method: "GET", path: "/admin/products/999999999999/audit", admin: true, status: 404},
		// POST /admin/products
		"list: not json":         {body: `{"id":`, field: "body"},
		"list: array":            {body: `[1]`, field: "body"},
		"list: null":             {body: `null`, field: "body"},
		"list: empty":            {body: ``, field: "body"},
		"list: trailing":         {body: `{"id":7,"name":"x","price":1,"stock":1} {}`, field: "body"},
		"list: over 4 KiB":       {body: listing(`"id":7,"name":"` + pad + `","price":1,"stock":1`), field: "body"},
		"list: unknown field":    {body: listing(`"id":7,"name":"x","price":1,"stock":1,"sku":"A"`), field: "sku"},
		"list: missing id":       {body: listing(`"name":"x","price":1,"stock":1`), field: "id"},
		"list: missing price":    {body: listing(`"id":7,"name":"x","stock":1`), field: "price"},
		"list: missing stock":    {body: listing(`"id":7,"name":"x","price":1`), field: "stock"},
		"list: id over max":      {body: listing(`"id":1000000000000,"name":"x","price":1,"stock":1`), field: "id"},
		"list: id overflow":      {body: listing(`"id":` + overflow + `,"name":"x","price":1,"stock":1`), field: "id"},
		"list: string id":        {body: listing(`"id":"7","name":"x","price":1,"stock":1`), field: "id"},
		"list: overlong name":    {body: listing(`"id":7,"name":"` + long + `","price":1,"stock":1`), field: "name"},
		"list: number name":      {body: listing(`"id":7,"name":7,"price":1,"stock":1`), field: "name"},
		"list: null name":        {body: listing(`"id":7,"name":null,"price":1,"stock":1`), field: "name"},
		"list: string price":     {body: listing(`"id":7,"name":"x","price":"1","stock":1`), field: "price"},
		"list: price overflow":   {body: listing(`"id":7,"name":"x","price":` + overflow + `,"stock":1`), field: "price"},
		"list: price over max":   {body: listing(`"id":7,"name":"x","price":100000000,"stock":1`), field: "price"},
		"list: negative price":   {body: listing(`"id":7,"name":"x","price":-1,"stock":1`), field: "price"},
		"list: stock over max":   {body: listing(`"id":7,"name":"x","price":1,"stock":100000001`), field: "stock"},
		"list: stock over int":   {body: listing(`"id":7,"name":"x","price":1,"stock":2147483648`), field: "stock"},
		"list: stock overflow":   {body: listing(`"id":7,"name":"x","price":1,"stock":` + overflow), field: "stock"},
		"list: fraction stock":   {body: listing(`"id":7,"name":"x","price":1,"stock":1.5`), field: "stock"},
		"list: string stock":     {body: listing(`"id":7,"name":"x","price":1,"stock":"1"`), field: "stock"},
		"list: null stock":       {body: listing(`"id":7,"name":"x","price":1,"stock":null`), field: "stock"},
		"list: numeric start":    {body: listing(`"id":7,"name":"x","price":1,"stock":1,"startTime":1700000000`), field: "startTime"},
		"list: end without zone": {body: listing(`"id":7,"name":"x","price":1,"stock":1,"endTime":"2026-11-23T20:00:00"`), field: "endTime"},
	}
	for name, c := range cases {
		if strings.HasPrefix(name, "list: ") {
			c.method, c.path, c.admin, c.status = "POST", "/admin/products", true, 400
			// The listing's id is this sale's, already listed: a listing that got past validation would answer 409.
			c.body = strings.ReplaceAll(c.body, `"id":7`, fmt.Sprintf(`"id":%d`, id))
			cases[name] = c
		}
	}
	before := s.snapshot(id)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var r reply
			if c.admin {
				r = s.admin(c.method, c.path, c.body)
			} else {
				r = s.as(1, c.method, c.path, c.body)
			}
			if r.Status != c.status || (c.field != "" && !strings.HasPrefix(r.Message, c.field+":")) {
				t.Fatalf("answer %d %q, want %d naming %q", r.Status, r.Message, c.status, c.field)
			}
		})
	}
	s.unchanged(id, before)
	// The sale still works as before: the buyer's order is still awaiting payment and payable.
	if r := s.as(1, "POST", "/seckill/orders/"+orderNo+"/pay", ""); r.Status != http.StatusOK {
		t.Fatalf("pay after the bad requests: %d %s", r.Status, r.Message)
	}
}

// TestBadListingOfANewIDCreatesNothing lists a fresh id with bad fields: no product row, no event, no Redis key.
func TestBadListingOfANewIDCreatesNothing(t *testing.T) {
	s := newStack(t)
	s.list(1) // another sale in the database, so the tables are not empty
	fresh := schematest.ProductID(t, s.rdb)
	before := s.snapshot(fresh)
	for _, body := range []string{
		fmt.Sprintf(`{"id":%d,"name":"%s","price":1,"stock":1}`, fresh, strings.Repeat("é", 65)), // 130 bytes
		fmt.Sprintf(`{"id":%d,"name":"x","price":1,"stock":2147483648}`, fresh),
		fmt.Sprintf(`{"id":%d,"name":"x","price":1}`, fresh),
		fmt.Sprintf(`{"id":%d,"name":"x","price":1,"stock":1,"extra":true}`, fresh),
	} {
		if r := s.admin("POST", "/admin/products", body); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, r.Status, r.Message)
		}
	}
	s.unchanged(fresh, before)
	if r := s.do("GET", fmt.Sprintf("/seckill/products/%d", fresh), ""); r.Status != http.StatusNotFound {
		t.Fatalf("product %d after bad listings: %d, want 404", fresh, r.Status)
	}
}

// TestWrongMethodIs405 sends each route a method it does not serve: 405 in the contract's envelope (code ==
// status, checked by do), before any token is looked at.
func TestWrongMethodIs405(t *testing.T) {
	s := newStack(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/seckill/kill"},
		{"POST", "/seckill/result?productId=1"},
		{"DELETE", "/seckill/orders/SK1-1"},
		{"POST", "/seckill/orders/SK1-1"},
		{"GET", "/seckill/orders/SK1-1/pay"},
		{"PUT", "/seckill/orders/SK1-1/pay"},
		{"GET", "/seckill/orders/SK1-1/cancel"},
		{"POST", "/seckill/products"},
		{"POST", "/seckill/products/1"},
		{"DELETE", "/seckill/products/1"},
		{"DELETE", "/admin/products"},
		{"PUT", "/admin/products"},
		{"POST", "/admin/products/1/audit"},
		{"POST", "/healthz"},
		{"POST", "/readyz"},
		{"POST", "/metrics"},
	} {
		r := s.do(c.method, c.path, "")
		if r.Status != http.StatusMethodNotAllowed || r.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d (code %d) %q, want 405", c.method, c.path, r.Status, r.Code, r.Message)
		}
	}
}

package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/seckill/seckill/schema"
)

// TestRelistingWhatOnlyMySQLHoldsChangesNothing: once Redis has lost a sale (or a listing stopped between MySQL
// and Redis), listing the id again is 409 and changes nothing: no second ProductListed in tb_event, no row, no
// Redis key (the next start's warm-up loads the sale from MySQL).
func TestRelistingWhatOnlyMySQLHoldsChangesNothing(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	k := schema.KeysFor(id)
	if err := s.rdb.Del(context.Background(), k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, k.EvSeq).Err(); err != nil {
		t.Fatal(err)
	}
	before := s.snapshot(id)
	r := s.admin("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"again","price":1,"stock":99}`, id))
	if r.Status != http.StatusConflict {
		t.Fatalf("relisting: %d %s, want 409", r.Status, r.Message)
	}
	s.unchanged(id, before)
}

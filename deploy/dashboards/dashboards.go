// Package dashboards declares seckill's Grafana dashboard in Go (panels.go) and renders it with the Grafana
// Foundation SDK. `go generate ./deploy/dashboards` (or `make dashboards`) writes
// deploy/grafana/dashboards/seckill.json; a test fails when the checked-in file differs from what Rows generates,
// and deploy's Prometheus test evaluates every query against a live sale.
package dashboards

//go:generate go run ./gen ../grafana/dashboards/seckill.json

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DatasourceUID is the uid of the Prometheus datasource every panel queries
// (deploy/grafana/provisioning/datasources/prometheus.yml).
const DatasourceUID = "prometheus"

// Row is a titled row of panels.
type Row struct {
	Title  string
	Panels []Panel
}

// Panel is one graph (or, with Stat, one big number with threshold colours) of the dashboard.
type Panel struct {
	Title       string
	Description string
	Unit        string // Grafana unit id: short, s, reqps, ops, bytes, percentunit
	Stat        bool
	Stacked     bool   // a graph whose series add up (shares of one total)
	Signed      bool   // a graph that may go below 0 (-1 marks "unknown")
	Steps       []Step // threshold colours of a stat, lowest first
	Width       uint32 // grid columns of 24; 0 is 4 for a stat and 12 for a graph
	Queries     []Query
}

// Query is one PromQL expression of a panel and the metric family it reads (an exported series name, without
// a histogram's _bucket/_count/_sum suffix). Expr may use Grafana's $__rate_interval.
type Query struct {
	Metric string
	Expr   string
	Legend string
}

// Step is a threshold colour from a value up (nil: from minus infinity).
type Step struct {
	Color string
	From  *float64
}

func at(v float64) *float64 { return &v }

// Queries returns every query of the dashboard with the title of its panel.
func Queries() []PanelQuery {
	var out []PanelQuery
	for _, r := range Rows {
		for _, p := range r.Panels {
			for _, q := range p.Queries {
				out = append(out, PanelQuery{Panel: p.Title, Query: q})
			}
		}
	}
	return out
}

// PanelQuery is a query with the title of the panel that shows it.
type PanelQuery struct {
	Panel string
	Query
}

// Build renders Rows as a Grafana dashboard: panels are numbered and laid out in declaration order.
func Build() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(DatasourceUID)}
	b := dashboard.NewDashboardBuilder("seckill").
		Uid("seckill").
		Description("Flash-sale pipeline: HTTP API, Redis reservations, outbox, RocketMQ, projections, DLQ.").
		Tags([]string{"seckill"}).
		Timezone(common.TimeZoneBrowser).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("10s").
		Time("now-30m", "now")
	var id uint32
	for _, r := range Rows {
		id++
		b.WithRow(dashboard.NewRowBuilder(r.Title).Id(id))
		for _, p := range r.Panels {
			id++
			b.WithPanel(p.builder(id, ds))
		}
	}
	return b.Build()
}

// JSON is the dashboard as deploy/grafana/dashboards/seckill.json holds it.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, fmt.Errorf("build dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

func (p Panel) targets(ds common.DataSourceRef) []cog.Builder[variants.Dataquery] {
	var out []cog.Builder[variants.Dataquery]
	for i, q := range p.Queries {
		t := prometheus.NewDataqueryBuilder().Expr(q.Expr).RefId(string(rune('A' + i))).Datasource(ds)
		if q.Legend != "" {
			t.LegendFormat(q.Legend)
		}
		out = append(out, t)
	}
	return out
}

func (p Panel) builder(id uint32, ds common.DataSourceRef) cog.Builder[dashboard.Panel] {
	if p.Stat {
		steps := make([]dashboard.Threshold, len(p.Steps))
		for i, s := range p.Steps {
			steps[i] = dashboard.Threshold{Color: s.Color, Value: s.From}
		}
		s := stat.NewPanelBuilder().Id(id).Title(p.Title).Datasource(ds).
			Unit(p.Unit).Height(4).Span(width(p.Width, 4)).Targets(p.targets(ds)).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)).
			ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeArea).
			TextMode(common.BigValueTextModeAuto)
		if p.Description != "" {
			s.Description(p.Description)
		}
		return s
	}
	g := timeseries.NewPanelBuilder().Id(id).Title(p.Title).Datasource(ds).
		Unit(p.Unit).Height(8).Span(width(p.Width, 12)).Targets(p.targets(ds)).
		DrawStyle(common.GraphDrawStyleLine).LineWidth(1).ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(true)}).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementRight).ShowLegend(true).Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	if p.Description != "" {
		g.Description(p.Description)
	}
	if !p.Signed {
		g.Min(0)
	}
	if p.Stacked {
		return g.FillOpacity(40).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal).Group("A"))
	}
	return g.FillOpacity(10).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNone).Group("A"))
}

func width(w, def uint32) uint32 {
	if w == 0 {
		return def
	}
	return w
}
